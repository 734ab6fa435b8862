package dev.falcon.cpu;

import static dev.falcon.cpu.nativelib.FalconKernels.*;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.NativeCalls;
import dev.falcon.backend.Processors;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.model.Numbers;
import java.io.IOException;
import java.nio.ByteOrder;
import java.util.Map;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.openblas.global.openblas;

/**
 * Native CPU backend: every pass over X runs in falcon's C++ kernels (libfalcon_cpu.so, multithreaded
 * with a fixed static partition, so results depend only on the input and the thread count); the small
 * dense algebra goes to OpenBLAS/LAPACK. No Java loop touches X.
 */
public final class CpuBackend implements ComputeBackend {
    private static final int COL_MAJOR = 102, NO_TRANS = 111, TRANS = 112;
    private final int threads;
    private final Map<String, String> facts;
    private volatile boolean closed;

    CpuBackend(int threads) {
        // the CLI refuses --threads above the limit; through the Java API a tiny mp + BS took 4.9 s instead of 0.06 s
        // with 10000 threads
        if (threads > Backends.mostThreads()) {
            throw new IllegalArgumentException("the cpu backend was asked for " + threads + " threads, more than " + Backends.mostThreads()
                    + " (4 per available processor, " + Processors.usable() + " here, or 16): its kernels start"
                    + " their threads on every call, and threads beyond the cores only add switching; ask for at most that many");
        }
        this.facts = CpuNative.ensureLoaded();
        this.threads = Math.max(1, threads);
        this.openBlasThreads = openBlasThreadsFor(this.threads);
        this.openBlasThreadsInUse = setOpenBlasThreads(openBlasThreads);
    }

    /**
     * The thread count OpenBLAS is given for a backend of {@code threads} threads: that count, but never more than the
     * available processors. OpenBLAS's idle workers busy-wait for their next call, so with more of them than cores they
     * took the CPU from the thread that issues it: a falcon solve of resnet20 (n = 32) with --threads 4 on a 2-core VM
     * took 122-139 s instead of 9 s, with 60-72 s of CPU. falcon's own kernels keep the requested split (their threads
     * end with each call), so a given thread count still gives the same results where it does not exceed the cores.
     * Public for OpenBLAS calls made outside any backend (the benchmarks' yardsticks), which must run as a backend's would.
     */
    public static int openBlasThreadsFor(int threads) {
        return Math.max(1, Math.min(threads, Processors.usable()));
    }

    /** The thread count this backend's OpenBLAS calls run with: {@link #openBlasThreadsFor(int)} of its threads. */
    private final int openBlasThreads;

    /**
     * The count OpenBLAS reports after being given {@link #openBlasThreads}: OpenBLAS's Gram and factor round by its
     * partition, so results (the Lipschitz constant and every DFO step after it) follow this count, not --threads. Under
     * taskset with fewer processors than --threads the report said "2 threads" where OpenBLAS ran on 1.
     */
    private final int openBlasThreadsInUse;

    /**
     * OpenBLAS's thread count is one setting for the whole process: with two backends of different counts used from two
     * threads, one's dpotrf ran with the other's count between its own setting and its call, and its factor rounded
     * differently from the one it gives alone (OpenBlasThreadCountTest). Each OpenBLAS call sets its count and runs
     * under this lock; the passes over X, in falcon's own kernels, take their thread count as an argument and do not.
     */
    private static final Object OPENBLAS = new Object();

    private interface BlasCall {
        int run();
    }

    /**
     * Every OpenBLAS call passes the process's {@link NativeCalls} gate as well: the JVM's exit runs OpenBLAS's teardown,
     * which hung for good beside a call in flight (a CLI run stopped during a solve), and the CLI's stop lets the exit
     * go on only once none is.
     */
    private int openblasCall(int count, BlasCall call) {
        return underOpenBlasLock(() -> {
            falcon_openblas_set_threads(count);
            return call.run();
        });
    }

    /**
     * An n x n Gram (dsyrk, and ssyrk in singlePrecisionGram) runs on the backend's OpenBLAS count from this n on, on
     * one thread below it. Each multithreaded call forks to OpenBLAS's workers and joins them; on a loaded machine the
     * join waits for a worker that was descheduled (mp + sweep backsolve of resnet20 at n = 64, 64 x 64 Grams of about
     * 2000 columns: more than 600 s with 2 OpenBLAS threads at a load average of 15 on 2 cores, 47 s with 1), and on
     * an idle one a second thread did not pay below it either. OpenBlasThreadsBenchmark on an idle 2-core EPYC
     * (benchmarks/results/20261207-035549-vm.json and 20261207-035803-vm.json), time on 2 threads / time on 1, per round:
     * n = 64 1.40-1.43 and 1.47-1.72, n = 128 1.09-1.26 and 1.04-1.23 over k = 500, 2000 and 8000 columns (slower at up to
     * 131 MFlop; the lowest, 1.04, at k = 8000); in one round of k = 2000 and 8000 only, n = 256 0.78 and 0.95, n = 512
     * 0.75 and 0.76, n = 1024 0.63 and 0.66. The Grams over a whole X, whose chunks are 2^22 / n columns in double
     * (65,536 at n = 64, 32,768 at n = 128), were measured at those k in two rounds on the same idle machine
     * (benchmarks/results/20261207-093545-vm.json and 20261207-093833-vm.json): n = 64 1.07 and 1.39 at k = 32,768,
     * 1.33 and 1.53 at k = 65,536; n = 128 1.01 and 1.02 at k = 32,768, 1.04 and 0.91 at k = 65,536: slower at n = 64,
     * mixed at n = 128, no steady gain below this n there either. Not measured: below k = 2000 from n = 256, and ssyrk (single precision, chunks of
     * SINGLE_PRECISION_GRAM_CHUNK = 16,384 columns), which has dsyrk's shape and partition at twice the rate per
     * operation, so its break-even is no lower.
     */
    static final int GRAM_ON_THREAD_COUNT_FROM_N = 256;

    /**
     * An n x n Cholesky factor (dpotrf) and its solves (dpotrs) run on the backend's OpenBLAS count from this n on, on
     * one thread below it. OpenBlasThreadsBenchmark on an idle 2-core EPYC
     * (benchmarks/results/20261207-040006-vm.json, one round), dpotrf's time on 2 threads / time on 1: n = 128 2.30,
     * 256 1.73, 364 1.34, 512 1.28, 1024 1.01: slower at every n below 1024, and at 1024 a break-even within the noise
     * (9.40 +- 0.11 ms on one thread, 9.48 +- 0.37 on two), not a gain. Above it, two rounds
     * (benchmarks/results/20261207-093625-vm.json and 20261207-093912-vm.json): n = 1536 0.70 and 0.83, n = 2048 0.76
     * and 0.76, so the second thread pays from there on. The solves were
     * not measured: they are triangular solves with the same factor, each right-hand side n^2 operations against the
     * factor's n^3 / 3, so they follow the factor's n.
     */
    static final int CHOLESKY_ON_THREAD_COUNT_FROM_N = 1024;

    /**
     * The OpenBLAS thread count for one call on an n x n matrix by a backend whose OpenBLAS count is
     * {@code backendCount}: 1 below {@code fromN} ({@link #GRAM_ON_THREAD_COUNT_FROM_N} or
     * {@link #CHOLESKY_ON_THREAD_COUNT_FROM_N}), else the backend's. Whether a second thread pays depends on n, not on
     * the call's operation count (see those thresholds). It depends only on the call's sizes, so results stay the same
     * for a given input, options and thread count.
     */
    static int openBlasThreadsForCall(int backendCount, int n, int fromN) {
        return n < fromN ? 1 : backendCount;
    }

    private int gramThreads(int n) {
        return openBlasThreadsForCall(openBlasThreads, n, GRAM_ON_THREAD_COUNT_FROM_N);
    }

    private int choleskyThreads(int n) {
        return openBlasThreadsForCall(openBlasThreads, n, CHOLESKY_ON_THREAD_COUNT_FROM_N);
    }

    private static int underOpenBlasLock(BlasCall call) {
        synchronized (OPENBLAS) {
            NativeCalls gate = NativeCalls.process();
            gate.enter();
            try {
                return call.run();
            } finally {
                gate.leave();
            }
        }
    }

    /**
     * Sets OpenBLAS's thread count, under the lock and gate this backend's own OpenBLAS calls take, for OpenBLAS calls made
     * outside any backend (the benchmarks' sasum and sgemv yardsticks): without it they ran with OpenBLAS's own count,
     * every core, whatever thread count they were labelled with. Loads the native side first, so OpenBLAS runs the core
     * falcon picks for this CPU (see CpuNative), not the one it would detect alone. Sets {@code threads} as given: to run
     * as a backend of that many threads does, pass {@link #openBlasThreadsFor(int)} of it.
     *
     * @return the thread count OpenBLAS reports after the setting (it caps it at the cores it was built for)
     */
    public static int setOpenBlasThreads(int threads) {
        CpuNative.ensureLoaded();
        return underOpenBlasLock(() -> {
            falcon_openblas_set_threads(threads);
            return falcon_openblas_get_threads();
        });
    }

    /** The native side's probe facts (OpenBLAS version and core, kernel ISA), as {@link #facts()}, without a backend. */
    public static Map<String, String> nativeFacts() {
        return CpuNative.ensureLoaded();
    }

    @Override public String name() { return "cpu"; }

    @Override public int threads() { return threads; }

    @Override public int openBlasThreads() { return openBlasThreadsInUse; }

    @Override
    public String description() {
        return "cpu: OpenBLAS " + facts.get("openblas.version") + " (core " + facts.get("openblas.core") + "), kernels "
                + facts.get("kernels.isa") + ", " + Numbers.counted(threads, "thread")
                + (openBlasThreadsInUse == threads ? "" : " (OpenBLAS " + openBlasThreadsInUse + ": the processors this process may use)");
    }

    /** Probe facts (OpenBLAS version and core, kernel ISA). */
    public Map<String, String> facts() { return facts; }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("cpu backend was closed");
    }

    // ---------------------------------------------------------------- loading

    @Override
    public HostMatrix load(RawMatrixSource source) throws IOException {
        return load(source, true);
    }

    private HostMatrix load(RawMatrixSource source, boolean mapIfPossible) throws IOException {
        checkOpen();
        String path = source.file().toAbsolutePath().toString();
        long rows = source.rows(), cols = source.cols();
        if (mapIfPossible && source.isInternalLayout()) {
            PointerPointer<?> base = new PointerPointer<>(1);
            long[] mapped = new long[1];
            Pointer data = falcon_map_file(path, source.dataOffset(), source.dataBytes(), base, mapped);
            if (data == null || data.isNull()) {
                base.close();
                throw new IOException(falcon_last_error());
            }
            Pointer mappedBase = base.get(0);
            base.close();
            long mappedLength = mapped[0];
            FloatPointer floats = new FloatPointer(data).capacity(rows * cols);
            return HostMatrix.wrap(floats, rows, cols, () -> falcon_unmap(mappedBase, mappedLength),
                    "mapped file " + source.file().getFileName());
        }
        int type = elementType(source);
        HostMatrix x = allocate(rows, cols, null, HostMatrix.copyOf(source.file()));
        int rc = falcon_load_convert(path, source.dataOffset(), type, source.byteOrder() == ByteOrder.BIG_ENDIAN ? 1 : 0,
                source.rowMajor() ? 1 : 0, rows, cols, x.data(), threads);
        if (rc != 0) {
            x.close();
            throw new IOException(falcon_last_error());
        }
        return x;
    }

    /**
     * Panels equal to the blocks (see {@link HostMatrix}): the block-fused product then reads X once, as one
     * sequential stream. A file that already is column-major float32 stays a zero-copy mapping instead.
     */
    @Override
    public HostMatrix load(RawMatrixSource source, long[] blockStarts) throws IOException {
        // checked before the mapping branch: a Fortran-order float32 file kept blocks a C-order one refused
        HostMatrix.requireShape(source.rows(), source.cols(), blockStarts);
        if (blockStarts == null || source.isInternalLayout()) return load(source);
        return loadPanels(source, blockStarts);
    }

    /** A file that would map is read into panels (or, without blocks, a column-major copy) instead. */
    @Override
    public HostMatrix loadCopy(RawMatrixSource source, long[] blockStarts) throws IOException {
        HostMatrix.requireShape(source.rows(), source.cols(), blockStarts);
        return blockStarts == null ? load(source, false) : loadPanels(source, blockStarts);
    }

    private HostMatrix loadPanels(RawMatrixSource source, long[] blockStarts) throws IOException {
        checkOpen();
        int type = elementType(source);
        long rows = source.rows(), cols = source.cols();
        HostMatrix x = allocate(rows, cols, blockStarts, HostMatrix.copyOf(source.file()));
        int rc = falcon_panel_load_convert(source.file().toAbsolutePath().toString(), source.dataOffset(), type,
                source.byteOrder() == ByteOrder.BIG_ENDIAN ? 1 : 0, source.rowMajor() ? 1 : 0, rows, cols, blockStarts,
                blockStarts.length - 1, x.data(), threads);
        if (rc != 0) {
            x.close();
            throw new IOException(falcon_last_error());
        }
        return x;
    }

    @Override
    public HostMatrix allocate(long rows, long cols, long[] blockStarts) {
        return allocate(rows, cols, blockStarts, "allocated");
    }

    /** X read from a file is named by it ({@link HostMatrix#copyOf}): a NaN in it said "X (allocated)", not which file. */
    private HostMatrix allocate(long rows, long cols, long[] blockStarts, String origin) {
        checkOpen();
        HostMatrix x = HostMatrix.allocate(rows, cols, blockStarts, origin);
        // before the first touch: fewer page faults while X is filled, and fewer TLB misses in every pass
        falcon_advise_huge_pages(x.data(), x.bytes());
        return x;
    }

    /**
     * Smallest vector given huge-page advice: below a few huge pages the advice covers little of it (only whole 2 MiB
     * pages inside the block qualify).
     */
    private static final long HUGE_PAGE_VECTOR_BYTES = 8L << 20;

    /**
     * Each large malloc is a fresh mapping, and first touches of its 4 KiB pages cost ~11 us each on the development
     * VMs: ~200 ms for a 25.5M-float vector, and a falcon solve of resnet50 allocates many (each model, product and
     * backsolve makes its own). With the advice its backsolve phase took 2.5-2.7 s instead of 3.4-3.7 and the solve
     * 11.8-13.4 s instead of 14.3-14.4 (alternating runs, 2026-12-03).
     */
    @Override
    public FloatPointer floatVector(long length) {
        checkOpen(); // refused like every other call: a closed backend handed out fresh vectors
        dev.falcon.data.PointerExtent.requireFloatCount(length, "floatVector");
        FloatPointer v = new FloatPointer(length);
        long bytes = length * Float.BYTES;
        if (bytes >= HUGE_PAGE_VECTOR_BYTES) falcon_advise_huge_pages(v, bytes);
        return v;
    }

    private static int elementType(RawMatrixSource source) {
        return switch (source.type()) {
            case FLOAT32 -> 0;
            case FLOAT64 -> 1;
            case FLOAT16 -> 2;
            case BFLOAT16 -> 3;
        };
    }

    // ---------------------------------------------------------------- synthetic data

    @Override
    public long firstNonFinite(HostMatrix x) {
        try (HostMatrix.Use use = x.use("the cpu backend's firstNonFinite")) {
            checkOpen();
            return falcon_first_nonfinite(x.data(), x.elements(), threads);
        }
    }

    @Override
    public void fillUniform(FloatPointer dst, long count, long seed, float scale) {
        checkOpen();
        ComputeBackend.requireFillArguments(dst, count);
        falcon_fill_uniform(dst, count, seed, scale, threads);
    }

    @Override
    public void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed) {
        try (HostMatrix.Use use = x.write("the cpu backend's fillSyntheticGradients")) {
            checkOpen();
            ComputeBackend.requireSyntheticRank(rank);
            long[] panels = x.panelStarts();
            if (panels == null) {
                falcon_fill_synthetic(x.data(), x.rows(), x.cols(), rank, noise, seed, threads);
            } else {
                falcon_panel_fill_synthetic(x.data(), x.rows(), x.cols(), panels, panels.length - 1, rank, noise, seed, threads);
            }
        }
    }

    // ---------------------------------------------------------------- products

    @Override
    public void multiply(HostMatrix x, FloatPointer v, FloatPointer out) {
        try (HostMatrix.Use use = x.use("the cpu backend's multiply")) {
            checkOpen();
            ComputeBackend.requireProductVectors("multiply", x, v, out);
            long[] panels = x.panelStarts();
            if (panels == null) {
                falcon_gemv_n(x.data(), x.rows(), x.cols(), v, out, threads);
            } else {
                falcon_panel_gemv_n(x.data(), x.rows(), x.cols(), panels, panels.length - 1, v, out, threads);
            }
        }
    }

    @Override
    public void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out) {
        try (HostMatrix.Use use = x.use("the cpu backend's multiplySummedInDouble")) {
            checkOpen();
            ComputeBackend.requireProductVectors("multiplySummedInDouble", x, v, out);
            long[] panels = x.panelStarts();
            if (panels == null) {
                falcon_gemv_n_double(x.data(), x.rows(), x.cols(), v, out, threads);
            } else {
                falcon_panel_gemv_n_double(x.data(), x.rows(), x.cols(), panels, panels.length - 1, v, out, threads);
            }
        }
    }

    @Override
    public void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out) {
        try (HostMatrix.Use use = x.use("the cpu backend's multiplyTransposed")) {
            checkOpen();
            ComputeBackend.requireTransposedProductVectors("multiplyTransposed", x, u, out);
            long[] panels = x.panelStarts();
            if (panels == null) {
                falcon_gemv_t(x.data(), x.rows(), x.cols(), u, out, threads);
            } else {
                falcon_panel_gemv_t(x.data(), x.rows(), x.cols(), panels, panels.length - 1, u, out, threads);
            }
        }
    }

    @Override
    public void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out) {
        try (HostMatrix.Use use = x.use("the cpu backend's multiplyTransposedSummedInDouble")) {
            checkOpen();
            ComputeBackend.requireTransposedProductVectors("multiplyTransposedSummedInDouble", x, u, out);
            long[] panels = x.panelStarts();
            if (panels == null) {
                falcon_gemv_t_double(x.data(), x.rows(), x.cols(), u, out, threads);
            } else {
                falcon_panel_gemv_t_double(x.data(), x.rows(), x.cols(), panels, panels.length - 1, u, out, threads);
            }
        }
    }

    @Override
    public void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) {
        try (HostMatrix.Use use = x.use("the cpu backend's blockGramProduct")) {
            checkOpen();
            ComputeBackend.requireBlockGramProductArguments(x, blockStarts, d, out);
            long[] panels = x.panelStarts();
            if (panels == null) {
                falcon_block_gram(x.data(), x.rows(), x.cols(), blockStarts, blockStarts.length - 1, d, out, threads);
            } else {
                falcon_panel_block_gram(x.data(), x.rows(), x.cols(), panels, panels.length - 1, blockStarts,
                        blockStarts.length - 1, d, out, threads);
            }
        }
    }

    @Override
    public void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst) {
        try (HostMatrix.Use use = x.use("the cpu backend's gatherColumns")) {
            checkOpen();
            ComputeBackend.requireGatherArguments(x, columns, k, dst);
            if (k == 0) return;
            long[] panels = x.panelStarts();
            int rc = panels == null ? falcon_gather(x.data(), x.rows(), x.cols(), columns, k, dst, threads)
                    : falcon_panel_gather(x.data(), x.rows(), x.cols(), panels, panels.length - 1, columns, k, dst, threads);
            if (rc != 0) {
                throw new IndexOutOfBoundsException(falcon_last_error());
            }
        }
    }

    // ---------------------------------------------------------------- small dense algebra

    @Override
    public void weightedGram(HostMatrix x, FloatPointer columnWeights, DoublePointer gram) {
        try (HostMatrix.Use use = x.use("the cpu backend's weightedGram")) {
            checkOpen();
            int n = Math.toIntExact(x.rows());
            long p = x.cols();
            boolean nonNegative = ComputeBackend.requireFiniteWeights(columnWeights, p);
            ComputeBackend.requireGram("weightedGram", x, gram);
            new DoublePointer(gram).limit((long) n * n).fill(0);
            if (x.isColumnMajor()) {
                addColumnMajorGram(x.data(), n, p, columnWeights, nonNegative, gram);
            } else if (nonNegative) {
                // Panels: A = [sqrt(w_j) x_j] is widened row-major, straight from the panels' rows (sequential on both
                // sides), and A^T A is one transposed syrk per chunk.
                long[] panels = x.panelStarts();
                long chunk = Math.max(16, Math.min(p, (1L << 22) / n));
                try (DoublePointer a = new DoublePointer(chunk * n)) {
                    long[] next = {0};
                    while (next[0] < p) {
                        long k = falcon_panel_gram_scaled_rows(x.data(), n, p, panels, panels.length - 1, next[0], columnWeights,
                                a, chunk, next, threads);
                        if (k > 0) openblasCall(gramThreads(n), () -> { openblas.cblas_dsyrk(COL_MAJOR, openblas.CblasLower, TRANS, n, (int) k, 1.0, a, (int) k, 1.0, gram, n); return 0; });
                    }
                }
            } else {
                // Panels with signed weights (not a solver case): columns of non-zero weight gathered column-major.
                int chunk = (int) Math.max(16, Math.min(p, (1L << 22) / n));
                java.nio.FloatBuffer all = new FloatPointer(columnWeights).position(0).limit(p).asBuffer();
                try (FloatPointer columns = new FloatPointer((long) chunk * n); IntPointer indices = new IntPointer(chunk);
                     FloatPointer weights = new FloatPointer(chunk)) {
                    long j = 0;
                    while (j < p) {
                        int m = 0;
                        for (; j < p && m < chunk; j++) {
                            float wj = all.get((int) j);
                            if (wj == 0) continue;
                            indices.put(m, (int) j);
                            weights.put(m, wj);
                            m++;
                        }
                        if (m == 0) break;
                        gatherColumns(x, indices, m, columns);
                        addColumnMajorGram(columns, n, m, weights, false, gram);
                    }
                }
            }
            falcon_symmetrize_lower(gram, n);
        }
    }

    /** Lower triangle of gram += sum_j w_j x_j x_j^T over the p columns of a column-major x. */
    private void addColumnMajorGram(FloatPointer x, int n, long p, FloatPointer columnWeights, boolean nonNegative,
                                    DoublePointer gram) {
        long chunk = Math.max(16, Math.min(p, (1L << 22) / n)); // ~32 MB of doubles per operand
        // sum_j w_j x_j x_j^T = A+ A+^T - A- A-^T with A+/- = [sqrt(|w_j|) x_j] over the columns of positive / negative
        // weight: symmetric rank-k updates, half the work of a general product and one widened copy instead of two
        // (a Gram update over the columns two supports differ in has weights +1 and -1).
        try (DoublePointer a = new DoublePointer(chunk * n)) {
            long bytes = chunk * n * Double.BYTES;
            if (bytes >= HUGE_PAGE_VECTOR_BYTES) falcon_advise_huge_pages(a, bytes);
            for (int negative = 0; negative <= (nonNegative ? 0 : 1); negative++) {
                long[] next = {0};
                while (next[0] < p) {
                    long k = falcon_gram_scaled_columns(x, n, next[0], p, columnWeights, negative, a, chunk, next, threads);
                    double alpha = negative == 0 ? 1.0 : -1.0;
                    if (k > 0) openblasCall(gramThreads(n), () -> { openblas.cblas_dsyrk(COL_MAJOR, openblas.CblasLower, NO_TRANS, n, (int) k, alpha, a, n, 1.0, gram, n); return 0; });
                }
            }
        }
    }

    /** Columns per ssyrk: float accumulation stays within a chunk (about 1e-6 relative), chunks are summed in double. */
    static final long SINGLE_PRECISION_GRAM_CHUNK = 16384;

    @Override
    public void singlePrecisionGram(HostMatrix x, DoublePointer gram) {
        try (HostMatrix.Use use = x.use("the cpu backend's singlePrecisionGram")) {
            checkOpen();
            ComputeBackend.requireGram("singlePrecisionGram", x, gram);
            int n = Math.toIntExact(x.rows());
            long p = x.cols();
            long nn = (long) n * n;
            new DoublePointer(gram).limit(nn).fill(0);
            try (FloatPointer part = new FloatPointer(nn)) {
                java.nio.FloatBuffer pb = part.position(0).limit(nn).asBuffer();
                java.nio.DoubleBuffer gb = new DoublePointer(gram).position(0).limit(nn).asBuffer();
                long[] panels = x.panelStarts();
                long[] chunkStarts = panels != null ? panels : uniformStarts(p, SINGLE_PRECISION_GRAM_CHUNK);
                int first = 0;
                while (first + 1 < chunkStarts.length) {
                    // panels are summed in float up to about one chunk's worth of columns, as column-major chunks are
                    int last = first + 1;
                    while (last + 1 < chunkStarts.length && chunkStarts[last + 1] - chunkStarts[first] <= SINGLE_PRECISION_GRAM_CHUNK) last++;
                    for (int k = first; k < last; k++) {
                        long j0 = chunkStarts[k];
                        int width = (int) (chunkStarts[k + 1] - j0);
                        FloatPointer columns = new FloatPointer(x.data()).position(x.data().position() + j0 * n);
                        float beta = k == first ? 0f : 1f;
                        if (panels == null) {
                            openblasCall(gramThreads(n), () -> { openblas.cblas_ssyrk(COL_MAJOR, openblas.CblasLower, NO_TRANS, n, width, 1f, columns, n, beta, part, n); return 0; });
                        } else {
                            // a row-major n x width panel is a column-major width x n matrix A, and X_P X_P^T = A^T A
                            openblasCall(gramThreads(n), () -> { openblas.cblas_ssyrk(COL_MAJOR, openblas.CblasLower, TRANS, n, width, 1f, columns, width, beta, part, n); return 0; });
                        }
                    }
                    for (int c = 0; c < n; c++) {
                        for (int r = c; r < n; r++) gb.put(c * n + r, gb.get(c * n + r) + pb.get(c * n + r));
                    }
                    first = last;
                }
            }
            falcon_symmetrize_lower(gram, n);
        }
    }

    private static long[] uniformStarts(long p, long width) {
        long[] starts = new long[(int) ((p + width - 1) / width) + 1];
        for (int k = 0; k < starts.length; k++) starts[k] = Math.min(p, k * width);
        return starts;
    }

    @Override
    public void choleskyFactor(DoublePointer a, int n) {
        checkOpen();
        ComputeBackend.requireFiniteLowerTriangle(a, n);
        if (n == 0) return; // LAPACKE refuses lda = 0 ("argument 5 is invalid"), which is what n = 0 gives it
        int info = openblasCall(choleskyThreads(n), () -> openblas.LAPACKE_dpotrf(COL_MAJOR, (byte) 'L', n, a, n));
        if (info > 0) {
            throw new ArithmeticException("matrix is not positive definite (leading minor " + info + " of " + n + ")");
        }
        if (info < 0) throw new IllegalArgumentException("dpotrf: argument " + (-info) + " is invalid");
    }

    @Override
    public void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs) {
        checkOpen();
        ComputeBackend.requireCholeskySolveArguments(factor, n, b, nrhs);
        if (n == 0) return; // nothing to solve, and LAPACKE refuses lda = 0 ("dpotrs failed: info -6"), which n = 0 gives it
        // The _work variant skips LAPACKE's NaN scan, which refused a right-hand side that overflowed (info -7, an internal
        // error): like the reference backend, the solve passes non-finite values through, and its callers judge them.
        int info = openblasCall(choleskyThreads(n), () -> openblas.LAPACKE_dpotrs_work(COL_MAJOR, (byte) 'L', n, nrhs, factor, n, b, n));
        if (info != 0) throw new IllegalArgumentException("dpotrs failed: info " + info);
    }

    // ---------------------------------------------------------------- selection kernels

    @Override
    public void sortSegmentsDescending(FloatPointer scores, long[] segmentStarts,
                                       FloatPointer sortedOut, IntPointer indexOut, DoublePointer prefixOut) {
        checkOpen();
        long count = ComputeBackend.requireSortArguments(scores, segmentStarts, sortedOut, indexOut, prefixOut);
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("at most 2^31 - 1 scores (int indices)");
        }
        long[] bad = new long[1];
        int rc;
        // the kernel sorts its 4- and 8-byte items in the prefix slots before it sums into them: scratch when none is asked for
        try (DoublePointer scratch = prefixOut != null ? null : new DoublePointer(Math.max(1, count))) {
            rc = falcon_sort_segments(scores, segmentStarts, segmentStarts.length - 1, sortedOut, indexOut,
                    prefixOut != null ? prefixOut : scratch, threads, bad);
        }
        if (rc == -2) throw new OutOfMemoryError(falcon_last_error());
        if (rc != 0) {
            float v = scores.get(bad[0]);
            throw new IllegalArgumentException("score " + bad[0] + " is " + v + "; scores must be finite and >= 0");
        }
    }

    @Override
    public void countAbove(FloatPointer sorted, long[] segmentStarts, double[] thresholds, long[] counts) {
        checkOpen();
        int segments = ComputeBackend.requireCountAboveArguments(sorted, segmentStarts, thresholds, counts);
        falcon_count_above(sorted, segmentStarts, segments, thresholds, counts);
    }

    @Override
    public void close() {
        closed = true; // no pools or scratch kept between calls: every kernel frees what it allocates
    }
}
