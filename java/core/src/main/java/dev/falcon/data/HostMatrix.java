package dev.falcon.data;

import java.nio.FloatBuffer;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The gradient matrix X (n rows = samples, p columns = weights) in host off-heap memory, float32, in
 * one of two layouts:
 * <ul>
 * <li><b>column-major</b>: the n gradient values of one weight are contiguous. A Fortran-order float32
 * {@code .npy} file maps without any copy, and every backend reads it.
 * <li><b>panels</b>: consecutive column ranges {@code [panelStarts[k], panelStarts[k+1])}, each stored
 * row-major (n rows of its width) starting at element {@code panelStarts[k] * n}. With panels equal to
 * the solver's blocks, a block's rows are contiguous, so both products of the block-fused pass are
 * computed while a row is in L1 and X is read once, as one sequential stream; the column-major pass
 * has to re-read each block from cache. Backends that prefer it create it
 * ({@code ComputeBackend.allocate}/{@code load} with the block boundaries).
 * </ul>
 * Column-major is the panel layout with one column per panel, which is how the element addresses
 * below are computed.
 *
 * <p>The matrix owns its memory (allocated, or a file mapping) and releases it in {@link #close()}.
 */
public final class HostMatrix implements AutoCloseable {
    private final FloatPointer data;
    private final long rows;
    private final long cols;
    private final AutoCloseable release;
    private final String origin;
    /** Null: column-major. */
    private final long[] panelStarts;
    private volatile boolean closed;
    /** The backend calls reading the memory now ({@link #use}): close() waits for them. */
    private final UseGuard guard = new UseGuard();

    /**
     * Changed at the start and at the end of every {@link #write}: a backend that keeps a copy of X (the cuda backend's
     * resident X) compares it with the version it copied, and copies X again when it differs. It kept the first copy
     * for as long as the matrix lived, and went on solving with the old X after the embedder had changed it.
     */
    private final AtomicLong version = new AtomicLong();

    /** Alignment of the matrices {@link #allocate} makes: one cache line. */
    public static final int CACHE_LINE = 64;

    // Matrices that own their memory and are not yet closed: X is allocated with malloc or mapped, outside JavaCPP's
    // accounting, so a forgotten close() would grow a long run by a whole X each time without any counter showing it.
    private static final AtomicLong OWNED_OPEN = new AtomicLong();
    private static final AtomicLong OWNED_OPEN_BYTES = new AtomicLong();

    private HostMatrix(FloatPointer data, long rows, long cols, AutoCloseable release, String origin, long[] panelStarts) {
        requireShape(rows, cols, panelStarts);
        this.panelStarts = panelStarts == null ? null : panelStarts.clone();
        this.data = Objects.requireNonNull(data, "data");
        this.rows = rows;
        this.cols = cols;
        this.release = release;
        this.origin = origin;
        if (release != null) {
            OWNED_OPEN.incrementAndGet();
            OWNED_OPEN_BYTES.addAndGet(bytes());
        }
    }

    /** Matrices created with memory to release (allocated, or wrapped with a release) and not yet closed. */
    public static long openOwnedCount() { return OWNED_OPEN.get(); }

    /** Bytes of X held by the matrices {@link #openOwnedCount()} counts: what leaked if a finished run left any open. */
    public static long openOwnedBytes() { return OWNED_OPEN_BYTES.get(); }

    /** Allocates an uninitialised rows x cols matrix with malloc (outside JavaCPP's byte accounting). */
    public static HostMatrix allocate(long rows, long cols) {
        return allocate(rows, cols, null);
    }

    /**
     * Allocates an uninitialised rows x cols matrix in the panel layout with the given boundaries (from 0 to cols,
     * strictly increasing); {@code null} gives column-major.
     */
    public static HostMatrix allocate(long rows, long cols, long[] panelStarts) {
        return allocate(rows, cols, panelStarts, "allocated");
    }

    /**
     * As {@link #allocate(long, long, long[])}, with the {@link #origin()} that messages name X by: a backend that
     * copies a file into it passes {@link #copyOf(java.nio.file.Path)}, so that a NaN found later names the file, not
     * "allocated".
     */
    public static HostMatrix allocate(long rows, long cols, long[] panelStarts, String origin) {
        Objects.requireNonNull(origin, "origin");
        // before malloc: a refusal after it left the block allocated with no matrix for the caller to close (10 refused
        // 1000 x 100000 requests kept 4 GB of address space), and the counters of open matrices did not show it
        requireShape(rows, cols, panelStarts);
        long bytes = Math.multiplyExact(Math.multiplyExact(rows, cols), (long) Float.BYTES);
        Pointer raw = Pointer.malloc(bytes + CACHE_LINE);
        if (raw == null || raw.isNull()) {
            throw new OutOfMemoryError("cannot allocate " + bytes + " bytes of native memory for a "
                    + rows + " x " + cols + " float32 matrix");
        }
        try {
            // malloc aligns to 16 bytes only: then every 64-byte AVX-512 load of X straddles two cache lines, which cost
            // a quarter of the streaming bandwidth on the AVX-512 VM (four streams: 77 GB/s aligned, 59 at +16 bytes)
            long skipFloats = Math.floorMod(-raw.address(), CACHE_LINE) / Float.BYTES;
            FloatPointer floats = new FloatPointer(raw).getPointer(skipFloats);
            floats.capacity(rows * cols);
            return new HostMatrix(floats, rows, cols, () -> Pointer.free(raw), origin, panelStarts);
        } catch (RuntimeException | Error e) {
            Pointer.free(raw);  // the caller has no matrix to close
            throw e;
        }
    }

    /**
     * Wraps memory owned elsewhere (a file mapping, a device staging buffer). {@code release} runs once
     * on {@link #close()}; pass {@code null} when the caller keeps ownership.
     */
    public static HostMatrix wrap(FloatPointer data, long rows, long cols, AutoCloseable release, String origin) {
        PointerExtent.require(data, Math.multiplyExact(rows, cols), "the memory wrapped as a " + rows + " x " + cols + " matrix (" + origin + ")");
        return new HostMatrix(data, rows, cols, release, origin, null);
    }

    /**
     * The shape checks of {@link #allocate(long, long, long[], String)}, for a backend that takes panel starts and ignores
     * them (its X is column-major whatever the blocks): the java backend kept starts that did not end at p without a
     * word where cpu refused them, so code written on one failed on the other.
     *
     * @throws IllegalArgumentException when rows or cols is below 1, the bytes are more than a long counts, or the panel
     *         starts (when given) break a rule of {@link #requireStarts}
     */
    public static void requireShape(long rows, long cols, long[] panelStarts) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("matrix must have at least one row and one column, got " + rows + " x " + cols);
        }
        // the bytes with the alignment's slack must be a long: rows * cols overflowing was an ArithmeticException, and
        // bytes + CACHE_LINE wrapping negative a malloc of a huge size
        if (rows > (Long.MAX_VALUE - CACHE_LINE) / Float.BYTES / cols) {
            throw new IllegalArgumentException("matrix of " + rows + " x " + cols + " floats is larger than a long counts in bytes; "
                    + "it must hold at most " + (Long.MAX_VALUE - CACHE_LINE) / Float.BYTES + " floats");
        }
        if (panelStarts != null) requireStarts("panel", panelStarts, cols);
    }

    /**
     * The check of every partition of [0, end) into consecutive ranges given by their starts (panels of X here, a
     * backend's blocks and segments through {@code ComputeBackend.requireStarts}): at least two entries, beginning at 0,
     * increasing strictly and ending at {@code end}. One check, so that a bad array is the same error everywhere.
     *
     * @param what names the starts in the error ("panel", "block", "segment")
     * @throws IllegalArgumentException naming the first entry that breaks a rule (the array itself only where short or
     *         null)
     */
    public static void requireStarts(String what, long[] starts, long end) {
        // null too: blockGramProduct's null starts were a NullPointerException naming this method's local variable
        if (starts == null || starts.length < 2 || starts[0] != 0 || starts[starts.length - 1] != end) {
            throw new IllegalArgumentException(what + " starts must begin at 0 and end at p = " + end + ": "
                    + (starts == null || starts.length <= 16 ? java.util.Arrays.toString(starts) : starts.length + " entries"));
        }
        for (int k = 1; k < starts.length; k++) {
            if (starts[k] <= starts[k - 1]) {
                throw new IllegalArgumentException(what + " starts must increase strictly: entry " + k + " = " + starts[k]
                        + " after " + starts[k - 1]);
            }
        }
    }

    /** Whether the matrix is column-major (else it is stored in panels). */
    public boolean isColumnMajor() { return panelStarts == null; }

    /** The panel boundaries (panelCount + 1 entries from 0 to cols; a copy), or null when column-major. */
    public long[] panelStarts() { return panelStarts == null ? null : panelStarts.clone(); }

    /** Number of panels: cols when column-major. */
    public long panelCount() { return panelStarts == null ? cols : panelStarts.length - 1; }

    /** Index into {@link #data()} of element (row, col). */
    public long storageIndex(long row, long col) {
        if (row < 0 || row >= rows || col < 0 || col >= cols) {
            throw new IndexOutOfBoundsException("element (" + row + ", " + col + ") of " + rows + " x " + cols);
        }
        if (panelStarts == null) return col * rows + row;
        int k = panelOf(col);
        long first = panelStarts[k], width = panelStarts[k + 1] - first;
        return first * rows + row * width + (col - first);
    }

    /** The (row, column) of a storage index, as {@code {row, col}}. */
    public long[] elementAt(long storageIndex) {
        if (storageIndex < 0 || storageIndex >= elements()) {
            throw new IndexOutOfBoundsException("storage index " + storageIndex + " of " + elements());
        }
        if (panelStarts == null) return new long[] {storageIndex % rows, storageIndex / rows};
        int lo = 0, hi = panelStarts.length - 2;  // the last panel whose first element is <= storageIndex
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (panelStarts[mid] * rows <= storageIndex) lo = mid; else hi = mid - 1;
        }
        long first = panelStarts[lo], width = panelStarts[lo + 1] - first, offset = storageIndex - first * rows;
        return new long[] {offset / width, first + offset % width};
    }

    private int panelOf(long col) {
        int k = java.util.Arrays.binarySearch(panelStarts, col);
        return k >= 0 ? k : -k - 2;
    }

    /** For readers of column-major X only: a clear error instead of wrong products on panels. */
    public void requireColumnMajor(String reader) {
        if (panelStarts != null) {
            throw new IllegalArgumentException(reader + " reads column-major X only, and this X is stored in " + layout()
                    + ": load or allocate X with the backend that uses it");
        }
    }

    /** "column-major" or "row-major panels (K)", for reports. */
    public String layout() {
        return panelStarts == null ? "column-major" : "row-major panels (" + panelCount() + ")";
    }

    /**
     * X's memory. Reads of it by code of the caller's are made inside {@link #use}, writes inside {@link #write}: a
     * backend that keeps a copy of X sees only the changes a write() marks. Each call gives a pointer of its own at
     * element 0: moving its position or limit (to read a column) leaves X as every other caller sees it.
     */
    public FloatPointer data() {
        checkOpen();
        // the kernels read from address + position: handing out the matrix's own pointer let a caller's position(col * n)
        // shift every later product past the end of X (garbage, no error). Rebased to X's first element: a wrapped
        // pointer keeps its position (a view into a larger buffer), and position(col * n) is absolute, so a copy at the
        // wrapped position read column col shifted by that position (wrong values, no error). getPointer keeps the
        // position it moves the address by, hence position(0).
        long first = data.position();
        return first == 0 ? new FloatPointer(data) : data.getPointer(first).position(0);
    }

    /** n: the samples (rows of X). */
    public long rows() { return rows; }

    /** p: the weights (columns of X). */
    public long cols() { return cols; }

    /** n x p. */
    public long elements() { return rows * cols; }

    /** The bytes of X's float32 elements (4 n p), in memory or mapped: not counting what a backend copies of it. */
    public long bytes() { return rows * cols * Float.BYTES; }

    /** Where the memory came from ("allocated", "mapped file X.npy", "copy of file X.npy", ...), for reports and messages. */
    public String origin() { return origin; }

    /** The {@link #origin()} of X read from {@code file} into memory it owns (a conversion or a copy, never a mapping). */
    public static String copyOf(java.nio.file.Path file) {
        return "copy of file " + file.getFileName();
    }

    /**
     * Columns {@code [firstColumn, firstColumn + count)} in column-major order; only for the reference backend
     * and tests, which read X from Java. Column-major: a view that writes through; panels: a read-only copy.
     * It must hold fewer than 2^31 floats.
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
        if (panelStarts != null) {
            FloatBuffer copy = FloatBuffer.allocate((int) length);
            for (long c = 0; c < count; c++) {
                for (long i = 0; i < rows; i++) copy.put((int) (c * rows + i), data.get(storageIndex(i, firstColumn + c)));
            }
            return copy.asReadOnlyBuffer();
        }
        // from the wrapped pointer's own position, where the kernels read X from too
        long first = data.position() + firstColumn * rows;
        FloatPointer view = new FloatPointer(data).position(first).limit(first + length);
        return view.asBuffer();
    }

    /** Whether X was closed: every later use of it is refused with an IllegalStateException. */
    public boolean isClosed() { return closed; }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("matrix (" + origin + ") was closed");
    }

    /** The end of a {@link #use}, for try-with-resources. */
    public interface Use extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Marks a call that reads or writes the memory (through {@link #data()} or {@link #columns}) until the returned
     * scope closes: {@link #close()} waits for it instead of freeing the memory under it. Every backend call that takes
     * a matrix holds one; {@code data()} alone does not keep the memory alive.
     * <p>The scope is closed on the thread that opened it (try-with-resources does).
     *
     * @throws IllegalStateException when the matrix is closed or closing, naming {@code reader}
     */
    public Use use(String reader) {
        return guard.enter(reader, r -> new IllegalStateException("matrix (" + origin + ", " + rows + " x " + cols
                + ") was closed, by this thread or another, before " + r + " could read it: close X only after every call that uses it has returned"))::close;
    }

    /**
     * Marks a change of X's contents (through {@link #data()} or {@link #columns}) until the returned scope closes: as
     * {@link #use}, and a copy of X a backend keeps (the cuda backend's resident X) is taken again by its next call.
     * Writes outside a write() are not seen by such a copy: the cuda backend would go on with the old X while cpu and
     * java read the new one. Backends' own writes ({@code fillSyntheticGradients}) hold one.
     *
     * @throws IllegalStateException when the matrix is closed or closing, naming {@code writer}
     */
    public Use write(String writer) {
        Use use = use(writer);
        version.incrementAndGet();
        AtomicBoolean ended = new AtomicBoolean();
        return () -> {
            if (!ended.compareAndSet(false, true)) return;
            // again at the end: a copy taken by another thread during the write holds part of the old contents
            version.incrementAndGet();
            use.close();
        };
    }

    /** The version of X's contents: changes with every {@link #write} (see there); equal versions, the same contents. */
    public long version() { return version.get(); }

    /**
     * Frees the memory once no call is using it: a close() while another thread's product reads X waits for that product
     * (its result is correct), and that thread's next call fails with an {@code IllegalStateException}. Closing twice,
     * or from two threads, frees once.
     *
     * @throws IllegalStateException when this thread is itself inside a {@link #use} of the matrix (a backend call that
     *         runs code of the caller's, or the caller's own use): waiting would be for itself, forever, and freeing
     *         would pull the memory from under that call; the matrix stays open
     */
    @Override
    public void close() {
        guard.closeWhenUnused(reader -> new IllegalStateException("matrix (" + origin + ", " + rows + " x " + cols
                + ") cannot be closed by thread \"" + Thread.currentThread().getName() + "\" while that thread is inside " + reader
                + ", which uses it: close X after that call has returned (not from code it runs, such as a gradient source or a callback)"),
                this::free);
    }

    private void free() {
        // only now: a call already inside its use goes on reading through data() and columns() until it returns
        closed = true;
        if (release != null) {
            OWNED_OPEN.decrementAndGet();
            OWNED_OPEN_BYTES.addAndGet(-bytes());
            try {
                release.close();
            } catch (Exception e) {
                throw new IllegalStateException("releasing matrix memory (" + origin + ") failed", e);
            }
        }
    }

    @Override
    public String toString() {
        return "HostMatrix[" + rows + " x " + cols + ", float32 " + layout() + ", " + origin + "]";
    }
}
