package dev.falcon.cpu;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.BackendSettingException;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ProbedBackendProvider;

/** The native CPU backend: OpenBLAS plus falcon's own C++ kernels. Priority 200 (above java, below cuda). */
public final class CpuBackendProvider extends ProbedBackendProvider {
    @Override public String name() { return "cpu"; }

    @Override public int priority() { return 200; }

    @Override
    protected BackendAvailability probeOnce() throws Throwable {
        try {
            CpuNative.requestedIsa();
        } catch (BackendSettingException e) {
            return BackendAvailability.misconfigured(e.getMessage());
        }
        return BackendAvailability.usable(CpuNative.ensureLoaded());
    }

    @Override
    protected String failureReason() { return "native cpu kernels or OpenBLAS failed to load"; }

    @Override
    protected ComputeBackend newBackend(int threads) { return new CpuBackend(threads); }

    /** Prints the probe result: {@code java -cp ... dev.falcon.cpu.CpuBackendProvider}. */
    public static void main(String[] args) {
        printProbe(new CpuBackendProvider());
    }
}
