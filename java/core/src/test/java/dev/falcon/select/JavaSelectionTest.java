package dev.falcon.select;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;

/** The selection contract suite on the reference Java backend. */
class JavaSelectionTest extends AbstractSelectionTest {
    @Override
    protected ComputeBackend createBackend() {
        return new JavaBackend();
    }
}
