package dev.falcon.io;

import static dev.falcon.io.Fixtures.assertInput;
import static dev.falcon.io.Fixtures.safetensors;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir Path dir;

    @Test
    void anNpyFileUnderASafetensorsNameIsNamedAsOne() throws IOException {
        Path misnamed = write(dir, "weights.safetensors", Fixtures.npyV1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                new byte[8]));
        assertInput(() -> Safetensors.readHeader(misnamed), misnamed, "header", "is an .npy file", "rename it to end in .npy");
    }

    @Test
    void roundTripWithMetadata() throws IOException {
        Path f = dir.resolve("model.safetensors");
        try (FloatPointer a = new FloatPointer(1f, 2f, 3f, 4f, 5f, 6f); FloatPointer b = new FloatPointer(-1f, 0.25f, 7f)) {
            LinkedHashMap<String, NamedArray> tensors = new LinkedHashMap<>();
            tensors.put("layer1.weight", new NamedArray(a, new long[] {2, 3}));
            tensors.put("mask", new NamedArray(b, new long[] {3}));
            Safetensors.write(f, tensors, Map.of("format", "pt", "falcon", "0.1"));
        }
        Safetensors.Header h = Safetensors.readHeader(f);
        assertEquals(Map.of("format", "pt", "falcon", "0.1"), h.metadata());
        assertEquals(List.of("layer1.weight", "mask"), List.copyOf(h.tensors().keySet()));
        assertEquals(0, h.dataStart() % 8, "data area 8-byte aligned");
        Safetensors.Tensor t = h.tensors().get("layer1.weight");
        assertEquals("F32", t.dtype());
        assertArrayEquals(new long[] {2, 3}, t.shape());
        assertEquals(h.dataStart(), t.begin());
        assertEquals(h.dataStart() + 24, t.end());
        assertEquals(Files.size(f), h.tensors().get("mask").end());
        assertArrayEquals(new float[] {-1f, 0.25f, 7f}, NpyTest.read(f + ":mask", 3));
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, NpyTest.read(f + ":layer1.weight", 6));
        RawMatrixSource src = ArrayFiles.matrixSource(f + ":layer1.weight", "--gradients");
        assertTrue(src.rowMajor());
        assertEquals(t.begin(), src.dataOffset());
        assertEquals(2, src.rows());
        assertEquals(3, src.cols());
        assertInput(() -> ArrayFiles.readVector(f.toString(), "--weights", -1), f, "--weights", "2 tensors", "layer1.weight, mask",
                ":TENSOR");
        assertInput(() -> ArrayFiles.readVector(f + ":nope", "--weights", -1), f, "tensor 'nope'", "layer1.weight, mask");
        assertInput(() -> ArrayFiles.matrixSource(f + ":mask", "--gradients"), f, "shape", "2-D");
    }

    @Test
    void theSameTensorsAndMetadataGiveTheSameBytesWhateverTheMapsOrder() throws IOException {
        // callers pass Map.of, whose iteration order changes from one JVM to the next: the file must not
        Path first = dir.resolve("first.safetensors"), second = dir.resolve("second.safetensors");
        try (FloatPointer a = new FloatPointer(1f, 2f)) {
            LinkedHashMap<String, NamedArray> tensors = new LinkedHashMap<>();
            tensors.put("w", new NamedArray(a, new long[] {2}));
            LinkedHashMap<String, String> producerFirst = new LinkedHashMap<>();
            producerFirst.put("producer", "falcon prune");
            producerFirst.put("method", "mp");
            LinkedHashMap<String, String> methodFirst = new LinkedHashMap<>();
            methodFirst.put("method", "mp");
            methodFirst.put("producer", "falcon prune");
            Safetensors.write(first, tensors, producerFirst);
            Safetensors.write(second, tensors, methodFirst);
        }
        assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second));
    }

    @Test
    void writesWithoutMetadataAndSingleTensorSpec() {
        Path f = dir.resolve("w.safetensors");
        try (FloatPointer a = new FloatPointer(3f, 4f)) {
            LinkedHashMap<String, NamedArray> tensors = new LinkedHashMap<>();
            tensors.put("w", new NamedArray(a, new long[] {2}));
            Safetensors.write(f, tensors, null);
        }
        assertTrue(Safetensors.readHeader(f).metadata().isEmpty());
        assertArrayEquals(new float[] {3, 4}, NpyTest.read(f.toString(), 2));
        assertEquals(2, ArrayFiles.length(f.toString(), "--w"));
    }

    @Test
    void anUpperCaseExtensionTakesATensorName() {
        // "MODEL.SAFETENSORS" alone is read, and with two tensors the message says to write "MODEL.SAFETENSORS:TENSOR"
        Path f = dir.resolve("MODEL.SAFETENSORS");
        try (FloatPointer a = new FloatPointer(3f, 4f); FloatPointer b = new FloatPointer(5f)) {
            LinkedHashMap<String, NamedArray> tensors = new LinkedHashMap<>();
            tensors.put("w", new NamedArray(a, new long[] {2}));
            tensors.put("b", new NamedArray(b, new long[] {1}));
            Safetensors.write(f, tensors, null);
        }
        assertInput(() -> ArrayFiles.length(f.toString(), "--w"), f, "ambiguous", "MODEL.SAFETENSORS:TENSOR");
        assertArrayEquals(new float[] {3, 4}, NpyTest.read(f + ":w", 2));
        assertEquals("w", ArrayFiles.tensorName(f + ":w", "--w"));
        assertEquals(f, ArrayFiles.fileOf(f + ":w"));
    }

    @Test
    void aFileWithoutTensorsIsNotCalledAmbiguous() throws IOException {
        Path f = write(dir, "empty.safetensors", safetensors("{\"__metadata__\":{\"format\":\"pt\"}}", new byte[0]));
        InputException e = assertInput(() -> ArrayFiles.readVector(f.toString(), "--weights", -1), f, "--weights", "tensors", "no tensors");
        assertFalse(e.getMessage().contains("ambiguous"), e.getMessage());
    }

    @Test
    void convertsF64F16Bf16AndReportsDtypes() throws IOException {
        byte[] data = Fixtures.concat(Fixtures.doubles(2.5, -1), Fixtures.shorts(0x3c00, 0xbc00), Fixtures.shorts(0x4000, 0x3f80));
        String json = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[20,24]}}";
        Path f = write(dir, "mixed.safetensors", safetensors(json, data));
        assertArrayEquals(new float[] {2.5f, -1f}, NpyTest.read(f + ":d", 2));
        assertArrayEquals(new float[] {1f, -1f}, NpyTest.read(f + ":h", 2));
        assertArrayEquals(new float[] {2f, 1f}, NpyTest.read(f + ":b", 2));
        assertEquals(ElementType.BFLOAT16, ArrayFiles.matrixSource(f + ":b", "X").type());
        List<ArrayFiles.Entry> entries = ArrayFiles.describe(f);
        assertEquals(3, entries.size());
        assertEquals("F64", entries.get(0).dtype());
        assertEquals(-1.0, entries.get(0).min());
        assertEquals(2.5, entries.get(0).max());
    }

    @Test
    void aTensorOfANewerDtypeDoesNotHideTheOthers() throws IOException {
        String json = "{\"scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[3],\"data_offsets\":[0,3]},"
                + "\"packed\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[3,5]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[5,13]}}";
        ByteBuffer d = ByteBuffer.allocate(13).order(ByteOrder.LITTLE_ENDIAN);
        d.putFloat(5, 1.5f).putFloat(9, -2f);
        Path f = write(dir, "mx.safetensors", safetensors(json, d.array()));
        assertArrayEquals(new float[] {1.5f, -2f}, NpyTest.read(f + ":w", 2));
        assertInput(() -> ArrayFiles.readVector(f + ":scale", "--w", -1), f, "dtype", "F8_E8M0");
        assertEquals(3, ArrayFiles.describe(f).size());
    }

    /**
     * A dtype written in lower case ("f32", by a hand-written exporter) is float32 data under a name safetensors does not
     * have: the refusal said "f32 cannot be converted ...; save the array as float32", which it already is.
     */
    @Test
    void aDtypeInTheWrongCaseIsRefusedNamingItsSafetensorsSpelling() throws IOException {
        String json = "{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        ByteBuffer d = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f);
        Path f = write(dir, "lower.safetensors", safetensors(json, d.array()));
        InputException e = assertInput(() -> ArrayFiles.readVector(f + ":w", "--weights", -1), f, "dtype", "'f32' is not a safetensors dtype",
                "did you mean 'F32'", "safetensors.save_file");
        assertFalse(e.getMessage().contains("save the array as float32"), e.getMessage());
    }

    /**
     * X in the wrong case ("f32") got the matrix reader's own refusal, "X must be float32, ... not f32; save X as
     * float32", advice plainly backwards for data that already is float32: --grads missed the check --weights has.
     */
    @Test
    void xWithADtypeInTheWrongCaseIsRefusedNamingItsSafetensorsSpelling() throws IOException {
        String json = "{\"x\":{\"dtype\":\"f32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}";
        ByteBuffer d = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f);
        Path f = write(dir, "x_lower.safetensors", safetensors(json, d.array()));
        InputException e = assertInput(() -> ArrayFiles.matrixSource(f.toString(), "--grads"), f, "dtype", "'f32' is not a safetensors dtype",
                "did you mean 'F32'", "safetensors.save_file");
        assertFalse(e.getMessage().contains("save X as float32"), e.getMessage());
    }

    /**
     * A float8 dtype in the wrong case was told "did you mean 'F8_E4M3'?", a dtype falcon cannot read either (and left
     * out of the message's own readable list): the data needs converting, not renaming.
     */
    @Test
    void aMiscasedDtypeThatCannotBeReadEitherIsToldToConvertTheData() throws IOException {
        String json = "{\"w\":{\"dtype\":\"f8_e4m3\",\"shape\":[2],\"data_offsets\":[0,2]}}";
        Path f = write(dir, "lower_f8.safetensors", safetensors(json, new byte[2]));
        InputException e = assertInput(() -> ArrayFiles.readVector(f + ":w", "--weights", -1), f, "dtype", "f8_e4m3 cannot be converted",
                "save the array as float32");
        assertFalse(e.getMessage().contains("did you mean"), e.getMessage());
        org.junit.jupiter.api.Assertions.assertNull(ArrayFiles.miscasedDtype("f8_e5m2"));
        org.junit.jupiter.api.Assertions.assertNull(ArrayFiles.miscasedDtype("f8_e4m3"));
    }

    @Test
    void unsupportedDtypesAreListedButNotRead() throws IOException {
        String json = "{\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                + "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[8,10]}}";
        ByteBuffer d = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN).putLong(42);
        Path f = write(dir, "misc.safetensors", safetensors(json, d.array()));
        assertArrayEquals(new float[] {42}, NpyTest.read(f + ":step", 1));
        assertInput(() -> ArrayFiles.readVector(f + ":q", "--w", -1), f, "dtype", "F8_E4M3");
        assertInput(() -> ArrayFiles.matrixSource(f + ":step", "X"), f, "shape");
        ArrayFiles.Entry q = ArrayFiles.describe(f).get(1);
        assertEquals(-1, q.nanCount());
        assertTrue(Double.isNaN(q.min()));
    }

    /**
     * A header length field that left out the header's 8 bytes of padding put the data area's start inside the padding:
     * inspect passed the file and prune read every weight 2 floats late, the first two being spaces, with no error. The
     * format requires the tensors to fill the data area exactly, the one check that catches such a length; a gap before or
     * between tensors, or bytes after the last, are refused alike, naming the tensor's data_offsets.
     */
    @Test
    void aDataAreaTheTensorsDoNotFillExactlyIsRefused() throws IOException {
        String one = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] weights = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f).array();
        byte[] shortLength = safetensors(one + "        ", weights);
        ByteBuffer.wrap(shortLength).order(ByteOrder.LITTLE_ENDIAN).putLong(0, one.length());
        Path lies = write(dir, "lies.safetensors", shortLength);
        assertInput(() -> Safetensors.readHeader(lies), lies, "tensor 'w'.data_offsets", "end at byte 8 of the 16-byte data area",
                "header length", "re-save it");
        assertInput(() -> ArrayFiles.readVector(lies.toString(), "--weights", -1), lies, "tensor 'w'.data_offsets");
        assertInput(() -> ArrayFiles.describe(lies), lies, "tensor 'w'.data_offsets");

        Path appended = write(dir, "appended.safetensors", safetensors(one, Fixtures.concat(weights, new byte[4])));
        assertInput(() -> Safetensors.readHeader(appended), appended, "tensor 'w'.data_offsets", "end at byte 8 of the 12-byte data area");
        Path holeBefore = write(dir, "hole.safetensors", safetensors(one.replace("[2]", "[1]").replace("[0,8]", "[4,8]"), weights));
        assertInput(() -> Safetensors.readHeader(holeBefore), holeBefore, "tensor 'w'.data_offsets", "leaves bytes [0, 4)", "before it");
        Path holeBetween = write(dir, "between.safetensors", safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", new byte[12]));
        assertInput(() -> Safetensors.readHeader(holeBetween), holeBetween, "tensor 'b'.data_offsets", "leaves bytes [4, 8)",
                "after tensor 'a'");
        Path metadataAndBytes = write(dir, "metabytes.safetensors", safetensors("{\"__metadata__\":{\"a\":\"b\"}}", new byte[4]));
        assertInput(() -> Safetensors.readHeader(metadataAndBytes), metadataAndBytes, "header length", "end at byte 0 of the 4-byte data area");

        // tensors listed out of offset order, and an empty tensor anywhere, still fill the data area
        Path unordered = write(dir, "unordered.safetensors", safetensors("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", weights));
        assertEquals(3, Safetensors.readHeader(unordered).tensors().size());
        assertArrayEquals(new float[] {-2f}, NpyTest.read(unordered + ":b", 1));
    }

    @Test
    void hostileHeaders() throws IOException {
        String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] data = new byte[8];
        Path tiny = write(dir, "tiny.safetensors", new byte[] {1, 2, 3});
        assertInput(() -> Safetensors.readHeader(tiny), tiny, "header", "shorter");
        byte[] longHeader = safetensors(ok, data);
        ByteBuffer.wrap(longHeader).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 5000);
        Path hl = write(dir, "hlen.safetensors", longHeader);
        assertInput(() -> Safetensors.readHeader(hl), hl, "header", "5000", "past the end");
        byte[] hugeHeader = safetensors(ok, data);
        ByteBuffer.wrap(hugeHeader).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1L);
        Path huge = write(dir, "huge.safetensors", hugeHeader);
        assertInput(() -> Safetensors.readHeader(huge), huge, "header", "18446744073709551615");
        Path json = write(dir, "json.safetensors", safetensors("{\"a\": nope}", data));
        assertInput(() -> Safetensors.readHeader(json), json, "header", "invalid JSON");
        Path notObject = write(dir, "arr.safetensors", safetensors("[1, 2]   ", data));
        assertInput(() -> Safetensors.readHeader(notObject), notObject, "header");
        Path dup = write(dir, "dup.safetensors", safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data));
        assertInput(() -> Safetensors.readHeader(dup), dup, "header", "Duplicate");
        // a dtype string unknown here is listed (newer files hold F8_E8M0, F4, ...) but never read
        Path dtype = write(dir, "dtype.safetensors", safetensors(ok.replace("F32", "Q7"), data));
        assertEquals("Q7", Safetensors.readHeader(dtype).tensors().get("a").dtype());
        assertInput(() -> ArrayFiles.readVector(dtype.toString(), "--w", -1), dtype, "dtype", "Q7");
        Path unknownPast = write(dir, "unknownpast.safetensors", safetensors(ok.replace("F32", "Q7").replace("[0,8]", "[0,9]"), data));
        assertInput(() -> Safetensors.readHeader(unknownPast), unknownPast, "data_offsets");
        Path past = write(dir, "past.safetensors", safetensors(ok.replace("[0,8]", "[4,12]"), data));
        assertInput(() -> Safetensors.readHeader(past), past, "tensor 'a'.data_offsets", "past the end");
        Path truncated = write(dir, "trunc.safetensors", safetensors(ok, new byte[5]));
        assertInput(() -> Safetensors.readHeader(truncated), truncated, "data_offsets", "truncated");
        Path size = write(dir, "size.safetensors", safetensors(ok.replace("[2]", "[3]"), new byte[12]));
        assertInput(() -> Safetensors.readHeader(size), size, "tensor 'a'.data_offsets", "needs 12");
        Path reversed = write(dir, "rev.safetensors", safetensors(ok.replace("[0,8]", "[8,0]"), data));
        assertInput(() -> Safetensors.readHeader(reversed), reversed, "data_offsets", "after end");
        Path negative = write(dir, "negshape.safetensors", safetensors(ok.replace("[2]", "[-2]"), data));
        assertInput(() -> Safetensors.readHeader(negative), negative, "tensor 'a'.shape");
        Path overflow = write(dir, "overflow.safetensors", safetensors(ok.replace("[2]", "[4294967296,4294967296]"), data));
        assertInput(() -> Safetensors.readHeader(overflow), overflow, "tensor 'a'.shape", "overflows");
        Path overlap = write(dir, "overlap.safetensors", safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data));
        assertInput(() -> Safetensors.readHeader(overlap), overlap, "tensor 'b'.data_offsets", "overlap tensor 'a'");
        Path meta = write(dir, "meta.safetensors", safetensors("{\"__metadata__\":{\"n\":3}," + ok.substring(1), data));
        assertInput(() -> Safetensors.readHeader(meta), meta, "__metadata__.n", "string");
        Path missing = write(dir, "nooffsets.safetensors", safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", data));
        assertInput(() -> Safetensors.readHeader(missing), missing, "tensor 'a'.data_offsets", "missing");
        // a name's bytes that are not UTF-8 are refused at their offset, not decoded to U+FFFD; real UTF-8 names still read
        byte[] badName = safetensors(ok.replace("\"a\"", "\"aX\""), data);
        int at = new String(badName, StandardCharsets.ISO_8859_1).indexOf("aX") + 1;
        badName[at] = (byte) 0xFF;
        Path latin = write(dir, "latin1.safetensors", badName);
        assertInput(() -> Safetensors.readHeader(latin), latin, "header", "not valid UTF-8", "byte " + at);
        Path accented = write(dir, "utf8.safetensors", safetensors(ok.replace("\"a\"", "\"poids.\u00e9t\u00e9\u2192\""), data));
        assertTrue(Safetensors.readHeader(accented).tensors().containsKey("poids.\u00e9t\u00e9\u2192"));
        // padded header (allowed by the format) parses
        Path padded = write(dir, "padded.safetensors", safetensors(ok + "     ", data));
        assertEquals(1, Safetensors.readHeader(padded).tensors().size());
    }
}
