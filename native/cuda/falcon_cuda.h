// falcon CUDA kernels and the few CUDA runtime calls the Java side needs (libfalcon_cuda.so, built only
// when nvcc is found; static CUDA runtime, needs only the driver's libcuda.so.1 at run time).
// Bound by dev.falcon.cuda.nativelib.FalconCuda. Pointers named d* are device pointers. Functions
// returning int give the cudaError_t value (0 = success); fcu_error_string() names it.
#ifndef FALCON_CUDA_H
#define FALCON_CUDA_H
#include <stdint.h>
#define FCU_API __attribute__((visibility("default")))
#ifdef __cplusplus
extern "C" {
#endif
/** 1 when this library holds the GPU kernels, 0 for the stub built where nvcc was absent. */
FCU_API int fcu_built(void);
/** Why the library is a stub ("" when built with nvcc), or the name of a cudaError_t value. */
FCU_API const char* fcu_build_info(void);
FCU_API const char* fcu_error_string(int code);
FCU_API int fcu_device_count(int* count);
/** name: at least 256 bytes. */
FCU_API int fcu_device_info(int device, char* name, int64_t* total_bytes, int* cc_major, int* cc_minor,
                            int* driver_version, int* runtime_version);
FCU_API int fcu_set_device(int device);
/** 0 when the kernels of this library have an image the current device can run (cudaFuncGetAttributes), else the
 *  cudaError_t (cudaErrorNoKernelImageForDevice or cudaErrorInvalidDeviceFunction: built for other architectures). */
FCU_API int fcu_check_kernel_image(void);
FCU_API int fcu_mem_info(int64_t* free_bytes, int64_t* total_bytes);
FCU_API int fcu_malloc(void** p, int64_t bytes);
FCU_API int fcu_free(void* p);
/** Pinned (page-locked) host memory for overlapped copies. */
FCU_API int fcu_malloc_host(void** p, int64_t bytes);
FCU_API int fcu_free_host(void* p);
FCU_API int fcu_copy(void* dst, const void* src, int64_t bytes);
FCU_API int fcu_copy_async(void* dst, const void* src, int64_t bytes, void* stream);
FCU_API int fcu_stream_create(void** stream);
FCU_API int fcu_stream_destroy(void* stream);
FCU_API int fcu_stream_sync(void* stream);
FCU_API int fcu_event_create(void** event);
FCU_API int fcu_event_destroy(void* event);
FCU_API int fcu_event_record(void* event, void* stream);
FCU_API int fcu_stream_wait_event(void* stream, void* event);

/** Block-fused product; dScratch holds min(blocks, grid) * n doubles; grid <= 0 picks min(blocks, 4096). */
FCU_API int fcu_block_gram(const float* dX, int64_t n, const int64_t* dStarts, int64_t blocks,
                           const float* dD, float* dOut, double* dScratch, int grid, void* stream);
/**
 * Sliced block-fused product (same result contract as fcu_block_gram; sums in the order falcon_cuda_logic.cuh
 * describes): slices = 1, one CUDA block per column block; 2..16, a cluster of that many per column block (compute
 * capability 9.0 and up, and a build whose falcon.cuda.archs include 90 or later; else cudaErrorNotSupported).
 * shared_bytes: the dynamic shared memory per CUDA block (capped at fcu_max_shared_bytes), whatever is left after the
 * sums' 8 (2 + G) n bytes caching columns of the slice; cudaErrorInvalidValue when the sums alone exceed that cap.
 */
FCU_API int fcu_block_gram_sliced(const float* dX, int64_t n, const int64_t* dStarts, int64_t blocks, const float* dD,
                                  float* dOut, int slices, int64_t shared_bytes, void* stream);
/** The most dynamic shared memory one CUDA block of the current device may ask for. */
FCU_API int fcu_max_shared_bytes(int64_t* bytes);
/** *dSum = the sum of count floats at dX (16-byte aligned): one streaming read, the floor of the products. */
FCU_API int fcu_read_sum(const float* dX, int64_t count, double* dSum, void* stream);
/**
 * dAcc[0..n) (double) = (overwrite ? 0 : dAcc) + X_chunk v_chunk for the k columns of a chunk (dV: the chunk's part of
 * v), each product summed in double: slices of kGemvSliceColumns columns into dPartial (kGemvMaxSlices x n doubles),
 * then added in slice order.
 */
FCU_API int fcu_gemv_n_accumulate(const float* dX, int64_t n, int64_t k, const float* dV, double* dPartial, double* dAcc,
                                  int overwrite, void* stream);
/**
 * dOut[0..k) (double) = X_chunk^T u for the k columns of a chunk, u (dU, n doubles), every product and sum in double:
 * one warp per column, as falcon_cuda_logic.cuh describes (the Woodbury backsolve's product near a singular system).
 */
FCU_API int fcu_gemv_t_double(const float* dX, int64_t n, int64_t k, const double* dU, double* dOut, void* stream);
/** dOut[i] = (float) (dA[i] + dB[i]) for i < n; dB null: 0. */
FCU_API int fcu_sum_to_float(const double* dA, const double* dB, int64_t n, float* dOut, void* stream);
/** dA = X_chunk diag(w) and dB = X_chunk in double (n x k); dW null: weights 1. */
/** dA = sqrt(w_c) X[:, c] in double for the k columns of a chunk (weights >= 0; dW null: 1): the input of cublasDsyrk. */
FCU_API int fcu_widen_sqrt_weighted(const float* dX, int64_t n, int64_t k, const float* dW, double* dA, void* stream);
FCU_API int fcu_widen_weighted(const float* dX, int64_t n, int64_t k, const float* dW, double* dA, double* dB, void* stream);
FCU_API int fcu_gather(const float* dX, int64_t n, const int32_t* dColumns, int64_t k, float* dDst, void* stream);
/** *badIndex = -1 on success, else the first invalid score's index; dKeys: count uint64 scratch; dScanScratch: the
 *  prefix sums' 2 ceil(count / fcl_scan_tile()) doubles. dPrefix null: no prefix sums, and dScanScratch may be null. */
FCU_API int fcu_sort_segments(const float* dScores, const int64_t* dStarts, int64_t segments, int64_t count,
                              float* dSorted, int32_t* dIndex, double* dPrefix, uint64_t* dKeys, double* dScanScratch,
                              int64_t* badIndex, void* stream);
/** The prefix sums of fcu_sort_segments alone (for tests and timings): values in any order, segments may be empty. */
FCU_API int fcu_segmented_prefix_sums(const float* dSorted, const int64_t* dStarts, int64_t segments, int64_t count,
                                      double* dPrefix, double* dScanScratch, void* stream);
FCU_API int fcu_count_above(const float* dSorted, const int64_t* dStarts, int64_t segments,
                            const double* dThresholds, int64_t* dCounts, void* stream);
#ifdef __cplusplus
}
#endif
#endif
