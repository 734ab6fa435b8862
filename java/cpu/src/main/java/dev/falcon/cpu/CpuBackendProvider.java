package dev.falcon.cpu;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.BackendProvider;
import dev.falcon.backend.ComputeBackend;
import java.util.Map;
import java.util.TreeMap;

/** The native CPU backend: OpenBLAS plus falcon's own C++ kernels. Priority 200 (above java, below cuda). */
public final class CpuBackendProvider implements BackendProvider {
    private volatile BackendAvailability cached;

    @Override public String name() { return "cpu"; }

    @Override public int priority() { return 200; }

    @Override
    public BackendAvailability probe() {
        BackendAvailability a = cached;
        if (a != null) return a;
        synchronized (this) {
            if (cached != null) return cached;
            try {
                Map<String, String> facts = CpuNative.ensureLoaded();
                a = BackendAvailability.usable(facts);
            } catch (Throwable t) { // LinkageError from the loader, or anything else: record why, never throw
                a = BackendAvailability.unusable("native cpu kernels or OpenBLAS failed to load", t);
            }
            cached = a;
            return a;
        }
    }

    @Override
    public ComputeBackend create(int threads) {
        BackendAvailability a = probe();
        if (!a.usable()) throw new IllegalStateException("cpu backend cannot run here: " + a.reason());
        return new CpuBackend(threads);
    }

    /** Prints the probe result: {@code java -cp ... dev.falcon.cpu.CpuBackendProvider}. */
    public static void main(String[] args) {
        BackendAvailability a = new CpuBackendProvider().probe();
        System.out.println("usable: " + a.usable() + (a.usable() ? "" : " (" + a.reason() + ")"));
        new TreeMap<>(a.facts()).forEach((k, v) -> System.out.println(k + " = " + v));
    }
}
