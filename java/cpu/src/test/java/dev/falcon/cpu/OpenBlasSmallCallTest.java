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
 * + sweep: more than 600 s at 2 threads, 47 s at 1). OpenBLAS keeps the count of the last call set, so the count a call
 * ran with is read back after it; no timing.
 */
class OpenBlasSmallCallTest {
    @Test
    void aTwoThreadBackendFactorsASmallSystemOnOneOpenBlasThreadAndALargeOneOnTwo() {
        assumeTrue(Processors.usable() >= 2, "needs 2 processors for a 2-thread OpenBLAS count");
        try (CpuBackend two = new CpuBackend(2); DoublePointer small = identity(64); DoublePointer large = identity(512)) {
            two.choleskyFactor(small, 64);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 64 x 64 Cholesky factor");
            two.choleskyFactor(large, 512);
            assertEquals(2, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 512 x 512 Cholesky factor");
        }
    }

    @Test
    void aTwoThreadBackendFormsABlockSizedGramOnOneOpenBlasThread() {
        assumeTrue(Processors.usable() >= 2, "needs 2 processors for a 2-thread OpenBLAS count");
        int n = 64, columns = 2000; // a block of the block and sweep backsolves at n = 64
        try (CpuBackend two = new CpuBackend(2); HostMatrix x = HostMatrix.allocate(n, columns);
             FloatPointer weights = new FloatPointer(columns); DoublePointer gram = new DoublePointer((long) n * n)) {
            two.fillUniform(x.data(), (long) n * columns, 7L, 1f);
            for (int j = 0; j < columns; j++) weights.put(j, 1f);
            try (DoublePointer large = identity(512)) {
                two.choleskyFactor(large, 512); // leaves OpenBLAS at 2 threads
            }
            two.weightedGram(x, weights, gram);
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS threads of a 64 x 64 Gram of 2000 columns");
        }
    }

    /**
     * README gives the least n whose exact backsolve factor runs on --threads' count, and the rule for a Gram's chunks:
     * it said "from n = 363 on", where 363^3 / 3 is 15.94 million, below the threshold, and that a layer's whole Gram
     * ran on --threads' count, where a small layer's, or a short last chunk, runs on one thread.
     */
    @Test
    void readmeGivesTheSizesFromWhichOpenBlasRunsOnTheThreadCount() throws java.io.IOException {
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("../../README.md")).replaceAll("\\s+", " ");
        int least = 1;
        while (CpuBackend.openBlasThreadsForCall(2, CpuBackend.choleskyFactorFlops(least)) == 1) least++;
        assertTrue(readme.contains("the exact backsolve's n × n factors from n = " + least + " on"), "README's least n is " + least);
        // a 64 x 64 Gram of a layer of 432 columns is one call below the threshold: one thread
        assertEquals(1, CpuBackend.openBlasThreadsForCall(2, CpuBackend.syrkFlops(64, 432)));
        assertFalse(readme.contains("a layer's whole Gram"), "README says every layer's Gram runs on --threads' count");
    }

    /** The n x n identity, column-major: a factor of it is as many operations as any n x n factor. */
    static DoublePointer identity(int n) {
        DoublePointer a = new DoublePointer((long) n * n);
        a.fill(0);
        for (int i = 0; i < n; i++) a.put((long) i * n + i, 1.0);
        return a;
    }
}
