package dev.falcon.select;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Contract suite of {@link FlopAwareSelector} on one backend: brute force on small instances, gaps on large ones,
 * determinism and a timing print at p = 25.5M. Backend modules subclass it with their own backend.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class AbstractSelectionTest {
    /** A fresh backend for this suite; closed after all tests. */
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

    /** An instance held on the heap: scores, layer of each weight, FLOPs per layer, budgets. */
    record Instance(float[] scores, LayerTable table, long nnz, double flops, String label) {
        int layerOf(int i) { return table.layerOf(i); }
    }

    static LayerTable table(int[] sizes, double[] f) {
        List<Layer> layers = new ArrayList<>();
        long offset = 0;
        for (int l = 0; l < sizes.length; l++) {
            layers.add(new Layer("l" + l, new long[] {sizes[l]}, f[l], offset, sizes[l]));
            offset += sizes[l];
        }
        return new LayerTable(layers, "test");
    }

    static Instance randomSmall(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int p = 1 + r.nextInt(20);
        int layerCount = 1 + r.nextInt(Math.min(4, p));
        int[] sizes = splitSizes(r, p, layerCount);
        double[] f = new double[layerCount];
        int fKind = r.nextInt(3);
        for (int l = 0; l < layerCount; l++) {
            f[l] = switch (fKind) {
                case 0 -> 1 + r.nextInt(10);                 // small integers (many equal costs)
                case 1 -> 0.25 * (1 + r.nextInt(200));       // exact quarters
                default -> 1 + r.nextInt(1000);              // wide spread
            };
        }
        float[] scores = new float[p];
        int sKind = r.nextInt(4);
        for (int i = 0; i < p; i++) {
            scores[i] = switch (sKind) {
                case 0 -> (float) r.nextDouble();
                case 1 -> r.nextInt(4);                                       // ties and zeros
                case 2 -> r.nextInt(3) == 0 ? 0f : (float) Math.pow(r.nextDouble(), 2);
                default -> (float) (r.nextDouble() * r.nextDouble() * 100);
            };
        }
        LayerTable t = table(sizes, f);
        double total = t.denseFlops();
        double minF = Arrays.stream(f).min().orElseThrow();
        long nnz = r.nextInt(p + 1);
        double flops = r.nextDouble() * total;
        String label = "random";
        switch ((int) (seed % 10)) {
            case 1 -> { nnz = p; label = "S=p"; }
            case 2 -> { flops = total + r.nextInt(3); label = "F>=total"; }
            case 3 -> { flops = minF * r.nextDouble() * 0.999; label = "F<cheapest"; }
            case 4 -> { nnz = 0; label = "S=0"; }
            case 5 -> { flops = 0; label = "F=0"; }
            case 6 -> { Arrays.fill(scores, 1f + r.nextInt(2)); label = "all tied"; }
            case 7 -> { for (int i = 0; i < p; i++) if (r.nextBoolean()) scores[i] = 0f; label = "zeros"; }
            case 8 -> { nnz = p; flops = total; label = "S=p,F=total"; }
            default -> { }
        }
        if (r.nextInt(8) == 0) flops = Math.floor(flops); // integral budgets hit exact sums of integral costs
        return new Instance(scores, t, nnz, flops, label);
    }

    static int[] splitSizes(SplittableRandom r, int p, int layerCount) {
        int[] sizes = new int[layerCount];
        Arrays.fill(sizes, 1);
        for (int i = layerCount; i < p; i++) sizes[r.nextInt(layerCount)]++;
        return sizes;
    }

    // ------------------------------------------------------------------ references

    /** Exact optimum over all 2^p subsets (Gray code, FLOPs as sum over layers of count * f, like the selector). */
    static double bruteForce(Instance in) {
        int p = in.scores().length;
        int layers = in.table().size();
        double[] f = in.table().flopsPerWeight();
        int[] layerOf = new int[p];
        for (int i = 0; i < p; i++) layerOf[i] = in.layerOf(i);
        long[] count = new long[layers];
        boolean[] in_ = new boolean[p];
        double value = 0;
        long nnz = 0;
        double best = 0; // the empty set is feasible
        for (long g = 1; g < (1L << p); g++) {
            int bit = Long.numberOfTrailingZeros(g);
            in_[bit] = !in_[bit];
            int sign = in_[bit] ? 1 : -1;
            value += sign * (double) in.scores()[bit];
            nnz += sign;
            count[layerOf[bit]] += sign;
            if (nnz > in.nnz() || value <= best) continue;
            double flops = 0;
            for (int l = 0; l < layers; l++) flops += count[l] * f[l];
            if (flops <= in.flops()) best = value;
        }
        return best;
    }

    /**
     * Exact LP optimum by brute force over the dual: D(mu) = F mu + (sum of the S largest (I_i - mu f_i)_+) is convex
     * piecewise-linear, so its minimum over mu >= 0 lies at mu = 0 or at a breakpoint: where two reduced scores cross
     * or one crosses zero. O(p^2) candidates, each evaluated naively in O(p log p).
     */
    static double lpOptimum(Instance in) {
        int p = in.scores().length;
        double[] f = new double[p];
        double[] fl = in.table().flopsPerWeight();
        for (int i = 0; i < p; i++) f[i] = fl[in.layerOf(i)];
        List<Double> mus = new ArrayList<>();
        mus.add(0.0);
        for (int i = 0; i < p; i++) {
            mus.add(in.scores()[i] / f[i]);
            for (int j = 0; j < p; j++) {
                if (f[i] > f[j]) mus.add((in.scores()[i] - (double) in.scores()[j]) / (f[i] - f[j]));
            }
        }
        double best = Double.POSITIVE_INFINITY;
        double[] r = new double[p];
        for (double mu : mus) {
            if (!(mu >= 0)) continue;
            for (int i = 0; i < p; i++) r[i] = Math.max(0, in.scores()[i] - mu * f[i]);
            Arrays.sort(r);
            double d = in.flops() * mu;
            for (int i = 0; i < in.nnz() && i < p; i++) d += r[p - 1 - i];
            best = Math.min(best, d);
        }
        return best;
    }

    /** Greedy in one order (score, or density I/f), ties to the lower index, taking every item that fits. */
    static double greedy(Instance in, boolean density) {
        int p = in.scores().length;
        double[] f = in.table().flopsPerWeight();
        Integer[] order = new Integer[p];
        double[] key = new double[p];
        for (int i = 0; i < p; i++) {
            order[i] = i;
            key[i] = density ? in.scores()[i] / f[in.layerOf(i)] : in.scores()[i];
        }
        Arrays.sort(order, (a, b) -> key[a] != key[b] ? Double.compare(key[b], key[a]) : Integer.compare(a, b));
        double used = 0, value = 0;
        long nnz = 0;
        for (int i : order) {
            double fi = f[in.layerOf(i)];
            if (in.scores()[i] > 0 && nnz < in.nnz() && used + fi <= in.flops()) {
                used += fi;
                nnz++;
                value += in.scores()[i];
            }
        }
        return value;
    }

    static FloatPointer pointer(float[] scores) {
        FloatPointer ptr = new FloatPointer(scores.length);
        ptr.put(scores, 0, scores.length);
        return ptr;
    }

    /** Checks the selection against its own mask: counts, exact feasibility, primal value. Returns the masked value. */
    static double checkConsistent(Selection sel, FloatBuffer scores, LayerTable table, long nnzBudget, double flopBudget) {
        int p = (int) table.parameters();
        ByteBuffer mask = sel.mask().position(0).limit(p).asBuffer();
        long[] perLayer = new long[table.size()];
        double value = 0;
        for (int l = 0; l < table.size(); l++) {
            Layer layer = table.get(l);
            for (int i = (int) layer.offset(); i < layer.end(); i++) {
                byte b = mask.get(i);
                assertTrue(b == 0 || b == 1, "mask byte " + b);
                if (b == 1) { perLayer[l]++; value += scores.get(i); }
            }
        }
        assertArrayEquals(perLayer, sel.keptPerLayer(), "kept per layer");
        long kept = Arrays.stream(perLayer).sum();
        double flops = 0;
        double[] f = table.flopsPerWeight();
        for (int l = 0; l < f.length; l++) flops += perLayer[l] * f[l];
        assertEquals(kept, sel.kept());
        assertEquals(flops, sel.keptFlops(), 0.0);
        assertTrue(kept <= nnzBudget, "NNZ " + kept + " > budget " + nnzBudget);
        assertTrue(flops <= flopBudget, "FLOPs " + flops + " > budget " + flopBudget);
        assertEquals(value, sel.primalValue(), 1e-9 * Math.max(1, Math.abs(value)), "primal value vs mask");
        assertTrue(Double.isFinite(sel.dualBound()) && sel.mu() >= 0 && sel.omega() >= 0, sel.toString());
        return value;
    }

    // ------------------------------------------------------------------ tests

    @Test
    public void smallInstancesMatchBruteForce() {
        int instances = 1000;
        int optimal = 0;
        double worstLoss = 0;
        double worstDualError = 0;
        String worst = "";
        try (FlopAwareSelector selector = new FlopAwareSelector(backend)) {
            for (long seed = 0; seed < instances; seed++) {
                Instance in = randomSmall(seed);
                double opt = bruteForce(in);
                double bestGreedy = Math.max(greedy(in, false), greedy(in, true));
                double tol = 1e-9 * Math.max(1, opt);
                double lp = lpOptimum(in);
                try (FloatPointer ptr = pointer(in.scores());
                     Selection sel = selector.select(ptr, in.table(), in.nnz(), in.flops())) {
                    String what = "seed " + seed + " (" + in.label() + ", p=" + in.scores().length + ", L="
                            + in.table().size() + ", S=" + in.nnz() + ", F=" + in.flops() + "): " + sel
                            + " opt=" + opt + " greedy=" + bestGreedy;
                    double value = checkConsistent(sel, ptr.position(0).limit(in.scores().length).asBuffer(),
                            in.table(), in.nnz(), in.flops());
                    assertTrue(value <= opt + tol, "better than the optimum?? " + what);
                    assertTrue(value >= bestGreedy - tol, "worse than greedy: " + what);
                    assertTrue(sel.dualBound() >= opt - tol, "dual below the optimum: " + what);
                    assertEquals(lp, sel.dualBound(), 1e-9 * Math.max(1, lp), "dual not at the LP optimum: " + what);
                    worstDualError = Math.max(worstDualError, Math.abs(sel.dualBound() - lp) / Math.max(1, lp));
                    assertTrue(sel.primalValue() <= sel.dualBound() + tol, "primal above dual: " + what);
                    if (value >= opt - tol) optimal++;
                    else if ((opt - value) / opt > worstLoss) { worstLoss = (opt - value) / opt; worst = what; }
                }
            }
        }
        double fraction = optimal / (double) instances;
        System.out.printf(Locale.ROOT, "[%s] selection vs brute force: %d/%d instances optimal (%.4f); worst relative loss %.3g %s;"
                + " worst |dual - LP optimum| / max(1, LP) %.3g%n", backend.name(), optimal, instances, fraction, worstLoss, worst,
                worstDualError);
        assertTrue(fraction >= 0.97, "optimal fraction " + fraction);
    }

    /** Per-weight FLOPs typical of convolution layers (output pixels) and of fully connected layers (1). */
    private static final double[] FLOP_CHOICES = {1, 49, 196, 784, 3136, 12544};

    static LayerTable randomLayers(SplittableRandom r, int p, int layerCount) {
        int[] sizes = new int[layerCount];
        double[] weights = new double[layerCount];
        double sum = 0;
        for (int l = 0; l < layerCount; l++) { weights[l] = 0.2 + r.nextDouble(); sum += weights[l]; }
        int assigned = 0;
        for (int l = 0; l < layerCount; l++) {
            sizes[l] = l == layerCount - 1 ? p - assigned : Math.max(1, (int) (p * weights[l] / sum));
            assigned += sizes[l];
        }
        double[] f = new double[layerCount];
        for (int l = 0; l < layerCount; l++) {
            f[l] = r.nextInt(3) == 0 ? 1 + r.nextDouble() * 5000 : FLOP_CHOICES[r.nextInt(FLOP_CHOICES.length)];
        }
        return table(sizes, f);
    }

    static FloatPointer randomScores(ComputeBackend backend, long p, long seed) {
        FloatPointer ptr = new FloatPointer(p);
        backend.fillUniform(ptr, p, seed, 1f);
        FloatBuffer b = ptr.position(0).limit(p).asBuffer();
        for (int i = 0; i < p; i++) { float x = b.get(i); b.put(i, x * x); } // squares of uniform [-1,1): z^2-like
        return ptr;
    }

    @Test
    public void largeInstancesHaveTinyGaps() {
        int[] sizes = {200_000, 650_000, 2_000_000, 400_000};
        int[] layerCounts = {5, 23, 60, 40};
        double[][] budgets = {{0.5, 0.3}, {0.1, 0.05}, {0.9, 0.8}, {0.3, 1.0}, {1.0, 0.2}, {0.02, 0.5}};
        double worstGap = 0;
        double worstQuantised = 0;
        try (FlopAwareSelector selector = new FlopAwareSelector(backend)) {
            for (int c = 0; c < sizes.length; c++) {
                int p = sizes[c];
                LayerTable t = randomLayers(new SplittableRandom(100 + c), p, layerCounts[c]);
                try (FloatPointer scores = randomScores(backend, p, 7 + c)) {
                    FloatBuffer view = scores.position(0).limit(p).asBuffer();
                    if (c == 3) { // heavy ties and zeros: scores quantised to 64 levels, a quarter of them zero
                        for (int i = 0; i < p; i++) view.put(i, Math.max(0, Math.round(view.get(i) * 85) - 21) / 64f);
                    }
                    for (double[] b : budgets) {
                        long nnz = (long) (b[0] * p);
                        double flops = b[1] * t.denseFlops();
                        try (Selection sel = selector.select(scores, t, nnz, flops)) {
                            checkConsistent(sel, view, t, nnz, flops);
                            System.out.printf(Locale.ROOT, "[%s] p=%d L=%d S=%.2fp F=%.2fF0: %s%n",
                                    backend.name(), p, t.size(), b[0], b[1], sel);
                            // quantised scores (c = 3) leave an integrality gap of a few quanta (1/64) that no
                            // selection can close; continuous scores must be within 1e-6 of the LP bound
                            double allowed = c == 3 ? 4.0 / 64 / sel.dualBound() : 1e-6;
                            assertTrue(sel.relativeGap() <= allowed, "gap " + sel);
                            assertTrue(sel.relativeGap() >= -1e-12, "primal above dual " + sel);
                            if (c != 3) worstGap = Math.max(worstGap, sel.relativeGap());
                            else worstQuantised = Math.max(worstQuantised, (sel.dualBound() - sel.primalValue()) * 64);
                        }
                    }
                }
            }
        }
        System.out.printf(Locale.ROOT, "[%s] large instances: worst relative gap %.3g (continuous scores);"
                + " quantised scores: worst dual - primal = %.3f quanta%n", backend.name(), worstGap, worstQuantised);
    }

    /**
     * A subnormal cost (5e-324, which the CLI accepts as positive) put the dual's upper bracket at mu = (2 vmax + 1) / 5e-324,
     * which overflows: the bracketing stopped at mu = 0 and the bound was the sum of every score (30), where a cost of
     * 1e-10 gives the LP bound 10.6 (the free weight, then 0.6 of the 16/3 one).
     */
    @Test
    public void aSubnormalCostGivesTheLpBoundOfATinyOne() {
        float[] scores = {1, 4, 9, 16};
        try (FlopAwareSelector selector = new FlopAwareSelector(backend); FloatPointer ptr = pointer(scores)) {
            double[] bounds = new double[2];
            double[] tiny = {1e-10, Double.MIN_VALUE};
            for (int c = 0; c < 2; c++) {
                LayerTable t = table(new int[] {1, 1, 1, 1}, new double[] {tiny[c], 1, 2, 3});
                try (Selection sel = selector.select(ptr, t, 4, 1.8)) {
                    assertEquals(2, sel.kept(), sel.toString());
                    bounds[c] = sel.dualBound();
                }
            }
            assertEquals(10.6, bounds[0], 1e-6, "cost 1e-10");
            assertEquals(bounds[0], bounds[1], 1e-6, "cost 5e-324 against 1e-10");
        }
    }

    @Test
    public void edgeCases() {
        LayerTable t = table(new int[] {3, 4}, new double[] {2, 5});
        double total = t.denseFlops();
        try (FlopAwareSelector selector = new FlopAwareSelector(backend)) {
            float[] zeros = new float[7];
            try (FloatPointer ptr = pointer(zeros); Selection sel = selector.select(ptr, t, 7, total)) {
                assertEquals(0, sel.kept(), "zero scores need not be kept");
                assertEquals(0, sel.primalValue(), 0.0);
                assertEquals(0, sel.dualBound(), 0.0);
            }
            float[] scores = {5, 1, 3, 4, 2, 0, 6};
            double sum = 21;
            try (FloatPointer ptr = pointer(scores)) {
                try (Selection sel = selector.select(ptr, t, 100, Double.POSITIVE_INFINITY)) { // S > p, F infinite
                    checkConsistent(sel, ptr.position(0).limit(7).asBuffer(), t, 7, total);
                    assertEquals(6, sel.kept());
                    assertEquals(sum, sel.primalValue(), 0.0);
                    assertEquals(sum, sel.dualBound(), 1e-12);
                    assertEquals(0, sel.mu(), 0.0);
                }
                try (Selection sel = selector.select(ptr, t, 3, total)) { // NNZ alone: top-3
                    assertEquals(15, sel.primalValue(), 0.0);
                    assertEquals(15, sel.dualBound(), 1e-12);
                    assertEquals(1, sel.mask().get(6));
                    assertEquals(1, sel.mask().get(0));
                    assertEquals(1, sel.mask().get(3));
                }
                try (Selection sel = selector.select(ptr, t, 7, 1.999)) { // below the cheapest weight
                    assertEquals(0, sel.kept());
                    assertTrue(sel.dualBound() >= 0);
                }
                try (Selection sel = selector.select(ptr, t, 0, total)) {
                    assertEquals(0, sel.kept());
                    assertEquals(0, sel.dualBound(), 0.0);
                }
                try (Selection sel = selector.select(ptr, t, 7, 0)) {
                    assertEquals(0, sel.kept());
                    // exactly: a budget of 0 keeps not even a fraction of a weight (the dual's bracketing stopped near 0)
                    assertEquals(0, sel.dualBound(), 0.0);
                    assertEquals(0, sel.relativeGap(), 0.0);
                }
                org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> selector.select(ptr, t, -1, total));
                org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> selector.select(ptr, t, 3, Double.NaN));
                org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> selector.select(ptr, t, 3, -1));
            }
        }
    }

    /**
     * The dual bound must not depend on how far apart the layers' costs lie: with one layer at 1e306 FLOPs per weight
     * beside one at 3, the bracket's upper end (where nothing is kept) has D = F mu near 1e308, and the cutting plane
     * through it lost the whole of D's useful range to rounding; the search stopped at mu = 0 with the sum of all scores
     * as its "bound", a 12% gap on a selection that is optimal.
     */
    @Test
    public void dualBoundIsAsTightWithCostsNear1e306AsWith1e6() {
        float[] scores = new float[200];
        SplittableRandom r = new SplittableRandom(35);
        for (int i = 0; i < scores.length; i++) { double w = r.nextGaussian() * 4; scores[i] = (float) (w * w); } // up to ~150: F mu overflows
        try (FlopAwareSelector selector = new FlopAwareSelector(backend); FloatPointer ptr = pointer(scores)) {
            double[] gaps = new double[2];
            double[] costs = {1e6, 1e306};
            for (int c = 0; c < costs.length; c++) {
                LayerTable t = table(new int[] {100, 100}, new double[] {costs[c], 3});
                double flops = 0.3 * t.denseFlops();
                try (Selection sel = selector.select(ptr, t, 200, flops)) {
                    checkConsistent(sel, ptr.position(0).limit(200).asBuffer(), t, 200, flops);
                    assertTrue(sel.mu() > 0, "the FLOP budget binds, so its multiplier is positive: " + sel);
                    gaps[c] = sel.relativeGap();
                }
            }
            assertTrue(gaps[1] <= Math.max(2 * gaps[0], 1e-6), "relative gap with costs 1e306 " + gaps[1] + ", with 1e6 " + gaps[0]);
        }
    }

    @Test
    public void deterministic() {
        int p = 300_000;
        LayerTable t = randomLayers(new SplittableRandom(5), p, 17);
        try (FlopAwareSelector selector = new FlopAwareSelector(backend);
             FloatPointer scores = randomScores(backend, p, 11)) {
            FloatBuffer view = scores.position(0).limit(p).asBuffer();
            for (int i = 0; i < p; i += 7) view.put(i, view.get(i / 7)); // many exact ties
            try (Selection a = selector.select(scores, t, p / 3, 0.25 * t.denseFlops());
                 Selection b = selector.select(scores, t, p / 3, 0.25 * t.denseFlops())) {
                ByteBuffer ma = a.mask().position(0).limit(p).asBuffer();
                ByteBuffer mb = b.mask().position(0).limit(p).asBuffer();
                assertEquals(ma, mb, "masks differ");
                assertEquals(a.primalValue(), b.primalValue(), 0.0);
                assertEquals(a.dualBound(), b.dualBound(), 0.0);
                assertEquals(a.mu(), b.mu(), 0.0);
                assertEquals(a.omega(), b.omega(), 0.0);
                assertEquals(a.dualEvaluations(), b.dualEvaluations());
                assertArrayEquals(a.keptPerLayer(), b.keptPerLayer());
            }
        }
    }

    /**
     * Per-weight costs whose runs interleave (a padded 3x3 conv's corner, edge and centre taps on an 8 x 8 map: 49, 56
     * and 64 FLOPs) made one "layer" per run, thousands of them, and the walk and the exchange moves grow with the
     * square of the layer count: 8,193 layers for p = 9,216 took 39 s. Layers of one cost are selected as one: the same
     * answer as the table whose layers are the three costs laid end to end (mask, counts, value, FLOPs), ties to the
     * lower index within a cost as before.
     */
    @Test
    public void manyLayersOfFewCostsAreSelectedAsTheCostsAlone() {
        int p = 9216;
        double[] tapCost = {49, 56, 64, 56, 64, 64, 49, 64, 56};
        double[] perWeight = new double[p];
        for (int i = 0; i < p; i++) perWeight[i] = tapCost[(i * 7 + i / 9) % 9];
        LayerTable runs = LayerTable.fromPerWeightFlops(perWeight, "taps");
        assertTrue(runs.size() > 1000, "runs: " + runs.size());
        // the same weights grouped by cost in order of first appearance, each group in index order
        double[] costs = java.util.stream.IntStream.range(0, p).mapToDouble(i -> perWeight[i]).distinct().toArray();
        int[] order = new int[p];
        int[] sizes = new int[costs.length];
        int at = 0;
        for (int c = 0; c < costs.length; c++) {
            for (int i = 0; i < p; i++) if (perWeight[i] == costs[c]) { order[at++] = i; sizes[c]++; }
        }
        LayerTable grouped = table(sizes, costs);
        SplittableRandom random = new SplittableRandom(5);
        float[] s = new float[p];
        for (int i = 0; i < p; i++) s[i] = random.nextInt(5) == 0 ? random.nextInt(4) * 0.5f : (float) random.nextDouble();
        float[] g = new float[p];
        for (int j = 0; j < p; j++) g[j] = s[order[j]];
        try (FlopAwareSelector selector = new FlopAwareSelector(backend); FloatPointer scores = new FloatPointer(s);
             FloatPointer groupedScores = new FloatPointer(g)) {
            for (double keep : new double[] {0.1, 0.3, 0.7}) {
                for (long nnz : new long[] {p, p / 5}) {
                    try (Selection merged = selector.select(scores, runs, nnz, keep * runs.denseFlops());
                         Selection reference = selector.select(groupedScores, grouped, nnz, keep * grouped.denseFlops())) {
                        String what = "keep " + keep + " of the FLOPs, nnz " + nnz;
                        assertTrue(merged.phases().contains(runs.size() + " layers as 3 FLOP costs"), merged.phases());
                        assertEquals(reference.kept(), merged.kept(), what);
                        assertEquals(reference.keptFlops(), merged.keptFlops(), what);
                        assertEquals(reference.primalValue(), merged.primalValue(), what);
                        assertEquals(reference.dualBound(), merged.dualBound(), what);
                        byte[] mask = new byte[p], referenceMask = new byte[p];
                        merged.copyMaskTo(mask, 0);
                        reference.copyMaskTo(referenceMask, 0);
                        for (int j = 0; j < p; j++) assertEquals(referenceMask[j], mask[order[j]], what + ": weight " + order[j]);
                        long[] perLayer = merged.keptPerLayer();
                        for (int l = 0; l < runs.size(); l++) {
                            long count = 0;
                            for (long j = runs.get(l).offset(); j < runs.get(l).end(); j++) count += mask[(int) j];
                            assertEquals(count, perLayer[l], what + ": layer " + l);
                        }
                    }
                }
            }
        }
    }

    /**
     * With thousands of layers of distinct costs the exchange moves scanned every pair of layers per pass and the
     * walks re-jumped after every finished layer: 2,000 layers took 22 s to select. Each is now cut short where it
     * cannot change the result, so both must give exactly what the full versions give: the exchange passes the same
     * moves as a scan of every (a, r, b), ties to the first, and walks the same counts whether they jump after every
     * finished layer or never, and whether they sum the FLOPs exactly for every item or only near the budget. Small
     * integer scores and costs make equal gains, densities and keys common.
     */
    @Test
    public void shortcutsOfTheRoundingChangeNothing() {
        SplittableRandom random = new SplittableRandom(17);
        for (int trial = 0; trial < 40; trial++) {
            int layers = 2 + random.nextInt(trial < 20 ? 12 : 150);
            int[] sizes = new int[layers];
            double[] f = new double[layers];
            int p = 0;
            // every fourth trial: costs in tenths, whose sums round, and a FLOP budget that is exactly the sum of some
            // counts, so that walks meet items whose running and exact sums fall on either side of it
            boolean tenths = trial % 4 == 3;
            for (int l = 0; l < layers; l++) {
                sizes[l] = 1 + random.nextInt(trial % 3 == 0 ? 4 : 40);
                f[l] = tenths ? (1 + random.nextInt(9)) * 0.1 : trial % 2 == 0 ? 1 + random.nextInt(4) : 0.5 + random.nextDouble() * 30;
                p += sizes[l];
            }
            float[] values = new float[p];
            for (int i = 0; i < p; i++) values[i] = trial % 2 == 0 ? random.nextInt(6) : (float) (random.nextDouble() * 10);
            LayerTable t = table(sizes, f);
            long nnz = 1 + random.nextInt(p);
            double flops = t.denseFlops() * (0.05 + 0.9 * random.nextDouble());
            if (tenths) {
                nnz = p;
                flops = 0;
                for (int l = 0; l < layers; l++) flops += random.nextInt(sizes[l] + 1) * f[l];
            }
            String what = "trial " + trial + " (" + layers + " layers, p " + p + ")";
            try (FloatPointer scores = new FloatPointer(values); FloatPointer sorted = new FloatPointer(p);
                 org.bytedeco.javacpp.DoublePointer prefix = new org.bytedeco.javacpp.DoublePointer(p)) {
                long[] starts = t.segmentStarts();
                backend.sortSegmentsDescending(scores, starts, sorted, null, prefix);
                FlopAwareSelector.Problem problem = new FlopAwareSelector.Problem(backend, sorted, prefix, starts, f, nnz, flops);
                FlopAwareSelector.Dual dual = problem.solveDual();
                for (int mode : new int[] {FlopAwareSelector.Problem.BY_REDUCED, FlopAwareSelector.Problem.BY_SCORE,
                        FlopAwareSelector.Problem.BY_DENSITY}) {
                    double mu = mode == FlopAwareSelector.Problem.BY_REDUCED ? dual.best().mu : 0;
                    for (boolean fromLp : new boolean[] {false, true}) {
                        long[] start = fromLp && problem.feasible(dual.best().above) ? dual.best().above.clone() : new long[layers];
                        problem.jumpCostInSteps = 0;
                        long[] jumping = start.clone();
                        problem.walk(jumping, mode, mu, false);
                        problem.jumpCostInSteps = Integer.MAX_VALUE;
                        long[] walking = start.clone();
                        problem.walk(walking, mode, mu, false);
                        assertArrayEquals(jumping, walking, what + ", walk mode " + mode + (fromLp ? " from the LP" : ""));
                        problem.exactFlopsEveryItem = true;
                        long[] summingEveryItem = start.clone();
                        problem.walk(summingEveryItem, mode, mu, false);
                        problem.exactFlopsEveryItem = false;
                        assertArrayEquals(summingEveryItem, walking, what + ", walk mode " + mode
                                + (fromLp ? " from the LP" : "") + ": the FLOPs summed exactly for every item");
                    }
                }
                // exchange passes from feasible count vectors of every kind: a greedy walk, the LP's, random ones
                for (int start = 0; start < 6; start++) {
                    long[] k = new long[layers];
                    if (start == 0) problem.walk(k, FlopAwareSelector.Problem.BY_SCORE, 0, false);
                    else if (start == 1 && problem.feasible(dual.best().above)) k = dual.best().above.clone();
                    else for (int l = 0; l < layers; l++) k[l] = random.nextInt(sizes[l] + 1);
                    problem.repair(k);
                    long[] reference = k.clone();
                    for (int pass = 0; pass < 50; pass++) {
                        long[] expected = reference.clone();
                        boolean moved = fullScanExchange(problem, expected);
                        long[] actual = reference.clone();
                        int passes = problem.improve(actual, 1);
                        assertArrayEquals(expected, actual, what + ", start " + start + ", pass " + pass);
                        assertEquals(moved ? 1 : 0, passes, what + ", start " + start + ", pass " + pass);
                        if (!moved) break;
                        reference = expected;
                    }
                }
            }
        }
    }

    /** One exchange pass as it was before the density scan: every (a, r, b), the first of the best gains. */
    private static boolean fullScanExchange(FlopAwareSelector.Problem q, long[] k) {
        long nnz = q.nnzOf(k);
        double used = q.flopsOf(k);
        double current = q.valueOf(k);
        double bestGain = 1e-15 * Math.max(Math.abs(current), Double.MIN_NORMAL);
        int bestA = -1, bestB = -1;
        long bestR = 0, bestM = 0;
        for (int a = -1; a < q.layers; a++) {
            for (long r = (a < 0 ? 0 : 1); ; r = r < 3 ? r + 1 : (r >= k[a] ? Long.MAX_VALUE : Math.min(2 * r, k[a]))) {
                if (a < 0 ? r > 0 : r > k[a]) break;
                double loss = a < 0 ? 0 : q.prefixSum(a, k[a]) - q.prefixSum(a, k[a] - r);
                long nnzRoom = q.budgetN - nnz + r;
                double room = q.budgetF - used + (a < 0 ? 0 : r * q.f[a]);
                for (int b = 0; b < q.layers; b++) {
                    if (b == a || k[b] >= q.len[b] || !(q.value(b, k[b]) > 0)) continue;
                    if (room < q.f[b] || nnzRoom <= 0) continue;
                    long m = Math.min(Math.min(nnzRoom, q.len[b] - k[b]), (long) Math.floor(room / q.f[b]));
                    m = Math.min(m, q.positiveCount(b, k[b], m));
                    if (m <= 0) continue;
                    double gain = q.prefixSum(b, k[b] + m) - q.prefixSum(b, k[b]) - loss;
                    if (gain > bestGain) { bestGain = gain; bestA = a; bestB = b; bestR = r; bestM = m; }
                }
            }
        }
        if (bestB < 0) return false;
        long[] before = k.clone();
        if (bestA >= 0) k[bestA] -= bestR;
        k[bestB] += bestM;
        while (bestM > 0 && !q.feasible(k)) { k[bestB]--; bestM--; }
        if (bestM == 0 || q.valueOf(k) <= current) {
            System.arraycopy(before, 0, k, 0, k.length);
            return false;
        }
        return true;
    }

    /**
     * The mask is drawn from each layer's threshold, not from sorted indices: it must keep exactly the counts of
     * keptPerLayer, never drop a score above one it keeps in the same layer, and among scores equal to a layer's
     * threshold keep the lowest indices. Scores from a small set of values (ties everywhere), layers of uneven sizes
     * crossing the parallel loop's chunk boundaries, budgets that cut through runs of equal scores.
     */
    @Test
    public void maskKeepsEachLayersTopScoresWithTiesInIndexOrder() {
        int p = 200_003;
        SplittableRandom random = new SplittableRandom(12);
        LayerTable t = randomLayers(random, p, 9);
        try (FlopAwareSelector selector = new FlopAwareSelector(backend);
             FloatPointer scores = new FloatPointer(p)) {
            float[] s = new float[p];
            for (int i = 0; i < p; i++) s[i] = i % 13 == 0 ? 0f : random.nextInt(40) * 0.25f;
            scores.put(s, 0, p);
            for (double keepFlops : new double[] {0.05, 0.3, 0.77}) {
                for (long nnz : new long[] {p, p / 4}) {
                    try (Selection sel = selector.select(scores, t, nnz, keepFlops * t.denseFlops())) {
                        byte[] mask = new byte[p];
                        sel.copyMaskTo(mask, 0);
                        long[] kept = sel.keptPerLayer();
                        String what = "keep " + keepFlops + " of the FLOPs, nnz " + nnz;
                        for (int l = 0; l < t.size(); l++) {
                            Layer layer = t.get(l);
                            int from = (int) layer.offset(), to = (int) layer.end();
                            long count = 0;
                            float lowestKept = Float.POSITIVE_INFINITY, highestDropped = Float.NEGATIVE_INFINITY;
                            for (int j = from; j < to; j++) {
                                assertTrue(mask[j] == 0 || mask[j] == 1, what + ": mask byte " + j);
                                if (mask[j] == 1) {
                                    count++;
                                    lowestKept = Math.min(lowestKept, s[j]);
                                } else {
                                    highestDropped = Math.max(highestDropped, s[j]);
                                }
                            }
                            assertEquals(kept[l], count, what + ": kept count of layer " + l);
                            assertTrue(lowestKept >= highestDropped, what + ": layer " + l + " drops " + highestDropped
                                    + " but keeps " + lowestKept);
                            if (lowestKept == highestDropped) { // a run of ties cut by the count: lowest indices first
                                boolean droppedOne = false;
                                for (int j = from; j < to; j++) {
                                    if (s[j] != lowestKept) continue;
                                    if (mask[j] == 0) droppedOne = true;
                                    else assertTrue(!droppedOne, what + ": layer " + l + " keeps tie " + j + " after dropping a lower index");
                                }
                            }
                        }
                        ByteBuffer off = sel.mask().position(0).limit(p).asBuffer();
                        for (int j = 0; j < p; j++) assertEquals(mask[j], off.get(j), what + ": off-heap mask " + j);
                    }
                }
            }
        }
    }

    @Test
    public void timingAtResNet50Scale() {
        long p = 25_500_000L;
        int layerCount = 54;
        LayerTable t = randomLayers(new SplittableRandom(50), (int) p, layerCount);
        try (FlopAwareSelector selector = new FlopAwareSelector(backend);
             FloatPointer scores = randomScores(backend, p, 50)) {
            long nnz = p / 10;
            double flops = 0.1 * t.denseFlops();
            try (Selection sel = selector.select(scores, t, nnz, flops)) {
                checkConsistent(sel, scores.position(0).limit(p).asBuffer(), t, nnz, flops);
                System.out.printf(Locale.ROOT, "[%s] TIMING select() p=%d L=%d S=0.1p F=0.1F0: %.3f s [%s] (%s)%n",
                        backend.name(), p, layerCount, sel.seconds(), sel.phases(), sel);
            }
        }
    }
}
