package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.falcon.io.LayersJson;
import dev.falcon.io.Npy;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The summary's figures against the report's and against what they stand for (rev-report39). */
class SummaryFiguresTest {
    @TempDir Path dir;
    final ObjectMapper mapper = new ObjectMapper();

    /** Gaussian values times {@code scale}, as floats. */
    private static void writeGaussian(Path file, long seed, double scale, long... shape) {
        long count = 1;
        for (long s : shape) count *= s;
        try (FloatPointer v = new FloatPointer(count)) {
            java.util.Random r = new java.util.Random(seed);
            for (long i = 0; i < count; i++) v.put(i, (float) (scale * r.nextGaussian()));
            Npy.writeFloat32(file, v, shape);
        }
    }

    private Path layers(Layer... layers) {
        Path file = dir.resolve("layers.json");
        LayersJson.write(file, new LayerTable(List.of(layers), "test"));
        return file;
    }

    private String[] prune(Path x, Path layers, String... extra) {
        List<String> a = new ArrayList<>(List.of("prune", "--weights", dir.resolve("w.npy").toString(), "--layers", layers.toString(),
                "--grads", x.toString(), "--out", dir.resolve("o.npy").toString(), "--mask", dir.resolve("m.npy").toString(),
                "--report", dir.resolve("r.json").toString(), "--device", "java"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    private JsonNode report() throws IOException {
        return mapper.readTree(dir.resolve("r.json").toFile());
    }

    /**
     * The report's stage seconds leave out the hashing of the stage's X file (as the solve's do); the summary's stage
     * lines printed the raw time, so the same stage showed two times (rev-report39: 4.78 s against 4.6205). Stage files
     * of 9.6 MB take milliseconds enough to hash, which the two-decimal figure shows.
     */
    @Test
    void eachStageLineShowsTheSecondsItsReportRowGives() throws IOException {
        // The stage files keep their 9.6 MB (n x p floats), whose hashing takes the milliseconds the figure shows; the solve
        // is made cheap instead (p = 150,000 at n = 16 with backsolves, searches and polish took ~17 s): fewer weights,
        // more rows, no backsolve, one round of one DFO step.
        int p = 24_000, n = 100;
        writeGaussian(dir.resolve("w.npy"), 1, 1, p);
        for (int t = 0; t < 3; t++) writeGaussian(dir.resolve("X_" + t + ".npy"), 10 + t, 0.3, n, p);
        Path layers = layers(new Layer("a", new long[] {16_000}, 2, 0, 16_000), new Layer("b", new long[] {8_000}, 1, 16_000, 8_000));
        CliRun r = CliRun.of(prune(dir.resolve("X_{t}.npy"), layers, "--method", "falcon++", "--stages", "3", "--keep-flops", "0.3",
                "--max-iterations", "1", "--rounds", "1", "--backsolve", "none"));
        assertEquals(0, r.code(), r.err());
        JsonNode stages = report().at("/objective/solver/stages");
        Matcher line = Pattern.compile("  stage (\\d+): .*, (\\d+\\.\\d\\d) s; X: ").matcher(r.out());
        int seen = 0;
        while (line.find()) {
            double reported = stages.get(Integer.parseInt(line.group(1))).path("seconds").asDouble();
            assertEquals(String.format(Locale.ROOT, "%.2f", reported), line.group(2), "stage " + line.group(1) + ": " + r.out() + stages);
            seen++;
        }
        assertEquals(3, seen, r.out());
    }

    /**
     * Fractions printed to two decimals read 100.00% for budgets that prune (resnet20 --keep-nnz 0.99999: 3 weights
     * pruned) and 0.00% for ones that keep weights; a FLOP budget of 330,000.011 printed as 330,000.
     */
    @Test
    void fractionsBelowOneAndAboveZeroAndFlopBudgetsThatAreNotWholeReadSo() throws IOException {
        int p = 600_000;
        writeGaussian(dir.resolve("w.npy"), 1, 1, p);
        writeGaussian(dir.resolve("X.npy"), 2, 0.3, 2, p);
        Path layers = layers(new Layer("a", new long[] {500_000}, 2, 0, 500_000), new Layer("b", new long[] {100_000}, 1, 500_000, 100_000));
        CliRun near = CliRun.of(prune(dir.resolve("X.npy"), layers, "--method", "magnitude", "--keep-nnz", "0.999999",
                "--keep-flops", "0.30000001"));
        assertEquals(0, near.code(), near.err());
        assertFalse(near.out().contains("100.00%"), near.out());
        Matcher flops = Pattern.compile("FLOPs <= ([0-9,.]+) \\(").matcher(near.out());
        assertTrue(flops.find(), near.out());
        double budget = report().at("/budgets/asked/flops").asDouble();
        assertNotEquals(budget, Math.rint(budget), "the case needs a FLOP budget that is not whole");
        assertTrue(flops.group(1).contains("."), "FLOP budget " + budget + " shown as " + flops.group(1) + ": " + near.out());

        CliRun few = CliRun.of(prune(dir.resolve("X.npy"), layers, "--method", "magnitude", "--nnz", "1", "--keep-flops", "0.000001"));
        assertEquals(0, few.code(), few.err());
        assertFalse(few.out().contains("(0.00%"), few.out());
    }

    /**
     * The budgets line gave the fraction asked beside the count it floors to: "NNZ <= 2,519 (99.99%, --keep-nnz 0.9999)"
     * next to "achieved: NNZ 2,519 (99.96%)" at p = 2,520. The count's own share goes beside it; the request keeps the fraction.
     */
    @Test
    void theNnzBudgetsShareIsTheCountsOwn() throws IOException {
        MainTest.writeModel(dir.resolve("X.npy"), dir.resolve("w.npy"), dir.resolve("layers.json"));
        CliRun r = CliRun.of(prune(dir.resolve("X.npy"), dir.resolve("layers.json"), "--method", "magnitude", "--keep-nnz", "0.99"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("NNZ <= 16 (94.12%, --keep-nnz 0.99)"), r.out());
        assertTrue(r.out().contains("achieved: NNZ 16 (94.12%)"), r.out());
    }

    /** rev-report39's t1 (numpy's default_rng(1): p = 2,520 in 4 layers, n = 24) into the test's folder. */
    private void copyBacksolveNeverKeptCase() throws IOException {
        for (String name : List.of("w.npy", "X.npy", "layers.json")) {
            try (var in = getClass().getResourceAsStream("/backsolve-never-kept/" + name)) {
                java.nio.file.Files.copy(in, dir.resolve(name));
            }
        }
    }

    /**
     * falcon --backsolve block whose every block backsolve landed above its DFO point keeps the DFO's weights; the summary
     * and the report said only "backsolve block", where mp + BS says backsolve_not_kept.
     */
    @Test
    void aFalconBacksolveNeverKeptIsSaid() throws IOException {
        // rev-report39's t1 (numpy's default_rng(1): p = 2,520 in 4 layers, n = 24), where each block backsolve lands above
        copyBacksolveNeverKeptCase();
        CliRun r = CliRun.of(prune(dir.resolve("X.npy"), dir.resolve("layers.json"), "--method", "falcon", "--backsolve", "block",
                "--block-size", "300", "--keep-flops", "0.3", "--keep-nnz", "0.4"));
        assertEquals(0, r.code(), r.err());
        JsonNode solver = report().at("/objective/solver");
        int backsolves = 0;
        for (JsonNode row : solver.path("iteration_log")) {
            String note = row.path("note").asText();
            if (!note.startsWith("backsolve block")) continue;
            backsolves++;
            assertTrue(note.endsWith("which is kept"), "the case needs every block backsolve above its DFO point: " + solver.path("iteration_log"));
        }
        assertTrue(backsolves > 0, solver.toString());
        String solverLine = r.out().lines().filter(l -> l.startsWith("  solver:")).findFirst().orElseThrow();
        assertTrue(solverLine.contains("backsolve block never kept"), solverLine);
        assertTrue(solver.path("backsolve_not_kept").asText().contains("the weights are the DFO's"), solver.toString());
    }

    /**
     * A block backsolve row above its DFO point quoted the DFO point's Q to 9 digits, which read the same as the row's
     * own Q (rev-json41: row 0.13410065635760188, note "above the DFO point's Q 0.134100656, which is kept"), so the rise
     * the note claims could not be seen. numpy's default_rng(1): p = 2,200 in 4 layers, n = 32.
     */
    @Test
    void aBacksolveRowAboveItsDfoPointQuotesItsQToDigitsThatShowTheRise() throws IOException {
        for (String name : List.of("w.npy", "X.npy", "layers.json")) {
            try (var in = getClass().getResourceAsStream("/backsolve-near-tie/" + name)) {
                java.nio.file.Files.copy(in, dir.resolve(name));
            }
        }
        CliRun r = CliRun.of(prune(dir.resolve("X.npy"), dir.resolve("layers.json"), "--method", "falcon", "--backsolve", "block",
                "--hessian", "block", "--block-size", "500", "--keep-flops", "0.4"));
        assertEquals(0, r.code(), r.err());
        Pattern quoted = Pattern.compile("above the DFO point's (?:exact )?Q ([0-9.eE+-]+)");
        int rises = 0;
        for (JsonNode row : report().at("/objective/solver/iteration_log")) {
            Matcher m = quoted.matcher(row.path("note").asText());
            if (!m.find()) continue;
            rises++;
            String shown = m.group(1);
            int digits = shown.replaceFirst("[eE].*", "").replace(".", "").replaceFirst("^0+", "").length();
            double q = row.path("q").asDouble();
            assertNotEquals(String.format(Locale.ROOT, "%." + digits + "g", q), shown, "the note's Q reads as the row's: " + row);
            assertTrue(Double.parseDouble(shown) < q, row.toString());
        }
        assertTrue(rises > 0, "the case needs a backsolve row above its DFO point: " + report().at("/objective/solver/iteration_log"));
    }

    /**
     * Whether falcon's backsolve is said not kept went by whether any backsolve was ever kept: with --block-size 1300
     * round 1's backsolve and searches were kept, every later round's block backsolve landed above its DFO point, and the
     * final weights were the last round's DFO point, while the summary and report said only "backsolve block".
     */
    @Test
    void finalWeightsFromTheDfoAreSaidNotBacksolvedThoughAnEarlierBacksolveWasKept() throws IOException {
        copyBacksolveNeverKeptCase();
        CliRun r = CliRun.of(prune(dir.resolve("X.npy"), dir.resolve("layers.json"), "--method", "falcon", "--backsolve", "block",
                "--block-size", "1300", "--keep-flops", "0.3", "--keep-nnz", "0.4"));
        assertEquals(0, r.code(), r.err());
        JsonNode solver = report().at("/objective/solver");
        double qFinal = solver.at("/q_final/ours").asDouble();
        JsonNode closest = null;
        boolean someBacksolveKept = false;
        for (JsonNode row : solver.path("iteration_log")) {
            String note = row.path("note").asText();
            if (note.equals("backsolve block") || note.endsWith("(backsolved steps)") || note.endsWith("(backsolved)")) someBacksolveKept = true;
            if (closest == null || Math.abs(row.path("q").asDouble() - qFinal) <= Math.abs(closest.path("q").asDouble() - qFinal)) closest = row;
        }
        assertTrue(someBacksolveKept, "the case needs an earlier backsolve kept: " + solver.path("iteration_log"));
        assertTrue(closest.path("iteration").asInt() > 0, "the case needs final weights from a DFO row: " + closest);
        String solverLine = r.out().lines().filter(l -> l.startsWith("  solver:")).findFirst().orElseThrow();
        assertTrue(solver.path("backsolve_not_kept").asText().contains("weights are the DFO's"), solverLine + "\n" + solver.path("backsolve_not_kept"));
        assertTrue(solverLine.contains("weights are the DFO's"), solverLine);
        assertFalse(solverLine.contains("never kept"), "an earlier backsolve was kept: " + solverLine);
    }

    /**
     * 99.99888% printed as 99.999% (rounded up to three 9s after the point) and 0.00149% as 0.001%: past the leading 9s
     * or 0s the summary shows at least two significant digits.
     */
    @Test
    void percentagesNearOneHundredAndZeroShowTwoDigitsPastTheLeadingNinesOrZeros() {
        for (double fraction : new double[] {0.9999888, 0.0000149, 0.99991, 0.9999999, 1e-9, 0.99999999999}) {
            String shown = PruneCommand.percent(fraction);
            double value = Double.parseDouble(shown.substring(0, shown.length() - 1));
            double distance = Math.min(100 * fraction, 100 - 100 * fraction);
            double shownDistance = Math.min(value, 100 - value);
            // two significant digits of the distance from 0% or 100% are within 5% of it
            assertTrue(Math.abs(shownDistance - distance) <= 0.05 * distance, fraction + " shown as " + shown);
        }
        assertEquals("99.9989%", PruneCommand.percent(0.9999888));
        assertEquals("0.0015%", PruneCommand.percent(0.0000149));
        assertEquals("47.36%", PruneCommand.percent(0.47364));
    }

    /**
     * A share below 0.01% took one decimal per leading zero up to a cap of 17: 1e-39 of the dense FLOPs printed
     * "0.00000000000000000%", 17 digits that read as zero, where the rule is that a nonzero share never reads 0.00%.
     * A tiny share is shown by its two significant digits and its exponent.
     */
    @Test
    void tinySharesAreShownShortlyByTheirTwoSignificantDigits() {
        for (double fraction : new double[] {1e-39, 1e-50, 1e-17, 2.5e-7, Double.MIN_VALUE}) {
            String shown = PruneCommand.percent(fraction);
            double value = Double.parseDouble(shown.substring(0, shown.length() - 1));
            assertTrue(value > 0 && Math.abs(value - 100 * fraction) <= 0.05 * 100 * fraction, fraction + " shown as " + shown);
            assertTrue(shown.length() <= 10, fraction + " shown as " + shown + ", " + shown.length() + " characters");
        }
        assertEquals("1.0e-37%", PruneCommand.percent(1e-39));
    }

    /** A float64 .npy of {@code values}. */
    private Path float64(String name, double... values) throws IOException {
        byte[] header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (" + values.length + ",), }").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(10 + header.length + 8 * values.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)).put((byte) 1).put((byte) 0).putShort((short) header.length).put(header);
        for (double v : values) b.putDouble(v);
        Path f = dir.resolve(name);
        java.nio.file.Files.write(f, b.array());
        return f;
    }

    /**
     * The review's case: weights [1, 2] at costs [1e39, 1] under --keep-flops 0.5 keep the weight of cost 1, and the
     * achieved line read "FLOPs 1 (0.00000000000000000%)"; costs [1e-50, 1] read "FLOPs 1.00000e-50
     * (0.00000000000000000%)". Every percentage of the budgets and achieved lines is short and within 5% of the report's
     * fraction.
     */
    @Test
    void theBudgetsAndAchievedLinesShowTinyFlopSharesShortly() throws IOException {
        try (FloatPointer w = new FloatPointer(1f, 2f)) {
            Npy.writeFloat32(dir.resolve("w2.npy"), w, new long[] {2});
        }
        writeGaussian(dir.resolve("X2.npy"), 5, 1, 3, 2);
        Pattern percentage = Pattern.compile("\\(([^,()%]+)%");
        for (double[] costs : new double[][] {{1e39, 1}, {1e-50, 1}}) {
            Path costFile = float64("costs.npy", costs);
            CliRun r = CliRun.of("prune", "--weights", dir.resolve("w2.npy").toString(), "--flops-per-weight", costFile.toString(),
                    "-X", dir.resolve("X2.npy").toString(), "--keep-flops", "0.5", "--out", dir.resolve("b.npy").toString(),
                    "--report", dir.resolve("b.json").toString(), "--device", "java");
            assertEquals(0, r.code(), r.err());
            JsonNode budgets = mapper.readTree(dir.resolve("b.json").toFile()).path("budgets");
            String achievedLine = r.out().lines().filter(l -> l.startsWith("  achieved:")).findFirst().orElseThrow();
            String budgetsLine = r.out().lines().filter(l -> l.startsWith("  budgets:")).findFirst().orElseThrow();
            double keptShare = budgets.at("/achieved/flops").asDouble() / budgets.at("/dense/flops").asDouble();
            assertTrue(keptShare > 0 && keptShare < 1e-38, "the case needs a tiny kept share: " + keptShare);
            List<String> shown = new ArrayList<>();
            for (String line : List.of(budgetsLine, achievedLine)) {
                Matcher m = percentage.matcher(line);
                while (m.find()) shown.add(m.group(1));
            }
            assertEquals(4, shown.size(), budgetsLine + "\n" + achievedLine);
            for (String s : shown) assertTrue(s.length() <= 9, "a percentage of " + s.length() + " characters: " + budgetsLine + "\n" + achievedLine);
            double achievedShown = Double.parseDouble(shown.get(3));
            assertTrue(achievedShown > 0 && Math.abs(achievedShown - 100 * keptShare) <= 0.05 * 100 * keptShare, achievedLine);
        }
    }

    /**
     * inspect's layer table gave each share to two decimals: a layer of one weight beside one of 2e9 read "0.00%" of the
     * parameters and the other "100.00%", and a layer of 5e-39 of the FLOPs "0.00%". Its shares follow the summary's rule.
     */
    @Test
    void inspectsLayerTableShowsNoNonzeroShareAsZeroAndNoShareBelowAllAsAll() {
        Path table = layers(new Layer("big", new long[] {2_000_000_000L}, 1e29, 0, 2_000_000_000L), new Layer("small", new long[] {1}, 1, 2_000_000_000L, 1));
        CliRun r = CliRun.of("inspect", table.toString());
        assertEquals(0, r.code(), r.err());
        // the big layer's FLOP share, 2e38 / (2e38 + 1), is 1 in double and is left out
        java.util.Map<String, double[]> shares = java.util.Map.of("big", new double[] {Double.NaN, 2e9 / (2e9 + 1)}, "small", new double[] {1 / (2e38 + 1), 1 / (2e9 + 1)});
        for (var layer : shares.entrySet()) {
            String row = r.out().lines().filter(l -> l.trim().startsWith(layer.getKey() + " ")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
            String[] columns = row.trim().split("\\s+");
            for (int c = 0; c < 2; c++) {
                if (Double.isNaN(layer.getValue()[c])) continue;
                String shown = columns[columns.length - 2 + c];
                double value = Double.parseDouble(shown.substring(0, shown.length() - 1)), share = 100 * layer.getValue()[c];
                double distance = Math.min(share, 100 - share), shownDistance = Math.min(value, 100 - value);
                assertTrue(shownDistance > 0 && Math.abs(shownDistance - distance) <= 0.05 * distance, layer.getKey() + "'s share " + share + "% shown as " + shown + ":\n" + r.out());
            }
        }
    }

    record CliRun(int code, String out, String err) {
        static CliRun of(String... args) {
            MainTest.Run r = MainTest.run(args);
            return new CliRun(r.code(), r.out(), r.err());
        }
    }
}
