package dev.falcon.cuda.nativelib;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of {@code native/cuda/falcon_cuda_logic.h}: the CUDA kernel bodies and Thrust algorithms
 * run on the CPU (no CUDA runtime needed). Built on every machine that has the CUDA toolkit headers;
 * {@link #fcl_available()} is 0 for the stub built where they were absent.
 */
@Platform(include = "falcon_cuda_logic.h", link = "falcon_cuda_logic")
public final class CudaLogic {
    static {
        Loader.load();
    }

    private CudaLogic() {}

    /** Forces class initialisation (and so the native load). */
    public static void load() {}

    public static native int fcl_available();
    public static native int fcl_threads_per_block();
    public static native long fcl_product_max_slices();
    public static native long fcl_slice_sums_shared_bytes(long n);
    public static native long fcl_scan_tile();
    public static native void fcl_block_gram(@Cast("const float*") FloatPointer x, long n, long p,
                                             @Cast("const int64_t*") long[] starts, long blocks,
                                             @Cast("const float*") FloatPointer d, FloatPointer out);
    public static native void fcl_block_gram_sliced(@Cast("const float*") FloatPointer x, long n, long p,
                                                    @Cast("const int64_t*") long[] starts, long blocks,
                                                    @Cast("const float*") FloatPointer d, int slices, long sharedBytes,
                                                    FloatPointer out);
    public static native void fcl_multiply(@Cast("const float*") FloatPointer x, long n, long p,
                                           @Cast("const float*") FloatPointer v, long chunk, FloatPointer out);
    public static native void fcl_multiply_summed_in_double(@Cast("const float*") FloatPointer x, long n, long p,
                                                            @Cast("const float*") FloatPointer v, long chunk, DoublePointer out);
    public static native void fcl_multiply_transposed_summed_in_double(@Cast("const float*") FloatPointer x, long n, long p,
                                                                       @Cast("const double*") DoublePointer u, DoublePointer out);
    public static native long fcl_gather(@Cast("const float*") FloatPointer x, long n, long p,
                                         @Cast("const int32_t*") IntPointer columns, long k, FloatPointer dst);
    public static native void fcl_weighted_gram(@Cast("const float*") FloatPointer x, long n, long p,
                                                @Cast("const float*") FloatPointer w, long chunk, DoublePointer gram);
    public static native long fcl_sort_segments(@Cast("const float*") FloatPointer scores,
                                                @Cast("const int64_t*") long[] starts, long segments,
                                                FloatPointer sorted, @Cast("int32_t*") IntPointer index, DoublePointer prefix);
    public static native void fcl_segmented_prefix_sums(@Cast("const float*") FloatPointer sorted,
                                                        @Cast("const int64_t*") long[] starts, long segments, DoublePointer prefix);
    public static native void fcl_count_above(@Cast("const float*") FloatPointer sorted,
                                              @Cast("const int64_t*") long[] starts, long segments,
                                              @Cast("const double*") double[] thresholds, @Cast("int64_t*") long[] counts);
}
