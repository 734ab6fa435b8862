// falcon native CPU kernels: C API bound by JavaCPP (dev.falcon.cpu.nativelib.FalconKernels).
// X is float32, n rows x p columns, column-major unless a function says panels. Every function taking `threads` partitions its work
// statically, so results are deterministic for a given thread count. Functions returning int give 0
// on success and a negative code on error; falcon_last_error() then describes it.
#ifndef FALCON_KERNELS_H
#define FALCON_KERNELS_H
#include <stdint.h>

#if defined(_WIN32)
#  define FALCON_API __declspec(dllexport)
#else
#  define FALCON_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Human-readable description of the last error of this thread. */
FALCON_API const char* falcon_last_error(void);
/** Instruction set the kernels dispatch to: "avx512", "avx2" or "generic". */
FALCON_API const char* falcon_isa(void);
/** setenv(3) for the process (used for OPENBLAS_CORETYPE before OpenBLAS loads). */
FALCON_API int falcon_setenv(const char* name, const char* value);
FALCON_API const char* falcon_getenv(const char* name);
/** OpenBLAS entry points looked up by dlsym in the already-loaded libopenblas ("" when absent). */
FALCON_API const char* falcon_openblas_corename(void);
FALCON_API const char* falcon_openblas_config(void);
FALCON_API int falcon_openblas_set_threads(int threads);
FALCON_API int falcon_openblas_get_threads(void);
/**
 * Ends the process at once with `status` (_exit): no atexit handlers and no library destructors, among them OpenBLAS's,
 * which waits for good for a call still in flight (dev.falcon.backend.NativeCalls).
 */
FALCON_API void falcon_exit_now(int status);

FALCON_API void falcon_fill_uniform(float* dst, int64_t count, int64_t seed, float scale, int threads);
FALCON_API void falcon_fill_synthetic(float* x, int64_t n, int64_t p, int rank, float noise, int64_t seed, int threads);

/** out[0..n) = X v */
FALCON_API void falcon_gemv_n(const float* x, int64_t n, int64_t p, const float* v, float* out, int threads);
/**
 * out[0..n) = X v with every product and sum in double, out in double too: for a residual X d that is tiny against its
 * products, where falcon_gemv_n's float partial sums keep only their rounding, and whose squares the objective sums
 * (each entry rounded to float was 6e-8 off, the fit term 1e-7). Scalar, for one-off evaluations.
 */
FALCON_API void falcon_gemv_n_double(const float* x, int64_t n, int64_t p, const float* v, double* out, int threads);
/** out[0..p) = X^T u */
FALCON_API void falcon_gemv_t(const float* x, int64_t n, int64_t p, const float* u, float* out, int threads);
/**
 * out[0..p) = X^T u with u in double and every product and sum in double, out in double too: where u carries a part that
 * X^T annihilates, hugely amplified (the Woodbury backsolve's M^{-1} right side near a singular M), u rounded to float
 * and float sums left 6e-8 of that part in the result. Each column's sum runs over the rows in order, so the result does
 * not depend on the thread count or on the layout (falcon_panel_gemv_t_double gives the same bits).
 */
FALCON_API void falcon_gemv_t_double(const float* x, int64_t n, int64_t p, const double* u, double* out, int threads);
/** Index of the first NaN or infinity in x[0..count), or -1 (input validation of X, multithreaded). */
FALCON_API int64_t falcon_first_nonfinite(const float* x, int64_t count, int threads);
/** Sum of x[0..count): one streaming read of the buffer, the bandwidth floor the products are measured against. */
FALCON_API double falcon_read_sum(const float* x, int64_t count, int threads);
/**
 * Asks the kernel for transparent huge pages on the whole 2 MiB pages inside [p, p + bytes), before the memory is
 * first touched. Returns 1 when advised, 0 when the range holds no whole huge page, -1 when the kernel refused.
 */
FALCON_API int falcon_advise_huge_pages(void* p, int64_t bytes);
/** out_B = X_B^T (X_B d_B) for every block [starts[b], starts[b+1]), b < blocks. */
FALCON_API void falcon_block_gram(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks,
                                  const float* d, float* out, int threads);
/** dst[:, c] = X[:, columns[c]]; returns -1 on an out-of-range column. */
FALCON_API int falcon_gather(const float* x, int64_t n, int64_t p, const int32_t* columns, int64_t k, float* dst, int threads);
/**
 * a = sqrt(|w_j|) X[:, j] (double) for the next columns j in [j0, p) whose weight has the asked sign (w_j > 0, or
 * w_j < 0 when negative is non-zero; every column when weights is null and negative is zero), at most capacity of
 * them; returns how many were written and the column to resume from in *next. Then sum_j w_j x_j x_j^T is A A^T over
 * the positive columns minus A A^T over the negative ones: two symmetric rank-k updates.
 */
FALCON_API int64_t falcon_gram_scaled_columns(const float* x, int64_t n, int64_t j0, int64_t p, const float* weights,
                                              int negative, double* a, int64_t capacity, int64_t* next, int threads);
/** Copies the lower triangle of an n x n column-major matrix over the upper one. */
FALCON_API void falcon_symmetrize_lower(double* g, int64_t n);

/**
 * Segmented descending stable sort (ties by increasing index) with inclusive prefix sums in double. index may be
 * null: the sort then orders the 4-byte keys alone, in the sorted and prefix buffers, without scratch. Returns -1
 * (first bad index in *bad) for negative/NaN/Inf scores, -2 when the scratch of a sort with indices (8 bytes per
 * score of the largest segment a thread sorts) cannot be allocated.
 */
FALCON_API int falcon_sort_segments(const float* scores, const int64_t* starts, int64_t segments,
                                    float* sorted, int32_t* index, double* prefix, int threads, int64_t* bad);
FALCON_API void falcon_count_above(const float* sorted, const int64_t* starts, int64_t segments,
                                   const double* thresholds, int64_t* counts);

/** Maps [offset, offset+length) of a file read-only; returns the data address; base and mapped receive what falcon_unmap needs. */
FALCON_API void* falcon_map_file(const char* path, int64_t offset, int64_t length, void** base, int64_t* mapped);
FALCON_API int falcon_unmap(void* base, int64_t mapped);
/** Converts a stored matrix (type 0=f32,1=f64,2=f16,3=bf16; bigEndian; rowMajor = C order) into column-major f32. */
FALCON_API int falcon_load_convert(const char* path, int64_t offset, int type, int bigEndian, int rowMajor,
                                   int64_t rows, int64_t cols, float* dst, int threads);
/** The benchmarks' floor for falcon_block_gram: each block of columns [starts[b], starts[b+1]) read twice in a row. */
FALCON_API double falcon_block_touch_twice(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks,
                                           int threads);
// Panel layout: X as consecutive column panels [panels[k], panels[k+1]) (panelCount + 1 entries from 0 to p), each
// stored row-major (n rows of its width) at x + panels[k] * n. The same functions as above on that layout.
FALCON_API void falcon_panel_fill_synthetic(float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                            int rank, float noise, int64_t seed, int threads);
FALCON_API void falcon_panel_gemv_n(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                    const float* v, float* out, int threads);
FALCON_API void falcon_panel_gemv_n_double(const float* x, int64_t n, int64_t p, const int64_t* panels,
                                           int64_t panelCount, const float* v, double* out, int threads);
FALCON_API void falcon_panel_gemv_t(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                    const float* u, float* out, int threads);
FALCON_API void falcon_panel_gemv_t_double(const float* x, int64_t n, int64_t p, const int64_t* panels,
                                           int64_t panelCount, const double* u, double* out, int threads);
/**
 * The benchmarks' floor for a product whose second use of a row waits for the whole row: every element read twice,
 * once as a group of four rows is first read and once more, from cache, while the next group is read. Returns twice
 * the sum of X.
 */
FALCON_API double falcon_panel_touch_twice(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                           int threads);
/** Blocks need not coincide with panels; when they do, every block is read as one sequential stream. */
FALCON_API void falcon_panel_block_gram(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                        const int64_t* starts, int64_t blocks, const float* d, float* out, int threads);
/** dst[:, c] = X[:, columns[c]] (dst column-major n x k); returns -1 on an out-of-range column. */
FALCON_API int falcon_panel_gather(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                   const int32_t* columns, int64_t k, float* dst, int threads);
/**
 * As falcon_gram_scaled_columns on panels, but A = [sqrt(w_j) X[:, j]] is written row-major (n x k, leading dimension
 * k): A^T-major for a transposed syrk. Returns k; *next receives the column to resume from.
 */
FALCON_API int64_t falcon_panel_gram_scaled_rows(const float* x, int64_t n, int64_t p, const int64_t* panels,
                                                 int64_t panelCount, int64_t j0, const float* weights, double* a,
                                                 int64_t capacity, int64_t* next, int threads);
/** As falcon_load_convert, into the panel layout. */
FALCON_API int falcon_panel_load_convert(const char* path, int64_t offset, int type, int bigEndian, int rowMajor,
                                         int64_t rows, int64_t cols, const int64_t* panels, int64_t panelCount,
                                         float* dst, int threads);
FALCON_API void* falcon_malloc(int64_t bytes);
FALCON_API void falcon_free(void* p);

#ifdef __cplusplus
}
#endif
#endif
