package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.cpu.nativelib.FalconKernels;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The benchmarks' bandwidth floors must read every element exactly once (twice for the two-touch floor), whatever the split. */
class StreamingReadTest {
    @BeforeAll
    static void loadNativeLibrary() {
        new CpuBackendProvider().create(1).close();
    }

    @Test
    void sumsEveryElementOnceForAnyLengthAndThreadCount() {
        for (int count : new int[] {1, 7, 31, 32, 33, 1000, 4099}) {
            try (FloatPointer x = new FloatPointer(count)) {
                double expected = fillCounting(x, count, 17);
                for (int threads = 1; threads <= 3; threads++) {
                    assertEquals(expected, FalconKernels.falcon_read_sum(x, count, threads), 0.0, count + " elements, " + threads + " threads");
                }
            }
        }
    }

    @Test
    void twoTouchFloorSumsEveryPanelElementTwiceForAnyShape() {
        // rows below, at and past a group of four; widths below and past a vector; panels of unequal widths
        for (int n : new int[] {1, 3, 4, 5, 8, 13}) {
            for (long[] panels : new long[][] {{0, 1}, {0, 7}, {0, 33}, {0, 16, 50, 51, 90}}) {
                long p = panels[panels.length - 1];
                try (FloatPointer x = new FloatPointer(n * p)) {
                    double expected = 2 * fillCounting(x, n * p, 13);
                    for (int threads = 1; threads <= 3; threads++) {
                        assertEquals(expected, FalconKernels.falcon_panel_touch_twice(x, n, p, panels, panels.length - 1, threads), 0.0,
                                "n = " + n + ", p = " + p + ", " + (panels.length - 1) + " panels, " + threads + " threads");
                    }
                }
            }
        }
    }

    @Test
    void blockTwoTouchFloorSumsEveryElementTwice() {
        int n = 5;
        long[] starts = {0, 3, 4, 40, 41};
        long p = starts[starts.length - 1];
        try (FloatPointer x = new FloatPointer(n * p)) {
            double expected = 2 * fillCounting(x, n * p, 11);
            for (int threads = 1; threads <= 3; threads++) {
                assertEquals(expected, FalconKernels.falcon_block_touch_twice(x, n, p, starts, starts.length - 1, threads), 0.0, threads + " threads");
            }
        }
    }

    /** x[i] = i % modulus for i < count (small integers: every sum is exact); returns their sum. */
    private static double fillCounting(FloatPointer x, long count, int modulus) {
        double sum = 0;
        for (long i = 0; i < count; i++) {
            x.put(i, i % modulus);
            sum += i % modulus;
        }
        return sum;
    }
}
