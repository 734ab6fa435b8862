package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.data.HostMatrix;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * Runs the contract on the reference itself (so the suite's own expectations are sane), plus checks of
 * the reference against a straightforward double-precision oracle.
 */
class JavaBackendContractTest extends ComputeBackendContract {
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new JavaBackend();
    }

    @Test
    void productsMatchDoubleOracle() {
        SplittableRandom random = new SplittableRandom(11);
        int n = 13, p = 301;
        float[] xs = randomFloats(random, n * p), ds = randomFloats(random, p);
        HostMatrix x = matrix(xs, n, p);
        FloatPointer d = floats(ds), out = track(new FloatPointer(p)), u = track(new FloatPointer(n));
        long[] starts = {0, 100, 101, 301};
        backend.blockGramProduct(x, starts, d, out);
        backend.multiply(x, d, u);
        double[] xd = new double[n];
        for (int j = 0; j < p; j++) for (int i = 0; i < n; i++) xd[i] += (double) xs[j * n + i] * ds[j];
        for (int i = 0; i < n; i++) assertEquals(xd[i], u.get(i), 1e-5 * p, "X d row " + i);
        for (int b = 0; b + 1 < starts.length; b++) {
            double[] t = new double[n];
            for (long j = starts[b]; j < starts[b + 1]; j++) {
                for (int i = 0; i < n; i++) t[i] += (double) xs[(int) j * n + i] * ds[(int) j];
            }
            for (long j = starts[b]; j < starts[b + 1]; j++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += xs[(int) j * n + i] * t[i];
                assertEquals(s, out.get(j), 1e-5 * (1 + Math.abs(s)), "block product column " + j);
            }
        }
    }

    /**
     * The square matrices are Java arrays, whose n * n overflowed at 46,341 rows: weightedGram died in a
     * NegativeArraySizeException (mp --backsolve exact's "internal error"). Refused naming the limit and the way out; nothing
     * of the n x n output is touched, so a one-element one does.
     */
    @Test
    void squareMatricesOfMoreRowsThanJavaArraysHoldAreRefusedNamingTheLimit() {
        int n = JavaBackend.MAX_SQUARE_ROWS + 1;
        try (HostMatrix x = HostMatrix.allocate(n, 1); DoublePointer tiny = new DoublePointer(1)) {
            x.data().fill(0);
            for (org.junit.jupiter.api.function.Executable call : java.util.List.<org.junit.jupiter.api.function.Executable>of(
                    () -> backend.weightedGram(x, null, tiny), () -> backend.choleskyFactor(tiny, n), () -> backend.choleskySolve(tiny, n, tiny, 1))) {
                String message = assertThrows(IllegalArgumentException.class, call).getMessage();
                assertTrue(message.contains(n + " x " + n) && message.contains("at most " + JavaBackend.MAX_SQUARE_ROWS + " rows")
                        && message.contains("cpu or cuda backend"), message);
            }
        }
    }
}
