package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;

/** The solver suite on the reference Java backend. */
class JavaSolverTest extends AbstractSolverTest {
    @Override
    protected ComputeBackend createBackend() {
        return new JavaBackend();
    }
}
