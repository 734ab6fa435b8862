// CPU driver of the CUDA kernel logic: runs the kernel bodies of falcon_cuda_logic.cuh with the launch
// geometry of falcon_cuda.cu emulated by loops (blocks, then threads, barrier by barrier), and the Thrust
// algorithms of falcon_cuda_algorithms.inl on Thrust's CPP backend. Compiled by g++ against the CUDA
// toolkit's headers only (Thrust/CUB/libcu++); no CUDA runtime or driver is involved.
#include "falcon_cuda_logic.h"
#include "falcon_cuda_algorithms.inl"
#include <thrust/system/cpp/execution_policy.h>
#include <vector>

using namespace fcl;

extern "C" {

int fcl_available(void) { return 1; }
int fcl_threads_per_block(void) { return kThreads; }
int64_t fcl_product_max_slices(void) { return kGemvMaxSlices; }
int64_t fcl_slice_sums_shared_bytes(int64_t n) { return slice_sums_shared_bytes(n, kSliceThreads); }
int64_t fcl_scan_tile(void) { return kScanTile; }

void fcl_block_gram(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks,
                    const float* d, float* out) {
    std::vector<double> t((size_t) n);          // the block's slice of the scratch in global memory
    std::vector<double> partial(kThreads);      // the block's shared memory
    for (int64_t b = 0; b < blocks; b++) {      // blockIdx.x (grid-stride)
        int64_t start = starts[b], end = starts[b + 1];
        for (int tid = 0; tid < kThreads; tid++) block_gram_phase1(x, n, start, end, d, t.data(), tid, kThreads);
        // __syncthreads()
        for (int64_t j = start; j < end; j++) {
            for (int tid = 0; tid < kThreads; tid++) partial[tid] = column_dot_partial(x, n, j, t.data(), tid, kThreads);
            for (int half = kThreads / 2; half > 0; half >>= 1) {  // __syncthreads() between steps
                for (int tid = 0; tid < kThreads; tid++) tree_reduce_step(partial.data(), tid, half);
            }
            out[j] = (float) partial[0];
        }
    }
}

void fcl_block_gram_sliced(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks,
                           const float* d, int slices, int64_t shared_bytes, float* out) {
    const int lanes = slice_row_lanes(n, kSliceThreads), groupCount = kSliceThreads / lanes;
    const int64_t cached = slice_cached_columns(n, kSliceThreads, shared_bytes);
    std::vector<double> groups((size_t) (groupCount * n));          // one CUDA block's shared memory ...
    std::vector<double> partials((size_t) (slices * n));            // ... and the partial of each block in the cluster
    std::vector<std::vector<float>> caches((size_t) slices);        // ... and its cached columns, kept to phase 2
    std::vector<int64_t> c0s((size_t) slices), c1s((size_t) slices), cacheEnds((size_t) slices);
    std::vector<double> t((size_t) n), lane(32);
    for (int64_t b = 0; b < blocks; b++) {                          // one cluster per column block
        for (int rank = 0; rank < slices; rank++) {                 // its CUDA blocks, up to the cluster barrier
            int64_t c0, c1;
            block_slice(starts[b], starts[b + 1], rank, slices, &c0, &c1);
            const int64_t cacheEnd = slice_cache_end(c0, c1, cached);
            c0s[(size_t) rank] = c0, c1s[(size_t) rank] = c1, cacheEnds[(size_t) rank] = cacheEnd;
            // NaN where phase 1 leaves a cached element unwritten, so that phase 2 cannot read it unnoticed
            caches[(size_t) rank].assign((size_t) ((cacheEnd - c0) * n), NAN);
            for (int tid = 0; tid < kSliceThreads; tid++) {
                const int r = tid % lanes, g = tid / lanes;
                if (g < groupCount) {
                    block_gram_phase1_group(x, n, c0, c1, d, groups.data(), r, lanes, g, groupCount,
                                            caches[(size_t) rank].data(), cacheEnd);
                }
            }
            for (int64_t i = 0; i < n; i++) partials[(size_t) (rank * n + i)] = sum_strided(groups.data(), groupCount, n, i);
        }
        for (int64_t i = 0; i < n; i++) t[(size_t) i] = sum_strided(partials.data(), slices, n, i);
        for (int rank = 0; rank < slices; rank++) {
            const int64_t c0 = c0s[(size_t) rank];
            for (int64_t j = c0; j < c1s[(size_t) rank]; j++) {     // one warp per column
                const float* col = slice_column(x, n, j, c0, caches[(size_t) rank].data(), cacheEnds[(size_t) rank]);
                for (int l = 0; l < 32; l++) lane[(size_t) l] = column_dot_partial(col, n, 0, t.data(), l, 32);
                for (int half = 16; half > 0; half >>= 1) {
                    for (int l = 0; l < 32; l++) tree_reduce_step(lane.data(), l, half);
                }
                out[j] = (float) lane[0];
            }
        }
    }
}

// The two streams' accumulators of X v as the GPU path fills them (acc: 2n, stream s's at s * n); started[s]: whether
// stream s had a chunk (one without leaves its accumulator at 0).
static void multiply_accumulators(const float* x, int64_t n, int64_t p, const float* v, int64_t chunk, std::vector<double>& acc,
                                  bool started[2]) {
    if (chunk < 1) chunk = 1;
    std::vector<double> partial((size_t) (kGemvMaxSlices * n));  // the per-stream partial buffer
    for (int64_t c0 = 0, index = 0; c0 < p; c0 += chunk, index++) {
        const int s = (int) (index & 1);
        const int64_t k = p - c0 < chunk ? p - c0 : chunk;
        const float* xc = x + c0 * n;
        const float* vc = v + c0;
        double* a = acc.data() + s * n;
        const int64_t slices = (k + kGemvSliceColumns - 1) / kGemvSliceColumns;
        bool startsAcc = !started[s];
        for (int64_t s0 = 0; s0 < slices; s0 += kGemvMaxSlices) {  // one launch
            const int64_t m = slices - s0 < kGemvMaxSlices ? slices - s0 : kGemvMaxSlices;
            for (int64_t t = 0; t < m; t++) {                         // blockIdx.y
                const int64_t j0 = (s0 + t) * kGemvSliceColumns;
                const int64_t j1 = j0 + kGemvSliceColumns < k ? j0 + kGemvSliceColumns : k;
                for (int64_t i = 0; i < n; i++) partial[(size_t) (t * n + i)] = gemv_n_slice_row(xc, n, j0, j1, vc, i);
            }
            add_partials(thrust::cpp::par, partial.data(), n, m, a, startsAcc);
            startsAcc = false;
        }
        started[s] = true;
    }
}

void fcl_multiply(const float* x, int64_t n, int64_t p, const float* v, int64_t chunk, float* out) {
    std::vector<double> acc((size_t) (2 * n), 0.0);              // one accumulator per stream
    bool started[2] = {false, false};
    multiply_accumulators(x, n, p, v, chunk, acc, started);
    if (!started[0]) {
        for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
        return;
    }
    sum_to_float(thrust::cpp::par, acc.data(), started[1] ? acc.data() + n : nullptr, n, out);
}

void fcl_multiply_summed_in_double(const float* x, int64_t n, int64_t p, const float* v, int64_t chunk, double* out) {
    std::vector<double> acc((size_t) (2 * n), 0.0);
    bool started[2] = {false, false};
    multiply_accumulators(x, n, p, v, chunk, acc, started);
    // the cuda backend copies both accumulators to the host and adds them there, in double, as here
    for (int64_t i = 0; i < n; i++) out[i] = started[1] ? acc[(size_t) i] + acc[(size_t) (n + i)] : acc[(size_t) i];
}

void fcl_multiply_transposed_summed_in_double(const float* x, int64_t n, int64_t p, const double* u, double* out) {
    std::vector<double> lane(kGemvTLanes);
    for (int64_t j = 0; j < p; j++) {                               // one warp per column
        for (int l = 0; l < kGemvTLanes; l++) lane[(size_t) l] = column_dot_partial(x, n, j, u, l, kGemvTLanes);
        for (int half = kGemvTLanes / 2; half > 0; half >>= 1) {
            for (int l = 0; l < kGemvTLanes; l++) tree_reduce_step(lane.data(), l, half);
        }
        out[j] = lane[0];
    }
}

int64_t fcl_gather(const float* x, int64_t n, int64_t p, const int32_t* columns, int64_t k, float* dst) {
    for (int64_t c = 0; c < k; c++) {
        if (columns[c] < 0 || columns[c] >= p) return -(c + 1);
    }
    gather(thrust::cpp::par, x, n, columns, k, dst);
    return 0;
}

void fcl_weighted_gram(const float* x, int64_t n, int64_t p, const float* w, int64_t chunk, double* gram) {
    if (chunk < 1) chunk = 1;
    std::vector<double> a((size_t) (n * chunk)), b((size_t) (n * chunk));
    for (int64_t i = 0; i < n * n; i++) gram[i] = 0;
    bool nonNegative = true;
    for (int64_t j = 0; w != nullptr && j < p; j++) nonNegative = nonNegative && w[j] >= 0;
    for (int64_t c0 = 0; nonNegative && c0 < p; c0 += chunk) {
        int64_t k = p - c0 < chunk ? p - c0 : chunk;
        widen_sqrt_weighted(thrust::cpp::par, x + c0 * n, n, k, w == nullptr ? nullptr : w + c0, a.data());
        for (int64_t c = 0; c < k; c++) {          // dsyrk(lower, N): gram += A A^T, lower triangle
            for (int64_t col = 0; col < n; col++) {
                double ac = a[c * n + col];
                if (ac == 0) continue;
                for (int64_t row = col; row < n; row++) gram[col * n + row] += a[c * n + row] * ac;
            }
        }
    }
    for (int64_t c0 = 0; !nonNegative && c0 < p; c0 += chunk) {
        int64_t k = p - c0 < chunk ? p - c0 : chunk;
        widen_weighted(thrust::cpp::par, x + c0 * n, n, k, w == nullptr ? nullptr : w + c0, a.data(), b.data());
        for (int64_t c = 0; c < k; c++) {          // dgemm(N, T): gram += A B^T
            for (int64_t col = 0; col < n; col++) {
                double bc = b[c * n + col];
                if (bc == 0) continue;
                for (int64_t row = col; row < n; row++) gram[col * n + row] += a[c * n + row] * bc;
            }
        }
    }
    for (int64_t col = 0; col < n; col++) {
        for (int64_t row = 0; row < col; row++) gram[col * n + row] = gram[row * n + col];
    }
}

int64_t fcl_sort_segments(const float* scores, const int64_t* starts, int64_t segments,
                          float* sorted, int32_t* index, double* prefix) {
    int64_t count = starts[segments];
    std::vector<uint64_t> keys((size_t) count);
    std::vector<double> scanScratch((size_t) (prefix != nullptr ? scan_scratch_doubles(count) : 0));
    return sort_segments(thrust::cpp::par, scores, starts, segments, count, sorted, index, prefix, keys.data(),
                         scanScratch.data());
}

void fcl_segmented_prefix_sums(const float* sorted, const int64_t* starts, int64_t segments, double* prefix) {
    int64_t count = starts[segments];
    std::vector<double> scratch((size_t) scan_scratch_doubles(count));
    segmented_prefix_sums(thrust::cpp::par, sorted, starts, segments, count, prefix, scratch.data());
}

void fcl_count_above(const float* sorted, const int64_t* starts, int64_t segments,
                     const double* thresholds, int64_t* counts) {
    count_above(thrust::cpp::par, sorted, starts, segments, thresholds, counts);
}

} // extern "C"
