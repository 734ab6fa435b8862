package dev.falcon.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A table built in memory is held to what a layers file is. */
class LayerTableTest {
    private static void assertRefused(List<Layer> layers, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LayerTable(layers, "mine"));
        assertTrue(e.getMessage().startsWith("mine: ") && !e.getMessage().contains("\n"), e.getMessage());
        for (String part : parts) assertTrue(e.getMessage().contains(part), "no \"" + part + "\" in: " + e.getMessage());
    }

    /** Accepted: the report's per-layer counts and the outputs' shapes then described different tensors. */
    @Test
    void aCountOtherThanTheShapesProductIsRefused() {
        assertRefused(List.of(new Layer("a", new long[] {3, 4}, 1, 0, 10)), "layers[0] (\"a\").count", "10", "[3, 4] has 12 elements");
        assertRefused(List.of(new Layer("a", new long[] {-3, -4}, 1, 0, 12)), "layers[0] (\"a\").shape", "entry 0 is -3");
        assertEquals(12, new LayerTable(List.of(new Layer("a", new long[] {3, 4}, 1, 0, 12)), "mine").parameters());
    }

    /** Accepted, and Layer.hashCode threw a NullPointerException later. */
    @Test
    void aMissingNameIsRefused() {
        assertRefused(List.of(new Layer("a", new long[] {2}, 1, 0, 2), new Layer(null, new long[] {10}, 1, 2, 10)), "layers[1].name", "null");
        assertRefused(List.of(new Layer("", new long[] {10}, 1, 0, 10)), "layers[0].name", "empty");
        new Layer(null, new long[] {1}, 1, 0, 1).hashCode();
    }

    @Test
    void duplicateNamesAreRefused() {
        assertRefused(List.of(new Layer("a", new long[] {2}, 1, 0, 2), new Layer("b", new long[] {2}, 1, 2, 2), new Layer("a", new long[] {3}, 1, 4, 3)),
                "layers[2] (\"a\").name", "duplicates layers[0]");
    }

    /** Each layer's FLOPs were finite but their total was Infinity, and so was every FLOP budget: mp kept every weight. */
    @Test
    void denseFlopsBeyondTheLargestDoubleAreRefused() {
        assertRefused(List.of(new Layer("a", new long[] {10}, 1e308, 0, 10), new Layer("b", new long[] {10}, 1, 10, 10)),
                "layers[0] (\"a\").flops_per_weight", "is 1e308:", "dense FLOPs");
        assertRefused(List.of(new Layer("a", new long[] {1}, 1e308, 0, 1), new Layer("b", new long[] {1}, 1e308, 1, 1)),
                "layers[1] (\"b\").flops_per_weight", "dense FLOPs");
        assertEquals(4e300, new LayerTable(List.of(new Layer("a", new long[] {4}, 1e300, 0, 4)), "mine").denseFlops(), 1e285);
    }

    /**
     * A table whose dense FLOPs leave a double was told "give the FLOPs one nonzero weight costs (H_out*W_out for a conv,
     * ...)", which its flops_per_weight already were: it is told to rescale them, as per-weight costs are. A table built
     * in Java was then told to give "--flops in the same unit", an option of a CLI it never ran: the fix names the FLOP
     * budget as a Java caller gives it, and the CLI's option only where the CLI passes it.
     */
    @Test
    void denseFlopsBeyondTheLargestDoubleAreToldToRescaleTheCostsAndTheBudgetAsTheCallerGivesIt() {
        List<Layer> huge = List.of(new Layer("a", new long[] {4, 25}, 1e307, 0, 100), new Layer("b", new long[] {4, 25}, 3, 100, 100));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LayerTable(huge, "huge.json"));
        assertTrue(e.getMessage().startsWith("huge.json: layers[0] (\"a\").flops_per_weight: is 1e307: the dense FLOPs"), e.getMessage());
        assertTrue(e.getMessage().endsWith("; rescale the costs so that their sum fits a double (give them in a larger unit, e.g. millions"
                + " of FLOPs, and Budgets.resolve's flops in the same unit)"), e.getMessage());
        assertFalse(e.getMessage().contains("--flops") || e.getMessage().contains("give the FLOPs one nonzero weight costs"), e.getMessage());

        IllegalArgumentException cli = assertThrows(IllegalArgumentException.class, () -> new LayerTable(huge, "huge.json", "--flops"));
        assertTrue(cli.getMessage().endsWith("; " + LayerTable.RESCALE_COSTS_FIX) && LayerTable.RESCALE_COSTS_FIX.contains("and --flops in the same unit"),
                cli.getMessage());
    }

    /**
     * Per-weight costs whose sum leaves a double were refused as the table's layer "run0", which the user never wrote,
     * with the fix "give the FLOPs one nonzero weight costs", which the costs already were: the refusal names the costs
     * and says to rescale them. The runs' dense FLOPs are the table's (inspect judges an array by them).
     */
    @Test
    void perWeightCostsBeyondTheLargestDoubleAreRefusedAsCostsNotAsALayer() {
        LayerTable.Runs runs = new LayerTable.Runs();
        for (double cost : new double[] {1e308, 1e308, 1, 1}) runs.add(cost);
        assertFalse(runs.denseFlopsFitADouble());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> runs.table("f.npy"));
        assertEquals("f.npy: costs: " + LayerTable.COSTS_SUM_BEYOND_DOUBLE + "; " + LayerTable.rescaleCostsFix("Budgets.resolve's flops"),
                e.getMessage());
        assertTrue(e.getMessage().contains("rescale the costs") && !e.getMessage().contains("run0") && !e.getMessage().contains("--flops"),
                e.getMessage());

        double[] costs = {3, 3, 0.5, 1e300, 1e300, 7};
        LayerTable.Runs fitting = new LayerTable.Runs(), totalOnly = LayerTable.Runs.denseFlopsOnly();
        for (double cost : costs) {
            fitting.add(cost);
            totalOnly.add(cost);
        }
        assertTrue(totalOnly.denseFlopsFitADouble());
        assertEquals(fitting.table("f.npy").denseFlops(), totalOnly.denseFlops(), 0.0);
        assertEquals(fitting.denseFlops(), totalOnly.denseFlops(), 0.0);
    }

    /**
     * A null shape or a null list was a JVM NullPointerException ("Cannot invoke \"[J.clone()\" because \"shape\" is
     * null"), not the IllegalArgumentException naming the layer and the field that a null name gives.
     */
    @Test
    void aMissingShapeOrListIsRefusedNamingIt() {
        assertRefused(List.of(new Layer("a", new long[] {2}, 1, 0, 2), new Layer("b", null, 1, 2, 1)), "layers[1] (\"b\").shape", "is null");
        assertRefused(null, "layers: is null");
    }

    @Test
    void runningOffsetsPastALongAreRefused() {
        long quarter = 1L << 62;
        assertRefused(List.of(new Layer("q0", new long[] {quarter}, 1, 0, quarter), new Layer("q1", new long[] {quarter}, 1, quarter, quarter)),
                "layers[1] (\"q1\").shape", "weights in all");
    }

    /**
     * A name's ESC sequences and newlines went raw into one-line messages and inspect's table: a hostile file could
     * colour the terminal or forge a "falcon: ..." line. Refused, the name shown escaped.
     */
    @Test
    void namesWithControlCharactersAreRefusedShownEscaped() {
        String[][] cases = {
                {"a\u001b[31mRED\u001b[0m\nfalcon: fake line", "a\\u001b[31mRED\\u001b[0m\\u000afalcon: fake line", "\\u001b at position 1"},
                {"conv\u007f", "conv\\u007f", "\\u007f at position 4"},
                {"x\u009b2J", "x\\u009b2J", "\\u009b at position 1"},
                {"tab\there", "tab\\u0009here", "\\u0009 at position 3"},
        };
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LayerTable(
                    List.of(new Layer("ok", new long[] {2}, 1, 0, 2), new Layer(c[0], new long[] {3}, 1, 2, 3)), "mine"));
            assertTrue(e.getMessage().startsWith("mine: layers[1].name: \"" + c[1] + "\"") && e.getMessage().contains(c[2]), e.getMessage());
            assertTrue(e.getMessage().chars().noneMatch(Character::isISOControl), e.getMessage());
        }
        // printable names of any script are names
        assertEquals(5, new LayerTable(List.of(new Layer("слой.weight", new long[] {2}, 1, 0, 2), new Layer("层 2", new long[] {3}, 1, 2, 3)), "mine").parameters());
    }

    /**
     * The factory took float[] only: ten costs of 0.7 rounded to float32 summed to 6.99999988 dense FLOPs, so a budget of
     * 7 was refused, and a whole cost above 2^24 (a 4097 x 4096 output map) was rounded, what the CLI reads exactly.
     */
    @Test
    void perWeightCostsAreTakenAsDoubles() {
        double[] tenths = new double[10];
        java.util.Arrays.fill(tenths, 0.7);
        LayerTable table = LayerTable.fromPerWeightFlops(tenths, "api costs");
        assertEquals(10 * 0.7, table.denseFlops()); // one run: count x cost, as the CLI's table of the same file
        assertEquals(7.0, dev.falcon.prune.Budgets.resolve(table, null, 7.0, null, null, null).flops());
        LayerTable large = LayerTable.fromPerWeightFlops(new double[] {16_777_217, 16_777_217, 1}, "api costs");
        assertEquals(2, large.size());
        assertEquals(16_777_217.0, large.get(0).flopsPerWeight());
    }
    /**
     * Per-weight costs in Java are refused as the CLI refuses them in --flops-per-weight, by the element's index and
     * value: a NaN at element 3 was named 'layers[1] ("run1")', a run the caller never wrote, and an infinite cost was
     * called a sum beyond a double, to be rescaled, which cannot make it finite. The deprecated float[] overload too.
     */
    @SuppressWarnings("deprecation")
    @Test
    void perWeightCostsAreRefusedByTheirElement() {
        Object[][] cases = {
                {new double[] {1, 1, 1, Double.NaN}, "api costs: element 3 is NaN; FLOPs per weight must be positive and finite"},
                {new double[] {1, 2, 3, 4, 5, -1}, "api costs: element 5 is -1; FLOPs per weight must be positive; "},
                {new double[] {1, Double.POSITIVE_INFINITY}, "api costs: element 1 is Inf; FLOPs per weight must be positive and finite"},
                {new double[] {2, 2, 0, 0}, "api costs: element 2 is 0; FLOPs per weight must be positive; "},
        };
        for (Object[] c : cases) {
            double[] costs = (double[]) c[0];
            float[] rounded = new float[costs.length];
            for (int i = 0; i < costs.length; i++) rounded[i] = (float) costs[i];
            for (org.junit.jupiter.api.function.Executable build : List.<org.junit.jupiter.api.function.Executable>of(
                    () -> LayerTable.fromPerWeightFlops(costs, "api costs"), () -> LayerTable.fromPerWeightFlops(rounded, "api costs"))) {
                String message = assertThrows(IllegalArgumentException.class, build).getMessage();
                assertTrue(message.startsWith((String) c[1]) && message.endsWith("; give each weight's cost (output H*W for a conv weight, 1 for a linear weight)"), message);
                assertFalse(message.contains("run") || message.contains("rescale"), message);
            }
        }
    }
}
