package dev.falcon.cli;

import dev.falcon.data.RawMatrixSource;
import dev.falcon.examples.ExampleModel;
import dev.falcon.io.InputException;
import java.util.ArrayList;
import java.util.List;

/**
 * What a prune run will need, estimated before anything is loaded: X (unless it is mapped without a
 * copy), the length-p vectors and selection buffers off-heap, and the Java heap the reference kernels
 * use. Compared with the available memory ({@link SystemInfo#availableMemory()}).
 */
record MemoryPlan(long p, long rows, long xBytes, boolean xMapped, long vectorBytes, long heapBytes, long available, boolean javaBackend,
                  Systems systems, int xHeld) {
    /** Off-heap bytes per weight: weights, pruned weights, scores, mask, sorted scores, indices, prefix sums, objective d. */
    static final long BYTES_PER_WEIGHT = 4 + 4 + 4 + 1 + 4 + 4 + 8 + 4;
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
        /** mp with --backsolve exact: the support's Gram and its Cholesky factor, once; measured 14 per n^2. */
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
         * --backsolve block, which has no swap polish and keeps no Gram of the whole support: its largest n x n arrays
         * are, off-heap, a block's |K_B| x |K_B| normal equations at |K_B| = n (the gathered columns and their transpose in
         * float, their Gram and the system in double: 24), the Lipschitz constant's Gram (12 with its float part) or the
         * leverages' system and inverse (16); on the heap the Lipschitz Gram's copy (8) and what the collector keeps of it.
         * Measured with the resnet20 example at n = 2000 and 3000: 26 bytes per n^2 of peak RSS beyond X, the weights'
         * buffers and the runtime.
         */
        BLOCK(24, 16, 0, 0),
        /**
         * mp with --backsolve block: the blocks' systems alone, one block at a time (mp computes no Lipschitz constant):
         * at |K_B| = n, off-heap, the gathered kept columns, their transpose and the gather's element indices (4 bytes
         * each: 12), their Gram and the system in double (16), and the block's columns gathered from X (4 n per column: 8
         * at blocks of 2n columns, as the default --block-size 2000 at n = 1000). Measured on the synthetic X: 240 MiB at
         * n = 1000, 443 MiB at n = 2000 and 640 MiB at n = 3000 (--block-size 4000, |K_B| about n).
         */
        BLOCK_SYSTEMS(36, 0, 0, 0),
        /**
         * mp with --backsolve sweep: the same blocks' systems, formed and freed block after block for up to 100 sweeps,
         * and what the C allocator keeps of the freed ones (those below its mmap threshold, 32 MiB, stay in its arenas):
         * measured on the synthetic X 276 MiB at n = 1000, 544 MiB at n = 2000 and 729 MiB at n = 3000, 36-101 MiB above
         * --backsolve block's peaks.
         */
        SWEEPS(40, 0, 80L << 20, 0),
        /**
         * falcon or falcon++ with --backsolve sweep: no swap polish, but the support searches score their candidates with
         * the exact backsolve, so a round holds what {@link #EXACT_ROUNDS} holds (40 off-heap), and the sweeps run beside
         * the best support's Gram ({@link #SWEEPS} and 8), with the Lipschitz constant's double copy on the heap.
         */
        SWEEP_ROUNDS(48, 16, 80L << 20, 0);

        final long offHeapPerRowSquared, heapPerRowSquared, offHeapFixed, heapFixed;

        Systems(long offHeapPerRowSquared, long heapPerRowSquared, long offHeapFixed, long heapFixed) {
            this.offHeapPerRowSquared = offHeapPerRowSquared;
            this.heapPerRowSquared = heapPerRowSquared;
            this.offHeapFixed = offHeapFixed;
            this.heapFixed = heapFixed;
        }

        /** What a run of this kind holds at {@code rows} rows: above the polish's limit the polish does not run. */
        Systems at(long rows) {
            return this == EXACT && rows > dev.falcon.solve.FalconSolver.POLISH_MAX_ROWS ? EXACT_ROUNDS : this;
        }

        long perRowSquared() { return offHeapPerRowSquared + heapPerRowSquared; }

        long fixedBytes() { return offHeapFixed + heapFixed; }

        long offHeapBytes(long rows) { return offHeapPerRowSquared * rows * rows + offHeapFixed; }

        long heapBytes(long rows) { return heapPerRowSquared * rows * rows + heapFixed; }
    }

    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, false);
    }

    /** The plan of a run whose solver, if any, is falcon's with the exact backsolve and the swap polish. */
    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         boolean solver) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, solver ? Systems.EXACT : Systems.NONE);
    }

    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         Systems systems) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, systems, SystemInfo.availableMemory());
    }

    private static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                                 Systems systems, long available) {
        long xBytes = Math.multiplyExact(Math.multiplyExact(rows, p), 4L);
        boolean mapped = x != null && x.isInternalLayout() && !backend.equals("java");
        long perWeight = BYTES_PER_WEIGHT + (linearTerm ? 4 : 0) + (perWeightFlops ? 4 : 0);
        boolean java = backend.equals("java");
        boolean solver = systems != Systems.NONE;
        Systems held = systems.at(rows);
        long heap = (java ? 8 * p : 0) + (perWeightFlops ? 4 * p : 0) + (solver ? SOLVER_HEAP_PER_WEIGHT * p : 0) + held.heapBytes(rows);
        long vectors = perWeight * p + held.offHeapBytes(rows);
        return new MemoryPlan(p, rows, xBytes, mapped, vectors, heap, available, java, systems, 1);
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

    /** This run with the solver's n x n systems of {@code other} (both with a solver). */
    private MemoryPlan withSystems(Systems other) {
        Systems from = systems.at(rows), to = other.at(rows);
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes + to.offHeapBytes(rows) - from.offHeapBytes(rows),
                heapBytes + to.heapBytes(rows) - from.heapBytes(rows), available, javaBackend, other, xHeld);
    }

    /** Bytes of the solver's n x n systems in this plan (0 without the solver). */
    long systemsBytes() {
        return solver() ? systems.at(rows).offHeapBytes(rows) + systems.at(rows).heapBytes(rows) : 0;
    }

    /**
     * The plan of a run that holds {@code count} X at once: falcon++ with a --grads pattern or --grads-command keeps
     * stage 0's X and the current stage's. Later stages' X are taken to be stored like stage 0's (mapped or not).
     */
    MemoryPlan holdingX(int count) {
        return new MemoryPlan(p, rows, xBytes, xMapped, vectorBytes, heapBytes, available, javaBackend, systems, count);
    }

    long required() {
        return (xMapped ? 0 : xHeld * xBytes) + vectorBytes + heapBytes + RUNTIME;
    }

    /**
     * The most rows that fit the available memory: the largest n with b n + c n^2 within what the rest leaves (b = 4 p
     * for each X held unless it is mapped, c for the solver's n x n systems).
     */
    long maxRows() {
        double b = xMapped ? 0 : 4.0 * p * xHeld;
        double room = available - RUNTIME - (vectorBytes + heapBytes - (double) systemsBytes());
        if (!solver()) return room <= 0 ? 0 : b == 0 ? Long.MAX_VALUE : (long) Math.floor(room / b);
        if (room - systems.fixedBytes() <= 0) return 0;
        long n = largestRoot(b, systems.perRowSquared(), room - systems.fixedBytes());
        // above the polish's limit its systems are not needed
        Systems at = systems.at(n);
        return at == systems ? n : largestRoot(b, at.perRowSquared(), room - at.fixedBytes());
    }

    /** The largest integer n with b n + c n^2 <= room (c > 0). */
    private static long largestRoot(double b, double c, double room) {
        return (long) Math.floor((-b + Math.sqrt(b * b + 4 * c * room)) / (2 * c));
    }

    String describe() {
        return (xHeld > 1 ? xHeld + " X of " : "X ") + SystemInfo.bytes(xBytes) + (xMapped ? " (mapped from the file, not counted)" : "")
                + (xHeld > 1 ? " (stage 0's and the current stage's)" : "")
                + " + vectors, selection buffers" + (solver() ? " and n x n systems" + (blockBacksolve() ? " (block backsolve) " : " ") : " ")
                + SystemInfo.bytes(vectorBytes)
                + (heapBytes > 0 ? " + Java heap " + SystemInfo.bytes(heapBytes) : "")
                + " + runtime (JVM, native libraries) " + SystemInfo.bytes(RUNTIME) + " = about " + SystemInfo.bytes(required());
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
        long rest = required() - heapBytes;
        if (rest + maxHeap <= available) return null;
        long mib = 1L << 20, step = 256 * mib;
        long suggested = Math.max(step, (long) Math.ceil(heapBytes / 0.7 / step) * step);
        String fix = suggested + rest <= available
                ? "set FALCON_HEAP=" + suggested / mib + "m (the run keeps "
                        + (heapBytes < mib ? "next to nothing" : "about " + SystemInfo.bytes(heapBytes)) + " live on the heap)"
                : "free memory or use a machine with more; the run itself needs " + SystemInfo.bytes(required());
        return "the Java heap may grow to its limit of " + SystemInfo.bytes(maxHeap) + " (FALCON_HEAP), and with the rest of the run ("
                + SystemInfo.bytes(rest) + ") that is more than the " + SystemInfo.bytes(available) + " available: " + fix;
    }

    /** Whether the run fits the available memory (false where that is unknown). */
    boolean fits() {
        return available >= 0 && required() <= available;
    }

    /** This run with X mapped from a float32 Fortran-order file on the cpu backend (which keeps no heap copy of it). */
    private MemoryPlan mappedOnCpu() {
        return new MemoryPlan(p, rows, xBytes, true, vectorBytes, heapBytes - (javaBackend ? 8 * p : 0), available, false, systems, xHeld);
    }

    /** mp or magnitude on the same weights without X: no X, no solver vectors or n x n systems. */
    private MemoryPlan selectionWithoutX() {
        Systems held = systems.at(rows);
        long vectors = vectorBytes - held.offHeapBytes(rows);
        long heap = heapBytes - (solver() ? SOLVER_HEAP_PER_WEIGHT * p : 0) - held.heapBytes(rows);
        return new MemoryPlan(p, 0, 0, false, vectors, heap, available, javaBackend, Systems.NONE, 1);
    }

    /** Refuses (InputException, exit 2) when the run cannot fit, saying what would. */
    void check(ExampleModel model, RawMatrixSource x) {
        check(model, x, false);
    }

    /**
     * {@link #check(ExampleModel, RawMatrixSource)}; {@code offerBlockBacksolve}: the run backsolves with the exact model,
     * and the refusal offers the block-diagonal one where it fits or fits more rows.
     */
    void check(ExampleModel model, RawMatrixSource x, boolean offerBlockBacksolve) {
        long maxHeap = Runtime.getRuntime().maxMemory();
        if (heapBytes > 0.8 * maxHeap) {
            boolean systems = this.systems.at(rows).heapBytes(rows) > heapBytes / 2;
            throw InputException.of("memory", "Java heap", "the run needs about " + SystemInfo.bytes(heapBytes) + " of Java heap for p = " + p
                    + (systems ? " and n = " + rows + " (the solver's n x n systems)" : "") + " but the heap is limited to " + SystemInfo.bytes(maxHeap),
                    "raise it (FALCON_HEAP=" + Math.max(2, (long) Math.ceil(heapBytes / 0.7 / (1L << 30))) + "g ./falcon ...)"
                            + (javaBackend ? ", or use the cpu backend (--device cpu)" : "") + (systems ? ", or use fewer rows (samples) in X" : ""));
        }
        if (available < 0 || required() <= available) return;
        List<String> options = new ArrayList<>();
        long maxRows = maxRows();
        MemoryPlan block = offerBlockBacksolve && solver() && !blockBacksolve() ? withBlockBacksolve() : null;
        long blockRows = block == null || block.fits() ? 0 : block.maxRows();
        if (block != null && block.fits()) {
            options.add("--backsolve block (the block-diagonal model: its n x n systems need about " + SystemInfo.bytes(block.systemsBytes())
                    + " instead of the exact model's " + SystemInfo.bytes(systemsBytes()) + ", and the run about " + SystemInfo.bytes(block.required()) + ")");
        }
        if (model != null) {
            if (maxRows >= 1) {
                options.add("--n " + maxRows + " (the most rows of synthetic X that fit)");
                if (blockRows > maxRows) options.add("--backsolve block --n " + blockRows + " (the most that fit with the block-diagonal model)");
            } else {
                options.add(model.name() + "'s weights and buffers alone need " + SystemInfo.bytes(vectorBytes + heapBytes + RUNTIME));
            }
            for (String other : dev.falcon.examples.ExampleModels.names()) {
                if (other.equals(model.name())) continue;
                ExampleModel e = dev.falcon.examples.ExampleModels.get(other);
                // the same method on the other example: its solver's heap and n x n systems count as they do here
                MemoryPlan alternative = of(e.layers().parameters(), e.defaultRows(), null, true, javaBackend ? "java" : "cpu", false, false,
                        systems, available).holdingX(xHeld);
                long fit = Math.min(alternative.maxRows(), e.defaultRows());
                if (fit >= 1) options.add("--example " + other + " --n " + fit);
            }
        } else if (x != null) {
            if (maxRows >= 1) options.add("at most " + maxRows + " rows (samples) in X");
            if (blockRows > Math.max(maxRows, 0)) options.add("--backsolve block with at most " + blockRows + " rows in X");
            // each alternative is offered only where it fits: a small X mapped in place, or an mp without X for a p whose
            // vectors alone exceed the memory, was proposed and then refused again when followed
            if (!x.isInternalLayout() && mappedOnCpu().fits()) {
                options.add("store X as float32 in Fortran order (numpy: np.save(f, np.asfortranarray(X, dtype=np.float32))) so the cpu backend maps it without a copy");
            } else if (x.isInternalLayout() && javaBackend && mappedOnCpu().fits()) {
                options.add("--device cpu, which maps this float32 Fortran-order X without a copy (the java reference backend copies it)");
            }
            if (selectionWithoutX().fits()) {
                options.add(solver() ? "--method mp without --backsolve and without --grads (its selection needs no X; falcon and the backsolve do)"
                        : "drop --grads (the selection itself does not need X; only the objective does)");
            }
        }
        options.add("a machine with more memory");
        throw InputException.of("memory", "estimate", "the run needs " + describe() + " but only " + SystemInfo.bytes(available)
                + " is available", "options that fit: " + String.join("; ", options));
    }
}
