package dev.falcon.data;

import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A dense matrix stored in a file at a byte offset, as described by a validated npy or safetensors
 * header. {@code rowMajor} is true for C order (npy default, safetensors always) and false for Fortran
 * order. Backends turn this into a column-major float32 {@link HostMatrix}, converting at most once.
 */
public record RawMatrixSource(Path file, long dataOffset, ElementType type, ByteOrder byteOrder,
                              boolean rowMajor, long rows, long cols) {
    public RawMatrixSource {
        if (rows <= 0 || cols <= 0) throw new IllegalArgumentException("empty matrix " + rows + " x " + cols + " in " + file);
        if (dataOffset < 0) throw new IllegalArgumentException("negative data offset in " + file);
    }

    public long dataBytes() {
        return Math.multiplyExact(Math.multiplyExact(rows, cols), (long) type.bytes());
    }

    /** The file's element type and order, as the report gives them: "float64 C order", "float32 big-endian Fortran order". */
    public String fileType() {
        return dtypeLabel(type.name().toLowerCase(java.util.Locale.ROOT), byteOrder == ByteOrder.BIG_ENDIAN)
                + (rowMajor ? " C order" : " Fortran order");
    }

    /** How loading changes the values: null for little-endian float32, else the once-only conversion to float32 and whether it rounds. */
    public String conversion() {
        return conversionToFloat32(type.name().toLowerCase(java.util.Locale.ROOT), byteOrder == ByteOrder.BIG_ENDIAN);
    }

    /**
     * A file's dtype ("float64", "int32") and byte order as the report names them, for X ({@link #fileType}) and the
     * weights alike: "float32 big-endian".
     */
    public static String dtypeLabel(String dtype, boolean bigEndian) {
        return dtype + (bigEndian ? " big-endian" : "");
    }

    /**
     * How reading a dtype as float32 changes its values, in one wording for X ({@link #conversion}) and the weights, so
     * that the report's x_conversion and weights_conversion say the same for the same dtype: null for little-endian
     * float32, read as it is.
     */
    public static String conversionToFloat32(String dtype, boolean bigEndian) {
        // every value of a big-endian float32 file is byte-swapped: "none" said it was read as it is
        if (dtype.equals("float32")) return bigEndian ? "byte-swapped once from big-endian float32 while loading (exact)" : null;
        return "converted once from " + dtype + " to float32 while loading" + switch (dtype) {
            case "float64" -> " (rounded to float32 precision)";
            case "int32", "uint32", "int64", "uint64" -> " (exact up to 2^24 in magnitude, rounded to float32 precision beyond)";
            default -> " (exact)";
        };
    }

    /** The file's type with its conversion when there is one, for a file not yet loaded. */
    public String typeAndConversion() {
        return fileType() + (conversion() != null ? ", " + conversion() : "");
    }

    /**
     * What loading this file into {@code loaded} did to it, as the report's x_conversion says it: the dtype's conversion,
     * else a copy into the backend's layout, or none where the backend mapped the file in place ("none" for a copy of n x p
     * floats was taken for no work done).
     */
    public String conversionInto(HostMatrix loaded) {
        if (conversion() != null) return conversion();
        return loaded.origin().startsWith("mapped") ? "none: the file is used in place (memory-mapped)"
                : "copied once into " + loaded.layout() + " while loading (float32 values unchanged)";
    }

    /**
     * The file's type and what loading it into {@code loaded} did, as a falcon++ stage row names its X: the rows said
     * "float32 Fortran order" alone, whether the file was mapped or copied.
     */
    public String typeAndConversion(HostMatrix loaded) {
        return fileType() + ", " + conversionInto(loaded);
    }

    /**
     * True when the file already holds X in the internal layout (column-major little-endian float32, starting on a
     * float boundary), so that a backend may map it instead of copying. A data offset that is not a multiple of 4 (an
     * npy header not padded as the format asks) would make every float of the mapping misaligned, which the native
     * kernels may not read through a float pointer: such a file is converted like any other.
     */
    public boolean isInternalLayout() {
        return type == ElementType.FLOAT32 && !rowMajor && byteOrder == ByteOrder.LITTLE_ENDIAN
                && dataOffset % Float.BYTES == 0;
    }
}
