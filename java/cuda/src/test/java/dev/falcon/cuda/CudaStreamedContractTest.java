package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ComputeBackendContract;
import dev.falcon.cpu.CpuBackendProvider;
import dev.falcon.cuda.DeviceMemoryPlan.Mode;
import dev.falcon.data.HostMatrix;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.Objective;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.SolverOptions;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The shared backend contract on the GPU with X streamed, as an X larger than the device is (ResNet50 at n = 1024 on
 * an H100): the backend plans with just the room for chunks of {@value #CHUNK_COLUMNS} columns
 * ({@link PlannedFreeBytes#streamingIn}), so every X of more than {@value #CHUNK_COLUMNS} x 2 columns goes through the
 * pinned buffers and both streams, products add the two streams' accumulators, block products run over many chunks
 * (blocks ending inside a chunk, chunks cut short at a block start) and a block wider than a chunk goes to the host
 * backend; gathers of a streamed X are host copies. Without the hook every test's X is resident on any GPU, and none
 * of this ran on a device. Skipped, with the probe's reason, where no GPU is usable.
 */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaStreamedContractTest extends ComputeBackendContract {
    static final long CHUNK_COLUMNS = 5;

    /** Every matrix on the device, as in CudaBackendContractTest: the contract keeps its earlier, larger ones open. */
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new CudaBackend(threads, BlockGramKernel.configured(), false, PlannedFreeBytes.streamingIn(CHUNK_COLUMNS));
    }

    /** The kernels add each segment's prefix sums in tiles (falcon_cuda_logic.cuh), not serially: see CudaLogicScanTest. */
    @Override
    protected double prefixSumTolerance() { return CudaLogicScanTest.SERIAL_TOLERANCE; }

    /** X^T u in double: lane-strided sums and a tree, not the rows' order (CudaLogicTransposedOrderTest). */
    @Override
    protected double transposedSummedInDoubleTolerance(int n) { return CudaLogicTransposedOrderTest.orderTolerance(n); }

    private CudaBackend cuda() { return (CudaBackend) backend; }

    @Test
    void xWiderThanTwoChunksIsStreamedInChunksOfFiveColumns() {
        SplittableRandom random = new SplittableRandom(31);
        DeviceMemoryPlan plan = cuda().prepare(matrix(randomFloats(random, 17 * 1001), 17, 1001));
        assertEquals(Mode.STREAMED, plan.mode(), plan.describe());
        assertEquals(CHUNK_COLUMNS, plan.chunkColumns(), plan.describe());
        DeviceMemoryPlan small = cuda().prepare(matrix(randomFloats(random, 17 * 10), 17, 10));
        assertEquals(Mode.RESIDENT, small.mode(), "two chunks' room holds all of an X of 10 columns: " + small.describe());
    }

    /**
     * Blocks of 2 and irregular blocks of at most a chunk run on the device, chunk by chunk on alternating streams, the
     * kernel reading X through a base shifted back by the chunk's first column; a block of 7 columns, wider than a
     * chunk, sends the whole product to the host backend. Every answer within the contract's bound of the reference.
     */
    @Test
    void blockProductsOverStreamedChunksMatchTheReference() {
        SplittableRandom random = new SplittableRandom(32);
        int n = 33, p = 257;
        float[] xs = randomFloats(random, n * p);
        HostMatrix x = matrix(xs, n, p), ax = matrix(abs(xs), n, p);
        float[] ds = randomFloats(random, p);
        FloatPointer d = floats(ds), ad = floats(abs(ds));
        FloatPointer got = track(new FloatPointer(p)), want = track(new FloatPointer(p)), scale = track(new FloatPointer(p));
        assertEquals(Mode.STREAMED, cuda().prepare(x).mode());
        for (int[] sizes : new int[][] {{2}, {2, 1, 3, 5, 4}, {5}, {7}, {3, 1, 64, 17}}) {
            long[] starts = starts(p, sizes);
            boolean widerThanAChunk = CudaBackend.widestBlock(starts) > CHUNK_COLUMNS;
            long hostRunsBefore = cuda().hostRuns();
            backend.blockGramProduct(x, starts, d, got);
            reference.blockGramProduct(x, starts, d, want);
            reference.blockGramProduct(ax, starts, ad, scale);
            String what = "block product over chunks of " + CHUNK_COLUMNS + ", blocks " + java.util.Arrays.toString(sizes);
            assertClose(what, get(want, p), get(got, p), get(scale, p), productTolerance() * Math.sqrt(n + p));
            assertEquals(widerThanAChunk ? 1 : 0, cuda().hostRuns() - hostRunsBefore, what + ": runs on the host backend");
        }
    }

    /** X v over many chunks: both streams' accumulators, added on the device (multiply) and on the host (summed in double). */
    @Test
    void productsOverStreamedChunksAddBothStreamsAccumulators() {
        SplittableRandom random = new SplittableRandom(33);
        int n = 64, p = 515;
        float[] xs = randomFloats(random, n * p), vs = randomFloats(random, p);
        HostMatrix x = matrix(xs, n, p);
        FloatPointer v = floats(vs), got = track(new FloatPointer(n)), want = track(new FloatPointer(n));
        DoublePointer gotDouble = track(new DoublePointer(n)), wantDouble = track(new DoublePointer(n));
        long hostRunsBefore = cuda().hostRuns();
        backend.multiply(x, v, got);
        reference.multiply(x, v, want);
        backend.multiplySummedInDouble(x, v, gotDouble);
        reference.multiplySummedInDouble(x, v, wantDouble);
        for (int i = 0; i < n; i++) {
            double scale = 0;
            for (int j = 0; j < p; j++) scale += Math.abs((double) xs[j * n + i] * vs[j]);
            assertEquals(want.get(i), got.get(i), productTolerance() * Math.sqrt(p) * scale, "X v, row " + i);
            assertEquals(wantDouble.get(i), gotDouble.get(i), 1e-12 * scale, "X v summed in double, row " + i);
        }
        assertEquals(hostRunsBefore, cuda().hostRuns(), "products of a streamed X run on the device");
    }

    /**
     * mp with the exact backsolve, X streamed in chunks of 4,096 columns: products, the Woodbury's X_K^T u summed in
     * double, the Gram and the gathers of the kept columns (host copies of a streamed X), on ResNet20 at n = 8 (about
     * 270,000 columns: some 70 chunks). mp's support does not depend on X, so both backends keep the same weights, and the
     * backsolve's weights on it agree to rounding: Q within 1e-5 relative of the cpu backend's. (falcon's search could end
     * in another local optimum on another backend's rounding: README, "Backends and how one is chosen".)
     */
    @Test
    void aStreamedBacksolveReachesTheCpuBackendsObjective() {
        ExampleModel model = ExampleModels.get("resnet20");
        Budgets budgets = Budgets.resolve(model.layers(), 0.2, null, 0.3, null, null);
        double lambda = 1e-3;
        long p = model.layers().parameters();
        try (CudaBackend streamed = new CudaBackend(2, BlockGramKernel.configured(), true, PlannedFreeBytes.streamingIn(4096));
             ComputeBackend cpu = new CpuBackendProvider().create(2);
             Pruner streamedPruner = new Pruner(streamed);
             Pruner cpuPruner = new Pruner(cpu);
             FloatPointer w = model.syntheticWeights(7);
             HostMatrix xStreamed = model.syntheticGradients(streamed, 8, 7);
             HostMatrix xCpu = model.syntheticGradients(cpu, 8, 7)) {
            DeviceMemoryPlan plan = streamed.prepare(xStreamed);
            assertEquals(Mode.STREAMED, plan.mode(), plan.describe());
            assertEquals(4096, plan.chunkColumns(), plan.describe());
            try (PruneResult a = streamedPruner.prune(Method.MP, w, model.layers(), budgets,
                         new Pruner.SolverInputs(xStreamed, null, lambda, SolverOptions.defaults(), Backsolve.Mode.EXACT));
                 PruneResult b = cpuPruner.prune(Method.MP, w, model.layers(), budgets,
                         new Pruner.SolverInputs(xCpu, null, lambda, SolverOptions.defaults(), Backsolve.Mode.EXACT))) {
                long differences = 0;
                for (long i = 0; i < p; i++) {
                    if (a.mask().get(i) != b.mask().get(i)) differences++;
                }
                assertEquals(0, differences, "weights kept by one backend and not the other");
                // both on the cpu backend: the difference is the backsolves', not the evaluations'
                double qStreamed = Objective.evaluate(cpu, xCpu, a.prunedWeights(), w, null, lambda).q();
                double qCpu = Objective.evaluate(cpu, xCpu, b.prunedWeights(), w, null, lambda).q();
                assertTrue(Double.isFinite(qStreamed) && qStreamed > 0, "Q of the streamed backsolve: " + qStreamed);
                assertEquals(qCpu, qStreamed, 1e-5 * Math.abs(qCpu), "Q of the streamed cuda backsolve against the cpu backend's");
            }
        }
    }

    /** Block starts 0, then blocks of the given sizes in turn up to p. */
    private static long[] starts(int p, int... sizes) {
        java.util.List<Long> s = new java.util.ArrayList<>(java.util.List.of(0L));
        for (long at = 0, k = 0; at < p; k++) {
            at = Math.min(p, at + sizes[(int) (k % sizes.length)]);
            s.add(at);
        }
        return s.stream().mapToLong(Long::longValue).toArray();
    }
}
