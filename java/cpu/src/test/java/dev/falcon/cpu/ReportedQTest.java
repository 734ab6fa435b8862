package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.Objective;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.SolverOptions;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The Q a prune's result carries (the report's objective.solver.q_final and q_mp_support) is the Q of the weights it
 * holds, as {@link Objective#evaluate} gives it. It was the solver's own float evaluation: on blocks that share most of
 * X (a strong common direction across two layers) a block backsolve's q_final was 9e-6 off the objective of the written
 * weights, which the report printed beside it.
 */
class ReportedQTest {
    private static final int N = 20, P = 400;

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"MP, BLOCK", "MP, SWEEP", "MP, EXACT", "FALCON, BLOCK", "FALCON, EXACT"})
    void theResultsQIsTheObjectiveOfItsWeights(Method method, Backsolve.Mode mode) {
        SplittableRandom rnd = new SplittableRandom(5);
        float[] common = new float[P];
        for (int j = 0; j < P; j++) common[j] = (float) rnd.nextGaussian();
        LayerTable layers = new LayerTable(List.of(new Layer("a", new long[] {P / 2}, 4, 0, P / 2),
                new Layer("b", new long[] {P / 2}, 1, P / 2, P / 2)), "coupled");
        try (ComputeBackend backend = new CpuBackendProvider().create(2);
             HostMatrix x = HostMatrix.allocate(N, P);
             FloatPointer w = new FloatPointer(P);
             Pruner pruner = new Pruner(backend)) {
            for (int i = 0; i < N; i++) {
                double a = 10 * rnd.nextGaussian();
                for (int j = 0; j < P; j++) x.data().put(x.storageIndex(i, j), (float) (a * common[j] + 0.1 * rnd.nextGaussian()));
            }
            for (int j = 0; j < P; j++) w.put(j, (float) rnd.nextGaussian());
            Budgets budgets = Budgets.resolve(layers, 0.4, null, null, null, null);
            SolverOptions opt = SolverOptions.defaults().withBlockSize(50).withBacksolve(mode);
            double lambda = 1e-3;
            try (PruneResult r = pruner.prune(method, w, layers, budgets, new Pruner.SolverInputs(x, null, lambda, opt, method == Method.MP ? mode : null));
                 PruneResult mp = pruner.prune(Method.MP, w, layers, budgets)) {
                double written = Objective.evaluate(backend, x, r.prunedWeights(), w, null, lambda).q();
                double mpQ = Objective.evaluate(backend, x, mp.prunedWeights(), w, null, lambda).q();
                assertEquals(written, r.solve().qFinal(), 1e-12 * written, "q_final against the objective of the written weights");
                assertEquals(mpQ, r.solve().qMp(), 1e-12 * mpQ, "q_mp_support against the objective of mp's weights");
            }
        }
    }
}
