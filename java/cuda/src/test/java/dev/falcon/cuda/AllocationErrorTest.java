package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.BackendMemoryException;
import org.junit.jupiter.api.Test;

/** What a failed allocation says, on the CPU (the failure paths call no CUDA function). */
class AllocationErrorTest {
    @Test
    void aFailedPinnedAllocationBlamesHostMemoryNotTheDevice() {
        CudaNative.DeviceMemoryException e = assertThrows(CudaNative.DeviceMemoryException.class,
                () -> CudaNative.checkPinnedAllocation(CudaNative.MEMORY_ALLOCATION, 268_435_456L));
        assertTrue(e.getMessage().contains("cudaMallocHost of 268435456 bytes"), e.getMessage());
        assertTrue(e.getMessage().contains("page-locked host memory"), e.getMessage());
        assertTrue(!e.getMessage().contains("device memory"), e.getMessage());
    }

    @Test
    void aFailedDeviceAllocationNamesItsSize() {
        CudaNative.DeviceMemoryException e = assertThrows(CudaNative.DeviceMemoryException.class,
                () -> CudaNative.check(CudaNative.MEMORY_ALLOCATION, "cudaMalloc of 1024 bytes"));
        assertTrue(e.getMessage().startsWith("cudaMalloc of 1024 bytes: out of device memory"), e.getMessage());
        assertInstanceOf(BackendMemoryException.class, e, "what the CLI reports as a run that does not fit, not a bug");
    }

    @Test
    void successIsSilent() {
        CudaNative.checkPinnedAllocation(0, 1);
        CudaNative.check(0, "nothing");
    }
}
