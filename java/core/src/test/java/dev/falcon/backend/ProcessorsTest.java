package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.falcon.testing.ChildJvm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class ProcessorsTest {
    @Test
    void aCpuListCountsEveryCpuOfItsRanges() {
        assertEquals(1, Processors.countList("0"));
        assertEquals(2, Processors.countList("0-1\n"));
        assertEquals(7, Processors.countList("\t0-3,8,10-11"));
        assertThrows(IllegalArgumentException.class, () -> Processors.countList("3-1"));
        assertThrows(IllegalArgumentException.class, () -> Processors.countList("ff"));
    }

    /** Child entry point: the usable count, the affinity's and the JVM's, then the reason. */
    public static void main(String[] args) {
        System.out.println(Processors.usable() + " " + Processors.affinity() + " " + Runtime.getRuntime().availableProcessors());
        System.out.println(Processors.reason());
    }

    @Test
    void aJvmCountAboveATasksetAffinityIsHeldToTheAffinityAndNamesTaskset() throws Exception {
        // the JVM's count (-XX:ActiveProcessorCount=3) above the one CPU taskset leaves the process: usable is the affinity's
        List<String> cmd = new ArrayList<>(List.of("taskset", "-c", "0"));
        cmd.addAll(ChildJvm.command(ProcessorsTest.class, "-XX:ActiveProcessorCount=3"));
        Process child;
        try {
            child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("no taskset here: " + e.getMessage());
            return;
        }
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, child.waitFor(), output);
        String[] lines = output.strip().split("\n");
        assertEquals("1 1 3", lines[lines.length - 2].strip(), output);
        if (Processors.online() > 1) {
            assertEquals("taskset or a cpuset leaves it 1 of the machine's " + Processors.online(), lines[lines.length - 1].strip(), output);
        }
    }
}
