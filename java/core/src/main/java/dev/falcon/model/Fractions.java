package dev.falcon.model;

/**
 * Fractions of p or of the dense FLOPs turned into budgets, the same way for the CLI's options and for falcon++'s
 * stage levels: 0.29 * 1600 is 463.99999999999994 in binary floating point and must give 464, not 463.
 */
public final class Fractions {
    private Fractions() {}

    /**
     * The relative error of a fraction times a total (a few units in the last place of a double), with room to spare:
     * 0.29 * 1600 = 463.99999999999994 is 464. Counts add the fraction's own representation error ({@link #count}).
     */
    static final double PRODUCT_ROUNDING = 1e-12;

    /**
     * v, or the integer it differs from by rounding error only (a relative 1e-9). Never 0 for a nonzero v: a positive
     * fraction of a positive total is not 0 by rounding, and a FLOP budget snapped to 0 pruned everything with exit 0
     * (--keep-flops 1e-10 of 30 FLOPs) where a slightly larger one was refused as infeasible.
     */
    public static double nearInteger(double v) {
        double r = Math.rint(v);
        return r != 0 && Math.abs(v - r) <= 1e-9 * Math.max(1, Math.abs(v)) ? r : v;
    }

    /**
     * A FLOP budget v (a fraction times the dense FLOPs) snapped by {@link #nearInteger}, but never below v when a layer's
     * cost is fractional: 2,000,000.001 dense FLOPs snapped to 2,000,000 left no room for the 0.001 weight at
     * --keep-flops 1. With integer costs every support costs an integer, so snapping down loses none. Up it is snapped
     * only by a product's rounding error ({@link #PRODUCT_ROUNDING}): nearInteger's relative 1e-9 took 0.3 of 4,089,184,256
     * FLOPs, 1,226,755,276.8, up to 1,226,755,277, above the fraction the budget is an upper bound of.
     */
    public static double flopBudget(double v, LayerTable layers) {
        double r = nearInteger(v);
        if (r > v) return r - v <= PRODUCT_ROUNDING * v ? r : v;
        if (r == v) return r;
        for (Layer l : layers.layers()) if (l.flopsPerWeight() != Math.rint(l.flopsPerWeight())) return v;
        return r;
    }

    /**
     * A fraction of {@code total} (v = fraction x total), as a count: rounded down, or up to the integer above when v is
     * below it by rounding error only. That error is the product's ({@link #PRODUCT_ROUNDING} of v) plus the fraction's
     * own binary representation, at most a few units of 2^-53 of the total (1 - 0.9999999 is 1 - 5.3e-17 of 1e-7, and
     * --sparsity 0.9999999 of 10,000,000 weights is 0.99999999947). nearInteger's relative 1e-9 took 0.7 of
     * 1,000,000,001 weights, 700,000,000.7, up to 700,000,001: one weight above the fraction asked for.
     */
    public static long count(double v, long total) {
        double up = Math.ceil(v);
        if (up > v && up - v <= PRODUCT_ROUNDING * v + 4 * Math.ulp(1.0) * total) return (long) up;
        return (long) Math.floor(v);
    }
}
