package dev.falcon.backend;

import java.util.Map;

/** Provider of the always-usable reference backend. */
public final class JavaBackendProvider implements BackendProvider {
    @Override public String name() { return "java"; }

    @Override public int priority() { return 0; }

    @Override
    public BackendAvailability probe() {
        return BackendAvailability.usable(Map.of("implementation", "plain Java reference, single-threaded"));
    }

    @Override
    public ComputeBackend create(int threads) {
        return new JavaBackend();
    }
}
