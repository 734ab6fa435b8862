package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.falcon.backend.Processors;
import dev.falcon.cpu.nativelib.FalconKernels;
import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * A small OpenBLAS call runs on one OpenBLAS thread whatever the backend's count: on a loaded 2-core machine the
 * block backsolve's 64 x 64 Grams, each a fork-join of 2 OpenBLAS threads, waited for descheduled workers (resnet20 mp
 * + sweep: more than 600 s at 2 threads, 47 s at 1), and on an idle one a second thread made a Gram below n = 256 and
 * a factor below n = 1024 slower (OpenBlasThreadsBenchmark). OpenBLAS keeps the count of the last call set, so the
 * count a call ran with is read back after it; no timing.
 */
class OpenBlasSmallCallTest {
    /** A factor below n = 1024 ran slower on 2 threads at every measured n (512: 1.28 times); 364 was the old switch. */
    @Test
    void aTwoThreadBackendFactorsBelowN1024OnOneOpenBlasThreadAndFromItOnTwo() {
        assumeTrue(Processors.usable() >= 2, "needs 2 processors for a 2-thread OpenBLAS count");
        try (CpuBackend two = new CpuBackend(2); DoublePointer small = identity(64); DoublePointer medium = identity(512);
             DoublePointer large = identity(1024)) {
            two.choleskyFactor(small, 64);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 64 x 64 Cholesky factor");
            two.choleskyFactor(large, 1024);
            assertEquals(2, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 1024 x 1024 Cholesky factor");
            two.choleskyFactor(medium, 512);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 512 x 512 Cholesky factor");
            try (DoublePointer b = new DoublePointer(512L * 64)) {
                b.fill(0);
                two.choleskyFactor(large, 1024); // leaves OpenBLAS at 2 threads (the identity's factor is itself)
                two.choleskySolve(medium, 512, b, 64);
                assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 512 x 512 solve of 64 right-hand sides");
            }
        }
    }

    /** A 64 x 64 Gram ran slower on 2 threads at 500, 2000 and 8000 columns alike (8000: 33 MFlop, 1.43 times). */
    @Test
    void aTwoThreadBackendFormsA64By64GramOfManyColumnsOnOneOpenBlasThread() {
        assumeTrue(Processors.usable() >= 2, "needs 2 processors for a 2-thread OpenBLAS count");
        int n = 64, columns = 8000;
        try (CpuBackend two = new CpuBackend(2); HostMatrix x = HostMatrix.allocate(n, columns);
             FloatPointer weights = new FloatPointer(columns); DoublePointer gram = new DoublePointer((long) n * n)) {
            two.fillUniform(x.data(), (long) n * columns, 7L, 1f);
            for (int j = 0; j < columns; j++) weights.put(j, 1f);
            try (DoublePointer large = identity(1024)) {
                two.choleskyFactor(large, 1024); // leaves OpenBLAS at 2 threads
            }
            two.weightedGram(x, weights, gram);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 64 x 64 Gram of 8000 columns");
            two.singlePrecisionGram(x, gram);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 64 x 64 single-precision Gram");
        }
    }

    /**
     * From n = 256 a Gram ran faster on 2 threads (0.78 times the time at 2000 columns): it runs on the backend's count.
     * The rule is on n alone: 64 columns, as here, were not measured (2000 and 8000 were, from n = 256).
     */
    @Test
    void aTwoThreadBackendFormsA256By256GramOnTwoOpenBlasThreads() {
        assumeTrue(Processors.usable() >= 2, "needs 2 processors for a 2-thread OpenBLAS count");
        int n = 256, columns = 64;
        try (CpuBackend two = new CpuBackend(2); HostMatrix x = HostMatrix.allocate(n, columns);
             FloatPointer weights = new FloatPointer(columns); DoublePointer gram = new DoublePointer((long) n * n)) {
            two.fillUniform(x.data(), (long) n * columns, 7L, 1f);
            for (int j = 0; j < columns; j++) weights.put(j, 1f);
            two.weightedGram(x, weights, gram);
            assertEquals(2, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 256 x 256 Gram");
            try (DoublePointer small = identity(64)) {
                two.choleskyFactor(small, 64); // leaves OpenBLAS at 1 thread
            }
            two.singlePrecisionGram(x, gram);
            assertEquals(2, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 256 x 256 single-precision Gram");
        }
    }

    /**
     * README gives the least n whose Gram and whose exact backsolve factor run on --threads' count: it once said "from
     * n = 363 on", where 363^3 / 3 was below the old 16 MFlop threshold.
     */
    @Test
    void readmeGivesTheSizesFromWhichOpenBlasRunsOnTheThreadCount() throws java.io.IOException {
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("../../README.md")).replaceAll("\\s+", " ");
        assertTrue(readme.contains("the exact backsolve's n × n factors and their solves from n = "
                + leastOnTheBackendsCount(CpuBackend.CHOLESKY_ON_THREAD_COUNT_FROM_N) + " on"), "README's least n of a factor");
        assertTrue(readme.contains("a Gram from n = " + leastOnTheBackendsCount(CpuBackend.GRAM_ON_THREAD_COUNT_FROM_N) + " on"),
                "README's least n of a Gram");
        assertFalse(readme.contains("16 million"), "README still gives the old 16 million operations rule");
    }

    private static int leastOnTheBackendsCount(int fromN) {
        int least = 1;
        while (CpuBackend.openBlasThreadsForCall(2, least, fromN) == 1) least++;
        return least;
    }

    /** The n x n identity, column-major: a factor of it is as many operations as any n x n factor. */
    static DoublePointer identity(int n) {
        DoublePointer a = new DoublePointer((long) n * n);
        a.fill(0);
        for (int i = 0; i < n; i++) a.put((long) i * n + i, 1.0);
        return a;
    }
}
