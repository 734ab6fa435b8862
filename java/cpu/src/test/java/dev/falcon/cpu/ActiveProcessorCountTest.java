package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.testing.ChildJvm;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * -XX:ActiveProcessorCount (or a container's CPU quota) can put the JVM's processor count above the CPUs the process
 * may run on: with -XX:ActiveProcessorCount=4 on 2 CPUs OpenBLAS was given 4 threads, whose idle ones spin, and the
 * report's cpu.available_processors said 4. A child JVM with the flag set above this process's count must give
 * OpenBLAS, and report, what this one does.
 */
class ActiveProcessorCountTest {
    /** Child entry point: prints OpenBLAS's count for a backend of many threads and the cpu.available_processors fact. */
    public static void main(String[] args) {
        System.out.println(CpuBackend.openBlasThreadsFor(64) + " " + CpuNative.ensureLoaded().get("cpu.available_processors"));
    }

    @Test
    void aJvmCountAboveTheUsableProcessorsGivesOpenBlasNoMoreThreadsThanThoseProcessors() throws Exception {
        int usable = CpuBackend.openBlasThreadsFor(64);
        List<String> cmd = ChildJvm.command(ActiveProcessorCountTest.class, "-XX:ActiveProcessorCount=" + (usable + 2));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, child.waitFor(), output);
        String[] lines = output.strip().split("\n");
        assertEquals(usable + " " + usable, lines[lines.length - 1].strip(),
                "OpenBLAS's threads and cpu.available_processors under -XX:ActiveProcessorCount=" + (usable + 2) + ": " + output);
    }
}
