package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.backend.JavaBackend;
import dev.falcon.cuda.nativelib.CudaLogic;
import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The product X v of the GPU path (falcon's slice kernel, not cuBLAS sgemv), run on the CPU driver. */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicProductTest {

    /** Products summed in float would drop every 1 next to 1e8 (whose float spacing is 8); in double none is lost. */
    @Test
    void rowsAreSummedInDouble() {
        int p = 1 + 3 * (int) CudaLogicOnCpu.PRODUCT_CHUNK; // several chunks on both emulated streams
        try (HostMatrix x = HostMatrix.allocate(1, p); FloatPointer v = new FloatPointer(p); FloatPointer out = new FloatPointer(1);
             CudaLogicOnCpu backend = new CudaLogicOnCpu()) {
            x.data().put(0, 1e8f);
            for (int j = 1; j < p; j++) x.data().put(j, 1f);
            for (int j = 0; j < p; j++) v.put(j, 1f);
            backend.multiply(x, v, out);
            assertEquals(1e8f + (p - 1), out.get(0));
        }
    }

    @Test
    void matchesTheReferenceAcrossChunksAndPartialSlices() {
        int n = 300, p = 2 * (int) CudaLogicOnCpu.PRODUCT_CHUNK + 513; // more rows than a thread block, odd slices
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer v = new FloatPointer(p); FloatPointer got = new FloatPointer(n);
             FloatPointer want = new FloatPointer(n); JavaBackend reference = new JavaBackend();
             CudaLogicOnCpu backend = new CudaLogicOnCpu()) {
            reference.fillUniform(x.data(), (long) n * p, 7, 1f);
            reference.fillUniform(v, p, 8, 1f);
            for (int j = 0; j < p; j += 5) v.put(j, 0f);
            backend.multiply(x, v, got);
            reference.multiply(x, v, want);
            for (int i = 0; i < n; i++) {
                assertEquals(want.get(i), got.get(i), 1e-6f * Math.max(1f, Math.abs(want.get(i))), "row " + i);
            }
        }
    }

    /** The Java side sizes the partial buffer the kernel fills: both must agree on the slices per launch. */
    @Test
    void partialBufferMatchesTheKernelsLaunchSize() {
        assertEquals(CudaLogic.fcl_product_max_slices(), DeviceMemoryPlan.GEMV_MAX_SLICES);
    }
}
