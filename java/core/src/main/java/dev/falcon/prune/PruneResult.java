package dev.falcon.prune;

import dev.falcon.data.UseGuard;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The outcome of {@link Pruner#prune}: pruned weights and mask (both length p, owned by this result),
 * what was kept, the selection's optimality certificate when the method has one, and timings.
 *
 * <p>{@link #close()} frees the weights and the mask once no thread reads them: {@link #copyPrunedWeights()} and
 * {@link #copyMask()} hold the result while they copy, as does code of the caller's inside {@link #use}, and a close()
 * from another thread meanwhile waits for them (what they copied is exact); after it, they throw an
 * {@code IllegalStateException}. The raw pointers of {@link #prunedWeights()} and {@link #mask()} are held by nothing
 * else: a thread that reads them while another may close the result does so inside {@link #use}.
 * (A record before: its close() freed the memory under a reader on another thread, a SIGSEGV of the JVM for a
 * result of more than a few ten thousand weights.)
 *
 * <p>The accessors are those of the record it was: {@code keptScore} is the sum over kept weights of w^2 (the ILP
 * objective of mp, comparable across methods); {@code certificate} the selection gap/primal/dual/mu of the FLOP-aware
 * ILP, for mp (with or without a backsolve), null for magnitude (no dual) and for falcon and falcon++, whose support is
 * not the ILP's; {@code selectSeconds} the FLOP-aware selection of mp or magnitude (for falcon and falcon++: of mp's
 * warm start), the solver's own time, its projections included, being {@code solve.seconds}, and the measuring of Q
 * {@code solve.objectiveSeconds}, so the phases add up;
 * {@code solve} the backsolve / FALCON details, null when no solver ran.
 */
public final class PruneResult implements AutoCloseable {
    private final FloatPointer prunedWeights;
    private final BytePointer mask;
    private final Method method;
    private final Budgets budgets;
    private final long kept;
    private final double keptFlops;
    private final long[] keptPerLayer;
    private final double keptScore;
    private final Certificate certificate;
    private final double scoreSeconds, selectSeconds, applySeconds;
    private final Solve solve;

    /** The readers inside a {@link #use} (or a copy): close() waits for them. */
    private final UseGuard guard = new UseGuard();

    /**
     * A result owning {@code prunedWeights} (p floats) and {@code mask} (p bytes, 1 = kept), which {@link #close} frees;
     * {@code keptPerLayer} is copied. {@link Pruner} builds these; the constructor checks nothing.
     *
     * @param kept          weights kept (nonzero in the mask)
     * @param keptFlops     their FLOPs
     * @param keptScore     the sum of the squares of the kept weights' dense values
     * @param certificate   the selection's certificate (null for magnitude)
     * @param scoreSeconds  seconds spent scoring the weights, as the report's timings
     * @param selectSeconds seconds of the FLOP-aware selection
     * @param applySeconds  seconds applying the mask
     * @param solve         what the solver did (null without one)
     */
    public PruneResult(FloatPointer prunedWeights, BytePointer mask, Method method, Budgets budgets,
                       long kept, double keptFlops, long[] keptPerLayer, double keptScore,
                       Certificate certificate,
                       double scoreSeconds, double selectSeconds, double applySeconds,
                       Solve solve) {
        this.prunedWeights = prunedWeights;
        this.mask = mask;
        this.method = method;
        this.budgets = budgets;
        this.kept = kept;
        this.keptFlops = keptFlops;
        this.keptPerLayer = keptPerLayer == null ? null : keptPerLayer.clone();
        this.keptScore = keptScore;
        this.certificate = certificate;
        this.scoreSeconds = scoreSeconds;
        this.selectSeconds = selectSeconds;
        this.applySeconds = applySeconds;
        this.solve = solve;
    }

    /** The result without solver details (magnitude, mp): {@code solve} null. */
    public PruneResult(FloatPointer prunedWeights, BytePointer mask, Method method, Budgets budgets,
                       long kept, double keptFlops, long[] keptPerLayer, double keptScore,
                       Certificate certificate, double scoreSeconds, double selectSeconds, double applySeconds) {
        this(prunedWeights, mask, method, budgets, kept, keptFlops, keptPerLayer, keptScore, certificate,
                scoreSeconds, selectSeconds, applySeconds, null);
    }

    /** The method that pruned. */
    public Method method() { return method; }
    /** The budgets it pruned under. */
    public Budgets budgets() { return budgets; }
    /** Weights kept (nonzero in the mask); at most {@code budgets().nnz()} unless falcon++ stopped early. */
    public long kept() { return kept; }
    /** FLOPs of the kept weights; at most {@code budgets().flops()} unless falcon++ stopped early. */
    public double keptFlops() { return keptFlops; }
    /** Weights kept in each layer, in the layer table's order: a copy (a caller's write changed later results). */
    public long[] keptPerLayer() { return keptPerLayer == null ? null : keptPerLayer.clone(); }
    /** The sum of the squares of the kept weights' dense values (what magnitude maximises). */
    public double keptScore() { return keptScore; }
    /** The selection's primal value, dual bound and gap; null for magnitude. */
    public Certificate certificate() { return certificate; }
    /** Seconds spent scoring the weights (the report's {@code score}). */
    public double scoreSeconds() { return scoreSeconds; }
    /** Seconds of the FLOP-aware selection (the report's {@code selection}). */
    public double selectSeconds() { return selectSeconds; }
    /** Seconds applying the mask (the report's {@code apply}). */
    public double applySeconds() { return applySeconds; }
    /** What the solver did; null for magnitude and plain mp. */
    public Solve solve() { return solve; }

    /**
     * What the solver did, when one ran: the backsolve mode applied to the final support (NONE for plain mp),
     * the FALCON run (null for mp), Q of mp's support with the dense weights on it and of the result, each in our
     * convention and the authors' (fit + ridge, no linear term: Objective.Value.falconValue), seconds, and for falcon++
     * the stages (null otherwise; {@code falcon} is then the last stage's run), a note when mp's backsolve was not
     * kept because it raised Q (null otherwise), and the backsolve's warning, as logged (once per prune, whatever the
     * logging does), naming the Java setting: that a sweep backsolve stopped short of its model's minimum, that falcon
     * skipped the backsolve of a support whose ridge system is singular at the lambda given and kept the DFO's weights
     * there (naming the lambda of {@link Pruner.SolverInputs} to give; where every backsolve was skipped,
     * {@link dev.falcon.solve.FalconSolver.Result#everyBacksolveSkipped}, the weights were never backsolved), or both;
     * null when neither happened. {@code backsolveWarningInCliWords} is the same in the CLI's words (naming its options,
     * --backsolve exact and --lambda, as the CLI's stderr line does; the CLI's report carries that one). {@code objectiveAfter} is
     * the result's Q with its terms, exactly {@link Objective#evaluate} of the pruned weights around the weights given, on
     * the inputs' X, with their g and lambda (null where the inputs have no X: falcon++ whose stage plan has a source): a
     * caller reporting Q of the result takes it rather than making another pass over X. {@code objectiveSeconds} is the
     * time measuring Q of mp's support and of the result, each once, which {@code seconds} leaves out: the solve's own
     * time and that one add up to all of it, so a report puts this under its objective phase.
     */
    public record Solve(dev.falcon.solve.Backsolve.Mode backsolve, dev.falcon.solve.FalconSolver.Result falcon,
                        double qMp, double qMpAuthors, double qFinal, double qFinalAuthors, double seconds,
                        dev.falcon.solve.MultiStage.Result multiStage, String note, String backsolveWarning,
                        String backsolveWarningInCliWords, Objective.Value objectiveAfter, double objectiveSeconds) {
        /** A solve whose Q was not measured here (no objectiveAfter, no objectiveSeconds). */
        public Solve(dev.falcon.solve.Backsolve.Mode backsolve, dev.falcon.solve.FalconSolver.Result falcon,
                     double qMp, double qMpAuthors, double qFinal, double qFinalAuthors, double seconds,
                     dev.falcon.solve.MultiStage.Result multiStage, String note, String backsolveWarning,
                     String backsolveWarningInCliWords) {
            this(backsolve, falcon, qMp, qMpAuthors, qFinal, qFinalAuthors, seconds, multiStage, note, backsolveWarning,
                    backsolveWarningInCliWords, null, 0);
        }

        /** A solve whose backsolve gave no warning. */
        public Solve(dev.falcon.solve.Backsolve.Mode backsolve, dev.falcon.solve.FalconSolver.Result falcon,
                     double qMp, double qMpAuthors, double qFinal, double qFinalAuthors, double seconds,
                     dev.falcon.solve.MultiStage.Result multiStage, String note) {
            this(backsolve, falcon, qMp, qMpAuthors, qFinal, qFinalAuthors, seconds, multiStage, note, null, null);
        }
    }

    /** Selection statistics of the ILP (see {@code dev.falcon.select.Selection}). */
    public record Certificate(double primalValue, double dualBound, double relativeGap, double mu, double omega, int dualEvaluations) {}

    /** The pruned weights, length p, zeros where the mask is 0; freed by {@link #close()} (see {@link #use}). */
    public FloatPointer prunedWeights() { return open(prunedWeights, "pruned weights"); }

    /** The mask, length p, 1 for a kept weight; freed by {@link #close()} (see {@link #use}). */
    public BytePointer mask() { return open(mask, "mask"); }

    /** A copy of the pruned weights on the heap (p below 2^31), safe against a close() from another thread. */
    public float[] copyPrunedWeights() {
        try (Use use = use("copyPrunedWeights")) {
            FloatPointer w = new FloatPointer(prunedWeights()).position(0); // wherever a caller moved the result's own
            float[] out = new float[heapLength(length(w), "pruned weights")];
            w.get(out);
            return out;
        }
    }

    /** A copy of the mask on the heap (p below 2^31), safe against a close() from another thread. */
    public byte[] copyMask() {
        try (Use use = use("copyMask")) {
            BytePointer m = new BytePointer(mask()).position(0);
            byte[] out = new byte[heapLength(length(m), "mask")];
            m.get(out);
            return out;
        }
    }

    private static long length(Pointer p) {
        return p.capacity();
    }

    private static int heapLength(long length, String what) {
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the " + what + " (" + length + " entries) do not fit a Java array: read them through "
                    + "prunedWeights()/mask() inside use()");
        }
        return (int) length;
    }

    /** The end of a {@link #use}, for try-with-resources. */
    public interface Use extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Holds the weights and the mask for code that reads {@link #prunedWeights()} or {@link #mask()} until the returned
     * scope closes (on this thread): a {@link #close()} from another thread waits for it instead of freeing them under it.
     *
     * @throws IllegalStateException when the result is closed or closing, naming {@code reader}
     */
    public Use use(String reader) {
        return guard.enter(reader, r -> new IllegalStateException("this PruneResult was closed, by this thread or another, before " + r
                + " could read it: copy out what you keep before closing it"))::close;
    }

    /** After close() JavaCPP's own error, "This pointer address is NULL.", named neither the result nor the cause. */
    private <P extends Pointer> P open(P pointer, String what) {
        if (pointer.isNull()) {
            throw new IllegalStateException("this PruneResult's close() freed its " + what + ": copy out what you keep before closing it");
        }
        return pointer;
    }

    /**
     * Frees the pruned weights and the mask once no thread is inside a {@link #use} (or a copy); a second call, or one
     * from another thread, frees nothing again.
     *
     * @throws IllegalStateException when this thread is itself inside a use of the result (it would wait for itself)
     */
    @Override
    public void close() {
        guard.closeWhenUnused(reader -> new IllegalStateException("this PruneResult cannot be closed by thread \""
                + Thread.currentThread().getName() + "\" while that thread reads it (inside " + reader + "): close it after the read"), () -> {
            prunedWeights.close();
            mask.close();
        });
    }

    @Override
    public String toString() {
        return "PruneResult[method=" + method + ", kept=" + kept + ", keptFlops=" + keptFlops + ", budgets=" + budgets + "]";
    }
}
