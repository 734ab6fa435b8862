package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.falcon.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** Number options are read in one grammar, and their messages show numbers as the user typed them. */
class NumberOptionsTest extends SmallModel {
    /**
     * Java's grammar took 0.3d, 0.3f, " 0.3" and 0x1p-2 for 0.3 and 0.25 (while 0.3x and "5 " were refused), and
     * --flops 100d for a budget of 100, so that a costs file of that name could not be given.
     */
    @Test
    void numberOptionsTakePlainDecimalsOnly() {
        for (String v : List.of("0.3d", "0.3f", " 0.3", "0x1p-2", "0.3x", "NaN", "Infinity")) {
            assertRefused(prune("--keep-flops", v), 2, "Invalid value for option '--keep-flops': '" + v + "' is not a number");
        }
        assertRefused(prune("--nnz", "5 "), 2, "'5 ' is not a whole number");
        assertRefused(prune("--nnz", "2.5"), 2, "'2.5' is not a whole number");
        assertRefused(prune("--flops", "100d"), 2, "--flops: value: '100d' is neither a number (the FLOP budget) nor a file");
        // the grammar's numbers are the same for whole options: 1e1 is ten weights
        assertEquals(0, prune("--nnz", "1e1", "--quiet").code());
    }

    /**
     * --threads=abc was told "is not a number (digits with an optional sign, point and exponent, e.g. 0.3, 25 or 1e-3)":
     * examples of a whole-number option it then refused ("'0.3' is not a whole number"). A whole-number option's
     * refusal asks for a whole number, and each example it gives is one that option takes.
     */
    @Test
    void aWholeNumberOptionsRefusalGivesWholeExamplesItTakes() {
        String[][] refused = {{"--threads", "abc"}, {"--nnz", "ten"}, {"--n", "x"}, {"--seed", "0x10"}, {"--stages", ""}};
        for (String[] option : refused) {
            MainTest.Run r = prune(option);
            assertRefused(r, 2, "Invalid value for option '" + option[0] + "'", "whole number");
            assertFalse(r.err().contains("0.3") || r.err().contains("1e-3") || r.err().contains("point"), r.err());
            java.util.regex.Matcher examples = java.util.regex.Pattern.compile("e\\.g\\. ([^)]*)\\)").matcher(r.err());
            assertTrue(examples.find(), "no examples: " + r.err());
            for (String example : examples.group(1).split(", | or ")) {
                // each is read by the grammar of every whole-number option (whether it is in an option's range is the option's to say)
                dev.falcon.model.Numbers.parseWhole(example.trim(), Integer.MIN_VALUE, Integer.MAX_VALUE);
            }
        }
        // what was taken before is still taken: the grammar did not change, only what the refusal says
        assertEquals(0, prune("--nnz", "1e1", "--quiet").code());
        assertEquals(0, prune("--nnz", "10.0", "--quiet").code());
    }

    /** 1e400 and 1e-400 became Infinity and 0, and the message said "is Infinity" and "is 0" for what the user typed. */
    @Test
    void valuesBeyondADoubleAreRefusedAsTyped() {
        assertRefused(prune("--keep-flops", "1e400"), 2, "'1e400' is beyond the largest number falcon reads");
        assertRefused(prune("--grads", x.toString(), "--lambda", "1e-400"), 2, "'1e-400' is closer to 0 than the smallest number");
        // --flops reads its value in a setter: the refusal is the one line the other options give
        MainTest.Run flops = prune("--flops", "-1e400");
        assertRefused(flops, 2);
        assertEquals("falcon: error: Invalid value for option '--flops': '-1e400' is beyond the largest number falcon reads (about 1.8e308)",
                flops.err().lines().findFirst().orElse(""), flops.err());
        assertFalse(flops.err().contains("TypeConversionException"), flops.err());
    }

    /**
     * A count beyond its Java type was "outside the whole numbers from -2147483648 to 2147483647 this option takes",
     * a range --n (from 1) does not take: only the side crossed is named, as a limit, not as the option's range.
     */
    @Test
    void countsBeyondTheirTypeNameOnlyTheSideCrossed() {
        assertRefused(prune("--n", "2147483648"), 2,
                "Invalid value for option '--n': '2147483648' is above every value this option takes (none is above 2147483647)");
        assertRefused(prune("--n", "-9999999999"), 2, "'-9999999999' is below every value this option takes (none is below -2147483648)");
        assertRefused(prune("--n", "1e99999999999"), 2, "'1e99999999999' is above every value this option takes");
        // an exponent beyond an int that is negative makes a fraction, not a number beyond the range
        assertRefused(prune("--n", "1e-99999999999"), 2, "'1e-99999999999' is not a whole number");
        assertRefused(prune("--n", "-1e-99999999999"), 2, "'-1e-99999999999' is not a whole number");
        for (String v : List.of("2147483648", "-9999999999")) {
            assertFalse(prune("--n", v).err().contains("whole numbers from"), v);
        }
    }

    /** --flops "" was taken for the current folder: "both given" beside --layers, "is a directory" without it. */
    @Test
    void anEmptyFlopsIsSaidToBeEmpty() {
        assertRefused(prune("--flops", ""), 2, "--flops: value: is empty");
        assertRefused(MainTest.run("prune", "--weights", weights.toString(), "--flops", "", "--out", out.resolve("p.npy").toString()), 2,
                "--flops: value: is empty");
        assertRefused(prune("--keep-flops", ""), 2, "the value is empty");
    }

    /** -X X.npy:foo said "X.npy:foo: file: does not exist" beside an X.npy that does: the suffix is for .safetensors files. */
    @Test
    void aTensorSuffixOnAnotherKindOfFileIsExplained() {
        assertRefused(prune("--grads", x + ":foo"), 2, x + ":foo: file: does not exist; " + x + " does, but a :TENSOR suffix names a tensor"
                + " of a .safetensors file only", "give " + x + " alone");
    }

    /** Messages said "is 0.0", "is -1.0", "at most 1.0E30", "is -5.0" and "is 1.0E20" for 0, -1, 1e30, -5 and 1e20. */
    @Test
    void messagesShowNumbersAsTyped() throws IOException {
        assertRefused(prune("--grads", x.toString(), "--lambda", "0"), 2, "--lambda: value: is 0, it must be positive and at most 1e30");
        assertRefused(prune("--grads", x.toString(), "--method", "falcon", "--tolerance", "-1"), 2, "--tolerance: value: is -1, it must");
        assertRefused(prune("--grads", x.toString(), "--method", "falcon++", "--start-keep-flops", "0"), 2, "--start-keep-flops: value: is 0, outside");
        // a rounds error suggested --rounds 4, where the default is 25
        assertRefused(prune("--grads", x.toString(), "--method", "falcon", "--rounds", "0"), 2, "e.g. --rounds 25 (the default)");
        // a FLOP budget of 0.113 was "0.113000" (%.6g)
        MainTest.Run tiny = prune("--keep-flops", "0.001");
        assertRefused(tiny, 3, "FLOP budget 0.113");
        assertFalse(tiny.err().contains("0.113000"), tiny.err());

        Path negativeCount = dir.resolve("count.json"), negativeCost = dir.resolve("cost.json");
        Files.writeString(negativeCount, "{\"layers\": [{\"name\": \"a\", \"shape\": [12], \"flops_per_weight\": 9, \"count\": 1e20},"
                + " {\"name\": \"b\", \"shape\": [5], \"flops_per_weight\": 1}]}");
        Files.writeString(negativeCost, "{\"layers\": [{\"name\": \"a\", \"shape\": [12], \"flops_per_weight\": -5},"
                + " {\"name\": \"b\", \"shape\": [5], \"flops_per_weight\": 1}]}");
        for (Path table : List.of(negativeCount, negativeCost)) {
            MainTest.Run r = MainTest.run("prune", "--weights", weights.toString(), "--layers", table.toString(), "--out", out.resolve("p.npy").toString());
            assertRefused(r, 2, table == negativeCount ? ".count: is 1e20, not an integer" : ".flops_per_weight: is -5;");
        }
        Path costs = dir.resolve("f.npy");
        try (FloatPointer f = new FloatPointer(MainTest.P)) {
            for (int i = 0; i < MainTest.P; i++) f.put(i, i == 3 ? -1f : 1f);
            Npy.writeFloat32(costs, f, new long[] {MainTest.P});
        }
        assertRefused(MainTest.run("prune", "--weights", weights.toString(), "--flops-per-weight", costs.toString(), "--out", out.resolve("p.npy").toString()),
                2, "element 3 is -1;");
    }

    /** --flops=-0 was reported as "-0.00%" in the summary and -0.0 in the report. */
    @Test
    void minusZeroIsZero() throws IOException {
        MainTest.Run r = prune("--flops=-0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("FLOPs <= 0 (0.00%, --flops 0)"), r.out());
        JsonNode asked = report().at("/budgets/asked");
        assertEquals("0.0", asked.get("flops").asText(), asked.toString());
        assertEquals("0.0", asked.get("flops_fraction").asText(), asked.toString());
        assertFalse(Files.readString(out.resolve("r.json")).contains("-0.0"), "no -0 in the report");
    }

    /**
     * budgets.asked.nnz_fraction was the rounded budget's fraction, nnz / p, where flops_fraction beside it is the fraction
     * asked for: --sparsity 0.7 of 2,024 weights recorded 0.299901185770751, and --keep-nnz 0.999 0.9985177865612648. A
     * reader of it (or of 1 - it as the sparsity asked for) got a fraction nobody asked for. --nnz N has no fraction but N / p.
     */
    @Test
    void theNnzFractionAskedIsTheOneTyped() throws IOException {
        // 17 weights: --sparsity 0.7 keeps 5 (5 / 17 = 0.294), --keep-nnz 0.999 keeps 16 (0.941)
        for (String[] asked : List.of(new String[] {"--sparsity", "0.7", "0.3"}, new String[] {"--keep-nnz", "0.999", "0.999"},
                new String[] {"--sparsity", "0.9", "0.1"})) {
            MainTest.Run r = prune(asked[0], asked[1], "--quiet");
            assertEquals(0, r.code(), r.err());
            JsonNode budgets = report().at("/budgets/asked");
            assertEquals(asked[2], budgets.get("nnz_fraction").asText(), String.join(" ", asked) + ": " + budgets);
            assertEquals(asked[0] + " " + asked[1], budgets.get("nnz_request").asText(), budgets.toString());
        }
        MainTest.Run r = prune("--nnz", "5", "--quiet");
        assertEquals(0, r.code(), r.err());
        assertEquals(5.0 / MainTest.P, report().at("/budgets/asked/nnz_fraction").asDouble(), "--nnz N: N / p");
    }
}
