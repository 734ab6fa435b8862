package dev.falcon.cpu;

import static dev.falcon.cpu.CpuBackend.ONE_OPENBLAS_THREAD_BELOW_FLOPS;
import static dev.falcon.cpu.CpuBackend.choleskyFactorFlops;
import static dev.falcon.cpu.CpuBackend.choleskySolveFlops;
import static dev.falcon.cpu.CpuBackend.openBlasThreadsForCall;
import static dev.falcon.cpu.CpuBackend.syrkFlops;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The rule that picks an OpenBLAS call's thread count from its size alone (see {@link CpuBackend#openBlasThreadsForCall}). */
class OpenBlasThreadsForCallTest {
    @Test
    void belowTheThresholdOneThreadFromItTheBackendsCount() {
        assertEquals(1, openBlasThreadsForCall(2, ONE_OPENBLAS_THREAD_BELOW_FLOPS - 1));
        assertEquals(2, openBlasThreadsForCall(2, ONE_OPENBLAS_THREAD_BELOW_FLOPS));
        assertEquals(4, openBlasThreadsForCall(4, 10 * ONE_OPENBLAS_THREAD_BELOW_FLOPS));
        assertEquals(1, openBlasThreadsForCall(1, 10 * ONE_OPENBLAS_THREAD_BELOW_FLOPS));
    }

    @Test
    void theBlockBacksolvesSystemsAtN64AreSmallAndAWholeGramChunkIsNot() {
        assertEquals(1, openBlasThreadsForCall(2, syrkFlops(64, 2000)), "a block's Gram");
        assertEquals(1, openBlasThreadsForCall(2, choleskyFactorFlops(64)), "its factor");
        assertEquals(1, openBlasThreadsForCall(2, choleskySolveFlops(64, 1)), "its solve");
        assertEquals(2, openBlasThreadsForCall(2, syrkFlops(64, 65536)), "a chunk of 65,536 columns of a layer's Gram");
        // OpenBlasThreadCountTest tells the counts apart by a factor of this size: it must stay on the backend's count
        assertEquals(2, openBlasThreadsForCall(2, choleskyFactorFlops(384)), "a 384 x 384 factor");
    }
}
