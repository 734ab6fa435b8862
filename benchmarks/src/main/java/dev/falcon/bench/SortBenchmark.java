package dev.falcon.bench;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import java.nio.FloatBuffer;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
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
 * The segmented descending sort of the selection step at ResNet50 scale: p = 25.5M scores in 54
 * segments (sizes from 16 to ~1.34M, five of them under 20), fully random non-negative scores (counter-based fill). With
 * {@code indices = false} the sort orders the values alone, as the FLOP-aware selection asks for it; with
 * {@code true} it also returns every value's original index (magnitude pruning's case).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class SortBenchmark {
    @Param({"25502912"})
    public int p;

    @Param({"54"})
    public int segments;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String backendName;

    @Param({"false", "true"})
    public boolean indices;

    private ComputeBackend backend;
    private FloatPointer scores;
    private FloatPointer sorted;
    private IntPointer index;
    private DoublePointer prefix;
    private long[] starts;

    @Setup(Level.Trial)
    public void setUp() {
        backend = Backends.choose(backendName).create(threads);
        scores = new FloatPointer(p);
        backend.fillUniform(scores, p, 99L, 1f);
        FloatBuffer view = scores.asBuffer();
        for (int i = 0; i < p; i++) view.put(i, Math.abs(view.get(i))); // scores are >= 0
        sorted = new FloatPointer(p);
        index = new IntPointer(p);
        prefix = new DoublePointer(p);
        // Uneven segment sizes like a CNN's layers: weights w_s ~ (s mod 9 + 1)^2, a few tiny ones.
        double[] w = new double[segments];
        double total = 0;
        for (int s = 0; s < segments; s++) total += w[s] = s % 11 == 0 ? 0.001 : Math.pow(s % 9 + 1, 2);
        starts = new long[segments + 1];
        double acc = 0;
        for (int s = 0; s < segments; s++) {
            acc += w[s];
            starts[s + 1] = Math.max(starts[s] + 1, Math.round(acc / total * p));
        }
        starts[segments] = p;
        System.out.println("# " + backend.description() + "; " + p + " scores in " + segments + " segments");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        scores.close();
        sorted.close();
        index.close();
        prefix.close();
        backend.close();
    }

    @Benchmark
    public DoublePointer sortSegments() {
        backend.sortSegmentsDescending(scores, starts, sorted, indices ? index : null, prefix);
        return prefix;
    }
}
