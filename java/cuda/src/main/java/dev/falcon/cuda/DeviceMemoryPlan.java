package dev.falcon.cuda;

import dev.falcon.backend.BackendMemoryException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where X lives during a solve, decided before starting: {@link Mode#RESIDENT} when X (n x p float32) fits in
 * the device's free memory together with the working set (vectors of length p, the sort's buffers, the n x n
 * Gram and factor in double, the block product's scratch), else {@link Mode#STREAMED}: X stays in host memory
 * and column chunks go through two pinned host buffers and two device buffers, the copy of one chunk
 * overlapping the compute of the other on two streams. When not even two chunks of {@link #MIN_CHUNK_COLUMNS}
 * fit, the plan is {@link Mode#TOO_LARGE} and {@link #describe()} says why (a clear error, never a crash).
 *
 * <p>Pure arithmetic (unit-tested without a GPU).
 */
public record DeviceMemoryPlan(Mode mode, long n, long p, long freeBytes, long heldWorkBytes, long residentBytes, long workBytes,
                               long chunkColumns, long chunkBytes) {

    public enum Mode { RESIDENT, STREAMED, TOO_LARGE }

    /** Fraction of free device memory left alone (the CUDA context, cuBLAS/cuSOLVER workspaces, fragmentation). */
    public static final double RESERVE_FRACTION = 0.10;
    /** Plus a fixed reserve for cuBLAS/cuSOLVER handles and workspaces. */
    public static final long RESERVE_BYTES = 256L << 20;
    /** Largest chunk streamed at once (per buffer): large enough to hide launch latency, small enough to pin. */
    public static final long MAX_CHUNK_BYTES = 256L << 20;
    /** Smallest useful chunk. */
    public static final long MIN_CHUNK_COLUMNS = 1;
    /** Grid of the block-fused product kernel (each grid block holds n doubles of scratch). */
    public static final long BLOCK_GRAM_GRID = 4096;

    /**
     * Most rows of an n x n system on the device (the Gram, its Cholesky factor, the solves with it): cuBLAS and cuSOLVER
     * take sizes in int through the 32-bit API and do not promise 64-bit offsets inside one call, and 46,340^2 is the
     * largest square below 2^31.
     */
    public static final int MAX_DENSE_SYSTEM_ROWS = 46_340;

    /**
     * Refuses an n x n system of more than {@link #MAX_DENSE_SYSTEM_ROWS} rows, called before any of its device work:
     * the Gram of 46,341 rows plans, fits an H200 (32 n^2 bytes) and ran its dsyrk before the add of the two streams'
     * halves overflowed an int. A limit of the backend, with another backend as a fix: the CLI exits 2, as it does when
     * the device is too small.
     */
    static void requireDenseSystemRows(String operation, long rows) {
        if (rows <= MAX_DENSE_SYSTEM_ROWS) return;
        throw new BackendMemoryException("the cuda backend's " + operation + " needs an n x n system at n = " + rows
                + " rows, more than the 46,340 rows (46,340^2 < 2^31) that cuBLAS and cuSOLVER's 32-bit API address in one call;"
                + " use --backsolve block with --block-size 46338 or less (its systems stay within that), --device cpu,"
                + " or fewer rows in X");
    }

    /** Bytes of the two widened double copies of a Gram chunk, per stream, that feed cublasDsyrk/Dgemm. */
    static final long GRAM_WIDE_BYTES_PER_STREAM = 64L << 20;

    /** Columns per chunk of {@code weightedGram}: two widened n x chunk double arrays fit in {@link #GRAM_WIDE_BYTES_PER_STREAM}. */
    static long gramChunkColumns(long n, long p) {
        return Math.max(1, Math.min(p, GRAM_WIDE_BYTES_PER_STREAM / (2L * Double.BYTES * Math.max(1, n))));
    }

    /** The widened chunks of {@code weightedGram}: two double arrays of n x chunk per stream, two streams. */
    static long gramWideBytes(long n, long p) {
        return 2L * 2 * gramChunkColumns(n, p) * Math.max(1, n) * Double.BYTES;
    }

    /** Grid blocks of the block-fused product for this many blocks (each holds n doubles of scratch per stream). */
    static long blockGramGrid(long blocks) {
        return Math.max(1, Math.min(BLOCK_GRAM_GRID, blocks));
    }

    /** Scratch of the block-fused product: one grid's n doubles per grid block, for each of the two streams. */
    static long blockGramScratchBytes(long n, long blocks) {
        return 2 * blockGramGrid(blocks) * n * Double.BYTES;
    }

    /** Column slices per launch of the product X v ({@code kGemvMaxSlices} of falcon_cuda_logic.cuh). */
    static final long GEMV_MAX_SLICES = 4096;

    /** The product X v's partial sums: {@link #GEMV_MAX_SLICES} x n doubles for each of the two streams. */
    static long productPartialBytes(long n) {
        return 2 * GEMV_MAX_SLICES * Math.max(1, n) * Double.BYTES;
    }

    /** Positions per tile of the segmented prefix sums ({@code kScanTile} of falcon_cuda_logic.cuh). */
    static final long SCAN_TILE = 2048;

    /** The prefix sums' scratch for {@code count} sorted scores: a tail and a carry (doubles) per tile. */
    static long scanScratchBytes(long count) {
        return 2 * ((count + SCAN_TILE - 1) / SCAN_TILE) * Double.BYTES;
    }

    /**
     * Columns gathered per device pass of {@code gatherColumns}: at most {@link #MAX_CHUNK_BYTES} of X at a time, so a
     * gather of a large active set needs no device buffer as large as the columns it copies out.
     */
    static long gatherChunkColumns(long n, long k) {
        return Math.max(1, Math.min(k, MAX_CHUNK_BYTES / (Math.max(1, n) * Float.BYTES)));
    }

    /**
     * The working set's buffers that {@link CudaBackend} keeps in its scratch, by the key it gives each, at their largest
     * for X of n x p (blocks, segments and gathered columns are at most p; a solve's right-hand sides at most n).
     * {@link #workBytes} is their sum plus {@link #radixAlternateBytes}. The backend's other scratch keys (starts,
     * segStarts, thresholds, counts, info, cholWork: a few bytes per block or segment, and cuSOLVER's workspace) are
     * left to {@link #RESERVE_BYTES}, and its streamed chunk buffers are planned here per X.
     */
    static Map<String, Long> workingSetBuffers(long n, long p) {
        long rows = Math.max(1, n), nn = n * n, gatherColumns = gatherChunkColumns(n, p);
        Map<String, Long> buffers = new LinkedHashMap<>();
        // vectors: d, out, v, weights of length p; u and X v of length n; X v's two double accumulators, partial sums
        for (String key : new String[] {"d", "out", "v", "w"}) buffers.put(key, p * Float.BYTES);
        buffers.put("u", n * Float.BYTES);
        buffers.put("product", n * Float.BYTES);
        buffers.put("productAcc", 2L * n * Double.BYTES);
        buffers.put("productPartial", productPartialBytes(n));
        // X^T u with u and the result in double (the Woodbury backsolve near a singular system)
        buffers.put("uDouble", n * Double.BYTES);
        buffers.put("outDouble", p * Double.BYTES);
        // the sort: scores, sorted, index, prefix, keys; the scan's tiles (a sort asked for no prefix sums, magnitude's,
        // allocates neither the prefix nor the tiles: it stays within this)
        buffers.put("scores", p * Float.BYTES);
        buffers.put("sorted", p * Float.BYTES);
        buffers.put("index", p * Integer.BYTES);
        buffers.put("prefix", p * Double.BYTES);
        buffers.put("keys", p * Long.BYTES);
        buffers.put("scanTiles", scanScratchBytes(p));
        // dense: the Gram per stream (2), the factor, the right-hand sides
        buffers.put("gram", 2 * nn * Double.BYTES);
        buffers.put("chol", nn * Double.BYTES);
        buffers.put("rhs", nn * Double.BYTES);
        // scratch of the block product, the Gram's widened chunks, the gather's passes
        buffers.put("blockScratch", blockGramScratchBytes(n, Math.max(1, p)));
        buffers.put("wide", gramWideBytes(n, p));
        buffers.put("columns", gatherColumns * Integer.BYTES);
        buffers.put("gather", gatherColumns * rows * Float.BYTES);
        return buffers;
    }

    /** The radix sort's alternate keys and indices, which thrust allocates for each sort and frees after it. */
    static long radixAlternateBytes(long p) {
        return p * (Long.BYTES + Integer.BYTES);
    }

    /**
     * Device bytes every solve needs besides X: each buffer the backend allocates, at its largest
     * ({@link #workingSetBuffers}, and the radix sort's alternates).
     */
    public static long workBytes(long n, long p) {
        long bytes = radixAlternateBytes(p);
        for (long b : workingSetBuffers(n, p).values()) bytes += b;
        return bytes;
    }

    /**
     * How much of the scratch a backend holds (bytes by key, as {@link CudaBackend} keeps it) the working set of X of
     * n x p will use instead of allocating anew: per key, the held bytes up to what this X needs of that buffer.
     * {@code CudaBackend.buffer} gives a held buffer only to its own key, and reuses it when big enough or frees it
     * before allocating a larger one, so a held buffer spares at most its own entry: the sort's buffers of an earlier,
     * larger p stand in for nothing of a new X's n x n Gram. Keys outside the working set spare nothing.
     */
    public static long reusableHeldBytes(long n, long p, Map<String, Long> heldScratch) {
        long reusable = 0;
        for (Map.Entry<String, Long> need : workingSetBuffers(n, p).entrySet()) {
            Long held = heldScratch.get(need.getKey());
            if (held != null) reusable += Math.max(0, Math.min(held, need.getValue()));
        }
        return reusable;
    }

    /** Plans for X of n x p floats on a device with {@code freeBytes} free. */
    public static DeviceMemoryPlan plan(long n, long p, long freeBytes) {
        return plan(n, p, freeBytes, 0, true);
    }

    /** As {@link #plan(long, long, long)}; {@code allowResident = false} after a resident allocation failed. */
    public static DeviceMemoryPlan plan(long n, long p, long freeBytes, boolean allowResident) {
        return plan(n, p, freeBytes, 0, allowResident);
    }

    /**
     * As {@link #plan(long, long, long, boolean)} for a backend that already holds device buffers, {@code heldScratch}
     * (bytes by key, as {@link CudaBackend} keeps its scratch: kept from earlier calls, and what the current call took
     * before planning). {@code freeBytes} (cudaMemGetInfo's) has them taken out already, and {@link #workBytes} counts
     * again those this X will reuse: without a credit, X had to fit beside them twice over. What they spare of this X's
     * working set, {@link #reusableHeldBytes} (per buffer, not their sum), is added back to the free memory.
     */
    public static DeviceMemoryPlan plan(long n, long p, long freeBytes, Map<String, Long> heldScratch, boolean allowResident) {
        return plan(n, p, freeBytes, reusableHeldBytes(n, p, heldScratch), allowResident);
    }

    /**
     * As {@link #plan(long, long, long, Map, boolean)} with the held bytes already matched to this X's buffers:
     * {@code heldWorkBytes} must be what {@link #reusableHeldBytes} gives (a sum over all held buffers credits bytes that
     * serve none of this X's, and a resident plan then runs out of device memory). Capped at the working set.
     */
    public static DeviceMemoryPlan plan(long n, long p, long freeBytes, long heldWorkBytes, boolean allowResident) {
        long work = workBytes(n, p);
        long held = Math.max(0, Math.min(heldWorkBytes, work));
        long usable = usableBytes(freeBytes, held);
        long xBytes = Math.multiplyExact(Math.multiplyExact(n, p), (long) Float.BYTES);
        long columnBytes = Math.max(1, n) * Float.BYTES;
        if (allowResident && xBytes + work <= usable) {
            return new DeviceMemoryPlan(Mode.RESIDENT, n, p, freeBytes, held, xBytes + work, work, p, xBytes);
        }
        // Streamed: the two device chunk buffers. The Gram's widened copies are cut to gramChunkColumns, not to the
        // streamed chunk, and are in the working set already.
        long perColumn = 2 * columnBytes;
        long left = usable - work;
        long columns = left <= 0 ? 0 : Math.min(left / perColumn, Math.max(1, MAX_CHUNK_BYTES / columnBytes));
        columns = Math.min(columns, p);
        if (columns < MIN_CHUNK_COLUMNS) {
            return new DeviceMemoryPlan(Mode.TOO_LARGE, n, p, freeBytes, held, xBytes + work, work, 0, 0);
        }
        return new DeviceMemoryPlan(Mode.STREAMED, n, p, freeBytes, held, xBytes + work, work, columns, columns * columnBytes);
    }

    /** What a plan may use of {@code freeBytes} free with {@code heldBytes} of the working set held: 90% less 256 MiB. */
    static long usableBytes(long freeBytes, long heldBytes) {
        return Math.max(0, (long) ((freeBytes + heldBytes) * (1 - RESERVE_FRACTION)) - RESERVE_BYTES);
    }

    /**
     * The least free memory (cudaMemGetInfo's figure) in which X of n x p, with {@code heldWorkBytes} of its working set
     * held ({@link #reusableHeldBytes}), is streamed in chunks of {@code chunkColumns} columns: the working set and two
     * chunk buffers. An X of at most 2 chunkColumns columns fits resident in that room and is planned resident. For
     * tests ({@link PlannedFreeBytes#streamingIn}): a device with memory to spare streams no X a test can afford.
     */
    static long freeBytesStreamingIn(long n, long p, long chunkColumns, long heldWorkBytes) {
        if (chunkColumns < MIN_CHUNK_COLUMNS) {
            throw new IllegalArgumentException("chunkColumns must be at least " + MIN_CHUNK_COLUMNS + ", got " + chunkColumns);
        }
        long work = workBytes(n, p);
        long held = Math.max(0, Math.min(heldWorkBytes, work)); // as plan() caps it
        long needed = work + 2 * chunkColumns * Math.max(1, n) * Float.BYTES;
        // the inverse of usableBytes, then moved to the least figure that gives it: the 0.9 is no exact double
        long free = Math.max(0, (long) Math.ceil((needed + RESERVE_BYTES) / (1 - RESERVE_FRACTION)) - held);
        while (usableBytes(free, held) < needed) free++;
        while (free > 0 && usableBytes(free - 1, held) >= needed) free--;
        return free;
    }

    /** One line for logs and errors. */
    public String describe() {
        String sizes = String.format(java.util.Locale.ROOT, "X %d x %d (%.1f MiB) + working set %.1f MiB, device free %.1f MiB",
                n, p, n * p * 4.0 / (1 << 20), workBytes / (double) (1 << 20), freeBytes / (double) (1 << 20))
                + (heldWorkBytes > 0 ? String.format(java.util.Locale.ROOT, " + %.1f MiB of the working set already allocated",
                        heldWorkBytes / (double) (1 << 20)) : "");
        return switch (mode) {
            case RESIDENT -> "X resident on the device: " + sizes;
            case STREAMED -> String.format(java.util.Locale.ROOT, "X streamed in chunks of %d columns (%.1f MiB, 2 pinned buffers, 2 streams): ",
                    chunkColumns, chunkBytes / (double) (1 << 20)) + sizes;
            case TOO_LARGE -> "out of device memory: not even the working set fits (" + sizes + ")";
        };
    }
}
