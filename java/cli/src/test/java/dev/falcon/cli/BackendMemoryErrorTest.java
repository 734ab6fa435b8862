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
}
