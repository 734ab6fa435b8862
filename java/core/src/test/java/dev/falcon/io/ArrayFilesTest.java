package dev.falcon.io;

import static dev.falcon.io.Fixtures.assertInput;
import static dev.falcon.io.Fixtures.dict;
import static dev.falcon.io.Fixtures.floats;
import static dev.falcon.io.Fixtures.npyV1;
import static dev.falcon.io.Fixtures.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ArrayFilesTest {
    @TempDir Path dir;

    @Test
    void anNpyFileNamedWithATensorSuffixIsToldToDropTheSuffixToo() throws IOException {
        // "rename it to end in .npy" alone left "X.npy:X", which names no file and is no form an .npy is read in
        Path misnamed = write(dir, "X.safetensors", npyV1("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new byte[16]));
        InputException e = assertInput(() -> ArrayFiles.matrixSource(misnamed + ":X", "--grads"), misnamed, "--grads", "is an .npy file",
                "rename it to end in .npy and give it without the tensor name ':X'");
        Path plain = write(dir, "w.safetensors", npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", new byte[8]));
        e = assertInput(() -> ArrayFiles.readVector(plain.toString(), "--weights", 2), plain, "rename it to end in .npy");
        assertTrue(!e.getMessage().contains("tensor name"), e.getMessage());
    }

    /**
     * A read failure without a message of its own (a closed channel's, ClosedChannelException) was told as "cannot be
     * read (null)": it is named by its kind instead.
     */
    @Test
    void aReadFailureWithoutAMessageIsNamedByItsKind() throws IOException {
        Path w = write(dir, "w.npy", npyV1(dict("<f4", false, "(1,)"), floats(ByteOrder.LITTLE_ENDIAN, 1)));
        FileChannel closed = FileChannel.open(w);
        closed.close();
        InputException e = assertInput(() -> ArrayFiles.sha256(closed, w), w, "file: cannot be read (closed channel error)");
        assertFalse(e.getMessage().contains("null"), e.getMessage());
        assertEquals("I/O error", ReadFailures.detail(new IOException()));
        assertEquals("EOF error", ReadFailures.detail(new java.io.EOFException()));
        assertEquals("Input/output error", ReadFailures.detail(new IOException("Input/output error")));
    }

    @Test
    void rejectsNanAndInfNamingFirstIndexAndCount() throws IOException {
        float[] v = new float[100];
        v[5] = Float.NaN;
        v[7] = Float.POSITIVE_INFINITY;
        v[99] = Float.NEGATIVE_INFINITY;
        Path f = write(dir, "w.npy", npyV1(dict("<f4", false, "(100,)"), floats(ByteOrder.LITTLE_ENDIAN, v)));
        assertInput(() -> ArrayFiles.readVector(f.toString(), "--weights", 100), f, "--weights", "values", "3 of 100",
                "index 5", "NaN", "nan_to_num");
        // float64 values beyond the float32 range become Inf on conversion and are rejected too, as what they are
        Path d = write(dir, "d.npy", npyV1(dict("<f8", false, "(2,)"), Fixtures.doubles(1, 1e300)));
        assertInput(() -> ArrayFiles.readVector(d.toString(), "--flops", -1), d, "index 1", "beyond float32's range (+-3.4e38)", "1e300");
    }

    /**
     * Finite values beyond float32's range were "NaN or Inf" with numpy.nan_to_num as the fix, which leaves them as
     * they are; and readValues, whose float64 values are not converted, refused them as readVector does.
     */
    @Test
    void valuesBeyondFloat32AreToldApartFromNanAndInfAndReadAsFloat64() throws IOException {
        Path d = write(dir, "d.npy", npyV1(dict("<f8", false, "(3,)"), Fixtures.doubles(1, 1e39, Double.NaN)));
        InputException both = assertThrows(InputException.class, () -> ArrayFiles.readVector(d.toString(), "--weights", -1));
        assertTrue(both.getMessage().contains("1 of 3 values are NaN or Inf; the first is at index 2 (NaN)")
                && both.getMessage().contains("1 of 3 values are beyond float32's range (+-3.4e38), which falcon computes in; the first is at index 1 (1e39)"),
                both.getMessage());
        Path big = write(dir, "big.npy", npyV1(dict("<f8", false, "(2,)"), Fixtures.doubles(1e39, 2)));
        InputException beyond = assertThrows(InputException.class, () -> ArrayFiles.readVector(big.toString(), "--weights", -1));
        assertTrue(!beyond.getMessage().contains("NaN") && !beyond.getMessage().contains("nan_to_num") && beyond.getMessage().contains("rescale"),
                beyond.getMessage());
        double[] read = new double[2];
        ArrayFiles.readValues(big.toString(), "--flops-per-weight", 2, (values, start, count) -> System.arraycopy(values, 0, read, (int) start, count));
        assertArrayEquals(new double[] {1e39, 2}, read);
    }

    /**
     * Nonzero float64 weights that are 0 in float32 were read as 0, weights already pruned, with not a word; readWeights
     * refuses them beside values beyond float32's range, and inspect's describe counts them. Other vectors (a linear
     * term) take them: a 0 there changes nothing. Every float16 and bfloat16 value is a float32, so only float64 has them.
     */
    @Test
    void weightsThatAreZeroInFloat32AreRefusedAndCounted() throws IOException {
        Path d = write(dir, "tiny.npy", npyV1(dict("<f8", false, "(4,)"), Fixtures.doubles(1, -1e-47, 1e39, 7e-46)));
        InputException e = assertThrows(InputException.class, () -> ArrayFiles.readWeights(d.toString(), "--weights", 4));
        assertTrue(e.getMessage().startsWith("--weights: " + d + ": values: ")
                && e.getMessage().contains("1 of 4 values are beyond float32's range (+-3.4e38)")
                && e.getMessage().contains("2 of 4 values are nonzero but 0 in float32 (below about 7.0e-46 in magnitude), which falcon computes in,"
                        + " where they would count as weights already pruned; the first is at index 1 (-1e-47)")
                && e.getMessage().contains("rescale the values into float32's range before saving, or check the exporter; rescale the weights, or set"
                        + " those meant as pruned to 0 before saving"), e.getMessage());
        Path tinyOnly = write(dir, "tinyOnly.npy", npyV1(dict("<f8", false, "(2,)"), Fixtures.doubles(1, 1e-47)));
        try (org.bytedeco.javacpp.FloatPointer g = ArrayFiles.readVector(tinyOnly.toString(), "--linear-term", 2)) {
            assertEquals(0f, g.get(1), "a linear term takes them");
        }
        assertThrows(InputException.class, () -> ArrayFiles.readWeights(tinyOnly.toString(), "--weights", 2));
        assertEquals(2, ArrayFiles.describe(d).get(0).zeroedInFloat32());
        assertEquals(0, ArrayFiles.describe(write(dir, "h.npy", npyV1(dict("<f2", false, "(1,)"), new byte[] {1, 0}))).get(0).zeroedInFloat32(),
                "float16's smallest subnormal is a float32");
    }

    @Test
    void lengthMismatchNamesBothLengths() throws IOException {
        Path f = write(dir, "w.npy", npyV1(dict("<f4", false, "(2, 2)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4)));
        assertInput(() -> ArrayFiles.readVector(f.toString(), "--weights", 5), f, "--weights", "shape", "4 elements", "5 are expected");
        Path empty = write(dir, "e.npy", npyV1(dict("<f4", false, "(0,)"), new byte[0]));
        assertInput(() -> ArrayFiles.readVector(empty.toString(), "--weights", -1), empty, "empty");
        assertInput(() -> ArrayFiles.matrixSource(dir.resolve("m.npy").toString(), "--gradients"), dir.resolve("m.npy"), "--gradients", "does not exist");
    }

    @Test
    void specsWithUnknownExtensions() {
        Path npz = dir.resolve("a.npz");
        assertInput(() -> ArrayFiles.readVector(npz.toString(), "--weights", -1), npz, "--weights", ".npz");
        Path txt = dir.resolve("a.txt");
        assertInput(() -> ArrayFiles.length(txt.toString(), "--weights"), txt, "unknown extension");
        InputException e = assertThrows(InputException.class, () -> ArrayFiles.readVector("", "--weights", -1));
        assertTrue(e.getMessage().contains("--weights"));
    }

    @Test
    void describeCountsAndRange() throws IOException {
        float[] v = {3, Float.NaN, -2, Float.POSITIVE_INFINITY, 8, Float.NaN};
        Path f = write(dir, "x.npy", npyV1(dict("<f4", false, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, v)));
        List<ArrayFiles.Entry> entries = ArrayFiles.describe(f);
        assertEquals(1, entries.size());
        ArrayFiles.Entry e = entries.get(0);
        assertEquals("x.npy", e.name());
        assertEquals("<f4", e.dtype());
        assertArrayEquals(new long[] {2, 3}, e.shape());
        assertEquals(2, e.nanCount());
        assertEquals(1, e.infCount());
        assertEquals(3, e.finiteCount());
        assertEquals(-2.0, e.min());
        assertEquals(8.0, e.max());
        Path allNan = write(dir, "n.npy", npyV1(dict("<f4", false, "(1,)"), floats(ByteOrder.LITTLE_ENDIAN, Float.NaN)));
        assertTrue(Double.isNaN(ArrayFiles.describe(allNan).get(0).min()));
        Path other = write(dir, "x.bin", new byte[4]);
        assertInput(() -> ArrayFiles.describe(other), other, "file");
    }

    @Test
    void sha256Streamed() throws IOException {
        Path f = write(dir, "abc.txt", "abc".getBytes());
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ArrayFiles.sha256(f));
        Path big = dir.resolve("big.bin");
        Files.write(big, new byte[3 << 20]);
        assertEquals(64, ArrayFiles.sha256(big).length());
        assertInput(() -> ArrayFiles.sha256(dir.resolve("none.bin")), dir.resolve("none.bin"), "does not exist");
    }
}
