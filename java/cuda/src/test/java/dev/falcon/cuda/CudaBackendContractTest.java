package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ComputeBackendContract;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/** The shared backend contract on the GPU. Skipped, with the probe's reason, where no GPU is usable. */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaBackendContractTest extends ComputeBackendContract {
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new CudaBackendProvider().create(2);
    }
}
