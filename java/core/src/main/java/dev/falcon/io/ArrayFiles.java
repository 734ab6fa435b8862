package dev.falcon.io;

import dev.falcon.data.ElementType;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Façade over {@link Npy} and {@link Safetensors} for array inputs named by a spec string:
 * {@code "path.npy"}, {@code "path.safetensors"} (must hold exactly one tensor) or
 * {@code "path.safetensors:tensorName"}.
 *
 * <p>Errors are {@link InputException}s; those raised while resolving a spec are prefixed with the
 * option or field that named it ({@code "--weights: w.npy: descr: ..."}). Vectors are read with
 * positional reads in bounded chunks (never a heap copy of the file) into an off-heap
 * {@link FloatPointer}; the big matrix X is not read here, only described by a {@link RawMatrixSource}.
 */
public final class ArrayFiles {
    private ArrayFiles() {}

    /** Elements converted per chunk while streaming. */
    static final int CHUNK_ELEMENTS = 1 << 16;

    /** One array inside a file (package-private). */
    record Located(Path file, String name, String dtypeName, Dtype dtype, ByteOrder order, long[] shape,
                   boolean fortranOrder, long offset) {
        long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        String label() { return name == null ? file.toString() : file + ":" + name; }
    }

    /** "path.npy", "path.safetensors" (one tensor) or "path.safetensors:tensorName" as a 2-D matrix source. */
    public static RawMatrixSource matrixSource(String spec, String field) {
        return matrixSource(locate(spec, field), field);
    }

    /**
     * A file that holds X as an .npy or a one-tensor safetensors file, told apart by its first bytes rather than its name:
     * a --grads-command writes to the path falcon chose ({grads}, named .npy so that numpy.save keeps it), in either format.
     * {@code label} names the file in messages, for one whose path means nothing to the user (a temporary file).
     */
    public static RawMatrixSource matrixSourceByContent(Path file, String field, String label) {
        return matrixSource(locateByContent(file, label), field);
    }

    private static RawMatrixSource matrixSource(Located a, String field) {
        if (a.shape().length != 2) {
            throw fail(field, InputException.of(a.label(), "shape", "X must be 2-D (n samples x p weights) but has shape "
                    + Npy.shapeString(a.shape()), "save the per-sample gradients as one n x p array"));
        }
        ElementType type = a.dtype().elementType();
        if (type == null) {
            // "f32" is float32 data under a miscased name: "save X as float32" would send the user after what it already is
            String meant = Dtype.safetensorsSpellingOf(a.dtypeName());
            if (meant != null && Dtype.fromSafetensors(meant).elementType() != null) {
                throw fail(field, InputException.of(a.label(), "dtype", miscasedDtype(a.dtypeName()), null));
            }
            throw fail(field, InputException.of(a.label(), a.name() == null ? "descr" : "dtype", "X must be float32, float64, "
                    + "float16 or bfloat16, not " + a.dtypeName(), "save X as float32 (or bfloat16 to halve its size)"));
        }
        if (a.shape()[0] <= 0 || a.shape()[1] <= 0) {
            throw fail(field, InputException.of(a.label(), "shape", "X is empty (" + Npy.shapeString(a.shape()) + ")",
                    "X needs at least one sample row and one weight column"));
        }
        return new RawMatrixSource(a.file(), a.offset(), type, a.order(), !a.fortranOrder(), a.shape()[0], a.shape()[1]);
    }

    /** Shape of the array, from its header only. */
    public static long[] shape(String spec, String field) {
        return locate(spec, field).shape().clone();
    }

    /** The tensor's name when the spec names a .safetensors file (also when it holds its only tensor), else null. */
    public static String tensorName(String spec, String field) {
        return locate(spec, field).name();
    }

    /** The file a spec names ("path.safetensors:tensor" names path.safetensors). */
    public static Path fileOf(String spec) {
        int colon = tensorSeparator(spec);
        return colon >= 0 ? Path.of(spec.substring(0, colon + ".safetensors".length())) : Path.of(spec);
    }

    /** The tensor a spec names after ".safetensors:" ("path.safetensors:enc//w" names enc//w), or null. */
    public static String tensorOf(String spec) {
        int colon = tensorSeparator(spec);
        return colon >= 0 ? spec.substring(colon + ".safetensors:".length()) : null;
    }

    /**
     * Where ".safetensors:" starts in a spec, or -1. Case-insensitive, as the extension of a bare path is: the message
     * for a file of several tensors suggests "W.SAFETENSORS:TENSOR", which must then be understood.
     */
    private static int tensorSeparator(String spec) {
        String separator = ".safetensors:";
        for (int i = 0; i + separator.length() <= spec.length(); i++) {
            if (spec.regionMatches(true, i, separator, 0, separator.length())) return i;
        }
        return -1;
    }

    /** Element count of the array, from its header only. */
    public static long length(String spec, String field) {
        return locate(spec, field).elements();
    }

    /**
     * Whole array flattened in C order, converted to float32 (f4, f8, f2, bf16, and bool/integer types
     * accepted); NaN/Inf rejected naming the first bad index and the count; {@code expectedLength < 0}
     * = any, otherwise a mismatch is an InputException naming both lengths. The caller closes the result.
     */
    public static FloatPointer readVector(String spec, String field, long expectedLength) {
        return readVector(spec, field, expectedLength, false);
    }

    /**
     * As {@link #readVector}, for the weights: nonzero values that are 0 in float32 (float64 below about 7.0e-46 in
     * magnitude) are refused as values beyond float32's range are. A weight of 0 is one already pruned: a float64 model's
     * weights of 1e-47 were read as 0, so that their layer counted as pruned and its FLOPs as unused, with not a word.
     */
    public static FloatPointer readWeights(String spec, String field, long expectedLength) {
        return readVector(spec, field, expectedLength, true);
    }

    private static FloatPointer readVector(String spec, String field, long expectedLength, boolean zeroedRefused) {
        Located a = locateVector(spec, field, expectedLength);
        FloatPointer out = new FloatPointer(a.elements());
        FloatPointer view = new FloatPointer(out);
        float[] floats = new float[CHUNK_ELEMENTS];
        try {
            streamChecked(a, field, true, zeroedRefused, (values, start, count) -> {
                for (int j = 0; j < count; j++) floats[j] = (float) values[j];
                view.position(start).put(floats, 0, count);
            });
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }

    /** Receives an array's values in C order, in chunks: {@code values[0, count)} are elements {@code [start, start + count)}. */
    @FunctionalInterface
    public interface ValueSink {
        void accept(double[] values, long start, int count);
    }

    /**
     * As {@link #readVector}, but the values are handed to {@code sink} as doubles, as numpy converts them to float64
     * (float64 and integers up to 2^53 exactly), rather than rounded to float32: for per-weight FLOP costs, where 0.7 as
     * float32 made the dense FLOPs of ten such weights 6.99999988. NaN and Inf are rejected, after every chunk has been
     * handed over; values beyond float32's range are not, being read as float64 (a layer table's costs of 1e39 were
     * taken and the same costs here refused).
     */
    public static void readValues(String spec, String field, long expectedLength, ValueSink sink) {
        streamChecked(locateVector(spec, field, expectedLength), field, false, false, sink);
    }

    /** The file type of a vector and how reading it as float32 changes its values, as the report gives them for the weights. */
    public record Conversion(String fileType, String conversion) {}

    /**
     * The dtype of the array a spec names ("float64", "float32 big-endian") and how {@link #readVector} converts it to
     * float32, in the words X's are given in ({@link RawMatrixSource#dtypeLabel}, {@link RawMatrixSource#conversionToFloat32}):
     * the report said how X was converted and not how the weights were, whose float64 values are rounded too.
     */
    public static Conversion conversionToFloat32(String spec, String field) {
        Located a = locate(spec, field);
        Dtype d = a.dtype();
        boolean bigEndian = d.size > 1 && a.order() == ByteOrder.BIG_ENDIAN;
        String conversion = RawMatrixSource.conversionToFloat32(d.label, bigEndian);
        // the weights are always read into a float32 vector (X may be mapped in place, and says so itself)
        return new Conversion(RawMatrixSource.dtypeLabel(d.label, bigEndian), conversion != null ? conversion : "none: read as float32");
    }

    /** The smallest magnitude a float64 may have and not be 0 in float32: half the smallest subnormal rounds to even, 0. */
    public static final String ZEROED_IN_FLOAT32_BELOW = "about 7.0e-46";

    /**
     * Problem and fix for a safetensors dtype that is a readable one in the wrong case ("f32"), or null for any other
     * dtype: its data may well be float32, so "save it as float32" would send the user after the wrong thing.
     */
    public static String miscasedDtype(String dtypeName) {
        String meant = Dtype.safetensorsSpellingOf(dtypeName);
        return meant == null ? null : "'" + dtypeName + "' is not a safetensors dtype (they are upper case; readable: "
                + Dtype.convertibleSafetensorsNames() + "); did you mean '" + meant + "'? Re-save the file with safetensors.save_file";
    }

    /** The array a spec names, checked to be a vector readVector and readValues can read. */
    private static Located locateVector(String spec, String field, long expectedLength) {
        Located a = locate(spec, field);
        if (!a.dtype().convertible()) {
            String miscased = miscasedDtype(a.dtypeName());
            if (miscased != null) throw fail(field, InputException.of(a.label(), "dtype", miscased, null));
            throw fail(field, InputException.of(a.label(), "dtype", a.dtypeName() + " cannot be converted (readable: float32, float64, "
                    + "float16, bfloat16, bool and integer types)", "save the array as float32"));
        }
        long n = a.elements();
        if (n == 0) {
            throw fail(field, InputException.of(a.label(), "shape", "the array is empty (" + Npy.shapeString(a.shape()) + ")",
                    "pass an array with one value per weight"));
        }
        if (expectedLength >= 0 && n != expectedLength) {
            throw fail(field, InputException.of(a.label(), "shape", "has " + n + " elements (shape " + Npy.shapeString(a.shape())
                    + ") but " + expectedLength + " are expected", "pass an array with exactly " + expectedLength
                    + " values, one per prunable weight in layer flatten order"));
        }
        if (a.fortranOrder()) {
            int big = 0;
            for (long d : a.shape()) if (d > 1) big++;
            if (big > 1) {
                throw fail(field, InputException.of(a.label(), "fortran_order", "a Fortran-order array of shape "
                        + Npy.shapeString(a.shape()) + " would have to be transposed to flatten in C order",
                        "save it with numpy.save(path, numpy.ascontiguousarray(a)) or flatten it first"));
            }
        }
        return a;
    }

    /**
     * Streams {@code a} to {@code sink}, then rejects it if any value is NaN or Inf, or, {@code asFloat32}, beyond
     * float32's range (Inf once converted), or, {@code zeroedRefused}, nonzero and 0 once converted. They are told apart:
     * finite values beyond the range were called "NaN or Inf", with numpy.nan_to_num as the fix, which leaves them as they are.
     */
    private static void streamChecked(Located a, String field, boolean asFloat32, boolean zeroedRefused, ValueSink sink) {
        long n = a.elements();
        long[] nonFinite = {0, -1}, beyond = {0, -1}, zeroed = {0, -1}; // count, first index
        double[] firstNonFinite = {0}, firstBeyond = {0}, firstZeroed = {0};
        try {
            stream(a, (values, start, count) -> {
                for (int j = 0; j < count; j++) {
                    double v = values[j];
                    if (!Double.isFinite(v)) {
                        if (nonFinite[0]++ == 0) {
                            nonFinite[1] = start + j;
                            firstNonFinite[0] = v;
                        }
                    } else if (asFloat32 && !Float.isFinite((float) v) && beyond[0]++ == 0) {
                        beyond[1] = start + j;
                        firstBeyond[0] = v;
                    } else if (zeroedRefused && zeroedInFloat32(v) && zeroed[0]++ == 0) {
                        zeroed[1] = start + j;
                        firstZeroed[0] = v;
                    }
                }
                sink.accept(values, start, count);
            });
        } catch (RuntimeException e) {
            throw fail(field, e);
        }
        List<String> problems = new ArrayList<>();
        if (nonFinite[0] > 0) {
            problems.add(nonFinite[0] + " of " + n + " values are NaN or Inf; the first is at index " + nonFinite[1] + " ("
                    + (Double.isNaN(firstNonFinite[0]) ? "NaN" : "Inf") + ")");
        }
        if (beyond[0] > 0) {
            problems.add(beyond[0] + " of " + n + " values are beyond float32's range (+-3.4e38), which falcon computes in; the first is at index "
                    + beyond[1] + " (" + Numbers.shown(firstBeyond[0]) + ")");
        }
        if (zeroed[0] > 0) {
            problems.add(zeroed[0] + " of " + n + " values are nonzero but 0 in float32 (below " + ZEROED_IN_FLOAT32_BELOW
                    + " in magnitude), which falcon computes in, where they would count as weights already pruned; the first is at index "
                    + zeroed[1] + " (" + Numbers.shown(firstZeroed[0]) + ")");
        }
        if (problems.isEmpty()) return;
        String fix = nonFinite[0] > 0 && beyond[0] > 0 ? "fix or drop the non-finite values (e.g. numpy.nan_to_num) and rescale the large ones before saving, or check the exporter"
                : nonFinite[0] > 0 ? "fix or drop the non-finite values before saving (e.g. numpy.nan_to_num), or check the exporter"
                : beyond[0] > 0 ? "rescale the values into float32's range before saving, or check the exporter" : null;
        String zeroedFix = "rescale the weights, or set those meant as pruned to 0 before saving (numpy: w[numpy.abs(w) < 1e-45] = 0)";
        fix = fix == null ? zeroedFix : zeroed[0] > 0 ? fix + "; " + zeroedFix : fix;
        throw fail(field, InputException.of(a.label(), "values", String.join("; ", problems), fix));
    }

    /** A nonzero value that is 0 once converted to float32, as the weights are read ({@link #readWeights}). */
    public static boolean zeroedInFloat32(double v) {
        return v != 0 && (float) v == 0;
    }

    /**
     * One array of a file, for {@code falcon inspect}; counts are -1 and min/max NaN for types that cannot be converted.
     * {@code readableAsX}: of a type X may have (float32, float64, float16, bfloat16); integers and bool are read only
     * as weights and FLOPs. {@code denseFlops}: the values' dense FLOPs as per-weight costs, summed as prune sums them
     * ({@link LayerTable.Runs}), infinite where prune refuses them for it; meaningful where every value is positive and
     * finite, NaN for types that cannot be converted. {@code zeroedInFloat32}: how many values are nonzero but 0 in
     * float32 (float64 below {@value #ZEROED_IN_FLOAT32_BELOW}), which the weights refuse ({@link #readWeights}).
     */
    public record Entry(String name, String dtype, long[] shape, long nanCount, long infCount, long finiteCount,
                        double min, double max, boolean fortranOrder, boolean readableAsX, double denseFlops, long zeroedInFloat32) {
        public Entry {
            shape = shape.clone();
        }

        /** An entry with no value that is nonzero but 0 in float32. */
        public Entry(String name, String dtype, long[] shape, long nanCount, long infCount, long finiteCount,
                     double min, double max, boolean fortranOrder, boolean readableAsX, double denseFlops) {
            this(name, dtype, shape, nanCount, infCount, finiteCount, min, max, fortranOrder, readableAsX, denseFlops, 0);
        }

        @Override
        public long[] shape() { return shape.clone(); }

        @Override
        public boolean equals(Object o) {
            return o instanceof Entry e && name.equals(e.name) && dtype.equals(e.dtype) && Arrays.equals(shape, e.shape)
                    && nanCount == e.nanCount && infCount == e.infCount && finiteCount == e.finiteCount
                    && Double.compare(min, e.min) == 0 && Double.compare(max, e.max) == 0 && fortranOrder == e.fortranOrder
                    && readableAsX == e.readableAsX && Double.compare(denseFlops, e.denseFlops) == 0 && zeroedInFloat32 == e.zeroedInFloat32;
        }

        @Override
        public int hashCode() { return name.hashCode(); }

        @Override
        public String toString() {
            return name + " " + dtype + " " + Npy.shapeString(shape) + " nan=" + nanCount + " inf=" + infCount
                    + " finite=" + finiteCount + " min=" + min + " max=" + max + " dense_flops=" + denseFlops + " zeroed_in_float32=" + zeroedInFloat32;
        }
    }

    /**
     * Every array in an .npy (one entry named after the file) or .safetensors file (one per tensor, in
     * header order) with dtype, shape, NaN/Inf/finite counts and the min/max of the finite values
     * (NaN when there are none). Streams the data in bounded chunks.
     */
    public static List<Entry> describe(Path file) {
        List<Located> arrays = new ArrayList<>();
        String lower = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (lower.endsWith(".npy")) {
            arrays.add(fromNpy(Npy.readHeader(file)));
        } else if (lower.endsWith(".safetensors")) {
            Safetensors.Header h = Safetensors.readHeader(file);
            // prune refuses it: inspect's exit 0 said it was fine
            if (h.tensors().isEmpty()) throw holdsNoTensors(h);
            for (Safetensors.Tensor t : h.tensors().values()) arrays.add(fromTensor(file, t));
        } else {
            throw InputException.of(file, "file", "is neither .npy nor .safetensors, nor a .json layer table",
                    "name a .npy or .safetensors file, or give a layer table the extension .json");
        }
        List<Entry> entries = new ArrayList<>();
        for (Located a : arrays) {
            String name = a.name() == null ? String.valueOf(file.getFileName()) : a.name();
            if (!a.dtype().convertible()) {
                entries.add(new Entry(name, a.dtypeName(), a.shape(), -1, -1, -1, Double.NaN, Double.NaN, a.fortranOrder(), false, Double.NaN));
                continue;
            }
            long[] counts = new long[4]; // NaN, Inf, finite, nonzero but 0 in float32
            double[] range = {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
            // prune's own sum of per-weight costs: judged by their minimum alone, costs of 1e308 each passed inspect
            // ("accepted for FLOPs only") and prune refused them, their dense FLOPs beyond a double
            LayerTable.Runs asCosts = LayerTable.Runs.denseFlopsOnly();
            stream(a, (values, start, count) -> {
                for (int j = 0; j < count; j++) {
                    double v = values[j];
                    asCosts.add(v);
                    if (Double.isNaN(v)) {
                        counts[0]++;
                    } else if (Double.isInfinite(v)) {
                        counts[1]++;
                    } else {
                        counts[2]++;
                        if (zeroedInFloat32(v)) counts[3]++;
                        if (v < range[0]) range[0] = v;
                        if (v > range[1]) range[1] = v;
                    }
                }
            });
            boolean any = counts[2] > 0;
            entries.add(new Entry(name, a.dtypeName(), a.shape(), counts[0], counts[1], counts[2],
                    any ? range[0] : Double.NaN, any ? range[1] : Double.NaN, a.fortranOrder(), a.dtype().elementType() != null, asCosts.denseFlops(), counts[3]));
        }
        return entries;
    }

    /** SHA-256 hex of a file's bytes (streamed), for report checksums. */
    public static String sha256(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return sha256(ch, file);
        } catch (NoSuchFileException e) {
            throw InputException.of(file, "file", "does not exist", "check the path");
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the bytes (for their SHA-256) of", e, "check the path and permissions");
        }
    }

    /**
     * SHA-256 hex of the bytes of an open file from its start (positional reads: the channel's position is left alone),
     * e.g. one opened before the path was replaced; {@code file} names it in messages.
     */
    public static String sha256(FileChannel channel, Path file) {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try {
            for (long at = 0; ; ) {
                int read = channel.read(buf, at);
                if (read < 0) break;
                at += read;
                buf.flip();
                digest.update(buf);
                buf.clear();
            }
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the bytes (for their SHA-256) of", e, "check the path and permissions");
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    // ---------------------------------------------------------------------------------------------

    static Located locate(String spec, String field) {
        if (spec == null || spec.isBlank()) {
            throw InputException.of("(no file)", field, "no array file given", "pass path.npy, path.safetensors or path.safetensors:tensor");
        }
        try {
            int colon = tensorSeparator(spec);
            if (colon >= 0) {
                Path file = fileOf(spec);
                String name = tensorOf(spec);
                Safetensors.Header h = Safetensors.readHeader(file, name);
                Safetensors.Tensor t = h.tensors().get(name);
                if (t == null) {
                    throw InputException.of(file, "tensor '" + name + "'", "not in the file; it holds " + names(h),
                            "name one of the tensors after the colon");
                }
                return fromTensor(file, t);
            }
            String lower = spec.toLowerCase(Locale.ROOT);
            Path file = Path.of(spec);
            if (lower.endsWith(".npy")) return fromNpy(Npy.readHeader(file));
            if (lower.endsWith(".safetensors")) {
                Safetensors.Header h = Safetensors.readHeader(file);
                if (h.tensors().isEmpty()) throw holdsNoTensors(h);
                if (h.tensors().size() != 1) {
                    throw InputException.of(file, "tensors", "holds " + h.tensors().size() + " tensors (" + names(h)
                            + "), so the one meant is ambiguous", "name it: " + spec + ":TENSOR");
                }
                return fromTensor(file, h.tensors().values().iterator().next());
            }
            if (lower.endsWith(".npz")) {
                throw InputException.of(file, "file", ".npz archives are not read directly",
                        "extract the array: numpy.save('a.npy', numpy.load('" + file.getFileName() + "')['name'])");
            }
            throw InputException.of(file, "file", "has an unknown extension", "pass path.npy, path.safetensors or path.safetensors:tensor");
        } catch (InputException e) {
            throw fail(field, e);
        } catch (java.nio.file.InvalidPathException e) {
            throw InputException.of(spec, field, "is not a valid path (" + e.getMessage() + ")", "check the file name");
        }
    }

    /** The array formats a file's first bytes announce ({@link #formatByContent}). */
    public enum ContentFormat { NPY, SAFETENSORS }

    /** How many of a file's first bytes {@link #formatByContent} needs to tell a safetensors file. */
    public static final int FORMAT_HEAD_BYTES = 9;

    /**
     * The array format that the first {@code read} bytes of a file announce, or null: the .npy magic ({@link Npy#MAGIC};
     * a file shorter than the magic that starts like it is a truncated .npy, which Npy names as such), or safetensors'
     * 8-byte little-endian header length, in range, then the JSON header's '{'. The one reading of the signatures, for
     * {@link #locateByContent} and the CLI's refusal of a binary argument file alike.
     */
    public static ContentFormat formatByContent(byte[] head, int read) {
        int magic = Math.min(read, Npy.MAGIC.length);
        if (read > 0 && Arrays.equals(head, 0, magic, Npy.MAGIC, 0, magic)) return ContentFormat.NPY;
        if (read < FORMAT_HEAD_BYTES) return null;
        long headerLength = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return head[8] == '{' && headerLength >= 2 && headerLength <= Safetensors.MAX_HEADER_BYTES ? ContentFormat.SAFETENSORS : null;
    }

    /** As {@link #locate} for a bare path, but by the file's content (see {@link #matrixSourceByContent}). */
    static Located locateByContent(Path file, String label) {
        InputFiles.requireRegularFile(file, InputFiles.ARRAY_FILE);
        byte[] start = new byte[FORMAT_HEAD_BYTES];
        int read = 0;
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(file)) {
            for (int r; read < start.length && (r = in.read(start, read, start.length - read)) > 0; ) read += r;
        } catch (IOException e) {
            throw ReadFailures.cannotRead(label, "file", "the first bytes of", e, "check the path and permissions");
        }
        ContentFormat format = formatByContent(start, read);
        if (format == ContentFormat.NPY) return fromNpy(Npy.readHeader(file));
        if (format == ContentFormat.SAFETENSORS) {
            Safetensors.Header h = Safetensors.readHeader(file);
            if (h.tensors().isEmpty()) throw holdsNoTensors(h);
            if (h.tensors().size() != 1) {
                throw InputException.of(label, "tensors", "holds " + h.tensors().size() + " tensors (" + names(h) + "), so the one meant is ambiguous",
                        "write X alone to the file");
            }
            return fromTensor(file, h.tensors().values().iterator().next());
        }
        throw InputException.of(label, "file", read == 0 ? "is empty (0 bytes)"
                        : "is neither an .npy file (it does not start with the magic \\x93NUMPY) nor a safetensors file (an 8-byte header length, then a JSON header)",
                "write X with numpy.save(path, x) or safetensors.numpy.save_file({'x': x}, path)");
    }

    private static InputException holdsNoTensors(Safetensors.Header h) {
        return InputException.of(h.file(), "tensors", "holds no tensors" + (h.metadata().isEmpty() ? "" : " (only __metadata__)"),
                "pass the file that holds the array");
    }

    private static String names(Safetensors.Header h) {
        List<String> names = new ArrayList<>(h.tensors().keySet());
        if (names.isEmpty()) return "no tensors";
        if (names.size() > 20) return String.join(", ", names.subList(0, 20)) + ", ... (" + names.size() + " in all)";
        return String.join(", ", names);
    }

    static Located fromNpy(Npy.Header h) {
        return new Located(h.file(), null, h.descr(), h.dtype(), h.byteOrder(), h.shape(), h.fortranOrder(), h.dataOffset());
    }

    static Located fromTensor(Path file, Safetensors.Tensor t) {
        return new Located(file, t.name(), t.dtype(), t.type(), ByteOrder.LITTLE_ENDIAN, t.shape(), false, t.begin());
    }

    /** Prefixes the option/field that named the file (once). */
    private static RuntimeException fail(String field, RuntimeException e) {
        if (!(e instanceof InputException ie) || field == null || field.isEmpty() || ie.getMessage().startsWith(field + ": ")) return e;
        return new InputException(field + ": " + ie.getMessage(), ie);
    }

    interface ChunkSink {
        void accept(double[] values, long start, int count);
    }

    /** Streams the elements of {@code a} in storage order, converted to double, in bounded chunks. */
    static void stream(Located a, ChunkSink sink) {
        long n = a.elements();
        int size = a.dtype().size;
        int chunk = (int) Math.min(CHUNK_ELEMENTS, Math.max(1, n));
        ByteBuffer buf = ByteBuffer.allocateDirect(chunk * size).order(a.order());
        double[] values = new double[chunk];
        try (FileChannel ch = FileChannel.open(a.file(), StandardOpenOption.READ)) {
            for (long done = 0; done < n; ) {
                int k = (int) Math.min(chunk, n - done);
                buf.clear();
                buf.limit(k * size);
                Npy.readFully(ch, buf, a.offset() + done * size, a.file());
                Dtype dtype = a.dtype();
                for (int j = 0; j < k; j++) values[j] = dtype.value(buf, j * size);
                sink.accept(values, done, k);
                done += k;
            }
        } catch (IOException e) {
            throw ReadFailures.cannotRead(a.file(), "file", a.name() == null ? "the values of" : "the values of tensor '" + a.name() + "' of", e, "check the path and permissions");
        }
    }
}
