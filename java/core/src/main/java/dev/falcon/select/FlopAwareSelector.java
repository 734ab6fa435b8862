package dev.falcon.select;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.VectorLoops;
import dev.falcon.model.LayerTable;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * FLOP-aware selection: {@code max sum_i I_i s_i  s.t.  sum s_i <= S,  sum f_i s_i <= F,  s in {0,1}^p} with f
 * constant per layer.
 *
 * <p>Each layer is sorted once through {@link ComputeBackend#sortSegmentsDescending} (values and prefix sums; no
 * indices: the mask is drawn from the scores with each layer's threshold, ties to the lower index). The LP dual {@code D(mu) = F mu + min_{omega >= 0} [S omega + sum_i (I_i - omega - mu f_i)_+]} is
 * evaluated in O(L log p) per (mu, omega) trial through {@link ComputeBackend#countAbove} and the prefix sums:
 * omega(mu) is found by bisection on its value (counts of {@code I > omega + mu f_l} per layer), stopping as soon as
 * exactly S items lie above. D is convex piecewise-linear in mu; it is minimised by a bracketing cutting-plane method
 * (intersection of the supporting lines at both bracket ends, with bisection safeguard) driven by exact one-sided
 * subgradients {@code F - flops(top set)}, which stops at a breakpoint whose subdifferential holds 0 or when the
 * cutting-plane lower bound meets the best value.
 *
 * <p>Every selection considered keeps a prefix of each sorted layer (any better item of the same layer costs the
 * same), so candidates are count vectors k_l: LP rounding at mu* (reduced-score order, merged lazily over the L layer
 * heads) followed by a greedy fill by score or by density, the two plain greedy orders (score, density), each then
 * improved by exchange moves between layers. The best candidate is returned; it is never worse than either greedy
 * order. Deterministic: ties go to the lower original index.
 *
 * <p>A selector keeps its sort buffers between calls (freed by {@link #close()}), so it is not thread-safe: use one
 * per thread.
 */
public final class FlopAwareSelector implements AutoCloseable {
    private static final int MAX_DUAL_ITERATIONS = 200;
    private static final int MAX_OMEGA_ITERATIONS = 200;
    private static final int MAX_IMPROVE_PASSES = 2000;
    private static final int GREEDY_IMPROVE_PASSES = 64;

    private static final System.Logger LOG = System.getLogger(FlopAwareSelector.class.getName());

    private final ComputeBackend backend;
    private boolean closed;
    // Kept across calls: DFO projects every iteration, and fresh 12 B/weight buffers would cost page
    // faults on every call (about 300 MB at p = 25.5M).
    private FloatPointer sorted;
    private DoublePointer prefix;
    private long capacity;
    private FloatPointer grouped; // the scores in cost order, for tables whose layers are selected by cost
    private long groupedCapacity;

    public FlopAwareSelector(ComputeBackend backend) {
        if (backend == null) throw new IllegalArgumentException("backend is null");
        this.backend = backend;
    }

    /**
     * Above this many layers, layers of equal FLOP cost are selected as one: the walk and the exchange moves grow with
     * the square of the layer count, and per-weight costs whose runs interleave (a padded conv's corner, edge and centre
     * taps) made thousands of one-weight "layers": 8,193 of them took 39 s for p = 9,216. Equal costs are
     * interchangeable, so the merged problem is the same problem, and its best prefix per cost dominates any prefix per
     * layer. Below it tables are selected layer by layer, as they always were.
     */
    static final int MERGE_ABOVE_LAYERS = 64;

    /**
     * The Java heap a selection over {@code layers} holds at its peak, in bytes per weight: its mask is a byte[p] on the
     * heap whatever the backend, and where layers of equal cost are selected as one ({@link #MERGE_ABOVE_LAYERS}) the
     * mask in cost order and the one scattered back from it are live together. For a memory plan, which must count them:
     * at p = 25.5 million the mask alone is 24 MiB, more than a 16m heap holds.
     */
    public static int heapBytesPerWeight(LayerTable layers) {
        return layers.size() > MERGE_ABOVE_LAYERS && CostClasses.of(layers.segmentStarts(), layers.flopsPerWeight()) != null ? 2 : 1;
    }

    /** The most weights a selection takes, 2^31 - 9: its buffers are Java arrays, indexed by int (a limit of falcon, not of memory). */
    public static final long MAX_WEIGHTS = Integer.MAX_VALUE - 8;

    /** scores >= 0 finite, length p = layers.parameters(); nnzBudget in [0,p] (larger is clamped to p), flopBudget >= 0. */
    public Selection select(FloatPointer scores, LayerTable layers, long nnzBudget, double flopBudget) {
        if (closed) throw new IllegalStateException("selector is closed");
        long start = System.nanoTime();
        long p = layers.parameters();
        if (p > MAX_WEIGHTS) throw new IllegalArgumentException("p = " + p + " exceeds 2^31 - 9 weights");
        if (nnzBudget < 0) throw new IllegalArgumentException("nnz budget " + nnzBudget + " is negative");
        if (!(flopBudget >= 0)) {
            throw new IllegalArgumentException("FLOP budget " + flopBudget + " must be >= 0");
        }
        if (scores == null || scores.isNull()) throw new IllegalArgumentException("scores is null");
        int n = (int) p;
        long[] starts = layers.segmentStarts();
        double[] f = layers.flopsPerWeight();
        if (nothingMayBeKept(n, nnzBudget, flopBudget)) {
            // the empty support is the only one, and 0 bounds every selection exactly: the dual's bracketing stopped
            // short of 0 (a bound of 2.5e-79 and a relative gap of 1 for --flops 0)
            return Selection.empty(p, layers.size(), (System.nanoTime() - start) * 1e-9);
        }
        CostClasses classes = layers.size() > MERGE_ABOVE_LAYERS ? CostClasses.of(starts, f) : null;
        ensureCapacity(n);
        if (classes == null) {
            return selectOn(scores, starts, f, layers.denseFlops(), n, nnzBudget, flopBudget, start);
        }
        // kept between calls, as the sort buffers are: DFO projects every iteration
        if (grouped == null || groupedCapacity < n) {
            if (grouped != null) grouped.close();
            grouped = new FloatPointer(n);
            groupedCapacity = n;
        }
        {
            classes.gather(scores, grouped);
            Selection merged = selectOn(grouped, classes.starts, classes.f, classes.denseFlops(), n, nnzBudget, flopBudget, start);
            try (merged) {
                byte[] mask = classes.scatter(merged.maskBytes());
                return new Selection(mask, p, merged.kept(), merged.keptFlops(), layers.keptPerLayer(mask), merged.primalValue(), merged.dualBound(),
                        merged.mu(), merged.omega(), merged.dualEvaluations(), (System.nanoTime() - start) * 1e-9,
                        merged.phases() + " (" + layers.size() + " layers as " + classes.f.length + " FLOP costs)");
            }
        }
    }

    private Selection selectOn(FloatPointer scores, long[] starts, double[] f, double denseFlops, int p, long nnzBudget, double flopBudget,
                               long start) {
        backend.sortSegmentsDescending(scores, starts, sorted, null, prefix);
        long sortedAt = System.nanoTime();
        // Every count vector within the dense model fits a budget at or above its FLOPs (same summation order).
        double budgetF = Math.min(flopBudget, denseFlops);
        Problem problem = new Problem(backend, sorted, prefix, starts, f, Math.min(nnzBudget, p), budgetF);
        Dual dual = problem.solveDual();
        long dualAt = System.nanoTime();
        long[] k = problem.round(dual.best);
        long roundedAt = System.nanoTime();
        byte[] mask = problem.mask(k, scores);
        long end = System.nanoTime();
        double seconds = (end - start) * 1e-9;
        String phases = String.format(java.util.Locale.ROOT, "sort %.3f s, dual %.3f s (%d evaluations), rounding %.3f s, mask %.3f s",
                (sortedAt - start) * 1e-9, (dualAt - sortedAt) * 1e-9, dual.evaluations, (roundedAt - dualAt) * 1e-9,
                (end - roundedAt) * 1e-9);
        LOG.log(System.Logger.Level.DEBUG, () -> "select p=" + p + " on " + backend.name() + ": " + phases);
        long kept = 0;
        for (long c : k) kept += c;
        return new Selection(mask, p, kept, problem.flopsOf(k), k, problem.valueOf(k), dual.best.value,
                dual.best.mu, dual.best.omega, dual.evaluations, seconds, phases);
    }

    /**
     * Whether a budget is 0 (no weight, or no FLOP): then not even a fraction of a weight may be kept, so the LP's
     * optimum is 0 as well as every selection's. A FLOP budget below the cheapest weight keeps no weight either, but its
     * LP takes a fraction of one, and the bound stays the LP's.
     */
    private static boolean nothingMayBeKept(int p, long nnzBudget, double flopBudget) {
        return Math.min(nnzBudget, p) == 0 || flopBudget == 0;
    }

    /**
     * Layers grouped by FLOP cost: class c holds the layers of its cost in index order, laid end to end, so that within
     * a class a lower position is a lower original index (ties still go to the lower index).
     */
    static final class CostClasses {
        final long[] starts;        // class c is [starts[c], starts[c+1]) of the grouped order
        final double[] f;           // cost of class c
        final int[] layerOrder;     // the layers in grouped order
        final long[] layerStarts;   // the original starts

        private CostClasses(long[] starts, double[] f, int[] layerOrder, long[] layerStarts) {
            this.starts = starts;
            this.f = f;
            this.layerOrder = layerOrder;
            this.layerStarts = layerStarts;
        }

        /** The classes of a table, or null when no two layers share a cost (nothing to merge). */
        static CostClasses of(long[] layerStarts, double[] f) {
            java.util.LinkedHashMap<Double, java.util.List<Integer>> byCost = new java.util.LinkedHashMap<>();
            for (int l = 0; l < f.length; l++) byCost.computeIfAbsent(f[l], c -> new java.util.ArrayList<>()).add(l);
            if (byCost.size() == f.length) return null;
            long[] starts = new long[byCost.size() + 1];
            double[] costs = new double[byCost.size()];
            int[] order = new int[f.length];
            int c = 0, at = 0;
            long offset = 0;
            for (java.util.Map.Entry<Double, java.util.List<Integer>> e : byCost.entrySet()) {
                starts[c] = offset;
                costs[c++] = e.getKey();
                for (int l : e.getValue()) {
                    order[at++] = l;
                    offset += layerStarts[l + 1] - layerStarts[l];
                }
            }
            starts[c] = offset;
            return new CostClasses(starts, costs, order, layerStarts);
        }

        /** Dense FLOPs summed by class, the order the merged problem judges feasibility in. */
        double denseFlops() {
            double total = 0;
            for (int c = 0; c < f.length; c++) total += (starts[c + 1] - starts[c]) * f[c];
            return total;
        }

        /** Copies the scores (from their position, where the sort reads them) into grouped order, a bulk copy per layer. */
        void gather(FloatPointer scores, FloatPointer grouped) {
            int p = (int) layerStarts[layerStarts.length - 1];
            FloatBuffer from = new FloatPointer(scores).limit(scores.position() + p).asBuffer();
            FloatBuffer to = new FloatPointer(grouped).position(0).limit(p).asBuffer();
            int at = 0;
            for (int l : layerOrder) {
                int length = (int) (layerStarts[l + 1] - layerStarts[l]);
                to.put(at, from, (int) layerStarts[l], length);
                at += length;
            }
        }

        /** A grouped-order mask put back in the original order. */
        byte[] scatter(byte[] grouped) {
            byte[] mask = new byte[grouped.length];
            int from = 0;
            for (int l : layerOrder) {
                int length = (int) (layerStarts[l + 1] - layerStarts[l]);
                System.arraycopy(grouped, from, mask, (int) layerStarts[l], length);
                from += length;
            }
            return mask;
        }
    }

    private void ensureCapacity(long p) {
        if (p <= capacity) return;
        releaseScratch();
        sorted = new FloatPointer(p);
        prefix = new DoublePointer(p);
        capacity = p;
    }

    private void releaseScratch() {
        if (sorted != null) sorted.close();
        if (prefix != null) prefix.close();
        if (grouped != null) grouped.close();
        sorted = null;
        prefix = null;
        grouped = null;
        capacity = 0;
        groupedCapacity = 0;
    }

    /** Frees the scratch buffers; the backend belongs to the caller. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        releaseScratch();
    }

    // ======================================================================== evaluation of the dual

    /**
     * One evaluation of the dual at mu, with omega(mu), the counts above it, one-sided subgradients and the values at
     * mu = 0 of the supporting lines they give.
     */
    static final class Eval {
        double mu, omega, value, slopeLeft, slopeRight, interceptLeft, interceptRight;
        long[] above; // per layer: items with I > omega + mu f_l
    }

    record Dual(Eval best, int evaluations) {}

    static final class Problem {
        final ComputeBackend backend;
        final FloatPointer sortedPointer;
        final FloatBuffer v;
        final DoubleBuffer pre;
        final long[] starts;
        final int[] s;   // layer starts as int
        final int[] len; // layer sizes
        final double[] f;
        final int layers;
        final int p;
        final long budgetN;
        final double budgetF;
        final int[] byFlopsAscending;
        final double cheapestCost;
        final double[] thresholds;
        final long[] counts;
        int evaluations;

        Problem(ComputeBackend backend, FloatPointer sorted, DoublePointer prefix, long[] starts,
                double[] f, long budgetN, double budgetF) {
            this.backend = backend;
            this.sortedPointer = sorted;
            this.layers = f.length;
            this.p = (int) starts[layers];
            // views through copies of the pointers: the selector's sort buffers are kept between calls, and a limit set on
            // them here was the next, larger selection's "sortedOut holds 90 elements but 300 are needed"
            this.v = new FloatPointer(sorted).position(0).limit(p).asBuffer();
            this.pre = new DoublePointer(prefix).position(0).limit(p).asBuffer();
            this.starts = starts;
            this.s = new int[layers + 1];
            this.len = new int[layers];
            for (int l = 0; l <= layers; l++) s[l] = (int) starts[l];
            for (int l = 0; l < layers; l++) len[l] = s[l + 1] - s[l];
            this.f = f;
            this.budgetN = budgetN;
            this.budgetF = budgetF;
            this.byFlopsAscending = orderByFlops(f);
            this.cheapestCost = layers == 0 ? Double.POSITIVE_INFINITY : f[byFlopsAscending[0]];
            this.thresholds = new double[layers];
            this.counts = new long[layers];
        }

        static int[] orderByFlops(double[] f) {
            int[] order = new int[f.length];
            for (int i = 0; i < f.length; i++) order[i] = i;
            sortIndices(order, f.length, (a, b) -> Double.compare(f[a], f[b]));
            return order;
        }

        /** Sorts indices[0..count) by {@code order}, ties to the lower index. */
        static void sortIndices(int[] indices, int count, java.util.Comparator<Integer> order) {
            Integer[] boxed = new Integer[count];
            for (int i = 0; i < count; i++) boxed[i] = indices[i];
            Arrays.sort(boxed, order.thenComparing(Integer::compare));
            for (int i = 0; i < count; i++) indices[i] = boxed[i];
        }

        /** Sum of the first k values of layer l. */
        double prefixSum(int l, long k) {
            return k == 0 ? 0.0 : pre.get(s[l] + (int) k - 1);
        }

        float value(int l, long k) {
            return v.get(s[l] + (int) k);
        }

        double valueOf(long[] k) {
            double total = 0;
            for (int l = 0; l < layers; l++) total += prefixSum(l, k[l]);
            return total;
        }

        /** The FLOPs of a count vector, always computed this one way (layer order) so feasibility is exact. */
        double flopsOf(long[] k) {
            double total = 0;
            for (int l = 0; l < layers; l++) total += k[l] * f[l];
            return total;
        }

        long nnzOf(long[] k) {
            long total = 0;
            for (long c : k) total += c;
            return total;
        }

        boolean feasible(long[] k) {
            return nnzOf(k) <= budgetN && flopsOf(k) <= budgetF;
        }

        double maxValue() {
            double m = 0;
            for (int l = 0; l < layers; l++) m = Math.max(m, v.get(s[l]));
            return m;
        }

        /** Items with I > t + mu f_l per layer into out; returns the total. One backend call. */
        long countAbove(double t, double mu, double shift, long[] out) {
            for (int l = 0; l < layers; l++) {
                double thr = t + mu * f[l];
                thresholds[l] = shift < 0 ? Math.nextDown(thr) : thr;
            }
            backend.countAbove(sortedPointer, starts, thresholds, out);
            long total = 0;
            for (int l = 0; l < layers; l++) total += out[l];
            return total;
        }

        /** D(mu) with the best omega, the counts above omega and one-sided subgradients. O(L log p) per count. */
        Eval evaluate(double mu) {
            evaluations++;
            Eval e = new Eval();
            e.mu = mu;
            long[] above = new long[layers];
            long[] lower = new long[layers]; // counts at a threshold with at least S above (ties between)
            long extra; // items still to take from the tie band (lower - above)
            long c0 = countAbove(0, mu, 0, above);
            double omega;
            if (c0 <= budgetN) {
                omega = 0;
                extra = budgetN - c0;
                if (extra > 0) countAbove(0, mu, -1, lower); else System.arraycopy(above, 0, lower, 0, layers);
            } else {
                double lo = 0, hi = maxValue();
                long[] hiCounts = new long[layers]; // all zero: nothing lies above the largest value
                long[] loCounts = above.clone();
                long[] mid = new long[layers];
                boolean exact = false;
                for (int it = 0; it < MAX_OMEGA_ITERATIONS; it++) {
                    double m = lo + 0.5 * (hi - lo);
                    if (!(m > lo && m < hi) || hi - lo <= 0x1p-50 * hi) break;
                    long c = countAbove(m, mu, 0, mid);
                    if (c == budgetN) {
                        lo = hi = m;
                        System.arraycopy(mid, 0, hiCounts, 0, layers);
                        System.arraycopy(mid, 0, loCounts, 0, layers);
                        exact = true;
                        break;
                    }
                    if (c > budgetN) { lo = m; System.arraycopy(mid, 0, loCounts, 0, layers); }
                    else { hi = m; System.arraycopy(mid, 0, hiCounts, 0, layers); }
                }
                omega = hi;
                above = hiCounts;
                lower = loCounts;
                long c = 0;
                for (long x : above) c += x;
                extra = exact ? 0 : budgetN - c;
            }
            double value = budgetN * omega + budgetF * mu;
            double intercept = budgetN * omega;
            double flops = 0;
            for (int l = 0; l < layers; l++) {
                long c = above[l];
                if (c > 0) {
                    value += prefixSum(l, c) - c * (omega + mu * f[l]);
                    intercept += prefixSum(l, c) - c * omega;
                }
                flops += c * f[l];
            }
            // ties: any 'extra' items of the band between 'above' and 'lower' complete a maximising set
            double minTie = 0, maxTie = 0;
            long left = extra;
            for (int i = 0; i < layers && left > 0; i++) {
                int l = byFlopsAscending[i];
                long take = Math.min(left, lower[l] - above[l]);
                minTie += take * f[l];
                left -= take;
            }
            left = extra;
            for (int i = layers - 1; i >= 0 && left > 0; i--) {
                int l = byFlopsAscending[i];
                long take = Math.min(left, lower[l] - above[l]);
                maxTie += take * f[l];
                left -= take;
            }
            if (omega == 0) minTie = 0; // items of reduced score 0 need not be taken
            e.omega = omega;
            e.value = value;
            e.above = above;
            e.slopeRight = budgetF - flops - minTie;
            e.slopeLeft = budgetF - flops - maxTie;
            // summed without the mu terms, which cancel: value - slope * mu subtracts two numbers as large as F mu,
            // and with costs 1e306 and 3 the bracket's upper end has F mu near 1e308 (or past it), so the difference
            // kept nothing of the scores and the cutting plane stopped at mu = 0 with a 12% gap
            e.interceptRight = intercept + mu * minTie;
            e.interceptLeft = intercept + mu * maxTie;
            return e;
        }

        /**
         * A mu at which D rises (or is flat) to its left: (2 vmax + 1) / c leaves no item of a layer of cost c or more
         * above omega, so only the layers cheaper than c can be, and their FLOPs are within the budget. c is the cheapest
         * cost where that quotient is finite: a subnormal cost (5e-324) made it infinite, the bracketing stopped at
         * mu = 0 and the bound was the sum of every score (30 against the LP's 10.6); layers as cheap as that are passed
         * over while all their weights fit the FLOP budget.
         */
        double upperBracket(double vmax) {
            double cheaperFlops = 0;
            for (int l : byFlopsAscending) {
                double mu = (2 * vmax + 1) / f[l];
                if (Double.isFinite(mu) || cheaperFlops + (double) len[l] * f[l] > budgetF) return mu;
                cheaperFlops += (double) len[l] * f[l];
            }
            return (2 * vmax + 1) / cheapestCost;
        }

        Dual solveDual() {
            double vmax = maxValue();
            if (budgetN == 0) {
                Eval e = new Eval();
                e.mu = 0;
                e.omega = vmax;
                e.value = 0;
                e.above = new long[layers];
                return new Dual(e, 0);
            }
            Eval a = evaluate(0);
            Eval best = a;
            if (a.slopeRight >= 0) return new Dual(best, evaluations);
            Eval b = evaluate(upperBracket(vmax));
            if (b.value < best.value) best = b;
            if (b.slopeLeft <= 0) return new Dual(b, evaluations); // only when F = 0: D decreases to 0
            boolean bisectNext = false;
            for (int it = 0; it < MAX_DUAL_ITERATIONS; it++) {
                double width = b.mu - a.mu;
                // supporting lines at both ends; their intersection bounds min D from below
                double x = (b.interceptLeft - a.interceptRight) / (a.slopeRight - b.slopeLeft);
                double lower = a.interceptRight + a.slopeRight * x;
                double scale = Math.max(Math.abs(best.value), Double.MIN_NORMAL);
                if (best.value - lower <= 1e-15 * scale) break;
                double m = (!bisectNext && x > a.mu && x < b.mu) ? x : a.mu + 0.5 * width;
                if (!(m > a.mu && m < b.mu)) break; // the bracket is as narrow as doubles allow
                Eval e = evaluate(m);
                if (e.value < best.value) best = e;
                if (e.slopeRight < 0) a = e;
                else if (e.slopeLeft > 0) b = e;
                else { best = e; break; } // 0 in the subdifferential: optimal
                bisectNext = !bisectNext && (b.mu - a.mu) > 0.5 * width;
            }
            return new Dual(best, evaluations);
        }

        // ==================================================================== rounding

        static final int BY_REDUCED = 0, BY_SCORE = 1, BY_DENSITY = 2;
        /**
         * A walk step is a heap update; a jump is up to 100 bisection steps of a binary search per layer. A field so that
         * tests can make walks jump after every finished layer, or never, and compare.
         */
        int jumpCostInSteps = 64;

        /**
         * Whether a walk sums the FLOPs of every item it tries exactly (O(L) each) instead of only those within
         * rounding of the budget. A field so that tests can compare the two.
         */
        boolean exactFlopsEveryItem = false;

        double key(int mode, int l, float value, double mu) {
            return switch (mode) {
                case BY_REDUCED -> value - mu * f[l];
                case BY_SCORE -> value;
                default -> value / f[l];
            };
        }

        /**
         * Walks the items not yet kept in the given order, merged lazily over the layer heads with a binary heap.
         * Takes every item that fits (a layer whose next item does not fit is finished: its other items cost the
         * same), skips zero scores; with {@code stopAtFirstMisfit} (LP rounding) stops at the first item that does
         * not fit or whose reduced score is not positive. O(taken * log L).
         */
        void walk(long[] k, int mode, double mu, boolean stopAtFirstMisfit) {
            if (budgetN - nnzOf(k) <= 0) return;
            boolean[] dead = new boolean[layers];
            double[] key = new double[layers];
            int[] heap = new int[layers];
            boolean jump = true;
            while (true) {
                if (jump) jump(k, dead, mode, mu);
                jump = false;
                long nnzLeft = budgetN - nnzOf(k);
                double used = flopsOf(k);
                long addedSinceExact = 0;
                int size = 0;
                for (int l = 0; l < layers; l++) {
                    if (!dead[l] && k[l] < len[l] && value(l, k[l]) > 0) {
                        key[l] = key(mode, l, value(l, k[l]), mu);
                        heap[size] = l;
                        siftUp(heap, size++, key);
                    }
                }
                while (size > 0 && nnzLeft > 0) {
                    int l = heap[0];
                    if (stopAtFirstMisfit && !(key[l] > 0)) return;
                    // An item fits when the exact sum of k with it (layer order, as a jump and feasible() sum) is
                    // within the budget. The running sum decides alone where it is farther from the budget than its
                    // rounding can be; re-summing at every finished layer was O(L^2) a walk (2,000 layers: seconds).
                    double after = used + f[l];
                    boolean exact = exactFlopsEveryItem
                            || Math.abs(after - budgetF) <= flopsRounding(addedSinceExact, Math.max(after, budgetF));
                    if (exact) {
                        k[l]++;
                        after = flopsOf(k);
                        k[l]--;
                    }
                    if (after > budgetF) {
                        if (stopAtFirstMisfit) return;
                        dead[l] = true; // its other items cost the same and the budget only shrinks
                        // A jump costs ~100 bisection steps of L binary searches; near the FLOP budget, where layers
                        // die, few items still fit, and walking them is cheaper (2,000 layers: L jumps took seconds).
                        if (worthJumping(nnzLeft, used)) {
                            jump = true;
                            break;
                        }
                        heap[0] = heap[--size];
                        siftDown(heap, 0, size, key);
                        continue;
                    }
                    k[l]++;
                    nnzLeft--;
                    used = after;
                    addedSinceExact = exact ? 0 : addedSinceExact + 1;
                    if (k[l] < len[l] && value(l, k[l]) > 0) {
                        key[l] = key(mode, l, value(l, k[l]), mu);
                        siftDown(heap, 0, size, key);
                    } else {
                        heap[0] = heap[--size];
                        siftDown(heap, 0, size, key);
                    }
                }
                if (!jump) return;
            }
        }

        /**
         * How far a running FLOP sum, {@code added} items past an exact sum, can be from the exact sum of the same
         * counts: each is at most (L + 1) roundings of the total away from the real sum, the running one one more per
         * item added; doubled.
         */
        double flopsRounding(long added, double total) {
            return (2.0 * layers + added + 4) * 0x1p-52 * total;
        }

        /**
         * Whether the items that can still fit (at most the NNZ left, and at most the FLOP room over the cheapest cost)
         * are enough to repay a jump. A jump takes only items the walk would take, in the same order, so either way
         * the result is the same; this decides only the cost.
         */
        boolean worthJumping(long nnzLeft, double used) {
            double fittable = Math.min((double) nnzLeft, Math.floor((budgetF - used) / cheapestCost));
            return fittable > (double) jumpCostInSteps * layers;
        }

        /** Items of layer l from position from on whose key exceeds t (keys fall along the sorted layer). */
        long countKeyAbove(int l, long from, int mode, double mu, double t) {
            long lo = from, hi = len[l];
            while (lo < hi) {
                long mid = (lo + hi) >>> 1;
                float x = value(l, mid);
                if (x > 0 && key(mode, l, x, mu) > t) lo = mid + 1; else hi = mid;
            }
            return lo - from;
        }

        /**
         * Jump-start of a walk: adds at once the longest prefix of the walk order (over the live layers) that fits
         * both budgets, found by bisection on the key with per-layer binary searches (O(L log p) per step). Every
         * item of that prefix would be taken by the walk anyway (the running budget use along it stays below its
         * end), so the walk only handles the items around budget boundaries.
         */
        void jump(long[] k, boolean[] dead, int mode, double mu) {
            long nnzLeft = budgetN - nnzOf(k);
            if (nnzLeft <= 0) return;
            long[] add = new long[layers];
            long[] trial = new long[layers];
            double tf = 0; // feasible threshold (larger keys only)
            boolean any = false;
            for (int l = 0; l < layers; l++) {
                if (!dead[l] && k[l] < len[l] && value(l, k[l]) > 0) {
                    double head = key(mode, l, value(l, k[l]), mu);
                    if (head > 0) { tf = any ? Math.max(tf, head) : head; any = true; }
                }
            }
            if (!any) return;
            double ti = 0; // candidate infeasible threshold; try it first (everything positive)
            if (fitsWith(k, dead, mode, mu, ti, trial, nnzLeft)) {
                System.arraycopy(trial, 0, add, 0, layers);
                tf = ti;
            } else {
                // items above each threshold: once few lie between them, the walk takes them for less than a step costs
                // (a step is L binary searches; 2,000 layers: a third of a falcon solve went to steps past that point)
                long feasibleItems = 0, infeasibleItems = trialItems;
                for (int it = 0; it < 100; it++) {
                    if (infeasibleItems - feasibleItems <= (long) WALKED_ITEMS_PER_LAYER * layers) break;
                    double m = ti + 0.5 * (tf - ti);
                    if (!(m > ti && m < tf)) break;
                    if (fitsWith(k, dead, mode, mu, m, trial, nnzLeft)) {
                        tf = m;
                        System.arraycopy(trial, 0, add, 0, layers);
                        feasibleItems = trialItems;
                    } else {
                        ti = m;
                        infeasibleItems = trialItems;
                    }
                }
            }
            for (int l = 0; l < layers; l++) k[l] += add[l];
        }

        /** Items the last {@link #fitsWith} counted above its threshold. */
        private long trialItems;

        /**
         * A jump's bisection stops once at most this many items per layer lie between its feasible and infeasible
         * thresholds: walking them is a heap update each, less than one more step of L binary searches.
         */
        static final int WALKED_ITEMS_PER_LAYER = 16;

        private boolean fitsWith(long[] k, boolean[] dead, int mode, double mu, double t, long[] trial, long nnzLeft) {
            long total = 0;
            for (int l = 0; l < layers; l++) {
                trial[l] = dead[l] ? 0 : countKeyAbove(l, k[l], mode, mu, t);
                total += trial[l];
            }
            trialItems = total;
            if (total > nnzLeft) return false;
            double flops = 0;
            for (int l = 0; l < layers; l++) flops += (k[l] + trial[l]) * f[l];
            return flops <= budgetF;
        }

        /** Heap order: larger key first, ties to the lower layer (= lower original index, layers tile in order). */
        static boolean before(int a, int b, double[] key) {
            return key[a] > key[b] || (key[a] == key[b] && a < b);
        }

        static void siftUp(int[] heap, int i, double[] key) {
            int x = heap[i];
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (!before(x, heap[parent], key)) break;
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = x;
        }

        static void siftDown(int[] heap, int i, int size, double[] key) {
            if (size == 0) return;
            int x = heap[i];
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) break;
                if (child + 1 < size && before(heap[child + 1], heap[child], key)) child++;
                if (!before(heap[child], x, key)) break;
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = x;
        }

        /** Removes the smallest kept tail items until the count vector is feasible (guards rounding drift). */
        void repair(long[] k) {
            while (!feasible(k)) {
                int worst = -1;
                float worstValue = Float.POSITIVE_INFINITY;
                for (int l = 0; l < layers; l++) {
                    if (k[l] > 0 && value(l, k[l] - 1) < worstValue) { worst = l; worstValue = value(l, k[l] - 1); }
                }
                if (worst < 0) return;
                k[worst]--;
            }
        }

        /**
         * Exchange moves between layers until none improves: drop r tail items of one layer (r = 0, 1, 2, 3, then
         * doubling up to all) and add as many next items of another layer as the freed budget allows (all added items
         * are positive, so the most that fit is best). The best move of a pass is applied: the first in (a, r, b)
         * order of those with the largest gain. The layers to add to are scanned by the density (score per FLOP) of
         * their next item, which bounds what the freed FLOPs can buy, so a scan stops at the first layer whose bound
         * cannot reach the best gain: a pass is O(L log p) scans instead of O(L^2 log p) (2,000 layers of distinct
         * costs: seconds a pass).
         */
        int improve(long[] k, int maxPasses) {
            int[] byDensity = new int[layers];
            double[] density = new double[layers];
            // the prefix sums' rounding: a gain may exceed its bound by that much, so bounds are raised by it
            double roundingSlack = 0;
            for (int l = 0; l < layers; l++) roundingSlack = Math.max(roundingSlack, prefixSum(l, len[l]));
            roundingSlack *= 1e-9;
            int pass = 0;
            for (; pass < maxPasses; pass++) {
                long nnz = nnzOf(k);
                double used = flopsOf(k);
                double current = valueOf(k);
                double tolerance = 1e-15 * Math.max(Math.abs(current), Double.MIN_NORMAL);
                int open = orderByNextDensity(k, byDensity, density);
                double bestGain = tolerance;
                int bestA = -1, bestB = -1;
                long bestR = 0, bestM = 0;
                for (int a = -1; a < layers; a++) {
                    // removal sizes: none (a = -1), else 1, 2, 3, then doubling up to the whole kept prefix, so that
                    // large shifts between two layers (tie groups at a breakpoint) take a few passes, not thousands
                    for (long r = (a < 0 ? 0 : 1); ; r = r < 3 ? r + 1 : (r >= k[a] ? Long.MAX_VALUE : Math.min(2 * r, k[a]))) {
                        if (a < 0 ? r > 0 : r > k[a]) break;
                        double loss = a < 0 ? 0 : prefixSum(a, k[a]) - prefixSum(a, k[a] - r);
                        long nnzRoom = budgetN - nnz + r;
                        if (nnzRoom <= 0) continue;
                        double freed = a < 0 ? 0 : r * f[a];
                        double room = budgetF - used + freed;
                        boolean bestIsThisRemoval = false; // ties within one removal go to the lowest b
                        for (int i = 0; i < open; i++) {
                            int b = byDensity[i];
                            // at most room / f_b items, each worth at most the next one
                            if (density[b] * room * (1 + 1e-12) + roundingSlack - loss < bestGain) break;
                            if (b == a || room < f[b]) continue;
                            long m = Math.min(Math.min(nnzRoom, len[b] - k[b]), (long) Math.floor(room / f[b]));
                            // only positive items help; the gain is concave in m so the largest positive m is best
                            m = Math.min(m, positiveCount(b, k[b], m));
                            if (m <= 0) continue;
                            double gain = prefixSum(b, k[b] + m) - prefixSum(b, k[b]) - loss;
                            if (gain > bestGain || (gain == bestGain && bestIsThisRemoval && b < bestB)) {
                                bestGain = gain; bestA = a; bestB = b; bestR = r; bestM = m;
                                bestIsThisRemoval = true;
                            }
                        }
                    }
                }
                if (bestB < 0) return pass;
                if (bestA >= 0) k[bestA] -= bestR;
                k[bestB] += bestM;
                while (bestM > 0 && !feasible(k)) { k[bestB]--; bestM--; } // exact check of the FLOP sum
                if (bestM == 0 || valueOf(k) <= current) { // no progress after the exact check: undo and stop
                    k[bestB] -= bestM;
                    if (bestA >= 0) k[bestA] += bestR;
                    return pass;
                }
            }
            return pass;
        }

        /**
         * The layers with a positive next item into order, by that item's score per FLOP (descending; ties by layer),
         * its density into density[l]. Returns how many.
         */
        int orderByNextDensity(long[] k, int[] order, double[] density) {
            int open = 0;
            for (int l = 0; l < layers; l++) {
                if (k[l] < len[l] && value(l, k[l]) > 0) {
                    density[l] = value(l, k[l]) / f[l];
                    order[open++] = l;
                }
            }
            sortIndices(order, open, (x, y) -> Double.compare(density[y], density[x]));
            return open;
        }

        /** How many of the m items after position from in layer l are positive (they are sorted descending). */
        long positiveCount(int l, long from, long m) {
            long end = from + m;
            if (value(l, end - 1) > 0) return m;
            long lo = from, hi = end - 1; // first non-positive in [from, end)
            while (lo < hi) {
                long mid = (lo + hi) >>> 1;
                if (value(l, mid) > 0) lo = mid + 1; else hi = mid;
            }
            return lo - from;
        }

        long[] round(Eval dual) {
            long[][] candidates = new long[4][];
            // LP rounding: everything above omega at mu* if it fits (a prefix of the reduced-score order), then the walk
            long[] lp = dual.above.clone();
            if (!feasible(lp)) Arrays.fill(lp, 0);
            walk(lp, BY_REDUCED, dual.mu, true);
            candidates[0] = lp.clone();
            walk(candidates[0], BY_SCORE, 0, false);
            candidates[1] = lp;
            walk(candidates[1], BY_DENSITY, 0, false);
            candidates[2] = new long[layers];
            walk(candidates[2], BY_SCORE, 0, false);
            candidates[3] = new long[layers];
            walk(candidates[3], BY_DENSITY, 0, false);
            long[] best = null;
            double bestValue = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < candidates.length; i++) {
                long[] c = candidates[i];
                repair(c);
                // the LP roundings start next to the optimum and are improved fully; the plain greedy orders are
                // safeguards: improved (with a capped search) only when they already beat the best so far
                if (i < 2) improve(c, MAX_IMPROVE_PASSES);
                else if (valueOf(c) > bestValue) improve(c, GREEDY_IMPROVE_PASSES);
                double value = valueOf(c);
                if (value > bestValue) { bestValue = value; best = c; }
            }
            return best;
        }

        /**
         * The mask keeping the first k_l of every sorted layer: the scores above the layer's k-th value, then as many
         * of those equal to it as the count asks, in index order (the sort's order of ties). Layers that keep every
         * score equal to their threshold (nearly all) are one comparison per score, on the backend's threads.
         */
        byte[] mask(long[] k, FloatPointer scores) {
            byte[] mask = new byte[p];
            // the scores as the sort read them, through a copy of the caller's pointer, whose limit stays as it was
            FloatBuffer score = new FloatPointer(scores).limit(scores.position() + p).asBuffer();
            float[] atLeast = new float[layers];
            int[] partialTies = new int[layers]; // > 0: this many of the scores equal to the threshold, in index order
            for (int l = 0; l < layers; l++) {
                int keep = (int) k[l];
                if (keep == 0) {
                    atLeast[l] = Float.POSITIVE_INFINITY; // scores are finite
                } else if (keep == len[l]) {
                    atLeast[l] = Float.NEGATIVE_INFINITY;
                } else {
                    float threshold = value(l, keep - 1);
                    int firstEqual = firstAtMost(s[l], s[l] + keep - 1, threshold);
                    int afterEqual = firstBelow(s[l] + keep - 1, s[l + 1], threshold);
                    int ties = s[l] + keep - firstEqual;
                    atLeast[l] = threshold;
                    if (ties != afterEqual - firstEqual) partialTies[l] = ties;
                }
            }
            VectorLoops.run(backend.threads(), p, 0, () -> new float[VectorLoops.CHUNK], (from, to, sums, in) -> {
                score.get(from, in, 0, to - from);
                int l = layerOf(from);
                for (int j = from; j < to; ) {
                    int end = Math.min(to, s[l + 1]);
                    float t = atLeast[l];
                    for (; j < end; j++) mask[j] = in[j - from] >= t ? (byte) 1 : (byte) 0;
                    l++;
                }
            });
            for (int l = 0; l < layers; l++) {
                int ties = partialTies[l];
                if (ties == 0) continue;
                float threshold = atLeast[l];
                for (int j = s[l]; j < s[l + 1]; j++) {
                    float x = score.get(j);
                    mask[j] = x > threshold || (x == threshold && ties-- > 0) ? (byte) 1 : (byte) 0;
                }
            }
            return mask;
        }

        /** The layer holding position j (layers tile [0, p) in order). */
        private int layerOf(int j) {
            int lo = 0, hi = layers - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) >>> 1;
                if (s[mid] <= j) lo = mid; else hi = mid - 1;
            }
            return lo;
        }

        /** The first position in [lo, hi] of the descending values holding at most t (hi when none before it). */
        private int firstAtMost(int lo, int hi, float t) {
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (v.get(mid) > t) lo = mid + 1; else hi = mid;
            }
            return lo;
        }

        /** The first position in [lo, hi) of the descending values below t (hi when none). */
        private int firstBelow(int lo, int hi, float t) {
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (v.get(mid) >= t) lo = mid + 1; else hi = mid;
            }
            return lo;
        }
    }
}
