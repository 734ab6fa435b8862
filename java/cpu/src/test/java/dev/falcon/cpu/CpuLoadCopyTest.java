package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.io.ArrayFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A float32 Fortran-order X is mapped by default; {@code loadCopy} gives one that the file's later rewrite cannot reach
 * (the mapped one would die of a SIGBUS on the truncated pages, so only the copy is read after the truncation).
 */
class CpuLoadCopyTest {
    private static final int N = 6, P = 70;
    @TempDir Path dir;

    private static float value(int i, int j) { return i * 1000 + j + 0.25f; }

    private Path writeFortranNpy() throws IOException {
        Path file = dir.resolve("x.npy");
        String dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (" + N + ", " + P + "), }";
        int headerLength = 10 + dict.length() + 1;
        String padded = dict + " ".repeat((64 - headerLength % 64) % 64) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + padded.length() + 4 * N * P).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) padded.length()).put(padded.getBytes(StandardCharsets.US_ASCII));
        for (int j = 0; j < P; j++) for (int i = 0; i < N; i++) b.putFloat(value(i, j));
        b.flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            while (b.hasRemaining()) ch.write(b);
        }
        return file;
    }

    private static void truncate(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(0); // what np.save over the same path does first
        }
    }

    @Test
    void theDefaultLoadMapsAFortranFloat32File() throws IOException {
        Path file = writeFortranNpy();
        try (CpuBackend backend = new CpuBackend(2);
             HostMatrix x = backend.load(ArrayFiles.matrixSource(file.toString(), "X"));
             HostMatrix panels = backend.load(ArrayFiles.matrixSource(file.toString(), "X"), new long[] {0, 30, P})) {
            assertTrue(x.origin().startsWith("mapped file"), x.origin());
            assertTrue(panels.origin().startsWith("mapped file"), panels.origin());
        }
    }

    @Test
    void aCopiedXIsUnchangedByTruncatingItsFile() throws IOException {
        Path file = writeFortranNpy();
        RawMatrixSource source = ArrayFiles.matrixSource(file.toString(), "X");
        long[] blocks = {0, 30, P};
        try (CpuBackend backend = new CpuBackend(2); HostMatrix x = backend.loadCopy(source);
             HostMatrix panels = backend.loadCopy(source, blocks)) {
            assertFalse(x.origin().startsWith("mapped"), x.origin());
            assertNull(x.panelStarts());
            assertArrayEquals(blocks, panels.panelStarts());
            truncate(file);
            assertEquals(-1, backend.firstNonFinite(x));
            for (int j = 0; j < P; j++) {
                for (int i = 0; i < N; i++) assertEquals(value(i, j), x.data().get((long) j * N + i), "X[" + i + ", " + j + "]");
            }
            // the panels hold X row by row within each block
            for (int k = 0; k < 2; k++) {
                long from = blocks[k], width = blocks[k + 1] - from;
                for (int i = 0; i < N; i++) {
                    for (int j = 0; j < width; j++) {
                        assertEquals(value(i, (int) from + j), panels.data().get(from * N + i * width + j), "panel X[" + i + ", " + (from + j) + "]");
                    }
                }
            }
        }
    }
}
