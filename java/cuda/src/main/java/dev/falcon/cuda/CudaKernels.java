package dev.falcon.cuda;

import dev.falcon.cuda.nativelib.FalconCuda;
import java.io.PrintStream;

/**
 * Says whether the falcon.jar it runs from carries falcon's CUDA kernels or the "not built" stub that a build without
 * nvcc packs, and for which architectures: {@code java -cp falcon.jar dev.falcon.cuda.CudaKernels}. It loads only
 * falcon's own CUDA library (which needs no driver), so scripts/gpu-bundle.sh can refuse a stub bundle on a machine
 * without a GPU, before the one run on a GPU server is spent on it. Exit status 0 with the kernels, 1 with the stub.
 */
public final class CudaKernels {
    private CudaKernels() {}

    public static void main(String[] args) {
        FalconCuda.load();
        System.exit(report(FalconCuda.fcu_built(), FalconCuda.fcu_build_info(), System.out));
    }

    /** One line: "kernels: BUILD_INFO" (status 0) or "not built: THE_STUB'S_REASON" (status 1). */
    static int report(int built, String buildInfo, PrintStream out) {
        if (built == 1) {
            out.println("kernels: " + buildInfo);
            return 0;
        }
        out.println("not built: " + buildInfo);
        return 1;
    }
}
