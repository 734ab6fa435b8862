package dev.falcon.prune;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The outcome of {@link Pruner#prune}: pruned weights and mask (both length p, owned by this result),
 * what was kept, the selection's optimality certificate when the method has one, and timings.
 *
 * @param keptScore     sum over kept weights of w^2 (the ILP objective of mp, comparable across methods)
 * @param certificate   selection gap/primal/dual/mu of the FLOP-aware ILP; null for magnitude (no dual)
 */
public record PruneResult(FloatPointer prunedWeights, BytePointer mask, Method method, Budgets budgets,
                          long kept, double keptFlops, long[] keptPerLayer, double keptScore,
                          Certificate certificate,
                          double scoreSeconds, double selectSeconds, double applySeconds) implements AutoCloseable {

    /** Selection statistics of the ILP (see {@code dev.falcon.select.Selection}). */
    public record Certificate(double primalValue, double dualBound, double relativeGap, double mu, double omega, int dualEvaluations) {}

    @Override
    public void close() {
        prunedWeights.close();
        mask.close();
    }
}
