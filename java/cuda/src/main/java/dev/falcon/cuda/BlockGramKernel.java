package dev.falcon.cuda;

import dev.falcon.cuda.nativelib.CudaLogic;
import dev.falcon.cuda.nativelib.FalconCuda;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The CUDA kernel that computes the block-fused product X_B^T (X_B d_B), chosen with {@code -Dfalcon.cuda.blockKernel}.
 * They differ in how often X is read from device memory, not in what they compute (each sums in double, in a fixed
 * order of its own, so results agree to float rounding and each is deterministic):
 * <ul>
 * <li>{@code tree}: one CUDA block per column block, a shared-memory tree reduction per column; reads every column
 *     twice from device memory.
 * <li>{@code warp}: one CUDA block per column block, one warp per column in the second pass.
 * <li>{@code cluster8}, {@code cluster16}: a cluster of 8 or 16 CUDA blocks per column block (compute capability 9.0
 *     and up), each keeping its slice of columns in shared memory for the second pass, so that pass reads from
 *     shared memory or L2 instead of device memory.
 * </ul>
 * {@link CudaLogicOnCpu} runs the same choice's kernel bodies on the CPU.
 */
public enum BlockGramKernel {
    TREE("tree", 0),
    WARP("warp", 1),
    CLUSTER8("cluster8", 8),
    CLUSTER16("cluster16", 16);

    public static final String PROPERTY = "falcon.cuda.blockKernel";
    public static final BlockGramKernel DEFAULT = WARP;

    private final String id;
    private final int slices;

    BlockGramKernel(String id, int slices) {
        this.id = id;
        this.slices = slices;
    }

    public String id() { return id; }

    /** CUDA blocks per column block (0: the tree kernel). */
    public int slices() { return slices; }

    public boolean needsClusters() { return slices > 1; }

    public static BlockGramKernel parse(String value, String source) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        for (BlockGramKernel k : values()) {
            if (k.id.equals(v)) return k;
        }
        throw new IllegalArgumentException(source + " = '" + value + "' is not a block product kernel: use one of "
                + Arrays.stream(values()).map(BlockGramKernel::id).collect(Collectors.joining(", ")));
    }

    /** The kernel {@code -Dfalcon.cuda.blockKernel} names, else {@link #DEFAULT}. */
    public static BlockGramKernel configured() {
        String v = System.getProperty(PROPERTY);
        return v == null || v.isBlank() ? DEFAULT : parse(v, "-D" + PROPERTY);
    }

    /** Threads per CUDA block of the sliced kernels (kSliceThreads of falcon_cuda_logic.cuh). */
    static final int SLICE_THREADS = 512;

    /**
     * Shared memory a sliced kernel needs before it caches any column: the sums' 8 (2 + G) n bytes, G = the column
     * groups of phase 1 (slice_row_lanes of falcon_cuda_logic.cuh). 0 for the tree kernel, which keeps them in
     * device memory.
     */
    long sumsSharedBytes(long n) {
        if (this == TREE) return 0;
        long lanes = Math.min(SLICE_THREADS, (n + 31) / 32 * 32);
        long groups = SLICE_THREADS / lanes;
        return (2 + groups) * n * Double.BYTES;
    }

    /**
     * Launches this kernel on {@code stream}; {@code dX} indexed by absolute column, {@code dStarts} on the device.
     * Returns the cudaError_t (cudaErrorNotSupported for a cluster kernel on a device without clusters).
     */
    int launch(FloatPointer dX, long n, Pointer dStarts, long blocks, FloatPointer dD, FloatPointer dOut,
               DoublePointer treeScratch, int treeGrid, long sharedBytes, Pointer stream) {
        if (this == TREE) return FalconCuda.fcu_block_gram(dX, n, dStarts, blocks, dD, dOut, treeScratch, treeGrid, stream);
        return FalconCuda.fcu_block_gram_sliced(dX, n, dStarts, blocks, dD, dOut, slices, sharedBytes, stream);
    }

    /**
     * Shared memory per CUDA block the emulation gives the sliced kernels: the opt-in maximum of an H100/H200 (227 KiB),
     * which the backend asks for there; it decides which columns the second pass reads from the cached copy.
     */
    static final long EMULATED_SHARED_BYTES = 232_448;

    /** The same kernel bodies on the CPU (libfalcon_cuda_logic). */
    void emulate(FloatPointer x, long n, long p, long[] starts, FloatPointer d, FloatPointer out) {
        if (this == TREE) {
            CudaLogic.fcl_block_gram(x, n, p, starts, starts.length - 1, d, out);
        } else {
            CudaLogic.fcl_block_gram_sliced(x, n, p, starts, starts.length - 1, d, slices, EMULATED_SHARED_BYTES, out);
        }
    }
}
