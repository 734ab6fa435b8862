package dev.falcon.backend;

import java.util.Map;

/** Provider of the reference backend, usable wherever JavaCPP's own native library loads. */
public final class JavaBackendProvider implements BackendProvider {
    @Override public String name() { return "java"; }

    @Override public int priority() { return 0; }

    @Override
    public BackendAvailability probe() {
        // its vectors are JavaCPP pointers too: listed as usable, it failed at its first vector
        String runtime = JavaCppRuntime.problem();
        if (runtime != null) return BackendAvailability.unusable(runtime);
        return BackendAvailability.usable(Map.of("implementation", "plain Java reference, single-threaded"));
    }

    /** The reference runs on one thread whatever the count, which is still held to at least 1 as for every backend. */
    @Override
    public ComputeBackend create(int threads) {
        Backends.requireThreads(name(), threads);
        return new JavaBackend();
    }
}
