package dev.falcon.backend;

/**
 * Service-provider entry for one compute backend, listed in
 * {@code META-INF/services/dev.falcon.backend.BackendProvider}. A provider must be cheap to
 * construct; {@link #probe()} does the real checks (native libraries, devices) once.
 */
public interface BackendProvider {

    /** Name users pass to {@code --backend}/{@code -Dfalcon.backend}: "java", "cpu", "cuda". */
    String name();

    /** Higher wins in automatic choice: cuda 300, cpu 200, java 0 (the reference, last resort). */
    int priority();

    /** Whether this backend can run here, and if not, why. Never throws; the result is cached. */
    BackendAvailability probe();

    /**
     * Creates an instance using {@code threads} worker threads: fewer than 1 or more than {@link Backends#mostThreads()}
     * is an IllegalArgumentException on every backend; the java backend runs on one thread whatever the count it accepts.
     * Only valid when usable.
     */
    ComputeBackend create(int threads);
}
