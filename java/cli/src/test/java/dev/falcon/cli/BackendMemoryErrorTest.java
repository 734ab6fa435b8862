package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.BackendMemoryException;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/**
 * A GPU whose memory cannot hold even the working set (the cuda backend's plan refuses), or a device allocation that
 * fails mid-run, is a run that does not fit, not a bug of falcon's: one line and exit 2, as for host memory.
 */
class BackendMemoryErrorTest {
    private static final String WHY = "out of device memory: not even the working set fits (X 1000 x 25502912 (97286.3 MiB)"
            + " + working set 2150.0 MiB, device free 1800.0 MiB)";

    private static String[] handled(Throwable e, int[] code) {
        StringWriter text = new StringWriter();
        code[0] = Main.handle(e, new PrintWriter(text, true));
        return text.toString().strip().split("\n");
    }

    @Test
    void aBackendOutOfMemoryIsOneLineAndExitTwo() {
        for (Throwable e : new Throwable[] {new BackendMemoryException(WHY),
                new IllegalStateException("solve failed", new BackendMemoryException(WHY))}) {
            int[] code = {-1};
            String[] lines = handled(e, code);
            assertEquals(Main.USAGE, code[0], String.join("\n", lines));
            assertEquals(1, lines.length, String.join("\n", lines));
            assertTrue(lines[0].startsWith("falcon: error: " + WHY), lines[0]);
            assertTrue(lines[0].contains("--device cpu"), lines[0]);
            assertFalse(lines[0].contains("internal error"), lines[0]);
        }
    }

    /** A refusal that already names its fixes (the cuda backend's 46,340-row limit) is not given them a second time. */
    @Test
    void aRefusalNamingItsFixesIsNotGivenThemTwice() {
        String why = "the cuda backend's choleskyFactor needs an n x n system at n = 50000 rows, more than the 46,340 rows"
                + " (46,340^2 < 2^31) that cuBLAS and cuSOLVER's 32-bit API address in one call; use --backsolve block with"
                + " --block-size 46338 or less (its systems stay within that), --device cpu, or fewer rows in X";
        int[] code = {-1};
        String[] lines = handled(new BackendMemoryException(why), code);
        assertEquals(Main.USAGE, code[0], String.join("\n", lines));
        assertEquals("falcon: error: " + why, lines[0]);
    }

    @Test
    void nativeMemoryExhaustedIsNotSentToTheJavaHeap() {
        // HostMatrix.allocate's failed malloc of X (and JavaCPP's own): FALCON_HEAP does not bound that memory, and a
        // larger heap leaves less of it, so the advice names only what helps, and it is a limit of the machine (exit 2)
        for (OutOfMemoryError e : new OutOfMemoryError[] {
                new OutOfMemoryError("cannot allocate 107334400000 bytes of native memory for a 100000 x 268336 float32 matrix"),
                new OutOfMemoryError("Cannot allocate new FloatPointer(268336): totalBytes = 1G, physicalBytes = 2G")}) {
            int[] code = {-1};
            String[] lines = handled(e, code);
            assertEquals(Main.USAGE, code[0], String.join("\n", lines));
            assertEquals(1, lines.length, String.join("\n", lines));
            assertTrue(lines[0].startsWith("falcon: error: out of memory: " + e.getMessage()), lines[0]);
            assertTrue(lines[0].contains("smaller --n"), lines[0]);
            assertFalse(lines[0].contains("FALCON_HEAP=8g"), lines[0]);
        }
    }

    /**
     * The FALCON_HEAP named is computed (SelectionHeapTest): a fixed 8g was more than some machines had. With room to
     * spare it is above the limit the run ran out under.
     */
    @Test
    void theJavaHeapExhaustedStillNamesFalconHeap() {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "64g");
        MemoryPlan.runningWith(null, false); // no prune run of another test in this JVM is the one that ran out
        try {
            for (String why : new String[] {"Java heap space", "GC overhead limit exceeded", "Requested array size exceeds VM limit"}) {
                int[] code = {-1};
                String[] lines = handled(new OutOfMemoryError(why), code);
                assertEquals(Main.INTERNAL, code[0], String.join("\n", lines));
                java.util.regex.Matcher limit = java.util.regex.Pattern.compile("FALCON_HEAP=(\\d+)([mg])").matcher(lines[0]);
                assertTrue(limit.find(), lines[0]);
                assertTrue((Long.parseLong(limit.group(1)) << (limit.group(2).equals("g") ? 30 : 20)) > Runtime.getRuntime().maxMemory(), lines[0]);
            }
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /**
     * The advice is the plan of the run that ran out: a prune that stops before it plans must not be given the plan of an
     * earlier prune in the same JVM (an embedding, these tests), which spoke of rows to a run that had none.
     */
    @Test
    void aPruneThatHasNotPlannedYetIsNotAdvisedWithAnEarlierPrunesPlan(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        MainTest.Run planned = MainTest.run("prune", "-q", "--example", "resnet20", "--n", "4", "--method", "falcon", "--max-iterations", "0",
                "--out", dir.resolve("w.npy").toString(), "--report", dir.resolve("r.json").toString());
        assertEquals(0, planned.code(), planned.err());
        assertTrue(MemoryPlan.heapExhaustedAdvice(16L << 20).contains("--n"), "the falcon run's own advice speaks of its rows");
        MainTest.Run refused = MainTest.run("prune", "-q", "--example", "resnet20", "--method", "bogus");
        assertEquals(Main.USAGE, refused.code(), refused.err());
        String advice = MemoryPlan.heapExhaustedAdvice(16L << 20);
        assertFalse(advice.contains("--n") || advice.contains("rows"), advice);
    }

    /**
     * Without the launcher (java -jar, the bridge's FALCON_CLI) JavaCPP caps off-heap memory from -Xmx; its refusal was
     * said to be the machine's memory, which "raising [the heap] cannot help", where lifting the cap does.
     */
    @Test
    void javaCppsCapNamesTheCapAndItsFix() {
        OutOfMemoryError cap = new OutOfMemoryError("Cannot allocate new FloatPointer(268336): totalBytes = 1048K, physicalBytes = 1070M");
        cap.initCause(new OutOfMemoryError("Physical memory usage is too high: physicalBytes (1070M) > maxPhysicalBytes (400M)"));
        OutOfMemoryError limits = new OutOfMemoryError("Cannot allocate new FloatPointer(5)");
        limits.initCause(new OutOfMemoryError("Failed to allocate memory within limits: totalBytes (1G) + size (20) > maxBytes (1G)"));
        for (OutOfMemoryError e : new OutOfMemoryError[] {cap, limits}) {
            int[] code = {-1};
            String[] lines = handled(e, code);
            assertEquals(Main.USAGE, code[0], String.join("\n", lines));
            assertEquals(1, lines.length, String.join("\n", lines));
            assertTrue(lines[0].contains("-Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0"), lines[0]);
            assertFalse(lines[0].contains("cannot help"), lines[0]);
        }
    }
}
