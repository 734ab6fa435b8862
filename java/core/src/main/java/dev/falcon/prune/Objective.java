package dev.falcon.prune;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.LayerTable;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The pruning objective of FALCON.md, {@code Q(w) = 1/2 ||X (w - wbar)||^2 + lambda/2 ||w - wbar||^2
 * + g^T (w - wbar)}, evaluated with one product {@code X d} on the backend and double accumulation.
 *
 * <p>Two conventions are reported. Ours (ridge): the value above with {@code lambda}. The authors'
 * (FALCON code): {@code 0.5 ||y - X w||^2 + l2n ||wbar - w||^2} with {@code y = X wbar},
 * {@code l2n = l2 * n / 2}; the two agree when {@code lambda = l2 * n} and {@code g = 0}.
 */
public final class Objective {
    private Objective() {}

    /** How {@code --lambda} is read. */
    public enum Convention {
        /** --lambda is lambda of Q (default). */
        RIDGE,
        /** --lambda is the authors' l2: lambda = l2 * n. */
        FALCON;

        public double toRidgeLambda(double value, long rows) { return this == RIDGE ? value : value * rows; }
    }

    /**
     * One evaluation with its terms.
     *
     * @param fit     1/2 ||X d||^2 (equals the authors' 0.5 ||y - Xw||^2)
     * @param sqDist  ||d||^2
     * @param linear  g^T d (0 without g)
     * @param lambda  ridge strength of our convention
     * @param rows    n
     */
    public record Value(double fit, double sqDist, double linear, double lambda, long rows) {
        /** Q in our convention. */
        public double q() { return fit + 0.5 * lambda * sqDist + linear; }
        public double ridgeTerm() { return 0.5 * lambda * sqDist; }
        /** The authors' l2 = lambda / n. */
        public double l2() { return lambda / rows; }
        /** The authors' l2n = l2 * n / 2 = lambda / 2. */
        public double l2n() { return l2() * rows / 2; }
        /** The authors' objective 0.5 ||y - X w||^2 + l2n ||wbar - w||^2 (no linear term in their code). */
        public double falconValue() { return fit + l2n() * sqDist; }
    }

    /**
     * Evaluates Q at {@code w} around {@code wbar} (both length p = X.cols()); {@code g} may be null.
     */
    public static Value evaluate(ComputeBackend backend, HostMatrix x, FloatPointer w, FloatPointer wbar, FloatPointer g, double lambda) {
        long p = x.cols();
        long n = x.rows();
        double sqDist = 0, linear = 0;
        try (FloatPointer d = backend.floatVector(p); FloatPointer r = new FloatPointer(n)) {
            FloatBuffer wv = Pruner.floats(w, p), bv = Pruner.floats(wbar, p), dv = Pruner.floats(d, p);
            FloatBuffer gv = g == null ? null : Pruner.floats(g, p);
            for (int i = 0; i < (int) p; i++) {
                float di = wv.get(i) - bv.get(i);
                dv.put(i, di);
                sqDist += (double) di * di;
                if (gv != null) linear += (double) gv.get(i) * di;
            }
            backend.multiply(x, d, r);
            double fit = 0;
            FloatBuffer rv = Pruner.floats(r, n);
            for (int i = 0; i < (int) n; i++) {
                double ri = rv.get(i);
                fit += ri * ri;
            }
            return new Value(0.5 * fit, sqDist, linear, lambda, n);
        }
    }

    /**
     * A certified lower bound on Q over every w whose support fits the budgets.
     *
     * @param value           no feasible w has a smaller Q (up to double rounding of sums over p terms)
     * @param selectionSlack  the part of the bound's slack that is the selection LP's (in units of Q): lambda/2 times
     *                        its dual bound minus the best kept sum it found. Without curvature (X = 0) the optimum
     *                        lies between value and value + selectionSlack.
     */
    public record LowerBound(double value, double selectionSlack) {}

    /**
     * Lower bound on {@code min Q} under the budgets: the fit term is at least 0, and the ridge and linear terms
     * separate per coordinate. A pruned j contributes {@code lambda/2 wbar_j^2 - g_j wbar_j}, a kept one at least
     * {@code -g_j^2 / (2 lambda)}, so {@code Q >= -G + lambda/2 (sum_j s_j - sum_{j kept} s_j)} with
     * {@code s_j = (wbar_j - g_j / lambda)^2} and {@code G = sum_j g_j^2 / (2 lambda)}; the kept sum is at most the
     * LP dual bound of the FLOP-aware selection on the scores s. The scores go to the selector rounded up to float, so
     * its dual bounds the exact kept sum from above. With few samples (n much smaller than the support) the fit term
     * of a backsolved support is nearly 0 and the bound is close: it certifies how far any method could still lower Q.
     */
    public static LowerBound lowerBound(ComputeBackend backend, FloatPointer wbar, FloatPointer g, double lambda,
                                        LayerTable layers, long nnz, double flops) {
        if (!(lambda > 0)) throw new IllegalArgumentException("lambda must be > 0, got " + lambda);
        long p = layers.parameters();
        FloatBuffer bv = Pruner.floats(wbar, p);
        FloatBuffer gv = g == null ? null : Pruner.floats(g, p);
        double largest = 0;
        for (int i = 0; i < (int) p; i++) largest = Math.max(largest, Math.abs(shifted(bv, gv, i, lambda)));
        // a power of two keeps the largest squared score within float range; it scales the dual bound exactly
        int exponent = largest > 0 ? Math.max(0, Math.getExponent(largest) - 60) : 0;
        double scale = Math.scalb(1.0, -2 * exponent);
        double total = 0, linearFloor = 0;
        try (FloatPointer scores = backend.floatVector(p); FlopAwareSelector selector = new FlopAwareSelector(backend)) {
            FloatBuffer sv = Pruner.floats(scores, p);
            for (int i = 0; i < (int) p; i++) {
                double t = shifted(bv, gv, i, lambda);
                double s = t * t * scale;
                float up = (float) s;
                if (up < s) up = Math.nextUp(up);
                sv.put(i, up);
                total += s;
                if (gv != null) linearFloor += (double) gv.get(i) * gv.get(i) / (2 * lambda);
            }
            try (Selection sel = selector.select(scores, layers, nnz, flops)) {
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
