package dev.falcon.cpu;

import static dev.falcon.cpu.CpuBackend.CHOLESKY_ON_THREAD_COUNT_FROM_N;
import static dev.falcon.cpu.CpuBackend.GRAM_ON_THREAD_COUNT_FROM_N;
import static dev.falcon.cpu.CpuBackend.openBlasThreadsForCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The rule that picks an OpenBLAS call's thread count from its size alone (see {@link CpuBackend#openBlasThreadsForCall}). */
class OpenBlasThreadsForCallTest {
    @Test
    void belowTheThresholdOneThreadFromItTheBackendsCount() {
        assertEquals(1, openBlasThreadsForCall(2, GRAM_ON_THREAD_COUNT_FROM_N - 1, GRAM_ON_THREAD_COUNT_FROM_N));
        assertEquals(2, openBlasThreadsForCall(2, GRAM_ON_THREAD_COUNT_FROM_N, GRAM_ON_THREAD_COUNT_FROM_N));
        assertEquals(4, openBlasThreadsForCall(4, 4 * GRAM_ON_THREAD_COUNT_FROM_N, GRAM_ON_THREAD_COUNT_FROM_N));
        assertEquals(1, openBlasThreadsForCall(1, 4 * GRAM_ON_THREAD_COUNT_FROM_N, GRAM_ON_THREAD_COUNT_FROM_N));
    }

    /**
     * OpenBlasThreadsBenchmark on an idle 2-core machine (benchmarks/results/20261207-0355*.json, 20261207-040006-vm.json):
     * a second thread made a 64 x 64 Gram 1.40-1.43 and 1.47-1.72 times (one range per round) and a 128 x 128 one
     * 1.09-1.26 and 1.04-1.23 times slower at k = 500, 2000 and 8000 columns, and a Cholesky factor slower at every n
     * below 1024 (512: 1.28 times), so those stay on one thread; a Gram from n = 256 was faster (0.63-0.95, measured at
     * k = 2000 and 8000 only), and a factor at n = 1024 broke even within the noise (1.01). Later rounds
     * (20261207-093545-vm.json and -093833- for the Gram, -093625- and -093912- for the factor): the whole-X chunks
     * (k = 32,768 and 65,536) were slower on two threads at n = 64 (1.07-1.53) and mixed at n = 128 (0.91-1.04), and the
     * factor was faster from n = 1536 (0.70-0.83).
     */
    @Test
    void whetherASecondThreadPaysDependsOnNNotOnTheColumns() {
        assertEquals(1, openBlasThreadsForCall(2, 64, GRAM_ON_THREAD_COUNT_FROM_N), "a 64 x 64 Gram, of any number of columns");
        assertEquals(1, openBlasThreadsForCall(2, 128, GRAM_ON_THREAD_COUNT_FROM_N), "a 128 x 128 Gram");
        assertEquals(2, openBlasThreadsForCall(2, 256, GRAM_ON_THREAD_COUNT_FROM_N), "a 256 x 256 Gram");
        assertEquals(1, openBlasThreadsForCall(2, 512, CHOLESKY_ON_THREAD_COUNT_FROM_N), "a 512 x 512 factor or solve");
        assertEquals(2, openBlasThreadsForCall(2, 1024, CHOLESKY_ON_THREAD_COUNT_FROM_N), "a 1024 x 1024 factor or solve");
    }
}
