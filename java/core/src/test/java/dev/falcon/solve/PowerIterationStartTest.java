package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The Lipschitz constant must bound the top eigenvalue of X X^T from above for DFO's step 1/Lip to be safe; power
 * iteration gives it only when its start vector has a part along the top eigenvector.
 */
public class PowerIterationStartTest {

    /** A = 10 u u^T + 5 w w^T with w along the ramp 1 + 1e-3 i and u orthogonal to it: top eigenvalue 10, next 5. */
    @Test
    public void topEigenvectorOrthogonalToARampStartIsFound() {
        int n = 4;
        double[] w = new double[n], u = {1.001, -1, 0, 0};
        for (int i = 0; i < n; i++) w[i] = 1.0 + 1e-3 * i;
        normalise(w);
        double along = 0;
        for (int i = 0; i < n; i++) along += u[i] * w[i];
        for (int i = 0; i < n; i++) u[i] -= along * w[i];
        normalise(u);
        double[] a = new double[n * n];
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < n; i++) a[j * n + i] = 10 * u[i] * u[j] + 5 * w[i] * w[j];
        }
        assertEquals(10.0, FisherModel.powerIteration(a, n), 1e-9,
                "power iteration's Lipschitz constant on a matrix whose top eigenvector is orthogonal to a ramp");
    }

    private static void normalise(double[] v) {
        double norm = 0;
        for (double x : v) norm += x * x;
        norm = Math.sqrt(norm);
        for (int i = 0; i < v.length; i++) v[i] /= norm;
    }
}
