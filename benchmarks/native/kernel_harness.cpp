// Kernel harness: the cpu backend's fused block product (native/cpu/kernels_impl.h) against a pure read of the same X,
// the two-touch floor, and the one-row pipelines rejected in kernels_impl.h, in C++ without the JVM, so that a kernel
// idea is measured in minutes before it goes behind JNI. The figures kernels_impl.h and README.md quote as "C++
// harness" come from this program (earlier variants named there were measured with earlier versions of it).
//
// Build and run: benchmarks/native/harness.sh (g++ -O3 -march=native; AVX-512 kernels: needs avx512f).
//   harness [P [BLOCK [ROUNDS]]]    n = 512, 2 threads, X of 512 x P float32 in panels of BLOCK columns (default
//                                   2M, 2000, 5), random data on transparent huge pages; each round prints the best
//                                   of three calls in GB/s of X for: read (the four-stream read_sum), v4cur (the
//                                   shipped panel_block_gram), touch2 (panel_touch_twice: the fused kernel's reads
//                                   without arithmetic), q1x4/q2x4/q1x8/q2x2 (pipelines of R rows, Q in flight).
//   CEIL=1 harness N BLOCK BLOCKS   one thread, an X of N x BLOCK*BLOCKS small enough for the caches or not: the
//                                   kernels' own ceilings (read, v4cur, touch2, the pipelines, prefetch distances,
//                                   dot1 and axpy1 alone). Any CEIL but an empty one or 0 selects this mode.
// Numbers drift with the VM's neighbours: compare variants within one round.
#define FALCON_NS avx512
#define FALCON_VBYTES 64
#include "../../native/cpu/kernels_impl.h"
#include <thread>
#include <vector>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <algorithm>
#include <sys/mman.h>
using namespace falcon;
using namespace falcon::avx512;

// 1-row pipeline: dot row i+1 (DRAM) while axpy row i (L1)
template <int R>
static void pipe_rows(const float* base, int64_t stride, int64_t len, int64_t n, const float* d, float* o) {
    memset(o, 0, 4 * len);
    float s[R] = {};
    auto dotR = [&](const float* r, float* out) {
        vf a[R], b[R];
        for (int k = 0; k < R; k++) { a[k] = splat(0); b[k] = splat(0); }
        int64_t j = 0;
        for (; j + 2 * W <= len; j += 2 * W) {
            const vf v0 = load(d + j), v1 = load(d + j + W);
            for (int k = 0; k < R; k++) { a[k] += load(r + k * stride + j) * v0; b[k] += load(r + k * stride + j + W) * v1; }
        }
        for (int k = 0; k < R; k++) out[k] = hsum(a[k] + b[k]);
    };
    dotR(base, s);
    int64_t i = R;
    for (; i + R <= n; i += R) {
        const float* nr = base + i * stride;
        const float* orow = base + (i - R) * stride;
        vf a[R], b[R], u[R];
        for (int k = 0; k < R; k++) { a[k] = splat(0); b[k] = splat(0); u[k] = splat(s[k]); }
        for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) {
            const vf v0 = load(d + j), v1 = load(d + j + W);
            for (int k = 0; k < R; k++) { a[k] += load(nr + k * stride + j) * v0; b[k] += load(nr + k * stride + j + W) * v1; }
            vf o0 = load(o + j), o1 = load(o + j + W);
            for (int k = 0; k < R; k++) { o0 += load(orow + k * stride + j) * u[k]; o1 += load(orow + k * stride + j + W) * u[k]; }
            store(o + j, o0); store(o + j + W, o1);
        }
        for (int k = 0; k < R; k++) s[k] = hsum(a[k] + b[k]);
    }
    const float* orow = base + (i - R) * stride;
    for (int64_t j = 0; j + W <= len; j += W) {
        vf o0 = load(o + j);
        for (int k = 0; k < R; k++) o0 += load(orow + k * stride + j) * splat(s[k]);
        store(o + j, o0);
    }
}


// R rows per group, the block stored as Q sub-panels of len/Q columns each (row-major, stride len/Q)
template <int R, int Q>
static void pipeQ(const float* base, int64_t len, int64_t n, const float* d, float* o) {
    const int64_t sl = len / Q;
    memset(o, 0, 4 * len);
    const float* sp[Q];
    for (int k = 0; k < Q; k++) sp[k] = base + k * sl * n;
    float s[R] = {};
    {
        vf a[R][Q];
        for (int r = 0; r < R; r++) for (int k = 0; k < Q; k++) a[r][k] = splat(0);
        for (int64_t j = 0; j + W <= sl; j += W)
            for (int k = 0; k < Q; k++) { const vf v = load(d + k * sl + j); for (int r = 0; r < R; r++) a[r][k] += load(sp[k] + r * sl + j) * v; }
        for (int r = 0; r < R; r++) { vf t = a[r][0]; for (int k = 1; k < Q; k++) t += a[r][k]; s[r] = hsum(t); }
    }
    int64_t i = R;
    for (; i + R <= n; i += R) {
        vf a[R][Q], u[R];
        for (int r = 0; r < R; r++) { u[r] = splat(s[r]); for (int k = 0; k < Q; k++) a[r][k] = splat(0); }
        for (int64_t j = 0; j + W <= sl; j += W) {
            for (int k = 0; k < Q; k++) {
                const float* nr = sp[k] + i * sl + j;
                const float* orow = nr - R * sl;
                const vf v = load(d + k * sl + j);
                vf oo = load(o + k * sl + j);
                for (int r = 0; r < R; r++) { a[r][k] += load(nr + r * sl) * v; oo += load(orow + r * sl) * u[r]; }
                store(o + k * sl + j, oo);
            }
        }
        for (int r = 0; r < R; r++) { vf t = a[r][0]; for (int k = 1; k < Q; k++) t += a[r][k]; s[r] = hsum(t); }
    }
    for (int64_t j = 0; j + W <= sl; j += W)
        for (int k = 0; k < Q; k++) {
            vf oo = load(o + k * sl + j);
            for (int r = 0; r < R; r++) oo += load(sp[k] + (i - R + r) * sl + j) * splat(s[r]);
            store(o + k * sl + j, oo);
        }
}


template <int HINT>
static void pipe1pf(const float* base, int64_t stride, int64_t len, int64_t n, const float* __restrict d, float* __restrict o, int64_t dist) {
    memset(o, 0, 4 * len);
    float s;
    {
        vf a = splat(0), b = splat(0);
        for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) { a += load(base + j) * load(d + j); b += load(base + j + W) * load(d + j + W); }
        s = hsum(a + b);
    }
    int64_t i = 1;
    for (; i < n; i++) {
        const float* __restrict nr = base + i * stride;
        const float* __restrict orow = nr - stride;
        const vf u = splat(s);
        vf a = splat(0), b = splat(0);
        for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) {
            __builtin_prefetch(nr + j + dist, 0, HINT);
            __builtin_prefetch(nr + j + W + dist, 0, HINT);
            const vf v0 = load(d + j), v1 = load(d + j + W);
            a += load(nr + j) * v0; b += load(nr + j + W) * v1;
            store(o + j, load(o + j) + load(orow + j) * u);
            store(o + j + W, load(o + j + W) + load(orow + j + W) * u);
        }
        s = hsum(a + b);
    }
    const float* orow = base + (i - 1) * stride;
    for (int64_t j = 0; j + W <= len; j += W) store(o + j, load(o + j) + load(orow + j) * splat(s));
}

static double read1(const float* x, int64_t m) {
    vf a = splat(0), b = splat(0), c = splat(0), e = splat(0);
    for (int64_t i = 0; i + 4 * W <= m; i += 4 * W) { a += load(x + i); b += load(x + i + W); c += load(x + i + 2 * W); e += load(x + i + 3 * W); }
    return hsum((a + b) + (c + e));
}
// one-row pipeline over a block stored as 4 sub-panels (sl = len/4 columns each, row-major), the new row read as 4 streams
static void q4b(const float* base, int64_t len, int64_t n, const float* __restrict d, float* __restrict o) {
    const int64_t sl = len / 4, sub = sl * n;
    memset(o, 0, 4 * len);
    float s;
    {
        vf a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
        for (int64_t j = 0; j + W <= sl; j += W) {
            a0 += load(base + j) * load(d + j); a1 += load(base + sub + j) * load(d + sl + j);
            a2 += load(base + 2 * sub + j) * load(d + 2 * sl + j); a3 += load(base + 3 * sub + j) * load(d + 3 * sl + j);
        }
        s = hsum((a0 + a1) + (a2 + a3));
    }
    int64_t i = 1;
    for (; i < n; i++) {
        const float* __restrict nr = base + i * sl;
        const vf u = splat(s);
        vf a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
        for (int64_t j = 0; j + W <= sl; j += W) {
            a0 += load(nr + j) * load(d + j);
            a1 += load(nr + sub + j) * load(d + sl + j);
            a2 += load(nr + 2 * sub + j) * load(d + 2 * sl + j);
            a3 += load(nr + 3 * sub + j) * load(d + 3 * sl + j);
            store(o + j, load(o + j) + load(nr - sl + j) * u);
            store(o + sl + j, load(o + sl + j) + load(nr - sl + sub + j) * u);
            store(o + 2 * sl + j, load(o + 2 * sl + j) + load(nr - sl + 2 * sub + j) * u);
            store(o + 3 * sl + j, load(o + 3 * sl + j) + load(nr - sl + 3 * sub + j) * u);
        }
        s = hsum((a0 + a1) + (a2 + a3));
    }
    const float* orow = base + (i - 1) * sl;
    for (int k = 0; k < 4; k++)
        for (int64_t j = 0; j + W <= sl; j += W) store(o + k * sl + j, load(o + k * sl + j) + load(orow + k * sub + j) * splat(s));
}

// one-row pipeline, dot of row i + SK while axpy of row i
template <int SK>
static void pipeSk(const float* base, int64_t stride, int64_t len, int64_t n, const float* __restrict d, float* __restrict o) {
    memset(o, 0, 4 * len);
    float s[SK + 1];
    auto dot = [&](const float* r) {
        vf a = splat(0), b = splat(0);
        for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) { a += load(r + j) * load(d + j); b += load(r + j + W) * load(d + j + W); }
        return hsum(a + b);
    };
    for (int k = 0; k < SK; k++) s[k] = dot(base + k * stride);
    for (int64_t i = 0; i < n; i++) {
        const float* __restrict orow = base + i * stride;
        const vf u = splat(s[i % (SK + 1)]);
        if (i + SK < n) {
            const float* __restrict nr = base + (i + SK) * stride;
            vf a = splat(0), b = splat(0);
            for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) {
                const vf v0 = load(d + j), v1 = load(d + j + W);
                a += load(nr + j) * v0; b += load(nr + j + W) * v1;
                store(o + j, load(o + j) + load(orow + j) * u);
                store(o + j + W, load(o + j + W) + load(orow + j + W) * u);
            }
            s[(i + SK) % (SK + 1)] = hsum(a + b);
        } else {
            for (int64_t j = 0; j + W <= len; j += W) store(o + j, load(o + j) + load(orow + j) * u);
        }
    }
}

static float dot1only(const float* base, int64_t len, int64_t n, const float* __restrict d) {
    float t = 0;
    for (int64_t i = 0; i < n; i++) {
        const float* r = base + i * len; vf a = splat(0), b = splat(0);
        for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) { a += load(r + j) * load(d + j); b += load(r + j + W) * load(d + j + W); }
        t += hsum(a + b);
    }
    return t;
}
static void axpy1only(const float* base, int64_t len, int64_t n, const float* __restrict d, float* __restrict o) {
    for (int64_t i = 0; i < n; i++) {
        const float* r = base + i * len; const vf u = splat(d[i]);
        for (int64_t j = 0; j + 2 * W <= len; j += 2 * W) { store(o + j, load(o + j) + load(r + j) * u); store(o + j + W, load(o + j + W) + load(r + j + W) * u); }
    }
}
// a positive integer, or 0 for anything else (atoll took "x" and "" as 0, and a zero size divides by zero)
static int64_t positive(const char* s) {
    char* end; errno = 0;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == 0 && errno == 0 && v > 0 ? v : 0;
}
// a whole number 0 or more, or -1 for anything else
static int64_t at_least_zero(const char* s) {
    char* end; errno = 0;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == 0 && errno == 0 && v >= 0 ? v : -1;
}
static int ceil_main(int argc, char** argv) {
    const int64_t n = argc == 4 ? positive(argv[1]) : 0, blk = argc == 4 ? positive(argv[2]) : 0, nbk = argc == 4 ? positive(argv[3]) : 0;
    if (n == 0 || blk == 0 || nbk == 0) {
        fprintf(stderr, "usage: CEIL=1 benchmarks/native/harness.sh N BLOCK BLOCKS   (positive integers; e.g. 512 2000 4: X of 512 x 8000 float32)\n");
        return 2;
    }
    const int64_t p = blk * nbk; size_t bytes = (size_t)n * p * 4;
    float* x = (float*)aligned_alloc(4096, bytes);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)n * p; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; x[i] = (float)((s >> 40) * (1.0 / (1 << 24)) - 0.5); }
    std::vector<float> d(p, 0.25f), out(p);
    const char* names[] = {"read", "v4cur", "q1x4", "q2x4", "touch2", "pipe1", "pf0", "pf256", "pf512","pf1k","pf2k","pf4k","pf8k","pf2kL2","pf4kL2","read1","q4b","sk1","sk2","sk3","dot1","axpy1"};
    for (int v = 0; v < 22; v++) {
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            auto t0 = std::chrono::steady_clock::now(); double acc = 0;
            int iters = (int)(2e9 / bytes) + 1;
            for (int it = 0; it < iters; it++)
                for (int64_t b = 0; b < nbk; b++) {
                    const float* base = x + b * blk * n;
                    if (v == 0) acc += read_sum(base, 0, blk * n);
                    else if (v == 1) { PanelPiece pc{base, blk, blk, b * blk}; panel_block_gram(&pc, 1, n, d.data(), out.data()); }
                    else if (v == 2) pipeQ<1, 4>(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else if (v == 3) pipeQ<2, 4>(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else if (v == 4) { PanelPiece pc{base, blk, blk, b * blk}; acc += panel_touch_twice(pc, n); }
                    else if (v == 5) pipe_rows<1>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else if (v < 13) { static const int64_t D[] = {0, 64, 128, 256, 512, 1024, 2048}; pipe1pf<3>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk, D[v - 6]); }
                    else if (v == 17) pipeSk<1>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else if (v == 18) pipeSk<2>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else if (v == 19) pipeSk<3>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else if (v == 20) acc += dot1only(base, blk, n, d.data());
                    else if (v == 21) axpy1only(base, blk, n, d.data(), out.data() + b * blk);
                    else if (v == 15) acc += read1(base, blk * n);
                    else if (v == 16) q4b(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                    else pipe1pf<2>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk, v == 13 ? 512 : 1024);
                }
            double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (acc == 1.2345) puts("");
            best = std::max(best, bytes * (double)iters / sec / 1e9);
        }
        printf(" %s %.1f", names[v], best);
    }
    printf("\n");
    return 0;
}
int main(int argc, char** argv) {
    // as harness.sh's "CEIL=1": CEIL=0 or an empty CEIL (a variable cleared, not unset) is the default mode
    const char* ceil = getenv("CEIL");
    if (ceil && *ceil && strcmp(ceil, "0") != 0) return ceil_main(argc, argv);
    // atoll/atoi took "abc" for a P of 0, and a P below BLOCK has no whole block to run: every figure was 0.0 and
    // harness.sh saved the zeros, exit 0, as a run; a BLOCK of 0 divided by zero (SIGFPE, no word why). ROUNDS 0 is
    // allowed: it builds and sets up X and measures nothing.
    const int64_t n = 512, p = argc > 1 ? positive(argv[1]) : 2000000, blk = argc > 2 ? positive(argv[2]) : 2000;
    const int64_t rounds = argc > 3 ? at_least_zero(argv[3]) : 5;
    if (argc > 4 || p == 0 || blk == 0 || blk > p || rounds < 0) {
        fprintf(stderr, "usage: benchmarks/native/harness.sh [P [BLOCK [ROUNDS]]]   (whole numbers: P and BLOCK positive, BLOCK at most P,"
                        " ROUNDS 0 or more; default 2000000 2000 5: X of 512 x P float32 read in blocks of BLOCK columns)\n");
        return 2;
    }
    const int64_t nb = p / blk;
    size_t bytes = (size_t)n * p * 4;
    // the rounds run whole blocks only: where p is not a multiple of the block, the last p - nb * blk columns are not
    // read, and counting them (n * p * 4) overstated every GB/s
    const size_t measured = (size_t)n * nb * blk * 4;
    // a P whose X overflows size_t is one no memory holds
    float* x = p > (int64_t)(SIZE_MAX / 4 / n) - (2 << 20) ? nullptr : (float*)aligned_alloc(2 << 20, (bytes + (2 << 20) - 1) / (2 << 20) * (2 << 20));
    if (!x) {  // a P too large for the memory: a null X was a segmentation fault in the fill
        fprintf(stderr, "kernel_harness: cannot allocate X of 512 x %lld float32 (%.1f GB); give a smaller P\n", (long long)p, (double)n * p * 4 / 1e9);
        return 1;
    }
    madvise(x, bytes, MADV_HUGEPAGE);
    {
        std::vector<std::thread> ts;
        for (int t = 0; t < 2; t++) ts.emplace_back([=] {
            uint64_t s = 0x9E3779B97F4A7C15ull * (t + 1);
            for (size_t i = t; i < (size_t)n * p; i += 2) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; x[i] = (float)((s >> 40) * (1.0 / (1 << 24)) - 0.5); }
        });
        for (auto& t : ts) t.join();
    }
    std::vector<float> d(p), out(p);
    for (int64_t j = 0; j < p; j++) d[j] = (float)((j * 2654435761u) % 1000) / 1000.0f - 0.5f;
    auto run = [&](int variant) {
        auto t0 = std::chrono::steady_clock::now();
        double sums[2] = {0, 0};
        std::vector<std::thread> ts;
        for (int t = 0; t < 2; t++) ts.emplace_back([&, t] {
            int64_t b0 = nb * t / 2, b1 = nb * (t + 1) / 2;
            if (variant == 0) { sums[t] = read_sum(x, b0 * blk * n, b1 * blk * n); return; }
            for (int64_t b = b0; b < b1; b++) {
                const float* base = x + b * blk * n;
                if (variant == 1) { PanelPiece pc{base, blk, blk, b * blk}; panel_block_gram(&pc, 1, n, d.data(), out.data()); }
                else if (variant == 2) pipe_rows<1>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 3) pipe_rows<2>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 4) pipe_rows<4>(base, blk, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 6) pipeQ<1, 4>(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 7) pipeQ<2, 4>(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 8) pipeQ<1, 8>(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 9) pipeQ<2, 2>(base, blk, n, d.data() + b * blk, out.data() + b * blk);
                else if (variant == 5) { PanelPiece pc{base, blk, blk, b * blk}; sums[t] += panel_touch_twice(pc, n); }
            }
        });
        for (auto& t : ts) t.join();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (sums[0] + sums[1] == 12345.678) puts("");
        return measured / s / 1e9;
    };
    const char* names[] = {"read", "v4cur", "pipe1", "pipe2", "pipe4", "touch2", "q1x4", "q2x4", "q1x8", "q2x2"};
    int order[] = {0, 1, 5, 6, 7, 8, 9};
    for (int r = 0; r < rounds; r++) {
        printf("round %d:", r);
        for (int v : order) { double best = 0; for (int k = 0; k < 3; k++) best = std::max(best, run(v)); printf(" %s %.1f", names[v], best); }
        printf("\n"); fflush(stdout);
    }
}
