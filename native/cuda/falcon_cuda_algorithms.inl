// Selection and gather algorithms of the CUDA backend, written once against Thrust with the execution
// policy as a template parameter: falcon_cuda.cu instantiates them with thrust::cuda::par_nosync.on(stream)
// over device pointers, falcon_cuda_logic_cpu.cpp with thrust::cpp::par over host pointers (Thrust's
// CPP backend, compiled by g++). The per-element bodies are those of falcon_cuda_logic.cuh.
#ifndef FALCON_CUDA_ALGORITHMS_INL
#define FALCON_CUDA_ALGORITHMS_INL
#include "falcon_cuda_logic.cuh"
#include <thrust/iterator/counting_iterator.h>
#include <thrust/for_each.h>
#include <thrust/find.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <thrust/sequence.h>

namespace fcl {

struct InvalidScore {
    const float* scores;
    FCL_HD bool operator()(int64_t e) const { return !score_valid(scores[e]); }
};
struct SortKey {
    const float* scores; const int64_t* starts; int64_t segments;
    FCL_HD uint64_t operator()(int64_t e) const { return sort_key(scores, starts, segments, e); }
};
struct KeyScore {
    FCL_HD float operator()(uint64_t key) const { return key_score(key); }
};
struct ScanTile {
    const float* sorted; const int64_t* starts; int64_t segments; int64_t count; double* prefix; double* tails;
    FCL_HD void operator()(int64_t t) const { scan_tile(sorted, starts, segments, count, t, prefix, tails); }
};
struct ScanCarry {
    const int64_t* starts; const double* tails; double* carries;
    FCL_HD void operator()(int64_t s) const { scan_carry_segment(starts, s, tails, carries); }
};
struct ScanAddCarry {
    const int64_t* starts; int64_t segments; const double* carries; double* prefix;
    FCL_HD void operator()(int64_t e) const { scan_add_carry(starts, segments, carries, prefix, e); }
};
struct CountAbove {
    const float* sorted; const int64_t* starts; const double* thresholds; int64_t* counts;
    FCL_HD void operator()(int64_t s) const { count_above_segment(sorted, starts, thresholds, counts, s); }
};
struct Gather {
    const float* x; int64_t n; const int32_t* columns; float* dst;
    FCL_HD void operator()(int64_t e) const { gather_element(x, n, columns, dst, e); }
};

struct AddPartials {
    const double* partial; int64_t n; int64_t slices; double* acc; bool overwrite;
    FCL_HD void operator()(int64_t i) const { add_partials_row(partial, n, slices, acc, overwrite, i); }
};

template <class Policy>
void add_partials(Policy&& policy, const double* partial, int64_t n, int64_t slices, double* acc, bool overwrite) {
    thrust::for_each(policy, thrust::counting_iterator<int64_t>(0), thrust::counting_iterator<int64_t>(n),
                     AddPartials{partial, n, slices, acc, overwrite});
}

struct SumToFloat {
    const double* a; const double* b; float* out;
    FCL_HD void operator()(int64_t i) const { sum_to_float_element(a, b, out, i); }
};

template <class Policy>
void sum_to_float(Policy&& policy, const double* a, const double* b, int64_t n, float* out) {
    thrust::for_each(policy, thrust::counting_iterator<int64_t>(0), thrust::counting_iterator<int64_t>(n),
                     SumToFloat{a, b, out});
}

struct WidenWeighted {
    const float* x; int64_t n; const float* w; double* a; double* b;
    FCL_HD void operator()(int64_t e) const { widen_weighted_element(x, n, w, a, b, e); }
};

template <class Policy>
void widen_weighted(Policy&& policy, const float* x, int64_t n, int64_t k, const float* w, double* a, double* b) {
    thrust::for_each(policy, thrust::counting_iterator<int64_t>(0), thrust::counting_iterator<int64_t>(n * k),
                     WidenWeighted{x, n, w, a, b});
}

struct WidenSqrtWeighted {
    const float* x; int64_t n; const float* w; double* a;
    FCL_HD void operator()(int64_t e) const { widen_sqrt_weighted_element(x, n, w, a, e); }
};

template <class Policy>
void widen_sqrt_weighted(Policy&& policy, const float* x, int64_t n, int64_t k, const float* w, double* a) {
    thrust::for_each(policy, thrust::counting_iterator<int64_t>(0), thrust::counting_iterator<int64_t>(n * k),
                     WidenSqrtWeighted{x, n, w, a});
}

/** Inclusive prefix sums in double of every segment of `sorted` (count entries); `scratch`: scan_scratch_doubles(count). */
template <class Policy>
void segmented_prefix_sums(Policy&& policy, const float* sorted, const int64_t* starts, int64_t segments, int64_t count,
                           double* prefix, double* scratch) {
    const int64_t tiles = scan_tiles(count);
    double* tails = scratch;
    double* carries = scratch + tiles;
    thrust::counting_iterator<int64_t> first(0);
    thrust::for_each(policy, first, first + tiles, ScanTile{sorted, starts, segments, count, prefix, tails});
    thrust::for_each(policy, first, first + segments, ScanCarry{starts, tails, carries});
    thrust::for_each(policy, first, first + count, ScanAddCarry{starts, segments, carries, prefix});
}

/**
 * Segmented descending stable sort with prefix sums. All pointers live in the policy's memory space;
 * `keys` is scratch of `count` entries, `scanScratch` of scan_scratch_doubles(count). `prefix` null: no prefix sums
 * (magnitude needs none; `scanScratch` is not read and may be null). Returns -1 on success, else the index of the first
 * invalid score (nothing else written then).
 */
template <class Policy>
int64_t sort_segments(Policy&& policy, const float* scores, const int64_t* starts, int64_t segments, int64_t count,
                      float* sorted, int32_t* index, double* prefix, uint64_t* keys, double* scanScratch) {
    thrust::counting_iterator<int64_t> first(0), last(count);
    auto bad = thrust::find_if(policy, first, last, InvalidScore{scores});
    if (bad != last) return *bad;
    thrust::transform(policy, first, last, keys, SortKey{scores, starts, segments});
    thrust::sequence(policy, index, index + count);
    thrust::stable_sort_by_key(policy, keys, keys + count, index);
    thrust::transform(policy, keys, keys + count, sorted, KeyScore{});
    if (prefix != nullptr) segmented_prefix_sums(policy, sorted, starts, segments, count, prefix, scanScratch);
    return -1;
}

template <class Policy>
void count_above(Policy&& policy, const float* sorted, const int64_t* starts, int64_t segments,
                 const double* thresholds, int64_t* counts) {
    thrust::for_each(policy, thrust::counting_iterator<int64_t>(0), thrust::counting_iterator<int64_t>(segments),
                     CountAbove{sorted, starts, thresholds, counts});
}

template <class Policy>
void gather(Policy&& policy, const float* x, int64_t n, const int32_t* columns, int64_t k, float* dst) {
    thrust::for_each(policy, thrust::counting_iterator<int64_t>(0), thrust::counting_iterator<int64_t>(n * k),
                     Gather{x, n, columns, dst});
}

} // namespace fcl
#endif
