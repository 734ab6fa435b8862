package dev.falcon.cpu;

import dev.falcon.testing.ChildJvm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.solve.AbstractSolverTest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every JavaCPP allocation a run makes is closed by the code that made it, never left to the garbage collector. The
 * in-process count (AbstractSolverTest.repeatedRunsFreeEveryOffHeapAllocation) cannot see a vector dropped unclosed:
 * JavaCPP's collector thread frees it at the next GC, often before the count is taken. Here a child JVM runs every
 * solver path with JavaCPP's debug log on, which names each allocation the collector frees ("Collecting ...
 * ownerAddress=0x..." with a non-zero address; one closed in time is logged as "Releasing" and collected empty).
 */
class PointerOwnershipTest {
    private static final String START = "falcon-ownership-start", END = "falcon-ownership-end";
    private static final Pattern COLLECTED_LIVE = Pattern.compile("Collecting \\S+\\[ownerAddress=0x([0-9a-f]+)");

    /** Child entry point: a first run (lasting state, lazily loaded libraries), then a counted one between markers. */
    public static void main(String[] args) throws InterruptedException {
        try (CpuBackend backend = (CpuBackend) new CpuBackendProvider().create(2)) {
            AbstractSolverTest.runEveryPath(backend);
            settleCollector();
            System.err.println(START);
            AbstractSolverTest.runEveryPath(backend);
            settleCollector();
            System.err.println(END);
        }
    }

    private static void settleCollector() throws InterruptedException {
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(100);
        }
    }

    @Test
    void noRunLeavesAnAllocationToTheGarbageCollector() throws Exception {
        List<String> cmd = ChildJvm.command(PointerOwnershipTest.class, "-Xmx512m", "-Dorg.bytedeco.javacpp.logger.debug=true");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, child.waitFor(), tail(output));
        int start = output.indexOf(START), end = output.indexOf(END);
        assertTrue(start >= 0 && end > start, "the child did not finish its counted run: " + tail(output));
        List<String> collected = new ArrayList<>();
        for (String line : output.substring(start, end).split("\n")) {
            Matcher m = COLLECTED_LIVE.matcher(line);
            if (m.find() && !m.group(1).matches("0+")) collected.add(line.trim());
        }
        assertEquals(List.of(), collected, "allocations freed by the garbage collector instead of closed");
    }

    private static String tail(String s) {
        return s.length() <= 4000 ? s : s.substring(s.length() - 4000);
    }
}
