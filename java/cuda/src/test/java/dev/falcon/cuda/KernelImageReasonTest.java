package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What the probe says when a device is present but its first use by falcon's kernels (cudaFuncGetAttributes) fails. */
class KernelImageReasonTest {
    private static final String BUILD = "nvcc 13.0, static CUDA runtime, compute 800,900";

    @Test
    void namesTheDeviceWhatWasBuiltAndTheFix() {
        String why = CudaNative.kernelCheckFailed("Tesla T4", 7, 5, BUILD, 209, "no kernel image is available for execution on the device");
        assertTrue(why.contains("Tesla T4 (sm_75)"), why);
        assertTrue(why.contains("compute 800,900"), why);
        assertTrue(why.contains("error 209"), why);
        assertTrue(why.endsWith("rebuild with -Dfalcon.cuda.archs=75"), why);
    }

    /**
     * cudaFuncGetAttributes is also where the CUDA context is created: a device the build covers can fail there for
     * reasons no rebuild fixes (an HGX whose fabric manager is not running, a device held in exclusive-process mode by
     * another process, a device with no memory left for a context).
     */
    @Test
    void aDeviceThatFailsForAnotherReasonIsNotSentToRebuild() {
        String[][] cases = {{"802", "system not yet initialized", "fabric manager"},
                            {"46", "CUDA-capable device(s) is/are busy or unavailable", "another process"},
                            {"2", "out of memory", "another process"},
                            {"999", "unknown error", "error 999"}};
        for (String[] c : cases) {
            String why = CudaNative.kernelCheckFailed("NVIDIA H200", 9, 0, BUILD, Integer.parseInt(c[0]), c[1]);
            assertFalse(why.contains("rebuild") || why.contains("no image"), why);
            assertTrue(why.contains("NVIDIA H200 (sm_90)"), why);
            assertTrue(why.contains("cudaFuncGetAttributes error " + c[0] + ": " + c[1]), why);
            assertTrue(why.contains(c[2]), why);
        }
    }

    /** Errors of the kernel image itself, or of compiling its PTX for this device, are what a rebuild for it fixes. */
    @Test
    void imageAndPtxErrorsAskForARebuildForTheDevice() {
        for (int err : new int[] {98, 200, 209, 218, 221, 222, 223}) {
            String why = CudaNative.kernelCheckFailed("NVIDIA B200", 10, 0, BUILD, err, "name");
            assertTrue(why.endsWith("rebuild with -Dfalcon.cuda.archs=100"), why);
        }
    }
}
