package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.DoublePointer;
import org.junit.jupiter.api.Test;

/** The check of cuSOLVER's factor after potrf, which may return info 0 with a NaN factor. */
class CholeskyPivotTest {
    @Test
    void aFactorWhosePivotsAreNotFiniteAndPositiveIsRefused() {
        for (double pivot : new double[] {Double.NaN, Double.POSITIVE_INFINITY, 0, -1}) {
            try (DoublePointer factor = new DoublePointer(new double[] {2, 0.5, 0, pivot})) {
                ArithmeticException e = assertThrows(ArithmeticException.class, () -> CudaBackend.requirePositivePivots(factor, 2));
                assertTrue(e.getMessage().startsWith("matrix is not positive definite (cusolverDnDpotrf returned pivot 1 = " + pivot),
                        e.getMessage());
            }
        }
        try (DoublePointer factor = new DoublePointer(new double[] {2, Double.NaN, 0, 1})) {
            assertDoesNotThrow(() -> CudaBackend.requirePositivePivots(factor, 2)); // pivots only: n values, not n^2
        }
    }
}
