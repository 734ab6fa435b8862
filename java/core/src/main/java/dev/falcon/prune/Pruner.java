package dev.falcon.prune;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.io.InputException;
import dev.falcon.model.LayerTable;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Runs one pruning method under two budgets. {@code magnitude}: global ranking of |w| (stable, ties
 * by index), kept in that order while both budgets hold; an item that no longer fits is skipped and
 * the scan goes on. {@code mp}: the FLOP-aware selection ILP with scores w^2 (FALCON's magnitude
 * pruning), which accounts for each weight's FLOP cost.
 */
public final class Pruner implements AutoCloseable {
    private final ComputeBackend backend;

    public Pruner(ComputeBackend backend) {
        this.backend = backend;
    }

    /** Prunes {@code weights} (length p, not modified); the caller closes the result. */
    public PruneResult prune(Method method, FloatPointer weights, LayerTable layers, Budgets budgets) {
        if (!method.available()) {
            throw InputException.of("--method", "value", "method " + method.cliName() + " is " + method.unavailableReason(),
                    "use --method mp or --method magnitude");
        }
        if (budgets.parameters() != layers.parameters()) {
            throw new IllegalArgumentException("budgets resolved for p = " + budgets.parameters() + " but the layers have p = " + layers.parameters());
        }
        long p = layers.parameters();
        long t0 = System.nanoTime();
        FloatPointer scores = new FloatPointer(p);
        BytePointer mask = null;
        FloatPointer pruned = null;
        try {
            boolean squared = method == Method.MP;
            for (long i = 0; i < p; i++) {
                float w = weights.get(i);
                scores.put(i, squared ? w * w : Math.abs(w));
            }
            long t1 = System.nanoTime();
            long[] perLayer;
            long kept;
            double keptFlops;
            PruneResult.Certificate certificate = null;
            mask = new BytePointer(p);
            if (method == Method.MAGNITUDE) {
                mask.fill(0);
                perLayer = new long[layers.size()];
                double[] f = layers.flopsPerWeight();
                double cheapest = Double.POSITIVE_INFINITY;
                for (double v : f) cheapest = Math.min(cheapest, v);
                long[] starts = layers.segmentStarts();
                long k = 0;
                double used = 0;
                try (FloatPointer sorted = new FloatPointer(p); IntPointer index = new IntPointer(p); DoublePointer prefix = new DoublePointer(p)) {
                    backend.sortSegmentsDescending(scores, new long[] {0, p}, sorted, index, prefix);
                    for (long r = 0; r < p && k < budgets.nnz() && used + cheapest <= budgets.flops(); r++) {
                        int i = index.get(r);
                        int l = layerOf(starts, i);
                        if (used + f[l] > budgets.flops()) continue; // no longer fits: skip it, cheaper ones may
                        mask.put(i, (byte) 1);
                        used += f[l];
                        perLayer[l]++;
                        k++;
                    }
                }
                kept = k;
                keptFlops = used;
            } else {
                try (FlopAwareSelector selector = new FlopAwareSelector(backend);
                     Selection s = selector.select(scores, layers, budgets.nnz(), budgets.flops())) {
                    Pointer.memcpy(mask, s.mask(), p);
                    kept = s.kept();
                    keptFlops = s.keptFlops();
                    perLayer = s.keptPerLayer();
                    certificate = new PruneResult.Certificate(s.primalValue(), s.dualBound(), s.relativeGap(), s.mu(), s.omega(), s.dualEvaluations());
                }
            }
            long t2 = System.nanoTime();
            pruned = new FloatPointer(p);
            double keptScore = 0;
            for (long i = 0; i < p; i++) {
                float w = weights.get(i);
                if (mask.get(i) != 0) {
                    pruned.put(i, w);
                    keptScore += (double) w * w;
                } else {
                    pruned.put(i, 0f);
                }
            }
            long t3 = System.nanoTime();
            return new PruneResult(pruned, mask, method, budgets, kept, keptFlops, perLayer, keptScore, certificate,
                    (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9);
        } catch (RuntimeException | Error e) {
            if (mask != null) mask.close();
            if (pruned != null) pruned.close();
            throw e;
        } finally {
            scores.close();
        }
    }

    private static int layerOf(long[] starts, long i) {
        int lo = 0, hi = starts.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= i) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    @Override
    public void close() {}
}
