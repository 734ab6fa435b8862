package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.model.LayerTable;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A certified lower bound on Q over every w whose support fits the budgets.
 *
 * @param value           no feasible w has a smaller Q (up to double rounding of sums over p terms)
 * @param selectionSlack  the part of the bound's slack that is the selection LP's (in units of Q): lambda/2 times
 *                        its dual bound minus the best kept sum it found. Without curvature (X = 0) the optimum
 *                        lies between value and value + selectionSlack.
 */
public record LowerBound(double value, double selectionSlack) {

    /** (q - value) / |q|: how far above the bound a point of objective q is, relative to q. */
    public double relativeRoom(double q) {
        return (q - value) / Math.max(Math.abs(q), Double.MIN_NORMAL);
    }

    /**
     * The bound: the fit term is at least 0, and the ridge and linear terms separate per coordinate. A pruned j
     * contributes {@code lambda/2 wbar_j^2 - g_j wbar_j}, a kept one at least {@code -g_j^2 / (2 lambda)}, so
     * {@code Q >= -G + lambda/2 (sum_j s_j - sum_{j kept} s_j)} with {@code s_j = (wbar_j - g_j / lambda)^2} and
     * {@code G = sum_j g_j^2 / (2 lambda)}; the kept sum is at most the LP dual bound of the FLOP-aware selection on
     * the scores s. The scores go to the selector rounded up to float, so its dual bounds the exact kept sum from
     * above. With few samples (n much smaller than the support) the fit term of a backsolved support is nearly 0 and
     * the bound is close: it certifies how far any method could still lower Q. Costs one selection.
     *
     * @param wbar length p = layers.parameters() (position 0 onwards)
     * @param g    length p, or null
     */
    public static LowerBound of(ComputeBackend backend, FloatBuffer wbar, FloatBuffer g, double lambda,
                                LayerTable layers, long nnz, double flops) {
        try (FloatPointer scores = backend.floatVector(layers.parameters()); FlopAwareSelector selector = new FlopAwareSelector(backend)) {
            return of(selector, scores, wbar, g, lambda, layers, nnz, flops);
        }
    }

    /** The same with the caller's selector and score buffer (at least p floats; overwritten), e.g. a solver's own. */
    static LowerBound of(FlopAwareSelector selector, FloatPointer scores, FloatBuffer wbar, FloatBuffer g, double lambda,
                         LayerTable layers, long nnz, double flops) {
        if (!(lambda > 0)) throw new IllegalArgumentException("lambda must be > 0, got " + lambda);
        int p = Math.toIntExact(layers.parameters());
        double largest = 0;
        for (int i = 0; i < p; i++) largest = Math.max(largest, Math.abs(shifted(wbar, g, i, lambda)));
        // A power of two puts the largest squared score near 2^121, within float range, and scales the dual bound
        // exactly. Up as well as down: scores below 1e-38 reached the selector as subnormals rounded up, so its dual
        // exceeded the pruned sum and the bound dropped towards 0 for weights around 1e-22.
        int exponent = largest > 0 ? Math.getExponent(largest) - 60 : 0;
        double scale = Math.scalb(1.0, -2 * exponent);
        double total = 0, linearFloor = 0;
        {
            FloatBuffer sv = scores.position(0).limit(p).asBuffer();
            for (int i = 0; i < p; i++) {
                double t = shifted(wbar, g, i, lambda);
                double s = t * t * scale;
                float up = (float) s;
                if (up < s) up = Math.nextUp(up);
                sv.put(i, up);
                total += s;
                if (g != null) linearFloor += (double) g.get(i) * g.get(i) / (2 * lambda);
            }
            try (Selection sel = selector.select(scores.position(0), layers, nnz, flops)) {
                double prunedAtLeast = Math.max(0, total - sel.dualBound()) / scale;
                double slack = Math.max(0, sel.dualBound() - sel.primalValue()) / scale;
                return new LowerBound(0.5 * lambda * prunedAtLeast - linearFloor, 0.5 * lambda * slack);
            }
        }
    }

    private static double shifted(FloatBuffer wbar, FloatBuffer g, int i, double lambda) {
        return wbar.get(i) - (g == null ? 0 : g.get(i) / lambda);
    }
}
