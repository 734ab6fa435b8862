package dev.falcon.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The layers of a model in flatten order, validated to tile {@code [0, p)} exactly: no gaps, no
 * overlaps, unique names, counts that are the products of the shapes, positive finite FLOPs per weight
 * and a finite dense total. The one check of a table, whether read from a file ({@code LayersJson}) or
 * built in memory.
 */
public final class LayerTable {
    private static final String FLOPS_FIX = "give the FLOPs one nonzero weight costs (H_out*W_out for a conv, 1 for a linear layer)";

    /**
     * Why per-weight costs (a --flops-per-weight file, a {@link Runs} table) whose dense FLOPs leave a double are refused,
     * and what helps: prune and inspect say it in these words. The table's own message named "layers[0] ("run0")", a layer
     * the user never wrote, and told them to give the costs the file already held. A layer table whose flops_per_weight
     * leave a double is given the same fix.
     */
    public static final String COSTS_SUM_BEYOND_DOUBLE = "the costs' sum, the dense FLOPs, exceeds the largest double (1.8e308),"
            + " which would make every FLOP budget infinite";
    /** {@link #rescaleCostsFix} as the CLI says it, where the FLOP budget is {@code --flops}. */
    public static final String RESCALE_COSTS_FIX = rescaleCostsFix("--flops");
    /**
     * The FLOP budget as a Java caller gives it: the argument {@code flops} of {@code Budgets.resolve}
     * ({@code Budgets.ArgumentNames.JAVA}). A table built in Java was told to give "--flops", an option of a CLI it never ran.
     */
    public static final String JAVA_FLOPS_BUDGET = "Budgets.resolve's flops";

    /** The fix for costs whose dense FLOPs leave a double, naming the FLOP budget as the caller gives it ({@code flopsBudget}). */
    public static String rescaleCostsFix(String flopsBudget) {
        return "rescale the costs so that their sum fits a double (give them in a larger unit, e.g. millions of FLOPs, and "
                + flopsBudget + " in the same unit)";
    }

    private final List<Layer> layers;
    private final long parameters;

    /**
     * @param origin names the source (a file) in error messages
     * @throws IllegalArgumentException naming the offending layer and field, in one line: "origin: layers[i] ("name").field:
     *         problem; fix"; the FLOP budget, where a fix names it, as {@link #JAVA_FLOPS_BUDGET}
     */
    public LayerTable(List<Layer> layers, String origin) {
        this(layers, origin, JAVA_FLOPS_BUDGET);
    }

    /**
     * As {@link #LayerTable(List, String)}, with the FLOP budget named in a fix as the caller gives it: {@code flopsBudget}
     * (the CLI's {@code --flops}).
     */
    public LayerTable(List<Layer> layers, String origin, String flopsBudget) {
        if (layers == null) throw new IllegalArgumentException(origin + ": layers: is null; list at least one prunable layer");
        if (layers.isEmpty()) throw new IllegalArgumentException(origin + ": layers: is empty; list at least one prunable layer");
        long expected = 0;
        double dense = 0;
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            String at = origin + ": layers[" + i + "]";
            if (l == null) throw new IllegalArgumentException(at + ": is null; give every layer");
            checkName(origin, i, l.name());
            String where = at + " (\"" + l.name() + "\")";
            Integer previous = seen.putIfAbsent(l.name(), i);
            if (previous != null) {
                throw new IllegalArgumentException(where + ".name: duplicates layers[" + previous + "]; layer names must be unique");
            }
            if (!(l.flopsPerWeight() > 0) || Double.isInfinite(l.flopsPerWeight())) {
                throw new IllegalArgumentException(where + ".flops_per_weight: is " + Numbers.shown(l.flopsPerWeight())
                        + "; it must be a positive finite number: " + FLOPS_FIX);
            }
            long[] shape = l.shape();
            if (shape == null) throw new IllegalArgumentException(where + ".shape: is null; give the tensor's shape ([] for a scalar)");
            for (int d = 0; d < shape.length; d++) {
                if (shape[d] <= 0) {
                    throw new IllegalArgumentException(where + ".shape: entry " + d + " is " + shape[d] + ", not a positive integer; "
                            + "dimensions must be positive integers");
                }
            }
            long elements;
            try {
                elements = Layer.elements(shape);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(where + ".shape: the product of the dimensions overflows 64 bits; check the shape");
            }
            // the count is what the selection and the report use, the shape what the outputs are written in: a count
            // that differs tiles the weights differently from the model's tensors
            if (l.count() != elements) {
                throw new IllegalArgumentException(where + ".count: is " + l.count() + " but shape " + java.util.Arrays.toString(shape)
                        + " has " + elements + " elements; make count equal the product of shape");
            }
            if (l.offset() != expected) {
                throw new IllegalArgumentException(where + ".offset: is " + l.offset() + " but the previous layers end at " + expected
                        + (l.offset() > expected ? " (a gap)" : " (an overlap)")
                        + "; list the layers in flatten order covering the weights without gaps or overlaps");
            }
            try {
                expected = Math.addExact(l.offset(), l.count());
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(where + ".shape: brings the layers to more than " + Long.MAX_VALUE + " weights in all; check the shapes");
            }
            // an infinite total makes every FLOP budget infinite: nothing would be pruned, silently
            dense = plusLayer(dense, l.count(), l.flopsPerWeight());
            if (Double.isInfinite(dense)) {
                throw new IllegalArgumentException(where + ".flops_per_weight: is " + Numbers.shown(l.flopsPerWeight()) + ": the dense FLOPs (count x"
                        + " flops_per_weight summed over the layers so far) exceed the largest double; " + rescaleCostsFix(flopsBudget));
            }
        }
        this.layers = List.copyOf(layers);
        this.parameters = expected;
    }

    /**
     * The dense FLOPs so far plus a layer's: the one sum behind every check that they fit a double (a table's, a per-weight
     * cost file's in prune, inspect's), so that inspect cannot pass costs that prune refuses: it judged them by their
     * minimum alone and passed 1e308 per weight, which prune refused.
     */
    private static double plusLayer(double denseSoFar, long count, double flopsPerWeight) {
        return denseSoFar + count * flopsPerWeight;
    }

    /**
     * Refuses a missing or empty name, and one with a control character (C0, DEL, C1): names are printed in one-line
     * error messages and in inspect's table, where an ESC sequence or a newline from a hostile file drove the terminal
     * or forged lines of falcon's own ("falcon: ..."). The message shows the name {@linkplain #escaped escaped}.
     *
     * @throws IllegalArgumentException "origin: layers[index].name: problem; fix"
     */
    public static void checkName(String origin, int index, String name) {
        String at = origin + ": layers[" + index + "].name: ";
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException(at + "is " + (name == null ? "null" : "empty") + "; give every layer its tensor name");
        }
        for (int c = 0; c < name.length(); c++) {
            if (Character.isISOControl(name.charAt(c))) {
                throw new IllegalArgumentException(at + "\"" + escaped(name) + "\" has the control character " + escaped(name.substring(c, c + 1))
                        + " at position " + c + "; layer names must not contain control characters (C0, DEL, C1): rename the layer");
            }
        }
    }

    /** {@code s} with each control character (C0, DEL, C1) written as {@code \}{@code uXXXX}, for messages. */
    public static String escaped(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int c = 0; c < s.length(); c++) {
            char ch = s.charAt(c);
            if (Character.isISOControl(ch)) b.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) ch)); else b.append(ch);
        }
        return b.toString();
    }

    /**
     * A table with one layer per run of equal costs, read as the CLI reads {@code --flops-per-weight f.npy}: in double,
     * so that ten costs of 0.7 are 7 dense FLOPs and whole costs up to 2^53 stay exact.
     */
    public static LayerTable fromPerWeightFlops(double[] flops, String origin) {
        Runs runs = new Runs();
        for (double f : flops) runs.add(f);
        return runs.table(origin);
    }

    /**
     * As {@link #fromPerWeightFlops(double[], String)} with costs already rounded to float32: ten costs of 0.7f are
     * 6.99999988 dense FLOPs (a budget of 7 is then refused), and whole costs above 2^24 (16,777,217) are not held exactly.
     *
     * @deprecated give the costs as double[], as the CLI reads them
     */
    @Deprecated
    public static LayerTable fromPerWeightFlops(float[] flops, String origin) {
        double[] widened = new double[flops.length];
        for (int i = 0; i < flops.length; i++) widened[i] = flops[i];
        return fromPerWeightFlops(widened, origin);
    }

    /**
     * Builds the table of {@link #fromPerWeightFlops} from costs handed over one at a time, so that a file of p costs
     * needs no array of p values: one layer ("run0", "run1", ...) per run of equal costs.
     */
    public static final class Runs {
        /** null where only the dense FLOPs are kept ({@link #denseFlopsOnly}). */
        private final List<Layer> layers;
        /** The dense FLOPs of the closed runs, summed as the table sums its layers. */
        private double dense;
        private double cost;
        private long start, end;
        /** The first cost added that is not a positive finite number, and its element index (-1: none). */
        private double firstBadCost;
        private long firstBadIndex = -1;

        public Runs() {
            this(new ArrayList<>());
        }

        private Runs(List<Layer> layers) {
            this.layers = layers;
        }

        /**
         * Runs that keep the dense FLOPs alone, for {@code falcon inspect}, which streams arrays of any length: a layer per run
         * would hold one per value of an array of distinct values (X). {@link #table} is refused.
         */
        public static Runs denseFlopsOnly() {
            return new Runs(null);
        }

        public void add(double flopsPerWeight) {
            if (!(flopsPerWeight > 0 && flopsPerWeight < Double.POSITIVE_INFINITY) && firstBadIndex < 0) {
                firstBadIndex = end;
                firstBadCost = flopsPerWeight;
            }
            if (end > start && Double.compare(flopsPerWeight, cost) == 0) {
                end++;
                return;
            }
            closeRun();
            cost = flopsPerWeight;
            end++;
        }

        private void closeRun() {
            if (end > start) {
                dense = plusLayer(dense, end - start, cost);
                if (layers != null) layers.add(new Layer("run" + layers.size(), new long[] {end - start}, cost, start, end - start));
            }
            start = end;
        }

        /**
         * The first cost added that is not a positive finite number, by its element's index and value ("element 5 is -1;
         * FLOPs per weight must be positive"), or null where every cost is one. The table's own refusal named the run
         * ("layers[1] ("run1")"), a layer the caller never wrote, by the run's index, and an infinite cost as a sum beyond
         * a double with a rescaling that cannot make it finite. Followed by {@link #COST_FIX}.
         */
        public String firstCostProblem() {
            if (firstBadIndex < 0) return null;
            return "element " + firstBadIndex + " is " + Numbers.shown(firstBadCost) + "; FLOPs per weight must be positive"
                    + (Double.isFinite(firstBadCost) ? "" : " and finite");
        }

        /** The fix for {@link #firstCostProblem}. */
        public static final String COST_FIX = "give each weight's cost (output H*W for a conv weight, 1 for a linear weight)";

        /**
         * The dense FLOPs of the costs added so far, as the {@linkplain #table table} of them sums them (over its runs, in
         * order): infinite where they exceed the largest double, which the table refuses. Meaningful for positive finite
         * costs only.
         */
        public double denseFlops() {
            return end > start ? plusLayer(dense, end - start, cost) : dense;
        }

        /** Whether the dense FLOPs fit a double, as the {@linkplain #table table} requires: see {@link #COSTS_SUM_BEYOND_DOUBLE}. */
        public boolean denseFlopsFitADouble() {
            return !Double.isInfinite(denseFlops());
        }

        /**
         * @throws IllegalArgumentException "origin: {@link #firstCostProblem}; {@link #COST_FIX}" for a cost that is not a
         *         positive finite number; as the {@linkplain LayerTable#LayerTable constructor}, but for dense FLOPs beyond a
         *         double "origin: costs: {@link #COSTS_SUM_BEYOND_DOUBLE}; {@link #rescaleCostsFix}" naming the FLOP budget as
         *         {@link #JAVA_FLOPS_BUDGET}, which names no layer: the runs are falcon's, not the user's (the CLI checks
         *         {@link #firstCostProblem} and {@link #denseFlopsFitADouble} first and names the file and --flops)
         */
        public LayerTable table(String origin) {
            if (layers == null) throw new IllegalStateException("these runs keep the dense FLOPs only (denseFlopsOnly), not a table");
            String costProblem = firstCostProblem();
            if (costProblem != null) throw new IllegalArgumentException(origin + ": " + costProblem + "; " + COST_FIX);
            if (!denseFlopsFitADouble()) {
                throw new IllegalArgumentException(origin + ": costs: " + COSTS_SUM_BEYOND_DOUBLE + "; " + rescaleCostsFix(JAVA_FLOPS_BUDGET));
            }
            closeRun();
            return new LayerTable(layers, origin);
        }
    }

    public List<Layer> layers() { return layers; }

    public int size() { return layers.size(); }

    public Layer get(int i) { return layers.get(i); }

    /** p, the number of prunable weights. */
    public long parameters() { return parameters; }

    /** {@code L+1} offsets: layer l is {@code [starts[l], starts[l+1])}. */
    public long[] segmentStarts() {
        long[] starts = new long[layers.size() + 1];
        for (int i = 0; i < layers.size(); i++) starts[i] = layers.get(i).offset();
        starts[layers.size()] = parameters;
        return starts;
    }

    public double[] flopsPerWeight() {
        return layers.stream().mapToDouble(Layer::flopsPerWeight).toArray();
    }

    /** FLOPs of the dense model: sum over layers of count * flops_per_weight. */
    public double denseFlops() {
        double total = 0;
        for (Layer l : layers) total += l.count() * l.flopsPerWeight();
        return total;
    }

    /** Kept weights (nonzero mask bytes) of each layer. */
    public long[] keptPerLayer(byte[] mask) {
        long[] per = new long[layers.size()];
        for (int l = 0; l < layers.size(); l++) per[l] = nonzeros(mask, (int) layers.get(l).offset(), (int) layers.get(l).end());
        return per;
    }

    /**
     * Nonzeros of mask[from, to). Branch-free: a support is a near-random half of p, and a branch per byte mispredicts
     * about every other one (resnet50, 25.5M bytes: 75 ms a scan with the branch).
     */
    public static long nonzeros(byte[] mask, int from, int to) {
        long c = 0;
        for (int i = from; i < to; i++) c += (mask[i] | -mask[i]) >>> 31;
        return c;
    }

    /** Layer index holding weight i (binary search). */
    public int layerOf(long i) {
        int lo = 0, hi = layers.size() - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (layers.get(mid).offset() <= i) lo = mid; else hi = mid - 1;
        }
        return lo;
    }
}
