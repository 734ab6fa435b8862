package dev.falcon.cpu;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.select.AbstractSelectionTest;

/** The selection suite (brute-force oracle, large-instance gaps) with the native sort and counts. */
class CpuSelectionTest extends AbstractSelectionTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CpuBackendProvider().create(2);
    }
}
