package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ComputeBackendContract;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The shared backend contract on the GPU, every matrix on the device: the suite keeps its matrices open, and the
 * backend's routing would run each one smaller than an earlier one (shapes {5, 3} and {33, 257} of SHAPES, and every
 * shape after a test with a larger X) on the host backend, checking the cpu backend's answers instead. Skipped, with
 * the probe's reason, where no GPU is usable.
 */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaBackendContractTest extends ComputeBackendContract {
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new CudaBackend(threads, BlockGramKernel.configured(), false);
    }

    /** The kernels add each segment's prefix sums in tiles (falcon_cuda_logic.cuh), not serially: see CudaLogicScanTest. */
    @Override
    protected double prefixSumTolerance() { return CudaLogicScanTest.SERIAL_TOLERANCE; }

    /** X^T u in double: lane-strided sums and a tree, not the rows' order (CudaLogicTransposedOrderTest). */
    @Override
    protected double transposedSummedInDoubleTolerance(int n) { return CudaLogicTransposedOrderTest.orderTolerance(n); }

    @AfterEach
    void everyProductGatherAndGramRanOnTheDevice(TestInfo test) {
        assertEquals(0, ((CudaBackend) backend).hostRuns(), test.getDisplayName() + ": calls answered by the host backend");
    }
}
