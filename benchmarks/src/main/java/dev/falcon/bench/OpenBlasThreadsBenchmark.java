package dev.falcon.bench;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.cpu.nativelib.FalconKernels;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.Pointer;
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
 * Where a second OpenBLAS thread starts to pay for the small calls of the backsolves: a block's n x n Gram (dsyrk over
 * k columns, n (n + 1) k operations) at 1 and 2 OpenBLAS threads, bypassing CpuBackend's one-thread rule for small
 * calls so that both counts are measured side by side. The rule was 16 MFlop when this was first run; its results
 * (benchmarks/results/20261207-035549-vm.json, -035803-vm.json, -040006-vm.json) set today's size rule,
 * CpuBackend.GRAM_ON_THREAD_COUNT_FROM_N and CHOLESKY_ON_THREAD_COUNT_FROM_N. Run it on
 * an idle machine: on a loaded one the second thread's join is what the rule avoids, and that is not a break-even.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class OpenBlasThreadsBenchmark {
    @Param({"64", "128"})
    public int n;

    @Param({"500", "2000", "8000"})
    public int k;

    @Param({"1", "2"})
    public int openblasThreads;

    private ComputeBackend backend;
    private DoublePointer columns;
    private DoublePointer gram;
    private DoublePointer positiveDefinite;

    @Setup(Level.Trial)
    public void setUp(BenchmarkParams trial) {
        // the cpu backend loads OpenBLAS with the settings every falcon run gets (core type, thread pool)
        backend = Backends.choose("cpu").create(2);
        columns = new DoublePointer((long) n * k);
        SplittableRandom random = new SplittableRandom(11L);
        for (long i = 0; i < (long) n * k; i++) columns.put(i, random.nextDouble() - 0.5);
        gram = new DoublePointer((long) n * n);
        positiveDefinite = new DoublePointer((long) n * n);
        openblas.cblas_dsyrk(openblas.CblasColMajor, openblas.CblasLower, openblas.CblasNoTrans, n, k, 1.0, columns, n,
                0.0, positiveDefinite, n);
        for (int i = 0; i < n; i++) positiveDefinite.put((long) i * n + i, positiveDefinite.get((long) i * n + i) + 1e-3);
        FalconKernels.falcon_openblas_set_threads(openblasThreads);
        // one setUp for both benchmarks: each trial is labelled with its own operation and count (the factor's trials
        // were labelled with the Gram's dsyrk count)
        if (trial.getBenchmark().endsWith(".factor")) {
            System.out.printf("# dpotrf n = %d: %.1f MFlop on %d OpenBLAS thread(s)%n", n, (double) n * n * n / 3 / 1e6,
                    openblasThreads);
        } else {
            System.out.printf("# dsyrk n = %d, k = %d: %.1f MFlop on %d OpenBLAS thread(s)%n", n, k,
                    (double) n * (n + 1) * k / 1e6, openblasThreads);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        positiveDefinite.close();
        gram.close();
        columns.close();
        backend.close();
    }

    @Benchmark
    public DoublePointer gram() {
        openblas.cblas_dsyrk(openblas.CblasColMajor, openblas.CblasLower, openblas.CblasNoTrans, n, k, 1.0, columns, n,
                0.0, gram, n);
        return gram;
    }

    /** The Cholesky factor of an n x n Gram (n^3 / 3 operations); the copy it starts from is n^2, small beside it. */
    @Benchmark
    public DoublePointer factor() {
        Pointer.memcpy(gram, positiveDefinite, (long) n * n * Double.BYTES);
        openblas.LAPACKE_dpotrf(openblas.LAPACK_COL_MAJOR, (byte) 'L', n, gram, n);
        return gram;
    }
}
