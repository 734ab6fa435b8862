package dev.falcon.cpu;

import dev.falcon.data.RefusedAllocateTest;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * The cpu backend passes the embedder's block boundaries to {@code HostMatrix.allocate}: boundaries it refuses must
 * leave no block allocated (each refusal kept its n p 4 bytes, with no matrix for the caller to close).
 */
class CpuRefusedAllocateTest {
    @Test
    void refusedBlockStartsAllocateNothing() throws IOException {
        try (CpuBackend backend = (CpuBackend) new CpuBackendProvider().create(1)) {
            RefusedAllocateTest.assertTenRefusalsKeepNoBlock(
                    () -> backend.allocate(RefusedAllocateTest.ROWS, RefusedAllocateTest.COLS, new long[] {0, 3}));
        }
    }
}
