package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.solve.AbstractSolverTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/** The solver suite on the GPU. Skipped, with the probe's reason, where no GPU is usable. */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaSolverTest extends AbstractSolverTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CudaBackendProvider().create(2);
    }
}
