package dev.falcon.cpu;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.solve.AbstractSolverTest;

/** The solver suite (exhaustive optimum, monotone DFO, backsolves, cross-backend agreement) on the native backend. */
class CpuSolverTest extends AbstractSolverTest {
    @Override
    protected ComputeBackend createBackend() {
        return new CpuBackendProvider().create(2);
    }
}
