package dev.falcon.bench;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.cuda.BlockGramKernel;
import dev.falcon.cuda.CudaBackendProvider;
import dev.falcon.cuda.ResidentProducts;
import dev.falcon.data.HostMatrix;
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
 * The GPU's products with X and its vectors resident in device memory ({@link ResidentProducts}), against a streaming
 * read of an X made and copied the same way: the block-fused product by each kernel ({@link BlockGramKernel}), and
 * X^T (X d) as the cuda backend's two passes (falcon's X v kernel, then cuBLAS sgemv). Each benchmark is its own JMH
 * trial; the kernel parameter is the block product's alone, so the read and the two passes run once, not per kernel.
 * GB/s is bytes of X per call / time, as in {@link ProductBenchmark}. Needs a usable cuda backend (the trial fails
 * with the probe's reason otherwise). X is fully random, generated on the host and copied once per trial.
 *
 * <p>{@code bin/benchmarks DeviceProductBenchmark} from the GPU bundle; {@code -p kernel=cluster16} for one kernel.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxBytes=0",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class DeviceProductBenchmark {
    @Param({"512"})
    public int n;

    @Param({"2000000"})
    public int p;

    @Param({"2000"})
    public int blockSize;

    /** The block product's kernel: a state of its own, so that JMH multiplies only that benchmark's trials by it. */
    @State(Scope.Benchmark)
    public static class Kernel {
        @Param({"tree", "warp", "cluster8", "cluster16"})
        public String kernel;

        private BlockGramKernel blockKernel;

        @Setup(Level.Trial)
        public void setUp() {
            blockKernel = BlockGramKernel.parse(kernel, "-p kernel");
            System.out.println("# block product kernel " + blockKernel.id());
        }
    }

    private ResidentProducts device;

    @Setup(Level.Trial)
    public void setUp() {
        BackendAvailability cuda = new CudaBackendProvider().probe();
        if (!cuda.usable()) throw new IllegalStateException("DeviceProductBenchmark needs a GPU: cuda " + cuda.reason());
        long[] blockStarts = ProductBenchmark.evenBlockStarts(p, blockSize);
        // X is made on the host by the fastest host backend, then copied; the host copy is freed before timing
        try (ComputeBackend host = Backends.choose("cpu").create(Runtime.getRuntime().availableProcessors());
             HostMatrix x = host.allocate(n, p, null); FloatPointer d = new FloatPointer(p)) {
            host.fillUniform(x.data(), x.elements(), 20261125L, 1f);
            host.fillUniform(d, p, 7L, 1f);
            device = new ResidentProducts(x, blockStarts, d);
        }
        System.out.println("# device-resident X = " + n + " x " + p + " float32, " + device.bytesOfX() / 1e9 + " GB");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        device.close();
    }

    /** The floor: one streaming read of X in device memory (falcon's read kernel, float4 loads). */
    @Benchmark
    public double deviceRead() {
        return device.readSum();
    }

    /** Block-diagonal X_B^T (X_B d_B) for every block, by the kernel named by the parameter. */
    @Benchmark
    public void deviceBlockProduct(Kernel kernel) {
        device.blockProduct(kernel.blockKernel);
    }

    /** X^T (X d) in two passes over X (independent of the kernel parameter). */
    @Benchmark
    public void deviceTwoProducts() {
        device.twoProducts();
    }
}
