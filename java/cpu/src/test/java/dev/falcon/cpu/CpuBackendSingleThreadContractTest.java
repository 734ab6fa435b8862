package dev.falcon.cpu;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ComputeBackendContract;

/** The shared backend contract with one thread (no partitioning at all). */
class CpuBackendSingleThreadContractTest extends ComputeBackendContract {
    @Override
    protected ComputeBackend createBackend(int threads) {
        return new CpuBackendProvider().create(1);
    }

    @Override
    protected int threads() { return 1; }
}
