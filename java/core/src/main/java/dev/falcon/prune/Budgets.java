package dev.falcon.prune;

import dev.falcon.io.InputException;
import dev.falcon.model.Numbers;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.function.DoublePredicate;
import dev.falcon.model.Fractions;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;

/**
 * The two budgets of a run, both upper bounds: at most {@code nnz} nonzero weights and at most
 * {@code flops} FLOPs. Keeping nothing always satisfies them; what {@link #resolve} rejects is
 * <ul>
 * <li>values out of range (exit code 2): fractions outside (0, 1], sparsity outside [0, 1) (a fraction of 0 or a
 *     sparsity of 1 is told the exact request that prunes everything), a
 *     negative or non-finite absolute FLOP budget or one above the dense FLOPs, an NNZ budget outside
 *     [0, p], or two options for the same budget;</li>
 * <li>infeasible budgets (exit code 3): a positive budget that no single weight fits in, e.g. a FLOP
 *     budget below the cheapest weight's cost, or a fraction that rounds down to zero weights. Asking
 *     for exactly 0 (--flops 0 or --nnz 0) is allowed and prunes everything.</li>
 * </ul>
 * With no budget option at all the default is {@code --keep-flops 0.3}, recorded as {@link #DEFAULT_FLOPS_REQUEST}; with only a FLOP budget the
 * NNZ budget is p; with only an NNZ budget the FLOP budget is the dense FLOPs.
 * A --keep-flops fraction becomes the FLOP budget --flops gives for the decimal it names
 * ({@link Fractions#flopBudget}), not the float64 product's rounding below it.
 *
 * @param nnz            NNZ budget S (weights kept at most)
 * @param flops          FLOP budget F
 * @param parameters     p
 * @param denseFlops     FLOPs of the dense model
 * @param nnzRequest     how the NNZ budget was asked for ("--keep-nnz 0.5", "default: p", ...)
 * @param flopsRequest   how the FLOP budget was asked for ("--keep-flops 0.5", "--flops 1.2e7", "default: 30% of the dense FLOPs
 *                       (no budget given)", ...)
 * @param keepFlops      the fraction of the dense FLOPs asked for (--keep-flops, or the default 0.3); null where the
 *                       FLOP budget was not asked for as a fraction
 * @param keepNnz        the fraction of the weights asked for (--keep-nnz, or 1 - --sparsity); null where the NNZ budget
 *                       was not asked for as a fraction
 */
public record Budgets(long nnz, double flops, long parameters, double denseFlops, String nnzRequest, String flopsRequest, Double keepFlops,
                      Double keepNnz) {

    /** Budgets whose budgets were not asked for as fractions (or whose fractions are nnz / parameters and flops / denseFlops). */
    public Budgets(long nnz, double flops, long parameters, double denseFlops, String nnzRequest, String flopsRequest) {
        this(nnz, flops, parameters, denseFlops, nnzRequest, flopsRequest, null, null);
    }

    /** Budgets whose NNZ budget was not asked for as a fraction (or whose fraction is nnz / parameters). */
    public Budgets(long nnz, double flops, long parameters, double denseFlops, String nnzRequest, String flopsRequest, Double keepFlops) {
        this(nnz, flops, parameters, denseFlops, nnzRequest, flopsRequest, keepFlops, null);
    }

    /**
     * How every refusal of a budget that keeps nothing ends: the empty support is allowed only where asked for exactly,
     * and the NNZ messages never said how (only the FLOP one named --flops 0). Named as a replacement of the option
     * refused: "or --nnz 0 or --flops 0" beside a --flops 0 already given could not be followed.
     */
    static String emptyOnPurpose(String zeroGiven, String refusedOption) {
        return ", or " + zeroGiven + " in place of " + refusedOption + " to prune every weight on purpose";
    }

    /**
     * The names a refusal gives the budget arguments, and how it writes one given with its value. {@link #JAVA} names the
     * parameters of {@link #resolve(LayerTable, Double, Double, Double, Long, Double)} ("Budgets.resolve: keepNnz: ...",
     * "keepNnz = 1e-9"), {@link #CLI} the CLI's options ("--keep-nnz: value: ...", "--keep-nnz 1e-9"): an embedder told
     * to give "--nnz 0 in place of --keep-nnz" was not told which argument of resolve to change.
     */
    public record ArgumentNames(String keepFlops, String flops, String keepNnz, String nnz, String sparsity, boolean cli) {
        /** The Java arguments of {@code Budgets.resolve}. */
        public static final ArgumentNames JAVA = new ArgumentNames("keepFlops", "flops", "keepNnz", "nnz", "sparsity", false);
        /** The options of {@code falcon prune}. */
        public static final ArgumentNames CLI = new ArgumentNames("--keep-flops", "--flops", "--keep-nnz", "--nnz", "--sparsity", true);

        /** One argument with its value: "--nnz 0" or "nnz = 0". */
        String given(String name, String value) {
            return cli ? name + " " + value : name + " = " + value;
        }

        /** What an infeasible budget's message starts with: the CLI's names the option in its text; Java's the method. */
        String infeasiblePrefix() {
            return cli ? "" : "Budgets.resolve: ";
        }

        /** A value out of range: "--nnz: value: problem; fix" or "Budgets.resolve: nnz: problem; fix". */
        InputException outOfRange(String name, String problem, String fix) {
            return cli ? InputException.of(name, "value", problem, fix) : InputException.of("Budgets.resolve", name, problem, fix);
        }

        /** Two arguments for one budget. */
        InputException twoForOneBudget(String budget, String problem, String... names) {
            String all = String.join("/", names);
            if (cli) return InputException.of(all, budget, problem, cli(names));
            return InputException.of("Budgets.resolve", all, problem.replace("option", "argument"), "give one of "
                    + String.join(names.length == 2 ? " or " : ", ", names) + " and null for the " + (names.length == 2 ? "other" : "others"));
        }

        private String cli(String... names) {
            // the CLI's own words, as they were
            return names.length == 2 ? "give one of " + keepFlops + " FRACTION or " + flops + " ABSOLUTE"
                    : "give one of " + keepNnz + " FRACTION, " + nnz + " N or " + sparsity + " S";
        }
    }

    /** Fraction of FLOPs kept when no budget option is given. */
    public static final double DEFAULT_KEEP_FLOPS = 0.3;

    /** {@link #flopsRequest()} where no budget was given, in the form of the NNZ side's defaults. */
    public static final String DEFAULT_FLOPS_REQUEST = "default: "
            + Numbers.shown(BigDecimal.valueOf(DEFAULT_KEEP_FLOPS).movePointRight(2).doubleValue()) + "% of the dense FLOPs (no budget given)";

    /**
     * The NNZ budget as a fraction of p (0 for an empty model): the fraction asked for where there is one, as
     * {@link #flopsFraction()}. --sparsity 0.7 of 2,024 weights keeps 607, and 607 / 2024 is 0.299901185770751, a
     * fraction nobody asked for; --nnz N has no fraction but N / p.
     */
    public double nnzFraction() {
        if (parameters == 0) return 0;
        return keepNnz != null ? keepNnz : (double) nnz / parameters;
    }

    /**
     * The FLOP budget as a fraction of the dense FLOPs (0 for a model of no FLOPs): the fraction asked for where there is
     * one. The budget of --keep-flops 0.95 of 516,256 FLOPs is 490443.2, the decimal --flops would be given
     * ({@link Fractions#flopBudget}), and 490443.2 / 516256 is 0.9500000000000001, a fraction nobody asked for.
     */
    public double flopsFraction() {
        if (denseFlops == 0) return 0;
        return keepFlops != null ? keepFlops : flops / denseFlops;
    }

    /**
     * Resolves the budget arguments (null = not given; they are the CLI's options of the same names) against a layer
     * table.
     *
     * @throws InputException naming the argument and its valid range; {@link InputException#infeasible()} for exit code 3
     */
    public static Budgets resolve(LayerTable layers, Double keepFlops, Double flops, Double keepNnz, Long nnz, Double sparsity) {
        return resolve(layers, keepFlops, flops, keepNnz, nnz, sparsity, ArgumentNames.JAVA);
    }

    /**
     * As {@link #resolve(LayerTable, Double, Double, Double, Long, Double)}, with refusals naming the arguments by
     * {@code names} (the CLI passes {@link ArgumentNames#CLI}). The requests recorded ({@link #nnzRequest()},
     * {@link #flopsRequest()}) are written in the CLI's form either way, as reports have them.
     */
    public static Budgets resolve(LayerTable layers, Double keepFlops, Double flops, Double keepNnz, Long nnz, Double sparsity,
                                  ArgumentNames names) {
        long p = layers.parameters();
        double dense = layers.denseFlops();
        checkOneOptionEach(keepFlops, flops, keepNnz, nnz, sparsity, names);
        boolean flopsDefaulted = keepFlops == null && flops == null && keepNnz == null && nnz == null && sparsity == null;
        if (flopsDefaulted) keepFlops = DEFAULT_KEEP_FLOPS;

        double f;
        String fRequest;
        if (keepFlops != null) {
            checkFraction(names, names.keepFlops(), keepFlops, names.flops());
            f = fractionFlopBudget(keepFlops, dense, layers);
            // a default recorded as "--keep-flops 0.3" read as an option the user typed
            fRequest = flopsDefaulted ? DEFAULT_FLOPS_REQUEST : "--keep-flops " + Numbers.shown(keepFlops);
        } else if (flops != null) {
            if (!isFlops(flops, dense)) {
                throw names.outOfRange(names.flops(), "is " + Numbers.shown(flops) + ", outside the valid range [0, " + Numbers.shown(dense) + "] (dense FLOPs)",
                        "give an absolute FLOP budget in that range, or a fraction with " + names.keepFlops());
            }
            f = flops == 0 ? 0.0 : flops; // -0 was reported as -0.0, and as -0.00% in the summary
            fRequest = "--flops " + Numbers.shown(flops);
        } else {
            f = dense;
            fRequest = "default: dense FLOPs (only an NNZ budget given)";
        }

        long s;
        String sRequest;
        Double keepNnzAsked = null;
        if (keepNnz != null) {
            checkFraction(names, names.keepNnz(), keepNnz, names.nnz());
            s = nnzOfFraction(keepNnz, p);
            sRequest = "--keep-nnz " + Numbers.shown(keepNnz);
            keepNnzAsked = keepNnz;
            if (s == 0) {
                throw InputException.infeasible(names.infeasiblePrefix() + names.given(names.keepNnz(), Numbers.shown(keepNnz)) + " keeps 0 of " + p
                        + " weights; give at least " + leastAccepted(1.0 / p, v -> isFraction(v) && nnzOfFraction(v, p) > 0)
                        + emptyOnPurpose(names.given(names.nnz(), "0"), names.keepNnz()));
            }
        } else if (sparsity != null) {
            if (!isSparsity(sparsity)) {
                throw names.outOfRange(names.sparsity(), "is " + Numbers.shown(sparsity) + ", outside the valid range [0, 1)",
                        "give the fraction of weights to remove, e.g. " + names.given(names.sparsity(), "0.9")
                                + (sparsity == 1 ? emptyOnPurpose(names.given(names.nnz(), "0"), names.sparsity()) : ""));
            }
            s = nnzOfSparsity(sparsity, p);
            sRequest = "--sparsity " + Numbers.shown(sparsity);
            // in decimal: 1 - 0.7 is 0.30000000000000004 in double, and --sparsity 0.7 asks for 0.3
            keepNnzAsked = java.math.BigDecimal.ONE.subtract(java.math.BigDecimal.valueOf(sparsity)).doubleValue();
            if (s == 0) {
                throw InputException.infeasible(names.infeasiblePrefix() + names.given(names.sparsity(), Numbers.shown(sparsity)) + " keeps 0 of " + p
                        + " weights; give at most " + greatestAccepted(1 - 1.0 / p, v -> isSparsity(v) && nnzOfSparsity(v, p) > 0)
                        + emptyOnPurpose(names.given(names.nnz(), "0"), names.sparsity()));
            }
        } else if (nnz != null) {
            if (nnz < 0 || nnz > p) {
                throw names.outOfRange(names.nnz(), "is " + nnz + ", outside the valid range [0, " + p + "] (p)", "give the number of weights to keep");
            }
            s = nnz;
            sRequest = "--nnz " + nnz;
        } else {
            s = p;
            sRequest = "default: p (no NNZ budget given)";
        }

        if (f > 0 && s > 0) {
            Layer cheapest = layers.layers().get(0);
            for (Layer l : layers.layers()) if (l.flopsPerWeight() < cheapest.flopsPerWeight()) cheapest = l;
            if (f < cheapest.flopsPerWeight()) {
                // a default is named as one: "(--keep-flops 0.3)" and "in place of --keep-flops" spoke of an option not given
                String asked = flopsDefaulted ? fRequest : keepFlops != null ? names.given(names.keepFlops(), Numbers.shown(keepFlops))
                        : flops != null ? names.given(names.flops(), Numbers.shown(flops)) : fRequest;
                double cost = cheapest.flopsPerWeight();
                // the cost as it reads back: six digits rounded to nearest could lie below it
                String leastFlops = Numbers.shown(cost);
                // in the form asked for: a --flops request was told a --keep-flops fraction
                String raised = keepFlops != null
                        ? names.given(names.keepFlops(), leastAccepted(cost / dense, v -> isFraction(v) && fractionFlopBudget(v, dense, layers) >= cost))
                        : names.given(names.flops(), leastFlops);
                throw InputException.infeasible(names.infeasiblePrefix() + "FLOP budget " + fmt(f) + " (" + asked + ") is below the cheapest weight's cost "
                        + fmt(cost) + " FLOPs (layer " + cheapest.name() + "): no weight can be kept; raise it to at least "
                        + leastFlops + " (" + raised + ")"
                        + (flopsDefaulted ? ", or " + names.given(names.flops(), "0") + " to prune every weight on purpose"
                                : emptyOnPurpose(names.given(names.flops(), "0"), keepFlops != null ? names.keepFlops() : names.flops())));
            }
        }
        return new Budgets(s, f, p, dense, sRequest, fRequest, keepFlops, keepNnzAsked);
    }

    /**
     * Refuses two arguments for one budget, which needs no layer table: a caller can check this before reading one.
     *
     * @throws InputException naming the arguments of {@code resolve}
     */
    public static void checkOneOptionEach(Double keepFlops, Double flops, Double keepNnz, Long nnz, Double sparsity) {
        checkOneOptionEach(keepFlops, flops, keepNnz, nnz, sparsity, ArgumentNames.JAVA);
    }

    /** As above, naming the arguments by {@code names}. */
    public static void checkOneOptionEach(Double keepFlops, Double flops, Double keepNnz, Long nnz, Double sparsity, ArgumentNames names) {
        if (keepFlops != null && flops != null) {
            throw names.twoForOneBudget("FLOP budget", "both options given", names.keepFlops(), names.flops());
        }
        int nnzOptions = (keepNnz != null ? 1 : 0) + (nnz != null ? 1 : 0) + (sparsity != null ? 1 : 0);
        if (nnzOptions > 1) {
            throw names.twoForOneBudget("NNZ budget", "more than one option given", names.keepNnz(), names.nnz(), names.sparsity());
        }
    }

    /**
     * A fraction to keep in (0, 1]. Exactly 0 is out of range too, but its refusal names the request that keeps nothing on
     * purpose (absolute, {@code exactOption} 0), as a fraction that rounds to no weight is told (exit 3).
     */
    private static void checkFraction(ArgumentNames names, String name, double v, String exactOption) {
        if (!isFraction(v)) {
            throw names.outOfRange(name, "is " + Numbers.shown(v) + ", outside the valid range (0, 1]", "give the fraction to keep, e.g. " + names.given(name, "0.3")
                    + (v == 0 ? emptyOnPurpose(names.given(exactOption, "0"), name) : ""));
        }
    }

    /**
     * The least value of six significant digits that {@code accepted} takes, as printed, searched from {@code estimate}
     * (the exact bound, up to rounding). Rounding the estimate up was not the least: 1/1600 is the double
     * 0.000625000000000000013..., which rounded up to 0.000625001, where --keep-flops 0.000625 keeps a weight; and a
     * value below the estimate can be accepted (a fraction's budget within rounding error of an integer is that integer).
     */
    static String leastAccepted(double estimate, DoublePredicate accepted) {
        return boundary(estimate, accepted, true);
    }

    /** The greatest value of six significant digits that {@code accepted} takes, as {@link #leastAccepted}. */
    static String greatestAccepted(double estimate, DoublePredicate accepted) {
        return boundary(estimate, accepted, false);
    }

    /** How many steps of the sixth digit a search goes from its estimate: one or two in practice. */
    private static final int BOUNDARY_STEPS = 1000;

    private static String boundary(double estimate, DoublePredicate accepted, boolean least) {
        if (!Double.isFinite(estimate)) return Numbers.shown(estimate);
        MathContext sixDigits = new MathContext(6, least ? RoundingMode.FLOOR : RoundingMode.CEILING);
        BigDecimal candidate = new BigDecimal(estimate).round(sixDigits);
        // toward the refused side while still accepted, then back until accepted: each as the user types it
        for (int step = 0; step < BOUNDARY_STEPS && accepted.test(typed(candidate)); step++) {
            BigDecimal further = nextSixDigit(candidate, !least);
            if (!accepted.test(typed(further))) return Numbers.shown(typed(candidate));
            candidate = further;
        }
        for (int step = 0; step < BOUNDARY_STEPS; step++) {
            if (accepted.test(typed(candidate))) return Numbers.shown(typed(candidate));
            candidate = nextSixDigit(candidate, least);
        }
        return Numbers.significant(estimate, 6, least ? RoundingMode.UP : RoundingMode.DOWN);
    }

    /** The next value of six significant digits above (or below) v. */
    private static BigDecimal nextSixDigit(BigDecimal v, boolean up) {
        int leading = v.signum() == 0 ? -300 : v.precision() - v.scale() - 1;
        BigDecimal tiny = BigDecimal.ONE.scaleByPowerOfTen(leading - 10);
        return up ? v.add(tiny).round(new MathContext(6, RoundingMode.CEILING)) : v.subtract(tiny).round(new MathContext(6, RoundingMode.FLOOR));
    }

    /** v as read from its printed digits, as the CLI reads an option's value. */
    private static double typed(BigDecimal v) {
        return Numbers.parseDecimal(Numbers.shown(v.doubleValue()));
    }

    // The rules resolve applies, each in one place: a suggestion in a refusal is checked by the rules that refused the request.

    /** A fraction to keep (--keep-flops, --keep-nnz) in range: (0, 1]. */
    private static boolean isFraction(double v) {
        return Double.isFinite(v) && v > 0 && v <= 1;
    }

    /** A sparsity in range: [0, 1). */
    private static boolean isSparsity(double v) {
        return Double.isFinite(v) && v >= 0 && v < 1;
    }

    /** An absolute FLOP budget in range: [0, the dense FLOPs], the latter with room for their summation's rounding. */
    private static boolean isFlops(double v, double dense) {
        return Double.isFinite(v) && v >= 0 && v <= dense * (1 + 1e-12);
    }

    /**
     * The FLOP budget of a --keep-flops fraction, never above the dense FLOPs: --keep-flops 1 of costs summing to
     * 2.5999999999999996 asked for 2.6, a fraction of 1.0000000000000002 in the report.
     */
    private static double fractionFlopBudget(double keepFlops, double dense, LayerTable layers) {
        return Math.min(dense, Fractions.flopBudget(keepFlops, layers));
    }

    /** The NNZ budget of a --keep-nnz fraction of p weights. */
    private static long nnzOfFraction(double keepNnz, long p) {
        return Fractions.count(keepNnz, p);
    }

    /** The NNZ budget of a --sparsity of p weights. */
    private static long nnzOfSparsity(double sparsity, long p) {
        return Fractions.countKept(sparsity, p);
    }

    /**
     * A FLOP count in a message: whole ones exactly, others to six significant digits (2.4, not %.6g's 2.40000) or, with
     * more than six digits before the point, exactly as their shortest decimal. Six digits made a budget of
     * 2,702,159,776,422,297.25 and a cheapest cost of 2,702,159,776,422,298 both read 2702160000000000.
     */
    static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 0x1p63) return new BigDecimal(v).toPlainString();
        return Math.abs(v) >= 1e6 ? Numbers.shown(v) : Numbers.significant(v, 6, RoundingMode.HALF_EVEN);
    }
}
