package dev.falcon.cuda;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.BackendProvider;
import dev.falcon.backend.ComputeBackend;
import java.util.TreeMap;

/**
 * The CUDA backend: cuBLAS/cuSOLVER through the CUDA presets plus falcon's CUDA kernels. Priority 300 (above
 * cpu): {@code --device auto} picks it when a device is present, the driver loads and cuBLAS loads. The probe
 * never throws; when unusable its reason reads "0 GPUs because ...".
 */
public final class CudaBackendProvider implements BackendProvider {
    private volatile BackendAvailability cached;

    @Override public String name() { return "cuda"; }

    @Override public int priority() { return 300; }

    @Override
    public BackendAvailability probe() {
        BackendAvailability a = cached;
        if (a != null) return a;
        synchronized (this) {
            if (cached != null) return cached;
            try {
                CudaNative.Result r = CudaNative.probe();
                a = r.usable() ? BackendAvailability.usable(r.facts()) : BackendAvailability.unusable(r.reason());
            } catch (Throwable t) { // LinkageError from a loader, or anything else: record why, never throw
                a = BackendAvailability.unusable("0 GPUs because the CUDA probe failed", t);
            }
            cached = a;
            return a;
        }
    }

    @Override
    public ComputeBackend create(int threads) {
        BackendAvailability a = probe();
        if (!a.usable()) throw new IllegalStateException("cuda backend cannot run here: " + a.reason());
        return new CudaBackend(threads);
    }

    /** Prints the probe result: {@code java -cp ... dev.falcon.cuda.CudaBackendProvider}. */
    public static void main(String[] args) {
        BackendAvailability a = new CudaBackendProvider().probe();
        System.out.println("usable: " + a.usable() + (a.usable() ? "" : " (" + a.reason() + ")"));
        new TreeMap<>(a.facts()).forEach((k, v) -> System.out.println(k + " = " + v));
    }
}
