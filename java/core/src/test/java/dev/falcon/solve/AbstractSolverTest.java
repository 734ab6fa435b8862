package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.Objective;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Contract and quality suite of the FALCON solver (DFO, backsolve, block-coordinate sweeps) on one backend.
 * Backend modules subclass it with their own backend. The references are plain double Java on a heap copy of X.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class AbstractSolverTest {
    protected abstract ComputeBackend createBackend();

    protected ComputeBackend backend;

    @BeforeAll
    public void openBackend() {
        backend = createBackend();
    }

    @AfterAll
    public void closeBackend() {
        if (backend != null) backend.close();
    }

    // ------------------------------------------------------------------ instances

    /** A small problem held on the heap (X column-major, float values). */
    protected record Instance(int n, int p, float[] x, float[] wbar, float[] g, double lambda, LayerTable layers, long nnz, double flops) {
        HostMatrix matrix() {
            HostMatrix m = HostMatrix.allocate(n, p);
            m.data().put(x, 0, x.length);
            return m;
        }

        double xAt(int i, int j) { return x[j * n + i]; }
    }

    protected static LayerTable table(int[] sizes, double[] f) {
        List<Layer> layers = new ArrayList<>();
        long offset = 0;
        for (int l = 0; l < sizes.length; l++) {
            layers.add(new Layer("l" + l, new long[] {sizes[l]}, f[l], offset, sizes[l]));
            offset += sizes[l];
        }
        return new LayerTable(layers, "test");
    }

    /** Layers of random sizes (at least one weight each) summing to p, with FLOP costs drawn from a few levels. */
    static LayerTable randomLayers(SplittableRandom rnd, int p, int layerCount) {
        int[] sizes = new int[layerCount];
        int left = p;
        for (int l = 0; l < layerCount; l++) {
            int rest = layerCount - l - 1;
            sizes[l] = l == layerCount - 1 ? left : 1 + rnd.nextInt(left - rest);
            left -= sizes[l];
        }
        double[] choices = {1, 2, 3, 4, 9, 16};
        double[] f = new double[layerCount];
        for (int l = 0; l < layerCount; l++) f[l] = choices[rnd.nextInt(choices.length)];
        return table(sizes, f);
    }

    protected static Instance randomInstance(SplittableRandom rnd, int n, int p, int layerCount, boolean withG) {
        LayerTable t = randomLayers(rnd, p, layerCount);
        int rank = 1 + rnd.nextInt(n);
        float[] x = lowRankPlusNoise(rnd, n, p, rank, 0.1);
        float[] wbar = new float[p];
        for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextDouble(-1, 1);
        float[] g = null;
        if (withG) {
            g = new float[p];
            for (int j = 0; j < p; j++) g[j] = (float) (0.1 * rnd.nextDouble(-1, 1));
        }
        double[] lambdas = {1e-2, 1e-1, 1};
        double lambda = lambdas[rnd.nextInt(lambdas.length)];
        long nnz = 1 + rnd.nextInt(p - 1);
        double minF = Double.MAX_VALUE;
        for (double v : t.flopsPerWeight()) minF = Math.min(minF, v);
        double flops = Math.max(minF, t.denseFlops() * rnd.nextDouble(0.15, 0.9));
        return new Instance(n, p, x, wbar, g, lambda, t, nnz, flops);
    }

    /** A mask of exactly k of p weights, drawn uniformly. */
    protected static byte[] randomSupport(SplittableRandom rnd, int p, int k) {
        byte[] mask = new byte[p];
        for (int kept = 0; kept < k; ) {
            int j = rnd.nextInt(p);
            if (mask[j] == 0) { mask[j] = 1; kept++; }
        }
        return mask;
    }

    // ------------------------------------------------------------------ double references

    /** Optimal weights on a support (plain double normal equations). */
    protected static double[] referenceSolve(Instance in, boolean[] keep) {
        int n = in.n, p = in.p;
        double[] c = new double[n];
        for (int j = 0; j < p; j++) if (!keep[j]) for (int i = 0; i < n; i++) c[i] -= in.xAt(i, j) * in.wbar[j];
        int k = 0;
        for (boolean b : keep) if (b) k++;
        int[] idx = new int[k];
        for (int j = 0, t = 0; j < p; j++) if (keep[j]) idx[t++] = j;
        double[][] h = new double[k][k];
        double[] rhs = new double[k];
        for (int a = 0; a < k; a++) {
            for (int b = 0; b < k; b++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += in.xAt(i, idx[a]) * in.xAt(i, idx[b]);
                h[a][b] = s + (a == b ? in.lambda : 0);
            }
            double s = 0;
            for (int i = 0; i < n; i++) s += in.xAt(i, idx[a]) * c[i];
            rhs[a] = -s - (in.g == null ? 0 : in.g[idx[a]]);
        }
        double[] delta = choleskySolve(h, rhs);
        double[] w = new double[p];
        for (int a = 0; a < k; a++) w[idx[a]] = in.wbar[idx[a]] + delta[a];
        return w;
    }

    protected static double[] choleskySolve(double[][] a, double[] b) {
        int k = b.length;
        double[][] l = new double[k][k];
        for (int j = 0; j < k; j++) {
            double d = a[j][j];
            for (int t = 0; t < j; t++) d -= l[j][t] * l[j][t];
            l[j][j] = Math.sqrt(d);
            for (int i = j + 1; i < k; i++) {
                double s = a[i][j];
                for (int t = 0; t < j; t++) s -= l[i][t] * l[j][t];
                l[i][j] = s / l[j][j];
            }
        }
        double[] y = b.clone();
        for (int i = 0; i < k; i++) {
            for (int t = 0; t < i; t++) y[i] -= l[i][t] * y[t];
            y[i] /= l[i][i];
        }
        for (int i = k - 1; i >= 0; i--) {
            for (int t = i + 1; t < k; t++) y[i] -= l[t][i] * y[t];
            y[i] /= l[i][i];
        }
        return y;
    }

    protected static double referenceQ(Instance in, double[] w) {
        double fit = 0, sq = 0, lin = 0;
        for (int i = 0; i < in.n; i++) {
            double r = 0;
            for (int j = 0; j < in.p; j++) r += in.xAt(i, j) * (w[j] - in.wbar[j]);
            fit += r * r;
        }
        for (int j = 0; j < in.p; j++) {
            double d = w[j] - in.wbar[j];
            sq += d * d;
            if (in.g != null) lin += in.g[j] * d;
        }
        return 0.5 * fit + 0.5 * in.lambda * sq + lin;
    }

    protected static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    /** Exhaustive optimum over every feasible support (only maximal ones can be optimal). */
    protected static double exhaustiveOptimum(Instance in) {
        int p = in.p;
        double[] f = new double[p];
        for (int j = 0; j < p; j++) f[j] = in.layers.get(in.layers.layerOf(j)).flopsPerWeight();
        double best = Double.POSITIVE_INFINITY;
        boolean[] keep = new boolean[p];
        for (int s = 0; s < (1 << p); s++) {
            int count = Integer.bitCount(s);
            if (count > in.nnz) continue;
            double used = 0;
            for (int j = 0; j < p; j++) if ((s >> j & 1) != 0) used += f[j];
            if (used > in.flops * (1 + 1e-12)) continue;
            boolean maximal = true;
            if (count < in.nnz) {
                for (int j = 0; j < p && maximal; j++) if ((s >> j & 1) == 0 && used + f[j] <= in.flops * (1 + 1e-12)) maximal = false;
            }
            if (!maximal) continue;
            for (int j = 0; j < p; j++) keep[j] = (s >> j & 1) != 0;
            best = Math.min(best, referenceQ(in, referenceSolve(in, keep)));
        }
        return best;
    }

    protected static boolean[] toBool(byte[] mask) {
        boolean[] b = new boolean[mask.length];
        for (int i = 0; i < mask.length; i++) b[i] = mask[i] != 0;
        return b;
    }

    protected static void assertFeasible(Instance in, byte[] mask) {
        long kept = 0;
        double used = 0;
        for (int j = 0; j < in.p; j++) if (mask[j] != 0) { kept++; used += in.layers.get(in.layers.layerOf(j)).flopsPerWeight(); }
        assertTrue(kept <= in.nnz, "NNZ budget");
        assertTrue(used <= in.flops * (1 + 1e-12), "FLOP budget");
    }

    // ------------------------------------------------------------------ tests

    @Test
    public void tinyInstancesAgainstExhaustiveOptimum() {
        SplittableRandom rnd = new SplittableRandom(20240611);
        int instances = 240, optimal = 0;
        double worst = 1;
        String worstLabel = "";
        for (int t = 0; t < instances; t++) {
            int n = 2 + rnd.nextInt(5), p = 6 + rnd.nextInt(9), layers = 2 + rnd.nextInt(3);
            Instance in = randomInstance(rnd, n, p, layers, t % 4 == 3);
            double opt = exhaustiveOptimum(in);
            double q = falconQ(in);
            double scale = Math.max(Math.abs(opt), 1e-9);
            assertTrue(q >= opt - 1e-5 * scale, "below the optimum? " + q + " < " + opt);
            if (q <= opt + 1e-5 * scale) optimal++;
            double ratio = q / opt;
            if (opt > 0 && ratio > worst) { worst = ratio; worstLabel = "instance " + t + " n=" + n + " p=" + p + " lambda=" + in.lambda; }
        }
        double fraction = (double) optimal / instances;
        System.out.printf(Locale.ROOT, "[%s] tiny instances: %d/%d solved to optimality (%.1f%%), worst Q_falcon/Q_opt = %.6f (%s)%n",
                backend.name(), optimal, instances, 100 * fraction, worst, worstLabel);
        assertTrue(fraction >= 0.85, "optimality fraction " + fraction);
    }

    /**
     * 160 instances beyond the tiny ones ({@link LargerInstances}: p = 16..24, n = 4..12, 2-5 layers of different FLOP
     * costs, random budgets, four families of X and weights, both lambda conventions) against the branch-and-bound
     * optimum over supports. Before the kicks of the support after the polish: 154/160 (96.3%), worst Q_falcon / Q_opt
     * 1.092; before the polish tried moves of up to three weights in and three out: 136/160 (85.0%), worst 1.924.
     */
    @Test
    public void largerInstancesAgainstTheBranchAndBoundOptimum() {
        SplittableRandom rnd = new SplittableRandom(20261206);
        int instances = 160, optimal = 0;
        double worst = 1;
        String worstLabel = "";
        for (int t = 0; t < instances; t++) {
            LargerInstances.Case cs = LargerInstances.randomCase(rnd, t);
            Instance in = cs.in();
            double q = falconQ(in);
            SupportOptimum.Outcome o = cs.optimum().below(Double.POSITIVE_INFINITY, LargerInstances.NODE_CAP);
            assertTrue(!o.capped(), "instance " + t + ": the branch and bound stopped at its node cap");
            double opt = o.q(), scale = Math.max(Math.abs(opt), 1e-9);
            assertTrue(q >= opt - 1e-5 * scale, "below the optimum? " + q + " < " + opt);
            if (q <= opt + 1e-5 * scale) optimal++;
            if (opt > 0 && q / opt > worst) {
                worst = q / opt;
                worstLabel = "instance " + t + " (" + cs.family() + ", " + cs.convention() + ") n=" + in.n + " p=" + in.p;
            }
        }
        double fraction = (double) optimal / instances;
        System.out.printf(Locale.ROOT, "[%s] larger instances: %d/%d solved to optimality (%.1f%%), worst Q_falcon/Q_opt = %.6f (%s)%n",
                backend.name(), optimal, instances, 100 * fraction, worst, worstLabel);
        assertTrue(fraction >= 0.98, "optimality fraction " + fraction);
    }

    /**
     * Three larger instances where the polish ended far above the optimum (1.497, 1.383 and 1.325 times it), eight to ten
     * weights away, and no move of up to three weights in and three out lowered Q from there: only a kick of the support
     * out of that local optimum, polished again, reaches it.
     */
    @Test
    public void kicksOfTheSupportLeaveLocalOptimaOfThePolish() {
        reachTheOptimum(342, 302, 73);
    }

    /**
     * Three larger instances whose optimum no addition, swap, exchange or pair of swaps reached from where the polish
     * ended, each part of the move alone raising Q: two weights of a cheaper layer in for one costly weight out (the
     * polish ended at 1.24 times the optimum), three swaps at once (2.27 times), and a pair of swaps whose additions the
     * pairs' pool, ranked by the gradient alone, left out: with |K| = 3 < n = 10 the leverages rank them otherwise
     * (1.63 times).
     */
    @Test
    public void theSwapPolishTakesMovesOfUpToThreeWeightsInAndOut() {
        reachTheOptimum(81, 48, 57);
    }

    /** Q of falcon's answer (default options, up to 300 DFO iterations), checked within the budgets first. */
    private double falconQ(Instance in) {
        FalconSolver.Result r;
        try (HostMatrix x = in.matrix()) {
            r = new FalconSolver(backend).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null,
                    SolverOptions.defaults().withMaxIterations(300));
        }
        assertFeasible(in, r.mask());
        return referenceQ(in, toDouble(r.weights()));
    }

    /** Falcon reaches the branch-and-bound optimum of each of these larger instances (seed 20261205). */
    private void reachTheOptimum(int... indices) {
        for (int index : indices) {
            LargerInstances.Case cs = LargerInstances.nth(20261205, index);
            Instance in = cs.in();
            double q = falconQ(in);
            double opt = cs.optimum().below(Double.POSITIVE_INFINITY, LargerInstances.NODE_CAP).q();
            assertTrue(q <= opt + 1e-5 * Math.abs(opt), "instance " + index + ": Q " + q + " = " + q / opt + " x the optimum " + opt);
        }
    }

    private LowerBound lowerBound(Instance in) {
        try (FloatPointer wbar = new FloatPointer(in.wbar); FloatPointer g = in.g == null ? null : new FloatPointer(in.g)) {
            return Objective.lowerBound(backend, wbar, g, in.lambda, in.layers, in.nnz, in.flops);
        }
    }

    @Test
    public void lowerBoundNeverExceedsTheOptimumAndIsExactWithoutCurvature() {
        SplittableRandom rnd = new SplittableRandom(20261203);
        int exactWithoutCurvature = 0, instances = 120;
        double closest = Double.POSITIVE_INFINITY;
        for (int t = 0; t < instances; t++) {
            int n = 2 + rnd.nextInt(5), p = 6 + rnd.nextInt(7), layers = 2 + rnd.nextInt(3);
            Instance in = randomInstance(rnd, n, p, layers, t % 2 == 1);
            double opt = exhaustiveOptimum(in);
            double bound = lowerBound(in).value();
            double scale = Math.max(Math.abs(opt), 1e-9);
            assertTrue(bound <= opt + 1e-9 * scale, "instance " + t + ": bound " + bound + " above the optimum " + opt);
            closest = Math.min(closest, (opt - bound) / scale);
            // with X = 0 nothing couples the weights: the optimum is the selection's, and the bound meets it when the
            // LP relaxation is tight
            Instance flat = new Instance(in.n, in.p, new float[in.x.length], in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops);
            double flatOpt = exhaustiveOptimum(flat);
            LowerBound flatBound = lowerBound(flat);
            double flatScale = Math.max(Math.abs(flatOpt), 1e-9);
            assertTrue(flatBound.value() <= flatOpt + 1e-9 * flatScale, "instance " + t + " without X: bound " + flatBound.value() + " above " + flatOpt);
            // the rest is the LP relaxation's integrality gap, which the bound reports
            // (the scores reach the selector rounded up to float: 2^-23 of the pruned scores' sum at most)
            double rounding = 0;
            for (int j = 0; j < in.p; j++) {
                double sj = in.wbar[j] - (in.g == null ? 0 : in.g[j] / in.lambda);
                rounding += 0x1p-23 * 0.5 * in.lambda * sj * sj;
            }
            assertTrue(flatOpt <= flatBound.value() + flatBound.selectionSlack() + rounding + 1e-12 * flatScale,
                    "instance " + t + " without X: optimum " + flatOpt + " beyond bound + LP slack " + flatBound);
            if (flatBound.value() >= flatOpt - rounding - 1e-12 * flatScale) exactWithoutCurvature++;
        }
        System.out.printf(Locale.ROOT, "[%s] lower bound: equal to the optimum on %d/%d instances without X; closest to the optimum"
                + " with X: %.3g (relative)%n", backend.name(), exactWithoutCurvature, instances, closest);
    }

    /**
     * Three of eight weights (n = 3, lambda = 1e-3, a linear term, column 7 = -column 4): mp's support backsolved is the
     * exhaustive optimum (Q -197.6), but the first DFO steps left it for two weights of the costly layer before it was
     * ever backsolved, and the rounds ended there at Q -35.7: falcon, warm-started from mp, ended far above mp + BS.
     */
    @Test
    public void falconEndsNoHigherThanTheBacksolveOfItsWarmStart() {
        float[] x = {-1.0810070037841797f, 0.5862967371940613f, 0.33673760294914246f, 0.6288561224937439f, -0.39710816740989685f,
                0.8395259976387024f, 1.1581982374191284f, -0.11973457038402557f, 0.1414749026298523f, -1.7098560333251953f,
                0.6031143069267273f, 0.26584097743034363f, -0.8777005672454834f, -0.36736106872558594f, 0.5738840103149414f,
                -0.22377121448516846f, 1.4186053276062012f, -0.3024922311306f, -0.13637663424015045f, 0.14613071084022522f,
                1.711719274520874f, 0.8777005672454834f, 0.36736106872558594f, -0.5738840103149414f};
        float[] g = {1.742005467414856f, 0.5248479843139648f, -0.45334652066230774f, -1.1527260541915894f, 0.30033937096595764f,
                0.49191993474960327f, 0.8160480856895447f, -0.034779299050569534f};
        float[] wbar = {2, 2, 1, -1, -1, 2, -1, -2};
        LayerTable layers = table(new int[] {4, 3, 1}, new double[] {18, 11, 10});
        Instance in = new Instance(3, 8, x, wbar, g, 1e-3, layers, 3, 42.09);
        try (HostMatrix m = in.matrix()) {
            FalconSolver solver = new FalconSolver(backend);
            byte[] mp = solver.mpMask(in.wbar, in.layers, in.nnz, in.flops);
            double qMpBacksolved = referenceQ(in, referenceSolve(in, toBool(mp)));
            FalconSolver.Result r = solver.solve(m, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, SolverOptions.defaults());
            assertFeasible(in, r.mask());
            double q = referenceQ(in, toDouble(r.weights()));
            assertTrue(q <= qMpBacksolved + 1e-6 * Math.abs(qMpBacksolved), "falcon " + q + " above mp + BS " + qMpBacksolved);
        }
    }

    /**
     * lambda wbar = 1e12 x 1.7e30 overflows float32 in the swap polish's v = X z (z = lambda wbar off K, a float vector):
     * every gradient it ranked was NaN, and a NaN key was taken for a real one on both sides, so the polish proposed
     * adding a column that was already kept and the solve ended in "column 2 is already in the support" (an internal
     * error, exit 1, on every backend).
     */
    @Test
    public void theSwapPolishSurvivesALambdaWbarBeyondFloat() {
        float[] x = {-9.0994209e-31f, -2.5046834e-31f, 1.4913615e-30f};
        float[] wbar = {4.5858886e+29f, -4.1542291e+29f, 1.7314137e+30f};
        float[] g = {0.01472646f, 0.26005575f, 0.0283608f};
        LayerTable layers = table(new int[] {2, 1}, new double[] {1e6, 1e-3});
        Instance in = new Instance(1, 3, x, wbar, g, 1e12, layers, 3, 2e6);
        try (HostMatrix m = in.matrix()) {
            FalconSolver.Result r = new FalconSolver(backend).solve(m, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null,
                    SolverOptions.defaults());
            assertFeasible(in, r.mask());
            for (float v : r.weights()) assertTrue(Float.isFinite(v), "weight " + v);
            assertTrue(r.qFinal() <= r.qStart(), "final " + r.qFinal() + " above the warm start " + r.qStart());
            assertNotNull(r.polish().skipped(), "the polish says why it did not run");
            assertTrue(r.polish().skipped().contains("not finite"), r.polish().skipped());
        }
    }

    /**
     * Many samples of a small model: at 46,341 rows the Lipschitz constant's n x n Java array overflowed int and the
     * solve died in a NegativeArraySizeException (the CLI's "internal error", exit 1) after X was loaded.
     */
    @Test
    public void moreRowsThanTheSolversArraysHoldAreRefusedSayingHowMany() {
        int n = FalconSolver.MAX_ROWS + 1, p = 2;
        float[] x = new float[n * p];
        for (int i = 0; i < x.length; i++) x[i] = (i % 7) - 3;
        Instance in = new Instance(n, p, x, new float[] {1, -2}, null, 1e-3, table(new int[] {2}, new double[] {1}), 1, 2);
        try (HostMatrix m = in.matrix()) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> new FalconSolver(backend).solve(m, in.wbar, null, in.lambda, in.layers, in.nnz, in.flops, null, SolverOptions.defaults()));
            assertTrue(e.getMessage().contains("n = " + n + " rows") && e.getMessage().contains("at most " + FalconSolver.MAX_ROWS + " rows"),
                    e.getMessage());
        }
    }

    @Test
    public void qNeverIncreasesAcrossDfoIterations() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (SolverOptions.HessianModel h : SolverOptions.HessianModel.values()) {
            for (int t = 0; t < 3; t++) {
                Instance in = randomInstance(rnd, 16, 300, 4, t % 2 == 1);
                in = new Instance(in.n, in.p, in.x, in.wbar, in.g, in.lambda, in.layers, in.p / 10 + t * 7, in.flops);
                try (HostMatrix x = in.matrix()) {
                    SolverOptions o = SolverOptions.defaults().withHessian(h).withBlockSize(64).withTolerance(0);
                    FalconSolver.Result r = new FalconSolver(backend).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, o);
                    assertFeasible(in, r.mask());
                    double previous = Double.POSITIVE_INFINITY;
                    int previousRound = 0;
                    for (FalconSolver.IterationLog e : r.log()) {
                        if (e.iteration() > 0) assertTrue(e.step() >= (1 - 1e-12) / r.lipschitz(), "step below 1/Lip: " + e);
                        if (e.iteration() == -1 || e.round() != previousRound) { // backsolves and new rounds restart the sequence
                            previous = e.iteration() == -1 ? Double.POSITIVE_INFINITY : previous;
                            previousRound = e.round();
                            if (e.iteration() == -1) continue;
                        }
                        if (h == SolverOptions.HessianModel.EXACT || e.iteration() > 0) {
                            assertTrue(e.q() <= previous * (1 + 1e-6) + 1e-12, h + ": Q rose from " + previous + " to " + e.q() + " at " + e);
                        }
                        previous = e.iteration() == 0 && h == SolverOptions.HessianModel.BLOCK ? Double.POSITIVE_INFINITY : e.q();
                    }
                    assertTrue(r.qFinal() <= r.qStart() * (1 + 1e-9), "final " + r.qFinal() + " above the warm start " + r.qStart());
                    assertEquals(referenceQ(in, toDouble(r.weights())), r.qFinal(), 1e-4 * Math.abs(r.qFinal()) + 1e-9);
                }
            }
        }
    }

    /**
     * The review's finding: on the active set (support below p/4, exact Hessian) a round's DFO model adds Q in another
     * order than the exact evaluation of the backsolve and search rows, so its own Q of the round's start was above the
     * search row's by rounding (2e-7 of Q), and the first DFO row after a search row rose above it though both were
     * "exact" (p = 654, n = 31, lambda 1e-3, with g: four rounds of ten). A DFO run's rows now go down from the Q the log
     * gave its start: no "exact" row rises above the row before it, whatever that row was.
     */
    @Test
    public void noDfoRowOfTheExactModelRisesAboveTheRowBeforeIt() {
        SplittableRandom rnd = new SplittableRandom(2026);
        int rises = 0;
        StringBuilder seen = new StringBuilder();
        for (int t = 0; t < 4; t++) {
            Instance in = randomInstance(rnd, 31, 600, 6, true);
            in = new Instance(in.n, in.p, in.x, in.wbar, in.g, 1e-3, in.layers, (long) (0.6 * in.p), 0.1 * in.layers.denseFlops());
            try (HostMatrix x = in.matrix()) {
                FalconSolver.Result r = new FalconSolver(backend).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null,
                        SolverOptions.defaults());
                List<FalconSolver.IterationLog> log = r.log();
                for (int i = 1; i < log.size(); i++) {
                    FalconSolver.IterationLog before = log.get(i - 1), row = log.get(i);
                    if (row.iteration() > 0 && row.q() > before.q()) {
                        rises++;
                        seen.append(String.format(Locale.ROOT, "%n  instance %d round %d: %.17g (%s) -> %.17g", t, row.round(), before.q(),
                                before.note(), row.q()));
                    }
                }
            }
        }
        assertEquals(0, rises, "DFO rows above the row before them:" + seen);
    }

    @Test
    public void theIterationLogNamesTheModelEachQIsOf() {
        // under --hessian block the warm start's row held the exact Q and the DFO rows the block model's, unlabelled:
        // a log that rose from row 0 to row 1 read as a solver that raised Q
        SplittableRandom rnd = new SplittableRandom(19);
        Instance in = randomInstance(rnd, 16, 300, 4, true);
        in = new Instance(in.n, in.p, in.x, in.wbar, in.g, in.lambda, in.layers, in.p / 8, in.flops);
        try (HostMatrix x = in.matrix()) {
            for (SolverOptions.HessianModel h : SolverOptions.HessianModel.values()) {
                SolverOptions o = SolverOptions.defaults().withHessian(h).withBlockSize(64);
                FalconSolver.Result r = new FalconSolver(backend).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, o);
                FalconSolver.IterationLog first = r.log().get(0);
                assertEquals("exact", first.model(), h + ": " + first);
                assertEquals(r.qStart(), first.q(), 1e-12 * Math.abs(r.qStart()), h + ": the warm start's row holds the exact Q");
                int dfoRows = 0;
                for (FalconSolver.IterationLog e : r.log()) {
                    String expected = e.iteration() > 0 && h == SolverOptions.HessianModel.BLOCK ? "block" : "exact";
                    assertEquals(expected, e.model(), h + ": " + e);
                    if (e.iteration() > 0) dfoRows++;
                }
                assertTrue(dfoRows > 0, h + ": no DFO row in " + r.log());
            }
        }
    }

    @Test
    public void backsolveBeatsMpOnTheSameSupport() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int t = 0; t < 10; t++) {
            Instance in = randomInstance(rnd, 12, 300, 3, t % 3 == 0);
            try (HostMatrix x = in.matrix()) {
                FalconSolver s = new FalconSolver(backend);
                byte[] mask = s.mpMask(in.wbar, in.layers, in.p / 5, in.flops);
                float[] mp = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.NONE, null, 0, 0);
                float[] bs = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
                double qMp = FalconSolver.exactQ(backend, x, mp, in.wbar, in.g, in.lambda);
                double qBs = FalconSolver.exactQ(backend, x, bs, in.wbar, in.g, in.lambda);
                assertTrue(qBs < qMp, "backsolve " + qBs + " not below mp " + qMp);
                for (int j = 0; j < in.p; j++) if (mask[j] == 0) assertEquals(0f, bs[j]);
            }
        }
    }

    /**
     * The swap search's single-move values (Woodbury leverages at the exact backsolve) against the change of Q that a
     * double-precision backsolve on the moved support gives: adding i lowers Q by gain[i], removing j raises it by loss[j].
     */
    @Test
    public void swapEstimatesEqualTheBacksolvedChanges() {
        SplittableRandom rnd = new SplittableRandom(23);
        for (int t = 0; t < 6; t++) {
            Instance in = randomInstance(rnd, 12, 300, 3, t % 2 == 1);
            try (HostMatrix x = in.matrix()) {
                FalconSolver s = new FalconSolver(backend);
                byte[] mask = s.mpMask(in.wbar, in.layers, in.p / 4, in.layers.denseFlops());  // |K| = 75 > n: Woodbury
                float[] w = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
                FalconSolver.MoveEstimates est = s.moveEstimates(x, in.wbar, in.g, in.lambda, w, mask, true);
                boolean[] keep = new boolean[in.p];
                for (int j = 0; j < in.p; j++) keep[j] = mask[j] != 0;
                double q0 = referenceQ(in, referenceSolve(in, keep));
                int checked = 0;
                for (int j = t; j < in.p && checked < 12; j += 17, checked++) {
                    keep[j] = !keep[j];
                    double moved = referenceQ(in, referenceSolve(in, keep)) - q0;
                    keep[j] = !keep[j];
                    double expected = mask[j] == 0 ? -est.gain()[j] : est.loss()[j];
                    assertEquals(moved, expected, 1e-4 * Math.abs(moved) + 1e-9 * q0,
                            (mask[j] == 0 ? "adding " : "removing ") + j + " (instance " + t + ")");
                }
            }
        }
    }

    /**
     * The exact and block backsolves on supports wider than n (Woodbury) where X_K has rank below n: zero columns (dead
     * units), duplicated columns, X of rank below n. M^{-1} brings the residual outside the range of X_K back multiplied by
     * 1/lambda for X_K^T to cancel, and with that product in float the weights landed far from the minimiser on the support
     * (Q 2x the minimum on cpu and 4.5x on java at lambda 1e-7, 9.4e-4 relative at 1e-5). They must be the double normal
     * equations' minimiser to float rounding at every lambda.
     */
    @Test
    public void woodburyBacksolveOnRankDeficientSupportsIsTheMinimiser() {
        SplittableRandom rnd = new SplittableRandom(41);
        List<Instance> cases = new ArrayList<>();
        List<byte[]> supports = new ArrayList<>();
        // the reviewer's first case: n = 8, p = 40, the first 12 columns zero, 10 weights kept, 3 of them on zero columns
        {
            float[] x = new float[8 * 40];
            for (int j = 12; j < 40; j++) for (int i = 0; i < 8; i++) x[j * 8 + i] = (float) rnd.nextGaussian();
            cases.add(rankDeficientInstance(rnd, 8, 40, x));
            supports.add(supportOf(40, 4, 6, 11, 17, 20, 26, 33, 36, 37, 38));
        }
        // the second: n = 5, p = 12, column 2 zero and column 8 a copy of column 7, kept [0 2 4 6 7 8] (rank 4)
        {
            float[] x = new float[5 * 12];
            for (int k = 0; k < x.length; k++) x[k] = (float) rnd.nextGaussian();
            for (int i = 0; i < 5; i++) {
                x[2 * 5 + i] = 0;
                x[8 * 5 + i] = x[7 * 5 + i];
            }
            cases.add(rankDeficientInstance(rnd, 5, 12, x));
            supports.add(supportOf(12, 0, 2, 4, 6, 7, 8));
        }
        // a random family: zero columns, duplicated columns, or X of rank below n, on supports of n + 1 to 3n weights
        for (int t = 0; t < 9; t++) {
            int n = 4 + rnd.nextInt(8), p = 4 * n + rnd.nextInt(20);
            float[] x;
            if (t % 3 == 2) {
                x = lowRankPlusNoise(rnd, n, p, 1 + rnd.nextInt(n - 1), 0);
            } else {
                x = new float[n * p];
                for (int k = 0; k < x.length; k++) x[k] = (float) rnd.nextGaussian();
                for (int j = 0; j < p; j++) {
                    boolean changed = rnd.nextInt(3) == 0;
                    if (changed && t % 3 == 0) for (int i = 0; i < n; i++) x[j * n + i] = 0;
                    if (changed && t % 3 == 1 && j > 0) System.arraycopy(x, (j - 1) * n, x, j * n, n);
                }
            }
            cases.add(rankDeficientInstance(rnd, n, p, x));
            supports.add(randomSupport(rnd, p, n + 1 + rnd.nextInt(2 * n)));
        }
        for (double lambda : new double[] {1e-7, 1e-5, 1e-3}) {
            for (int c = 0; c < cases.size(); c++) {
                Instance in = cases.get(c);
                in = new Instance(in.n, in.p, in.x, in.wbar, in.g, lambda, in.layers, in.nnz, in.flops);
                byte[] mask = supports.get(c);
                boolean[] keep = new boolean[in.p];
                for (int j = 0; j < in.p; j++) keep[j] = mask[j] != 0;
                double[] expected = referenceSolve(in, keep);
                double qExpected = referenceQ(in, expected), scale = 1;
                for (double v : expected) scale = Math.max(scale, Math.abs(v));
                try (HostMatrix x = in.matrix()) {
                    for (Backsolve.Mode mode : new Backsolve.Mode[] {Backsolve.Mode.EXACT, Backsolve.Mode.BLOCK}) {
                        CountingBackend counting = new CountingBackend(backend);
                        float[] w = Backsolve.solve(counting, x, in.wbar, null, lambda, mask, mode, new long[] {0, in.p}, 0, 0);
                        String what = backend.name() + " " + mode + " case " + c + " (n " + in.n + ", |K| " + FalconSolver.count(mask)
                                + ") at lambda " + lambda;
                        // the double product is the backend's (cpu and cuda read X only in BLAS or their own kernels), taken
                        // where the near-singular system needs it: the reviewer's first case at lambda 1e-7 does
                        if (c == 0 && lambda == 1e-7) {
                            assertTrue(counting.get("multiplyTransposedSummedInDouble") > 0, what + ": X_K^T u was not the backend's"
                                    + " multiplyTransposedSummedInDouble; calls " + counting.counts);
                        }
                        double worst = 0;
                        for (int j = 0; j < in.p; j++) worst = Math.max(worst, Math.abs(w[j] - expected[j]));
                        assertTrue(worst <= 1e-4 * scale, what + ": weights " + worst + " from the minimiser's");
                        double q = referenceQ(in, toDouble(w));
                        assertEquals(qExpected, q, 1e-5 * Math.abs(qExpected) + 1e-9, what + ": Q");
                    }
                }
            }
        }
    }

    /**
     * With lambda small against X's scale (X of +-65000, a float16 X near its top, at lambda 1e-3; unit X at lambda 1e-12)
     * X_K delta cancels the removed weights' residual c to within a residual far below it: c and X_K^T u in float left
     * 6e-8 of c in the fit term, and the exact backsolve's Q was 1.45x (column-major) to 3.4x (the cpu's panels) what
     * the minimiser's weights rounded to float reach. The exact backsolve must reach that, on either layout.
     */
    @Test
    public void exactBacksolveAtALambdaSmallAgainstXsScaleReachesTheFloatRoundedMinimum() {
        SplittableRandom rnd = new SplittableRandom(47);
        int n = 16, p = 600;
        for (double[] scaleAndLambda : new double[][] {{65000, 1e-3}, {1, 1e-12}}) {
            double scale = scaleAndLambda[0], lambda = scaleAndLambda[1];
            float[] x = new float[n * p];
            for (int k = 0; k < x.length; k++) {
                x[k] = scale == 1 ? (float) rnd.nextGaussian() : (float) (rnd.nextBoolean() ? scale : -scale);
            }
            Instance in = rankDeficientInstance(rnd, n, p, x);
            in = new Instance(in.n, in.p, in.x, in.wbar, in.g, lambda, in.layers, in.nnz, in.flops);
            byte[] mask = randomSupport(rnd, p, 252);
            boolean[] keep = new boolean[p];
            for (int j = 0; j < p; j++) keep[j] = mask[j] != 0;
            double[] expected = referenceSolve(in, keep);
            double[] rounded = new double[p];
            for (int j = 0; j < p; j++) rounded[j] = (float) expected[j];
            double qRounded = referenceQ(in, rounded);
            List<HostMatrix> layouts = columnMajorAndPanels(in);
            List<Double> qOfLayout = new ArrayList<>();
            for (HostMatrix m : layouts) {
                try (m) {
                    float[] w = Backsolve.solve(backend, m, in.wbar, null, lambda, mask, Backsolve.Mode.EXACT, new long[] {0, p}, 0, 0);
                    double q = referenceQ(in, toDouble(w));
                    assertTrue(q <= 1.1 * qRounded, backend.name() + " X of scale " + scale + " at lambda " + lambda
                            + (m.isColumnMajor() ? "" : " in panels") + ": Q " + q + ", the float-rounded minimiser's " + qRounded
                            + " (the minimum " + referenceQ(in, expected) + ")");
                }
            }
        }
    }

    /**
     * The block backsolve solves each block's model as the exact backsolve solves the whole one, and X_{B,K} delta cancels
     * the block's removed residual c_B = -X_{B, not K} wbar just as closely when lambda is small against X's scale: c_B summed
     * in float left the block backsolve 1.45x (at the default lambda) to 2.6x above the float-rounded minimum of its own
     * model on a float16 X near 65504, 11% above it on a unit X at lambda 1e-12, and java and cpu 2.2x apart. Each block's
     * fit must reach its float-rounded float64 minimiser's, on either layout, and the backend must agree with java's.
     */
    @Test
    public void blockBacksolveAtALambdaSmallAgainstXsScaleReachesItsModelsFloatRoundedMinimum() {
        SplittableRandom rnd = new SplittableRandom(53);
        int n = 16, p = 600;
        LayerTable layers = table(new int[] {300, 300}, new double[] {4, 1});
        long[] blocks = Backsolve.blockStarts(layers, 100);
        try (ComputeBackend reference = new dev.falcon.backend.JavaBackend()) {
            for (double[] scaleAndLambda : new double[][] {{65504, 1e-3}, {65504, 1e-6}, {1, 1e-12}}) {
                double scale = scaleAndLambda[0], lambda = scaleAndLambda[1];
                float[] x = new float[n * p];
                for (int k = 0; k < x.length; k++) {
                    // float16 values near its top are multiples of 32
                    x[k] = scale == 1 ? (float) rnd.nextGaussian()
                            : (float) ((rnd.nextBoolean() ? 32 : -32) * Math.rint(rnd.nextDouble(0.9, 1.0) * scale / 32));
                }
                Instance in = rankDeficientInstance(rnd, n, p, x);
                in = new Instance(n, p, x, in.wbar, null, lambda, layers, in.nnz, in.flops);
                // |K_B| about 58 of 100: wider than n, the Woodbury path
                byte[] mask = randomSupport(rnd, p, 350);
                double[] expected = new double[p];
                for (int b = 0; b + 1 < blocks.length; b++) {
                    int s = (int) blocks[b], e = (int) blocks[b + 1];
                    double[] own = woodburyReference(blockInstance(in, s, e), toBool(java.util.Arrays.copyOfRange(mask, s, e)));
                    System.arraycopy(own, 0, expected, s, e - s);
                }
                double[] rounded = new double[p];
                for (int j = 0; j < p; j++) rounded[j] = (float) expected[j];
                double qRounded = blockQ(in, blocks, rounded);
                List<HostMatrix> layouts = new ArrayList<>();
                layouts.add(in.matrix());
                HostMatrix own = backend.allocate(n, p, new long[] {0, 300, 500, p});
                for (int j = 0; j < p; j++) for (int i = 0; i < n; i++) own.data().put(own.storageIndex(i, j), x[j * n + i]);
                layouts.add(own);
                for (HostMatrix m : layouts) {
                    try (m) {
                        String what = backend.name() + " X of scale " + scale + " at lambda " + lambda + (m.isColumnMajor() ? "" : " in panels");
                        float[] w = Backsolve.solve(backend, m, in.wbar, null, lambda, mask, Backsolve.Mode.BLOCK, blocks, 0, 0);
                        double q = blockQ(in, blocks, toDouble(w));
                        assertTrue(q <= 1.1 * qRounded, what + ": the block model's Q " + q + ", its float-rounded minimiser's "
                                + qRounded + " (the minimum " + blockQ(in, blocks, expected) + ")");
                        if (m.isColumnMajor()) {
                            double qJava = blockQ(in, blocks, toDouble(Backsolve.solve(reference, m, in.wbar, null, lambda, mask,
                                    Backsolve.Mode.BLOCK, blocks, 0, 0)));
                            assertEquals(qJava, q, 0.1 * qJava, what + ": the block model's Q against the java backend's");
                        }
                    }
                }
            }
        }
    }

    /** Columns [s, e) of {@code in} as a problem of their own (one layer), as the block model solves them. */
    private static Instance blockInstance(Instance in, int s, int e) {
        float[] xb = java.util.Arrays.copyOfRange(in.x, s * in.n, e * in.n);
        float[] gb = in.g == null ? null : java.util.Arrays.copyOfRange(in.g, s, e);
        return new Instance(in.n, e - s, xb, java.util.Arrays.copyOfRange(in.wbar, s, e), gb, in.lambda,
                table(new int[] {e - s}, new double[] {1}), 0, 0);
    }

    /** The block-diagonal model's Q of w: each block's Q on its own columns, summed. */
    private static double blockQ(Instance in, long[] blocks, double[] w) {
        double q = 0;
        for (int b = 0; b + 1 < blocks.length; b++) {
            int s = (int) blocks[b], e = (int) blocks[b + 1];
            q += referenceQ(blockInstance(in, s, e), java.util.Arrays.copyOfRange(w, s, e));
        }
        return q;
    }

    /**
     * The minimiser on a support, no linear term, in float64 through the n x n side: delta_K = -X_K^T (X_K X_K^T + lambda
     * I)^{-1} c. At lambda 1e-12 against a unit X, or 1e-6 against one of 65504, the |K| x |K| normal equations of
     * {@link #referenceSolve} are singular in double precision; this system is not while X_K has rank n.
     */
    private static double[] woodburyReference(Instance in, boolean[] keep) {
        int n = in.n, p = in.p;
        double[] c = new double[n];
        for (int j = 0; j < p; j++) if (!keep[j]) for (int i = 0; i < n; i++) c[i] -= in.xAt(i, j) * in.wbar[j];
        double[][] m = new double[n][n];
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                double v = 0;
                for (int j = 0; j < p; j++) if (keep[j]) v += in.xAt(a, j) * in.xAt(b, j);
                m[a][b] = v + (a == b ? in.lambda : 0);
            }
        }
        double[] minusC = new double[n];
        for (int i = 0; i < n; i++) minusC[i] = -c[i];
        double[] u = choleskySolve(m, minusC);
        double[] w = new double[p];
        for (int j = 0; j < p; j++) {
            if (!keep[j]) continue;
            double v = 0;
            for (int i = 0; i < n; i++) v += in.xAt(i, j) * u[i];
            w[j] = in.wbar[j] + v;
        }
        return w;
    }

    /**
     * falcon --backsolve block: the block model drops what the blocks share, so a round's backsolve can land above the DFO
     * point it was made for. The round keeps the DFO point, but its log row rose with nothing to explain it (every round,
     * 0.0217493 -> 0.0217495 on the reviewer's rank-deficient X). A backsolve row above the row before it must say that
     * the DFO point is kept, and the solve's Q must not rise from round to round.
     */
    @Test
    public void aBacksolveRowAboveItsDfoPointSaysTheDfoPointIsKept() {
        FalconSolver.Result r = falconOnZeroAndDuplicatedColumns(Backsolve.Mode.BLOCK, 1e-3);
        int rises = 0;
        for (int i = 1; i < r.log().size(); i++) {
            FalconSolver.IterationLog row = r.log().get(i), before = r.log().get(i - 1);
            if (row.note() == null || !row.note().startsWith("backsolve block") || row.q() <= before.q()) continue;
            rises++;
            assertTrue(row.note().contains("which is kept"), backend.name() + ": backsolve row " + i + " rose from " + before.q()
                    + " to " + row.q() + " with the note '" + row.note() + "'");
        }
        assertTrue(rises > 0, backend.name() + ": no backsolve row rose here; the test needs one (log " + r.log() + ")");
    }

    /**
     * The sweep backsolve of a DFO point starts from that point: it started from wbar on its support, and at a small lambda,
     * where sweeps crawl, its rows in the log stood up to 3.4x above the DFO row before them in every round (zero and
     * duplicated columns, lambda 1e-9), a round's backsolve wasted. From the DFO point a sweep only goes down from it.
     */
    @Test
    public void aSweepBacksolveStartsFromItsDfoPointAndDoesNotRiseAboveIt() {
        FalconSolver.Result r = falconOnZeroAndDuplicatedColumns(Backsolve.Mode.SWEEP, 1e-9);
        int rows = 0;
        for (int i = 1; i < r.log().size(); i++) {
            FalconSolver.IterationLog row = r.log().get(i), before = r.log().get(i - 1);
            if (row.note() == null || !row.note().startsWith("backsolve sweep")) continue;
            rows++;
            // Q of the same float weights, evaluated twice: only the evaluations' rounding apart
            assertTrue(row.q() <= before.q() * (1 + 1e-9), backend.name() + ": backsolve sweep row " + i + " rose from " + before.q()
                    + " to " + row.q() + " (" + row.note() + ")");
        }
        assertTrue(rows > 0, backend.name() + ": no backsolve sweep row in the log " + r.log());
    }

    /**
     * falcon at half the FLOPs on n = 16, p = 600 in two layers (4 and 1 FLOPs per weight), X with 50 zero columns and 50
     * duplicated ones, blocks of 100, up to 20 iterations: where the block and sweep backsolves land above the DFO point.
     */
    private FalconSolver.Result falconOnZeroAndDuplicatedColumns(Backsolve.Mode backsolve, double lambda) {
        SplittableRandom rnd = new SplittableRandom(67);
        int n = 16, p = 600;
        LayerTable layers = table(new int[] {300, 300}, new double[] {4, 1});
        float[] x = new float[n * p];
        for (int k = 0; k < x.length; k++) x[k] = (float) rnd.nextGaussian();
        java.util.Arrays.fill(x, 10 * n, 60 * n, 0f);
        System.arraycopy(x, 150 * n, x, 100 * n, 50 * n);
        Instance in = rankDeficientInstance(rnd, n, p, x);
        try (HostMatrix m = in.matrix()) {
            SolverOptions o = SolverOptions.defaults().withBacksolve(backsolve).withBlockSize(100).withMaxIterations(20);
            return new FalconSolver(backend).solve(m, in.wbar, null, lambda, layers, p, 0.5 * layers.denseFlops(), null, o);
        }
    }

    /**
     * The instance's X twice, column-major and in this backend's panels of 300, 200 and p - 500 columns (p > 500), for
     * checks that a result does not depend on the layout; the caller closes both.
     */
    private List<HostMatrix> columnMajorAndPanels(Instance in) {
        int n = in.n, p = in.p;
        float[] x = in.x;
        List<HostMatrix> layouts = new ArrayList<>();
        layouts.add(in.matrix());
        HostMatrix own = backend.allocate(n, p, new long[] {0, 300, 500, p});
        for (int j = 0; j < p; j++) for (int i = 0; i < n; i++) own.data().put(own.storageIndex(i, j), x[j * n + i]);
        layouts.add(own);
        return layouts;
    }

    /** One layer of p weights over the column-major n x p x, wbar standard normal, no g, every weight at one FLOP. */
    private static Instance rankDeficientInstance(SplittableRandom rnd, int n, int p, float[] x) {
        float[] wbar = new float[p];
        for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextGaussian();
        return new Instance(n, p, x, wbar, null, 1e-3, table(new int[] {p}, new double[] {1}), p, p);
    }

    private static byte[] supportOf(int p, int... kept) {
        byte[] mask = new byte[p];
        for (int j : kept) mask[j] = 1;
        return mask;
    }

    /**
     * The direct backsolve (|K| <= n) transposes its gathered columns with a gather of single elements, whose indices are
     * ints: with n (|K| + 2) above 2^31 (n > 46,340 rows, |K| near n) it threw "integer overflow" after X was loaded. Its
     * Gram then comes from pairs of chunks of the columns; forced here on small problems, with chunks of one column up to
     * nearly half of them, it must give what one gather gives.
     */
    @Test
    public void directBacksolveWithItsTransposeInChunksEqualsOneGather() {
        SplittableRandom rnd = new SplittableRandom(43);
        for (int t = 0; t < 8; t++) {
            int n = 6 + rnd.nextInt(14), p = 20 + rnd.nextInt(40);
            Instance in = randomInstance(rnd, n, p, 2, t % 2 == 0);
            int k = 1 + rnd.nextInt(n);
            byte[] support = randomSupport(rnd, p, k);
            float[] keep = new float[p];
            for (int j = 0; j < p; j++) keep[j] = support[j];
            double[] c = new double[n];
            for (int i = 0; i < n; i++) c[i] = rnd.nextDouble(-1, 1);
            try (HostMatrix x = in.matrix()) {
                double[] whole = Backsolve.solveDirect(backend, x, keep, k, c, in.g, in.lambda, Backsolve.TRANSPOSE_GATHER_ELEMENTS);
                double scale = 0;
                for (double v : whole) scale = Math.max(scale, Math.abs(v));
                long oneGather = (long) n * (k + 2);
                for (long limit : new long[] {2L * n, 3L * n + 1, oneGather - 1}) {
                    double[] chunked = Backsolve.solveDirect(backend, x, keep, k, c, in.g, in.lambda, limit);
                    for (int j = 0; j < p; j++) {
                        assertEquals(whole[j], chunked[j], 1e-12 * scale, "weight " + j + ", n = " + n + ", |K| = " + k
                                + ", gathers of at most " + limit + " elements (one gather: " + oneGather + ")");
                    }
                }
            }
        }
    }

    /**
     * mp's exact backsolve of a support of at most n weights solves the |K| x |K| normal equations: it held the support's
     * n x n Gram (which only falcon's searches reuse), the gathered columns, their transpose, the transpose's element
     * indices, the (|K| + 2)^2 Gram and a copy of the system at once, 36 n^2 bytes where |K| is near n, and mp
     * --backsolve exact on X 3000 x 2500 at --keep-nnz 0.9 peaked 88 MiB above its memory plan of 16 n^2. Here |K| = n - 2
     * (the Gram is n x n): at most 12 n^2 bytes beyond what was held before, with the weights of the dense solve.
     */
    @Test
    public void theExactBacksolveOfASupportOfAtMostNWeightsHoldsTwelveBytesPerRowSquared() {
        SplittableRandom rnd = new SplittableRandom(61);
        int n = 300, p = 420, k = n - 2;
        Instance in = randomInstance(rnd, n, p, 3, true);
        byte[] mask = randomSupport(rnd, p, k);
        try (HostMatrix x = in.matrix()) {
            CountingBackend counting = new CountingBackend(backend);
            long before = Pointer.totalBytes() + HostMatrix.openOwnedBytes();
            float[] w = Backsolve.solve(counting, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
            long held = counting.peakNativeBytes() - before;
            // beside the systems: the solver's vectors of length p and n
            long vectors = 64L * (p + n);
            assertTrue(held <= 12L * n * n + vectors, "the exact backsolve of |K| = " + k + " at n = " + n + " held " + held
                    + " native bytes, " + String.format(Locale.ROOT, "%.1f", held / ((double) n * n)) + " per n^2");
            assertClose(referenceSolve(in, toBool(mask)), w, 1e-6, "exact backsolve, |K| = n - 2");
        }
    }

    @Test
    public void exactWoodburyBacksolveEqualsDenseSolve() {
        SplittableRandom rnd = new SplittableRandom(13);
        for (int t = 0; t < 12; t++) {
            int n = 3 + rnd.nextInt(20), p = 20 + rnd.nextInt(120);
            Instance in = randomInstance(rnd, n, p, 3, t % 2 == 0);
            byte[] mask = new byte[p];
            int k = 1 + rnd.nextInt(p);
            for (int j = 0; j < p; j++) mask[j] = (byte) (rnd.nextInt(p) < k ? 1 : 0);
            try (HostMatrix x = in.matrix()) {
                float[] w = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
                double[] ref = referenceSolve(in, toBool(mask));
                assertClose(ref, w, 1e-6, "exact Woodbury, n=" + n + " p=" + p + " lambda=" + in.lambda);
            }
        }
    }

    /**
     * A support of fewer than n weights with a small ridge (the CLI's default lambda is 1e-3): X_K X_K^T + lambda I is
     * then singular but for lambda, and the removed weights' residual outside the range of X_K comes back from its
     * inverse multiplied by 1/lambda, to be cancelled by X_K^T in float. The backsolve must still be the minimiser of Q
     * on K: with X_K^T X_K + lambda I well conditioned (X uniform), and ill conditioned (X of rank 5 plus noise 0.01,
     * condition about 1e6 at lambda 1e-3), where normal equations formed with float products would lose it.
     */
    /** n x p column-major X = A B (A n x rank, B rank x p, uniform in [-1, 1)) plus uniform noise of that size. */
    static float[] lowRankPlusNoise(SplittableRandom rnd, int n, int p, int rank, double noise) {
        float[] x = new float[n * p];
        double[][] a = new double[n][rank], b = new double[rank][p];
        for (double[] row : a) for (int r = 0; r < rank; r++) row[r] = rnd.nextDouble(-1, 1);
        for (double[] row : b) for (int j = 0; j < p; j++) row[j] = rnd.nextDouble(-1, 1);
        for (int j = 0; j < p; j++) {
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int r = 0; r < rank; r++) s += a[i][r] * b[r][j];
                x[j * n + i] = (float) (s + noise * rnd.nextDouble(-1, 1));
            }
        }
        return x;
    }

    @Test
    public void exactBacksolveOnASupportSmallerThanNIsTheMinimiserWithASmallRidge() {
        for (boolean lowRank : new boolean[] {false, true}) exactBacksolveOnASupportSmallerThanN(lowRank);
    }

    private void exactBacksolveOnASupportSmallerThanN(boolean lowRank) {
        SplittableRandom rnd = new SplittableRandom(41);
        int n = 40, p = 200;
        float[] x;
        if (lowRank) {
            x = lowRankPlusNoise(rnd, n, p, 5, 0.01);
        } else {
            x = new float[n * p];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        }
        float[] wbar = new float[p], g = new float[p];
        for (int j = 0; j < p; j++) {
            wbar[j] = (float) rnd.nextDouble(-1, 1);
            g[j] = (float) (0.1 * rnd.nextDouble(-1, 1));
        }
        byte[] mask = new byte[p];
        for (int j = 0; j < p; j += 10) mask[j] = 1; // |K| = 20 < n
        for (double lambda : new double[] {1e-3, 1e-5}) {
            for (float[] linear : new float[][] {null, g}) {
                Instance in = new Instance(n, p, x, wbar, linear, lambda, table(new int[] {p}, new double[] {1}), 0, 0);
                try (HostMatrix m = in.matrix()) {
                    float[] w = Backsolve.solve(backend, m, wbar, linear, lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
                    double[] ref = referenceSolve(in, toBool(mask));
                    // ill conditioned, the removed weights' residual X_{not K} wbar_{not K} (a float product) bounds the accuracy at about 1e-5
                    assertClose(ref, w, lowRank ? 1e-4 : 1e-5, "exact backsolve, |K| = 20 < n = 40, lambda = " + lambda + (linear == null ? "" : ", with g")
                            + (lowRank ? ", X of rank 5 plus noise" : ""));
                    double q = referenceQ(in, toDouble(w)), qRef = referenceQ(in, ref);
                    assertEquals(qRef, q, 1e-6 * Math.abs(qRef), "Q of the backsolve against the minimum on K, lambda = " + lambda);
                }
            }
        }
    }

    @Test
    public void exactBacksolveFromANearbySupportsGramEqualsTheDenseSolve() {
        SplittableRandom rnd = new SplittableRandom(31);
        for (int t = 0; t < 12; t++) {
            int n = 3 + rnd.nextInt(20), p = 40 + rnd.nextInt(160);
            Instance in = randomInstance(rnd, n, p, 3, t % 2 == 0);
            byte[] base = new byte[p];
            for (int j = 0; j < p; j++) base[j] = (byte) (rnd.nextInt(4) != 0 ? 1 : 0);
            // a few swaps away (updated), and most of the support replaced (formed again)
            byte[] near = base.clone(), far = base.clone();
            for (int s = 0; s < 1 + p / 20; s++) near[rnd.nextInt(p)] ^= 1;
            for (int j = 0; j < p; j++) if (rnd.nextInt(3) != 0) far[j] ^= 1;
            try (HostMatrix x = in.matrix()) {
                Backsolve.Exact first = Backsolve.exact(backend, x, in.wbar, in.g, in.lambda, base, null);
                try (Backsolve.SupportGram baseGram = first.gram()) {
                    assertTrue(baseGram.formed(), "no Gram to start from: formed");
                    assertClose(referenceSolve(in, toBool(base)), first.w(), 1e-5, "base support, n=" + n + " p=" + p);
                    Backsolve.Exact updated = Backsolve.exact(backend, x, in.wbar, in.g, in.lambda, near, baseGram);
                    try (Backsolve.SupportGram g = updated.gram()) {
                        assertTrue(!g.formed(), "a few swaps away: updated from the base");
                    }
                    assertClose(referenceSolve(in, toBool(near)), updated.w(), 1e-5, "updated Gram, n=" + n + " p=" + p + " lambda=" + in.lambda);
                    assertArrayEquals(Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, near, Backsolve.Mode.EXACT, null, 0, 0),
                            updated.w(), 1e-5f * maxAbs(updated.w()), "updated vs formed Gram");
                    Backsolve.Exact replaced = Backsolve.exact(backend, x, in.wbar, in.g, in.lambda, far, baseGram);
                    try (Backsolve.SupportGram g = replaced.gram()) {
                        assertTrue(g.formed(), "most of the support changed: formed again");
                    }
                    assertClose(referenceSolve(in, toBool(far)), replaced.w(), 1e-5, "far support, n=" + n + " p=" + p);
                }
            }
        }
    }

    private static float maxAbs(float[] v) {
        float m = 0;
        for (float x : v) m = Math.max(m, Math.abs(x));
        return Math.max(m, 1e-30f);
    }

    @Test
    public void costlySearchesRunOnlyWithRoomAboveTheCertifiedBound() {
        Instance in = randomInstance(new SplittableRandom(5), 8, 200, 3, false);
        FalconSolver.RoomForSearch room = new FalconSolver.RoomForSearch(backend, null, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops);
        double bound = lowerBound(in).value();
        assertTrue(bound > 0, "bound " + bound);
        double cheap = FalconSolver.SEARCH_WORK_LIMIT, costly = 10 * FalconSolver.SEARCH_WORK_LIMIT;
        double roomy = bound / (1 - 2 * FalconSolver.ROOM_WORTH_SEARCHING), tight = bound / (1 - 0.5 * FalconSolver.ROOM_WORTH_SEARCHING);
        assertTrue(room.allows(cheap, tight), "cheap searches always run");
        assertTrue(room.allows(costly, roomy), "costly searches run with room");
        assertTrue(!room.allows(costly, tight), "costly searches skipped without room");
        assertTrue(room.allows(costly, Double.POSITIVE_INFINITY), "before any backsolve only the work decides");
        assertTrue(!room.allows(2 * FalconSolver.ROOMY_SEARCH_WORK_LIMIT, roomy), "beyond the costly limit: skipped");
        assertTrue(room.why(costly, tight).contains("certified lower bound"), room.why(costly, tight));
        assertTrue(room.whyRun(roomy).contains("above its certified lower bound"), room.whyRun(roomy));
        assertTrue(!room.whyRun(Double.POSITIVE_INFINITY).contains("NaN"), room.whyRun(Double.POSITIVE_INFINITY));
    }

    /**
     * g/lambda = 1e310: the bound lies below the smallest double and is unavailable. An unknown room is no closed gap:
     * the costly searches were skipped as if Q sat within 1% of a bound, because its NaN room failed the comparison.
     */
    @Test
    public void costlySearchesRunWhenTheBoundIsUnavailable() {
        LayerTable one = table(new int[] {2}, new double[] {1});
        FalconSolver.RoomForSearch room = new FalconSolver.RoomForSearch(backend, null, new float[] {1, 2}, new float[] {1e10f, 0}, 1e-300, one, 1, 2);
        assertNotNull(room.bound().unavailable(), room.bound().toString());
        double costly = 10 * FalconSolver.SEARCH_WORK_LIMIT;
        for (double q : new double[] {-1e300, -1, 0, 1, Double.MAX_VALUE}) {
            assertTrue(room.allows(costly, q), "costly searches run without a bound, Q = " + q);
            assertTrue(!room.allows(2 * FalconSolver.ROOMY_SEARCH_WORK_LIMIT, q), "beyond the costly limit: skipped without a bound too, Q = " + q);
        }
        String why = room.whyRun(1);
        assertTrue(why.contains("no certified lower bound") && why.contains(room.bound().unavailable()), why);
    }

    /** The log notes the costly searches' decision when it is first made and whenever it changes, in any round. */
    @Test
    public void theSearchDecisionIsNotedWhenItChanges() {
        LayerTable one = table(new int[] {2}, new double[] {1});
        FalconSolver.RoomForSearch room = new FalconSolver.RoomForSearch(backend, null, new float[] {1, 2}, null, 1, one, 1, 2);
        double costly = 10 * FalconSolver.SEARCH_WORK_LIMIT, cheap = FalconSolver.SEARCH_WORK_LIMIT / 2;
        assertTrue(!room.noteDue(true, cheap), "below the limit the searches always run: nothing to note");
        assertTrue(room.noteDue(true, costly), "round 1: run");
        assertTrue(!room.noteDue(true, costly), "round 2: still run, already noted");
        assertTrue(room.noteDue(false, costly), "round 3: now skipped");
        assertTrue(!room.noteDue(false, costly), "round 4: still skipped");
        assertTrue(room.noteDue(true, costly), "round 5: run again");
    }

    @Test
    public void blockBacksolveEqualsExactWithOneBlock() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (int t = 0; t < 12; t++) {
            int n = 8 + rnd.nextInt(8), p = 30 + rnd.nextInt(60);
            Instance in = randomInstance(rnd, n, p, 3, t % 2 == 0);
            byte[] mask = new byte[p];
            int k = t < 6 ? 1 + rnd.nextInt(n) : n + 1 + rnd.nextInt(p - n); // direct path, then Woodbury
            int kept = 0;
            for (int j = 0; j < p && kept < k; j++) if (rnd.nextInt(p) < 2 * k || p - j <= k - kept) { mask[j] = 1; kept++; }
            try (HostMatrix x = in.matrix()) {
                float[] exact = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
                float[] block = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.BLOCK, new long[] {0, p}, 0, 0);
                assertClose(toDouble(exact), block, 1e-4, "block vs exact, |K|=" + kept + " n=" + n);
            }
        }
    }

    /**
     * Follows the block backsolves of a run through the backend: a gather of a block's columns from X, then the gather
     * of its kept columns from them (|K_B| <= n) or the weighted Gram whose weights are its kept mask (Woodbury). Per
     * block, the kept weights of every solve of it, in order; and the backsolves, as runs of blocks in increasing order.
     */
    private static final class BlockSolves implements CountingBackend.Observer {
        final HostMatrix x;
        final long[] blocks;
        final List<List<java.util.Set<Integer>>> perBlock = new ArrayList<>();
        int current = -1, previous = Integer.MAX_VALUE, solves, backsolves;

        BlockSolves(HostMatrix x, long[] blocks) {
            this.x = x;
            this.blocks = blocks;
            for (int b = 0; b + 1 < blocks.length; b++) perBlock.add(new ArrayList<>());
        }

        private boolean ofCurrentBlock(HostMatrix m) {
            return current >= 0 && m != x && m.rows() == x.rows() && m.cols() == blocks[current + 1] - blocks[current];
        }

        @Override
        public void gatherColumns(HostMatrix m, org.bytedeco.javacpp.IntPointer columns, long k) {
            if (m == x) {
                current = -1;
                int first = columns.get(0);
                for (int b = 0; b + 1 < blocks.length; b++) {
                    if (blocks[b] != first || blocks[b + 1] - first != k) continue;
                    boolean contiguous = true;
                    for (int i = 0; i < k; i++) contiguous &= columns.get(i) == first + i;
                    if (contiguous) current = b;
                }
            } else if (ofCurrentBlock(m)) {
                java.util.Set<Integer> kept = new java.util.TreeSet<>();
                for (int i = 0; i < k; i++) kept.add(columns.get(i));
                record(kept);
            }
        }

        @Override
        public void weightedGram(HostMatrix m, FloatPointer weights) {
            if (weights == null || !ofCurrentBlock(m)) return;
            java.util.Set<Integer> kept = new java.util.TreeSet<>();
            for (int j = 0; j < m.cols(); j++) if (weights.get(j) != 0) kept.add(j);
            record(kept);
        }

        private void record(java.util.Set<Integer> kept) {
            perBlock.get(current).add(kept);
            solves++;
            if (current <= previous) backsolves++;
            previous = current;
            current = -1;
        }
    }

    /**
     * falcon's support searches backsolve candidate after candidate, each a few weights away from the round's support, so
     * in a block or two; the block backsolve solved every block of every candidate anew (gather, products, Gram,
     * Cholesky), and falcon --backsolve block on X 200 x 200,000 took 121 s against 26 s with exact. A block is solved again
     * only where its kept weights differ from those it was last solved for.
     */
    @Test
    public void falconsBlockBacksolvesSolveABlockAgainOnlyWhenItsKeptWeightsChanged() {
        SplittableRandom rnd = new SplittableRandom(71);
        int solvedMoreThanOnce = 0;
        for (int t = 0; t < 4; t++) {
            int n = 6 + rnd.nextInt(8), p = 150 + rnd.nextInt(150);
            Instance in = randomInstance(rnd, n, p, 3, t % 2 == 0);
            SolverOptions opt = SolverOptions.defaults().withBacksolve(Backsolve.Mode.BLOCK).withBlockSize(20);
            try (HostMatrix x = in.matrix()) {
                CountingBackend counting = new CountingBackend(backend);
                BlockSolves solves = new BlockSolves(x, Backsolve.blockStarts(in.layers, opt.blockSize()));
                counting.observer = solves;
                new FalconSolver(counting).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, opt);
                for (int b = 0; b < solves.perBlock.size(); b++) {
                    List<java.util.Set<Integer>> kept = solves.perBlock.get(b);
                    if (kept.size() > 1) solvedMoreThanOnce++;
                    for (int i = 1; i < kept.size(); i++) {
                        assertTrue(!kept.get(i).equals(kept.get(i - 1)), "instance " + t + ": block " + b + " solved again for the"
                                + " kept weights it was last solved for, " + kept.get(i) + " (solve " + i + " of " + kept.size()
                                + "; " + solves.solves + " block solves in all)");
                    }
                }
            }
        }
        assertTrue(solvedMoreThanOnce > 0, "no block was backsolved twice: the searches did not run");
    }

    /**
     * Reusing the blocks whose kept weights are unchanged gives the weights that solving them again gives, bit for bit: the
     * same solve with and without the block solutions kept, on problems where the searches backsolve many candidates.
     */
    @Test
    public void falconsBlockBacksolveGivesTheSameResultWithAndWithoutReusingBlocks() {
        SplittableRandom rnd = new SplittableRandom(73);
        long gathersReusing = 0, gathersAnew = 0;
        for (int t = 0; t < 5; t++) {
            int n = 6 + rnd.nextInt(10), p = 150 + rnd.nextInt(200);
            Instance in = randomInstance(rnd, n, p, 1 + rnd.nextInt(4), t % 2 == 0);
            SolverOptions opt = SolverOptions.defaults().withBacksolve(Backsolve.Mode.BLOCK).withBlockSize(16 + rnd.nextInt(24));
            try (HostMatrix x = in.matrix()) {
                CountingBackend reusing = new CountingBackend(backend), anew = new CountingBackend(backend);
                BlockSolves solvedAnew = new BlockSolves(x, Backsolve.blockStarts(in.layers, opt.blockSize()));
                anew.observer = solvedAnew;
                FalconSolver.Result cached = new FalconSolver(reusing).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, opt);
                FalconSolver uncached = new FalconSolver(anew);
                uncached.reuseBlockSolutions = false;
                FalconSolver.Result plain = uncached.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, opt);
                String what = "instance " + t + " (n = " + n + ", p = " + p + ", blocks of " + opt.blockSize() + ")";
                // beyond each round's backsolve and the warm start's: the searches' candidates
                assertTrue(solvedAnew.backsolves > plain.rounds() + 1, what + ": " + solvedAnew.backsolves + " backsolves in "
                        + plain.rounds() + " rounds, the searches did not run");
                assertArrayEquals(plain.weights(), cached.weights(), what);
                assertArrayEquals(plain.mask(), cached.mask(), what);
                assertEquals(plain.qFinal(), cached.qFinal(), what);
                assertEquals(plain.log().size(), cached.log().size(), what);
                for (int i = 0; i < plain.log().size(); i++) assertEquals(plain.log().get(i).q(), cached.log().get(i).q(), what + ", log row " + i);
                gathersReusing += reusing.get("gatherColumns");
                gathersAnew += anew.get("gatherColumns");
            }
        }
        assertTrue(gathersReusing < gathersAnew, "gathers with the blocks reused " + gathersReusing + ", without " + gathersAnew);
    }

    /**
     * The block solutions kept for a run against solving every block: random nearby supports (a few weights moved in a
     * block or two, now and then one seen before), compared bit for bit; kept for another problem they are refused.
     */
    @Test
    public void blockSolutionsGiveWhatSolvingTheBlocksAgainGives() {
        SplittableRandom rnd = new SplittableRandom(79);
        for (int t = 0; t < 4; t++) {
            int n = 5 + rnd.nextInt(10), p = 80 + rnd.nextInt(120);
            Instance in = randomInstance(rnd, n, p, 1 + rnd.nextInt(3), t % 2 == 0);
            long[] blocks = Backsolve.blockStarts(in.layers, 10 + rnd.nextInt(20));
            try (HostMatrix x = in.matrix()) {
                Backsolve.BlockSolutions solved = new Backsolve.BlockSolutions(x, in.wbar, in.g, in.lambda, blocks);
                byte[] base = randomSupport(rnd, p, 1 + rnd.nextInt(p - 1));
                List<byte[]> seen = new ArrayList<>();
                for (int c = 0; c < 12; c++) {
                    byte[] mask;
                    if (c > 2 && rnd.nextInt(4) == 0) {
                        mask = seen.get(rnd.nextInt(seen.size()));
                    } else {
                        mask = base.clone();
                        for (int moves = rnd.nextInt(4); moves > 0; moves--) mask[rnd.nextInt(p)] ^= 1;
                        seen.add(mask);
                    }
                    float[] reusing = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.BLOCK, blocks, 0, 0, solved);
                    float[] anew = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.BLOCK, blocks, 0, 0);
                    assertArrayEquals(anew, reusing, "instance " + t + ", candidate " + c);
                }
                assertTrue(solved.reused() > 0, "no block was reused");
                float[] otherWbar = in.wbar.clone();
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backsolve.solve(backend, x, otherWbar, in.g,
                        in.lambda, base, Backsolve.Mode.BLOCK, blocks, 0, 0, solved));
                assertTrue(e.getMessage().contains("another problem"), e.getMessage());
                assertThrows(IllegalArgumentException.class, () -> Backsolve.solve(backend, x, in.wbar, in.g, 2 * in.lambda, base,
                        Backsolve.Mode.BLOCK, blocks, 0, 0, solved));
            }
        }
    }

    /**
     * The searches' candidates leave the round's support for a block or two and come back to it: the swap search's singles
     * candidate after candidate, and its batches of moves after tens of blocks. With the last solution per block alone,
     * coming back solved those blocks again for the support's kept weights (on X 200 x 200,000, 36% of the block solves);
     * the support's solution, reused in between, is kept beside the candidates' own.
     */
    @Test
    public void blockSolutionsKeepTheSupportsSolutionWhileCandidatesMoveAwayFromIt() {
        SplittableRandom rnd = new SplittableRandom(83);
        Instance in = randomInstance(rnd, 8, 120, 2, true);
        long[] blocks = Backsolve.blockStarts(in.layers, 20);
        int blockCount = blocks.length - 1;
        for (int b = 0; b < blockCount; b++) assertTrue(blocks[b + 1] - blocks[b] >= 2, "block " + b + " is narrower than 2");
        try (HostMatrix x = in.matrix()) {
            CountingBackend counting = new CountingBackend(backend);
            Backsolve.BlockSolutions solved = new Backsolve.BlockSolutions(x, in.wbar, in.g, in.lambda, blocks);
            byte[] support = new byte[120];
            for (int j = 0; j < 120; j += 2) support[j] = 1;
            Backsolve.solve(counting, x, in.wbar, in.g, in.lambda, support, Backsolve.Mode.BLOCK, blocks, 0, 0, solved);
            assertEquals(blockCount, solved.solved(), "the support's first solve solves every block");
            // a single move in block 0, the next in block 0 too, then two batches that move a weight in every block
            byte[][] candidates = new byte[4][];
            for (int c = 0; c < 4; c++) {
                candidates[c] = support.clone();
                if (c < 2) {
                    candidates[c][1 + 2 * c] = 1;
                } else {
                    // one weight of every block moved in or out (the blocks are at least 2 wide: asserted below)
                    for (int b = 0; b < blockCount; b++) candidates[c][(int) blocks[b] + c - 2] ^= 1;
                }
            }
            int[] changed = {1, 1, blockCount, blockCount};
            for (int c = 0; c < 4; c++) {
                Backsolve.solve(counting, x, in.wbar, in.g, in.lambda, support, Backsolve.Mode.BLOCK, blocks, 0, 0, solved);
                long before = solved.solved();
                float[] reusing = Backsolve.solve(counting, x, in.wbar, in.g, in.lambda, candidates[c], Backsolve.Mode.BLOCK, blocks, 0, 0, solved);
                assertEquals(changed[c], solved.solved() - before, "candidate " + c + ": only the blocks it changed are solved");
                assertArrayEquals(Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, candidates[c], Backsolve.Mode.BLOCK, blocks, 0, 0),
                        reusing, "candidate " + c);
            }
            // and coming back to the support after the second batch solves nothing
            long before = counting.get("gatherColumns");
            float[] back = Backsolve.solve(counting, x, in.wbar, in.g, in.lambda, support, Backsolve.Mode.BLOCK, blocks, 0, 0, solved);
            assertEquals(0, counting.get("gatherColumns") - before, "blocks gathered again coming back to the support after the batches");
            assertArrayEquals(Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, support, Backsolve.Mode.BLOCK, blocks, 0, 0), back);
            assertEquals(blockCount + 2 + 2 * blockCount, solved.solved(), "block solves in all");
        }
    }

    @Test
    public void blockDiagonalBacksolveSolvesEachBlock() {
        SplittableRandom rnd = new SplittableRandom(19);
        Instance in = randomInstance(rnd, 6, 60, 3, true);
        byte[] mask = new byte[60];
        for (int j = 0; j < 60; j += 2) mask[j] = 1;
        long[] blocks = Backsolve.blockStarts(in.layers, 10);
        try (HostMatrix x = in.matrix()) {
            float[] w = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.BLOCK, blocks, 0, 0);
            for (int b = 0; b + 1 < blocks.length; b++) {
                int s = (int) blocks[b], e = (int) blocks[b + 1];
                // reference: the block's own problem (other blocks ignored)
                float[] xb = new float[in.n * (e - s)];
                System.arraycopy(in.x, s * in.n, xb, 0, xb.length);
                float[] gb = java.util.Arrays.copyOfRange(in.g, s, e);
                Instance sub = new Instance(in.n, e - s, xb, java.util.Arrays.copyOfRange(in.wbar, s, e), gb, in.lambda,
                        table(new int[] {e - s}, new double[] {1}), 0, 0);
                boolean[] keep = new boolean[e - s];
                for (int j = s; j < e; j++) keep[j - s] = mask[j] != 0;
                double[] ref = referenceSolve(sub, keep);
                assertClose(ref, java.util.Arrays.copyOfRange(w, s, e), 1e-4, "block " + b);
            }
        }
    }

    @Test
    public void blockCoordinateSweepsConvergeToExact() {
        SplittableRandom rnd = new SplittableRandom(23);
        Instance in0 = randomInstance(rnd, 10, 200, 4, true);
        Instance in = new Instance(in0.n, in0.p, in0.x, in0.wbar, in0.g, 1.0, in0.layers, 0, 0);
        byte[] mask = new byte[in.p];
        for (int j = 0; j < in.p; j++) mask[j] = (byte) (rnd.nextInt(3) == 0 ? 1 : 0);
        try (HostMatrix x = in.matrix()) {
            float[] exact = Backsolve.solve(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
            double qExact = FalconSolver.exactQ(backend, x, exact, in.wbar, in.g, in.lambda);
            List<Double> qs = new ArrayList<>();
            float[] w = Backsolve.sweep(backend, x, in.wbar, in.g, in.lambda, mask, Backsolve.blockStarts(in.layers, 16), null, 500, 0, qs);
            double qSweep = FalconSolver.exactQ(backend, x, w, in.wbar, in.g, in.lambda);
            for (int s = 1; s < qs.size(); s++) assertTrue(qs.get(s) <= qs.get(s - 1) * (1 + 1e-6), "sweep " + s + " raised Q");
            System.out.printf(Locale.ROOT, "[%s] block-coordinate: Q after 1 sweep %.9g, after %d sweeps %.9g, exact %.9g%n",
                    backend.name(), qs.get(0), qs.size(), qSweep, qExact);
            assertEquals(qExact, qSweep, 1e-5 * Math.abs(qExact));
            assertTrue(qs.get(0) > qExact * (1 + 1e-9), "one sweep should not already be exact in this test");
        }
    }

    /**
     * At a small lambda the sweeps' right-hand sides and Q came from float products of X d, where X_K d_K cancels
     * X_{not K} wbar, and they stalled at that rounding: after 4 or 5 sweeps a sweep raised Q by rounding, which counted as
     * convergence, and the raised point was returned, 34% to 3.6x above the exact backsolve's Q with no warning, and C-order
     * and Fortran-order X 30% apart. On a rank-deficient X (zero and duplicated columns) the sweeps must now end at the
     * exact backsolve's Q within 1e-3 (the exact backsolve is the float-rounded minimiser; the sweeps' own float weights
     * round elsewhere, by a few parts in 1e4 here) on either layout, and never return a point above the best Q they saw.
     */
    @Test
    public void sweepsAtASmallLambdaReachTheExactBacksolveAndKeepTheirBestPoint() {
        SplittableRandom rnd = new SplittableRandom(59);
        int n = 16, p = 600, cap = 100;
        LayerTable layers = table(new int[] {300, 300}, new double[] {4, 1});
        long[] blocks = Backsolve.blockStarts(layers, 100);
        float[] x = new float[n * p];
        for (int k = 0; k < x.length; k++) x[k] = (float) rnd.nextGaussian();
        java.util.Arrays.fill(x, 10 * n, 60 * n, 0f);
        System.arraycopy(x, 150 * n, x, 100 * n, 50 * n);
        Instance base = rankDeficientInstance(rnd, n, p, x);
        byte[] mask = randomSupport(rnd, p, 350);
        for (double lambda : new double[] {1e-7, 1e-12}) {
            Instance in = new Instance(n, p, x, base.wbar, null, lambda, layers, base.nnz, base.flops);
            List<HostMatrix> layouts = columnMajorAndPanels(in);
            List<Double> qOfLayout = new ArrayList<>();
            for (HostMatrix m : layouts) {
                try (m) {
                    String what = backend.name() + " at lambda " + lambda + (m.isColumnMajor() ? "" : " in panels");
                    double qExact = referenceQ(in, toDouble(Backsolve.solve(backend, m, in.wbar, null, lambda, mask, Backsolve.Mode.EXACT, blocks, 0, 0)));
                    List<Double> qs = new ArrayList<>();
                    float[] w = Backsolve.sweep(backend, m, in.wbar, null, lambda, mask, blocks, null, cap, 1e-10, qs);
                    double q = referenceQ(in, toDouble(w));
                    double best = qs.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
                    qOfLayout.add(q);
                    System.out.printf(Locale.ROOT, "[%s] sweeps: Q %.9g after %d sweeps (best %.9g), exact %.9g%n", what, q, qs.size(), best, qExact);
                    assertEquals(best, q, 1e-6 * best, what + ": the sweeps returned Q " + q + ", above their best " + best + "; Q per sweep " + qs);
                    if (q > qExact * (1 + 1e-3)) {
                        // short of the exact Q the sweeps must say so (as the CLI, which passes no qPerSweep, runs them)
                        assertTrue(sweepWarned(() -> Backsolve.sweep(backend, m, in.wbar, null, lambda, mask, blocks, null, cap, 1e-10, null)),
                                what + ": the sweeps ended at Q " + q + " after " + qs.size() + " sweeps, the exact backsolve's "
                                + qExact + ", and did not warn; Q per sweep " + qs);
                    }
                }
            }
            // the same X in columns and in panels (as a C-order and a Fortran-order file are read): Q was 30% apart
            assertEquals(qOfLayout.get(0), qOfLayout.get(1), 1e-6 * qOfLayout.get(0),
                    backend.name() + " at lambda " + lambda + ": the sweeps' Q in columns and in panels differ");
        }
    }

    /**
     * A sweep that lowers Q by less than the tolerance counted as convergence, but at a small lambda it is also a crawl
     * (weight moves between blocks by about lambda / sigma^2 a sweep): on mp's support at half the FLOPs, blocks of 100,
     * lambda 1e-12, the sweeps stopped after 6 to 12 sweeps 1.25x (standard normal X) and 3.0x (zero and duplicated
     * columns) above the exact backsolve's Q with no warning, as the CLI did on the numpy instance of rev-bsn34. Sweeps
     * that stop above the exact Q must now warn; sweeps that converge (lambda 10) must not.
     */
    @Test
    public void sweepsThatStopOnASmallDecreaseWarnUnlessTheyReachedTheMinimum() {
        SplittableRandom rnd = new SplittableRandom(9);
        int n = 16, p = 600, cap = 100;
        LayerTable layers = table(new int[] {300, 300}, new double[] {4, 1});
        long[] blocks = Backsolve.blockStarts(layers, 100);
        float[] normal = new float[n * p];
        for (int k = 0; k < normal.length; k++) normal[k] = (float) rnd.nextGaussian();
        float[] wbar = new float[p];
        for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextGaussian();
        float[] rankDeficient = normal.clone();
        java.util.Arrays.fill(rankDeficient, 10 * n, 60 * n, 0f);
        System.arraycopy(rankDeficient, 150 * n, rankDeficient, 100 * n, 50 * n);
        double flopBudget = 0.5 * layers.denseFlops();
        byte[] mask = new byte[p];
        try (FloatPointer scores = new FloatPointer(p); FlopAwareSelector selector = new FlopAwareSelector(backend)) {
            for (int j = 0; j < p; j++) scores.put(j, wbar[j] * wbar[j]);
            try (Selection mp = selector.select(scores, layers, p, flopBudget)) {
                mp.copyMaskTo(mask, 0);
            }
        }
        Object[][] cases = {{"standard normal X at lambda 1e-12", normal, 1e-12, false},
                {"X with zero and duplicated columns at lambda 1e-12", rankDeficient, 1e-12, false},
                {"standard normal X at lambda 10", normal, 10.0, true}};
        for (Object[] c : cases) {
            double lambda = (Double) c[2];
            Instance in = new Instance(n, p, (float[]) c[1], wbar, null, lambda, layers, p, flopBudget);
            try (HostMatrix m = in.matrix()) {
                String what = backend.name() + ", " + c[0];
                double qExact = referenceQ(in, toDouble(Backsolve.solve(backend, m, in.wbar, null, lambda, mask, Backsolve.Mode.EXACT, blocks, 0, 0)));
                List<Double> qs = new ArrayList<>();
                Backsolve.sweep(backend, m, in.wbar, null, lambda, mask, blocks, null, cap, 1e-10, qs);
                float[][] out = new float[1][];
                // as the CLI runs them: without qPerSweep, the only way the sweeps speak
                boolean warned = sweepWarned(() -> out[0] = Backsolve.sweep(backend, m, in.wbar, null, lambda, mask, blocks, null, cap, 1e-10, null));
                double q = referenceQ(in, toDouble(out[0]));
                System.out.printf(Locale.ROOT, "[%s] sweeps: Q %.9g after %d sweeps, exact %.9g, warned %b%n", what, q, qs.size(), qExact, warned);
                if (q > qExact * (1 + 1e-3)) {
                    assertTrue(warned, what + ": the sweeps stopped after " + qs.size() + " sweeps at Q " + q + ", " + q / qExact
                            + " times the exact backsolve's " + qExact + ", and did not warn; Q per sweep " + qs);
                }
                if ((Boolean) c[3]) {
                    assertTrue(qs.size() < cap, what + ": the sweeps should converge before their cap; Q per sweep " + qs);
                    assertFalse(warned, what + ": converged sweeps (Q " + q + ", exact " + qExact + ") warned");
                }
            }
        }
    }

    /**
     * rev-math40's instance (p = 600, n = 32, layers of 200, 300 and 100 weights costing 9, 4 and 1 FLOPs, 30% of the
     * FLOPs, the block Hessian in blocks of 64, sweep backsolves, a linear term): a sweep of an earlier round stopped at
     * its cap, and the warning said "the weights are not yet the exact model's" though the final weights, a later
     * sweep's, were the exact backsolve on their support (max |w - w_exact| 1.7e-7). Where the final weights are the
     * exact ones, the warning must name the round whose sweep stopped short and not say the final weights are off.
     */
    @Test
    public void aSweepWarningOfAnEarlierRoundSaysTheFinalWeightsAreNotThatSweeps() {
        int n = 32, p = 600, seen = 0;
        LayerTable layers = table(new int[] {200, 300, 100}, new double[] {9, 4, 1});
        SolverOptions opt = SolverOptions.defaults().withHessian(SolverOptions.HessianModel.BLOCK).withBlockSize(64)
                .withBacksolve(Backsolve.Mode.SWEEP);
        StringBuilder told = new StringBuilder();
        for (int seed = 1; seed <= 4; seed++) {
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] x = new float[n * p], wbar = new float[p], g = new float[p];
            for (int k = 0; k < x.length; k++) x[k] = (float) (gaussian(rnd) / Math.sqrt(n));
            for (int j = 0; j < p; j++) wbar[j] = (float) gaussian(rnd);
            for (int j = 0; j < p; j++) g[j] = (float) (0.05 * gaussian(rnd));
            Instance in = new Instance(n, p, x, wbar, g, 0.002 * n, layers, p, 0.3 * layers.denseFlops());
            SweepWarning warning = new SweepWarning();
            FalconSolver.Result r;
            try (HostMatrix m = in.matrix()) {
                r = new FalconSolver(backend).solve(m, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, opt, warning);
            }
            String said = warning.told();
            double[] exact = referenceSolve(in, toBool(r.mask()));
            double off = 0, scale = 0;
            for (int j = 0; j < p; j++) {
                off = Math.max(off, Math.abs(r.weights()[j] - exact[j]));
                scale = Math.max(scale, Math.abs(exact[j]));
            }
            told.append(String.format(Locale.ROOT, "%n  seed %d: max |w - w_exact| %.2e: %s", seed, off, said));
            if (said == null || off > 1e-5 * scale) continue;
            seen++;
            assertTrue(said.contains(" round "), "seed " + seed + ": the warning names no round: " + said);
            assertFalse(said.contains("not yet the exact model's") || said.contains("may not be the exact model's"),
                    "seed " + seed + ": the final weights are the exact backsolve's (max |w - w_exact| " + off + "), yet: " + said);
        }
        System.out.printf(Locale.ROOT, "[%s] sweep warnings of earlier rounds:%s%n", backend.name(), told);
        assertTrue(seen > 0, "no instance had a sweep stop short while its final weights were exact:" + told);
    }

    /**
     * The crawl warning put its bound on Q - Q* absolute beside a relative tolerance: on rev-num36's instance (8 x 40, four
     * layers of 10 weights costing 1, 4, 16 and 64 FLOPs, mp's support at 30% of the FLOPs, lambda 1e-12) the sweeps stopped
     * at Q 2.1e-11 "within 1e-06 of the model's minimum (it allows the minimum up to 8.50e-02 lower)", read as at most 8.5%
     * lower, while the minimum was 3.1x lower. The figure must be relative to Q, and so at least the true relative gap.
     */
    @Test
    public void theSweepCrawlWarningStatesItsBoundRelativeToQ() {
        int n = 8, p = 40;
        LayerTable layers = table(new int[] {10, 10, 10, 10}, new double[] {1, 4, 16, 64});
        long[] blocks = Backsolve.blockStarts(layers, SolverOptions.DEFAULT_BLOCK_SIZE);
        double lambda = 1e-12, flopBudget = 0.3 * layers.denseFlops();
        List<String> said = new ArrayList<>();
        // the first of a few such instances whose sweeps stop on a crawl (others stop on a rise, a warning without the bound)
        String crawl = null;
        double q = Double.NaN, qExact = Double.NaN;
        for (int seed = 1; seed <= 10 && crawl == null; seed++) {
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] x = new float[n * p];
            for (int k = 0; k < x.length; k++) x[k] = (float) rnd.nextGaussian();
            float[] wbar = new float[p];
            for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextGaussian();
            byte[] mask = new byte[p];
            try (FloatPointer scores = new FloatPointer(p); FlopAwareSelector selector = new FlopAwareSelector(backend)) {
                for (int j = 0; j < p; j++) scores.put(j, wbar[j] * wbar[j]);
                try (Selection mp = selector.select(scores, layers, p, flopBudget)) {
                    mp.copyMaskTo(mask, 0);
                }
            }
            Instance in = new Instance(n, p, x, wbar, null, lambda, layers, p, flopBudget);
            try (HostMatrix m = in.matrix()) {
                qExact = referenceQ(in, toDouble(Backsolve.solve(backend, m, in.wbar, null, lambda, mask, Backsolve.Mode.EXACT, blocks, 0, 0)));
                float[][] out = new float[1][];
                said.clear();
                said.addAll(backsolveLog(() -> out[0] = Backsolve.sweep(backend, m, in.wbar, null, lambda, mask, blocks, null, 100, 1e-10, null)));
                q = referenceQ(in, toDouble(out[0]));
                crawl = said.stream().filter(s -> s.contains("sweeps that crawl stop so too")).findFirst().orElse(null);
            }
        }
        assertNotNull(crawl, backend.name() + ": no instance's sweeps stopped on a crawl and said so; the last said " + said);
        System.out.printf(Locale.ROOT, "[%s] sweeps: Q %.9g, exact %.9g: %s%n", backend.name(), q, qExact, crawl);
        java.util.regex.Matcher figure = java.util.regex.Pattern.compile("allows the minimum up to ([0-9.e+-]+)( relative| times Q)? lower")
                .matcher(crawl);
        assertTrue(figure.find(), crawl);
        assertNotNull(figure.group(2), "the bound, beside the relative tolerance, must say it is relative to Q: " + crawl);
        double bound = Double.parseDouble(figure.group(1));
        // read in Q's terms the bound must hold: the sweeps' point lies (q - qExact) / q of Q above the minimum
        assertTrue(bound >= (q - qExact) / q * (1 - 1e-2), "the printed bound " + figure.group(1) + " is below the true relative gap "
                + (q - qExact) / q + " (Q " + q + ", exact " + qExact + "): " + crawl);
        assertEquals(bound >= 1, crawl.contains("more than Q itself"), crawl);
    }

    /** Whether {@code run} logged the sweeps' warning that they stopped short (told once per call here: no prune around it). */
    private static boolean sweepWarned(Runnable run) {
        return backsolveLog(run).stream().anyMatch(m -> m.contains("block-coordinate backsolve stopped after"));
    }

    /** The messages Backsolve logged while {@code run} ran. */
    private static List<String> backsolveLog(Runnable run) {
        java.util.logging.Logger log = java.util.logging.Logger.getLogger(Backsolve.class.getName());
        List<String> said = new ArrayList<>();
        java.util.logging.Handler capture = new java.util.logging.Handler() {
            @Override public void publish(java.util.logging.LogRecord r) { said.add(r.getMessage()); }
            @Override public void flush() {}
            @Override public void close() {}
        };
        log.addHandler(capture);
        try {
            run.run();
        } finally {
            log.removeHandler(capture);
        }
        return said;
    }

    /**
     * With a small ridge and a support much wider than n, plain sweeps crawl (the first block takes the residual and the
     * ridge moves weight to the others by about lambda / sigma^2 a sweep). The plane step after each sweep speeds them
     * up: on this instance 40 plain sweeps end 23.6% above the exact backsolve's Q, 40 with the plane step 14.7%.
     */
    @Test
    public void planeStepsSpeedUpSweepsWithASmallRidge() {
        SplittableRandom rnd = new SplittableRandom(29);
        Instance in = randomInstance(rnd, 8, 400, 4, false);
        double lambda = 1e-3;
        byte[] mask = new byte[in.p];
        for (int j = 0; j < in.p; j++) mask[j] = (byte) (rnd.nextInt(2) == 0 ? 1 : 0);
        try (HostMatrix x = in.matrix()) {
            float[] exact = Backsolve.solve(backend, x, in.wbar, null, lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
            double qExact = FalconSolver.exactQ(backend, x, exact, in.wbar, null, lambda);
            List<Double> qs = new ArrayList<>();
            float[] w = Backsolve.sweep(backend, x, in.wbar, null, lambda, mask, Backsolve.blockStarts(in.layers, 25), null, 40, 0, qs);
            double excess = FalconSolver.exactQ(backend, x, w, in.wbar, null, lambda) / qExact - 1;
            System.out.printf(Locale.ROOT, "[%s] sweeps, lambda 1e-3: Q above exact by %.3e after 1 sweep, %.3e after %d%n", backend.name(),
                    qs.get(0) / qExact - 1, excess, qs.size());
            for (int s = 1; s < qs.size(); s++) assertTrue(qs.get(s) <= qs.get(s - 1) * (1 + 1e-6), "sweep " + s + " raised Q");
            assertTrue(excess < 0.2, "40 sweeps left Q " + excess + " above the exact backsolve's (plain sweeps: 0.236)");
        }
    }

    /**
     * Once the sweeps have converged, a sweep moves d by a few ulps. The plane step scaled those rounding-level steps (and
     * the noise of the residual's image of them) by factors up to hundreds: the tracked Q fell below the exact minimum and
     * the weights wandered away from it (a single kept weight, solved exactly by the first sweep, ended 1-13% above the
     * exact Q; with the linear term up to 1e9 times above). Every Q a sweep reports is now of the point it keeps.
     */
    @Test
    public void convergedSweepsStayAtTheExactBacksolve() {
        SplittableRandom rnd = new SplittableRandom(5);
        int checked = 0;
        for (int t = 0; t < 24; t++) {
            Instance in = randomInstance(rnd, 8, 8, 3, t % 2 == 1);
            byte[] mask = new byte[in.p];
            mask[3] = 1;
            if (t % 4 >= 2) { mask[0] = 1; mask[6] = 1; }
            double lambda = t % 3 == 0 ? 1e-3 : 1.0;
            in = new Instance(in.n, in.p, in.x, in.wbar, in.g, lambda, in.layers, 0, 0);
            double qExact = referenceQ(in, referenceSolve(in, toBool(mask)));
            try (HostMatrix x = in.matrix()) {
                List<Double> qs = new ArrayList<>();
                float[] w = Backsolve.sweep(backend, x, in.wbar, in.g, lambda, mask, Backsolve.blockStarts(in.layers, 2000), null, 100, 1e-10, qs);
                double scale = Math.max(Math.abs(qExact), 1e-12);
                for (int s = 0; s < qs.size(); s++) {
                    assertTrue(qs.get(s) >= qExact - 1e-5 * scale, "instance " + t + ": sweep " + s + " reports Q " + qs.get(s) + " below the exact minimum " + qExact);
                }
                double q = referenceQ(in, toDouble(w));
                assertEquals(qExact, q, 1e-6 * scale, "instance " + t + ": sweeps ended " + (q / qExact - 1) + " above the exact backsolve");
                checked++;
            }
        }
        assertEquals(24, checked);
    }

    /**
     * A lambda below the rounding of a rank-deficient X's ridge system (repeated samples) made its Cholesky factor fail,
     * and the CLI answered "internal error: ArithmeticException: matrix is not positive definite" with a stack trace and
     * exit code 1. It is the user's --lambda, so it is bad input naming the option and a value that works.
     */
    @Test
    public void aLambdaBelowTheRoundingOfARankDeficientXIsRefusedNamingTheOption() {
        SplittableRandom rnd = new SplittableRandom(31);
        Instance in = randomInstance(rnd, 16, 400, 2, true);
        float[] x = in.x.clone();
        for (int j = 0; j < in.p; j++) System.arraycopy(x, j * in.n, x, j * in.n + 8, 8); // rows 8-15 repeat rows 0-7
        byte[] wide = new byte[in.p];       // |K| > n: Woodbury's n x n system
        byte[] narrow = new byte[in.p];     // |K| <= n: the normal equations, of two equal columns
        for (int j = 0; j < in.p; j += 3) wide[j] = 1;
        System.arraycopy(x, 0, x, in.n, in.n);
        narrow[0] = 1;
        narrow[1] = 1;
        Instance repeated = new Instance(in.n, in.p, x, in.wbar, in.g, 1e-20, in.layers, 0, 0);
        try (HostMatrix m = repeated.matrix()) {
            for (byte[] mask : List.of(wide, narrow)) {
                dev.falcon.io.InputException e = org.junit.jupiter.api.Assertions.assertThrows(dev.falcon.io.InputException.class,
                        () -> Backsolve.solve(backend, m, repeated.wbar, repeated.g, 1e-20, mask, Backsolve.Mode.EXACT, null, 0, 0));
                assertTrue(e.getMessage().startsWith("--lambda: value: lambda = 1.00e-20") && e.getMessage().contains("give a larger --lambda"),
                        e.getMessage());
                assertTrue(!e.getMessage().contains("\n") && !e.infeasible(), e.getMessage());
            }
            // the value it proposes can be solved with
            String proposed = org.junit.jupiter.api.Assertions.assertThrows(dev.falcon.io.InputException.class,
                    () -> Backsolve.solve(backend, m, repeated.wbar, repeated.g, 1e-20, wide, Backsolve.Mode.EXACT, null, 0, 0)).getMessage();
            double enough = Double.parseDouble(proposed.replaceAll(".*give a larger --lambda, (\\S+) or more.*", "$1"));
            float[] w = Backsolve.solve(backend, m, repeated.wbar, repeated.g, enough, wide, Backsolve.Mode.EXACT, null, 0, 0);
            for (float v : w) assertTrue(Float.isFinite(v));
        }
    }

    /**
     * The swap polish factors X_K X_K^T + lambda I even for a support smaller than n, where n - |K| of its eigenvalues are
     * lambda: with a tiny lambda it is singular in double although every backsolve (the |K| x |K| normal equations)
     * solves. The whole falcon run then failed with "internal error: ArithmeticException" (CLI: --nnz 8 with n = 16 and
     * --lambda 1e-20); the polish is skipped instead, saying why, and the rounds' point is the result.
     */
    /**
     * With repeated gradient columns and a tiny lambda, a support holding both copies of a column has a ridge system
     * singular in double; such a support may be only a candidate of the searches (the DFO's own support solvable). The
     * whole falcon run then ended in the "--lambda" refusal meant for a backsolve the user asked for; a candidate that
     * cannot be solved is passed by, and the result is a feasible point whose reported Q is its own.
     */
    @Test
    public void aSearchCandidateWhoseSystemIsSingularIsPassedByNotFatal() {
        SplittableRandom rnd = new SplittableRandom(41);
        int solved = 0;
        for (int t = 0; t < 12; t++) {
            Instance in = randomInstance(rnd, 12, 48, 2, t % 2 == 1);
            float[] x = new float[in.x.length];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            for (int j = 1; j < in.p; j += 2) System.arraycopy(x, (j - 1) * in.n, x, j * in.n, in.n); // column j repeats j - 1
            float[] wbar = in.wbar.clone();
            for (int j = 1; j < in.p; j += 2) wbar[j] = 0.01f * wbar[j - 1]; // mp keeps the first copies only
            Instance twins = new Instance(in.n, in.p, x, wbar, in.g, 1e-20, in.layers, 6, in.layers.denseFlops());
            try (HostMatrix m = twins.matrix()) {
                FalconSolver.Result r = new FalconSolver(backend).solve(m, twins.wbar, twins.g, twins.lambda, twins.layers, twins.nnz,
                        twins.flops, null, SolverOptions.defaults());
                assertFeasible(twins, r.mask());
                assertTrue(r.qFinal() <= r.qStart(), "instance " + t + ": final " + r.qFinal() + " above the warm start " + r.qStart());
                assertEquals(referenceQ(twins, toDouble(r.weights())), r.qFinal(), 1e-4 * Math.abs(r.qFinal()), "instance " + t);
                solved++;
            }
        }
        assertEquals(12, solved);
    }

    @Test
    public void aSwapPolishWhoseSystemIsSingularIsSkippedNotFatal() {
        SplittableRandom rnd = new SplittableRandom(37);
        Instance in = randomInstance(rnd, 16, 400, 2, false);
        float[] x = new float[in.x.length];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        double lambda = 1e-20;
        in = new Instance(in.n, in.p, x, in.wbar, null, lambda, in.layers, 8, in.layers.denseFlops() / 2);
        try (HostMatrix m = in.matrix()) {
            FalconSolver.Result r = new FalconSolver(backend).solve(m, in.wbar, null, lambda, in.layers, in.nnz, in.flops, null,
                    SolverOptions.defaults());
            assertFeasible(in, r.mask());
            assertTrue(r.qFinal() <= r.qStart(), "final " + r.qFinal() + " above the warm start " + r.qStart());
            assertTrue(r.polish().skipped() != null && r.polish().skipped().contains("singular in double precision"),
                    "polish: " + r.polish());
            assertEquals(referenceQ(in, toDouble(r.weights())), r.qFinal(), 1e-4 * Math.abs(r.qFinal()));
        }
    }

    /** Same support and Q within 1e-6 relative as the reference Java backend (trivial on the Java backend itself). */
    @Test
    public void sameResultAsTheJavaBackend() {
        SplittableRandom rnd = new SplittableRandom(29);
        try (ComputeBackend reference = new dev.falcon.backend.JavaBackend()) {
            for (int t = 0; t < 4; t++) {
                Instance in = randomInstance(rnd, 8, 120, 3, t % 2 == 0);
                in = new Instance(in.n, in.p, in.x, in.wbar, in.g, in.lambda, in.layers, 30, in.flops);
                try (HostMatrix x = in.matrix()) {
                    SolverOptions o = SolverOptions.defaults().withMaxIterations(50);
                    FalconSolver.Result a = new FalconSolver(backend).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, o);
                    FalconSolver.Result b = new FalconSolver(reference).solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, o);
                    assertArrayEquals(b.mask(), a.mask(), "support differs from the java backend's");
                    assertEquals(b.qFinal(), a.qFinal(), 1e-6 * Math.abs(b.qFinal()));
                }
            }
        }
    }

    /** 400 weights, 40 of them kept: a support below p/4, where DFO runs on an active set. */
    private static Instance activeSetInstance() {
        Instance in = randomInstance(new SplittableRandom(31), 10, 400, 4, false);
        return new Instance(in.n, in.p, in.x, in.wbar, in.g, in.lambda, in.layers, 40, in.flops);
    }

    @Test
    public void activeSetAndFullRunsBothImproveOnMp() {
        Instance in = activeSetInstance();
        try (HostMatrix x = in.matrix()) {
            FalconSolver s = new FalconSolver(backend);
            FalconSolver.Result active = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, SolverOptions.defaults());
            FalconSolver.Result full = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, SolverOptions.defaults().withActiveSet(false));
            for (FalconSolver.Result r : List.of(active, full)) {
                assertFeasible(in, r.mask());
                assertTrue(r.qFinal() < r.qStart(), r.qFinal() + " vs " + r.qStart());
                assertEquals(referenceQ(in, toDouble(r.weights())), r.qFinal(), 1e-4 * r.qFinal());
            }
            System.out.printf(Locale.ROOT, "[%s] active set: Q %.6g (%d iterations), all coordinates: Q %.6g (%d iterations), mp %.6g%n",
                    backend.name(), active.qFinal(), active.iterations(), full.qFinal(), full.iterations(), active.qStart());
        }
    }

    /**
     * A solve the round cap ends while its rounds still lower Q did not converge: its stop reason names the cap, not the
     * last round's DFO reason (which read "relative decrease below tolerance; active set complete" at the cap). A solve
     * that stops on its own before the cap does not name it.
     */
    @Test
    public void aSolveEndedByTheRoundCapSaysSo() {
        int uncappedRounds = SolverOptions.defaults().maxRounds();
        for (int seed = 1; seed <= 40; seed++) {
            Instance in = randomInstance(new SplittableRandom(seed), 12, 240, 3, false);
            try (HostMatrix x = in.matrix()) {
                FalconSolver s = new FalconSolver(backend);
                FalconSolver.Result uncapped = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, SolverOptions.defaults());
                if (uncapped.rounds() < 3 || uncapped.rounds() >= uncappedRounds) continue;
                assertTrue(!uncapped.stopReason().contains("round cap"), uncapped.stopReason());
                // its first two rounds are the capped solve's: round 2 did not end the uncapped solve, so the cap ends this one
                FalconSolver.Result capped = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null,
                        SolverOptions.defaults().withMaxRounds(2));
                assertEquals(2, capped.rounds());
                assertTrue(capped.stopReason().startsWith("round cap (2) reached while Q still fell (the last round lowered it by "),
                        capped.stopReason());
                return;
            }
        }
        throw new AssertionError("no instance took between 3 and " + (uncappedRounds - 1) + " rounds");
    }

    /**
     * The active set's columns are a copy of X, which the memory plan does not count: a set that does not fit the bytes
     * the options allow is not gathered, and the round runs as without an active set, saying why.
     */
    @Test
    public void anActiveSetBeyondItsBytesIsNotGathered() {
        Instance in = activeSetInstance();
        try (HostMatrix x = in.matrix()) {
            FalconSolver s = new FalconSolver(backend);
            SolverOptions base = SolverOptions.defaults().withBacksolve(Backsolve.Mode.NONE).withMaxRounds(1);
            long support = FalconSolver.count(s.mpMask(in.wbar, in.layers, in.nnz, in.flops));
            assertTrue(4 * support < in.p, "no active set for a support of " + support);
            FalconSolver.Result gathered = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, base);
            // the first set holds at most 3|support| columns
            FalconSolver.Result capped = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null,
                    base.withActiveSetMaxBytes(3 * support * in.n * Float.BYTES - 1));
            FalconSolver.Result full = s.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, base.withActiveSet(false));
            assertTrue(gathered.stopReason().contains("active set") && !gathered.stopReason().contains("on all coordinates"), gathered.stopReason());
            assertTrue(capped.stopReason().contains("on all coordinates: an active set of " + 3 * support + " columns would copy"), capped.stopReason());
            assertArrayEquals(full.mask(), capped.mask());
            assertEquals(full.qFinal(), capped.qFinal(), 0.0, "the capped round is the round without an active set");
        }
        assertThrows(IllegalArgumentException.class, () -> SolverOptions.defaults().withActiveSetMaxBytes(-1));
    }

    /** Passes over X per DFO iteration: exact = one X^T u plus one X v per line-search trial; block = one blockGramProduct per trial. */
    @Test
    public void dfoIterationsCostTheExpectedPassesOverX() {
        SplittableRandom rnd = new SplittableRandom(41);
        Instance in = randomInstance(rnd, 8, 200, 3, false);
        try (HostMatrix x = in.matrix()) {
            for (SolverOptions.HessianModel h : SolverOptions.HessianModel.values()) {
                CountingBackend counting = new CountingBackend(backend);
                SolverOptions o = SolverOptions.defaults().withHessian(h).withBacksolve(Backsolve.Mode.NONE).withActiveSet(false)
                        .withMaxRounds(1).withMaxIterations(5).withTolerance(0).withBlockSize(50);
                FalconSolver.Result r = new FalconSolver(counting).solve(x, in.wbar, in.g, in.lambda, in.layers, 40, in.flops, null, o);
                int iterations = r.iterations();
                int sorts = counting.get("sortSegmentsDescending") - 1; // minus the mp warm start
                assertEquals(1, counting.get("singlePrecisionGram"), "one Gram for the Lipschitz constant");
                assertEquals(0, counting.get("weightedGram"), "no double-precision Gram without a backsolve");
                if (h == SolverOptions.HessianModel.EXACT) {
                    // + 1 evaluation at the start of the round, + warm start Q + final Q, + -X wbar once per solve, no block
                    // products; every X v is summed in double (the solver's Q is the report's objective)
                    assertEquals(0, counting.get("blockGramProduct"));
                    assertEquals(iterations + (r.stopReason().contains("DFO: no decrease") || r.stopReason().startsWith("no decrease") ? 1 : 0), counting.get("multiplyTransposed"), counting.counts.toString());
                    assertEquals(sorts + 1 + 2 + 1, counting.get("multiplySummedInDouble"), counting.counts.toString());
                    assertEquals(0, counting.get("multiply"), counting.counts.toString());
                } else {
                    assertEquals(sorts + 1, counting.get("blockGramProduct"), counting.counts.toString());
                    assertEquals(0, counting.get("multiplyTransposed"), counting.counts.toString());
                }
                System.out.printf(Locale.ROOT, "[%s] DFO %s: %d iterations, X ops %s%n", backend.name(), h, iterations, counting.counts);
            }
        }
    }

    @Test
    public void schedulesFollowTheirFormulas() {
        assertEquals(0.2 + 0.8 * Math.pow(1 - 1.0 / 3, 3), MultiStage.Schedule.POLY.level(1, 4, 1.0, 0.2), 1e-15);
        assertEquals(1.0, MultiStage.Schedule.POLY.level(0, 4, 1.0, 0.2), 1e-15);
        assertEquals(0.2, MultiStage.Schedule.POLY.level(3, 4, 1.0, 0.2), 1e-15);
        assertEquals(0.6, MultiStage.Schedule.LINEAR.level(1, 3, 1.0, 0.2), 1e-15);
        assertEquals(Math.sqrt(0.2), MultiStage.Schedule.EXP.level(1, 3, 1.0, 0.2), 1e-15);
        assertEquals(0.2, MultiStage.Schedule.CONST.level(0, 3, 1.0, 0.2), 1e-15);
        assertEquals(0.2, MultiStage.Schedule.POLY.level(0, 1, 1.0, 0.2), 1e-15);
    }

    @Test
    public void multiStageReachesTheBudgetsAlongTheSchedule() {
        SplittableRandom rnd = new SplittableRandom(37);
        Instance in = randomInstance(rnd, 10, 300, 3, false);
        long nnz = 40;
        try (HostMatrix x = in.matrix()) {
            List<Integer> calls = new ArrayList<>();
            List<float[]> seen = new ArrayList<>();
            MultiStage.GradientSource source = (stage, weights) -> {
                calls.add(stage);
                seen.add(weights.clone());
                return x;
            };
            for (MultiStage.Schedule schedule : MultiStage.Schedule.values()) {
                calls.clear();
                seen.clear();
                MultiStage.Result r = MultiStage.run(backend, source, in.wbar, in.g, in.lambda, in.layers, nnz, in.flops, 4, schedule, 1.0, 1.0,
                        SolverOptions.defaults().withMaxIterations(30).withSwapCandidates(2));
                // const stages after the first have the budgets stage 0's weights meet: their X is not asked for
                assertEquals(schedule == MultiStage.Schedule.CONST ? List.of(0) : List.of(0, 1, 2, 3), calls, schedule.toString());
                assertArrayEquals(in.wbar, seen.get(0));
                assertFeasible(new Instance(in.n, in.p, in.x, in.wbar, in.g, in.lambda, in.layers, nnz, in.flops), r.mask());
                long previousS = Long.MAX_VALUE;
                double previousF = Double.POSITIVE_INFINITY;
                for (MultiStage.Stage st : r.stages()) {
                    assertTrue(st.nnzBudget() <= previousS && st.flopsBudget() <= previousF * (1 + 1e-12), schedule + ": budgets must tighten " + st);
                    assertTrue(st.kept() <= st.nnzBudget() && st.keptFlops() <= st.flopsBudget() * (1 + 1e-12));
                    previousS = st.nnzBudget();
                    previousF = st.flopsBudget();
                }
                assertEquals(nnz, r.stages().get(3).nnzBudget());
                assertEquals(referenceQ(in, toDouble(r.weights())), r.qFinal(), 1e-4 * r.qFinal());
                for (int j = 0; j < in.p; j++) if (r.mask()[j] == 0) assertEquals(0f, r.weights()[j]);
            }
        }
    }

    /**
     * A stage at an exact level keeps exactly that share: at t = 0 the poly schedule is s_T + (s_0 - s_T), which in binary
     * floating point is 0.8999999999999999 for s_0 = 0.9 and s_T = 0.2 (or 10 / 50), and 0.9 of 30 weights is 27, not 26,
     * as --keep-nnz 0.9 is (Budgets); likewise 0.9 of 50 FLOPs is 45, not 44.99999999999999.
     */
    @Test
    public void stageBudgetsAtExactLevelsAreNotRoundedDown() {
        Instance in0 = randomInstance(new SplittableRandom(43), 6, 30, 2, false);
        LayerTable layers = table(new int[] {10, 20}, new double[] {1, 2});
        assertEquals(50.0, layers.denseFlops());
        try (HostMatrix x = in0.matrix()) {
            MultiStage.Result r = MultiStage.run(backend, MultiStage.GradientSource.fixed(x), in0.wbar, null, in0.lambda, layers, 6, 10,
                    3, MultiStage.Schedule.POLY, 0.9, 0.9, SolverOptions.defaults().withMaxIterations(2).withSwapCandidates(0));
            MultiStage.Stage first = r.stages().get(0);
            assertEquals(27, first.nnzBudget(), "0.9 of p = 30 weights");
            assertEquals(45.0, first.flopsBudget(), "0.9 of 50 dense FLOPs");
            assertEquals(6, r.stages().get(2).nnzBudget());
            assertEquals(10.0, r.stages().get(2).flopsBudget());
        }
    }

    /**
     * An intermediate stage's level is computed in binary floating point, not written by a user: linear from 0.7 to 10 of
     * 20 weights (0.5) in 5 stages puts stage 1 at 0.65, computed as 0.6499999999999999, whose shortest decimal times 20
     * counted 12 weights and a budget of 12.999999999999998 FLOPs where the schedule means 13; and from the dense start to
     * 2 of 10 (0.2), stage 3 at 0.4, computed as 0.3999999999999999, counted 3 for 4. A computed level is taken to 12
     * significant digits (README); the start level and the final budgets stay as given.
     */
    @Test
    public void stageBudgetsAtComputedLevelsAreTheSchedulesDecimalLevels() {
        SolverOptions opt = SolverOptions.defaults().withMaxIterations(2).withSwapCandidates(0);
        Instance in20 = randomInstance(new SplittableRandom(47), 4, 20, 1, false);
        LayerTable ones20 = table(new int[] {20}, new double[] {1});
        try (HostMatrix x = in20.matrix()) {
            MultiStage.Result r = MultiStage.run(backend, MultiStage.GradientSource.fixed(x), in20.wbar, null, in20.lambda, ones20, 10, 10,
                    5, MultiStage.Schedule.LINEAR, 0.7, 0.7, opt);
            assertEquals(List.of(14L, 13L, 12L, 11L, 10L), r.stages().stream().map(MultiStage.Stage::nnzBudget).toList(),
                    "linear 0.7 -> 0.5 of 20 weights: stage 1 is at 0.65 (computed 0.6499999999999999)");
            assertEquals(List.of(14.0, 13.0, 12.0, 11.0, 10.0), r.stages().stream().map(MultiStage.Stage::flopsBudget).toList(),
                    "linear 0.7 -> 0.5 of 20 FLOPs");
        }
        Instance in10 = randomInstance(new SplittableRandom(53), 4, 10, 1, false);
        LayerTable ones10 = table(new int[] {10}, new double[] {1});
        try (HostMatrix x = in10.matrix()) {
            MultiStage.Result r = MultiStage.run(backend, MultiStage.GradientSource.fixed(x), in10.wbar, null, in10.lambda, ones10, 2, 2,
                    5, MultiStage.Schedule.LINEAR, 1.0, 1.0, opt);
            assertEquals(List.of(10L, 8L, 6L, 4L, 2L), r.stages().stream().map(MultiStage.Stage::nnzBudget).toList(),
                    "linear 1 -> 0.2 of 10 weights: stage 3 is at 0.4 (computed 0.3999999999999999)");
            assertEquals(List.of(10.0, 8.0, 6.0, 4.0, 2.0), r.stages().stream().map(MultiStage.Stage::flopsBudget).toList());
        }
    }

    /**
     * The first-order term g is measured at the dense weights and enters falcon++ once. At the final budgets from the
     * first stage on (const), later stages start from weights that already fit: with g passed to every stage, each one
     * took another step along -g around its predecessor's weights, and four stages ended far from one stage's answer.
     */
    @Test
    public void multiStageAppliesTheFirstOrderTermOnce() {
        Instance in = randomInstance(new SplittableRandom(61), 12, 200, 3, true);
        SolverOptions opt = SolverOptions.defaults().withMaxIterations(30).withSwapCandidates(2);
        try (HostMatrix x = in.matrix()) {
            MultiStage.Result one = MultiStage.run(backend, MultiStage.GradientSource.fixed(x), in.wbar, in.g, in.lambda, in.layers,
                    in.nnz, in.flops, 1, MultiStage.Schedule.CONST, 1.0, 1.0, opt);
            MultiStage.Result four = MultiStage.run(backend, MultiStage.GradientSource.fixed(x), in.wbar, in.g, in.lambda, in.layers,
                    in.nnz, in.flops, 4, MultiStage.Schedule.CONST, 1.0, 1.0, opt);
            assertEquals(0, one.firstPruningStage());
            assertEquals(0, four.firstPruningStage());
            double qOne = referenceQ(in, toDouble(one.weights())), qFour = referenceQ(in, toDouble(four.weights()));
            assertEquals(qOne, qFour, 1e-4 * Math.abs(qOne), "Q of one stage " + qOne + ", of four const stages " + qFour);
            for (int j = 0; j < in.p; j++) assertEquals(one.weights()[j], four.weights()[j], 1e-4, "weight " + j);
        }
    }

    /**
     * A stage whose budgets the previous stage's weights already meet, without g (const stages, or two equal rounded
     * budgets in a row), has those weights as its optimum whatever its X (Q around them is >= 0 and 0 at them): each such
     * stage ran a full solve (a Gram of X, a warm start, DFO rounds) only to return them. It is skipped and its row says
     * so, also from a source that gives a new X per stage (pattern, command), which once solved every stage.
     */
    @Test
    public void constStagesAreNotSolvedAgainWhateverTheirX() {
        Instance in = randomInstance(new SplittableRandom(71), 8, 120, 3, true);
        SolverOptions opt = SolverOptions.defaults().withMaxIterations(30).withSwapCandidates(2);
        try (HostMatrix x = in.matrix()) {
            CountingBackend oneCount = new CountingBackend(backend), threeCount = new CountingBackend(backend), perStageCount = new CountingBackend(backend);
            MultiStage.Result one = MultiStage.run(oneCount, MultiStage.GradientSource.fixed(x), in.wbar, in.g, in.lambda, in.layers,
                    in.nnz, in.flops, 1, MultiStage.Schedule.CONST, 1.0, 1.0, opt);
            MultiStage.Result three = MultiStage.run(threeCount, MultiStage.GradientSource.fixed(x), in.wbar, in.g, in.lambda, in.layers,
                    in.nnz, in.flops, 3, MultiStage.Schedule.CONST, 1.0, 1.0, opt);
            assertEquals(oneCount.get("singlePrecisionGram"), threeCount.get("singlePrecisionGram"), "one solve's Gram, not three");
            assertEquals(oneCount.get("sortSegmentsDescending"), threeCount.get("sortSegmentsDescending"), "one solve's sorts, not three");
            // nor anything else: a fixed X cannot fail to come, so Q is not measured stage by stage in case it does
            assertEquals(oneCount.counts, threeCount.counts, "the operations of one stage's run, with a fixed X");
            assertArrayEquals(one.weights(), three.weights());
            assertEquals(one.qFinal(), three.qFinal(), 1e-12 * Math.abs(one.qFinal()));
            assertEquals(3, three.stages().size());
            assertNull(three.stages().get(0).note());
            for (int t = 1; t < 3; t++) {
                MultiStage.Stage st = three.stages().get(t);
                assertNotNull(st.note(), "stage " + t + " was not solved and says so");
                assertTrue(st.note().contains("not solved"), st.note());
                assertEquals(0, st.iterations());
                assertEquals(0.0, st.qStage());
                assertEquals(one.stages().get(0).kept(), st.kept());
            }
            // the same matrix from a source that may give another X each stage: no X it gives can change those weights
            MultiStage.GradientSource perStage = (stage, weights) -> x;
            MultiStage.Result perStageRun = MultiStage.run(perStageCount, perStage, in.wbar, in.g, in.lambda, in.layers,
                    in.nnz, in.flops, 3, MultiStage.Schedule.CONST, 1.0, 1.0, opt);
            assertEquals(oneCount.get("singlePrecisionGram"), perStageCount.get("singlePrecisionGram"), "one solve's Gram, not three");
            assertArrayEquals(one.weights(), perStageRun.weights());
            for (int t = 1; t < 3; t++) assertTrue(perStageRun.stages().get(t).note().contains("not solved"), "stage " + t);
        }
    }

    /**
     * A swap-candidate count beyond p asks for every weight: --swap-candidates 200000000 ended in a NegativeArraySizeException
     * (16 c overflowed int), 2000000000 in "out of memory" (arrays sized by c).
     */
    @Test
    public void swapCandidatesBeyondPAreEveryWeight() {
        Instance in = randomInstance(new SplittableRandom(67), 6, 20, 2, false);
        SolverOptions opt = SolverOptions.defaults().withMaxIterations(10);
        try (HostMatrix x = in.matrix()) {
            FalconSolver solver = new FalconSolver(backend);
            FalconSolver.Result all = solver.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, opt.withSwapCandidates(in.p));
            FalconSolver.Result huge = solver.solve(x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, null, opt.withSwapCandidates(200_000_000));
            assertArrayEquals(all.weights(), huge.weights());
            assertFeasible(in, huge.mask());
        }
    }

    @Test
    public void swapPolishMoveFormulasMatchBacksolves() {
        SplittableRandom rnd = new SplittableRandom(20261203);
        double worst = 0;
        int checked = 0;
        for (int t = 0; t < 30; t++) {
            int n = 2 + rnd.nextInt(7), p = 8 + rnd.nextInt(16);
            Instance in = randomInstance(rnd, n, p, 2 + rnd.nextInt(2), t % 2 == 1);
            byte[] mask = new FalconSolver(backend).mpMask(in.wbar, in.layers, in.nnz, in.flops);
            boolean[] keep = toBool(mask);
            double q = referenceQ(in, referenceSolve(in, keep));
            try (HostMatrix x = in.matrix()) {
                for (int add = -1; add < p; add++) {
                    if (add >= 0 && keep[add]) continue;
                    for (int remove = -1; remove < p; remove++) {
                        if (remove >= 0 && !keep[remove] || add < 0 && remove < 0) continue;
                        boolean[] moved = keep.clone();
                        if (add >= 0) moved[add] = true;
                        if (remove >= 0) moved[remove] = false;
                        double actual = referenceQ(in, referenceSolve(in, moved)) - q;
                        double predicted = SwapPolish.predictedChange(backend, x, in.wbar, in.g, in.lambda, mask, add, remove);
                        double error = Math.abs(predicted - actual) / (Math.abs(actual) + 1e-6 * Math.abs(q) + 1e-12);
                        worst = Math.max(worst, error);
                        assertTrue(error < 1e-3, "instance " + t + " add " + add + " remove " + remove + ": predicted " + predicted
                                + ", backsolves " + actual);
                        checked++;
                    }
                }
            }
        }
        System.out.printf(Locale.ROOT, "[%s] swap polish: %d single moves, closed form against backsolves, worst relative error %.2e%n",
                backend.name(), checked, worst);
    }

    @Test
    public void swapPolishExchangeFormulaMatchesBacksolves() {
        SplittableRandom rnd = new SplittableRandom(20261204);
        double worst = 0;
        int checked = 0;
        for (int t = 0; t < 20; t++) {
            int n = 2 + rnd.nextInt(7), p = 8 + rnd.nextInt(10);
            Instance in = randomInstance(rnd, n, p, 2 + rnd.nextInt(2), t % 2 == 1);
            byte[] mask = new FalconSolver(backend).mpMask(in.wbar, in.layers, in.nnz, in.flops);
            boolean[] keep = toBool(mask);
            double q = referenceQ(in, referenceSolve(in, keep));
            int[] kept = new int[p];
            int k = 0;
            for (int j = 0; j < p; j++) if (keep[j]) kept[k++] = j;
            try (HostMatrix x = in.matrix()) {
                for (int add = 0; add < p; add++) {
                    if (keep[add]) continue;
                    // two and three removals, whatever their layers
                    for (int a = 0; a < k; a++) {
                        for (int b = a + 1; b < k; b++) {
                            // c = k: no third
                            for (int c = b + 1; c <= k; c++) {
                                int[] remove = c == k ? new int[] {kept[a], kept[b]} : new int[] {kept[a], kept[b], kept[c]};
                                double predicted = SwapPolish.predictedExchange(backend, x, in.wbar, in.g, in.lambda, mask, add, remove);
                                worst = Math.max(worst, moveError(in, keep, q, new int[] {add}, remove, predicted, t));
                                checked++;
                            }
                        }
                    }
                }
            }
        }
        assertTrue(checked > 1000, "only " + checked + " exchanges checked");
        System.out.printf(Locale.ROOT, "[%s] swap polish: %d swaps of one weight for two or three, closed form against backsolves,"
                + " worst error %.2f of the tolerance (1e-3 of the change + 1e-6 of Q)%n", backend.name(), checked, worst);
    }

    /**
     * The closed form's error for a move of several weights from {@code keep} (backsolved Q {@code q}), in units of its
     * tolerance, 1e-3 of the change + 1e-6 of Q; fails beyond it. v = X z is a float product: a small change is off by
     * parts in 1e7 of Q (2.7e-7 on cpu), more than for one weight, as every moved column adds its rounding.
     */
    private double moveError(Instance in, boolean[] keep, double q, int[] add, int[] remove, double predicted, int instance) {
        boolean[] moved = keep.clone();
        for (int j : add) moved[j] = true;
        for (int j : remove) moved[j] = false;
        double actual = referenceQ(in, referenceSolve(in, moved)) - q;
        double allowed = 1e-3 * Math.abs(actual) + 1e-6 * Math.abs(q);
        assertTrue(Math.abs(predicted - actual) <= allowed, "instance " + instance + " add " + java.util.Arrays.toString(add) + " remove "
                + java.util.Arrays.toString(remove) + ": predicted " + predicted + ", backsolves " + actual + ", Q " + q);
        return Math.abs(predicted - actual) / allowed;
    }

    /**
     * Two of the tiny instances whose exhaustive optimum is one weight of a costly layer in, two (or three) of a cheap
     * one out: with the FLOP budget binding, no single swap into the costly layer fits, and every addition, removal and
     * one-for-one swap raises Q. The polish ended at 1.544 and 1.031 times the optimum.
     */
    @Test
    public void theSwapPolishSwapsOneCostlyWeightForSeveralCheapOnes() {
        Instance twoForOne = new Instance(6, 7, new float[] {-0.12176791f, -0.23868422f, -0.09871338f, -0.19513062f, 0.4551058f,
                0.520877f, -0.16182488f, 0.52242094f, 0.6575381f, 0.48513278f, -0.6509666f, -0.15815839f, 0.4490631f, -0.29320955f,
                -0.38246506f, -0.018788138f, -0.092810996f, -0.5991562f, -0.062770635f, 0.08283576f, 0.2424281f, 0.15051553f,
                -0.036683433f, 0.031183893f, 0.33972746f, -0.50516385f, -0.6076892f, -0.31587592f, 0.1866356f, -0.35986176f,
                0.825309f, -0.6638802f, -0.99364156f, -0.5141889f, 0.31258756f, -0.8176869f, 0.29858133f, -0.7444612f, -0.7580419f,
                -0.5156653f, 0.9066412f, 0.20284404f},
                new float[] {-0.7096908f, -0.2731107f, -0.15478592f, 0.81324124f, -0.3622933f, 0.22954518f, 0.9202269f}, null, 0.01,
                table(new int[] {2, 1, 2, 2}, new double[] {9, 9, 4, 16}), 6, 26.25683305138236);
        Instance threeForOne = new Instance(4, 10, new float[] {0.23289636f, -0.97620755f, -0.5130686f, -1.2458613f, 0.39842093f,
                -0.85735655f, -0.6506091f, -0.55274117f, 0.20750771f, 0.10176688f, -0.2546294f, 0.1858711f, -0.23073222f, -0.1959899f,
                0.45223013f, 0.34672633f, -0.36274204f, 0.24921112f, 0.6536286f, 0.91062975f, -0.37188312f, 0.6472945f, 0.544655f,
                0.25023058f, -0.41452742f, -0.5411929f, 1.3476613f, 0.06358761f, 0.026672622f, 0.4774251f, -0.58473074f, 0.10618585f,
                0.258893f, -0.46221694f, -0.25390124f, -0.112304464f, 0.25637692f, 0.8205837f, -1.2584072f, 0.48097673f},
                new float[] {0.6505802f, 0.83298296f, -0.5905843f, -0.58874404f, 0.397311f, 0.24371684f, -0.13874066f, 0.2943277f,
                        -0.5543347f, -0.1748615f}, null, 0.1, table(new int[] {6, 4}, new double[] {16, 3}), 9, 53.156119886175816);
        assertFalconReachesTheExhaustiveOptimum(twoForOne, threeForOne);
    }

    /**
     * Instances 57 and 102 of the tiny ones: the exhaustive optimum is two one-for-one swaps away from where the polish
     * ended (in one layer with the NNZ budget binding; one in each layer with the FLOP budget binding), and each swap
     * alone raises Q, as does every other single move. The polish ended at 1.213 and 1.048 times the optimum.
     */
    @Test
    public void theSwapPolishTakesTwoSwapsThatEachAloneRaiseQ() {
        Instance oneLayer = new Instance(4, 13, new float[] {-0.1459044f, 0.6460607f, 0.023224352f, -1.4965459f, 0.021302914f,
                0.104201786f, -0.009721041f, -0.28586182f, -0.19401151f, 0.1250388f, -0.70057505f, -0.56787765f, 0.018015888f,
                0.058219492f, 1.1792762f, -0.928205f, -0.18832344f, 0.59526f, 0.115465626f, -1.2951355f, -0.13620761f, 0.8138342f,
                -1.4064401f, -0.5356415f, -0.2978526f, 0.46581754f, -1.5835186f, -0.07611663f, -0.3549741f, -0.5795552f,
                -0.26326093f, 0.38352498f, 0.076952085f, 0.28851622f, 0.20778267f, -0.36777616f, -0.0055490346f, 0.2562067f,
                -0.6161213f, -0.0747543f, -0.019419698f, 0.67133623f, -0.23279032f, -0.85019994f, -0.100778185f, -0.17896284f,
                0.90095985f, -0.30524647f, -0.092073336f, -0.70477647f, 0.3563601f, 0.8518358f},
                new float[] {-0.78249794f, 0.7217172f, 0.7564489f, 0.3297965f, -0.76227444f, 0.42990232f, 0.46863762f, -0.59746295f,
                        -0.13386714f, -0.6398947f, 0.99628645f, 0.68521744f, 0.59139293f}, null, 0.01,
                table(new int[] {7, 5, 1}, new double[] {16, 2, 4}), 3, 69.05864241604414);
        Instance twoLayers = new Instance(3, 6, new float[] {-0.27452168f, -0.33225805f, 0.29671505f, -0.08897077f, -0.15829584f,
                0.11891852f, 0.11423673f, 0.077131286f, 0.053440105f, 0.45321554f, 0.7482709f, -0.38503724f, -0.14761776f,
                -0.15396538f, 0.09880668f, -0.14647716f, -0.21884194f, 0.029064577f},
                new float[] {-0.6330588f, -0.30816367f, -0.72958463f, 0.28469422f, -0.47357637f, 0.22112106f}, null, 0.01,
                table(new int[] {3, 3}, new double[] {16, 3}), 4, 24.079934817572617);
        assertFalconReachesTheExhaustiveOptimum(oneLayer, twoLayers);
    }

    /**
     * A FLOP budget that keeps only one or two weights of a large problem (p = 350, n = 16; layers of 50, 200 and 100
     * weights costing 100000, 2 and 1 FLOPs each, a budget of 2): one weight of the middle layer or two of the last. The
     * best pair is often two weights that are poor alone, a pair of swaps from where the polish ends whose additions the
     * pools, ranked by single moves, leave out (the review's instance: Q 70.24 where the optimum is 63.05, 1.114 times).
     * The feasible supports are few (5,150), so the polish must reach their optimum, checked here by solving every one.
     */
    @Test
    public void whereTheBudgetKeepsOnlyAFewWeightsFalconReachesTheBestFeasibleSupport() {
        int n = 16, p = 350, reached = 0, instances = 6;
        LayerTable layers = table(new int[] {50, 200, 100}, new double[] {100000, 2, 1});
        StringBuilder missed = new StringBuilder();
        for (int seed = 0; seed < instances; seed++) {
            SplittableRandom rnd = new SplittableRandom(20260401 + seed);
            float[] x = new float[n * p], wbar = new float[p];
            for (int k = 0; k < x.length; k++) x[k] = (float) (gaussian(rnd) / Math.sqrt(n));
            for (int j = 0; j < p; j++) wbar[j] = (float) gaussian(rnd);
            Instance in = new Instance(n, p, x, wbar, null, 1e-3, layers, p, 2);
            double opt = Double.POSITIVE_INFINITY;
            boolean[] keep = new boolean[p];
            for (int a = 50; a < p; a++) {
                keep[a] = true;
                opt = Math.min(opt, referenceQ(in, referenceSolve(in, keep)));
                for (int b = Math.max(a + 1, 250); a >= 250 && b < p; b++) {
                    keep[b] = true;
                    opt = Math.min(opt, referenceQ(in, referenceSolve(in, keep)));
                    keep[b] = false;
                }
                keep[a] = false;
            }
            double q = falconQ(in);
            if (q <= opt + 1e-6 * Math.abs(opt)) reached++;
            else missed.append(String.format(Locale.ROOT, " seed %d: Q %.6f = %.4f x the optimum %.6f;", 20260401 + seed, q, q / opt, opt));
        }
        assertEquals(instances, reached, "falcon reached the best feasible support on " + reached + "/" + instances + ":" + missed);
    }

    private static double gaussian(SplittableRandom rnd) {
        // Box-Muller written out, so that the instances do not hang on how a JDK implements nextGaussian
        double u = 1 - rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    private void assertFalconReachesTheExhaustiveOptimum(Instance... instances) {
        for (Instance in : instances) {
            double opt = exhaustiveOptimum(in);
            double q = falconQ(in);
            assertTrue(q <= opt * (1 + 1e-5), "p = " + in.p + ": Q " + q + " = " + q / opt + " x the optimum " + opt);
        }
    }

    @Test
    public void swapPolishPairOfSwapsFormulaMatchesBacksolves() {
        SplittableRandom rnd = new SplittableRandom(20261205);
        double worst = 0;
        int checked = 0;
        for (int t = 0; t < 20; t++) {
            int n = 2 + rnd.nextInt(7), p = 8 + rnd.nextInt(10);
            Instance in = randomInstance(rnd, n, p, 2 + rnd.nextInt(2), t % 2 == 1);
            byte[] mask = new FalconSolver(backend).mpMask(in.wbar, in.layers, in.nnz, in.flops);
            boolean[] keep = toBool(mask);
            double q = referenceQ(in, referenceSolve(in, keep));
            int[] kept = new int[p], outside = new int[p];
            int k = 0, o = 0;
            for (int j = 0; j < p; j++) {
                if (keep[j]) kept[k++] = j;
                else outside[o++] = j;
            }
            try (HostMatrix x = in.matrix()) {
                // every pair of additions with every pair of removals, whatever their layers and the budgets
                for (int a1 = 0; a1 < o; a1++) {
                    for (int a2 = a1 + 1; a2 < o; a2++) {
                        for (int r1 = 0; r1 < k; r1++) {
                            for (int r2 = r1 + 1; r2 < k; r2++) {
                                int[] add = {outside[a1], outside[a2]}, remove = {kept[r1], kept[r2]};
                                double predicted = SwapPolish.predictedMove(backend, x, in.wbar, in.g, in.lambda, mask, add, remove);
                                worst = Math.max(worst, moveError(in, keep, q, add, remove, predicted, t));
                                checked++;
                            }
                        }
                    }
                }
            }
        }
        assertTrue(checked > 1000, "only " + checked + " pairs of swaps checked");
        System.out.printf(Locale.ROOT, "[%s] swap polish: %d pairs of swaps, closed form against backsolves, worst error %.2f of the"
                + " tolerance (1e-3 of the change + 1e-6 of Q)%n", backend.name(), checked, worst);
    }

    @Test
    public void swapPolishLowersQByWhatItPredictsWithinTheBudgets() {
        SplittableRandom rnd = new SplittableRandom(7);
        int improved = 0, swaps = 0, additions = 0, instances = 40;
        double worst = 0;
        for (int t = 0; t < instances; t++) {
            int n = 3 + rnd.nextInt(8), p = 40 + rnd.nextInt(80);
            Instance in = randomInstance(rnd, n, p, 2 + rnd.nextInt(3), t % 2 == 1);
            // every other instance starts below its budgets, where additions pay
            double shrink = t % 4 < 2 ? 1 : 0.7;
            byte[] start = new FalconSolver(backend).mpMask(in.wbar, in.layers, Math.max(1, (long) (shrink * in.nnz)), shrink * in.flops);
            double q0 = referenceQ(in, referenceSolve(in, toBool(start)));
            try (HostMatrix x = in.matrix()) {
                SwapPolish.Outcome o = SwapPolish.run(backend, x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, start, null, 16);
                if (o.mask() == null) {
                    assertEquals(0, o.swaps() + o.additions());
                    continue;
                }
                try (Backsolve.SupportGram owned = o.gram()) {
                    assertFeasible(in, o.mask());
                    double q1 = referenceQ(in, referenceSolve(in, toBool(o.mask())));
                    assertTrue(q1 < q0, "instance " + t + ": Q " + q0 + " -> " + q1);
                    // predicted from v = X z, a product rounded to float: parts in 1e7 of Q
                    double error = Math.abs((q0 - q1) - o.decrease());
                    worst = Math.max(worst, error / (q0 - q1));
                    assertTrue(error <= 1e-3 * (q0 - q1) + 1e-6 * Math.abs(q0), "instance " + t + ": decrease " + (q0 - q1) + ", predicted " + o.decrease());
                    improved++;
                    swaps += o.swaps();
                    additions += o.additions();
                }
            }
        }
        System.out.printf(Locale.ROOT, "[%s] swap polish from mp: %d/%d instances improved, %d swaps, %d additions, worst |decrease - predicted| / decrease %.2e%n",
                backend.name(), improved, instances, swaps, additions, worst);
        assertTrue(improved >= instances / 2, "improved only " + improved);
        assertTrue(swaps > 0 && additions > 0, "swaps " + swaps + ", additions " + additions);
    }

    /**
     * Each addition of a polish pass tried the removals of every layer (2,000 layers of distinct costs, n = 32: seconds a
     * pass); it now passes over the layers whose cheapest removal, less the most any addition could gain with it, cannot
     * beat the best move found, visiting them cheapest first. That must change nothing: the same moves, passes and
     * decrease as trying every layer in order, ties to the first. Many layers; every third instance with copies of
     * columns (and their weights) in other layers, so that equal moves in two layers are common; every fourth with a
     * tiny lambda, where the solves behind the bound are least accurate.
     */
    @Test
    public void swapPolishPassesOverOnlyLayersThatCannotHoldTheBestMove() {
        SplittableRandom rnd = new SplittableRandom(23);
        int instances = 24, moved = 0;
        for (int t = 0; t < instances; t++) {
            int n = 2 + rnd.nextInt(12), p = 150 + rnd.nextInt(250);
            Instance in = randomInstance(rnd, n, p, 20 + rnd.nextInt(60), t % 2 == 1);
            float[] x = in.x.clone(), wbar = in.wbar.clone(), g = in.g == null ? null : in.g.clone();
            if (t % 3 == 0) {
                for (int j = p / 2; j < p; j++) {
                    if (rnd.nextBoolean()) continue;
                    int from = j - p / 2;
                    System.arraycopy(x, from * n, x, j * n, n);
                    wbar[j] = wbar[from];
                    if (g != null) g[j] = g[from];
                }
            }
            in = new Instance(n, p, x, wbar, g, t % 4 == 3 ? 1e-7 : in.lambda, in.layers, in.nnz, in.flops);
            double shrink = t % 2 == 0 ? 1 : 0.8;
            byte[] start = new FalconSolver(backend).mpMask(in.wbar, in.layers, Math.max(1, (long) (shrink * in.nnz)), shrink * in.flops);
            SwapPolish.Outcome[] outcomes = new SwapPolish.Outcome[2];
            try (HostMatrix xm = in.matrix()) {
                for (int k = 0; k < 2; k++) {
                    outcomes[k] = SwapPolish.run(backend, xm, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, start, null, 16, k == 0);
                    if (outcomes[k].gram() != null) outcomes[k].gram().close();
                }
            }
            String what = "instance " + t + " (n " + n + ", p " + p + ", " + in.layers.size() + " layers, lambda " + in.lambda + ")";
            SwapPolish.Outcome bounded = outcomes[0], everyLayer = outcomes[1];
            assertArrayEquals(everyLayer.mask(), bounded.mask(), what + ": the final support");
            assertEquals(everyLayer.swaps(), bounded.swaps(), what + ": swaps");
            assertEquals(everyLayer.additions(), bounded.additions(), what + ": additions");
            assertEquals(everyLayer.passes(), bounded.passes(), what + ": passes");
            assertEquals(everyLayer.decrease(), bounded.decrease(), what + ": the decrease of Q");
            if (bounded.swaps() + bounded.additions() > 0) moved++;
        }
        System.out.printf(Locale.ROOT, "[%s] swap polish with and without the layer bound: the same moves on %d instances, %d with moves%n",
                backend.name(), instances, moved);
        assertTrue(moved >= instances / 2, "only " + moved + " instances had a move to compare");
    }

    /**
     * A pass that finds nothing to take only moves the polish on to its next stage (swaps of one weight for several, pairs
     * of swaps, moves of up to three in and three out). Counted against the cap, such passes ended it on this instance
     * (n = 24, p = 494, two layers, from mp) just before the stages that still find moves, 7.3e-4 of Q above where a
     * polish without the cap converges.
     */
    @Test
    public void swapPolishPassesThatTakeNoMoveDoNotCountAgainstItsCap() {
        SplittableRandom rnd = new SplittableRandom(11);
        LargerInstances.Case c = null;
        for (int k = 0; k <= 155; k++) c = LargerInstances.randomCase(rnd, k, 8, 40, 60, 800, 2, 8);
        Instance in = c.in();
        byte[] mp = new FalconSolver(backend).mpMask(in.wbar, in.layers, in.nnz, in.flops);
        double[] q = new double[2];
        int[] passes = new int[2];
        int[] caps = {FalconSolver.POLISH_PASSES, 1000};
        try (HostMatrix x = in.matrix()) {
            for (int k = 0; k < 2; k++) {
                SwapPolish.Outcome o = SwapPolish.run(backend, x, in.wbar, in.g, in.lambda, in.layers, in.nnz, in.flops, mp, null, caps[k]);
                assertNotNull(o.mask(), "the polish made no move from mp");
                o.gram().close();
                assertFeasible(in, o.mask());
                q[k] = referenceQ(in, referenceSolve(in, toBool(o.mask())));
                passes[k] = o.passes();
            }
        }
        System.out.printf(Locale.ROOT, "[%s] swap polish from mp, n = %d, p = %d: Q %.9g in %d passes with the cap, %.9g in %d without%n",
                backend.name(), in.n, in.p, q[0], passes[0], q[1], passes[1]);
        assertTrue(passes[1] > FalconSolver.POLISH_PASSES, "the instance no longer needs more passes than the cap: " + passes[1]);
        assertEquals(q[1], q[0], 1e-12 * Math.abs(q[1]), "the cap ended the polish before it converged");
    }

    /**
     * The polish's Grams, their updates and Cholesky factors are n x n doubles, and it tries several supports per pass:
     * each trial allocated a fresh factor on the heap (and each pass its gathered candidates), and the Java heap, and so
     * the RSS, grew with the trials past what the run holds live (resnet20 at n = 3000: 4.4 GB against a plan of 3.9). Its
     * heap allocation is bounded by a few arrays whatever the number of trials: here the gathered candidates and their
     * solves (at most every column, n doubles each) once, plus per pass the candidates' bookkeeping and length-p and
     * length-n vectors (about 110 bytes per weight here).
     */
    @Test
    public void swapPolishAllocatesItsMatricesOnceNotPerTrial() {
        int n = 192, p = 3000;
        java.util.function.LongSupplier allocated = () -> ((com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory
                .getThreadMXBean()).getThreadAllocatedBytes(Thread.currentThread().getId());
        long square = 8L * n * n;
        try (org.bytedeco.javacpp.DoublePointer a = new org.bytedeco.javacpp.DoublePointer((long) n * n);
             org.bytedeco.javacpp.DoublePointer b = new org.bytedeco.javacpp.DoublePointer(n)) {
            Pointer.memset(a, 0, square);
            Pointer.memset(b, 0, 8L * n);
            long kernels = 0;
            // the second time: the first loads and links classes
            for (int time = 0; time < 2; time++) {
                for (int i = 0; i < n; i++) a.put((long) i * n + i, 2.0);
                long before = allocated.getAsLong();
                backend.choleskyFactor(a, n);
                backend.choleskySolve(a, n, b, 1);
                kernels = allocated.getAsLong() - before;
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(kernels < square / 4, "[" + backend.name() + "] its Cholesky kernels"
                    + " allocate " + kernels + " bytes of Java heap per call: the polish's own allocation cannot be told apart");
        }
        SplittableRandom rnd = new SplittableRandom(5);
        int[] sizes = {700, 900, 600, 800};
        LayerTable layers = table(sizes, new double[] {1, 4, 9, 2});
        float[] x = lowRankPlusNoise(rnd, n, p, 40, 0.1);
        float[] wbar = new float[p];
        for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextDouble(-1, 1);
        double lambda = 1e-2, flops = 0.3 * layers.denseFlops();
        Instance in = new Instance(n, p, x, wbar, null, lambda, layers, p, flops);
        byte[] start = new FalconSolver(backend).mpMask(wbar, layers, p, flops);
        try (HostMatrix xm = in.matrix()) {
            // once before, so that what loading and linking the classes allocate is not counted
            try (Backsolve.SupportGram warm = SwapPolish.run(backend, xm, wbar, null, lambda, layers, p, flops, start, null, 1).gram()) {
                assertNotNull(warm, "the first pass found no move");
            }
            long before = allocated.getAsLong();
            SwapPolish.Outcome o = SwapPolish.run(backend, xm, wbar, null, lambda, layers, p, flops, start, null, 16);
            long bytes = allocated.getAsLong() - before;
            if (o.gram() != null) o.gram().close();
            long bound = 2 * 8L * n * p + o.passes() * 200L * p + 4 * square;
            System.out.printf(Locale.ROOT, "[%s] swap polish, n = %d, p = %d: %d passes, %d swaps, %d additions, %.1f MB of heap allocated"
                    + " (%.1f n x n doubles; bound %.1f MB)%n", backend.name(), n, p, o.passes(), o.swaps(), o.additions(), bytes / 1e6,
                    (double) bytes / square, bound / 1e6);
            assertTrue(o.passes() >= 4 && o.swaps() >= 40, "too little search to tell: " + o.passes() + " passes, " + o.swaps() + " swaps");
            assertTrue(bytes < bound, "the polish allocated " + bytes + " bytes of heap (" + (double) bytes / square
                    + " n x n doubles) in " + o.passes() + " passes, above " + bound);
        }
    }

    @Test
    public void lipschitzIsTheLargestEigenvalue() {
        // diagonal X X^T: eigenvalues are the squared column norms of an orthogonal design
        double[] a = {4, 1, 0, 1, 3, 0, 0, 0, 2}; // [[4,1,0],[1,3,0],[0,0,2]]
        double top = (7 + Math.sqrt(5)) / 2;
        assertEquals(top, FisherModel.powerIteration(a, 3), 1e-9);
    }

    @Test
    public void resnet20FalconBeatsBacksolveBeatsMp() {
        ExampleModel model = ExampleModels.get("resnet20");
        LayerTable layers = model.layers();
        int p = (int) layers.parameters();
        double lambda = 1e-3;
        float[] wbar = new float[p];
        try (FloatPointer wp = model.syntheticWeights(0); HostMatrix x = model.syntheticGradients(backend, 32, 0)) {
            wp.get(wbar, 0, p);
            FalconSolver s = new FalconSolver(backend);
            StringBuilder table = new StringBuilder();
            for (double keep : new double[] {0.1, 0.2, 0.3, 0.5}) {
                double flops = keep * layers.denseFlops();
                byte[] mask = s.mpMask(wbar, layers, p, flops);
                float[] mp = Backsolve.solve(backend, x, wbar, null, lambda, mask, Backsolve.Mode.NONE, null, 0, 0);
                float[] bs = Backsolve.solve(backend, x, wbar, null, lambda, mask, Backsolve.Mode.EXACT, null, 0, 0);
                double qMp = FalconSolver.exactQ(backend, x, mp, wbar, null, lambda);
                double qBs = FalconSolver.exactQ(backend, x, bs, wbar, null, lambda);
                long t0 = System.nanoTime();
                FalconSolver.Result r = s.solve(x, wbar, null, lambda, layers, p, flops, mask,
                        SolverOptions.defaults().withMaxIterations(2).withTolerance(1e-4).withMaxRounds(1));
                double secs = (System.nanoTime() - t0) / 1e9;
                assertTrue(r.keptFlops() <= flops * (1 + 1e-12));
                table.append(String.format(Locale.ROOT, "  %3.0f%% FLOPs: Q mp %.6g, mp+BS %.9g, falcon %.9g | BS/mp %.4f, falcon/BS %.7f, falcon/mp %.4f"
                        + " (%d iterations, %.1f s)%n", 100 * keep, qMp, qBs, r.qFinal(), qBs / qMp, r.qFinal() / qBs, r.qFinal() / qMp,
                        r.iterations(), secs));
                assertTrue(qBs < qMp, "mp+BS not below mp at " + keep);
                // On these synthetic gradients (|K| >> n) the backsolve absorbs almost any residual, so Q is dominated by
                // lambda/2 ||wbar off K||^2, which mp already optimises: the margin is parts in 10^4, found by the final
                // swap polish (moves scored in closed form on the n x n system); it must be a strict decrease.
                assertTrue(r.qFinal() < qBs, "falcon not below mp+BS at " + keep + ": " + r.qFinal() + " vs " + qBs);
            }
            System.out.printf(Locale.ROOT, "[%s] resnet20 (n = 32, lambda = %.0e, synthetic data):%n%s", backend.name(), lambda, table);
        }
    }

    /**
     * The solver's scores are z^2 in float, z = w - s grad Q(w), and its warm start's are wbar^2: for weights and g
     * around 1e-26 they square into zeros and a few subnormals, and falcon ended up to 50% higher on supports up to 60
     * weights away. Every other step of a solve is scale-equivariant (X and lambda unchanged, grad, the backsolves and
     * Q scale exactly with the weights), so the same problem scaled by 2^85 must end on the same support with Q 2^170
     * times as large: from mp's support of the scaled problem (the projections alone), and from the solver's own warm
     * start (falcon++'s stages start there).
     */
    @Test
    public void falconOnTinyWeightsEndsWhereTheSameProblemScaledUpEnds() {
        SplittableRandom rnd = new SplittableRandom(20260101);
        List<String> differing = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            Instance in = randomInstance(rnd, 12, 400, 4, t % 2 == 1);
            long nnz = t < 4 ? in.p / 10 : in.p / 2; // an active set below p/4, all coordinates above
            float[] tinyW = new float[in.p], tinyG = in.g == null ? null : new float[in.p];
            for (int j = 0; j < in.p; j++) {
                tinyW[j] = Math.scalb(in.wbar[j], -85);
                if (tinyG != null) tinyG[j] = Math.scalb(in.g[j], -85);
            }
            byte[] mp = new FalconSolver(backend).mpMask(in.wbar, in.layers, nnz, in.flops);
            for (byte[] start : new byte[][] {mp, null}) {
                try (HostMatrix x = in.matrix()) {
                    FalconSolver.Result big = new FalconSolver(backend).solve(x, in.wbar, in.g, in.lambda, in.layers, nnz, in.flops, start, SolverOptions.defaults());
                    FalconSolver.Result small = new FalconSolver(backend).solve(x, tinyW, tinyG, in.lambda, in.layers, nnz, in.flops, start, SolverOptions.defaults());
                    double qSmall = Math.scalb(small.qFinal(), 170);
                    int apart = 0;
                    for (int j = 0; j < in.p; j++) if (big.mask()[j] != small.mask()[j]) apart++;
                    if (apart > 0 || Math.abs(qSmall - big.qFinal()) > 1e-6 * Math.abs(big.qFinal())) {
                        differing.add(String.format(Locale.ROOT, "instance %d from %s: %d weights apart, Q %.9g scaled vs %.9g", t,
                                start == null ? "its own warm start" : "mp's support", apart, qSmall, big.qFinal()));
                    }
                }
            }
        }
        assertEquals(List.of(), differing);
    }

    /**
     * A long run (an embedder pruning model after model, falcon++ with new gradients every stage) must not grow: every
     * off-heap allocation a run makes is freed when the run's objects are closed, not whenever the garbage collector
     * gets to it. Counted by JavaCPP for vectors and by HostMatrix for X (malloc'd or mapped, outside JavaCPP's
     * accounting). A vector dropped unclosed is freed by JavaCPP's collector as soon as a GC runs during the run, and
     * is then not counted here: the cpu module's PointerOwnershipTest watches the collector itself.
     */
    @Test
    public void repeatedRunsFreeEveryOffHeapAllocation() throws InterruptedException {
        Runnable run = () -> runEveryPath(backend);
        run.run(); // first use may create lasting state (loaded libraries, cached tables)
        // Pointers that earlier tests dropped without closing are freed by JavaCPP's collector thread whenever a GC
        // runs; let that happen now, not while this run is counted.
        long settled = -1;
        for (int i = 0; i < 40 && Pointer.totalCount() != settled; i++) {
            settled = Pointer.totalCount();
            System.gc();
            Thread.sleep(50);
        }
        long vectors = Pointer.totalCount(), vectorBytes = Pointer.totalBytes();
        long matrices = HostMatrix.openOwnedCount(), matrixBytes = HostMatrix.openOwnedBytes();
        run.run();
        assertEquals(vectors, Pointer.totalCount(), "JavaCPP allocations left open (" + (Pointer.totalBytes() - vectorBytes) + " bytes)");
        assertEquals(vectorBytes, Pointer.totalBytes(), "JavaCPP bytes left allocated");
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + (HostMatrix.openOwnedBytes() - matrixBytes) + " bytes)");
        assertEquals(matrixBytes, HostMatrix.openOwnedBytes(), "matrix bytes left allocated");
    }

    /**
     * A prune stopped half way (interrupted, or X closed by another thread: the next backend call throws) frees what its
     * solve holds, as a finished one does. The Grams of the searches' candidates and of a backsolved round candidate were
     * left to the garbage collector when the exception passed them: n x n doubles each, 128 MB at n = 4000, held for as
     * long as no collection ran. Every seventh call of the whole run fails in turn (every one: 50 s on the java backend).
     */
    @Test
    public void aPruneStoppedByAFailingCallFreesEveryOffHeapAllocation() throws InterruptedException {
        Instance in = randomInstance(new SplittableRandom(3), 4, 24, 3, true);
        FailingBackend failing = new FailingBackend(backend);
        Budgets budgets = new Budgets(in.nnz(), in.flops(), in.p(), in.layers().denseFlops(), "test", "test");
        try (HostMatrix x = in.matrix(); FloatPointer w = new FloatPointer(in.wbar()); FloatPointer g = new FloatPointer(in.g());
             Pruner pruner = new Pruner(failing)) {
            Pruner.SolverInputs inputs = new Pruner.SolverInputs(x, g, in.lambda(), SolverOptions.defaults(), null);
            failing.failAt(Long.MAX_VALUE);
            pruner.prune(Method.FALCON, w, in.layers(), budgets, inputs).close();
            long calls = failing.calls();
            // pointers dropped by earlier tests are freed whenever a GC runs: before the counting, not during it
            long settled = -1;
            for (int i = 0; i < 40 && Pointer.totalCount() != settled; i++) {
                settled = Pointer.totalCount();
                System.gc();
                Thread.sleep(50);
            }
            List<String> left = new ArrayList<>();
            for (long k = 1; k <= calls; k += 7) {
                long vectors = Pointer.totalCount(), bytes = Pointer.totalBytes(), matrices = HostMatrix.openOwnedCount();
                failing.failAt(k);
                try (PruneResult r = pruner.prune(Method.FALCON, w, in.layers(), budgets, inputs)) {
                    throw new AssertionError("the prune made only " + failing.calls() + " calls, not " + calls);
                } catch (IllegalStateException expected) {
                    assertNotNull(failing.failed(), expected.getMessage());
                }
                // only more: a collection may free what an earlier failure left
                if (Pointer.totalCount() > vectors || HostMatrix.openOwnedCount() > matrices) {
                    left.add("call " + k + " (" + failing.failed() + "): " + (Pointer.totalCount() - vectors) + " JavaCPP allocations ("
                            + (Pointer.totalBytes() - bytes) + " bytes) and " + (HostMatrix.openOwnedCount() - matrices) + " matrices left open");
                }
            }
            System.out.printf(Locale.ROOT, "[%s] a prune of %d backend calls stopped at every seventh: %d stops left memory open%n",
                    backend.name(), calls, left.size());
            assertEquals(List.of(), left.subList(0, Math.min(left.size(), 10)), left.size() + " of the stops left memory open");
        }
    }

    /**
     * Every path a run can take (falcon with each Hessian model, mp with each backsolve, sweeps, falcon++ with fresh
     * gradients per stage) on resnet20 at n = 8, every object closed: what the ownership tests count.
     */
    public static void runEveryPath(ComputeBackend backend) {
        ExampleModel model = ExampleModels.get("resnet20");
        LayerTable layers = model.layers();
        Budgets budgets = Budgets.resolve(layers, 0.3, null, 0.5, null, null);
        SolverOptions quick = SolverOptions.defaults().withMaxIterations(1).withTolerance(1e-4).withMaxRounds(1).withSwapCandidates(1);
        try (FloatPointer w = model.syntheticWeights(0); HostMatrix x = model.syntheticGradients(backend, 8, 0);
             Pruner pruner = new Pruner(backend)) {
            for (SolverOptions.HessianModel hessian : SolverOptions.HessianModel.values()) {
                pruner.prune(Method.FALCON, w, layers, budgets, new Pruner.SolverInputs(x, null, 1e-3, quick.withHessian(hessian), null)).close();
            }
            for (Backsolve.Mode mode : List.of(Backsolve.Mode.NONE, Backsolve.Mode.EXACT, Backsolve.Mode.BLOCK)) {
                pruner.prune(Method.MP, w, layers, budgets, new Pruner.SolverInputs(x, null, 1e-3, mode == Backsolve.Mode.NONE ? null : quick, mode)).close();
            }
            // sweeps directly, two of them: the CLI's 100 would only repeat the same allocations
            float[] wbar = new float[(int) layers.parameters()];
            w.get(wbar);
            byte[] support = new FalconSolver(backend).mpMask(wbar, layers, budgets.nnz(), budgets.flops());
            Backsolve.sweep(backend, x, wbar, null, 1e-3, support, Backsolve.blockStarts(layers, SolverOptions.DEFAULT_BLOCK_SIZE), null, 2, 0,
                    new ArrayList<>());
            // falcon++ with fresh gradients every stage, each X closed when the next one arrives
            MultiStage.GradientSource perStage = new MultiStage.GradientSource() {
                private HostMatrix current;

                @Override
                public HostMatrix gradients(int stage, float[] weights) {
                    close();
                    current = model.syntheticGradients(backend, 8, 100 + stage);
                    return current;
                }

                @Override
                public void close() {
                    if (current != null) current.close();
                    current = null;
                }
            };
            try (perStage) {
                Pruner.StagePlan plan = new Pruner.StagePlan(2, MultiStage.Schedule.POLY, 1.0, 1.0, perStage);
                pruner.prune(Method.FALCON_PLUS_PLUS, w, layers, budgets, new Pruner.SolverInputs(null, null, 1e-3, quick, null, plan)).close();
            }
        }
    }

    protected static void assertClose(double[] expected, float[] actual, double rel, String label) {
        double num = 0, den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = expected[i] - actual[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        double err = Math.sqrt(num / Math.max(den, 1e-300));
        assertTrue(err <= rel, label + ": relative error " + err + " > " + rel);
    }

    /**
     * rev-math31's case (n = 4, p = 13, --linear-term, lambda 0.3; w the falcon result of its run): the residuals X(w - wbar)
     * were rounded to float before they were squared, so the fit term was 9e-8 off and Q, where the ridge and linear terms
     * cancel all but 1/1000 of it, 1.1e-4 of itself. The reference sums X(w - wbar) and its squares exactly (BigDecimal).
     */
    @Test
    public void objectiveKeepsTheResidualsInDoubleWhereTheTermsCancel() {
        int n = 4, p = 13;
        float[] x = { // column-major, numpy default_rng(1)'s standard_normal((4, 13)) as float32
                0.3455841839313507f, -0.16290995478630066f, -0.17477209866046906f, 0.10901408642530441f, 0.8216181397438049f,
                -0.4821193218231201f, -0.422190397977829f, -1.2273520231246948f, 0.3304370641708374f, 0.5988461971282959f,
                0.21364299952983856f, -0.6832266449928284f, -1.3031572103500366f, 0.03972210735082626f, 0.21732193231582642f,
                -0.07204367965459824f, 0.9053558707237244f, -0.2924567461013794f, 2.1178388595581055f, -0.9447516202926636f,
                0.4463745653629303f, -0.7819084525108337f, -1.11202073097229f, -0.09826996922492981f, -0.5369532108306885f,
                -0.2571922540664673f, -0.37760502099990845f, 0.09548302739858627f, 0.581118106842041f, 0.008142180740833282f,
                2.042771577835083f, 0.03558623790740967f, 0.3645724058151245f, -0.27560290694236755f, 0.6467030048370361f,
                -0.5062916874885559f, 0.2941325008869171f, 1.2940638065338135f, 0.6630633473396301f, 0.5937480926513672f,
                0.028422242030501366f, 1.0067243576049805f, -0.5140063762664795f, 0.8911669254302979f, 0.5467129945755005f,
                -2.711162567138672f, -1.6480752229690552f, 0.3208483159542084f, -0.7364540696144104f, -1.8890132904052734f,
                0.1674647480249405f, -0.8182302117347717f};
        float[] wbar = {0.7316522598266602f, -0.5014400482177734f, 0.8791606426239014f, -1.0717873573303223f, 0.9144672155380249f,
                -0.020063454285264015f, -1.2487488985061646f, -0.3138994574546814f, 0.054102279245853424f, 0.27279132604599f,
                -0.9821881055831909f, -1.1073729991912842f, 0.19958452880382538f};
        float[] g = {-0.14002488553524017f, 0.07065168023109436f, 0.2278558611869812f, -0.494636207818985f, 0.07631643861532211f,
                0.3673940896987915f, -0.08925805240869522f, -0.24324437975883484f, 0.2256731539964676f, 0.07603395730257034f,
                0.2687649130821228f, -0.10356470942497253f, -0.4445454776287079f};
        float[] w = {1.724136471748352f, 0f, 0f, 0f, 0.8146046996116638f, 0f, -1.8716284036636353f, 0f, 0f, 0f,
                -0.9068628549575806f, -1.2275893688201904f, 0f};
        double lambda = 0.3;
        BigDecimal fit = BigDecimal.ZERO, sqDist = BigDecimal.ZERO, linear = BigDecimal.ZERO;
        for (int j = 0; j < p; j++) {
            BigDecimal d = new BigDecimal(w[j]).subtract(new BigDecimal(wbar[j]));
            sqDist = sqDist.add(d.multiply(d));
            linear = linear.add(new BigDecimal(g[j]).multiply(d));
        }
        for (int i = 0; i < n; i++) {
            BigDecimal r = BigDecimal.ZERO;
            for (int j = 0; j < p; j++) {
                r = r.add(new BigDecimal(x[j * n + i]).multiply(new BigDecimal(w[j]).subtract(new BigDecimal(wbar[j]))));
            }
            fit = fit.add(r.multiply(r));
        }
        double fitWant = fit.doubleValue() / 2;
        double qWant = fit.divide(BigDecimal.valueOf(2)).add(sqDist.multiply(new BigDecimal(lambda / 2)))
                .add(linear).doubleValue();
        Instance in = new Instance(n, p, x, wbar, g, lambda, table(new int[] {5, 4, 4}, new double[] {3, 2, 1}), p, 1);
        try (HostMatrix xm = in.matrix(); FloatPointer wp = new FloatPointer(w); FloatPointer wbarp = new FloatPointer(wbar);
             FloatPointer gp = new FloatPointer(g)) {
            Objective.Value value = Objective.evaluate(backend, xm, wp, wbarp, gp, lambda);
            // the terms are about 0.2, 0.57 and -0.77; Q about 1.6e-4: their sum in double is good to a few 1e-16 of them
            double termScale = Math.abs(value.fit()) + Math.abs(value.ridgeTerm()) + Math.abs(value.linear());
            assertEquals(fitWant, value.fit(), 1e-14 * fitWant, backend.name() + ": the fit term 1/2 ||X(w - wbar)||^2");
            assertEquals(qWant, value.q(), 1e-14 * termScale, backend.name() + ": Q, where its terms cancel to 1/1000 of them");
        }
    }

    /**
     * The solver's Q is the report's objective of the same weights (review rev-num33, finding 2): the last log row and
     * qFinal are the Q the solve kept its best point by. It squared X(w - wbar) rounded to float32 (and, on cpu, summed in
     * float), against the report's double sums: at lambda = 1e-12 the last row was 1.1% above the objective, with an X
     * near float16's 65504 8% above it, at lambda = 1e-45 3x below. n = 16, p = 600 in layers of 300/200/100 weights at
     * 9/3/1 FLOPs, 30% of the dense FLOPs, as the review's repro.
     */
    @Test
    public void theLogsLastQAndQFinalAreTheObjectiveOfTheWeights() {
        int n = 16, p = 600;
        LayerTable layers = table(new int[] {300, 200, 100}, new double[] {9, 3, 1});
        SplittableRandom rnd = new SplittableRandom(33);
        float[] wbar = new float[p], unit = new float[n * p], large = new float[n * p];
        for (int j = 0; j < p; j++) wbar[j] = (float) rnd.nextGaussian();
        for (int k = 0; k < n * p; k++) {
            unit[k] = (float) rnd.nextGaussian();
            large[k] = rnd.nextBoolean() ? 64992f : -64992f; // 65000 as float16 holds it
        }
        record Case(String what, float[] x, double lambda) {}
        StringBuilder wrong = new StringBuilder();
        for (Case c : List.of(new Case("unit X, lambda 1e-12", unit, 1e-12), new Case("X near 65504, lambda 1e-3", large, 1e-3),
                new Case("unit X, lambda 1e-45", unit, 1e-45))) {
            Instance in = new Instance(n, p, c.x(), wbar, null, c.lambda(), layers, p, 0.3 * layers.denseFlops());
            try (HostMatrix x = in.matrix(); FloatPointer wbarp = new FloatPointer(wbar)) {
                FalconSolver.Result r = new FalconSolver(backend).solve(x, wbar, null, in.lambda, layers, in.nnz, in.flops, null,
                        SolverOptions.defaults());
                double objective;
                try (FloatPointer wp = new FloatPointer(r.weights())) {
                    objective = Objective.evaluate(backend, x, wp, wbarp, null, in.lambda).q();
                }
                double last = r.log().get(r.log().size() - 1).q();
                String[] names = {"last log row", "qFinal"};
                double[] qs = {last, r.qFinal()};
                for (int k = 0; k < qs.length; k++) {
                    if (!(Math.abs(qs[k] - objective) <= 1e-6 * objective)) {
                        wrong.append(String.format(Locale.ROOT, "%n  %s: %s %.10g, the objective of its weights %.10g (%.3g relative)", c.what(),
                                names[k], qs[k], objective, qs[k] / objective - 1));
                    }
                }
            }
        }
        assertTrue(wrong.length() == 0, backend.name() + ": the solver's Q is not the objective of its weights:" + wrong);
    }
}
