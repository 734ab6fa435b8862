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
     * The FLOP budget of a fraction of the dense FLOPs, the fraction taken as the decimal it is written as (a double's
     * shortest decimal form, {@link BigDecimal#valueOf(double)}: 0.3, not 0.299999999999999988898).
     * <ul>
     * <li>Every cost an integer: the fraction times the exact dense FLOPs (a sum of integers, exact at any size), as the
     *     double nearest that decimal product, the budget --flops gives for it (0.95 of 516,256 FLOPs is 490443.2, 0.29 of
     *     1,600 is 464, not 463.99999999999994), unless that double reaches the next integer, where it is rounded down to
     *     the product's integer part. Supports cost integers, so the budget admits exactly the supports the decimal product
     *     does. The float64 product snapped to an integer within 2 units in its last place was rounded up past the
     *     fraction near 2^53: 0.3 of 9,007,199,254,740,792 FLOPs, exactly 2,702,159,776,422,237.6, became ...238.</li>
     * <li>A fractional cost: the float64 product never lowered (2,000,000.001 dense FLOPs snapped to 2,000,000 left no
     *     room for the 0.001 weight at --keep-flops 1), and up to the shortest decimal within the rounding error of the
     *     dense FLOPs and the product above it ({@link #denseRoundingBound}, {@link #shortestDecimalAtOrAbove}), since
     *     supports' costs are float64 sums too. Half of costs 3 x 0.1 + 3 x 0.3 + 2 x 0.7 (2.6, summed as
     *     2.5999999999999996) was 1.2999999999999998, printed as 1.3, and shut out a support of exactly 1.3 FLOPs.</li>
     * </ul>
     * The caller keeps the budget at or below the dense FLOPs.
     */
    public static double flopBudget(double fraction, LayerTable layers) {
        return flopBudget(BigDecimal.valueOf(fraction), layers);
    }

    /** As {@link #flopBudget(double, LayerTable)}, of a fraction given as a decimal (a stage level, {@link #computedLevel}). */
    public static double flopBudget(BigDecimal fraction, LayerTable layers) {
        BigDecimal exactDense = BigDecimal.ZERO;
        for (Layer l : layers.layers()) {
            if (l.flopsPerWeight() != Math.rint(l.flopsPerWeight())) {
                double v = fraction.doubleValue() * layers.denseFlops();
                return shortestDecimalAtOrAbove(v, denseRoundingBound(v, layers));
            }
            exactDense = exactDense.add(new BigDecimal(l.flopsPerWeight()).multiply(BigDecimal.valueOf(l.count())));
        }
        return atMostTheNextInteger(fraction.multiply(exactDense));
    }

    /**
     * The double nearest {@code exact}, or, where that double reaches the integer above exact's integer part, the
     * greatest double at or below that integer part: a budget of whole costs that admits no cost above exact.
     */
    static double atMostTheNextInteger(BigDecimal exact) {
        double nearest = Double.parseDouble(exact.toString());
        BigDecimal integerPart = exact.setScale(0, RoundingMode.FLOOR);
        if (new BigDecimal(nearest).compareTo(integerPart.add(BigDecimal.ONE)) < 0) return nearest;
        double below = Double.parseDouble(integerPart.toString());
        return new BigDecimal(below).compareTo(integerPart) > 0 ? Math.nextDown(below) : below;
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

    /** The significant decimal digits a computed level is taken to ({@link #computedLevel}). */
    public static final int COMPUTED_LEVEL_DIGITS = 12;

    /**
     * A level computed in binary floating point (falcon++'s intermediate stage levels, {@code MultiStage.Schedule.level}),
     * as the decimal its budget multiplies: its exact binary value rounded half-even to {@value #COMPUTED_LEVEL_DIGITS}
     * significant digits. Such a level is no decimal a user wrote: linear from 0.7 to 0.5 in 5 stages puts stage 1 at
     * 0.65, computed as 0.6499999999999999, whose shortest decimal counted 649 of 1,000 weights. falcon_torch's
     * stage_schedule rounds its levels the same way, so both routes run the same stage budgets.
     */
    public static BigDecimal computedLevel(double level) {
        return new BigDecimal(level).round(new MathContext(COMPUTED_LEVEL_DIGITS, RoundingMode.HALF_EVEN));
    }

    /**
     * A fraction of {@code total} weights as a count: the fraction taken as the decimal it is written as
     * ({@link BigDecimal#valueOf(double)}) times the total, rounded down. 0.29 of 1,600 is 464 (the float64 product is
     * 463.99999999999994), 0.3 of 10,000,000,000,001 is 3,000,000,000,000 (a snap up within 1e-12 of the float64
     * product, 3 weights there, kept 3,000,000,000,001).
     */
    public static long count(double fraction, long total) {
        return count(BigDecimal.valueOf(fraction), total);
    }

    /**
     * The weights a sparsity of {@code total} keeps: (1 - sparsity) x total in decimal, rounded down, as
     * {@link #count(double, long)} counts the fraction 1 - sparsity (--sparsity 0.7 of 2,024 weights keeps 607).
     */
    public static long countKept(double sparsity, long total) {
        return count(BigDecimal.ONE.subtract(BigDecimal.valueOf(sparsity)), total);
    }

    /** As {@link #count(double, long)}, of a fraction given as a decimal (a stage level, {@link #computedLevel}). */
    public static long count(BigDecimal fraction, long total) {
        return fraction.multiply(BigDecimal.valueOf(total)).setScale(0, RoundingMode.FLOOR).longValueExact();
    }
}
