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
 * @param value           no feasible w has a smaller Q (up to double rounding of sums over p terms); NaN when
 *                        {@code unavailable} says why there is none
 * @param selectionSlack  the part of the bound's slack that is the selection LP's (in units of Q): lambda/2 times
 *                        its dual bound minus the best kept sum it found. Without curvature (X = 0) the optimum
 *                        lies between value and value + selectionSlack.
 * @param unavailable     null, or why no bound is given: the bound lies beyond the range of double
 */
public record LowerBound(double value, double selectionSlack, String unavailable) {

    public LowerBound(double value, double selectionSlack) { this(value, selectionSlack, null); }

    /** (q - value) / |q|: how far above the bound a point of objective q is, relative to q (NaN without a bound). */
    public double relativeRoom(double q) {
        if (unavailable != null) return Double.NaN;
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
        if (!(lambda > 0) || Double.isInfinite(lambda)) throw new IllegalArgumentException("lambda must be > 0 and finite, got " + lambda);
        int p = Math.toIntExact(layers.parameters());
        // Every quantity is carried as a double times a power of two: unscaled, g/lambda overflowed for a g of 1e10 and a
        // lambda of 1e-300 (wbar - Infinity), its square for any |g/lambda| above 1e154, and lambda/2 times the pruned sum
        // for weights near float max with a large lambda. An Infinity or NaN then went out as the bound, or, through
        // Infinity * 0, a NaN.
        double largest = 0;
        for (int i = 0; i < p; i++) largest = Math.max(largest, Math.abs(shiftedScaled(wbar, g, i, lambda)));
        if (!Double.isFinite(largest)) {
            return new LowerBound(Double.NaN, Double.NaN, "a weight or a linear-term value is not finite");
        }
        // A power of two puts the largest squared score near 2^121, within float range, and scales the dual bound
        // exactly. Up as well as down: scores below 1e-38 reached the selector as subnormals rounded up, so its dual
        // exceeded the pruned sum and the bound dropped towards 0 for weights around 1e-22.
        int exponent = largest > 0 ? Math.getExponent(largest) - 60 : 0;
        double total = 0, gSquares = 0;
        FloatBuffer sv = scores.position(0).limit(p).asBuffer();
        for (int i = 0; i < p; i++) {
            double t = Math.scalb(shiftedScaled(wbar, g, i, lambda), -exponent);
            double s = t * t;
            float up = (float) s;
            if (up < s) up = Math.nextUp(up);
            sv.put(i, up);
            total += s;
            if (g != null) gSquares += (double) g.get(i) * g.get(i); // at most p * 2^256: no overflow
        }
        try (Selection sel = selector.select(scores.position(0), layers, nnz, flops)) {
            // the scores are the shifted weights' squares times 2^(-2 (exponent + PRE)); lambda = lm 2^le
            int le = Math.getExponent(lambda);
            double lm = Math.scalb(lambda, -le);
            int scoreExponent = 2 * (exponent + PRE);
            double prunedAtLeast = Math.max(0, total - sel.dualBound()), slack = Math.max(0, sel.dualBound() - sel.primalValue());
            // bound = (lm/2 prunedAtLeast) 2^(le + scoreExponent) - (gSquares / (2 lm)) 2^(-le), subtracted at the larger exponent
            double ridge = 0.5 * lm * prunedAtLeast, linear = gSquares / (2 * lm);
            int ridgeExponent = le + scoreExponent, linearExponent = -le;
            int common = ridge == 0 ? linearExponent : linear == 0 ? ridgeExponent : Math.max(ridgeExponent, linearExponent);
            double value = Math.scalb(Math.scalb(ridge, ridgeExponent - common) - Math.scalb(linear, linearExponent - common), common);
            double selectionSlack = Math.scalb(0.5 * lm * slack, ridgeExponent);
            if (Double.isInfinite(value)) {
                return new LowerBound(Double.NaN, selectionSlack, value > 0
                        ? "the bound, lambda/2 times the pruned weights' squared sum, is above the largest double (1.8e308)"
                        : "the bound is below -1.8e308, the smallest double: the linear term's sum of g_j^2 / (2 lambda) overflows it");
            }
            return new LowerBound(value, selectionSlack);
        }
    }

    /** 2^-PRE times the largest |g / lambda| (float g, lambda >= Double.MIN_VALUE, below 2^1203) is finite. */
    private static final int PRE = 200;

    /** 2^-PRE (wbar_i - g_i / lambda): the scalings of float values by 2^-PRE are exact. */
    private static double shiftedScaled(FloatBuffer wbar, FloatBuffer g, int i, double lambda) {
        double w = Math.scalb((double) wbar.get(i), -PRE);
        return g == null ? w : w - Math.scalb((double) g.get(i), -PRE) / lambda;
    }
}
