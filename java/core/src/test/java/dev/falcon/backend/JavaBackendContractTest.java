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
     * weightedGram, choleskyFactor and choleskySolve each copied the n x n matrix into a Java array (8 n^2 bytes of heap a
     * call, which the memory plan does not count: mp --backsolve exact on 20,000 rows ended in "Java heap space" after X
     * was loaded). They work on the matrix in place: a call allocates less than n^2 bytes of heap (n^2 / 8 per call here),
     * and gives the same factor and solution as before.
     */
    @Test
    void theSquareMatricesAreWorkedOnInPlaceWithoutACopyOnTheHeap() {
        int n = 600, p = 40;
        SplittableRandom random = new SplittableRandom(3);
        HostMatrix x = matrix(randomFloats(random, n * p), n, p);
        DoublePointer gram = track(new DoublePointer((long) n * n)), rhs = track(new DoublePointer(n));
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        backend.weightedGram(x, null, gram);
        long gramHeap = threads.getCurrentThreadAllocatedBytes() - before;
        double[] g = new double[n * n];
        gram.get(g);
        for (int i = 0; i < n; i++) gram.put((long) i * n + i, g[i * n + i] + 1.0); // a ridge: p < n leaves X X^T singular
        before = threads.getCurrentThreadAllocatedBytes();
        backend.choleskyFactor(gram, n);
        long factorHeap = threads.getCurrentThreadAllocatedBytes() - before;
        for (int i = 0; i < n; i++) rhs.put(i, i % 7 - 3);
        before = threads.getCurrentThreadAllocatedBytes();
        backend.choleskySolve(gram, n, rhs, 1);
        long solveHeap = threads.getCurrentThreadAllocatedBytes() - before;
        long bound = (long) n * n / 8;
        assertTrue(gramHeap < bound && factorHeap < bound && solveHeap < bound, "heap bytes allocated: weightedGram " + gramHeap
                + ", choleskyFactor " + factorHeap + ", choleskySolve " + solveHeap + "; at most " + bound + " expected, n^2 = " + (long) n * n);
        // (G + I) y = b, with G as formed: the solution is right
        for (int i = 0; i < n; i++) g[i * n + i] += 1.0;
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += g[j * n + i] * rhs.get(j);
            assertEquals(i % 7 - 3, s, 1e-8 * (1 + Math.abs(s)), "row " + i + " of (X X^T + I) y");
        }
    }

    /**
     * The square matrices are indexed by Java ints, whose n * n overflowed at 46,341 rows: weightedGram died in a
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
