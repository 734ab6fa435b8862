package dev.falcon.io;

import static dev.falcon.io.Fixtures.assertInput;
import static dev.falcon.io.Fixtures.dict;
import static dev.falcon.io.Fixtures.doubles;
import static dev.falcon.io.Fixtures.shorts;
import static dev.falcon.io.Fixtures.floats;
import static dev.falcon.io.Fixtures.npyV1;
import static dev.falcon.io.Fixtures.npyV2;
import static dev.falcon.io.Fixtures.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.data.ElementType;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {
    @TempDir Path dir;

    static float[] read(String spec, long expected) {
        try (FloatPointer p = ArrayFiles.readVector(spec, "--test", expected)) {
            float[] out = new float[(int) p.capacity()];
            p.get(out);
            return out;
        }
    }

    @Test
    void parsesBytesAsNumpyWritesThem() throws IOException {
        Path f = write(dir, "x.npy", npyV1(dict("<f4", false, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4, 5, 6)));
        Npy.Header h = Npy.readHeader(f);
        assertEquals("<f4", h.descr());
        assertFalse(h.fortranOrder());
        assertArrayEquals(new long[] {2, 3}, h.shape());
        assertEquals(128, h.dataOffset(), "numpy pads the v1 header to 64-byte alignment");
        assertEquals(6, h.elements());
        assertEquals(128 + 24, h.fileSize());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, read(f.toString(), 6));
    }

    @Test
    void writerProducesNumpysExactBytes() throws IOException {
        Path f = dir.resolve("w.npy");
        try (FloatPointer p = new FloatPointer(1f, 2f, 3f, 4f, 5f, 6f)) {
            Npy.writeFloat32(f, p, new long[] {2, 3});
        }
        assertArrayEquals(npyV1(dict("<f4", false, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4, 5, 6)), Files.readAllBytes(f));
        Path v = dir.resolve("v.npy");
        try (FloatPointer p = new FloatPointer(7f)) {
            Npy.writeFloat32(v, p, new long[] {1});
        }
        assertTrue(new String(Files.readAllBytes(v), java.nio.charset.StandardCharsets.ISO_8859_1).contains("'shape': (1,), }"));
    }

    @Test
    void roundTripLargeVectorAcrossChunks() {
        int n = ArrayFiles.CHUNK_ELEMENTS * 3 + 17;
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = i * 0.5f - 7;
        Path f = dir.resolve("big.npy");
        try (FloatPointer p = new FloatPointer(values)) {
            Npy.writeFloat32(f, p, new long[] {n});
        }
        assertArrayEquals(values, read(f.toString(), n));
        assertEquals(n, ArrayFiles.length(f.toString(), "--w"));
    }

    @Test
    void writesFromThePointersPosition() {
        Path f = dir.resolve("pos.npy");
        try (FloatPointer p = new FloatPointer(9f, 1f, 2f, 3f)) {
            p.position(1);
            Npy.writeFloat32(f, p, new long[] {3});
        }
        assertArrayEquals(new float[] {1, 2, 3}, read(f.toString(), 3));
    }

    @Test
    void fortranOrderMatrix() throws IOException {
        // a 2 x 3 matrix [[1,2,3],[4,5,6]] stored column by column
        Path f = write(dir, "xf.npy", npyV1(dict("<f4", true, "(2, 3)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 4, 2, 5, 3, 6)));
        RawMatrixSource src = ArrayFiles.matrixSource(f.toString(), "--gradients");
        assertFalse(src.rowMajor());
        assertTrue(src.isInternalLayout());
        assertEquals(2, src.rows());
        assertEquals(3, src.cols());
        assertEquals(128, src.dataOffset());
        assertEquals(ElementType.FLOAT32, src.type());
        assertInput(() -> ArrayFiles.readVector(f.toString(), "--w", -1), f, "fortran_order", "ascontiguousarray", "--w");
        // a Fortran-order column vector flattens the same in both orders
        Path col = write(dir, "col.npy", npyV1(dict("<f4", true, "(3, 1)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3)));
        assertArrayEquals(new float[] {1, 2, 3}, read(col.toString(), 3));
    }

    @Test
    void cOrderMatrixSource() {
        Path f = dir.resolve("xc.npy");
        try (FloatPointer p = new FloatPointer(new float[12])) {
            Npy.writeFloat32(f, p, new long[] {3, 4});
        }
        RawMatrixSource src = ArrayFiles.matrixSource(f.toString(), "--gradients");
        assertTrue(src.rowMajor());
        assertEquals(ByteOrder.LITTLE_ENDIAN, src.byteOrder());
        assertEquals(3, src.rows());
        assertEquals(4, src.cols());
        assertEquals(48, src.dataBytes());
        assertInput(() -> ArrayFiles.matrixSource(dir.resolve("none.npy").toString(), "--gradients"), dir.resolve("none.npy"), "does not exist");
    }

    @Test
    void matrixSourceRejectsVectorsAndIntegers() throws IOException {
        Path v = write(dir, "v.npy", npyV1(dict("<f4", false, "(3,)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3)));
        assertInput(() -> ArrayFiles.matrixSource(v.toString(), "--gradients"), v, "shape", "2-D", "--gradients");
        Path i = write(dir, "i.npy", npyV1(dict("<i4", false, "(1, 2)"), new byte[8]));
        assertInput(() -> ArrayFiles.matrixSource(i.toString(), "--gradients"), i, "descr", "<i4");
        Path b = write(dir, "bf.npy", npyV1(dict("bfloat16", false, "(2, 2)"), new byte[8]));
        assertEquals(ElementType.BFLOAT16, ArrayFiles.matrixSource(b.toString(), "X").type());
        Path be = write(dir, "be.npy", npyV1(dict(">f4", false, "(2, 1)"), new byte[8]));
        assertEquals(ByteOrder.BIG_ENDIAN, ArrayFiles.matrixSource(be.toString(), "X").byteOrder());
    }

    @Test
    void convertsFloat64Float16Bfloat16BigEndianAndIntegers() throws IOException {
        Path d = write(dir, "d.npy", npyV1(dict("<f8", false, "(3,)"), Fixtures.doubles(1.5, -2.25, 1e10)));
        assertArrayEquals(new float[] {1.5f, -2.25f, 1e10f}, read(d.toString(), 3));
        // float16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800, smallest subnormal 2^-24 = 0x0001
        Path h = write(dir, "h.npy", npyV1(dict("<f2", false, "(4,)"), Fixtures.shorts(0x3c00, 0xc000, 0x3800, 0x0001)));
        assertArrayEquals(new float[] {1f, -2f, 0.5f, 0x1p-24f}, read(h.toString(), 4));
        // bfloat16: upper half of the float32 bits; both accepted spellings
        byte[] bf = Fixtures.shorts(0x3f80, 0xc040, 0x4049);
        float[] expected = {1f, -3f, Float.intBitsToFloat(0x40490000)};
        assertArrayEquals(expected, read(write(dir, "b1.npy", npyV1(dict("bfloat16", false, "(3,)"), bf)).toString(), 3));
        assertArrayEquals(expected, read(write(dir, "b2.npy", npyV1(dict("<bf16", false, "(3,)"), bf)).toString(), 3));
        Path be = write(dir, "be.npy", npyV1(dict(">f4", false, "(2,)"), floats(ByteOrder.BIG_ENDIAN, 3.5f, -1f)));
        assertArrayEquals(new float[] {3.5f, -1f}, read(be.toString(), 2));
        ByteBuffer ints = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1024).putLong(1);
        Path i8 = write(dir, "flops.npy", npyV1(dict("<i8", false, "(2,)"), ints.array()));
        assertArrayEquals(new float[] {1024, 1}, read(i8.toString(), 2));
    }

    @Test
    void boolMaskRoundTripAndU1() throws IOException {
        Path f = dir.resolve("mask.npy");
        try (BytePointer m = new BytePointer((byte) 1, (byte) 0, (byte) 7, (byte) 0, (byte) 1)) {
            Npy.writeBool(f, m, 5);
        }
        Npy.Header h = Npy.readHeader(f);
        assertEquals("|b1", h.descr());
        assertArrayEquals(new long[] {5}, h.shape());
        byte[] bytes = Files.readAllBytes(f);
        assertArrayEquals(new byte[] {1, 0, 1, 0, 1}, Arrays.copyOfRange(bytes, (int) h.dataOffset(), bytes.length));
        assertArrayEquals(npyV1(dict("|b1", false, "(5,)"), new byte[] {1, 0, 1, 0, 1}), bytes);
        assertArrayEquals(new float[] {1, 0, 1, 0, 1}, read(f.toString(), 5));
        Path u = write(dir, "u.npy", npyV1(dict("|u1", false, "(3,)"), new byte[] {0, 1, 1}));
        assertArrayEquals(new float[] {0, 1, 1}, read(u.toString(), 3));
    }

    /**
     * numpy reads any non-zero byte of a bool array as True: a mask whose True bytes were 7 or 255 (written by C code or a
     * memory view) was read as weights and FLOPs of 7 and 255, and inspect showed max 255. uint8 keeps its values.
     */
    @Test
    void boolBytesOtherThanOneAreTrueAsNumpyReadsThem() throws IOException {
        byte[] bytes = {0, 1, 7, (byte) 255, 2};
        Path npy = write(dir, "b.npy", npyV1(dict("|b1", false, "(5,)"), bytes));
        assertArrayEquals(new float[] {0, 1, 1, 1, 1}, read(npy.toString(), 5));
        ArrayFiles.Entry e = ArrayFiles.describe(npy).get(0);
        assertEquals(0.0, e.min());
        assertEquals(1.0, e.max());
        Path st = write(dir, "b.safetensors", Fixtures.safetensors("{\"m\": {\"dtype\": \"BOOL\", \"shape\": [5], \"data_offsets\": [0, 5]}}", bytes));
        assertArrayEquals(new float[] {0, 1, 1, 1, 1}, read(st + ":m", 5));
        assertEquals(1.0, ArrayFiles.describe(st).get(0).max());
        Path u8 = write(dir, "u.npy", npyV1(dict("|u1", false, "(5,)"), bytes));
        assertArrayEquals(new float[] {0, 1, 7, 255, 2}, read(u8.toString(), 5));
    }

    /**
     * uint64 values above 2^63 were halved, converted and doubled, which dropped the lowest bit before rounding: 2^63 + 1025
     * became 2^63 where numpy (and any correctly rounded conversion) gives 2^63 + 2048, the nearer double.
     */
    @Test
    void uint64ValuesRoundToTheNearestDoubleAsNumpyConvertsThem() {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, Long.MIN_VALUE + 1025).putLong(8, -1L).putLong(16, Long.MIN_VALUE + 1024);
        assertEquals(0x1p63 + 2048, Dtype.U64.value(b, 0));
        assertEquals(0x1p64, Dtype.U64.value(b, 8));
        assertEquals(0x1p63, Dtype.U64.value(b, 16), "a tie rounds to even");
    }

    @Test
    void versions2And3() throws IOException {
        Path v2 = write(dir, "v2.npy", npyV2(2, dict("<f4", false, "(2,)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2)));
        assertEquals(128, Npy.readHeader(v2).dataOffset());
        assertArrayEquals(new float[] {1, 2}, read(v2.toString(), 2));
        Path v3 = write(dir, "v3.npy", npyV2(3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1,)}",
                floats(ByteOrder.LITTLE_ENDIAN, 5)));
        assertArrayEquals(new float[] {5}, read(v3.toString(), 1));
        // Python 2 numpy wrote long suffixes
        Path py2 = write(dir, "py2.npy", npyV1(dict("<f4", false, "(1L, 2L)"), floats(ByteOrder.LITTLE_ENDIAN, 1, 2)));
        assertArrayEquals(new long[] {1, 2}, Npy.readHeader(py2).shape());
    }

    /**
     * A header length field short of the header (118 written as 100) left the header's padding to be read as data: every
     * value shifted by 18 bytes, inspect showed weights in [-2.3, 1.4] as min -6.9e34, max 5.5e35, and prune ran on them
     * with exit 0. Bytes appended after the data were taken silently too. The data must run from the end of the header to
     * the end of the file, as the safetensors reader requires of its data area.
     */
    @Test
    void aShortHeaderLengthFieldOrBytesAfterTheDataAreRefused() throws IOException {
        float[] values = new float[36];
        for (int i = 0; i < values.length; i++) values[i] = -2.3f + i * 0.1f;
        byte[] valid = npyV1(dict("<f4", false, "(36,)"), floats(ByteOrder.LITTLE_ENDIAN, values));
        assertEquals(128 + 144, valid.length);
        byte[] shortField = valid.clone();
        ByteBuffer.wrap(shortField).order(ByteOrder.LITTLE_ENDIAN).putShort(8, (short) 100);
        Path shortHl = write(dir, "shorthl.npy", shortField);
        assertInput(() -> Npy.readHeader(shortHl), shortHl, "data:", "18 bytes extra", "header length field (100)",
                "short by 18", "118");
        assertInput(() -> ArrayFiles.readVector(shortHl.toString(), "--weights", 36), shortHl, "--weights: ", "18 bytes extra");
        assertInput(() -> ArrayFiles.describe(shortHl), shortHl, "18 bytes extra");

        Path longData = write(dir, "longdata.npy", Fixtures.concat(valid, new byte[8]));
        assertInput(() -> Npy.readHeader(longData), longData, "data:", "8 bytes extra", "280 bytes",
                "the header length field or the file is damaged");
        assertInput(() -> ArrayFiles.readVector(longData.toString(), "--weights", 36), longData, "--weights: ", "8 bytes extra");

        // X is mapped in place, never streamed: the check is the header's, before any mapping
        byte[] matrix = npyV1(dict("<f4", true, "(6, 6)"), floats(ByteOrder.LITTLE_ENDIAN, values));
        Path x = write(dir, "x.npy", Fixtures.concat(matrix, new byte[4]));
        assertInput(() -> ArrayFiles.matrixSource(x.toString(), "--grads"), x, "--grads: ", "4 bytes extra");
        Path xShort = write(dir, "xshort.npy", Arrays.copyOf(matrix, matrix.length - 4));
        assertInput(() -> ArrayFiles.matrixSource(xShort.toString(), "--grads"), xShort, "--grads: ", "4 bytes missing", "truncated");
        assertEquals(36, ArrayFiles.matrixSource(write(dir, "xok.npy", matrix).toString(), "--grads").dataBytes() / 4);
    }

    /**
     * Bytes appended after the data that happen to look like header padding (spaces ending in a newline) were blamed on
     * the header length field: numpy's zero.npy of shape (0, 4) with b'   \n' appended read "the header length field
     * (118) is short by 4 bytes ... a header length of 122", though the field is right (its header ends in numpy's newline
     * at the 64-byte boundary). The field is blamed only where the header it declares stops short of that newline; these
     * bytes get the plain message, as four zero bytes do.
     */
    @Test
    void paddingLikeBytesAppendedAfterTheDataAreNotBlamedOnTheHeaderLengthField() throws IOException {
        byte[] zero = npyV1(dict("<f4", false, "(0, 4)"), new byte[0]);
        assertEquals(118, ByteBuffer.wrap(zero).order(ByteOrder.LITTLE_ENDIAN).getShort(8));
        for (byte[] appended : new byte[][] {"   \n".getBytes(StandardCharsets.ISO_8859_1), new byte[4]}) {
            Path file = write(dir, "zero-plus-" + (appended[0] == ' ' ? "padding" : "zeros") + ".npy", Fixtures.concat(zero, appended));
            InputException e = org.junit.jupiter.api.Assertions.assertThrows(InputException.class, () -> Npy.readHeader(file));
            String m = e.getMessage();
            assertTrue(m.contains("4 bytes extra after the data") && m.contains("the header length field or the file is damaged"), m);
            assertFalse(m.contains("short by") || m.contains("header length of"), "bytes appended to " + file.getFileName()
                    + " were blamed on the header length field: " + m);
        }
    }

    /** Every dtype and format version: one byte too many or too few is refused, the exact size read. */
    @Test
    void theSizeCheckHoldsForEveryDtypeAndVersion() throws IOException {
        String[] descrs = {"<f4", "<f8", "<f2", ">f4", ">f8", ">f2", "f4", "|f4", "=f4", "bfloat16", "<bf16", "|b1", "|u1", "|i1",
                "<i2", "<u2", "<i4", "<u4", "<i8", "<u8"};
        for (String descr : descrs) {
            int item = Npy.dtypeOf(descr).size;
            byte[] data = new byte[3 * item];
            for (int version = 1; version <= 3; version++) {
                String dict = dict(descr, false, "(3,)");
                byte[] exact = version == 1 ? npyV1(dict, data) : npyV2(version, dict, data);
                String what = descr + " v" + version;
                Path ok = write(dir, "ok.npy", exact);
                assertEquals(exact.length, Npy.readHeader(ok).fileSize(), what);
                assertEquals(3, read(ok.toString(), 3).length, what);
                Path extra = write(dir, "extra.npy", Fixtures.concat(exact, new byte[1]));
                assertInput(() -> Npy.readHeader(extra), extra, "1 byte extra");
                Path missing = write(dir, "missing.npy", Arrays.copyOf(exact, exact.length - 1));
                assertInput(() -> Npy.readHeader(missing), missing, "1 byte missing");
            }
        }
    }

    @Test
    void hostileHeaders() throws IOException {
        byte[] data = floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4);
        Path tiny = write(dir, "tiny.npy", new byte[] {(byte) 0x93, 'N', 'U'});
        assertInput(() -> Npy.readHeader(tiny), tiny, "header", "shorter");
        Path magic = write(dir, "magic.npy", "PK\u0003\u0004 this is a zip file not npy".getBytes());
        assertInput(() -> Npy.readHeader(magic), magic, "header", "magic", "numpy.save");
        Path misnamedSafetensors = write(dir, "misnamed.npy", Fixtures.safetensors(
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data));
        assertInput(() -> Npy.readHeader(misnamedSafetensors), misnamedSafetensors, "header", "is a safetensors file",
                "rename it to end in .safetensors");
        byte[] v4 = npyV1(dict("<f4", false, "(4,)"), data);
        v4[6] = 4;
        Path version = write(dir, "version.npy", v4);
        assertInput(() -> Npy.readHeader(version), version, "version", "4.0");
        byte[] longHeader = npyV1(dict("<f4", false, "(4,)"), data);
        longHeader[8] = (byte) 0xff;
        longHeader[9] = (byte) 0x7f;
        Path hl = write(dir, "hlen.npy", longHeader);
        assertInput(() -> Npy.readHeader(hl), hl, "header", "header length 32767", "past the end");
        byte[] hugeV2 = npyV2(2, dict("<f4", false, "(4,)"), data);
        ByteBuffer.wrap(hugeV2).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 0x7fff_fff0);
        Path hv2 = write(dir, "hugev2.npy", hugeV2);
        assertInput(() -> Npy.readHeader(hv2), hv2, "header", "exceeds");
        Path trunc = write(dir, "trunc.npy", Arrays.copyOf(npyV1(dict("<f4", false, "(4,)"), data), 128 + 10));
        assertInput(() -> Npy.readHeader(trunc), trunc, "shape", "truncated", "16");
        Path neg = write(dir, "neg.npy", npyV1(dict("<f4", false, "(-1, 4)"), data));
        assertInput(() -> Npy.readHeader(neg), neg, "shape", "negative");
        Path huge = write(dir, "huge.npy", npyV1(dict("<f4", false, "(4294967296, 4294967296)"), data));
        assertInput(() -> Npy.readHeader(huge), huge, "shape", "overflows");
        Path big = write(dir, "big.npy", npyV1(dict("<f4", false, "(1000000, 1000000)"), data));
        assertInput(() -> Npy.readHeader(big), big, "shape", "4000000000000", "truncated");
        Path digits = write(dir, "digits.npy", npyV1(dict("<f4", false, "(99999999999999999999,)"), data));
        assertInput(() -> Npy.readHeader(digits), digits, "shape", "64-bit");
        Path garbage = write(dir, "garbage.npy", npyV1(dict("<x9", false, "(4,)"), data));
        assertInput(() -> Npy.readHeader(garbage), garbage, "descr", "'<x9'", "astype");
        Path odd = write(dir, "odd.npy", npyV1(dict("|f3", false, "(4,)"), data));
        assertInput(() -> Npy.readHeader(odd), odd, "descr", "'|f3'");
        Path v2void = write(dir, "void.npy", npyV1(dict("<V2", false, "(8,)"), data));
        assertInput(() -> Npy.readHeader(v2void), v2void, "descr", "bfloat16", "BF16");
        Path structured = write(dir, "rec.npy", npyV1("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2,), }", data));
        assertInput(() -> Npy.readHeader(structured), structured, "descr", "structured");
        Path missing = write(dir, "missing.npy", npyV1("{'descr': '<f4', 'fortran_order': False, }", data));
        assertInput(() -> Npy.readHeader(missing), missing, "shape", "missing");
        Path extra = write(dir, "extra.npy", npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", data));
        assertInput(() -> Npy.readHeader(extra), extra, "header");
        Path dup = write(dir, "dup.npy", npyV1("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", data));
        assertInput(() -> Npy.readHeader(dup), dup, "header", "twice");
        Path fo = write(dir, "fo.npy", npyV1("{'descr': '<f4', 'fortran_order': 'yes', 'shape': (4,), }", data));
        assertInput(() -> Npy.readHeader(fo), fo, "fortran_order");
        Path shape = write(dir, "shapelist.npy", npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", data));
        assertInput(() -> Npy.readHeader(shape), shape, "shape");
        Path unclosed = write(dir, "unclosed.npy", npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (4,", data));
        assertInput(() -> Npy.readHeader(unclosed), unclosed, "header", "malformed");
        Path code = write(dir, "code.npy", npyV1("__import__('os').system('rm -rf /')", data));
        assertInput(() -> Npy.readHeader(code), code, "header", "malformed");
        Path after = write(dir, "after.npy", npyV1(dict("<f4", false, "(4,)") + " junk", data));
        assertInput(() -> Npy.readHeader(after), after, "header", "after the dict");
        // readVector names the option as well
        assertInput(() -> ArrayFiles.readVector(garbage.toString(), "--weights", -1), garbage, "--weights", "descr");
    }

    /**
     * numpy reads a descr without a byte order ('f4') or with '|' ('|f4') in native order, little-endian where such files
     * are written; both were refused. A header value of the wrong kind was shown parsed: 'False' (a string) as False,
     * [60] (a list) as [].
     */
    @Test
    void descrsWithoutAByteOrderAreLittleEndianAndWrongValuesAreShownAsWritten() throws IOException {
        byte[] f4 = floats(ByteOrder.LITTLE_ENDIAN, 1.5f, -2, 3, 4e-3f);
        for (String descr : new String[] {"f4", "|f4"}) {
            Path f = write(dir, "native" + descr.length() + ".npy", npyV1(dict(descr, false, "(4,)"), f4));
            assertArrayEquals(new float[] {1.5f, -2, 3, 4e-3f}, read(f.toString(), 4), descr);
            assertEquals(ByteOrder.LITTLE_ENDIAN, Npy.readHeader(f).byteOrder(), descr);
        }
        Path f8 = write(dir, "f8.npy", npyV1(dict("f8", false, "(2,)"), doubles(0.25, -8)));
        assertArrayEquals(new float[] {0.25f, -8}, read(f8.toString(), 2));
        Path f2 = write(dir, "f2.npy", npyV1(dict("|f2", false, "(2,)"), shorts(0x3c00, 0xc000))); // 1.0, -2.0 as float16
        assertArrayEquals(new float[] {1, -2}, read(f2.toString(), 2));
        RawMatrixSource x = ArrayFiles.matrixSource(write(dir, "x.npy", npyV1(dict("f4", false, "(2, 2)"), f4)).toString(), "--grads");
        assertEquals(ElementType.FLOAT32, x.type());

        Path quoted = write(dir, "quoted.npy", npyV1("{'descr': '<f4', 'fortran_order': 'False', 'shape': (4,), }", f4));
        assertInput(() -> Npy.readHeader(quoted), quoted, "fortran_order: must be True or False, got 'False'");
        Path list = write(dir, "list.npy", npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", f4));
        assertInput(() -> Npy.readHeader(list), list, "shape: must be a tuple of integers such as (1000, 268336), got [4]");
    }

    /** The header of a v1.0 .npy file of 24 float32 zeros whose dict is {@code dict}, written out byte by byte. */
    private Path npyOf24(String name, String dict) throws IOException {
        return write(dir, name, npyV1(dict, new byte[24 * 4]));
    }

    /**
     * A key other than numpy's three was named only where its value was one the parser knew (a string, True, False, a
     * tuple): 'foo': 1 got "malformed header dict: expected a string, True, False or a tuple at character 64", sending
     * the user to look for damage rather than at the key numpy refuses ("Header does not contain the correct keys").
     */
    @Test
    void anUnexpectedKeyIsNamedWhateverItsValue() throws IOException {
        String[] values = {"1", "'\u00e9'", "None", "-2.5e-3", "[1, 2]", "{'a': 1}", "b'x'", "(1, 'a')"};
        for (int v = 0; v < values.length; v++) {
            Path last = npyOf24("last" + v + ".npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (24,), 'foo': " + values[v] + "}");
            InputException e = assertInput(() -> Npy.readHeader(last), last,
                    "header: unexpected key 'foo' in the header dict (only 'descr', 'fortran_order' and 'shape' are allowed)");
            assertFalse(e.getMessage().contains("malformed"), e.getMessage());
            Path first = npyOf24("first" + v + ".npy", "{'foo': " + values[v] + ", 'descr': '<f4', 'fortran_order': False, 'shape': (24,)}");
            assertInput(() -> Npy.readHeader(first), first, "header: unexpected key 'foo' in the header dict");
        }
    }

    /**
     * A value of a kind the parser did not know, a number or None, got the generic "malformed header dict: expected a
     * string, True, False or a tuple at character 34" where numpy names the field ("fortran_order is not a valid bool:
     * 0"): the field is named, with the value as written.
     */
    @Test
    void aNumberOrNoneWhereTheHeaderWantsAnotherKindNamesTheField() throws IOException {
        String[][] cases = {
            {"{'descr': '<f4', 'fortran_order': 0, 'shape': (24,)}", "fortran_order: must be True or False, got 0"},
            {"{'descr': '<f4', 'fortran_order': 1, 'shape': (24,)}", "fortran_order: must be True or False, got 1"},
            {"{'descr': '<f4', 'fortran_order': None, 'shape': (24,)}", "fortran_order: must be True or False, got None"},
            {"{'descr': '<f4', 'fortran_order': -1.5e-3, 'shape': (24,)}", "fortran_order: must be True or False, got -1.5e-3"},
            {"{'descr': 0, 'fortran_order': False, 'shape': (24,)}", "descr: must be a string such as '<f4', got 0"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': 24}", "shape: must be a tuple of integers such as (1000, 268336), got 24"},
        };
        for (int c = 0; c < cases.length; c++) {
            Path f = npyOf24("kind" + c + ".npy", cases[c][0]);
            InputException e = assertInput(() -> Npy.readHeader(f), f, cases[c][1]);
            assertFalse(e.getMessage().contains("malformed"), e.getMessage());
        }
    }

    /**
     * Headers numpy refuses were read: 'shape': (24) (an integer in parentheses, not a tuple: "shape is not valid: 24"),
     * a dimension with a leading zero (not a Python integer literal: "Cannot parse header"), a NUL byte after the dict
     * (Python source holds none: "Cannot parse header"), and a lowercase long suffix or one in a version 3.0 file (numpy
     * drops only a Python 2 'L', and only in versions 1.0 and 2.0). Each is refused as damage, naming the file and field.
     */
    @Test
    void headersNumpyRefusesAreRefused() throws IOException {
        Path parenthesized = npyOf24("paren.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (24)}");
        assertInput(() -> Npy.readHeader(parenthesized), parenthesized, "shape: (24) is an integer in parentheses, not a tuple",
                "(24,)", "re-save");
        Path spaced = npyOf24("paren-spaced.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': ( 24 ), }");
        assertInput(() -> Npy.readHeader(spaced), spaced, "shape: ( 24 ) is an integer in parentheses, not a tuple");
        Path leadingZero = npyOf24("zero.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (024,)}");
        assertInput(() -> Npy.readHeader(leadingZero), leadingZero, "shape: dimension 024 has a leading zero", "re-save");
        Path leadingZeroLater = npyOf24("zero2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0024)}");
        assertInput(() -> Npy.readHeader(leadingZeroLater), leadingZeroLater, "shape: dimension 0024 has a leading zero");
        Path nul = npyOf24("nul.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (24,)}\0");
        assertInput(() -> Npy.readHeader(nul), nul, "header: ", "a NUL byte (\\x00) at character 56 after the dict", "re-save");
        Path nulInPadding = npyOf24("nul2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (24,), }   \0  ");
        assertInput(() -> Npy.readHeader(nulInPadding), nulInPadding, "header: ", "a NUL byte (\\x00) at character 61 after the dict");
        Path lowercaseLong = npyOf24("long-l.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (24l,)}");
        assertInput(() -> Npy.readHeader(lowercaseLong), lowercaseLong, "shape: dimension 24l", "only 'L'");
        Path longInV3 = write(dir, "long-v3.npy", npyV2(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (24L,)}", new byte[24 * 4]));
        assertInput(() -> Npy.readHeader(longInV3), longInV3, "shape: dimension 24L", "version 3.0");
    }

    /** What Python's literal syntax, or numpy's fallback for Python 2 headers, reads: accepted as before. */
    @Test
    void headersNumpyReadsAreRead() throws IOException {
        String[][] accepted = {
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (24,)}", "24"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (8, 3)}", "8 3"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': ( 8 , 3 , ) , } \t\r", "8 3"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (+24,),}", "24"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (24L,)}", "24"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 00, 24)}", "0 0 24"},
        };
        for (int a = 0; a < accepted.length; a++) {
            long[] shape = Arrays.stream(accepted[a][1].split(" ")).mapToLong(Long::parseLong).toArray();
            byte[] data = new byte[(int) Arrays.stream(shape).reduce(1, Math::multiplyExact) * 4];
            Path f = write(dir, "ok" + a + ".npy", npyV1(accepted[a][0], data));
            assertArrayEquals(shape, Npy.readHeader(f).shape(), accepted[a][0]);
        }
        Path scalar = write(dir, "scalar.npy", npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", new byte[4]));
        assertArrayEquals(new long[0], Npy.readHeader(scalar).shape());
        Path longInV2 = write(dir, "long-v2.npy", npyV2(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (24L,)}", new byte[24 * 4]));
        assertArrayEquals(new long[] {24}, Npy.readHeader(longInV2).shape());
    }
}
