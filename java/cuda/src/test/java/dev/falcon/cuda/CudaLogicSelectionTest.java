package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.falcon.select.AbstractSelectionTest;

/** The selection suite on the CUDA segmented sort, prefix sums and threshold counts, run on the CPU. */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicSelectionTest extends AbstractSelectionTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CudaLogicOnCpu();
    }
}
