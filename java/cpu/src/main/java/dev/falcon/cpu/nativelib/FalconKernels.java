package dev.falcon.cpu.nativelib;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of {@code native/cpu/falcon_kernels.h}. The kernels live in {@code libfalcon_cpu.so},
 * built by CMake during the Maven build into this package's {@code linux-x86_64} resource folder; the
 * javacpp plugin then generates and compiles the JNI glue ({@code libjniFalconKernels.so}) next to it.
 * Loading this class loads both from the jar. Call {@link #load()} inside a try/catch of LinkageError.
 */
@Platform(include = "falcon_kernels.h", link = "falcon_cpu")
public final class FalconKernels {
    static {
        Loader.load();
    }

    private FalconKernels() {}

    /** Forces class initialisation (and so the native load). */
    public static void load() {}

    public static native String falcon_last_error();
    public static native String falcon_isa();
    public static native int falcon_setenv(String name, String value);
    public static native String falcon_getenv(String name);
    public static native String falcon_openblas_corename();
    public static native String falcon_openblas_config();
    public static native int falcon_openblas_set_threads(int threads);
    public static native int falcon_openblas_get_threads();
    public static native void falcon_exit_now(int status);

    public static native void falcon_fill_uniform(FloatPointer dst, long count, long seed, float scale, int threads);
    public static native void falcon_fill_synthetic(FloatPointer x, long n, long p, int rank, float noise, long seed, int threads);

    public static native long falcon_first_nonfinite(@Cast("const float*") FloatPointer x, long count, int threads);
    public static native double falcon_read_sum(@Cast("const float*") FloatPointer x, long count, int threads);
    public static native int falcon_advise_huge_pages(Pointer p, long bytes);
    public static native void falcon_gemv_n(@Cast("const float*") FloatPointer x, long n, long p,
                                            @Cast("const float*") FloatPointer v, FloatPointer out, int threads);
    public static native void falcon_gemv_n_double(@Cast("const float*") FloatPointer x, long n, long p,
                                                   @Cast("const float*") FloatPointer v, DoublePointer out, int threads);
    public static native void falcon_gemv_t(@Cast("const float*") FloatPointer x, long n, long p,
                                            @Cast("const float*") FloatPointer u, FloatPointer out, int threads);
    public static native void falcon_gemv_t_double(@Cast("const float*") FloatPointer x, long n, long p,
                                                   @Cast("const double*") DoublePointer u, DoublePointer out, int threads);
    public static native void falcon_block_gram(@Cast("const float*") FloatPointer x, long n, long p,
                                                @Cast("const int64_t*") long[] starts, long blocks,
                                                @Cast("const float*") FloatPointer d, FloatPointer out, int threads);
    public static native int falcon_gather(@Cast("const float*") FloatPointer x, long n, long p,
                                           @Cast("const int32_t*") IntPointer columns, long k, FloatPointer dst, int threads);
    public static native long falcon_gram_scaled_columns(@Cast("const float*") FloatPointer x, long n, long j0, long p,
                                                         @Cast("const float*") FloatPointer weights, int negative, DoublePointer a,
                                                         long capacity, @Cast("int64_t*") long[] next, int threads);
    public static native void falcon_symmetrize_lower(DoublePointer g, long n);

    public static native int falcon_sort_segments(@Cast("const float*") FloatPointer scores,
                                                  @Cast("const int64_t*") long[] starts, long segments,
                                                  FloatPointer sorted, @Cast("int32_t*") IntPointer index,
                                                  DoublePointer prefix, int threads, @Cast("int64_t*") long[] bad);
    public static native void falcon_count_above(@Cast("const float*") FloatPointer sorted,
                                                 @Cast("const int64_t*") long[] starts, long segments,
                                                 @Cast("const double*") double[] thresholds, @Cast("int64_t*") long[] counts);

    public static native Pointer falcon_map_file(String path, long offset, long length,
                                                 @Cast("void**") PointerPointer<?> base, @Cast("int64_t*") long[] mapped);
    public static native int falcon_unmap(Pointer base, long mapped);
    public static native int falcon_load_convert(String path, long offset, int type, int bigEndian, int rowMajor,
                                                 long rows, long cols, FloatPointer dst, int threads);
    // panel layout (see falcon_kernels.h): panels has panelCount + 1 entries, from 0 to p
    public static native void falcon_panel_fill_synthetic(FloatPointer x, long n, long p, @Cast("const int64_t*") long[] panels,
                                                          long panelCount, int rank, float noise, long seed, int threads);
    public static native void falcon_panel_gemv_n(@Cast("const float*") FloatPointer x, long n, long p,
                                                  @Cast("const int64_t*") long[] panels, long panelCount,
                                                  @Cast("const float*") FloatPointer v, FloatPointer out, int threads);
    public static native void falcon_panel_gemv_n_double(@Cast("const float*") FloatPointer x, long n, long p,
                                                         @Cast("const int64_t*") long[] panels, long panelCount,
                                                         @Cast("const float*") FloatPointer v, DoublePointer out, int threads);
    public static native void falcon_panel_gemv_t(@Cast("const float*") FloatPointer x, long n, long p,
                                                  @Cast("const int64_t*") long[] panels, long panelCount,
                                                  @Cast("const float*") FloatPointer u, FloatPointer out, int threads);
    public static native void falcon_panel_gemv_t_double(@Cast("const float*") FloatPointer x, long n, long p,
                                                         @Cast("const int64_t*") long[] panels, long panelCount,
                                                         @Cast("const double*") DoublePointer u, DoublePointer out, int threads);
    public static native double falcon_block_touch_twice(@Cast("const float*") FloatPointer x, long n, long p,
                                                         @Cast("const int64_t*") long[] starts, long blocks, int threads);
    public static native double falcon_panel_touch_twice(@Cast("const float*") FloatPointer x, long n, long p,
                                                         @Cast("const int64_t*") long[] panels, long panelCount, int threads);
    public static native void falcon_panel_block_gram(@Cast("const float*") FloatPointer x, long n, long p,
                                                      @Cast("const int64_t*") long[] panels, long panelCount,
                                                      @Cast("const int64_t*") long[] starts, long blocks,
                                                      @Cast("const float*") FloatPointer d, FloatPointer out, int threads);
    public static native int falcon_panel_gather(@Cast("const float*") FloatPointer x, long n, long p,
                                                 @Cast("const int64_t*") long[] panels, long panelCount,
                                                 @Cast("const int32_t*") IntPointer columns, long k, FloatPointer dst, int threads);
    public static native int falcon_panel_load_convert(String path, long offset, int type, int bigEndian, int rowMajor,
                                                       long rows, long cols, @Cast("const int64_t*") long[] panels,
                                                       long panelCount, FloatPointer dst, int threads);
    public static native long falcon_panel_gram_scaled_rows(@Cast("const float*") FloatPointer x, long n, long p,
                                                            @Cast("const int64_t*") long[] panels, long panelCount, long j0,
                                                            @Cast("const float*") FloatPointer weights, DoublePointer a,
                                                            long capacity, @Cast("int64_t*") long[] next, int threads);
}
