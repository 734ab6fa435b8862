package dev.falcon.prune;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The outcome of {@link Pruner#prune}: pruned weights and mask (both length p, owned by this result),
 * what was kept, the selection's optimality certificate when the method has one, and timings.
 *
 * @param keptScore     sum over kept weights of w^2 (the ILP objective of mp, comparable across methods)
 * @param certificate   selection gap/primal/dual/mu of the FLOP-aware ILP, for mp (with or without a backsolve); null for
 *                      magnitude (no dual) and for falcon and falcon++, whose support is not the ILP's
 * @param selectSeconds the FLOP-aware selection of mp or magnitude (for falcon and falcon++: of mp's warm start); the
 *                      solver's own time, its projections included, is {@code solve.seconds}, so the phases add up
 * @param solve         backsolve / FALCON details; null when no solver ran
 */
public record PruneResult(FloatPointer prunedWeights, BytePointer mask, Method method, Budgets budgets,
                          long kept, double keptFlops, long[] keptPerLayer, double keptScore,
                          Certificate certificate,
                          double scoreSeconds, double selectSeconds, double applySeconds,
                          Solve solve) implements AutoCloseable {

    /** The result without solver details (magnitude, mp). */
    public PruneResult(FloatPointer prunedWeights, BytePointer mask, Method method, Budgets budgets,
                       long kept, double keptFlops, long[] keptPerLayer, double keptScore,
                       Certificate certificate, double scoreSeconds, double selectSeconds, double applySeconds) {
        this(prunedWeights, mask, method, budgets, kept, keptFlops, keptPerLayer, keptScore, certificate,
                scoreSeconds, selectSeconds, applySeconds, null);
    }

    /**
     * What the solver did, when one ran: the backsolve mode applied to the final support (NONE for plain mp),
     * the FALCON run (null for mp), Q (ours) of mp's support with the dense weights on it and of the result, with
     * their linear terms g^T (w - wbar) (the authors' convention is Q minus it), seconds, and for falcon++
     * the stages (null otherwise; {@code falcon} is then the last stage's run), and a note when mp's backsolve was not
     * kept because it raised Q (null otherwise).
     */
    public record Solve(dev.falcon.solve.Backsolve.Mode backsolve, dev.falcon.solve.FalconSolver.Result falcon,
                        double qMp, double linearMp, double qFinal, double linearFinal, double seconds,
                        dev.falcon.solve.MultiStage.Result multiStage, String note) {
        /** Q of mp's support in the authors' convention (no linear term; same lambda). */
        public double qMpAuthors() { return qMp - linearMp; }
        public double qFinalAuthors() { return qFinal - linearFinal; }
    }

    /** Selection statistics of the ILP (see {@code dev.falcon.select.Selection}). */
    public record Certificate(double primalValue, double dualBound, double relativeGap, double mu, double omega, int dualEvaluations) {}

    /** The pruned weights, length p, zeros where the mask is 0; freed by {@link #close()}. */
    @Override
    public FloatPointer prunedWeights() { return open(prunedWeights, "pruned weights"); }

    /** The mask, length p, 1 for a kept weight; freed by {@link #close()}. */
    @Override
    public BytePointer mask() { return open(mask, "mask"); }

    /** After close() JavaCPP's own error, "This pointer address is NULL.", named neither the result nor the cause. */
    private static <P extends Pointer> P open(P pointer, String what) {
        if (pointer.isNull()) {
            throw new IllegalStateException("this PruneResult's close() freed its " + what + ": copy out what you keep before closing it");
        }
        return pointer;
    }

    /** Frees the pruned weights and the mask; a second call does nothing. */
    @Override
    public void close() {
        prunedWeights.close();
        mask.close();
    }
}
