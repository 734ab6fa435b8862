package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.AbstractSolverTest;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.FalconSolver;
import dev.falcon.solve.SolverOptions;
import java.util.Locale;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** The solver suite (exhaustive optimum, monotone DFO, backsolves, cross-backend agreement) on the native backend. */
class CpuSolverTest extends AbstractSolverTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CpuBackendProvider().create(2);
    }

    /**
     * The mobilenetv1 example (p = 4.2M, the CLI's n = 32, 30% of the FLOPs): |K| is 76,000 times n, the backsolve absorbs
     * nearly all of the pruned weights' residual, and mp + BS is within 5e-5 of Q of the certified bound. falcon must
     * still end strictly below it: the swap polish's closed-form moves are what get it there.
     */
    @Test
    void mobilenetv1FalconEndsBelowBacksolvedMp() {
        ExampleModel model = ExampleModels.get("mobilenetv1");
        LayerTable layers = model.layers();
        int p = (int) layers.parameters();
        double lambda = 1e-3, flops = 0.3 * layers.denseFlops();
        float[] wbar = new float[p];
        try (FloatPointer wp = model.syntheticWeights(0);
             HostMatrix x = model.syntheticGradients(backend, model.defaultRows(), 0)) {
            wp.get(wbar, 0, p);
            FalconSolver solver = new FalconSolver(backend);
            byte[] mp = solver.mpMask(wbar, layers, p, flops);
            float[] bs = Backsolve.solve(backend, x, wbar, null, lambda, mp, Backsolve.Mode.EXACT, null, 0, 0);
            double qBs = FalconSolver.exactQ(backend, x, bs, wbar, null, lambda);
            long t0 = System.nanoTime();
            FalconSolver.Result r = solver.solve(x, wbar, null, lambda, layers, p, flops, null, SolverOptions.defaults());
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "[cpu] mobilenetv1 (n = %d, 30%% FLOPs): Q mp + BS %.12g, falcon %.12g, falcon / mp + BS %.9f (%.1f s; %s)%n",
                    x.rows(), qBs, r.qFinal(), r.qFinal() / qBs, secs, r.log().get(r.log().size() - 1).note());
            assertTrue(r.keptFlops() <= flops * (1 + 1e-12));
            assertTrue(r.qFinal() < qBs, "falcon " + r.qFinal() + " not below mp + BS " + qBs);
        }
    }
}
