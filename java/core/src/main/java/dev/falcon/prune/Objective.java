package dev.falcon.prune;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.PointerExtent;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.LowerBound;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The pruning objective of FALCON.md, {@code Q(w) = 1/2 ||X (w - wbar)||^2 + lambda/2 ||w - wbar||^2
 * + g^T (w - wbar)}, evaluated with double accumulation and the products {@code X d} on the backend, d the exact
 * difference as a float head and its float rest (one product when the rest is zero).
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

        /** The spelling {@code --lambda-convention} takes: ridge or falcon. */
        public String cliName() { return name().toLowerCase(java.util.Locale.ROOT); }

        /**
         * Parses a CLI name (case-insensitive); InputException listing the spellings otherwise (picocli's own message
         * listed the constants, [RIDGE, FALCON], which are not what the user types). The refusal names the argument
         * {@code Objective.Convention.parse(text)}.
         */
        public static Convention parse(String text) {
            return parse(text, "Objective.Convention.parse(text)");
        }

        /** As {@link #parse(String)}, with what the caller calls the value in a refusal ("--lambda-convention", as the CLI passes). */
        public static Convention parse(String text, String field) {
            return dev.falcon.io.InputException.choice(text, field, "convention", java.util.List.of(values()), Convention::cliName,
                    c -> c.cliName() + (c == RIDGE ? " (lambda of Q)" : " (the authors' l2, lambda = l2 * n)"));
        }
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
     *
     * @throws IllegalArgumentException when a vector is null or holds fewer than p floats (it would be read past its end)
     */
    public static Value evaluate(ComputeBackend backend, HostMatrix x, FloatPointer w, FloatPointer wbar, FloatPointer g, double lambda) {
        long p = x.cols();
        long n = x.rows();
        PointerExtent.require(w, p, "w (p = " + p + ", the columns of X)");
        PointerExtent.require(wbar, p, "wbar (p = " + p + ", the columns of X)");
        if (g != null) PointerExtent.require(g, p, "g (p = " + p + ", the columns of X)");
        double sqDist = 0, linear = 0;
        try (FloatPointer d = backend.floatVector(p); FloatPointer rest = backend.floatVector(p);
             DoublePointer r = new DoublePointer(n)) {
            FloatBuffer wv = Pruner.floats(w, p), bv = Pruner.floats(wbar, p), dv = Pruner.floats(d, p), restv = Pruner.floats(rest, p);
            FloatBuffer gv = g == null ? null : Pruner.floats(g, p);
            // w - wbar rounded to float is off by up to 6e-8 of it, and X d after a backsolve is a small difference of
            // large products: with a tiny lambda the weights move by 1e10 and that rounding was 0.5% of the fit term, the
            // whole of it where the fit is all of Q. d is the float head plus the float rest of the exact difference.
            // A difference beyond float (3e38 against -3e38) had the head Infinity, and Q NaN: d is then taken at a
            // quarter, which is a float again, and X d scaled back in double.
            double largest = 0;
            for (int i = 0; i < (int) p; i++) largest = Math.max(largest, Math.abs((double) wv.get(i) - bv.get(i)));
            double scale = largest > Float.MAX_VALUE ? 0.25 : 1;
            boolean anyRest = false;
            for (int i = 0; i < (int) p; i++) {
                double exact = (double) wv.get(i) - bv.get(i); // exact: two floats' difference fits in a double
                double scaled = exact * scale;
                float head = (float) scaled, tail = (float) (scaled - head);
                dv.put(i, head);
                restv.put(i, tail);
                anyRest |= tail != 0;
                sqDist += exact * exact;
                if (gv != null) linear += gv.get(i) * exact;
            }
            // after a backsolve X d is the small difference of large products: float partial sums would report their
            // rounding; and the residuals stay in double up to their squares: rounded to float, the fit term was 1e-7 off,
            // and Q, where the linear term cancels most of the fit, 1e-4 of itself
            double[] residual = new double[(int) n];
            backend.multiplySummedInDouble(x, d, r);
            r.get(residual);
            if (anyRest) {
                backend.multiplySummedInDouble(x, rest, r);
                for (int i = 0; i < (int) n; i++) residual[i] += r.get(i);
            }
            double fit = 0;
            for (double ri : residual) {
                double unscaled = ri / scale;
                fit += unscaled * unscaled;
            }
            return new Value(0.5 * fit, sqDist, linear, lambda, n);
        }
    }

    /**
     * A certified lower bound on Q over every w whose support fits the budgets (see {@link LowerBound#of}); the
     * vectors are length p = layers.parameters(), {@code g} may be null.
     *
     * @throws IllegalArgumentException when a vector is null or holds fewer than p floats (it would be read past its end)
     */
    public static LowerBound lowerBound(ComputeBackend backend, FloatPointer wbar, FloatPointer g, double lambda,
                                        LayerTable layers, long nnz, double flops) {
        long p = layers.parameters();
        PointerExtent.require(wbar, p, "wbar (p = " + p + " for these layers)");
        if (g != null) PointerExtent.require(g, p, "g (p = " + p + " for these layers)");
        return LowerBound.of(backend, Pruner.floats(wbar, p), g == null ? null : Pruner.floats(g, p), lambda, layers, nnz, flops);
    }
}
