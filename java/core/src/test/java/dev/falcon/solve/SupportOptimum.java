package dev.falcon.solve;

import dev.falcon.model.LayerTable;

/**
 * The optimum over supports of the exact-backsolve objective, by branch and bound, for instances too large to enumerate
 * (p up to about 24; the tiny-instance test enumerates every support up to p = 14).
 *
 * <p>With the exact backsolve on K, Q depends on K alone (README, "swap polish"):
 * {@code Q(K) = sum_{j not in K} t_j^2 / 2 lambda - ||g||^2 / 2 lambda + v^T M^{-1} v / 2 lambda}, with
 * {@code t_j = g_j - lambda wbar_j}, {@code v = sum_{j in K} g_j x_j + lambda sum_{j not in K} wbar_j x_j} and
 * {@code M = X_K X_K^T + lambda I}, all in double here from the float inputs. Q(K) never increases when K grows (a
 * larger support only adds freedom), so Q of a node's largest completion, everything not excluded, bounds its whole
 * subtree from below, and is exact where that completion meets both budgets.
 */
final class SupportOptimum {
    /** Q(K) of the best support found, that support, the nodes visited, and whether the node cap stopped the search. */
    record Outcome(double q, boolean[] support, long nodes, boolean capped) {
        /** Whether the search found a support below the threshold it was started with. */
        boolean improved() { return support != null; }
    }

    private final int n, p;
    private final double lambda;
    private final double[][] col;
    private final double[] t, f;
    private final double gSquared;
    private final long nnz;
    private final double flops;
    private final int[] order;
    private final double[][] gramAt, vAt;
    private final double[] chol, y;
    private final boolean[] excluded;
    private long nodes, nodeCap;
    private boolean capped;
    private double best;
    private boolean[] bestSupport;

    SupportOptimum(int n, int p, float[] x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops) {
        this.n = n;
        this.p = p;
        this.lambda = lambda;
        this.nnz = nnz;
        this.flops = flops;
        col = new double[p][n];
        t = new double[p];
        f = new double[p];
        double gg = 0;
        for (int j = 0; j < p; j++) {
            for (int i = 0; i < n; i++) col[j][i] = x[j * n + i];
            double gj = g == null ? 0 : g[j];
            t[j] = gj - lambda * (double) wbar[j];
            gg += gj * gj;
            f[j] = layers.get(layers.layerOf(j)).flopsPerWeight();
        }
        gSquared = gg;
        // the least valuable weights alone (t_j^2) are excluded first: the first leaves are near mp's support
        Integer[] o = new Integer[p];
        for (int j = 0; j < p; j++) o[j] = j;
        java.util.Arrays.sort(o, (a, b) -> Double.compare(t[a] * t[a], t[b] * t[b]));
        order = new int[p];
        for (int j = 0; j < p; j++) order[j] = o[j];
        gramAt = new double[p + 1][n * n];
        vAt = new double[p + 1][n];
        chol = new double[n * n];
        y = new double[n];
        excluded = new boolean[p];
        double[] m = gramAt[0];
        for (int i = 0; i < n; i++) m[i * n + i] = lambda;
        for (int j = 0; j < p; j++) {
            double gj = g == null ? 0 : g[j];
            for (int a = 0; a < n; a++) {
                vAt[0][a] += gj * col[j][a];
                for (int b = 0; b < n; b++) m[a * n + b] += col[j][a] * col[j][b];
            }
        }
    }

    /** Q of the exact backsolve on {@code keep}. */
    double q(boolean[] keep) {
        double[] m = new double[n * n], v = new double[n];
        double outside = 0;
        for (int i = 0; i < n; i++) m[i * n + i] = lambda;
        for (int j = 0; j < p; j++) {
            if (keep[j]) {
                for (int a = 0; a < n; a++) for (int b = 0; b < n; b++) m[a * n + b] += col[j][a] * col[j][b];
            } else {
                outside += t[j] * t[j];
            }
        }
        // v = sum_K g_j x_j + lambda sum_{not K} wbar_j x_j = sum_all g_j x_j - sum_{not K} t_j x_j
        System.arraycopy(vAt[0], 0, v, 0, n);
        for (int j = 0; j < p; j++) if (!keep[j]) for (int a = 0; a < n; a++) v[a] -= t[j] * col[j][a];
        return (outside - gSquared + quadratic(m, v)) / (2 * lambda);
    }

    /**
     * The lowest Q(K) over supports within both budgets that is below {@code threshold}, or the threshold itself (with a
     * null support) when none is; at most {@code cap} nodes.
     */
    Outcome below(double threshold, long cap) {
        best = threshold;
        bestSupport = null;
        nodes = 0;
        nodeCap = cap;
        capped = false;
        java.util.Arrays.fill(excluded, false);
        long keptNnz = p;
        double keptFlops = 0;
        for (double fj : f) keptFlops += fj;
        search(0, 0, 0, keptNnz, keptFlops, 0, Double.NaN);
        return new Outcome(best, bestSupport, nodes, capped);
    }

    /**
     * Node at depth k of the order: the coordinates before it decided (in: inNnz weights, inFlops FLOPs; out: the
     * excluded ones), the rest undecided. keptNnz, keptFlops: the largest completion's. bound: its Q when known.
     */
    private void search(int k, long inNnz, double inFlops, long keptNnz, double keptFlops, double outside, double bound) {
        if (capped) return;
        if (++nodes > nodeCap) {
            capped = true;
            return;
        }
        if (Double.isNaN(bound)) bound = (outside - gSquared + quadratic(gramAt[k], vAt[k])) / (2 * lambda);
        if (!(bound < best)) return;
        if (keptNnz <= nnz && keptFlops <= flops * (1 + 1e-12)) {
            best = bound;
            bestSupport = new boolean[p];
            for (int j = 0; j < p; j++) bestSupport[j] = !excluded[j];
            return;
        }
        if (k == p) return;
        int j = order[k];
        // exclude j: its column leaves M, -t_j x_j joins v
        double[] m = gramAt[k + 1], v = vAt[k + 1];
        System.arraycopy(gramAt[k], 0, m, 0, n * n);
        System.arraycopy(vAt[k], 0, v, 0, n);
        double[] c = col[j];
        for (int a = 0; a < n; a++) {
            v[a] -= t[j] * c[a];
            for (int b = 0; b < n; b++) m[a * n + b] -= c[a] * c[b];
        }
        excluded[j] = true;
        search(k + 1, inNnz, inFlops, keptNnz - 1, keptFlops - f[j], outside + t[j] * t[j], Double.NaN);
        excluded[j] = false;
        // keep j: the largest completion, and so the bound, stay the same
        if (inNnz + 1 <= nnz && inFlops + f[j] <= flops * (1 + 1e-12)) {
            System.arraycopy(gramAt[k], 0, gramAt[k + 1], 0, n * n);
            System.arraycopy(vAt[k], 0, vAt[k + 1], 0, n);
            search(k + 1, inNnz + 1, inFlops + f[j], keptNnz, keptFlops, outside, bound);
        }
    }

    /** v^T M^{-1} v by Cholesky (M symmetric positive definite, n x n row-major). */
    private double quadratic(double[] m, double[] v) {
        for (int a = 0; a < n; a++) {
            for (int b = 0; b <= a; b++) {
                double s = m[a * n + b];
                for (int q = 0; q < b; q++) s -= chol[a * n + q] * chol[b * n + q];
                if (a == b) {
                    if (!(s > 0)) throw new ArithmeticException("not positive definite");
                    chol[a * n + a] = Math.sqrt(s);
                } else {
                    chol[a * n + b] = s / chol[b * n + b];
                }
            }
        }
        double r = 0;
        for (int a = 0; a < n; a++) {
            double s = v[a];
            for (int q = 0; q < a; q++) s -= chol[a * n + q] * y[q];
            y[a] = s / chol[a * n + a];
            r += y[a] * y[a];
        }
        return r;
    }
}
