package dev.falcon.bench;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;
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
 * The n x n double-precision Gram of k gathered columns, as the exact backsolve's support searches need it: with
 * weights +1 and -1 ({@code signed}: the update from a nearby support's Gram, columns that joined minus columns that
 * left) and with all weights 1 ({@code ones}: the same columns formed into a Gram). The cpu backend computes both as
 * symmetric rank-k products, so the two should cost the same; a general product (dgemm) would make the signed case
 * about twice as slow. Sizes of the MNIST CNN's searches (n = 1000 per-sample gradients, updates of ~1000 columns).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class GramBenchmark {
    @Param({"1000"})
    public int n;

    @Param({"1000"})
    public int k;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String backendName;

    @Param({"signed", "ones"})
    public String weights;

    private ComputeBackend backend;
    private HostMatrix x;
    private FloatPointer w;
    private DoublePointer gram;

    @Setup(Level.Trial)
    public void setUp() {
        backend = Backends.choose(backendName).create(threads);
        x = HostMatrix.allocate(n, k);
        backend.fillUniform(x.data(), (long) n * k, 7L, 1f);
        w = new FloatPointer(k);
        FloatBuffer view = w.asBuffer();
        SplittableRandom random = new SplittableRandom(3);
        for (int j = 0; j < k; j++) view.put(j, weights.equals("signed") ? (random.nextBoolean() ? 1f : -1f) : 1f);
        gram = new DoublePointer((long) n * n);
        System.out.println("# " + backend.description() + "; Gram of " + k + " columns of " + n + " rows, weights " + weights);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        gram.close();
        w.close();
        x.close();
        backend.close();
    }

    @Benchmark
    public DoublePointer weightedGram() {
        backend.weightedGram(x, w, gram);
        return gram;
    }
}
