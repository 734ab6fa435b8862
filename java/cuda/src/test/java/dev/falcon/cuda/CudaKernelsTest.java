package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.cuda.nativelib.FalconCuda;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The check scripts/gpu-bundle.sh runs on the falcon.jar it packs: real kernels or the "not built" stub. */
class CudaKernelsTest {
    private static String line(int built, String info, int expectedStatus) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        assertEquals(expectedStatus, CudaKernels.report(built, info, new PrintStream(bytes, true, StandardCharsets.UTF_8)));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void realKernelsNameTheirArchitecturesAndPass() {
        assertEquals("kernels: nvcc 13.0, static CUDA runtime, compute 800,900" + System.lineSeparator(),
                line(1, "nvcc 13.0, static CUDA runtime, compute 800,900", 0));
    }

    @Test
    void theStubSaysWhyItWasBuiltAndFails() {
        assertEquals("not built: falcon CUDA kernels were not built (nvcc absent at build time)" + System.lineSeparator(),
                line(0, "falcon CUDA kernels were not built (nvcc absent at build time)", 1));
    }

    @Test
    void thisBuildsLibraryAnswersAsItsProbeDoes() {
        // loads falcon's own library only: no driver or GPU needed
        FalconCuda.load();
        int status = CudaKernels.report(FalconCuda.fcu_built(), FalconCuda.fcu_build_info(),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertEquals(FalconCuda.fcu_built() == 1 ? 0 : 1, status);
    }
}
