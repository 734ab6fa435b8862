package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.BackendMemoryException;
import dev.falcon.cuda.DeviceMemoryPlan.Mode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
        long expected = 4 * p * 4 + 2 * n * 4 + 2 * n * 8 + p * (4 + 4 + 4 + 8 + 8) + p * (8 + 4) + 2 * 5 * 8 + 4 * n * n * 8
                + 2 * Math.min(4096, p) * n * 8 + DeviceMemoryPlan.gramWideBytes(n, p) + p * (n * 4 + 4) + 2 * 4096 * n * 8
                + n * 8 + p * 8;
        assertEquals(expected, DeviceMemoryPlan.workBytes(n, p));
    }

    /** The plan's working set holds every buffer the backend allocates next to resident X, sized as the backend sizes it. */
    @Test
    void workingSetCoversTheBackendsBuffers() {
        for (long[] shape : new long[][] {{500, 25_502_912}, {1000, 268_336}, {64, 1000}, {1024, 50}}) {
            long n = shape[0], p = shape[1];
            long vectors = 4 * p * Float.BYTES + 2 * n * Float.BYTES;          // d, out, v, w; u, X v
            long doubleTransposed = n * Double.BYTES + p * Double.BYTES;      // X^T u in double: u and the result
            long product = 2 * n * Double.BYTES + DeviceMemoryPlan.productPartialBytes(n); // accumulators, partial sums
            long sort = p * (Float.BYTES * 2 + Integer.BYTES + Double.BYTES + Long.BYTES)
                    + 2 * ((p + DeviceMemoryPlan.SCAN_TILE - 1) / DeviceMemoryPlan.SCAN_TILE) * Double.BYTES; // the scan: a tail and a carry per tile
            long gramPerStream = 2 * n * n * Double.BYTES;
            long factorAndSolve = 2 * n * n * Double.BYTES;                     // potrf's matrix, potrs with n right-hand sides
            long blockScratch = DeviceMemoryPlan.blockGramScratchBytes(n, p);  // at most p blocks
            long wide = DeviceMemoryPlan.gramWideBytes(n, p);
            long gather = DeviceMemoryPlan.gatherChunkColumns(n, p) * (n * Float.BYTES + Integer.BYTES); // any k <= p
            long buffers = vectors + doubleTransposed + product + sort + gramPerStream + factorAndSolve + blockScratch + wide + gather;
            assertTrue(DeviceMemoryPlan.workBytes(n, p) >= buffers,
                    "n " + n + ", p " + p + ": working set " + DeviceMemoryPlan.workBytes(n, p) + " < buffers " + buffers);
        }
    }

    /**
     * cuBLAS's and cuSOLVER's 32-bit API does not promise offsets beyond 2^31 elements inside one call: an n x n Gram or
     * factor of more than 46,340 rows is refused before any of its work, naming the rows, the limit and the ways round it.
     */
    @Test
    void denseSystemsOfMoreThan46340RowsAreRefusedNamingTheFixes() {
        assertEquals(46_340, DeviceMemoryPlan.MAX_DENSE_SYSTEM_ROWS);
        assertTrue((long) DeviceMemoryPlan.MAX_DENSE_SYSTEM_ROWS * DeviceMemoryPlan.MAX_DENSE_SYSTEM_ROWS <= Integer.MAX_VALUE);
        assertTrue((long) (DeviceMemoryPlan.MAX_DENSE_SYSTEM_ROWS + 1) * (DeviceMemoryPlan.MAX_DENSE_SYSTEM_ROWS + 1) > Integer.MAX_VALUE);
        for (int rows : new int[] {0, 1, 46_340}) DeviceMemoryPlan.requireDenseSystemRows("weightedGram", rows);
        for (int rows : new int[] {46_341, 100_000, Integer.MAX_VALUE}) {
            BackendMemoryException e = assertThrows(BackendMemoryException.class,
                    () -> DeviceMemoryPlan.requireDenseSystemRows("choleskyFactor", rows));
            String m = e.getMessage();
            for (String named : new String[] {"choleskyFactor", rows + " rows", "46,340", "--backsolve block", "--device cpu", "fewer rows"}) {
                assertTrue(m.contains(named), "'" + named + "' in: " + m);
            }
        }
    }

    @Test
    void gatherPassesAreBoundedWhateverTheActiveSet() {
        long n = 500, k = 5_000_000; // 20% of ResNet50's columns: 10 GB if gathered in one device buffer
        long perPass = DeviceMemoryPlan.gatherChunkColumns(n, k);
        assertTrue(perPass * n * Float.BYTES <= DeviceMemoryPlan.MAX_CHUNK_BYTES, "columns per pass " + perPass);
        assertEquals(k, CudaBackend.chunks(k, perPass, null, false).stream().mapToLong(c -> c[1] - c[0]).sum());
        assertEquals(7, DeviceMemoryPlan.gatherChunkColumns(n, 7));
        assertEquals(1, DeviceMemoryPlan.gatherChunkColumns(100_000_000, 7)); // a column wider than a pass still goes alone
    }

    @Test
    void blockScratchHasOneSlicePerGridBlockAndStream() {
        assertEquals(2 * 3 * 100 * 8, DeviceMemoryPlan.blockGramScratchBytes(100, 3));
        assertEquals(2 * 4096 * 100 * 8, DeviceMemoryPlan.blockGramScratchBytes(100, 1_000_000));
        assertEquals(4096, DeviceMemoryPlan.blockGramGrid(1_000_000));
    }

    /** FALCON.md's scale: ResNet50 at n = 500 (51 GB of X) must stay resident on one 80 GB GPU with the full working set. */
    @Test
    void resnet50AtN500StaysResidentOnAn80GBDevice() {
        long free = 79L * GIB; // an 80 GB device after its CUDA context
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(500, 25_502_912, free);
        assertEquals(Mode.RESIDENT, plan.mode(), plan.describe());
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

    /**
     * The backend's own scratch (a selection's sort keeps 28 bytes per weight, a product's v 4 more) is out of
     * cudaMemGetInfo's free memory when the backend plans X, and the working set counts it again. Credited back, ResNet50
     * at n = 720 stays resident on a 79 GiB device, as with nothing allocated yet; planned on the free memory alone (as
     * before the credit) it was streamed.
     */
    @Test
    void scratchAlreadyHeldIsNotCountedTwice() {
        long n = 720, p = 25_502_912, free = 79 * GIB;
        long held = p * (4 + 4 + 4 + 8 + 8 + 4);
        assertEquals(Mode.RESIDENT, DeviceMemoryPlan.plan(n, p, free).mode());
        DeviceMemoryPlan seen = DeviceMemoryPlan.plan(n, p, free - held, held, true);
        assertEquals(Mode.RESIDENT, seen.mode(), seen.describe());
        assertEquals(held, seen.heldWorkBytes());
        assertTrue(seen.describe().contains("MiB of the working set already allocated"), seen.describe());
        assertEquals(Mode.STREAMED, DeviceMemoryPlan.plan(n, p, free - held).mode(), "the free memory alone");
        assertEquals(Mode.STREAMED, DeviceMemoryPlan.plan(n, p, free - held, held, false).mode(), "after a failed allocation");
    }

    /** The resident boundary moves by exactly the held bytes, and no more than the working set can be credited. */
    @Test
    void heldScratchMovesTheResidentBoundaryByItsSizeUpToTheWorkingSet() {
        long n = 64, p = 100_000;
        long work = DeviceMemoryPlan.workBytes(n, p), held = work / 2;
        long need = n * p * 4 + work;
        long free = (long) Math.ceil((need + DeviceMemoryPlan.RESERVE_BYTES) / 0.9) + 16;
        assertEquals(Mode.RESIDENT, DeviceMemoryPlan.plan(n, p, free - held, held, true).mode());
        assertEquals(Mode.STREAMED, DeviceMemoryPlan.plan(n, p, free - held - (1 << 20), held, true).mode());
        DeviceMemoryPlan capped = DeviceMemoryPlan.plan(n, p, free - work - (1 << 20), 100 * GIB, true);
        assertEquals(work, capped.heldWorkBytes());
        assertEquals(Mode.STREAMED, capped.mode(), capped.describe());
        assertEquals(0, DeviceMemoryPlan.plan(n, p, free).heldWorkBytes());
    }

    /** The sort's buffers a selection keeps, by CudaBackend's keys, for p weights (28 bytes per weight). */
    private static Map<String, Long> sortBuffersOf(long p) {
        return Map.of("scores", p * 4, "sorted", p * 4, "index", p * 4, "prefix", p * 8, "keys", p * 8);
    }

    /** The device bytes a resident run of X must still allocate: X, and each working-set buffer beyond what is held of it. */
    private static long newBytesOfAResidentRun(long n, long p, Map<String, Long> held) {
        long bytes = n * p * 4 + DeviceMemoryPlan.radixAlternateBytes(p);
        for (Map.Entry<String, Long> need : DeviceMemoryPlan.workingSetBuffers(n, p).entrySet()) {
            bytes += Math.max(0, need.getValue() - held.getOrDefault(need.getKey(), 0L));
        }
        return bytes;
    }

    /**
     * A backend reused for a second X holds the sort buffers of an earlier selection over p = 50M (1.3 GiB). The next X
     * (n = 8192, p = 100k) needs 2 GiB of n x n Gram and factor that nothing holds: the held sort buffers spare only this
     * X's own sort buffers (2.7 MiB). Credited as a sum, they planned X resident on 6,500 MiB free although the run had
     * 6,584 MiB to allocate; credited per buffer, X is streamed.
     */
    @Test
    void heldScratchOfAnEarlierXIsCreditedOnlyForTheBuffersThisXReuses() {
        long mib = 1L << 20, free = 6_500 * mib;
        long n = 8192, p = 100_000;
        Map<String, Long> held = sortBuffersOf(50_000_000);
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, free, held, true);
        assertEquals(Mode.STREAMED, plan.mode(), plan.describe());
        assertEquals(p * 28, DeviceMemoryPlan.reusableHeldBytes(n, p, held));
        assertEquals(p * 28, plan.heldWorkBytes(), plan.describe());
        assertTrue(newBytesOfAResidentRun(n, p, held) > free, "the case of the review: a resident run would not fit");
    }

    /** Whenever the plan says resident, what the run still allocates fits in the plan's share of the free memory. */
    @Test
    void aResidentPlanNeverCountsOnBytesItsHeldBuffersDoNotSpare() {
        long mib = 1L << 20;
        List<Map<String, Long>> helds = List.of(Map.of(), sortBuffersOf(50_000_000), sortBuffersOf(1_000),
                Map.of("gram", 2L * 4096 * 4096 * 8, "chol", 4096L * 4096 * 8, "info", 4L, "cholWork", 64 * mib),
                Map.of("v", 400L, "out", 40_000_000L, "d", 400_000_000L));
        for (long[] shape : new long[][] {{8192, 100_000}, {64, 1_000_000}, {1024, 5_000_000}, {4096, 20_000}}) {
            long n = shape[0], p = shape[1];
            for (Map<String, Long> held : helds) {
                for (long free = 0; free <= 80L * 1024 * mib; free += 97 * mib) {
                    DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, free, held, true);
                    if (plan.mode() != Mode.RESIDENT) continue;
                    long usable = (long) (free * (1 - DeviceMemoryPlan.RESERVE_FRACTION)) - DeviceMemoryPlan.RESERVE_BYTES;
                    assertTrue(newBytesOfAResidentRun(n, p, held) <= usable, plan.describe() + ", held " + held);
                }
            }
        }
    }

    /** Held buffers of the same X are still credited in full (the case of scratchAlreadyHeldIsNotCountedTwice, by key). */
    @Test
    void heldScratchOfTheSameXIsCreditedByKey() {
        long n = 720, p = 25_502_912, free = 79 * GIB;
        Map<String, Long> held = new java.util.HashMap<>(sortBuffersOf(p));
        held.put("v", p * 4);
        long heldBytes = p * (4 + 4 + 4 + 8 + 8 + 4);
        DeviceMemoryPlan seen = DeviceMemoryPlan.plan(n, p, free - heldBytes, held, true);
        assertEquals(Mode.RESIDENT, seen.mode(), seen.describe());
        assertEquals(heldBytes, seen.heldWorkBytes());
        assertEquals(Mode.STREAMED, DeviceMemoryPlan.plan(n, p, free - heldBytes, Map.of(), true).mode(), "nothing credited");
        // buffers outside the working set (a few bytes per segment, cuSOLVER's workspace) are left to the reserve
        assertEquals(0, DeviceMemoryPlan.reusableHeldBytes(n, p, Map.of("segStarts", 80L, "cholWork", 1L << 26, "info", 8L)));
    }

    /** The working set's per-buffer sizes add up to workBytes, under the keys CudaBackend gives its scratch buffers. */
    @Test
    void workingSetBuffersAreTheBackendsScratchKeys() throws java.io.IOException {
        for (long[] shape : new long[][] {{100, 10_000}, {8192, 100_000}, {1, 7}}) {
            long n = shape[0], p = shape[1];
            long sum = DeviceMemoryPlan.radixAlternateBytes(p);
            for (long b : DeviceMemoryPlan.workingSetBuffers(n, p).values()) sum += b;
            assertEquals(DeviceMemoryPlan.workBytes(n, p), sum, "n " + n + ", p " + p);
        }
        String source = Files.readString(Path.of("src/main/java/dev/falcon/cuda/CudaBackend.java"));
        Set<String> used = new TreeSet<>();
        Matcher m = Pattern.compile("(?:buffer|upload)\\(\"(\\w+)\"").matcher(source);
        while (m.find()) used.add(m.group(1));
        Set<String> outside = Set.of("starts", "segStarts", "thresholds", "counts", "info", "cholWork");
        Set<String> planned = DeviceMemoryPlan.workingSetBuffers(10, 10).keySet();
        for (String key : planned) assertTrue(used.contains(key), "planned buffer \"" + key + "\" is not one of CudaBackend's: " + used);
        for (String key : used) {
            assertTrue(planned.contains(key) || outside.contains(key), "CudaBackend's buffer \"" + key + "\" is not in the plan");
        }
    }

    @Test
    void largeMatrixIsStreamedInBoundedChunks() {
        long n = 1024, p = 50_000_000; // 190 GiB of X
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, 80 * GIB);
        assertEquals(Mode.STREAMED, plan.mode());
        assertTrue(plan.chunkBytes() <= DeviceMemoryPlan.MAX_CHUNK_BYTES, plan.describe());
        assertEquals(plan.chunkColumns() * n * 4, plan.chunkBytes());
        assertTrue(plan.chunkColumns() >= 1);
        // two device chunks fit next to the working set
        long used = plan.workBytes() + 2 * plan.chunkBytes();
        assertTrue(used <= 80 * GIB * 0.9 - DeviceMemoryPlan.RESERVE_BYTES, plan.describe());
        assertTrue(plan.describe().contains("2 pinned buffers, 2 streams"), plan.describe());
    }

    /**
     * Streamed, the device holds the working set and the two chunk buffers, nothing else that grows with the chunk: the
     * Gram's widened copies are cut to gramChunkColumns and are in the working set, so counting them per chunk column
     * again gave chunks 5 times smaller than fit at n = 256.
     */
    @Test
    void tightMemoryGivesTheLargestChunksThatFit() {
        long n = 256, p = 10_000_000;
        long work = DeviceMemoryPlan.workBytes(n, p);
        long twoChunkColumns = 2 * n * Float.BYTES;
        long free = (long) ((work + DeviceMemoryPlan.RESERVE_BYTES + 10L * twoChunkColumns) / 0.9) + 1024;
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, free);
        assertEquals(Mode.STREAMED, plan.mode());
        assertEquals(10, plan.chunkColumns(), plan.describe());
        long usable = (long) (free * 0.9) - DeviceMemoryPlan.RESERVE_BYTES;
        assertTrue(work + 2 * plan.chunkBytes() <= usable, plan.describe());
        assertTrue(work + 2 * (plan.chunkBytes() + n * Float.BYTES) > usable, "one more column would fit: " + plan.describe());
    }

    /** A chunk of 256 MiB less a few bytes (columns of 12 bytes do not divide it) is 256.0 MiB, not "255 MiB". */
    @Test
    void aFullChunkIsDescribedAs256MiB() {
        long n = 3, p = 400_000_000;
        long free = (long) ((DeviceMemoryPlan.workBytes(n, p) + DeviceMemoryPlan.RESERVE_BYTES + 3 * GIB) / 0.9);
        DeviceMemoryPlan plan = DeviceMemoryPlan.plan(n, p, free);
        assertEquals(Mode.STREAMED, plan.mode(), plan.describe());
        assertEquals(DeviceMemoryPlan.MAX_CHUNK_BYTES / 12 * 12, plan.chunkBytes());
        assertTrue(plan.describe().contains("columns (256.0 MiB,"), plan.describe());
    }

    /** The plan's line goes into logs and error messages, read by scripts: a German locale printed "256,0 MiB". */
    @Test
    void sizesAreWrittenTheSameInEveryLocale() {
        java.util.Locale before = java.util.Locale.getDefault();
        try {
            java.util.Locale.setDefault(java.util.Locale.GERMANY);
            long n = 3, p = 400_000_000;
            long free = (long) ((DeviceMemoryPlan.workBytes(n, p) + DeviceMemoryPlan.RESERVE_BYTES + 3 * GIB) / 0.9);
            String said = DeviceMemoryPlan.plan(n, p, free).describe();
            assertTrue(said.contains("columns (256.0 MiB,") && !said.matches(".*\\d,\\d.*"), said);
        } finally {
            java.util.Locale.setDefault(before);
        }
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
