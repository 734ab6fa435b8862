package dev.falcon.model;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.regex.Pattern;

/**
 * The one grammar falcon reads numbers in (every number option of the CLI) and the one form it writes them in
 * (messages, budgets' requests). Java's own parsing took {@code 0.3d}, {@code 0.3f}, {@code " 0.3"} and {@code 0x1p-2}
 * for numbers, and its own form wrote {@code 0.0}, {@code 1.0E30} and {@code -0.0} where the user had typed 0, 1e30
 * and -0.
 */
public final class Numbers {
    private Numbers() {}

    /** A plain decimal: an optional sign, digits with an optional point (or a point and digits), an optional exponent. */
    private static final Pattern DECIMAL = Pattern.compile("[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?");

    /** What the messages say a number looks like. */
    public static final String DECIMAL_FORM = "digits with an optional sign, point and exponent, e.g. 0.3, 25 or 1e-3";

    /**
     * What the messages of a whole-number option say it takes: {@link #DECIMAL_FORM}'s examples 0.3 and 1e-3 were offered
     * to --threads, which then refused them as "not a whole number". The grammar is the same (2.0 and 1e4 are taken).
     */
    public static final String WHOLE_FORM = "digits with an optional sign and exponent, e.g. 4, 25 or 1e4";

    /** Whether {@code text} is a number in falcon's grammar (nothing else: no spaces, suffixes, hex, NaN or Infinity). */
    public static boolean isDecimal(String text) {
        return text != null && DECIMAL.matcher(text).matches();
    }

    /**
     * The value of a decimal in falcon's grammar, -0 read as 0 (a -0.00% in the summary and -0.0 in the report).
     *
     * @throws NumberFormatException saying what is wrong with {@code text}, quoted as typed: empty, not a decimal, or
     *                               beyond what a double holds (1e400 became Infinity, 1e-400 became 0)
     */
    public static double parseDecimal(String text) {
        requireDecimal(text, "a number", DECIMAL_FORM);
        double v = Double.parseDouble(text);
        if (Double.isInfinite(v)) throw new NumberFormatException("'" + text + "' is beyond the largest number falcon reads (about 1.8e308)");
        // a mantissa with a non-zero digit that reads as 0 underflowed: 0 is not what the user typed
        if (v == 0 && text.replaceFirst("[eE].*", "").matches(".*[1-9].*")) {
            throw new NumberFormatException("'" + text + "' is closer to 0 than the smallest number falcon reads (about 4.9e-324)");
        }
        return v == 0 ? 0.0 : v;
    }

    /**
     * A whole number in falcon's grammar ({@code 25}, {@code 1e6}, {@code 2.0}) within [{@code min}, {@code max}] (the
     * range of the option's Java type).
     *
     * @throws NumberFormatException saying what is wrong with {@code text}, quoted as typed
     */
    public static long parseWhole(String text, long min, long max) {
        requireDecimal(text, "a whole number", WHOLE_FORM);
        BigDecimal v;
        try {
            v = new BigDecimal(text);
        } catch (NumberFormatException | ArithmeticException exponentBeyondAnInt) {
            // an exponent beyond an int: a negative one makes a nonzero mantissa a fraction (1e-99999999999 is
            // neither above nor below the range), a positive one a number beyond any long
            String mantissa = text.replaceFirst("[eE].*", "");
            if (!mantissa.matches(".*[1-9].*")) return 0;
            if (text.replaceFirst("^[^eE]*[eE]", "").startsWith("-")) throw new NumberFormatException("'" + text + "' is not a whole number");
            throw beyond(text, !text.startsWith("-"), min, max);
        }
        // compared before any other arithmetic: 1e999999999 is cheap to compare and costly to expand
        if (v.compareTo(BigDecimal.valueOf(min)) < 0) throw beyond(text, false, min, max);
        if (v.compareTo(BigDecimal.valueOf(max)) > 0) throw beyond(text, true, min, max);
        if (v.signum() != 0 && v.stripTrailingZeros().scale() > 0) throw new NumberFormatException("'" + text + "' is not a whole number");
        return v.longValueExact();
    }

    /*
     * Names only the side crossed, as a limit of the type: an option's own range is often narrower (--n from 1), and
     * "outside the whole numbers from -2147483648 to 2147483647" invited a --n -5 that was refused in turn.
     */
    private static NumberFormatException beyond(String text, boolean above, long min, long max) {
        return new NumberFormatException(above
                ? "'" + text + "' is above every value this option takes (none is above " + max + ")"
                : "'" + text + "' is below every value this option takes (none is below " + min + ")");
    }

    /** {@code what} and {@code form}: what the option takes ("a whole number", {@link #WHOLE_FORM}), said with the refusal. */
    private static void requireDecimal(String text, String what, String form) {
        if (text == null || text.isEmpty()) throw new NumberFormatException("the value is empty; give " + what + " (" + form + ")");
        if (!isDecimal(text)) throw new NumberFormatException("'" + text + "' is not " + what + " (" + form + ")");
    }

    /**
     * A value as a user writes it: the shortest digits that read back as {@code v}, written plainly unless that takes
     * more than 18 digits on either side of the point (then 1e30, 1.5e-25); -0 as 0. Java's own form echoed --flops
     * 12165312 as "1.2165312E7" and --keep-nnz 1 as "1.0".
     */
    public static String shown(double v) {
        if (!Double.isFinite(v)) return Double.isNaN(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
        return written(BigDecimal.valueOf(v == 0 ? 0.0 : v));
    }

    /**
     * "1 iteration", "3 iterations": what falcon writes is read by people, who took "1 iterations" for a slip. In core so
     * that the solver's own texts (its stop reasons, which the summary quotes) count as the CLI's do.
     */
    public static String counted(long count, String noun) {
        return count + " " + noun + (count == 1 ? "" : "s");
    }

    /**
     * {@code v} to {@code digits} significant digits, rounded by {@code mode} (UP for a suggested lower bound that must
     * hold as printed, DOWN for an upper one), without trailing zeros: a FLOP budget of 2.4 read "2.40000" in %.6g.
     */
    public static String significant(double v, int digits, RoundingMode mode) {
        if (!Double.isFinite(v)) return shown(v);
        return written(new BigDecimal(v == 0 ? 0.0 : v).round(new MathContext(digits, mode)));
    }

    private static String written(BigDecimal value) {
        BigDecimal b = value.stripTrailingZeros();
        if (b.signum() == 0) return "0";
        if (b.scale() > 18 || b.precision() - b.scale() > 18) return b.toString().replace("E+", "e").replace("E", "e");
        return b.toPlainString();
    }
}
