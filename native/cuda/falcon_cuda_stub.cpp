// Stand-in for libfalcon_cuda.so where nvcc was absent at build time: same API, every call fails with
// FCU_NOT_BUILT, so the binding always exists and `falcon env` can say why there is no CUDA backend.
#include "falcon_cuda.h"
#define FCU_NOT_BUILT (-1)
extern "C" {
int fcu_built(void) { return 0; }
#ifndef FCU_STUB_REASON
#define FCU_STUB_REASON "falcon CUDA kernels were not built (nvcc absent at build time)"
#endif
const char* fcu_build_info(void) { return FCU_STUB_REASON; }
const char* fcu_error_string(int) { return FCU_STUB_REASON; }
int fcu_device_count(int* count) { *count = 0; return FCU_NOT_BUILT; }
int fcu_device_info(int, char* name, int64_t*, int*, int*, int*, int*) { name[0] = 0; return FCU_NOT_BUILT; }
int fcu_set_device(int) { return FCU_NOT_BUILT; }
int fcu_check_kernel_image(void) { return FCU_NOT_BUILT; }
int fcu_mem_info(int64_t*, int64_t*) { return FCU_NOT_BUILT; }
int fcu_malloc(void** p, int64_t) { *p = nullptr; return FCU_NOT_BUILT; }
int fcu_free(void*) { return FCU_NOT_BUILT; }
int fcu_malloc_host(void** p, int64_t) { *p = nullptr; return FCU_NOT_BUILT; }
int fcu_free_host(void*) { return FCU_NOT_BUILT; }
int fcu_copy(void*, const void*, int64_t) { return FCU_NOT_BUILT; }
int fcu_copy_async(void*, const void*, int64_t, void*) { return FCU_NOT_BUILT; }
int fcu_stream_create(void** s) { *s = nullptr; return FCU_NOT_BUILT; }
int fcu_stream_destroy(void*) { return FCU_NOT_BUILT; }
int fcu_stream_sync(void*) { return FCU_NOT_BUILT; }
int fcu_event_create(void** e) { *e = nullptr; return FCU_NOT_BUILT; }
int fcu_event_destroy(void*) { return FCU_NOT_BUILT; }
int fcu_event_record(void*, void*) { return FCU_NOT_BUILT; }
int fcu_stream_wait_event(void*, void*) { return FCU_NOT_BUILT; }
int fcu_block_gram(const float*, int64_t, const int64_t*, int64_t, const float*, float*, double*, int, void*) { return FCU_NOT_BUILT; }
int fcu_block_gram_sliced(const float*, int64_t, const int64_t*, int64_t, const float*, float*, int, int64_t, void*) { return FCU_NOT_BUILT; }
int fcu_max_shared_bytes(int64_t* bytes) { *bytes = 0; return FCU_NOT_BUILT; }
int fcu_read_sum(const float*, int64_t, double*, void*) { return FCU_NOT_BUILT; }
int fcu_gemv_n_accumulate(const float*, int64_t, int64_t, const float*, double*, double*, int, void*) { return FCU_NOT_BUILT; }
int fcu_sum_to_float(const double*, const double*, int64_t, float*, void*) { return FCU_NOT_BUILT; }
int fcu_gemv_t_double(const float*, int64_t, int64_t, const double*, double*, void*) { return FCU_NOT_BUILT; }
int fcu_widen_weighted(const float*, int64_t, int64_t, const float*, double*, double*, void*) { return FCU_NOT_BUILT; }
int fcu_widen_sqrt_weighted(const float*, int64_t, int64_t, const float*, double*, void*) { return FCU_NOT_BUILT; }
int fcu_gather(const float*, int64_t, const int32_t*, int64_t, float*, void*) { return FCU_NOT_BUILT; }
int fcu_sort_segments(const float*, const int64_t*, int64_t, int64_t, float*, int32_t*, double*, uint64_t*, double*, int64_t* bad, void*) { *bad = -1; return FCU_NOT_BUILT; }
int fcu_segmented_prefix_sums(const float*, const int64_t*, int64_t, int64_t, double*, double*, void*) { return FCU_NOT_BUILT; }
int fcu_count_above(const float*, const int64_t*, int64_t, const double*, int64_t*, void*) { return FCU_NOT_BUILT; }
}
