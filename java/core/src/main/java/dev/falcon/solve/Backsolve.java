package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.VectorLoops;
import dev.falcon.io.InputException;
import dev.falcon.model.LayerTable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Backsolve on a fixed support K: the best weights of the ridge model with w = 0 off K,
 * <pre>  (X_K^T X_K + lambda I) w_K = X_K^T X wbar + lambda wbar_K - g_K</pre>
 * written for delta = w_K - wbar_K as {@code min 1/2 ||X_K delta + c||^2 + lambda/2 ||delta||^2 + g_K^T delta}
 * with {@code c = -X_{not K} wbar_{not K}}, the residual of the removed weights. For |K| > n the
 * Woodbury identity gives, with {@code M = X_K X_K^T + lambda I} (n x n, Cholesky):
 * <pre>  delta = X_K^T M^{-1} (X_K g_K / lambda - c) - g_K / lambda</pre>
 * which has no cancellation when g = 0. M comes from {@code weightedGram} with 0/1 column weights, so
 * the support is selected without gathering. Modes:
 * <ul>
 * <li>{@link Mode#EXACT}: the whole network at once (one weightedGram pass, one n x n factorisation; |K| <= n: the
 *     |K| x |K| normal equations);</li>
 * <li>{@link Mode#BLOCK}: the block-diagonal model: every block (layers cut into chunks of blockSize)
 *     solves its own system on its gathered columns (|K_B| <= n: direct |K_B| x |K_B| normal
 *     equations; else Woodbury n x n);</li>
 * <li>{@link Mode#SWEEP}: block-coordinate Gauss-Seidel sweeps over the blocks on the exact model,
 *     keeping the shared residual r = X (w - wbar) up to date; converges to EXACT.</li>
 * </ul>
 */
public final class Backsolve {
    /** The exact backsolve, as the sweep's warning advises it. */
    public static final dev.falcon.io.SettingName EXACT_SETTING = new dev.falcon.io.SettingName("Backsolve.Mode.EXACT", "--backsolve exact");

    private Backsolve() {}

    public enum Mode {
        NONE, EXACT, BLOCK, SWEEP;

        /**
         * The mode named {@code text} (case and surrounding blanks ignored), as {@code Method.parse} reads a method: an
         * unknown or null name is an {@link dev.falcon.io.InputException} listing the names, not valueOf's "No enum
         * constant" or a NullPointerException. The refusal names the argument {@code Backsolve.Mode.parse(text)}.
         */
        public static Mode parse(String text) {
            return parse(text, "Backsolve.Mode.parse(text)");
        }

        /**
         * As {@link #parse(String)}, with what the caller calls the value in a refusal: an option ("--backsolve", as the
         * CLI passes) or a name of its own, as {@code Method.parse(text, field)} takes it.
         */
        public static Mode parse(String text, String field) {
            // the CLI's order: the default of the solver methods first, plain mp's last
            return dev.falcon.io.InputException.choice(text, field, "mode", List.of(EXACT, BLOCK, SWEEP, NONE), Mode::cliName);
        }

        public String cliName() { return name().toLowerCase(Locale.ROOT); }
    }

    /**
     * Blocks = layers cut into chunks of at most blockSize weights: boundaries from 0 to p. A block size below 1 is an
     * IllegalArgumentException, as {@link SolverOptions#withBlockSize} gives: the loop below never advanced and filled
     * the heap with boundaries until an OutOfMemoryError.
     */
    public static long[] blockStarts(LayerTable layers, long blockSize) {
        if (blockSize < 1) {
            throw new IllegalArgumentException("Backsolve.blockStarts: blockSize is " + blockSize + "; it must be >= 1 (SolverOptions.blockSize(), "
                    + SolverOptions.DEFAULT_BLOCK_SIZE + " by default, is a valid one)");
        }
        List<Long> s = new ArrayList<>();
        for (var l : layers.layers()) {
            for (long o = l.offset(); o < l.end(); o += Math.min(blockSize, l.end() - o)) s.add(o);
        }
        s.add(layers.parameters());
        long[] r = new long[s.size()];
        for (int i = 0; i < r.length; i++) r[i] = s.get(i);
        return r;
    }

    /**
     * The block backsolve's solutions within one solver run: per block, the kept weights of up to two solutions and the
     * weights they solved to. A block's solution depends on its own kept weights alone (with X, wbar, g and lambda, fixed
     * within a run), and the candidate supports of falcon's searches differ from the round's support in a few weights, so
     * in a block or two: re-solving every block per candidate (gather, products, Gram, Cholesky) made falcon --backsolve
     * block on X 200 x 200,000 take 121 s against exact's 26 s. With the last solution per block alone, a candidate that
     * moved a block away from the round's support left the next candidate to solve it again for the support's weights
     * (the swap search's singles return to them candidate after candidate, and a batch of moves left tens of blocks to
     * solve again): on X 200 x 200,000 (104 blocks) 1302 block solves, 36% of them for kept weights solved before. So
     * each block keeps two: a new solution replaces the one not reused since the other was (the round's support is
     * reused by every candidate that leaves the block alone and stays; a candidate's own blocks, never reused, make way
     * for the next candidate's), 1001 block solves there. Bound to the problem it was made for (checked on every use).
     * Heap: {@link #HEAP_BYTES_PER_WEIGHT} per weight of the blocks solved; no native memory. Not for use by several threads.
     */
    public static final class BlockSolutions {
        /** Per weight, the kept mask (1 byte) and the solved weight (4) of each of the {@link #SLOTS} solutions of a block. */
        public static final long HEAP_BYTES_PER_WEIGHT = 5 * 2;

        /** Solutions kept per block. */
        static final int SLOTS = 2;

        private final HostMatrix x;
        private final float[] wbar, g;
        private final double lambda;
        private final long[] blockStarts;
        /**
         * Per block and slot, the mask's bytes over the block when it was solved (null: slot empty), its weights then, and
         * when the slot was last reused (the count of reuses so far then; -1: never reused since it was solved).
         */
        private final byte[][][] keptFor;
        private final float[][][] weights;
        private final long[][] lastReused;
        /** Per block and slot, the count of blocks solved before it: of two never reused, the older is replaced. */
        private final long[][] solvedAt;
        private long reused, solvedBlocks;

        public BlockSolutions(HostMatrix x, float[] wbar, float[] g, double lambda, long[] blockStarts) {
            this.x = x;
            this.wbar = wbar;
            this.g = g;
            this.lambda = lambda;
            this.blockStarts = blockStarts.clone();
            int blocks = blockStarts.length - 1;
            this.keptFor = new byte[blocks][SLOTS][];
            this.weights = new float[blocks][SLOTS][];
            this.lastReused = new long[blocks][SLOTS];
            this.solvedAt = new long[blocks][SLOTS];
        }

        /** Blocks whose solution was taken from here, and blocks solved and kept here, so far. */
        public long reused() { return reused; }

        public long solved() { return solvedBlocks; }

        /** A solution kept for another problem would be a silently wrong answer: refused. */
        void checkFor(HostMatrix x, float[] wbar, float[] g, double lambda, long[] blockStarts) {
            if (x != this.x || wbar != this.wbar || g != this.g || Double.compare(lambda, this.lambda) != 0
                    || !java.util.Arrays.equals(blockStarts, this.blockStarts)) {
                throw new IllegalArgumentException("the block solutions were kept for another problem (X, wbar, g, lambda or"
                        + " blockStarts differ): use one BlockSolutions per solver run, made for its X, wbar, g, lambda and blocks");
            }
        }

        /** Whether block b ([s, e)) has a solution for the mask's kept weights there; if so its weights are copied into w. */
        boolean copyIfSolvedFor(int b, byte[] mask, int s, int e, float[] w) {
            for (int slot = 0; slot < SLOTS; slot++) {
                if (!keptSame(keptFor[b][slot], mask, s, e)) continue;
                System.arraycopy(weights[b][slot], 0, w, s, e - s);
                lastReused[b][slot] = reused++;
                return true;
            }
            return false;
        }

        /** Nonzero is kept, whatever the byte: a mask of 2s keeps what one of 1s does. */
        private static boolean keptSame(byte[] kept, byte[] mask, int s, int e) {
            if (kept == null) return false;
            for (int i = 0; i < e - s; i++) if ((kept[i] != 0) != (mask[s + i] != 0)) return false;
            return true;
        }

        /**
         * Block b ([s, e)) solved for the mask's kept weights there, to w[s, e): into an empty slot, else in place of the
         * solution reused least lately (one never reused before one that was, and of two never reused the other one than
         * the last solved: it is the older).
         */
        void keep(int b, byte[] mask, int s, int e, float[] w) {
            int slot = 0;
            for (int other = 1; other < SLOTS; other++) {
                if (keptFor[b][slot] == null) break;
                if (keptFor[b][other] == null || lastReused[b][other] < lastReused[b][slot]
                        || lastReused[b][other] == lastReused[b][slot] && solvedAt[b][other] < solvedAt[b][slot]) {
                    slot = other;
                }
            }
            if (keptFor[b][slot] == null) {
                keptFor[b][slot] = new byte[e - s];
                weights[b][slot] = new float[e - s];
            }
            System.arraycopy(mask, s, keptFor[b][slot], 0, e - s);
            System.arraycopy(w, s, weights[b][slot], 0, e - s);
            lastReused[b][slot] = -1;
            solvedAt[b][slot] = solvedBlocks++;
        }
    }

    /**
     * Weights on the support: w_K from the chosen mode, 0 off K. {@code mask} has length p (nonzero = kept),
     * g may be null. Blocks only matter for BLOCK and SWEEP.
     */
    public static float[] solve(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                Mode mode, long[] blockStarts, int sweeps, double sweepTolerance) {
        return solve(backend, x, wbar, g, lambda, mask, mode, blockStarts, sweeps, sweepTolerance, null);
    }

    /**
     * {@link #solve(ComputeBackend, HostMatrix, float[], float[], double, byte[], Mode, long[], int, double)}, where BLOCK
     * takes the solution of every block whose kept weights are those it was last solved for from {@code solved} (null: none
     * kept) and leaves there the blocks it solves. {@code solved} must be for this x, wbar, g, lambda and blockStarts; the
     * other modes ignore it.
     */
    public static float[] solve(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                Mode mode, long[] blockStarts, int sweeps, double sweepTolerance, BlockSolutions solved) {
        return solve(backend, x, wbar, g, lambda, mask, mode, blockStarts, sweeps, sweepTolerance, solved, new SweepWarning());
    }

    /**
     * As above, where SWEEP tells that it stopped short of the minimum through {@code warning}, the prune's, which tells it
     * once however many backsolves the prune runs.
     */
    public static float[] solve(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                Mode mode, long[] blockStarts, int sweeps, double sweepTolerance, BlockSolutions solved,
                                SweepWarning warning) {
        int p = Math.toIntExact(x.cols());
        float[] w = new float[p];
        switch (mode) {
            case NONE -> {
                for (int i = 0; i < p; i++) w[i] = mask[i] != 0 ? wbar[i] : 0f;
            }
            case EXACT -> {
                int kept = 0;
                for (byte b : mask) if (b != 0) kept++;
                if (kept == 0 || kept > x.rows()) {
                    Exact e = exact(backend, x, wbar, g, lambda, mask, null);
                    e.gram().close();
                    return e.w();
                }
                // no caller here updates a nearby support's Gram from this one: the direct solve's alone is held
                float[] keep = new float[p];
                for (int i = 0; i < p; i++) if (mask[i] != 0) keep[i] = 1f;
                double[] delta = solveDirect(backend, x, keep, kept, removedResidual(backend, x, wbar, mask), g, lambda);
                for (int i = 0; i < p; i++) w[i] = mask[i] != 0 ? (float) (wbar[i] + delta[i]) : 0f;
            }
            case BLOCK -> {
                if (solved != null) solved.checkFor(x, wbar, g, lambda, blockStarts);
                for (int b = 0; b + 1 < blockStarts.length; b++) {
                    int s = (int) blockStarts[b], e = (int) blockStarts[b + 1];
                    int mb = e - s;
                    // (a block with nothing kept is never kept there)
                    if (solved != null && solved.copyIfSolvedFor(b, mask, s, e, w)) continue;
                    float[] keep = new float[mb], gb = g == null ? null : new float[mb];
                    boolean any = false;
                    for (int i = 0; i < mb; i++) {
                        if (mask[s + i] != 0) { keep[i] = 1f; any = true; }
                        if (gb != null) gb[i] = g[s + i];
                    }
                    // a block with nothing kept is 0 whatever its columns: they are not gathered
                    if (!any) continue;
                    try (HostMatrix xb = gather(backend, x, s, e)) {
                        // summed in double, as the exact backsolve's: X_{B,K} delta cancels it within each block as it does
                        // over the network, and c summed in float left the block backsolve up to 2.6x its own model's
                        // float-rounded minimum (f16 X near 65504), java and cpu 2.2x apart
                        double[] c = removedResidual(backend, xb, Arrays.copyOfRange(wbar, s, e), Arrays.copyOfRange(mask, s, e));
                        double[] delta = solveLocal(backend, xb, keep, c, gb, lambda);
                        for (int i = 0; i < mb; i++) if (keep[i] != 0) w[s + i] = (float) (wbar[s + i] + delta[i]);
                    }
                    if (solved != null) solved.keep(b, mask, s, e, w);
                }
            }
            case SWEEP -> {
                return sweep(backend, x, wbar, g, lambda, mask, blockStarts, null, sweeps, sweepTolerance, null, warning);
            }
        }
        return w;
    }

    /**
     * Block-coordinate Gauss-Seidel on the exact model: each block solves its subproblem exactly given the
     * others, then the shared residual r = X (w - wbar) is updated. Starts from {@code start} (or wbar on K).
     * Stops after {@code sweeps} sweeps or when a sweep lowers Q by less than {@code tolerance} relative.
     * {@code qPerSweep}, when given, receives Q after every sweep.
     *
     * <p>Each sweep ends with an exact minimisation of Q over the plane of its own step and the previous sweep's
     * (a conjugate-direction acceleration; the plain sweep is a point of that plane, so Q never falls less than
     * with it). Plain sweeps crawl when lambda is small against X's spectrum and the support far wider than n: the
     * first block absorbs the residual, and the ridge term then moves weight to the other blocks by a factor of
     * about lambda / sigma^2 per sweep (resnet20 example, n = 128, lambda = 1e-3, mp's support at 30% of the FLOPs,
     * side by side: 100 plain sweeps end 49.6% above the exact Q in 27.2 s, 100 with the plane step 12.8% above in
     * 24.7 s; with the plane's image taken from the blocks' own products, 8.4% above in 22.8 s: Q 0.191595 against
     * 0.176810, {@code ./falcon prune --example resnet20 --keep-flops 0.3 --method mp --backsolve sweep|exact}). The
     * image of the sweep's step the plane needs is the sum of the blocks' products with their own moves, and the
     * residual of the point kept is formed fresh once per sweep, so it costs no extra pass over X; a plane point
     * that the fresh residual shows above the plain sweep (the step being float rounding once the sweeps have
     * converged) is dropped for the plain one. No block method converges fast here: the slow directions change no
     * X_K d, only how the blocks share it, and the exact backsolve is the n x n correction that removes them.
     */
    public static float[] sweep(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                long[] blockStarts, float[] start, int sweeps, double tolerance, List<Double> qPerSweep) {
        // a caller that follows Q sweep by sweep sees for itself where the sweeps stopped
        return sweep(backend, x, wbar, g, lambda, mask, blockStarts, start, sweeps, tolerance, qPerSweep,
                qPerSweep == null ? new SweepWarning() : null);
    }

    /**
     * As above, telling a stop short of the minimum through {@code warning} (the prune's, which tells it once however many
     * backsolves the prune runs; null: not told).
     */
    public static float[] sweep(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                long[] blockStarts, float[] start, int sweeps, double tolerance, List<Double> qPerSweep,
                                SweepWarning warning) {
        int p = Math.toIntExact(x.cols());
        int n = Math.toIntExact(x.rows());
        // The state is the float weights w themselves, and X d is X w summed in double plus -X wbar summed once (the exact
        // model's residual, FisherModel): X d = X_K d_K - X_{not K} wbar_{not K} cancels, and with d kept in float and X d
        // summed in float the sweeps stalled at that rounding, 34% to 3.6x above the exact Q at lambda 1e-7 and below; d
        // in float and w = wbar + d re-rounded on return left the returned weights' Q off the one the sweeps had judged.
        float[] w = new float[p];
        for (int i = 0; i < p; i++) w[i] = mask[i] == 0 ? 0f : (start != null ? start[i] : wbar[i]);
        try (FisherModel model = new FisherModel(backend, x, wbar, g, null, 0, lambda, null)) {
            FisherModel.Eval first = model.evaluate(w);
            double[] r = first.r;
            double q = first.q;
            // the best point seen: a sweep at the rounding floor can raise Q, and the point it ends on is then not the one to keep
            float[] best = w.clone();
            double[] bestR = r.clone();
            double bestQ = q;
            int risen = 0;
            // the best Q's relative fall in its last sweep that lowered it, and whether the sweeps ended before their cap
            double lastFall = Double.NaN;
            boolean ended = false;
            // each block's -X_{B,K} wbar_{B,K}, summed in double on the first sweep: its X_{B,K} d_{B,K} is then X_{B,K} w_{B,K}
            // plus it, without the cancellation
            double[][] blockOffsets = new double[blockStarts.length][];
            float[] sweepStart = new float[p];
            float[] previousStep = null, step = new float[p];
            double[] previousXStep = null;
            for (int sweep = 0; sweep < sweeps; sweep++) {
                System.arraycopy(w, 0, sweepStart, 0, p);
                double[] residualAtStart = r.clone();
                // X (step) as the sum of the blocks' own changes of X_B d_B, accurate relative to the step however small. The
                // difference of a fresh X d and the tracked residual is rounding noise once the sweeps converge, and the plane
                // step scaled that noise into r and d: Q was reported below the exact minimum and the next sweeps moved away.
                double[] xStep = new double[n];
                for (int b = 0; b + 1 < blockStarts.length; b++) {
                    int s = (int) blockStarts[b], e = (int) blockStarts[b + 1];
                    int mb = e - s;
                    float[] keep = new float[mb], wk = new float[mb], gb = g == null ? null : new float[mb];
                    boolean any = false;
                    for (int i = 0; i < mb; i++) {
                        if (mask[s + i] != 0) { keep[i] = 1f; wk[i] = w[s + i]; any = true; }
                        if (gb != null) gb[i] = g[s + i];
                    }
                    if (!any) continue;
                    try (HostMatrix xb = gather(backend, x, s, e)) {
                        if (blockOffsets[b] == null) {
                            float[] wbarKept = new float[mb];
                            for (int i = 0; i < mb; i++) if (keep[i] != 0) wbarKept[i] = wbar[s + i];
                            blockOffsets[b] = FisherModel.offsetOf(backend, xb, wbarKept);
                        }
                        double[] old = blockResidual(backend, xb, wk, blockOffsets[b]);
                        double[] c = new double[n];
                        for (int i = 0; i < n; i++) c[i] = r[i] - old[i];
                        double[] delta = solveLocal(backend, xb, keep, c, gb, lambda);
                        for (int i = 0; i < mb; i++) {
                            if (keep[i] != 0) {
                                wk[i] = (float) (wbar[s + i] + delta[i]);
                                w[s + i] = wk[i];
                            }
                        }
                        double[] moved = blockResidual(backend, xb, wk, blockOffsets[b]);
                        for (int i = 0; i < n; i++) {
                            double image = moved[i] - old[i];
                            r[i] += image;
                            xStep[i] += image;
                        }
                    }
                }
                for (int i = 0; i < p; i++) step[i] = w[i] - sweepStart[i];
                double qPlain = objective(backend.threads(), r, w, wbar, g, lambda);
                double[] ab = bestInPlane(backend.threads(), residualAtStart, sweepStart, wbar, g, lambda, step, xStep, previousStep, previousXStep);
                double a = ab[0], bb = ab[1];
                boolean plainStep = a == 1 && bb == 0;
                float[] plain = plainStep ? null : w.clone();
                float[] taken = previousStep == null ? new float[p] : previousStep;
                double[] xTaken = new double[n];
                for (int i = 0; i < p; i++) {
                    double t = a * step[i] + (previousStep == null ? 0 : bb * previousStep[i]);
                    w[i] = mask[i] == 0 ? 0f : (float) (sweepStart[i] + t);
                    taken[i] = w[i] - sweepStart[i];
                }
                for (int i = 0; i < n; i++) xTaken[i] = a * xStep[i] + (previousXStep == null ? 0 : bb * previousXStep[i]);
                // The residual and Q of the float weights taken, fresh (one pass): no drift, and the Q of what is returned. The
                // plane's own image of it is off by the rounding of w to float, all of the step once the sweeps have converged.
                FisherModel.Eval fresh = model.evaluate(w);
                if (plainStep || fresh.q <= qPlain) {
                    r = fresh.r;
                    q = fresh.q;
                    previousXStep = xTaken;
                } else {
                    // the plane's model was misled by that rounding: keep the plain sweep, its residual and Q fresh as well (the
                    // tracked ones, the blocks' images added up, are not those of the weights returned)
                    w = plain;
                    System.arraycopy(step, 0, taken, 0, p);
                    FisherModel.Eval kept = model.evaluate(w);
                    r = kept.r;
                    q = kept.q;
                    previousXStep = xStep;
                }
                previousStep = taken;
                if (qPerSweep != null) qPerSweep.add(q);
                // weights beyond float (a tiny lambda) are no rise by rounding: they run to the cap and are returned as they
                // are, for the caller to refuse as not finite
                if (!Double.isFinite(q)) continue;
                if (q <= bestQ) {
                    double before = bestQ;
                    System.arraycopy(w, 0, best, 0, p);
                    bestR = r.clone();
                    bestQ = q;
                    risen = 0;
                    lastFall = (before - q) / Math.abs(before);
                    // convergence is a decrease below the tolerance (none at all: the sweep's fixed point)
                    if (before - q <= tolerance * Math.abs(before)) {
                        ended = true;
                        // A crawl looks the same: at a small lambda weight moves between blocks by about lambda / sigma^2 a
                        // sweep, below the tolerance, and the sweeps stopped silently 1.25x to 3.4x above the exact Q (mp's
                        // support, lambda 1e-12 and 1e-7). Q is lambda-strongly convex on the support, so its gradient there
                        // bounds how far the minimum lies below: one pass over X decides whether to say so.
                        double gap = gapBound(backend, x, bestR, best, wbar, g, lambda, mask);
                        if (!(gap <= CERTIFIED_GAP * Math.abs(bestQ)) && warning != null) {
                            warning.stoppedShort(String.format(Locale.ROOT, "block-coordinate backsolve stopped after %d"
                                    + " sweeps at Q %.9g, its last sweep lowering it by %.2e relative, below its tolerance %.0e, but"
                                    + " sweeps that crawl stop so too, and Q''s gradient on the support cannot show it within %.0e"
                                    + " relative of the model''s minimum (%s)",
                                    sweep + 1, bestQ, lastFall, tolerance, CERTIFIED_GAP, gapRelativeToQ(gap, bestQ, g != null)),
                                    SweepWarning.MAY_NOT_BE_EXACT);
                        }
                        break;
                    }
                } else {
                    // A rise is the rounding of w to float, not convergence: the sweeps broke off on it and returned the raised
                    // point (Q 3.6x the exact one). The next sweep starts again from the best point, plain (the plane of a
                    // raised step is no guide); a plain sweep from there that raises Q again is stuck.
                    if (++risen >= STALLED_SWEEPS) {
                        if (warning != null) {
                            warning.stoppedShort(String.format(Locale.ROOT, "block-coordinate backsolve stopped after %d"
                                    + " sweeps with Q no longer falling (%d sweeps in a row above its best, %.9g, which is kept;"
                                    + " tolerance %.0e)", sweep + 1, risen, bestQ, tolerance), SweepWarning.MAY_NOT_BE_EXACT);
                        }
                        ended = true;
                        break;
                    }
                    w = best.clone();
                    r = bestR.clone();
                    previousStep = null;
                    previousXStep = null;
                }
            }
            // once per prune (SweepWarning): falcon --backsolve sweep backsolves candidate after candidate, and printed the
            // same line 26 times in one run
            if (!ended && sweeps > 0 && warning != null) {
                // a Q that overflowed (weights beyond float under a tiny lambda) has no rate of fall: "falling by NaN per
                // sweep" said nothing of what happened
                String state = Double.isFinite(q) && Double.isFinite(lastFall)
                        ? String.format(Locale.ROOT, "still falling by %.2e per sweep", lastFall)
                        : "not finite (" + q + ": the weights or products of the sweeps overflowed)";
                // the exact backsolve as a parameter, {0}: an embedder reads Backsolve.Mode.EXACT, the CLI its --backsolve exact
                // (a MessageFormat pattern: the apostrophe is written twice)
                warning.stoppedShort(String.format(Locale.ROOT, "block-coordinate backsolve stopped after %d sweeps"
                        + " with Q %s (tolerance %.0e)", sweeps, state, tolerance), SweepWarning.NOT_YET_EXACT);
            }
            float[] returned = Double.isFinite(q) ? best : w;
            if (warning != null) warning.sweepReturned(returned);
            return returned;
        }
    }

    /** X_{B,K} d_{B,K} of one block: its kept weights' product summed in double, plus the block's -X_{B,K} wbar_{B,K}. */
    private static double[] blockResidual(ComputeBackend backend, HostMatrix xb, float[] keptWeights, double[] blockOffset) {
        double[] r = productSummedInDouble(backend, xb, keptWeights);
        for (int i = 0; i < r.length; i++) r[i] += blockOffset[i];
        return r;
    }

    /**
     * The largest bound on Q - Q* (relative to Q) with which sweeps that stop on a small decrease count as converged
     * without a warning: about what rounding the weights to float costs (a few 1e-7 of Q), so that an ordinary converged
     * stop is shown and a crawl is not.
     */
    static final double CERTIFIED_GAP = 1e-6;

    /**
     * The crawl warning's figure for {@link #gapBound}, in the terms of its tolerance {@link #CERTIFIED_GAP}: relative to |Q|.
     * Printed absolute, beside that relative tolerance, a bound of 8.50e-02 at Q 2.1e-11 read as "at most 8.5% lower" while
     * the minimum was 3.1x lower. Without a linear term ({@code withLinearTerm} false) Q* >= 0, so a bound beyond Q itself
     * rules nothing out; with one Q and Q* may be negative, and Q - gap is a bound whatever its size ("1.50e+00 times Q
     * lower" at Q = -2 read as 1.5 x -2, and said it ruled nothing out while Q* >= -5).
     */
    static String gapRelativeToQ(double gap, double q, boolean withLinearTerm) {
        double relative = gap / Math.abs(q);
        if (relative < 1) return String.format(Locale.ROOT, "it allows the minimum up to %.2e relative lower", relative);
        if (!Double.isFinite(gap)) return "it sets no bound on how far lower the minimum lies";
        if (withLinearTerm) {
            if (!Double.isFinite(relative)) return String.format(Locale.ROOT, "it allows the minimum as low as %.2e", q - gap);
            return String.format(Locale.ROOT, "it allows the minimum up to %.2e times |Q| below Q, as low as %.2e", relative, q - gap);
        }
        if (!Double.isFinite(relative)) return "it sets no bound on how far lower the minimum lies";
        return String.format(Locale.ROOT, "it allows the minimum up to %.2e times Q lower: more than Q itself, so the minimum may be"
                + " far lower", relative);
    }

    /**
     * A bound on how far Q at {@code w} lies above the model's minimum on the support: Q is lambda-strongly convex there
     * (Hessian X_K^T X_K + lambda I), so Q(w) - Q* <= |grad_K Q(w)|^2 / (2 lambda). {@code r} is X (w - wbar) in double;
     * X_K^T r is summed in double (one pass over X): in float its rounding alone, divided by a small lambda, would
     * exceed the bound of a converged point.
     */
    static double gapBound(ComputeBackend backend, HostMatrix x, double[] r, float[] w, float[] wbar, float[] g, double lambda, byte[] mask) {
        int p = Math.toIntExact(x.cols());
        double squared = 0;
        try (DoublePointer u = new DoublePointer(r); DoublePointer xtr = new DoublePointer(p)) {
            backend.multiplyTransposedSummedInDouble(x, u, xtr);
            double[] chunk = new double[Math.min(p, 1 << 16)];
            for (int from = 0; from < p; from += chunk.length) {
                int length = Math.min(chunk.length, p - from);
                xtr.position(from).get(chunk, 0, length);
                for (int k = 0; k < length; k++) {
                    int i = from + k;
                    if (mask[i] == 0) continue;
                    double gradient = chunk[k] + lambda * ((double) w[i] - wbar[i]) + (g == null ? 0 : g[i]);
                    squared += gradient * gradient;
                }
            }
        }
        return squared / (2 * lambda);
    }

    /** Sweeps in a row that raise Q above the best point's after which the sweeps stop (and warn): they are stuck there. */
    static final int STALLED_SWEEPS = 2;

    /**
     * Q = 1/2 ||r||^2 + lambda/2 ||d||^2 + g^T d for r = X d, d = w - wbar in double (length-p sums in fixed chunks: the same
     * for any thread count).
     */
    private static double objective(int threads, double[] r, float[] w, float[] wbar, float[] g, double lambda) {
        double[] sums = VectorLoops.run(threads, w.length, 2, (from, to, out) -> {
            for (int i = from; i < to; i++) {
                double di = (double) w[i] - wbar[i];
                out[0] += di * di;
                if (g != null) out[1] += g[i] * di;
            }
        });
        return 0.5 * dot(r, r) + 0.5 * lambda * sums[0] + sums[1];
    }

    /**
     * (a, b) minimising Q(w + a s + b t) for the quadratic Q of {@link #objective}, given r = X (w - wbar), X s and X t; t may
     * be null (then b = 0). Falls back to the plain step (1, 0) when the plane's 2 x 2 system is too ill-conditioned to beat it.
     */
    private static double[] bestInPlane(int threads, double[] r, float[] w, float[] wbar, float[] g, double lambda, float[] s, double[] xs,
                                        float[] t, double[] xt) {
        // the length-p inner products in one pass: s.s, d.s, g.s, t.t, s.t, d.t, g.t
        double[] p = VectorLoops.run(threads, s.length, 7, (from, to, out) -> {
            for (int i = from; i < to; i++) {
                double si = s[i], di = (double) w[i] - wbar[i], gi = g == null ? 0 : g[i], ti = t == null ? 0 : t[i];
                out[0] += si * si;
                out[1] += di * si;
                out[2] += gi * si;
                out[3] += ti * ti;
                out[4] += si * ti;
                out[5] += di * ti;
                out[6] += gi * ti;
            }
        });
        double h11 = dot(xs, xs) + lambda * p[0];
        double c1 = dot(r, xs) + lambda * p[1] + p[2];
        if (!(h11 > 0)) return new double[] {1, 0};
        double plain = 0.5 * h11 + c1;
        double a = -c1 / h11, b = 0, best = -0.5 * c1 * c1 / h11;
        if (t != null) {
            double h22 = dot(xt, xt) + lambda * p[3];
            double h12 = dot(xs, xt) + lambda * p[4];
            double c2 = dot(r, xt) + lambda * p[5] + p[6];
            double det = h11 * h22 - h12 * h12;
            if (h22 > 0 && det > 1e-12 * h11 * h22) {
                double a2 = (-c1 * h22 + c2 * h12) / det, b2 = (-c2 * h11 + c1 * h12) / det;
                double value = 0.5 * (a2 * a2 * h11 + 2 * a2 * b2 * h12 + b2 * b2 * h22) + a2 * c1 + b2 * c2;
                if (value < best) { a = a2; b = b2; best = value; }
            }
        }
        return best < plain ? new double[] {a, b} : new double[] {1, 0};
    }

    /** n-length (residual-sized) inner product. */
    private static double dot(double[] u, double[] v) {
        double s = 0;
        for (int i = 0; i < u.length; i++) s += u[i] * v[i];
        return s;
    }


    /**
     * {@code X_K X_K^T} (n x n, double, without lambda) of one support K, kept so that the exact backsolve of a nearby
     * support (a few coordinates swapped, as the solver's support searches try) adds and subtracts the changed columns'
     * outer products, n^2 per change, instead of forming it again, n^2 |K|. Owned: close it.
     */
    public static final class SupportGram implements AutoCloseable {
        private final byte[] mask;
        private final long kept;
        private final DoublePointer gram;
        private final int n;
        /** Whether this Gram was formed from all of K rather than updated from another support's. */
        private final boolean formed;
        /** Where the matrix goes back on close (null: it is freed). */
        private final SquareBuffers home;
        private boolean closed;

        private SupportGram(byte[] mask, long kept, DoublePointer gram, int n, boolean formed) {
            this(mask, kept, gram, n, formed, null);
        }

        private SupportGram(byte[] mask, long kept, DoublePointer gram, int n, boolean formed, SquareBuffers home) {
            this.mask = mask;
            this.kept = kept;
            this.gram = gram;
            this.n = n;
            this.formed = formed;
            this.home = home;
        }

        /** Whether it was formed from every column of its support, not updated from another support's Gram. */
        public boolean formed() { return formed; }

        /** Whether this is the Gram of exactly {@code support}. */
        boolean isOf(byte[] support) {
            if (support.length != mask.length) return false;
            for (int j = 0; j < mask.length; j++) if ((support[j] != 0) != (mask[j] != 0)) return false;
            return true;
        }

        /** The n x n matrix X_K X_K^T (column-major, both triangles), owned by this Gram: read it, do not keep it. */
        DoublePointer matrix() { return gram; }

        /**
         * The Gram of {@code mask}: updated from {@code near} when at most half as many columns changed as the larger
         * support holds, else formed from scratch with one weightedGram pass. The update is a product over the changed
         * columns with weights +1 and -1 (cpu: two symmetric rank-k products, the work per column of forming; cuda: a
         * general product, twice that); updating up to all of the support measured no faster on the MNIST CNN.
         */
        static SupportGram of(ComputeBackend backend, HostMatrix x, byte[] mask, SupportGram near) {
            int p = mask.length, n = Math.toIntExact(x.rows());
            long kept = FalconSolver.count(mask);
            DoublePointer gram = new DoublePointer((long) n * n);
            try {
                int changed = 0;
                if (near != null && near.n == n && near.mask.length == p) {
                    for (int j = 0; j < p; j++) if ((mask[j] != 0) != (near.mask[j] != 0)) changed++;
                }
                if (near == null || near.n != n || near.mask.length != p || 2L * changed > Math.max(kept, near.kept)) {
                    float[] keep = new float[p];
                    for (int j = 0; j < p; j++) if (mask[j] != 0) keep[j] = 1f;
                    try (FloatPointer weights = backend.floatVector(p)) {
                        weights.put(keep, 0, p);
                        backend.weightedGram(x, weights, gram);
                    }
                    return new SupportGram(mask.clone(), kept, gram, n, true);
                }
                Pointer.memcpy(gram, near.gram, (long) n * n * Double.BYTES);
                if (changed > 0) {
                    // + x_j x_j^T for the columns that joined, - for those that left: on the gathered changed columns only
                    int[] idx = new int[changed];
                    float[] sign = new float[changed];
                    for (int j = 0, t = 0; j < p; j++) {
                        if ((mask[j] != 0) == (near.mask[j] != 0)) continue;
                        idx[t] = j;
                        sign[t++] = mask[j] != 0 ? 1f : -1f;
                    }
                    addOuterProducts(backend, x, gram, idx, sign, n);
                }
                return new SupportGram(mask.clone(), kept, gram, n, false);
            } catch (RuntimeException | Error e) {
                gram.close();
                throw e;
            }
        }

        /**
         * The Gram of {@code near}'s support with the columns {@code joined} added and {@code left} removed (the caller
         * knows them: no scan of p), updated whatever their number.
         */
        static SupportGram updated(ComputeBackend backend, HostMatrix x, SupportGram near, int[] joined, int[] left, SquareBuffers buffers) {
            int n = near.n, changed = joined.length + left.length;
            if (buffers.size() != (long) n * n) throw new IllegalArgumentException("buffers of " + buffers.size() + " doubles for an n = " + n + " Gram");
            byte[] mask = near.mask.clone();
            int[] idx = new int[changed];
            float[] sign = new float[changed];
            for (int t = 0; t < joined.length; t++) {
                if (mask[joined[t]] != 0) throw new IllegalArgumentException("column " + joined[t] + " is already in the support");
                mask[joined[t]] = 1;
                idx[t] = joined[t];
                sign[t] = 1f;
            }
            for (int t = 0; t < left.length; t++) {
                if (mask[left[t]] == 0) throw new IllegalArgumentException("column " + left[t] + " is not in the support");
                mask[left[t]] = 0;
                idx[joined.length + t] = left[t];
                sign[joined.length + t] = -1f;
            }
            DoublePointer gram = buffers.take();
            try {
                Pointer.memcpy(gram, near.gram, (long) n * n * Double.BYTES);
                if (changed > 0) {
                    DoublePointer update = buffers.take();
                    try {
                        addOuterProducts(backend, x, gram, idx, sign, n, update);
                    } finally {
                        buffers.give(update);
                    }
                }
                return new SupportGram(mask, near.kept + joined.length - left.length, gram, n, false, buffers);
            } catch (RuntimeException | Error e) {
                buffers.give(gram);
                throw e;
            }
        }

        /** gram += sum_t sign_t x_{idx_t} x_{idx_t}^T, on the gathered columns only. */
        private static void addOuterProducts(ComputeBackend backend, HostMatrix x, DoublePointer gram, int[] idx, float[] sign, int n) {
            try (DoublePointer update = new DoublePointer((long) n * n)) {
                addOuterProducts(backend, x, gram, idx, sign, n, update);
            }
        }

        /** {@link #addOuterProducts(ComputeBackend, HostMatrix, DoublePointer, int[], float[], int)} with an n x n scratch for the update. */
        private static void addOuterProducts(ComputeBackend backend, HostMatrix x, DoublePointer gram, int[] idx, float[] sign, int n,
                                             DoublePointer update) {
            int changed = idx.length;
            try (HostMatrix columns = HostMatrix.allocate(n, changed); IntPointer cols = new IntPointer(idx);
                 FloatPointer weights = new FloatPointer(sign)) {
                backend.gatherColumns(x, cols, changed, columns.data());
                backend.weightedGram(columns, weights, update);
                // added in place, off-heap: no n^2 heap copies per candidate
                java.nio.DoubleBuffer g = gram.position(0).limit((long) n * n).asBuffer();
                java.nio.DoubleBuffer u = update.position(0).limit((long) n * n).asBuffer();
                for (int i = 0; i < n * n; i++) g.put(i, g.get(i) + u.get(i));
            }
        }

        @Override
        public void close() {
            // a second close would hand a pooled matrix out twice
            if (closed) return;
            closed = true;
            if (home != null) home.give(gram);
            else gram.close();
        }
    }

    /**
     * Off-heap n x n double matrices handed out and taken back, so that a search over many nearby supports (the swap
     * polish's trials: each a Gram, its update and a Cholesky factor) reuses a few instead of allocating and freeing
     * three per trial. Closing frees those taken back; one still handed out is freed when its holder gives it back.
     */
    static final class SquareBuffers implements AutoCloseable {
        private final long size;
        private final java.util.ArrayDeque<DoublePointer> free = new java.util.ArrayDeque<>();
        private boolean closed;

        SquareBuffers(int n) {
            size = (long) n * n;
        }

        /** Doubles in each matrix. */
        long size() { return size; }

        /** A matrix of {@link #size()} doubles, contents undefined: give it back when done. */
        DoublePointer take() {
            DoublePointer b = free.poll();
            return b != null ? b.position(0).limit(size) : new DoublePointer(size);
        }

        void give(DoublePointer b) {
            if (closed) b.close();
            else free.push(b);
        }

        @Override
        public void close() {
            closed = true;
            for (DoublePointer b : free) b.close();
            free.clear();
        }
    }

    /** An exact backsolve and the Gram of its support, which the caller owns (and may pass to the next one). */
    record Exact(float[] w, SupportGram gram) {}

    /**
     * {@link Mode#EXACT} on {@code mask}, its Gram updated from {@code near} when the supports are close (null: formed,
     * which is what {@link #solve} does). Updated and formed Grams differ only by rounding.
     */
    static Exact exact(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask, SupportGram near) {
        int p = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        SupportGram gram = SupportGram.of(backend, x, mask, near);
        try {
            float[] keep = new float[p];
            for (int i = 0; i < p; i++) if (mask[i] != 0) keep[i] = 1f;
            float[] w = new float[p];
            if (gram.kept > 0) {
                double[] c = removedResidual(backend, x, wbar, mask);
                double[] delta;
                if (gram.kept <= n) {
                    // |K| <= n: X_K X_K^T + lambda I is singular but for lambda, so Woodbury brings the residual outside the
                    // range of X_K back multiplied by 1/lambda, for X_K^T to cancel in float (Q 2% above the minimum at
                    // lambda = 1e-5); the |K| x |K| normal equations have no such cancellation. (The Gram is still formed:
                    // nearby supports update it.)
                    delta = solveDirect(backend, x, keep, (int) gram.kept, c, g, lambda);
                } else {
                    try (DoublePointer factor = new DoublePointer((long) n * n)) {
                        Pointer.memcpy(factor, gram.gram, (long) n * n * Double.BYTES);
                        delta = woodbury(backend, x, keep, c, g, lambda, factor);
                    }
                }
                for (int i = 0; i < p; i++) w[i] = mask[i] != 0 ? (float) (wbar[i] + delta[i]) : 0f;
            }
            return new Exact(w, gram);
        } catch (RuntimeException | Error e) {
            gram.close();
            throw e;
        }
    }

    /**
     * c = -X_{not K} wbar_{not K}: the residual the removed weights leave (K = the mask's nonzeros), one multiply summed
     * in double. The backsolve makes X_K delta cancel c to within the optimum's residual, which is tiny against c when
     * lambda is small against X's scale; c summed in float was 6e-8 |c| off, and that error stayed in the fit term
     * whole (f16 X near 65504 at lambda 1e-3: Q 1.45x, in panels 3.4x, what float weights on the support reach).
     */
    static double[] removedResidual(ComputeBackend backend, HostMatrix x, float[] wbar, byte[] mask) {
        int p = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        try (FloatPointer removed = backend.floatVector(p); DoublePointer out = new DoublePointer(n)) {
            for (int i = 0; i < p; i++) removed.put(i, mask[i] == 0 ? wbar[i] : 0f);
            backend.multiplySummedInDouble(x, removed, out);
            double[] c = new double[n];
            for (int i = 0; i < n; i++) c[i] = -out.get(i);
            return c;
        }
    }

    /** X v summed in double (v of length cols), one multiplySummedInDouble. */
    static double[] productSummedInDouble(ComputeBackend backend, HostMatrix x, float[] v) {
        int m = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        try (FloatPointer vp = backend.floatVector(m); DoublePointer out = new DoublePointer(n)) {
            vp.put(v, 0, m);
            backend.multiplySummedInDouble(x, vp, out);
            double[] r = new double[n];
            out.get(r, 0, n);
            return r;
        }
    }

    /** X v in double (v of length cols), one multiply. */
    static double[] product(ComputeBackend backend, HostMatrix x, float[] v) {
        int m = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        try (FloatPointer vp = backend.floatVector(m); FloatPointer out = new FloatPointer(n)) {
            vp.put(v, 0, m);
            backend.multiply(x, vp, out);
            float[] o = new float[n];
            out.get(o, 0, n);
            double[] r = new double[n];
            for (int i = 0; i < n; i++) r[i] = o[i];
            return r;
        }
    }

    /** X^T u (u of length n, rounded to float), one multiplyTransposed. */
    static float[] transposedProduct(ComputeBackend backend, HostMatrix x, double[] u) {
        int m = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        try (FloatPointer up = new FloatPointer(n); FloatPointer out = backend.floatVector(m)) {
            float[] uf = new float[n];
            for (int i = 0; i < n; i++) uf[i] = (float) u[i];
            up.put(uf, 0, n);
            backend.multiplyTransposed(x, up, out);
            float[] o = new float[m];
            out.get(o, 0, m);
            return o;
        }
    }

    /** Columns [s, e) of x gathered into an owned n x (e - s) matrix. */
    static HostMatrix gather(ComputeBackend backend, HostMatrix x, int s, int e) {
        HostMatrix xb = HostMatrix.allocate(x.rows(), e - s);
        try (IntPointer cols = new IntPointer(e - s)) {
            for (int i = 0; i < e - s; i++) cols.put(i, s + i);
            backend.gatherColumns(x, cols, e - s, xb.data());
        } catch (RuntimeException | Error ex) {
            xb.close();
            throw ex;
        }
        return xb;
    }

    /**
     * delta (length cols, 0 off K) minimising {@code 1/2 ||A_K delta + c||^2 + lambda/2 ||delta||^2 + g_K^T delta}
     * where K = {j : keep[j] != 0}. Woodbury (n x n) when |K| > n; otherwise the
     * |K| x |K| normal equations on the gathered columns.
     */
    static double[] solveLocal(ComputeBackend backend, HostMatrix a, float[] keep, double[] c, float[] g, double lambda) {
        int m = Math.toIntExact(a.cols()), n = Math.toIntExact(a.rows());
        int k = 0;
        for (float v : keep) if (v != 0) k++;
        double[] delta = new double[m];
        if (k == 0) return delta;
        if (k <= n) return solveDirect(backend, a, keep, k, c, g, lambda);
        try (FloatPointer weights = backend.floatVector(m); DoublePointer gram = new DoublePointer((long) n * n)) {
            weights.put(keep, 0, m);
            backend.weightedGram(a, weights, gram);
            return woodbury(backend, a, keep, c, g, lambda, gram);
        }
    }

    /**
     * The Woodbury solve of {@link #solveLocal} given {@code gram} = A_K A_K^T (n x n, without lambda), which it
     * overwrites with the Cholesky factor of A_K A_K^T + lambda I.
     */
    private static double[] woodbury(ComputeBackend backend, HostMatrix a, float[] keep, double[] c, float[] g, double lambda,
                                     DoublePointer gram) {
        int m = Math.toIntExact(a.cols()), n = Math.toIntExact(a.rows());
        double[] delta = new double[m];
        float[] gk = null;
        if (g != null) {
            gk = new float[m];
            for (int j = 0; j < m; j++) gk[j] = keep[j] != 0 ? g[j] : 0f;
        }
        double largestDiagonal = 0;
        for (int i = 0; i < n; i++) {
            gram.put((long) i * n + i, gram.get((long) i * n + i) + lambda);
            largestDiagonal = Math.max(largestDiagonal, gram.get((long) i * n + i));
        }
        factorRidgeSystem(backend, gram, n, lambda);
        double smallestPivotSquared = Double.POSITIVE_INFINITY;
        for (int i = 0; i < n; i++) smallestPivotSquared = Math.min(smallestPivotSquared, Math.pow(gram.get((long) i * n + i), 2));
        double[] rhs = new double[n];
        double[] agk = gk == null ? null : product(backend, a, gk);
        for (int i = 0; i < n; i++) rhs[i] = (agk == null ? 0 : agk[i] / lambda) - c[i];
        try (DoublePointer b = new DoublePointer(n)) {
            b.put(rhs, 0, n);
            backend.choleskySolve(gram, n, b, 1);
            b.get(rhs, 0, n);
        }
        // M^{-1} brings the part of the right side outside the range of A_K back multiplied by about 1/lambda, for A_K^T
        // to cancel. Where M is far from singular that part is small and the float product keeps the backend's speed;
        // where A_K has rank below n (dead units' zero columns, duplicated columns) or near it, u rounded to float and
        // float sums left 6e-8 of that amplified part in delta: Q 2 to 4.5 times the minimum at lambda = 1e-7, and
        // cpu and java far apart. There the product is taken in double, where the cancellation is exact to 1e-16. So it is
        // where lambda is small against the diagonal, M well conditioned or not: X_K delta then cancels c to within a
        // residual far below c, and float's 6e-8 of c in X_K delta was most of the fit term left.
        if (largestDiagonal > FLOAT_PRODUCT_CONDITION * smallestPivotSquared || largestDiagonal > FLOAT_PRODUCT_RIDGE_RATIO * lambda) {
            // by the backend, as every other product with X (on cpu and cuda no Java loop reads X)
            try (DoublePointer u = new DoublePointer(rhs); DoublePointer out = new DoublePointer(m)) {
                backend.multiplyTransposedSummedInDouble(a, u, out);
                for (int j = 0; j < m; j++) {
                    if (keep[j] != 0) delta[j] = out.get(j) - (gk == null ? 0 : gk[j] / lambda);
                }
            }
            return delta;
        }
        float[] at = transposedProduct(backend, a, rhs);
        for (int j = 0; j < m; j++) {
            if (keep[j] != 0) delta[j] = at[j] - (gk == null ? 0 : gk[j] / lambda);
        }
        return delta;
    }

    /**
     * The largest ratio of the Woodbury system's largest diagonal to its smallest Cholesky pivot squared (about its
     * condition) at which X_K^T u is taken in float: the float rounding of u and of the sums then puts at most about
     * 6e-8 sqrt(1e4), 6e-6, of delta's size in delta.
     */
    static final double FLOAT_PRODUCT_CONDITION = 1e4;

    /**
     * The largest ratio of the Woodbury system's largest diagonal to lambda at which X_K^T u is taken in float. The
     * optimum's Q is at least about lambda |c|^2 / (2 largest diagonal), and float leaves about (6e-8 |c|)^2 / 2 in the fit
     * term: at 1e9 that is at most about 4e-6 of Q, the order of rounding the weights to float.
     */
    static final double FLOAT_PRODUCT_RIDGE_RATIO = 1e9;

    /**
     * The Cholesky factor, in place, of a backsolve's ridge system ({@code size} x {@code size}, lambda already on its
     * diagonal). With a rank-deficient X (repeated samples, dependent gradients) the system is singular but for lambda,
     * and a lambda below the rounding of its diagonal leaves it singular in double precision: that is the value the user
     * chose, not an internal fault, so it is reported as bad input with a value that the system can be solved with.
     */
    static void factorRidgeSystem(ComputeBackend backend, DoublePointer system, int size, double lambda) {
        double largestDiagonal = 0;
        for (int i = 0; i < size; i++) largestDiagonal = Math.max(largestDiagonal, system.get((long) i * size + i));
        try {
            choleskyAboveRounding(backend, system, size, largestDiagonal);
        } catch (dev.falcon.backend.NonFiniteMatrixException notFinite) {
            throw notFinite; // no lambda makes it finite: "give a larger --lambda, NaN or more" would send the user nowhere
        } catch (ArithmeticException notPositiveDefinite) {
            double enough = Math.pow(10, Math.ceil(Math.log10(RIDGE_ROUNDING_MARGIN * largestDiagonal)));
            String problem = String.format(Locale.ROOT, "lambda = %.3g leaves the backsolve's %d x %d ridge system (largest diagonal %.3g)"
                    + " singular in double precision (%s): the gradients X are rank-deficient there and lambda is below the rounding",
                    lambda, size, size, largestDiagonal, notPositiveDefinite.getMessage());
            throw new SingularRidgeSystemException(InputException.of("--lambda", "value", problem, String.format(Locale.ROOT,
                    "give a larger --lambda, %.0e or more in the ridge convention (in Java, Pruner.SolverInputs' lambda)", enough)).getMessage(),
                    problem + String.format(Locale.ROOT, "; give a larger lambda in Pruner.SolverInputs, %.0e or more in the ridge convention", enough));
        }
    }

    /**
     * {@link ComputeBackend#choleskyFactor}, also refusing (ArithmeticException) a factor whose smallest pivot is rounding
     * residue: it solves too, into weights of 1e15 and more along the null directions (twin columns getting +d and -d)
     * whose Q is still about the minimum, and LAPACK and the reference Cholesky pass or refuse such a system by the luck
     * of rounding.
     */
    static void choleskyAboveRounding(ComputeBackend backend, DoublePointer system, int size) {
        double largestDiagonal = 0;
        for (int i = 0; i < size; i++) largestDiagonal = Math.max(largestDiagonal, system.get((long) i * size + i));
        choleskyAboveRounding(backend, system, size, largestDiagonal);
    }

    private static void choleskyAboveRounding(ComputeBackend backend, DoublePointer system, int size, double largestDiagonal) {
        backend.choleskyFactor(system, size);
        double smallestPivotSquared = Double.POSITIVE_INFINITY;
        for (int i = 0; i < size; i++) {
            double pivot = system.get((long) i * size + i);
            smallestPivotSquared = Math.min(smallestPivotSquared, pivot * pivot);
        }
        if (!(smallestPivotSquared > size * DOUBLE_EPSILON * largestDiagonal)) {
            throw new ArithmeticException(String.format(Locale.ROOT, "smallest pivot squared %.3g is within the rounding of the"
                    + " largest diagonal %.3g", smallestPivotSquared, largestDiagonal));
        }
    }

    /**
     * lambda relative to the largest diagonal of a ridge system that keeps its condition within about n 1e9: far from the
     * 1e-16 of double precision, so that its Cholesky factor is well defined.
     */
    private static final double RIDGE_ROUNDING_MARGIN = 1e-9;

    private static final double DOUBLE_EPSILON = Math.ulp(1.0);

    /**
     * |K| <= n: gather K and solve the k x k normal equations, formed in double. Products with A in float would put an
     * error of cond(A_K^T A_K + lambda I) times 6e-8 on the solution (6e-3 of it at cond 1.2e6, a low-rank X with little
     * noise), so both sides come from one double Gram, of the (k + 2) x n matrix [A_K, c_head, c_tail]^T: its k x k
     * corner is A_K^T A_K and its last two rows sum to A_K^T c (c split into a float head and tail, c = head + tail to
     * about 1e-14). The gathered columns are freed once transposed, the Gram allocated only then, and the system factored
     * in the Gram's own memory: at most 12 n^2 bytes at once where |K| is near n (the gathered columns, their transpose,
     * the transpose's element indices, the Gram and a copy of the system were all held at once, 28 n^2, beside mp's
     * whole-support Gram: mp --backsolve exact on X 3000 x 2500 at --keep-nnz 0.9 peaked 88 MiB above its memory plan).
     */
    private static double[] solveDirect(ComputeBackend backend, HostMatrix a, float[] keep, int k, double[] c, float[] g, double lambda) {
        return solveDirect(backend, a, keep, k, c, g, lambda, TRANSPOSE_GATHER_ELEMENTS);
    }

    /** {@link #solveDirect(ComputeBackend, HostMatrix, float[], int, double[], float[], double)} with {@link #transpose}'s limit. */
    static double[] solveDirect(ComputeBackend backend, HostMatrix a, float[] keep, int k, double[] c, float[] g, double lambda,
                                long maxGatherElements) {
        int m = Math.toIntExact(a.cols()), n = Math.toIntExact(a.rows());
        int[] idx = new int[k];
        for (int j = 0, t = 0; j < m; j++) if (keep[j] != 0) idx[t++] = j;
        double[] delta = new double[m];
        int s = k + 2;
        DoublePointer gram;
        try (HostMatrix rows = transposedSupport(backend, a, idx, c, maxGatherElements)) {
            gram = new DoublePointer((long) s * s);
            try {
                backend.weightedGram(rows, null, gram);
            } catch (RuntimeException | Error e) {
                gram.close();
                throw e;
            }
        }
        try (gram; DoublePointer b = new DoublePointer(k)) {
            double[] column = new double[k];
            for (int j = 0; j < k; j++) {
                double atc = gram.get((long) k * s + j) + gram.get((long) (k + 1) * s + j);
                b.put(j, -atc - (g == null ? 0 : g[idx[j]]));
            }
            // the k x k corner, moved to the front of the Gram's memory as a k x k matrix (column j from j s to j k: never
            // ahead of where it is read, so in order it overwrites nothing still to be read)
            for (int j = 0; j < k; j++) {
                gram.position((long) j * s).get(column, 0, k);
                column[j] += lambda;
                gram.position((long) j * k).put(column, 0, k);
            }
            gram.position(0);
            factorRidgeSystem(backend, gram, k, lambda);
            backend.choleskySolve(gram, k, b, 1);
            for (int j = 0; j < k; j++) delta[idx[j]] = b.get(j);
        }
        return delta;
    }

    /**
     * [A_K, c_head, c_tail]^T: the (k + 2) x n transpose of A's columns idx beside c's float head and tail, the gathered
     * columns freed before it is returned.
     */
    private static HostMatrix transposedSupport(ComputeBackend backend, HostMatrix a, int[] idx, double[] c, long maxGatherElements) {
        int n = Math.toIntExact(a.rows()), k = idx.length;
        try (HostMatrix columns = HostMatrix.allocate(n, k + 2); IntPointer cols = new IntPointer(idx)) {
            backend.gatherColumns(a, cols, k, columns.data());
            float[] head = new float[n], tail = new float[n];
            for (int i = 0; i < n; i++) {
                head[i] = (float) c[i];
                tail[i] = (float) (c[i] - head[i]);
            }
            FloatPointer data = columns.data();
            data.position((long) k * n).put(head, 0, n);
            data.position((long) (k + 1) * n).put(tail, 0, n);
            return transpose(backend, columns, maxGatherElements);
        }
    }

    /** The most elements that one transposing gather of {@link #transpose} may span: its element indices are ints. */
    static final long TRANSPOSE_GATHER_ELEMENTS = Integer.MAX_VALUE;

    /** The most elements of one tile of {@link #transpose}: its index array (4 bytes each) and, where it is cut, its buffer. */
    private static final long TRANSPOSE_TILE_ELEMENTS = 1L << 22;

    /**
     * The s x n transpose, in a new column-major matrix, of the n x s column-major {@code columns}. Every backend's Gram is
     * X X^T of a column-major X, so a Gram of C's columns is taken of C^T, which gathers of single elements make (each a
     * 1 x span view of C: no Java loop reads the data). A gather's element indices are ints counted from the view's first
     * element, so the transpose goes by tiles of samples and columns whose span is at most {@code maxGatherElements} (with
     * n (|K| + 2) above 2^31, n > 46,340 rows and |K| near n, one gather of all of C threw "integer overflow"), and of at
     * most {@link #TRANSPOSE_TILE_ELEMENTS} elements (the indices of all of C were 4 ns bytes beside C and its transpose).
     * A tile of all s columns lands in place; a narrower one is gathered into a buffer and copied a sample at a time.
     * maxGatherElements must be at least n.
     */
    static HostMatrix transpose(ComputeBackend backend, HostMatrix columns, long maxGatherElements) {
        long n = columns.rows();
        int s = Math.toIntExact(columns.cols());
        if (maxGatherElements < n) throw new IllegalArgumentException("a transposing gather must span a column: " + maxGatherElements + " < " + n);
        int tileColumns = (int) Math.min(s, maxGatherElements / n);
        int tileSamples = (int) Math.max(1, Math.min(n, TRANSPOSE_TILE_ELEMENTS / tileColumns));
        boolean inPlace = tileColumns == s;
        HostMatrix rows = HostMatrix.allocate(s, n);
        try (IntPointer order = new IntPointer((long) tileColumns * tileSamples);
             FloatPointer buffer = inPlace ? null : new FloatPointer((long) tileColumns * tileSamples)) {
            FloatPointer source = columns.data(), target = rows.data();
            long sourceStart = source.position(), targetStart = target.position();
            int[] run = new int[tileColumns];
            int orderColumns = -1, orderSamples = -1;
            for (long i0 = 0; i0 < n; i0 += tileSamples) {
                int samples = (int) Math.min(tileSamples, n - i0);
                for (int j0 = 0; j0 < s; j0 += tileColumns) {
                    int width = Math.min(tileColumns, s - j0);
                    if (width != orderColumns || samples != orderSamples) {
                        // element (i0 + u, j0 + v) of C, counted from the tile's first, lands at u width + v
                        for (int u = 0; u < samples; u++) {
                            for (int v = 0; v < width; v++) run[v] = (int) (v * n + u);
                            order.position((long) u * width).put(run, 0, width);
                        }
                        order.position(0);
                        orderColumns = width;
                        orderSamples = samples;
                    }
                    long span = (width - 1) * n + samples;
                    long count = (long) width * samples;
                    source.position(sourceStart + j0 * n + i0);
                    try (HostMatrix tile = HostMatrix.wrap(source, 1, span, null, "gathered columns as one row")) {
                        if (inPlace) {
                            backend.gatherColumns(tile, order, count, target.position(targetStart + i0 * s));
                        } else {
                            backend.gatherColumns(tile, order, count, buffer.position(0).limit(count));
                            for (int u = 0; u < samples; u++) {
                                long from = (long) u * width;
                                target.position(targetStart + (i0 + u) * s + j0).put(buffer.position(from).limit(from + width));
                            }
                        }
                    }
                }
            }
            return rows;
        } catch (RuntimeException | Error e) {
            rows.close();
            throw e;
        }
    }
}
