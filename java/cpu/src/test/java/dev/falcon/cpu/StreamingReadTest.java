package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.cpu.nativelib.FalconKernels;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The benchmarks' bandwidth floor must read every element exactly once, whatever the split. */
class StreamingReadTest {
    @BeforeAll
    static void loadNativeLibrary() {
        new CpuBackendProvider().create(1).close();
    }

    @Test
    void sumsEveryElementOnceForAnyLengthAndThreadCount() {
        for (int count : new int[] {1, 7, 31, 32, 33, 1000, 4099}) {
            try (FloatPointer x = new FloatPointer(count)) {
                double expected = 0;
                for (int i = 0; i < count; i++) {
                    x.put(i, i % 17);
                    expected += i % 17;
                }
                for (int threads = 1; threads <= 3; threads++) {
                    assertEquals(expected, FalconKernels.falcon_read_sum(x, count, threads), 0.0, count + " elements, " + threads + " threads");
                }
            }
        }
    }
}
