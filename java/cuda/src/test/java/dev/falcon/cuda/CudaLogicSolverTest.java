package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.falcon.solve.AbstractSolverTest;

/** The solver suite with the CUDA kernel logic (block product, gathers, sort) run on the CPU. */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicSolverTest extends AbstractSolverTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CudaLogicOnCpu();
    }
}
