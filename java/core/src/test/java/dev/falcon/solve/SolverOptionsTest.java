package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class SolverOptionsTest {
    /**
     * The CLI refuses an infinite --tolerance, the Java API took it: every relative decrease is below infinity, so DFO
     * stopped after its first iteration and the rounds after their first without a word.
     */
    @Test
    void aToleranceMustBeFiniteAndNotNegative() {
        for (double bad : new double[] {Double.POSITIVE_INFINITY, Double.NaN, -1e-9}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SolverOptions.defaults().withTolerance(bad));
            assertTrue(e.getMessage().startsWith("SolverOptions.tolerance: is " + dev.falcon.model.Numbers.shown(bad) + ", "), e.getMessage());
        }
        assertEquals(0.0, SolverOptions.defaults().withTolerance(0).tolerance());
        assertEquals(1e300, SolverOptions.defaults().withTolerance(1e300).tolerance());
    }

    /**
     * Every other refusal of the Java API names the field, the value, the rule and a fix ("SolverInputs.lambda: is NaN,
     * it must be positive and at most 1e30; e.g. 1e-3"); SolverOptions said "rounds must be >= 1", naming neither the
     * field nor a value that works.
     */
    @Test
    void aRefusalNamesTheFieldTheValueTheRuleAndAFix() {
        SolverOptions d = SolverOptions.defaults();
        assertRefused("SolverOptions.maxIterations: is -1, it must be at least 0; e.g. 100, as SolverOptions.defaults()"
                + " (0 runs no DFO iteration: the rounds only backsolve and search)", () -> d.withMaxIterations(-1));
        assertRefused("SolverOptions.tolerance: is NaN, it must be a finite number at least 0; e.g. 0.000001, as SolverOptions.defaults()",
                () -> d.withTolerance(Double.NaN));
        assertRefused("SolverOptions.tolerance: is Inf, it must be a finite number at least 0; e.g. 0.000001, as SolverOptions.defaults()",
                () -> d.withTolerance(Double.POSITIVE_INFINITY));
        assertRefused("SolverOptions.tolerance: is -0.000000001, it must be a finite number at least 0; e.g. 0.000001, as SolverOptions.defaults()",
                () -> d.withTolerance(-1e-9));
        assertRefused("SolverOptions.blockSize: is 0, it must be at least 1; e.g. 2000, as SolverOptions.defaults()", () -> d.withBlockSize(0));
        assertRefused("SolverOptions.maxRounds: is 0, it must be at least 1; e.g. 25, as SolverOptions.defaults()", () -> d.withMaxRounds(0));
        assertRefused("SolverOptions.swapCandidates: is -1, it must be at least 0; e.g. 4, as SolverOptions.defaults(), or 0 to turn the swap"
                + " searches and the swap polish off", () -> d.withSwapCandidates(-1));
        assertRefused("SolverOptions.stableIterations: is -1, it must be at least 0; e.g. 3, as SolverOptions.defaults(), or 0 to turn it off",
                () -> d.withStableIterations(-1));
        assertRefused("SolverOptions.activeSetMaxBytes: is -1, it must be at least 0; e.g. Long.MAX_VALUE (no limit), as SolverOptions.defaults()",
                () -> d.withActiveSetMaxBytes(-1));
        // no with* method sets it: the constructor alone refuses it
        assertRefused("SolverOptions.maxStepDoublings: is -1, it must be at least 0; e.g. 4, as SolverOptions.defaults()",
                () -> new SolverOptions(100, 1e-6, null, 2000, null, -1, 25, true, 4, 3));
    }

    private static void assertRefused(String expected, org.junit.jupiter.api.function.Executable call) {
        assertEquals(expected, assertThrows(IllegalArgumentException.class, call).getMessage());
    }
}
