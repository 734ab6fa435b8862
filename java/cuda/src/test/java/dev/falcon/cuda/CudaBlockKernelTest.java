package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.cpu.CpuBackendProvider;
import dev.falcon.cuda.nativelib.FalconCuda;
import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every block product kernel on the GPU against the same kernel's bodies run on the CPU (CudaLogicOnCpu), and the
 * device-resident read and two-pass product the benchmarks time against the java reference. Skipped, with the
 * probe's reason, where no GPU is usable.
 */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaBlockKernelTest {

    private static void randomProblem(HostMatrix x, FloatPointer d, long seed) {
        try (JavaBackend reference = new JavaBackend()) {
            reference.fillUniform(x.data(), x.rows() * x.cols(), seed, 1f);
            reference.fillUniform(d, x.cols(), seed + 1, 1f);
        }
        for (long j = 0; j < x.cols(); j += 7) d.put(j, 0f);
    }

    private static void assertClose(FloatPointer want, FloatPointer got, long p, float tolerance, String what) {
        for (long j = 0; j < p; j++) {
            float w = want.get(j);
            assertEquals(w, got.get(j), tolerance * Math.max(1f, Math.abs(w)), what + ", column " + j);
        }
    }

    /** Blocks narrower than a cluster, uneven slices, and (n = 700) more rows than the sliced kernels' row lanes. */
    @ParameterizedTest
    @EnumSource(BlockGramKernel.class)
    void eachKernelMatchesItsBodiesOnTheCpu(BlockGramKernel kernel) {
        long[] starts = {0, 1, 4, 11, 51, 180, 2180, 2500};
        int p = (int) starts[starts.length - 1];
        boolean clusters = computeCapabilityMajor() >= 9;
        for (int n : new int[] {1, 100, 512, 700}) {
            try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p); FloatPointer got = new FloatPointer(p);
                 FloatPointer want = new FloatPointer(p); CudaLogicOnCpu cpu = new CudaLogicOnCpu(kernel)) {
                randomProblem(x, d, 100 + n);
                cpu.blockGramProduct(x, starts, d, want);
                try (ResidentProducts device = new ResidentProducts(x, starts, d)) {
                    if (kernel.needsClusters() && !clusters) {
                        // an A100 or older: the launch is refused (cudaErrorNotSupported), and the backend below falls
                        // back to the warp kernel, whose order of summation differs only at float rounding
                        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.blockProduct(kernel));
                        assertTrue(e.getMessage().contains("CUDA error 801"), e.getMessage());
                    } else {
                        device.blockProduct(kernel);
                        device.copyOut(got);
                        assertClose(want, got, p, 1e-6f, kernel.id() + ", n = " + n);
                    }
                }
                try (CudaBackend backend = new CudaBackend(2, kernel)) {
                    got.zero();
                    backend.blockGramProduct(x, starts, d, got);
                }
                assertClose(want, got, p, 1e-6f, kernel.id() + " through the backend, n = " + n);
            }
        }
    }

    private static int computeCapabilityMajor() {
        long[] total = {0};
        int[] major = {0}, minor = {0}, driver = {0}, runtime = {0};
        try (BytePointer name = new BytePointer(256)) {
            CudaNative.check(FalconCuda.fcu_device_info(0, name, total, major, minor, driver, runtime), "cudaGetDeviceProperties");
        }
        return major[0];
    }

    /** Above n = 9,685 the sliced kernels' sums outgrow shared memory: the backend uses tree, a named kernel is refused. */
    @Test
    void aSlicedKernelNamedForAnXOfTooManyRowsIsRefusedNamingTree() {
        int n = 12_000, p = 3;
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p)) {
            randomProblem(x, d, 5);
            try (ResidentProducts device = new ResidentProducts(x, new long[] {0, p}, d)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> device.blockProduct(BlockGramKernel.WARP));
                assertTrue(e.getMessage().contains("n = 12000") && e.getMessage().contains("use tree"), e.getMessage());
                device.blockProduct(BlockGramKernel.TREE);
            }
        }
    }

    @Test
    void theDeviceReadSumsEveryElement() {
        int n = 37, p = 1001; // 37037 elements: not a multiple of four, so the kernel's scalar tail runs
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p)) {
            randomProblem(x, d, 3);
            double want = 0;
            for (long e = 0; e < (long) n * p; e++) want += x.data().get(e);
            try (ResidentProducts device = new ResidentProducts(x, new long[] {0, p}, d)) {
                assertEquals(want, device.readSum(), 1e-5 * Math.max(1, Math.abs(want)) + 1e-3);
            }
        }
    }

    @Test
    void theTwoPassProductMatchesTheReference() {
        int n = 300, p = 5000;
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p); FloatPointer u = new FloatPointer(n);
             FloatPointer want = new FloatPointer(p); FloatPointer got = new FloatPointer(p); JavaBackend reference = new JavaBackend()) {
            randomProblem(x, d, 9);
            reference.multiply(x, d, u);
            reference.multiplyTransposed(x, u, want);
            try (ResidentProducts device = new ResidentProducts(x, new long[] {0, p}, d)) {
                device.twoProducts();
                device.copyOut(got);
            }
            assertClose(want, got, p, 1e-4f, "X^T (X d)");
        }
    }

    /**
     * d and the result at positions other than 0, as a benchmark's slices of larger buffers are: the copies take void*,
     * which JavaCPP offsets by a typed pointer's position in bytes, so d would be read from 3 bytes in and the result
     * written 5 bytes in, not 3 and 5 floats.
     */
    @Test
    void positionedVectorsAreCopiedFromAndToTheirPositions() {
        int n = 40, p = 700, dAt = 3, outAt = 5;
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p); FloatPointer dLonger = new FloatPointer(dAt + p);
             FloatPointer outLonger = new FloatPointer(outAt + p); FloatPointer u = new FloatPointer(n); FloatPointer want = new FloatPointer(p);
             ComputeBackend cpu = new CpuBackendProvider().create(2)) {
            randomProblem(x, d, 11);
            for (int j = 0; j < dAt; j++) dLonger.put(j, 1e6f); // would dominate X d if read
            for (int j = 0; j < p; j++) dLonger.put(dAt + j, d.get(j));
            cpu.multiply(x, d, u);
            cpu.multiplyTransposed(x, u, want);
            try (ResidentProducts device = new ResidentProducts(x, new long[] {0, p}, new FloatPointer(dLonger).position(dAt))) {
                device.twoProducts();
                for (int j = 0; j < outAt + p; j++) outLonger.put(j, -7f);
                device.copyOut(new FloatPointer(outLonger).position(outAt));
            }
            for (int j = 0; j < outAt; j++) assertEquals(-7f, outLonger.get(j), "left alone before the position, " + j);
            assertClose(want, new FloatPointer(outLonger).position(outAt), p, 1e-4f, "X^T (X d) from and to positioned pointers");
        }
    }
}
