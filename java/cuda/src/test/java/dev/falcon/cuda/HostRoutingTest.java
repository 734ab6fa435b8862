package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.data.HostMatrix;
import org.junit.jupiter.api.Test;

/** Which matrices the cuda backend sends to the host backend rather than evict the resident X. */
class HostRoutingTest {
    @Test
    void aSmallerMatrixRunsOnTheHostWhileTheResidentXIsOpen() {
        try (HostMatrix resident = HostMatrix.allocate(33, 257); HostMatrix smaller = HostMatrix.allocate(5, 3);
             HostMatrix larger = HostMatrix.allocate(100, 2003)) {
            assertTrue(CudaBackend.runsOnHost(smaller, resident, true));
            assertFalse(CudaBackend.runsOnHost(resident, resident, true));
            assertFalse(CudaBackend.runsOnHost(larger, resident, true));
            assertFalse(CudaBackend.runsOnHost(smaller, null, true));
        }
        try (HostMatrix smaller = HostMatrix.allocate(5, 3)) {
            HostMatrix closed = HostMatrix.allocate(33, 257);
            closed.close();
            assertFalse(CudaBackend.runsOnHost(smaller, closed, true));
        }
    }

    /** The contract suite's setting: a test of the device's answers must get them from the device for every matrix. */
    @Test
    void withoutRoutingEveryMatrixRunsOnTheDevice() {
        try (HostMatrix resident = HostMatrix.allocate(33, 257); HostMatrix smaller = HostMatrix.allocate(5, 3)) {
            assertFalse(CudaBackend.runsOnHost(smaller, resident, false));
        }
    }
}
