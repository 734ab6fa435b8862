package dev.falcon.cuda;

import dev.falcon.cuda.nativelib.FalconCuda;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/** Device memory (cudaMalloc) or pinned host memory (cudaMallocHost), freed exactly once by {@link #close()}. */
final class DeviceBuffer implements AutoCloseable {
    private final Pointer address;
    private final long bytes;
    private final boolean pinnedHost;
    private boolean closed;

    private DeviceBuffer(Pointer address, long bytes, boolean pinnedHost) {
        this.address = address;
        this.bytes = bytes;
        this.pinnedHost = pinnedHost;
    }

    /** Device memory; throws {@link CudaNative.DeviceMemoryException} when the device is full. */
    static DeviceBuffer device(long bytes) {
        try (PointerPointer<?> out = new PointerPointer<>(1)) {
            CudaNative.check(FalconCuda.fcu_malloc(out, bytes), "cudaMalloc of " + bytes + " bytes");
            return new DeviceBuffer(out.get(0), bytes, false);
        }
    }

    /** Page-locked host memory, for copies that overlap compute. */
    static DeviceBuffer pinnedHost(long bytes) {
        try (PointerPointer<?> out = new PointerPointer<>(1)) {
            CudaNative.checkPinnedAllocation(FalconCuda.fcu_malloc_host(out, bytes), bytes);
            return new DeviceBuffer(out.get(0), bytes, true);
        }
    }

    long bytes() { return bytes; }

    Pointer pointer() { return address; }

    FloatPointer floats(long offset) { return new FloatPointer(address).position(offset); }

    DoublePointer doubles(long offset) { return new DoublePointer(address).position(offset); }

    IntPointer ints(long offset) { return new IntPointer(address).position(offset); }

    LongPointer longs(long offset) { return new LongPointer(address).position(offset); }

    /**
     * Copies {@code bytes} from host memory at {@code host} (from its position, as its typed element) to the start of this
     * buffer. Every host-to-device copy goes through here: fcu_copy takes void*, for which JavaCPP would offset a
     * positioned typed pointer by its position in bytes, not elements.
     */
    void copyFromHost(Pointer host, long bytes, String what) {
        if (bytes > 0) CudaNative.check(FalconCuda.fcu_copy(address, CudaBackend.absolute(host), bytes), what);
    }

    /** As {@link #copyFromHost}, the other way: {@code bytes} from the start of this buffer to {@code host}. */
    void copyToHost(Pointer host, long bytes, String what) {
        if (bytes > 0) CudaNative.check(FalconCuda.fcu_copy(CudaBackend.absolute(host), address, bytes), what);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        int err = pinnedHost ? FalconCuda.fcu_free_host(address) : FalconCuda.fcu_free(address);
        if (err != 0) System.getLogger(DeviceBuffer.class.getName()).log(System.Logger.Level.WARNING,
                "freeing " + bytes + " bytes failed: CUDA error " + err);
    }
}
