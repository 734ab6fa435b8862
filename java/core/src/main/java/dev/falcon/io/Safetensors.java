package dev.falcon.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Hugging Face {@code .safetensors} files: an 8-byte little-endian header length, a JSON header and
 * the data area. The reader validates the header length (inside the file, at most
 * {@link #MAX_HEADER_BYTES}), every tensor's shape, {@code data_offsets} inside the data area and equal to
 * shape x dtype size (where the dtype is known here), and that the tensors fill
 * the data area exactly, as the format requires: no overlap, no gap, no byte after the last tensor. {@code __metadata__} must map strings to strings. Data is always C order, little-endian. Every dtype
 * string is accepted in the header, so that a file holding types newer than this reader still serves its other
 * tensors; only F32, F64, F16, BF16 (and BOOL/U8/integers for vectors) can be <i>read</i> by {@link ArrayFiles},
 * which refuses any other tensor by its dtype when it is the one asked for.
 */
public final class Safetensors {
    private Safetensors() {}

    /** Hugging Face's own reader caps the header at 100 MB. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** One tensor; {@code begin}/{@code end} are absolute file offsets of its bytes. */
    public record Tensor(String name, String dtype, long[] shape, long begin, long end) {
        public Tensor {
            shape = shape.clone();
        }

        @Override
        public long[] shape() { return shape.clone(); }

        public long elements() {
            return dev.falcon.model.Layer.elements(shape);
        }

        Dtype type() { return Dtype.fromSafetensors(dtype); }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tensor t && name.equals(t.name) && dtype.equals(t.dtype) && Arrays.equals(shape, t.shape)
                    && begin == t.begin && end == t.end;
        }

        @Override
        public int hashCode() { return name.hashCode() * 31 + Long.hashCode(begin); }

        @Override
        public String toString() {
            return name + ":" + dtype + Arrays.toString(shape) + "@[" + begin + "," + end + ")";
        }
    }

    /**
     * The header as text. The format requires UTF-8; a lenient decode turned invalid bytes in a tensor name into U+FFFD,
     * so the name no tensor of the file carries was then offered to --weights, and a file re-saved kept the mangled name.
     */
    private static String headerText(byte[] json, Path file) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(json);
        CharBuffer out = CharBuffer.allocate(json.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            throw InputException.of(file, "header", "is not valid UTF-8 (byte " + (8 + in.position()) + " of the file starts an invalid sequence)",
                    "the file is damaged or was written by a broken exporter; re-save it with safetensors.save_file");
        }
        return out.flip().toString();
    }

    /** The validated header; tensors in file order of the JSON, {@code dataStart} = 8 + header length. */
    public record Header(Path file, LinkedHashMap<String, Tensor> tensors, Map<String, String> metadata, long dataStart) {}

    public static Header readHeader(Path file) {
        return readHeader(file, null);
    }

    /**
     * {@link #readHeader(Path)} for an argument that named {@code tensor} after the file ("FILE.safetensors:TENSOR";
     * null: none), so that the fix for an .npy under that name says to drop the tensor too: after the rename alone the
     * same argument named a file that no longer existed, and "FILE.npy:TENSOR" is no form an .npy is read in.
     */
    static Header readHeader(Path file, String tensor) {
        InputFiles.requireRegularFile(file, InputFiles.ARRAY_FILE);
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw InputException.of(file, "file", "does not exist", "check the path");
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the size of", e, "check the path and permissions");
        }
        if (size < 8) {
            throw InputException.of(file, "header", "the file is " + size + " bytes, shorter than the 8-byte header length",
                    "the file is truncated or not a .safetensors file; re-save it with safetensors.save_file");
        }
        byte[] json;
        long headerLength;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            Npy.readFully(ch, len, 0, file);
            headerLength = len.getLong(0);
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                byte[] head = new byte[8];
                len.get(0, head);
                // an .npy file saved under a .safetensors name is a naming slip, not damage: say which file it is
                if (ArrayFiles.formatByContent(head, head.length) == ArrayFiles.ContentFormat.NPY) {
                    throw InputException.of(file, "header", "is an .npy file (it starts with the magic \\x93NUMPY), not a safetensors file",
                            tensor == null ? "rename it to end in .npy"
                                    : "rename it to end in .npy and give it without the tensor name ':" + tensor + "' (an .npy file holds one array)");
                }
                throw InputException.of(file, "header", "header length " + Long.toUnsignedString(headerLength)
                        + " bytes is outside 2.." + MAX_HEADER_BYTES, "the file is damaged or not a .safetensors file; re-save it");
            }
            if (headerLength > size - 8) {
                throw InputException.of(file, "header", "header length " + headerLength + " runs past the end of the file ("
                        + size + " bytes)", "the file is truncated or damaged; re-copy or re-save it");
            }
            if (headerLength < 2) {
                throw InputException.of(file, "header", "header length " + headerLength + " is too short for a JSON object",
                        "the file is damaged; re-save it with safetensors.save_file");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLength);
            Npy.readFully(ch, hb, 8, file);
            json = hb.array();
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the safetensors header of", e, "check the path and permissions");
        }
        if (json[0] != '{') {
            throw InputException.of(file, "header", "the JSON header does not start with '{'",
                    "the file is damaged or not a .safetensors file; re-save it with safetensors.save_file");
        }
        JsonNode root;
        try {
            root = JSON.readTree(headerText(json, file));
        } catch (JsonProcessingException e) {
            throw InputException.of(file, "header", "invalid JSON (" + e.getOriginalMessage() + ")",
                    "the file is damaged; re-save it with safetensors.save_file");
        }
        if (root == null || !root.isObject()) {
            throw InputException.of(file, "header", "the JSON header is not an object", "re-save it with safetensors.save_file");
        }
        long dataStart = 8 + headerLength;
        long dataSize = size - dataStart;
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) {
                    throw InputException.of(file, "__metadata__", "must be an object of string values",
                            "re-save with metadata={\"key\": \"value\", ...}");
                }
                for (Iterator<Map.Entry<String, JsonNode>> m = node.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw InputException.of(file, "__metadata__." + kv.getKey(), "must be a string, got " + kv.getValue(),
                                "store metadata values as strings (safetensors requires it)");
                    }
                    metadata.put(kv.getKey(), kv.getValue().textValue());
                }
                continue;
            }
            tensors.put(name, tensor(file, name, node, dataStart, dataSize));
        }
        requireTheDataAreaFilledExactly(file, tensors.values(), dataStart, size, headerLength);
        return new Header(file, tensors, Collections.unmodifiableMap(metadata), dataStart);
    }

    /**
     * The format requires the tensors, in offset order, to fill the data area from its byte 0 to the end of the file with
     * no overlap and no gap (Hugging Face's reader refuses any other file). Only this catches a header length that lies:
     * one that leaves out the header's padding put the data area's start inside the padding, and every tensor was read
     * shifted by those bytes, spaces read as weights, with no error. Empty tensors hold no bytes and may sit anywhere.
     */
    private static void requireTheDataAreaFilledExactly(Path file, Collection<Tensor> tensors, long dataStart, long size,
                                                        long headerLength) {
        String fix = "the file is damaged, has bytes appended or gives a wrong header length; re-save it with safetensors.save_file";
        List<Tensor> byBegin = new ArrayList<>(tensors);
        byBegin.removeIf(t -> t.begin() == t.end());
        byBegin.sort(Comparator.comparingLong(Tensor::begin));
        Tensor previous = null;
        for (Tensor t : byBegin) {
            long filledTo = previous == null ? dataStart : previous.end();
            if (t.begin() < filledTo) {
                throw InputException.of(file, "tensor '" + t.name() + "'.data_offsets", "bytes [" + (t.begin() - dataStart) + ", "
                        + (t.end() - dataStart) + ") overlap tensor '" + previous.name() + "' at [" + (previous.begin() - dataStart) + ", "
                        + (previous.end() - dataStart) + ")", "the file is damaged; re-save it with safetensors.save_file");
            }
            if (t.begin() > filledTo) {
                throw InputException.of(file, "tensor '" + t.name() + "'.data_offsets", "[" + (t.begin() - dataStart) + ", "
                        + (t.end() - dataStart) + ") leaves bytes [" + (filledTo - dataStart) + ", " + (t.begin() - dataStart)
                        + ") of the data area to no tensor (" + (previous == null ? "before it" : "after tensor '" + previous.name() + "'")
                        + "); the format requires the tensors to fill the data area without gaps", fix);
            }
            previous = t;
        }
        long filledTo = previous == null ? dataStart : previous.end();
        if (filledTo != size) {
            String field = previous == null ? "header length" : "tensor '" + previous.name() + "'.data_offsets";
            throw InputException.of(file, field, "the tensors end at byte " + (filledTo - dataStart) + " of the " + (size - dataStart)
                    + "-byte data area, which starts after the " + headerLength + "-byte header the header length field gives; the format "
                    + "requires them to fill it to the end of the file (a header length short of the header reads every tensor shifted)", fix);
        }
    }

    private static Tensor tensor(Path file, String name, JsonNode node, long dataStart, long dataSize) {
        String where = "tensor '" + name + "'";
        String fix = "the file is damaged or not written by safetensors; re-save it with safetensors.save_file";
        if (!node.isObject()) throw InputException.of(file, where, "is not an object with dtype, shape and data_offsets", fix);
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw InputException.of(file, where + ".dtype", "missing or not a string", fix);
        }
        String dtype = dtypeNode.textValue();
        Dtype type = Dtype.fromSafetensors(dtype);
        long[] shape = longs(file, where + ".shape", node.get("shape"), -1, fix);
        long[] offsets = longs(file, where + ".data_offsets", node.get("data_offsets"), 2, fix);
        long bytes;
        try {
            long n = 1;
            for (long d : shape) n = Math.multiplyExact(n, d);
            bytes = Math.multiplyExact(n, (long) type.size);
        } catch (ArithmeticException e) {
            throw InputException.of(file, where + ".shape", Arrays.toString(shape) + " of " + dtype + " overflows a 64-bit byte count", fix);
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw InputException.of(file, where + ".data_offsets", "begin " + begin + " is after end " + end, fix);
        }
        if (end > dataSize) {
            throw InputException.of(file, where + ".data_offsets", "[" + begin + ", " + end + ") runs past the end of the data area ("
                    + dataSize + " bytes)", "the file is truncated; re-copy or re-save it");
        }
        if (type != Dtype.UNLISTED && end - begin != bytes) {
            throw InputException.of(file, where + ".data_offsets", "[" + begin + ", " + end + ") holds " + (end - begin)
                    + " bytes but shape " + Arrays.toString(shape) + " of " + dtype + " needs " + bytes, fix);
        }
        return new Tensor(name, dtype, shape, dataStart + begin, dataStart + end);
    }

    private static long[] longs(Path file, String field, JsonNode node, int length, String fix) {
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw InputException.of(file, field, "missing or not an array" + (length >= 0 ? " of " + length + " integers" : " of integers"), fix);
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw InputException.of(file, field, "entry " + i + " is " + v + ", not a non-negative 64-bit integer", fix);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    /**
     * Writes the tensors as F32 (C order, little-endian) with {@code metadata} (may be null or empty, written in
     * key order), atomically. The header is padded with spaces so that the data area starts 8-byte aligned.
     */
    public static void write(Path file, LinkedHashMap<String, NamedArray> tensors, Map<String, String> metadata) {
        AtomicFiles.write(file, content(file, tensors, metadata));
    }

    /** The content {@link #write} writes, checked now, for {@link AtomicFiles.Batch}. */
    public static AtomicFiles.TempWriter content(Path file, LinkedHashMap<String, NamedArray> tensors, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            // in key order, not the map's: Map.of iterates differently in every JVM, and the same run must give the same file
            new TreeMap<>(metadata).forEach(meta::put);
        }
        long offset = 0;
        List<long[]> sizes = new ArrayList<>();
        for (Map.Entry<String, NamedArray> e : tensors.entrySet()) {
            String name = e.getKey();
            if (name == null || name.isEmpty() || name.equals("__metadata__")) {
                throw new IllegalArgumentException("invalid tensor name '" + name + "' for " + file);
            }
            NamedArray a = e.getValue();
            long n = Npy.elementsOf(file, a.shape());
            Npy.checkAvailable(file, a.data(), n);
            ObjectNode t = root.putObject(name);
            t.put("dtype", "F32");
            ArrayNode shape = t.putArray("shape");
            for (long d : a.shape()) shape.add(d);
            long end = offset + n * Float.BYTES;
            t.putArray("data_offsets").add(offset).add(end);
            sizes.add(new long[] {n});
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        return temp -> {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                Npy.writeAll(ch, head.duplicate());
                int i = 0;
                for (NamedArray a : tensors.values()) Npy.writeFloats(ch, a.data(), sizes.get(i++)[0]);
            }
        };
    }
}
