package dev.falcon.prune;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.io.InputException;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.nio.FloatBuffer;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

class PrunerTest {
    private static final ExampleModel RESNET20 = ExampleModels.get("resnet20");
    /** 50 weights in two layers of unequal cost, with budgets that bind both: the solver tests' small problem. */
    private static final LayerTable TWO_LAYERS = new LayerTable(List.of(new Layer("a", new long[] {30}, 4, 0, 30),
            new Layer("b", new long[] {20}, 1, 30, 20)), "test");
    private static final Budgets TWO_LAYER_BUDGETS = Budgets.resolve(TWO_LAYERS, 0.3, null, 0.5, null, null);

    private static void checkResult(PruneResult r, LayerTable t, FloatPointer w) {
        long kept = 0;
        double flops = 0;
        long[] per = new long[t.size()];
        for (long i = 0; i < t.parameters(); i++) {
            if (r.mask().get(i) != 0) {
                int l = t.layerOf(i);
                kept++;
                flops += t.get(l).flopsPerWeight();
                per[l]++;
                assertEquals(w.get(i), r.prunedWeights().get(i));
            } else {
                assertEquals(0f, r.prunedWeights().get(i));
            }
        }
        assertEquals(kept, r.kept());
        assertEquals(flops, r.keptFlops(), 1e-6 * Math.max(1, flops));
        assertArrayEquals(per, r.keptPerLayer());
        assertTrue(r.kept() <= r.budgets().nnz(), "NNZ budget");
        assertTrue(r.keptFlops() <= r.budgets().flops() * (1 + 1e-12), "FLOP budget");
    }

    /**
     * Inputs the method never reads were dropped without a word: a StagePlan given to falcon or mp (its gradient source never
     * called, a plan of 0 stages and start levels of -5 and 7 not even checked), a backsolve asked of magnitude, and solver
     * options given to a method that runs no solver. The CLI refuses the same combinations (--stages without falcon++,
     * --backsolve with magnitude, the solver's options with mp or magnitude).
     */
    @Test
    void inputsTheMethodNeverReadsAreRefused() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            int[] calls = {0};
            dev.falcon.solve.MultiStage.GradientSource source = (stage, weights) -> { calls[0]++; return x; };
            var defaults = dev.falcon.solve.SolverOptions.defaults();
            for (Pruner.StagePlan plan : new Pruner.StagePlan[] {new Pruner.StagePlan(4, dev.falcon.solve.MultiStage.Schedule.EXP, 1, 1, source),
                    new Pruner.StagePlan(2, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.5, 0.5, null)}) {
                for (Method m : new Method[] {Method.FALCON, Method.MP, Method.MAGNITUDE}) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> pruner.prune(m, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, defaults, null, plan)).close(), m + " " + plan);
                    assertTrue(e.getMessage().startsWith("SolverInputs.stages: only applies to Method.FALCON_PLUS_PLUS")
                            && e.getMessage().contains("the method is " + m.cliName()) && e.getMessage().contains("pass null"), e.getMessage());
                }
            }
            assertEquals(0, calls[0], "the source of a refused plan is never called");
            for (var mode : new dev.falcon.solve.Backsolve.Mode[] {dev.falcon.solve.Backsolve.Mode.EXACT, dev.falcon.solve.Backsolve.Mode.BLOCK}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> pruner.prune(Method.MAGNITUDE, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, null, mode)).close());
                assertTrue(e.getMessage().startsWith("SolverInputs.mpBacksolve: is " + mode) && e.getMessage().contains("magnitude has no backsolve")
                        && e.getMessage().contains("Method.MP"), e.getMessage());
            }
            var tuned = defaults.withBacksolve(dev.falcon.solve.Backsolve.Mode.BLOCK).withMaxIterations(3);
            for (var mode : new dev.falcon.solve.Backsolve.Mode[] {null, dev.falcon.solve.Backsolve.Mode.NONE}) {
                for (Method m : new Method[] {Method.MAGNITUDE, Method.MP}) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> pruner.prune(m, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, tuned, mode)).close(), m + " " + mode);
                    assertTrue(e.getMessage().startsWith("SolverInputs.options: only apply to") && e.getMessage().contains("runs no solver"), e.getMessage());
                }
            }
            // what each method reads is still taken, and the defaults (or none) stand for options not given
            for (Method m : new Method[] {Method.MAGNITUDE, Method.MP}) {
                for (var options : new dev.falcon.solve.SolverOptions[] {null, defaults}) {
                    try (PruneResult r = pruner.prune(m, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, options, dev.falcon.solve.Backsolve.Mode.NONE))) {
                        assertTrue(r.kept() > 0, m + " " + options);
                    }
                }
            }
            try (PruneResult r = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, tuned, dev.falcon.solve.Backsolve.Mode.BLOCK))) {
                assertNotNull(r.solve(), "mp + BS takes options (it reads their block size)");
            }
            // options tuned for falcon (the default backsolve kept) serve mp + BS of any backsolve: it reads their block size
            for (var mode : new dev.falcon.solve.Backsolve.Mode[] {dev.falcon.solve.Backsolve.Mode.EXACT, dev.falcon.solve.Backsolve.Mode.BLOCK}) {
                try (PruneResult r = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, 1e-3,
                        defaults.withMaxIterations(3).withBlockSize(10).withHessian(dev.falcon.solve.SolverOptions.HessianModel.BLOCK), mode))) {
                    assertEquals(mode, r.solve().backsolve(), "mp + BS runs mpBacksolve");
                }
            }
            var plan = new Pruner.StagePlan(2, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.8, 0.8, source);
            try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, t, b,
                    new Pruner.SolverInputs(x, null, 1e-3, defaults.withMaxIterations(3), null, plan))) {
                assertEquals(2, calls[0], "falcon++ reads its plan's source at each stage");
            }
        }
    }

    /**
     * falcon++ given X in the inputs and a source whose X had another n solved every stage on the source's X and measured
     * the result's Q and mp's on the inputs' X, which no stage used: a Q 1.5 times mp's for a prune that ended far below
     * it on its own X. Stage 0's X is held to the inputs' n, before any stage is solved.
     */
    @Test
    void falconPlusPlusRefusesASourceWhoseXHasAnotherNThanTheInputsX() {
        LayerTable t = TWO_LAYERS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50); HostMatrix fewer = HostMatrix.allocate(3, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            backend.fillSyntheticGradients(fewer, 2, 0.1f, 6);
            java.util.List<Integer> asked = new java.util.ArrayList<>();
            dev.falcon.solve.MultiStage.GradientSource source = (stage, weights) -> { asked.add(stage); return fewer; };
            var plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.POLY, 1, 1, source);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(Method.FALCON_PLUS_PLUS, w, t,
                    TWO_LAYER_BUDGETS, new Pruner.SolverInputs(x, null, 1e-3, null, null, plan)).close());
            assertTrue(e.getMessage().contains("stage 0") && e.getMessage().contains("3 x 50") && e.getMessage().contains("SolverInputs.x")
                    && e.getMessage().contains("4 x 50"), e.getMessage());
            assertEquals(List.of(0), asked, "refused at stage 0's X, before its solve");
            // the source's own X alone, or the inputs' X given by the source, is taken
            for (HostMatrix inputs : new HostMatrix[] {null, fewer}) {
                try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, t, TWO_LAYER_BUDGETS, new Pruner.SolverInputs(inputs, null, 1e-3, null, null, plan))) {
                    assertTrue(r.kept() <= TWO_LAYER_BUDGETS.nnz(), "kept " + r.kept());
                }
            }
        }
    }

    /**
     * mp + BS runs SolverInputs.mpBacksolve and never reads the options' backsolve: options of SWEEP beside an mpBacksolve of
     * EXACT named two backsolves for one solve, and the one the caller may have meant was dropped without a word (the CLI
     * has one --backsolve, so cannot be asked this).
     */
    @Test
    void mpWithABacksolveRefusesOptionsNamingAnotherBacksolve() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        var modes = dev.falcon.solve.Backsolve.Mode.values();
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            var defaults = dev.falcon.solve.SolverOptions.defaults();
            int refused = 0;
            for (var asked : modes) {
                if (asked == dev.falcon.solve.Backsolve.Mode.NONE) continue;
                for (var inOptions : modes) {
                    var options = defaults.withBacksolve(inOptions);
                    var inputs = new Pruner.SolverInputs(x, null, 1e-3, options, asked);
                    if (inOptions == asked || inOptions == defaults.backsolve()) {
                        try (PruneResult r = pruner.prune(Method.MP, w, t, b, inputs)) {
                            assertEquals(asked, r.solve().backsolve(), inOptions + " in the options, " + asked + " asked");
                        }
                        continue;
                    }
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(Method.MP, w, t, b, inputs).close(),
                            inOptions + " in the options, " + asked + " asked");
                    assertEquals("SolverInputs.options.backsolve: is " + inOptions + ", but mp + BS runs SolverInputs.mpBacksolve (" + asked
                            + ") and never reads the options' backsolve; make the two agree, or leave the options' backsolve at its default ("
                            + defaults.backsolve() + ")", e.getMessage());
                    refused++;
                }
            }
            assertEquals(7, refused, "EXACT asked beside BLOCK, SWEEP or NONE in the options; BLOCK and SWEEP each beside the other or NONE");
        }
    }

    @Test
    void bothMethodsRespectBothBudgetsAndMpKeepsAtLeastAsMuchScore() {
        LayerTable t = RESNET20.layers();
        double[][] cases = {{0.3, 0.5}, {0.1, 0.9}, {0.5, 0.05}, {1.0, 0.2}};
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = RESNET20.syntheticWeights(1)) {
            for (double[] c : cases) {
                Budgets b = Budgets.resolve(t, c[0], null, c[1], null, null);
                try (PruneResult mag = pruner.prune(Method.MAGNITUDE, w, t, b); PruneResult mp = pruner.prune(Method.MP, w, t, b)) {
                    checkResult(mag, t, w);
                    checkResult(mp, t, w);
                    assertTrue(mp.keptScore() >= mag.keptScore() * (1 - 1e-9),
                            "mp " + mp.keptScore() + " < magnitude " + mag.keptScore() + " for " + c[0] + "/" + c[1]);
                    assertNotNull(mp.certificate());
                    assertNull(mag.certificate());
                }
            }
        }
    }

    /**
     * With no budget argument the FLOP budget was recorded as "--keep-flops 0.3", a request nobody made, beside the NNZ
     * side's "default: p (only a FLOP budget given)", which, beside a FLOP default that says no budget was given, said one
     * was (rev-d41c; it now says "default: p (no NNZ budget given)"); a default budget no weight fits in was refused as "(keepFlops = 0.3)"
     * and told to give flops = 0 "in place of keepFlops", an argument the caller never gave.
     */
    @Test
    void theDefaultFlopBudgetIsRecordedAsADefault() {
        Budgets defaulted = Budgets.resolve(TWO_LAYERS, null, null, null, null, null);
        Budgets asked = Budgets.resolve(TWO_LAYERS, Budgets.DEFAULT_KEEP_FLOPS, null, null, null, null);
        assertEquals("default: 30% of the dense FLOPs (no budget given)", defaulted.flopsRequest());
        assertEquals("default: p (no NNZ budget given)", defaulted.nnzRequest());
        assertEquals(List.of(asked.flops(), asked.nnz(), asked.flopsFraction()), List.of(defaulted.flops(), defaulted.nnz(), defaulted.flopsFraction()));
        assertEquals("--keep-flops 0.3", asked.flopsRequest());

        // 2 weights of 1 FLOP: 30% of 2 FLOPs keeps none
        LayerTable twoWeights = new LayerTable(List.of(new Layer("a", new long[] {2}, 1, 0, 2)), "test");
        for (Budgets.ArgumentNames names : List.of(Budgets.ArgumentNames.JAVA, Budgets.ArgumentNames.CLI)) {
            InputException e = assertThrows(InputException.class, () -> Budgets.resolve(twoWeights, null, null, null, null, null, names));
            assertTrue(e.infeasible(), e.getMessage());
            String flopsZero = names.cli() ? "--flops 0" : "flops = 0";
            String raised = names.cli() ? "--keep-flops 0.5" : "keepFlops = 0.5";
            assertEquals((names.cli() ? "" : "Budgets.resolve: ") + "FLOP budget 0.6 (default: 30% of the dense FLOPs (no budget given)) is below"
                    + " the cheapest weight's cost 1 FLOPs (layer a): no weight can be kept; raise it to at least 1 (" + raised + "), or "
                    + flopsZero + " to prune every weight on purpose", e.getMessage());
        }
    }

    @Test
    void budgetsEchoTheirOptionsAsAUserWritesThem() {
        // TWO_LAYERS: dense FLOPs 30 x 4 + 20 x 1 = 140, p = 50
        Budgets b = Budgets.resolve(TWO_LAYERS, null, 120.0, 1.0, null, null);
        assertEquals("--flops 120", b.flopsRequest());
        assertEquals("--keep-nnz 1", b.nnzRequest());
        assertEquals("--keep-flops 0.3", Budgets.resolve(TWO_LAYERS, 0.3, null, null, null, null).flopsRequest());
        assertEquals("--sparsity 0.25", Budgets.resolve(TWO_LAYERS, 0.3, null, null, null, 0.25).nnzRequest());
        assertEquals("--flops 1.5", Budgets.resolve(TWO_LAYERS, null, 1.5, null, null, null).flopsRequest());
        assertEquals("0.000001", dev.falcon.model.Numbers.shown(1e-6));
        InputException tooMany = assertThrows(InputException.class, () -> Budgets.resolve(TWO_LAYERS, null, 12165312.0, null, null, null));
        assertTrue(tooMany.getMessage().contains("is 12165312, outside"), tooMany.getMessage());
        assertEquals("12165312", dev.falcon.model.Numbers.shown(1.2165312e7));
        assertEquals("1e30", dev.falcon.model.Numbers.shown(1e30));
        assertEquals("1.5e-25", dev.falcon.model.Numbers.shown(1.5e-25));
    }

    @Test
    void magnitudeSkipsItemsThatNoLongerFitAndContinues() {
        // layer a: 2 weights costing 10 each; layer b: 2 weights costing 1 each.
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {2}, 10, 0, 2), new Layer("b", new long[] {2}, 1, 2, 2)), "test");
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(5f, 4f, 3f, 2f)) {
            Budgets b = Budgets.resolve(t, null, 12.0, null, null, null);
            try (PruneResult r = pruner.prune(Method.MAGNITUDE, w, t, b)) {
                assertEquals(3, r.kept()); // 5 (10 FLOPs), 4 skipped, 3 and 2 (1 each)
                assertEquals(12.0, r.keptFlops());
                assertEquals(0, r.mask().get(1));
            }
        }
    }

    /**
     * Method.parse("bogus") said "--method: value: unknown method 'bogus'", the CLI's option, to a Java caller: it names
     * the Java argument, or the name the caller passes (the CLI passes "--method").
     */
    @Test
    void anUnknownMethodNamesTheArgumentItCameFrom() {
        String choices = "; choose one of magnitude, mp, falcon, falcon++";
        assertEquals("Method.parse(text): value: unknown method 'bogus'" + choices,
                assertThrows(InputException.class, () -> Method.parse("bogus")).getMessage());
        assertEquals("--method: value: unknown method 'bogus'" + choices,
                assertThrows(InputException.class, () -> Method.parse("bogus", "--method")).getMessage());
        assertEquals("config key method: value: unknown method 'null'" + choices,
                assertThrows(InputException.class, () -> Method.parse(null, "config key method")).getMessage());
    }

    @Test
    void unavailableMethodsSayWhy() {
        assertTrue(Method.parse("falcon++").available());
        assertEquals(Method.FALCON, Method.parse("FALCON"));
        assertThrows(InputException.class, () -> Method.parse("obs"));
        LayerTable t = RESNET20.layers();
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = RESNET20.syntheticWeights(1)) {
            InputException e = assertThrows(InputException.class,
                    () -> pruner.prune(Method.FALCON_PLUS_PLUS, w, t, Budgets.resolve(t, 0.3, null, null, null, null)));
            // it said "falcon needs the gradients X; give --grads X.npy": another method's name, and a fix for CLI users only
            assertTrue(e.getMessage().contains("falcon++ needs the gradients") && e.getMessage().contains("SolverInputs with X")
                    && e.getMessage().contains("StagePlan whose source gives X"), e.getMessage());
            InputException noX = assertThrows(InputException.class,
                    () -> pruner.prune(Method.FALCON, w, t, Budgets.resolve(t, 0.3, null, null, null, null)));
            assertTrue(noX.getMessage().contains("falcon needs the gradients") && noX.getMessage().contains("SolverInputs with X")
                    && !noX.getMessage().contains("StagePlan"), noX.getMessage());
            InputException mpNoX = assertThrows(InputException.class, () -> pruner.prune(Method.MP, w, t, Budgets.resolve(t, 0.3, null, null, null, null),
                    new Pruner.SolverInputs(null, null, 1e-3, null, dev.falcon.solve.Backsolve.Mode.EXACT)));
            assertTrue(mpNoX.getMessage().contains("needs the gradients X") && mpNoX.getMessage().contains("Backsolve.Mode.NONE"), mpNoX.getMessage());
            // they named the CLI's options (--method, --backsolve, --grads), which an embedder never gave
            for (InputException ie : List.of(e, noX, mpNoX)) {
                assertTrue(ie.getMessage().startsWith("Pruner.prune: ") && !ie.getMessage().contains("--"), ie.getMessage());
            }
        }
    }

    /**
     * Values too large for float32 products in X or g were said of "--grads" and "--grads, --weights or --linear-term",
     * the CLI's options, to an embedder who gave a HostMatrix and a FloatPointer: X is named by its origin, as the NaN
     * check names it, and g as the linear term.
     */
    @Test
    void valuesTooLargeAreSaidOfTheInputsTheCallerGave() {
        int n = 4, p = 50;
        LayerTable t = TWO_LAYERS;
        float[] xs = new float[n * p], ws = new float[p];
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        for (int i = 0; i < p; i++) ws[i] = (float) r.nextGaussian();
        float[] huge = xs.clone();
        java.util.Arrays.fill(huge, 1e30f);
        float[] gs = new float[p];
        java.util.Arrays.fill(gs, 3e38f);
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(ws);
             FloatPointer hp = new FloatPointer(huge); HostMatrix hx = HostMatrix.wrap(hp, n, p, null, "heap array");
             FloatPointer xp = new FloatPointer(xs); HostMatrix x = HostMatrix.wrap(xp, n, p, null, "my gradients");
             FloatPointer g = new FloatPointer(gs)) {
            InputException xTooLarge = assertThrows(InputException.class, () -> pruner.prune(Method.FALCON, w, t, TWO_LAYER_BUDGETS,
                    new Pruner.SolverInputs(hx, null, 1e-3, null, null)));
            // X X^T overflows, or (the java backend's Gram is in double) the gradient's products do
            assertTrue(xTooLarge.getMessage().startsWith("X (heap array): values: X X^T overflows float32")
                    || xTooLarge.getMessage().startsWith("X (heap array) or the weights: values: "), xTooLarge.getMessage());
            InputException gTooLarge = assertThrows(InputException.class, () -> pruner.prune(Method.FALCON, w, t, TWO_LAYER_BUDGETS,
                    new Pruner.SolverInputs(x, g, 1e-3, null, null)));
            assertTrue(gTooLarge.getMessage().startsWith("X (my gradients), the weights or the linear term g: values: "), gTooLarge.getMessage());
            for (InputException e : List.of(xTooLarge, gTooLarge)) {
                assertFalse(e.getMessage().contains("--") || e.getMessage().contains("falcon inspect"), e.getMessage());
            }
        }
    }

    /**
     * NaN in an X given in Java (directly, or by a gradient source at a stage) was refused with "`falcon inspect` counts
     * NaN/Inf": there is no file to inspect. The CLI's --grads keeps its advice (checked at load, naming the file).
     */
    @Test
    void nanInAnXGivenInJavaIsRefusedWithoutTheCliAdvice() {
        int n = 4, p = 50;
        float[] xs = new float[n * p], ws = new float[p];
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        for (int i = 0; i < p; i++) ws[i] = (float) r.nextGaussian();
        xs[5 * n + 3] = Float.NaN;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(ws);
             FloatPointer xp = new FloatPointer(xs); HostMatrix x = HostMatrix.wrap(xp, n, p, null, "my gradients")) {
            List<String> said = new java.util.ArrayList<>();
            for (Method m : new Method[] {Method.FALCON, Method.FALCON_PLUS_PLUS}) {
                said.add(assertThrows(InputException.class, () -> pruner.prune(m, w, TWO_LAYERS, TWO_LAYER_BUDGETS,
                        new Pruner.SolverInputs(x, null, 1e-3, null, null))).getMessage());
            }
            for (String m : said) {
                assertTrue(m.contains("X[3, 5] is NaN") && m.endsWith("recompute the gradients or drop the bad samples"), m);
                assertFalse(m.contains("falcon inspect") || m.contains("--"), m);
            }
        }
    }

    @Test
    void weightsClosedBeforeThePruneAreNamedAsSuch() {
        LayerTable t = RESNET20.layers();
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend)) {
            FloatPointer w = RESNET20.syntheticWeights(1);
            w.close();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pruner.prune(Method.MP, w, t, Budgets.resolve(t, 0.3, null, null, null, null)));
            // it said "the weights (...) is null", which an embedder who closed them too early cannot tell from passing null
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
    }

    @Test
    void falconAndMpBacksolveLowerTheObjective() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {300}, 9, 0, 300), new Layer("b", new long[] {200}, 1, 300, 200)), "test");
        int n = 12;
        double lambda = 0.05;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
             FloatPointer w = new FloatPointer(500); HostMatrix x = HostMatrix.allocate(n, 500)) {
            backend.fillUniform(w, 500, 3, 1f);
            backend.fillSyntheticGradients(x, 4, 0.1f, 5);
            Budgets b = Budgets.resolve(t, 0.3, null, 0.4, null, null);
            var opt = dev.falcon.solve.SolverOptions.defaults();
            try (PruneResult mp = pruner.prune(Method.MP, w, t, b);
                 PruneResult bs = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, lambda, opt, dev.falcon.solve.Backsolve.Mode.EXACT));
                 PruneResult fa = pruner.prune(Method.FALCON, w, t, b, new Pruner.SolverInputs(x, null, lambda, opt, null))) {
                double qMp = Objective.evaluate(backend, x, mp.prunedWeights(), w, null, lambda).q();
                double qBs = Objective.evaluate(backend, x, bs.prunedWeights(), w, null, lambda).q();
                double qFa = Objective.evaluate(backend, x, fa.prunedWeights(), w, null, lambda).q();
                assertTrue(qBs < qMp, qBs + " vs " + qMp);
                assertTrue(qFa <= qBs * (1 + 1e-6), qFa + " vs " + qBs);
                assertEquals(qFa, fa.solve().qFinal(), 1e-5 * qFa);
                assertEquals(qMp, bs.solve().qMp(), 1e-5 * qMp);
                assertTrue(fa.kept() <= b.nnz() && fa.keptFlops() <= b.flops() * (1 + 1e-12));
                assertFalse(fa.solve().falcon().log().isEmpty());
                for (long i = 0; i < 500; i++) if (fa.mask().get(i) == 0) assertEquals(0f, fa.prunedWeights().get(i));
            }
        }
    }

    @Test
    void budgetsResolveAndRejectOutOfRange() {
        LayerTable t = RESNET20.layers();
        Budgets d = Budgets.resolve(t, null, null, null, null, null);
        assertEquals(0.3 * t.denseFlops(), d.flops(), 1e-6);
        assertEquals(t.parameters(), d.nnz());
        Budgets s = Budgets.resolve(t, null, null, null, null, 0.9);
        assertEquals((long) Math.floor(0.1 * t.parameters()), s.nnz());
        assertEquals(t.denseFlops(), s.flops());
        assertEquals(1000, Budgets.resolve(t, null, null, null, 1000L, null).nnz());
        assertEquals(0, Budgets.resolve(t, null, 0.0, null, null, null).flops());
        // the CLI's messages name its options (budgetRefusalsNameTheArgumentsOfResolveAndTheCliItsOptions: Java's its arguments)
        Budgets.ArgumentNames cli = Budgets.ArgumentNames.CLI;
        for (Runnable bad : List.<Runnable>of(
                () -> Budgets.resolve(t, 0.0, null, null, null, null, cli),
                () -> Budgets.resolve(t, 1.5, null, null, null, null, cli),
                () -> Budgets.resolve(t, Double.NaN, null, null, null, null, cli),
                () -> Budgets.resolve(t, null, -1.0, null, null, null, cli),
                () -> Budgets.resolve(t, null, t.denseFlops() * 2, null, null, null, cli),
                () -> Budgets.resolve(t, null, null, -0.5, null, null, cli),
                () -> Budgets.resolve(t, null, null, null, t.parameters() + 1, null, cli),
                () -> Budgets.resolve(t, null, null, null, null, 1.0, cli),
                () -> Budgets.resolve(t, 0.3, 1e6, null, null, null, cli),
                () -> Budgets.resolve(t, null, null, 0.5, 10L, null, cli))) {
            InputException e = assertThrows(InputException.class, bad::run);
            assertFalse(e.infeasible());
            assertTrue(e.getMessage().startsWith("--"), e.getMessage());
        }
        InputException e = assertThrows(InputException.class, () -> Budgets.resolve(t, null, 0.5, null, null, null));
        assertTrue(e.infeasible());
        assertTrue(e.getMessage().contains("cheapest"), e.getMessage());
        assertTrue(assertThrows(InputException.class, () -> Budgets.resolve(t, null, null, 1e-7, null, null)).infeasible());
    }

    @Test
    void objectiveMatchesADirectDoubleComputation() {
        LayerTable t = RESNET20.layers();
        long p = t.parameters();
        int n = 6;
        double lambda = 0.37;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
             FloatPointer wbar = RESNET20.syntheticWeights(3); HostMatrix x = RESNET20.syntheticGradients(backend, n, 5);
             FloatPointer g = RESNET20.syntheticWeights(11);
             PruneResult r = pruner.prune(Method.MP, wbar, t, Budgets.resolve(t, 0.4, null, null, null, null))) {
            Objective.Value v = Objective.evaluate(backend, x, r.prunedWeights(), wbar, g, lambda);
            double[] xd = new double[n];
            double sq = 0, lin = 0;
            for (long j = 0; j < p; j++) {
                double d = (double) r.prunedWeights().get(j) - wbar.get(j);
                sq += d * d;
                lin += g.get(j) * d;
                FloatBuffer col = x.columns(j, 1);
                for (int i = 0; i < n; i++) xd[i] += col.get(i) * d;
            }
            double fit = 0;
            for (double e : xd) fit += e * e;
            double q = 0.5 * fit + 0.5 * lambda * sq + lin;
            assertEquals(q, v.q(), 1e-4 * Math.abs(q));
            assertEquals(0.5 * fit, v.fit(), 1e-4 * fit);
            assertEquals(lambda / n, v.l2(), 1e-15);
            // The authors' convention equals ours without the linear term.
            assertEquals(v.q() - v.linear(), v.falconValue(), 1e-9 * Math.abs(q));
            Objective.Value zero = Objective.evaluate(backend, x, wbar, wbar, null, lambda);
            assertEquals(0.0, zero.q());
            assertEquals(2.0 * n, Objective.Convention.FALCON.toRidgeLambda(2.0, n));
        }
    }

    @Test
    void fractionsBecomeCountsWithoutLosingOneToRounding() {
        // 0.29 * 1600 = 463.99999999999994 in binary floating point
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {1600}, 1, 0, 1600)), "test");
        assertEquals(464, Budgets.resolve(t, null, null, 0.29, null, null).nnz());
        assertEquals(464, Budgets.resolve(t, null, null, null, null, 0.71).nnz());
        assertEquals(464.0, Budgets.resolve(t, 0.29, null, null, null, null).flops());
        assertEquals(463, Budgets.resolve(t, null, null, 0.2899, null, null).nnz(), "real fractions still round down");
    }

    /**
     * The snap to a nearby integer (a relative 1e-9, which (1 - sparsity) p needs) took every FLOP budget above 5e8 to the
     * nearest integer, up as often as down: --keep-flops 0.3 of resnet50's 4,089,184,256 FLOPs (1,226,755,276.8) became
     * 1,226,755,277, so the pruned network kept more than 30% of the FLOPs and the report's asked fraction read 0.30000000005.
     */
    @Test
    void aFlopBudgetIsNotRoundedUpPastTheFraction() {
        LayerTable t = ExampleModels.get("resnet50").layers();
        for (double keep : new double[] {0.3, 0.1, 0.7}) {
            double exact = keep * t.denseFlops();
            Budgets b = Budgets.resolve(t, keep, null, null, null, null);
            assertTrue(b.flops() <= exact, "--keep-flops " + keep + ": budget " + b.flops() + " above " + exact);
            assertTrue(b.flops() > exact - 1, "--keep-flops " + keep + ": budget " + b.flops() + " far below " + exact);
        }
    }

    /**
     * With whole costs a fraction's budget was the float64 product itself: --keep-flops 0.95 of 516,256 FLOPs recorded
     * 490,443.19999999995 and --flops 490443.2, the same request, 490,443.2. README says a fraction's budget is the one
     * --flops gives, the shortest decimal within the product's rounding error. The supports it admits are unchanged:
     * every one costs an integer, and the budget's integer part is the one the earlier budget had.
     */
    @Test
    void aFractionsFlopBudgetWithWholeCostsIsTheDecimalFlopsGives() {
        LayerTable t = new LayerTable(List.of(new Layer("conv1", new long[] {8, 3, 3, 3}, 1024, 0, 216),
                new Layer("conv2", new long[] {16, 8, 3, 3}, 256, 216, 1152), new Layer("fc", new long[] {10, 16}, 1, 1368, 160)), "test");
        assertEquals(490443.19999999995, 0.95 * t.denseFlops());
        assertEquals(490443.2, Budgets.resolve(t, 0.95, null, null, null, null).flops());
        assertEquals(Budgets.resolve(t, null, 490443.2, null, null, null).flops(), Budgets.resolve(t, 0.95, null, null, null, null).flops());
        for (int k = 1; k <= 1000; k++) {
            double keep = k / 1000.0, v = keep * t.denseFlops();
            double integer = Math.rint(v), earlier = integer <= v || integer - v <= 1e-12 * v ? integer : v;
            double budget = Budgets.resolve(t, keep, null, null, null, null).flops();
            // at or above the earlier one, or below the product by its rounding error only (the decimal below it:
            // 0.035 is 18068.96, the product 18068.960000000003), with the same integer part
            assertTrue((budget >= earlier || v - budget <= (t.size() + 1) * 0x1p-52 * v) && Math.floor(budget) == Math.floor(earlier),
                    keep + ": " + budget + " against " + earlier);
        }
    }

    /**
     * A whole-cost fraction whose decimal lies below the float64 product was taken up to a longer decimal above it:
     * --keep-flops 0.777 of resnet20's 40,551,040 FLOPs (exactly 31,508,158.08; the product 31508158.080000002) recorded
     * 31508158.0800001 and flops_fraction 0.7770000000000025, where --flops 31508158.08 gives 31508158.08. With whole
     * costs no support costs between the two, so the decimal below is the budget the fraction means. And the fraction
     * recorded is the one asked for: 490443.2 / 516256 is 0.9500000000000001.
     */
    @Test
    void aWholeCostFractionsDecimalBelowTheProductIsItsBudgetAndItsFractionIsTheOneAsked() {
        LayerTable resnet20 = RESNET20.layers();
        assertEquals(40_551_040.0, resnet20.denseFlops());
        assertEquals(31508158.080000002, 0.777 * resnet20.denseFlops());
        Budgets asked = Budgets.resolve(resnet20, 0.777, null, null, null, null);
        assertEquals(31508158.08, asked.flops());
        assertEquals(Budgets.resolve(resnet20, null, 31508158.08, null, null, null).flops(), asked.flops());
        assertEquals(0.777, asked.flopsFraction());
        LayerTable table = new LayerTable(List.of(new Layer("conv1", new long[] {8, 3, 3, 3}, 1024, 0, 216),
                new Layer("conv2", new long[] {16, 8, 3, 3}, 256, 216, 1152), new Layer("fc", new long[] {10, 16}, 1, 1368, 160)), "test");
        assertEquals(0.95, Budgets.resolve(table, 0.95, null, null, null, null).flopsFraction());
        assertEquals(490443.2 / 516256, Budgets.resolve(table, null, 490443.2, null, null, null).flopsFraction(), "--flops: budget / dense");
        // every fraction k / 1000 of each example: the exact product k x dense / 1000 is a decimal of at most three places,
        // so the budget is a decimal no longer than it, near the product and with the product's integer part
        for (LayerTable t : List.of(resnet20, ExampleModels.get("mobilenetv1").layers(), ExampleModels.get("resnet50").layers(), table)) {
            for (int k = 1; k <= 1000; k++) {
                double keep = k / 1000.0, v = keep * t.denseFlops();
                java.math.BigDecimal exact = java.math.BigDecimal.valueOf(t.denseFlops()).multiply(java.math.BigDecimal.valueOf(k)).movePointLeft(3);
                Budgets b = Budgets.resolve(t, keep, null, null, null, null);
                String where = t.size() + " layers, " + t.denseFlops() + " FLOPs, at " + keep + ": budget " + b.flops() + ", product " + v + ", exactly " + exact.toPlainString();
                assertEquals(Math.floor(exact.doubleValue()), Math.floor(b.flops()), where);
                assertTrue(Math.abs(b.flops() - v) <= (t.size() + 1) * 0x1p-52 * v, where);
                assertTrue(new java.math.BigDecimal(Double.toString(b.flops())).stripTrailingZeros().precision()
                        <= exact.stripTrailingZeros().precision(), where);
                assertEquals(keep, b.flopsFraction(), where);
            }
        }
    }

    /**
     * The NNZ fraction recorded is the one asked for, as the FLOP fraction is: it was nnz / p always, so --sparsity 0.7 of
     * 1,528 weights (458 kept) gave 0.2997382198952880 and --keep-nnz 0.999 (1,526 kept) 0.9986910994764397.
     */
    @Test
    void theNnzFractionIsTheOneAskedLikeTheFlopFraction() {
        LayerTable table = new LayerTable(List.of(new Layer("conv1", new long[] {8, 3, 3, 3}, 1024, 0, 216),
                new Layer("conv2", new long[] {16, 8, 3, 3}, 256, 216, 1152), new Layer("fc", new long[] {10, 16}, 1, 1368, 160)), "test");
        Budgets sparsity = Budgets.resolve(table, null, null, null, null, 0.7);
        assertEquals(458, sparsity.nnz());
        assertEquals(0.3, sparsity.nnzFraction(), "1 - --sparsity 0.7, in decimal (not 0.30000000000000004)");
        assertEquals(0.999, Budgets.resolve(table, null, null, 0.999, null, null).nnzFraction());
        assertEquals(458.0 / 1528, Budgets.resolve(table, null, null, null, 458L, null).nnzFraction(), "--nnz: budget / p");
        assertEquals(1.0, Budgets.resolve(table, 0.5, null, null, null, null).nnzFraction(), "no NNZ budget: every weight");
    }

    /**
     * The snap to a nearby integer, meant for 0.29 * 1600 = 463.99999999999994, also took 2,000,000.001 dense FLOPs (two
     * weights of 1e6, one of 0.001) down to 2,000,000: --keep-flops 1 then kept 2 of 3 weights and 50% of the FLOPs.
     * Where a layer's cost is fractional a budget is not snapped below its value; integer costs cannot tell the two apart.
     */
    @Test
    void aFlopBudgetIsNotSnappedBelowWhatFractionalCostsAddUpTo() {
        LayerTable t = new LayerTable(List.of(new Layer("conv", new long[] {2}, 1e6, 0, 2), new Layer("fc", new long[] {1}, 0.001, 2, 1)), "test");
        Budgets dense = Budgets.resolve(t, 1.0, null, null, null, null);
        assertEquals(t.denseFlops(), dense.flops(), "--keep-flops 1 is the dense FLOPs");
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(1f, 2f, 3f);
             PruneResult r = pruner.prune(Method.MP, w, t, dense)) {
            assertEquals(3, r.kept(), "--keep-flops 1 keeps every weight");
        }
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(1f, 2f, 3f);
             HostMatrix x = HostMatrix.allocate(1, 3)) {
            x.data().put(new float[] {1f, 0.5f, 0.25f}, 0, 3);
            var plan = new Pruner.StagePlan(2, dev.falcon.solve.MultiStage.Schedule.LINEAR, 1.0, 1.0, null);
            var inputs = new Pruner.SolverInputs(x, null, 1e-3, dev.falcon.solve.SolverOptions.defaults(), dev.falcon.solve.Backsolve.Mode.NONE, plan);
            try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, t, Budgets.resolve(t, 0.6, null, null, null, null), inputs)) {
                assertEquals(3, r.solve().multiStage().stages().get(0).kept(), "falcon++'s stage 0 at the dense level keeps every weight");
            }
        }
    }

    /**
     * Costs 3 x 0.1 + 3 x 0.3 + 2 x 0.7 are 2.6 FLOPs, summed in float64 as 2.5999999999999996, so --keep-flops 0.5
     * gave the budget 1.2999999999999998, printed as 1.3 like --flops 1.3's. The support {0, 1, 2, 4, 6}, 0.1 x 3 + 0.3 +
     * 0.7 = 1.3 FLOPs (exactly half, summed as 1.3), the exhaustive optimum within 5 weights (numpy, ridge-backsolved
     * over all 256 supports: Q -5.688676), was over it, and falcon ended at -4.957161 with 1.1 FLOPs. A fraction's
     * budget is now the one --flops writes for it. The review's problem (X 3 x 8, w, g, lambda 0.05).
     */
    @Test
    void aFractionOfFractionalCostsIsTheBudgetItsDecimalNames() {
        LayerTable t = new LayerTable(List.of(new Layer("l0", new long[] {3}, 0.1, 0, 3), new Layer("l1", new long[] {3}, 0.3, 3, 3),
                new Layer("l2", new long[] {2}, 0.7, 6, 2)), "test");
        Budgets half = Budgets.resolve(t, 0.5, null, null, 5L, null);
        assertEquals(Budgets.resolve(t, null, 1.3, null, 5L, null).flops(), half.flops(), "--keep-flops 0.5 is --flops 1.3");
        assertEquals(1.3, half.flops());
        float[] xRowMajor = {0.7593538761138916f, 0.13779878616333008f, 0.2692592442035675f, 0.8730139136314392f, 0.4498368501663208f,
                1.5266656875610352f, -1.160833477973938f, 0.9005140066146851f,
                0.09128248691558838f, 1.3019471168518066f, 1.268843412399292f, 0.9014167189598083f, -0.5344002842903137f,
                -0.511254072189331f, 0.1754784733057022f, -0.4766292870044708f,
                -1.8833223581314087f, -1.428170084953308f, 0.3453134000301361f, -1.0518100261688232f, -0.32306697964668274f,
                -0.03074355609714985f, -1.4181513786315918f, -0.44101548194885254f};
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
             FloatPointer w = new FloatPointer(1.2901531457901f, 1.336578369140625f, 0.4571414887905121f, 0.4770953357219696f,
                     -0.26960060000419617f, 0.01307900995016098f, 0.7702555656433105f, -1.547401785850525f);
             FloatPointer g = new FloatPointer(-0.1364603042602539f, -0.10998374968767166f, 0.2342347353696823f, -0.319876104593277f,
                     0.5594892501831055f, -0.22117777168750763f, 0.6015219688415527f, -0.01491676364094019f);
             HostMatrix x = HostMatrix.allocate(3, 8)) {
            for (int j = 0; j < 8; j++) for (int i = 0; i < 3; i++) x.data().put(3L * j + i, xRowMajor[8 * i + j]);
            var inputs = new Pruner.SolverInputs(x, g, 0.05, dev.falcon.solve.SolverOptions.defaults(), null);
            try (PruneResult r = pruner.prune(Method.FALCON, w, t, half, inputs)) {
                assertEquals(5, r.kept());
                assertEquals(1.3, r.keptFlops(), "the optimum's FLOPs");
                assertEquals(-5.688676195728294, Objective.evaluate(backend, x, r.prunedWeights(), w, g, 0.05).q(), 1e-5 * 5.69);
            }
        }
    }

    /**
     * The fraction's budget was raised to the shortest decimal within 1e-12 of it, thousands of times the rounding of the
     * dense sum and the product: --keep-flops 1 asked for more than the dense FLOPs (a fraction above 1 in the report),
     * and 0.9999999999999 of costs 1 + 3e-13 kept both weights, whose cost its decimal excludes.
     */
    @Test
    void aFractionsBudgetMovesOnlyByRoundingAndNeverPastTheDenseFlops() {
        LayerTable t = new LayerTable(List.of(new Layer("l0", new long[] {3}, 0.1, 0, 3), new Layer("l1", new long[] {3}, 0.3, 3, 3),
                new Layer("l2", new long[] {2}, 0.7, 6, 2)), "test");
        Budgets all = Budgets.resolve(t, 1.0, null, null, null, null);
        assertEquals(t.denseFlops(), all.flops(), "--keep-flops 1 is the dense FLOPs, not the decimal above them");
        LayerTable two = new LayerTable(List.of(new Layer("a", new long[] {1}, 1.0, 0, 1), new Layer("b", new long[] {1}, 3e-13, 1, 1)), "test");
        Budgets b = Budgets.resolve(two, 0.9999999999999, null, null, null, null);
        assertTrue(b.flops() < 1.0000000000003, "budget " + b.flops() + " admits both weights");
        assertEquals(Budgets.resolve(two, null, 1.0000000000002, null, null, null).flops(), b.flops(), "the budget its decimal names");
    }

    /**
     * With whole costs a product within 1e-12 of it was snapped to an integer, a window of 1.2 FLOPs at 1.2e12 where the
     * product rounds by a few ten-thousandths: --keep-flops 0.3 of 4,000,000,000,036 FLOPs (exactly 1,200,000,000,010.8)
     * became 1,200,000,000,011, which admitted the one weight costing that much, above the fraction asked for, and not
     * the budget --flops 1200000000010.8 gives.
     */
    @Test
    void aWholeCostFractionIsSnappedToAnIntegerOnlyWithinTheProductsRounding() {
        double[] costs = new double[28];
        java.util.Arrays.fill(costs, 1.0);
        costs[0] = 1_200_000_000_011.0;
        costs[1] = 1.4e12;
        costs[2] = 1.4e12;
        LayerTable t = LayerTable.fromPerWeightFlops(costs, "test");
        assertEquals(4_000_000_000_036.0, t.denseFlops());
        Budgets asked = Budgets.resolve(t, 0.3, null, null, null, null);
        java.math.BigDecimal fractionOfDense = new java.math.BigDecimal("0.3").multiply(java.math.BigDecimal.valueOf(t.denseFlops()));
        assertTrue(new java.math.BigDecimal(asked.flops()).compareTo(fractionOfDense) <= 0 || asked.flops() - fractionOfDense.doubleValue() <= 2 * Math.ulp(asked.flops()),
                "--keep-flops 0.3: budget " + asked.flops() + " above 0.3 x dense = " + fractionOfDense.toPlainString());
        assertEquals(Budgets.resolve(t, null, 1200000000010.8, null, null, null).flops(), asked.flops(), "the budget --flops 1200000000010.8 gives");
        // the rounding the snap is there for still snaps: 0.29 x 1600 is 463.99999999999994
        double[] ones = new double[1600];
        java.util.Arrays.fill(ones, 1.0);
        LayerTable small = LayerTable.fromPerWeightFlops(ones, "test");
        assertEquals(463.99999999999994, 0.29 * small.denseFlops());
        assertEquals(464.0, Budgets.resolve(small, 0.29, null, null, null, null).flops());
    }

    /**
     * Near 2^53 the snap window of 2 units in the last place of the product is 1 FLOP or more, and it took every
     * non-integer product to its nearest integer, up as often as down: --keep-flops 0.3 of 9,007,199,254,740,792 FLOPs
     * (exactly 2,702,159,776,422,237.6) became 2,702,159,776,422,238 and kept the weight costing that, above the fraction.
     */
    @Test
    void aWholeCostFractionNear2To53IsNeverRoundedUpPastTheExactProduct() {
        long dense = 9_007_199_254_740_792L, a = 2_702_159_776_422_238L;
        LayerTable big = new LayerTable(List.of(new Layer("a", new long[] {1}, a, 0, 1), new Layer("b", new long[] {1}, dense - a, 1, 1)), "test");
        InputException refused = assertThrows(InputException.class, () -> Budgets.resolve(big, 0.3, null, null, null, null),
                "--keep-flops 0.3 of " + dense + " FLOPs (exactly 2702159776422237.6) kept the weight costing " + a);
        assertTrue(refused.getMessage().contains("below the cheapest weight's cost"), refused.getMessage());
        LayerTable withOnes = new LayerTable(List.of(new Layer("one", new long[] {1}, 1, 0, 1), new Layer("rest", new long[] {1}, dense - 1, 1, 1)), "test");
        for (int k = 1; k <= 1000; k++) {
            double keep = k / 1000.0;
            java.math.BigDecimal exact = java.math.BigDecimal.valueOf(keep).multiply(java.math.BigDecimal.valueOf(dense));
            double budget = Budgets.resolve(withOnes, keep, null, null, null, null).flops();
            java.math.BigDecimal nextWhole = exact.setScale(0, java.math.RoundingMode.FLOOR).add(java.math.BigDecimal.ONE);
            assertTrue(new java.math.BigDecimal(budget).compareTo(nextWhole) < 0,
                    "--keep-flops " + keep + ": budget " + new java.math.BigDecimal(budget).toPlainString() + " admits a whole cost above " + exact.toPlainString());
            assertTrue(exact.subtract(new java.math.BigDecimal(budget)).compareTo(java.math.BigDecimal.ONE) < 0,
                    "--keep-flops " + keep + ": budget " + new java.math.BigDecimal(budget).toPlainString() + " a FLOP or more below " + exact.toPlainString());
        }
    }

    /**
     * A count's snap up to the integer above, within 1e-12 of the product, is 3 weights at 3e12: --keep-nnz 0.3 of
     * 10,000,000,000,001 weights (exactly 3,000,000,000,000.3) kept 3,000,000,000,001, and --sparsity 0.7 the same.
     */
    @Test
    void aFractionOfManyWeightsIsCountedDownFromTheExactProduct() {
        long p = 10_000_000_000_001L;
        LayerTable many = new LayerTable(List.of(new Layer("w", new long[] {p}, 1, 0, p)), "test");
        assertEquals(3_000_000_000_000L, Budgets.resolve(many, null, null, 0.3, null, null).nnz(), "--keep-nnz 0.3 of " + p);
        assertEquals(3_000_000_000_000L, Budgets.resolve(many, null, null, null, null, 0.7).nnz(), "--sparsity 0.7 of " + p);
        // and what the snap was there for: 0.29 of 1600 is 464, not 463.99999999999994's 463
        LayerTable small = new LayerTable(List.of(new Layer("w", new long[] {1600}, 1, 0, 1600)), "test");
        assertEquals(464, Budgets.resolve(small, null, null, 0.29, null, null).nnz());
    }

    /**
     * A refusal printed the budget and the cheapest cost to six significant digits: for --keep-flops 0.3 of 2^53 - 1
     * FLOPs, 'FLOP budget 2702160000000000 ... below the cheapest weight's cost 2702160000000000', two equal numbers.
     */
    @Test
    void aRefusedFlopBudgetAndTheCheapestCostAreWrittenSoTheyDiffer() {
        long dense = (1L << 53) - 1, a = 2_702_159_776_422_298L;
        LayerTable big = new LayerTable(List.of(new Layer("a", new long[] {1}, a, 0, 1), new Layer("b", new long[] {1}, dense - a, 1, 1)), "test");
        String said = assertThrows(InputException.class, () -> Budgets.resolve(big, 0.3, null, null, null, null)).getMessage();
        assertTrue(said.contains("cheapest weight's cost 2702159776422298 FLOPs"), said);
        assertTrue(said.matches(".*FLOP budget 270215977642229[0-7](\\.\\d+)? .*"), said);
    }

    /**
     * falcon ended above mp + BS, which README says it never does, where the weights span thirty orders: ten of about 1e15
     * and ten of about 1e-15 (numpy's default_rng(9), X 4 x 20 standard normal, costs 1 to 3, --keep-flops 0.6). The
     * solver judged its candidates on X w - X wbar, two sums of about 1e15 whose difference, the fit term's residual of
     * about 1e-15, cancelled to nothing: it saw Q as the ridge term alone, found the backsolve of mp's support above the
     * warm start and kept the warm start, whose Q is 1.65 times mp + BS's.
     */
    @Test
    void falconEndsAtOrBelowMpPlusBacksolveWhenWeightsSpanThirtyOrders() {
        float[] weights = {
                -802836963131392.0f, 242849899610112.0f, -1656345413550080.0f, 656104908390400.0f,
                1143453035528192.0f, -452611002073088.0f, 430485746483200.0f, 250932575076352.0f,
                -394352052404224.0f, -862404871192576.0f, -2.0325523304509175e-15f, 1.4104234654724605e-15f,
                -4.763223604435554e-17f, 2.522327321102325e-15f, 8.262182243062692e-16f,
                2.7778053752466675e-16f, -6.57431080637648e-16f, 1.3924692257268664e-15f,
                -5.062891155679916e-16f, 1.569949097956244e-15f};
        float[] xRowMajor = {
                -0.39836129546165466f, 0.18595393002033234f, -1.5226703882217407f, 2.3432323932647705f,
                -0.09402582794427872f, -0.38511359691619873f, 0.8108476400375366f, -0.8913718461990356f,
                0.7676072716712952f, -1.1712404489517212f, 0.5452417731285095f, -1.044126272201538f,
                -1.8370680809020996f, -0.5937675833702087f, -1.463914394378662f, 0.5532782077789307f,
                0.0216711163520813f, 0.5094465017318726f, 0.09130282700061798f, -0.3538590371608734f,
                0.02812933921813965f, 1.0524890422821045f, -0.18313083052635193f, -0.7620472311973572f,
                -0.9699016213417053f, -0.22172613441944122f, -0.7497392892837524f, 1.8806322813034058f,
                -1.178564429283142f, -1.0815995931625366f, -0.30589231848716736f, 0.6500137448310852f,
                -0.26809805631637573f, -0.9579081535339355f, -0.8069003820419312f, -0.3507920205593109f,
                0.9733627438545227f, -0.9779819846153259f, -0.0913277417421341f, -0.6130539178848267f,
                0.3246200382709503f, 0.39713579416275024f, -1.4652454853057861f, 2.386862277984619f,
                0.18960340321063995f, -0.5093321800231934f, -0.8939904570579529f, -0.25951024889945984f,
                0.03181672841310501f, 0.5951583981513977f, 0.005621074698865414f, 0.4839489161968231f,
                -1.6099512577056885f, -0.7523840665817261f, -1.006557583808899f, 0.16458679735660553f,
                0.4579990804195404f, -1.4660862684249878f, -0.16792866587638855f, 0.7254607081413269f,
                0.9150779843330383f, -1.115391492843628f, 0.5629229545593262f, 0.33837923407554626f,
                -0.43592533469200134f, 1.9630240201950073f, -1.1187182664871216f, -0.27737370133399963f,
                0.45479732751846313f, 0.24311533570289612f, -0.17124268412590027f, 1.3768893480300903f,
                1.4453449249267578f, 0.9126731157302856f, 1.001645565032959f, -0.054931577295064926f,
                -1.1647955179214478f, 2.1877810955047607f, -0.957521915435791f, 2.229274034500122f};
        int n = 4, p = weights.length;
        double[] costs = new double[p];
        for (int j = 0; j < p; j++) costs[j] = (j + 1) % 3 + 1;
        LayerTable t = LayerTable.fromPerWeightFlops(costs, "test");
        Budgets b = Budgets.resolve(t, 0.6, null, null, null, null);
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(weights);
             HostMatrix x = HostMatrix.allocate(n, p)) {
            for (int j = 0; j < p; j++) for (int i = 0; i < n; i++) x.data().put((long) n * j + i, xRowMajor[p * i + j]);
            var defaults = dev.falcon.solve.SolverOptions.defaults();
            double qMpBacksolve, qFalcon;
            try (PruneResult mp = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, defaults, dev.falcon.solve.Backsolve.Mode.EXACT))) {
                qMpBacksolve = Objective.evaluate(backend, x, mp.prunedWeights(), w, null, 1e-3).q();
            }
            try (PruneResult falcon = pruner.prune(Method.FALCON, w, t, b, new Pruner.SolverInputs(x, null, 1e-3, defaults, null))) {
                qFalcon = Objective.evaluate(backend, x, falcon.prunedWeights(), w, null, 1e-3).q();
            }
            assertTrue(qFalcon <= qMpBacksolve * (1 + 1e-9), "falcon's Q " + qFalcon + " above mp + BS's " + qMpBacksolve);
        }
    }

    /** A positive --keep-flops whose budget is below 1e-9 FLOPs is not 0 (--flops 0, which prunes everything) but infeasible. */
    @Test
    void aTinyKeepFlopsIsInfeasibleNotAZeroBudget() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {12}, 2.5, 0, 12)), "test");
        InputException e = assertThrows(InputException.class, () -> Budgets.resolve(t, 1e-12, null, null, null, null));
        assertTrue(e.infeasible(), e.getMessage());
        assertTrue(e.getMessage().contains("cheapest"), e.getMessage());
        // with FLOP costs this small the fraction is a budget the cheap weights fit in
        LayerTable tiny = new LayerTable(List.of(new Layer("a", new long[] {12}, 1e-20, 0, 12)), "test");
        Budgets b = Budgets.resolve(tiny, 0.5, null, null, null, null);
        assertEquals(6e-20, b.flops(), 1e-30);
    }

    @Test
    void theSuggestedFlopFractionIsFeasibleAsPrinted() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {100}, 3, 0, 100), new Layer("b", new long[] {589_684}, 1, 100, 589_684)), "test");
        InputException e = assertThrows(InputException.class, () -> Budgets.resolve(t, 1e-9, null, null, null, null, Budgets.ArgumentNames.CLI));
        assertTrue(e.infeasible());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("at least [^(]*\\(--keep-flops ([0-9.eE+-]+)\\)").matcher(e.getMessage());
        assertTrue(m.find(), e.getMessage());
        Budgets b = Budgets.resolve(t, Double.parseDouble(m.group(1)), null, null, null, null);
        assertTrue(b.flops() >= 1, "the suggestion " + m.group(1) + " gives a FLOP budget of " + b.flops());
    }

    /**
     * Budgets.resolve's arguments are given in Java, but its refusals named the CLI's options ("--keep-nnz 0.000000001
     * keeps 0 of 2000 weights; ... or --nnz 0 in place of --keep-nnz"): an embedder was not told which argument to
     * change. The CLI's names give its messages as they were.
     */
    @Test
    void budgetRefusalsNameTheArgumentsOfResolveAndTheCliItsOptions() {
        java.util.function.Function<org.junit.jupiter.api.function.Executable, String> refusal = call -> assertThrows(InputException.class, call).getMessage();
        Budgets.ArgumentNames cli = Budgets.ArgumentNames.CLI;
        String[] java = {
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, 1e-9, null, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, 0.3, 100.0, null, null, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, 0.5, 3L, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, Double.NaN, null, null, null, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, -1.0, null, null, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, null, 51L, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, null, null, 1.0)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, null, null, 0.999)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, 0.5, null, null, null)),
            refusal.apply(() -> Budgets.resolve(TWO_LAYERS, 0.001, null, null, null, null)),
        };
        for (String m : java) {
            assertTrue(m.startsWith("Budgets.resolve: "), m);
            assertFalse(m.contains("--"), "a CLI option told to a Java caller: " + m);
        }
        assertEquals("Budgets.resolve: keepNnz = 0.000000001 keeps 0 of 50 weights; give at least 0.02, or nnz = 0 in place of keepNnz"
                + " to prune every weight on purpose", java[0]);
        assertEquals("Budgets.resolve: keepFlops/flops: both arguments given; give one of keepFlops or flops and null for the other", java[1]);
        assertEquals("Budgets.resolve: keepNnz/nnz/sparsity: more than one argument given; give one of keepNnz, nnz, sparsity and null for"
                + " the others", java[2]);
        assertEquals("Budgets.resolve: keepFlops: is NaN, outside the valid range (0, 1]; give the fraction to keep, e.g. keepFlops = 0.3", java[3]);
        assertTrue(java[8].contains("(flops = 0.5)") && java[8].endsWith("or flops = 0 in place of flops to prune every weight on purpose"), java[8]);
        assertTrue(java[9].contains("(keepFlops = 0.001)") && java[9].contains("(keepFlops = 0."), java[9]);

        // the CLI's words, as they were
        assertEquals("--keep-nnz 0.000000001 keeps 0 of 50 weights; give at least 0.02, or --nnz 0 in place of --keep-nnz to prune every"
                + " weight on purpose", refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, 1e-9, null, null, cli)));
        assertEquals("--keep-flops/--flops: FLOP budget: both options given; give one of --keep-flops FRACTION or --flops ABSOLUTE",
                refusal.apply(() -> Budgets.resolve(TWO_LAYERS, 0.3, 100.0, null, null, null, cli)));
        assertEquals("--keep-nnz/--nnz/--sparsity: NNZ budget: more than one option given; give one of --keep-nnz FRACTION, --nnz N or"
                + " --sparsity S", refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, null, 0.5, 3L, null, cli)));
        assertEquals("--keep-flops: value: is NaN, outside the valid range (0, 1]; give the fraction to keep, e.g. --keep-flops 0.3",
                refusal.apply(() -> Budgets.resolve(TWO_LAYERS, Double.NaN, null, null, null, null, cli)));
        String flops = refusal.apply(() -> Budgets.resolve(TWO_LAYERS, null, 0.5, null, null, null, cli));
        assertTrue(flops.startsWith("FLOP budget 0.5 (--flops 0.5) is below") && flops.endsWith("raise it to at least 1 (--flops 1), or --flops 0 in place of"
                + " --flops to prune every weight on purpose"), flops);
    }

    /** "--keep-nnz 1e-6 keeps 0 of 268336 weights; give at least 3.72667e-06" was refused again when given as printed. */
    @Test
    void theSuggestedNnzFractionAndSparsityAreFeasibleAsPrinted() {
        LayerTable t = RESNET20.layers();
        InputException keep = assertThrows(InputException.class, () -> Budgets.resolve(t, null, null, 1e-6, null, null));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("give at least ([0-9.eE+-]+)").matcher(keep.getMessage());
        assertTrue(keep.infeasible() && m.find(), keep.getMessage());
        assertTrue(Budgets.resolve(t, null, null, Double.parseDouble(m.group(1)), null, null).nnz() >= 1, "the suggestion " + m.group(1));
        // p = 400,001: 1 - 1/p = 0.99999750..., which rounds to nearest as 0.999998 and keeps no weight
        LayerTable odd = new LayerTable(List.of(new Layer("a", new long[] {400_001}, 1, 0, 400_001)), "test");
        InputException sparse = assertThrows(InputException.class, () -> Budgets.resolve(odd, null, null, null, null, 0.9999999));
        m = java.util.regex.Pattern.compile("give at most ([0-9.eE+-]+)").matcher(sparse.getMessage());
        assertTrue(sparse.infeasible() && m.find(), sparse.getMessage());
        assertTrue(Budgets.resolve(odd, null, null, null, null, Double.parseDouble(m.group(1))).nnz() >= 1, "the suggestion " + m.group(1));
    }

    /**
     * Past half a billion weights a relative 1e-9 is more than half a weight: 0.7 of 1,000,000,001 (700,000,000.7) was
     * snapped up to 700,000,001, one weight above the fraction asked for. Rounding error is still forgiven at that size.
     */
    @Test
    void aFractionOfABillionWeightsIsNotRoundedUpPastItself() {
        long p = 1_000_000_001L;
        LayerTable big = new LayerTable(List.of(new Layer("a", new long[] {p}, 1, 0, p)), "test");
        assertEquals(700_000_000L, Budgets.resolve(big, null, null, 0.7, null, null).nnz());
        assertEquals(700_000_000L, Budgets.resolve(big, null, null, null, null, 0.3).nnz());
        // 0.29 * 1600 is 463.99999999999994: still 464
        LayerTable small = new LayerTable(List.of(new Layer("a", new long[] {1600}, 1, 0, 1600)), "test");
        assertEquals(464, Budgets.resolve(small, null, null, 0.29, null, null).nnz());
        // 1 - 0.9999999 of 10,000,000 weights is 0.99999999947: one weight
        LayerTable ten = new LayerTable(List.of(new Layer("a", new long[] {10_000_000}, 1, 0, 10_000_000)), "test");
        assertEquals(1, Budgets.resolve(ten, null, null, null, null, 0.9999999).nnz());
        // and 0.1 of 1,000,000,000 (100,000,000.00000001 in binary) is 100,000,000
        LayerTable billion = new LayerTable(List.of(new Layer("a", new long[] {1_000_000_000}, 1, 0, 1_000_000_000)), "test");
        assertEquals(100_000_000L, Budgets.resolve(billion, null, null, 0.1, null, null).nnz());
    }

    /**
     * The README: interrupting a thread stops its prune with an IllegalStateException and the interrupt flag kept. The
     * java backend runs on one thread, where the vector loops never waited on a helper and so never saw the interrupt:
     * the solve ran to its end.
     */
    @Test
    void anInterruptedPruneStopsOnAOneThreadBackendAndTheBackendStaysUsable() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {300}, 9, 0, 300), new Layer("b", new long[] {200}, 1, 300, 200)), "test");
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
             FloatPointer w = new FloatPointer(500); HostMatrix x = HostMatrix.allocate(12, 500)) {
            backend.fillUniform(w, 500, 3, 1f);
            backend.fillSyntheticGradients(x, 4, 0.1f, 5);
            Budgets b = Budgets.resolve(t, 0.3, null, 0.4, null, null);
            var inputs = new Pruner.SolverInputs(x, null, 0.05, dev.falcon.solve.SolverOptions.defaults(), null);
            Thread.currentThread().interrupt();
            try {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> pruner.prune(Method.FALCON, w, t, b, inputs).close());
                assertTrue(e.getMessage().contains("interrupted"), e.getMessage());
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag is kept");
            } finally {
                Thread.interrupted();
            }
            try (PruneResult r = pruner.prune(Method.FALCON, w, t, b, inputs)) {
                assertTrue(r.kept() > 0 && r.kept() <= b.nnz());
            }
            // magnitude runs no VectorLoops: an interrupted magnitude prune used to run to its end
            for (Method method : new Method[] {Method.MAGNITUDE, Method.MP}) {
                Thread.currentThread().interrupt();
                try {
                    IllegalStateException e = assertThrows(IllegalStateException.class, () -> pruner.prune(method, w, t, b).close(), method.cliName());
                    assertTrue(e.getMessage().contains("interrupted"), e.getMessage());
                    assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag is kept");
                } finally {
                    Thread.interrupted();
                }
            }
        }
    }

    /**
     * Through the Java API nothing has validated the inputs as the CLI does: a NaN weight or linear term surfaced as
     * "score 7 is NaN" or as a LAPACK argument error, and a Budgets made without Budgets.resolve (a public record) with a
     * negative NNZ or a NaN FLOP budget made magnitude keep nothing without a word.
     */
    @Test
    void nonFiniteVectorsAndInvalidBudgetsAreRefusedNamingWhatIsWrong() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             FloatPointer bad = new FloatPointer(50); FloatPointer g = new FloatPointer(50); HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            var opt = dev.falcon.solve.SolverOptions.defaults();
            for (float v : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
                backend.fillUniform(bad, 50, 3, 1f);
                bad.put(7, v);
                for (Method m : new Method[] {Method.MAGNITUDE, Method.MP}) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(m, bad, t, b));
                    assertTrue(e.getMessage().contains("weights") && e.getMessage().contains("index 7"), e.getMessage());
                }
                for (var mode : new dev.falcon.solve.Backsolve.Mode[] {dev.falcon.solve.Backsolve.Mode.EXACT, null}) {
                    Method m = mode == null ? Method.FALCON : Method.MP;
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> pruner.prune(m, w, t, b, new Pruner.SolverInputs(x, bad, 0.1, opt, mode)));
                    assertTrue(e.getMessage().contains("linear term g") && e.getMessage().contains("index 7"), e.getMessage());
                }
            }
            g.fill(0);
            for (Budgets invalid : new Budgets[] {new Budgets(-5, b.flops(), 50, t.denseFlops(), "", ""),
                    new Budgets(10, Double.NaN, 50, t.denseFlops(), "", ""), new Budgets(10, -1, 50, t.denseFlops(), "", "")}) {
                for (Method m : new Method[] {Method.MAGNITUDE, Method.MP}) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(m, w, t, invalid).close(),
                            m + " " + invalid);
                    assertTrue(e.getMessage().contains("budgets"), e.getMessage());
                }
            }
            try (PruneResult r = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, g, 0.1, opt, dev.falcon.solve.Backsolve.Mode.EXACT))) {
                assertTrue(r.kept() > 0, "a finite zero linear term is accepted");
            }
        }
    }

    /**
     * NaN or Inf in X, given through the API (the CLI checks its files itself), made every Q NaN: falcon accepted no step
     * and returned mp's weights as its answer, and a backsolve's LAPACK call failed naming neither X nor the sample.
     * Every X a method reads is scanned by the backend first, X given in the inputs and X from a gradient source alike.
     */
    @Test
    void nonFiniteGradientsAreRefusedNamingTheSampleAndTheWeight() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50); HostMatrix good = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(good, 2, 0.1f, 5);
            var opt = dev.falcon.solve.SolverOptions.defaults().withMaxIterations(5);
            for (float v : new float[] {Float.NaN, Float.NEGATIVE_INFINITY}) {
                backend.fillSyntheticGradients(x, 2, 0.1f, 5);
                x.data().put(x.storageIndex(2, 41), v);
                Pruner.SolverInputs[] inputs = {
                        new Pruner.SolverInputs(x, null, 0.1, opt, null),
                        new Pruner.SolverInputs(x, null, 0.1, opt, dev.falcon.solve.Backsolve.Mode.EXACT),
                        new Pruner.SolverInputs(x, null, 0.1, opt, dev.falcon.solve.Backsolve.Mode.BLOCK),
                        new Pruner.SolverInputs(x, null, 0.1, opt, null, new Pruner.StagePlan(2, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.8, 0.8, null))};
                Method[] methods = {Method.FALCON, Method.MP, Method.MP, Method.FALCON_PLUS_PLUS};
                for (int k = 0; k < inputs.length; k++) {
                    Pruner.SolverInputs in = inputs[k];
                    Method m = methods[k];
                    RuntimeException e = assertThrows(RuntimeException.class, () -> pruner.prune(m, w, t, b, in).close(), m + " " + k);
                    assertTrue(e.getMessage().contains("X[2, 41]") && e.getMessage().contains(String.valueOf(v)), e.getMessage());
                }
                // a source's X of a later stage: an error, as for a pattern's file (a source that wants the run kept throws SourceFailure)
                dev.falcon.solve.MultiStage.GradientSource source = (stage, weights) -> stage == 0 ? good : x;
                Pruner.StagePlan plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.8, 0.8, source);
                RuntimeException e = assertThrows(RuntimeException.class,
                        () -> pruner.prune(Method.FALCON_PLUS_PLUS, w, t, b, new Pruner.SolverInputs(null, null, 0.1, opt, null, plan)).close());
                assertTrue(e.getMessage().contains("stage 1") && e.getMessage().contains("X[2, 41]"), e.getMessage());
            }
            try (PruneResult r = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, 0.1, null, null))) {
                assertTrue(r.kept() > 0, "plain mp does not read X");
            }
        }
    }

    /** Inputs the methods would read past, or silently misread, are refused before any work. */
    @Test
    void inconsistentInputsAreRefusedNotReadPast() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             FloatPointer shortW = new FloatPointer(40); HostMatrix x = HostMatrix.allocate(4, 50); HostMatrix wide = HostMatrix.allocate(4, 55)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillUniform(shortW, 40, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            backend.fillSyntheticGradients(wide, 2, 0.1f, 5);
            var opt = dev.falcon.solve.SolverOptions.defaults();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(Method.MP, shortW, t, b));
            assertTrue(e.getMessage().contains("weights") && e.getMessage().contains("40"), e.getMessage());
            LayerTable costlier = new LayerTable(List.of(new Layer("a", new long[] {30}, 8, 0, 30), new Layer("b", new long[] {20}, 1, 30, 20)), "test");
            e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(Method.MP, w, t, Budgets.resolve(costlier, 0.3, null, null, null, null)));
            assertTrue(e.getMessage().contains("another layer table"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(wide, null, 0.1, opt, dev.falcon.solve.Backsolve.Mode.EXACT)));
            assertTrue(e.getMessage().contains("55 columns"), e.getMessage());
            for (double lambda : new double[] {0, -1, Double.NaN, 1e39}) {
                e = assertThrows(IllegalArgumentException.class,
                        () -> pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, lambda, opt, dev.falcon.solve.Backsolve.Mode.EXACT)));
                assertTrue(e.getMessage().contains("lambda"), e.getMessage());
            }
            try (FloatPointer memory = new FloatPointer(100)) {
                e = assertThrows(IllegalArgumentException.class, () -> HostMatrix.wrap(memory, 4, 50, null, "test"));
                assertTrue(e.getMessage().contains("100") && e.getMessage().contains("200"), e.getMessage());
            }
        }
    }

    /** Budgets is a public record: an infinite FLOP budget (none) or an NNZ budget above p prunes as the dense level would. */
    @Test
    void budgetsAboveTheDenseModelPruneAsTheDenseLevelInEveryMethod() {
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            double dense = TWO_LAYERS.denseFlops();
            var plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.POLY, 1, 1, null);
            for (Budgets unbounded : new Budgets[] {new Budgets(20, Double.POSITIVE_INFINITY, 50, dense, "20", "none"),
                    new Budgets(500, dense * 0.3, 50, dense, "500", "0.3")}) {
                for (Method method : Method.values()) {
                    // the plan only where it is read: the other methods refuse it
                    var inputs = new Pruner.SolverInputs(x, null, 0.1, dev.falcon.solve.SolverOptions.defaults(), null,
                            method == Method.FALCON_PLUS_PLUS ? plan : null);
                    try (PruneResult r = pruner.prune(method, w, TWO_LAYERS, unbounded, inputs)) {
                        assertTrue(r.kept() > 0 && r.kept() <= Math.min(50, unbounded.nnz()) && r.keptFlops() <= unbounded.flops(),
                                method + " under " + unbounded + ": kept " + r.kept() + ", " + r.keptFlops() + " FLOPs");
                    }
                }
            }
        }
    }

    @Test
    void aPrunerWithoutABackendIsRefusedWhenMade() {
        NullPointerException e = assertThrows(NullPointerException.class, () -> new Pruner(null));
        assertEquals("backend", e.getMessage());
    }

    @Test
    void aClosedResultSaysSoAndClosesTwiceWithoutHarm() {
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50)) {
            backend.fillUniform(w, 50, 3, 1f);
            PruneResult r = pruner.prune(Method.MP, w, TWO_LAYERS, TWO_LAYER_BUDGETS);
            r.close();
            r.close();
            for (Runnable use : List.<Runnable>of(() -> r.prunedWeights().get(0), () -> r.mask().get(0))) {
                IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
                assertTrue(e.getMessage().contains("PruneResult") && e.getMessage().contains("close()"), e.getMessage());
            }
        }
    }

    /** Objective's vectors come from the library user: a short one used to be read past its end, giving Q = 3e69. */
    @Test
    void theObjectiveRefusesVectorsShorterThanP() {
        try (JavaBackend backend = new JavaBackend(); FloatPointer w = new FloatPointer(50); FloatPointer shortW = new FloatPointer(10);
             HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            shortW.fill(0);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            for (Runnable call : List.<Runnable>of(() -> Objective.evaluate(backend, x, shortW, w, null, 0.1),
                    () -> Objective.evaluate(backend, x, w, shortW, null, 0.1), () -> Objective.evaluate(backend, x, w, w, shortW, 0.1),
                    () -> Objective.lowerBound(backend, shortW, null, 0.1, TWO_LAYERS, 10, 40),
                    () -> Objective.lowerBound(backend, w, shortW, 0.1, TWO_LAYERS, 10, 40))) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
                assertTrue(e.getMessage().contains("holds 10 elements but 50 are needed"), e.getMessage());
            }
        }
    }

    /**
     * A library user's weights may be a view into a larger buffer (a JavaCPP pointer at a position): they are read from
     * there, as the length check counts them, and the pointer is left as it was, so that the next call sees it whole.
     */
    @Test
    void weightsAreReadFromThePointersPositionWhichIsLeftAsItWas() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        LayerTable firstLayerOnly = new LayerTable(List.of(new Layer("a", new long[] {30}, 4, 0, 30)), "test");
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             FloatPointer padded = new FloatPointer(60); HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillUniform(padded, 10, 9, 100f); // large values before the weights, which mp would keep if it read them
            for (int i = 0; i < 50; i++) padded.put(10 + i, w.get(i));
            padded.position(10);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            var inputs = new Pruner.SolverInputs(x, null, 0.1, dev.falcon.solve.SolverOptions.defaults(), dev.falcon.solve.Backsolve.Mode.NONE);
            for (Method method : new Method[] {Method.MAGNITUDE, Method.MP, Method.FALCON}) {
                try (PruneResult plain = pruner.prune(method, w, t, b, inputs); PruneResult view = pruner.prune(method, padded, t, b, inputs)) {
                    for (long i = 0; i < 50; i++) {
                        assertEquals(plain.mask().get(i), view.mask().get(i), method + ": mask at " + i);
                        assertEquals(plain.prunedWeights().get(i), view.prunedWeights().get(i), method + ": weight " + i);
                    }
                }
                assertEquals(10, padded.position(), method + ": the caller's position");
                assertEquals(60, padded.limit(), method + ": the caller's limit");
            }
            try (PruneResult part = pruner.prune(Method.MP, w, firstLayerOnly, Budgets.resolve(firstLayerOnly, 0.5, null, null, null, null));
                 PruneResult whole = pruner.prune(Method.MP, w, t, b)) {
                checkResult(whole, t, w);
            }
        }
    }

    /**
     * The block-diagonal backsolve ignores what the blocks share: here each block cancels its own removed weight while
     * the two removed weights already cancelled each other in X w, so the backsolve only adds ridge and raises Q. mp's
     * weights are then kept, and the result says so.
     */
    @Test
    void aBacksolveThatRaisesQIsNotKept() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {4}, 1, 0, 4)), "test");
        Budgets b = Budgets.resolve(t, null, null, null, 2L, null);
        float[] columns = {1, 0.5f, 1, 0.5f, -1, -0.5f, -1, -0.5f}; // x0 = x1 = v, x2 = x3 = -v
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(1.1f, 1f, 1.1f, 1f);
             HostMatrix x = HostMatrix.allocate(2, 4)) {
            x.data().put(columns, 0, 8);
            var opt = dev.falcon.solve.SolverOptions.defaults().withBlockSize(2);
            try (PruneResult mp = pruner.prune(Method.MP, w, t, b);
                 PruneResult block = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, null, 0.1, opt, dev.falcon.solve.Backsolve.Mode.BLOCK))) {
                assertNotNull(block.solve().note(), "the block backsolve raises Q here");
                // the note gives that mode's own reason (it used to blame the blocks whatever the mode)
                assertTrue(block.solve().note().contains("(its block-diagonal model drops what the blocks share)"), block.solve().note());
                assertEquals(block.solve().qMp(), block.solve().qFinal());
                for (int i = 0; i < 4; i++) assertEquals(mp.prunedWeights().get(i), block.prunedWeights().get(i), "weight " + i);
            }
        }
    }

    /**
     * With X = 0, the exact backsolve of one weight is wbar - g / lambda: at lambda = 1e-300 that is -1e300, -Inf in float.
     * Its Q is not finite, so "raised Q" never compared true and the run wrote -Inf as the pruned weight with exit code 0.
     */
    @Test
    void aBacksolveWhoseWeightsOverflowFloatIsNotKept() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {1}, 1, 0, 1)), "test");
        Budgets b = Budgets.resolve(t, null, null, null, 1L, null);
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(1f);
             FloatPointer g = new FloatPointer(1f); HostMatrix x = HostMatrix.allocate(1, 1)) {
            x.data().put(0, 0f);
            for (var mode : new dev.falcon.solve.Backsolve.Mode[] {dev.falcon.solve.Backsolve.Mode.EXACT, dev.falcon.solve.Backsolve.Mode.BLOCK,
                    dev.falcon.solve.Backsolve.Mode.SWEEP}) {
                try (PruneResult r = pruner.prune(Method.MP, w, t, b,
                        new Pruner.SolverInputs(x, g, 1e-300, dev.falcon.solve.SolverOptions.defaults(), mode))) {
                    assertEquals(1f, r.prunedWeights().get(0), mode + ": mp's weight stays");
                    assertNotNull(r.solve().note(), mode + ": the result says why the backsolve was not kept");
                    assertTrue(r.solve().note().contains("not finite"), r.solve().note());
                    assertEquals(r.solve().qMp(), r.solve().qFinal(), mode.name());
                }
            }
        }
    }

    /**
     * With a linear term at lambda = 1e-30 the exact backsolve moves the weights by about |g| / lambda, 1e29, whose float32
     * rounding raises Q by dozens of orders of magnitude over mp's (3.46e49 against 252.77): the note blamed "float
     * rounding: the two are equal to within it", which is false at that scale. It now gives the size of the move and the
     * remedy, and keeps the rounding wording for rises of Q within its evaluation's rounding.
     */
    @Test
    void anExactBacksolveUndoneByTheWeightsRoundingSaysHowFarTheyMoved() {
        int n = 8, p = 600;
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {200}, 1, 0, 200), new Layer("b", new long[] {200}, 2, 200, 200),
                new Layer("c", new long[] {200}, 4, 400, 200)), "test");
        Budgets b = Budgets.resolve(t, 0.5, null, null, null, null);
        float[] wbar = new float[p], gv = new float[p];
        for (int i = 0; i < p; i++) { wbar[i] = (float) random.nextGaussian(); gv[i] = (float) (0.1 * random.nextGaussian()); }
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(wbar);
             FloatPointer g = new FloatPointer(gv); HostMatrix x = HostMatrix.allocate(n, p)) {
            for (long i = 0; i < (long) n * p; i++) x.data().put(i, (float) random.nextGaussian());
            try (PruneResult r = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, g, 1e-30, dev.falcon.solve.SolverOptions.defaults(),
                    dev.falcon.solve.Backsolve.Mode.EXACT));
                 PruneResult normal = pruner.prune(Method.MP, w, t, b, new Pruner.SolverInputs(x, g, 1e-3, dev.falcon.solve.SolverOptions.defaults(),
                         dev.falcon.solve.Backsolve.Mode.EXACT))) {
                String note = r.solve().note();
                assertNotNull(note, "the backsolve's Q " + r.solve().qFinal() + " against mp's " + r.solve().qMp());
                assertFalse(note.contains("equal to within"), note);
                assertTrue(note.contains("the largest |g| / lambda is 3.") && note.contains("a larger lambda"), note);
                assertEquals(r.solve().qMp(), r.solve().qFinal());
                assertNull(normal.solve().note(), "lambda 1e-3: the backsolve is kept");
                assertTrue(normal.solve().qFinal() < normal.solve().qMp());
            }
        }
    }

    @Test
    void magnitudeDoesNotKeepZeroWeights() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {6}, 1, 0, 6)), "test");
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(0f, 2f, 0f, -1f, 0f, 3f);
             PruneResult r = pruner.prune(Method.MAGNITUDE, w, t, Budgets.resolve(t, 0.9, null, null, null, null))) {
            assertEquals(3, r.kept());
            assertEquals(3.0, r.keptFlops());
            for (int i = 0; i < 6; i++) assertEquals(w.get(i) != 0 ? 1 : 0, r.mask().get(i), "mask " + i);
        }
    }

    /**
     * mp's certificate came from the selection's float scores (w^2 rounded to float): its dual bound fell below the kept
     * weights' own sum of w^2 in 7 of 10 small instances, so it bounded nothing. The primal is that sum in double, and
     * the dual must bound every feasible support's true sum of w^2: checked against the best one by brute force.
     */
    @Test
    void mpsDualBoundBoundsTheTrueSquaresOfEveryFeasibleSupport() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        int p = 16;
        LayerTable layers = new LayerTable(List.of(new Layer("a", new long[] {8}, 3.7, 0, 8), new Layer("b", new long[] {8}, 1.3, 8, 8)), "two");
        int below = 0;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend)) {
            for (int trial = 0; trial < 200; trial++) {
                float[] w = new float[p];
                for (int i = 0; i < p; i++) w[i] = (float) (rnd.nextGaussian() * Math.exp(rnd.nextDouble(-3, 3)));
                long nnz = rnd.nextInt(1, 8);
                double flops = rnd.nextDouble(2, 30);
                Budgets budgets = Budgets.resolve(layers, null, flops, null, nnz, null);
                double best = 0;
                for (int m = 0; m < 1 << p; m++) {
                    if (Integer.bitCount(m) > nnz || 3.7 * Integer.bitCount(m & 0xff) + 1.3 * Integer.bitCount(m >>> 8) > flops) continue;
                    double sum = 0;
                    for (int i = 0; i < p; i++) if ((m >>> i & 1) != 0) sum += (double) w[i] * w[i];
                    best = Math.max(best, sum);
                }
                try (FloatPointer wp = new FloatPointer(w); PruneResult r = pruner.prune(Method.MP, wp, layers, budgets)) {
                    PruneResult.Certificate c = r.certificate();
                    assertEquals(r.keptScore(), c.primalValue(), "the primal is the kept weights' sum of w^2");
                    assertTrue(c.dualBound() >= best, "trial " + trial + ": dual " + c.dualBound() + " below the best support's " + best);
                    assertEquals((c.dualBound() - c.primalValue()) / c.dualBound(), c.relativeGap(), 1e-15, "trial " + trial);
                    if (c.primalValue() < best) below++;
                }
            }
        }
        System.out.println("[mp certificate] 200 instances: mp below the brute-force optimum in " + below + " (by at most its gap, the LP's)");
    }

    /**
     * With every weight 0, every support has value 0 and mp's selection is optimal. The dual's allowance for rounding
     * w^2 to float added the smallest float per keepable weight, though a weight of 0 squares to 0 exactly: the dual was
     * 25 x 1.4e-45 here (3.5e-44) and the relative gap 1, telling the reader the selection might be arbitrarily far from
     * optimal.
     */
    @Test
    void allZeroWeightsGiveAnExactCertificate() {
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50)) {
            w.fill(0);
            try (PruneResult r = pruner.prune(Method.MP, w, TWO_LAYERS, TWO_LAYER_BUDGETS)) {
                PruneResult.Certificate c = r.certificate();
                assertEquals(0, r.kept());
                assertEquals(0.0, c.primalValue());
                assertEquals(0.0, c.dualBound(), c.toString());
                assertEquals(0.0, c.relativeGap(), c.toString());
            }
        }
    }

    /**
     * mp's scores are w^2 in float: weights around 1e-22 square into a handful of subnormal values (and below 2.6e-23
     * to 0), so the selection saw ties and kept weights by index instead of by magnitude. The same problem scaled by
     * 2^70 (exact) squares without loss and must give the same mask, and the certificate in the caller's units.
     */
    @Test
    void mpKeepsTheLargestOfTinyWeightsAsItDoesTheSameWeightsScaledUp() {
        float[] tiny = tinyWeights(50);
        float[] scaled = new float[tiny.length];
        for (int i = 0; i < tiny.length; i++) scaled[i] = Math.scalb(tiny[i], 70);
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
             FloatPointer wTiny = new FloatPointer(tiny); FloatPointer wScaled = new FloatPointer(scaled);
             PruneResult a = pruner.prune(Method.MP, wTiny, TWO_LAYERS, TWO_LAYER_BUDGETS);
             PruneResult b = pruner.prune(Method.MP, wScaled, TWO_LAYERS, TWO_LAYER_BUDGETS)) {
            assertEquals(b.kept(), a.kept());
            for (int i = 0; i < tiny.length; i++) assertEquals(b.mask().get(i), a.mask().get(i), "weight " + i + " (" + tiny[i] + ")");
            double units = 0x1p-140;
            assertEquals(b.certificate().primalValue() * units, a.certificate().primalValue(), 1e-12 * b.certificate().primalValue() * units);
            assertEquals(b.certificate().dualBound() * units, a.certificate().dualBound(), 1e-12 * b.certificate().dualBound() * units);
            assertEquals(b.keptScore() * units, a.keptScore(), 1e-12 * b.keptScore() * units);
        }
    }

    /**
     * The lower bound hands the selection its scores (wbar - g / lambda)^2 rounded up to float: around 1e-22 they
     * rounded up to a few subnormals, the dual bound exceeded the pruned sum and the bound came out 0. Q scales with
     * the square of the weights, so the bound of the same problem scaled by 2^70 must be 2^140 times it.
     */
    @Test
    void theLowerBoundOfTinyWeightsIsTheScaledBoundOfTheSameWeightsScaledUp() {
        float[] tiny = tinyWeights(50);
        float[] scaled = new float[tiny.length], gTiny = new float[tiny.length], gScaled = new float[tiny.length];
        for (int i = 0; i < tiny.length; i++) {
            scaled[i] = Math.scalb(tiny[i], 70);
            gTiny[i] = 0.25f * tiny[(i + 7) % tiny.length];
            gScaled[i] = Math.scalb(gTiny[i], 70);
        }
        try (JavaBackend backend = new JavaBackend(); FloatPointer a = new FloatPointer(tiny); FloatPointer b = new FloatPointer(scaled);
             FloatPointer ga = new FloatPointer(gTiny); FloatPointer gb = new FloatPointer(gScaled)) {
            for (boolean withG : new boolean[] {false, true}) {
                var big = Objective.lowerBound(backend, b, withG ? gb : null, 2.0, TWO_LAYERS, TWO_LAYER_BUDGETS.nnz(), TWO_LAYER_BUDGETS.flops());
                var small = Objective.lowerBound(backend, a, withG ? ga : null, 2.0, TWO_LAYERS, TWO_LAYER_BUDGETS.nnz(), TWO_LAYER_BUDGETS.flops());
                assertTrue(big.value() != 0, "the scaled problem's bound is not trivial: " + big);
                double units = 0x1p-140;
                assertEquals(big.value() * units, small.value(), 1e-6 * Math.abs(big.value()) * units, "with g: " + withG);
                assertEquals(big.selectionSlack() * units, small.selectionSlack(), 1e-6 * Math.abs(big.value()) * units, "with g: " + withG);
            }
        }
    }

    /**
     * Weights beyond 1.8e19 were refused for every method because "their square (the score) overflows float32", though
     * magnitude ranks |w| and mp now squares the weights scaled by a power of two: both keep of weights near 3e38
     * exactly what they keep of the same weights scaled by 2^-100.
     */
    @Test
    void magnitudeAndMpPruneWeightsNearTheLargestFloatAsTheSameWeightsScaledDown() {
        float[] huge = tinyWeights(50), unit = new float[50];
        for (int i = 0; i < 50; i++) {
            huge[i] = Math.scalb(huge[i], 199);     // 1e-22 * 2^199: about 8e37 to 1.6e38, and 1e-24 * 2^199 for a few
            unit[i] = Math.scalb(huge[i], -100);
        }
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend);
             FloatPointer wHuge = new FloatPointer(huge); FloatPointer wUnit = new FloatPointer(unit)) {
            for (Method m : new Method[] {Method.MAGNITUDE, Method.MP}) {
                try (PruneResult a = pruner.prune(m, wHuge, TWO_LAYERS, TWO_LAYER_BUDGETS); PruneResult b = pruner.prune(m, wUnit, TWO_LAYERS, TWO_LAYER_BUDGETS)) {
                    checkResult(a, TWO_LAYERS, wHuge);
                    for (int i = 0; i < 50; i++) assertEquals(b.mask().get(i), a.mask().get(i), m + ": weight " + i);
                    assertEquals(b.keptScore() * 0x1p200, a.keptScore(), 1e-12 * a.keptScore(), m.cliName());
                }
            }
        }
    }

    /** Distinct magnitudes between 1e-22 and 2e-22 in a scrambled order, alternating signs, below 1e-23 for a few. */
    static float[] tinyWeights(int p) {
        float[] w = new float[p];
        for (int i = 0; i < p; i++) {
            int rank = (i * 17 + 5) % p;
            w[i] = (i % 2 == 0 ? 1 : -1) * (rank < 5 ? 1e-24f * (rank + 1) : 1e-22f * (1 + rank / (float) p));
        }
        return w;
    }

    /** falcon++ from a gradient source alone: X is asked for once per stage, and a failing stage ends the run, not prune(). */
    @Test
    void falconPlusPlusAsksItsSourceOncePerStage() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(6, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 3, 0.1f, 5);
            var opt = dev.falcon.solve.SolverOptions.defaults().withMaxIterations(5);
            for (int failAt : new int[] {-1, 2, 0}) {
                List<Integer> asked = new java.util.ArrayList<>();
                dev.falcon.solve.MultiStage.GradientSource source = (stage, weights) -> {
                    asked.add(stage);
                    if (stage == failAt) throw new dev.falcon.solve.MultiStage.SourceFailure("no gradients at stage " + stage);
                    return x;
                };
                Pruner.StagePlan plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.8, 0.8, source);
                Pruner.SolverInputs inputs = new Pruner.SolverInputs(null, null, 0.1, opt, null, plan);
                if (failAt == 0) {
                    // the README: at stage 0 the prune throws the source's failure on
                    assertThrows(dev.falcon.solve.MultiStage.SourceFailure.class, () -> pruner.prune(Method.FALCON_PLUS_PLUS, w, t, b, inputs).close());
                    continue;
                }
                try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, t, b, inputs)) {
                    assertEquals(List.of(0, 1, 2), asked, "stages asked for X");
                    String stopped = r.solve().multiStage().stopped();
                    assertEquals(failAt < 0, stopped == null, String.valueOf(stopped));
                    assertTrue(Double.isFinite(r.solve().qMp()) && Double.isFinite(r.solve().qFinal()));
                    // the README: stopped, the result holds the last completed stage, above the budgets the caller gave
                    assertEquals(failAt > 0, r.kept() > b.nnz() || r.keptFlops() > b.flops(),
                            "kept " + r.kept() + " of " + b.nnz() + ", FLOPs " + r.keptFlops() + " of " + b.flops());
                }
            }
        }
    }

    /**
     * A StagePlan's start level is judged against the fraction asked for, as the CLI judges --start-keep: the API compared
     * it with nnz / p, so keepNnz 0.51 of 50 weights (25 kept, 0.5) let a start of 0.505 through, which the CLI refuses.
     */
    @Test
    void aStartLevelIsJudgedAgainstTheFractionAskedForAsOnTheCli() {
        Budgets b = Budgets.resolve(TWO_LAYERS, null, null, 0.51, null, null);
        assertEquals(25, b.nnz());
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(6, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 3, 0.1f, 5);
            var opt = dev.falcon.solve.SolverOptions.defaults().withMaxIterations(5);
            Pruner.StagePlan plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.505, 1, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pruner.prune(Method.FALCON_PLUS_PLUS, w, TWO_LAYERS, b, new Pruner.SolverInputs(x, null, 0.1, opt, null, plan)).close());
            assertEquals("StagePlan.startNnz: is 0.505, below the NNZ target 0.51: the schedule runs from the start level down to the target;"
                    + " give a start level at or above the target", e.getMessage());
        }
        // the CLI's wording of the same rule, through the same check
        var cli = new dev.falcon.solve.MultiStage.StartLevelNames("--start-keep", "--start-keep-flops", true);
        InputException e = assertThrows(InputException.class,
                () -> dev.falcon.solve.MultiStage.requireStartsAtOrAboveTargets(cli, 0.505, b.nnzFraction(), 1, b.flopsFraction()));
        assertEquals("--start-keep: value: 0.505 is below the NNZ target 0.51: the schedule runs from the start level down to the target;"
                + " give a start level at or above the target", e.getMessage());
    }

    /**
     * As on the CLI, a start level below its target is refused; it was raised to the target, turning the schedule const.
     * The refusal names the StagePlan field and the fix, and comes before any work: it came from MultiStage.run, after
     * mp's scoring and selection, as "the NNZ start level 0.4 is below the NNZ target 0.5: ..." with no field and no fix.
     */
    @Test
    void falconPlusPlusRefusesAStartLevelBelowItsTarget() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(6, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 3, 0.1f, 5);
            var opt = dev.falcon.solve.SolverOptions.defaults().withMaxIterations(5);
            double[][] starts = {{0.4, 1.0}, {1.0, 0.2}};
            for (double[] s : starts) {
                Pruner.StagePlan plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.LINEAR, s[0], s[1], null);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> pruner.prune(Method.FALCON_PLUS_PLUS, w, t, b, new Pruner.SolverInputs(x, null, 0.1, opt, null, plan)).close());
                assertEquals(s[0] < 1 ? "StagePlan.startNnz: is 0.4, below the NNZ target 0.5: the schedule runs from the start level down to the"
                        + " target; give a start level at or above the target" : "StagePlan.startFlops: is 0.2, below the FLOP target 0.3: the schedule"
                        + " runs from the start level down to the target; give a start level at or above the target", e.getMessage());
                assertTrue(java.util.Arrays.stream(e.getStackTrace()).anyMatch(f -> f.getMethodName().equals("checkInputs"))
                        && java.util.Arrays.stream(e.getStackTrace()).noneMatch(f -> f.getClassName().equals(dev.falcon.solve.MultiStage.class.getName())
                        && f.getMethodName().equals("run")), "refused before any work, not by MultiStage.run after mp's selection");
            }
            // a start level for a budget that stays dense is moot (the --start-keep shorthand): no error
            Budgets flopsOnly = Budgets.resolve(t, 0.3, null, null, null, null);
            Pruner.StagePlan plan = new Pruner.StagePlan(3, dev.falcon.solve.MultiStage.Schedule.LINEAR, 0.5, 0.5, null);
            try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, t, flopsOnly, new Pruner.SolverInputs(x, null, 0.1, opt, null, plan))) {
                assertEquals(50, r.solve().multiStage().stages().get(0).nnzBudget());
            }
        }
    }

    /**
     * A StagePlan no prune can run is refused when it is made, naming its field and the fix, and a lambda out of range
     * names SolverInputs.lambda: they were "stages must be >= 1, got 0", a NullPointerException "the stage plan's
     * schedule" and "lambda is NaN; ...", found only by Pruner.prune.
     */
    @Test
    void aStagePlanOrLambdaNoPruneCanRunIsRefusedNamingTheField() {
        var poly = dev.falcon.solve.MultiStage.Schedule.POLY;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Pruner.StagePlan(0, poly, 1, 1, null));
        assertEquals("StagePlan.stages: is 0, it must be at least 1; e.g. 5, as StagePlan.defaults()", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Pruner.StagePlan(3, null, 1, 1, null));
        assertEquals("StagePlan.schedule: is null; give a MultiStage.Schedule, e.g. POLY, as StagePlan.defaults()", e.getMessage());
        // shown as the other messages show numbers (Numbers.shown): Java's toString gave "7.0" and "Infinity" here, and
        // "Inf" in the next check of the same field
        double[] levels = {Double.NaN, 0, -5, 7, Double.POSITIVE_INFINITY};
        String[] shown = {"NaN", "0", "-5", "7", "Inf"};
        for (int i = 0; i < levels.length; i++) {
            double level = levels[i];
            e = assertThrows(IllegalArgumentException.class, () -> new Pruner.StagePlan(3, poly, level, 1, null));
            assertTrue(e.getMessage().startsWith("StagePlan.startNnz: is " + shown[i] + ", outside (0, 1]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new Pruner.StagePlan(3, poly, 1, level, null));
            assertTrue(e.getMessage().startsWith("StagePlan.startFlops: is " + shown[i] + ", outside (0, 1]"), e.getMessage());
        }
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            for (double lambda : new double[] {Double.NaN, 0, 2e30}) {
                e = assertThrows(IllegalArgumentException.class, () -> pruner.prune(Method.FALCON, w, TWO_LAYERS, TWO_LAYER_BUDGETS,
                        new Pruner.SolverInputs(x, null, lambda, null, null)).close());
                assertEquals("SolverInputs.lambda: is " + dev.falcon.model.Numbers.shown(lambda) + ", it must be positive and at most 1e30; e.g. 1e-3",
                        e.getMessage());
            }
        }
    }

    /**
     * A closed Pruner refuses to prune, as the other closed objects of the API do: its close() did nothing, and a closed
     * pruner went on pruning.
     */
    @Test
    void aClosedPrunerRefusesToPrune() {
        try (JavaBackend backend = new JavaBackend(); FloatPointer w = new FloatPointer(50)) {
            backend.fillUniform(w, 50, 3, 1f);
            Pruner pruner = new Pruner(backend);
            pruner.prune(Method.MAGNITUDE, w, TWO_LAYERS, TWO_LAYER_BUDGETS).close();
            pruner.close();
            for (Method m : new Method[] {Method.MAGNITUDE, Method.MP}) {
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> pruner.prune(m, w, TWO_LAYERS, TWO_LAYER_BUDGETS).close(), m.cliName());
                assertEquals("Pruner was closed: make a new Pruner(backend) to prune again", e.getMessage());
            }
            pruner.close(); // a second close is harmless
            try (Pruner fresh = new Pruner(backend); PruneResult r = fresh.prune(Method.MP, w, TWO_LAYERS, TWO_LAYER_BUDGETS)) {
                assertTrue(r.kept() > 0, "the backend is still usable");
            }
        }
    }

    /**
     * The passes over X of a solver's prune that are not the solver's own: the scan for NaN and Inf, Q of mp's support (one:
     * its difference from the dense weights is exact in float) and of the result (two: the float head of the difference
     * and its rest).
     */
    private static final int MOST_PASSES_BESIDE_THE_SOLVER = 1 + 1 + 2;

    /**
     * mp + BS measured Q of mp's support and of its result twice each: with FalconSolver.exactQ for its decision (two passes
     * over X each), then with Objective for the result after the solve's clock had stopped, and the CLI evaluated the
     * result's Q a third time: up to 9 passes over X beside the backsolve's, 7-16% of a resnet50 run in no timing phase.
     * Now each Q is measured once, Objective's value (the one the CLI reports, carried as objectiveAfter), and the solve's
     * seconds and objectiveSeconds hold every pass: a backend that sleeps at each pass shows it, since the phases must hold
     * at least the sleeps of the passes inside them.
     */
    @Test
    void aSolversPruneMeasuresEachQOnceAndEveryPassOverXInAPhase() {
        LayerTable t = TWO_LAYERS;
        Budgets b = TWO_LAYER_BUDGETS;
        double lambda = 0.1;
        long sleepMillis = 100;
        try (JavaBackend backend = new JavaBackend(); FloatPointer w = new FloatPointer(50); FloatPointer g = new FloatPointer(50);
             HostMatrix x = HostMatrix.allocate(4, 50)) {
            backend.fillUniform(w, 50, 3, 1f);
            backend.fillUniform(g, 50, 4, 0.01f);
            backend.fillSyntheticGradients(x, 2, 0.1f, 5);
            float[] wbar = new float[50], gv = new float[50];
            w.get(wbar);
            g.get(gv);
            byte[] mpMask;
            try (Pruner plain = new Pruner(backend); PruneResult mp = plain.prune(Method.MP, w, t, b)) {
                mpMask = mp.copyMask();
            }
            var options = dev.falcon.solve.SolverOptions.defaults().withMaxIterations(3);
            for (Method method : new Method[] {Method.MP, Method.FALCON}) {
                for (var mode : method == Method.MP ? new dev.falcon.solve.Backsolve.Mode[] {dev.falcon.solve.Backsolve.Mode.EXACT,
                        dev.falcon.solve.Backsolve.Mode.BLOCK} : new dev.falcon.solve.Backsolve.Mode[] {null}) {
                    String what = method.cliName() + (mode == null ? "" : " + " + mode);
                    dev.falcon.solve.CountingBackend solverAlone = new dev.falcon.solve.CountingBackend(backend);
                    if (mode != null) {
                        dev.falcon.solve.Backsolve.solve(solverAlone, x, wbar, gv, lambda, mpMask, mode,
                                dev.falcon.solve.Backsolve.blockStarts(t, options.blockSize()), 100, 1e-10);
                    } else {
                        new dev.falcon.solve.FalconSolver(solverAlone).solve(x, wbar, gv, lambda, t, b.nnz(), b.flops(), mpMask, options);
                    }
                    dev.falcon.solve.CountingBackend counting = new dev.falcon.solve.CountingBackend(backend);
                    counting.observer = new dev.falcon.solve.CountingBackend.Observer() {
                        @Override
                        public void passOverX(String op) {
                            try {
                                Thread.sleep(sleepMillis);
                            } catch (InterruptedException e) {
                                throw new AssertionError(e);
                            }
                        }
                    };
                    try (Pruner pruner = new Pruner(counting);
                         PruneResult r = pruner.prune(method, w, t, b, new Pruner.SolverInputs(x, g, lambda, options, mode))) {
                        assertTrue(counting.passesOverX() <= solverAlone.passesOverX() + MOST_PASSES_BESIDE_THE_SOLVER,
                                what + ": the solver's passes " + solverAlone.counts + ", the prune's " + counting.counts);
                        PruneResult.Solve s = r.solve();
                        assertEquals(Objective.evaluate(backend, x, r.prunedWeights(), w, g, lambda), s.objectiveAfter(),
                                what + ": the Q a report of the result gives, carried with it");
                        assertEquals(s.qFinal(), s.objectiveAfter().q(), what);
                        double phases = r.scoreSeconds() + r.selectSeconds() + r.applySeconds() + s.seconds() + s.objectiveSeconds();
                        assertTrue(phases >= counting.passesOverX() * sleepMillis / 1e3, what + ": " + counting.passesOverX() + " passes of "
                                + sleepMillis + " ms, but the phases hold " + phases + " s (solve " + s.seconds() + ", objective " + s.objectiveSeconds() + ")");
                        assertTrue(s.objectiveSeconds() >= 2 * sleepMillis / 1e3, what + ": Q of mp's support and of the result are the objective's: "
                                + s.objectiveSeconds());
                    }
                }
            }
        }
    }
}
