// Stand-in for libfalcon_cuda_logic.so where the CUDA toolkit headers (Thrust) were absent at build time.
#include "falcon_cuda_logic.h"
extern "C" {
int fcl_available(void) { return 0; }
int fcl_threads_per_block(void) { return 0; }
int64_t fcl_product_max_slices(void) { return 0; }
int64_t fcl_slice_sums_shared_bytes(int64_t) { return 0; }
int64_t fcl_scan_tile(void) { return 0; }
void fcl_block_gram(const float*, int64_t, int64_t, const int64_t*, int64_t, const float*, float*) {}
void fcl_block_gram_sliced(const float*, int64_t, int64_t, const int64_t*, int64_t, const float*, int, int64_t, float*) {}
void fcl_multiply(const float*, int64_t, int64_t, const float*, int64_t, float*) {}
void fcl_multiply_summed_in_double(const float*, int64_t, int64_t, const float*, int64_t, double*) {}
void fcl_multiply_transposed_summed_in_double(const float*, int64_t, int64_t, const double*, double*) {}
int64_t fcl_gather(const float*, int64_t, int64_t, const int32_t*, int64_t, float*) { return -1; }
void fcl_weighted_gram(const float*, int64_t, int64_t, const float*, int64_t, double*) {}
int64_t fcl_sort_segments(const float*, const int64_t*, int64_t, float*, int32_t*, double*) { return 0; }
void fcl_segmented_prefix_sums(const float*, const int64_t*, int64_t, double*) {}
void fcl_count_above(const float*, const int64_t*, int64_t, const double*, int64_t*) {}
}
