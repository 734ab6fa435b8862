package dev.falcon.data;

import java.nio.FloatBuffer;
import java.util.Objects;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The gradient matrix X (n rows = samples, p columns = weights) in host off-heap memory, float32,
 * <b>column-major</b>: the n gradient values of one weight are contiguous, so a block of consecutive
 * weights (a layer, or a chunk of one) is a single contiguous range of memory. That layout lets a
 * block stay in cache while both of its products are computed, and lets a Fortran-order float32
 * {@code .npy} file be memory-mapped without any copy.
 *
 * <p>The matrix owns its memory (allocated, or a file mapping) and releases it in {@link #close()}.
 */
public final class HostMatrix implements AutoCloseable {
    private final FloatPointer data;
    private final long rows;
    private final long cols;
    private final AutoCloseable release;
    private final String origin;
    private boolean closed;

    private HostMatrix(FloatPointer data, long rows, long cols, AutoCloseable release, String origin) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("matrix must have at least one row and one column, got " + rows + " x " + cols);
        }
        this.data = Objects.requireNonNull(data, "data");
        this.rows = rows;
        this.cols = cols;
        this.release = release;
        this.origin = origin;
    }

    /** Allocates an uninitialised rows x cols matrix with malloc (outside JavaCPP's byte accounting). */
    public static HostMatrix allocate(long rows, long cols) {
        long bytes = Math.multiplyExact(Math.multiplyExact(rows, cols), (long) Float.BYTES);
        Pointer raw = Pointer.malloc(bytes);
        if (raw == null || raw.isNull()) {
            throw new OutOfMemoryError("cannot allocate " + bytes + " bytes of native memory for a "
                    + rows + " x " + cols + " float32 matrix");
        }
        FloatPointer floats = new FloatPointer(raw).capacity(rows * cols);
        return new HostMatrix(floats, rows, cols, () -> Pointer.free(raw), "allocated");
    }

    /**
     * Wraps memory owned elsewhere (a file mapping, a device staging buffer). {@code release} runs once
     * on {@link #close()}; pass {@code null} when the caller keeps ownership.
     */
    public static HostMatrix wrap(FloatPointer data, long rows, long cols, AutoCloseable release, String origin) {
        return new HostMatrix(data, rows, cols, release, origin);
    }

    public FloatPointer data() {
        checkOpen();
        return data;
    }

    public long rows() { return rows; }

    public long cols() { return cols; }

    public long elements() { return rows * cols; }

    public long bytes() { return rows * cols * Float.BYTES; }

    /** Where the memory came from ("allocated", "mapped file X.npy", ...), for reports. */
    public String origin() { return origin; }

    /**
     * A view of columns {@code [firstColumn, firstColumn + count)}; only for the reference backend and
     * tests, which read X from Java. The view must hold fewer than 2^31 floats.
     */
    public FloatBuffer columns(long firstColumn, long count) {
        checkOpen();
        if (firstColumn < 0 || count < 0 || firstColumn + count > cols) {
            throw new IndexOutOfBoundsException("columns [" + firstColumn + ", " + (firstColumn + count) + ") of " + cols);
        }
        long length = count * rows;
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a Java view is limited to 2^31 floats; ask for fewer columns");
        }
        FloatPointer view = new FloatPointer(data).position(firstColumn * rows).limit(firstColumn * rows + length);
        return view.asBuffer();
    }

    public boolean isClosed() { return closed; }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("matrix (" + origin + ") was closed");
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        if (release != null) {
            try {
                release.close();
            } catch (Exception e) {
                throw new IllegalStateException("releasing matrix memory (" + origin + ") failed", e);
            }
        }
    }

    @Override
    public String toString() {
        return "HostMatrix[" + rows + " x " + cols + ", float32 column-major, " + origin + "]";
    }
}
