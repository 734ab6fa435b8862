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
            assertTrue(e.getMessage().contains("tolerance") && e.getMessage().contains(String.valueOf(bad)), e.getMessage());
        }
        assertEquals(0.0, SolverOptions.defaults().withTolerance(0).tolerance());
        assertEquals(1e300, SolverOptions.defaults().withTolerance(1e300).tolerance());
    }
}
