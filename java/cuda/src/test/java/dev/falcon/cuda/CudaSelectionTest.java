package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.select.AbstractSelectionTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/** The selection suite (brute-force oracle, large-instance gaps) on the GPU. Skipped, with the probe's reason, where no GPU is usable. */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaSelectionTest extends AbstractSelectionTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CudaBackendProvider().create(2);
    }
}
