// falcon native CPU kernels: dispatch, threading, random fills, sort, file loading, OpenBLAS glue.
// This translation unit is compiled with -ffp-contract=off so the random fills reproduce the Java
// reference (dev.falcon.data.CounterRandom, JavaBackend) bit for bit.
#include "falcon_kernels.h"
#include "panels.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <climits>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace falcon {
#define FALCON_DECLARE(ns)                                                                                  \
    namespace ns {                                                                                          \
    void block_gram(const float*, int64_t, const int64_t*, int64_t, int64_t, const float*, float*, float*, float*); \
    void gemv_n_range(const float*, int64_t, int64_t, int64_t, const float*, double*, float*);             \
    void gemv_t_range(const float*, int64_t, int64_t, int64_t, const float*, float*);                      \
    double read_sum(const float*, int64_t, int64_t);                                                        \
    void panel_block_gram(const PanelPiece*, int64_t, int64_t, const float*, float*);                       \
    void panel_dot_rows(const PanelPiece&, int64_t, const float*, double*);                                 \
    void panel_dot_rows_double(const PanelPiece&, int64_t, const float*, double*);                          \
    void gemv_n_double_range(const float*, int64_t, int64_t, int64_t, const float*, double*);               \
    void panel_axpy_rows(const PanelPiece&, int64_t, const float*, float*);                                 \
    double panel_touch_twice(const PanelPiece&, int64_t);                                                   \
    }
FALCON_DECLARE(avx512)
FALCON_DECLARE(avx2)
FALCON_DECLARE(generic)

namespace {
thread_local std::string last_error;

struct Kernels {
    const char* isa;
    decltype(&generic::block_gram) block_gram;
    decltype(&generic::gemv_n_range) gemv_n_range;
    decltype(&generic::gemv_t_range) gemv_t_range;
    decltype(&generic::read_sum) read_sum;
    decltype(&generic::panel_block_gram) panel_block_gram;
    decltype(&generic::panel_dot_rows) panel_dot_rows;
    decltype(&generic::panel_axpy_rows) panel_axpy_rows;
    decltype(&generic::panel_touch_twice) panel_touch_twice;
    decltype(&generic::panel_dot_rows_double) panel_dot_rows_double;
    decltype(&generic::gemv_n_double_range) gemv_n_double_range;
};

Kernels pick() {
    __builtin_cpu_init();
    const char* force = getenv("FALCON_CPU_ISA");
    bool want512 = !force || strcmp(force, "avx512") == 0;
    bool want2 = !force || strcmp(force, "avx2") == 0 || strcmp(force, "avx512") == 0;
    if (want512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return {"avx512", avx512::block_gram, avx512::gemv_n_range, avx512::gemv_t_range, avx512::read_sum,
                avx512::panel_block_gram, avx512::panel_dot_rows, avx512::panel_axpy_rows, avx512::panel_touch_twice,
                avx512::panel_dot_rows_double, avx512::gemv_n_double_range};
    if (want2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {"avx2", avx2::block_gram, avx2::gemv_n_range, avx2::gemv_t_range, avx2::read_sum,
                avx2::panel_block_gram, avx2::panel_dot_rows, avx2::panel_axpy_rows, avx2::panel_touch_twice,
                avx2::panel_dot_rows_double, avx2::gemv_n_double_range};
    return {"generic", generic::block_gram, generic::gemv_n_range, generic::gemv_t_range, generic::read_sum,
                generic::panel_block_gram, generic::panel_dot_rows, generic::panel_axpy_rows, generic::panel_touch_twice,
                generic::panel_dot_rows_double, generic::gemv_n_double_range};
}

const Kernels& kernels() {
    static const Kernels k = pick();
    return k;
}

/**
 * Runs f(tid) for tid in [0, threads): tid 0 on the calling thread, and so every tid whose thread the system refuses
 * (thread or memory limit). The shares are fixed by tid, so the result is the same; letting the refusal escape would
 * unwind past the joinable threads already started, and std::terminate would abort the JVM.
 */
template <class F>
void parallel(int threads, F&& f) {
    if (threads <= 1) {
        f(0);
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    int started = 1;
    for (; started < threads; started++) {
        try {
            pool.emplace_back([&f, started] { f(started); });
        } catch (const std::system_error&) {
            break;
        }
    }
    f(0);
    for (int t = started; t < threads; t++) f(t);
    for (auto& th : pool) th.join();
}

/** The sum of partial(t) over threads t, each run on its own thread, added in thread order (deterministic). */
template <class F>
double summed_parallel(int threads, F&& partial) {
    std::vector<double> part(threads, 0.0);
    parallel(threads, [&](int t) { part[t] = partial(t); });
    double s = 0;
    for (double v : part) s += v;
    return s;
}

inline int64_t split(int64_t total, int parts, int k) { return (int64_t)((__int128)total * k / parts); }

/** first[t] = the first of units[0..count) that thread t owns: those whose first column lies in its share of p. */
// Each thread's n partial sums, added in thread order: the same order for a given thread count, so the result is too.
template <class Out>
void sum_thread_partials(const std::vector<double>& acc, int64_t n, int threads, Out* out) {
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int t = 0; t < threads; t++) s += acc[(size_t)t * n + i];
        out[i] = (Out)s;
    }
}

std::vector<int64_t> split_units(const int64_t* units, int64_t count, int64_t p, int threads) {
    std::vector<int64_t> first(threads + 1);
    for (int t = 0; t < threads; t++) first[t] = std::lower_bound(units, units + count, split(p, threads, t)) - units;
    first[threads] = count;
    return first;
}

int clamp_threads(int threads, int64_t units) {
    if (threads > units) threads = (int)units;
    return threads < 1 ? 1 : threads;
}

inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
inline float uniform(int64_t seed, int64_t index) {
    uint64_t bits = mix64((uint64_t)seed ^ ((uint64_t)index * 0x9E3779B97F4A7C15ULL)) >> 40;
    return (float)bits * 0x1p-23f - 1.0f;
}
}  // namespace
}  // namespace falcon

using namespace falcon;

extern "C" {

const char* falcon_last_error(void) { return last_error.c_str(); }
const char* falcon_isa(void) { return kernels().isa; }

int falcon_setenv(const char* name, const char* value) {
    if (value == nullptr) return unsetenv(name);
    return setenv(name, value, 1);
}
const char* falcon_getenv(const char* name) {
    const char* v = getenv(name);
    return v ? v : "";
}

static void* openblas_symbol(const char* name) {
    static const char* sonames[] = {"libopenblas.so.0", "libopenblas.so"};
    for (const char* so : sonames) {
        void* h = dlopen(so, RTLD_LAZY | RTLD_NOLOAD);
        if (h) {
            void* s = dlsym(h, name);
            dlclose(h);
            if (s) return s;
        }
    }
    return dlsym(RTLD_DEFAULT, name);
}
const char* falcon_openblas_corename(void) {
    auto f = (char* (*)(void))openblas_symbol("openblas_get_corename");
    return f ? f() : "";
}
const char* falcon_openblas_config(void) {
    auto f = (char* (*)(void))openblas_symbol("openblas_get_config");
    return f ? f() : "";
}
int falcon_openblas_set_threads(int threads) {
    auto f = (void (*)(int))openblas_symbol("openblas_set_num_threads");
    if (!f) return -1;
    f(threads);
    return 0;
}
int falcon_openblas_get_threads(void) {
    auto f = (int (*)(void))openblas_symbol("openblas_get_num_threads");
    return f ? f() : -1;
}
void falcon_exit_now(int status) {
    _exit(status);
}

// ------------------------------------------------------------------ random fills

void falcon_fill_uniform(float* dst, int64_t count, int64_t seed, float scale, int threads) {
    if (count < (1 << 16)) threads = 1;
    parallel(threads, [&](int t) {
        const int64_t a = split(count, threads, t), b = split(count, threads, t + 1);
        for (int64_t i = a; i < b; i++) dst[i] = scale * uniform(seed, i);
    });
}

}  // extern "C"
namespace {
/** The synthetic gradients of falcon_fill_synthetic; A is stored transposed (a[r*n + i] = A[i, r]). */
struct SyntheticGradients {
    int64_t n;
    int rank;
    float noise;
    int64_t seed;
    std::vector<float> a;
    float inv;

    SyntheticGradients(int64_t n, int rank, float noise, int64_t seed)
        : n(n), rank(rank), noise(noise), seed(seed), a((size_t)n * rank), inv((float)(1.0 / std::sqrt((double)rank))) {
        for (int64_t i = 0; i < n; i++)
            for (int r = 0; r < rank; r++) a[(size_t)r * n + i] = uniform(seed + 1, i * rank + r);
    }

    /** col[0..n) = column j; b and s are scratch of rank and n floats. */
    void column(int64_t j, float* b, float* s, float* col) const {
        for (int r = 0; r < rank; r++) b[r] = uniform(seed + 2, j * rank + r);
        std::fill(s, s + n, 0.0f);
        for (int r = 0; r < rank; r++) {
            const float br = b[r];
            const float* ar = a.data() + (size_t)r * n;
            for (int64_t i = 0; i < n; i++) s[i] += ar[i] * br;  // same order as Java: r increasing
        }
        for (int64_t i = 0; i < n; i++) col[i] = s[i] * inv + noise * uniform(seed + 3, j * n + i);
    }
};
}  // namespace
extern "C" {

void falcon_fill_synthetic(float* x, int64_t n, int64_t p, int rank, float noise, int64_t seed, int threads) {
    const SyntheticGradients g(n, rank, noise, seed);
    if (p < 64) threads = 1;
    parallel(threads, [&](int t) {
        std::vector<float> b(rank), s(n);
        for (int64_t j = split(p, threads, t); j < split(p, threads, t + 1); j++) g.column(j, b.data(), s.data(), x + j * n);
    });
}

void falcon_panel_fill_synthetic(float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount, int rank,
                                 float noise, int64_t seed, int threads) {
    const SyntheticGradients g(n, rank, noise, seed);
    threads = clamp_threads(p < 64 ? 1 : threads, panelCount);
    const std::vector<int64_t> first = split_units(panels, panelCount, p, threads);
    parallel(threads, [&](int t) {
        // Columns are generated 16 at a time into a column-major tile, then written one cache line per row.
        constexpr int64_t TILE = 16;
        std::vector<float> b(rank), s(n), tile((size_t)(n * TILE));
        for (int64_t k = first[t]; k < first[t + 1]; k++) {
            const int64_t lo = panels[k], width = panels[k + 1] - lo;
            float* panel = x + lo * n;
            for (int64_t c0 = 0; c0 < width; c0 += TILE) {
                const int64_t m = std::min(TILE, width - c0);
                for (int64_t c = 0; c < m; c++) g.column(lo + c0 + c, b.data(), s.data(), tile.data() + c * n);
                for (int64_t i = 0; i < n; i++)
                    for (int64_t c = 0; c < m; c++) panel[i * width + c0 + c] = tile[(size_t)(c * n + i)];
            }
        }
    });
}

// ------------------------------------------------------------------ products

void falcon_gemv_n(const float* x, int64_t n, int64_t p, const float* v, float* out, int threads) {
    if (threads > p) threads = (int)p;
    if (threads < 1) threads = 1;
    std::vector<double> acc((size_t)n * threads, 0.0);
    parallel(threads, [&](int t) {
        std::vector<float> tmp(n + 16);
        kernels().gemv_n_range(x, n, split(p, threads, t), split(p, threads, t + 1), v, acc.data() + (size_t)t * n,
                               tmp.data());
    });
    sum_thread_partials(acc, n, threads, out);
}

void falcon_gemv_n_double(const float* x, int64_t n, int64_t p, const float* v, double* out, int threads) {
    if (threads > p) threads = (int)p;
    if (threads < 1) threads = 1;
    std::vector<double> acc((size_t)n * threads, 0.0);
    parallel(threads, [&](int t) {
        kernels().gemv_n_double_range(x, n, split(p, threads, t), split(p, threads, t + 1), v, acc.data() + (size_t)t * n);
    });
    sum_thread_partials(acc, n, threads, out);
}

void falcon_gemv_t(const float* x, int64_t n, int64_t p, const float* u, float* out, int threads) {
    if (threads > p) threads = (int)p;
    if (threads < 1) threads = 1;
    parallel(threads, [&](int t) {
        kernels().gemv_t_range(x, n, split(p, threads, t), split(p, threads, t + 1), u, out);
    });
}

void falcon_gemv_t_double(const float* x, int64_t n, int64_t p, const double* u, double* out, int threads) {
    if (threads > p) threads = (int)p;
    if (threads < 1) threads = 1;
    parallel(threads, [&](int t) {
        const int64_t end = split(p, threads, t + 1);
        int64_t j = split(p, threads, t);
        // four columns at a time: four independent chains, each still summed over the rows in order
        for (; j + 4 <= end; j += 4) {
            const float* c0 = x + j * n;
            const float* c1 = c0 + n;
            const float* c2 = c1 + n;
            const float* c3 = c2 + n;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int64_t i = 0; i < n; i++) {
                const double ui = u[i];
                s0 += (double)c0[i] * ui;
                s1 += (double)c1[i] * ui;
                s2 += (double)c2[i] * ui;
                s3 += (double)c3[i] * ui;
            }
            out[j] = s0, out[j + 1] = s1, out[j + 2] = s2, out[j + 3] = s3;
        }
        for (; j < end; j++) {
            const float* column = x + j * n;
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)column[i] * u[i];
            out[j] = s;
        }
    });
}

int64_t falcon_first_nonfinite(const float* x, int64_t count, int threads) {
    if (threads < 1) threads = 1;
    std::vector<int64_t> first(threads, -1);
    parallel(threads, [&](int t) {
        const int64_t a = split(count, threads, t), b = split(count, threads, t + 1);
        // exponent bits all ones <=> NaN or infinity; scanned as integers so -ffast-math cannot drop the test
        const uint32_t* bits = reinterpret_cast<const uint32_t*>(x);
        for (int64_t i = a; i < b; i++) {
            if ((bits[i] & 0x7f800000u) == 0x7f800000u) {
                first[t] = i;
                return;
            }
        }
    });
    for (int64_t f : first)
        if (f >= 0) return f;
    return -1;
}

int falcon_advise_huge_pages(void* p, int64_t bytes) {
    // First touches cost ~11 us per 4 KiB page on the development VMs (a 300 MB sort buffer: ~0.8 s); with huge
    // pages 3-7 us per 4 KiB, and fewer TLB misses in every later pass. Advice only: failure changes no result.
    constexpr uintptr_t HUGE_PAGE = uintptr_t(2) << 20;
    if (p == nullptr || bytes <= 0) return 0;
    const uintptr_t start = (reinterpret_cast<uintptr_t>(p) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(bytes)) & ~(HUGE_PAGE - 1);
    if (end <= start) return 0;
    return madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE) == 0 ? 1 : -1;
}

double falcon_read_sum(const float* x, int64_t count, int threads) {
    if (threads < 1) threads = 1;
    return summed_parallel(threads, [&](int t) { return kernels().read_sum(x, split(count, threads, t), split(count, threads, t + 1)); });
}

void falcon_block_gram(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks, const float* d,
                       float* out, int threads) {
    threads = clamp_threads(threads, blocks);
    const std::vector<int64_t> first = split_units(starts, blocks, p, threads);
    parallel(threads, [&](int t) {
        std::vector<float> tmp(2 * n + 32);
        kernels().block_gram(x, n, starts, first[t], first[t + 1], d, out, tmp.data(), tmp.data() + n + 16);
    });
}

int falcon_gather(const float* x, int64_t n, int64_t p, const int32_t* columns, int64_t k, float* dst, int threads) {
    for (int64_t c = 0; c < k; c++) {
        if (columns[c] < 0 || columns[c] >= p) {
            last_error = "column " + std::to_string(columns[c]) + " out of range [0, " + std::to_string(p) + ")";
            return -1;
        }
    }
    if (k * n < (1 << 18)) threads = 1;
    parallel(threads, [&](int t) {
        for (int64_t c = split(k, threads, t); c < split(k, threads, t + 1); c++)
            memcpy(dst + c * n, x + (int64_t)columns[c] * n, sizeof(float) * n);
    });
    return 0;
}

int64_t falcon_gram_scaled_columns(const float* x, int64_t n, int64_t j0, int64_t p, const float* weights,
                                   int negative, double* a, int64_t capacity, int64_t* next, int threads) {
    // Columns of zero weight add nothing to the Gram matrix: a support of 30% costs 30% of the work.
    std::vector<int64_t> columns;
    columns.reserve((size_t)capacity);
    int64_t j = j0;
    for (; j < p && (int64_t)columns.size() < capacity; j++) {
        if (weights ? (negative ? weights[j] < 0 : weights[j] > 0) : !negative) columns.push_back(j);
    }
    *next = j;
    const int64_t k = (int64_t)columns.size();
    if (k * n < (1 << 16)) threads = 1;
    parallel(threads, [&](int t) {
        for (int64_t c = split(k, threads, t); c < split(k, threads, t + 1); c++) {
            const int64_t col = columns[(size_t)c];
            const float* src = x + col * n;
            const double scale = weights ? std::sqrt(std::fabs((double)weights[col])) : 1.0;
            double* dst = a + c * n;
            for (int64_t i = 0; i < n; i++) dst[i] = src[i] * scale;
        }
    });
    return k;
}

double falcon_block_touch_twice(const float* x, int64_t n, int64_t p, const int64_t* starts, int64_t blocks, int threads) {
    // each block is read whole and then again, as block_gram's second pass must wait for the first's whole sum
    threads = clamp_threads(threads, blocks);
    const std::vector<int64_t> first = split_units(starts, blocks, p, threads);
    return summed_parallel(threads, [&](int t) {
        double s = 0;
        for (int64_t b = first[t]; b < first[t + 1]; b++) {
            s += kernels().read_sum(x, starts[b] * n, starts[b + 1] * n);
            s += kernels().read_sum(x, starts[b] * n, starts[b + 1] * n);
        }
        return s;
    });
}

// ------------------------------------------------------------------ panel layout
// X as consecutive column panels [panels[k], panels[k+1]), each stored row-major (n rows of its width) at
// x + panels[k] * n. Chosen to coincide with the solver's blocks, so each block is one sequential stream.

}  // extern "C"
namespace {
struct PanelLayout {
    const float* x;
    int64_t n;
    const int64_t* starts;  // count + 1 entries, from 0 to p
    int64_t count;

    int64_t index_of(int64_t column) const { return std::upper_bound(starts, starts + count + 1, column) - starts - 1; }
    /** Columns [a, b) of panel k. */
    PanelPiece piece(int64_t k, int64_t a, int64_t b) const {
        const int64_t first = starts[k];
        return {x + first * n + (a - first), starts[k + 1] - first, b - a, a};
    }
};

}  // namespace
extern "C" {

void falcon_panel_block_gram(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                             const int64_t* starts, int64_t blocks, const float* d, float* out, int threads) {
    const PanelLayout layout{x, n, panels, panelCount};
    threads = clamp_threads(threads, blocks);
    const std::vector<int64_t> first = split_units(starts, blocks, p, threads);
    parallel(threads, [&](int t) {
        std::vector<PanelPiece> pieces;
        for (int64_t b = first[t]; b < first[t + 1]; b++) {
            pieces.clear();
            const int64_t e = starts[b + 1];
            for (int64_t c = starts[b], k = layout.index_of(c); c < e; k++) {
                const int64_t end = std::min(e, panels[k + 1]);
                pieces.push_back(layout.piece(k, c, end));
                c = end;
            }
            kernels().panel_block_gram(pieces.data(), (int64_t)pieces.size(), n, d, out);
        }
    });
}

void falcon_panel_gemv_n(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                         const float* v, float* out, int threads) {
    const PanelLayout layout{x, n, panels, panelCount};
    threads = clamp_threads(threads, panelCount);
    const std::vector<int64_t> first = split_units(panels, panelCount, p, threads);
    std::vector<double> acc((size_t)n * threads, 0.0);
    parallel(threads, [&](int t) {
        for (int64_t k = first[t]; k < first[t + 1]; k++)
            kernels().panel_dot_rows(layout.piece(k, panels[k], panels[k + 1]), n, v, acc.data() + (size_t)t * n);
    });
    sum_thread_partials(acc, n, threads, out);
}

void falcon_panel_gemv_n_double(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                const float* v, double* out, int threads) {
    const PanelLayout layout{x, n, panels, panelCount};
    threads = clamp_threads(threads, panelCount);
    const std::vector<int64_t> first = split_units(panels, panelCount, p, threads);
    std::vector<double> acc((size_t)n * threads, 0.0);
    parallel(threads, [&](int t) {
        for (int64_t k = first[t]; k < first[t + 1]; k++)
            kernels().panel_dot_rows_double(layout.piece(k, panels[k], panels[k + 1]), n, v, acc.data() + (size_t)t * n);
    });
    sum_thread_partials(acc, n, threads, out);
}

double falcon_panel_touch_twice(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                int threads) {
    const PanelLayout layout{x, n, panels, panelCount};
    threads = clamp_threads(threads, panelCount);
    const std::vector<int64_t> first = split_units(panels, panelCount, p, threads);
    return summed_parallel(threads, [&](int t) {
        double s = 0;
        for (int64_t k = first[t]; k < first[t + 1]; k++) s += kernels().panel_touch_twice(layout.piece(k, panels[k], panels[k + 1]), n);
        return s;
    });
}

void falcon_panel_gemv_t(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                         const float* u, float* out, int threads) {
    const PanelLayout layout{x, n, panels, panelCount};
    threads = clamp_threads(threads, panelCount);
    const std::vector<int64_t> first = split_units(panels, panelCount, p, threads);
    parallel(threads, [&](int t) {
        for (int64_t k = first[t]; k < first[t + 1]; k++)
            kernels().panel_axpy_rows(layout.piece(k, panels[k], panels[k + 1]), n, u, out);
    });
}

void falcon_panel_gemv_t_double(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                const double* u, double* out, int threads) {
    const PanelLayout layout{x, n, panels, panelCount};
    threads = clamp_threads(threads, panelCount);
    const std::vector<int64_t> first = split_units(panels, panelCount, p, threads);
    parallel(threads, [&](int t) {
        for (int64_t k = first[t]; k < first[t + 1]; k++) {
            const PanelPiece pc = layout.piece(k, panels[k], panels[k + 1]);
            double* ok = out + pc.col;
            std::fill(ok, ok + pc.len, 0.0);
            // row by row down the panel: every column's sum still runs over the rows in order, as falcon_gemv_t_double's
            for (int64_t i = 0; i < n; i++) {
                const float* row = pc.base + i * pc.stride;
                const double ui = u[i];
                for (int64_t c = 0; c < pc.len; c++) ok[c] += (double)row[c] * ui;
            }
        }
    });
}

int falcon_panel_gather(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                        const int32_t* columns, int64_t k, float* dst, int threads) {
    for (int64_t c = 0; c < k; c++) {
        if (columns[c] < 0 || columns[c] >= p) {
            last_error = "column " + std::to_string(columns[c]) + " out of range [0, " + std::to_string(p) + ")";
            return -1;
        }
    }
    const PanelLayout layout{x, n, panels, panelCount};
    if (k * n < (1 << 18)) threads = 1;
    parallel(threads, [&](int t) {
        const int64_t end = split(k, threads, t + 1);
        // A run of requested columns in one panel is transposed 16 rows at a time: each destination column gets
        // one whole cache line per step, and the 16 source rows stay in L2 across the run. (Row by row, the
        // destination's stride of n floats maps a run's lines onto a few L1 sets: 7 ns per element at n = 128.)
        constexpr int64_t ROWS = 16;
        for (int64_t c = split(k, threads, t); c < end;) {
            const int64_t panel = layout.index_of(columns[c]);
            const int64_t lo = panels[panel], hi = panels[panel + 1], width = hi - lo;
            int64_t g = c + 1;
            while (g < end && columns[g] >= lo && columns[g] < hi) g++;
            const float* base = x + lo * n - lo;
            for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
                const int64_t rows = std::min(ROWS, n - i0);
                const float* tile = base + i0 * width;
                for (int64_t q = c; q < g; q++) {
                    const float* src = tile + columns[q];
                    float* out = dst + q * n + i0;
                    for (int64_t r = 0; r < rows; r++) out[r] = src[r * width];
                }
            }
            c = g;
        }
    });
    return 0;
}

int64_t falcon_panel_gram_scaled_rows(const float* x, int64_t n, int64_t p, const int64_t* panels, int64_t panelCount,
                                      int64_t j0, const float* weights, double* a, int64_t capacity, int64_t* next,
                                      int threads) {
    // As falcon_gram_scaled_columns, but A is written row-major (n x k): each row is filled from the panels' rows
    // in increasing column order, so X is read sequentially and A written sequentially.
    std::vector<int64_t> source;  // storage index of (0, column) of every selected column
    std::vector<int64_t> stride;
    std::vector<double> scale;
    const PanelLayout layout{x, n, panels, panelCount};
    int64_t j = j0;
    for (int64_t k = layout.index_of(j0); j < p && (int64_t)source.size() < capacity; j++) {
        if (weights && !(weights[j] > 0)) continue;
        while (panels[k + 1] <= j) k++;
        source.push_back(panels[k] * n + (j - panels[k]));
        stride.push_back(panels[k + 1] - panels[k]);
        scale.push_back(weights ? std::sqrt((double)weights[j]) : 1.0);
    }
    *next = j;
    const int64_t k = (int64_t)source.size();
    if (k * n < (1 << 16)) threads = 1;
    parallel(threads, [&](int t) {
        for (int64_t i = split(n, threads, t); i < split(n, threads, t + 1); i++) {
            double* row = a + i * k;
            for (int64_t q = 0; q < k; q++) row[q] = x[source[(size_t)q] + i * stride[(size_t)q]] * scale[(size_t)q];
        }
    });
    return k;
}

void falcon_symmetrize_lower(double* g, int64_t n) {
    for (int64_t c = 0; c < n; c++)
        for (int64_t r = c + 1; r < n; r++) g[r * n + c] = g[c * n + r];
}

// ------------------------------------------------------------------ segmented sort


namespace {
// Keys are 32-bit: three digits of 11 bits (the last one 10) make three scatter passes instead of four
// of 8 bits, and a 2048-entry histogram of int64 (16 KB) still sits in L1.
constexpr int RADIX_BITS = 11;
constexpr int RADIX_DIGITS = 3;
constexpr int RADIX_BUCKETS = 1 << RADIX_BITS;
constexpr uint64_t RADIX_MASK = RADIX_BUCKETS - 1;
static_assert(RADIX_BITS * RADIX_DIGITS >= 32, "digits must cover the 32-bit key");

/**
 * Scratch of a sort, mapped and unmapped directly: glibc serves blocks below its adaptive mmap threshold (up to
 * 32 MB) from per-thread arenas and keeps them after free, which left about 100 MB more resident after the
 * solver's first projections on mobilenetv1.
 */
class SortScratch {
public:
    /** Maps nothing for items <= 0 (data() is then null). */
    explicit SortScratch(int64_t items) : bytes_(sizeof(uint64_t) * (size_t)(items > 0 ? items : 0)), data_(nullptr) {
        if (bytes_ == 0) return;
        void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        data_ = p == MAP_FAILED ? nullptr : (uint64_t*)p;
        if (data_) falcon_advise_huge_pages(data_, (int64_t)bytes_);
    }
    ~SortScratch() {
        if (data_) munmap(data_, bytes_);
    }
    bool ok() const { return data_ != nullptr; }
    SortScratch(const SortScratch&) = delete;
    SortScratch& operator=(const SortScratch&) = delete;
    uint64_t* data() const { return data_; }

private:
    size_t bytes_;
    uint64_t* data_;
};

extern "C++" {  // templates need C++ linkage inside the extern "C" block
/** Sort items: 32-bit keys alone (no index asked for), or key << 32 | local index. */
template <typename Item>
struct SortItem {
    static constexpr int KEY_SHIFT = sizeof(Item) == 8 ? 32 : 0;
    static Item make(uint32_t key, int64_t local) {
        if constexpr (sizeof(Item) == 8) {
            return (uint64_t)key << 32 | (uint64_t)local;
        } else {
            (void)local;
            return key;
        }
    }
};

/** The radix key of a score: bits inverted so that ascending keys are descending values; bad scores get key ~0. */
inline uint32_t descending_key(float score, bool& bad) {
    const float v = score + 0.0f;  // -0.0 -> +0.0
    uint32_t u;
    memcpy(&u, &v, 4);
    if (u >= 0x7f800000u) {  // negative (sign bit), NaN or Inf
        bad = true;
        u = 0;
    }
    return ~u;
}

/**
 * Stable LSD radix sort of one segment's scores by `threads` threads (1 for the segments a thread sorts alone).
 * Every pass uses per-thread histograms of fixed index ranges and per-(thread, bucket) offsets, so the order does
 * not depend on the thread count. The first pass scatters straight from the scores, digits that every key shares
 * are skipped, and items alternate between `finalBuffer` and `other` so that the last pass lands in `finalBuffer`.
 * Returns false, with the first bad index in *firstBad, when a score is negative or not finite.
 */
template <typename Item>
bool radix_sort_segment(const float* scores, int64_t start, int64_t len, Item* finalBuffer, Item* other, int threads,
                        int64_t* firstBad) {
    constexpr int DIGITS = RADIX_DIGITS, BUCKETS = RADIX_BUCKETS;
    constexpr int KEY_SHIFT = SortItem<Item>::KEY_SHIFT;
    if (len < (1 << 16)) threads = 1;
    // per thread: the histograms of every digit over its index range of the scores
    std::vector<int64_t> hist((size_t)threads * DIGITS * BUCKETS, 0);
    std::vector<int64_t> bad(threads, INT64_MAX);
    parallel(threads, [&](int t) {
        int64_t* h = hist.data() + (size_t)t * DIGITS * BUCKETS;
        for (int64_t i = split(len, threads, t), e = split(len, threads, t + 1); i < e; i++) {
            bool b = false;
            const uint32_t k = descending_key(scores[start + i], b);
            if (b && bad[t] == INT64_MAX) bad[t] = start + i;
            for (int d = 0; d < DIGITS; d++) h[d * BUCKETS + ((k >> (d * RADIX_BITS)) & RADIX_MASK)]++;
        }
    });
    for (int t = 0; t < threads; t++) *firstBad = std::min(*firstBad, bad[t]);
    if (*firstBad != INT64_MAX || len == 0) return *firstBad == INT64_MAX;
    bool unused = false;
    const uint32_t firstKey = descending_key(scores[start], unused);
    std::vector<int> passes;  // the digits that separate keys
    for (int d = 0; d < DIGITS; d++) {
        int64_t shared = 0;
        for (int t = 0; t < threads; t++)
            shared += hist[((size_t)t * DIGITS + d) * BUCKETS + ((firstKey >> (d * RADIX_BITS)) & RADIX_MASK)];
        if (shared != len) passes.push_back(d);
    }
    const int count = (int)passes.size();
    if (count == 0) {  // one key: the order is the index order
        for (int64_t i = 0; i < len; i++) finalBuffer[i] = SortItem<Item>::make(firstKey, i);
        return true;
    }
    std::vector<int64_t> offsets((size_t)threads * BUCKETS);
    const Item* src = nullptr;
    for (int j = 0; j < count; j++) {
        const int d = passes[j];
        Item* dst = (count - 1 - j) % 2 == 0 ? finalBuffer : other;
        if (j == 0) {
            for (int t = 0; t < threads; t++)
                std::copy_n(hist.data() + ((size_t)t * DIGITS + d) * BUCKETS, BUCKETS, offsets.data() + (size_t)t * BUCKETS);
        } else {
            std::fill(offsets.begin(), offsets.end(), 0);
            const int shift = KEY_SHIFT + RADIX_BITS * d;
            parallel(threads, [&](int t) {
                int64_t* h = offsets.data() + (size_t)t * BUCKETS;
                for (int64_t i = split(len, threads, t), e = split(len, threads, t + 1); i < e; i++) h[(src[i] >> shift) & RADIX_MASK]++;
            });
        }
        int64_t sum = 0;
        for (int k = 0; k < BUCKETS; k++) {
            for (int t = 0; t < threads; t++) {
                const int64_t c = offsets[(size_t)t * BUCKETS + k];
                offsets[(size_t)t * BUCKETS + k] = sum;
                sum += c;
            }
        }
        parallel(threads, [&](int t) {
            int64_t* h = offsets.data() + (size_t)t * BUCKETS;
            const int64_t b = split(len, threads, t), e = split(len, threads, t + 1);
            if (j == 0) {
                const int keyShift = RADIX_BITS * d;
                bool ignored = false;
                for (int64_t i = b; i < e; i++) {
                    const uint32_t k = descending_key(scores[start + i], ignored);
                    dst[h[(k >> keyShift) & RADIX_MASK]++] = SortItem<Item>::make(k, i);
                }
            } else {
                const int shift = KEY_SHIFT + RADIX_BITS * d;
                for (int64_t i = b; i < e; i++) {
                    const Item item = src[i];
                    dst[h[(item >> shift) & RADIX_MASK]++] = item;
                }
            }
        });
        src = dst;
    }
    return true;
}

/**
 * One segment sorted by one thread: a stable scatter by the key's top digit straight from the scores into
 * `finalBuffer`, then each bucket on its own (it mostly fits in L1 or L2): std::sort for small buckets (items are
 * unique, or equal keys without indices, so any sort is stable), LSD passes on the two low digits otherwise. One
 * pass over memory instead of the plain LSD sort's three. Returns false when a score is bad.
 */
template <typename Item>
bool bucket_sort_segment(const float* scores, int64_t start, int64_t len, Item* finalBuffer, Item* other, int64_t* firstBad) {
    constexpr int TOP_SHIFT = RADIX_BITS * (RADIX_DIGITS - 1);  // the top digit: key bits 22..31
    constexpr int TOP_BUCKETS = 1 << (32 - TOP_SHIFT);
    constexpr int KEY_SHIFT = SortItem<Item>::KEY_SHIFT;
    constexpr int64_t SMALL = 384;  // below this a comparison sort beats clearing two 2048-entry histograms
    std::vector<int64_t> offsets(TOP_BUCKETS + 1, 0);
    for (int64_t i = 0; i < len; i++) {
        bool b = false;
        const uint32_t k = descending_key(scores[start + i], b);
        if (b) {
            *firstBad = std::min(*firstBad, start + i);
            return false;
        }
        offsets[(k >> TOP_SHIFT) + 1]++;
    }
    for (int k = 0; k < TOP_BUCKETS; k++) offsets[k + 1] += offsets[k];
    {
        std::vector<int64_t> next(offsets.begin(), offsets.end() - 1);
        bool ignored = false;
        for (int64_t i = 0; i < len; i++) {
            const uint32_t k = descending_key(scores[start + i], ignored);
            finalBuffer[next[k >> TOP_SHIFT]++] = SortItem<Item>::make(k, i);
        }
    }
    std::vector<uint32_t> hist(2 * RADIX_BUCKETS);
    for (int bucket = 0; bucket < TOP_BUCKETS; bucket++) {
        const int64_t b0 = offsets[bucket], m = offsets[bucket + 1] - b0;
        if (m < 2) continue;
        Item* a = finalBuffer + b0;
        if (m < SMALL) {
            std::sort(a, a + m);
            continue;
        }
        std::fill(hist.begin(), hist.end(), 0);
        for (int64_t i = 0; i < m; i++) {
            const uint32_t k = (uint32_t)(a[i] >> KEY_SHIFT);
            hist[k & RADIX_MASK]++;
            hist[RADIX_BUCKETS + ((k >> RADIX_BITS) & RADIX_MASK)]++;
        }
        const uint32_t k0 = (uint32_t)(a[0] >> KEY_SHIFT);
        Item* src = a;
        Item* dst = other + b0;
        for (int d = 0; d < 2; d++) {
            uint32_t* h = hist.data() + d * RADIX_BUCKETS;
            const int shift = KEY_SHIFT + RADIX_BITS * d;
            if (h[(k0 >> (RADIX_BITS * d)) & RADIX_MASK] == (uint32_t)m) continue;  // every key shares this digit
            uint32_t sum = 0;
            for (int k = 0; k < RADIX_BUCKETS; k++) {
                const uint32_t c = h[k];
                h[k] = sum;
                sum += c;
            }
            for (int64_t i = 0; i < m; i++) {
                const Item item = src[i];
                dst[h[(item >> shift) & RADIX_MASK]++] = item;
            }
            std::swap(src, dst);
        }
        if (src != a) std::copy_n(src, m, a);
    }
    return true;
}

/** Inclusive prefix sums of sorted[0..len) in double, sequential: the java reference's rounding (cuda adds in tiles). */
void prefix_sums(const float* sorted, int64_t len, double* prefix) {
    double running = 0;
    for (int64_t i = 0; i < len; i++) prefix[i] = running += sorted[i];
}

/** Sorts the items of one segment into `finalBuffer`, then hands each one, in order, to emit(position, item). */
template <typename Item, typename Emit>
bool sort_items(const float* scores, int64_t start, int64_t len, Item* finalBuffer, Item* other, int threads,
                int64_t* firstBad, Emit emit) {
    if (!(threads > 1 ? radix_sort_segment<Item>(scores, start, len, finalBuffer, other, threads, firstBad)
                      : bucket_sort_segment<Item>(scores, start, len, finalBuffer, other, firstBad)))
        return false;
    const int t = len < (1 << 16) ? 1 : threads;
    parallel(t, [&](int k) {
        for (int64_t i = split(len, t, k), e = split(len, t, k + 1); i < e; i++) emit(i, finalBuffer[i]);
    });
    return true;
}

/**
 * Sorts one segment [start, start + len) with `threads` threads. Without indices the 4-byte keys alternate between
 * `sorted` and the (8-byte) prefix slots and end in `sorted`: no scratch. With indices the 8-byte items end in the
 * prefix slots (read there before the prefix sums overwrite them) and need `scratch` (len items).
 * Returns false when a score is bad.
 */
bool sort_segment(const float* scores, int64_t start, int64_t len, float* sorted, int32_t* index, double* prefix,
                  uint64_t* scratch, int threads, int64_t* firstBad) {
    auto put_value = [&](int64_t i, uint32_t key) {
        const uint32_t u = ~key;
        memcpy(sorted + start + i, &u, 4);
    };
    const bool ok = index == nullptr
        ? sort_items<uint32_t>(scores, start, len, reinterpret_cast<uint32_t*>(sorted + start),
                               reinterpret_cast<uint32_t*>(prefix + start), threads, firstBad, put_value)
        : sort_items<uint64_t>(scores, start, len, reinterpret_cast<uint64_t*>(prefix + start), scratch, threads, firstBad,
                               [&](int64_t i, uint64_t item) {
                                   put_value(i, (uint32_t)(item >> 32));
                                   index[start + i] = (int32_t)(start + (int64_t)(uint32_t)item);
                               });
    if (!ok) return false;
    prefix_sums(sorted + start, len, prefix + start);
    return true;
}
}  // extern "C++"
}  // namespace

int falcon_sort_segments(const float* scores, const int64_t* starts, int64_t segments, float* sorted, int32_t* index,
                         double* prefix, int threads, int64_t* bad) {
    if (threads < 1) threads = 1;
    // A segment holding more than a 1/(2 threads) share of all scores is sorted by all threads
    // together; the others go whole to one thread each.
    const int64_t total = starts[segments];
    // the output buffers are often fresh: their first touch happens here
    falcon_advise_huge_pages(sorted, total * (int64_t)sizeof(float));
    falcon_advise_huge_pages(prefix, total * (int64_t)sizeof(double));
    if (index != nullptr) falcon_advise_huge_pages(index, total * (int64_t)sizeof(int32_t));
    int64_t firstBad = INT64_MAX;
    std::vector<int64_t> order, bigOnes;
    int64_t bigMax = 0;
    for (int64_t s = 0; s < segments; s++) {
        const int64_t len = starts[s + 1] - starts[s];
        if (threads > 1 && len >= (1 << 16) && len * 2 * threads > total) {
            bigOnes.push_back(s);
            bigMax = std::max(bigMax, len);
        } else {
            order.push_back(s);
        }
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return starts[a + 1] - starts[a] > starts[b + 1] - starts[b]; });
    std::vector<std::vector<int64_t>> assigned(threads);
    std::vector<int64_t> load(threads, 0), maxLen(threads, 0);
    for (int64_t s : order) {
        int best = 0;
        for (int t = 1; t < threads; t++)
            if (load[t] < load[best]) best = t;
        const int64_t len = starts[s + 1] - starts[s];
        assigned[best].push_back(s);
        load[best] += len;
        maxLen[best] = std::max(maxLen[best], len);
    }
    // Scratch only for the 8-byte items of a sort with indices (the key-only sort runs in the output buffers).
    int64_t outOfMemory = 0;
    SortScratch bigScratch(index != nullptr ? bigMax : 0);
    if (index != nullptr && bigMax > 0 && !bigScratch.ok()) outOfMemory = bigMax;
    for (int64_t s : bigOnes) {
        if (outOfMemory) break;
        sort_segment(scores, starts[s], starts[s + 1] - starts[s], sorted, index, prefix, bigScratch.data(), threads, &firstBad);
    }
    std::vector<int64_t> bads(threads, INT64_MAX), missing(threads, 0);
    if (!outOfMemory) {  // after a bad score the other segments are still checked: the error names the first one
        parallel(threads, [&](int t) {
            SortScratch scratch(index != nullptr ? maxLen[t] : 0);
            if (index != nullptr && maxLen[t] > 0 && !scratch.ok()) {
                missing[t] = maxLen[t];
                return;
            }
            for (int64_t s : assigned[t])
                sort_segment(scores, starts[s], starts[s + 1] - starts[s], sorted, index, prefix, scratch.data(), 1, &bads[t]);
        });
    }
    for (int t = 0; t < threads; t++) {
        outOfMemory = std::max(outOfMemory, missing[t]);
        firstBad = std::min(firstBad, bads[t]);
    }
    if (outOfMemory > 0) {
        last_error = "out of memory: the sort of a " + std::to_string(outOfMemory) + "-score segment needs " +
                     std::to_string(8 * outOfMemory) + " bytes of scratch";
        return -2;
    }
    if (firstBad != INT64_MAX) {
        *bad = firstBad;
        last_error = "score " + std::to_string(firstBad) + " is not finite and >= 0";
        return -1;
    }
    return 0;
}

void falcon_count_above(const float* sorted, const int64_t* starts, int64_t segments, const double* thresholds,
                        int64_t* counts) {
    for (int64_t s = 0; s < segments; s++) {
        int64_t lo = starts[s], hi = starts[s + 1];
        const double t = thresholds[s];
        while (lo < hi) {
            const int64_t mid = lo + (hi - lo) / 2;
            if ((double)sorted[mid] > t) lo = mid + 1; else hi = mid;
        }
        counts[s] = lo - starts[s];
    }
}

// ------------------------------------------------------------------ files

void* falcon_malloc(int64_t bytes) { return malloc(bytes > 0 ? (size_t)bytes : 1); }
void falcon_free(void* p) { free(p); }

namespace {
// A mapped X truncated under the kernels (np.save over the same path during a run) faults on its next read with a
// SIGBUS that the JVM cannot turn into an exception: its fatal-error handler printed a 24-line banner on stdout (fd 1
// hard-wired, JDK-8215004, whatever -XX:+DisplayVMOutputToStderr says), into the stream a consumer of --report - or
// --out - reads. A fault inside one of our mappings is ours to report: one line on stderr, exit code 134 as an abort
// gives, no banner and no core dump of a process that maps GBs. Any other SIGBUS goes on to the JVM's handler.
struct WatchedMapping {
    std::atomic<uintptr_t> start{0}, end{0};
    char message[4352];
    size_t length = 0;
};
constexpr int kWatched = 64;
WatchedMapping watched[kWatched];
std::mutex watched_lock;
struct sigaction jvm_sigbus;
std::atomic<bool> sigbus_reported{false};

void on_sigbus(int sig, siginfo_t* info, void* context) {
    const uintptr_t at = (uintptr_t)info->si_addr;
    for (int i = 0; i < kWatched; i++) {
        const uintptr_t s = watched[i].start.load(std::memory_order_acquire);
        if (s == 0 || at < s || at >= watched[i].end.load(std::memory_order_acquire)) continue;
        // every kernel thread faults on the same file: the first one says it
        if (!sigbus_reported.exchange(true)) {
            const char* m = watched[i].message;
            for (size_t done = 0; done < watched[i].length;) {
                const ssize_t w = write(2, m + done, watched[i].length - done);
                if (w <= 0 && errno != EINTR) break;
                if (w > 0) done += (size_t)w;
            }
            _exit(134);
        }
        for (;;) pause();
    }
    if (jvm_sigbus.sa_flags & SA_SIGINFO) {
        if (jvm_sigbus.sa_sigaction) jvm_sigbus.sa_sigaction(sig, info, context);
    } else if (jvm_sigbus.sa_handler != SIG_IGN && jvm_sigbus.sa_handler != SIG_DFL) {
        jvm_sigbus.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

void watch_mapping(void* base, int64_t length, const char* path) {
    std::lock_guard<std::mutex> guard(watched_lock);
    static bool installed = false;
    if (!installed) {
        struct sigaction act;
        memset(&act, 0, sizeof act);
        act.sa_sigaction = on_sigbus;
        act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        sigemptyset(&act.sa_mask);
        if (sigaction(SIGBUS, &act, &jvm_sigbus) != 0) return;
        installed = true;
    }
    for (int i = 0; i < kWatched; i++) {
        if (watched[i].start.load() != 0) continue;
        const int n = snprintf(watched[i].message, sizeof watched[i].message,
                               "falcon: the run stopped on a SIGBUS reading %s, which falcon maps in place: it was most "
                               "likely truncated or rewritten while it was read, as np.save over the same path does: "
                               "write a new file and rename it over the old one instead\n", path);
        watched[i].length = n < 0 ? 0 : std::min((size_t)n, sizeof watched[i].message - 1);
        if (n >= (int)sizeof watched[i].message) watched[i].message[watched[i].length - 1] = '\n';
        watched[i].end.store((uintptr_t)base + (uintptr_t)length, std::memory_order_release);
        watched[i].start.store((uintptr_t)base, std::memory_order_release);
        return;
    }
}

void unwatch_mapping(void* base) {
    std::lock_guard<std::mutex> guard(watched_lock);
    for (int i = 0; i < kWatched; i++) {
        if (watched[i].start.load() == (uintptr_t)base) watched[i].start.store(0, std::memory_order_release);
    }
}
}  // namespace

void* falcon_map_file(const char* path, int64_t offset, int64_t length, void** base, int64_t* mapped) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        last_error = std::string("cannot open ") + path + ": " + strerror(errno);
        return nullptr;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < offset + length) {
        last_error = std::string(path) + ": file ends inside the data (truncated): " + std::to_string(st.st_size) +
                     " bytes, need " + std::to_string(offset + length);
        close(fd);
        return nullptr;
    }
    const int64_t page = sysconf(_SC_PAGESIZE);
    const int64_t aligned = offset / page * page;
    const int64_t len = length + (offset - aligned);
    void* m = mmap(nullptr, (size_t)len, PROT_READ, MAP_SHARED, fd, aligned);
    close(fd);
    if (m == MAP_FAILED) {
        last_error = std::string("cannot map ") + path + ": " + strerror(errno);
        return nullptr;
    }
    watch_mapping(m, len, path);
    *base = m;
    *mapped = len;
    return (char*)m + (offset - aligned);
}

int falcon_unmap(void* base, int64_t mapped) {
    unwatch_mapping(base);
    return munmap(base, (size_t)mapped);
}

namespace {
inline float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            float v = (float)mantissa * 0x1p-24f;
            return sign ? -v : v;
        }
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/** Converts count elements of raw storage to float. */
void convert(const unsigned char* src, int type, bool big, int64_t count, int64_t srcStride, float* dst,
             int64_t dstStride) {
    switch (type) {
        case 0:
            for (int64_t e = 0; e < count; e++) {
                uint32_t u;
                memcpy(&u, src + e * srcStride * 4, 4);
                if (big) u = __builtin_bswap32(u);
                memcpy(dst + e * dstStride, &u, 4);
            }
            break;
        case 1:
            for (int64_t e = 0; e < count; e++) {
                uint64_t u;
                memcpy(&u, src + e * srcStride * 8, 8);
                if (big) u = __builtin_bswap64(u);
                double d;
                memcpy(&d, &u, 8);
                dst[e * dstStride] = (float)d;
            }
            break;
        case 2:
        case 3:
            for (int64_t e = 0; e < count; e++) {
                uint16_t u;
                memcpy(&u, src + e * srcStride * 2, 2);
                if (big) u = __builtin_bswap16(u);
                if (type == 2) {
                    dst[e * dstStride] = half_to_float(u);
                } else {
                    const uint32_t b = (uint32_t)u << 16;
                    memcpy(dst + e * dstStride, &b, 4);
                }
            }
            break;
    }
}

/** Opens a stored matrix for reading after checking its element type and that the file holds all of it. */
int open_matrix(const char* path, int64_t offset, int type, int64_t rows, int64_t cols, int* width, int* fdOut) {
    static const int widths[] = {4, 8, 2, 2};
    if (type < 0 || type > 3) {
        last_error = "unknown element type " + std::to_string(type);
        return -1;
    }
    const int w = widths[type];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        last_error = std::string("cannot open ") + path + ": " + strerror(errno);
        return -1;
    }
    struct stat st;
    const int64_t need = offset + rows * cols * w;
    if (fstat(fd, &st) != 0 || st.st_size < need) {
        last_error = std::string(path) + ": file ends inside the data (truncated): " + std::to_string(st.st_size) +
                     " bytes, need " + std::to_string(need);
        close(fd);
        return -2;
    }
    posix_fadvise(fd, offset, need - offset, POSIX_FADV_SEQUENTIAL);
    *width = w;
    *fdOut = fd;
    return 0;
}

int finish_read(const char* path, int fd, const std::vector<int>& failed) {
    close(fd);
    for (int f : failed)
        if (f) {
            last_error = std::string(path) + ": read failed (file truncated or I/O error)";
            return -3;
        }
    return 0;
}

bool read_fully(int fd, void* buf, int64_t bytes, int64_t offset) {
    char* p = (char*)buf;
    while (bytes > 0) {
        const ssize_t r = pread(fd, p, (size_t)std::min<int64_t>(bytes, 1 << 30), offset);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        bytes -= r;
        offset += r;
    }
    return true;
}
}  // namespace

int falcon_load_convert(const char* path, int64_t offset, int type, int bigEndian, int rowMajor, int64_t rows,
                        int64_t cols, float* dst, int threads) {
    int w = 0, fd = -1;
    const int rc = open_matrix(path, offset, type, rows, cols, &w, &fd);
    if (rc != 0) return rc;
    if (threads < 1) threads = 1;
    std::vector<int> failed(threads, 0);
    if (!rowMajor) {
        // Fortran order: storage order == internal order; convert chunks of the element range.
        const int64_t total = rows * cols;
        parallel(threads, [&](int t) {
            const int64_t chunk = (4 << 20) / w;
            std::vector<unsigned char> buf((size_t)chunk * w);
            for (int64_t e = split(total, threads, t), end = split(total, threads, t + 1); e < end; e += chunk) {
                const int64_t c = std::min(chunk, end - e);
                if (!read_fully(fd, buf.data(), c * w, offset + e * w)) {
                    failed[t] = 1;
                    return;
                }
                convert(buf.data(), type, bigEndian, c, 1, dst + e, 1);
            }
        });
    } else {
        // C order: file row i holds X[i, :]; transpose tiles of R rows x C columns.
        const int64_t R = std::min<int64_t>(rows, 64), C = 4096;
        parallel(threads, [&](int t) {
            std::vector<unsigned char> buf((size_t)R * C * w);
            const int64_t j0 = split(cols, threads, t), j1 = split(cols, threads, t + 1);
            for (int64_t jc = j0; jc < j1; jc += C) {
                const int64_t cw = std::min(C, j1 - jc);
                for (int64_t i0 = 0; i0 < rows; i0 += R) {
                    const int64_t rh = std::min(R, rows - i0);
                    for (int64_t r = 0; r < rh; r++) {
                        if (!read_fully(fd, buf.data() + r * cw * w, cw * w, offset + ((i0 + r) * cols + jc) * w)) {
                            failed[t] = 1;
                            return;
                        }
                    }
                    for (int64_t j = 0; j < cw; j++)
                        convert(buf.data() + j * w, type, bigEndian, rh, cw, dst + (jc + j) * rows + i0, 1);
                }
            }
        });
    }
    return finish_read(path, fd, failed);
}

int falcon_panel_load_convert(const char* path, int64_t offset, int type, int bigEndian, int rowMajor, int64_t rows,
                              int64_t cols, const int64_t* panels, int64_t panelCount, float* dst, int threads) {
    int w = 0, fd = -1;
    const int rc = open_matrix(path, offset, type, rows, cols, &w, &fd);
    if (rc != 0) return rc;
    threads = clamp_threads(threads, rowMajor ? rows : panelCount);
    std::vector<int> failed(threads, 0);
    const int64_t chunk = std::max<int64_t>(1, (4 << 20) / w);  // elements per read
    if (rowMajor) {
        // C order: a file row is the concatenation of the panels' rows; copied segment by segment.
        parallel(threads, [&](int t) {
            std::vector<unsigned char> buf((size_t)chunk * w);
            for (int64_t i = split(rows, threads, t); i < split(rows, threads, t + 1); i++) {
                for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
                    const int64_t c1 = std::min(cols, c0 + chunk);
                    if (!read_fully(fd, buf.data(), (c1 - c0) * w, offset + (i * cols + c0) * w)) {
                        failed[t] = 1;
                        return;
                    }
                    for (int64_t k = std::upper_bound(panels, panels + panelCount + 1, c0) - panels - 1, c = c0; c < c1; k++) {
                        const int64_t lo = panels[k], end = std::min(c1, panels[k + 1]);
                        convert(buf.data() + (c - c0) * w, type, bigEndian, end - c, 1,
                                dst + lo * rows + i * (panels[k + 1] - lo) + (c - lo), 1);
                        c = end;
                    }
                }
            }
        });
    } else {
        // Fortran order: a panel's columns are contiguous in the file; each is scattered down the panel's rows.
        const std::vector<int64_t> first = split_units(panels, panelCount, cols, threads);
        const int64_t columnsPerRead = std::max<int64_t>(1, chunk / rows);
        parallel(threads, [&](int t) {
            std::vector<unsigned char> buf((size_t)(columnsPerRead * rows * w));
            for (int64_t k = first[t]; k < first[t + 1]; k++) {
                const int64_t lo = panels[k], hi = panels[k + 1], width = hi - lo;
                for (int64_t j0 = lo; j0 < hi; j0 += columnsPerRead) {
                    const int64_t m = std::min(columnsPerRead, hi - j0);
                    if (!read_fully(fd, buf.data(), m * rows * w, offset + j0 * rows * w)) {
                        failed[t] = 1;
                        return;
                    }
                    for (int64_t j = 0; j < m; j++)
                        convert(buf.data() + j * rows * w, type, bigEndian, rows, 1, dst + lo * rows + (j0 + j - lo), width);
                }
            }
        });
    }
    return finish_read(path, fd, failed);
}

}  // extern "C"
