package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What the probe says when a device is present but falcon's kernels were compiled for other architectures. */
class KernelImageReasonTest {
    @Test
    void namesTheDeviceWhatWasBuiltAndTheFix() {
        String why = CudaNative.noKernelImage("Tesla T4", 7, 5, "nvcc 13.0, static CUDA runtime, compute 800,900", 209,
                "no kernel image is available for execution on the device");
        assertTrue(why.contains("Tesla T4 (sm_75)"), why);
        assertTrue(why.contains("compute 800,900"), why);
        assertTrue(why.contains("error 209"), why);
        assertTrue(why.endsWith("rebuild with -Dfalcon.cuda.archs=75"), why);
    }
}
