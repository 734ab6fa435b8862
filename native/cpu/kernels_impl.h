// Per-ISA kernels, included by kernels_avx512.cpp / kernels_avx2.cpp / kernels_generic.cpp, each compiled
// with its own target flags and FALCON_NS naming its namespace. Written with GCC vector extensions
// sized to one native register, so one source serves every instruction set.
#include <stdint.h>
#include <string.h>
#if FALCON_VBYTES >= 32
#include <immintrin.h>
#endif

#include "panels.h"

namespace falcon { namespace FALCON_NS {

#ifndef FALCON_VBYTES
#define FALCON_VBYTES 16
#endif
// One native register: 16 floats (AVX-512), 8 (AVX2) or 4 (SSE2); wider types would spill registers.
constexpr int W = FALCON_VBYTES / 4;
typedef float vf __attribute__((vector_size(FALCON_VBYTES)));
typedef float vfu __attribute__((vector_size(FALCON_VBYTES), aligned(4)));

static inline vf load(const float* p) { return *(const vfu*)p; }
static inline void store(float* p, vf v) { *(vfu*)p = v; }
static inline vf splat(float s) { return vf{} + s; }
/**
 * Sum of a vector's lanes in a fixed pairwise order: lane k + half added to lane k, then the same on the low half.
 * Written as halves of halves so that it stays in registers: the loop over a spilled array it replaces went through
 * the stack with store-forwarding stalls, once per row group (C++ harness, n = 512, block 2000: the panel kernel
 * 1.03-1.11x on one thread, 0.99-1.05x on two; the same bits).
 */
template <int BYTES>
struct LaneSum {
    typedef float whole __attribute__((vector_size(BYTES)));
    typedef float half __attribute__((vector_size(BYTES / 2)));
    static inline float of(whole v) {
        half lo, hi;
        memcpy(&lo, &v, sizeof lo);
        memcpy(&hi, (const char*)&v + sizeof lo, sizeof hi);
        return LaneSum<BYTES / 2>::of(lo + hi);
    }
};
template <>
struct LaneSum<4> {
    typedef float whole __attribute__((vector_size(4)));
    static inline float of(whole v) { return v[0]; }
};
static inline float hsum(vf v) { return LaneSum<FALCON_VBYTES>::of(v); }

/**
 * One pass over columns [0, len) of two groups of four vectors (panel rows, or columns of column-major X), the
 * vectors of a group `stride` apart. With DOT: dots[k] += (vector k of `dotted`) . v. With AXPY: o += sum_k u[k] *
 * (vector k of `added`), added in increasing k. Both in one loop when both are set, each half in the order it has
 * alone, so fused and separate calls give the same bits. With PREFETCH the loop also prefetches from `ahead` at four
 * times the dotted group's pace (the next group of columns).
 */
template <bool DOT, bool AXPY, bool PREFETCH = false>
static inline void rows4_pass(const float* dotted, const float* added, int64_t stride, int64_t len,
                              const float* __restrict v, float dots[4], const float u[4], float* __restrict o,
                              const float* ahead = nullptr) {
    const float *d0 = dotted, *d1 = dotted + stride, *d2 = dotted + 2 * stride, *d3 = dotted + 3 * stride;
    const float *r0 = added, *r1 = added + stride, *r2 = added + 2 * stride, *r3 = added + 3 * stride;
    vf u0 = splat(0), u1 = splat(0), u2 = splat(0), u3 = splat(0);
    if constexpr (AXPY) { u0 = splat(u[0]); u1 = splat(u[1]); u2 = splat(u[2]); u3 = splat(u[3]); }
    vf a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
    vf b0 = splat(0), b1 = splat(0), b2 = splat(0), b3 = splat(0);
    int64_t j = 0;
    for (; j + 2 * W <= len; j += 2 * W) {
        if constexpr (DOT) {
            if constexpr (PREFETCH)
                for (int k = 0; k < 8 * W; k += 16) __builtin_prefetch(ahead + 4 * j + k, 0, 3);
            const vf v0 = load(v + j), v1 = load(v + j + W);
            a0 += load(d0 + j) * v0; b0 += load(d0 + j + W) * v1;
            a1 += load(d1 + j) * v0; b1 += load(d1 + j + W) * v1;
            a2 += load(d2 + j) * v0; b2 += load(d2 + j + W) * v1;
            a3 += load(d3 + j) * v0; b3 += load(d3 + j + W) * v1;
        }
        if constexpr (AXPY) {
            vf o0 = load(o + j), o1 = load(o + j + W);
            o0 += load(r0 + j) * u0; o1 += load(r0 + j + W) * u0;
            o0 += load(r1 + j) * u1; o1 += load(r1 + j + W) * u1;
            o0 += load(r2 + j) * u2; o1 += load(r2 + j + W) * u2;
            o0 += load(r3 + j) * u3; o1 += load(r3 + j + W) * u3;
            store(o + j, o0);
            store(o + j + W, o1);
        }
    }
    for (; j + W <= len; j += W) {
        if constexpr (DOT) {
            const vf v0 = load(v + j);
            a0 += load(d0 + j) * v0;
            a1 += load(d1 + j) * v0;
            a2 += load(d2 + j) * v0;
            a3 += load(d3 + j) * v0;
        }
        if constexpr (AXPY) {
            vf o0 = load(o + j);
            o0 += load(r0 + j) * u0;
            o0 += load(r1 + j) * u1;
            o0 += load(r2 + j) * u2;
            o0 += load(r3 + j) * u3;
            store(o + j, o0);
        }
    }
    float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    if constexpr (DOT) { t0 = hsum(a0 + b0); t1 = hsum(a1 + b1); t2 = hsum(a2 + b2); t3 = hsum(a3 + b3); }
    for (; j < len; j++) {
        if constexpr (DOT) {
            t0 += d0[j] * v[j];
            t1 += d1[j] * v[j];
            t2 += d2[j] * v[j];
            t3 += d3[j] * v[j];
        }
        if constexpr (AXPY) {
            float acc = o[j];
            acc += r0[j] * u[0];
            acc += r1[j] * u[1];
            acc += r2[j] * u[2];
            acc += r3[j] * u[3];
            o[j] = acc;
        }
    }
    if constexpr (DOT) { dots[0] += t0; dots[1] += t1; dots[2] += t2; dots[3] += t3; }
}

/** o[0..len) += sum_k u[k] * (vector k, at r + k * stride), k < 4, added in increasing k: panel rows or columns. */
static inline void axpy_rows4(const float* r, int64_t stride, int64_t len, const float u[4], float* __restrict o) {
    rows4_pass<false, true>(r, r, stride, len, nullptr, nullptr, u, o);
}

/**
 * s[k] += (vector k, at r + k * stride) . v over len floats, k < 4: four panel rows, or four columns of column-major
 * X. With PREFETCH, the loop also prefetches from `ahead` at four times its own pace (the next group of columns).
 */
template <bool PREFETCH = false>
static inline void dot_rows4(const float* r, int64_t stride, int64_t len, const float* __restrict v, float s[4],
                             const float* ahead = nullptr) {
    rows4_pass<true, false, PREFETCH>(r, r, stride, len, v, s, nullptr, nullptr, ahead);
}

static inline void axpy_row(const float* r, int64_t len, float u, float* __restrict o) {
    const vf u0 = splat(u);
    int64_t j = 0;
    for (; j + W <= len; j += W) store(o + j, load(o + j) + load(r + j) * u0);
    for (; j < len; j++) o[j] += r[j] * u;
}

/** t[0..n) += sum over columns [j0, j1) of x_j * d_j (t must already hold the starting value). */
static void axpy_columns(const float* __restrict x, int64_t n, int64_t j0, int64_t j1,
                         const float* __restrict d, float* __restrict t) {
    int64_t j = j0;
    const int64_t nv = n / W * W;
    for (; j + 8 <= j1; j += 8) {
        const float* c0 = x + j * n;
        const vf v0 = splat(d[j]), v1 = splat(d[j + 1]), v2 = splat(d[j + 2]), v3 = splat(d[j + 3]);
        const vf v4 = splat(d[j + 4]), v5 = splat(d[j + 5]), v6 = splat(d[j + 6]), v7 = splat(d[j + 7]);
        int64_t i = 0;
        const float* ahead = c0 + 8 * n;  // the next group of 8 columns: prefetched while this one runs
        for (; i < nv; i += W) {
            for (int k = 0; k < 8 * W; k += 16) __builtin_prefetch(ahead + 8 * i + k, 0, 3);
            vf acc = load(t + i);
            acc += load(c0 + i) * v0;
            acc += load(c0 + n + i) * v1;
            acc += load(c0 + 2 * n + i) * v2;
            acc += load(c0 + 3 * n + i) * v3;
            acc += load(c0 + 4 * n + i) * v4;
            acc += load(c0 + 5 * n + i) * v5;
            acc += load(c0 + 6 * n + i) * v6;
            acc += load(c0 + 7 * n + i) * v7;
            store(t + i, acc);
        }
        for (; i < n; i++) {
            float acc = t[i];
            for (int k = 0; k < 8; k++) acc += c0[k * n + i] * d[j + k];
            t[i] = acc;
        }
    }
    for (; j + 4 <= j1; j += 4) axpy_rows4(x + j * n, n, n, d + j, t);
    for (; j < j1; j++) axpy_row(x + j * n, n, d[j], t);
}

static inline float dot_row(const float* r, int64_t len, const float* __restrict v) {
    vf a0 = splat(0), b0 = splat(0);
    int64_t j = 0;
    for (; j + 2 * W <= len; j += 2 * W) {
        a0 += load(r + j) * load(v + j);
        b0 += load(r + j + W) * load(v + j + W);
    }
    for (; j + W <= len; j += W) a0 += load(r + j) * load(v + j);
    float t = hsum(a0 + b0);
    for (; j < len; j++) t += r[j] * v[j];
    return t;
}

/** out[j] = x_j . t for j in [j0, j1). */
static void dot_columns(const float* __restrict x, int64_t n, int64_t j0, int64_t j1,
                        const float* __restrict t, float* __restrict out, int64_t prefetchDistance) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const float* c0 = x + j * n;
        float s[4] = {0, 0, 0, 0};
        // data needed later: the next group, or the next block
        dot_rows4<true>(c0, n, n, t, s, c0 + prefetchDistance);
        out[j] = s[0]; out[j + 1] = s[1]; out[j + 2] = s[2]; out[j + 3] = s[3];
    }
    for (; j < j1; j++) out[j] = dot_row(x + j * n, n, t);
}

/**
 * Fused block product for blocks [b0, b1): t_B = X_B d_B, then out_B = X_B^T t_B. The second pass
 * over a block must wait for the whole of t_B, so a block is read twice: once from DRAM and once from
 * cache (L2 when it fits, else L3, which on these CPUs holds what L2 evicts). Measured and rejected:
 * interleaving the cache pass of block b with the DRAM pass of block b+1 chunk by chunk (too many
 * concurrent streams for the hardware prefetcher: 0.45x of read instead of 0.6x), and prefetching the
 * next block during the cache pass (no gain), and row tiling big blocks so that the second pass
 * comes from L2 rather than L3 (8-register row tiles, strided DRAM reads: 0.57x of read vs 0.64x).
 * Both passes prefetch their next column group.
 * Also measured and rejected (n = 128 and 512, block 2000, 2 threads, same-run ratios to read_sum):
 * software prefetch of the next block spread over both passes at half rate (0.31-0.47x: on these CPUs L3
 * is a victim cache, so prefetched lines land in L2 and evict the block being re-read); 32-row tiles that
 * fit L2 (0.50-0.58x); 8-column dot groups with a transposed horizontal sum (faster in cache, slower from
 * DRAM without the group prefetch). In cache the fused pair runs at ~45 GB/s per core, so the kernel is not
 * compute-bound: each vCPU pulls only ~10 GB/s from DRAM and none while re-reading a block. What gained was
 * a different layout of X, each block stored row-major (one pass, each row reused from L1): the panel kernels
 * below, which the cpu backend uses for the X it creates; this kernel serves column-major X (a mapped
 * Fortran-order file).
 */
void block_gram(const float* x, int64_t n, const int64_t* starts, int64_t b0, int64_t b1,
                const float* d, float* out, float* t, float*) {
    for (int64_t b = b0; b < b1; b++) {
        const int64_t s = starts[b], e = starts[b + 1];
        memset(t, 0, sizeof(float) * n);
        axpy_columns(x, n, s, e, d, t);
        dot_columns(x, n, s, e, t, out, 4 * n);
    }
}

/** acc[0..n) (double) += X[:, j0..j1) v, accumulated in float over chunks of 256 columns. */
void gemv_n_range(const float* x, int64_t n, int64_t j0, int64_t j1, const float* v, double* acc, float* t) {
    for (int64_t c = j0; c < j1; c += 256) {
        const int64_t ce = c + 256 < j1 ? c + 256 : j1;
        memset(t, 0, sizeof(float) * n);
        axpy_columns(x, n, c, ce, v, t);
        for (int64_t i = 0; i < n; i++) acc[i] += t[i];
    }
}

void gemv_t_range(const float* x, int64_t n, int64_t j0, int64_t j1, const float* u, float* out) {
    dot_columns(x, n, j0, j1, u, out, 4 * n);
}

// ------------------------------------------------------------------ panel layout
// "C++ harness" below: benchmarks/native/kernel_harness.cpp (benchmarks/native/harness.sh builds and runs it); the
// variants named before 2026-12-03 night were measured with earlier versions of it.
// In a row-major panel every row segment is contiguous, so both products of a block are computed while its rows
// are in L1: s_i = row_i . d, then out += s_i row_i. X is read exactly once, as one sequential stream. Four rows at
// a time share the loads of d and of out (JMH, n = 512, block 2000, 2 threads: 0.86-0.96x of a streaming read of the
// same buffer, against 0.57-0.58x for the column-major pair of passes; one row at a time gave 0.67-0.84x
// standalone). Measured and rejected: prefetching the next four rows during the axpy half (0.66-0.87x).
// On the AVX-512 VM with ~2.5x the bandwidth, the in-cache axpy half no longer hid behind the DRAM reads (the dot
// half alone ran at 74-79 GB/s, the pair at 50-53): software pipelining the next group's dot with this group's axpy
// raised the pair to 52-66 GB/s (C++ harness, 2 threads, same runs; a plain single-accumulator version of the same
// pipeline, 55-115% of read, and groups of 2 or 8 rows did no better). Also measured and rejected (C++ harness, n = 512
// and 128, block 2000, 2 threads, 10 rounds each against read_sum): storing each panel's rows permuted so that the four
// rows of every group continue the previous group's four streams (n = 512: 81% of read vs 84% for plain panels; n = 128:
// 75% vs 74%), storing the four rows of a group interleaved vector by vector, one stream per core (48-52 GB/s vs
// 56-68 for the panel kernel), one pipeline running across block boundaries (no prologue or epilogue per block: within
// noise at n = 128 and 512), four vectors per row per iteration (69% vs 77%), and software prefetch 1-4 KB ahead in
// the four dotted rows (1-16 points worse). The dot half alone runs at 85-97% of read_sum in the same rounds.
// Rejected as well (same harness, 5-6 best-of-3 rounds): the axpy half walking its rows backwards, so that the columns
// dotted last are re-read while still in L1 (72% vs 82% at n = 512); the axpy half issued before the dot half in the
// loop body (74-75% vs 85-87%); blocks claimed dynamically by the threads instead of a fixed half each (77% vs 79%,
// the two threads' busy times already differ by under 3%); the accumulator `out` placed at 0, 1, 2 or 3 KB past a
// 4 KB boundary (within 2 points: no 4K aliasing between its stores and the rows' loads); rows padded to a 4 KB
// stride (72% vs 83%: set conflicts); prefetching the axpy half's own rows into L1 128 or 256 floats ahead (2026-12-03,
// same harness, 2 threads, n = 512: 84-86% vs 90% in a round where the read gave 35 GB/s, 52-66% vs 66% in one at 67).
// Single-threaded the pipelined pair reaches ~29 GB/s against ~36-38 for the read and ~35 for the dot half alone: when
// the VM gives ~40 GB/s it runs at 89-100% of the read, at ~77 GB/s it is bound by the core, not by memory.
// Also rejected (2026-12-03, same harness, 2 threads, n = 512, the VM reading 78-88 GB/s): the axpy half summing its
// four rows as a tree, (r0 u0 + r1 u1) + (r2 u2 + r3 u3), instead of a chain on o (59-66 GB/s against 63-66), and
// blocks of 4000 or 8000 columns (0.66-0.74 of the read against 0.73-0.75 at 2000; 500-1000: 0.54-0.62, where even
// the dot half alone falls from 77-81 to 55-65 GB/s).
// The floor of this access pattern, panel_touch_twice below (the same reads, no arithmetic; JMH nativeTwoTouchRead):
// in the C++ harness (2 threads, n = 512, block 2000, the VM reading 73-87 GB/s) it ran at 0.58-0.92 of read_sum for
// groups of 1, 2, 4 or 8 rows (0.75-0.86, 0.58-0.79, 0.76-0.88, 0.80-0.92), and this kernel ran at 0.88-1.08 of it
// in every undisturbed JMH round (0.96-1.08 in six rounds at 61-74 GB/s, the floor at 0.73-0.79 of the read): at
// full bandwidth the second read of every row, not the arithmetic, keeps it under the read.
// Its own ceiling, on an X of 32 MB that the L3 cache serves at 160-180 GB/s (n = 512): 77-79 GB/s on two threads,
// 33-34 on one, the same as from DRAM on one thread: the cores, not the memory, bound it near this VM's read.
// Measured and rejected with the register lane sum (2026-12-03, same harness): groups of eight rows with sixteen
// accumulators (0.93x the four-row kernel, one and two threads), and the AVX2 build on this AVX-512 CPU (0.80x).
// Rejected too (2026-12-03 evening, same harness, n = 512, 2 threads, three rounds each): the next group's dot and this
// group's axpy alternating over chunks of 256 or 512 columns instead of within one loop (0.73-0.85x this kernel, which
// ran at 0.81-0.90 of read_sum in those rounds).
// Also measured and rejected (2026-12-03 night; the VM's CPU is family 26, Zen 5: 48 KB L1D, 1 MB L2; C++ harness, n = 512,
// block 2000, X 400 MB from DRAM, one thread, best of 5; this kernel 36 GB/s against 45 for read_sum, 37 for the two-touch
// floor): pipelines of one row, so that the second touch comes from L1 instead of L2 (their working set, 4 x 8 KB, fits
// L1), ran at 19 GB/s; with software prefetch 256 B to 8 KB ahead 19-22, dotting row i + 2 or i + 3 instead of i + 1 18-19,
// the block stored as 4 or 8 column sub-panels so that a row is read as four or eight sequential streams 15-17, and two-
// row groups 18 (2 threads: one-row 29, two-row 34, against 45-53 for this kernel and 64-72 for the read). The cause is
// the axpy's store stream next to DRAM loads: the axpy of one row per step alone, rows from DRAM into an accumulator in
// L1, reaches 28 GB/s where the dot alone reaches 41; in L2 the one-row pipeline runs at 80 GB/s, this kernel at 50.

/** out over the block made of pieces[0..count) = X_B^T (X_B d_B), in one pass over its rows. */
void panel_block_gram(const PanelPiece* pieces, int64_t count, int64_t n, const float* d, float* out) {
    for (int64_t q = 0; q < count; q++) memset(out + pieces[q].col, 0, sizeof(float) * pieces[q].len);
    int64_t i = 0;
    if (count == 1 && n >= 8) {
        // Software pipelined: while the rows of group g are added into out (from cache), the rows of group g + 1
        // are dotted with d (from DRAM), so the core keeps requesting X instead of idling the memory bus.
        const PanelPiece& pc = pieces[0];
        const float* dv = d + pc.col;
        float* o = out + pc.col;
        float s[4] = {0, 0, 0, 0};
        dot_rows4(pc.base, pc.stride, pc.len, dv, s);
        for (i = 4; i + 4 <= n; i += 4) {
            float next[4] = {0, 0, 0, 0};
            rows4_pass<true, true>(pc.base + i * pc.stride, pc.base + (i - 4) * pc.stride, pc.stride, pc.len, dv, next, s, o);
            for (int k = 0; k < 4; k++) s[k] = next[k];
        }
        axpy_rows4(pc.base + (i - 4) * pc.stride, pc.stride, pc.len, s, o);
    }
    for (; i + 4 <= n; i += 4) {
        float s[4] = {0, 0, 0, 0};
        for (int64_t q = 0; q < count; q++) {
            const PanelPiece& pc = pieces[q];
            dot_rows4(pc.base + i * pc.stride, pc.stride, pc.len, d + pc.col, s);
        }
        for (int64_t q = 0; q < count; q++) {
            const PanelPiece& pc = pieces[q];
            axpy_rows4(pc.base + i * pc.stride, pc.stride, pc.len, s, out + pc.col);
        }
    }
    for (; i < n; i++) {
        float s = 0;
        for (int64_t q = 0; q < count; q++) s += dot_row(pieces[q].base + i * pieces[q].stride, pieces[q].len, d + pieces[q].col);
        for (int64_t q = 0; q < count; q++) axpy_row(pieces[q].base + i * pieces[q].stride, pieces[q].len, s, out + pieces[q].col);
    }
}

/**
 * panel_block_gram's traffic without its arithmetic: every group of four rows read (from DRAM) while the group before
 * it is read again (from cache), as the product must, since a row's second use waits for the whole row's dot. The
 * floor of any kernel with that dependency, for the benchmarks. Returns the piece's sum of elements, twice.
 */
double panel_touch_twice(const PanelPiece& pc, int64_t n) {
    const int64_t len = pc.len, stride = pc.stride;
    vf a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
    vf c0 = splat(0), c1 = splat(0), c2 = splat(0), c3 = splat(0);
    double tail = 0;
    const int64_t groups = n / 4, vlen = len / W * W;
    for (int64_t g = 0; g <= groups; g++) {
        const bool haveFirst = g < groups, haveAgain = g > 0;
        if (!haveFirst && !haveAgain) continue;
        const float* first = pc.base + 4 * g * stride;                  // read for the first time (if haveFirst)
        const float* again = haveAgain ? first - 4 * stride : nullptr;  // read again
        if (haveFirst && haveAgain) {
            for (int64_t j = 0; j < vlen; j += W) {
                a0 += load(first + j); a1 += load(first + stride + j);
                a2 += load(first + 2 * stride + j); a3 += load(first + 3 * stride + j);
                c0 += load(again + j); c1 += load(again + stride + j);
                c2 += load(again + 2 * stride + j); c3 += load(again + 3 * stride + j);
            }
        } else {
            const float* r = haveFirst ? first : again;
            for (int64_t j = 0; j < vlen; j += W) {
                a0 += load(r + j); a1 += load(r + stride + j);
                a2 += load(r + 2 * stride + j); a3 += load(r + 3 * stride + j);
            }
        }
        for (int k = 0; k < 4; k++)
            for (int64_t j = vlen; j < len; j++) tail += (haveFirst ? first[k * stride + j] : 0.0) + (haveAgain ? again[k * stride + j] : 0.0);
    }
    for (int64_t i = 4 * groups; i < n; i++)
        for (int64_t j = 0; j < len; j++) tail += 2.0 * pc.base[i * stride + j];
    return (double)hsum((a0 + a1) + (a2 + a3)) + (double)hsum((c0 + c1) + (c2 + c3)) + tail;
}

/** acc[i] += (row i of the piece) . v[col..col+len) for every row i < n (float dot, added in double). */
void panel_dot_rows(const PanelPiece& pc, int64_t n, const float* v, double* acc) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float s[4] = {0, 0, 0, 0};
        dot_rows4(pc.base + i * pc.stride, pc.stride, pc.len, v + pc.col, s);
        for (int k = 0; k < 4; k++) acc[i + k] += s[k];
    }
    for (; i < n; i++) acc[i] += dot_row(pc.base + i * pc.stride, pc.len, v + pc.col);
}

// ------------------------------------------------------------------ products summed in double
// X v with every product and sum in double, for the objective and the solver's exact Q: a sum of large products that
// cancel keeps its small residual, which float partial sums lose. The floats are widened half a register at a time:
// a plain scalar loop ran at 0.58x the float kernel's speed (n = 128, p = 2M, panels, 2 threads, AVX-512).
typedef double vd __attribute__((vector_size(FALCON_VBYTES)));
typedef double vdu __attribute__((vector_size(FALCON_VBYTES), aligned(8)));
typedef float vh __attribute__((vector_size(FALCON_VBYTES / 2), aligned(4)));
constexpr int WD = FALCON_VBYTES / 8;

#if FALCON_VBYTES == 64
// __builtin_convertvector of 8 floats to 8 doubles came out of GCC 12 as two half conversions with an extract and an
// insert per vector; the intrinsic is one vcvtps2pd from memory
static inline vd widen(const float* p) { return (vd)_mm512_cvtps_pd(_mm256_loadu_ps(p)); }
#elif FALCON_VBYTES == 32
static inline vd widen(const float* p) { return (vd)_mm256_cvtps_pd(_mm_loadu_ps(p)); }
#else
static inline vd widen(const float* p) { return __builtin_convertvector(*(const vh*)p, vd); }
#endif

/** The lanes of a double vector added in increasing order: fixed, so a result does not depend on the compiler. */
static inline double lanes_in_order(vd v) {
    double s = 0;
    for (int k = 0; k < WD; k++) s += v[k];
    return s;
}

/** s[k] = (row k of the R rows `stride` apart from r) . v[0..len), products and sums in double. */
template <int R>
static inline void dot_rows_double(const float* r, int64_t stride, int64_t len, const float* __restrict v, double s[R]) {
    vd a[R];
    for (int k = 0; k < R; k++) a[k] = vd{};
    int64_t j = 0;
    for (; j + WD <= len; j += WD) {
        const vd x = widen(v + j);
        for (int k = 0; k < R; k++) a[k] += widen(r + k * stride + j) * x;
    }
    for (int k = 0; k < R; k++) s[k] = lanes_in_order(a[k]);
    for (; j < len; j++)
        for (int k = 0; k < R; k++) s[k] += (double)r[k * stride + j] * v[j];
}

/**
 * acc[i] += (row i of the piece) . v[col..col+len) for every row i < n, products and sums in double. Eight rows share
 * each widened piece of v (four: 1.43-1.46x the float kernel's time, n = 128, p = 2M, 2 threads, AVX-512).
 */
void panel_dot_rows_double(const PanelPiece& pc, int64_t n, const float* v, double* acc) {
    const float* vc = v + pc.col;
    int64_t i = 0;
    double s[8];
    for (; i + 8 <= n; i += 8) {
        dot_rows_double<8>(pc.base + i * pc.stride, pc.stride, pc.len, vc, s);
        for (int k = 0; k < 8; k++) acc[i + k] += s[k];
    }
    for (; i < n; i++) {
        dot_rows_double<1>(pc.base + i * pc.stride, pc.stride, pc.len, vc, s);
        acc[i] += s[0];
    }
}

/** acc[0..n) += columns [j0, j1) of column-major X times v, products and sums in double; columns where v is 0 skipped. */
void gemv_n_double_range(const float* x, int64_t n, int64_t j0, int64_t j1, const float* v, double* acc) {
    int64_t picked[4];
    int m = 0;
    auto add = [&](int count) {
        double c[4] = {0, 0, 0, 0};
        const float* col[4] = {x, x, x, x};
        for (int k = 0; k < count; k++) {
            c[k] = v[picked[k]];
            col[k] = x + picked[k] * n;
        }
        // four columns per load and store of acc; a missing column adds 0 times the first, which leaves acc as it is
        const vd c0 = vd{} + c[0], c1 = vd{} + c[1], c2 = vd{} + c[2], c3 = vd{} + c[3];
        int64_t i = 0;
        for (; i + WD <= n; i += WD) {
            vd a = *(const vdu*)(acc + i);
            a += widen(col[0] + i) * c0;
            a += widen(col[1] + i) * c1;
            a += widen(col[2] + i) * c2;
            a += widen(col[3] + i) * c3;
            *(vdu*)(acc + i) = a;
        }
        for (; i < n; i++) {
            double a = acc[i];
            for (int k = 0; k < 4; k++) a += (double)col[k][i] * c[k];
            acc[i] = a;
        }
    };
    for (int64_t j = j0; j < j1; j++) {
        if (v[j] == 0) continue;
        picked[m++] = j;
        if (m == 4) {
            add(4);
            m = 0;
        }
    }
    if (m > 0) add(m);
}

/** out[col..col+len) = sum over rows i of u[i] * (row i of the piece). */
void panel_axpy_rows(const PanelPiece& pc, int64_t n, const float* u, float* out) {
    float* o = out + pc.col;
    memset(o, 0, sizeof(float) * pc.len);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) axpy_rows4(pc.base + i * pc.stride, pc.stride, pc.len, u + i, o);
    for (; i < n; i++) axpy_row(pc.base + i * pc.stride, pc.len, u[i], o);
}

/**
 * Sum of x[i0..i1): a pure streaming read, the floor of any pass over X. The range is read as four streams a
 * quarter apart, one accumulator each: on the 2-vCPU EPYC VMs one sequential stream per core reaches only ~60 GB/s
 * for two cores, four reach ~78 (two ~71, eight ~73), and the products' kernels also read several rows at once, so a
 * one-stream floor would flatter them.
 */
double read_sum(const float* x, int64_t i0, int64_t i1) {
    const int64_t quarter = (i1 - i0) / (4 * W) * W;
    const float* s0 = x + i0;
    const float* s1 = s0 + quarter;
    const float* s2 = s1 + quarter;
    const float* s3 = s2 + quarter;
    vf a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
    for (int64_t i = 0; i < quarter; i += W) {
        a0 += load(s0 + i);
        a1 += load(s1 + i);
        a2 += load(s2 + i);
        a3 += load(s3 + i);
    }
    double s = hsum((a0 + a1) + (a2 + a3));
    for (int64_t i = i0 + 4 * quarter; i < i1; i++) s += x[i];
    return s;
}

}}  // namespace falcon::FALCON_NS
