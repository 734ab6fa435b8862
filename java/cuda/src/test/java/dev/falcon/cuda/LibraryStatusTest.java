package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What a failed cuBLAS or cuSOLVER call says, on the CPU (the checks load neither library). */
class LibraryStatusTest {
    @Test
    void aFailedCublasCallNamesItsStatus() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaBackend.blasCheck(7, "cublasSgemv"));
        assertTrue(e.getMessage().startsWith("cublasSgemv failed: cuBLAS status 7 (CUBLAS_STATUS_INVALID_VALUE)"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> CudaBackend.blasCheck(13, "cublasDsyrk"));
        assertTrue(e.getMessage().contains("CUBLAS_STATUS_EXECUTION_FAILED"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> CudaBackend.blasCheck(12345, "cublasDaxpy"));
        assertTrue(e.getMessage().contains("status 12345 (unknown cuBLAS status)"), e.getMessage());
    }

    @Test
    void aFailedCusolverCallNamesItsStatus() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaBackend.solverCheck(3, "cusolverDnDpotrf"));
        assertTrue(e.getMessage().startsWith("cusolverDnDpotrf failed: cuSOLVER status 3 (CUSOLVER_STATUS_INVALID_VALUE)"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> CudaBackend.solverCheck(6, "cusolverDnDpotrs"));
        assertTrue(e.getMessage().contains("CUSOLVER_STATUS_EXECUTION_FAILED"), e.getMessage());
    }

    @Test
    void outOfDeviceMemoryIsTheFallBackException() {
        assertThrows(CudaNative.DeviceMemoryException.class, () -> CudaBackend.blasCheck(3, "cublasCreate"));
        assertThrows(CudaNative.DeviceMemoryException.class, () -> CudaBackend.solverCheck(2, "cusolverDnCreate"));
        CudaBackend.blasCheck(0, "nothing");
        CudaBackend.solverCheck(0, "nothing");
    }
}
