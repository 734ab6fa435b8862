package dev.falcon.io;

import static dev.falcon.io.Fixtures.dict;
import static dev.falcon.io.Fixtures.doubles;
import static dev.falcon.io.Fixtures.floats;
import static dev.falcon.io.Fixtures.npyV1;
import static dev.falcon.io.Fixtures.safetensors;
import static dev.falcon.io.Fixtures.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.data.ElementType;
import dev.falcon.data.RawMatrixSource;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reader called on an interrupted thread. The JDK's channels fail such a read with ClosedByInterruptException, whose
 * message is null: it came out as "X: bigC.npy: file: cannot be read (null); check the path and permissions", blaming a
 * file that was fine for the caller's own cancel. An interrupt is an IllegalStateException with the flag kept, as it is
 * in the solver's loops, and the file reads as before once the flag is cleared.
 */
class InterruptedReadTest {
    @TempDir Path dir;

    @AfterEach
    void clearTheInterrupt() {
        Thread.interrupted();
    }

    /** {@code read} on an interrupted thread: the IllegalStateException naming {@code file}, the flag kept; then read again. */
    static <T> T interruptedThenReadAgain(Path file, Callable<T> read) throws Exception {
        Thread.currentThread().interrupt();
        IllegalStateException e = assertThrows(IllegalStateException.class, read::call);
        assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag was cleared: " + e);
        String m = e.getMessage();
        assertTrue(m.startsWith("interrupted while reading ") && m.contains(file.toString()), m);
        assertFalse(m.contains("check the path") || m.contains("(null)"), m);
        assertTrue(Thread.interrupted());
        return read.call();
    }

    @Test
    void float32MatricesInCAndFortranOrder() throws Exception {
        Path c = write(dir, "c.npy", npyV1(dict("<f4", false, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4, 5, 6)));
        RawMatrixSource s = interruptedThenReadAgain(c, () -> ArrayFiles.matrixSource(c.toString(), "X"));
        assertEquals(ElementType.FLOAT32, s.type());
        assertTrue(s.rowMajor());
        Path f = write(dir, "f.npy", npyV1(dict("<f4", true, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4, 5, 6)));
        s = interruptedThenReadAgain(f, () -> ArrayFiles.matrixSource(f.toString(), "X"));
        assertFalse(s.rowMajor());
        assertEquals(3, s.cols());
    }

    @Test
    void float64MatricesInCAndFortranOrder() throws Exception {
        Path c = write(dir, "c64.npy", npyV1(dict("<f8", false, "(3, 2)"), doubles(1, 2, 3, 4, 5, 6)));
        RawMatrixSource s = interruptedThenReadAgain(c, () -> ArrayFiles.matrixSource(c.toString(), "X"));
        assertEquals(ElementType.FLOAT64, s.type());
        assertTrue(s.rowMajor());
        Path f = write(dir, "f64.npy", npyV1(dict("<f8", true, "(3, 2)"), doubles(1, 2, 3, 4, 5, 6)));
        s = interruptedThenReadAgain(f, () -> ArrayFiles.matrixSource(f.toString(), "X"));
        assertFalse(s.rowMajor());
        // told by its content, as a --grads-command's X is
        s = interruptedThenReadAgain(f, () -> ArrayFiles.matrixSourceByContent(f, "X", f.toString()));
        assertEquals(2, s.cols());
    }

    @Test
    void float32AndFloat64Vectors() throws Exception {
        Path w32 = write(dir, "w32.npy", npyV1(dict("<f4", false, "(3,)"), floats(ByteOrder.LITTLE_ENDIAN, 1.5f, -2, 3)));
        assertArrayEquals(new float[] {1.5f, -2, 3}, interruptedThenReadAgain(w32, () -> NpyTest.read(w32.toString(), 3)));
        Path w64 = write(dir, "w64.npy", npyV1(dict("<f8", true, "(3,)"), doubles(0.25, 7, -1)));
        assertArrayEquals(new float[] {0.25f, 7, -1}, interruptedThenReadAgain(w64, () -> {
            try (FloatPointer p = ArrayFiles.readWeights(w64.toString(), "--weights", 3)) {
                float[] out = new float[3];
                p.get(out);
                return out;
            }
        }));
        double[] values = new double[3];
        interruptedThenReadAgain(w64, () -> {
            ArrayFiles.readValues(w64.toString(), "--flops-per-weight", 3, (v, start, count) -> System.arraycopy(v, 0, values, (int) start, count));
            return null;
        });
        assertArrayEquals(new double[] {0.25, 7, -1}, values);
    }

    @Test
    void safetensorsTensors() throws Exception {
        String json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]}}";
        Path f = write(dir, "m.safetensors", safetensors(json, Fixtures.concat(floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4), doubles(5, 6))));
        RawMatrixSource s = interruptedThenReadAgain(f, () -> ArrayFiles.matrixSource(f + ":x", "X"));
        assertEquals(2, s.rows());
        assertArrayEquals(new float[] {5, 6}, interruptedThenReadAgain(f, () -> NpyTest.read(f + ":w", 2)));
        assertEquals(2, interruptedThenReadAgain(f, () -> Safetensors.readHeader(f)).tensors().size());
        assertEquals(2, interruptedThenReadAgain(f, () -> ArrayFiles.describe(f)).size());
    }

    @Test
    void checksums() throws Exception {
        Path w = write(dir, "w.npy", npyV1(dict("<f4", false, "(1,)"), floats(ByteOrder.LITTLE_ENDIAN, 1)));
        String sum = ArrayFiles.sha256(w);
        assertEquals(sum, interruptedThenReadAgain(w, () -> ArrayFiles.sha256(w)));
    }
}
