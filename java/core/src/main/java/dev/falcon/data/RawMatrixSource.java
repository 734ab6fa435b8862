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
