package dev.falcon.bench;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
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

/**
 * One block of the block and sweep backsolves: the n x n Gram of a block's k columns plus lambda I, and its Cholesky
 * factor, as Backsolve.solveLocal forms them (resnet20 at n = 64, blocks of up to 2000 columns). A Gram below n = 256
 * and a factor below n = 1024 run on one OpenBLAS thread whatever the backend's count
 * (CpuBackend.GRAM_ON_THREAD_COUNT_FROM_N and CHOLESKY_ON_THREAD_COUNT_FROM_N, from OpenBlasThreadsBenchmark's idle
 * runs): compare {@code threads} 1 and 2, and {@code -p n=256,512 -p k=4000} for Grams that run on the backend's count.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class BlockSolveBenchmark {
    @Param({"64"})
    public int n;

    @Param({"2000"})
    public int k;

    @Param({"1", "2"})
    public int threads;

    @Param({"cpu"})
    public String backendName;

    private ComputeBackend backend;
    private HostMatrix x;
    private FloatPointer ones;
    private DoublePointer gram;

    @Setup(Level.Trial)
    public void setUp() {
        backend = Backends.choose(backendName).create(threads);
        x = HostMatrix.allocate(n, k);
        backend.fillUniform(x.data(), (long) n * k, 7L, 1f);
        ones = new FloatPointer(k);
        for (int j = 0; j < k; j++) ones.put(j, 1f);
        gram = new DoublePointer((long) n * n);
        System.out.println("# " + backend.description() + "; block Gram and factor: n = " + n + ", " + k + " columns");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        gram.close();
        ones.close();
        x.close();
        backend.close();
    }

    @Benchmark
    public DoublePointer gramAndFactor() {
        backend.weightedGram(x, ones, gram);
        // lambda I keeps the Gram positive definite as the backsolve's does (k >= n columns of uniform data need none)
        for (int i = 0; i < n; i++) gram.put((long) i * n + i, gram.get((long) i * n + i) + 1e-3);
        backend.choleskyFactor(gram, n);
        return gram;
    }
}
