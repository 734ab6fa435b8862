package dev.falcon.cuda;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The host-side calls the cuda backend and its CPU stand-in (cuda-logic-cpu) both hand to a host backend: loading X,
 * allocating (in the host's memory, as the host allocates), the finiteness scan and the uniform fill. Each checks the device-side backend first: the host's refusal
 * after close named the host ("java backend was closed" from cuda-logic-cpu), and the defaults of allocate and
 * floatVector were not refused at all. X is column-major on both, whatever blocks a caller asks for.
 */
abstract class HostSideCalls implements ComputeBackend {
    /** The backend that loads and holds X in host memory for this one. */
    abstract ComputeBackend host();

    /** Throws {@link IllegalStateException} naming this backend once it is closed. */
    abstract void checkOpen();

    @Override
    public HostMatrix load(RawMatrixSource source) throws IOException {
        checkOpen();
        return host().load(source);
    }

    /** Column-major whatever the blocks, as {@link #load}: these backends refuse panels. */
    @Override
    public HostMatrix loadCopy(RawMatrixSource source, long[] blockStarts) throws IOException {
        checkOpen();
        HostMatrix.requireShape(source.rows(), source.cols(), blockStarts); // the blocks are not used, but bad ones are refused as everywhere
        return host().loadCopy(source, null);
    }

    /** Column-major whatever the blocks, as {@link #load}; the host's, so the cpu host's huge pages apply. */
    @Override
    public HostMatrix allocate(long rows, long cols, long[] blockStarts) {
        checkOpen();
        HostMatrix.requireShape(rows, cols, blockStarts); // the blocks are not used, but bad ones are refused as everywhere
        return host().allocate(rows, cols, null);
    }

    @Override
    public FloatPointer floatVector(long length) {
        checkOpen();
        // here too, not only in the host: a host of another kind would reach JavaCPP with the length unchecked
        dev.falcon.data.PointerExtent.requireFloatCount(length, "floatVector");
        return host().floatVector(length);
    }

    @Override
    public long firstNonFinite(HostMatrix x) {
        checkOpen();
        return host().firstNonFinite(x);
    }

    @Override
    public void fillUniform(FloatPointer dst, long count, long seed, float scale) {
        checkOpen();
        host().fillUniform(dst, count, seed, scale);
    }
}
