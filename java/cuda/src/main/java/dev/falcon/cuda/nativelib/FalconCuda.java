package dev.falcon.cuda.nativelib;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of {@code native/cuda/falcon_cuda.h}: falcon's GPU kernels and the CUDA runtime calls the
 * backend needs (static CUDA runtime inside {@code libfalcon_cuda.so}; only the driver's libcuda.so.1 is
 * needed at run time). Where nvcc was absent at build time the library is a stub: {@link #fcu_built()} is 0.
 * Pointers named d* are device pointers. int results are cudaError_t values (0 = success).
 */
@Platform(include = "falcon_cuda.h", link = "falcon_cuda")
public final class FalconCuda {
    static {
        Loader.load();
    }

    private FalconCuda() {}

    public static void load() {}

    public static native int fcu_built();
    public static native String fcu_build_info();
    public static native String fcu_error_string(int code);
    public static native int fcu_device_count(int[] count);
    public static native int fcu_device_info(int device, @Cast("char*") BytePointer name, @Cast("int64_t*") long[] totalBytes,
                                             int[] ccMajor, int[] ccMinor, int[] driverVersion, int[] runtimeVersion);
    public static native int fcu_set_device(int device);
    public static native int fcu_check_kernel_image();
    public static native int fcu_mem_info(@Cast("int64_t*") long[] freeBytes, @Cast("int64_t*") long[] totalBytes);
    public static native int fcu_malloc(@Cast("void**") PointerPointer<?> p, long bytes);
    public static native int fcu_free(Pointer p);
    public static native int fcu_malloc_host(@Cast("void**") PointerPointer<?> p, long bytes);
    public static native int fcu_free_host(Pointer p);
    public static native int fcu_copy(Pointer dst, @Cast("const void*") Pointer src, long bytes);
    public static native int fcu_copy_async(Pointer dst, @Cast("const void*") Pointer src, long bytes, Pointer stream);
    public static native int fcu_stream_create(@Cast("void**") PointerPointer<?> stream);
    public static native int fcu_stream_destroy(Pointer stream);
    public static native int fcu_stream_sync(Pointer stream);
    public static native int fcu_event_create(@Cast("void**") PointerPointer<?> event);
    public static native int fcu_event_destroy(Pointer event);
    public static native int fcu_event_record(Pointer event, Pointer stream);
    public static native int fcu_stream_wait_event(Pointer stream, Pointer event);

    public static native int fcu_block_gram(@Cast("const float*") FloatPointer dX, long n, @Cast("const int64_t*") Pointer dStarts,
                                            long blocks, @Cast("const float*") FloatPointer dD, FloatPointer dOut,
                                            DoublePointer dScratch, int grid, Pointer stream);
    public static native int fcu_block_gram_sliced(@Cast("const float*") FloatPointer dX, long n, @Cast("const int64_t*") Pointer dStarts,
                                                   long blocks, @Cast("const float*") FloatPointer dD, FloatPointer dOut,
                                                   int slices, long sharedBytes, Pointer stream);
    public static native int fcu_max_shared_bytes(@Cast("int64_t*") long[] bytes);
    public static native int fcu_read_sum(@Cast("const float*") FloatPointer dX, long count, DoublePointer dSum, Pointer stream);
    public static native int fcu_gemv_n_accumulate(@Cast("const float*") FloatPointer dX, long n, long k,
                                                   @Cast("const float*") FloatPointer dV, DoublePointer dPartial,
                                                   DoublePointer dAcc, int overwrite, Pointer stream);
    public static native int fcu_gemv_t_double(@Cast("const float*") FloatPointer dX, long n, long k,
                                               @Cast("const double*") DoublePointer dU, DoublePointer dOut, Pointer stream);
    public static native int fcu_sum_to_float(@Cast("const double*") DoublePointer dA, @Cast("const double*") DoublePointer dB,
                                              long n, FloatPointer dOut, Pointer stream);
    public static native int fcu_widen_sqrt_weighted(@Cast("const float*") FloatPointer dX, long n, long k,
                                                     @Cast("const float*") FloatPointer dW, DoublePointer dA, Pointer stream);
    public static native int fcu_widen_weighted(@Cast("const float*") FloatPointer dX, long n, long k,
                                                @Cast("const float*") FloatPointer dW, DoublePointer dA, DoublePointer dB, Pointer stream);
    public static native int fcu_gather(@Cast("const float*") FloatPointer dX, long n, @Cast("const int32_t*") IntPointer dColumns,
                                        long k, FloatPointer dDst, Pointer stream);
    public static native int fcu_sort_segments(@Cast("const float*") FloatPointer dScores, @Cast("const int64_t*") Pointer dStarts,
                                               long segments, long count, FloatPointer dSorted, @Cast("int32_t*") IntPointer dIndex,
                                               DoublePointer dPrefix, @Cast("uint64_t*") Pointer dKeys, DoublePointer dScanScratch,
                                               @Cast("int64_t*") long[] badIndex, Pointer stream);
    public static native int fcu_segmented_prefix_sums(@Cast("const float*") FloatPointer dSorted, @Cast("const int64_t*") Pointer dStarts,
                                                       long segments, long count, DoublePointer dPrefix, DoublePointer dScanScratch,
                                                       Pointer stream);
    public static native int fcu_count_above(@Cast("const float*") FloatPointer dSorted, @Cast("const int64_t*") Pointer dStarts,
                                             long segments, @Cast("const double*") DoublePointer dThresholds,
                                             @Cast("int64_t*") Pointer dCounts, Pointer stream);
}
