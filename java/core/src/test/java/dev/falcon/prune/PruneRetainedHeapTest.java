package dev.falcon.prune;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.SolverOptions;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** Prunes leave nothing on the Java heap that the thread which ran them still reaches once their results are closed. */
class PruneRetainedHeapTest {
    private static long liveHeapBytes() {
        for (int i = 0; i < 3; i++) System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @Test
    void falconPrunesLeaveNoBuffersReachableFromTheCallingThread() throws Exception {
        int n = 8, p = 20_000;
        Random r = new Random(1);
        float[] xs = new float[n * p], ws = new float[p];
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        for (int i = 0; i < p; i++) ws[i] = (float) r.nextGaussian();
        LayerTable layers = new LayerTable(List.of(new Layer("a", new long[] {p / 2}, 3, 0, p / 2),
                new Layer("b", new long[] {p / 2}, 1, p / 2, p / 2)), "test");
        Budgets budgets = Budgets.resolve(layers, 0.3, null, 0.4, null, null);
        AtomicReference<long[]> heap = new AtomicReference<>();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        // a thread that is still alive when the heap is measured, as an application's long-lived worker would be
        Thread worker = new Thread(() -> {
            try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
                 FloatPointer w = new FloatPointer(ws); FloatPointer xp = new FloatPointer(xs);
                 HostMatrix x = HostMatrix.wrap(xp, n, p, null, "heap")) {
                Pruner.SolverInputs inputs = new Pruner.SolverInputs(x, null, 1e-3,
                        SolverOptions.defaults().withMaxIterations(10).withSwapCandidates(0), null);
                try (PruneResult warm = pruner.prune(Method.FALCON, w, layers, budgets, inputs)) {
                    warm.copyMask();
                }
                long before = liveHeapBytes();
                for (int i = 0; i < 4; i++) {
                    try (PruneResult res = pruner.prune(Method.FALCON, w, layers, budgets, inputs)) {
                        res.copyMask();
                    }
                }
                heap.set(new long[] {before, liveHeapBytes()});
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        worker.start();
        worker.join();
        if (failed.get() != null) throw new AssertionError(failed.get());
        long grown = heap.get()[1] - heap.get()[0];
        // each mask of a DFO iteration left a 128 KiB buffer in the thread's ThreadLocalMap: about 40 MB for these 4
        assertTrue(grown < 16L << 20, "the live heap grew by " + (grown >> 20) + " MB over 4 closed prunes");
    }
}
