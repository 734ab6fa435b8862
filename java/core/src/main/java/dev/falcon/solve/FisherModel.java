package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.CounterRandom;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.VectorLoops;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The quadratic model of FALCON.md on the columns of one matrix {@code x} (the whole X, or the gathered
 * columns of an active set):
 * <pre>  Q(w) = 1/2 ||X w + offset||^2 + lambda/2 ||d||^2 + g^T d + constant,   d = w - wbar</pre>
 * with {@code offset = -X_all wbar_all}, so that {@code X w + offset} is X d with the coordinates outside an active set
 * pinned at zero (the constant holds their ridge and linear terms), or its block-diagonal version
 * {@code 1/2 sum_B ||X_B d_B||^2 + ...} (no offset). Every access to X is a backend op; Java loops only run over
 * length-m and length-n vectors. Q accumulates in double.
 *
 * <p>The exact model's residual is summed in double from w itself, not from d rounded to float: after a backsolve X d is a
 * tiny difference of large products, and d rounded to float (6e-8 of each entry) and float partial sums left mostly their
 * rounding in it. The solver's Q, on which it keeps its best point and accepts moves, was then 3x the report's objective
 * of the same weights at lambda = 1e-45 and 8% off with an X near 65504. w is exact in float, and -X wbar is summed once
 * per model (or per solve): each evaluation stays one pass over X.
 */
final class FisherModel implements AutoCloseable {
    final ComputeBackend backend;
    final HostMatrix x;
    final int m;
    final int n;
    final float[] wbar;
    final float[] g;
    /** -X wbar over all the weights (length n, summed in double); null for the block model. */
    final double[] offset;
    final double constant;
    final double lambda;
    final long[] blockStarts;
    private final FloatPointer vecM;
    /** Length-m product output, allocated on first use (an exact model used only for Q never needs it). */
    private FloatPointer outM;
    private final FloatPointer vecN;
    /** The exact model's X w, in double (null for the block model). */
    private final DoublePointer productN;
    /** Passes over X made by this model (evaluations, and exact-model gradients). */
    long passes;
    /**
     * Length-m arrays of released evaluations and rejected candidates, handed out again: DFO makes several
     * length-p vectors per iteration, and fresh ones would make the heap (and so the RSS) grow with the garbage.
     */
    private final java.util.ArrayDeque<float[]> spare = new java.util.ArrayDeque<>();
    private static final int MAX_SPARE = 3; // what one DFO iteration hands back: the old point and its evaluation

    /** One evaluation: Q, and what the gradient needs (r = X w + offset = X d for the exact model, H d for the block model). */
    static final class Eval {
        double q;
        /** The point evaluated, not copied: it must stay unchanged while the evaluation is in use. */
        float[] w;
        double[] r;
        float[] hd;
    }

    /**
     * @param blockStarts null for the exact model, else block boundaries of the block-diagonal model
     * @param offset      the exact model's -X_all wbar_all ({@link #offsetOf}; on an active set, that of all the weights,
     *                    not only of its columns), or null: the block model, or an exact model on all of X, which then
     *                    sums it itself (one pass)
     */
    FisherModel(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double[] offset, double constant, double lambda, long[] blockStarts) {
        if (x.cols() > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("p = " + x.cols() + " exceeds 2^31 - 9 weights");
        if (blockStarts != null && offset != null) throw new IllegalArgumentException("the block model has no offset residual");
        if (offset != null && offset.length != x.rows()) {
            throw new IllegalArgumentException("the offset residual has " + offset.length + " entries, X has n = " + x.rows() + " rows");
        }
        this.backend = backend;
        this.x = x;
        this.m = (int) x.cols();
        this.n = Math.toIntExact(x.rows());
        this.wbar = wbar;
        this.g = g;
        this.constant = constant;
        this.lambda = lambda;
        this.blockStarts = blockStarts;
        FloatPointer a = backend.floatVector(m);
        FloatPointer b = null;
        DoublePointer c = null;
        double[] own = offset;
        try {
            b = new FloatPointer(n);
            if (blockStarts == null) {
                c = new DoublePointer(n);
                if (own == null) {
                    a.position(0).limit(m).asBuffer().put(wbar, 0, m);
                    passes++;
                    own = negatedProduct(backend, x, a, c, n);
                }
            }
        } catch (RuntimeException | Error e) {
            a.close();
            if (b != null) b.close();
            if (c != null) c.close();
            throw e;
        }
        this.vecM = a;
        this.vecN = b;
        this.productN = c;
        this.offset = own;
    }

    /** -X wbar (length n, summed in double), the offset of every exact model of a solve on X: one pass over X. */
    static double[] offsetOf(ComputeBackend backend, HostMatrix x, float[] wbar) {
        int m = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        try (FloatPointer v = backend.floatVector(m); DoublePointer out = new DoublePointer(n)) {
            v.put(wbar, 0, m);
            return negatedProduct(backend, x, v, out, n);
        }
    }

    /**
     * Q of w on all of X, from d = w - wbar itself: X d as the product of d's float head plus that of its float rest, each
     * summed in double, as the report forms Q (Objective.evaluate). {@link #evaluate}'s X w + offset is the difference of
     * two sums as large as X w: with ten weights of 1e15 and a residual of 1e-15 it cancelled to nothing, the solver
     * judged its candidates on the ridge term alone, and falcon kept mp's support's dense weights at 1.65 times mp + BS's
     * Q. One pass over X, two where d has a rest (a weight moved by other than an exact float difference). A difference
     * beyond float (w = 3e38 against wbar = -3e38) is taken at a quarter ({@link #differenceScale}) and its product scaled
     * back in double: its float head was Infinity, and Q NaN.
     */
    static double qFromDifference(ComputeBackend backend, HostMatrix x, float[] w, float[] wbar, float[] g, double lambda) {
        int m = Math.toIntExact(x.cols()), n = Math.toIntExact(x.rows());
        try (FloatPointer d = backend.floatVector(m); DoublePointer product = new DoublePointer(n)) {
            java.nio.FloatBuffer operand = d.position(0).limit(m).asBuffer();
            double sq = 0, lin = 0, largest = 0;
            for (int i = 0; i < m; i++) {
                double di = (double) w[i] - wbar[i]; // exact: two floats' difference fits in a double
                largest = Math.max(largest, Math.abs(di));
                sq += di * di;
                if (g != null) lin += g[i] * di;
            }
            double scale = differenceScale(largest);
            boolean anyRest = false;
            for (int i = 0; i < m; i++) {
                double di = ((double) w[i] - wbar[i]) * scale;
                float head = (float) di;
                operand.put(i, head);
                anyRest |= (float) (di - head) != 0;
            }
            double[] r = new double[n];
            backend.multiplySummedInDouble(x, d, product);
            product.get(r, 0, n);
            if (anyRest) {
                for (int i = 0; i < m; i++) {
                    double di = ((double) w[i] - wbar[i]) * scale;
                    operand.put(i, (float) (di - (float) di));
                }
                backend.multiplySummedInDouble(x, d, product);
                for (int i = 0; i < n; i++) r[i] += product.get(i);
            }
            double fit = 0;
            for (double ri : r) {
                double unscaled = ri / scale;
                fit += unscaled * unscaled;
            }
            return 0.5 * fit + 0.5 * lambda * sq + lin;
        }
    }

    /**
     * 1, or 1/4 where the largest |w - wbar| is beyond float: two floats differ by at most twice the largest float, and a
     * quarter of that is a float again. A power of two, so the head and rest of d scale exactly (bar subnormals).
     */
    static double differenceScale(double largestDifference) {
        return largestDifference > Float.MAX_VALUE ? 0.25 : 1;
    }

    private static double[] negatedProduct(ComputeBackend backend, HostMatrix x, FloatPointer v, DoublePointer out, int n) {
        backend.multiplySummedInDouble(x, v, out);
        double[] r = new double[n];
        out.get(r, 0, n);
        for (int i = 0; i < n; i++) r[i] = -r[i];
        return r;
    }

    private FloatPointer out() {
        if (outM == null) outM = backend.floatVector(m);
        return outM;
    }

    boolean isBlock() { return blockStarts != null; }

    /** A length-m float array, from the spares when there is one (contents undefined). */
    float[] borrow() {
        float[] a = spare.poll();
        return a != null ? a : new float[m];
    }

    /** Gives a length-m array back for reuse; the caller must not use it afterwards. */
    void giveBack(float[] a) {
        if (a != null && a.length == m && spare.size() < MAX_SPARE) spare.push(a);
    }

    /** Gives an evaluation's arrays back; the caller must not use the evaluation afterwards. */
    void release(Eval e) {
        if (e == null) return;
        giveBack(e.hd);
        e.w = null;
        e.hd = null;
    }

    /** Q at w (length m) and the state the gradient needs: one pass over X (multiply, or blockGramProduct). */
    Eval evaluate(float[] w) {
        return evaluate(w, null, null);
    }

    /**
     * Q at the point that keeps z where {@code keep} is 1 and is +0 where it is 0 (a 0/1 mask), written into {@code w}
     * by the same loop that forms d: the DFO candidate.
     */
    Eval evaluateMasked(float[] z, byte[] keep, float[] w) {
        return evaluate(w, z, keep);
    }

    private Eval evaluate(float[] w, float[] z, byte[] keep) {
        // the exact model's operand is w, the block model's d = w - wbar, straight into the off-heap vector; the evaluation
        // keeps w (d is recomputed when needed)
        java.nio.FloatBuffer operand = vecM.position(0).limit(m).asBuffer();
        boolean exact = blockStarts == null;
        double[] norms = VectorLoops.run(backend.threads(), m, 2, (from, to, sums) -> {
            double sq = 0, lin = 0;
            for (int i = from; i < to; i++) {
                // z where kept, +0 elsewhere, without branches (a random support would make a branch mispredict often)
                if (z != null) w[i] = Float.intBitsToFloat(Float.floatToRawIntBits(z[i]) & -keep[i]);
                double di = (double) w[i] - wbar[i]; // exact unless their exponents are over 29 apart (a double holds 29 more bits)
                operand.put(i, exact ? w[i] : (float) di);
                sq += di * di;
                if (g != null) lin += g[i] * di;
            }
            sums[0] = sq;
            sums[1] = lin;
        });
        double sq = norms[0], lin = norms[1];
        Eval e = new Eval();
        e.w = w;
        double fit = 0;
        passes++;
        if (exact) {
            backend.multiplySummedInDouble(x, vecM, productN);
            double[] r = new double[n];
            productN.get(r, 0, n);
            for (int i = 0; i < n; i++) {
                r[i] += offset[i];
                fit += r[i] * r[i];
            }
            e.r = r;
        } else {
            backend.blockGramProduct(x, blockStarts, vecM, out());
            float[] hd = borrow();
            outM.get(hd, 0, m);
            fit = VectorLoops.run(backend.threads(), m, 1, (from, to, sums) -> {
                double f = 0;
                for (int i = from; i < to; i++) f += (double) (w[i] - wbar[i]) * hd[i];
                sums[0] = f;
            })[0];
            e.hd = hd;
        }
        e.q = 0.5 * fit + 0.5 * lambda * sq + lin + constant;
        return e;
    }

    /** grad Q = X^T r + lambda d + g (exact: one multiplyTransposed) or H d + lambda d + g (block: no pass). */
    double[] gradient(Eval e) {
        double[] grad = new double[m];
        float[] xtr = fisherProduct(e);
        float[] w = e.w;
        for (int i = 0; i < m; i++) grad[i] = gradientAt(i, xtr, w);
        if (blockStarts == null) giveBack(xtr);
        return grad;
    }

    /**
     * The curvature part of the gradient at an evaluated point: X^T r (exact model: one multiplyTransposed pass, into
     * a borrowed array the caller gives back with {@link #giveBack}) or H d (block model: the evaluation's own, no pass).
     */
    float[] fisherProduct(Eval e) {
        if (blockStarts != null) return e.hd;
        float[] rf = new float[n];
        for (int i = 0; i < n; i++) rf[i] = (float) e.r[i];
        vecN.put(rf, 0, n);
        passes++;
        backend.multiplyTransposed(x, vecN, out());
        float[] xtr = borrow();
        outM.get(xtr, 0, m);
        return xtr;
    }

    /** Coordinate i of grad Q, from {@link #fisherProduct} of the evaluation at w. */
    double gradientAt(int i, float[] fisherProduct, float[] w) {
        return fisherProduct[i] + lambda * (w[i] - wbar[i]) + (g == null ? 0 : g[i]);
    }

    /** Seed of {@link #powerIteration}'s start vector: any fixed value keeps the constant reproducible. */
    private static final long POWER_ITERATION_START_SEED = 0x5EED_F1C0L;

    /**
     * Largest eigenvalue of X^T X (= that of the n x n matrix X X^T, from {@code singlePrecisionGram}: a step size
     * needs no more than float accuracy, and the acceptance test of every DFO step keeps Q monotone anyway; power
     * iteration in double). The block-diagonal model's largest eigenvalue is at most this.
     */
    static double largestEigenvalue(ComputeBackend backend, HostMatrix x) {
        if (x.rows() > FalconSolver.MAX_ROWS) {
            throw new IllegalArgumentException("X has n = " + x.rows() + " rows; the falcon solver holds n x n matrices in Java arrays, "
                    + "so it takes at most " + FalconSolver.MAX_ROWS + " rows: use fewer samples");
        }
        int n = Math.toIntExact(x.rows());
        double[] a = new double[n * n];
        try (DoublePointer gram = new DoublePointer((long) n * n)) {
            backend.singlePrecisionGram(x, gram);
            gram.get(a);
        }
        return powerIteration(a, n);
    }

    /**
     * Largest eigenvalue of a symmetric positive semi-definite n x n matrix (column-major), from a fixed pseudo-random
     * start. A structured start (the ramp 1 + 1e-3 i it once was) can be orthogonal to the top eigenvector of a
     * structured Gram: the Rayleigh quotient then settles on a lower eigenvalue, the stopping rule takes it, and the
     * Lipschitz constant, which must bound the top eigenvalue from above, came out at half of it on such a matrix.
     */
    static double powerIteration(double[] a, int n) {
        double[] v = new double[n], u = new double[n];
        for (int i = 0; i < n; i++) v[i] = CounterRandom.uniform(POWER_ITERATION_START_SEED, i);
        double trace = 0;
        for (int i = 0; i < n; i++) trace += a[i * n + i];
        if (!(trace > 0)) return 0;
        double lambda = 0;
        for (int it = 0; it < 2000; it++) {
            double norm = 0;
            for (double vi : v) norm += vi * vi;
            norm = Math.sqrt(norm);
            if (norm == 0) return 0;
            for (int i = 0; i < n; i++) v[i] /= norm;
            java.util.Arrays.fill(u, 0);
            for (int j = 0; j < n; j++) {
                double vj = v[j];
                int base = j * n;
                for (int i = 0; i < n; i++) u[i] += a[base + i] * vj;
            }
            double rq = 0;
            for (int i = 0; i < n; i++) rq += u[i] * v[i];
            double[] t = v; v = u; u = t;
            if (it > 5 && Math.abs(rq - lambda) <= 1e-13 * rq) { lambda = rq; break; }
            lambda = rq;
        }
        // ||A v|| >= Rayleigh quotient; both are lower bounds of the top eigenvalue, take the larger.
        double norm = 0;
        for (double vi : v) norm += vi * vi;
        return Math.max(lambda, Math.sqrt(norm)) ;
    }

    @Override
    public void close() {
        vecM.close();
        if (outM != null) outM.close();
        vecN.close();
        if (productN != null) productN.close();
    }
}
