package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import dev.falcon.backend.Backends;
import dev.falcon.cpu.nativelib.FalconKernels;
import org.bytedeco.javacpp.DoublePointer;
import org.junit.jupiter.api.Test;

/**
 * OpenBLAS's thread count is one setting for the whole process (openblas_set_num_threads), and its Cholesky factor
 * rounds differently with 1 and 2 threads. Two cpu backends with different thread counts, used from two threads at
 * once, must each still give the factor it gives alone: the other backend's setting must not leak into its calls.
 */
class OpenBlasThreadCountTest {
    /** A factor large enough to run on the backend's OpenBLAS count, not on one thread (OpenBlasSmallCallTest). */
    private static final int N = CpuBackend.CHOLESKY_ON_THREAD_COUNT_FROM_N;

    /** Right-hand sides of the 2-thread backend's solves, which run on its 2 OpenBLAS threads at this N. */
    private static final int SOLVE_COLUMNS = 16;

    /** Rounds of the 1-thread backend's factor while the 2-thread backend factors and solves beside it. */
    private static final int ROUNDS = 100;

    /** A fixed symmetric positive definite matrix: A A^T / N + I, A with entries in [-1, 1). */
    private static double[] spd(CpuBackend backend) {
        double[] a = new double[N * N];
        java.util.SplittableRandom random = new java.util.SplittableRandom(42);
        for (int i = 0; i < a.length; i++) a[i] = random.nextDouble(-1, 1);
        double[] m = new double[N * N];
        for (int i = 0; i < N; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int k = 0; k < N; k++) s += a[i * N + k] * a[j * N + k];
                m[i * N + j] = m[j * N + i] = s / N + (i == j ? 1 : 0);
            }
        }
        return m;
    }

    private static double[] factor(CpuBackend backend, double[] m, DoublePointer work) {
        work.put(m);
        backend.choleskyFactor(work, N);
        double[] f = new double[N * N];
        work.get(f);
        return f;
    }

    @Test
    void twoBackendsWithDifferentThreadCountsFactorAsEachDoesAlone() throws Exception {
        CpuBackend one = new CpuBackend(1), two = new CpuBackend(2);
        double[] m = spd(one);
        double[] alone1, alone2;
        try (DoublePointer w = new DoublePointer((long) N * N)) {
            alone1 = factor(one, m, w);
            alone2 = factor(two, m, w);
        }
        // what makes a leaked thread count visible; were they equal, this test could not fail
        assertFalse(Arrays.equals(alone1, alone2), "OpenBLAS's factor no longer depends on its thread count");
        AtomicBoolean stop = new AtomicBoolean();
        List<String> wrong = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread other = new Thread(() -> {
            try (DoublePointer w = new DoublePointer((long) N * N); DoublePointer b = new DoublePointer((long) N * SOLVE_COLUMNS)) {
                for (int r = 0; !stop.get(); r++) {
                    if (!Arrays.equals(factor(two, m, w), alone2)) wrong.add("the 2-thread backend's factor " + r);
                    // calls that set OpenBLAS's count to this backend's 2 while the other backend factors: each is above
                    // the size that runs on one OpenBLAS thread, the 1-thread backend's own count, which would leak unseen
                    for (int k = 0; k < 20 && !stop.get(); k++) {
                        b.fill(0);
                        two.choleskySolve(w, N, b, SOLVE_COLUMNS);
                    }
                }
            } catch (Throwable t) {
                failed.set(t);
            }
        }, "two-thread backend");
        other.start();
        try (DoublePointer w = new DoublePointer((long) N * N)) {
            for (int r = 0; r < ROUNDS; r++) {
                if (!Arrays.equals(factor(one, m, w), alone1)) wrong.add("the 1-thread backend's factor " + r);
            }
        } finally {
            stop.set(true);
            other.join();
        }
        assertEquals(null, failed.get());
        assertEquals(List.of(), wrong, "factors that differ from the backend's own, alone");
    }

    /**
     * OpenBLAS's idle workers busy-wait, so more of them than cores took the CPU from the thread issuing the next call
     * (a resnet20 solve with --threads 4 on 2 cores: 122 s instead of 9): a backend of the most threads allowed, 4 per
     * processor or 16, must run its OpenBLAS calls on at most the available processors, and one of 1 thread on 1.
     */
    @Test
    void openBlasIsGivenNoMoreThreadsThanTheProcessors() {
        int processors = Runtime.getRuntime().availableProcessors();
        try (CpuBackend most = new CpuBackend(Backends.mostThreads()); DoublePointer a = OpenBlasSmallCallTest.identity(N)) {
            most.choleskyFactor(a, N);
            int afterMost = FalconKernels.falcon_openblas_get_threads();
            assertTrue(afterMost >= 1 && afterMost <= processors, "OpenBLAS ran a call of a " + Backends.mostThreads()
                    + "-thread backend on " + afterMost + " threads, with " + processors + " processors");
        }
        try (CpuBackend one = new CpuBackend(1); DoublePointer a = OpenBlasSmallCallTest.identity(N)) {
            one.choleskyFactor(a, N);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS's threads for a 1-thread backend");
        }
    }
}
