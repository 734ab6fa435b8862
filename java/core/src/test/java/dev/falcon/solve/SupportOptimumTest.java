package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The branch and bound that the larger instances' optimum comes from, against the tiny instances' exhaustive enumeration. */
class SupportOptimumTest {
    @Test
    void branchAndBoundFindsTheExhaustiveOptimumAndItsQIsTheBacksolves() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int c = 0; c < 200; c++) {
            int n = 2 + rnd.nextInt(5), p = 6 + rnd.nextInt(9), layers = 2 + rnd.nextInt(3);
            AbstractSolverTest.Instance in = AbstractSolverTest.randomInstance(rnd, n, p, layers, c % 2 == 1);
            SupportOptimum bb = new SupportOptimum(in.n(), in.p(), in.x(), in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops());
            SupportOptimum.Outcome o = bb.below(Double.POSITIVE_INFINITY, Long.MAX_VALUE);
            double opt = AbstractSolverTest.exhaustiveOptimum(in);
            assertTrue(Math.abs(o.q() - opt) <= 1e-9 * Math.max(Math.abs(opt), 1e-9), "instance " + c + ": " + o.q() + " against " + opt);
            AbstractSolverTest.assertFeasible(in, toMask(o.support()));
            double backsolved = AbstractSolverTest.referenceQ(in, AbstractSolverTest.referenceSolve(in, o.support()));
            assertTrue(Math.abs(o.q() - backsolved) <= 1e-9 * Math.max(Math.abs(backsolved), 1e-9), "instance " + c + ": Q(K) " + o.q()
                    + " against the backsolve's " + backsolved);
        }
        for (int c = 0; c < 40; c++) {
            LargerInstances.Case cs = LargerInstances.randomCase(rnd, c);
            SupportOptimum bb = cs.optimum();
            SupportOptimum.Outcome o = bb.below(Double.POSITIVE_INFINITY, LargerInstances.NODE_CAP);
            assertTrue(!o.capped(), "larger instance " + c + " capped");
            AbstractSolverTest.assertFeasible(cs.in(), toMask(o.support()));
            double backsolved = AbstractSolverTest.referenceQ(cs.in(), AbstractSolverTest.referenceSolve(cs.in(), o.support()));
            assertTrue(Math.abs(o.q() - backsolved) <= 1e-9 * Math.max(Math.abs(backsolved), 1e-9), "larger instance " + c);
        }
    }

    private static byte[] toMask(boolean[] support) {
        byte[] m = new byte[support.length];
        for (int j = 0; j < m.length; j++) m[j] = (byte) (support[j] ? 1 : 0);
        return m;
    }
}
