package dev.falcon.bench;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.cpu.CpuBackend;
import dev.falcon.cpu.nativelib.FalconKernels;
import dev.falcon.data.HostMatrix;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Products with X against yardsticks: streaming reads of an X of the same shape, layout and contents (sasum, our own
 * read; each benchmark runs in a fork of its own, with its own allocation of X), a read of every block twice, and
 * X^T (X d) as two passes (OpenBLAS sgemv, the backend's own gemv).
 * Every method reads X exactly once per call except {@link #twoSgemv} and {@link #twoBlasSgemv}, which read it
 * twice; GB/s is always "bytes of X per call / time" (effective for those two) so the ratios compare like with like.
 *
 * <p>X is fully random (counter-based, never repeated): these machines merge identical memory
 * pages, and repeated data is served from cache, inflating bandwidth two-fold or more.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
// Heap and JavaCPP limits live here, not on the command line: -jvmArgsAppend would replace them.
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class ProductBenchmark {
    @Param({"512"})
    public int n;

    @Param({"2000000"})
    public int p;

    /** Columns per block of the fused kernel (the block-diagonal model's block size). */
    @Param({"2000"})
    public int blockSize;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String backendName;

    /**
     * "panels": X as the backend stores it for the solver (cpu: row-major panels equal to the blocks, see HostMatrix);
     * "column-major": the layout every backend reads, and the one a Fortran-order float32 file maps without a copy.
     * A backend with no panel layout (java, cuda) refuses "panels" rather than measure column-major X under its name.
     */
    @Param({"panels", "column-major"})
    public String layout;

    private ComputeBackend backend;
    private HostMatrix x;
    private FloatPointer d;
    private FloatPointer[] sasumChunks;
    private int[] sasumCounts;
    /** The most elements one sasum call reads: a multiple of 64 (one AVX-512 cache line of floats) below 2^31. */
    private static final long SASUM_CHUNK = 1L << 30;
    private FloatPointer u;
    private FloatPointer out;
    private long[] blockStarts;
    /** What the OpenBLAS yardsticks ran with: the count OpenBLAS reports after setUp set it, and the probe's facts. */
    int openblasThreads;
    private Map<String, String> nativeFacts;

    @Setup(Level.Trial)
    public void setUpTrial(BenchmarkParams jmh) {
        setUp();
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("openblas_core", nativeFacts.get("openblas.core"));
        facts.put("openblas_threads", openblasThreads);
        facts.put("openblas_version", nativeFacts.get("openblas.version"));
        facts.put("openblas_coretype_reason", nativeFacts.get("openblas.coretype.reason"));
        facts.put("kernels_isa", nativeFacts.get("kernels.isa"));
        facts.put("backend", backend.description());
        ForkFacts.record(jmh, facts);
    }

    void setUp() {
        backend = Backends.choose(backendName).create(threads);
        blockStarts = evenBlockStarts(p, blockSize);
        x = switch (layout) {
            case "panels" -> backend.allocate(n, p, blockStarts);
            case "column-major" -> backend.allocate(n, p, null);
            default -> throw new IllegalArgumentException("layout must be panels or column-major, got " + layout);
        };
        if (layout.equals("panels") && x.isColumnMajor()) {
            // the java and cuda backends store X column-major whatever the blocks: results labelled panels would be of
            // column-major X, and the summary would pair them with the cpu backend's panels
            x.close();
            throw new IllegalStateException("layout=panels: the " + backendName + " backend stores X column-major;"
                    + " run it with -p layout=column-major");
        }
        backend.fillUniform(x.data(), x.elements(), 20261125L, 1f);
        // sasum counts in 32 bits: cast whole, an X of 2^31 elements or more (n = 2048 at p = 2M) read a wrapped count
        // and reported a far too fast read; such an X is read in consecutive chunks, one pass as before
        int chunks = (int) ((x.elements() + SASUM_CHUNK - 1) / SASUM_CHUNK);
        sasumChunks = new FloatPointer[chunks];
        sasumCounts = new int[chunks];
        for (int c = 0; c < chunks; c++) {
            long start = c * SASUM_CHUNK;
            sasumChunks[c] = c == 0 ? x.data() : new FloatPointer(x.data()).position(start);
            sasumCounts[c] = (int) Math.min(SASUM_CHUNK, x.elements() - start);
        }
        d = new FloatPointer(p);
        backend.fillUniform(d, p, 7L, 1f);
        u = new FloatPointer(n);
        out = new FloatPointer(p);
        // sasum and cblas_sgemv are called here directly, not through the backend, whose calls set OpenBLAS's thread
        // count each time: without this they ran with OpenBLAS's own count (every core) under the label of `threads`.
        // The count is the backend's for `threads` (never above the available processors): with -p threads above the
        // cores the yardsticks ran that many busy-waiting OpenBLAS threads, which the backend avoids, and were slowed
        openblasThreads = CpuBackend.setOpenBlasThreads(CpuBackend.openBlasThreadsFor(threads));
        nativeFacts = CpuBackend.nativeFacts();
        System.out.println("# " + backend.description() + "; X = " + n + " x " + p + " float32 " + x.layout() + ", "
                + x.bytes() / 1e9 + " GB; OpenBLAS yardsticks: core " + nativeFacts.get("openblas.core") + ", "
                + openblasThreads + " thread" + (openblasThreads == 1 ? "" : "s"));
    }

    /** Starts of blocks of {@code blockSize} columns covering [0, p), the last one shorter where p is not a multiple. */
    static long[] evenBlockStarts(int p, int blockSize) {
        int blocks = (p + blockSize - 1) / blockSize;
        long[] starts = new long[blocks + 1];
        for (int b = 0; b <= blocks; b++) starts[b] = Math.min((long) b * blockSize, p);
        return starts;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        d.close();
        u.close();
        out.close();
        backend.close();
    }

    /** One streaming read of X through OpenBLAS sasum, on {@code threads} threads but at most the cores (set in setUp). */
    @Benchmark
    public double streamingRead() {
        double sum = 0;
        for (int c = 0; c < sasumChunks.length; c++) sum += openblas.cblas_sasum(sasumCounts[c], sasumChunks[c], 1);
        return sum;
    }

    /**
     * One streaming read of X by our own kernel (the same static split as the products;
     * each thread reads its range as four streams, which on the AVX-512 VM reads ~25% faster than one).
     * OpenBLAS sasum reads more slowly on some CPUs, which would flatter the products.
     */
    @Benchmark
    public double nativeStreamingRead() {
        return FalconKernels.falcon_read_sum(x.data(), x.elements(), threads);
    }

    /**
     * The fused kernel's access pattern without its arithmetic, a reference rather than a bound: on panels, each group
     * of four rows read from memory, then again from cache while the next group is read; on column-major X, each block
     * read twice in a row. The fused product reads a row or column a second time too (its second use needs the whole
     * block's first), but in saved runs it has run at 95-108% of this read's speed, so the ratio says roughly, not
     * exactly, what the arithmetic costs.
     */
    @Benchmark
    public double nativeTwoTouchRead() {
        long[] panels = x.panelStarts();
        return panels != null
                ? FalconKernels.falcon_panel_touch_twice(x.data(), x.rows(), x.cols(), panels, panels.length - 1, threads)
                : FalconKernels.falcon_block_touch_twice(x.data(), x.rows(), x.cols(), blockStarts, blockStarts.length - 1, threads);
    }

    /** X^T (X d) as two passes of the backend's own gemv kernels (not OpenBLAS: that is {@link #twoBlasSgemv}). */
    @Benchmark
    public FloatPointer twoSgemv() {
        backend.multiply(x, d, u);
        backend.multiplyTransposed(x, u, out);
        return out;
    }

    /** Block-diagonal X_B^T (X_B d_B) for every block in one pass over X. */
    @Benchmark
    public FloatPointer fusedBlockProduct() {
        backend.blockGramProduct(x, blockStarts, d, out);
        return out;
    }

    /**
     * X^T (X d) as OpenBLAS cblas_sgemv calls, bypassing the backend: two calls on column-major X, two per panel
     * (row-major) on panels. Shows why the cpu backend uses its own gemv kernels.
     */
    @Benchmark
    public FloatPointer twoBlasSgemv() {
        int n = (int) x.rows(), p = (int) x.cols();
        long[] panels = x.panelStarts();
        if (panels == null) {
            openblas.cblas_sgemv(openblas.CblasColMajor, openblas.CblasNoTrans, n, p, 1f, x.data(), n, d, 1, 0f, u, 1);
            openblas.cblas_sgemv(openblas.CblasColMajor, openblas.CblasTrans, n, p, 1f, x.data(), n, u, 1, 0f, out, 1);
            return out;
        }
        for (int k = 0; k + 1 < panels.length; k++) {
            int width = (int) (panels[k + 1] - panels[k]);
            FloatPointer panel = new FloatPointer(x.data()).position(panels[k] * n);
            openblas.cblas_sgemv(openblas.CblasRowMajor, openblas.CblasNoTrans, n, width, 1f, panel, width,
                    new FloatPointer(d).position(panels[k]), 1, k == 0 ? 0f : 1f, u, 1);
        }
        for (int k = 0; k + 1 < panels.length; k++) {
            int width = (int) (panels[k + 1] - panels[k]);
            FloatPointer panel = new FloatPointer(x.data()).position(panels[k] * n);
            openblas.cblas_sgemv(openblas.CblasRowMajor, openblas.CblasTrans, n, width, 1f, panel, width, u, 1, 0f,
                    new FloatPointer(out).position(panels[k]), 1);
        }
        return out;
    }

    /** One sgemv, X d: a single pass, for reference. */
    @Benchmark
    public FloatPointer oneSgemv() {
        backend.multiply(x, d, u);
        return u;
    }
}
