package dev.falcon.cpu;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ComputeBackendContract;

/** The shared backend contract, run on the native CPU backend with 2 threads. */
class CpuBackendContractTest extends ComputeBackendContract {
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new CpuBackendProvider().create(threads);
    }
}
