// GPU side of the falcon CUDA kernels: launch configurations and memory movement only. Every kernel
// body lives in falcon_cuda_logic.cuh / falcon_cuda_algorithms.inl and is also compiled for the CPU
// (falcon_cuda_logic_cpu.cpp), where CI tests it.
#include "falcon_cuda.h"
#include "falcon_cuda_algorithms.inl"
#include <cuda_runtime.h>
#include <cooperative_groups.h>
#include <thrust/execution_policy.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/error.h>
#include <thrust/system_error.h>
#include <new>
#include <stdio.h>

using namespace fcl;
#define FCU_STR2(x) #x
#define FCU_STR(x) FCU_STR2(x)
#define FCU_STR_LIST2(...) #__VA_ARGS__
#define FCU_STR_LIST(...) FCU_STR_LIST2(__VA_ARGS__) // __CUDA_ARCH_LIST__ is comma-separated

/**
 * A runtime call's error as the entry points return it. A failed call also stays the thread's last error until
 * cudaGetLastError() reads it, and every launch here ends with that call: left there, a refused cluster attribute
 * would fail the warp kernel launched in its place, a failed cudaMalloc the streamed plan that replaces the resident
 * X. A sticky error (a kernel fault) is not cleared by this and still fails every later call.
 */
static inline int fcu_status(cudaError_t e) {
    if (e != cudaSuccess) (void) cudaGetLastError();
    return (int) e;
}
#define FCU_CHECK(call) do { const int e_ = fcu_status(call); if (e_ != 0) return e_; } while (0)

namespace {

/**
 * Runs Thrust work and returns a CUDA error code like every other entry point. Thrust reports failures by throwing
 * (thrust::system_error, or a std::bad_alloc when its temporary storage cannot be allocated); thrown through this C
 * interface they reached Java as a bare RuntimeException, so an exhausted device looked like an internal error
 * instead of the DeviceMemoryException the callers fall back on.
 */
template <typename Work>
int thrust_call(Work&& work) {
    try {
        work();
        return (int) cudaGetLastError();
    } catch (const thrust::system_error& e) {
        (void) cudaGetLastError(); // as fcu_status: the failed call Thrust threw for may still be the last error
        return e.code().category() == thrust::cuda_category() ? e.code().value() : (int) cudaErrorUnknown;
    } catch (const std::bad_alloc&) {
        (void) cudaGetLastError();
        return (int) cudaErrorMemoryAllocation;
    } catch (...) {
        (void) cudaGetLastError();
        return (int) cudaErrorUnknown;
    }
}

__global__ void block_gram_kernel(const float* x, int64_t n, const int64_t* starts, int64_t blocks,
                                  const float* d, float* out, double* scratch) {
    __shared__ double partial[kThreads];
    const int tid = threadIdx.x;
    double* t = scratch + (int64_t) blockIdx.x * n;
    for (int64_t b = blockIdx.x; b < blocks; b += gridDim.x) {
        const int64_t start = starts[b], end = starts[b + 1];
        block_gram_phase1(x, n, start, end, d, t, tid, kThreads);
        __syncthreads();
        for (int64_t j = start; j < end; j++) {
            partial[tid] = column_dot_partial(x, n, j, t, tid, kThreads);
            __syncthreads();
            for (int half = kThreads / 2; half > 0; half >>= 1) {
                tree_reduce_step(partial, tid, half);
                __syncthreads();
            }
            if (tid == 0) out[j] = (float) partial[0];
            __syncthreads();
        }
    }
}

__device__ __forceinline__ double warp_sum_to_lane0(double s) {
    for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(0xffffffffu, s, offset);
    return s;
}

/**
 * The sliced block-fused product (falcon_cuda_logic.cuh): one column block per cluster of `slices` CUDA blocks
 * (Clustered), or per CUDA block (slices = 1). Dynamic shared memory: partial (n doubles, read by the other CUDA
 * blocks of the cluster), t (n), groups (G x n), then the cached columns (cached x n floats).
 */
template <bool Clustered>
__global__ void __launch_bounds__(kSliceThreads) block_gram_sliced_kernel(const float* x, int64_t n, const int64_t* starts,
                                                                          int64_t blocks, const float* d, float* out,
                                                                          int64_t cached) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int lanes = slice_row_lanes(n, kSliceThreads), groupCount = kSliceThreads / lanes;
    double* partial = reinterpret_cast<double*>(smem);
    double* t = partial + n;
    double* groups = t + n;
    float* cache = reinterpret_cast<float*>(groups + (int64_t) groupCount * n);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, warps = kSliceThreads >> 5;
    const int r = tid % lanes, g = tid / lanes;
    int64_t rank = 0, slices = 1, first = blockIdx.x, stride = gridDim.x;
    if constexpr (Clustered) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        namespace cg = cooperative_groups;
        cg::cluster_group cluster = cg::this_cluster();
        rank = cluster.block_rank();
        slices = cluster.num_blocks();
        first = blockIdx.x / slices;
        stride = gridDim.x / slices;
#endif
    }
    for (int64_t b = first; b < blocks; b += stride) {
        int64_t c0, c1;
        block_slice(starts[b], starts[b + 1], rank, slices, &c0, &c1);
        const int64_t cacheEnd = slice_cache_end(c0, c1, cached);
        if (g < groupCount) block_gram_phase1_group(x, n, c0, c1, d, groups, r, lanes, g, groupCount, cache, cacheEnd);
        __syncthreads();
        for (int64_t i = tid; i < n; i += kSliceThreads) partial[i] = sum_strided(groups, groupCount, n, i);
        if constexpr (Clustered) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            namespace cg = cooperative_groups;
            cg::cluster_group cluster = cg::this_cluster();
            cluster.sync();
            for (int64_t i = tid; i < n; i += kSliceThreads) {
                double s = 0;
                for (int64_t q = 0; q < slices; q++) s += cluster.map_shared_rank(partial, (unsigned) q)[i];
                t[i] = s;
            }
#endif
        } else {
            __syncthreads();
            for (int64_t i = tid; i < n; i += kSliceThreads) t[i] = 0.0 + partial[i];
        }
        __syncthreads();
        for (int64_t j = c0 + warp; j < c1; j += warps) {
            const float* col = slice_column(x, n, j, c0, cache, cacheEnd);
            const double s = warp_sum_to_lane0(column_dot_partial(col, n, 0, t, lane, 32));
            if (lane == 0) out[j] = (float) s;
        }
        if constexpr (Clustered) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            // The other CUDA blocks of the cluster may still be reading this one's partial.
            cooperative_groups::this_cluster().sync();
#endif
        } else {
            __syncthreads();
        }
    }
}

/** A streaming read of count floats (the floor the products are measured against): sum into *dSum (double). */
__global__ void read_sum_kernel(const float* x, int64_t count, double* dSum) {
    __shared__ double warpSums[32];
    const int64_t vectors = count / 4;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const int64_t step = (int64_t) gridDim.x * blockDim.x;
    int64_t v = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    for (; v + 3 * step < vectors; v += 4 * step) {
        const float4 a = x4[v], b = x4[v + step], c = x4[v + 2 * step], e = x4[v + 3 * step];
        s0 += a.x + a.y + a.z + a.w;
        s1 += b.x + b.y + b.z + b.w;
        s2 += c.x + c.y + c.z + c.w;
        s3 += e.x + e.y + e.z + e.w;
    }
    for (; v < vectors; v += step) {
        const float4 a = x4[v];
        s0 += a.x + a.y + a.z + a.w;
    }
    for (int64_t e = vectors * 4 + (int64_t) blockIdx.x * blockDim.x + threadIdx.x; e < count; e += step) s0 += x[e];
    double s = warp_sum_to_lane0((double) s0 + s1 + s2 + s3);
    if ((threadIdx.x & 31) == 0) warpSums[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        s = threadIdx.x < (blockDim.x >> 5) ? warpSums[threadIdx.x] : 0.0;
        s = warp_sum_to_lane0(s);
        if (threadIdx.x == 0) atomicAdd(dSum, s);
    }
}

/** Grid (row tiles of kThreads, slices): thread (i, t) sums slice firstSlice + t of the chunk for row i. */
__global__ void gemv_n_partial_kernel(const float* x, int64_t n, int64_t k, const float* v, int64_t firstSlice,
                                      double* partial) {
    const int64_t i = (int64_t) blockIdx.x * kThreads + threadIdx.x;
    const int64_t t = blockIdx.y;
    if (i >= n) return;
    const int64_t j0 = (firstSlice + t) * kGemvSliceColumns;
    const int64_t j1 = j0 + kGemvSliceColumns < k ? j0 + kGemvSliceColumns : k;
    partial[t * n + i] = gemv_n_slice_row(x, n, j0, j1, v, i);
}

/** One warp per column j < k of the chunk: out[j] = X_chunk[:, j]^T u, in double (falcon_cuda_logic.cuh). */
__global__ void gemv_t_double_kernel(const float* x, int64_t n, int64_t k, const double* u, double* out) {
    const int64_t warpsPerBlock = kThreads / kGemvTLanes;
    const int64_t j = (int64_t) blockIdx.x * warpsPerBlock + threadIdx.x / kGemvTLanes;
    const int lane = threadIdx.x % kGemvTLanes;
    if (j >= k) return;  // a whole warp leaves together: the shuffle below has all 32 lanes
    const double s = warp_sum_to_lane0(column_dot_partial(x, n, j, u, lane, kGemvTLanes));
    if (lane == 0) out[j] = s;
}

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

} // namespace

extern "C" {

int fcu_built(void) { return 1; }
const char* fcu_build_info(void) {
    return "nvcc " FCU_STR(__CUDACC_VER_MAJOR__) "." FCU_STR(__CUDACC_VER_MINOR__) ", static CUDA runtime, compute "
           FCU_STR_LIST(__CUDA_ARCH_LIST__);
}
const char* fcu_error_string(int code) { return cudaGetErrorString((cudaError_t) code); }

int fcu_device_count(int* count) {
    *count = 0;
    return fcu_status(cudaGetDeviceCount(count));
}

int fcu_device_info(int device, char* name, int64_t* total_bytes, int* cc_major, int* cc_minor,
                    int* driver_version, int* runtime_version) {
    cudaDeviceProp prop;
    FCU_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(name, 256, "%s", prop.name);
    *total_bytes = (int64_t) prop.totalGlobalMem;
    *cc_major = prop.major;
    *cc_minor = prop.minor;
    FCU_CHECK(cudaDriverGetVersion(driver_version));
    FCU_CHECK(cudaRuntimeGetVersion(runtime_version));
    return 0;
}

int fcu_set_device(int device) { return fcu_status(cudaSetDevice(device)); }

int fcu_check_kernel_image(void) {
    cudaFuncAttributes attributes;
    return fcu_status(cudaFuncGetAttributes(&attributes, block_gram_kernel));
}

int fcu_mem_info(int64_t* free_bytes, int64_t* total_bytes) {
    size_t f = 0, t = 0;
    FCU_CHECK(cudaMemGetInfo(&f, &t));
    *free_bytes = (int64_t) f;
    *total_bytes = (int64_t) t;
    return 0;
}

int fcu_malloc(void** p, int64_t bytes) { *p = nullptr; return fcu_status(cudaMalloc(p, (size_t) (bytes > 0 ? bytes : 1))); }
int fcu_free(void* p) { return fcu_status(cudaFree(p)); }
int fcu_malloc_host(void** p, int64_t bytes) { *p = nullptr; return fcu_status(cudaMallocHost(p, (size_t) (bytes > 0 ? bytes : 1))); }
int fcu_free_host(void* p) { return fcu_status(cudaFreeHost(p)); }
int fcu_copy(void* dst, const void* src, int64_t bytes) { return fcu_status(cudaMemcpy(dst, src, (size_t) bytes, cudaMemcpyDefault)); }
int fcu_copy_async(void* dst, const void* src, int64_t bytes, void* stream) {
    return fcu_status(cudaMemcpyAsync(dst, src, (size_t) bytes, cudaMemcpyDefault, as_stream(stream)));
}
int fcu_stream_create(void** stream) {
    cudaStream_t s = nullptr;
    // Blocking streams: ordered with the legacy default stream that cudaMemcpy (pageable copies) uses.
    FCU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamDefault));
    *stream = s;
    return 0;
}
int fcu_stream_destroy(void* stream) { return fcu_status(cudaStreamDestroy(as_stream(stream))); }
int fcu_stream_sync(void* stream) { return fcu_status(cudaStreamSynchronize(as_stream(stream))); }
int fcu_event_create(void** event) {
    cudaEvent_t e = nullptr;
    FCU_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *event = e;
    return 0;
}
int fcu_event_destroy(void* event) { return fcu_status(cudaEventDestroy(static_cast<cudaEvent_t>(event))); }
int fcu_event_record(void* event, void* stream) { return fcu_status(cudaEventRecord(static_cast<cudaEvent_t>(event), as_stream(stream))); }
int fcu_stream_wait_event(void* stream, void* event) {
    return fcu_status(cudaStreamWaitEvent(as_stream(stream), static_cast<cudaEvent_t>(event), 0));
}

int fcu_block_gram(const float* dX, int64_t n, const int64_t* dStarts, int64_t blocks,
                   const float* dD, float* dOut, double* dScratch, int grid, void* stream) {
    if (blocks <= 0) return 0;
    int64_t g = grid > 0 ? grid : 4096;
    if (g > blocks) g = blocks;
    block_gram_kernel<<<(unsigned) g, kThreads, 0, as_stream(stream)>>>(dX, n, dStarts, blocks, dD, dOut, dScratch);
    return (int) cudaGetLastError();
}

int fcu_block_gram_sliced(const float* dX, int64_t n, const int64_t* dStarts, int64_t blocks, const float* dD,
                          float* dOut, int slices, int64_t shared_bytes, void* stream) {
    if (blocks <= 0 || n <= 0) return 0;
    if (slices < 1 || slices > 16) return (int) cudaErrorInvalidValue;
    int device = 0, optin = 0;
    FCU_CHECK(cudaGetDevice(&device));
    FCU_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    const int64_t fixed = slice_sums_shared_bytes(n, kSliceThreads);
    if (shared_bytes > optin) shared_bytes = optin;
    if (shared_bytes < fixed) shared_bytes = fixed;
    if (fixed > optin) return (int) cudaErrorInvalidValue; // the sums alone outgrow shared memory: the tree kernel's n
    const int64_t cached = slice_cached_columns(n, kSliceThreads, shared_bytes);
    const size_t smem = (size_t) (fixed + cached * n * (int64_t) sizeof(float));
    // a grid-stride loop takes the blocks beyond the launch's (the grid's x extent is below 2^31)
    const int64_t launched = blocks < 65535 ? blocks : 65535;
    // The attribute is the function's, shared by every host thread: set to this launch's smem, it could drop below that
    // of another thread's launch for a larger n between that thread's setting it and launching, which then fails.
    if (slices == 1) {
        FCU_CHECK(cudaFuncSetAttribute(block_gram_sliced_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
        block_gram_sliced_kernel<false><<<(unsigned) launched, kSliceThreads, smem, as_stream(stream)>>>(
            dX, n, dStarts, blocks, dD, dOut, cached);
        return (int) cudaGetLastError();
    }
    int clusters = 0;
    FCU_CHECK(cudaDeviceGetAttribute(&clusters, cudaDevAttrClusterLaunch, device));
    if (!clusters) return (int) cudaErrorNotSupported;
    // A build without an sm_90 (or later) target runs here from older PTX, compiled with __CUDA_ARCH__ < 900: the
    // cluster sum of t is compiled out of that image, and it would read t unwritten.
    cudaFuncAttributes image;
    FCU_CHECK(cudaFuncGetAttributes(&image, block_gram_sliced_kernel<true>));
    if (image.ptxVersion < 90) return (int) cudaErrorNotSupported;
    FCU_CHECK(cudaFuncSetAttribute(block_gram_sliced_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
    if (slices > 8) FCU_CHECK(cudaFuncSetAttribute(block_gram_sliced_kernel<true>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3((unsigned) (launched * slices));
    config.blockDim = dim3(kSliceThreads);
    config.dynamicSmemBytes = smem;
    config.stream = as_stream(stream);
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = (unsigned) slices;
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    const cudaError_t launched_ = cudaLaunchKernelEx(&config, block_gram_sliced_kernel<true>, dX, n, dStarts, blocks, dD, dOut, cached);
    // a refused configuration (cluster size, resources) must not linger as the last error of the next launch
    const cudaError_t last = cudaGetLastError();
    return (int) (launched_ != cudaSuccess ? launched_ : last);
}

int fcu_max_shared_bytes(int64_t* bytes) {
    int device = 0, optin = 0;
    FCU_CHECK(cudaGetDevice(&device));
    FCU_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    *bytes = optin;
    return 0;
}

int fcu_read_sum(const float* dX, int64_t count, double* dSum, void* stream) {
    if ((reinterpret_cast<uintptr_t>(dX) & 15) != 0) return (int) cudaErrorInvalidValue;
    int device = 0, sms = 0;
    FCU_CHECK(cudaGetDevice(&device));
    FCU_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    FCU_CHECK(cudaMemsetAsync(dSum, 0, sizeof(double), as_stream(stream)));
    read_sum_kernel<<<(unsigned) (sms * 4), 512, 0, as_stream(stream)>>>(dX, count, dSum);
    return (int) cudaGetLastError();
}

int fcu_gemv_n_accumulate(const float* dX, int64_t n, int64_t k, const float* dV, double* dPartial, double* dAcc,
                          int overwrite, void* stream) {
    if (n <= 0) return 0;
    const int64_t slices = (k + kGemvSliceColumns - 1) / kGemvSliceColumns;
    const unsigned rowTiles = (unsigned) ((n + kThreads - 1) / kThreads);
    bool startsAcc = overwrite != 0;
    for (int64_t s0 = 0; s0 < slices; s0 += kGemvMaxSlices) {
        const int64_t m = slices - s0 < kGemvMaxSlices ? slices - s0 : kGemvMaxSlices;
        gemv_n_partial_kernel<<<dim3(rowTiles, (unsigned) m), kThreads, 0, as_stream(stream)>>>(dX, n, k, dV, s0, dPartial);
        FCU_CHECK(cudaGetLastError());
        FCU_CHECK((cudaError_t) thrust_call([&] { add_partials(thrust::cuda::par_nosync.on(as_stream(stream)), dPartial, n, m, dAcc, startsAcc); }));
        startsAcc = false;
    }
    if (startsAcc) { // no columns: the accumulator still has to start at 0
        FCU_CHECK((cudaError_t) thrust_call([&] { add_partials(thrust::cuda::par_nosync.on(as_stream(stream)), dPartial, n, 0, dAcc, true); }));
    }
    return 0;
}

int fcu_gemv_t_double(const float* dX, int64_t n, int64_t k, const double* dU, double* dOut, void* stream) {
    if (k <= 0) return 0;
    const int64_t warpsPerBlock = kThreads / kGemvTLanes;
    const unsigned blocks = (unsigned) ((k + warpsPerBlock - 1) / warpsPerBlock);
    gemv_t_double_kernel<<<blocks, kThreads, 0, as_stream(stream)>>>(dX, n, k, dU, dOut);
    return (int) cudaGetLastError();
}

int fcu_sum_to_float(const double* dA, const double* dB, int64_t n, float* dOut, void* stream) {
    return thrust_call([&] { sum_to_float(thrust::cuda::par_nosync.on(as_stream(stream)), dA, dB, n, dOut); });
}

int fcu_widen_weighted(const float* dX, int64_t n, int64_t k, const float* dW, double* dA, double* dB, void* stream) {
    return thrust_call([&] { widen_weighted(thrust::cuda::par_nosync.on(as_stream(stream)), dX, n, k, dW, dA, dB); });
}

int fcu_widen_sqrt_weighted(const float* dX, int64_t n, int64_t k, const float* dW, double* dA, void* stream) {
    return thrust_call([&] { widen_sqrt_weighted(thrust::cuda::par_nosync.on(as_stream(stream)), dX, n, k, dW, dA); });
}

int fcu_gather(const float* dX, int64_t n, const int32_t* dColumns, int64_t k, float* dDst, void* stream) {
    return thrust_call([&] { gather(thrust::cuda::par_nosync.on(as_stream(stream)), dX, n, dColumns, k, dDst); });
}

int fcu_sort_segments(const float* dScores, const int64_t* dStarts, int64_t segments, int64_t count,
                      float* dSorted, int32_t* dIndex, double* dPrefix, uint64_t* dKeys, double* dScanScratch,
                      int64_t* badIndex, void* stream) {
    return thrust_call([&] {
        *badIndex = sort_segments(thrust::cuda::par.on(as_stream(stream)), dScores, dStarts, segments, count,
                                  dSorted, dIndex, dPrefix, dKeys, dScanScratch);
    });
}

int fcu_segmented_prefix_sums(const float* dSorted, const int64_t* dStarts, int64_t segments, int64_t count,
                              double* dPrefix, double* dScanScratch, void* stream) {
    return thrust_call([&] {
        segmented_prefix_sums(thrust::cuda::par.on(as_stream(stream)), dSorted, dStarts, segments, count, dPrefix, dScanScratch);
    });
}

int fcu_count_above(const float* dSorted, const int64_t* dStarts, int64_t segments,
                    const double* dThresholds, int64_t* dCounts, void* stream) {
    return thrust_call([&] { count_above(thrust::cuda::par_nosync.on(as_stream(stream)), dSorted, dStarts, segments, dThresholds, dCounts); });
}

} // extern "C"
