package dev.falcon.backend;

import java.util.TreeMap;

/**
 * A provider whose availability depends on native libraries or devices: probes once, caches the answer,
 * and turns anything the probe throws (a {@code LinkageError} from a loader above all) into an unusable
 * result with a reason, because a failed native load must never take the engine down.
 */
public abstract class ProbedBackendProvider implements BackendProvider {
    private volatile BackendAvailability cached;

    /** The real checks; may throw, which {@link #probe()} records as unusable with {@link #failureReason()}. */
    protected abstract BackendAvailability probeOnce() throws Throwable;

    /** Reason shown when {@link #probeOnce()} throws, completed with the root cause. */
    protected abstract String failureReason();

    /** Creates the backend once the probe said it is usable. */
    protected abstract ComputeBackend newBackend(int threads);

    @Override
    public final BackendAvailability probe() {
        BackendAvailability a = cached;
        if (a != null) return a;
        synchronized (this) {
            if (cached != null) return cached;
            try {
                // without JavaCPP's own library every native load fails with JavaCPP's words, which name no folder
                String runtime = JavaCppRuntime.problem();
                a = runtime != null ? BackendAvailability.unusable(runtime) : probeOnce();
                if (a == null) a = BackendAvailability.unusable("probe returned nothing");
            } catch (Throwable t) {
                a = BackendAvailability.unusable(failureReason(), t);
            }
            cached = a;
            return a;
        }
    }

    @Override
    public final ComputeBackend create(int threads) {
        Backends.requireThreads(name(), threads);
        BackendAvailability a = probe();
        if (a.misconfigured()) throw new BackendSettingException(a.reason());
        if (!a.usable()) throw new IllegalStateException(name() + " backend cannot run here: " + a.reason());
        return newBackend(threads);
    }

    /** Prints a provider's probe result (the providers' {@code main} methods). */
    protected static void printProbe(BackendProvider provider) {
        BackendAvailability a = provider.probe();
        System.out.println("usable: " + a.usable() + (a.usable() ? "" : " (" + a.reason() + ")"));
        new TreeMap<>(a.facts()).forEach((k, v) -> System.out.println(k + " = " + v));
    }
}
