package dev.falcon.cuda;

import static dev.falcon.cuda.CudaNative.check;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ExclusiveUse;
import dev.falcon.backend.JavaBackend;
import dev.falcon.cpu.CpuBackendProvider;
import dev.falcon.cuda.nativelib.FalconCuda;
import dev.falcon.data.HostMatrix;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cusolver.cusolverDnContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cusolver;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The CUDA backend. cuBLAS does the product X^T u (gemv) and the Gram (dsyrk on widened chunks; dgemm when a
 * weight is negative), cuSOLVER
 * the Cholesky factor and solves (potrf/potrs), falcon's kernels the product X v (summed in double), the block-fused
 * product, gathers and the segmented sort, prefix sums and threshold counts. Host-side work (loading, fills) runs on the native CPU
 * backend (or the java reference when that cannot load).
 *
 * <p>X is planned per matrix ({@link DeviceMemoryPlan}): resident on the device when it fits, else streamed in
 * column chunks through two pinned buffers on two streams. A resident copy is made on first use of a
 * {@link HostMatrix} and kept until a matrix at least as large is used or {@link #close()} (work on a smaller one,
 * such as the solver's gathered columns, runs on the host backend rather than evict X). A change of X's contents made
 * inside {@link HostMatrix#write} (as every backend's {@code fillSyntheticGradients} is) changes its version, and the
 * next call copies X again ({@link ResidentCopy}); one made through {@code data()} outside a write() is not seen.
 * Every device buffer, stream and handle is freed by {@link #close()}. Not thread-safe (the resident X and the
 * scratch buffers are shared by every call): use an instance from one thread at a time; overlapping calls from two
 * threads are refused, not run.
 */
public final class CudaBackend extends HostSideCalls {
    private static final System.Logger LOG = System.getLogger(CudaBackend.class.getName());
    /**
     * How a device refuses a cluster launch: cudaErrorNotSupported (no clusters: compute capability below 9.0),
     * cudaErrorInvalidClusterSize (16 where only 8 is portable), cudaErrorLaunchOutOfResources.
     */
    static final Set<Integer> CLUSTER_LAUNCH_REFUSED = Set.of(801, 912, 701);

    private final int threads;
    private final ComputeBackend host;
    private final Pointer[] streams = new Pointer[2];
    private final CUstream_st[] cuStreams = new CUstream_st[2];
    /**
     * One cuBLAS handle per stream, bound once: cuBLAS promises bit-wise reproducible results only with one stream active
     * per handle (with several concurrent streams on one handle it may pick different internal workspaces), and the
     * products and Grams run on both streams at once.
     */
    private final cublasContext[] blas = {new cublasContext(), new cublasContext()};
    private final cusolverDnContext solver = new cusolverDnContext();
    private final Map<String, DeviceBuffer> scratch = new HashMap<>();
    private final List<DeviceBuffer> pinned = new ArrayList<>();
    private HostMatrix residentOf;
    /** The X and the version of its contents that the resident copy (or the streamed plan) was made from. */
    private ResidentCopy copied;
    private DeviceBuffer residentX;
    private DeviceMemoryPlan plan;
    private volatile boolean closed;
    // the resident X, the scratch and pinned buffers and the two streams are shared by every call
    private final ExclusiveUse exclusive = new ExclusiveUse("the cuda backend");
    private boolean loggedWideBlocks;
    /** The block product's kernel: the configured one, or {@link BlockGramKernel#WARP} where clusters cannot launch. */
    private BlockGramKernel blockKernel;
    /** Dynamic shared memory per CUDA block of the sliced kernels: the device's opt-in maximum. */
    private long sliceSharedBytes = -1;
    private long loggedLargeN = -1;
    /** Whether a matrix smaller than the resident X runs on the host backend ({@link #runsOnHost}); off only in tests. */
    private final boolean routeSmallerMatricesToHost;
    /** The free device memory X is planned with: cudaMemGetInfo's, or less in a test that streams X. */
    private final PlannedFreeBytes plannedFree;
    /** Products, gathers and Grams of X that ran on the host backend instead of the device, for tests. */
    private long hostRuns;
    /** Bytes the calls copied from the device back to the host, for tests. */
    private long bytesCopiedToHost;

    CudaBackend(int threads) {
        this(threads, BlockGramKernel.configured());
    }

    CudaBackend(int threads, BlockGramKernel blockKernel) {
        this(threads, blockKernel, true);
    }

    /**
     * {@code routeSmallerMatricesToHost = false}: every matrix is made resident in turn, each evicting the last, so that
     * a test of the device's answers runs them all on the device (the contract suite keeps its earlier, larger matrices
     * open, and the routing would send the later, smaller ones to the host backend).
     */
    CudaBackend(int threads, BlockGramKernel blockKernel, boolean routeSmallerMatricesToHost) {
        this(threads, blockKernel, routeSmallerMatricesToHost, PlannedFreeBytes.REPORTED);
    }

    /**
     * {@code plannedFree}: the free device memory each X is planned with; {@link PlannedFreeBytes#streamingIn} makes a
     * test's X streamed in chunks of a few columns, the path an X larger than the device takes.
     */
    CudaBackend(int threads, BlockGramKernel blockKernel, boolean routeSmallerMatricesToHost, PlannedFreeBytes plannedFree) {
        this.blockKernel = blockKernel;
        this.routeSmallerMatricesToHost = routeSmallerMatricesToHost;
        this.plannedFree = plannedFree;
        this.threads = Math.max(1, threads);
        ComputeBackend h;
        CpuBackendProvider cpu = new CpuBackendProvider();
        // a misconfigured cpu backend is refused by its create, not replaced by the java one on the host side
        h = cpu.probe().usable() || cpu.probe().misconfigured() ? cpu.create(this.threads) : new JavaBackend();
        this.host = h;
        try {
            check(FalconCuda.fcu_set_device(0), "cudaSetDevice(0)");
            for (int s = 0; s < 2; s++) {
                try (PointerPointer<?> out = new PointerPointer<>(1)) {
                    check(FalconCuda.fcu_stream_create(out), "cudaStreamCreate");
                    streams[s] = out.get(0);
                    cuStreams[s] = new CUstream_st(streams[s]);
                }
            }
            for (int s = 0; s < 2; s++) {
                blasCheck(cublas.cublasCreate_v2(blas[s]), "cublasCreate");
                blasCheck(cublas.cublasSetStream_v2(blas[s], cuStreams[s]), "cublasSetStream");
            }
            solverCheck(cusolver.cusolverDnCreate(solver), "cusolverDnCreate");
            solverCheck(cusolver.cusolverDnSetStream(solver, cuStreams[0]), "cusolverDnSetStream");
        } catch (RuntimeException | Error e) { // a LinkageError from a preset or an OutOfMemoryError leaks the handles too
            close();
            throw e;
        }
    }

    @Override public String name() { return "cuda"; }

    @Override public int threads() { return threads; }

    /** The host backend's: the calls that run on the host go through its OpenBLAS. */
    @Override public int openBlasThreads() { return host.openBlasThreads(); }

    @Override
    public String description() {
        return "cuda: " + new CudaBackendProvider().probe().facts().getOrDefault("device", "?")
                + ", cuBLAS/cuSOLVER + falcon kernels (block product: " + blockKernel.id() + "); host side " + host.name();
    }

    // ---------------------------------------------------------------- host-side work

    // loading, allocating and the host's scans and fills: HostSideCalls, which checks this backend first

    @Override
    public void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed) {
        // it may release the resident copy of X, which another thread's call could be reading
        try (ExclusiveUse.Scope call = exclusive.enter("fillSyntheticGradients")) {
            checkOpen();
            ComputeBackend.requireSyntheticRank(rank); // before the resident copy goes, not only in the host
            if (x == residentOf) releaseResident();
            host.fillSyntheticGradients(x, rank, noise, seed);
        }
    }

    // ---------------------------------------------------------------- memory

    /** The plan for X, making X resident when it fits. Public for logs and tests on a GPU. */
    public DeviceMemoryPlan prepare(HostMatrix x) {
        try (ExclusiveUse.Scope call = exclusive.enter("prepare"); HostMatrix.Use use = x.use("the cuda backend's prepare")) {
            return prepareOnDevice(x);
        }
    }

    private DeviceMemoryPlan prepareOnDevice(HostMatrix x) {
        checkOpen();
        if (plan != null && copied != null && copied.isCurrentFor(x)) return plan;
        x.requireColumnMajor("the cuda backend");
        releaseResident();
        // before the copy: a write that ends during it leaves the copy older than X, and the next call copies again
        ResidentCopy taking = ResidentCopy.of(x);
        long[] free = {0}, total = {0};
        Map<String, Long> held = scratchOfTheWorkingSet();
        check(FalconCuda.fcu_mem_info(free, total), "cudaMemGetInfo");
        DeviceMemoryPlan p = plan(x.rows(), x.cols(), free[0], held, true, plannedFree);
        if (p.mode() == DeviceMemoryPlan.Mode.RESIDENT) {
            try {
                residentX = DeviceBuffer.device(x.bytes());
                residentX.copyFromHost(x.data(), x.bytes(), "copying X to the device");
            } catch (CudaNative.DeviceMemoryException e) { // the planned fallback
                if (residentX != null) residentX.close();
                residentX = null;
                check(FalconCuda.fcu_mem_info(free, total), "cudaMemGetInfo");
                p = plan(x.rows(), x.cols(), free[0], held, false, plannedFree);
                LOG.log(System.Logger.Level.INFO, "X did not fit after all (" + e.getMessage() + "): " + p.describe());
            }
        }
        if (p.mode() == DeviceMemoryPlan.Mode.TOO_LARGE) throw new CudaNative.DeviceMemoryException(p.describe());
        LOG.log(System.Logger.Level.DEBUG, p.describe());
        residentOf = x;
        copied = taking;
        plan = p;
        return p;
    }

    /**
     * The plan for X of n x p with cudaMemGetInfo's {@code reportedFreeBytes} taken as {@code plannedFree} takes it, and
     * the scratch held ({@link #scratchOfTheWorkingSet}) credited per buffer.
     */
    static DeviceMemoryPlan plan(long n, long p, long reportedFreeBytes, Map<String, Long> held, boolean allowResident,
                                 PlannedFreeBytes plannedFree) {
        long heldWork = DeviceMemoryPlan.reusableHeldBytes(n, p, held);
        return DeviceMemoryPlan.plan(n, p, plannedFree.of(n, p, reportedFreeBytes, heldWork), heldWork, allowResident);
    }

    /**
     * Bytes of each scratch buffer this backend holds, by key, which cudaMemGetInfo reports as used and the plan's working
     * set counts again where this X reuses them: the plan credits back, per key, what each spares of this X's buffer of
     * that key (multiply takes its vectors before forEachChunk plans X, and a selection's sort keeps 28 bytes per weight;
     * an earlier, larger X's buffers are credited only up to this X's sizes). The streamed chunk buffers of an earlier X
     * are not part of the working set: they are freed here (only forEachChunk uses them, and only after planning), so they
     * neither count as held nor stay allocated beside a resident X. Other held buffers stay: a call may have taken them
     * before it planned X (multiply's v, weightedGram's gram), and buffer() hands them out again when big enough.
     */
    private Map<String, Long> scratchOfTheWorkingSet() {
        for (int s = 0; s < 2; s++) {
            DeviceBuffer chunk = scratch.remove(CHUNK_KEY + s);
            if (chunk != null) chunk.close();
        }
        Map<String, Long> bytes = new HashMap<>();
        scratch.forEach((key, b) -> bytes.put(key, b.bytes()));
        return bytes;
    }

    /** Key prefix of the streamed chunks' device buffers in {@link #scratch} (one per stream). */
    private static final String CHUNK_KEY = "chunk";

    /**
     * Whether work on x goes to the host backend: x is smaller than the matrix resident on the device (or streamed
     * through it). The solver keeps making small matrices out of X (gathered columns, a block, a support's rows); making
     * one of them resident would evict X, and the next product with X would copy all of it to the device again (about
     * 80 ms per 2 GB over PCIe, per block of a block backsolve). On the host these small matrices cost far less.
     */
    private boolean runsOnHost(HostMatrix x) {
        boolean onHost = runsOnHost(x, residentOf, routeSmallerMatricesToHost);
        if (onHost) hostRuns++;
        return onHost;
    }

    static boolean runsOnHost(HostMatrix x, HostMatrix resident, boolean routeSmallerMatricesToHost) {
        return routeSmallerMatricesToHost && resident != null && x != resident && !resident.isClosed() && x.bytes() < resident.bytes();
    }

    /** How many products, gathers and Grams of a matrix ran on the host backend rather than the device so far. */
    long hostRuns() { return hostRuns; }

    /** How many bytes the calls so far copied from the device back to the host (the Cholesky's info words aside). */
    long bytesCopiedToHost() { return bytesCopiedToHost; }

    private void releaseResident() {
        if (residentX != null) residentX.close();
        residentX = null;
        residentOf = null;
        copied = null;
        plan = null;
    }

    /** A scratch device buffer of at least {@code bytes}, reused across calls. */
    private DeviceBuffer buffer(String key, long bytes) {
        DeviceBuffer b = scratch.get(key);
        if (b != null && b.bytes() >= bytes) return b;
        if (b != null) b.close();
        scratch.remove(key);
        b = DeviceBuffer.device(Math.max(bytes, 8));
        scratch.put(key, b);
        return b;
    }

    private DeviceBuffer pinnedBuffer(int s, long bytes) {
        while (pinned.size() < 2) pinned.add(null);
        DeviceBuffer b = pinned.get(s);
        if (b != null && b.bytes() >= bytes) return b;
        // Emptied before the new allocation: if that fails, the slot must not keep the freed buffer, which a later,
        // smaller request would otherwise take and write into.
        pinned.set(s, null);
        if (b != null) b.close();
        b = DeviceBuffer.pinnedHost(bytes);
        pinned.set(s, b);
        return b;
    }

    private DeviceBuffer upload(String key, Pointer src, long bytes) {
        DeviceBuffer b = buffer(key, bytes);
        b.copyFromHost(src, bytes, "copy to device");
        return b;
    }

    private void download(Pointer dst, DeviceBuffer src, long bytes) {
        src.copyToHost(dst, bytes, "copy to host");
        bytesCopiedToHost += bytes;
    }

    /**
     * The same memory with position 0: JavaCPP offsets a {@code void*} argument by its position in bytes, not
     * in elements, so typed pointers with a position are made absolute before raw copies.
     */
    static Pointer absolute(Pointer p) {
        if (p.position() == 0) return p;
        Pointer q = p.getPointer(p.position());
        return q.position(0);
    }

    private void syncAll() {
        for (Pointer s : streams) check(FalconCuda.fcu_stream_sync(s), "cudaStreamSynchronize");
    }

    /** Work on one chunk of columns [c0, c1) of X, whose device copy starts at {@code dChunk} (column c0). */
    private interface ChunkWork {
        void run(int stream, FloatPointer dChunk, long c0, long c1);
    }

    /**
     * Runs {@code work} over column chunks: resident X in one pass (or in chunks of {@code maxColumns}), streamed
     * X through pinned buffers, chunk i on stream i % 2 so the copy of one overlaps the compute of the other.
     * {@code boundaries} (nullable) lists the only columns where chunks may be cut (block starts).
     */
    private void forEachChunk(HostMatrix x, long[] boundaries, long maxColumns, ChunkWork work) {
        DeviceMemoryPlan p = prepare(x);
        long n = x.rows(), cols = x.cols();
        boolean streamed = p.mode() == DeviceMemoryPlan.Mode.STREAMED;
        long limit = Math.max(1, Math.min(maxColumns, streamed ? p.chunkColumns() : cols));
        List<long[]> chunks;
        try {
            chunks = chunks(cols, limit, boundaries, !streamed);
        } catch (IllegalStateException e) {
            throw new CudaNative.DeviceMemoryException(e.getMessage() + ": " + p.describe());
        }
        for (int chunk = 0; chunk < chunks.size(); chunk++) {
            long c0 = chunks.get(chunk)[0], c1 = chunks.get(chunk)[1];
            int s = chunk & 1;
            FloatPointer dChunk;
            if (!streamed) {
                dChunk = residentX.floats(c0 * n);
            } else {
                long bytes = (c1 - c0) * n * Float.BYTES;
                check(FalconCuda.fcu_stream_sync(streams[s]), "cudaStreamSynchronize"); // buffers s free again
                DeviceBuffer stage = pinnedBuffer(s, p.chunkBytes());
                DeviceBuffer dev = buffer(CHUNK_KEY + s, p.chunkBytes());
                Pointer.memcpy(stage.pointer(), absolute(x.data()).getPointer(c0 * n), bytes);
                check(FalconCuda.fcu_copy_async(dev.pointer(), stage.pointer(), bytes, streams[s]), "cudaMemcpyAsync");
                dChunk = dev.floats(0);
            }
            work.run(s, dChunk, c0, c1);
        }
        syncAll();
    }

    /**
     * Column chunks [c0, c1) covering [0, cols), each at most {@code limit} wide; with {@code boundaries} (block
     * starts) chunks end only on boundaries, taking as many whole blocks as fit. A block wider than the limit is
     * one chunk of its own when {@code allowLongBlocks} (resident X), else an error (a streamed chunk cannot hold it).
     */
    static List<long[]> chunks(long cols, long limit, long[] boundaries, boolean allowLongBlocks) {
        List<long[]> result = new ArrayList<>();
        long c0 = 0;
        int bi = 0;
        while (c0 < cols) {
            long c1 = Math.min(cols, c0 + limit);
            if (boundaries != null) { // cut at the last block start <= c0 + limit that is > c0
                long cut = -1;
                while (bi < boundaries.length && boundaries[bi] <= c0) bi++;
                for (int b = bi; b < boundaries.length && boundaries[b] <= c0 + limit; b++) cut = boundaries[b];
                if (cut < 0) {
                    if (!allowLongBlocks) {
                        throw new IllegalStateException("a block of " + (boundaries[bi] - c0)
                                + " columns does not fit the streaming chunk of " + limit + " columns");
                    }
                    cut = boundaries[bi];
                }
                c1 = cut;
            }
            result.add(new long[] {c0, c1});
            c0 = c1;
        }
        return result;
    }

    /** Columns of the widest block [starts[b], starts[b+1]). */
    static long widestBlock(long[] starts) {
        long widest = 0;
        for (int b = 0; b + 1 < starts.length; b++) widest = Math.max(widest, starts[b + 1] - starts[b]);
        return widest;
    }

    // ---------------------------------------------------------------- products with X

    @Override
    public void multiply(HostMatrix x, FloatPointer v, FloatPointer out) {
        try (ExclusiveUse.Scope call = exclusive.enter("multiply"); HostMatrix.Use use = x.use("the cuda backend's multiply")) {
            multiplyOnDevice(x, v, out);
        }
    }

    private void multiplyOnDevice(HostMatrix x, FloatPointer v, FloatPointer out) {
        checkOpen();
        ComputeBackend.requireProductVectors("multiply", x, v, out);
        if (runsOnHost(x)) {
            host.multiply(x, v, out);
            return;
        }
        int n = Math.toIntExact(x.rows());
        ProductScratch product = productScratch(x, v);
        DeviceBuffer acc = product.acc();
        DeviceBuffer dOut = buffer("product", (long) n * Float.BYTES);
        boolean[] started = accumulateProduct(x, product);
        if (started[0]) {
            check(FalconCuda.fcu_sum_to_float(acc.doubles(0), started[1] ? acc.doubles(n) : null, n, dOut.floats(0), streams[0]),
                    "product kernel");
            check(FalconCuda.fcu_stream_sync(streams[0]), "cudaStreamSynchronize");
        } else {
            check(zeroFill(dOut, n), "zeroing");
        }
        download(out, dOut, (long) n * Float.BYTES);
    }

    /** The device buffers of a product X v: v, the two streams' double accumulators (2n) and their slices' partials. */
    private record ProductScratch(DeviceBuffer v, DeviceBuffer acc, DeviceBuffer partial) {}

    /** Taken before forEachChunk plans X, as the plan counts them (see {@link #scratchOfTheWorkingSet}). */
    private ProductScratch productScratch(HostMatrix x, FloatPointer v) {
        int n = Math.toIntExact(x.rows());
        DeviceBuffer dV = upload("v", v, x.cols() * Float.BYTES);
        DeviceBuffer acc = buffer("productAcc", 2L * n * Double.BYTES);
        return new ProductScratch(dV, acc, buffer("productPartial", DeviceMemoryPlan.productPartialBytes(n)));
    }

    /**
     * The two streams' accumulators of X v (stream s's at s * n of its acc); returns which streams started
     * theirs (a stream with no chunk leaves its accumulator unwritten). Not cublasSgemv: it would sum all p products of
     * a row in float. falcon's kernel sums slices of columns in double and adds them in double.
     */
    private boolean[] accumulateProduct(HostMatrix x, ProductScratch product) {
        int n = Math.toIntExact(x.rows());
        long partialPerStream = DeviceMemoryPlan.GEMV_MAX_SLICES * n;
        boolean[] started = new boolean[2];
        forEachChunk(x, null, Integer.MAX_VALUE, (s, dChunk, c0, c1) -> {
            check(FalconCuda.fcu_gemv_n_accumulate(dChunk, n, c1 - c0, product.v().floats(c0),
                    product.partial().doubles(s * partialPerStream), product.acc().doubles((long) s * n), started[s] ? 0 : 1,
                    streams[s]), "product kernel");
            started[s] = true;
        });
        return started;
    }

    /**
     * The product's two double accumulators are copied to the host as they are and added there, in double, as
     * fcu_sum_to_float adds them before its rounding: the objective squares these residuals, and rounded to float
     * its fit term was 1e-7 off. 2n doubles, no pass over X beyond multiply's.
     */
    @Override
    public void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out) {
        try (ExclusiveUse.Scope call = exclusive.enter("multiplySummedInDouble");
             HostMatrix.Use use = x.use("the cuda backend's multiplySummedInDouble")) {
            checkOpen();
            ComputeBackend.requireProductVectors("multiplySummedInDouble", x, v, out);
            if (runsOnHost(x)) {
                host.multiplySummedInDouble(x, v, out);
                return;
            }
            int n = Math.toIntExact(x.rows());
            ProductScratch product = productScratch(x, v);
            boolean[] started = accumulateProduct(x, product);
            try (DoublePointer both = new DoublePointer(2L * n)) {
                if (started[0]) download(both, product.acc(), (started[1] ? 2L : 1L) * n * Double.BYTES);
                for (int i = 0; i < n; i++) {
                    double a = started[0] ? both.get(i) : 0;
                    out.put(i, started[1] ? a + both.get(n + i) : a);
                }
            }
        }
    }

    private int zeroFill(DeviceBuffer b, long floats) {
        try (FloatPointer zeros = new FloatPointer(Math.max(1, floats))) {
            zeros.zero();
            return FalconCuda.fcu_copy(b.pointer(), zeros, floats * Float.BYTES);
        }
    }

    @Override
    public void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out) {
        try (ExclusiveUse.Scope call = exclusive.enter("multiplyTransposed"); HostMatrix.Use use = x.use("the cuda backend's multiplyTransposed")) {
            multiplyTransposedOnDevice(x, u, out);
        }
    }

    private void multiplyTransposedOnDevice(HostMatrix x, FloatPointer u, FloatPointer out) {
        checkOpen();
        ComputeBackend.requireTransposedProductVectors("multiplyTransposed", x, u, out);
        if (runsOnHost(x)) {
            host.multiplyTransposed(x, u, out);
            return;
        }
        int n = Math.toIntExact(x.rows());
        long p = x.cols();
        DeviceBuffer dU = upload("u", u, (long) n * Float.BYTES);
        DeviceBuffer dOut = buffer("out", p * Float.BYTES);
        try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f)) {
            // cuBLAS's 32-bit API takes sizes in int and does not promise 64-bit offsets inside one call: each call
            // covers fewer than 2^31 elements of X (ResNet50 at n = 512 holds 1.3e10), at no cost when it is one.
            forEachChunk(x, null, Integer.MAX_VALUE / n, (s, dChunk, c0, c1) -> {
                blasCheck(cublas.cublasSgemv_v2(blas[s], cublas.CUBLAS_OP_T, n, Math.toIntExact(c1 - c0), one, dChunk, n,
                        dU.floats(0), 1, zero, dOut.floats(c0), 1), "cublasSgemv");
            });
        }
        download(out, dOut, p * Float.BYTES);
    }

    /**
     * Our own kernel, not cuBLAS: sgemv would round u to float and sum in float, what this product avoids (the Woodbury
     * backsolve near a singular system). One warp per column, sums in double; n doubles up, p doubles back.
     */
    @Override
    public void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out) {
        try (ExclusiveUse.Scope call = exclusive.enter("multiplyTransposedSummedInDouble");
             HostMatrix.Use use = x.use("the cuda backend's multiplyTransposedSummedInDouble")) {
            checkOpen();
            ComputeBackend.requireTransposedProductVectors("multiplyTransposedSummedInDouble", x, u, out);
            if (runsOnHost(x)) {
                host.multiplyTransposedSummedInDouble(x, u, out);
                return;
            }
            int n = Math.toIntExact(x.rows());
            long p = x.cols();
            DeviceBuffer dU = upload("uDouble", u, (long) n * Double.BYTES);
            DeviceBuffer dOut = buffer("outDouble", p * Double.BYTES);
            forEachChunk(x, null, Integer.MAX_VALUE, (s, dChunk, c0, c1) -> {
                check(FalconCuda.fcu_gemv_t_double(dChunk, n, c1 - c0, dU.doubles(0), dOut.doubles(c0), streams[s]),
                        "transposed product kernel");
            });
            download(out, dOut, p * Double.BYTES);
        }
    }

    @Override
    public void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) {
        try (ExclusiveUse.Scope call = exclusive.enter("blockGramProduct"); HostMatrix.Use use = x.use("the cuda backend's blockGramProduct")) {
            blockGramProductOnDevice(x, blockStarts, d, out);
        }
    }

    private void blockGramProductOnDevice(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) {
        checkOpen();
        ComputeBackend.requireBlockGramProductArguments(x, blockStarts, d, out);
        if (runsOnHost(x)) {
            host.blockGramProduct(x, blockStarts, d, out);
            return;
        }
        DeviceMemoryPlan plan = prepare(x);
        if (plan.mode() == DeviceMemoryPlan.Mode.STREAMED && widestBlock(blockStarts) > plan.chunkColumns()) {
            // A streamed chunk must hold whole blocks for the fused kernel; the host backend streams X from host memory
            // once instead of failing on a --block-size that every other backend accepts.
            if (!loggedWideBlocks) {
                loggedWideBlocks = true;
                LOG.log(System.Logger.Level.INFO, "block product on the host (" + host.name() + "): a block of "
                        + widestBlock(blockStarts) + " columns is wider than a streamed chunk; " + plan.describe());
            }
            hostRuns++;
            host.blockGramProduct(x, blockStarts, d, out);
            return;
        }
        long n = x.rows(), p = x.cols();
        DeviceBuffer dD = upload("d", d, p * Float.BYTES);
        DeviceBuffer dOut = buffer("out", p * Float.BYTES);
        DeviceBuffer dStarts;
        try (LongPointer starts = new LongPointer(blockStarts)) {
            dStarts = upload("starts", starts, (long) blockStarts.length * Long.BYTES);
        }
        long grid = DeviceMemoryPlan.blockGramGrid(blockStarts.length - 1);
        if (sliceSharedBytes < 0) {
            long[] bytes = {0};
            check(FalconCuda.fcu_max_shared_bytes(bytes), "cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)");
            sliceSharedBytes = bytes[0];
        }
        // X of very many rows: the sliced kernels' sums no longer fit in shared memory, the tree kernel's live in device memory
        BlockGramKernel[] kernel = {blockKernel.sumsSharedBytes(n) > sliceSharedBytes ? BlockGramKernel.TREE : blockKernel};
        if (kernel[0] != blockKernel && loggedLargeN != n) {
            loggedLargeN = n;
            LOG.log(System.Logger.Level.INFO, "block product kernel " + blockKernel.id() + " would keep 8 (2 + G) n bytes of"
                    + " sums in shared memory, more than the device's " + sliceSharedBytes + " bytes at n = " + n + ": using "
                    + BlockGramKernel.TREE.id() + " for this X");
        }
        DeviceBuffer dScratch = kernel[0] == BlockGramKernel.TREE
                ? buffer("blockScratch", DeviceMemoryPlan.blockGramScratchBytes(n, blockStarts.length - 1)) : null;
        int[] b0 = {0};
        forEachChunk(x, blockStarts, Integer.MAX_VALUE, (s, dChunk, c0, c1) -> {
            while (blockStarts[b0[0]] < c0) b0[0]++;
            int b1 = b0[0];
            while (blockStarts[b1] < c1) b1++;
            // The kernel indexes X by absolute column: hand it the chunk's base shifted back by c0 columns.
            FloatPointer xBase = new FloatPointer(dChunk).position(dChunk.position() - c0 * n);
            Pointer starts = absolute(dStarts.longs(b0[0]));
            DoublePointer treeScratch = dScratch == null ? null : dScratch.doubles(s * grid * n);
            int err = kernel[0].launch(xBase, n, starts, b1 - b0[0], dD.floats(0), dOut.floats(0), treeScratch, (int) grid,
                    sliceSharedBytes, streams[s]);
            if (kernel[0].needsClusters() && CLUSTER_LAUNCH_REFUSED.contains(err)) {
                LOG.log(System.Logger.Level.INFO, "block product kernel " + kernel[0].id() + " needs thread block clusters of "
                        + kernel[0].slices() + " (compute capability 9.0 and up, and falcon's kernels built for sm_90 or"
                        + " later: -Dfalcon.cuda.archs), which were refused here ("
                        + FalconCuda.fcu_error_string(err) + "): using " + BlockGramKernel.WARP.id());
                blockKernel = kernel[0] = BlockGramKernel.WARP;
                err = kernel[0].launch(xBase, n, starts, b1 - b0[0], dD.floats(0), dOut.floats(0), null, 0,
                        sliceSharedBytes, streams[s]);
            }
            check(err, "block product kernel (" + kernel[0].id() + ")");
            b0[0] = b1;
        });
        download(out, dOut, p * Float.BYTES);
    }

    @Override
    public void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst) {
        try (ExclusiveUse.Scope call = exclusive.enter("gatherColumns"); HostMatrix.Use use = x.use("the cuda backend's gatherColumns")) {
            gatherColumnsOnDevice(x, columns, k, dst);
        }
    }

    private void gatherColumnsOnDevice(HostMatrix x, IntPointer columns, long k, FloatPointer dst) {
        checkOpen();
        ComputeBackend.requireGatherArguments(x, columns, k, dst);
        if (runsOnHost(x)) {
            host.gatherColumns(x, columns, k, dst);
            return;
        }
        for (long c = 0; c < k; c++) {
            int j = columns.get(c);
            if (j < 0 || j >= x.cols()) throw new IndexOutOfBoundsException("column " + j + " of " + x.cols());
        }
        if (k == 0) return;
        if (prepare(x).mode() != DeviceMemoryPlan.Mode.RESIDENT) { // streamed X: the gather is a host copy
            hostRuns++;
            host.gatherColumns(x, columns, k, dst);
            return;
        }
        long n = x.rows();
        // In passes of bounded size: the solver gathers whole active sets, whose columns can be a large fraction of X and
        // would not fit next to it in one device buffer.
        long perPass = DeviceMemoryPlan.gatherChunkColumns(n, k);
        DeviceBuffer dCols = buffer("columns", perPass * Integer.BYTES);
        DeviceBuffer dDst = buffer("gather", perPass * n * Float.BYTES);
        Pointer allColumns = absolute(columns), allDst = absolute(dst);
        for (long[] pass : chunks(k, perPass, null, false)) {
            long m = pass[1] - pass[0];
            check(FalconCuda.fcu_copy(dCols.pointer(), allColumns.getPointer(pass[0]), m * Integer.BYTES), "copy to device");
            check(FalconCuda.fcu_gather(residentX.floats(0), n, dCols.ints(0), m, dDst.floats(0), streams[0]), "gather kernel");
            check(FalconCuda.fcu_stream_sync(streams[0]), "cudaStreamSynchronize");
            download(allDst.getPointer(pass[0] * n), dDst, m * n * Float.BYTES);
        }
    }

    // ---------------------------------------------------------------- small dense algebra

    @Override
    public void weightedGram(HostMatrix x, FloatPointer columnWeights, DoublePointer gram) {
        try (ExclusiveUse.Scope call = exclusive.enter("weightedGram"); HostMatrix.Use use = x.use("the cuda backend's weightedGram")) {
            weightedGramOnDevice(x, columnWeights, gram);
        }
    }

    private void weightedGramOnDevice(HostMatrix x, FloatPointer columnWeights, DoublePointer gram) {
        checkOpen();
        ComputeBackend.requireGram("weightedGram", x, gram);
        if (runsOnHost(x)) {
            host.weightedGram(x, columnWeights, gram);
            return;
        }
        DeviceMemoryPlan.requireDenseSystemRows("weightedGram", x.rows());
        int n = Math.toIntExact(x.rows());
        long p = x.cols();
        // Weights >= 0 (always so for the solver's 0/1 supports): sum_j w_j x_j x_j^T = A A^T with A = [sqrt(w_j) x_j],
        // one dsyrk per chunk (lower triangle, half the work of dgemm); a negative weight needs the dgemm on A and B.
        // Checked before anything reaches the device.
        boolean symmetricRankK = ComputeBackend.requireFiniteWeights(columnWeights, p);
        long nn = (long) n * n;
        long chunk = DeviceMemoryPlan.gramChunkColumns(n, p);
        DeviceBuffer dW = columnWeights == null ? null : upload("w", columnWeights, p * Float.BYTES);
        DeviceBuffer dG = buffer("gram", 2 * nn * Double.BYTES);
        DeviceBuffer wide = buffer("wide", DeviceMemoryPlan.gramWideBytes(n, p));
        boolean[] started = new boolean[2];
        try (DoublePointer one = new DoublePointer(1.0); DoublePointer zero = new DoublePointer(0.0)) {
            forEachChunk(x, null, chunk, (s, dChunk, c0, c1) -> {
                long k = c1 - c0;
                DoublePointer a = wide.doubles((long) s * 2 * chunk * n), b = wide.doubles(((long) s * 2 + 1) * chunk * n);
                FloatPointer w = dW == null ? null : dW.floats(c0);
                if (symmetricRankK) {
                    check(FalconCuda.fcu_widen_sqrt_weighted(dChunk, n, k, w, a, streams[s]), "widen kernel");
                } else {
                    check(FalconCuda.fcu_widen_weighted(dChunk, n, k, w, a, b, streams[s]), "widen kernel");
                }
                if (symmetricRankK) {
                    blasCheck(cublas.cublasDsyrk_v2(blas[s], cublas.CUBLAS_FILL_MODE_LOWER, cublas.CUBLAS_OP_N, n, Math.toIntExact(k), one,
                            a, n, started[s] ? one : zero, dG.doubles(s * nn), n), "cublasDsyrk");
                } else {
                    blasCheck(cublas.cublasDgemm_v2(blas[s], cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_T, n, n, Math.toIntExact(k), one,
                            a, n, b, n, started[s] ? one : zero, dG.doubles(s * nn), n), "cublasDgemm");
                }
                started[s] = true;
            });
            if (started[1]) {
                // daxpy takes its count in an int: in pieces of fewer than 2^31, whatever n the refusal above lets through
                for (long[] piece : chunks(nn, Integer.MAX_VALUE, null, false)) {
                    blasCheck(cublas.cublasDaxpy_v2(blas[0], Math.toIntExact(piece[1] - piece[0]), one, dG.doubles(nn + piece[0]), 1,
                            dG.doubles(piece[0]), 1), "cublasDaxpy");
                }
            }
            syncAll();
        }
        if (!started[0]) {
            new DoublePointer(gram).limit(gram.position() + nn).fill(0); // the n x n from gram's position, as download() writes it
            return;
        }
        download(gram, dG, nn * Double.BYTES);
        for (int b = 0; b < n; b++) { // both triangles from the lower one, exactly symmetric
            for (int a = 0; a < b; a++) gram.put((long) b * n + a, gram.get((long) a * n + b));
        }
    }

    @Override
    public void choleskyFactor(DoublePointer a, int n) {
        try (ExclusiveUse.Scope call = exclusive.enter("choleskyFactor")) {
            choleskyFactorOnDevice(a, n);
        }
    }

    private void choleskyFactorOnDevice(DoublePointer a, int n) {
        checkOpen();
        DeviceMemoryPlan.requireDenseSystemRows("choleskyFactor", n);
        ComputeBackend.requireFiniteLowerTriangle(a, n);
        if (n == 0) return; // potrf_bufferSize refuses lda = 0, which is what n = 0 gives it
        long bytes = (long) n * n * Double.BYTES;
        DeviceBuffer dA = upload("chol", a, bytes);
        DeviceBuffer dInfo = buffer("info", Integer.BYTES);
        int[] lwork = {0};
        try (IntPointer lw = new IntPointer(1)) {
            solverCheck(cusolver.cusolverDnDpotrf_bufferSize(solver, cublas.CUBLAS_FILL_MODE_LOWER, n, dA.doubles(0), n, lw), "potrf_bufferSize");
            lwork[0] = lw.get();
        }
        DeviceBuffer work = buffer("cholWork", (long) Math.max(1, lwork[0]) * Double.BYTES);
        solverCheck(cusolver.cusolverDnDpotrf(solver, cublas.CUBLAS_FILL_MODE_LOWER, n, dA.doubles(0), n, work.doubles(0),
                lwork[0], dInfo.ints(0)), "cusolverDnDpotrf");
        check(FalconCuda.fcu_stream_sync(streams[0]), "cudaStreamSynchronize");
        int info = readInfo(dInfo);
        if (info > 0) throw new ArithmeticException("matrix is not positive definite (leading minor " + info + ")");
        if (info < 0) throw new IllegalStateException("cusolverDnDpotrf: parameter " + (-info) + " is invalid");
        download(a, dA, bytes);
        requirePositivePivots(a, n);
    }

    /**
     * cuSOLVER documents info > 0 for a pivot that is not positive, not for one that is NaN: a factor whose pivots are
     * not all finite and positive is refused as the other backends refuse it, never returned (n values: cheap).
     */
    static void requirePositivePivots(DoublePointer factor, int n) {
        for (int j = 0; j < n; j++) {
            double pivot = factor.get((long) j * n + j);
            if (!(pivot > 0 && pivot < Double.POSITIVE_INFINITY)) {
                throw new ArithmeticException("matrix is not positive definite (cusolverDnDpotrf returned pivot " + j + " = " + pivot
                        + " with info 0)");
            }
        }
    }

    private static int readInfo(DeviceBuffer dInfo) {
        try (IntPointer info = new IntPointer(1)) {
            check(FalconCuda.fcu_copy(info, dInfo.pointer(), Integer.BYTES), "copy to host");
            return info.get();
        }
    }

    @Override
    public void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs) {
        try (ExclusiveUse.Scope call = exclusive.enter("choleskySolve")) {
            choleskySolveOnDevice(factor, n, b, nrhs);
        }
    }

    private void choleskySolveOnDevice(DoublePointer factor, int n, DoublePointer b, int nrhs) {
        checkOpen();
        DeviceMemoryPlan.requireDenseSystemRows("choleskySolve", n);
        ComputeBackend.requireCholeskySolveArguments(factor, n, b, nrhs);
        if (n == 0) return; // nothing to solve, and potrs refuses lda = 0, which n = 0 gives it
        DeviceBuffer dL = upload("chol", factor, (long) n * n * Double.BYTES);
        DeviceBuffer dB = upload("rhs", b, (long) n * nrhs * Double.BYTES);
        DeviceBuffer dInfo = buffer("info", Integer.BYTES);
        solverCheck(cusolver.cusolverDnDpotrs(solver, cublas.CUBLAS_FILL_MODE_LOWER, n, nrhs, dL.doubles(0), n,
                dB.doubles(0), n, dInfo.ints(0)), "cusolverDnDpotrs");
        check(FalconCuda.fcu_stream_sync(streams[0]), "cudaStreamSynchronize");
        int info = readInfo(dInfo);
        if (info != 0) throw new IllegalStateException("cusolverDnDpotrs: info " + info);
        download(b, dB, (long) n * nrhs * Double.BYTES);
    }

    // ---------------------------------------------------------------- selection kernels

    @Override
    public void sortSegmentsDescending(FloatPointer scores, long[] segmentStarts,
                                       FloatPointer sortedOut, IntPointer indexOut, DoublePointer prefixOut) {
        try (ExclusiveUse.Scope call = exclusive.enter("sortSegmentsDescending")) {
            sortSegmentsOnDevice(scores, segmentStarts, sortedOut, indexOut, prefixOut);
        }
    }

    private void sortSegmentsOnDevice(FloatPointer scores, long[] segmentStarts,
                                      FloatPointer sortedOut, IntPointer indexOut, DoublePointer prefixOut) {
        checkOpen();
        long count = ComputeBackend.requireSortArguments(scores, segmentStarts, sortedOut, indexOut, prefixOut);
        DeviceBuffer dScores = upload("scores", scores, count * Float.BYTES);
        DeviceBuffer dStarts;
        try (LongPointer starts = new LongPointer(segmentStarts)) {
            dStarts = upload("segStarts", starts, (long) segmentStarts.length * Long.BYTES);
        }
        DeviceBuffer dSorted = buffer("sorted", count * Float.BYTES);
        DeviceBuffer dIndex = buffer("index", count * Integer.BYTES);
        DeviceBuffer dKeys = buffer("keys", count * Long.BYTES);
        // without prefixOut (magnitude) the kernel skips the scan: no device buffers for it, no 8 bytes per score to copy back
        boolean sums = prefixOut != null;
        DeviceBuffer dPrefix = sums ? buffer("prefix", count * Double.BYTES) : null;
        DeviceBuffer dScan = sums ? buffer("scanTiles", DeviceMemoryPlan.scanScratchBytes(count)) : null;
        long[] bad = {-1};
        check(FalconCuda.fcu_sort_segments(dScores.floats(0), dStarts.pointer(), segmentStarts.length - 1, count,
                dSorted.floats(0), dIndex.ints(0), sums ? dPrefix.doubles(0) : null, dKeys.pointer(),
                sums ? dScan.doubles(0) : null, bad, streams[0]), "segmented sort");
        check(FalconCuda.fcu_stream_sync(streams[0]), "cudaStreamSynchronize");
        if (bad[0] >= 0) {
            throw new IllegalArgumentException("score " + bad[0] + " is " + scores.get(bad[0]) + "; scores must be finite and >= 0");
        }
        download(sortedOut, dSorted, count * Float.BYTES);
        if (indexOut != null) download(indexOut, dIndex, count * Integer.BYTES);
        if (sums) download(prefixOut, dPrefix, count * Double.BYTES);
    }

    @Override
    public void countAbove(FloatPointer sorted, long[] segmentStarts, double[] thresholds, long[] counts) {
        try (ExclusiveUse.Scope call = exclusive.enter("countAbove")) {
            countAboveOnDevice(sorted, segmentStarts, thresholds, counts);
        }
    }

    private void countAboveOnDevice(FloatPointer sorted, long[] segmentStarts, double[] thresholds, long[] counts) {
        checkOpen();
        // before any copy: the uploads copy segments entries from thresholds (a short array would be read past its end)
        int segments = ComputeBackend.requireCountAboveArguments(sorted, segmentStarts, thresholds, counts);
        long count = segmentStarts[segments];
        DeviceBuffer dSorted = upload("sorted", sorted, count * Float.BYTES);
        DeviceBuffer dStarts, dThresholds;
        try (LongPointer starts = new LongPointer(segmentStarts); DoublePointer t = new DoublePointer(thresholds)) {
            dStarts = upload("segStarts", starts, (long) segmentStarts.length * Long.BYTES);
            dThresholds = upload("thresholds", t, (long) segments * Double.BYTES);
        }
        DeviceBuffer dCounts = buffer("counts", (long) segments * Long.BYTES);
        check(FalconCuda.fcu_count_above(dSorted.floats(0), dStarts.pointer(), segments, dThresholds.doubles(0),
                dCounts.pointer(), streams[0]), "count kernel");
        check(FalconCuda.fcu_stream_sync(streams[0]), "cudaStreamSynchronize");
        try (LongPointer c = new LongPointer(Math.max(1, segments))) {
            download(c, dCounts, (long) segments * Long.BYTES);
            c.get(counts, 0, segments);
        }
    }

    // ---------------------------------------------------------------- lifetime

    /** Work after close() is refused: the cuBLAS/cuSOLVER handles and device buffers are gone. */
    @Override
    void checkOpen() {
        if (closed) throw new IllegalStateException("cuda backend was closed");
    }

    @Override
    ComputeBackend host() {
        return host;
    }

    @Override
    public synchronized void close() {
        // Freeing the device buffers, handles and streams under another thread's running call would crash it (or the
        // JVM): a close from another thread during a call is refused like any overlapping call.
        try (ExclusiveUse.Scope call = exclusive.enter("close")) {
            if (closed) return;
            closed = true;
            releaseResident();
            for (DeviceBuffer b : scratch.values()) b.close();
            scratch.clear();
            for (DeviceBuffer b : pinned) if (b != null) b.close();
            pinned.clear();
            for (cublasContext handle : blas) if (!handle.isNull()) cublas.cublasDestroy_v2(handle);
            if (!solver.isNull()) cusolver.cusolverDnDestroy(solver);
            for (Pointer s : streams) if (s != null && !s.isNull()) FalconCuda.fcu_stream_destroy(s);
            host.close();
        }
    }

    static void blasCheck(int status, String what) {
        if (status != 0) {
            if (status == cublas.CUBLAS_STATUS_ALLOC_FAILED) {
                throw new CudaNative.DeviceMemoryException(what + ": CUBLAS_STATUS_ALLOC_FAILED (out of device memory)");
            }
            throw new IllegalStateException(what + " failed: cuBLAS status " + status + " (" + blasStatusName(status) + ")");
        }
    }

    static void solverCheck(int status, String what) {
        if (status != 0) {
            if (status == cusolver.CUSOLVER_STATUS_ALLOC_FAILED) {
                throw new CudaNative.DeviceMemoryException(what + ": CUSOLVER_STATUS_ALLOC_FAILED (out of device memory)");
            }
            throw new IllegalStateException(what + " failed: cuSOLVER status " + status + " (" + solverStatusName(status) + ")");
        }
    }

    /**
     * The status's name from cublas_api.h, written out here: cublasGetStatusName needs the cuBLAS library, which is what
     * may have failed, and a bare number sends the user to the headers. (The constants are inlined by javac: naming them
     * loads no native library.)
     */
    static String blasStatusName(int status) {
        return switch (status) {
            case cublas.CUBLAS_STATUS_NOT_INITIALIZED -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case cublas.CUBLAS_STATUS_INVALID_VALUE -> "CUBLAS_STATUS_INVALID_VALUE";
            case cublas.CUBLAS_STATUS_ARCH_MISMATCH -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case cublas.CUBLAS_STATUS_MAPPING_ERROR -> "CUBLAS_STATUS_MAPPING_ERROR";
            case cublas.CUBLAS_STATUS_EXECUTION_FAILED -> "CUBLAS_STATUS_EXECUTION_FAILED: a cuBLAS kernel failed to launch or run";
            case cublas.CUBLAS_STATUS_INTERNAL_ERROR -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case cublas.CUBLAS_STATUS_NOT_SUPPORTED -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case cublas.CUBLAS_STATUS_LICENSE_ERROR -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "unknown cuBLAS status";
        };
    }

    /** As {@link #blasStatusName} for cusolver_common.h. */
    static String solverStatusName(int status) {
        return switch (status) {
            case cusolver.CUSOLVER_STATUS_NOT_INITIALIZED -> "CUSOLVER_STATUS_NOT_INITIALIZED";
            case cusolver.CUSOLVER_STATUS_INVALID_VALUE -> "CUSOLVER_STATUS_INVALID_VALUE";
            case cusolver.CUSOLVER_STATUS_ARCH_MISMATCH -> "CUSOLVER_STATUS_ARCH_MISMATCH";
            case cusolver.CUSOLVER_STATUS_MAPPING_ERROR -> "CUSOLVER_STATUS_MAPPING_ERROR";
            case cusolver.CUSOLVER_STATUS_EXECUTION_FAILED -> "CUSOLVER_STATUS_EXECUTION_FAILED: a cuSOLVER kernel failed to launch or run";
            case cusolver.CUSOLVER_STATUS_INTERNAL_ERROR -> "CUSOLVER_STATUS_INTERNAL_ERROR";
            case cusolver.CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED -> "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
            case cusolver.CUSOLVER_STATUS_NOT_SUPPORTED -> "CUSOLVER_STATUS_NOT_SUPPORTED";
            case cusolver.CUSOLVER_STATUS_ZERO_PIVOT -> "CUSOLVER_STATUS_ZERO_PIVOT";
            case cusolver.CUSOLVER_STATUS_INVALID_LICENSE -> "CUSOLVER_STATUS_INVALID_LICENSE";
            case cusolver.CUSOLVER_STATUS_INVALID_WORKSPACE -> "CUSOLVER_STATUS_INVALID_WORKSPACE";
            default -> "unknown cuSOLVER status";
        };
    }
}
