package dev.falcon.model;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

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
     * A FLOP budget v (a fraction times the dense FLOPs, both rounded in float64) as the budget the fraction means.
     * <ul>
     * <li>Every cost an integer: v snapped to the integer within a product's rounding error of it
     *     ({@link #wholeCostProductRounding}), up or down (0.29 x 1600 = 463.99999999999994 is 464). nearInteger's relative 1e-9
     *     took 0.3 of 4,089,184,256 FLOPs, 1,226,755,276.8, up to 1,226,755,277, above the fraction the budget is an
     *     upper bound of, and 0.054 of mobilenetv1's 568,740,352 FLOPs, 30,711,979.008, down to 30,711,979, not the
     *     budget --flops 30711979.008 gives. Where no integer is that near, the shortest decimal within the rounding
     *     error on either side with v's integer part ({@link #shortestDecimalOfTheSameInteger}), as README says: 0.95 of
     *     516,256 FLOPs was 490,443.19999999995, and --flops 490443.2, the same request, another budget in the report;
     *     0.777 of 40,551,040 is 31508158.08, a unit in the last place below the product. Supports are unchanged by
     *     either: they cost integers, and no integer lies between v and the budget.</li>
     * <li>A fractional cost: never below v (2,000,000.001 dense FLOPs snapped to 2,000,000 left no room for the 0.001
     *     weight at --keep-flops 1), and up to the shortest decimal within the rounding error of the dense FLOPs and the
     *     product above it ({@link #denseRoundingBound}, {@link #shortestDecimalAtOrAbove}); the caller keeps it at or
     *     below the dense FLOPs. Half of costs 3 x 0.1 + 3 x 0.3 + 2 x 0.7 (2.6, summed as
     *     2.5999999999999996) was 1.2999999999999998, printed as 1.3: the support of 3 x 0.1 + 0.3 + 0.7 FLOPs, exactly
     *     half of them (summed as 1.3, as --flops 1.3 admits it), was over that budget. It is now 1.3, the budget
     *     --flops 1.3 gives and the summary prints.</li>
     * </ul>
     */
    public static double flopBudget(double v, LayerTable layers) {
        for (Layer l : layers.layers()) {
            if (l.flopsPerWeight() != Math.rint(l.flopsPerWeight())) return shortestDecimalAtOrAbove(v, denseRoundingBound(v, layers));
        }
        double r = Math.rint(v);
        if (v == r) return v; // whole already: what --flops v gives
        // never 0 for a positive v (nearInteger's reason): a budget snapped to 0 prunes every weight
        if (r != 0 && Math.abs(r - v) <= wholeCostProductRounding(v, layers)) return r;
        return shortestDecimalOfTheSameInteger(v, denseRoundingBound(v, layers));
    }

    /**
     * How far v = fraction x dense FLOPs can lie from the fraction's decimal times the dense FLOPs when every cost is whole:
     * the dense sum is exact up to 2^53 (integers), so only the fraction's binary representation (under one unit in the
     * last place of v) and the product's rounding (half a unit) remain: 2 units of v. Above 2^53 the sum rounds too
     * ({@link #denseRoundingBound}). A relative 1e-12 was 1.2 FLOPs at 1.2e12: 0.3 of 4,000,000,000,036 FLOPs, exactly
     * 1,200,000,000,010.8, was taken up to 1,200,000,000,011, above the fraction, and kept a weight costing that much.
     */
    static double wholeCostProductRounding(double v, LayerTable layers) {
        return layers.denseFlops() <= 0x1p53 ? 2 * Math.ulp(v) : Math.max(2 * Math.ulp(v), denseRoundingBound(v, layers));
    }

    /**
     * The double of the decimal with the fewest significant digits within {@code slack} of v on either side and with v's
     * integer part (v itself where none is shorter), for costs that are all whole: every support then costs an integer,
     * and no integer lies between v and that decimal, so both admit the same supports. The decimal may lie below v:
     * 0.777 of 40,551,040 FLOPs (resnet20) is exactly 31,508,158.08, whose double (...07999999821) is a unit in the
     * last place below the product's (...08000000019); taken only upward it was 31508158.0800001, a decimal no user
     * types and above the fraction, where --flops 31508158.08 gives 31508158.08. Of the two decimals of a length
     * within reach, the nearer to v.
     */
    static double shortestDecimalOfTheSameInteger(double v, double slack) {
        if (!(v > 0) || Double.isInfinite(v)) return v;
        BigDecimal exact = new BigDecimal(v);
        double integerPart = Math.floor(v);
        for (int digits = 1; digits < 17; digits++) {
            double best = Double.NaN;
            for (RoundingMode toward : new RoundingMode[] {RoundingMode.FLOOR, RoundingMode.CEILING}) {
                double shorter = exact.round(new MathContext(digits, toward)).doubleValue();
                boolean within = Math.abs(shorter - v) <= slack && Math.floor(shorter) == integerPart;
                if (within && !(Math.abs(best - v) <= Math.abs(shorter - v))) best = shorter;
            }
            if (!Double.isNaN(best)) return best;
        }
        return v;
    }

    /**
     * How far v = fraction x dense FLOPs can lie below the exact product by rounding: the dense FLOPs are a sum of L
     * products count x cost (L roundings of the products, L - 1 of the sums, each at most 2^-53 relative: all terms are
     * positive) and v one more product, so (L + 1) x 2^-53 of v, taken twice over. A slack of 1e-12 of v (thousands of
     * such units) moved a budget past supports the fraction excludes: 0.9999999999999 of costs 1 + 3e-13 kept both
     * weights (1.0000000000003 FLOPs) where its decimal, 1.0000000000002, keeps one.
     */
    static double denseRoundingBound(double v, LayerTable layers) {
        return (layers.layers().size() + 1) * 0x1p-52 * v;
    }

    /**
     * The double of the decimal with the fewest significant digits in [v, v + slack] (v itself where none is shorter):
     * the value a user who asks for that budget writes, so that a budget computed with rounding error is the one its
     * decimal names, as --flops reads it. Never below v: a decimal at or above v reads back at or above v.
     */
    static double shortestDecimalAtOrAbove(double v, double slack) {
        if (!(v > 0) || Double.isInfinite(v)) return v;
        BigDecimal exact = new BigDecimal(v);
        for (int digits = 1; digits < 17; digits++) {
            // the decimal below v's exact binary value first: its double may be v itself (408918425.6 is the double
            // 408918425.600000024), where rounding up alone gave 408918425.600001, above v within the slack
            for (RoundingMode toward : new RoundingMode[] {RoundingMode.FLOOR, RoundingMode.CEILING}) {
                double shorter = exact.round(new MathContext(digits, toward)).doubleValue();
                if (shorter >= v && shorter - v <= slack) return shorter;
            }
        }
        return v;
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
