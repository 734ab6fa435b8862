package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.falcon.backend.ComputeBackendContract;

/** The shared backend contract on the CUDA kernel bodies run by the CPU driver (no GPU needed). */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicContractTest extends ComputeBackendContract {
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new CudaLogicOnCpu();
    }

    /** The kernels add each segment's prefix sums in tiles (falcon_cuda_logic.cuh), not serially: see CudaLogicScanTest. */
    @Override
    protected double prefixSumTolerance() { return CudaLogicScanTest.SERIAL_TOLERANCE; }

    /** X^T u in double: lane-strided sums and a tree, not the rows' order (CudaLogicTransposedOrderTest). */
    @Override
    protected double transposedSummedInDoubleTolerance(int n) { return CudaLogicTransposedOrderTest.orderTolerance(n); }
}
