package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.cuda.DeviceMemoryPlan.Mode;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The test hook that streams a test's X on a device with memory to spare ({@link PlannedFreeBytes#streamingIn}), as
 * {@link CudaBackend#plan} applies it: on the CPU, as the plan is arithmetic. CudaStreamedContractTest (tag gpu) runs
 * the backend so planned.
 */
class PlannedFreeBytesTest {
    private static final long GIB = 1L << 30;
    /** An H100's free memory: every shape of the contract is resident there. */
    private static final long H100_FREE = 79 * GIB;
    /** The contract's shapes (n, p): ComputeBackendContract.SHAPES, and resultsAreDeterministicAcrossCalls' X. */
    private static final int[][] SHAPES = {{1, 1}, {1, 37}, {5, 3}, {17, 1001}, {64, 515}, {100, 2003}, {33, 257}, {64, 4099}};

    /** What multiply holds when it plans X: v, the two accumulators and their slices' partial sums. */
    private static Map<String, Long> heldByMultiply(long n, long p) {
        return Map.of("v", p * Float.BYTES, "productAcc", 2 * n * Double.BYTES,
                "productPartial", DeviceMemoryPlan.productPartialBytes(n));
    }

    @Test
    void withoutTheHookEveryContractShapeIsResidentSoNoTestReachedTheStreamedPath() {
        for (int[] s : SHAPES) {
            DeviceMemoryPlan plan = CudaBackend.plan(s[0], s[1], H100_FREE, Map.of(), true, PlannedFreeBytes.REPORTED);
            assertEquals(Mode.RESIDENT, plan.mode(), plan.describe());
        }
    }

    @Test
    void theHookStreamsEveryXWiderThanTwoChunksInChunksOfTheGivenWidth() {
        for (long chunk : new long[] {1, 5, 64}) {
            PlannedFreeBytes hook = PlannedFreeBytes.streamingIn(chunk);
            for (int[] s : SHAPES) {
                long n = s[0], p = s[1];
                for (Map<String, Long> held : List.of(Map.<String, Long>of(), heldByMultiply(n, p))) {
                    for (boolean allowResident : new boolean[] {true, false}) {
                        DeviceMemoryPlan plan = CudaBackend.plan(n, p, H100_FREE, held, allowResident, hook);
                        String what = n + "x" + p + ", chunks of " + chunk + ", held " + held.keySet() + ": " + plan.describe();
                        if (p <= 2 * chunk && allowResident) { // two chunk buffers are room enough for all of X
                            assertEquals(Mode.RESIDENT, plan.mode(), what);
                            continue;
                        }
                        assertEquals(Mode.STREAMED, plan.mode(), what);
                        assertEquals(Math.min(chunk, p), plan.chunkColumns(), what);
                        assertEquals(plan.chunkColumns() * n * Float.BYTES, plan.chunkBytes(), what);
                        // the least room that does it: a byte less and the chunks are a column narrower (or X no longer fits)
                        long free = plan.freeBytes();
                        DeviceMemoryPlan tighter = DeviceMemoryPlan.plan(n, p, free - 1,
                                DeviceMemoryPlan.reusableHeldBytes(n, p, held), allowResident);
                        assertTrue(tighter.mode() == Mode.TOO_LARGE || tighter.chunkColumns() < chunk || chunk > p, what);
                    }
                }
            }
        }
    }

    /** Chunks of 5 columns cut at block starts: blocks of 2 give chunks of 4, the block [4, 6) would straddle column 5. */
    @Test
    void streamedChunksOfFiveColumnsHoldWholeBlocks() {
        DeviceMemoryPlan plan = CudaBackend.plan(17, 12, H100_FREE, Map.of(), true, PlannedFreeBytes.streamingIn(5));
        assertEquals(Mode.STREAMED, plan.mode(), plan.describe());
        long[] starts = {0, 2, 4, 6, 8, 10, 12};
        String chunks = CudaBackend.chunks(12, plan.chunkColumns(), starts, false).stream()
                .map(c -> c[0] + "-" + c[1]).collect(Collectors.joining(" "));
        assertEquals("0-4 4-8 8-12", chunks);
        // a block of 7 columns is wider than a chunk: blockGramProduct sends it to the host backend
        assertTrue(CudaBackend.widestBlock(new long[] {0, 7, 12}) > plan.chunkColumns());
    }

    /** The hook lowers the free memory only: a device with less free than the hook's room plans as it would without it. */
    @Test
    void theHookNeverPlansWithMoreThanTheDeviceReports() {
        long n = 100, p = 2003;
        long little = DeviceMemoryPlan.freeBytesStreamingIn(n, p, 5, 0) / 2;
        assertEquals(DeviceMemoryPlan.plan(n, p, little, 0, true),
                CudaBackend.plan(n, p, little, Map.of(), true, PlannedFreeBytes.streamingIn(5)));
    }

    @Test
    void aChunkOfNoColumnsIsRefusedWhenTheHookIsMade() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PlannedFreeBytes.streamingIn(0));
        assertTrue(e.getMessage().contains("chunkColumns must be at least 1, got 0"), e.getMessage());
    }
}
