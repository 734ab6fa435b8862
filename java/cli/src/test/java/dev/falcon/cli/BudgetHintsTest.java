package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.io.LayersJson;
import dev.falcon.io.Npy;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The value an infeasible budget's refusal tells the user to give is the one they copy: it must be accepted as printed,
 * be the least (or greatest) so printed, and be written as the option they gave.
 */
class BudgetHintsTest {
    @TempDir Path dir;

    /** prune of {@code table}'s weights (java backend, quiet) with {@code options}. */
    private MainTest.Run prune(LayerTable table, String... options) {
        Path weights = dir.resolve("w.npy"), layers = dir.resolve("layers.json");
        int p = (int) table.parameters();
        try (FloatPointer w = MainTest.values(p, 2)) {
            Npy.writeFloat32(weights, w, new long[] {p});
        }
        LayersJson.write(layers, table);
        List<String> a = new ArrayList<>(List.of("prune", "--weights", weights.toString(), "--layers", layers.toString(), "--out",
                dir.resolve("out/p.npy").toString(), "--report", dir.resolve("out/r.json").toString(), "--device", "java", "-q"));
        a.addAll(List.of(options));
        return MainTest.run(a.toArray(String[]::new));
    }

    /** The value after {@code pattern} in a refusal with exit 3. */
    private static String hint(MainTest.Run r, String pattern) {
        assertEquals(3, r.code(), r.err());
        Matcher m = Pattern.compile(pattern + "(\\d(?:[0-9.e+-]*\\d)?)").matcher(r.err());
        assertTrue(m.find(), "no '" + pattern + "' in: " + r.err());
        return m.group(1);
    }

    /** The printed value one step of its sixth significant digit further, up or down. */
    private static String stepped(String value, boolean up) {
        BigDecimal v = new BigDecimal(value);
        BigDecimal sixth = BigDecimal.ONE.scaleByPowerOfTen(v.precision() - v.scale() - 6);
        return (up ? v.add(sixth) : v.subtract(sixth)).round(new MathContext(6, RoundingMode.HALF_EVEN)).toPlainString();
    }

    /** {@code option hint} is accepted, and one step past it, on the refused side, is refused as infeasible. */
    private void assertBoundary(LayerTable table, String option, String hint, boolean least) {
        MainTest.Run accepted = prune(table, option, hint);
        assertEquals(0, accepted.code(), option + " " + hint + ", as suggested: " + accepted.err());
        String past = stepped(hint, !least);
        MainTest.Run refused = prune(table, option, past);
        assertEquals(3, refused.code(), option + " " + past + " is past the suggested " + hint + ", yet: " + refused.err());
    }

    /**
     * Costs 10, 5 and 1 FLOPs on 100 weights each (1600 dense FLOPs): --keep-flops 1e-9 was told "raise it to at least 1
     * (--keep-flops 0.000625001)", where 1/1600 = 0.000625 keeps a weight (the double 1/1600 is a hair above 0.000625, and
     * was rounded up), and --flops 0.5 was told the same --keep-flops, not the --flops it gave.
     */
    @Test
    void theFlopHintIsTheLeastBudgetAcceptedInTheFormAskedFor() {
        LayerTable table = new LayerTable(List.of(new Layer("a", new long[] {100}, 10, 0, 100), new Layer("b", new long[] {100}, 5, 100, 100),
                new Layer("c", new long[] {100}, 1, 200, 100)), "test");
        String fraction = hint(prune(table, "--keep-flops", "1e-9"), "raise it to at least 1 \\(--keep-flops ");
        assertEquals("0.000625", fraction);
        assertBoundary(table, "--keep-flops", fraction, true);

        MainTest.Run absolute = prune(table, "--flops", "0.5");
        assertEquals("1", hint(absolute, "raise it to at least 1 \\(--flops "));
        assertFalse(absolute.err().contains("--keep-flops"), "a --flops request told a --keep-flops: " + absolute.err());
        assertBoundary(table, "--flops", "1", true);

        // a quotient that is no short decimal: 1/1590 = 0.000628930..., the least six-digit fraction above it
        LayerTable odd = new LayerTable(List.of(new Layer("a", new long[] {100}, 10, 0, 100), new Layer("b", new long[] {99}, 5, 100, 99),
                new Layer("c", new long[] {95}, 1, 199, 95)), "test");
        assertBoundary(odd, "--keep-flops", hint(prune(odd, "--keep-flops", "1e-9"), "at least 1 \\(--keep-flops "), true);
    }

    /**
     * 50 weights: --keep-nnz 1e-9 was told "give at least 0.0200001" where 0.02 keeps one, and --sparsity 0.9999999 "give
     * at most 0.979999" where 0.98 does: the suggested bounds were a rounding step inside the ones accepted.
     */
    @Test
    void theNnzHintsAreTheBoundsAccepted() {
        LayerTable table = new LayerTable(List.of(new Layer("a", new long[] {40}, 2, 0, 40), new Layer("b", new long[] {10}, 1, 40, 10)), "test");
        String keep = hint(prune(table, "--keep-nnz", "1e-9"), "give at least ");
        assertEquals("0.02", keep);
        assertBoundary(table, "--keep-nnz", keep, true);
        String sparsity = hint(prune(table, "--sparsity", "0.9999999"), "give at most ");
        assertEquals("0.98", sparsity);
        assertBoundary(table, "--sparsity", sparsity, false);

        // 300 weights: 1/300 is no short decimal, and its bounds are six-digit ones either side
        LayerTable three = new LayerTable(List.of(new Layer("a", new long[] {300}, 1, 0, 300)), "test");
        assertBoundary(three, "--keep-nnz", hint(prune(three, "--keep-nnz", "1e-9"), "give at least "), true);
        assertBoundary(three, "--sparsity", hint(prune(three, "--sparsity", "0.9999999"), "give at most "), false);
    }
}
