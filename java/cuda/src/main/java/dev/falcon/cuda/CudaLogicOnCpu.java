package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.cuda.nativelib.CudaLogic;
import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * The CUDA backend's own kernels run on the CPU: the block-fused product, the column gather, the segmented
 * sort with its prefix sums, the threshold counts and the product X v execute the very bodies nvcc compiles into the
 * GPU kernels ({@code native/cuda/falcon_cuda_logic.cuh}, {@code falcon_cuda_algorithms.inl}), with the launch
 * geometry emulated and Thrust on its CPP backend; so does the widening kernel that feeds the Gram's dgemm
 * (the dgemm itself is plain loops here). What cuBLAS/cuSOLVER do on the GPU (X^T u, Cholesky) and host-side
 * work (loading, fills) is delegated to the java reference here.
 *
 * <p>For tests (the shared contract suites run on it in CI, where there is no GPU) and for debugging.
 */
public final class CudaLogicOnCpu extends HostSideCalls {
    private final JavaBackend host = new JavaBackend();
    private final BlockGramKernel blockKernel;
    private volatile boolean closed;

    /** Whether the kernel logic library was built (the CUDA toolkit headers were present at build time) and loads. */
    public static String unavailableReason() {
        try {
            CudaLogic.load();
            return CudaLogic.fcl_available() == 1 ? null
                    : "CUDA kernel logic not built (no CUDA toolkit headers at build time)";
        } catch (Throwable t) {
            return "CUDA kernel logic library failed to load: " + t;
        }
    }

    /** With the block product kernel the cuda backend would use ({@code -Dfalcon.cuda.blockKernel}, else the default). */
    public CudaLogicOnCpu() {
        this(BlockGramKernel.configured());
    }

    public CudaLogicOnCpu(BlockGramKernel blockKernel) {
        String why = unavailableReason();
        if (why != null) throw new IllegalStateException(why);
        this.blockKernel = blockKernel;
    }

    @Override public String name() { return "cuda-logic-cpu"; }

    @Override public int threads() { return 1; }

    @Override
    public String description() {
        return "cuda-logic-cpu: falcon CUDA kernel bodies on the CPU (" + CudaLogic.fcl_threads_per_block()
                + " emulated threads per block, block product kernel " + blockKernel.id()
                + ", Thrust CPP backend), cuBLAS roles by the java reference";
    }

    // Each call checks this backend first, as the cuda backend does, the ones delegated to the java host (X^T u,
    // Cholesky) included: the closed host's refusal named the java backend. Loading and allocating: HostSideCalls.
    @Override
    public void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed) {
        checkOpen();
        ComputeBackend.requireSyntheticRank(rank);
        host.fillSyntheticGradients(x, rank, noise, seed);
    }

    /** The GPU path's product kernel: chunks of {@link #PRODUCT_CHUNK} columns on two emulated streams, slices in double. */
    @Override
    public void multiply(HostMatrix x, FloatPointer v, FloatPointer out) {
        checkOpen();
        ComputeBackend.requireProductVectors("multiply", x, v, out);
        x.requireColumnMajor(name());
        try (HostMatrix.Use use = x.use("multiply")) {
            CudaLogic.fcl_multiply(x.data(), x.rows(), x.cols(), v, PRODUCT_CHUNK, out);
        }
    }

    /** The GPU path's product kernel as {@link #multiply} runs it, the two streams' accumulators added in double as the cuda backend adds them. */
    @Override
    public void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out) {
        checkOpen();
        ComputeBackend.requireProductVectors("multiplySummedInDouble", x, v, out);
        x.requireColumnMajor(name());
        try (HostMatrix.Use use = x.use("multiplySummedInDouble")) {
            CudaLogic.fcl_multiply_summed_in_double(x.data(), x.rows(), x.cols(), v, PRODUCT_CHUNK, out);
        }
    }

    /** Not a multiple of the kernel's slice width, so the contract's shapes cross chunks and partial slices. */
    static final long PRODUCT_CHUNK = 700;

    @Override
    public void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out) {
        checkOpen();
        ComputeBackend.requireTransposedProductVectors("multiplyTransposed", x, u, out);
        host.multiplyTransposed(x, u, out);
    }

    /** The GPU path's kernel: one emulated warp per column, its lanes' double sums reduced as the warp's shuffles reduce them. */
    @Override
    public void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out) {
        checkOpen();
        ComputeBackend.requireTransposedProductVectors("multiplyTransposedSummedInDouble", x, u, out);
        x.requireColumnMajor(name());
        try (HostMatrix.Use use = x.use("multiplyTransposedSummedInDouble")) {
            CudaLogic.fcl_multiply_transposed_summed_in_double(x.data(), x.rows(), x.cols(), u, out);
        }
    }

    @Override
    public void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) {
        checkOpen();
        ComputeBackend.requireBlockGramProductArguments(x, blockStarts, d, out);
        x.requireColumnMajor(name());
        try (HostMatrix.Use use = x.use("blockGramProduct")) {
            blockKernel.emulate(x.data(), x.rows(), x.cols(), blockStarts, d, out);
        }
    }

    @Override
    public void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst) {
        checkOpen();
        ComputeBackend.requireGatherArguments(x, columns, k, dst);
        x.requireColumnMajor(name());
        long r;
        try (HostMatrix.Use use = x.use("gatherColumns")) {
            r = CudaLogic.fcl_gather(x.data(), x.rows(), x.cols(), columns, k, dst);
        }
        if (r < 0) {
            long c = -r - 1;
            throw new IndexOutOfBoundsException("column " + columns.get(c) + " of " + x.cols());
        }
    }

    /** The GPU path's widening kernel per chunk of {@link #GRAM_CHUNK} columns, then loops in cuBLAS dgemm's role. */
    @Override
    public void weightedGram(HostMatrix x, FloatPointer columnWeights, DoublePointer gram) {
        checkOpen();
        x.requireColumnMajor(name());
        // the device's limit on n x n systems, so that this driver refuses what the cuda backend refuses
        DeviceMemoryPlan.requireDenseSystemRows("weightedGram", x.rows());
        ComputeBackend.requireFiniteWeights(columnWeights, x.cols());
        ComputeBackend.requireGram("weightedGram", x, gram);
        try (HostMatrix.Use use = x.use("weightedGram")) {
            CudaLogic.fcl_weighted_gram(x.data(), x.rows(), x.cols(), columnWeights, GRAM_CHUNK, gram);
        }
    }

    /** Small, so the contract's shapes cross several chunks. */
    static final long GRAM_CHUNK = 97;

    @Override
    public void choleskyFactor(DoublePointer a, int n) {
        checkOpen();
        DeviceMemoryPlan.requireDenseSystemRows("choleskyFactor", n);
        host.choleskyFactor(a, n);
    }

    @Override
    public void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs) {
        checkOpen();
        DeviceMemoryPlan.requireDenseSystemRows("choleskySolve", n);
        host.choleskySolve(factor, n, b, nrhs);
    }

    @Override
    public void sortSegmentsDescending(FloatPointer scores, long[] segmentStarts,
                                       FloatPointer sortedOut, IntPointer indexOut, DoublePointer prefixOut) {
        checkOpen();
        long count = ComputeBackend.requireSortArguments(scores, segmentStarts, sortedOut, indexOut, prefixOut);
        long bad;
        // the device kernels always produce indices: emulate them into a scratch buffer when none is asked for (a null
        // prefixOut goes through: the kernels then skip the prefix sums, as on the device)
        try (IntPointer indices = indexOut != null ? null : new IntPointer(Math.max(1, count))) {
            bad = CudaLogic.fcl_sort_segments(scores, segmentStarts, segmentStarts.length - 1, sortedOut,
                    indexOut != null ? indexOut : indices, prefixOut);
        }
        if (bad >= 0) {
            throw new IllegalArgumentException("score " + bad + " is " + scores.get(bad) + "; scores must be finite and >= 0");
        }
    }

    @Override
    public void countAbove(FloatPointer sorted, long[] segmentStarts, double[] thresholds, long[] counts) {
        checkOpen();
        // before the native driver, which would read a short thresholds and write a short counts past their ends
        int segments = ComputeBackend.requireCountAboveArguments(sorted, segmentStarts, thresholds, counts);
        CudaLogic.fcl_count_above(sorted, segmentStarts, segments, thresholds, counts);
    }

    /** Work after close() is refused, as on every backend, naming this one (each call checks before it delegates). */
    @Override
    public void close() {
        closed = true;
        host.close();
    }

    @Override
    ComputeBackend host() {
        return host;
    }

    @Override
    void checkOpen() {
        if (closed) throw new IllegalStateException("cuda-logic-cpu backend was closed");
    }
}
