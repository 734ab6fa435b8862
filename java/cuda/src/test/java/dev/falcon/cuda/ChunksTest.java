package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** How streamed (and resident) X is cut into column chunks, on the CPU. */
class ChunksTest {
    private static String show(List<long[]> chunks) {
        return chunks.stream().map(c -> c[0] + "-" + c[1]).collect(Collectors.joining(" "));
    }

    @Test
    void plainChunksCoverEveryColumnOnce() {
        assertEquals("0-4 4-8 8-10", show(CudaBackend.chunks(10, 4, null, false)));
        assertEquals("0-10", show(CudaBackend.chunks(10, 10, null, false)));
        assertEquals("0-10", show(CudaBackend.chunks(10, 100, null, false)));
        assertEquals("", show(CudaBackend.chunks(0, 4, null, false)));
    }

    @Test
    void blockChunksEndOnBlockStartsAndTakeWholeBlocks() {
        long[] starts = {0, 3, 5, 9, 10, 16};
        assertEquals("0-5 5-10 10-16", show(CudaBackend.chunks(16, 6, starts, false)));
        assertEquals("0-3 3-5 5-9 9-10 10-16", show(CudaBackend.chunks(16, 3, starts, true)));
        assertEquals("0-16", show(CudaBackend.chunks(16, 16, starts, false)));
    }

    @Test
    void aBlockWiderThanAStreamedChunkIsAClearError() {
        long[] starts = {0, 2, 12};
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaBackend.chunks(12, 4, starts, false));
        assertTrue(e.getMessage().contains("block of 10 columns"), e.getMessage());
        assertEquals("0-2 2-12", show(CudaBackend.chunks(12, 4, starts, true)));
    }

    /** What decides that a streamed block product goes to the host backend rather than fail in chunks(). */
    @Test
    void widestBlockIsTheLargestGapBetweenStarts() {
        assertEquals(10, CudaBackend.widestBlock(new long[] {0, 2, 12}));
        assertEquals(6, CudaBackend.widestBlock(new long[] {0, 3, 5, 9, 10, 16}));
        assertEquals(1, CudaBackend.widestBlock(new long[] {0, 1}));
        long[] starts = {0, 2, 12};
        long chunkColumns = 4;
        assertTrue(CudaBackend.widestBlock(starts) > chunkColumns);
        assertThrows(IllegalStateException.class, () -> CudaBackend.chunks(12, chunkColumns, starts, false));
    }
}
