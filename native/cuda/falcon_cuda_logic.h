// CPU driver of the CUDA kernel logic (libfalcon_cuda_logic.so, built always, no CUDA needed):
// the bodies of falcon_cuda_logic.cuh and the Thrust algorithms of falcon_cuda_algorithms.inl run on
// the CPU with the GPU launch geometry emulated. Bound by dev.falcon.cuda.nativelib.CudaLogic.
#ifndef FALCON_CUDA_LOGIC_H
#define FALCON_CUDA_LOGIC_H
#include <stdint.h>
#define FCL_API __attribute__((visibility("default")))
#ifdef __cplusplus
extern "C" {
#endif
/** 1 when built with the kernel logic, 0 for the stub built where the CUDA toolkit headers were absent. */
FCL_API int fcl_available(void);
/** Threads per block of the GPU kernels (and of this emulation). */
FCL_API int fcl_threads_per_block(void);
/** Column slices per launch of the product X v (kGemvMaxSlices): the partial buffer's size in units of n doubles. */
FCL_API int64_t fcl_product_max_slices(void);
/** Shared memory the sliced block product kernels need for their sums at n rows (before caching columns). */
FCL_API int64_t fcl_slice_sums_shared_bytes(int64_t n);
/** Positions per tile of the segmented prefix sums (kScanTile): the scan scratch is 2 doubles per tile. */
FCL_API int64_t fcl_scan_tile(void);
/** Block-fused product out_B = X_B^T (X_B d_B), one emulated CUDA block per column block. */
FCL_API void fcl_block_gram(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks,
                            const float* d, float* out);
/** The sliced block-fused product as fcu_block_gram_sliced computes it: `slices` CUDA blocks (a cluster) per column
 *  block, each summing its column slice, the cluster's partials added in rank order, one warp per column; each
 *  block's second pass reads the columns it cached in shared_bytes of shared memory from that copy. */
FCL_API void fcl_block_gram_sliced(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks,
                                   const float* d, int slices, int64_t shared_bytes, float* out);
/** out (n) = X v as the GPU path computes it: column chunks of `chunk` alternating between two double accumulators
 *  (the two streams), each chunk in launches of slices summed in double (the bodies of the GPU kernels), then the
 *  accumulators added and rounded to float once. */
FCL_API void fcl_multiply(const float* x, int64_t n, int64_t p, const float* v, int64_t chunk, float* out);
/** out (n) = X v as the cuda backend's multiplySummedInDouble computes it: fcl_multiply's two accumulators, added in
 *  double and left in double (the objective squares them). */
FCL_API void fcl_multiply_summed_in_double(const float* x, int64_t n, int64_t p, const float* v, int64_t chunk, double* out);
/** out (p) = X^T u with u, every product and every sum in double, as the cuda backend's
 *  multiplyTransposedSummedInDouble computes it: one emulated warp per column, each lane summing its rows
 *  (column_dot_partial), the 32 lane sums reduced as the tree of tree_reduce_step (the device also fuses the lanes'
 *  multiply-adds, which this driver does not: the same order, bits equal to rounding). */
FCL_API void fcl_multiply_transposed_summed_in_double(const float* x, int64_t n, int64_t p, const double* u, double* out);
/** dst (n x k) = columns of X; returns 0 or the (1-based) position of the first invalid column, negated. */
FCL_API int64_t fcl_gather(const float* x, int64_t n, int64_t p, const int32_t* columns, int64_t k, float* dst);
/** gram (n x n, both triangles) = X diag(w) X^T as the GPU path computes it: with weights >= 0 (or w null) the
 *  sqrt-weight widening kernel per column chunk, then plain loops in the role of cuBLAS dsyrk (A A^T, lower
 *  triangle); with a negative weight the two-operand widening kernel and loops in dgemm's role (A B^T). The lower
 *  triangle is mirrored. */
FCL_API void fcl_weighted_gram(const float* x, int64_t n, int64_t p, const float* w, int64_t chunk, double* gram);
/** The segmented sort with its tiled prefix sums, as fcu_sort_segments runs them; segments may be empty; prefix null:
 *  no prefix sums. Returns -1 on success, else the index of the first invalid score. */
FCL_API int64_t fcl_sort_segments(const float* scores, const int64_t* starts, int64_t segments,
                                  float* sorted, int32_t* index, double* prefix);
/** The sort's prefix sums alone, as fcu_segmented_prefix_sums runs them (values in any order; segments may be empty). */
FCL_API void fcl_segmented_prefix_sums(const float* sorted, const int64_t* starts, int64_t segments, double* prefix);
FCL_API void fcl_count_above(const float* sorted, const int64_t* starts, int64_t segments,
                             const double* thresholds, int64_t* counts);
#ifdef __cplusplus
}
#endif
#endif
