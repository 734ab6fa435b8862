package dev.falcon.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.MultiStage;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * A solve copies the caller's weights and g at its start, but measured Q at its end on the caller's pointers again: a
 * close of the weights meanwhile threw the finished solve away with "IllegalArgumentException: wbar (p = ..., the columns
 * of X) is a null pointer", naming an internal vector, and weights updated in place meanwhile had Q measured around other
 * wbar than the ones the solve used (rev-emb36 finding 2). The gradient source of falcon++ runs in the middle of the
 * solve, so it changes the caller's vectors there without any timing.
 */
class PrunerReadsTheWeightsOnceTest {
    private static final int N = 8, P = 60;
    private static final LayerTable LAYERS = new LayerTable(List.of(new Layer("conv", new long[] {40}, 9, 0, 40),
            new Layer("fc", new long[] {20}, 1, 40, 20)), "test");

    @Test
    void closingTheWeightsDuringTheSolveChangesNothing() {
        assertSameAsUntouched((vectors) -> vectors[0].close());
    }

    @Test
    void updatingTheWeightsAndGInPlaceDuringTheSolveChangesNothing() {
        assertSameAsUntouched((vectors) -> {
            for (FloatPointer v : vectors) for (int j = 0; j < P; j++) v.put(j, 3 * v.get(j) + 1);
        });
    }

    /** falcon++'s Q with {@code meddle} applied to the caller's weights and g at stage 1 is that of a prune left alone. */
    private static void assertSameAsUntouched(Consumer<FloatPointer[]> meddle) {
        double[] untouched = prune(null);
        double[] meddled = prune(meddle);
        assertEquals(untouched[0], meddled[0], 0, "Q of mp's support");
        assertEquals(untouched[1], meddled[1], 0, "Q of the result");
    }

    /** Q of mp's support and of the result of falcon++ (2 stages), {@code meddle} (null: none) run on the weights and g at stage 1. */
    private static double[] prune(Consumer<FloatPointer[]> meddle) {
        SplittableRandom random = new SplittableRandom(7);
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); HostMatrix x = HostMatrix.allocate(N, P);
             FloatPointer w = new FloatPointer(P); FloatPointer g = new FloatPointer(P)) {
            for (int i = 0; i < N * P; i++) x.data().put(i, (float) random.nextDouble(-1, 1));
            for (int j = 0; j < P; j++) {
                w.put(j, (float) random.nextDouble(-1, 1));
                g.put(j, (float) random.nextDouble(-0.1, 0.1));
            }
            MultiStage.GradientSource fixed = MultiStage.GradientSource.fixed(x);
            MultiStage.GradientSource source = (stage, weights) -> {
                if (stage == 1 && meddle != null) meddle.accept(new FloatPointer[] {w, g});
                return fixed.gradients(stage, weights);
            };
            Budgets budgets = Budgets.resolve(LAYERS, 0.5, null, 0.6, null, null);
            try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, LAYERS, budgets, new Pruner.SolverInputs(x, g, 1e-2, null, null,
                    new Pruner.StagePlan(2, MultiStage.Schedule.POLY, 1.0, 1.0, source)))) {
                return new double[] {r.solve().qMp(), r.solve().qFinal()};
            }
        }
    }
}
