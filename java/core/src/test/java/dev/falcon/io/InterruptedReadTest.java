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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
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

    /**
     * {@code read} on an interrupted thread fails as it does with the flag clear: with the InputException that names the
     * file, and the flag is still set afterwards. Any IOException met while the flag was set had been called an interrupt:
     * "interrupted while reading the attributes of x.npy/sub [cause FileSystemException: x.npy/sub: Not a directory]",
     * a file error hidden behind an interrupt the caller may have set for a reason of its own.
     */
    static void aFileErrorStaysOneWhileInterrupted(Path file, Executable read) {
        InputException clear = assertThrows(InputException.class, read, "with the interrupt flag clear");
        Thread.currentThread().interrupt();
        RuntimeException interrupted = assertThrows(RuntimeException.class, read);
        assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag was cleared: " + interrupted);
        assertEquals(InputException.class, interrupted.getClass(), "with the interrupt flag set: " + interrupted
                + (interrupted.getCause() == null ? "" : " [cause " + interrupted.getCause() + "]"));
        assertEquals(clear.getMessage(), interrupted.getMessage());
        assertTrue(interrupted.getMessage().contains(file.toString()), interrupted.getMessage());
        Thread.interrupted();
    }

    @Test
    void aRealFileErrorOnAnInterruptedThreadIsStillTheFileError() throws Exception {
        Path file = write(dir, "x.npy", npyV1(dict("<f4", false, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4, 5, 6)));
        Path underAFile = file.resolve("sub");
        aFileErrorStaysOneWhileInterrupted(underAFile, () -> InputFiles.requireRegularFile(underAFile, "array"));
        aFileErrorStaysOneWhileInterrupted(underAFile, () -> ArrayFiles.matrixSource(underAFile.toString(), "X"));
        Path tableUnderAFile = file.resolve("layers.json");
        aFileErrorStaysOneWhileInterrupted(tableUnderAFile, () -> LayersJson.read(tableUnderAFile, 6));
        Path missing = dir.resolve("missing.npy");
        aFileErrorStaysOneWhileInterrupted(missing, () -> ArrayFiles.matrixSource(missing.toString(), "X"));
        Path truncated = write(dir, "truncated.npy", java.util.Arrays.copyOf(Files.readAllBytes(file), 7));
        aFileErrorStaysOneWhileInterrupted(truncated, () -> ArrayFiles.matrixSource(truncated.toString(), "X"));
    }

    /**
     * What counts as an interrupt: the channel closed by it, an interrupted stream, and a channel found closed while the
     * flag is set (a read after the interrupt closed it); a socket's timeout, or any other failure, is not one.
     */
    @Test
    void onlyAnInterruptsOwnFailuresCountAsOne() {
        assertTrue(ReadFailures.byInterrupt(new java.nio.channels.ClosedByInterruptException()));
        assertTrue(ReadFailures.byInterrupt(new java.io.InterruptedIOException()));
        assertFalse(ReadFailures.byInterrupt(new java.net.SocketTimeoutException()));
        assertFalse(ReadFailures.byInterrupt(new java.nio.channels.ClosedChannelException()));
        assertFalse(ReadFailures.byInterrupt(new java.nio.channels.AsynchronousCloseException()));
        Thread.currentThread().interrupt();
        assertTrue(ReadFailures.byInterrupt(new java.nio.channels.ClosedChannelException()));
        assertTrue(ReadFailures.byInterrupt(new java.nio.channels.AsynchronousCloseException()));
        assertFalse(ReadFailures.byInterrupt(new java.nio.file.FileSystemException("x.npy/sub", null, "Not a directory")));
        assertFalse(ReadFailures.byInterrupt(new java.io.EOFException()));
        assertFalse(ReadFailures.byInterrupt(new java.io.IOException("Input/output error")));
        assertFalse(ReadFailures.byInterrupt(new java.net.SocketTimeoutException()));
        assertTrue(Thread.currentThread().isInterrupted(), "asking cleared the flag");
    }

    @Test
    void checksums() throws Exception {
        Path w = write(dir, "w.npy", npyV1(dict("<f4", false, "(1,)"), floats(ByteOrder.LITTLE_ENDIAN, 1)));
        String sum = ArrayFiles.sha256(w);
        assertEquals(sum, interruptedThenReadAgain(w, () -> ArrayFiles.sha256(w)));
    }
}
