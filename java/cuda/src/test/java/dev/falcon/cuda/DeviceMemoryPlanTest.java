package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.cuda.DeviceMemoryPlan.Mode;
import org.junit.jupiter.api.Test;

/** The planning arithmetic, on the CPU. */
class DeviceMemoryPlanTest {
    private static final long GIB = 1L << 30;

    @Test
    void smallMatrixIsResident() {
        DeviceMemoryPlan p = DeviceMemoryPlan.plan(128, 1_000_000, 80 * GIB);
        assertEquals(Mode.RESIDENT, p.mode());
        assertEquals(128L * 1_000_000 * 4, p.chunkBytes());
        assertEquals(p.p(), p.chunkColumns());
        assertTrue(p.describe().startsWith("X resident"), p.describe());
    }

    @Test
    void workingSetCountsVectorsSortFactorAndScratch() {
        long n = 100, p = 10_000;
        long expected = 4 * p * 4 + p * (4 + 4 + 4 + 8 + 8) + 3 * n * n * 8 + Math.min(4096, p) * n * 8;
        assertEquals(expected, DeviceMemoryPlan.workBytes(n, p));
    }

    @Test
    void residentBoundaryIsExact() {
        long n = 64, p = 100_000;
        long need = n * p * 4 + DeviceMemoryPlan.workBytes(n, p);
        // usable = free * 0.9 - 256 MiB; find the smallest free that makes it resident
        long free = (long) Math.ceil((need + DeviceMemoryPlan.RESERVE_BYTES) / 0.9) + 16;
        assertEquals(Mode.RESIDENT, DeviceMemoryPlan.plan(n, p, free).mode());
        assertEquals(Mode.STREAMED, DeviceMemoryPlan.plan(n, p, free - (1 << 20)).mode());
    }

    @Test
    void largeMatrixIsStreamedInBoundedChunks() {
        long n = 1024, p = 50_000_000; // 190 GiB of X
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, 80 * GIB);
        assertEquals(Mode.STREAMED, plan.mode());
        assertTrue(plan.chunkBytes() <= DeviceMemoryPlan.MAX_CHUNK_BYTES, plan.describe());
        assertEquals(plan.chunkColumns() * n * 4, plan.chunkBytes());
        assertTrue(plan.chunkColumns() >= 1);
        // two device chunks + their Gram widening fit next to the working set
        long used = plan.workBytes() + plan.chunkColumns() * (2 * n * 4 + 4 * n * 8);
        assertTrue(used <= 80 * GIB * 0.9 - DeviceMemoryPlan.RESERVE_BYTES, plan.describe());
        assertTrue(plan.describe().contains("2 pinned buffers, 2 streams"), plan.describe());
    }

    @Test
    void tightMemoryGivesSmallChunks() {
        long n = 256, p = 10_000_000;
        long work = DeviceMemoryPlan.workBytes(n, p);
        long free = (long) ((work + DeviceMemoryPlan.RESERVE_BYTES + 10L * (2 * n * 4 + 4 * n * 8)) / 0.9) + 1024;
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, free);
        assertEquals(Mode.STREAMED, plan.mode());
        assertEquals(10, plan.chunkColumns());
    }

    @Test
    void noRoomIsAClearErrorNotACrash() {
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(4096, 100_000_000, 1 * GIB);
        assertEquals(Mode.TOO_LARGE, plan.mode());
        assertTrue(plan.describe().startsWith("out of device memory"), plan.describe());
    }

    @Test
    void failedResidentAllocationPlansStreaming() {
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(128, 1_000_000, 80 * GIB, false);
        assertEquals(Mode.STREAMED, plan.mode());
    }
}
