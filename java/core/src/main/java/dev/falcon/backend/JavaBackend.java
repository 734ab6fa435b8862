package dev.falcon.backend;

import dev.falcon.data.CounterRandom;
import dev.falcon.data.HalfFloats;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * The reference backend: plain Java, single-threaded, written for obviousness rather than speed. It
 * is the oracle every other backend is tested against and the last resort where no native backend
 * loads. It reads X through {@link HostMatrix#columns} (a view when column-major, a copy for panels), so it
 * accepts either layout; it creates column-major matrices.
 */
public final class JavaBackend implements ComputeBackend {
    /** Columns per Java view of X; keeps each view well below 2^31 floats. */
    private static final int VIEW_FLOATS = 1 << 26;

    /**
     * The most rows of the square matrices this backend indexes with Java ints (weightedGram's result, the Cholesky
     * factor and its solve): n * n within an int, as for the solver's own ({@code FalconSolver.MAX_ROWS}).
     */
    public static final int MAX_SQUARE_ROWS = 46_340;

    private volatile boolean closed;

    @Override public String name() { return "java"; }

    @Override public int threads() { return 1; }

    @Override public String description() { return "java: reference implementation, 1 thread"; }

    // ---------------------------------------------------------------- loading

    @Override
    public HostMatrix load(RawMatrixSource source) throws IOException {
        checkOpen();
        HostMatrix x = HostMatrix.allocate(source.rows(), source.cols(), null, HostMatrix.copyOf(source.file()));
        try (FileChannel channel = FileChannel.open(source.file(), StandardOpenOption.READ)) {
            long rows = source.rows(), cols = source.cols();
            int width = source.type().bytes();
            // Read one storage line (a row in C order, a column in Fortran order) at a time.
            long lineLength = source.rowMajor() ? cols : rows;
            long lines = source.rowMajor() ? rows : cols;
            ByteBuffer line = ByteBuffer.allocate(Math.toIntExact(lineLength * width)).order(source.byteOrder());
            FloatPointer data = x.data();
            FloatBuffer target = null;
            for (long l = 0; l < lines; l++) {
                line.clear();
                long position = source.dataOffset() + l * lineLength * width;
                while (line.hasRemaining()) {
                    int read = channel.read(line, position + line.position());
                    if (read < 0) throw new IOException(source.file() + ": file ends inside the data (truncated)");
                }
                line.flip();
                if (!source.rowMajor()) {
                    target = x.columns(l, 1);
                    for (long i = 0; i < rows; i++) target.put((int) i, decode(line, (int) i, source));
                } else {
                    for (long j = 0; j < cols; j++) data.put(j * rows + l, decode(line, (int) j, source));
                }
            }
        } catch (IOException | RuntimeException e) {
            x.close();
            throw e;
        }
        return x;
    }

    // the defaults, refused after close() as everything else is: a vector or X made by a closed backend was the one
    // call on it that still worked
    @Override
    public HostMatrix allocate(long rows, long cols, long[] blockStarts) {
        checkOpen();
        return ComputeBackend.super.allocate(rows, cols, blockStarts);
    }

    @Override
    public FloatPointer floatVector(long length) {
        checkOpen();
        return ComputeBackend.super.floatVector(length);
    }

    private static float decode(ByteBuffer line, int index, RawMatrixSource source) {
        return switch (source.type()) {
            case FLOAT32 -> line.getFloat(index * 4);
            case FLOAT64 -> (float) line.getDouble(index * 8);
            case FLOAT16 -> HalfFloats.fromFloat16(line.getShort(index * 2));
            case BFLOAT16 -> HalfFloats.fromBfloat16(line.getShort(index * 2));
        };
    }

    // ---------------------------------------------------------------- synthetic data

    @Override
    public long firstNonFinite(HostMatrix x) {
        try (HostMatrix.Use use = x.use("the java backend's firstNonFinite")) {
            checkOpen();
            // scanned in storage order, whatever the layout
            FloatPointer data = x.data();
            for (long s0 = 0; s0 < x.elements(); s0 += VIEW_FLOATS) {
                long count = Math.min(VIEW_FLOATS, x.elements() - s0);
                FloatBuffer b = new FloatPointer(data).position(data.position() + s0).limit(data.position() + s0 + count).asBuffer();
                for (int k = 0; k < count; k++) {
                    if (!Float.isFinite(b.get(k))) return s0 + k;
                }
            }
            return -1;
        }
    }

    @Override
    public void fillUniform(FloatPointer dst, long count, long seed, float scale) {
        checkOpen();
        ComputeBackend.requireFillArguments(dst, count);
        for (long i = 0; i < count; i++) dst.put(i, scale * CounterRandom.uniform(seed, i));
    }

    @Override
    public void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed) {
        try (HostMatrix.Use use = x.write("the java backend's fillSyntheticGradients")) {
            checkOpen();
            ComputeBackend.requireSyntheticRank(rank);
            int n = Math.toIntExact(x.rows());
            float[] a = new float[n * rank];
            for (int i = 0; i < a.length; i++) a[i] = CounterRandom.uniform(seed + 1, i);
            float[] b = new float[rank];
            float invSqrtRank = (float) (1.0 / Math.sqrt(rank));
            for (long j = 0; j < x.cols(); j++) {
                for (int r = 0; r < rank; r++) b[r] = CounterRandom.uniform(seed + 2, j * rank + r);
                FloatPointer data = x.data();
                for (int i = 0; i < n; i++) {
                    float s = 0f;
                    for (int r = 0; r < rank; r++) s += a[i * rank + r] * b[r];
                    data.put(x.storageIndex(i, j), s * invSqrtRank + noise * CounterRandom.uniform(seed + 3, j * n + i));
                }
            }
        }
    }

    // ---------------------------------------------------------------- products

    private static long columnsPerView(HostMatrix x) {
        return Math.max(1, VIEW_FLOATS / x.rows());
    }

    @Override
    public void multiply(HostMatrix x, FloatPointer v, FloatPointer out) {
        try (HostMatrix.Use use = x.use("the java backend's multiply")) {
            checkOpen();
            ComputeBackend.requireProductVectors("multiply", x, v, out);
            double[] acc = productInDouble(x, v);
            for (int i = 0; i < acc.length; i++) out.put(i, (float) acc[i]);
        }
    }

    @Override
    public void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out) {
        try (HostMatrix.Use use = x.use("the java backend's multiplySummedInDouble")) {
            checkOpen();
            ComputeBackend.requireProductVectors("multiplySummedInDouble", x, v, out);
            double[] acc = productInDouble(x, v);
            out.put(acc, 0, acc.length);
        }
    }

    /** X v with every product and sum in double (a float times a float is exact in double). */
    private static double[] productInDouble(HostMatrix x, FloatPointer v) {
        int n = Math.toIntExact(x.rows());
        double[] acc = new double[n];
        long step = columnsPerView(x);
        for (long j0 = 0; j0 < x.cols(); j0 += step) {
            long count = Math.min(step, x.cols() - j0);
            FloatBuffer block = x.columns(j0, count);
            for (int c = 0; c < count; c++) {
                double vj = v.get(j0 + c);
                if (vj == 0) continue;
                int base = c * n;
                for (int i = 0; i < n; i++) acc[i] += block.get(base + i) * vj;
            }
        }
        return acc;
    }

    @Override
    public void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out) {
        try (HostMatrix.Use use = x.use("the java backend's multiplyTransposed")) {
            checkOpen();
            ComputeBackend.requireTransposedProductVectors("multiplyTransposed", x, u, out);
            float[] uu = new float[Math.toIntExact(x.rows())];
            u.get(uu);
            double[] widened = new double[uu.length];
            for (int i = 0; i < uu.length; i++) widened[i] = uu[i];
            forEachColumnDot(x, widened, (j, s) -> out.put(j, (float) s));
        }
    }

    @Override
    public void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out) {
        try (HostMatrix.Use use = x.use("the java backend's multiplyTransposedSummedInDouble")) {
            checkOpen();
            ComputeBackend.requireTransposedProductVectors("multiplyTransposedSummedInDouble", x, u, out);
            double[] uu = new double[Math.toIntExact(x.rows())];
            u.get(uu);
            forEachColumnDot(x, uu, out::put);
        }
    }

    /** Receives column j's dot product with u. */
    private interface ColumnDot {
        void accept(long j, double dot);
    }

    /** Every column's dot product with u, products and sums in double in row order, handed to {@code sink} by column. */
    private static void forEachColumnDot(HostMatrix x, double[] u, ColumnDot sink) {
        int n = u.length;
        long step = columnsPerView(x);
        for (long j0 = 0; j0 < x.cols(); j0 += step) {
            long count = Math.min(step, x.cols() - j0);
            FloatBuffer block = x.columns(j0, count);
            for (int c = 0; c < count; c++) {
                double s = 0;
                int base = c * n;
                for (int i = 0; i < n; i++) s += block.get(base + i) * u[i];
                sink.accept(j0 + c, s);
            }
        }
    }

    @Override
    public void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) {
        try (HostMatrix.Use use = x.use("the java backend's blockGramProduct")) {
            checkOpen();
            ComputeBackend.requireBlockGramProductArguments(x, blockStarts, d, out);
            int n = Math.toIntExact(x.rows());
            double[] u = new double[n];
            float[] col = new float[n];
            ColumnReader reader = new ColumnReader(x);
            for (int b = 0; b + 1 < blockStarts.length; b++) {
                long start = blockStarts[b], end = blockStarts[b + 1];
                Arrays.fill(u, 0);
                for (long j = start; j < end; j++) {
                    double dj = d.get(j);
                    if (dj == 0) continue;
                    reader.read(j, col);
                    for (int i = 0; i < n; i++) u[i] += col[i] * dj;
                }
                for (long j = start; j < end; j++) {
                    reader.read(j, col);
                    double s = 0;
                    for (int i = 0; i < n; i++) s += col[i] * u[i];
                    out.put(j, (float) s);
                }
            }
        }
    }

    /**
     * Reads single columns of X through one view per run of {@link #columnsPerView} columns where X is column-major:
     * a view per column (a pointer and two buffers) cost more than the column's floats, in time and in heap.
     */
    private static final class ColumnReader {
        private final HostMatrix x;
        private final long columnsPerView;
        private long first = -1, count;
        private FloatBuffer view;

        ColumnReader(HostMatrix x) {
            this.x = x;
            this.columnsPerView = x.isColumnMajor() ? columnsPerView(x) : 1; // panels: each view is a copy
        }

        void read(long column, float[] into) {
            if (column < first || column >= first + count) {
                first = column - column % columnsPerView;
                count = Math.min(columnsPerView, x.cols() - first);
                view = x.columns(first, count);
            }
            view.get((int) ((column - first) * x.rows()), into, 0, into.length);
        }
    }

    @Override
    public void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst) {
        try (HostMatrix.Use use = x.use("the java backend's gatherColumns")) {
            checkOpen();
            ComputeBackend.requireGatherArguments(x, columns, k, dst);
            int n = Math.toIntExact(x.rows());
            float[] col = new float[n];
            ColumnReader reader = new ColumnReader(x);
            FloatPointer into = new FloatPointer(dst);
            for (long c = 0; c < k; c++) {
                int j = columns.get(c);
                if (j < 0 || j >= x.cols()) throw new IndexOutOfBoundsException("column " + j + " of " + x.cols());
                reader.read(j, col);
                into.position(dst.position() + c * n).put(col, 0, n);
            }
        }
    }

    // ---------------------------------------------------------------- small dense algebra

    // The n x n matrices are read and written in place, through buffers over their native memory: a Java array copy of
    // each (8 n^2 bytes of heap per call, 3.2 GB at n = 20,000) was not in the memory plan, and such runs died in
    // "Java heap space" after X was loaded instead of being refused before. The arithmetic and its order are unchanged.

    @Override
    public void weightedGram(HostMatrix x, FloatPointer columnWeights, DoublePointer gram) {
        gram("weightedGram", x, columnWeights, gram);
    }

    /** The double Gram, checked in this call's name and in the order cpu checks it (the default's check comes first). */
    @Override
    public void singlePrecisionGram(HostMatrix x, DoublePointer gram) {
        gram("singlePrecisionGram", x, null, gram);
    }

    /** The Gram of {@link #weightedGram}, for {@code operation}, the call its errors name. */
    private void gram(String operation, HostMatrix x, FloatPointer columnWeights, DoublePointer gram) {
        try (HostMatrix.Use use = x.use("the java backend's " + operation)) {
            checkOpen();
            ComputeBackend.requireFiniteWeights(columnWeights, x.cols());
            int n = Math.toIntExact(x.rows());
            requireSquareRows(n, "Gram X X^T"); // first: a gram of that many doubles would not help this backend
            ComputeBackend.requireGram(operation, x, gram);
            DoubleBuffer g = squareView(gram, n);
            for (int i = 0; i < n * n; i++) g.put(i, 0.0);
            float[] col = new float[n];
            ColumnReader reader = new ColumnReader(x);
            for (long j = 0; j < x.cols(); j++) {
                double w = columnWeights == null ? 1.0 : columnWeights.get(j);
                if (w == 0) continue;
                reader.read(j, col);
                for (int b = 0; b < n; b++) {
                    double cb = col[b] * w;
                    if (cb == 0) continue;
                    int column = b * n;
                    for (int a = b; a < n; a++) g.put(column + a, g.get(column + a) + col[a] * cb);
                }
            }
            for (int b = 0; b < n; b++) {
                for (int a = 0; a < b; a++) g.put(b * n + a, g.get(a * n + b));
            }
        }
    }

    @Override
    public void choleskyFactor(DoublePointer a, int n) {
        checkOpen();
        requireSquareRows(n, "matrix to factor");
        ComputeBackend.requireFiniteLowerTriangle(a, n);
        DoubleBuffer m = squareView(a, n);
        // column j's entries below the diagonal, each reduced over k = 0..j-1 in that order; k outermost, so that the
        // inner loop runs down one column of L (contiguous) rather than across all of them
        double[] below = new double[n];
        for (int j = 0; j < n; j++) {
            double diag = m.get(j * n + j);
            for (int k = 0; k < j; k++) diag -= m.get(k * n + j) * m.get(k * n + j);
            if (!(diag > 0)) {
                throw new ArithmeticException("matrix is not positive definite (pivot " + j + " = " + diag + ")");
            }
            double l = Math.sqrt(diag);
            m.put(j * n + j, l);
            for (int i = j + 1; i < n; i++) below[i] = m.get(j * n + i);
            for (int k = 0; k < j; k++) {
                double ljk = m.get(k * n + j);
                int column = k * n;
                for (int i = j + 1; i < n; i++) below[i] -= m.get(column + i) * ljk;
            }
            for (int i = j + 1; i < n; i++) m.put(j * n + i, below[i] / l);
        }
    }

    @Override
    public void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs) {
        checkOpen();
        requireSquareRows(n, "Cholesky factor");
        ComputeBackend.requireCholeskySolveArguments(factor, n, b, nrhs);
        DoubleBuffer l = squareView(factor, n);
        double[] y = new double[n];
        for (int r = 0; r < nrhs; r++) {
            long base = (long) r * n;
            for (int i = 0; i < n; i++) y[i] = b.get(base + i);
            for (int i = 0; i < n; i++) { // L y = b
                double s = y[i];
                for (int k = 0; k < i; k++) s -= l.get(k * n + i) * y[k];
                y[i] = s / l.get(i * n + i);
            }
            for (int i = n - 1; i >= 0; i--) { // L^T x = y
                double s = y[i];
                for (int k = i + 1; k < n; k++) s -= l.get(i * n + k) * y[k];
                y[i] = s / l.get(i * n + i);
            }
            for (int i = 0; i < n; i++) b.put(base + i, y[i]);
        }
    }

    /** The n x n matrix from the pointer's position, as a buffer over its native memory (n^2 fits an int here). */
    private static DoubleBuffer squareView(DoublePointer matrix, int n) {
        return new DoublePointer(matrix).limit(matrix.position() + (long) n * n).asBuffer();
    }

    /**
     * Above {@link #MAX_SQUARE_ROWS} rows n * n overflowed: 46,341 rows died in a NegativeArraySizeException (the CLI's
     * "internal error"), and from 65,536 on a wrapped size can be positive and the array too short.
     */
    private static void requireSquareRows(int n, String matrix) {
        if (n > MAX_SQUARE_ROWS) {
            throw new IllegalArgumentException("the java backend indexes the " + n + " x " + n + " " + matrix + " with Java ints, which reach"
                    + " at most " + MAX_SQUARE_ROWS + " rows: use the cpu or cuda backend, or at most " + MAX_SQUARE_ROWS + " rows of X");
        }
    }

    // ---------------------------------------------------------------- selection kernels

    @Override
    public void sortSegmentsDescending(FloatPointer scores, long[] segmentStarts,
                                       FloatPointer sortedOut, IntPointer indexOut, DoublePointer prefixOut) {
        checkOpen();
        ComputeBackend.requireSortArguments(scores, segmentStarts, sortedOut, indexOut, prefixOut);
        for (int s = 0; s + 1 < segmentStarts.length; s++) {
            int start = Math.toIntExact(segmentStarts[s]);
            int length = Math.toIntExact(segmentStarts[s + 1] - start);
            // Non-negative floats order like their bit patterns; invert them for descending order and
            // keep the index in the low half so ties stay in increasing index order.
            long[] keys = new long[length];
            for (int i = 0; i < length; i++) {
                float v = scores.get(start + i) + 0.0f; // -0.0 is 0.0: same key, ties by index
                if (!(v >= 0) || Float.isInfinite(v)) {
                    throw new IllegalArgumentException("score " + (start + i) + " is " + v + "; scores must be finite and >= 0");
                }
                long inverted = 0xffffffffL - (Float.floatToIntBits(v) & 0xffffffffL);
                keys[i] = (inverted << 32) | (start + i);
            }
            Arrays.sort(keys);
            double running = 0;
            for (int i = 0; i < length; i++) {
                int index = (int) (keys[i] & 0xffffffffL);
                float v = scores.get(index) + 0.0f;
                running += v;
                sortedOut.put(start + i, v);
                if (indexOut != null) indexOut.put(start + i, index);
                if (prefixOut != null) prefixOut.put(start + i, running);
            }
        }
    }

    @Override
    public void countAbove(FloatPointer sorted, long[] segmentStarts, double[] thresholds, long[] counts) {
        checkOpen();
        ComputeBackend.requireCountAboveArguments(sorted, segmentStarts, thresholds, counts);
        for (int s = 0; s + 1 < segmentStarts.length; s++) {
            long lo = segmentStarts[s], hi = segmentStarts[s + 1]; // answer in [lo, hi]
            double t = thresholds[s];
            while (lo < hi) {
                long mid = (lo + hi) >>> 1;
                if (sorted.get(mid) > t) lo = mid + 1; else hi = mid;
            }
            counts[s] = lo - segmentStarts[s];
        }
    }

    /**
     * Nothing to release, but work after close() is refused as on every other backend: the reference must not accept a
     * use-after-close that the native backends would reject.
     */
    @Override
    public void close() {
        closed = true;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("java backend was closed");
    }
}
