package dev.falcon.cuda;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.ProbedBackendProvider;

/**
 * The CUDA backend: cuBLAS/cuSOLVER through the CUDA presets plus falcon's CUDA kernels. Priority 300 (above
 * cpu): {@code --device auto} picks it when a device is present, the driver loads and cuBLAS loads. The probe
 * never throws; when unusable its reason reads "0 GPUs because ...".
 */
public final class CudaBackendProvider extends ProbedBackendProvider {
    @Override public String name() { return "cuda"; }

    @Override public int priority() { return 300; }

    @Override
    protected BackendAvailability probeOnce() throws Throwable {
        CudaNative.Result r = CudaNative.probe();
        return r.usable() ? BackendAvailability.usable(r.facts()) : BackendAvailability.unusable(r.reason());
    }

    @Override
    protected String failureReason() { return "0 GPUs because the CUDA probe failed"; }

    @Override
    protected ComputeBackend newBackend(int threads) { return new CudaBackend(threads); }

    /** Prints the probe result: {@code java -cp ... dev.falcon.cuda.CudaBackendProvider}. */
    public static void main(String[] args) {
        printProbe(new CudaBackendProvider());
    }
}
