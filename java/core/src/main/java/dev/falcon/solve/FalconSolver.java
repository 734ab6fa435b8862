package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.VectorLoops;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * FALCON's discrete first-order method (FALCON.md, building block 2) followed by a backsolve
 * (building block 3), in rounds:
 * <ol>
 * <li>warm start: mp (the FLOP-aware selection on wbar^2, w = wbar on it), unless a start mask is given;</li>
 * <li>DFO: z = w - s grad Q(w) with s = 2^t / Lip, projection = FLOP-aware selection with scores z^2,
 *     w = z on the kept set. t = 0 is always tried first (with the current support as a fallback when
 *     the selection keeps less score than it, the plain step cannot increase Q); longer steps are taken
 *     only while they lower Q further; an iteration that does not lower Q ends the round. Q never
 *     increases (the Q of the model DFO runs on; the log's rows of a DFO run go down from the Q the log gave its start,
 *     see {@link #iterate}). Stops on a relative decrease below the tolerance or at the iteration cap;</li>
 * <li>active set: with an exact Hessian and a support much smaller than p, DFO runs on the gathered
 *     columns of 3|support| coordinates, the support and twice as many of the best outside (the rest pinned at 0
 *     through an offset residual); after it
 *     converges one full projection checks whether outside coordinates want in, and the set grows;</li>
 * <li>backsolve on the final support; a new round restarts DFO from the backsolved weights while the
 *     support changes and Q decreases by more than the tolerance, up to the round cap (the stop reason then names
 *     the cap). The best point (exact Q) is returned; its exact Q never increases.</li>
 * </ol>
 * A solver runs one solve at a time (it keeps its projection buffers for the duration of a solve): use one per
 * thread.
 */
public final class FalconSolver {
    private final ComputeBackend backend;
    /**
     * The projections square z into float scores as (z 2^k)^2 with this k, set per solve by {@link #scaleOfScores}:
     * the problem's own scale maps to 1, so that weights around 1e-22 (whose squares are subnormal or 0) and around
     * 1e19 (whose squares overflow) are projected as the same problem at unit scale is. A power of two changes no order.
     */
    private double scoreScale = 1;

    public FalconSolver(ComputeBackend backend) {
        this.backend = backend;
    }

    /**
     * 2^k with max(|wbar|, |g| / Lip) 2^k in [1, 2): the size of z = w - s grad Q at the first step. Unit-scale
     * problems (k near 0) keep the headroom they always had, 2^64 above before a square overflows (the long steps of the
     * search reach it) and 2^-63 below before squares turn subnormal; every other scale now gets the same.
     */
    static double scaleOfScores(float[] wbar, float[] g, double lip) {
        double size = 0;
        for (float v : wbar) size = Math.max(size, Math.abs(v));
        if (g != null) for (float v : g) size = Math.max(size, Math.abs(v) / lip);
        return size > 0 && Double.isFinite(size) ? Math.scalb(1.0, -Math.getExponent(size)) : 1;
    }

    /** z^2 as a float score at the solve's scale (exact in double, then rounded once, as a float product is). */
    private float score(float z) {
        double v = z * scoreScale;
        return (float) (v * v);
    }

    /**
     * {@code shown} to 9 significant digits, or to as many more as it takes not to read as {@code other}: a backsolve
     * rising by parts in 1e10 above its DFO point quoted that point's Q as its own at 9 digits, hiding the rise.
     */
    static String digitsThatDiffer(double shown, double other) {
        for (int digits = 9; digits < 17; digits++) {
            String s = String.format(java.util.Locale.ROOT, "%." + digits + "g", shown);
            if (!s.equals(String.format(java.util.Locale.ROOT, "%." + digits + "g", other))) return s;
        }
        return String.format(java.util.Locale.ROOT, "%.17g", shown);
    }

    /** One DFO iteration (or a round's backsolve, iteration = -1). Q of the model the iteration runs on. */
    /**
     * One row of the iteration log. {@code model} says whose Q {@code q} is: "block" for the DFO steps of the block
     * model (--hessian block), whose Q differs from the exact one at the same point, "exact" for everything else (the
     * warm start, backsolves, support searches and the polish), so under the block model the log falls only within
     * the DFO rows of a round. An exact-model DFO row holds the Q the log gave the point its DFO run started from, less
     * the decrease its model measured since (on the active set the model adds in another order than the exact
     * evaluation, so its own Q differs by rounding, parts in 1e7): no such row rises above the row before it.
     */
    public record IterationLog(int round, int iteration, double q, long nnz, double flops, double step, double seconds, String note,
                               String model) {}

    /**
     * What a solve produced; weights and mask are heap arrays of length p. {@code everyBacksolveSkipped}: where every
     * backsolve the solve tried (its rounds' supports and the warm start's) was skipped on a singular ridge system, the
     * last one's refusal (the weights are then the DFO's, not backsolved); else null. {@code backsolveNeverKept}: with
     * --backsolve block or sweep, where backsolves were solved but the final weights are a DFO point (its support's
     * backsolve landed above it, as block and sweep backsolves can, or was skipped), what the summary and report say of it:
     * "never kept" where no backsolve was kept at all, "not kept at the end" where earlier ones were; else null.
     */
    public record Result(float[] weights, byte[] mask, long kept, double keptFlops, long[] keptPerLayer,
                         double qStart, double qFinal, double lipschitz, int iterations, int rounds, String stopReason,
                         List<IterationLog> log, double dfoSeconds, double backsolveSeconds,
                         double lastGap, Polish polish, String everyBacksolveSkipped, String backsolveNeverKept) {
        /** As above, where some backsolve was kept (or none was solved). */
        public Result(float[] weights, byte[] mask, long kept, double keptFlops, long[] keptPerLayer,
                      double qStart, double qFinal, double lipschitz, int iterations, int rounds, String stopReason,
                      List<IterationLog> log, double dfoSeconds, double backsolveSeconds, double lastGap, Polish polish,
                      String everyBacksolveSkipped) {
            this(weights, mask, kept, keptFlops, keptPerLayer, qStart, qFinal, lipschitz, iterations, rounds, stopReason, log,
                    dfoSeconds, backsolveSeconds, lastGap, polish, everyBacksolveSkipped, null);
        }

        /** As above, where some backsolve was solved (or none was asked for). */
        public Result(float[] weights, byte[] mask, long kept, double keptFlops, long[] keptPerLayer,
                      double qStart, double qFinal, double lipschitz, int iterations, int rounds, String stopReason,
                      List<IterationLog> log, double dfoSeconds, double backsolveSeconds, double lastGap, Polish polish) {
            this(weights, mask, kept, keptFlops, keptPerLayer, qStart, qFinal, lipschitz, iterations, rounds, stopReason, log,
                    dfoSeconds, backsolveSeconds, lastGap, polish, null);
        }
    }

    /**
     * What the final swap polish did (or the one before round 1's costly searches, where the solve ends on the support it
     * left, and the final one would repeat it): {@code skipped} says why it did not run (null when it ran); the moves it accepted,
     * the decrease of Q its model predicted, Q before it and after its final backsolve or, where a kick of the support
     * lowered Q further, after the best kick's; how many kicks ran (0 on problems too large for them) and how many of
     * them lowered Q.
     */
    public record Polish(String skipped, int swaps, int additions, int passes, double modelDecrease, double qBefore, double qAfter,
                         double seconds, int kicks, int kicksThatLoweredQ) {
        static Polish skipped(String why, double q) {
            return new Polish(why, 0, 0, 0, 0, q, q, 0, 0, 0);
        }

        /** Whether the solve ended on the polished point or a kick's (each is kept only when it lowers Q). */
        public boolean kept() { return qAfter < qBefore; }
    }

    /** The mp mask: FLOP-aware selection on wbar^2. */
    public byte[] mpMask(float[] wbar, LayerTable layers, long nnz, double flops) {
        // as Pruner's mp: the largest |wbar| scaled near 2^60, so tiny weights do not square to ties of 0
        float largest = 0;
        for (float v : wbar) largest = Math.max(largest, Math.abs(v));
        double scale = largest > 0 ? Math.scalb(1.0, 60 - Math.getExponent((double) largest)) : 1;
        float[] s = new float[wbar.length];
        for (int i = 0; i < s.length; i++) {
            double v = wbar[i] * scale;
            s[i] = (float) (v * v);
        }
        return select(s, layers, nnz, flops, null);
    }

    private byte[] select(float[] scores, LayerTable layers, long nnz, double flops, double[] primalOut) {
        Projector shared = projector;
        if (shared != null && shared.capacity >= scores.length) return shared.select(scores, layers, nnz, flops, primalOut);
        try (Projector once = new Projector(backend, scores.length)) {
            return once.select(scores, layers, nnz, flops, primalOut);
        }
    }

    /**
     * The selector and off-heap score buffer that the projections of one solve reuse: fresh ones per projection
     * would allocate and page-fault 20 bytes per weight every DFO iteration (84 MB at p = 4.2M), which cost more
     * than the selection itself.
     */
    private static final class Projector implements AutoCloseable {
        final long capacity;
        private final FlopAwareSelector selector;
        private final FloatPointer scores;

        Projector(ComputeBackend backend, long capacity) {
            this.capacity = capacity;
            this.scores = backend.floatVector(capacity);
            this.selector = new FlopAwareSelector(backend);
        }

        byte[] select(float[] s, LayerTable layers, long nnz, double flops, double[] primalOut) {
            scores.position(0).put(s, 0, s.length);
            return selectBuffered(s.length, layers, nnz, flops, primalOut);
        }

        /** The buffer {@link #selectBuffered} selects from, as a view of its first m scores. */
        java.nio.FloatBuffer scoreBuffer(int m) {
            if (m > capacity) throw new IllegalArgumentException(m + " scores exceed the capacity " + capacity);
            return scores.position(0).limit(m).asBuffer();
        }

        /** Selection on the first m scores already in the buffer. */
        byte[] selectBuffered(int m, LayerTable layers, long nnz, double flops, double[] primalOut) {
            scores.position(0).limit(capacity);
            try (Selection sel = selector.select(scores, layers, nnz, flops)) {
                byte[] mask = new byte[m];
                sel.copyMaskTo(mask, 0);
                if (primalOut != null) {
                    primalOut[0] = sel.primalValue();
                    primalOut[1] = sel.relativeGap();
                }
                return mask;
            }
        }

        @Override
        public void close() {
            selector.close();
            scores.close();
        }
    }

    /**
     * During a solve, the Gram of the best support (from its exact backsolve): the exact backsolves of the searches'
     * candidates, a few swaps away from it, update it instead of forming their own (n^2 per swap instead of n^2 |K|).
     */
    private Backsolve.SupportGram gramBase;
    /** During a solve, the prune's warning of sweeps that stopped short (told once for all its backsolves). */
    private SweepWarning sweepWarning;
    /** The Gram of the round's current candidate; it becomes {@link #gramBase} when the candidate becomes the best. */
    private Backsolve.SupportGram candidateGram;

    /**
     * The backsolve of a support. Exact ones within a solve start from the candidate's or the best support's Gram and hand back the Gram of
     * {@code mask} (the caller owns it); otherwise the Gram is null.
     */
    private Backsolve.Exact backsolve(HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask, Backsolve.Mode mode, long[] blocks) {
        return backsolve(x, wbar, g, lambda, mask, mode, blocks, null);
    }

    /**
     * As above; the sweeps start from {@code start} (a point on {@code mask}; null: wbar on it). Started from wbar on the
     * DFO point's support, they had that point's progress to make again, and at a small lambda, where sweeps crawl, their
     * row in the log ended up to 3.4x above the DFO point they were made for; from that point they only go down from it.
     */
    private Backsolve.Exact backsolve(HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask, Backsolve.Mode mode, long[] blocks,
                                      float[] start) {
        if (mode == Backsolve.Mode.SWEEP && start != null) {
            return new Backsolve.Exact(Backsolve.sweep(backend, x, wbar, g, lambda, mask, blocks, start, 100, 1e-10, null, sweepWarning), null);
        }
        if (mode != Backsolve.Mode.EXACT || projector == null) {
            Backsolve.BlockSolutions solved = mode == Backsolve.Mode.BLOCK ? blockSolutions : null;
            return new Backsolve.Exact(Backsolve.solve(backend, x, wbar, g, lambda, mask, mode, blocks, 100, 1e-10, solved, sweepWarning), null);
        }
        // the searches start from the round's candidate: its Gram is the nearest
        return Backsolve.exact(backend, x, wbar, g, lambda, mask, candidateGram != null ? candidateGram : gramBase);
    }

    private static void close(Backsolve.SupportGram gram) {
        if (gram != null) gram.close();
    }

    /**
     * Q of a backsolve's weights. When that fails (an interrupt, X closed by another thread) the backsolve's Gram is closed
     * here: the exception passed it by, and its n x n doubles waited for the garbage collector.
     */
    private double qOf(Backsolve.Exact bs, HostMatrix x, float[] wbar, float[] g, double lambda) {
        try {
            return q(x, bs.w(), wbar, g, lambda);
        } catch (RuntimeException | Error e) {
            close(bs.gram());
            throw e;
        }
    }

    private static void release(Explored e) {
        if (e != null) close(e.gram);
    }

    /**
     * During a solve with the block backsolve, each block's two latest solutions kept (see Backsolve.BlockSolutions): the searches' candidates differ from the round's
     * support in a block or two, and the other blocks are taken from here instead of being solved again. Dropped with the
     * solve (X, wbar, g and lambda are the solve's).
     */
    private Backsolve.BlockSolutions blockSolutions;

    /** Whether the block backsolves of a solve reuse {@link #blockSolutions}: off only for tests comparing with the solves without it. */
    boolean reuseBlockSolutions = true;

    /** Whether a round takes a support's block backsolve from the one the solve already ran: off only for tests comparing with solving it again. */
    boolean rememberBlockBacksolves = true;

    /** The backsolves the rounds of this solver's solves ran (not those they knew already): read by tests only. */
    int roundBacksolvesSolved;

    private void releaseGrams() {
        close(gramBase);
        close(candidateGram);
        gramBase = null;
        candidateGram = null;
        columnNorms = null;
    }

    /** ||x_j||^2 of every column, computed once per solve (X does not change during one). */
    private float[] columnNorms;

    /** Set for the duration of {@link #solve} (a solver runs one solve at a time) or held by an {@link Iterations}. */
    private Projector projector;

    /** X and whether g is given, for the duration of {@link #solve}: what a {@link ValuesTooLarge} names. */
    private HostMatrix solving;
    private boolean solvingWithG;

    /**
     * -X wbar of the solve running, summed in double once (one pass over X): the offset of its exact models, each of whose
     * evaluations is then one pass (see {@link FisherModel}). Null outside a solve.
     */
    private double[] solvingOffset;
    private float[] solvingWbar;

    /**
     * Exact Q of the full problem from d = w - wbar ({@link FisherModel#qFromDifference}: one or two passes over X), as the
     * report's objective evaluates it. It was X w summed in double less X wbar, which cancels where the weights are far
     * larger than the residual: falcon++'s stage Qs of weights of 1e15 were that rounding.
     */
    public static double exactQ(ComputeBackend backend, HostMatrix x, float[] w, float[] wbar, float[] g, double lambda) {
        return FisherModel.qFromDifference(backend, x, w, wbar, g, lambda);
    }

    /**
     * Q of w as the report computes it, from w - wbar ({@link FisherModel#qFromDifference}): every candidate the solve keeps
     * or drops is judged on it, so that the one returned is the lower on the weights written. The DFO model's X w + offset
     * cancels where the weights are far larger than the residual (1e15 against 1e-15), and judged on it, falcon ended
     * above mp + BS.
     */
    private double q(HostMatrix x, float[] w, float[] wbar, float[] g, double lambda) {
        return FisherModel.qFromDifference(backend, x, w, wbar, g, lambda);
    }

    /** The exact model on all of X, with the running solve's -X wbar where (x, wbar) are its own. */
    private FisherModel exactModel(HostMatrix x, float[] wbar, float[] g, double lambda) {
        return new FisherModel(backend, x, wbar, g, offsetOf(x, wbar), 0, lambda, null);
    }

    /** -X wbar: the running solve's where (x, wbar) are its own, else null (the model sums it). */
    private double[] offsetOf(HostMatrix x, float[] wbar) {
        return x == solving && wbar == solvingWbar ? solvingOffset : null;
    }

    /**
     * Runs FALCON. {@code g} may be null; {@code startMask} null = mp warm start.
     */
    public Result solve(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                        byte[] startMask, SolverOptions opt) {
        return solve(x, wbar, g, lambda, layers, nnz, flops, startMask, opt, new SweepWarning());
    }

    /**
     * As above, where sweep backsolves that stop short of the minimum tell it through {@code warning}, the prune's: once
     * for all the candidates the solve backsolves (and all the stages of falcon++).
     */
    public Result solve(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                        byte[] startMask, SolverOptions opt, SweepWarning warning) {
        if (projector != null) throw new IllegalStateException("this FalconSolver is already running a solve; use one per thread");
        try (Projector own = new Projector(backend, x.cols())) {
            projector = own;
            sweepWarning = java.util.Objects.requireNonNull(warning, "warning");
            solving = x;
            solvingWithG = g != null;
            warning.beginSolve();
            Result result = solveWithProjector(x, wbar, g, lambda, layers, nnz, flops, startMask, opt);
            warning.settle(result.weights());
            return result;
        } finally {
            if (warning != null) warning.endSolve();
            projector = null;
            sweepWarning = null;
            solving = null;
            solvingWbar = null;
            solvingOffset = null;
            blockSolutions = null;
            releaseGrams();
        }
    }

    private Result solveWithProjector(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                                      byte[] startMask, SolverOptions opt) {
        long t0 = System.nanoTime();
        int p = Math.toIntExact(layers.parameters());
        if (x.cols() != p || wbar.length != p || (g != null && g.length != p)) {
            throw new IllegalArgumentException("X, wbar, g and the layers must all have p = " + p + " weights");
        }
        if (!(lambda > 0)) throw new IllegalArgumentException("lambda must be > 0");
        double lip = FisherModel.largestEigenvalue(backend, x) + lambda;
        if (!Double.isFinite(lip)) throw valuesTooLarge(true);
        solvingOffset = FisherModel.offsetOf(backend, x, wbar);
        solvingWbar = wbar;
        scoreScale = scaleOfScores(wbar, g, lip);
        byte[] mask = startMask != null ? startMask.clone() : mpMask(wbar, layers, nnz, flops);
        byte[] warmStart = mask.clone();
        boolean warmStartBacksolved = false;
        float[] w = new float[p];
        for (int i = 0; i < p; i++) w[i] = mask[i] != 0 ? wbar[i] : 0f;
        double qStart = q(x, w, wbar, g, lambda);
        double qBest = qStart;
        float[] wBest = w;
        byte[] maskBest = mask;
        List<IterationLog> log = new ArrayList<>();
        log.add(logEntry(0, 0, qStart, mask, layers, 0, secs(t0), "warm start"));
        long[] blocks = Backsolve.blockStarts(layers, opt.blockSize());
        if (opt.backsolve() == Backsolve.Mode.BLOCK && reuseBlockSolutions) blockSolutions = new Backsolve.BlockSolutions(x, wbar, g, lambda, blocks);
        int iterationsLeft = opt.maxIterations();
        int rounds = 0;
        String stop = "iteration cap";
        double dfoSeconds = 0, bsSeconds = 0;
        double[] lastGap = {Double.NaN};
        // the best point is the exact backsolve of its support: a round that ends on the same support need not redo it
        boolean bestIsExactBacksolve = false;
        // the best point is the block backsolve of its support (a round's or a search's): as bestIsExactBacksolve, for
        // --backsolve block, whose result is a function of the support alone
        boolean bestIsBlockBacksolve = false;
        // --backsolve block: Q of every support a round backsolved or a search kept, so that a round whose DFO ends on
        // one of them does not solve it again (resnet20 n = 64: round 2 solved round 1's swap-search support again, to
        // the same 7.12002081 row)
        SolvedBlockSupports solvedBlockSupports = opt.backsolve() == Backsolve.Mode.BLOCK && rememberBlockBacksolves ? new SolvedBlockSupports() : null;
        // whether any backsolve of a round's or the warm start's support was solved, and the last refusal of one that was not
        boolean anyBacksolved = false;
        String lastSkip = null;
        // whether any backsolved point (a round's backsolve, a search's, the warm start's, the polish's) was kept: block
        // and sweep backsolves can each land above the DFO point, and the summary said "backsolve block" of weights none made
        boolean anyBacksolveKept = false;
        // where the best weights came from: a DFO point (not backsolved, and why) or a backsolve (a round's, a search's,
        // the warm start's, the polish's). Whether backsolve_not_kept is said goes by this, not by whether some earlier
        // backsolve was kept: resnet20 --backsolve block kept round 1's search and ended on round 3's DFO point.
        boolean bestIsDfoPoint = true;
        String whyBestNotBacksolved = null;
        boolean warmStartBacksolveAbove = false;
        RoomForSearch room = new RoomForSearch(backend, projector, wbar, g, lambda, layers, nnz, flops);
        EarlyPolish earlyPolish = null;
        // set where the last round ended on a stable support that no backsolve solved: the next round's DFO goes on past
        // --stable-iterations, whose hand-over to the backsolve already came to nothing there
        boolean dfoPastStableSupport = false;
        // the last DFO step's relative decrease, for a stop on the iteration cap to say how far from converged it was
        double lastDfoDecrease = Double.NaN;
        // whether the last DFO run was cut off (by the cap, or by --stable-iterations as the iterations ran out) rather
        // than ending on the tolerance or no decrease: the rounds after the cap then stop on the cap, not on convergence
        boolean lastDfoCutOff = false;
        // the point the last round's DFO ended on: where it is still the best one, the last round's backsolve and searches
        // started from it and none went below it
        float[] lastRoundDfoPoint = null;
        for (int round = 1; round <= opt.maxRounds(); round++) {
            if (iterationsLeft <= 0 && wBest == lastRoundDfoPoint) {
                // With no DFO step left, this round would start from the point the last one backsolved and searched from,
                // and come to the same end (resnet20 --backsolve block: the same 7.12004 row again, 5.6 s for nothing).
                stop = (lastDfoCutOff ? iterationCapReached(opt, lastDfoDecrease) : "iteration cap")
                        + "; another round would backsolve and search from the same point again";
                break;
            }
            rounds = round;
            sweepWarning.round(round);
            long td = System.nanoTime();
            SolverOptions roundOpt = dfoPastStableSupport ? opt.withStableIterations(0) : opt;
            dfoPastStableSupport = false;
            // Once the iteration cap is reached, rounds go on without DFO steps (backsolve and support searches only).
            Dfo dfo = iterationsLeft <= 0 ? new Dfo(wBest, maskBest, 0, "iteration cap", qBest, false, lastDfoCutOff, Double.NaN)
                    : runRound(x, wbar, g, lambda, layers, nnz, flops, wBest, maskBest, qBest, lip, roundOpt, blocks, round, iterationsLeft, log, t0, lastGap);
            dfoSeconds += secs(td);
            iterationsLeft -= dfo.iterations;
            lastRoundDfoPoint = dfo.w;
            if (dfo.iterations > 0) {
                lastDfoDecrease = dfo.lastRelativeDecrease;
                lastDfoCutOff = dfo.endedOnIterationCap || dfo.stoppedOnStableSupport;
            }
            // where the DFO was cut off by the cap, no stop may read as convergence ("support stable"): the round-cap
            // message's way, the reason says Q still fell and what would lower it
            String capped = dfo.endedOnIterationCap ? iterationCapReached(opt, lastDfoDecrease) : null;
            // The support searches backsolve up to ~30 candidate supports per round: worth it on small problems (it
            // lifts the exhaustive-optimum rate on tiny instances from ~55% to ~95%) and on real networks, where Q
            // has room above its certified bound (MNIST CNN: 8-21% below mp + BS), but seconds for changes in the
            // tenth digit of Q on the synthetic examples, whose bound leaves no room (|K| >> n).
            long support = count(dfo.mask);
            double searchWork = (double) x.rows() * x.rows() * support;
            // before this round's backsolve, the room is judged at the best point (backsolved after round 1)
            boolean search = opt.backsolve() != Backsolve.Mode.NONE && room.allows(searchWork, round > 1 ? qBest : Double.POSITIVE_INFINITY);
            if (!search && round > 1 && bestIsExactBacksolve && Arrays.equals(dfo.mask, maskBest)) {
                // Same support as the best point, which is its exact backsolve, and no search to run from it. A best point
                // that is not (--backsolve none, block or sweep) can lie above the DFO point on its support: with
                // --backsolve none the break dropped a round-2 point 0.5% lower, which the log showed; that point is
                // compared below and kept when lower.
                stop = capped != null ? capped + "; no DFO iteration is left to move the point off its support's backsolve" : dfo.stop + "; support stable";
                break;
            }
            long tb = System.nanoTime();
            float[] cand = dfo.w;
            double qCand;
            boolean candIsExact = false;
            boolean candIsBlockBacksolve = false;
            // whether the candidate is its support's backsolve, or a DFO point below that support's exact backsolve by
            // rounding: either is the end of DFO on that support. A DFO point whose support no backsolve solved (skipped
            // as singular, --backsolve none, or one that landed above it) is only where --stable-iterations stopped it.
            boolean candSolved = false;
            String whyUnsolved = opt.backsolve() == Backsolve.Mode.NONE ? "backsolve none" : null;
            // a DFO point below the round's best candidate, taken only if the searches find nothing lower
            float[] dfoPoint = null;
            double qDfo = Double.NaN;
            if (bestIsExactBacksolve && opt.backsolve() == Backsolve.Mode.EXACT && Arrays.equals(dfo.mask, maskBest)) {
                // DFO came back to the best support, whose exact backsolve is already known: backsolving it again would
                // give the same point, and the searches start from it. The DFO point on that support can still be
                // lower by the backsolve's rounding (parts in 1e9).
                qDfo = q(x, dfo.w, wbar, g, lambda);
                if (qDfo < qBest) dfoPoint = dfo.w;
                cand = wBest;
                qCand = qBest;
                candIsExact = true;
                candSolved = true;
            } else {
                qCand = q(x, cand, wbar, g, lambda);
                Backsolve.Exact bs = null;
                double qb = Double.NaN;
                SolvedBlockSupports.Solved solvedBefore = null;
                if (opt.backsolve() != Backsolve.Mode.NONE) {
                    warmStartBacksolved |= Arrays.equals(dfo.mask, warmStart);
                    solvedBefore = solvedBlockSupports == null ? null : solvedBlockSupports.find(dfo.mask);
                    float[] knownWeights = solvedBefore != null && bestIsBlockBacksolve && Arrays.equals(dfo.mask, maskBest) ? wBest : null;
                    // the weights are needed only where the backsolve is kept, below the DFO point; where the best point
                    // is no longer that backsolve, they are solved again (the same weights)
                    if (solvedBefore != null && (knownWeights != null || solvedBefore.q() > qCand)) {
                        bs = new Backsolve.Exact(knownWeights, null);
                        qb = solvedBefore.q();
                    } else {
                        solvedBefore = null;
                    }
                    if (bs == null) try {
                        roundBacksolvesSolved++;
                        bs = backsolve(x, wbar, g, lambda, dfo.mask, opt.backsolve(), blocks, cand);
                    } catch (SingularRidgeSystemException singular) {
                        // the DFO point on that support stands; the searches below may still find a solvable one
                        log.add(logEntry(round, -1, qCand, dfo.mask, layers, 0, secs(t0), "backsolve skipped: " + singular.getMessage()));
                        sweepWarning.backsolveSkipped(singular);
                        lastSkip = singular.getMessage();
                        whyUnsolved = "its backsolve was skipped: its ridge system is singular at this lambda";
                    }
                    if (bs != null) anyBacksolved = true;
                }
                if (bs != null) {
                    float[] wb = bs.w();
                    if (solvedBefore == null) qb = qOf(bs, x, wbar, g, lambda);
                    if (solvedBlockSupports != null && solvedBefore == null) solvedBlockSupports.add(dfo.mask, qb, round);
                    double qDfoRow = qCand;
                    if (qb <= qCand) {
                        cand = wb;
                        qCand = qb;
                        candIsExact = opt.backsolve() == Backsolve.Mode.EXACT;
                        candIsBlockBacksolve = opt.backsolve() == Backsolve.Mode.BLOCK;
                        candidateGram = bs.gram();
                        candSolved = true;
                        anyBacksolveKept = true;
                    } else {
                        close(bs.gram());
                        candSolved = opt.backsolve() == Backsolve.Mode.EXACT;
                        whyUnsolved = "its " + opt.backsolve().cliName() + " backsolve landed above it";
                    }
                    // the block model drops what the blocks share, and sweeps can stop short of the exact model: such a
                    // backsolve can land above the DFO point it was made for, which the round then keeps; the row says so,
                    // as the log's rows otherwise never rise without a word
                    log.add(logEntry(round, -1, qb, dfo.mask, layers, 0, secs(t0), "backsolve " + opt.backsolve().cliName()
                            + (solvedBefore != null ? " (solved in round " + solvedBefore.round() + ", not again)" : "")
                            + (qb > qDfoRow ? ": above the DFO point's Q " + digitsThatDiffer(qDfoRow, qb) + ", which is kept" : "")));
                }
            }
            bsSeconds += secs(tb);
            byte[] candMask = dfo.mask;
            // the searches can only pay by what they take below the best point, whichever of the two is lower
            search = opt.backsolve() != Backsolve.Mode.NONE && room.allows(searchWork, Math.min(qCand, qBest));
            if (round == 1 && search && searchWork > SEARCH_WORK_LIMIT && polishRuns(opt, x)) {
                // Beyond the work limit the searches run on the bound's word that Q has room, but the swap polish, which
                // the solve ends with anyway, takes much of that room for a fraction of their cost: resnet20 at n = 1000
                // and 20% of the FLOPs sat 1.05% above its bound, the searches took 16 s for 1.3e-5 of Q, and the polish
                // then took 6.4e-3 in 3 s, ending 0.41% above it. Polished first, the room is judged where it ends.
                // Round 1 only: no Gram of a best point is held yet, so the polish peaks as the final one does, and
                // the later rounds start from where it ended.
                long tp = System.nanoTime();
                Backsolve.SupportGram near = candidateGram;
                candidateGram = null;
                PolishRun early = runPolish(x, wbar, g, lambda, layers, nnz, flops, candMask, qCand, near, true, round, log, t0,
                        " before the searches");
                double took = secs(tp);
                earlyPolish = new EarlyPolish(early, candMask, qCand, took);
                if (early.lowered()) {
                    cand = early.w();
                    candMask = early.outcome().mask();
                    qCand = early.q();
                    candIsExact = true;
                    candSolved = true;
                    anyBacksolveKept = true;
                    candidateGram = early.gram();
                }
                bsSeconds += took;
                search = room.allows(searchWork, Math.min(qCand, qBest));
            }
            boolean noteDue = opt.backsolve() != Backsolve.Mode.NONE && room.noteDue(search, searchWork);
            if (noteDue && !search) {
                log.add(logEntry(round, -1, qCand, candMask, layers, 0, secs(t0),
                        String.format(java.util.Locale.ROOT, "support exploration and backsolved swaps skipped: n^2 |K| = %.3g per candidate backsolve"
                                + " exceeds %.3g%s%s", searchWork, SEARCH_WORK_LIMIT, room.why(searchWork, Math.min(qCand, qBest)),
                                opt.backsolve() == Backsolve.Mode.EXACT && opt.swapCandidates() > 0 ? "; the final swap polish evaluates its moves without backsolves" : "")));
            }
            if (noteDue && search) {
                // the report's log says why the costly searches ran, as it says why they were skipped
                log.add(logEntry(round, -1, qCand, candMask, layers, 0, secs(t0),
                        String.format(java.util.Locale.ROOT, "support exploration and backsolved swaps run: n^2 |K| = %.3g per candidate backsolve"
                                + " exceeds %.3g, but not %.3g, and %s", searchWork, SEARCH_WORK_LIMIT, ROOMY_SEARCH_WORK_LIMIT,
                                room.whyRun(Math.min(qCand, qBest)))));
            }
            if (search && EXPLORE > 0) {
                long te = System.nanoTime();
                Explored ex = explore(x, wbar, g, lambda, layers, nnz, flops, cand, candMask, qCand, lip, opt, blocks);
                if (ex != null) {
                    cand = ex.w;
                    candMask = ex.mask;
                    qCand = ex.q;
                    candIsExact = searchMode(opt) == Backsolve.Mode.EXACT;
                    candIsBlockBacksolve = searchMode(opt) == Backsolve.Mode.BLOCK;
                    if (solvedBlockSupports != null) solvedBlockSupports.add(candMask, qCand, round);
                    candSolved = true;
                    anyBacksolveKept = true;
                    close(candidateGram);
                    candidateGram = ex.gram;
                    log.add(logEntry(round, -1, qCand, candMask, layers, ex.step, secs(t0),
                            "support exploration (backsolved steps)"));
                }
                bsSeconds += secs(te);
            }
            if (search && opt.swapCandidates() > 0) {
                long te = System.nanoTime();
                Explored ex = swapSearch(x, wbar, g, lambda, layers, nnz, flops, cand, candMask, qCand, opt, blocks);
                if (ex != null) {
                    cand = ex.w;
                    candMask = ex.mask;
                    qCand = ex.q;
                    candIsExact = searchMode(opt) == Backsolve.Mode.EXACT;
                    candIsBlockBacksolve = searchMode(opt) == Backsolve.Mode.BLOCK;
                    if (solvedBlockSupports != null) solvedBlockSupports.add(candMask, qCand, round);
                    candSolved = true;
                    anyBacksolveKept = true;
                    close(candidateGram);
                    candidateGram = ex.gram;
                    log.add(logEntry(round, -1, qCand, candMask, layers, 0, secs(t0),
                            "swap search (backsolved)"));
                }
                bsSeconds += secs(te);
            }
            if (dfoPoint != null && qDfo < qCand) {
                cand = dfoPoint;
                candMask = dfo.mask;
                qCand = qDfo;
                candIsExact = false;
                candIsBlockBacksolve = false;
                close(candidateGram);
                candidateGram = null;
            }
            boolean sameSupport = Arrays.equals(candMask, maskBest);
            // Another round only pays when this one lowered Q by more than the tolerance.
            boolean improved = qCand < qBest;
            boolean worthAnotherRound = qCand < qBest - opt.tolerance() * Math.abs(qBest);
            String lastRoundDecrease = qBest == 0 ? String.format(java.util.Locale.ROOT, "by %.3g", qBest - qCand)
                    : String.format(java.util.Locale.ROOT, "by %.3g relative", (qBest - qCand) / Math.abs(qBest));
            if (improved || round == 1 && qCand <= qBest) {
                bestIsDfoPoint = cand == dfo.w || cand == dfoPoint;
                whyBestNotBacksolved = whyUnsolved;
                wBest = cand;
                maskBest = candMask;
                qBest = qCand;
                bestIsExactBacksolve = candIsExact;
                bestIsBlockBacksolve = candIsBlockBacksolve;
                if (candidateGram != null) {
                    close(gramBase);
                    gramBase = candidateGram;
                    candidateGram = null;
                }
            }
            close(candidateGram);
            candidateGram = null;
            if (!improved) { stop = (capped != null ? capped : dfo.stop) + "; round did not lower Q"; break; }
            if (!worthAnotherRound && round > 1) { stop = (capped != null ? capped : dfo.stop) + "; round lowered Q by less than the tolerance"; break; }
            if (sameSupport && round > 1 && candSolved) {
                stop = capped != null ? capped + "; no DFO iteration is left for another round" : dfo.stop + "; support stable";
                break;
            }
            if (sameSupport && round > 1 && !dfo.stoppedOnStableSupport) {
                // the DFO itself ended there (tolerance, no decrease, the iteration cap), on a support no backsolve solved
                stop = capped != null ? capped + "; its point the DFO's, not backsolved (" + whyUnsolved + ")"
                        : dfo.stop + "; support stable, its point the DFO's, not backsolved (" + whyUnsolved + ")";
                break;
            }
            // the candidate is the DFO point that --stable-iterations stopped: the next round's DFO goes on from it
            dfoPastStableSupport = !candSolved && dfo.stoppedOnStableSupport;
            // Only the last round keeps this: the rounds ran out while they still paid, so the last DFO's own reason
            // (say "relative decrease below tolerance") is not why the solve stopped, and more rounds may lower Q.
            stop = String.format(java.util.Locale.ROOT, "round cap (%d) reached while Q still fell (the last round lowered it %s); "
                    + "last round's DFO: %s", opt.maxRounds(), lastRoundDecrease, dfo.stop);
        }
        if (opt.backsolve() != Backsolve.Mode.NONE && !warmStartBacksolved) {
            // The first DFO steps can leave the warm start's support before it is ever backsolved, for supports whose
            // unbacksolved Q is lower, and the rounds then ended far above mp + BS (Q -35.7 against its -197.6, the
            // optimum, on 8 weights with a linear term): the backsolve of the warm start is a candidate too.
            Backsolve.Exact bs = null;
            try {
                bs = backsolve(x, wbar, g, lambda, warmStart, opt.backsolve(), blocks);
            } catch (SingularRidgeSystemException singular) {
                log.add(logEntry(rounds, -1, qBest, warmStart, layers, 0, secs(t0), "backsolve of the warm start skipped: " + singular.getMessage()));
                sweepWarning.backsolveSkipped(singular);
                lastSkip = singular.getMessage();
            }
            if (bs != null) anyBacksolved = true;
            if (bs != null) {
                double qb = qOf(bs, x, wbar, g, lambda);
                if (qb < qBest) {
                    wBest = bs.w();
                    maskBest = warmStart;
                    qBest = qb;
                    anyBacksolveKept = true;
                    bestIsDfoPoint = false;
                    close(gramBase);
                    gramBase = bs.gram();
                    log.add(logEntry(rounds, -1, qb, warmStart, layers, 0, secs(t0),
                            "backsolve " + opt.backsolve().cliName() + " of the warm start's support, below the rounds' best"));
                } else {
                    warmStartBacksolveAbove = true;
                    close(bs.gram());
                }
            }
        }
        Polish polish;
        if (opt.backsolve() != Backsolve.Mode.EXACT || opt.swapCandidates() == 0) {
            polish = Polish.skipped(opt.backsolve() != Backsolve.Mode.EXACT ? "it needs the exact backsolve" : "swap candidates 0", qBest);
        } else if (x.rows() > POLISH_MAX_ROWS) {
            polish = Polish.skipped(String.format(java.util.Locale.ROOT, "n = %d rows, above %d (each of its trials factors an n x n system)",
                    x.rows(), POLISH_MAX_ROWS), qBest);
            log.add(logEntry(rounds, -1, qBest, maskBest, layers, 0, secs(t0), "swap polish skipped: " + polish.skipped()));
        } else if (earlyPolish != null && earlyPolish.endsOn(maskBest)) {
            // The solve ends where the polish before the searches ended, which ran with the passes the final one has: the
            // final one would repeat it. (The kicks are for p <= 4096 and n^2 p <= 1.7e7, far below where it runs.)
            PolishRun early = earlyPolish.run();
            polish = early.outcome() == null ? Polish.skipped(early.whySkipped(), qBest)
                    : new Polish(null, early.outcome().swaps(), early.outcome().additions(), early.outcome().passes(),
                            early.outcome().decrease(), earlyPolish.qBefore(), early.q(), earlyPolish.seconds(), 0, 0);
        } else {
            // The searches above backsolve every candidate support; the polish evaluates swaps in closed form on the n x n
            // system, so it also runs where they are gated off (|K| >> n), and finds the moves worth parts in 1e6 there.
            long tp = System.nanoTime();
            double qBefore = qBest;
            // the polish takes the best support's Gram over and closes it once it moves on: no n x n system of the
            // rounds is held while it runs
            Backsolve.SupportGram near = gramBase;
            gramBase = null;
            PolishRun run = runPolish(x, wbar, g, lambda, layers, nnz, flops, maskBest, qBest, near, false, rounds, log, t0, "");
            if (run.lowered()) {
                anyBacksolveKept = true;
                bestIsDfoPoint = false;
                wBest = run.w();
                maskBest = run.outcome().mask();
                qBest = run.q();
            }
            double qAfter = run.q();
            int kicksRun = 0, kicksThatLoweredQ = 0;
            if (run.whySkipped() == null && p <= KICK_MAX_WEIGHTS && (double) x.rows() * x.rows() * p <= KICK_WORK_LIMIT) {
                kicksRun = KICKS;
                Kicked kicked = kicks(x, wbar, g, lambda, layers, nnz, flops, maskBest, qBest);
                log.add(logEntry(rounds, -1, kicked == null ? qBest : kicked.q, kicked == null ? maskBest : kicked.mask, layers, 0, secs(t0),
                        String.format(java.util.Locale.ROOT, "%d kicks of the support, each followed by the swap polish: %s", KICKS,
                                kicked == null ? "none lowered Q" : kicked.lowered + " lowered Q")));
                if (kicked != null) {
                    bestIsDfoPoint = false;
                    wBest = kicked.w;
                    maskBest = kicked.mask;
                    qBest = kicked.q;
                    qAfter = kicked.q;
                    kicksThatLoweredQ = kicked.lowered;
                }
            }
            double took = secs(tp);
            SwapPolish.Outcome polished = run.outcome();
            polish = polished == null ? Polish.skipped(run.whySkipped(), qBest)
                    : new Polish(null, polished.swaps(), polished.additions(), polished.passes(), polished.decrease(), qBefore, qAfter, took,
                            kicksRun, kicksThatLoweredQ);
            bsSeconds += took;
        }
        long[] per = perLayer(maskBest, layers);
        return new Result(wBest, maskBest, sum(per), flopsOf(per, layers), per, qStart, qBest, lip,
                opt.maxIterations() - Math.max(0, iterationsLeft), rounds, stop, List.copyOf(log), dfoSeconds, bsSeconds, lastGap[0], polish,
                anyBacksolved ? null : lastSkip,
                backsolveNotKept(opt.backsolve(), anyBacksolved && bestIsDfoPoint, anyBacksolveKept, whyBestNotBacksolved, warmStartBacksolveAbove));
    }

    /**
     * What the summary and report say where the final weights are a DFO point though backsolves were solved; null where
     * they are a backsolve's. Block and sweep only: an exact backsolve lands above its DFO point only by rounding.
     */
    private static String backsolveNotKept(Backsolve.Mode mode, boolean finalWeightsAreTheDfosThoughBacksolved, boolean anyKept,
                                           String whyFinalNotBacksolved, boolean warmStartBacksolveAbove) {
        if (!finalWeightsAreTheDfosThoughBacksolved || mode != Backsolve.Mode.BLOCK && mode != Backsolve.Mode.SWEEP) return null;
        if (!anyKept) {
            return "backsolve " + mode.cliName() + " never kept: it raised Q on every support it solved (each landed above the DFO point"
                    + " it was made for" + (warmStartBacksolveAbove ? ", the warm start's above the rounds' best" : "") + "); the weights are the DFO's";
        }
        return "backsolve " + mode.cliName() + " not kept at the end: the final weights are the DFO's ("
                + (whyFinalNotBacksolved != null ? whyFinalNotBacksolved : "their support's backsolve was not kept")
                + "), below the backsolves kept in earlier rounds";
    }

    /**
     * The supports a solve has block-backsolved, by a SHA-256 digest of their mask, with the Q of their backsolve and the
     * round that solved it: a block backsolve is a function of the support alone (BlockSolutions' reuse gives the same
     * bits), so a round that ends on one of them needs no second one. A digest of 32 bytes rather than the mask (p bytes)
     * per support: at resnet50's 25.5 million weights, 25 rounds of masks would hold 640 MB of heap.
     */
    private static final class SolvedBlockSupports {
        record Solved(double q, int round) {}

        private final java.util.Map<String, Solved> byDigest = new java.util.HashMap<>();

        void add(byte[] mask, double q, int round) {
            byDigest.putIfAbsent(digest(mask), new Solved(q, round));
        }

        /** The support's earlier backsolve, or null where none was recorded. */
        Solved find(byte[] mask) {
            return byDigest.get(digest(mask));
        }

        private static String digest(byte[] mask) {
            try {
                return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(mask));
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("every Java platform has SHA-256", e);
            }
        }
    }

    /** The stop reason where the DFO used up --max-iterations while its last step lowered Q by {@code lastDecrease}. */
    private static String iterationCapReached(SolverOptions opt, double lastDecrease) {
        return String.format(java.util.Locale.ROOT, "iteration cap (%d) reached while Q still fell (the last iteration lowered it by %.3g"
                + " relative): the point did not converge, more --max-iterations may lower Q", opt.maxIterations(), lastDecrease);
    }

    /**
     * A round's DFO: where it ended, and loggedQ, the Q its last log row gave that point (the start's where it took no
     * step), from which the next DFO run on another model goes on. {@code stoppedOnStableSupport}: its last run ended on
     * --stable-iterations, which hands the support to the backsolve rather than saying the DFO converged.
     * {@code endedOnIterationCap}: its last run used the iterations left while each step still lowered Q by the tolerance
     * or more, {@code lastRelativeDecrease} the last step's (NaN without a step): the point did not converge.
     */
    private record Dfo(float[] w, byte[] mask, int iterations, String stop, double loggedQ, boolean stoppedOnStableSupport,
                       boolean endedOnIterationCap, double lastRelativeDecrease) {}

    private static boolean polishRuns(SolverOptions opt, HostMatrix x) {
        return opt.backsolve() == Backsolve.Mode.EXACT && opt.swapCandidates() > 0 && x.rows() <= POLISH_MAX_ROWS;
    }

    /**
     * A run of the swap polish as the solve sees it: no outcome when it could not run ({@code whySkipped} says why); Q
     * where its backsolve ended (or where it started, without moves); the weights, and the Gram when asked for (the
     * caller owns it), only when that Q is below the start's.
     */
    private record PolishRun(SwapPolish.Outcome outcome, String whySkipped, float[] w, double q, Backsolve.SupportGram gram) {
        boolean lowered() { return w != null; }
    }

    /** The polish before round 1's searches, from {@code from} at Q {@code qBefore}. */
    private record EarlyPolish(PolishRun run, byte[] from, double qBefore, double seconds) {
        /** Whether a solve on {@code mask} stands where this polish left it. */
        boolean endsOn(byte[] mask) {
            return Arrays.equals(mask, run.lowered() ? run.outcome().mask() : from);
        }
    }

    /**
     * The swap polish from {@code mask} (Q {@code q}; {@code near}, its Gram or null, is taken over), followed by the
     * exact backsolve of the support it ends on. {@code when} qualifies the log's rows ("" for the final polish).
     */
    private PolishRun runPolish(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                                byte[] mask, double q, Backsolve.SupportGram near, boolean keepGram, int round, List<IterationLog> log,
                                long t0, String when) {
        SwapPolish.Outcome polished;
        String whySkipped;
        try {
            polished = SwapPolish.run(backend, x, wbar, g, lambda, layers, nnz, flops, mask, near, POLISH_PASSES);
        } catch (ArithmeticException notPositiveDefinite) {
            // Its system is X_K X_K^T + lambda I even when |K| < n, where the backsolves solve the |K| x |K| normal
            // equations instead: n - |K| of its eigenvalues are lambda, and a lambda far below the rest leaves it singular
            // in double. The point of the rounds stands; only the polish cannot run.
            whySkipped = String.format(java.util.Locale.ROOT, "its n x n system X_K X_K^T + lambda I is singular in double precision"
                    + " at lambda = %.3g (%s)", lambda, notPositiveDefinite.getMessage());
            log.add(logEntry(round, -1, q, mask, layers, 0, secs(t0), "swap polish" + when + " skipped: " + whySkipped));
            return new PolishRun(null, whySkipped, null, q, null);
        } catch (SwapPolish.NotFinite overflow) {
            whySkipped = overflow.getMessage();
            log.add(logEntry(round, -1, q, mask, layers, 0, secs(t0), "swap polish" + when + " skipped: " + whySkipped));
            return new PolishRun(null, whySkipped, null, q, null);
        }
        if (polished.mask() == null) return new PolishRun(polished, null, null, q, null);
        Backsolve.Exact bs;
        try (Backsolve.SupportGram pg = polished.gram()) {
            bs = Backsolve.exact(backend, x, wbar, g, lambda, polished.mask(), pg);
        }
        double qAfter = qOf(bs, x, wbar, g, lambda);
        boolean lowered = qAfter < q;
        log.add(logEntry(round, -1, qAfter, polished.mask(), layers, 0, secs(t0), String.format(java.util.Locale.ROOT,
                "swap polish%s: %d swaps and %d additions in %d passes, exact n x n updates (model decrease %.3g)%s", when,
                polished.swaps(), polished.additions(), polished.passes(), polished.decrease(),
                lowered ? "" : "; " + polishNotKept(q, qAfter, polished.decrease()))));
        if (!lowered || !keepGram) bs.gram().close();
        return new PolishRun(polished, null, lowered ? bs.w() : null, qAfter, lowered && keepGram ? bs.gram() : null);
    }

    /**
     * Why the polish's end was not kept, from the Q it started from, the Q of the exact backsolve on the support it ended on,
     * and the decrease its model predicted. Every such end was said to be "the backsolve's rounding": also where Q more
     * than doubled (2.501 to 5.834 against a predicted decrease of 0.00447, weights of 1e15), which no rounding does.
     * Rounding is named where the backsolve landed within 1e-9 of Q from the start, and where the decrease the model
     * predicted is itself below 1e-9 of Q: at lambda = 1e-30 a polish predicting 3.9e-29 against Q 1.3e-14 had its
     * backsolve land at 5.1e-13, the float32 rounding of backsolved weights, which a rise far above the prediction was then
     * said not to be.
     */
    static String polishNotKept(double qBefore, double qAfter, double modelDecrease) {
        double rise = qAfter - qBefore;
        if (rise <= 1e-9 * Math.max(Math.abs(qBefore), Math.abs(qAfter))) {
            return "not kept, the backsolve's rounding ate it";
        }
        if (Math.abs(modelDecrease) <= 1e-9 * Math.abs(qBefore)) {
            return String.format(java.util.Locale.ROOT, "not kept: its model predicted a decrease of %.3g, below the rounding of"
                    + " Q %s, and the exact backsolve on the swapped support, rounded to float32, gave Q %s", modelDecrease,
                    digitsThatDiffer(qBefore, qAfter), digitsThatDiffer(qAfter, qBefore));
        }
        return String.format(java.util.Locale.ROOT, "not kept: the exact backsolve on the swapped support gave Q %s, above the %s"
                + " the polish started from, where its model predicted a decrease of %.3g", digitsThatDiffer(qAfter, qBefore),
                digitsThatDiffer(qBefore, qAfter), modelDecrease);
    }

    /**
     * Kicks of the support after the swap polish (iterated local search): each removes {@link #KICK_STRENGTH} random
     * weights of the best support, fills the freed budgets with random weights that fit, and polishes from there. On
     * instances of p = 16..24 (400, seed 20261205) the polish ended six to ten weights from the optimum on 15, where no
     * move of up to three in and three out lowers Q; ten kicks reached the optimum on 13 of them.
     */
    static final int KICKS = 10;

    /** Weights each kick takes out of the support. */
    static final int KICK_STRENGTH = 4;

    /**
     * The kicks run only up to this many weights: on more, four random weights in or out hardly move the support, and
     * each kick costs a polish from a fresh n x n Gram.
     */
    static final int KICK_MAX_WEIGHTS = 4096;

    /**
     * The kicks also need n^2 p at most this (n = 64 at p = 4,096): ten kicks cost about as much as the rest of the
     * solve, 0.3 s more on p = 200..2,000, n = 16..64, but 3 s at n = 120, p = 4,000 and 8-33 s at n = 300..460,
     * p = 3,000..3,800.
     */
    static final double KICK_WORK_LIMIT = 1.7e7;

    /** Fixed, so that a solve's result depends on its inputs alone. */
    private static final long KICK_SEED = 0x5EEDF00DL;

    private record Kicked(float[] w, byte[] mask, double q, int lowered) {}

    /** The best point the kicks reach from {@code mask} (Q {@code q}), or null when none lowers Q. */
    private Kicked kicks(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                         byte[] mask, double q) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(KICK_SEED);
        Kicked best = null;
        byte[] from = mask;
        double qFrom = q;
        int lowered = 0;
        for (int k = 0; k < KICKS; k++) {
            byte[] start = kick(random, from, layers, nnz, flops);
            byte[] polished = start;
            Backsolve.SupportGram gram = null;
            try {
                SwapPolish.Outcome o = SwapPolish.run(backend, x, wbar, g, lambda, layers, nnz, flops, start, null, POLISH_PASSES);
                if (o.mask() != null) {
                    polished = o.mask();
                    gram = o.gram();
                }
            } catch (ArithmeticException | SwapPolish.NotFinite unsolvable) {
                // the kicked support's system is singular in double: that kick is lost, the others stand
                continue;
            }
            Backsolve.Exact bs;
            try (Backsolve.SupportGram near = gram) {
                bs = Backsolve.exact(backend, x, wbar, g, lambda, polished, near);
            } catch (SingularRidgeSystemException singular) {
                continue;
            }
            bs.gram().close();
            double qk = q(x, bs.w(), wbar, g, lambda);
            if (qk < qFrom) {
                lowered++;
                best = new Kicked(bs.w(), polished, qk, lowered);
                from = polished;
                qFrom = qk;
            }
        }
        return best;
    }

    /**
     * {@code mask} with {@link #KICK_STRENGTH} random weights out and, in random order, every weight outside it (but those
     * just taken out) that fits both budgets in.
     */
    private static byte[] kick(java.util.SplittableRandom random, byte[] mask, LayerTable layers, long nnz, double flops) {
        return kick(random, mask, layers, nnz, flops, KICK_STRENGTH);
    }

    /** As above, with {@code strength} weights out (probes try other strengths). */
    static byte[] kick(java.util.SplittableRandom random, byte[] mask, LayerTable layers, long nnz, double flops, int strength) {
        int p = mask.length;
        byte[] kicked = mask.clone();
        int[] kept = new int[p];
        int keptCount = 0;
        for (int j = 0; j < p; j++) if (mask[j] != 0) kept[keptCount++] = j;
        boolean[] out = new boolean[p];
        for (int s = 0; s < strength && keptCount > 0; s++) {
            int at = random.nextInt(keptCount);
            int j = kept[at];
            kept[at] = kept[--keptCount];
            kicked[j] = 0;
            out[j] = true;
        }
        long[] per = perLayer(kicked, layers);
        long count = sum(per);
        int[] order = new int[p];
        for (int j = 0; j < p; j++) order[j] = j;
        for (int j = p - 1; j > 0; j--) {
            int other = random.nextInt(j + 1);
            int swap = order[j];
            order[j] = order[other];
            order[other] = swap;
        }
        for (int j : order) {
            if (kicked[j] != 0 || out[j] || count >= nnz) continue;
            int l = layers.layerOf(j);
            per[l]++;
            if (flopsOf(per, layers) <= flops) {
                kicked[j] = 1;
                count++;
            } else {
                per[l]--;
            }
        }
        return kicked;
    }

    /**
     * Passes of the final {@link SwapPolish} that take moves (each one product X^T y and the gathered candidates); those
     * that find none and move on to its next stage come on top.
     */
    static final int POLISH_PASSES = 16;

    /**
     * Most rows for which the final swap polish runs: each of its trials factors an n x n system (n^3 / 3, about 1 s at
     * n = 4096 on 2 cores, several per pass) and it holds a few n x n doubles at once (134 MB each at 4096).
     */
    public static final int POLISH_MAX_ROWS = 4096;

    /**
     * The most rows of X the solver takes: its n x n matrices (the Lipschitz constant's Gram, the leverages' inverse) are
     * Java arrays, whose n * n must stay within int (46,341 rows overflowed it into a NegativeArraySizeException).
     */
    public static final int MAX_ROWS = 46_340;

    /** Largest n^2 |K| (multiply-adds of one candidate backsolve) for which the support searches always run. */
    static final double SEARCH_WORK_LIMIT = 4e8;

    /**
     * Largest n^2 |K| for which the support searches run when the certified room is large (about 1 s per candidate
     * backsolve on 2 cores): real networks, where the backsolve cannot absorb the pruned weights' residual (MNIST CNN,
     * n = 1000, |K| ~ 11,000: n^2 |K| ~ 1.1e10, Q 20% below mp + BS at 10% of the FLOPs).
     */
    static final double ROOMY_SEARCH_WORK_LIMIT = 1e11;

    /**
     * The searches above {@link #SEARCH_WORK_LIMIT} run only while Q is at least this fraction above the certified
     * {@link LowerBound}: the synthetic examples (|K| >> n) end within 4e-5 of it, and no search can gain more.
     */
    static final double ROOM_WORTH_SEARCHING = 1e-2;

    /** Whether the support searches pay: cheap enough, or costly but with certified room to gain. */
    static final class RoomForSearch {
        private final ComputeBackend backend;
        private final float[] wbar, g;
        private final double lambda;
        private final LayerTable layers;
        private final long nnz;
        private final double flops;
        private LowerBound bound;

        /** The solve's projector, whose buffers the bound borrows (null: its own). */
        private final Projector projection;

        RoomForSearch(ComputeBackend backend, Projector projection, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops) {
            this.backend = backend;
            this.projection = projection;
            this.wbar = wbar;
            this.g = g;
            this.lambda = lambda;
            this.layers = layers;
            this.nnz = nnz;
            this.flops = flops;
        }

        /** Computed once, and only for problems in the costly range (one selection). */
        LowerBound bound() {
            if (bound == null) {
                java.nio.FloatBuffer wv = java.nio.FloatBuffer.wrap(wbar), gv = g == null ? null : java.nio.FloatBuffer.wrap(g);
                // within a solve, on the projector's buffers: no second set of p-sized selection buffers at the peak
                bound = projection != null ? LowerBound.of(projection.selector, projection.scores, wv, gv, lambda, layers, nnz, flops)
                        : LowerBound.of(backend, wv, gv, lambda, layers, nnz, flops);
            }
            return bound;
        }

        /**
         * q = +infinity: before any backsolve, when only the work can say no. Without a bound the room is unknown, not
         * closed: its NaN room failed the comparison, and the searches were skipped as if Q sat within 1% of a bound.
         */
        boolean allows(double searchWork, double q) {
            if (searchWork <= SEARCH_WORK_LIMIT) return true;
            return searchWork <= ROOMY_SEARCH_WORK_LIMIT && (q == Double.POSITIVE_INFINITY || bound().unavailable() != null
                    || bound().relativeRoom(q) >= ROOM_WORTH_SEARCHING);
        }

        /** The decision last written to the log for the costly range (null: none yet). */
        private Boolean noted;

        /**
         * Whether the log needs a note on this round's decision: in the costly range (beyond {@link #SEARCH_WORK_LIMIT}),
         * the first decision and every change of it. Only round 1's was written, so a later round whose searches
         * stopped (Q within 1% of its bound) or started (|K| down past a limit) said nothing of it.
         */
        boolean noteDue(boolean search, double searchWork) {
            if (searchWork <= SEARCH_WORK_LIMIT || Boolean.valueOf(search).equals(noted)) return false;
            noted = search;
            return true;
        }

        /** Why the searches run beyond {@link #SEARCH_WORK_LIMIT}, for the log (only when {@link #allows} said yes). */
        String whyRun(double q) {
            if (bound().unavailable() != null) {
                return "Q has no certified lower bound (" + bound().unavailable() + "), so its room above one is unknown";
            }
            // allows() lets a Q of +Infinity through; its room is NaN, and "NaN above" would read as a measured room
            if (!Double.isFinite(q)) return "Q is " + q + ", so its room above the certified lower bound is unknown";
            return String.format(java.util.Locale.ROOT, "Q is %.3g above its certified lower bound %.6g (searches need %.3g)",
                    bound().relativeRoom(q), bound().value(), ROOM_WORTH_SEARCHING);
        }

        /** Why the searches were skipped beyond the work limit, for the log. */
        String why(double searchWork, double q) {
            if (searchWork > ROOMY_SEARCH_WORK_LIMIT) {
                return String.format(java.util.Locale.ROOT, " and %.3g (the limit when Q has room above its certified bound)", ROOMY_SEARCH_WORK_LIMIT);
            }
            return String.format(java.util.Locale.ROOT, ", and Q is only %.3g above its certified lower bound %.6g (searches need %.3g)",
                    bound().relativeRoom(q), bound().value(), ROOM_WORTH_SEARCHING);
        }
    }

    /** Cap on the coarse step exponent of the support exploration (steps up to 2^EXPLORE / Lip). */
    private static final int EXPLORE = 60;

    /** A backsolved candidate; {@code gram} (the Gram of its support, or null) is owned by whoever holds it. */
    private record Explored(float[] w, byte[] mask, double q, double step, Backsolve.SupportGram gram) {}

    /**
     * Swap search from a backsolved point. Every coordinate gets the exact change of Q its own move would
     * cause with the rest of K re-optimised (the optimal-brain-surgeon values of the ridge model, from the
     * leverages q_j = x_j^T (X_K X_K^T + lambda I)^{-1} x_j by Woodbury): adding i outside K lowers Q by
     * grad_i^2 / (2 lambda (1 + q_i)), removing j from K raises it by lambda w_j^2 / (2 (1 - q_j)). The best
     * outside coordinates are paired with the cheapest kept ones whose removal keeps the budgets (or with
     * none when an addition fits). Each of the c best additions is backsolved alone and against each of the c
     * cheapest removals, then the c best pairs, and then batches of the best disjoint pairs with a positive
     * estimate (all of them, then half, ...), because single moves may change Q by less than two backsolves'
     * rounding can tell apart. Returns the best backsolved candidate when it lowers Q, else null.
     * c = {@code opt.swapCandidates()}. ({@link SwapPolish} scores the same moves in closed form, without backsolves,
     * at the end of the solve.)
     */
    private Explored swapSearch(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                                float[] w, byte[] mask, double q, SolverOptions opt, long[] blocks) {
        int p = w.length;
        MoveEstimates moves = moveEstimates(x, wbar, g, lambda, w, mask, searchMode(opt) == Backsolve.Mode.EXACT);
        double[] gain = moves.gain(), loss = moves.loss();
        // no more candidates than weights: a larger --swap-candidates sized arrays by it (out of memory) or overflowed the
        // pool below into a negative array size
        int c = Math.min(opt.swapCandidates(), p);
        int pool = (int) Math.min((long) PAIR_POOL * c, p);
        int[] in = topIndices(p, pool, i -> mask[i] == 0 && gain[i] > 0 ? gain[i] : Double.NEGATIVE_INFINITY);
        // the cheapest removals of every layer: a swap's FLOP change depends only on the two layers
        int[][] cheapest = new int[layers.size()][];
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            int lo = (int) layer.offset();
            int[] top = topIndices((int) layer.count(), pool, k -> mask[lo + k] != 0 ? -loss[lo + k] : Double.NEGATIVE_INFINITY);
            for (int t = 0; t < top.length; t++) if (top[t] >= 0) top[t] += lo;
            cheapest[l] = top;
        }
        long[] per = perLayer(mask, layers);
        long kept = sum(per);
        // pairs (add, remove or -1) in order of decreasing estimated net decrease, each removal used once
        List<int[]> pairs = new ArrayList<>();
        List<Double> nets = new ArrayList<>();
        boolean[] used = new boolean[p];
        for (int i : in) {
            if (i < 0) continue;
            int li = layers.layerOf(i);
            long[] per2 = per.clone();
            per2[li]++;
            int bestJ = -1;
            double withAddition = flopsOf(per2, layers);
            double bestLoss = kept + 1 <= nnz && withAddition <= flops ? 0 : Double.POSITIVE_INFINITY;
            for (int l = 0; l < layers.size(); l++) {
                per2[l]--;
                boolean fits = fitsAfterChange(withAddition, -layers.get(l).flopsPerWeight(), per2, layers, flops);
                per2[l]++;
                if (!fits) continue;
                for (int j : cheapest[l]) {
                    if (j < 0 || used[j]) continue;
                    if (loss[j] < bestLoss) { bestLoss = loss[j]; bestJ = j; }
                    break;  // cheapest unused of this layer
                }
            }
            if (bestLoss == Double.POSITIVE_INFINITY) continue;
            if (bestJ >= 0) used[bestJ] = true;
            pairs.add(new int[] {i, bestJ});
            nets.add(gain[i] - bestLoss);
        }
        Integer[] order = new Integer[pairs.size()];
        for (int t = 0; t < order.length; t++) order[t] = t;
        Arrays.sort(order, (a, b) -> Double.compare(nets.get(b), nets.get(a)));  // stable: ties keep the gain order
        Explored best = null;
        try {
            // singles: each of the c best additions with no removal and against each of the c cheapest removals (c (c + 1)
            // backsolves, those that break a budget skipped), then the c best pairs that keep the budgets
            int[] out = topIndices(p, c, j -> mask[j] != 0 ? -loss[j] : Double.NEGATIVE_INFINITY);
            for (int t = 0; t < Math.min(c, in.length) && in[t] >= 0; t++) {
                for (int k = -1; k < out.length; k++) {
                    if (k >= 0 && out[k] < 0) continue;
                    List<int[]> single = List.of(new int[] {in[t], k < 0 ? -1 : out[k]});
                    best = better(best, tryMoves(x, wbar, g, lambda, layers, nnz, flops, mask, per, kept, single, new Integer[] {0}, 0, 1, opt, blocks), q);
                }
            }
            for (int t = 0; t < Math.min(c, order.length); t++) {
                best = better(best, tryMoves(x, wbar, g, lambda, layers, nnz, flops, mask, per, kept, pairs, order, t, t + 1, opt, blocks), q);
            }
            // batches of the pairs with a positive estimate that fit the budgets together, largest first; stop at the
            // first that lowers Q
            List<Integer> batch = new ArrayList<>();
            long[] perBatch = per.clone();
            long keptBatch = kept;
            for (int t = 0; t < order.length && nets.get(order[t]) > 0; t++) {
                int[] move = pairs.get(order[t]);
                perBatch[layers.layerOf(move[0])]++;
                if (move[1] >= 0) perBatch[layers.layerOf(move[1])]--;
                long k2 = keptBatch + (move[1] >= 0 ? 0 : 1);
                if (k2 <= nnz && flopsOf(perBatch, layers) <= flops) {
                    batch.add(order[t]);
                    keptBatch = k2;
                } else {
                    perBatch[layers.layerOf(move[0])]--;
                    if (move[1] >= 0) perBatch[layers.layerOf(move[1])]++;
                }
            }
            Integer[] batchOrder = batch.toArray(new Integer[0]);
            for (int m = batchOrder.length; m >= 2; m /= 2) {
                Explored e = tryMoves(x, wbar, g, lambda, layers, nnz, flops, mask, per, kept, pairs, batchOrder, 0, m, opt, blocks);
                if (e != null && e.q < q) { best = better(best, e, q); break; }
                release(e);
            }
            return best;
        } catch (RuntimeException | Error e) {
            // the best candidate so far holds the Gram of its support, which the exception would leave to the collector
            release(best);
            throw e;
        }
    }

    /**
     * Estimated changes of Q for single moves from the point w on the support mask: {@code gain[i]} (i outside) the
     * decrease when i joins, {@code loss[j]} (j kept) the increase when j leaves, the rest of K re-optimised. Exact
     * (the optimal-brain-surgeon values, from the leverages) when w is the exact backsolve of the mask and n^2 p is
     * within {@link #LEVERAGE_WORK_LIMIT}; else diagonal estimates with the other coordinates held fixed.
     */
    record MoveEstimates(double[] gain, double[] loss) {}

    MoveEstimates moveEstimates(HostMatrix x, float[] wbar, float[] g, double lambda, float[] w, byte[] mask, boolean exactBacksolve) {
        int p = w.length;
        double[] grad;
        double[] residual = exactBacksolve ? new double[(int) x.rows()] : null;
        double[] leverage = null;
        if ((double) x.rows() * x.rows() * p <= LEVERAGE_WORK_LIMIT) {
            try {
                leverage = leverages(x, mask, lambda, wbar, g, residual);
            } catch (ArithmeticException notPositiveDefinite) {
                // the inverse of X_K X_K^T + lambda I lost definiteness to rounding (condition ~1e16): the diagonal
                // estimates below only rank the candidates, which are backsolved anyway
            }
        }
        if (leverage != null && exactBacksolve) {
            float[] xtr = Backsolve.transposedProduct(backend, x, residual);
            grad = new double[p];
            for (int j = 0; j < p; j++) grad[j] = xtr[j] + lambda * (w[j] - wbar[j]) + (g == null ? 0 : g[j]);
        } else {
            try (FisherModel full = exactModel(x, wbar, g, lambda)) {
                grad = full.gradient(full.evaluate(w));
            }
        }
        double[] gain = new double[p];
        double[] loss = new double[p];
        float[] norms = null;
        if (leverage == null) {
            // within a solve X is fixed: its column norms are computed once
            if (projector == null) norms = columnNorms(x);
            else norms = columnNorms != null ? columnNorms : (columnNorms = columnNorms(x));
        }
        for (int j = 0; j < p; j++) {
            if (leverage != null) {
                // 1 - q_j <= 0 only by rounding: a coordinate K cannot do without
                if (mask[j] == 0) gain[j] = grad[j] * grad[j] / (2 * lambda * (1 + leverage[j]));
                else loss[j] = leverage[j] < 1 ? lambda * w[j] * w[j] / (2 * (1 - leverage[j])) : Double.POSITIVE_INFINITY;
            } else {
                if (mask[j] == 0) gain[j] = grad[j] * grad[j] / (2 * (norms[j] + lambda));
                else loss[j] = 0.5 * w[j] * w[j] * (norms[j] + lambda);
            }
        }
        return new MoveEstimates(gain, loss);
    }

    /** Pool of candidate additions per swap candidate (and of cheapest removals per layer). */
    private static final int PAIR_POOL = 16;

    /** Largest n^2 p (multiply-adds of the n passes of the leverages) for which swaps use the exact estimates. */
    static final double LEVERAGE_WORK_LIMIT = 2e10;

    /** The lower of the two (a candidate must be below q), the other one released. */
    private static Explored better(Explored best, Explored cand, double q) {
        if (cand == null || !(cand.q < (best == null ? q : best.q))) {
            release(cand);
            return best;
        }
        release(best);
        return cand;
    }

    /** The moves order[from..to) applied together (null when they break a budget), backsolved. */
    private Explored tryMoves(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                              byte[] mask, long[] per, long kept, List<int[]> pairs, Integer[] order, int from, int to,
                              SolverOptions opt, long[] blocks) {
        byte[] mk = mask.clone();
        long[] per2 = per.clone();
        long k2 = kept;
        for (int t = from; t < to; t++) {
            int[] move = pairs.get(order[t]);
            mk[move[0]] = 1;
            per2[layers.layerOf(move[0])]++;
            k2++;
            if (move[1] >= 0) {
                mk[move[1]] = 0;
                per2[layers.layerOf(move[1])]--;
                k2--;
            }
        }
        if (k2 > nnz || flopsOf(per2, layers) > flops) return null;
        Backsolve.Exact bs;
        try {
            bs = backsolve(x, wbar, g, lambda, mk, searchMode(opt), blocks);
        } catch (SingularRidgeSystemException singular) {
            return null; // a candidate whose system cannot be solved at this lambda is passed by, not the whole solve
        }
        return new Explored(bs.w(), mk, qOf(bs, x, wbar, g, lambda), 0, bs.gram());
    }

    /**
     * Leverages q_j = x_j^T (X_K X_K^T + lambda I)^{-1} x_j of every column (K = the mask): with the inverse
     * factored as L L^T, q_j = ||L^T x_j||^2, one pass X^T u per column u of L (n passes). When {@code residual}
     * is given it receives r = X (w - wbar) at the exact backsolve of K.
     */
    private double[] leverages(HostMatrix x, byte[] mask, double lambda, float[] wbar, float[] g, double[] residual) {
        int n = Math.toIntExact(x.rows()), p = Math.toIntExact(x.cols());
        float[] keep = new float[p];
        for (int j = 0; j < p; j++) keep[j] = mask[j] != 0 ? 1f : 0f;
        try (FloatPointer weights = backend.floatVector(p); DoublePointer a = new DoublePointer((long) n * n);
             DoublePointer inverse = new DoublePointer((long) n * n); FloatPointer u = new FloatPointer(n);
             FloatPointer out = backend.floatVector(p)) {
            weights.put(keep, 0, p);
            backend.weightedGram(x, weights, a);
            // the identity, the inverse and its factor are all formed in place, off-heap: heap copies were two n x n
            // arrays of garbage per call, and the Java heap grew with them
            Pointer.memset(inverse, 0, (long) n * n * Double.BYTES);
            for (int i = 0; i < n; i++) {
                a.put((long) i * n + i, a.get((long) i * n + i) + lambda);
                inverse.put((long) i * n + i, 1);
            }
            Backsolve.choleskyAboveRounding(backend, a, n);
            if (residual != null) {
                // r = X (w - wbar) at the exact backsolve of K, from the n x n system: r = M^{-1} (lambda c - X_K g_K)
                // with c = -X_{not K} wbar_{not K}. Recomputing X (w - wbar) in float instead would lose the few
                // digits the swap estimates live on: when |K| >> n, r is the tiny remainder of large cancelling sums.
                double[] c = Backsolve.removedResidual(backend, x, wbar, mask);
                double[] xg = null;
                if (g != null) {
                    float[] gk = new float[p];
                    for (int j = 0; j < p; j++) if (mask[j] != 0) gk[j] = g[j];
                    xg = Backsolve.product(backend, x, gk);
                }
                try (DoublePointer b = new DoublePointer(n)) {
                    for (int i = 0; i < n; i++) b.put(i, lambda * c[i] - (xg == null ? 0 : xg[i]));
                    backend.choleskySolve(a, n, b, 1);
                    b.get(residual, 0, n);
                }
            }
            backend.choleskySolve(a, n, inverse, n);
            java.nio.DoubleBuffer m = inverse.position(0).limit((long) n * n).asBuffer();
            for (int i = 0; i < n; i++) {
                for (int r = i + 1; r < n; r++) {  // symmetric up to rounding: average, so the factorisation sees one matrix
                    double v = 0.5 * (m.get(i * n + r) + m.get(r * n + i));
                    m.put(i * n + r, v);
                    m.put(r * n + i, v);
                }
            }
            backend.choleskyFactor(inverse, n);
            double[] q = new double[p];
            float[] column = new float[n];
            float[] o = new float[p];
            for (int i = 0; i < n; i++) {
                for (int r = 0; r < n; r++) column[r] = r >= i ? (float) m.get(i * n + r) : 0f;
                u.put(column, 0, n);
                backend.multiplyTransposed(x, u, out);
                out.get(o, 0, p);
                for (int j = 0; j < p; j++) q[j] += (double) o[j] * o[j];
            }
            return q;
        }
    }

    /** Backsolve used to score candidate supports: the chosen one, except sweeps (converged sweeps equal exact). */
    private static Backsolve.Mode searchMode(SolverOptions opt) {
        return opt.backsolve() == Backsolve.Mode.SWEEP ? Backsolve.Mode.EXACT : opt.backsolve();
    }

    private byte[] project(float[] w, double[] grad, double step, float[] scores, LayerTable layers, long nnz, double flops) {
        for (int i = 0; i < w.length; i++) {
            float zi = (float) (w[i] - step * grad[i]);
            float si = score(zi);
            if (Float.isNaN(si)) throw valuesTooLarge(false);
            // the scan's longest steps (up to about 1/lambda) can still square past float32 at the solve's scale, and
            // the selection refuses Inf: the largest float still ranks such a weight first
            scores[i] = si == Float.POSITIVE_INFINITY ? Float.MAX_VALUE : si;
        }
        return select(scores, layers, nnz, flops, null);
    }

    /** ||x_j||^2 for every column: one blockGramProduct pass with one-column blocks and d = 1. */
    private float[] columnNorms(HostMatrix x) {
        int p = Math.toIntExact(x.cols());
        long[] starts = new long[p + 1];
        for (int j = 0; j <= p; j++) starts[j] = j;
        try (FloatPointer ones = backend.floatVector(p); FloatPointer out = backend.floatVector(p)) {
            float[] one = new float[p];
            Arrays.fill(one, 1f);
            ones.put(one, 0, p);
            backend.blockGramProduct(x, starts, ones, out);
            float[] r = new float[p];
            out.get(r, 0, p);
            return r;
        }
    }

    /** Indices of the c largest keys (ties: lower index), -1 padded; keys of -infinity are excluded. */
    private static int[] topIndices(int p, int c, java.util.function.IntToDoubleFunction key) {
        int[] idx = new int[c];
        double[] val = new double[c];
        Arrays.fill(idx, -1);
        Arrays.fill(val, Double.NEGATIVE_INFINITY);
        for (int i = 0; i < p; i++) {
            double v = key.applyAsDouble(i);
            if (v == Double.NEGATIVE_INFINITY) continue;
            if (v <= val[c - 1]) continue;
            int pos = c - 1;
            while (pos > 0 && v > val[pos - 1]) { val[pos] = val[pos - 1]; idx[pos] = idx[pos - 1]; pos--; }
            val[pos] = v;
            idx[pos] = i;
        }
        return idx;
    }

    /**
     * Support exploration from a backsolved point (hard-thresholding pursuit with a step search): for steps
     * 2^t / Lip, t = 0.., the projection of w - step grad gives a support; each new support is backsolved
     * and the best one is returned when it lowers Q, else null.
     */
    private Explored explore(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                             float[] w, byte[] mask, double q, double lip, SolverOptions opt, long[] blocks) {
        int p = w.length;
        double[] grad;
        try (FisherModel full = exactModel(x, wbar, g, lambda)) {
            grad = full.gradient(full.evaluate(w));
        }
        float[] scores = new float[p];
        // Coarse scan, projections only: steps 8^t / Lip up to about 1/lambda (the curvature along directions X
        // does not see). The support first changes between sLo and sHi.
        int top = (int) Math.ceil(Math.log(lip / lambda) / Math.log(2)) + 2;
        double sLo = 1 / lip, sHi = Double.NaN;
        List<Double> later = new ArrayList<>();
        for (int t = 0; t <= Math.min(top, EXPLORE); t += 3) {
            double step = Math.scalb(1.0, t) / lip;
            byte[] mk = project(w, grad, step, scores, layers, nnz, flops);
            if (Arrays.equals(mk, mask)) { sLo = step; continue; }
            if (Double.isNaN(sHi)) sHi = step; else later.add(step);
        }
        if (Double.isNaN(sHi)) return null;
        // Fine scan of the transition (few swaps first), then the coarse steps beyond it; each new support is backsolved.
        // Bisection (projections only) for the smallest step that changes the support: the fewest swaps.
        double a = sLo, b = sHi;
        for (int k = 0; k < 8 && b / a > 1 + 1e-6; k++) {
            double mid = Math.sqrt(a * b);
            if (Arrays.equals(project(w, grad, mid, scores, layers, nnz, flops), mask)) a = mid; else b = mid;
        }
        List<Double> steps = new ArrayList<>();
        int fine = 4;
        for (int k = 0; k <= fine; k++) steps.add(b * Math.pow(sHi / b, (double) k / fine));
        for (int k = 0; k < Math.min(2, later.size()); k++) steps.add(later.get(k));
        Explored best = null;
        try {
            byte[] previous = mask;
            for (double step : steps) {
                byte[] mk = project(w, grad, step, scores, layers, nnz, flops);
                if (Arrays.equals(mk, previous) || Arrays.equals(mk, mask)) continue;
                previous = mk;
                Backsolve.Exact bs;
                try {
                    bs = backsolve(x, wbar, g, lambda, mk, searchMode(opt), blocks);
                } catch (SingularRidgeSystemException singular) {
                    continue; // a candidate whose system cannot be solved at this lambda is passed by, not the whole solve
                }
                double qb = qOf(bs, x, wbar, g, lambda);
                best = better(best, new Explored(bs.w(), mk, qb, step, bs.gram()), q);
            }
            return best;
        } catch (RuntimeException | Error e) {
            // the best candidate so far holds the Gram of its support, which the exception would leave to the collector
            release(best);
            throw e;
        }
    }

    /** One DFO round from (w, mask): on an active set when worthwhile, else on all coordinates. */
    private Dfo runRound(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                         float[] w0, byte[] mask0, double q0, double lip, SolverOptions opt, long[] blocks, int round, int iterationsLeft,
                         List<IterationLog> log, long t0, double[] lastGap) {
        int p = w0.length;
        long support = count(mask0);
        boolean block = opt.hessian() == SolverOptions.HessianModel.BLOCK;
        boolean active = opt.activeSet() && !block && support > 0 && 4 * support < p;
        if (!active) {
            try (FisherModel model = block ? new FisherModel(backend, x, wbar, g, null, 0, lambda, blocks) : exactModel(x, wbar, g, lambda)) {
                return iterate(model, layers, nnz, flops, w0, mask0, q0, lip, opt, round, iterationsLeft, log, t0, lastGap);
            }
        }
        // The active set's columns are a copy of X: up to 3p/4 of it, more as the set grows (resnet20 at n = 1000 and 10%
        // of the FLOPs gathered 175,000 of 268,336 columns, 700 MB, peaking 46% above the memory plan, which counts no
        // copy of X). A set that does not fit the bytes the options allow is not gathered: DFO runs on all coordinates.
        if (!activeSetFits(x, Math.min(p, 3 * support), opt)) {
            return allCoordinates(x, wbar, g, lambda, layers, nnz, flops, w0, mask0, q0, lip, opt, round, iterationsLeft, log, t0, lastGap, 0,
                    "", Math.min(p, 3 * support));
        }
        // Active set: the support plus twice as many of the best outside coordinates of the first step, 3|support| in all.
        // FALCON.md says about 2|support|; side by side on 40 random problems (p 400-3400, n 4-31, |support| < p/4)
        // 2|support| never ended lower, ended higher on 6 (by up to 4.6%, geometric mean 0.13%) and took the same time.
        float[] w = w0.clone();
        byte[] mask = mask0.clone();
        boolean[] inSet = new boolean[p];
        double[] grad;
        try (FisherModel full = exactModel(x, wbar, g, lambda)) {
            grad = full.gradient(full.evaluate(w));
        }
        float[] z2 = new float[p];
        for (int i = 0; i < p; i++) {
            float zi = (float) (w[i] - grad[i] / lip);
            z2[i] = score(zi);
            if (mask[i] != 0) inSet[i] = true;
        }
        addTop(inSet, z2, (int) Math.min(p, 2 * support));
        int used = 0;
        String stop = "iteration cap";
        boolean stoppedOnStableSupport = false, endedOnIterationCap = false;
        double lastRelativeDecrease = Double.NaN;
        double q = q0; // what the log says of w: each set's model goes on from it
        for (int growth = 0; growth < 4; growth++) {
            int[] idx = indices(inSet);
            if (!activeSetFits(x, idx.length, opt)) {
                return allCoordinates(x, wbar, g, lambda, layers, nnz, flops, w, mask, q, lip, opt, round, iterationsLeft, log, t0, lastGap, used,
                        stop + "; ", idx.length);
            }
            Dfo sub = iterateOnSubset(x, wbar, g, lambda, layers, nnz, flops, w, mask, q, idx, lip, opt, round, iterationsLeft - used, log, t0, lastGap);
            used += sub.iterations;
            w = sub.w;
            mask = sub.mask;
            q = sub.loggedQ;
            stop = sub.stop;
            stoppedOnStableSupport = sub.stoppedOnStableSupport;
            endedOnIterationCap = sub.endedOnIterationCap;
            if (sub.iterations > 0) lastRelativeDecrease = sub.lastRelativeDecrease;
            if (used >= iterationsLeft) break;
            // Do outside coordinates want in? One full gradient and one full projection.
            try (FisherModel full = exactModel(x, wbar, g, lambda)) {
                grad = full.gradient(full.evaluate(w));
            }
            for (int i = 0; i < p; i++) {
                float zi = (float) (w[i] - grad[i] / lip);
                z2[i] = score(zi);
            }
            byte[] want = select(z2, layers, nnz, flops, null);
            int outside = 0;
            for (int i = 0; i < p; i++) if (want[i] != 0 && !inSet[i]) { inSet[i] = true; outside++; }
            if (outside == 0) { stop = sub.stop + "; active set complete"; break; }
            addTop(inSet, z2, outside); // grow generously: as many again of the best outside scores
            stop = sub.stop + "; active set grown by " + outside;
        }
        return new Dfo(w, mask, used, stop, q, stoppedOnStableSupport, endedOnIterationCap, lastRelativeDecrease);
    }

    private static boolean activeSetFits(HostMatrix x, long columns, SolverOptions opt) {
        return columns * x.rows() <= opt.activeSetMaxBytes() / Float.BYTES;
    }

    /** The rest of a round's DFO on all coordinates, where the active set of {@code columns} would not fit its bytes. */
    private Dfo allCoordinates(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                               float[] w, byte[] mask, double q, double lip, SolverOptions opt, int round, int iterationsLeft,
                               List<IterationLog> log, long t0, double[] lastGap, int used, String before, long columns) {
        try (FisherModel model = exactModel(x, wbar, g, lambda)) {
            Dfo all = iterate(model, layers, nnz, flops, w, mask, q, lip, opt, round, iterationsLeft - used, log, t0, lastGap);
            return new Dfo(all.w, all.mask, used + all.iterations, before + all.stop + String.format(java.util.Locale.ROOT,
                    "; on all coordinates: an active set of %d columns would copy %.1f MiB of X, more than the %.1f MiB allowed",
                    columns, columns * x.rows() * (double) Float.BYTES / (1 << 20), opt.activeSetMaxBytes() / (double) (1 << 20)), all.loggedQ,
                    all.stoppedOnStableSupport, all.endedOnIterationCap, all.lastRelativeDecrease);
        }
    }

    private Dfo iterateOnSubset(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops,
                                float[] w, byte[] mask, double q, int[] idx, double lip, SolverOptions opt, int round, int iterationsLeft,
                                List<IterationLog> log, long t0, double[] lastGap) {
        int p = w.length, k = idx.length;
        boolean[] in = new boolean[p];
        for (int i : idx) in[i] = true;
        double constant = 0;
        for (int i = 0; i < p; i++) {
            if (!in[i]) constant += 0.5 * lambda * (double) wbar[i] * wbar[i] - (g == null ? 0 : (double) g[i] * wbar[i]);
        }
        // the coordinates outside the set stay at 0: X_A w_A - X wbar is X d with theirs at -wbar
        double[] offset = offsetOf(x, wbar);
        if (offset == null) offset = FisherModel.offsetOf(backend, x, wbar);
        float[] wa = new float[k], wbarA = new float[k], gA = g == null ? null : new float[k];
        byte[] maskA = new byte[k];
        for (int j = 0; j < k; j++) {
            wa[j] = w[idx[j]];
            wbarA[j] = wbar[idx[j]];
            if (gA != null) gA[j] = g[idx[j]];
            maskA[j] = mask[idx[j]];
        }
        LayerTable sub = subTable(layers, idx);
        HostMatrix xa = backend.allocate(x.rows(), k, null); // no blocks: column-major, the layout gatherColumns writes
        try (xa; IntPointer cols = new IntPointer(idx); FisherModel model = new FisherModel(backend, xa, wbarA, gA, offset, constant, lambda, null)) {
            backend.gatherColumns(x, cols, k, xa.data());
            Dfo d = iterate(model, sub, nnz, flops, wa, maskA, q, lip, opt, round, iterationsLeft, log, t0, lastGap);
            float[] wf = new float[p];
            byte[] mf = new byte[p];
            for (int j = 0; j < k; j++) {
                wf[idx[j]] = d.w[j];
                mf[idx[j]] = d.mask[j];
            }
            return new Dfo(wf, mf, d.iterations, d.stop, d.loggedQ, d.stoppedOnStableSupport, d.endedOnIterationCap, d.lastRelativeDecrease);
        }
    }

    /**
     * The DFO iterations on one model. Q (of the model) never increases.
     *
     * <p>{@code loggedQ0} is the Q the log gave w0 (the exact evaluation of the backsolve or search row the round starts
     * from, or the previous active set's last row). The model's own Q of w0 differs from it by rounding wherever the
     * model adds in another order: on the active set (the gathered columns, the rest pinned through an offset
     * residual) by parts in 1e7 while its products were float32 on cpu, so the first row after a search row rose above it
     * on 4 of 10 rounds (review finding). An exact-model row is therefore logged as loggedQ0 less the decrease the model measured
     * from w0, which is what DFO accepts steps by: the rows go down from the row before them. The block model's Q is
     * another function, not a rounding of this one, and is logged as it is (its rows say "block").
     */
    private Dfo iterate(FisherModel model, LayerTable layers, long nnz, double flops, float[] w0, byte[] mask0, double loggedQ0,
                        double lip, SolverOptions opt, int round, int iterationsLeft, List<IterationLog> log, long t0, double[] lastGap) {
        int m = model.m;
        float[] w = w0.clone();
        byte[] mask = mask0.clone();
        FisherModel.Eval cur = model.evaluate(w);
        double modelQ0 = cur.q;
        boolean rebased = !model.isBlock() && Double.isFinite(loggedQ0) && Double.isFinite(modelQ0);
        double loggedQ = rebased ? loggedQ0 : modelQ0;
        float[] z = new float[m];
        double[] sel = new double[2];
        int it = 0;
        int stableFor = 0;
        String stop = "iteration cap";
        boolean stoppedOnStableSupport = false;
        double lastRelativeDecrease = Double.NaN;
        while (it < iterationsLeft) {
            Step st = dfoStep(model, projector, layers, nnz, flops, w, mask, cur, lip, opt, z, sel, lastGap);
            FisherModel.Eval best = st == null ? null : st.eval;
            float[] bestW = st == null ? null : st.w;
            byte[] bestMask = st == null ? null : st.mask;
            double bestStep = st == null ? 0 : st.step;
            if (best == null) { stop = "no decrease"; break; }
            it++;
            double decrease = (cur.q - best.q) / Math.max(Math.abs(cur.q), 1e-300);
            lastRelativeDecrease = decrease;
            stableFor = Arrays.equals(bestMask, mask) ? stableFor + 1 : 0;
            model.giveBack(w); // the previous point: this loop's own copy, never the caller's w0
            w = bestW;
            mask = bestMask;
            model.release(cur);
            cur = best;
            // modelQ0 - cur.q >= 0 is rounded up or down as a whole, never below 0: the row is at most loggedQ0
            loggedQ = rebased ? loggedQ0 - (modelQ0 - cur.q) : cur.q;
            log.add(logEntry(round, it, loggedQ, mask, layers, bestStep, secs(t0), null, model.blockStarts != null ? "block" : "exact"));
            if (decrease < opt.tolerance()) { stop = "relative decrease below tolerance"; break; }
            if (opt.stableIterations() > 0 && stableFor >= opt.stableIterations()) {
                stop = "support stable for " + Numbers.counted(stableFor, "iteration");
                stoppedOnStableSupport = true;
                break;
            }
        }
        return new Dfo(w, mask, it, stop, loggedQ, stoppedOnStableSupport, it > 0 && stop.equals("iteration cap"), lastRelativeDecrease);
    }

    /** The outcome of one DFO iteration: the new point, its support, its evaluation and the step taken. */
    private record Step(float[] w, byte[] mask, FisherModel.Eval eval, double step) {}

    /**
     * One DFO iteration from (w, mask) with cur = evaluate(w): the gradient (exact model: one X^T r pass; block
     * model: none, H d comes with the evaluation), steps 2^t / Lip, t = 0.. while they lower Q, each one
     * projection (FLOP-aware selection on z^2) and one evaluation (exact: X v; block: one blockGramProduct pass).
     * Null when no step lowers Q.
     */
    private Step dfoStep(FisherModel model, Projector projection, LayerTable layers, long nnz, double flops, float[] w, byte[] mask, FisherModel.Eval cur,
                         double lip, SolverOptions opt, float[] z, double[] sel, double[] lastGap) {
        int m = model.m;
        // z^2 goes straight into the selector's off-heap score buffer (no heap copy of the scores).
        java.nio.FloatBuffer scores = projection.scoreBuffer(m);
        // the gradient is formed coordinate by coordinate inside the step loop, from X^T r or H d
        float[] product = model.fisherProduct(cur);
        try {
            return lineSearch(model, projection, layers, nnz, flops, w, mask, cur, lip, opt, z, sel, lastGap, scores, product);
        } finally {
            if (!model.isBlock()) model.giveBack(product);
        }
    }

    /**
     * Finite inputs whose products overflow float32 (X near 1e19, or 1e30 with the double Gram of the java backend; a
     * linear term near 3e38; weights near 3e38, whose X (w - wbar) overflows): the DFO scores were NaN or Inf and the
     * selection refused them as an internal error. Only X enters X X^T; the gradient holds all three, so the message
     * names all three and how to rescale each, not X alone. The inputs are named as the caller gave them (X by its
     * origin, g as SolverInputs.g): an embedder was told of --grads and --linear-term, options it never saw; the CLI
     * names its options instead ({@link ValuesTooLarge#xAlone}).
     */
    private ValuesTooLarge valuesTooLarge(boolean xAlone) {
        String x = solving == null ? "X" : "X (" + solving.origin() + ")"; // null: an Iterations' step
        if (xAlone) {
            return new ValuesTooLarge(x, "X X^T overflows float32 (its largest eigenvalue is not finite): X holds values too large;"
                    + " rescale X, e.g. divide it by its largest magnitude", true);
        }
        return new ValuesTooLarge(x + (solvingWithG ? ", the weights or the linear term g" : " or the weights"),
                "the gradient's products (X^T X (w - wbar), lambda (w - wbar)" + (solvingWithG ? ", + g" : "") + ") overflow float32: X"
                + (solvingWithG ? ", the weights or the linear term hold values too large; rescale the largest of them, e.g. divide X by its"
                        + " largest magnitude, or the weights and the linear term by theirs"
                        : " or the weights hold values too large; rescale the larger of them, e.g. divide X or the weights by its largest"
                        + " magnitude"), false);
    }

    /**
     * Values too large for float32 products, said of the inputs of a single solve ("X (heap array): values: ..."); falcon++
     * says it of the stage's X source instead, and the CLI of its options ({@link #problem}: the text after the inputs).
     */
    public static final class ValuesTooLarge extends dev.falcon.io.InputException {
        private final String problem;
        private final boolean xAlone;

        ValuesTooLarge(String inputs, String problem, boolean xAlone) {
            super(inputs + ": values: " + problem);
            this.problem = problem;
            this.xAlone = xAlone;
        }

        /** What the CLI and its file sources add to {@link #problem}: X there is a file, which inspect reads. */
        public static final String FILE_RANGES_HINT = " (`falcon inspect` shows each file's range)";

        /** What is wrong and the fix, without the inputs it names. */
        public String problem() { return problem; }

        /** Whether X alone holds the values too large (its X X^T overflows), rather than X, the weights or g. */
        public boolean xAlone() { return xAlone; }
    }

    private Step lineSearch(FisherModel model, Projector projection, LayerTable layers, long nnz, double flops, float[] w, byte[] mask,
                            FisherModel.Eval cur, double lip, SolverOptions opt, float[] z, double[] sel, double[] lastGap,
                            java.nio.FloatBuffer scores, float[] product) {
        int m = model.m;
        float[] bestW = null;
        byte[] bestMask = null;
        FisherModel.Eval best = null;
        double bestStep = 0;
        for (int t = 0; t <= opt.maxStepDoublings(); t++) {
            double step = Math.scalb(1.0, t) / lip;
            // score kept by the current support (feasible): if the selection keeps less, project onto it instead
            // (this is what makes the plain step monotone even when the selection is not optimal)
            double current = VectorLoops.run(model.backend.threads(), m, 1, (from, to, sums) -> {
                double kept = 0;
                for (int i = from; i < to; i++) {
                    float zi = (float) (w[i] - step * model.gradientAt(i, product, w));
                    float si = score(zi);
                    z[i] = zi;
                    scores.put(i, si);
                    kept += mask[i] * (double) si; // 0/1 mask: no branch to mispredict on a random support
                }
                sums[0] = kept;
            })[0];
            // current sums every score (0 x Inf is NaN too): one that is not finite would reach the selection
            if (!Double.isFinite(current)) throw valuesTooLarge(false);
            byte[] mk = projection.selectBuffered(m, layers, nnz, flops, sel);
            if (t == 0) {
                if (current > sel[0]) mk = mask.clone();
                lastGap[0] = sel[1];
            }
            float[] cand = model.borrow();
            FisherModel.Eval e = model.evaluateMasked(z, mk, cand);
            if (e.q < (best == null ? cur.q : best.q)) {
                model.release(best);
                model.giveBack(bestW);
                best = e;
                bestW = cand;
                bestMask = mk;
                bestStep = step;
            } else {
                model.release(e);
                model.giveBack(cand);
                break;
            }
        }
        return best == null ? null : new Step(bestW, bestMask, best, bestStep);
    }

    /**
     * Single DFO iterations on the whole X, exactly as {@link #solve} runs them (same step, projection and
     * evaluation code; no active set), for benchmarks: mp warm start, Lipschitz constant and the model
     * ({@code opt.hessian()}: exact = X v and X^T u per iteration, block = one blockGramProduct pass) are set up
     * once. Holds off-heap vectors: close it.
     */
    public final class Iterations implements AutoCloseable {
        private final FisherModel model;
        private final Projector projection;
        private final LayerTable layers;
        private final long nnz;
        private final double flops;
        private final double lip;
        private final SolverOptions opt;
        private final float[] z;
        private final double[] sel = new double[2], gap = {Double.NaN};
        private float[] w;
        private byte[] mask;
        private FisherModel.Eval cur;

        public Iterations(HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops, SolverOptions opt) {
            int p = Math.toIntExact(layers.parameters());
            if (x.cols() != p || wbar.length != p) throw new IllegalArgumentException("X, wbar and the layers must all have p = " + p + " weights");
            this.layers = layers;
            this.nnz = nnz;
            this.flops = flops;
            this.opt = opt;
            this.lip = FisherModel.largestEigenvalue(backend, x) + lambda;
            scoreScale = scaleOfScores(wbar, g, lip);
            this.mask = mpMask(wbar, layers, nnz, flops);
            this.w = new float[p];
            for (int i = 0; i < p; i++) w[i] = mask[i] != 0 ? wbar[i] : 0f;
            boolean block = opt.hessian() == SolverOptions.HessianModel.BLOCK;
            this.projection = new Projector(backend, p);
            try {
                this.model = new FisherModel(backend, x, wbar, g, null, 0, lambda, block ? Backsolve.blockStarts(layers, opt.blockSize()) : null);
            } catch (RuntimeException | Error e) {
                projection.close();
                throw e;
            }
            this.z = new float[p];
            this.cur = model.evaluate(w);
        }

        /** Passes over X per iteration with one step tried: 1 (block model) or 2 (exact model: X^T r, then X v). */
        public int passesPerStep() { return model.isBlock() ? 1 : 2; }

        /** Passes over X made so far (evaluations and exact-model gradients). */
        public long passes() { return model.passes; }

        /** Q at the current point (of the model). */
        public double q() { return cur.q; }

        public double lipschitz() { return lip; }

        /**
         * One DFO iteration from the current point; with {@code advance} the point moves to the result (when Q
         * decreased). Returns Q after the iteration (the current Q when no step lowered it).
         */
        public double step(boolean advance) {
            Step st = dfoStep(model, projection, layers, nnz, flops, w, mask, cur, lip, opt, z, sel, gap);
            if (st == null) return cur.q;
            double q = st.eval.q;
            if (advance) {
                model.giveBack(w);
                model.release(cur);
                w = st.w;
                mask = st.mask;
                cur = st.eval;
            } else {
                model.giveBack(st.w);
                model.release(st.eval);
            }
            return q;
        }

        @Override
        public void close() {
            model.close();
            projection.close();
        }
    }

    // ---------------------------------------------------------------- helpers (length-p loops)

    private static void addTop(boolean[] inSet, float[] z2, int howMany) {
        int p = inSet.length;
        int outsideCount = 0;
        for (boolean b : inSet) if (!b) outsideCount++;
        howMany = Math.min(howMany, outsideCount);
        if (howMany <= 0) return;
        // threshold by sorting the outside scores' bit patterns (non-negative floats order like ints)
        int[] keys = new int[outsideCount];
        for (int i = 0, t = 0; i < p; i++) if (!inSet[i]) keys[t++] = Float.floatToIntBits(z2[i]);
        Arrays.sort(keys);
        int threshold = keys[outsideCount - howMany];
        int added = 0;
        for (int i = 0; i < p && added < howMany; i++) {
            if (!inSet[i] && Float.floatToIntBits(z2[i]) > threshold) { inSet[i] = true; added++; }
        }
        for (int i = 0; i < p && added < howMany; i++) {
            if (!inSet[i] && Float.floatToIntBits(z2[i]) == threshold) { inSet[i] = true; added++; }
        }
    }

    private static int[] indices(boolean[] in) {
        int k = 0;
        for (boolean b : in) if (b) k++;
        int[] idx = new int[k];
        for (int i = 0, t = 0; i < in.length; i++) if (in[i]) idx[t++] = i;
        return idx;
    }

    /** The layers restricted to the (sorted) indices; empty layers dropped. */
    static LayerTable subTable(LayerTable layers, int[] idx) {
        List<Layer> out = new ArrayList<>();
        int j = 0;
        long offset = 0;
        for (Layer l : layers.layers()) {
            int c = 0;
            while (j < idx.length && idx[j] < l.end()) { j++; c++; }
            if (c > 0) {
                out.add(new Layer(l.name(), new long[] {c}, l.flopsPerWeight(), offset, c));
                offset += c;
            }
        }
        return new LayerTable(out, "active set");
    }

    static long count(byte[] mask) {
        return count(mask, 0, mask.length);
    }

    static long count(byte[] mask, int from, int to) {
        return LayerTable.nonzeros(mask, from, to);
    }

    /**
     * A log entry for the support {@code mask}, its NNZ and FLOPs from one pass over it (at p = 25.5M each pass is
     * 15 ms once compiled, up to 75 ms before).
     */
    static IterationLog logEntry(int round, int iteration, double q, byte[] mask, LayerTable layers, double step, double seconds,
                                 String note) {
        return logEntry(round, iteration, q, mask, layers, step, seconds, note, "exact");
    }

    static IterationLog logEntry(int round, int iteration, double q, byte[] mask, LayerTable layers, double step, double seconds,
                                 String note, String model) {
        long[] per = perLayer(mask, layers);
        return new IterationLog(round, iteration, q, sum(per), flopsOf(per, layers), step, seconds, note, model);
    }

    static long sum(long[] counts) {
        long s = 0;
        for (long c : counts) s += c;
        return s;
    }

    static long[] perLayer(byte[] mask, LayerTable layers) {
        return layers.keptPerLayer(mask);
    }

    static double flopsOf(byte[] mask, LayerTable layers) {
        return flopsOf(perLayer(mask, layers), layers);
    }

    /**
     * Whether counts {@code per} (already changed) fit the FLOP budget, given their FLOPs before the change and the
     * change's FLOPs: the sum is recomputed in layer order, as the selection counts, only where the running figure is
     * within rounding of the budget. Recomputing it for every layer tried made a proposal or a swap search O(L^2): per-weight costs in
     * thousands of runs (layers) spent minutes here.
     */
    static boolean fitsAfterChange(double before, double change, long[] per, LayerTable layers, double flops) {
        double after = before + change;
        double rounding = 1e-9 * Math.max(Math.abs(flops), Math.abs(before));
        if (after < flops - rounding) return true;
        if (after > flops + rounding) return false;
        return FalconSolver.flopsOf(per, layers) <= flops;
    }

    /** FLOPs of per-layer counts exactly as the selection counts them: in layer order. */
    static double flopsOf(long[] per, LayerTable layers) {
        double f = 0;
        for (int l = 0; l < per.length; l++) f += per[l] * layers.get(l).flopsPerWeight();
        return f;
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }
}
