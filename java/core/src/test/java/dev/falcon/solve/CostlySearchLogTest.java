package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Beyond n^2 |K| = 4e8 the searches run only on the lower bound's word, and the report's log must say which word: it
 * said why they were skipped, but nothing when they ran. n = 200 random rows and |K| = 10,500 of 20,000 weights
 * (n^2 |K| = 4.2e8) leave Q about n / |K| = 2% above the bound: room enough to search.
 */
class CostlySearchLogTest {
    @Test
    void aCostlySearchThatRunsSaysWhyInTheLog() {
        int n = 200, p = 20_000;
        long kept = 10_500;
        SplittableRandom rnd = new SplittableRandom(3);
        float[] x = new float[n * p], wbar = new float[p];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextDouble(-1, 1);
        try (JavaBackend backend = new JavaBackend(); HostMatrix m = HostMatrix.allocate(n, p)) {
            m.data().put(x, 0, x.length);
            FalconSolver.Result r = new FalconSolver(backend).solve(m, wbar, null, 1e-2, AbstractSolverTest.table(new int[] {p}, new double[] {1}),
                    kept, kept, null, SolverOptions.defaults().withMaxIterations(0).withMaxRounds(1).withSwapCandidates(0));
            assertTrue((double) n * n * r.kept() > FalconSolver.SEARCH_WORK_LIMIT, "not in the costly range: |K| = " + r.kept());
            // DFO rows carry no note
            List<String> notes = r.log().stream().map(FalconSolver.IterationLog::note).filter(Objects::nonNull).toList();
            assertTrue(notes.stream().anyMatch(s -> s.startsWith("support exploration (backsolved steps)")), "the search did not run: " + notes);
            assertTrue(notes.stream().anyMatch(s -> s.startsWith("support exploration and backsolved swaps run:")
                    && s.contains("above its certified lower bound")), "no reason for running it: " + notes);
        }
    }
}
