// falcon CUDA kernel logic: the per-thread bodies of every falcon CUDA kernel, written once as
// __host__ __device__ functions. nvcc compiles them into the GPU kernels (falcon_cuda.cu); g++
// compiles the very same bodies into the CPU driver (falcon_cuda_logic_cpu.cpp), which runs the
// "blocks" and "threads" of a launch as sequential loops, so CI tests what the GPU runs.
// Only launch configuration and memory movement are GPU-only code.
//
// Conventions: X column-major float32, n rows x p columns; block/segment starts are int64, begin at
// 0, increase strictly and end at p; reductions accumulate in double.
#ifndef FALCON_CUDA_LOGIC_CUH
#define FALCON_CUDA_LOGIC_CUH
#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__CUDACC__)
#  define FCL_HD __host__ __device__ __forceinline__
#  define FCL_UNROLL _Pragma("unroll 16")
#else
#  define FCL_HD inline
#  define FCL_UNROLL
#endif

namespace fcl {

/** Threads per CUDA block of every falcon kernel; the CPU driver emulates the same count. */
constexpr int kThreads = 256;

// ------------------------------------------------------------------ block-fused product
// One CUDA block per column block B = [starts[b], starts[b+1]):
//   phase 1 (thread tid):   t[i] = sum_{j in B} x[i,j] d[j] for rows i = tid, tid+T, ...
//   barrier
//   phase 2 (per column j): partial[tid] = sum_{i = tid, tid+T, ...} x[i,j] t[i]
//   tree reduction of partial[0..T) (log2 T barrier-separated steps), out[j] = (float) partial[0]

FCL_HD void block_gram_phase1(const float* x, int64_t n, int64_t start, int64_t end,
                              const float* d, double* t, int tid, int nthreads) {
    for (int64_t i = tid; i < n; i += nthreads) {
        double s = 0;
        for (int64_t j = start; j < end; j++) {
            double dj = d[j];
            if (dj != 0) s += (double) x[j * n + i] * dj;
        }
        t[i] = s;
    }
}

/** Partial dot product of column j with t over the rows of thread tid. */
FCL_HD double column_dot_partial(const float* x, int64_t n, int64_t j, const double* t, int tid, int nthreads) {
    double s = 0;
    const float* col = x + j * n;
    for (int64_t i = tid; i < n; i += nthreads) s += (double) col[i] * t[i];
    return s;
}

/** One step of the shared-memory tree reduction: partial[tid] += partial[tid + half] for tid < half. */
FCL_HD void tree_reduce_step(double* partial, int tid, int half) {
    if (tid < half) partial[tid] += partial[tid + half];
}

// ------------------------------------------------------------------ block-fused product, sliced variants
// The tree kernel above gives each column block to one CUDA block and reads every column twice from memory: the
// second read, which needs the whole block's t first, comes long after the first, when hundreds of other blocks
// have gone through the L2 cache. The sliced kernels cut a column block into `slices` consecutive column slices,
// one per CUDA block of a cluster (one slice, a single CUDA block, without clusters):
//   phase 1: thread (r, g) of R row lanes x G column groups sums columns c0+g, c0+g+G, ... of its slice for rows
//            r, r+R, ... into groups[g*n + i]; barrier; partial[i] = sum_g groups[g*n + i] in g order
//   cluster barrier; t[i] = sum over the cluster's slices s (in rank order) of partial_s[i]
//   phase 2: one warp per column j of the slice: lane l sums rows l, l+32, ...; the 32 lane sums reduced as the
//            tree of tree_reduce_step (which __shfl_down_sync reproduces on lane 0); out[j] = (float) sum
// A slice is small enough that its second read comes from the CUDA block's shared memory (the first `cached`
// columns, copied there during phase 1) or from L2. Every sum is in double and its order fixed by (slices, R, G):
// results do not depend on the device or on scheduling.

/** Threads per CUDA block of the sliced kernels. */
constexpr int kSliceThreads = 512;

/** Row lanes R of phase 1: n rounded up to a warp, at most `threads` (then each lane takes rows r, r+R, ...). */
FCL_HD int slice_row_lanes(int64_t n, int threads) {
    int64_t r = (n + 31) / 32 * 32;
    return (int) (r < threads ? r : threads);
}

/** Shared memory of the sliced kernels' sums: partial and t (n doubles each) and the G column groups' (G x n). */
FCL_HD int64_t slice_sums_shared_bytes(int64_t n, int threads) {
    return (2 + threads / slice_row_lanes(n, threads)) * n * (int64_t) sizeof(double);
}

/** Columns of its slice a CUDA block keeps in shared memory: what shared_bytes holds beyond the sums, as floats. */
FCL_HD int64_t slice_cached_columns(int64_t n, int threads, int64_t shared_bytes) {
    const int64_t left = shared_bytes - slice_sums_shared_bytes(n, threads);
    return left > 0 ? left / (n * (int64_t) sizeof(float)) : 0;
}

/** End of the cached columns of the slice [c0, c1): its first `cached` columns, or all of it. */
FCL_HD int64_t slice_cache_end(int64_t c0, int64_t c1, int64_t cached) {
    return c0 + (cached < c1 - c0 ? cached : c1 - c0);
}

/** Column j of the slice starting at c0 as phase 2 reads it: the copy phase 1 left in the cache, else X's. */
FCL_HD const float* slice_column(const float* x, int64_t n, int64_t j, int64_t c0, const float* cache, int64_t cacheEnd) {
    return j < cacheEnd ? cache + (j - c0) * n : x + j * n;
}

/** Slice `rank` of `slices` of the column block [start, end): [c0, c1), as even as integer division allows. */
FCL_HD void block_slice(int64_t start, int64_t end, int64_t rank, int64_t slices, int64_t* c0, int64_t* c1) {
    const int64_t width = end - start;
    *c0 = start + width * rank / slices;
    *c1 = start + width * (rank + 1) / slices;
}

/**
 * Phase 1 of thread (r, g): groups[g*n + i] = sum_{j = c0+g, c0+g+G, ... < c1} x[i,j] d[j] for i = r, r+R, ...
 * Columns before cacheEnd are also copied to cache[(j - c0)*n + i] (nullptr: none) for phase 2.
 */
FCL_HD void block_gram_phase1_group(const float* x, int64_t n, int64_t c0, int64_t c1, const float* d, double* groups,
                                    int r, int lanes, int g, int groupCount, float* cache, int64_t cacheEnd) {
    for (int64_t i = r; i < n; i += lanes) {
        double s = 0;
        FCL_UNROLL
        for (int64_t j = c0 + g; j < c1; j += groupCount) {
            const double dj = d[j];
            const bool cached = j < cacheEnd;
            if (dj == 0 && !cached) continue;
            const float xv = x[j * n + i];
            if (cached) cache[(j - c0) * n + i] = xv;
            if (dj != 0) s += (double) xv * dj;
        }
        groups[(int64_t) g * n + i] = s;
    }
}

/** sum_{k < count} parts[k*stride + i] in k order, in double. */
FCL_HD double sum_strided(const double* parts, int64_t count, int64_t stride, int64_t i) {
    double s = 0;
    for (int64_t k = 0; k < count; k++) s += parts[k * stride + i];
    return s;
}

// ------------------------------------------------------------------ product X v, accumulated in double
// cuBLAS sgemv would sum all p products of a row in float. Instead, one thread per (row i, slice t) of
// kGemvSliceColumns columns sums its slice in double into partial[t*n + i]; launches cover at most
// kGemvMaxSlices slices (the partial buffer's size), and after each one, one thread per row adds the partials
// to acc[i] in slice order, in double.

/** Columns per slice of the product X v. */
constexpr int64_t kGemvSliceColumns = 512;
/** Slices per launch: the partial buffer holds kGemvMaxSlices x n doubles (also the grid's y extent, < 65536). */
constexpr int64_t kGemvMaxSlices = 4096;

/** sum_{j in [j0, j1)} x[i,j] v[j] in double (columns whose v is 0 are skipped, as the reference does). */
FCL_HD double gemv_n_slice_row(const float* x, int64_t n, int64_t j0, int64_t j1, const float* v, int64_t i) {
    double s = 0;
    for (int64_t j = j0; j < j1; j++) {
        double vj = v[j];
        if (vj != 0) s += (double) x[j * n + i] * vj;
    }
    return s;
}

/** acc[i] = (overwrite ? 0 : acc[i]) + sum_{t < slices} partial[t*n + i], in slice order, in double. */
FCL_HD void add_partials_row(const double* partial, int64_t n, int64_t slices, double* acc, bool overwrite, int64_t i) {
    double s = overwrite ? 0.0 : acc[i];
    for (int64_t t = 0; t < slices; t++) s += partial[t * n + i];
    acc[i] = s;
}

/** out[i] = (float) (a[i] + b[i]) (b == nullptr: 0): the two streams' accumulators, rounded once. */
FCL_HD void sum_to_float_element(const double* a, const double* b, float* out, int64_t i) {
    out[i] = (float) (b == nullptr ? a[i] : a[i] + b[i]);
}

// ------------------------------------------------------------------ product X^T u, u and sums in double
// For the Woodbury backsolve's X_K^T u near a singular system, where u rounded to float and float sums (cuBLAS sgemv)
// left 6e-8 of a hugely amplified part that X^T annihilates. One warp per column j: lane l sums rows l, l+32, ... in
// double (column_dot_partial with u as t), and the 32 lane sums are reduced as the tree of tree_reduce_step, which
// warp_sum_to_lane0's __shfl_down_sync reproduces on lane 0. Not the rows' order that ComputeBackend promises of the
// other backends (its javadoc and README name this exception): a warp summing a column serially would leave 31 lanes
// idle. nvcc also fuses each lane's multiply-adds (no -fmad=false), which g++ does not for the CPU driver, so the GPU's
// bits are the driver's only to rounding; CudaLogicTransposedOrderTest pins the order and the bound.

/** Lanes per column of the product X^T u in double: one warp. */
constexpr int kGemvTLanes = 32;

// ------------------------------------------------------------------ column gather
/** dst[c*n + i] = x[columns[c]*n + i] for linear element e = c*n + i (columns validated beforehand). */
FCL_HD void gather_element(const float* x, int64_t n, const int32_t* columns, float* dst, int64_t e) {
    int64_t c = e / n, i = e - c * n;
    dst[e] = x[(int64_t) columns[c] * n + i];
}

// ------------------------------------------------------------------ weighted Gram (input of cuBLAS dgemm)
/** For element e = c*n + i of a column chunk: b[e] = x[e], a[e] = x[e] * w[c] (w == nullptr: weight 1), in double. */
FCL_HD void widen_weighted_element(const float* x, int64_t n, const float* w, double* a, double* b, int64_t e) {
    double v = x[e];
    b[e] = v;
    a[e] = w == nullptr ? v : v * (double) w[e / n];
}

/**
 * For element e = c*n + i of a column chunk: a[e] = x[e] * sqrt(w[c]) (w == nullptr: weight 1), in double. With
 * weights >= 0, sum_c w_c x_c x_c^T = A A^T: the input of cuBLAS dsyrk (half the work of dgemm on A and B).
 */
FCL_HD void widen_sqrt_weighted_element(const float* x, int64_t n, const float* w, double* a, int64_t e) {
    double v = x[e];
    a[e] = w == nullptr ? v : v * sqrt((double) w[e / n]);
}

// ------------------------------------------------------------------ selection
/** Whether a score is acceptable to the sort: finite and >= 0 (-0.0 included). */
FCL_HD bool score_valid(float v) {
    return v >= 0.0f && v <= 3.4028234663852886e38f; // false for NaN, negatives and +inf
}

FCL_HD uint32_t float_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

FCL_HD float bits_float(uint32_t u) {
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/** Segment of global position e: the s with starts[s] <= e < starts[s+1] (binary search). */
FCL_HD int64_t segment_of(const int64_t* starts, int64_t segments, int64_t e) {
    int64_t lo = 0, hi = segments - 1; // answer in [lo, hi]
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= e) lo = mid; else hi = mid - 1;
    }
    return lo;
}

/**
 * Radix-sort key of score e: segment id in the high 32 bits, then the inverted bit pattern of the
 * (non-negative, -0.0 folded to 0.0) score, so an ascending stable sort of the keys (values = original
 * indices, in increasing order) gives every segment in descending score order, ties by increasing index:
 * the ordering contract of ComputeBackend.sortSegmentsDescending.
 */
FCL_HD uint64_t sort_key(const float* scores, const int64_t* starts, int64_t segments, int64_t e) {
    float v = scores[e] + 0.0f;
    uint64_t seg = (uint64_t) segment_of(starts, segments, e);
    return (seg << 32) | (uint64_t) (0xffffffffu - float_bits(v));
}

/** Score back from its key. */
FCL_HD float key_score(uint64_t key) {
    return bits_float(0xffffffffu - (uint32_t) (key & 0xffffffffu));
}

// ------------------------------------------------------------------ segmented prefix sums
// Inclusive prefix sums in double of every segment of the sorted scores. One thread walking a whole segment made a
// chain of p dependent additions on a single GPU thread for one segment of all weights (an embedder's sort; magnitude
// asks for no sums) and of millions for a large layer in the projection's per-layer sort, so the scan runs as three data-parallel passes over tiles of kScanTile consecutive positions of the
// whole array (a tile may hold the end of one segment and the start of the next; the sums restart there):
//   1. one thread per tile t: inclusive sums from the tile's start or from each segment start inside it into prefix,
//      and the tile's last running sum into tails[t]
//   2. one thread per segment: for each tile t that starts strictly inside it, in tile order,
//      carries[t] = carries[t-1] + tails[t-1] (the first such tile's carry is the tail of the tile the segment starts in)
//   3. one thread per element e of tile t whose segment started before the tile: prefix[e] += carries[t]
// The order of every addition depends only on kScanTile and the segment starts, never on the device or the launch,
// so the GPU and the CPU driver give the same bits. It is not a serial sum's order: the results agree with one to
// rounding (the cpu and java backends sum serially).

/** Positions per tile of the segmented scan (a compile-time constant: the sums' order must not depend on the GPU). */
constexpr int64_t kScanTile = 2048;

/** Values passes 1 and 2 load before adding them (the additions keep their order). */
constexpr int kScanBatch = 16;

FCL_HD int64_t scan_tiles(int64_t count) { return (count + kScanTile - 1) / kScanTile; }

/** Scratch of the scan, in doubles: the tails, then the carries (one of each per tile). */
FCL_HD int64_t scan_scratch_doubles(int64_t count) { return 2 * scan_tiles(count); }

/** Pass 1 for tile t (segments may be empty: their starts are skipped). */
FCL_HD void scan_tile(const float* sorted, const int64_t* starts, int64_t segments, int64_t count, int64_t t,
                      double* prefix, double* tails) {
    const int64_t first = t * kScanTile, end = first + kScanTile < count ? first + kScanTile : count;
    int64_t s = segment_of(starts, segments, first), next = starts[s + 1];
    double running = 0;
    for (int64_t e = first;;) {
        const int64_t runEnd = next < end ? next : end; // no segment starts inside [e, runEnd)
        // Loaded kScanBatch at a time: stores to prefix, which the compiler cannot prove apart from sorted, would
        // otherwise hold every load back until the previous store, one memory latency per element on the GPU.
        for (; e + kScanBatch <= runEnd; e += kScanBatch) {
            float batch[kScanBatch];
            for (int k = 0; k < kScanBatch; k++) batch[k] = sorted[e + k];
            for (int k = 0; k < kScanBatch; k++) {
                running += batch[k];
                prefix[e + k] = running;
            }
        }
        for (; e < runEnd; e++) {
            running += sorted[e];
            prefix[e] = running;
        }
        if (e == end) break;
        running = 0;
        do next = starts[++s + 1]; while (next == e);
    }
    tails[t] = running;
}

/** Pass 2 for segment s: the carries of the tiles starting strictly inside it, the only carries pass 3 reads. */
FCL_HD void scan_carry_segment(const int64_t* starts, int64_t s, const double* tails, double* carries) {
    const int64_t end = starts[s + 1];
    int64_t t = starts[s] / kScanTile + 1;
    double carry = 0;
    // batched for the reason given in scan_tile: one thread walks all p / kScanTile tiles of a single segment
    for (; (t + kScanBatch - 1) * kScanTile < end; t += kScanBatch) {
        double batch[kScanBatch];
        for (int k = 0; k < kScanBatch; k++) batch[k] = tails[t - 1 + k];
        for (int k = 0; k < kScanBatch; k++) {
            carry += batch[k];
            carries[t + k] = carry;
        }
    }
    for (; t * kScanTile < end; t++) {
        carry += tails[t - 1];
        carries[t] = carry;
    }
}

/** Pass 3 for element e. */
FCL_HD void scan_add_carry(const int64_t* starts, int64_t segments, const double* carries, double* prefix, int64_t e) {
    const int64_t t = e / kScanTile;
    if (t > 0 && starts[segment_of(starts, segments, e)] < t * kScanTile) prefix[e] += carries[t];
}

/** counts[s] = #{v in segment s of descending `sorted` : (double) v > thresholds[s]} (binary search). */
FCL_HD void count_above_segment(const float* sorted, const int64_t* starts, const double* thresholds,
                                int64_t* counts, int64_t s) {
    int64_t lo = starts[s], hi = starts[s + 1];
    double t = thresholds[s];
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if ((double) sorted[mid] > t) lo = mid + 1; else hi = mid;
    }
    counts[s] = lo - starts[s];
}

} // namespace fcl
#endif
