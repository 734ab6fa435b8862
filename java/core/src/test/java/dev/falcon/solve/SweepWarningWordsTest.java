package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.io.SettingName;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * The warning of a block-coordinate backsolve stopped at its sweep cap advised "--backsolve exact" to an embedder, who
 * runs mp with Backsolve.Mode.SWEEP in Java and changes Backsolve.Mode.EXACT; the CLI, which prints the library's
 * warnings itself, still says its option (MainTest checks that line).
 */
class SweepWarningWordsTest {
    /** A handler that keeps every record published to it in {@code records}. */
    private static Handler capturingInto(List<LogRecord> records) {
        return new Handler() {
            @Override public void publish(LogRecord r) { records.add(r); }
            @Override public void flush() {}
            @Override public void close() {}
        };
    }

    @Test
    void theSweepCapWarningNamesTheJavaSettingAndCarriesTheCliOption() {
        Logger log = Logger.getLogger(Backsolve.class.getName());
        List<LogRecord> records = new ArrayList<>();
        Handler capture = capturingInto(records);
        log.addHandler(capture);
        // X = 0 and lambda = 1e-300: the sweeps never settle (as PrunerTest.aBacksolveWhoseWeightsOverflowFloatIsNotKept)
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {1}, 1, 0, 1)), "test");
        String inCliWords;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(1f);
             FloatPointer g = new FloatPointer(1f); HostMatrix x = HostMatrix.allocate(1, 1)) {
            x.data().put(0, 0f);
            try (PruneResult r = pruner.prune(Method.MP, w, t, Budgets.resolve(t, null, null, null, 1L, null),
                    new Pruner.SolverInputs(x, g, 1e-300, SolverOptions.defaults(), Backsolve.Mode.SWEEP))) {
                assertEquals(1, r.kept());
                inCliWords = r.solve().backsolveWarningInCliWords();
            }
        } finally {
            log.removeHandler(capture);
        }
        List<LogRecord> sweeps = records.stream().filter(r -> r.getMessage().contains("block-coordinate backsolve stopped")).toList();
        assertEquals(1, sweeps.size(), records.toString());
        String asLogged = new SimpleFormatter().formatMessage(sweeps.get(0));
        assertTrue(asLogged.contains("Backsolve.Mode.EXACT solves the same model directly"), asLogged);
        assertFalse(asLogged.contains("--backsolve"), asLogged);
        assertTrue(asLogged.contains("the exact model's;"), "the apostrophe, through MessageFormat: " + asLogged);
        // this instance's Q overflows: it has no rate of fall to report
        assertFalse(asLogged.contains("NaN per sweep"), asLogged);
        assertTrue(asLogged.contains("with Q not finite ("), asLogged);
        Object[] parameters = sweeps.get(0).getParameters();
        assertTrue(parameters != null && parameters.length == 1 && parameters[0] instanceof SettingName s && s.cli().equals("--backsolve exact"),
                "the CLI's option for its own form of the line");
        // the result's CLI form is the logged record put in the CLI's words by the conversion the CLI's stderr line uses
        // (report.json's copy was a text replace of one setting's Java name in the formatted message: rev-diff36a finding 4)
        LogRecord asTheCliPrintsIt = new LogRecord(sweeps.get(0).getLevel(), sweeps.get(0).getMessage());
        asTheCliPrintsIt.setParameters(SettingName.inCliWords(parameters));
        assertEquals(new SimpleFormatter().formatMessage(asTheCliPrintsIt), inCliWords);
        assertTrue(inCliWords.contains("--backsolve exact solves the same model directly") && !inCliWords.contains("Backsolve.Mode"), inCliWords);
    }

    /** Every setting a message names is put in the CLI's words, and nothing else (the library's prose keeps its words). */
    @Test
    void theCliWordsReplaceEachSettingAndNothingElse() {
        SettingName exact = new SettingName("Backsolve.Mode.EXACT", "--backsolve exact");
        SettingName hessian = new SettingName("SolverOptions.hessian", "--hessian");
        Object[] parameters = {exact, "Backsolve.Mode.EXACT as prose", 3, hessian};
        assertArrayEquals(new Object[] {"--backsolve exact", "Backsolve.Mode.EXACT as prose", 3, "--hessian"}, SettingName.inCliWords(parameters));
        assertEquals(exact, parameters[0], "the record's own parameters are left as logged");
        assertNull(SettingName.inCliWords(null));
    }

    /**
     * The warning was told once per process (a static flag): a first prune with falcon's logging off used it up without
     * printing it, every later prune of the JVM stopped short without a word, and no result said so (rev-emb36 finding 1).
     * It is told once per prune now, and each result carries it.
     */
    @Test
    void eachPruneTellsItsOwnStopShortAndItsResultCarriesIt() {
        Logger log = Logger.getLogger(Backsolve.class.getName());
        List<LogRecord> records = new ArrayList<>();
        Handler capture = new Handler() {
            @Override public void publish(LogRecord r) { if (isLoggable(r)) records.add(r); }
            @Override public void flush() {}
            @Override public void close() {}
        };
        Level levelBefore = log.getLevel();
        log.addHandler(capture);
        List<String> carried = new ArrayList<>();
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {1}, 1, 0, 1)), "test");
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(1f);
             FloatPointer g = new FloatPointer(1f); HostMatrix x = HostMatrix.allocate(1, 1)) {
            x.data().put(0, 0f);
            for (Level level : List.of(Level.OFF, Level.ALL)) {
                // a quiet warm-up prune, then one with logging on: both stop at the cap (X = 0, lambda = 1e-300)
                log.setLevel(level);
                try (PruneResult r = pruner.prune(Method.MP, w, t, Budgets.resolve(t, null, null, null, 1L, null),
                        new Pruner.SolverInputs(x, g, 1e-300, SolverOptions.defaults(), Backsolve.Mode.SWEEP))) {
                    carried.add(r.solve().backsolveWarning());
                }
            }
        } finally {
            log.removeHandler(capture);
            log.setLevel(levelBefore);
        }
        assertEquals(1, records.stream().filter(r -> r.getMessage().contains("block-coordinate backsolve stopped")).count(),
                "the prune with logging on tells its own stop: " + records);
        assertEquals(2, carried.size());
        for (String warning : carried) {
            assertTrue(warning != null && warning.startsWith("block-coordinate backsolve stopped after 100 sweeps")
                    && warning.contains("Backsolve.Mode.EXACT solves the same model directly (told once per prune)"), String.valueOf(warning));
        }
    }

    /**
     * The crawl warning's bound on how far the minimum lies below Q was printed absolute (8.50e-02 at Q 2.1e-11) beside its
     * relative tolerance, and read as 8.5%; it is now relative to Q, and a bound beyond Q itself says it rules nothing out.
     */
    @Test
    void theCrawlWarningsBoundIsRelativeToQ() {
        assertEquals("it allows the minimum up to 3.20e-04 relative lower", Backsolve.gapRelativeToQ(3.2e-15, 1e-11, false));
        // with a linear term Q may be negative: relative to its size
        assertEquals("it allows the minimum up to 5.00e-04 relative lower", Backsolve.gapRelativeToQ(1e-3, -2, true));
        String beyondQ = Backsolve.gapRelativeToQ(8.5e-2, 2.1e-11, false);
        assertTrue(beyondQ.contains("up to 4.05e+09 times Q lower") && beyondQ.contains("more than Q itself"), beyondQ);
        assertFalse(beyondQ.contains("8.50e-02"), beyondQ);
        assertEquals("it sets no bound on how far lower the minimum lies", Backsolve.gapRelativeToQ(1e-3, 0, false));
        assertEquals("it sets no bound on how far lower the minimum lies", Backsolve.gapRelativeToQ(Double.NaN, 1, false));
    }

    /**
     * With a linear term Q may be negative and Q* lies below zero: a bound beyond |Q| read "1.50e+00 times Q lower" at
     * Q = -2 (1.5 x -2, the wrong sign) and said it ruled nothing out, while Q* >= Q - 3 = -5 is a bound (rev-diff36a
     * finding 2). It is relative to |Q| below Q there, with the lowest Q it allows.
     */
    @Test
    void withALinearTermTheBoundBeyondQIsRelativeToItsSizeAndStillABound() {
        assertEquals("it allows the minimum up to 1.50e+00 times |Q| below Q, as low as -5.00e+00",
                Backsolve.gapRelativeToQ(3, -2, true));
        // a positive Q with a linear term: Q* may be negative, so a bound beyond Q still says something
        assertEquals("it allows the minimum up to 2.00e+00 times |Q| below Q, as low as -2.00e+00",
                Backsolve.gapRelativeToQ(4, 2, true));
        assertEquals("it allows the minimum up to 5.00e-04 relative lower", Backsolve.gapRelativeToQ(1e-3, -2, true));
        assertEquals("it allows the minimum as low as -1.00e-03", Backsolve.gapRelativeToQ(1e-3, 0, true));
        assertEquals("it sets no bound on how far lower the minimum lies", Backsolve.gapRelativeToQ(Double.NaN, -2, true));
        String withoutLinearTerm = Backsolve.gapRelativeToQ(8.5e-2, 2.1e-11, false);
        assertTrue(withoutLinearTerm.contains("up to 4.05e+09 times Q lower") && withoutLinearTerm.contains("more than Q itself"),
                withoutLinearTerm);
    }
    /**
     * The skipped backsolve's warning (a rank-1 X, lambda 1e-14) read in the Java API and the library's log as the CLI's
     * refusal does, "--lambda: value: lambda = ...; give a larger --lambda", the Java setting only in a parenthesis, and
     * backsolveWarning() and backsolveWarningInCliWords() were the same string. The API's names the lambda of
     * Pruner.SolverInputs; the CLI's form is the logged record in the CLI's words, as its stderr line prints it.
     */
    @Test
    void theSkippedBacksolvesWarningNamesTheJavaLambdaAndCarriesTheCliOption() {
        Logger log = Logger.getLogger(Backsolve.class.getName());
        List<LogRecord> records = new ArrayList<>();
        Handler capture = capturingInto(records);
        log.addHandler(capture);
        int n = 6, p = 17;
        LayerTable t = new LayerTable(List.of(new Layer("conv", new long[] {4, 3}, 9, 0, 12), new Layer("fc", new long[] {5}, 1, 12, 5)), "test");
        String inJava, inCliWords;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(p);
             HostMatrix x = HostMatrix.allocate(n, p)) {
            java.util.Random random = new java.util.Random(2);
            for (int j = 0; j < p; j++) w.put(j, (float) random.nextGaussian());
            // rank 1: every support's ridge system is singular but for lambda, which is below its rounding
            for (int i = 0; i < n; i++) for (int j = 0; j < p; j++) x.data().put((long) j * n + i, (float) ((i + 1) * Math.sin(j + 1.0))); // column-major
            try (PruneResult r = pruner.prune(Method.FALCON, w, t, Budgets.resolve(t, null, null, null, 5L, null),
                    new Pruner.SolverInputs(x, null, 1e-14, SolverOptions.defaults(), null))) {
                inJava = r.solve().backsolveWarning();
                inCliWords = r.solve().backsolveWarningInCliWords();
            }
        } finally {
            log.removeHandler(capture);
        }
        String skip = "falcon skipped the backsolve of a support whose ridge system is singular, keeping the DFO's weights there: lambda = 1.00e-14 leaves";
        assertTrue(inJava != null && inJava.startsWith(skip) && inJava.contains("; give a larger lambda in Pruner.SolverInputs, ")
                && !inJava.contains("--lambda"), String.valueOf(inJava));
        assertTrue(inCliWords.contains("there: --lambda: value: lambda = 1.00e-14 leaves") && inCliWords.contains("; give a larger --lambda, "), inCliWords);
        List<LogRecord> skips = records.stream().filter(r -> new SimpleFormatter().formatMessage(r).startsWith("falcon skipped the backsolve")).toList();
        assertEquals(1, skips.size(), "told once per prune: " + records);
        assertEquals(inJava, new SimpleFormatter().formatMessage(skips.get(0)), "the log says what the result carries");
        LogRecord asTheCliPrintsIt = new LogRecord(skips.get(0).getLevel(), skips.get(0).getMessage());
        asTheCliPrintsIt.setParameters(SettingName.inCliWords(skips.get(0).getParameters()));
        assertEquals(inCliWords, new SimpleFormatter().formatMessage(asTheCliPrintsIt));
    }
}
