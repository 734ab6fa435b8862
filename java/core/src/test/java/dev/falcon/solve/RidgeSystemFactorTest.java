package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.backend.NonFiniteMatrixException;
import org.bytedeco.javacpp.DoublePointer;
import org.junit.jupiter.api.Test;

/** How a backsolve's ridge system that cannot be factored is reported. */
class RidgeSystemFactorTest {
    @Test
    void aSystemBelowTheRoundingAsksForALargerLambda() {
        try (JavaBackend backend = new JavaBackend(); DoublePointer system = new DoublePointer(new double[] {1, 1, 1, 1 + 1e-18})) {
            SingularRidgeSystemException e = assertThrows(SingularRidgeSystemException.class,
                    () -> Backsolve.factorRidgeSystem(backend, system, 2, 1e-18));
            assertTrue(e.getMessage().contains("give a larger --lambda, 1e-09 or more"), e.getMessage());
            // an embedder sets no --lambda: the message names the Java setting too
            assertTrue(e.getMessage().contains("in Java, Pruner.SolverInputs' lambda"), e.getMessage());
        }
    }

    /** No lambda makes a NaN finite: the advice was "give a larger --lambda, NaN or more". */
    @Test
    void aNonFiniteSystemSaysSoRatherThanAskForALambda() {
        try (JavaBackend backend = new JavaBackend(); DoublePointer system = new DoublePointer(new double[] {2, Double.NaN, Double.NaN, 2})) {
            NonFiniteMatrixException e = assertThrows(NonFiniteMatrixException.class, () -> Backsolve.factorRidgeSystem(backend, system, 2, 1));
            assertTrue(e.getMessage().startsWith("the 2 x 2 matrix to factor is not finite: entry (1, 0) is NaN"), e.getMessage());
        }
    }
}
