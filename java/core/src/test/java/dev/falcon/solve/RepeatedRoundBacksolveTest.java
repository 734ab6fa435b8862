package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * With --backsolve block a round's DFO often ends, after its --stable-iterations, on the support of the best point, which
 * is that support's block backsolve (a round's or a search's), or on a support whose block backsolve an earlier round saw
 * land above its DFO point. The round solved it again, to the same weights and Q: resnet20 n = 64 showed round 1's swap
 * search row (NNZ 127,089, Q 7.12002081475540) again as round 2's "backsolve block" row. A block backsolve is a function
 * of the support alone, so a round knows it from then on.
 */
public class RepeatedRoundBacksolveTest {

    /** A round's backsolve row, or a kept search's: the rows whose Q is a block backsolve of the row's support. */
    private static boolean backsolvedRow(FalconSolver.IterationLog row) {
        String note = row.note() == null ? "" : row.note();
        return row.iteration() == -1 && (note.startsWith("backsolve block") || note.equals("support exploration (backsolved steps)")
                || note.equals("swap search (backsolved)"));
    }

    @Test
    public void noRoundBlockBacksolvesASupportTheSolveAlreadyBacksolved() {
        SplittableRandom rnd = new SplittableRandom(5);
        int repeatsSeen = 0;
        List<String> seen = new ArrayList<>();
        try (JavaBackend backend = new JavaBackend()) {
            for (int t = 0; t < 8; t++) {
                int n = 4 + rnd.nextInt(12), p = 60 + rnd.nextInt(300);
                AbstractSolverTest.Instance in = AbstractSolverTest.randomInstance(rnd, n, p, 1 + rnd.nextInt(4), t % 2 == 0);
                SolverOptions opt = SolverOptions.defaults().withBacksolve(Backsolve.Mode.BLOCK).withBlockSize(10 + rnd.nextInt(40));
                try (HostMatrix x = in.matrix()) {
                    FalconSolver solver = new FalconSolver(backend);
                    FalconSolver.Result r = solver.solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(), null, opt);
                    // a support is named by its NNZ and the bits of its backsolve's Q: two supports that share both differ
                    // by no more than rounding could show
                    List<String> backsolved = new ArrayList<>();
                    int roundRows = 0, repeats = 0;
                    StringBuilder rows = new StringBuilder();
                    for (FalconSolver.IterationLog row : r.log()) {
                        if (!backsolvedRow(row)) continue;
                        String support = row.nnz() + " weights, Q " + Double.toHexString(row.q());
                        if (row.note().startsWith("backsolve block")) {
                            roundRows++;
                            if (backsolved.contains(support)) repeats++;
                        }
                        backsolved.add(support);
                        rows.append(String.format(java.util.Locale.ROOT, "%n  round %d: %s, NNZ %d, Q %.15g", row.round(), row.note(), row.nnz(), row.q()));
                    }
                    String what = String.format(java.util.Locale.ROOT, "instance %d (n = %d, p = %d, blocks of %d): %d round backsolve rows, "
                            + "%d of a support backsolved before, %d backsolves run by the rounds%s", t, n, p, opt.blockSize(), roundRows,
                            repeats, solver.roundBacksolvesSolved, rows);
                    seen.add(what);
                    repeatsSeen += repeats;
                    assertEquals(roundRows - repeats, solver.roundBacksolvesSolved, "a round backsolved a support again: " + what);
                }
            }
        }
        System.out.println(String.join("\n", seen));
        assertTrue(repeatsSeen > 0, "the case needs rounds ending on supports backsolved before:\n" + String.join("\n", seen));
    }

    /**
     * Knowing a support's backsolve instead of solving it again changes no figure of the solve: the same instances with
     * every round's backsolve run, against the default.
     */
    @Test
    public void aKnownBlockBacksolveGivesWhatSolvingItAgainGives() {
        SplittableRandom rnd = new SplittableRandom(5);
        try (JavaBackend backend = new JavaBackend()) {
            for (int t = 0; t < 8; t++) {
                int n = 4 + rnd.nextInt(12), p = 60 + rnd.nextInt(300);
                AbstractSolverTest.Instance in = AbstractSolverTest.randomInstance(rnd, n, p, 1 + rnd.nextInt(4), t % 2 == 0);
                SolverOptions opt = SolverOptions.defaults().withBacksolve(Backsolve.Mode.BLOCK).withBlockSize(10 + rnd.nextInt(40));
                try (HostMatrix x = in.matrix()) {
                    FalconSolver remembering = new FalconSolver(backend), solvingAgain = new FalconSolver(backend);
                    solvingAgain.rememberBlockBacksolves = false;
                    FalconSolver.Result r = remembering.solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(), null, opt);
                    FalconSolver.Result again = solvingAgain.solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(), null, opt);
                    String what = "instance " + t;
                    assertTrue(remembering.roundBacksolvesSolved < solvingAgain.roundBacksolvesSolved, what + ": the case needs a"
                            + " backsolve known: " + remembering.roundBacksolvesSolved + " run against " + solvingAgain.roundBacksolvesSolved);
                    assertArrayEquals(again.weights(), r.weights(), what);
                    assertArrayEquals(again.mask(), r.mask(), what);
                    assertEquals(again.qFinal(), r.qFinal(), what);
                    assertEquals(again.iterations(), r.iterations(), what);
                    assertEquals(again.rounds(), r.rounds(), what);
                    assertEquals(again.stopReason(), r.stopReason(), what);
                    assertEquals(again.backsolveNeverKept(), r.backsolveNeverKept(), what);
                    assertEquals(again.log().size(), r.log().size(), what);
                    for (int i = 0; i < r.log().size(); i++) {
                        assertEquals(again.log().get(i).q(), r.log().get(i).q(), what + ", log row " + i);
                        assertEquals(again.log().get(i).nnz(), r.log().get(i).nnz(), what + ", log row " + i);
                    }
                }
            }
        }
    }
}
