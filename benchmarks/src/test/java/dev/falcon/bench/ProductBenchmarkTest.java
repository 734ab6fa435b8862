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
}
