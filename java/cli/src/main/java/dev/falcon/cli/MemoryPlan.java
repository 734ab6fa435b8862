package dev.falcon.cli;

import dev.falcon.data.RawMatrixSource;
import dev.falcon.examples.ExampleModel;
import dev.falcon.io.InputException;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.SolverOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a prune run will need, estimated before anything is loaded: X (unless it is mapped without a
 * copy), the length-p vectors and selection buffers off-heap, and the Java heap the reference kernels
 * use. Compared with the available memory ({@link SystemInfo#availableMemory()}). {@code blockSize} is --block-size and
 * {@code blockWidth} the widest block it forms (capped by the largest layer), which the block backsolves' systems grow with.
 */
record MemoryPlan(long p, long rows, long xBytes, boolean xMapped, long vectorBytes, long heapBytes, long available, boolean javaBackend,
                  Systems systems, int xHeld, LaterX laterX, long blockSize, long blockWidth, boolean oneBlock, long selectionHeap,
                  boolean selectsByFlops, AddressSpace addressSpace) {
    /**
     * How falcon++'s later stages hold their X beside stage 0's ({@link #xHeld} = 2): {@code mapped}, each mapped from its
     * file without a copy on this run's backend; {@code mapOnCpu}, each would be on the cpu backend (float32, Fortran
     * order, aligned); {@code copied}, the first later file that is not, as a refusal names it (null where none is, or
     * where the layout is not known before the run: a --grads-command's X is written by its command only when its stage
     * is reached).
     */
    record LaterX(boolean mapped, boolean mapOnCpu, String copied) {
        /** Every later stage's X mapped from its file. */
        static final LaterX MAPPED = new LaterX(true, true, null);

        /** Copied, and not known to map on the cpu backend either (X that is no file, or is written by a command). */
        static final LaterX COPIED = new LaterX(false, false, null);
    }

    /**
     * An address-space limit (ulimit -v) that {@link #available} is the room of: the room for the runtime, the whole
     * heap limit and the run's data, in which the JVM reserves its heap limit whole, whatever the heap holds, and a
     * mapped X whole, whatever of it is read. A run is charged there at the heap limit it runs with, and a lower
     * FALCON_HEAP gives back what it lowers. {@code limit}: the limit in bytes; {@code heapLimit}: this JVM's heap limit,
     * the one the run has. Charged its heap estimate on top of the reservation, a run that fitted was warned to lower
     * FALCON_HEAP, and one refused was offered fewer rows where a smaller FALCON_HEAP ran them all.
     */
    record AddressSpace(long limit, long heapLimit) {}

    /** Off-heap bytes per weight: weights, pruned weights, scores, mask, sorted scores, indices, prefix sums, objective d. */
    static final long BYTES_PER_WEIGHT = 4 + 4 + 4 + 1 + 4 + 4 + 8 + 4;

    /**
     * The Java heap the CLI itself keeps live before any array of one value per weight (its classes' data, picocli, the
     * report), counted beside mp's selection mask: its largest array, a byte[p], needs room in a heap that holds this
     * too. -Xlog:gc of mp runs at p = 1000 and 20 million showed 3-5 MiB live after collections; at p = 20 million 16m
     * ran out of heap, and 32m ran after a full collection made room for the 19 MiB mask.
     */
    static final long RUNTIME_LIVE_HEAP = 8L << 20;
    /**
     * What the process needs before any data: the JVM, the native libraries and their buffers, the JIT, with some slack
     * (peak RSS of `falcon prune --example resnet20 --n 1`, 10 MB of data: 128-146 MB on the 2-core VM, any backend).
     */
    static final long RUNTIME = 160L << 20;

    /**
     * Java heap bytes per weight the solver (falcon, backsolve) keeps: weights, iterate, gradient, step, scores, masks. At 64
     * the plan of mobilenetv1 at n = 128 (p = 4.2 million, where this term is 257 MiB of it) was 2678 MiB and one of its
     * runs peaked at 2682 MiB (others 2563-2589; falcon, 30% of the FLOPs, FALCON_HEAP=2g).
     */
    static final long SOLVER_HEAP_PER_WEIGHT = 72;

    /**
     * The n x n systems a run holds at its peak, in bytes per n^2 off-heap and on the Java heap, by what it solves, plus
     * what the swap polish holds whatever n. Measured as peak RSS beyond X, the vectors, the solver's heap per weight and
     * the runtime (2-core VM, cpu backend, FALCON_HEAP=2g): a synthetic X of 3000 x 20,000 with --flops-per-weight, and
     * the resnet20 example at n = 1000 and 3000 (falcon, 30% of the FLOPs; see README, "Memory").
     */
    enum Systems {
        /** No solver: magnitude, mp without --backsolve. */
        NONE(0, 0, 0, 0),
        /**
         * falcon or falcon++ with --backsolve none: only the Lipschitz constant's Gram, once at the start (its float part
         * and the double result off-heap, a double copy for the power iteration on the heap); measured 17 per n^2.
         */
        LIPSCHITZ(12, 8, 0, 0),
        /** mp with --backsolve exact: the support's Gram and its Cholesky factor, once (measured 14 per n^2); a support of at most n weights holds its normal equations instead, at most 12. */
        BACKSOLVE(16, 0, 0, 0),
        /**
         * falcon or falcon++ with the exact backsolve and no swap polish (--swap-candidates 0, or n above
         * {@link dev.falcon.solve.FalconSolver#POLISH_MAX_ROWS}): where the support searches run, a round holds the best
         * support's Gram, the candidate's, the best searched one's, and a backsolve's Gram and factor; the Lipschitz
         * constant's double copy on the heap, and what the collector keeps committed of it over the rounds. Measured on the
         * synthetic X (--swap-candidates 0, searches running): 47 per n^2, reached slowly over 1060 s of rounds.
         */
        EXACT_ROUNDS(40, 16, 0, 0),
        /**
         * falcon or falcon++ with the exact backsolve and the swap polish at the end: the polish holds the current support's
         * Gram, its best and current trial's, and the factors of the current support, the best trial and the trial (which
         * takes the place of the trial's update); on the heap the Lipschitz constant's double copy and what the collector
         * keeps committed of it. Whatever n, the polish's gathered candidates and their solves (two heap arrays of at most
         * 2^21 doubles, and their right-hand sides off-heap) and the collector's slack beyond them. Measured (resnet20):
         * 122 MiB beyond the rest at n = 1000, 549 MiB at n = 3000; the plan says 133 and 621.
         */
        EXACT(48, 16, 16L << 20, 56L << 20),
        /**
         * falcon or falcon++ with --backsolve block, which has no swap polish and keeps no Gram of the whole support: the
         * blocks' systems ({@link #blockBytes}), one block at a time; apart from them, off-heap, the Lipschitz constant's
         * Gram (12 with its float part) or the swap search's leverages (the system and its inverse: 16); on the heap the
         * Lipschitz Gram's copy (8) and what the collector keeps of it; and what the allocator keeps of the freed blocks'
         * systems ({@link #FREED_BLOCKS_KEPT}). Measured with the resnet20 example at n = 2000 and 3000: 26 bytes per n^2
         * of peak RSS beyond X, the weights' buffers and the runtime; on a synthetic X of p = 20,000 in one layer, 373 MiB
         * at n = 1000 with --block-size 8000, 551 MiB at n = 2000 with 2000 (kept 99.9%, in the first 300 s) and 609 MiB
         * at n = 2000 with 20,000 (--rounds 2 --max-iterations 30, to finish in minutes), 408 MiB at n = 1000 with 20,000
         * in the first 420 s of a run without those limits (plans 394, 610, 748 and 450 MiB; the n^2 figures alone gave
         * 276 to 469). The collector's slack on the heap is at least {@link #BLOCK_BACKSOLVES_GARBAGE}, whatever n.
         */
        BLOCK(16, 0, 16, 0, 0),
        /**
         * mp with --backsolve block: the blocks' systems alone, one block at a time (mp computes no Lipschitz constant).
         * Measured on a synthetic X of p = 20,000 in one layer, kept |K_B| about min(n, width): 255-262 MiB at n = 1000 and
         * 445 MiB at n = 2000 with --block-size 2000, 269-275 and 453 MiB with 8000, 302-325 and 551 MiB with 20,000 (plans
         * 280 and 467, 308 and 513, 354 and 605 MiB).
         */
        BLOCK_SYSTEMS(0, 0, 0, 0, 0),
        /**
         * mp with --backsolve sweep: the same blocks' systems, formed and freed block after block for up to 100 sweeps,
         * and what the C allocator keeps of the freed ones ({@link #FREED_BLOCKS_KEPT}).
         */
        SWEEPS(0, 0, 0, 0, 0),
        /**
         * falcon or falcon++ with --backsolve sweep: no swap polish, but the support searches score their candidates with
         * the exact backsolve, so a round holds what {@link #EXACT_ROUNDS} holds (40 off-heap), and the sweeps run beside
         * the best support's Gram (8), with the Lipschitz constant's double copy on the heap; and 80 MiB whatever the blocks
         * of what the allocator keeps of the freed blocks' systems and the searches' n x n ones. Measured on the synthetic X
         * (--rounds 2 --max-iterations 30, to finish in minutes): 339 MiB at n = 1000 with --block-size 2000 (and 347 MiB
         * in the first 300 s of a run without those limits), 410 and 771 MiB at n = 1000 and 2000 with 20,000, and in the
         * first 300 s 350 and 591 MiB with 8000; plans 383, 457, 778, 411 and 687 MiB.
         */
        SWEEP_ROUNDS(40, 8, 16, 80L << 20, 0);

        /**
         * The Java heap that falcon's block backsolves touch beyond the runtime's: every support search backsolves
         * candidate after candidate block by block, each block's solve leaving its length-width and length-n arrays, and G1
         * fills its young generation (at the launcher's 64 MB initial heap) before it collects. On the synthetic X of
         * p = 20,000 in one layer with --block-size 2000, falcon --backsolve block peaked 14 MiB above the plan without this
         * at n = 50 and 16 MiB above at n = 500, with 46 MB of heap used before a collection against mp's 14 MB (-Xlog:gc),
         * and 14 MiB lower with -Xms16m. The young generation is touched whatever fills it: where the collector's slack
         * of the Lipschitz Gram's copy (8 per n^2) is larger, that is the slack, not both.
         */
        static final long BLOCK_BACKSOLVES_GARBAGE = 32L << 20;

        /** {@link #BLOCK}'s heap bytes per n^2 of the collector's slack (the rest is the Lipschitz Gram's double copy). */
        private static final long BLOCK_SLACK_PER_ROW_SQUARED = 8;

        /** {@link #besideBlocksPerRowSquared} of a run that solves no blocks. */
        private static final long NO_BLOCKS = -1;

        /**
         * Off-heap bytes per n^2 held while no block is solved, per n^2 held beside a block's systems (or
         * {@link #NO_BLOCKS}), heap bytes per n^2, and the fixed bytes off-heap and on the heap.
         */
        final long offHeapPerRowSquared, besideBlocksPerRowSquared, heapPerRowSquared, offHeapFixed, heapFixed;

        Systems(long offHeapPerRowSquared, long heapPerRowSquared, long offHeapFixed, long heapFixed) {
            this(offHeapPerRowSquared, NO_BLOCKS, heapPerRowSquared, offHeapFixed, heapFixed);
        }

        Systems(long offHeapPerRowSquared, long besideBlocksPerRowSquared, long heapPerRowSquared, long offHeapFixed, long heapFixed) {
            this.offHeapPerRowSquared = offHeapPerRowSquared;
            this.besideBlocksPerRowSquared = besideBlocksPerRowSquared;
            this.heapPerRowSquared = heapPerRowSquared;
            this.offHeapFixed = offHeapFixed;
            this.heapFixed = heapFixed;
        }

        /** What a run of this kind holds at {@code rows} rows: above the polish's limit the polish does not run. */
        Systems at(long rows) {
            return this == EXACT && rows > dev.falcon.solve.FalconSolver.POLISH_MAX_ROWS ? EXACT_ROUNDS : this;
        }

        /** Whether the run solves the block models' systems (--backsolve block or sweep). */
        boolean solvesBlocks() { return besideBlocksPerRowSquared != NO_BLOCKS; }

        long fixedBytes() { return offHeapFixed + heapFixed; }

        /**
         * Off-heap bytes at {@code rows} rows with blocks of {@code blockWidth} columns (the widest block formed);
         * {@code oneBlock}: the run forms no other block.
         */
        long offHeapBytes(long rows, long blockWidth, boolean oneBlock) {
            long apart = offHeapPerRowSquared * rows * rows;
            long block = solvesBlocks() ? blockBytes(rows, blockWidth) : 0;
            long withBlock = solvesBlocks() ? besideBlocksPerRowSquared * rows * rows + block : 0;
            // mp's sweeps over a single block form it with the same kept columns every sweep, so the allocator hands the
            // freed arrays back at the same sizes and keeps nothing beside them: mp --backsolve sweep --block-size 20000 on a
            // synthetic X of one layer of 20,000 weights peaked where --backsolve block does (220-240 MiB at n = 500, 324-326
            // at n = 1000). falcon's searches backsolve supports of other sizes in it.
            boolean freesOtherSizes = this == BLOCK || this == SWEEPS && !oneBlock;
            // glibc serves an array above its largest mmap threshold (32 MiB) with a mapping of its own and unmaps it when
            // freed: a block's gathered columns that large are never kept, only its systems' arrays can be. falcon
            // --backsolve block on one layer of 20,000 weights with --block-size 20000 peaked at 274 MiB at n = 500 and 382 MiB
            // at n = 1000 (408 in the first 420 s of a run without --rounds 2 --max-iterations 30), plans of 378 and 475 MiB
            // when its 38 and 76 MiB of columns were charged again as kept.
            long columns = gatheredColumnsBytes(rows, blockWidth);
            long keepable = block - (columns > LARGEST_MMAP_THRESHOLD ? columns : 0);
            long keptOfFreedBlocks = freesOtherSizes ? Math.min(keepable, FREED_BLOCKS_KEPT) : 0;
            return Math.max(apart, withBlock) + keptOfFreedBlocks + offHeapFixed;
        }

        /**
         * Runs that form and free the blocks' systems over and over (sweeps, and falcon's rounds and support searches,
         * which backsolve candidate after candidate), at sizes that change with the blocks' kept weights, find more of
         * their memory kept by the C allocator (freed arrays below its mmap threshold, up to 32 MiB, stay in its arenas)
         * than mp's single pass: up to another block's systems, and at most this. mp --backsolve sweep on a synthetic X of
         * p = 20,000 peaked 0-62 MiB above --backsolve block's plan with blocks of 2000-8000 weights, falcon --backsolve
         * block 39-50 MiB above its plan without them with blocks of 8000 and 20,000 at n = 1000. (falcon --backsolve
         * sweep, whose searches free n x n systems too, is charged 80 MiB whatever the blocks.)
         */
        static final long FREED_BLOCKS_KEPT = 80L << 20;

        /** glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the dynamic threshold never rises above it. */
        private static final long LARGEST_MMAP_THRESHOLD = 32L << 20;

        /**
         * Heap bytes per weight beyond {@link MemoryPlan#SOLVER_HEAP_PER_WEIGHT}: falcon's block backsolve keeps two solutions
         * of every block for the run (their kept masks and weights, Backsolve.BlockSolutions), so that the searches' candidates,
         * a block or two away from the round's support, solve only the blocks they change.
         */
        long heapPerWeight() {
            return this == BLOCK ? dev.falcon.solve.Backsolve.BlockSolutions.HEAP_BYTES_PER_WEIGHT : 0;
        }

        long heapBytes(long rows) {
            long bytes = heapPerRowSquared * rows * rows + heapFixed;
            if (this != BLOCK) return bytes;
            long slack = BLOCK_SLACK_PER_ROW_SQUARED * rows * rows;
            return bytes - slack + Math.max(slack, BLOCK_BACKSOLVES_GARBAGE);
        }

        /**
         * What the block backsolve holds off-heap for its widest block, of {@code width} columns at {@code rows} = n rows
         * (Backsolve.solveLocal): the block's columns gathered from X (4 n width), and either the normal equations of
         * its k = |K_B| <= n kept columns (gathered again, their transpose and the transpose's element indices, 12 n k;
         * their Gram and the system in double, 16 k^2; the Gram's widened operand, 8 n k up to 32 MiB) or, where k > n,
         * the n x n Woodbury system (8 n^2) and the widened operand of its Gram (8 n width up to 32 MiB). k is taken at
         * its largest, min(n, width), and all the normal equations' arrays as resident together: a freed block's memory
         * is handed to the next block's arrays already touched. The n x n figures alone were right for a width of about
         * 2n; at width 20,000 and n = 1000 mp --backsolve block peaked at 325 MiB against the 272 they gave.
         */
        static long blockBytes(long rows, long width) {
            long n = rows, k = Math.min(rows, width);
            long normalEquations = 12 * n * k + 16 * k * k + Math.min(8 * n * k, WIDENED_OPERAND_BYTES);
            long woodbury = width > n ? 8 * n * n + Math.min(8 * n * width, WIDENED_OPERAND_BYTES) : 0;
            return gatheredColumnsBytes(rows, width) + Math.max(normalEquations, woodbury);
        }

        /** A block's columns gathered from X. */
        static long gatheredColumnsBytes(long rows, long width) {
            return 4 * rows * width;
        }

        /** The cpu backend's weightedGram widens its operand to double in chunks of about this many bytes. */
        private static final long WIDENED_OPERAND_BYTES = 32L << 20;
    }

    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, false);
    }

    /** The plan of a run whose solver, if any, is falcon's with the exact backsolve and the swap polish. */
    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         boolean solver) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, solver ? Systems.EXACT : Systems.NONE);
    }

    /** With the default --block-size, and no layer table known: the widest block is taken to be as wide as it can be. */
    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         Systems systems) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, systems, SolverOptions.DEFAULT_BLOCK_SIZE, p);
    }

    /** With blocks not known to be a single one (those of several layers, or of --flops-per-weight's unknown layers). */
    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         Systems systems, long blockSize, long largestLayer) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, systems, blockSize, largestLayer, false);
    }

    /**
     * {@code blockSize}: --block-size; {@code largestLayer}: the weights of the largest layer, or p where the layer table
     * is not known before loading (from --flops-per-weight); {@code oneBlock}: the blocks are known to be a single one
     * ({@link #oneBlock}).
     */
    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         Systems systems, long blockSize, long largestLayer, boolean oneBlock) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, systems, blockSize, largestLayer, oneBlock, false, 1);
    }

    /**
     * {@code selectsByFlops}: the run selects with the FLOP-aware selection (mp, falcon, falcon++, and magnitude with X,
     * whose report's lower bound runs it), whose mask is on the Java heap; false for magnitude without X, which ranks
     * off-heap (and for the overloads without it, which plan the rest of the run alone). {@code selectionMasks}: the masks per weight that selection holds at once,
     * {@link dev.falcon.select.FlopAwareSelector#heapBytesPerWeight} of the layer table (2 where it is not known before
     * loading). Offers of mp count mp's selection whatever this run's method.
     */
    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         Systems systems, long blockSize, long largestLayer, boolean oneBlock, boolean selectsByFlops, int selectionMasks) {
        SystemInfo.Available bound = SystemInfo.availableNow();
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, systems, blockSize, largestLayer, oneBlock, selectsByFlops, selectionMasks,
                bound.bytes(), bound.addressSpace());
    }

    private static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                                 Systems systems, long blockSize, long largestLayer, boolean oneBlock, boolean selectsByFlops, int selectionMasks,
                                 long available, AddressSpace addressSpace) {
        long xBytes = Math.multiplyExact(Math.multiplyExact(rows, p), 4L);
        boolean mapped = x != null && x.isInternalLayout() && !backend.equals("java");
        // per-weight costs: the costs (4), and the selection's copy of the scores grouped by cost (4) where their runs
        // make more layers than costs (FlopAwareSelector.MERGE_ABOVE_LAYERS), with its mask and the scattered one (2, heap)
        long perWeight = BYTES_PER_WEIGHT + (linearTerm ? 4 : 0) + (perWeightFlops ? 8 : 0);
        boolean java = backend.equals("java");
        boolean solver = systems != Systems.NONE;
        Systems held = systems.at(rows);
        // the selection's masks, beside the runtime's own live heap; with --flops-per-weight its 6 bytes count them already,
        // and the solver's heap per weight was measured with them
        long selectionHeap = RUNTIME_LIVE_HEAP + (perWeightFlops ? 0 : selectionMasks * p);
        long heap = (java ? 8 * p : 0) + (perWeightFlops ? 6 * p : 0) + (solver ? (SOLVER_HEAP_PER_WEIGHT + held.heapPerWeight()) * p : 0) + held.heapBytes(rows)
                + (selectsByFlops && !solver ? selectionHeap : 0);
        long blockWidth = Math.min(blockSize, largestLayer);
        long vectors = perWeight * p + held.offHeapBytes(rows, blockWidth, oneBlock);
        return new MemoryPlan(p, rows, xBytes, mapped, vectors, heap, available, java, systems, 1, mapped ? LaterX.MAPPED : LaterX.COPIED,
                blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops || solver, addressSpace);
    }

    /** The weights of the largest layer: no block is wider. */
    static long largestLayer(LayerTable layers) {
        return layers.layers().stream().mapToLong(Layer::count).max().orElse(layers.parameters());
    }

    /** Whether the layers cut into blocks of {@code blockSize} weights make a single block (Backsolve.blockStarts). */
    static boolean oneBlock(LayerTable layers, long blockSize) {
        return layers.layers().size() == 1 && layers.parameters() <= blockSize;
    }

    boolean solver() { return systems != Systems.NONE; }

    boolean blockBacksolve() { return systems == Systems.BLOCK || systems == Systems.BLOCK_SYSTEMS; }

    /**
     * This run with the block-diagonal backsolve instead of the exact one: the exact model's n x n systems (its swap
     * polish's) need about twice the memory.
     */
    MemoryPlan withBlockBacksolve() {
        if (!solver() || blockBacksolve()) return this;
        // mp's block backsolve computes no Lipschitz constant
        return withSystems(systems == Systems.BACKSOLVE || systems == Systems.SWEEPS ? Systems.BLOCK_SYSTEMS : Systems.BLOCK);
    }

    /**
     * The backsolve a run given no --backsolve takes: the default exact, or the block-diagonal model where exact does not
     * fit the memory and block does (its n x n systems, the swap polish's, need more than one and a half times block's).
     */
    MemoryPlan backsolveThatFits() {
        MemoryPlan block = withBlockBacksolve();
        return !fits() && block.fits() ? block : this;
    }

    /** This run with the solver's n x n systems of {@code other} (both with a solver). */
    private MemoryPlan withSystems(Systems other) {
        Systems from = systems.at(rows), to = other.at(rows);
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes + to.offHeapBytes(rows, blockWidth, oneBlock) - from.offHeapBytes(rows, blockWidth, oneBlock),
                heapBytes + to.heapBytes(rows) - from.heapBytes(rows) + (to.heapPerWeight() - from.heapPerWeight()) * p, available, javaBackend, other, xHeld, laterX, blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, addressSpace);
    }

    /** Bytes of the solver's n x n systems in this plan (0 without the solver). */
    long systemsBytes() {
        return systemsBytes(rows);
    }

    private long systemsBytes(long rows) {
        return systemsBytes(rows, blockWidth);
    }

    private long systemsBytes(long rows, long width) {
        // blocks narrower than the one layer cut it into several
        boolean stillOneBlock = oneBlock && width >= blockWidth;
        return solver() ? systems.at(rows).offHeapBytes(rows, width, stillOneBlock) + systems.at(rows).heapBytes(rows) : 0;
    }

    /** {@link #systemsBytes(long, long)} as the bound's account charges them: under an address-space limit, off-heap only (the heap's limit is charged whole). */
    private long systemsCharged(long rows, long width) {
        if (addressSpace == null) return systemsBytes(rows, width);
        return solver() ? systemsBytes(rows, width) - systems.at(rows).heapBytes(rows) : 0;
    }

    /**
     * The widest blocks with which this run fits at its rows (0 where none does, or where the blocks do not matter): a
     * --block-size to propose where the blocks' columns are what does not fit.
     */
    long widestBlockThatFits() {
        if (!systems.solvesBlocks() || available < 0) return 0;
        long rest = needed() - systemsCharged(rows, blockWidth);
        if (rest + systemsCharged(rows, 1) > available) return 0;
        long fits = 1, exceeds = blockWidth + 1;
        while (exceeds - fits > 1) {
            long mid = fits + (exceeds - fits) / 2;
            if (rest + systemsCharged(rows, mid) <= available) fits = mid;
            else exceeds = mid;
        }
        return fits;
    }

    /**
     * The plan of a run that holds {@code count} X at once, the later ones stored like stage 0's (mapped or not): an example's
     * synthetic X, or an alternative planned like this run.
     */
    MemoryPlan holdingX(int count) {
        return holdingX(count, xMapped ? LaterX.MAPPED : LaterX.COPIED);
    }

    /**
     * falcon++ with a --grads pattern: stage 0's X and the current stage's at once, each later stage's held as its header
     * ({@code stages[t]}, t >= 1, read before any work) says. Stage 0's file being mapped said nothing of the others: with
     * P_0.npy mapped and P_1.npy in C order the plan counted no X, and stage 1 copied 1.5 GiB beyond it.
     */
    MemoryPlan holdingStagesX(RawMatrixSource[] stages, java.util.function.IntFunction<String> fileOfStage) {
        for (int t = 1; t < stages.length; t++) {
            if (!stages[t].isInternalLayout()) {
                return holdingX(2, new LaterX(false, false, fileOfStage.apply(t) + " (stage " + t + "'s X, " + stages[t].fileType()
                        + (unalignedForMapping(stages[t]) ? ", but " + unalignedReason(stages[t]) : "") + ")"));
            }
        }
        // the java reference copies every X, whatever its layout
        return holdingX(2, javaBackend ? new LaterX(false, true, null) : LaterX.MAPPED);
    }

    /**
     * falcon++ with --grads-command: stage 0's X and the current stage's at once. A command's X exists only once its stage
     * is reached, so it is counted as copied: falcon_torch.export writes it in C order.
     */
    MemoryPlan holdingCommandX() {
        return holdingX(2, LaterX.COPIED);
    }

    private MemoryPlan holdingX(int count, LaterX later) {
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes, heapBytes, available, javaBackend, systems, count, later, blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, addressSpace);
    }

    long required() {
        return xCopies() * xBytes + vectorBytes + heapBytes + RUNTIME;
    }

    /**
     * What the run needs beside its Java heap in the account of the bound it is held to: under an address-space limit
     * ({@link AddressSpace}) X's mapping counts whole, since the limit counts every mapping.
     */
    long rest() {
        return required() - heapBytes + (addressSpace != null ? mappedXBytes() : 0);
    }

    /**
     * What the run needs as it starts: its estimate, or under an address-space limit the rest and the whole heap limit
     * the JVM reserves. Every refusal and the offers' checks compare this with {@link #available}.
     */
    long needed() {
        return addressSpace != null ? rest() + addressSpace.heapLimit() : required();
    }

    /** The bytes of X the run maps from its files (stage 0's, and the current stage's where it is another and mapped). */
    long mappedXBytes() {
        return xMappings() * xBytes;
    }

    /** How many X the run maps from their files. */
    private long xMappings() {
        return (xMapped ? 1 : 0) + (xHeld > 1 && laterX.mapped() ? xHeld - 1 : 0);
    }

    /** How many X the bound's account charges: the copies, and under an address-space limit the mappings too. */
    private long xCharged() {
        return xCopies() + (addressSpace != null ? xMappings() : 0);
    }

    /**
     * This run held to an address-space limit of {@code limit} bytes in a JVM that has reserved {@code vmSize} bytes,
     * {@code heapLimit} of them its heap limit; null where no limit is set ({@code limit} -1) or VmSize is unknown.
     */
    MemoryPlan inAddressSpace(long limit, long vmSize, long heapLimit) {
        SystemInfo.Available room = SystemInfo.addressSpaceRoom(limit, vmSize, heapLimit);
        if (room == null) return null;
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes, heapBytes, room.bytes(), javaBackend, systems, xHeld, laterX, blockSize,
                blockWidth, oneBlock, selectionHeap, selectsByFlops, room.addressSpace());
    }

    /**
     * This run in a JVM whose heap limit is {@code heapLimit}: under an address-space limit the JVM reserves that limit in
     * place of this one, and the room beside it ({@link SystemInfo#addressSpaceRoom}) loses what the collector reserves
     * in proportion to a larger limit ({@link #HEAP_SIDE_TABLES_PER_HEAP}); under a memory bound the heap limit is no
     * term of the account, and the plan is this one.
     */
    MemoryPlan withHeapLimit(long heapLimit) {
        if (addressSpace == null) return this;
        long sideTables = Math.max(0, heapLimit - addressSpace.heapLimit()) / HEAP_SIDE_TABLES_PER_HEAP;
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes, heapBytes, Math.max(0, available - sideTables), javaBackend, systems, xHeld, laterX,
                blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, new AddressSpace(addressSpace.limit(), heapLimit));
    }

    /**
     * This run with the heap limit it would run with: {@code maxHeap}, this JVM's, where that holds its heap, else the one a
     * heap refusal proposes. Where block is taken for exact, exact's figures are those: at FALCON_HEAP=48m, which cannot
     * hold exact's 75 MiB of heap, "exact needs about 453.6 MiB, more than the 452.9 MiB available" read as a near miss
     * where at the 80m exact needs it missed by 33 MiB.
     */
    MemoryPlan atTheHeapLimitItNeeds(long maxHeap) {
        return heapFits(maxHeap) ? this : withHeapLimit(proposedHeapLimit());
    }

    /**
     * The heap limit over what the collector reserves beside it in proportion (G1's mark bitmaps, card table, block offset
     * table): FALCON_HEAP=64m left 1.2 MiB less room under ulimit -v 2500000 than 32m did (431.7 against 430.5 MiB), and
     * the rows offered at 32m for 64m were refused by 0.3 MiB. 1/16 is above G1's 1/27 measured there.
     */
    static final long HEAP_SIDE_TABLES_PER_HEAP = 16;

    /**
     * Whether this run, given a heap limit of {@code heapLimit}, passes the address-space check too, where that is the
     * bound: an offer of a FALCON_HEAP is one that fits every limit in force. Under ulimit -v a heap refusal's
     * FALCON_HEAP=64m was refused by the address-space check, whose offer of 80m was refused in turn. Under a memory
     * bound the heap limit is no term of the account (and JavaCPP's default cap, twice the heap limit, moves with it):
     * the estimate's own refusal follows with its offers where the run does not fit.
     */
    boolean fitsWithHeapLimit(long heapLimit) {
        return addressSpace == null || available < 0 || withHeapLimit(heapLimit).fits();
    }

    /**
     * Under an address-space limit, the offer of a lower FALCON_HEAP with which the whole run fits, its range computed
     * (the JVM reserves its whole heap limit, so a lower one gives back what it lowers); null where none fits or the
     * bound is memory, where a lower limit frees nothing the plan counts. "a smaller FALCON_HEAP" without a figure was
     * offered beside fewer rows that were not needed.
     */
    private String smallerHeapLimitOffer() {
        if (addressSpace == null || available < 0) return null;
        long step = 16L << 20, least = leastHeapLimit(), largest = (available - rest()) / step * step;
        if (largest < least || largest >= addressSpace.heapLimit()) return null;
        return heapLimitAssignment() + (largest >> 20) + "m or lower, down to the " + (least >> 20) + "m the run's heap needs"
                + " (the JVM reserves its whole heap limit up front)";
    }

    /**
     * Under an address-space limit, the limit with which the run fits at its heap limit, in the kB ulimit -v takes,
     * rounded up to 100,000 kB since what the JVM has reserved by the plan varies by a few MB from one run to the next;
     * null where the bound is memory.
     */
    private String largerAddressSpaceOffer() {
        if (addressSpace == null) return null;
        long neededKib = ((addressSpace.limit() + Math.max(0, needed() - available)) / 1024 / 100_000 + 1) * 100_000;
        return "ulimit -v " + neededKib + " or more (in kB; ulimit -v unlimited lifts it)";
    }

    /**
     * A mapped X is no memory (its pages are the page cache's, which MemAvailable counts), but under ulimit -v the whole
     * mapping counts against the address space: counted as 0 there, a 1 GiB X passed the plan and its mmap failed with
     * "Cannot allocate memory", an internal error. {@code limit}: the address-space limit in bytes (-1: none);
     * {@code vmSize}: what this JVM has reserved (-1: unknown); {@code maxHeap}: its heap limit, reserved whole up front.
     * {@code notReadByMp}, {@code notReadWithoutGrads}: as for {@link #check}, for the offer of a run without X.
     * Each option it offers is one that fits: "a smaller FALCON_HEAP" was offered whatever the deficit, and a user who
     * followed it down to the least heap the run holds in was refused again, then told the heap was too small.
     */
    void checkMappedXAgainstAddressSpace(long limit, long vmSize, long maxHeap, List<String> notReadByMp, List<String> notReadWithoutGrads) {
        long mapped = mappedXBytes();
        SystemInfo.Available room = SystemInfo.addressSpaceRoom(limit, vmSize, maxHeap);
        if (room == null || mapped == 0) return;
        // one account for the run and every offer: the rows, the FALCON_HEAP and the ulimit -v offered were counted in
        // rooms of their own, and "at most 283 rows ... with FALCON_HEAP=0m" was offered where no heap limit fitted
        MemoryPlan held = inAddressSpace(limit, vmSize, maxHeap);
        if (held.fits()) return;
        List<String> options = new ArrayList<>();
        String reason = "";
        String smallerHeap = held.smallerHeapLimitOffer();
        if (smallerHeap != null) {
            options.add(smallerHeap);
        } else {
            long least = held.leastHeapLimit();
            reason = "; no " + heapLimitVariable() + " fits with this X mapped: the least that holds the run's heap, " + (least >> 20) + "m, leaves "
                    + SystemInfo.bytes(Math.max(0, held.available - least)) + " of address space for the rest of the run, which needs "
                    + SystemInfo.bytes(held.rest());
        }
        long rowsFitting = Math.min(held.maxRows(), rows);
        if (rowsFitting >= 1 && rowsFitting < rows) {
            options.add("at most " + rowsFitting + " rows (samples) in X" + heapLimitClause(held.atRows(rowsFitting), maxHeap));
        }
        MemoryPlan withoutX = held.selectionWithoutX();
        if (withoutX.fitsWithLeastHeapLimit()) options.add(withoutXOffer(withoutX, maxHeap, notReadByMp, notReadWithoutGrads));
        options.add(held.largerAddressSpaceOffer());
        throw InputException.of("memory", "estimate", "the run needs about " + SystemInfo.bytes(held.needed())
                        + " of address space, " + SystemInfo.bytes(mapped) + " of it X's mapping of its file (mapped pages are no"
                        + " memory, but the limit counts them whole), but only " + SystemInfo.bytes(held.available) + " is available ("
                        + room.source() + ")" + reason,
                "options that fit: " + String.join("; ", options));
    }

    /** How many X the run holds copied (not mapped from their files): stage 0's, and the current stage's where it is another. */
    private long xCopies() {
        return (xMapped ? 0 : 1) + (xHeld > 1 && !laterX.mapped() ? xHeld - 1 : 0);
    }

    /**
     * The most rows that fit the available memory: the largest n whose plan (X, this run's vectors and heap, the solver's
     * systems at n rows), its heap taken as the least FALCON_HEAP that holds it ({@link #requiredWithLeastHeapLimit}), is
     * within it, so that {@link #heapLimitWarning} offers the run at n a FALCON_HEAP. The block backsolves' systems are not a multiple of n^2 (a block's gathered
     * columns grow with n times its width), so n is found by bisection; the plan grows with n.
     */
    long maxRows() {
        if (!solver() && xCharged() == 0) return requiredAt(0) <= available ? Long.MAX_VALUE : 0;
        if (requiredAt(1) > available) return 0;
        long fits = 1, exceeds = 2;
        while (requiredAt(exceeds) <= available) {
            fits = exceeds;
            if (exceeds > Long.MAX_VALUE / 4) return fits;
            exceeds *= 2;
        }
        while (exceeds - fits > 1) {
            long mid = fits + (exceeds - fits) / 2;
            if (requiredAt(mid) <= available) fits = mid;
            else exceeds = mid;
        }
        return fits;
    }

    /** {@link #requiredWithLeastHeapLimit()} of this run at {@code n} rows (Long.MAX_VALUE where that overflows). */
    private long requiredAt(long n) {
        try {
            long x = Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(n, p), 4L), xCharged());
            // the systems' own arithmetic is plain: no more than 128 bytes per n^2, and the block's 4 n width is within X's 4 n p
            Math.multiplyExact(Math.multiplyExact(n, n), 128L);
            Math.addExact(Math.addExact(x, vectorBytes + heapBytes - systemsBytes()), Math.addExact(systemsBytes(n), RUNTIME));
            return atRows(n).requiredWithLeastHeapLimit();
        } catch (ArithmeticException overflow) {
            return Long.MAX_VALUE;
        }
    }

    String describe() {
        return describe(SystemInfo.bytes(required()), false);
    }

    /**
     * The terms of the plan and their {@code total}; {@code asNeeded}: as {@link #needed} counts them, under an
     * address-space limit every X, mapped or copied, and the heap's whole limit in place of the heap.
     */
    private String describe(String total, boolean asNeeded) {
        boolean reserved = asNeeded && addressSpace != null;
        return (xHeld > 1 ? xHeld + " X of " : "X ") + SystemInfo.bytes(xBytes)
                + (reserved ? (xMappings() > 0 ? " (mapped or copied, each counted whole: the limit counts a mapping whole)" : "") : xHolding())
                + " + vectors, selection buffers" + (solver() ? " and n x n systems" + (systems.solvesBlocks() ? " (" + (blockBacksolve() ? "block backsolve" : "block sweeps")
                        + ", blocks of up to " + blockWidth + " weights) " : " ") : " ")
                + SystemInfo.bytes(vectorBytes)
                + (reserved ? " + Java heap limit " + SystemInfo.bytes(addressSpace.heapLimit()) + " (reserved whole)"
                        : heapBytes > 0 ? " + Java heap " + SystemInfo.bytes(heapBytes) : "")
                + " + runtime (JVM, native libraries) " + SystemInfo.bytes(RUNTIME) + " = about " + total;
    }

    /** How the X of {@link #describe} are held: mapped (not counted) or copied, stage 0's and the current stage's where they differ. */
    private String xHolding() {
        String mapped = "mapped from the file, not counted";
        if (xHeld == 1) return xMapped ? " (" + mapped + ")" : "";
        if (xMapped == laterX.mapped()) return (xMapped ? " (" + mapped + ")" : "") + " (stage 0's and the current stage's)";
        String later = laterX.copied() != null ? " (" + laterX.copied() + ")" : " (a --grads-command's X, whose layout is known only once it is written)";
        return xMapped ? " (stage 0's " + mapped + "; the current stage's copied: " + SystemInfo.bytes(xBytes) + later + ")"
                : " (stage 0's copied, " + SystemInfo.bytes(xBytes) + "; the current stage's " + mapped + ")";
    }

    /**
     * Two sizes as a refusal compares them, with as many decimals as they need to differ where they do: with one, a run
     * needing 4.30 GiB was refused as "needs about 4.2 GiB but only 4.2 GiB is available".
     */
    static String[] distinct(long a, long b) {
        String x = SystemInfo.bytes(a), y = SystemInfo.bytes(b);
        if (a == b || a < 0 || b < 0 || !x.equals(y) || a < 1 << 10) return new String[] {x, y};
        String unit = x.substring(x.lastIndexOf(' ') + 1);
        double scale = Math.pow(1024, List.of("KiB", "MiB", "GiB", "TiB").indexOf(unit) + 1);
        for (int decimals = 2; decimals <= 9; decimals++) {
            String fx = String.format(Locale.ROOT, "%." + decimals + "f %s", a / scale, unit);
            String fy = String.format(Locale.ROOT, "%." + decimals + "f %s", b / scale, unit);
            if (!fx.equals(fy)) return new String[] {fx, fy};
        }
        return new String[] {a + " B", b + " B"};
    }

    /**
     * The warning for a heap limit the machine cannot back, or null. The plan counts the heap the run keeps live, but G1
     * commits more when it cannot place a length-p array (a humongous object) in the regions it has: mobilenetv1 at
     * n = 3 (plan 597 MiB, 257 MiB of it heap) peaked at 0.69-2.12 GiB RSS in 15 runs on the 2-core VM (FALCON_HEAP=2g), the
     * difference being heap. Only the limit bounds that, so a limit above what is left after everything else is a risk
     * the user should hear of, with a limit that holds the live heap (and passes the 80% check below).
     */
    String heapLimitWarning(long maxHeap) {
        if (available < 0 || maxHeap == Long.MAX_VALUE) return null;
        // under an address-space limit the heap's whole limit is reserved already, and the run charged with it: it grows
        // into no room the account has not given it
        long rest = rest();
        if (rest + maxHeap <= available) return null;
        long mib = 1L << 20, suggested = heapLimitThatFits();
        String fix = suggested > 0
                ? "set " + heapLimitAssignment() + suggested / mib + "m (the run keeps "
                        + (heapBytes < mib ? "next to nothing" : "about " + SystemInfo.bytes(heapBytes)) + " live on the heap)"
                : "free memory or use a machine with more; the run itself needs " + SystemInfo.bytes(needed());
        return "the Java heap may grow to its limit of " + SystemInfo.bytes(maxHeap) + " (" + heapLimitVariable() + "), and with the rest of the run ("
                + SystemInfo.bytes(rest) + ") that is more than the " + SystemInfo.bytes(available) + " available: " + fix;
    }

    /**
     * The FALCON_HEAP that fits beside the rest of the run, or 0 where none does: the room the collector likes (the live
     * heap / 0.7, of the room it gives the run's heap, in 256 MiB steps) where it fits, else as much of it as fits in 16 MiB steps, down to
     * {@link #leastHeapLimit} (the 256 MiB steps alone offered none where 128m fitted: resnet20, n = 326, 723 MiB
     * available). One computation with {@link #maxRows}, which holds its rows to {@link #requiredWithLeastHeapLimit}.
     */
    long heapLimitThatFits() {
        if (available < 0 || requiredWithLeastHeapLimit() > available) return 0;
        long mib = 1L << 20, step = 16 * mib, roomyStep = 256 * mib;
        // the collector's liking applies within the room it gives the run's heap (the old generation under serial and parallel)
        long roomy = Math.max(roomyStep, roundUp((long) Math.ceil(heapLimitHolding() / 0.7), roomyStep));
        return Math.max(leastHeapLimit(), Math.min(roomy, (available - rest()) / step * step));
    }

    /**
     * The least FALCON_HEAP that holds the run's heap in the room this JVM's collector gives it ({@link #heapLimitHolding}):
     * in 16 MiB steps, and at least the launcher's least.
     */
    long leastHeapLimit() {
        long step = 16L << 20, limit = roundUp(Math.max(MIN_HEAP_LIMIT, heapLimitHolding()), step);
        // G1's regions, and what the masks take of them, grow with the limit: the step up must hold the heap too
        while (!heapFits(limit)) limit += step;
        return limit;
    }

    /**
     * What the run needs with its heap limited to {@link #leastHeapLimit}: the heap a JVM commits is bounded only by its
     * limit, so a run is held to this where it is proposed. At the plain estimate, resnet20 --method falcon --n 40 was
     * offered at 300 MiB available, peaked at 337 MiB, and was warned to "free memory" since no FALCON_HEAP fitted.
     */
    long requiredWithLeastHeapLimit() {
        return rest() + leastHeapLimit();
    }

    /**
     * Whether this run, as a refusal proposes it, fits with its heap limited to the least FALCON_HEAP that holds it: a run
     * that fits only at the plain estimate would be offered "with FALCON_HEAP=0m", a limit the launcher refuses.
     */
    boolean fitsWithLeastHeapLimit() {
        return available >= 0 && requiredWithLeastHeapLimit() <= available;
    }

    /**
     * {@link #heapLimitClause} set off by a comma, for an offer that ends in a clause of its own ("... so the cpu backend
     * maps it without a copy with FALCON_HEAP=32m" read as if the mapping needed it).
     */
    private static String offeredHeapLimit(MemoryPlan proposed, long maxHeap) {
        String clause = heapLimitClause(proposed, maxHeap);
        return clause.isEmpty() ? "" : "," + clause;
    }

    /**
     * The FALCON_HEAP a proposed run must be given, as " with FALCON_HEAP=...m", where a heap limit of {@code maxHeap}
     * (this run's) would be warned of at its rows, or would not hold its heap; "" where it would do neither. Named only
     * where too large, an offer of a run whose heap outgrew this limit was refused by the heap check when followed.
     */
    static String heapLimitClause(MemoryPlan proposed, long maxHeap) {
        return proposed.heapLimitWarning(maxHeap) == null && proposed.heapFits(maxHeap) ? ""
                : " with " + heapLimitAssignment() + (proposed.heapLimitThatFits() >> 20) + "m";
    }

    /** This run at {@code n} rows: X, and the solver's n x n systems off-heap and on the heap, at n. */
    MemoryPlan atRows(long n) {
        Systems from = systems.at(rows), to = systems.at(n);
        long vectors = vectorBytes - from.offHeapBytes(rows, blockWidth, oneBlock) + to.offHeapBytes(n, blockWidth, oneBlock);
        long heap = heapBytes - from.heapBytes(rows) + to.heapBytes(n) + (to.heapPerWeight() - from.heapPerWeight()) * p;
        return new MemoryPlan(p, n, Math.multiplyExact(Math.multiplyExact(n, p), 4L), xMapped, vectors, heap, available, javaBackend, systems, xHeld,
                laterX, blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, addressSpace);
    }

    /** The smallest FALCON_HEAP the launcher takes (its own check, kept in step with this). */
    static final long MIN_HEAP_LIMIT = 16L << 20;

    /**
     * The share of a heap limit, in 1024ths, in which the collector this JVM runs can hold the run's heap: its old
     * generation's largest size over the limit. G1, ZGC and Shenandoah may give all of the heap to long-lived data (1024);
     * the serial and parallel collectors (chosen in FALCON_JAVA_OPTS, or by the JVM itself on one processor or under 1792
     * MiB) split it, the old generation 2/3 by default, and mp's masks (two of 20 MiB at p = 20 million) live there: at
     * FALCON_HEAP=48m the serial collector's heap check passed (46.4 MiB of Runtime.maxMemory() against 46.1 MiB planned) and
     * the run died of heap OOM, and the parallel one was refused and told to take the 48m it had. Rounded down.
     */
    static final long HEAP_SHARE_1024THS = collectorHeapShare();

    /**
     * The old generation's size over the young one's (-XX:NewRatio) where the collector splits the heap by it (serial,
     * parallel, no -Xmn or -XX:MaxNewSize given), else 0. Its old generation is then at least limit * r / (r + 1) at
     * every limit (it is aligned up from there: 74.67 MiB at 112m under the serial collector), while the share measured
     * at this JVM's limit, applied to another, was not: measured at 16m (10.7 MiB) it gave 112m 74.7 MiB, and 112m,
     * proposed, was refused again (74.6 MiB) and told 128m; a start at 48m was told 128m straight away.
     */
    static final long OLD_TO_YOUNG = oldToYoung();

    private static long oldToYoung() {
        if (HEAP_SHARE_1024THS >= 1024) return 0;
        try {
            var hotSpot = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            for (String youngSize : List.of("MaxNewSize", "NewSize")) {
                var origin = hotSpot.getVMOption(youngSize).getOrigin();
                if (origin != com.sun.management.VMOption.Origin.DEFAULT && origin != com.sun.management.VMOption.Origin.ERGONOMIC) return 0;
            }
            return Math.max(0, Long.parseLong(hotSpot.getVMOption("NewRatio").getValue()));
        } catch (RuntimeException | LinkageError notHotSpot) {
            return 0;
        }
    }

    static long collectorHeapShare() {
        long limit = heapLimitOfThisJvm(), old = -1;
        for (java.lang.management.MemoryPoolMXBean pool : java.lang.management.ManagementFactory.getMemoryPoolMXBeans()) {
            String name = pool.getName();
            if (pool.getType() == java.lang.management.MemoryType.HEAP && (name.contains("Old Gen") || name.contains("Tenured"))) {
                old = pool.getUsage().getMax();
            }
        }
        // no old generation (ZGC, Shenandoah: one pool), or one without a known bound: the whole heap
        if (old <= 0 || limit <= 0 || old >= limit) return 1024;
        return Math.max(1, old / (limit / 1024 + 1));
    }

    /**
     * This JVM's heap limit (-Xmx, FALCON_HEAP): what a FALCON_HEAP is compared with. Runtime.maxMemory() is that less a
     * survivor space under the serial and parallel collectors (46.0 MiB at -Xmx48m), so a refusal compared with it
     * proposed the limit already given.
     */
    static long heapLimitOfThisJvm() {
        try {
            var hotSpot = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            if (hotSpot != null) return Long.parseLong(hotSpot.getVMOption("MaxHeapSize").getValue());
        } catch (RuntimeException | LinkageError notHotSpot) {
            // another JVM: its maxMemory() below
        }
        return Runtime.getRuntime().maxMemory();
    }

    /**
     * The size of G1's heap regions under {@code heapLimit}, or 0 where this JVM runs another collector. G1 gives an array
     * of a region or more (mp's mask) whole regions, and needs a free one to allocate anything else: p = 8 million with two
     * masks of 7.6 MiB (16 regions) and the runtime's 8 MiB planned 23.3 MiB, passed the check at FALCON_HEAP=24m and died
     * of heap OOM (25m ran). Its ergonomics: the limit / 2048, a power of two from 1 to 32 MiB, unless -XX:G1HeapRegionSize sets it.
     */
    static long g1RegionSize(long heapLimit) {
        if (G1_REGION_SET < 0) return 0;
        if (G1_REGION_SET > 0) return G1_REGION_SET;
        return Math.min(32L << 20, Math.max(1L << 20, Long.highestOneBit(Math.max(1, heapLimit / 2048))));
    }

    /** -1: not G1; 0: G1 with its ergonomic region size; else the region size set with -XX:G1HeapRegionSize. */
    private static final long G1_REGION_SET = g1RegionSet();

    private static long g1RegionSet() {
        boolean g1 = java.lang.management.ManagementFactory.getGarbageCollectorMXBeans().stream().anyMatch(gc -> gc.getName().startsWith("G1 "));
        if (!g1) return -1;
        try {
            var option = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class)
                    .getVMOption("G1HeapRegionSize");
            return option.getOrigin() == com.sun.management.VMOption.Origin.ERGONOMIC || option.getOrigin() == com.sun.management.VMOption.Origin.DEFAULT
                    ? 0 : Long.parseLong(option.getValue());
        } catch (RuntimeException | LinkageError notHotSpot) {
            return 0;
        }
    }

    /**
     * The heap share of a limit of {@code heapLimit} ({@link #HEAP_SHARE_1024THS}): all of it under G1, ZGC and
     * Shenandoah, the old generation under the serial and parallel collectors.
     */
    static long heapRoom(long heapLimit) {
        if (HEAP_SHARE_1024THS >= 1024) return heapLimit;
        // by the collector's own split, the same at every limit, so a limit proposed from one passes when given
        if (OLD_TO_YOUNG > 0) return heapLimit / (OLD_TO_YOUNG + 1) * OLD_TO_YOUNG + heapLimit % (OLD_TO_YOUNG + 1) * OLD_TO_YOUNG / (OLD_TO_YOUNG + 1);
        return heapLimit / 1024 * HEAP_SHARE_1024THS + heapLimit % 1024 * HEAP_SHARE_1024THS / 1024;
    }

    /** What each byte added to a limit adds to {@link #heapRoom} at least, in 1024ths. */
    private static long heapRoomPerByte1024ths() {
        return OLD_TO_YOUNG > 0 ? Math.max(1, 1024 * OLD_TO_YOUNG / (OLD_TO_YOUNG + 1)) : HEAP_SHARE_1024THS;
    }

    /**
     * The heap this run takes under a limit of {@code heapLimit} with this JVM's collector: its plan, and under G1 the
     * masks (arrays of half a region or more, humongous) in whole regions, and one free region to allocate in. G1 places a
     * humongous array in a run of contiguous free regions, and in JDK 17 its full GC moves neither humongous arrays nor the
     * archive regions (at the heap's top), so the masks still live when the last of them is allocated cut the free space
     * into as many runs as there are masks, wherever they landed. The last mask of h regions needs room that holds a run
     * of h however those cuts fall: {@code masks * (h - 1) + 1} free regions, since {@code masks} runs of h - 1 regions
     * each hold none. Counting the regions alone, p = 8 million (two masks of 8 regions) passed at -Xmx25m and -Xmx26m
     * under G1 and died of heap OOM each time: 14 regions free, in runs of 5 and 7, either side of the first mask (and
     * -Xmx24m, refused, ran where the first mask happened to leave 8 in a row).
     */
    long heapTakenUnder(long heapLimit) {
        long region = g1RegionSize(heapLimit);
        if (region == 0) return heapBytes;
        long masks = selectionHeap > RUNTIME_LIVE_HEAP ? (selectionHeap - RUNTIME_LIVE_HEAP + p - 1) / p : 0;
        if (masks == 0 || p < region / 2) return heapBytes + region;
        long maskRegions = roundUp(p + 16, region) / region; // 16: the array's header
        long earlierMasks = (masks - 1) * maskRegions, roomForTheLast = masks * (maskRegions - 1) + 1;
        return heapBytes - masks * p + (earlierMasks + roomForTheLast + 1) * region;
    }

    /** Whether a limit of {@code heapLimit} holds this run's heap under this JVM's collector. */
    boolean heapFits(long heapLimit) {
        return heapTakenUnder(heapLimit) <= heapRoom(heapLimit);
    }

    /** The least heap limit that holds this run's heap under this JVM's collector ({@link #heapFits}). */
    long heapLimitHolding() {
        long k = heapRoomPerByte1024ths(), limit = 0;
        // G1's regions grow with the limit (1 to 32 MiB), and with them what the masks take: until the limit holds both
        while (!heapFits(limit)) {
            long shortBy = heapTakenUnder(limit) - heapRoom(limit);
            limit += Math.max(1, shortBy / k * 1024 + (shortBy % k * 1024 + k - 1) / k);
        }
        return limit;
    }

    /**
     * The FALCON_HEAP a heap refusal proposes ({@link #heapLimit} of {@link #heapLimitHolding}), raised where the rounding
     * crosses into larger G1 regions that the limit no longer holds: given, it passes the same check.
     */
    long proposedHeapLimit() {
        long limit = roundedHeapLimit(heapLimitHolding());
        while (!heapFits(limit)) limit = roundedHeapLimit(limit + 1);
        return limit;
    }

    private static long roundUp(long bytes, long step) {
        return (bytes + step - 1) / step * step;
    }

    /**
     * The bytes the solver's active set may copy of X: what this plan leaves of the available memory (no limit where that
     * is unknown). The plan counts no copy of X, and the active set copies up to 3p/4 of its columns.
     */
    long activeSetBytes() {
        return available < 0 ? Long.MAX_VALUE : Math.max(0, available - needed());
    }

    /** Whether the run fits the available memory (false where that is unknown). */
    boolean fits() {
        return available >= 0 && needed() <= available;
    }

    /** Whether X is little-endian float32 in Fortran order, which the cpu backend would map, but its data starts off a float boundary. */
    static boolean unalignedForMapping(RawMatrixSource x) {
        return x != null && !x.isInternalLayout() && x.type() == dev.falcon.data.ElementType.FLOAT32 && !x.rowMajor()
                && x.byteOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;
    }

    /** Why such an X is copied, for the messages that say so. */
    static String unalignedReason(RawMatrixSource x) {
        return "its data starts at byte " + x.dataOffset() + ", not on a 4-byte boundary, so it is copied";
    }

    /**
     * This run with X mapped from a float32 Fortran-order file on the cpu backend (which keeps no heap copy of it): stage
     * 0's, the later stages' where their files are so stored, and all of them where {@code laterResaved}.
     */
    private MemoryPlan mappedOnCpu(boolean laterResaved) {
        return new MemoryPlan(p, rows, xBytes, true, vectorBytes, heapBytes - (javaBackend ? 8 * p : 0), available, false, systems, xHeld,
                laterResaved || laterX.mapOnCpu() ? LaterX.MAPPED : laterX, blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, addressSpace);
    }

    /** mp on the same weights and X without the solver (no backsolve): no solver heap or n x n systems, but its selection's mask. */
    private MemoryPlan withoutSolver() {
        Systems held = systems.at(rows);
        long vectors = vectorBytes - held.offHeapBytes(rows, blockWidth, oneBlock);
        long heap = heapBytes - (solver() ? (SOLVER_HEAP_PER_WEIGHT + held.heapPerWeight()) * p - selectionHeap : 0) - held.heapBytes(rows);
        // mp runs no later stages: one X
        return new MemoryPlan(p, rows, xBytes, xMapped, vectors, heap, available, javaBackend, Systems.NONE, 1, xMapped ? LaterX.MAPPED : LaterX.COPIED,
                blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, addressSpace);
    }

    /**
     * The offer of this file-input run without X ({@code withoutX}, {@link #selectionWithoutX}): mp without --grads for a
     * solver, else the same method with --grads dropped, each naming the options it drops with it.
     */
    private String withoutXOffer(MemoryPlan withoutX, long maxHeap, List<String> notReadByMp, List<String> notReadWithoutGrads) {
        // with the FALCON_HEAP it needs where this run's limit would be warned of, as the other offers are: followed
        // as written, the offer of mp was warned to set FALCON_HEAP=16m
        String heap = heapLimitClause(withoutX, maxHeap);
        // set off from a "which ..." clause before it: "which mp without X does not read with FALCON_HEAP=16m" misread
        String mpHeap = heap.isEmpty() || notReadByMp.isEmpty() ? heap : "," + heap;
        String dropHeap = heap.isEmpty() || notReadWithoutGrads.isEmpty() ? heap : "," + heap;
        return solver() ? "--method mp without --backsolve and without --grads" + (notReadByMp.isEmpty() ? "" : " or " + inWords(notReadByMp)
                        + ", which mp without X does not read") + mpHeap + " (its selection needs no X; falcon and the backsolve do)"
                : "drop --grads" + (notReadWithoutGrads.isEmpty() ? "" : " and " + inWords(notReadWithoutGrads) + ", which need it") + dropHeap
                        + " (the selection itself does not need X; only the objective does)";
    }

    /** This run without the FLOP-aware selection's heap: magnitude without X, whose report has no lower bound to run it. */
    private MemoryPlan withoutTheBoundsSelection() {
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes, heapBytes - (selectsByFlops && !solver() ? selectionHeap : 0), available,
                javaBackend, systems, xHeld, laterX, blockSize, blockWidth, oneBlock, selectionHeap, false, addressSpace);
    }

    /**
     * mp or magnitude on the same weights without X: no X, no solver vectors or n x n systems; a solver run's offer is mp,
     * whose selection's mask is counted in place of the solver's heap.
     */
    private MemoryPlan selectionWithoutX() {
        Systems held = systems.at(rows);
        long vectors = vectorBytes - held.offHeapBytes(rows, blockWidth, oneBlock);
        long heap = heapBytes - (solver() ? (SOLVER_HEAP_PER_WEIGHT + held.heapPerWeight()) * p - selectionHeap : 0) - held.heapBytes(rows);
        return new MemoryPlan(p, 0, 0, false, vectors, heap, available, javaBackend, Systems.NONE, 1, LaterX.COPIED, blockSize, blockWidth, oneBlock, selectionHeap, selectsByFlops, addressSpace);
    }

    /**
     * Refuses a heap limit below the heap the run needs. That term is what the heap grew to under a limit with room to
     * spare, the collector's slack included, not the live data, so it need not stay below a fraction of the limit: under
     * a lower one the collector keeps less. falcon on the resnet50 example (n = 16, p = 25.5 million) plans 1.8 GiB; its
     * live heap peaked at 1.07 GiB (1.79 GiB committed under FALCON_HEAP=3g), and it ran under the default 2g, which
     * the 80% this asked for refused ("needs about 1.8 GiB ... but the heap is limited to 2.0 GiB").
     */
    void checkHeap(long maxHeap) {
        checkHeap(maxHeap, false, false, List.of());
    }

    /**
     * {@link #checkHeap(long)}; {@code magnitude}: the selection is the one the report's certified lower bound runs
     * (magnitude itself ranks off-heap), which the refusal says: it blamed "the selection's mask", a selection a magnitude
     * user had not asked for, and offered only more heap. {@code xFromGrads}: that X is --grads, whose dropping (and
     * that of {@code notReadWithoutGrads}, which need it) spares the bound and its mask.
     */
    void checkHeap(long maxHeap, boolean magnitude, boolean xFromGrads, List<String> notReadWithoutGrads) {
        checkHeap(maxHeap, magnitude, xFromGrads, notReadWithoutGrads, false, null);
    }

    /**
     * {@link #checkHeap(long, boolean, boolean, List)}; {@code example}: X is an example's, whose rows --n sets;
     * {@code exact}: where the run plans --backsolve block in place of the default exact, which does not fit
     * ({@link #backsolveThatFits}), the plan with exact, else null. The refusal then says so (it spoke of "the block
     * backsolves' short-lived arrays" to a user who had asked for no backsolve), with exact's need at the heap limit exact
     * needs, and every offer in the same address space names --backsolve block: followed without it, at another heap
     * limit the run planned exact again. Each offer fits every limit in force at the heap limit it names; where raising
     * the limit alone does not, fewer rows and a larger ulimit -v are offered, the latter with the heap limit and address
     * space exact needs, since there exact fits again, and the rows exact's where exact fits at some n.
     */
    void checkHeap(long maxHeap, boolean magnitude, boolean xFromGrads, List<String> notReadWithoutGrads, boolean example, MemoryPlan exact) {
        if (heapFits(maxHeap)) return;
        long room = heapRoom(maxHeap) - (heapTakenUnder(maxHeap) - heapBytes);
        String[] figures = distinct(heapBytes, room);
        String block = exact != null ? " --backsolve block" : "";
        // a limit whose room holds the heap, so above this one: compared with maxMemory() (46.0 MiB at -Xmx48m under the
        // parallel collector) the heap was raised to the 48m already given
        long raised = proposedHeapLimit();
        List<String> ways = new ArrayList<>();
        // under ulimit -v the raised limit is reserved whole: 32m -> 64m -> 80m was refusal after refusal there
        if (fitsWithHeapLimit(raised)) {
            String given = heapLimitOptionInJavaOptions(), variable = heapLimitOptionsVariable();
            ways.add(given == null ? "raise it (FALCON_HEAP=" + heapLimitText(raised) + " ./falcon ..." + block + ")"
                    : "raise it (the " + given + " in " + variable + " to " + heapLimitOptionName(given) + heapLimitText(raised)
                            + (block.isEmpty() ? "" : ", with" + block) + "; FALCON_HEAP does not apply, " + variable + " comes later)");
        }
        // the runs without the swap polish that fit this heap, each named with the heap it needs: at n = 1 the polish's
        // fixed workspace was all of it, and the refusal spoke of n x n systems and fewer rows, which cannot help (one
        // that does not fit either was refused again when taken)
        // held to the room this check gives (the old generation, G1's regions), not to the limit: compared with the limit,
        // resnet20's --backsolve block (53.1 MiB) was offered at 64m under the serial collector (42.6 MiB of room) and refused
        if (systems.at(rows) == Systems.EXACT) {
            MemoryPlan noSwaps = withSystems(Systems.EXACT_ROUNDS);
            MemoryPlan blockModel = withBlockBacksolve();
            if (noSwaps.heapFits(maxHeap) && noSwaps.fitsWithHeapLimit(maxHeap)) {
                ways.add("--swap-candidates 0 (no swap search or polish: about " + SystemInfo.bytes(noSwaps.heapBytes) + " of heap)");
            }
            if (blockModel.heapFits(maxHeap) && blockModel.fitsWithHeapLimit(maxHeap)) {
                ways.add("--backsolve block (no swap polish: about " + SystemInfo.bytes(blockModel.heapBytes) + ")");
            }
        }
        if (javaBackend) {
            // the cpu backend's plan keeps no heap copy of X's per-weight buffers (8 bytes a weight) but all the rest, the
            // selection's masks among them: offered unchecked, mp at p = 10 million under 16m was refused again on cpu
            MemoryPlan onCpu = mappedOnCpu(false);
            if (onCpu.heapFits(maxHeap) && onCpu.fitsWithHeapLimit(maxHeap)) ways.add("use the cpu backend (--device cpu)");
            else if (onCpu.proposedHeapLimit() < proposedHeapLimit() && onCpu.fitsWithHeapLimit(onCpu.proposedHeapLimit())) {
                ways.add("use the cpu backend (--device cpu) with " + heapLimitAssignment() + heapLimitText(onCpu.proposedHeapLimit()));
            }
        }
        Systems held = systems.at(rows);
        long perRowSquared = held.heapPerRowSquared * rows * rows;
        if (perRowSquared > heapBytes / 2) ways.add("use fewer rows (samples) in X");
        String reason = "";
        if (!fitsWithHeapLimit(raised)) {
            MemoryPlan atRaised = withHeapLimit(raised);
            // only an address-space limit fails fitsWithHeapLimit. The room is the raised run's own, beside its own need:
            // this run's room, 1-3 MiB more, described the same run at 80m differently from 32m and 64m
            String source = SystemInfo.availableSource(available);
            long sideTables = available - atRaised.available();
            reason = ", and with " + heapLimitAssignment() + heapLimitText(raised) + ", which holds it, the run needs about " + SystemInfo.bytes(atRaised.needed())
                    + " of address space (the heap limit reserved whole), more than the " + SystemInfo.bytes(atRaised.available()) + " available"
                    + (source != null ? " (" + source + (sideTables > 0 ? ", and " + SystemInfo.bytes(sideTables)
                            + " the collector's tables take for the larger heap limit" : "") + ")" : "");
            // where block was taken, exact is offered wherever it fits, the better backsolve (block's Q can be far higher):
            // offered block's limit with --backsolve block, a run that ulimit -v 3800000 held with exact at FALCON_HEAP=80m
            // was pinned to block, and so were fewer rows: 48m was offered --n 204 --backsolve block (Q ratio 0.030) where
            // 16m, under the same limit, was offered --n 179 with exact (0.0001)
            long exactHeapLimit = exact != null ? exact.proposedHeapLimit() : 0;
            MemoryPlan exactAtItsLimit = exact != null ? exact.withHeapLimit(exactHeapLimit) : null;
            long exactFewer = exact != null ? Math.min(exactAtItsLimit.maxRows(), rows) : 0;
            // the most rows that fit with the least heap limit that holds their heap, as the estimate's refusal counts them
            // counted in the room at the raised limit, which no fewer rows need more than
            if (exactFewer >= 1 && exactFewer < rows) {
                ways.add((example ? "--n " + exactFewer : "at most " + exactFewer + " rows (samples) in X") + " with " + heapLimitAssignment()
                        + heapLimitText(Math.min(exactHeapLimit, exactAtItsLimit.atRows(exactFewer).heapLimitThatFits())) + " (the default exact backsolve)");
            } else {
                long fewer = Math.min(atRaised.maxRows(), rows);
                if (fewer >= 1 && fewer < rows) {
                    ways.add((example ? "--n " + fewer : "at most " + fewer + " rows (samples) in X") + block
                            + " with " + heapLimitAssignment() + heapLimitText(Math.min(raised, atRaised.atRows(fewer).heapLimitThatFits())));
                }
            }
            if (exact == null) ways.add(atRaised.largerAddressSpaceOffer() + " with " + heapLimitAssignment() + heapLimitText(raised));
            else {
                ways.add(exactAtItsLimit.largerAddressSpaceOffer() + " with " + heapLimitAssignment() + heapLimitText(exactHeapLimit)
                        + " (the default exact backsolve, which fits there)");
            }
        }
        boolean boundsSelection = magnitude && selectsByFlops && !solver();
        if (boundsSelection && xFromGrads) {
            MemoryPlan noBound = withoutTheBoundsSelection();
            ways.add("drop --grads" + (notReadWithoutGrads.isEmpty() ? "" : " and " + inWords(notReadWithoutGrads) + ", which need it")
                    + (noBound.heapFits(maxHeap) ? "" : " with " + heapLimitAssignment() + heapLimitText(noBound.proposedHeapLimit()))
                    + " (magnitude reads X only for the report's objective and lower bound)");
        }
        // the line on taking block comes after this check: refused here, the run had not said that it had taken it
        MemoryPlan exactAsRun = exact != null ? exact.atTheHeapLimitItNeeds(maxHeap) : null;
        String taken = exact != null ? " with --backsolve block, which the run took in place of the default exact (--backsolve not given):"
                + " exact needs about " + SystemInfo.bytes(exactAsRun.needed()) + ", more than the " + SystemInfo.bytes(exactAsRun.available()) + " available," : "";
        throw InputException.of("memory", "Java heap", "the run needs about " + figures[0] + " of Java heap for p = " + p
                + (solver() ? " and n = " + rows : "") + heapConsumer(held, perRowSquared, boundsSelection) + taken + " but the heap is limited to " + figures[1]
                + (heapRoom(maxHeap) < maxHeap ? " (the old generation of its " + SystemInfo.bytes(maxHeap) + " under this JVM's collector,"
                        + " where the run's long-lived arrays go)" : room < maxHeap ? " (" + SystemInfo.bytes(maxHeap) + " less the G1 regions its"
                        + " masks take whole, the free regions the last needs in a row wherever the others lie, and one to allocate in)" : "") + reason,
                String.join(", or ", ways));
    }

    /** What takes most of the heap, for the refusal: the term larger than the rest, or nothing where none is. */
    private String heapConsumer(Systems held, long perRowSquared, boolean boundsSelection) {
        long fixed = held.heapBytes(rows) - perRowSquared;
        long perWeight = heapBytes - held.heapBytes(rows);
        if (perRowSquared > heapBytes / 2) return " (mostly the solver's n x n systems)";
        if (fixed > heapBytes / 2) {
            return held == Systems.EXACT ? " (mostly the swap polish's workspace, about " + SystemInfo.bytes(fixed) + " whatever n)"
                    : " (mostly the block backsolves' short-lived arrays, about " + SystemInfo.bytes(fixed) + " whatever n)";
        }
        long mask = selectionHeap - RUNTIME_LIVE_HEAP;
        if (!solver() && selectsByFlops && mask > 0 && mask >= heapBytes - selectionHeap) {
            return " (mostly " + (boundsSelection ? "the mask of the report's lower bound, which runs mp's FLOP-aware selection (magnitude itself"
                    + " ranks off-heap)" : "the selection's mask") + ", a Java byte array of one byte per weight" + (mask > p ? ", two at once as it groups layers by cost" : "")
                    + ", beside about " + SystemInfo.bytes(RUNTIME_LIVE_HEAP) + " of the runtime's own)";
        }
        if (perWeight > heapBytes / 2) return " (mostly arrays of one value per weight)";
        return "";
    }

    /**
     * The FALCON_HEAP that holds {@code bytes}: rounded up to 16 MiB below 1 GiB and to 256 MiB above, in whole GiB where
     * it is one. It was never below 2g (the 56 MiB of the swap polish at n = 1 were told to take FALCON_HEAP=2g), nor
     * the heap itself (the term is what the heap grew to with the collector's slack, not the live data).
     */
    static String heapLimit(long bytes) {
        return heapLimitText(roundedHeapLimit(bytes));
    }

    /** {@link #heapLimit} in bytes. */
    private static long roundedHeapLimit(long bytes) {
        long mib = 1L << 20, gib = 1L << 30;
        return bytes < gib ? roundUp(Math.max(MIN_HEAP_LIMIT, bytes), 16 * mib) : roundUp(bytes, 256 * mib);
    }

    /** The plan of the prune run in progress, and whether its X is an example's (--n), for {@link #heapExhaustedAdvice(long)}. */
    private static volatile MemoryPlan inProgress;
    private static volatile boolean inProgressIsExample;

    /** Records the plan a prune runs with, for the advice should it run out of Java heap all the same. */
    static void runningWith(MemoryPlan plan, boolean example) {
        inProgressIsExample = example;
        inProgress = plan;
    }

    /** {@link #heapExhaustedAdvice(MemoryPlan, boolean, long, long)} for the run in progress, or for none where none was planned. */
    static String heapExhaustedAdvice(long maxHeap) {
        MemoryPlan plan = inProgress;
        return heapExhaustedAdvice(plan, inProgressIsExample, maxHeap, plan != null ? plan.available : SystemInfo.availableMemory());
    }

    /**
     * What a run that ran out of Java heap under {@code maxHeap} is told to do (Main's out-of-memory line): a FALCON_HEAP
     * above that limit (twice it, and at least the least that holds the planned heap) but no more than fits beside the
     * rest of the run in the {@code available} memory (unknown: -1), or, where none does, to free memory; and fewer rows
     * only where the run's heap grows with them (the solver's n x n systems). It was "FALCON_HEAP=8g, or a smaller --n /
     * fewer rows in X" whatever the run: 8g on a machine its own refusal had said had 2.5 GiB, and rows to a run without X.
     * {@code plan}: the run's (null where none was made; the runtime is then the rest).
     */
    static String heapExhaustedAdvice(MemoryPlan plan, boolean example, long maxHeap, long available) {
        long step = 16L << 20;
        long rest = plan != null ? plan.rest() : RUNTIME;
        long wanted = maxHeap >= Long.MAX_VALUE / 4 ? maxHeap : Math.max(roundUp(2 * maxHeap, step), plan != null ? plan.leastHeapLimit() : MIN_HEAP_LIMIT);
        long room = available < 0 ? Long.MAX_VALUE : Math.max(0, available - rest) / step * step;
        long suggested = Math.min(wanted, room);
        boolean rowsHelp = plan != null && plan.solver() && plan.rows > 1 && plan.systems.at(plan.rows).heapPerRowSquared > 0;
        String rows = rowsHelp ? (example ? ", or run with a smaller --n (the solver's n x n systems are on the heap)"
                : ", or run with fewer rows (samples) in X (the solver's n x n systems are on the heap)") : "";
        String besideTheRest = available < 0 ? "" : "; with the rest of the run, about " + SystemInfo.bytes(rest) + ", it fits the "
                + SystemInfo.bytes(available) + " available";
        if (suggested > maxHeap) {
            return "raise the Java heap with " + heapLimitAssignment() + heapLimitText(suggested) + " (the limit was " + SystemInfo.bytes(maxHeap) + besideTheRest + ")" + rows;
        }
        return "no Java heap above its limit of " + SystemInfo.bytes(maxHeap) + " (" + heapLimitVariable() + ") fits beside the rest of the run (about "
                + SystemInfo.bytes(rest) + ") in the " + SystemInfo.bytes(available) + " available: free memory or use a machine with more" + rows;
    }

    /**
     * The system property through which the ./falcon launcher says where the heap limit it gives the JVM came from:
     * FALCON_HEAP, or an -Xmx (-XX:MaxHeapSize=) in FALCON_JAVA_OPTS, which comes later and overrides it, or in
     * _JAVA_OPTIONS, which the JVM reads after its whole command line. A refusal that said "raise it (FALCON_HEAP=16m
     * ./falcon ...)" under FALCON_JAVA_OPTS=-Xmx8m (or _JAVA_OPTIONS=-Xmx8m) came back word for word when followed.
     * Only the launcher sets it: the jar run without it (java -jar, an embedding) keeps the launcher's FALCON_HEAP advice,
     * whatever FALCON_JAVA_OPTS its environment holds.
     */
    static final String HEAP_LIMIT_FROM_PROPERTY = "falcon.heapLimitFrom";

    /**
     * The variable of JVM options whose -Xmx set this JVM's heap limit, FALCON_JAVA_OPTS or _JAVA_OPTIONS, where the
     * launcher says the limit came from one; else null (FALCON_HEAP, or no launcher).
     */
    static String heapLimitOptionsVariable() {
        String from = System.getProperty(HEAP_LIMIT_FROM_PROPERTY);
        return "FALCON_JAVA_OPTS".equals(from) || "_JAVA_OPTIONS".equals(from) ? from : null;
    }

    /**
     * The option in that variable that set this JVM's heap limit, as given ("-Xmx8m", "-XX:MaxHeapSize=8m": the last,
     * which the JVM takes); else null. FALCON_JAVA_OPTS's are the last of the JVM's command line; _JAVA_OPTIONS's are
     * read from the variable itself, which the JVM reads after that command line.
     */
    static String heapLimitOptionInJavaOptions() {
        String variable = heapLimitOptionsVariable();
        if (variable == null) return null;
        if (variable.equals("_JAVA_OPTIONS")) {
            String value = System.getenv("_JAVA_OPTIONS");
            return heapLimitOption(value == null ? List.of() : List.of(value.trim().split("\\s+")));
        }
        return heapLimitOption(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    /** The heap limit's option among a JVM's options, as given: the last -Xmx or -XX:MaxHeapSize=; "-Xmx" where none is. */
    static String heapLimitOption(List<String> jvmOptions) {
        String last = "-Xmx";
        for (String option : jvmOptions) {
            if (option.startsWith("-Xmx") || option.startsWith("-XX:MaxHeapSize=")) last = option;
        }
        return last;
    }

    /** What precedes a heap limit's size in an offer: "FALCON_HEAP=", or the option in FALCON_JAVA_OPTS (_JAVA_OPTIONS) that sets it. */
    static String heapLimitAssignment() {
        String given = heapLimitOptionInJavaOptions();
        return given == null ? "FALCON_HEAP=" : heapLimitOptionsVariable() + "'s " + heapLimitOptionName(given);
    }

    /** "-Xmx" or "-XX:MaxHeapSize=": the option, without its size, of {@code given}, one of the two. */
    private static String heapLimitOptionName(String given) {
        return given.startsWith("-Xmx") ? "-Xmx" : "-XX:MaxHeapSize=";
    }

    /** The setting that names this JVM's heap limit: FALCON_HEAP, or FALCON_JAVA_OPTS's (_JAVA_OPTIONS's) -Xmx (-XX:MaxHeapSize=). */
    static String heapLimitVariable() {
        String given = heapLimitOptionInJavaOptions();
        // the option's name without the '=' that -XX:MaxHeapSize= takes before its size
        return given == null ? "FALCON_HEAP" : heapLimitOptionsVariable() + "'s " + heapLimitOptionName(given).replaceFirst("=$", "");
    }

    /** A heap limit of whole MiB as FALCON_HEAP takes it: in g where it is whole GiB, else in m. */
    private static String heapLimitText(long bytes) {
        long mib = 1L << 20, gib = 1L << 30;
        return bytes % gib == 0 ? bytes / gib + "g" : bytes / mib + "m";
    }

    /** Option names as a list in words: "--stages", "--stages and --rounds", "--stages, --rounds and --tolerance". */
    static String inWords(List<String> options) {
        if (options.size() <= 1) return String.join("", options);
        return String.join(", ", options.subList(0, options.size() - 1)) + " and " + options.get(options.size() - 1);
    }

    /** Refuses (InputException, exit 2) when the run cannot fit, saying what would. */
    void check(ExampleModel model, RawMatrixSource x) {
        check(model, x, false);
    }

    /**
     * JavaCPP's maxBytes bounds the off-heap vectors alone (X is the kernels' own memory, not JavaCPP's): a cap below them,
     * given in FALCON_JAVA_OPTS, failed the run after its inputs were loaded, not before. {@code cap}: null where none is set.
     */
    void checkJavaCppMaxBytes(SystemInfo.JavaCppCap cap) {
        if (cap == null || vectorBytes <= cap.bytes()) return;
        throw InputException.of("memory", "estimate", "the run's off-heap vectors need about " + SystemInfo.bytes(vectorBytes)
                + ", more than " + cap.origin(), cap.fix());
    }

    /**
     * {@link #check(ExampleModel, RawMatrixSource)}; {@code offerBlockBacksolve}: the run backsolves with the exact model,
     * and the refusal offers the block-diagonal one where it fits or fits more rows.
     */
    void check(ExampleModel model, RawMatrixSource x, boolean offerBlockBacksolve) {
        check(model, x, offerBlockBacksolve, List.of(), List.of(), false);
    }

    /**
     * {@link #check(ExampleModel, RawMatrixSource, boolean)}; {@code notReadByMp}: the options given that prune refuses
     * with --method mp without --backsolve (and, for a file input, without --grads), which its offer names to drop:
     * offered as "--method mp ...", a falcon++ command with --stages was refused again when followed.
     * {@code notReadWithoutGrads}: those refused with this method without --grads (--lambda), for the offer to drop it.
     * {@code magnitude}: the method ranks off-heap, and selects by FLOPs only for the report's lower bound.
     */
    void check(ExampleModel model, RawMatrixSource x, boolean offerBlockBacksolve, List<String> notReadByMp, List<String> notReadWithoutGrads,
               boolean magnitude) {
        check(model, x, offerBlockBacksolve, notReadByMp, notReadWithoutGrads, magnitude, heapLimitOfThisJvm());
    }

    /** {@link #check(ExampleModel, RawMatrixSource, boolean, List, List, boolean)} in a JVM whose heap limit is {@code maxHeap}. */
    void check(ExampleModel model, RawMatrixSource x, boolean offerBlockBacksolve, List<String> notReadByMp, List<String> notReadWithoutGrads,
               boolean magnitude, long maxHeap) {
        check(model, x, offerBlockBacksolve, notReadByMp, notReadWithoutGrads, magnitude, maxHeap, null);
    }

    /**
     * {@link #check(ExampleModel, RawMatrixSource, boolean, List, List, boolean, long)}; {@code exact}: where this
     * plan is the block backsolve taken in place of the default exact ({@link #backsolveThatFits}), the plan with exact,
     * else null.
     */
    void check(ExampleModel model, RawMatrixSource x, boolean offerBlockBacksolve, List<String> notReadByMp, List<String> notReadWithoutGrads,
               boolean magnitude, long maxHeap, MemoryPlan exact) {
        checkHeap(maxHeap, magnitude, magnitude && model == null && x != null, notReadWithoutGrads, model != null, exact);
        checkJavaCppMaxBytes(SystemInfo.JavaCppCap.of("maxBytes"));
        checkMappedXAgainstAddressSpace(SystemInfo.addressSpaceLimit(SystemInfo.LIMITS), SystemInfo.vmSize(), maxHeap, notReadByMp, notReadWithoutGrads);
        if (available < 0 || needed() <= available) return;
        List<String> options = new ArrayList<>();
        // under an address-space limit a lower FALCON_HEAP gives back what it lowers: where the whole run fits with one,
        // that is the offer, with its figure, and no fewer rows
        String smallerHeap = smallerHeapLimitOffer();
        if (smallerHeap != null) options.add(smallerHeap);
        // why no rows fit, said as a reason beside the figures: it was listed among the "options that fit"
        String reason = "";
        long maxRows = Math.min(maxRows(), rows);
        MemoryPlan block = offerBlockBacksolve && solver() && !blockBacksolve() ? withBlockBacksolve() : null;
        long blockRows = block == null || block.fits() ? 0 : Math.min(block.maxRows(), rows);
        if (block != null && block.fits()) {
            options.add("--backsolve block (the block-diagonal model: its n x n systems need about " + SystemInfo.bytes(block.systemsBytes())
                    + " instead of the exact model's " + SystemInfo.bytes(systemsBytes()) + ", and the run about " + SystemInfo.bytes(block.required()) + ")");
        }
        long widest = widestBlockThatFits();
        if (widest >= 1 && widest < blockWidth) options.add("--block-size " + widest + " (the widest blocks that fit with these rows)");
        if (model != null) {
            if (maxRows >= rows) {
                // every row fits with the smaller FALCON_HEAP offered above
            } else if (maxRows >= 1) {
                options.add("--n " + maxRows + heapLimitClause(atRows(maxRows), maxHeap) + " (the most rows of synthetic X that fit)");
                if (blockRows > maxRows) {
                    options.add("--backsolve block --n " + blockRows + heapLimitClause(block.atRows(blockRows), maxHeap)
                            + " (the most that fit with the block-diagonal model)");
                }
            } else {
                // this method's need without X, no floor of the example: with a solver its heap and workspace are in it
                reason = "; " + model.name() + (solver() ? "'s weights, buffers and solver workspace" : "'s weights and buffers")
                        + " alone need " + SystemInfo.bytes(vectorBytes + heapBytes + RUNTIME);
            }
            // what a file input is offered: mp's selection, without the solver's heap and n x n systems (an example's
            // synthetic X is generated all the same)
            if (solver()) {
                MemoryPlan mp = withoutSolver();
                long mpRows = Math.min(mp.maxRows(), rows);
                if (mpRows >= 1) {
                    // beside a run of this example that fits, a figure of what it "alone needs" read as a floor it contradicts
                    reason = "";
                    options.add("--method mp" + (mpRows < rows ? " --n " + mpRows : "") + heapLimitClause(mp.atRows(mpRows), maxHeap)
                            + " (without --backsolve" + (notReadByMp.isEmpty() ? "" : ", and without " + inWords(notReadByMp) + ", which mp does not read")
                            + ": its selection needs no solver's heap or n x n systems, about "
                            + SystemInfo.bytes(mp.atRows(mpRows).required()) + ")");
                }
            }
            for (String other : dev.falcon.examples.ExampleModels.names()) {
                if (other.equals(model.name())) continue;
                ExampleModel e = dev.falcon.examples.ExampleModels.get(other);
                // a larger model at fewer rows is no alternative to the one asked for (resnet20 was offered mobilenetv1)
                if (e.layers().parameters() >= model.layers().parameters()) continue;
                // the same method on the other example: its solver's heap and n x n systems count as they do here
                MemoryPlan alternative = of(e.layers().parameters(), e.defaultRows(), null, true, javaBackend ? "java" : "cpu", false, false,
                        systems, blockSize, largestLayer(e.layers()), oneBlock(e.layers(), blockSize), selectsByFlops,
                        dev.falcon.select.FlopAwareSelector.heapBytesPerWeight(e.layers()), available, addressSpace).holdingX(xHeld);
                long fit = Math.min(alternative.maxRows(), e.defaultRows());
                if (fit >= 1) options.add("--example " + other + " --n " + fit + heapLimitClause(alternative.atRows(fit), maxHeap));
            }
        } else if (x != null) {
            if (maxRows >= 1 && maxRows < rows) options.add("at most " + maxRows + " rows (samples) in X" + heapLimitClause(atRows(maxRows), maxHeap));
            if (blockRows > Math.max(maxRows, 0)) options.add("--backsolve block with at most " + blockRows + " rows in X" + heapLimitClause(block.atRows(blockRows), maxHeap));
            // each alternative is offered only where it fits: a small X mapped in place, or an mp without X for a p whose
            // vectors alone exceed the memory, was proposed and then refused again when followed
            // a later stage's file copied beside a mapped stage 0 is named: it is the one to re-save
            boolean laterCopied = xHeld > 1 && laterX.copied() != null;
            String asFortran = "np.save(f, np.asfortranarray(X, dtype=np.float32))";
            // each held to the least FALCON_HEAP and named with the one it needs where this run's limit would be warned of,
            // as the offers of rows are: followed as written, "store X as float32 in Fortran order" was warned to set
            // FALCON_HEAP=32m
            MemoryPlan allMapped = mappedOnCpu(true), stage0Mapped = mappedOnCpu(false);
            // each of these plans is the cpu backend's: followed on --device java as written, X was copied all the same
            String onCpu = javaBackend ? ", with --device cpu (the java reference backend copies every X)" : "";
            if (laterCopied && x.isInternalLayout() && allMapped.fitsWithLeastHeapLimit()) {
                options.add("store " + laterX.copied() + " as float32 in Fortran order like stage 0's (numpy: " + asFortran
                        + ") so the cpu backend maps it without a copy" + onCpu + offeredHeapLimit(allMapped, maxHeap));
            } else if (unalignedForMapping(x) && stage0Mapped.fitsWithLeastHeapLimit()) {
                // it is float32 in Fortran order already: asking for that again named the wrong reason for the copy
                options.add("re-save X with np.save, which aligns the data, so the cpu backend maps it without a copy (" + unalignedReason(x) + ")"
                        + onCpu + offeredHeapLimit(stage0Mapped, maxHeap));
            } else if (!x.isInternalLayout() && stage0Mapped.fitsWithLeastHeapLimit()) {
                options.add("store X as float32 in Fortran order (numpy: " + asFortran + ") so the cpu backend maps it without a copy"
                        + onCpu + offeredHeapLimit(stage0Mapped, maxHeap));
            } else if (!x.isInternalLayout() && laterCopied && allMapped.fitsWithLeastHeapLimit()) {
                options.add("store every stage's X, " + laterX.copied() + " among them, as float32 in Fortran order (numpy: " + asFortran
                        + ") so the cpu backend maps them without a copy" + onCpu + offeredHeapLimit(allMapped, maxHeap));
            } else if (x.isInternalLayout() && javaBackend && stage0Mapped.fitsWithLeastHeapLimit()) {
                options.add("--device cpu" + heapLimitClause(stage0Mapped, maxHeap)
                        + ", which maps this float32 Fortran-order X without a copy (the java reference backend copies it)");
            }
            MemoryPlan withoutX = selectionWithoutX();
            // held to the least FALCON_HEAP, as the offers of rows are: at the plain estimate the offer was made where no
            // heap limit fitted and read "with FALCON_HEAP=0m"
            if (withoutX.fitsWithLeastHeapLimit()) options.add(withoutXOffer(withoutX, maxHeap, notReadByMp, notReadWithoutGrads));
        }
        // an address-space limit (by the figure that fits) or a JavaCPP cap is lifted where it is set, not by another machine
        String fix = addressSpace != null ? largerAddressSpaceOffer() : SystemInfo.availableFix(available);
        options.add(fix != null ? fix : "a machine with more memory");
        String[] figures = distinct(needed(), available);
        // which limit applied (a container's cgroup limit, MemAvailable, the property): each has another fix
        String source = SystemInfo.availableSource(available);
        throw InputException.of("memory", "estimate", "the run needs " + describe(figures[0], true) + " but only " + figures[1]
                + " is available" + (source != null ? " (" + source + ")" : "") + reason, "options that fit: " + String.join("; ", options));
    }
}
