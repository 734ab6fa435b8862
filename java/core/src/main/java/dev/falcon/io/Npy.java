package dev.falcon.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * NumPy {@code .npy} files, format versions 1.0, 2.0 and 3.0, validated strictly: the magic, the
 * version, a header length that fits the file, the header dict literal (exactly the keys
 * {@code 'descr'}, {@code 'fortran_order'}, {@code 'shape'}), the dtype, non-negative dimensions and a
 * data size that does not overflow, and data that run exactly from the end of the header to the end of the file (a
 * size comparison, whatever the file's size). Bytes missing or extra are refused, saying how many: a header length
 * field short of the header would read every value shifted by the padding it leaves out, and bytes appended after the
 * data are damage numpy.load does not read either. Every problem is an {@link InputException} naming the file, the
 * header field and the fix.
 *
 * <p>Accepted {@code descr} values: {@code <f4 <f8 <f2} and their big-endian forms {@code >f4 >f8 >f2}
 * (converted on read; {@code =} means native order; no order or {@code |}, as in {@code f4} or {@code |f4}, little-endian), {@code bfloat16} and {@code <bf16} for bfloat16
 * (names some exporters write), {@code |b1} and {@code |u1} for masks, and the integer types
 * {@code |i1 <i2 <u2 <i4 <u4 <i8 <u8} (e.g. FLOP counts saved as int64; vectors only). {@code <V2} is
 * rejected: it is what numpy writes for an ml_dtypes bfloat16 array, but also for any 2-byte record,
 * so its meaning cannot be known from the file; the message says how to convert.
 */
public final class Npy {
    private Npy() {}

    static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** Real headers are ~128 bytes; numpy itself refuses more than 10 000 by default. */
    static final long MAX_HEADER_BYTES = 1 << 20;
    private static final int CHUNK = 1 << 18;
    private static final Pattern SIMPLE_DESCR = Pattern.compile("([<>|=]?)([fiubV])(\\d{1,2})");

    /** A validated header. {@code dataOffset} is the absolute byte offset of the first element. */
    public record Header(Path file, String descr, boolean fortranOrder, long[] shape, long dataOffset, long fileSize) {
        public Header {
            shape = shape.clone();
        }

        @Override
        public long[] shape() { return shape.clone(); }

        /** Number of elements (product of the shape, 1 for a 0-d array). */
        public long elements() {
            return dev.falcon.model.Layer.elements(shape);
        }

        /** Bytes of one element. */
        public int itemSize() { return dtype().size; }

        /** Bytes of the data, {@code elements() * itemSize()}. */
        public long dataBytes() { return Math.multiplyExact(elements(), (long) itemSize()); }

        public ByteOrder byteOrder() { return orderOf(descr); }

        Dtype dtype() { return dtypeOf(descr); }

        @Override
        public boolean equals(Object o) {
            return o instanceof Header h && file.equals(h.file) && descr.equals(h.descr) && fortranOrder == h.fortranOrder
                    && Arrays.equals(shape, h.shape) && dataOffset == h.dataOffset && fileSize == h.fileSize;
        }

        @Override
        public int hashCode() { return file.hashCode() * 31 + Arrays.hashCode(shape); }

        @Override
        public String toString() {
            return "npy[" + file + ", " + descr + ", " + (fortranOrder ? "F" : "C") + " order, shape "
                    + shapeString(shape) + ", data at " + dataOffset + "]";
        }
    }

    /** Reads and validates the header of {@code file} (see the class comment). */
    public static Header readHeader(Path file) {
        InputFiles.requireRegularFile(file, InputFiles.ARRAY_FILE);
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw InputException.of(file, "file", "does not exist", "check the path");
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the size of", e, "check the path and permissions");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (size < 10) {
                throw InputException.of(file, "header", "the file is " + size + " bytes, shorter than the 10-byte npy preamble",
                        "the file is truncated or not an .npy file; re-save it with numpy.save");
            }
            ByteBuffer pre = ByteBuffer.allocate((int) Math.min(12, size)).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, pre, 0, file);
            for (int i = 0; i < MAGIC.length; i++) {
                if (pre.get(i) != MAGIC[i]) {
                    // a safetensors file saved under a .npy name is a naming slip, not damage: say which file it is
                    byte[] head = new byte[pre.limit()];
                    pre.get(0, head);
                    if (ArrayFiles.formatByContent(head, head.length) == ArrayFiles.ContentFormat.SAFETENSORS) {
                        throw InputException.of(file, "header", "is a safetensors file (an 8-byte header length, then a JSON header),"
                                + " not an .npy file", "rename it to end in .safetensors");
                    }
                    throw InputException.of(file, "header", "not an .npy file (it does not start with the magic \\x93NUMPY)",
                            "write the array with numpy.save(path, array), or use a .safetensors file");
                }
            }
            int major = pre.get(6) & 0xff;
            int minor = pre.get(7) & 0xff;
            long headerLength;
            int prefix;
            if (major == 1 && minor == 0) {
                headerLength = pre.getShort(8) & 0xffff;
                prefix = 10;
            } else if ((major == 2 || major == 3) && minor == 0) {
                if (size < 12) {
                    throw InputException.of(file, "header", "the file is " + size + " bytes, shorter than the 12-byte npy "
                            + major + ".0 preamble", "the file is truncated; re-copy or re-save it");
                }
                headerLength = pre.getInt(8) & 0xffffffffL;
                prefix = 12;
            } else {
                throw InputException.of(file, "version", "npy format version " + major + "." + minor + " is not supported"
                        + " (1.0, 2.0 and 3.0 are)", "re-save the array with numpy.save");
            }
            if (headerLength > MAX_HEADER_BYTES) {
                throw InputException.of(file, "header", "header length " + headerLength + " bytes exceeds the limit of "
                        + MAX_HEADER_BYTES + " (real headers are ~128 bytes)", "the file is damaged; re-save it with numpy.save");
            }
            if (prefix + headerLength > size) {
                throw InputException.of(file, "header", "header length " + headerLength + " runs past the end of the file ("
                        + size + " bytes)", "the file is truncated or damaged; re-copy or re-save it");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLength);
            readFully(ch, hb, prefix, file);
            String text = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            HeaderParser parser = new HeaderParser(file, text, major < 3);
            Map<String, Object> dict = parser.parse();
            Header header = validate(file, dict, parser.sourceText, prefix + headerLength, size);
            requireDataToFillTheFile(ch, header, headerLength, text.endsWith("\n"));
            return header;
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the .npy header of", e, "check the path and permissions");
        }
    }

    /** {@code sourceText}: each value as the header writes it, for messages (a list parses to nothing of its own). */
    private static Header validate(Path file, Map<String, Object> dict, Map<String, String> sourceText, long dataOffset, long size) {
        for (String key : HEADER_KEYS) {
            if (!dict.containsKey(key)) {
                throw InputException.of(file, key, "missing from the header dict", "re-save the array with numpy.save");
            }
        }
        Object descrValue = dict.get("descr");
        if (descrValue instanceof List<?>) {
            throw InputException.of(file, "descr", "structured (record) dtypes are not supported",
                    "save a plain numeric array, e.g. numpy.save(path, a.astype(numpy.float32))");
        }
        if (!(descrValue instanceof String descr)) {
            throw InputException.of(file, "descr", "must be a string such as '<f4', got " + sourceText.get("descr"), "re-save the array with numpy.save");
        }
        checkDescr(file, descr);
        if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
            throw InputException.of(file, "fortran_order", "must be True or False, got " + sourceText.get("fortran_order"),
                    "re-save the array with numpy.save");
        }
        if (dict.get("shape") instanceof ParenthesizedInteger p) {
            throw InputException.of(file, "shape", sourceText.get("shape") + " is an integer in parentheses, not a tuple (numpy writes a 1-d"
                    + " shape as (" + p.value() + ",))", "the header is damaged; re-save the array with numpy.save");
        }
        if (!(dict.get("shape") instanceof long[] shape)) {
            throw InputException.of(file, "shape", "must be a tuple of integers such as (1000, 268336), got "
                    + sourceText.get("shape"), "re-save the array with numpy.save");
        }
        int item = dtypeOf(descr).size;
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw InputException.of(file, "shape", "dimension " + i + " is negative (" + shapeString(shape) + ")",
                        "the file is damaged; re-save it with numpy.save");
            }
        }
        long bytes;
        try {
            for (long d : shape) elements = Math.multiplyExact(elements, d);
            bytes = Math.multiplyExact(elements, (long) item);
        } catch (ArithmeticException e) {
            throw InputException.of(file, "shape", shapeString(shape) + " of " + descr + " overflows a 64-bit byte count",
                    "the header is damaged; re-save the array with numpy.save");
        }
        return new Header(file, descr, fortran, shape, dataOffset, size);
    }

    /**
     * Refuses a file whose data do not end exactly at its end. Too few bytes: truncated. Too many: bytes appended, or a
     * header length field short of the header, which leaves the header's padding (spaces, then a newline) to be read as
     * the first values. The field is blamed only where the header it declares stops short of the newline numpy ends every
     * header with, and the padding after it ends at numpy's alignment: bytes that merely look like padding, appended after
     * a whole header (one ending in its newline), had the field called short, a header length of the field plus them.
     * @param headerEndsInNewline whether the header text the field declares ends in a newline, as numpy writes it
     */
    private static void requireDataToFillTheFile(FileChannel ch, Header h, long headerLength, boolean headerEndsInNewline)
            throws IOException {
        long available = h.fileSize() - h.dataOffset();
        long needed = h.dataBytes();
        if (needed == available) return;
        String layout = "shape " + shapeString(h.shape()) + " of " + h.descr() + " is " + needed + " data bytes after the "
                + h.dataOffset() + "-byte header, but the file is " + h.fileSize() + " bytes, which leaves " + available;
        if (needed > available) {
            throw InputException.of(h.file(), "data", layout + ": " + bytes(needed - available) + " missing",
                    "the file is truncated, or its header length field or shape is damaged; re-copy or re-save it with numpy.save");
        }
        long extra = available - needed;
        boolean fieldShort = !headerEndsInNewline && (h.dataOffset() + extra) % NUMPY_MIN_ALIGNMENT == 0
                && isPadding(ch, h.file(), h.dataOffset(), extra);
        String cause = fieldShort
                ? "; the header length field (" + headerLength + ") is short by " + bytes(extra) + ": the header's padding runs on to"
                        + " byte " + (h.dataOffset() + extra) + ", a header length of " + (headerLength + extra)
                        + ", and would be read as the first values, every value shifted"
                : "";
        throw InputException.of(h.file(), "data", layout + ": " + bytes(extra) + " extra after the data" + cause,
                "the header length field or the file is damaged (numpy.save writes one array per file, its data ending the file);"
                        + " re-copy or re-save it with numpy.save");
    }

    /** numpy pads the header so that the data start at a multiple of 64 bytes (of 16 in older numpy). */
    private static final long NUMPY_MIN_ALIGNMENT = 16;

    /**
     * Whether the {@code count} bytes at {@code offset} are header padding as numpy writes it, spaces ending in a newline:
     * what a header length field short by exactly {@code count} leaves between the header it declares and the data.
     */
    private static boolean isPadding(FileChannel ch, Path file, long offset, long count) throws IOException {
        if (count > MAX_HEADER_BYTES) return false;
        ByteBuffer b = ByteBuffer.allocate((int) count);
        readFully(ch, b, offset, file);
        for (int i = 0; i < count - 1; i++) {
            if (b.get(i) != ' ') return false;
        }
        return b.get((int) count - 1) == '\n';
    }

    private static String bytes(long count) {
        return count + (count == 1 ? " byte" : " bytes");
    }

    private static void checkDescr(Path file, String descr) {
        if (dtypeOf(descr) != null) return;
        Matcher m = SIMPLE_DESCR.matcher(descr);
        if (m.matches() && m.group(2).equals("V") && m.group(3).equals("2")) {
            throw InputException.of(file, "descr", "'" + descr + "' is an untyped 2-byte void; numpy writes it for ml_dtypes"
                    + " bfloat16 arrays but also for any 2-byte record, so the values cannot be interpreted safely",
                    "save a.astype(numpy.float32), or write a .safetensors file with dtype BF16");
        }
        throw InputException.of(file, "descr", "dtype '" + descr + "' is not supported (accepted: <f4 <f8 <f2 (f4 and |f4 alike), >f4 >f8 >f2,"
                + " bfloat16, |b1 |u1, and integer types for vectors)", "save the array as float32: numpy.save(path, a.astype(numpy.float32))");
    }

    /** The element type of an accepted descr, or null. */
    static Dtype dtypeOf(String descr) {
        if (descr.equals("bfloat16") || descr.equals("<bf16")) return Dtype.BF16;
        Matcher m = SIMPLE_DESCR.matcher(descr);
        if (!m.matches()) return null;
        String order = m.group(1);
        String kind = m.group(2);
        int bytes = Integer.parseInt(m.group(3));
        return switch (kind + bytes) {
            case "f4" -> Dtype.F32;
            case "f8" -> Dtype.F64;
            case "f2" -> Dtype.F16;
            case "b1" -> Dtype.BOOL;
            case "u1" -> Dtype.U8;
            case "i1" -> Dtype.I8;
            case "i2" -> Dtype.I16;
            case "u2" -> Dtype.U16;
            case "i4" -> Dtype.I32;
            case "u4" -> Dtype.U32;
            case "i8" -> Dtype.I64;
            case "u8" -> Dtype.U64;
            default -> null;
        };
    }

    /**
     * '<' little-endian, '>' big-endian, '=' this machine's order. numpy reads a multi-byte descr with no order or with
     * '|' ('f4', '|f4') in native order too; such a file was written on a little-endian machine (numpy itself writes '<'
     * or '>'), and it is read as little-endian on any machine, so that its meaning does not depend on where it is read.
     */
    static ByteOrder orderOf(String descr) {
        if (descr.startsWith(">")) return ByteOrder.BIG_ENDIAN;
        if (descr.startsWith("=")) return ByteOrder.nativeOrder();
        return ByteOrder.LITTLE_ENDIAN;
    }

    static String shapeString(long[] shape) {
        if (shape.length == 1) return "(" + shape[0] + ",)";
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) sb.append(i == 0 ? "" : ", ").append(shape[i]);
        return sb.append(')').toString();
    }

    /** Writes {@code data} (at least product(shape) floats from its position) as '<f4', C order, atomically. */
    public static void writeFloat32(Path file, FloatPointer data, long[] shape) {
        AtomicFiles.write(file, float32Content(file, data, shape));
    }

    /** The content {@link #writeFloat32} writes, checked now, for {@link AtomicFiles.Batch}. */
    public static AtomicFiles.TempWriter float32Content(Path file, FloatPointer data, long[] shape) {
        long n = elementsOf(file, shape);
        checkAvailable(file, data, n);
        byte[] header = header("<f4", false, shape);
        return temp -> {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                writeAll(ch, ByteBuffer.wrap(header));
                writeFloats(ch, data, n);
            }
        };
    }

    /** Writes {@code length} bytes of {@code mask} (from its position) as '|b1', nonzero stored as 1, atomically. */
    public static void writeBool(Path file, BytePointer mask, long length) {
        AtomicFiles.write(file, boolContent(file, mask, length));
    }

    /** The content {@link #writeBool} writes, checked now, for {@link AtomicFiles.Batch}. */
    public static AtomicFiles.TempWriter boolContent(Path file, BytePointer mask, long length) {
        if (length < 0) throw new IllegalArgumentException("negative mask length " + length);
        return boolContent(file, mask, new long[] {length});
    }

    /** A bool array of the given C-order shape (e.g. the weights' own, so that the mask lines up with them). */
    public static AtomicFiles.TempWriter boolContent(Path file, BytePointer mask, long[] shape) {
        long length = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative mask dimension in " + shapeString(shape));
            length = Math.multiplyExact(length, d);
        }
        if (mask == null || mask.isNull()) throw new IllegalArgumentException("null mask for " + file);
        long available = dev.falcon.data.PointerExtent.available(mask);
        if (available >= 0 && available < length) {
            throw new IllegalArgumentException("mask holds " + available + " bytes, fewer than the " + length + " to write to " + file);
        }
        byte[] header = header("|b1", false, shape.clone());
        final long total = length;
        return temp -> {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                writeAll(ch, ByteBuffer.wrap(header));
                BytePointer view = new BytePointer(mask);
                long base = mask.position();
                byte[] chunk = new byte[(int) Math.min(CHUNK * 4L, Math.max(1, total))];
                for (long done = 0; done < total; ) {
                    int k = (int) Math.min(chunk.length, total - done);
                    view.position(base + done).get(chunk, 0, k);
                    for (int i = 0; i < k; i++) chunk[i] = chunk[i] != 0 ? (byte) 1 : (byte) 0;
                    writeAll(ch, ByteBuffer.wrap(chunk, 0, k));
                    done += k;
                }
            }
        };
    }

    static long elementsOf(Path file, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + shapeString(shape) + " for " + file);
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    static void checkAvailable(Path file, FloatPointer data, long n) {
        if (data == null || data.isNull()) throw new IllegalArgumentException("null data for " + file);
        long available = dev.falcon.data.PointerExtent.available(data);
        if (available >= 0 && available < n) {
            throw new IllegalArgumentException("data holds " + available + " floats, fewer than the " + n + " to write to " + file);
        }
    }

    /** numpy's header: magic, version, dict, padded with spaces and a newline to a multiple of 64 bytes. */
    static byte[] header(String descr, boolean fortran, long[] shape) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False")
                + ", 'shape': " + shapeString(shape) + ", }";
        int prefix = 10;
        int total = prefix + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        int major = 1;
        if (padded - prefix > 65535) {
            prefix = 12;
            major = 2;
            padded = (prefix + dict.length() + 1 + 63) / 64 * 64;
        }
        int headerLength = padded - prefix;
        ByteBuffer b = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) b.putShort((short) headerLength); else b.putInt(headerLength);
        b.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (b.position() < padded - 1) b.put((byte) ' ');
        b.put((byte) '\n');
        return b.array();
    }

    /** Streams {@code n} floats of {@code data} (from its position) to {@code ch}, little-endian, in bounded chunks. */
    static void writeFloats(FileChannel ch, FloatPointer data, long n) throws IOException {
        FloatPointer view = new FloatPointer(data);
        long base = data.position();
        float[] chunk = new float[(int) Math.min(CHUNK, Math.max(1, n))];
        ByteBuffer bytes = ByteBuffer.allocateDirect(chunk.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (long done = 0; done < n; ) {
            int k = (int) Math.min(chunk.length, n - done);
            view.position(base + done).get(chunk, 0, k);
            bytes.clear();
            bytes.asFloatBuffer().put(chunk, 0, k);
            bytes.limit(k * 4);
            writeAll(ch, bytes);
            done += k;
        }
    }

    static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** Reads {@code b.remaining()} bytes at {@code position}; a short file is an InputException naming it. */
    static void readFully(FileChannel ch, ByteBuffer b, long position, Path file) throws IOException {
        long at = position;
        while (b.hasRemaining()) {
            int r = ch.read(b, at);
            if (r < 0) {
                throw InputException.of(file, "data", "the file ended at byte " + at + " (it changed or is truncated)",
                        "re-copy or re-save the file");
            }
            at += r;
        }
        b.flip();
    }

    /** {@code (24)}: in Python an integer, not a tuple of one. */
    private record ParenthesizedInteger(long value) {}

    /** A number or None in the header, as written: a value of no kind any field takes. */
    private record NumberOrNone(String text) {}

    /** The keys of numpy's header dict, all required, none other allowed. */
    private static final List<String> HEADER_KEYS = List.of("descr", "fortran_order", "shape");

    /** Strict parser for the header's Python dict literal. */
    private static final class HeaderParser {
        private final Path file;
        private final String s;
        /**
         * Whether a dimension may end in Python 2's long suffix L (24L): numpy drops it in format versions 1.0 and 2.0,
         * which Python 2 wrote, and cannot parse it in 3.0.
         */
        private final boolean longSuffixAllowed;
        private int i;
        /** Each key's value as written, e.g. 'False' (a string) or [60] (a list). */
        final Map<String, String> sourceText = new LinkedHashMap<>();

        HeaderParser(Path file, String s, boolean longSuffixAllowed) {
            this.file = file;
            this.s = s;
            this.longSuffixAllowed = longSuffixAllowed;
        }

        Map<String, Object> parse() {
            Map<String, Object> dict = new LinkedHashMap<>();
            ws();
            expect('{');
            while (true) {
                ws();
                if (peek() == '}') {
                    i++;
                    break;
                }
                String key = string();
                ws();
                expect(':');
                ws();
                // named before its value is parsed: a value of a kind the parser has no need to know ('foo': 1) made
                // the key a parse error at the value, where numpy says the keys are wrong
                if (!HEADER_KEYS.contains(key)) {
                    throw InputException.of(file, "header", "unexpected key '" + printable(key) + "' in the header dict (only 'descr',"
                            + " 'fortran_order' and 'shape' are allowed)", "re-save the array with numpy.save");
                }
                int valueStart = i;
                Object value = value();
                sourceText.putIfAbsent(key, printable(s.substring(valueStart, i)));
                if (dict.put(key, value) != null) {
                    throw InputException.of(file, "header", "key '" + key + "' appears twice in the header dict",
                            "the file is damaged; re-save it with numpy.save");
                }
                ws();
                char c = peek();
                if (c == ',') {
                    i++;
                } else if (c == '}') {
                    i++;
                    break;
                } else {
                    throw error("',' or '}'");
                }
            }
            while (i < s.length()) {
                char c = s.charAt(i++);
                if (c == 0) {
                    // Python source holds no NUL: numpy cannot parse such a header
                    throw InputException.of(file, "header", "a NUL byte (\\x00) at character " + (i - 1) + " after the dict, where numpy"
                            + " writes only spaces and a newline", "the file is damaged or was not written by numpy.save; re-save it with numpy.save");
                }
                if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
                    i--;
                    throw error("only spaces and a newline after the dict");
                }
            }
            return dict;
        }

        private Object value() {
            char c = peek();
            if (c == '\'' || c == '"') return string();
            if (s.startsWith("True", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("False", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (c == '(') return tuple();
            if (c == '[') {
                skipBracketed();
                return List.of();
            }
            // a number or None is no value any field takes, but one the field's own check names, as numpy does
            // ("fortran_order is not a valid bool: 0"), where a parse error sent the user looking for damage
            String number = numberOrNone();
            if (number != null) return new NumberOrNone(number);
            throw error("a string, True, False or a tuple");
        }

        /** A Python number (sign, digits, letters of a prefix or exponent, dots) or None at the cursor, consumed; null where there is none. */
        private String numberOrNone() {
            int start = i;
            if (s.startsWith("None", i)) {
                i += 4;
                return "None";
            }
            if (i < s.length() && (s.charAt(i) == '-' || s.charAt(i) == '+')) i++;
            int digits = i;
            while (i < s.length()) {
                char c = s.charAt(i);
                boolean exponentSign = (c == '-' || c == '+') && i > digits && (s.charAt(i - 1) == 'e' || s.charAt(i - 1) == 'E');
                if (!(c < 128 && (Character.isLetterOrDigit(c) || c == '_' || c == '.')) && !exponentSign) break;
                i++;
            }
            boolean number = i > digits && (Character.isDigit(s.charAt(digits)) || s.charAt(digits) == '.');
            if (!number) {
                i = start;
                return null;
            }
            return s.substring(start, i);
        }

        /** A tuple of integers, or one integer in parentheses ({@link ParenthesizedInteger}). */
        private Object tuple() {
            expect('(');
            boolean comma = false;
            List<Long> dims = new ArrayList<>();
            ws();
            if (peek() == ')') {
                i++;
                return new long[0];
            }
            while (true) {
                ws();
                if (peek() == ')' && !dims.isEmpty()) {
                    i++;
                    break;
                }
                dims.add(integer());
                ws();
                char c = peek();
                if (c == ',') {
                    i++;
                    comma = true;
                } else if (c == ')') {
                    i++;
                    break;
                } else {
                    throw error("',' or ')' in the shape tuple");
                }
            }
            if (!comma) return new ParenthesizedInteger(dims.get(0));
            return dims.stream().mapToLong(Long::longValue).toArray();
        }

        private long integer() {
            int start = i;
            if (peek() == '-' || peek() == '+') i++;
            while (i < s.length() && Character.isDigit(s.charAt(i)) && s.charAt(i) < 128) i++;
            String digits = s.substring(start, i);
            if (digits.isEmpty() || digits.equals("-") || digits.equals("+")) {
                i = start;
                throw error("an integer dimension");
            }
            String unsigned = digits.replaceFirst("^[-+]", "");
            if (unsigned.length() > 1 && unsigned.charAt(0) == '0' && !unsigned.matches("0+")) {
                throw InputException.of(file, "shape", "dimension " + digits + " has a leading zero, which a Python integer may not have"
                        + " (numpy cannot parse the header)", "the header is damaged; re-save the array with numpy.save");
            }
            if (i < s.length() && s.charAt(i) == 'l') {
                throw InputException.of(file, "shape", "dimension " + digits + "l ends in a lowercase l: numpy drops only 'L', Python 2's"
                        + " long suffix, and cannot parse the header", "the header is damaged; re-save the array with numpy.save");
            }
            if (i < s.length() && s.charAt(i) == 'L') {
                if (!longSuffixAllowed) {
                    throw InputException.of(file, "shape", "dimension " + digits + "L ends in Python 2's long suffix, which numpy reads in"
                            + " format versions 1.0 and 2.0 only, not in version 3.0", "the header is damaged; re-save the array with numpy.save");
                }
                i++;
            }
            try {
                return Long.parseLong(digits);
            } catch (NumberFormatException e) {
                throw InputException.of(file, "shape", "dimension " + digits + " does not fit a 64-bit integer",
                        "the header is damaged; re-save the array with numpy.save");
            }
        }

        private void skipBracketed() {
            int depth = 0;
            do {
                char c = peek();
                if (c == '[' || c == '(') depth++;
                if (c == ']' || c == ')') depth--;
                i++;
            } while (depth > 0);
        }

        private String string() {
            char q = peek();
            if (q != '\'' && q != '"') throw error("a quoted key or string");
            int start = ++i;
            while (i < s.length() && s.charAt(i) != q) {
                if (s.charAt(i) == '\\') throw error("a string without escapes");
                i++;
            }
            if (i >= s.length()) throw error("the closing quote");
            return s.substring(start, i++);
        }

        private void ws() {
            while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == '\t' || s.charAt(i) == '\n' || s.charAt(i) == '\r')) i++;
        }

        private char peek() {
            if (i >= s.length()) throw error("more text (the header ends early)");
            return s.charAt(i);
        }

        private void expect(char c) {
            if (peek() != c) throw error("'" + c + "'");
            i++;
        }

        private InputException error(String expected) {
            String found = i < s.length() ? "'" + printable(s.substring(i, Math.min(s.length(), i + 12))) + "'" : "the end";
            return InputException.of(file, "header", "malformed header dict: expected " + expected + " at character " + i
                    + ", found " + found, "the file is damaged or was not written by numpy.save; re-save it with numpy.save");
        }

        private static String printable(String t) {
            StringBuilder sb = new StringBuilder();
            for (char c : t.toCharArray()) sb.append(c >= 32 && c < 127 ? String.valueOf(c) : String.format("\\x%02x", (int) c & 0xff));
            return sb.toString();
        }
    }
}
