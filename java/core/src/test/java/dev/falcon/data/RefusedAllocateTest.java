package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A refused {@link HostMatrix#allocate} gives the caller no matrix to close, so it must allocate nothing: the shape was
 * checked after malloc, and every refusal kept its whole block (n p 4 + 64 bytes), counted by neither
 * {@link HostMatrix#openOwnedBytes()} nor JavaCPP. The pages are never touched, so the leak shows in the process's
 * address space (VmSize), not in its resident memory.
 */
public class RefusedAllocateTest {
    /** 1000 x 100000 floats: 400 MB a request, so ten leaked requests are 4 GB of address space. */
    public static final long ROWS = 1000, COLS = 100_000;
    private static final Path STATUS = Path.of("/proc/self/status");

    /** The process's virtual size in bytes (Linux), or -1 where /proc is absent. */
    public static long virtualBytes() throws IOException {
        if (!Files.isReadable(STATUS)) return -1;
        for (String line : Files.readAllLines(STATUS)) {
            if (line.startsWith("VmSize:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
        return -1;
    }

    /** Runs {@code refusal} ten times and asserts that the address space grew by less than one request's block. */
    public static void assertTenRefusalsKeepNoBlock(Runnable refusal) throws IOException {
        long before = virtualBytes();
        assumeTrue(before > 0, "needs /proc/self/status");
        for (int i = 0; i < 10; i++) assertThrows(IllegalArgumentException.class, refusal::run);
        long grown = virtualBytes() - before;
        assertTrue(grown < ROWS * COLS * Float.BYTES, "ten refused allocations of " + ROWS + " x " + COLS
                + " grew the address space by " + (grown >> 20) + " MiB");
    }

    @Test
    void refusedPanelStartsAllocateNothing() throws IOException {
        long openBefore = HostMatrix.openOwnedBytes();
        assertTenRefusalsKeepNoBlock(() -> HostMatrix.allocate(ROWS, COLS, new long[] {0, 3}));
        assertEquals(openBefore, HostMatrix.openOwnedBytes());
    }

    @Test
    void emptyAndNegativeShapesAreRefusedAsArguments() {
        // a negative size reached malloc as a huge unsigned request and was reported as native memory running out
        for (long[] shape : new long[][] {{0, 5}, {5, 0}, {-1, 5}, {ROWS, -COLS}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HostMatrix.allocate(shape[0], shape[1]));
            assertTrue(e.getMessage().contains(shape[0] + " x " + shape[1]), e.getMessage());
        }
    }
}
