package dev.falcon.bench;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.examples.ExampleModels;
import dev.falcon.model.LayerTable;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import java.util.concurrent.TimeUnit;
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
 * The FLOP-aware selection (LP dual, rounding, greedy safeguards, mask) on the real layer tables of
 * the built-in examples, with scores = w^2 of their synthetic weights; budgets 20% of dense FLOPs
 * and 30% of the weights, so both constraints matter.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx3g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class SelectionBenchmark {
    @Param({"resnet20", "mobilenetv1", "resnet50"})
    public String model;

    @Param({"2"})
    public int threads;

    @Param({"cpu"})
    public String backendName;

    private ComputeBackend backend;
    private FlopAwareSelector selector;
    private LayerTable layers;
    private FloatPointer scores;
    private long nnzBudget;
    private double flopBudget;

    @Setup(Level.Trial)
    public void setUp() {
        backend = Backends.choose(backendName).create(threads);
        selector = new FlopAwareSelector(backend);
        layers = ExampleModels.get(model).layers();
        long p = layers.parameters();
        scores = ExampleModels.get(model).syntheticWeights(20261125L);
        for (long i = 0; i < p; i++) {
            float w = scores.get(i);
            scores.put(i, w * w);
        }
        nnzBudget = (long) (0.3 * p);
        flopBudget = 0.2 * layers.denseFlops();
        System.out.println("# " + backend.description() + "; " + model + ": p = " + p + ", L = " + layers.size());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        scores.close();
        selector.close();
        backend.close();
    }

    @Benchmark
    public long select() {
        try (Selection s = selector.select(scores, layers, nnzBudget, flopBudget)) {
            return s.kept();
        }
    }
}
