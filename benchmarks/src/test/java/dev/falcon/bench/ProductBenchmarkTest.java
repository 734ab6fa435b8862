package dev.falcon.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.falcon.backend.Backends;
import dev.falcon.cpu.nativelib.FalconKernels;
import org.junit.jupiter.api.Test;

/**
 * ProductBenchmark's OpenBLAS yardsticks (sasum, cblas_sgemv) call OpenBLAS directly, not through the backend whose
 * calls set OpenBLAS's thread count: they must still run on the benchmark's {@code threads}, or "% of sasum" and
 * "x OpenBLAS sgemv" compare a kernel on {@code threads} threads with OpenBLAS on every core.
 */
class ProductBenchmarkTest {
    @Test
    void theOpenBlasYardsticksRunOnTheBenchmarksThreadCount() {
        // OpenBLAS as a process starts it: on every core (its default), which is what the yardsticks ran with
        Backends.choose("cpu").create(1).close();  // loads the native side and OpenBLAS
        FalconKernels.falcon_openblas_set_threads(2);
        assumeTrue(FalconKernels.falcon_openblas_get_threads() == 2,
                "OpenBLAS runs fewer than 2 threads here, so a count of 1 would be right without the setup setting it");
        ProductBenchmark benchmark = new ProductBenchmark();
        benchmark.n = 16;
        benchmark.p = 4000;
        benchmark.blockSize = 2000;
        benchmark.threads = 1;
        benchmark.backendName = "cpu";
        benchmark.layout = "panels";
        benchmark.setUp();
        try {
            assertEquals(1, FalconKernels.falcon_openblas_get_threads(), "OpenBLAS's thread count after setUp with threads = 1");
            // the yardsticks themselves run (and leave the count alone)
            benchmark.streamingRead();
            benchmark.twoBlasSgemv();
            assertEquals(1, FalconKernels.falcon_openblas_get_threads());
        } finally {
            benchmark.tearDown();
        }
    }

    @Test
    void theOpenBlasYardsticksRunNoMoreThreadsThanTheBackendWouldGiveOpenBlas() {
        // with -p threads above the cores, sasum and the two sgemv ran that many spinning OpenBLAS threads (4 on a
        // 2-core VM: 87 ms against 17), a configuration the cpu backend avoids (CpuBackend.openBlasThreadsFor), and the
        // fused kernel was compared with these slowed yardsticks
        int cores = Runtime.getRuntime().availableProcessors();
        int threads = cores + 2;
        Backends.choose("cpu").create(1).close();  // loads the native side and OpenBLAS
        FalconKernels.falcon_openblas_set_threads(threads);
        assumeTrue(FalconKernels.falcon_openblas_get_threads() == threads,
                "this OpenBLAS caps its threads at " + FalconKernels.falcon_openblas_get_threads() + ", so it cannot run more than the cores");
        ProductBenchmark benchmark = new ProductBenchmark();
        benchmark.n = 16;
        benchmark.p = 4000;
        benchmark.blockSize = 2000;
        benchmark.threads = threads;
        benchmark.backendName = "cpu";
        benchmark.layout = "panels";
        benchmark.setUp();
        try {
            assertEquals(cores, FalconKernels.falcon_openblas_get_threads(),
                    "OpenBLAS's thread count after setUp with threads = " + threads + " on " + cores + " processors");
            // what fork_facts records as openblas_threads
            assertEquals(cores, benchmark.openblasThreads);
        } finally {
            benchmark.tearDown();
        }
    }
}
