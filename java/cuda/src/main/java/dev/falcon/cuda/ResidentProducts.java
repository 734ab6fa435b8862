package dev.falcon.cuda;

import static dev.falcon.cuda.CudaBackend.blasCheck;
import static dev.falcon.cuda.CudaNative.check;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.cuda.nativelib.FalconCuda;
import dev.falcon.data.HostMatrix;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * X, the block starts and the products' vectors all resident on the device, so that the kernels are timed alone:
 * the cuda backend's own calls also copy d to the device and the result back (2 x 8 MB at p = 2M, as long as the
 * kernel itself on an H200), which would hide what the kernel does with device memory. Each call runs to
 * completion (the stream is synchronised) before it returns. For the JMH benchmarks and the GPU kernel tests;
 * one thread at a time.
 */
public final class ResidentProducts implements AutoCloseable {
    private final long n;
    private final long p;
    private final long blocks;
    private final DeviceBuffer x;
    private final DeviceBuffer d;
    private final DeviceBuffer out;
    private final DeviceBuffer u;
    private final DeviceBuffer starts;
    private final DeviceBuffer sum;
    private final DeviceBuffer acc;
    private final DeviceBuffer partial;
    private final DeviceBuffer treeScratch;
    private final Pointer stream;
    private final cublasContext blas = new cublasContext();
    private final long sharedBytes;
    private boolean closed;

    /**
     * Copies column-major {@code hostX}, {@code blockStarts} (0 = s_0 < ... < s_B = p) and d (p floats from its position)
     * to the device.
     */
    public ResidentProducts(HostMatrix hostX, long[] blockStarts, FloatPointer hostD) {
        hostX.requireColumnMajor("ResidentProducts");
        ComputeBackend.requireStarts("block", blockStarts, hostX.cols());
        n = hostX.rows();
        p = hostX.cols();
        blocks = blockStarts.length - 1;
        check(FalconCuda.fcu_set_device(0), "cudaSetDevice(0)");
        DeviceBuffer[] all = new DeviceBuffer[9];
        Pointer s = null;
        try {
            all[0] = DeviceBuffer.device(hostX.bytes());
            all[0].copyFromHost(hostX.data(), hostX.bytes(), "copying X to the device");
            all[1] = DeviceBuffer.device(p * Float.BYTES);
            all[1].copyFromHost(hostD, p * Float.BYTES, "copying d to the device");
            all[2] = DeviceBuffer.device(p * Float.BYTES);
            all[3] = DeviceBuffer.device(n * Float.BYTES);
            all[4] = DeviceBuffer.device((long) blockStarts.length * Long.BYTES);
            try (LongPointer hostStarts = new LongPointer(blockStarts)) {
                all[4].copyFromHost(hostStarts, (long) blockStarts.length * Long.BYTES, "copying the block starts");
            }
            all[5] = DeviceBuffer.device(Double.BYTES);
            all[6] = DeviceBuffer.device(n * Double.BYTES);
            all[7] = DeviceBuffer.device(DeviceMemoryPlan.productPartialBytes(n) / 2);
            all[8] = DeviceBuffer.device(DeviceMemoryPlan.blockGramScratchBytes(n, blocks) / 2);
            try (PointerPointer<?> created = new PointerPointer<>(1)) {
                check(FalconCuda.fcu_stream_create(created), "cudaStreamCreate");
                s = created.get(0);
            }
            blasCheck(cublas.cublasCreate_v2(blas), "cublasCreate");
            blasCheck(cublas.cublasSetStream_v2(blas, new CUstream_st(s)), "cublasSetStream");
            long[] shared = {0};
            check(FalconCuda.fcu_max_shared_bytes(shared), "cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)");
            sharedBytes = shared[0];
        } catch (RuntimeException | Error e) {
            for (DeviceBuffer b : all) {
                if (b != null) b.close();
            }
            if (s != null) FalconCuda.fcu_stream_destroy(s);
            if (!blas.isNull()) cublas.cublasDestroy_v2(blas);
            throw e;
        }
        x = all[0];
        d = all[1];
        out = all[2];
        u = all[3];
        starts = all[4];
        sum = all[5];
        acc = all[6];
        partial = all[7];
        treeScratch = all[8];
        stream = s;
    }

    public long bytesOfX() { return n * p * Float.BYTES; }

    /** One streaming read of X on the device (the floor of every product): the sum of its elements. */
    public double readSum() {
        checkOpen();
        check(FalconCuda.fcu_read_sum(x.floats(0), n * p, sum.doubles(0), stream), "read kernel");
        check(FalconCuda.fcu_stream_sync(stream), "cudaStreamSynchronize");
        try (DoublePointer host = new DoublePointer(1)) {
            sum.copyToHost(host, Double.BYTES, "copy to host");
            return host.get(0);
        }
    }

    /** out = X_B^T (X_B d_B) for every block, by {@code kernel}. */
    public void blockProduct(BlockGramKernel kernel) {
        checkOpen();
        // the backend falls back to tree here; a benchmark or test that named its kernel must not time another one
        if (kernel.sumsSharedBytes(n) > sharedBytes) {
            throw new IllegalArgumentException("block product kernel " + kernel.id() + " keeps " + kernel.sumsSharedBytes(n)
                    + " bytes of sums in shared memory at n = " + n + ", more than the device's " + sharedBytes
                    + " bytes: use " + BlockGramKernel.TREE.id() + " for this X");
        }
        long grid = DeviceMemoryPlan.blockGramGrid(blocks);
        check(kernel.launch(x.floats(0), n, starts.pointer(), blocks, d.floats(0), out.floats(0), treeScratch.doubles(0),
                (int) grid, sharedBytes, stream), "block product kernel (" + kernel.id() + ")");
        check(FalconCuda.fcu_stream_sync(stream), "cudaStreamSynchronize");
    }

    /** out = X^T (X d) as the cuda backend's two passes: falcon's X v kernel (sums in double), then cuBLAS sgemv. */
    public void twoProducts() {
        checkOpen();
        check(FalconCuda.fcu_gemv_n_accumulate(x.floats(0), n, p, d.floats(0), partial.doubles(0), acc.doubles(0), 1, stream),
                "product kernel");
        check(FalconCuda.fcu_sum_to_float(acc.doubles(0), null, n, u.floats(0), stream), "product kernel");
        int rows = Math.toIntExact(n);
        long perCall = Integer.MAX_VALUE / n;
        try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f)) {
            for (long c0 = 0; c0 < p; c0 += perCall) {
                long c1 = Math.min(p, c0 + perCall);
                blasCheck(cublas.cublasSgemv_v2(blas, cublas.CUBLAS_OP_T, rows, Math.toIntExact(c1 - c0), one, x.floats(c0 * n),
                        rows, u.floats(0), 1, zero, out.floats(c0), 1), "cublasSgemv");
            }
        }
        check(FalconCuda.fcu_stream_sync(stream), "cudaStreamSynchronize");
    }

    /** The last product's result (p floats) into {@code hostOut}, from its position. */
    public void copyOut(FloatPointer hostOut) {
        checkOpen();
        out.copyToHost(hostOut, p * Float.BYTES, "copy to host");
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("ResidentProducts is closed");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cublas.cublasDestroy_v2(blas);
        FalconCuda.fcu_stream_destroy(stream);
        for (DeviceBuffer b : new DeviceBuffer[] {x, d, out, u, starts, sum, acc, partial, treeScratch}) b.close();
    }
}
