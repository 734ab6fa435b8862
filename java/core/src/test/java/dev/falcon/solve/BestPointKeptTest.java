package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The solve keeps the best point by exact Q: no exact row of its log may lie below the Q of the weights it returns. With
 * --backsolve none the best point is a DFO point, never backsolved, and a later round that came back to its support
 * and went lower must not be dropped as "support stable".
 */
public class BestPointKeptTest {

    @Test
    public void noExactLogRowLiesBelowTheReturnedPointWithoutABacksolve() {
        SplittableRandom rnd = new SplittableRandom(36);
        try (JavaBackend backend = new JavaBackend()) {
            for (int trial = 0; trial < 40; trial++) {
                AbstractSolverTest.Instance in = AbstractSolverTest.randomInstance(rnd, 16, 400, 4, trial % 2 == 0);
                try (HostMatrix x = in.matrix()) {
                    SolverOptions o = SolverOptions.defaults().withBacksolve(Backsolve.Mode.NONE);
                    FalconSolver.Result r = new FalconSolver(backend).solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(),
                            in.flops(), null, o);
                    for (FalconSolver.IterationLog row : r.log()) {
                        if (!"exact".equals(row.model())) continue;
                        // a DFO row is its point's exact Q to rounding, parts in 1e7 (the report's iteration_log_note)
                        boolean below = row.q() < r.qFinal() - 1e-6 * Math.abs(r.qFinal());
                        assertTrue(!below, "trial " + trial + ": the log's round " + row.round() + ", iteration " + row.iteration()
                                + " reached Q " + row.q() + ", but the solve returned Q " + r.qFinal() + " (stop: " + r.stopReason() + ")");
                    }
                }
            }
        }
    }
}
