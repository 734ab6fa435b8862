package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
    private static final int N = 200, P = 20_000;
    private static final long KEPT = 10_500;

    private static FalconSolver.Result solve(SolverOptions options, long kept) {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] x = new float[N * P], wbar = new float[P];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        for (int j = 0; j < P; j++) wbar[j] = (float) rnd.nextDouble(-1, 1);
        try (JavaBackend backend = new JavaBackend(); HostMatrix m = HostMatrix.allocate(N, P)) {
            m.data().put(x, 0, x.length);
            return new FalconSolver(backend).solve(m, wbar, null, 1e-2, AbstractSolverTest.table(new int[] {P}, new double[] {1}),
                    kept, kept, null, options);
        }
    }

    @Test
    void aCostlySearchThatRunsSaysWhyInTheLog() {
        FalconSolver.Result r = solve(SolverOptions.defaults().withMaxIterations(0).withMaxRounds(1).withSwapCandidates(0), KEPT);
        assertTrue((double) N * N * r.kept() > FalconSolver.SEARCH_WORK_LIMIT, "not in the costly range: |K| = " + r.kept());
        // DFO rows carry no note
        List<String> notes = r.log().stream().map(FalconSolver.IterationLog::note).filter(Objects::nonNull).toList();
        assertTrue(notes.stream().anyMatch(s -> s.startsWith("support exploration (backsolved steps)")), "the search did not run: " + notes);
        assertTrue(notes.stream().anyMatch(s -> s.startsWith("support exploration and backsolved swaps run:")
                && s.contains("above its certified lower bound")), "no reason for running it: " + notes);
    }

    /**
     * The swap polish, which the solve ends with anyway, takes much of the room the costly searches are run for, at a
     * fraction of their cost: with |K| = 11,000 the backsolve sits above 1% of its bound and the polish ends 0.97% above
     * it, where the searches would have run for nothing the polish does not take.
     */
    @Test
    void theSwapPolishRunsBeforeTheCostlySearchesAndTheirRoomIsJudgedWhereItEnds() {
        FalconSolver.Result r = solve(SolverOptions.defaults().withMaxIterations(0).withMaxRounds(1), 11_000);
        List<FalconSolver.IterationLog> rows = r.log().stream().filter(row -> row.note() != null).toList();
        List<String> notes = rows.stream().map(FalconSolver.IterationLog::note).toList();
        int polished = indexOf(notes, "swap polish before the searches:"), skipped = indexOf(notes, "support exploration and backsolved swaps skipped:");
        assertTrue(polished >= 0 && skipped > polished, "no polish before the decision on the searches: " + notes);
        assertTrue(rows.get(polished).q() < rows.get(indexOf(notes, "backsolve exact")).q(), "the polish did not lower Q: " + notes);
        assertEquals(rows.get(polished).q(), rows.get(skipped).q(), "the room was not judged where the polish ended: " + notes);
        assertTrue(notes.get(skipped).contains("Q is only"), notes.get(skipped));
        assertEquals(-1, indexOf(notes, "support exploration (backsolved steps)"), "the searches ran: " + notes);
        // the solve ends where the early polish ended: the final one would repeat it, and the report shows the early one
        assertEquals(-1, indexOf(notes, "swap polish:"), "the polish ran again at the end: " + notes);
        assertTrue(r.polish().kept() && r.polish().swaps() > 0 && r.polish().qAfter() == r.qFinal(), r.polish().toString());
    }

    private static int indexOf(List<String> notes, String start) {
        for (int i = 0; i < notes.size(); i++) if (notes.get(i).startsWith(start)) return i;
        return -1;
    }
}
