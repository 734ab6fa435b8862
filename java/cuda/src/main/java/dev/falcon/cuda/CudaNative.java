package dev.falcon.cuda;

import dev.falcon.backend.BackendMemoryException;
import dev.falcon.cuda.nativelib.FalconCuda;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cusolver;

/** Probes the CUDA side once per JVM, in the order that gives the most useful reason when something is missing. */
final class CudaNative {
    /** cudaErrorInsufficientDriver: no libcuda.so.1, or one older than the runtime. */
    static final int INSUFFICIENT_DRIVER = 35;
    static final int NO_DEVICE = 100;

    private static volatile Result result;

    /** Usable: facts non-null; otherwise why not, phrased as "0 GPUs because ...". */
    record Result(Map<String, String> facts, String reason) {
        boolean usable() { return facts != null; }
    }

    private CudaNative() {}

    static Result probe() {
        Result r = result;
        if (r == null) {
            synchronized (CudaNative.class) {
                if (result == null) result = probeOnce();
                r = result;
            }
        }
        return r;
    }

    private static Result fail(String why) {
        return new Result(null, "0 GPUs because " + why);
    }

    private static Result probeOnce() {
        try {
            FalconCuda.load();
        } catch (Throwable t) {
            return fail("falcon's CUDA library failed to load (" + t + ")");
        }
        if (FalconCuda.fcu_built() != 1) return fail(FalconCuda.fcu_build_info());
        int[] count = {0};
        int err = FalconCuda.fcu_device_count(count);
        if (err == INSUFFICIENT_DRIVER) {
            return fail("the CUDA driver is missing or too old: libcuda.so.1 not found or older than CUDA 13 "
                    + "(cudaGetDeviceCount error 35: " + FalconCuda.fcu_error_string(err) + ")");
        }
        if (err == NO_DEVICE || (err == 0 && count[0] == 0)) return fail("no CUDA device is present (cudaGetDeviceCount error " + err + ")");
        if (err != 0) return fail("cudaGetDeviceCount error " + err + " (" + FalconCuda.fcu_error_string(err) + ")");
        Map<String, String> facts = new LinkedHashMap<>();
        String deviceName;
        long[] total = {0};
        int[] major = {0}, minor = {0}, driver = {0}, runtime = {0};
        try (BytePointer name = new BytePointer(256)) {
            err = FalconCuda.fcu_device_info(0, name, total, major, minor, driver, runtime);
            deviceName = name.getString();
        }
        if (err != 0) return fail("cudaGetDeviceProperties error " + err + " (" + FalconCuda.fcu_error_string(err) + ")");
        err = FalconCuda.fcu_check_kernel_image();
        if (err != 0) {
            return fail(kernelCheckFailed(deviceName, major[0], minor[0], FalconCuda.fcu_build_info(), err, FalconCuda.fcu_error_string(err)));
        }
        facts.put("devices", Integer.toString(count[0]));
        facts.put("device", deviceName + " (sm_" + major[0] + minor[0] + ")");
        facts.put("device.memory", String.format(java.util.Locale.ROOT, "%.1f GiB", total[0] / (double) (1L << 30)));
        facts.put("cuda.driver", version(driver[0]));
        facts.put("cuda.runtime", version(runtime[0]) + " (static, in libfalcon_cuda)");
        facts.put("kernels", FalconCuda.fcu_build_info());
        Result mistyped = putBlockKernel(facts);
        if (mistyped != null) return mistyped;
        try {
            Loader.load(cublas.class);
            Loader.load(cusolver.class);
            int[] v = {0};
            cusolver.cusolverGetVersion(v);
            facts.put("cusolver.version", Integer.toString(v[0]));
        } catch (Throwable t) {
            return fail("cuBLAS/cuSOLVER failed to load: the server must provide libcudart.so.13, libcublas.so.13, "
                    + "libcublasLt.so.13, libcusolver.so.12, libcusolverMg.so.12, libcusparse.so.12 and libnvJitLink.so.13 on the library path (" + t + ")");
        }
        return new Result(facts, "");
    }

    /**
     * Adds the configured block product kernel to {@code facts}; a mistyped kernel name is refused here, where --device
     * cuda and falcon env report it, not mid-solve, as the reason (null when the name is valid).
     */
    static Result putBlockKernel(Map<String, String> facts) {
        try {
            facts.put("block.kernel", BlockGramKernel.configured().id() + " (-D" + BlockGramKernel.PROPERTY + "="
                    + String.join("|", java.util.Arrays.stream(BlockGramKernel.values()).map(BlockGramKernel::id).toList()) + ")");
            return null;
        } catch (IllegalArgumentException e) {
            return fail(e.getMessage());
        }
    }

    /**
     * Why a present device cannot run falcon's kernels: they were compiled for other architectures (e.g. sm_80 and sm_90
     * cubins with compute_90 PTX do not run on an sm_75 T4), and the fix.
     */
    static String noKernelImage(String device, int major, int minor, String buildInfo, int err, String errName) {
        return "falcon's CUDA kernels have no image for " + device + " (sm_" + major + minor + "): built by " + buildInfo
                + " (cudaFuncGetAttributes error " + err + ": " + errName + "); rebuild with -Dfalcon.cuda.archs="
                + major + minor;
    }

    /**
     * cudaFuncGetAttributes errors of the kernel image itself or of JIT-compiling its PTX for the device
     * (cudaErrorInvalidDeviceFunction, InvalidKernelImage, NoKernelImageForDevice, InvalidPtx, JitCompilerNotFound,
     * UnsupportedPtxVersion, JitCompilationDisabled): a build with the device's own cubin fixes each.
     */
    static final Set<Integer> NO_IMAGE_ERRORS = Set.of(98, 200, 209, 218, 221, 222, 223);

    /**
     * Why the probe's cudaFuncGetAttributes failed. It is also the first call that creates the CUDA context, so it fails
     * on devices the build covers too: sending those users to rebuild for the architecture they already have hides the
     * actual cause.
     */
    static String kernelCheckFailed(String device, int major, int minor, String buildInfo, int err, String errName) {
        if (NO_IMAGE_ERRORS.contains(err)) return noKernelImage(device, major, minor, buildInfo, err, errName);
        String hint = switch (err) {
            case MEMORY_ALLOCATION -> ": no device memory left for a CUDA context (is another process using it? see nvidia-smi)";
            case 46 -> ": the device is busy or unavailable (exclusive-process compute mode held by another process?"
                    + " see nvidia-smi)";
            case 802 -> ": the system is not yet initialized (on NVSwitch systems such as an HGX, the NVIDIA fabric manager"
                    + " must be running: systemctl status nvidia-fabricmanager)";
            default -> "";
        };
        return "falcon's CUDA kernels could not start on " + device + " (sm_" + major + minor + "): cudaFuncGetAttributes error "
                + err + ": " + errName + hint + "; the kernels were built by " + buildInfo;
    }

    static String version(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }

    /** cudaErrorMemoryAllocation. */
    static final int MEMORY_ALLOCATION = 2;

    /**
     * As {@link #check} for cudaMallocHost, whose cudaErrorMemoryAllocation means the host could not page-lock the
     * memory: the device's memory is not the problem, and saying so would send the user to the wrong fix.
     */
    static void checkPinnedAllocation(int err, long bytes) {
        if (err == MEMORY_ALLOCATION) {
            throw new DeviceMemoryException("cudaMallocHost of " + bytes + " bytes: out of page-locked host memory "
                    + "(cudaErrorMemoryAllocation) for the two buffers streamed X is copied through: free host memory");
        }
        check(err, "cudaMallocHost of " + bytes + " bytes");
    }

    static void check(int err, String what) {
        if (err != 0) {
            if (err == MEMORY_ALLOCATION) throw new DeviceMemoryException(what + ": out of device memory (cudaErrorMemoryAllocation)");
            throw new IllegalStateException(what + " failed: CUDA error " + err + " (" + FalconCuda.fcu_error_string(err) + ")");
        }
    }

    /** A device allocation failed: the caller falls back (streaming) or reports it; never a crash. */
    static final class DeviceMemoryException extends BackendMemoryException {
        DeviceMemoryException(String message) { super(message); }
    }
}
