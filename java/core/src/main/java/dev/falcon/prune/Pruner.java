package dev.falcon.prune;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.FalconSolver;
import dev.falcon.solve.FilePatternGradients;
import dev.falcon.solve.MultiStage;
import dev.falcon.solve.SolverOptions;
import dev.falcon.solve.SweepWarning;
import dev.falcon.io.InputException;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import dev.falcon.select.FlopAwareSelector;
import dev.falcon.select.Selection;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * Runs one pruning method under two budgets. {@code falcon}: the FALCON solver (DFO from mp's support, then
 * a backsolve, see {@link FalconSolver}); {@code mp} optionally followed by a backsolve on its support. {@code magnitude}: global ranking of |w| (stable, ties
 * by index), kept in that order while both budgets hold; an item that no longer fits is skipped and
 * the scan goes on. {@code mp}: the FLOP-aware selection ILP with scores w^2 (FALCON's magnitude
 * pruning), which accounts for each weight's FLOP cost.
 */
public final class Pruner implements AutoCloseable {
    private final ComputeBackend backend;
    private volatile boolean closed;

    /** A pruner on {@code backend}, which the caller keeps owning and closes. */
    public Pruner(ComputeBackend backend) {
        this.backend = java.util.Objects.requireNonNull(backend, "backend");
    }

    /**
     * What the solver needs: the gradients X (n x p; null only for magnitude, plain mp, or falcon++ whose stage plan has
     * a source), the optional first-order term g (p floats from its position, or null), lambda of our convention
     * (positive, at most {@link #MAX_LAMBDA}), the solver options (null: {@link SolverOptions#defaults()}) and, for mp,
     * the backsolve applied to its support ({@link Backsolve.Mode#NONE} or null = plain mp), and for falcon++ the stage
     * plan (null: {@link StagePlan#defaults()}). The caller keeps owning X, g and the plan's source, and closes them.
     */
    public record SolverInputs(HostMatrix x, FloatPointer g, double lambda, SolverOptions options, Backsolve.Mode mpBacksolve, StagePlan stages) {
        public SolverInputs(HostMatrix x, FloatPointer g, double lambda, SolverOptions options, Backsolve.Mode mpBacksolve) {
            this(x, g, lambda, options, mpBacksolve, null);
        }
    }

    /**
     * falcon++: T stages along a schedule from the starting fractions (1 = dense); {@code source} gives X per
     * stage (null = the fixed X of the inputs). Beside the inputs' X, on which the result's Q is measured, every X it gives
     * must have that X's n (stage 0's another n is an IllegalArgumentException naming both shapes before any stage is solved).
     */
    /** How a refusal of a StagePlan's start level names it. */
    private static final MultiStage.StartLevelNames STAGE_PLAN_LEVELS = new MultiStage.StartLevelNames("StagePlan.startNnz", "StagePlan.startFlops", false);

    public record StagePlan(int stages, MultiStage.Schedule schedule, double startNnz, double startFlops, MultiStage.GradientSource source) {
        /**
         * Refuses, naming the field and the fix, what no prune can run: fewer than 1 stage, no schedule, a start level
         * outside (0, 1]. Refused when the plan is made, they were found by Pruner.prune in words of their own ("stages
         * must be >= 1", a NullPointerException for the schedule).
         */
        public StagePlan {
            if (stages < 1) {
                throw new IllegalArgumentException("StagePlan.stages: is " + stages + ", it must be at least 1; e.g. 5, as StagePlan.defaults()");
            }
            if (schedule == null) {
                throw new IllegalArgumentException("StagePlan.schedule: is null; give a MultiStage.Schedule, e.g. POLY, as StagePlan.defaults()");
            }
            MultiStage.requireStartLevel("StagePlan.startNnz", startNnz);
            MultiStage.requireStartLevel("StagePlan.startFlops", startFlops);
        }

        /**
         * The CLI's defaults: 5 stages on the POLY schedule from the dense model (1.0, 1.0) on the inputs' fixed X. POLY's
         * stage 0 is at level 1.0, so stage 0 prunes nothing: the pruning is done by stages 1 to 4.
         */
        public static StagePlan defaults() { return new StagePlan(5, MultiStage.Schedule.POLY, 1.0, 1.0, null); }
    }

    /**
     * Prunes {@code weights} with magnitude or mp, without a solver: as {@link #prune(Method, FloatPointer, LayerTable,
     * Budgets, SolverInputs)} with no inputs.
     */
    public PruneResult prune(Method method, FloatPointer weights, LayerTable layers, Budgets budgets) {
        return prune(method, weights, layers, budgets, null);
    }

    /**
     * Prunes {@code weights} (p = {@code layers.parameters()} floats from the pointer's position; neither they nor the
     * pointer's position and limit are modified) under {@code budgets}, resolved with {@link Budgets#resolve} for these
     * layers. With {@code inputs} the solver runs: {@code falcon} (DFO + backsolve,
     * needs X), {@code falcon++} and {@code mp} with a backsolve on its support (the authors' "MP + BS"). The caller
     * closes the result.
     *
     * @throws InputException           when falcon or falcon++ has no X, or mp's backsolve has none, or X holds NaN or Inf
     *                                  (naming the sample and the weight)
     * @throws IllegalArgumentException when an input is inconsistent or not finite: a short vector, X of another p, budgets
     *                                  of another layer table, lambda out of range, NaN or Inf in the weights or g, a
     *                                  StagePlan start level below its target; or when
     *                                  the method never reads it: a stage plan without falcon++, a backsolve with magnitude,
     *                                  options other than the defaults with magnitude or plain mp
     * @throws NullPointerException     when the method, the layers or the budgets are null
     * @throws IllegalStateException    when the thread is interrupted (the flag kept), or X, the backend or this pruner was
     *                                  closed
     */
    public PruneResult prune(Method method, FloatPointer weights, LayerTable layers, Budgets budgets, SolverInputs inputs) {
        if (closed) throw new IllegalStateException("Pruner was closed: make a new Pruner(backend) to prune again");
        long checking = System.nanoTime();
        checkInputs(method, weights, layers, budgets, inputs);
        // a solver's checks scan all of X for NaN and Inf, a pass over X that no phase held: it is the solve's time
        double checkSeconds = (System.nanoTime() - checking) / 1e9;
        boolean multi = method == Method.FALCON_PLUS_PLUS;
        if (multi && inputs != null && inputs.x() == null && inputs.stages() != null && inputs.stages().source() != null) {
            // gradients come from the source only
        } else if ((method == Method.FALCON || multi) && (inputs == null || inputs.x() == null)) {
            // the CLI refuses this before it gets here, in its own terms (--grads): this one is said to an embedder
            throw InputException.of("Pruner.prune", inputs == null ? "inputs" : "SolverInputs.x", "null: "
                    + method.cliName() + " needs the gradients X", "give SolverInputs with X" + (multi ? ", or a StagePlan whose source gives X" : ""));
        }
        boolean backsolveMp = method == Method.MP && inputs != null && inputs.mpBacksolve() != null && inputs.mpBacksolve() != Backsolve.Mode.NONE;
        if (backsolveMp && inputs.x() == null) {
            throw InputException.of("Pruner.prune", "SolverInputs.x", "null: mp with SolverInputs.mpBacksolve " + inputs.mpBacksolve()
                    + " needs the gradients X", "give SolverInputs with X, or Backsolve.Mode.NONE for plain mp");
        }
        PruneResult base = pruneWithoutSolver(method == Method.FALCON || multi ? Method.MP : method, weights, layers, budgets);
        if (method != Method.FALCON && !multi && !backsolveMp) return base;
        try (base) {
            return solve(method, base, weights, layers, budgets, inputs, checkSeconds);
        }
    }

    /** A rise of Q this small (relative) after an exact backsolve is the rounding of Q's own evaluation. */
    private static final double ROUNDING_OF_Q = 1e-5;

    private static double largestMove(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
        return m;
    }

    private static double largestMagnitude(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    private PruneResult solve(Method method, PruneResult base, FloatPointer weights, LayerTable layers, Budgets budgets, SolverInputs in,
                              double checkSeconds) {
        long t0 = System.nanoTime();
        int p = Math.toIntExact(layers.parameters());
        float[] wbar = new float[p];
        weights.get(wbar, 0, p);
        // once per prune, for all the backsolves of falcon's candidates and falcon++'s stages
        SweepWarning sweepWarning = new SweepWarning();
        float[] g = null;
        if (in.g() != null) {
            g = new float[p];
            in.g().get(g, 0, p);
        }
        byte[] mpMask = new byte[p];
        base.mask().get(mpMask, 0, p);
        SolverOptions opt = in.options() != null ? in.options() : SolverOptions.defaults();
        float[] w;
        byte[] mask;
        FalconSolver.Result falcon = null;
        Backsolve.Mode mode;
        float[] mpWeights = new float[p];
        for (int i = 0; i < p; i++) mpWeights[i] = mpMask[i] != 0 ? wbar[i] : 0f;
        MultiStage.Result stages = null;
        HostMatrix x = in.x();
        if (method == Method.FALCON_PLUS_PLUS) {
            StagePlan plan = in.stages() != null ? in.stages() : StagePlan.defaults();
            MultiStage.GradientSource source = plan.source() != null ? plan.source() : MultiStage.GradientSource.fixed(in.x());
            stages = MultiStage.run(backend, source, wbar, g, in.lambda(), layers, budgets.nnz(), budgets.flops(), plan.stages(),
                    plan.schedule(), plan.startNnz(), plan.startFlops(), opt, x == null ? mpWeights : null,
                    plan.source() != null ? x : null, "SolverInputs.x", sweepWarning);
        }
        if (stages != null) {
            falcon = stages.lastStage();
            w = stages.weights();
            mask = stages.mask();
            mode = opt.backsolve();
        } else if (method == Method.FALCON) {
            falcon = new FalconSolver(backend).solve(in.x(), wbar, g, in.lambda(), layers, budgets.nnz(), budgets.flops(), mpMask, opt,
                    sweepWarning);
            w = falcon.weights();
            mask = falcon.mask();
            mode = opt.backsolve();
        } else {
            mode = in.mpBacksolve();
            w = Backsolve.solve(backend, x, wbar, g, in.lambda(), mpMask, mode, Backsolve.blockStarts(layers, opt.blockSize()), 100, 1e-10,
                    null, sweepWarning);
            mask = mpMask;
        }
        // Q of mp's support and of the result is measured once each below, as Objective evaluates it, and that value decides
        // mp's backsolve and goes to the caller (Solve.objectiveAfter, which the CLI reports): measured with
        // FalconSolver.exactQ for the decision, with Objective again for the result after the solve's clock stopped, and by
        // the CLI a third time, the same Q took up to 9 passes over X, 7-16% of a resnet50 run in no timing phase.
        BytePointer maskP = new BytePointer(p);
        FloatPointer pruned = null;
        // Q is measured around the solve's own copies of the weights and g, taken at its start: measured on the caller's
        // pointers again after a solve of minutes, a close of them meanwhile threw the finished work away with an
        // IllegalArgumentException about an internal "wbar" (a close during that read freed memory under a native call),
        // and weights updated in place meanwhile (training going on) had Q measured around other wbar than the solve's.
        // The copies live only here, where the solver's buffers are freed, so they raise no peak.
        FloatPointer solvedWbar = null, solvedG = null;
        try {
            pruned = backend.floatVector(p);
            pruned.put(w, 0, p);
            boolean finite = stages != null || falcon != null || allFinite(w);
            long measuring = System.nanoTime();
            Objective.Value mpValue = null, finalValue = null;
            double qMp, qFinal;
            if (x != null) {
                // The solvers' Q are of float products of the rounded w - wbar; the result carries Q as Objective evaluates
                // it (the exact difference, products summed in double), the value a report of the written weights gives: a
                // block backsolve's float Q was 9e-6 off it on coupled blocks.
                solvedWbar = backend.floatVector(p).put(wbar, 0, p);
                if (g != null) solvedG = backend.floatVector(p).put(g, 0, p);
                mpValue = Objective.evaluate(backend, x, base.prunedWeights(), solvedWbar, solvedG, in.lambda());
                // weights that are not finite are not kept (below): their Q is not measured
                finalValue = finite ? Objective.evaluate(backend, x, pruned, solvedWbar, solvedG, in.lambda()) : null;
                qMp = mpValue.q();
                qFinal = finite ? finalValue.q() : Double.NaN;
            } else {
                // falcon++ with recomputed gradients and no X of its own: Q of mp's weights and of the result on its last
                // stage's X, as it measured them
                qMp = stages.qReference();
                qFinal = stages.qFinal();
            }
            double objectiveSeconds = (System.nanoTime() - measuring) / 1e9;
            String note = null;
            if (stages == null && falcon == null && (qFinal > qMp || !finite)) {
                // The block-diagonal model drops what the blocks share, and capped sweeps stop short, so either can end above
                // mp itself; a backsolve that raises Q is not kept, as falcon keeps no step that raises it. Weights beyond
                // float32 (wbar - g / lambda at a tiny lambda, or products of X and huge weights that overflowed) have a Q that
                // is NaN or infinite, which no comparison rejects: they were written out as the pruned weights.
                String why = switch (mode) {
                    case BLOCK -> "its block-diagonal model drops what the blocks share";
                    case SWEEP -> "its sweeps stopped at their cap before converging";
                    // mp's weights are a point of the support the exact backsolve minimises over: only rounding is left, but
                    // weights moved by |g| / lambda at a tiny lambda round in float32 by more than all of Q
                    default -> qFinal - qMp <= ROUNDING_OF_Q * Math.max(Math.abs(qMp), Math.abs(qFinal))
                            ? "by float rounding: the two are equal to within it"
                            : "its weights move up to " + (float) largestMove(w, wbar) + " from the trained ones, whose largest is "
                            + (float) largestMagnitude(wbar) + (g == null ? "" : ", and the largest |g| / lambda is "
                            + (float) (largestMagnitude(g) / in.lambda())) + ": their float32 values round by more than the"
                            + " backsolve gains; a larger lambda keeps them closer";
                };
                note = finite ? "the " + mode.cliName() + " backsolve raised Q from " + qMp + " to " + qFinal + " (" + why + "); mp's weights are kept"
                        : "the " + mode.cliName() + " backsolve's weights are not finite in float32 (X, the weights or the linear term too"
                        + " large, or lambda too small for the linear term); mp's weights are kept";
                w = mpWeights;
                qFinal = qMp;
                finalValue = mpValue;
                pruned.put(w, 0, p);
            }
            double qMpAuthors, qFinalAuthors;
            if (x != null) {
                // the authors' value from the same terms, fit + ridge, as the report's objective gives it: Q minus the
                // linear term rounded the sum again and differed from it in the tenth digit
                qMpAuthors = mpValue.falconValue();
                qFinalAuthors = finalValue.falconValue();
            } else {
                // no X here to evaluate on (falcon++ with recomputed gradients): Q less its linear term
                qMpAuthors = qMp - linear(g, mpWeights, wbar);
                qFinalAuthors = qFinal - linear(g, w, wbar);
            }
            maskP.put(mask, 0, p);
            long kept = 0;
            double keptScore = 0;
            long[] per = new long[layers.size()];
            for (int l = 0; l < layers.size(); l++) {
                var layer = layers.get(l);
                for (long i = layer.offset(); i < layer.end(); i++) {
                    if (mask[(int) i] != 0) {
                        per[l]++;
                        keptScore += (double) wbar[(int) i] * wbar[(int) i];
                    }
                }
                kept += per[l];
            }
            double keptFlops = 0;
            for (int l = 0; l < per.length; l++) keptFlops += per[l] * layers.get(l).flopsPerWeight();
            PruneResult.Certificate cert = method == Method.MP ? base.certificate() : null;
            // all of this method but the measuring of Q is the solve's (the copies into the result and the counts above
            // too), and the scan of X among the checks: every moment of a prune is in a phase
            double solveSeconds = checkSeconds + (System.nanoTime() - t0) / 1e9 - objectiveSeconds;
            return new PruneResult(pruned, maskP, method, budgets, kept, keptFlops, per, keptScore, cert,
                    base.scoreSeconds(), base.selectSeconds(), base.applySeconds(),
                    new PruneResult.Solve(mode, falcon, qMp, qMpAuthors, qFinal, qFinalAuthors, solveSeconds, stages,
                            note, sweepWarning.told(), sweepWarning.toldInCliWords(), finalValue, objectiveSeconds));
        } catch (RuntimeException | Error e) {
            maskP.close();
            if (pruned != null) pruned.close();
            throw e;
        } finally {
            if (solvedWbar != null) solvedWbar.close();
            if (solvedG != null) solvedG.close();
        }
    }

    /** Above this lambda * wbar overflows float in the solver's right-hand sides (LAPACK then rejects them as NaN). */
    public static final double MAX_LAMBDA = 1e30;

    /**
     * Everything the methods would otherwise read past, or silently misread: a short weights vector or X with another p
     * is a read past the end of native memory (a JVM crash), budgets resolved for another layer table answer a
     * different question, and a lambda that is not positive makes Q meaningless.
     */
    private void checkInputs(Method method, FloatPointer weights, LayerTable layers, Budgets budgets, SolverInputs inputs) {
        java.util.Objects.requireNonNull(method, "method");
        java.util.Objects.requireNonNull(layers, "layers");
        java.util.Objects.requireNonNull(budgets, "budgets");
        long p = layers.parameters();
        dev.falcon.data.PointerExtent.require(weights, p, "the weights (p = " + p + " for these layers)");
        double dense = layers.denseFlops();
        if (budgets.parameters() != p || Math.abs(budgets.denseFlops() - dense) > 1e-12 * Math.max(1, dense)) {
            throw new IllegalArgumentException("the budgets were resolved for another layer table (p = " + budgets.parameters() + ", dense FLOPs "
                    + budgets.denseFlops() + ") than these layers (p = " + p + ", dense FLOPs " + dense + "): resolve them with Budgets.resolve(layers, ...)");
        }
        // Budgets is a public record, so its values may not have come through Budgets.resolve: magnitude's scan would
        // otherwise keep nothing, without a word, under a negative NNZ budget or a NaN FLOP budget.
        if (budgets.nnz() < 0 || !(budgets.flops() >= 0)) {
            throw new IllegalArgumentException("the budgets are NNZ " + budgets.nnz() + " and FLOPs " + budgets.flops()
                    + "; both must be >= 0: resolve them with Budgets.resolve(layers, ...)");
        }
        // Any finite weight is taken: magnitude ranks |w| and mp squares weights scaled by a power of two, so neither
        // overflows; the solver reports the products of its objective that overflow (X (w - wbar), lambda wbar, g).
        requireFinite(weights, p, "the weights vector");
        if (inputs == null) return;
        refuseInputsTheMethodDoesNotRead(method, inputs);
        if (inputs.x() != null && inputs.x().cols() != p) {
            throw new IllegalArgumentException("X has " + inputs.x().cols() + " columns but the layers have p = " + p + " weights: X must be n x p");
        }
        if (inputs.g() != null) {
            dev.falcon.data.PointerExtent.require(inputs.g(), p, "the linear term g (p = " + p + ")");
            requireFinite(inputs.g(), p, "the linear term g");
        }
        boolean solves = method == Method.FALCON || method == Method.FALCON_PLUS_PLUS
                || (method == Method.MP && inputs.mpBacksolve() != null && inputs.mpBacksolve() != Backsolve.Mode.NONE);
        if (solves && !(inputs.lambda() > 0 && inputs.lambda() <= MAX_LAMBDA)) {
            throw new IllegalArgumentException("SolverInputs.lambda: is " + Numbers.shown(inputs.lambda()) + ", it must be positive and at most "
                    + Numbers.shown(MAX_LAMBDA) + "; e.g. 1e-3");
        }
        StagePlan plan = inputs.stages();
        // NaN or Inf in X makes every Q NaN: falcon would accept no step and answer with mp's weights, a backsolve would
        // fail in LAPACK. falcon++ scans the X of each stage itself, this one included when the stages reuse it.
        boolean stagesScanX = method == Method.FALCON_PLUS_PLUS && (plan == null || plan.source() == null);
        if (solves && inputs.x() != null && !stagesScanX) {
            // X given in Java: an embedder has no file for `falcon inspect` (the CLI checks its --grads at load, naming it)
            FilePatternGradients.checkFinite(backend, inputs.x(), "X (" + inputs.x().origin() + ")", "values", FilePatternGradients.FIX_GIVEN_X);
        }
        if (method == Method.FALCON_PLUS_PLUS && plan != null) {
            // the plan refused its own bad fields when made; a start level is judged against the budgets here, before
            // any work, where MultiStage.run found it only after mp's scoring and selection
            // against the fractions asked for, as the CLI judges its --start-keep options: nnz / p, floored, let a start
            // level below a --keep-nnz through
            MultiStage.requireStartsAtOrAboveTargets(STAGE_PLAN_LEVELS, plan.startNnz(), budgets.nnzFraction(), plan.startFlops(), budgets.flopsFraction());
            // known before any work: found at the first stage past the files, it came after the earlier stages' solves
            // as a bare "stage 3 outside 0..2", naming neither count
            if (plan.source() instanceof FilePatternGradients files && plan.stages() > files.stages()) {
                throw new IllegalArgumentException("StagePlan.stages: is " + plan.stages() + ", but its source, the FilePatternGradients of "
                        + files.pattern() + ", was made for " + Numbers.counted(files.stages(), "stage") + " (stages = "
                        + files.stages() + ", the files for {t} = 0.." + (files.stages() - 1) + "): make the source with stages = " + plan.stages()
                        + " and a file for each stage, or give the StagePlan " + Numbers.counted(files.stages(), "stage"));
            }
        }
    }

    /**
     * An input the method never reads is refused, as the CLI refuses an option the method never reads (--stages without
     * falcon++, --backsolve or the solver's options with magnitude): a falcon prune that drops a StagePlan without a word
     * never calls its gradient source and answers a question the caller did not ask. FALCON and FALCON_PLUS_PLUS not
     * reading mpBacksolve is documented (their backsolve is SolverOptions.backsolve()), and mp + BS reads the options'
     * blockSize alone, so that one SolverOptions may serve falcon and mp + BS alike; only an options' backsolve that
     * contradicts mpBacksolve is refused there.
     */
    private static void refuseInputsTheMethodDoesNotRead(Method method, SolverInputs inputs) {
        if (inputs.stages() != null && method != Method.FALCON_PLUS_PLUS) {
            throw new IllegalArgumentException("SolverInputs.stages: only applies to Method.FALCON_PLUS_PLUS (a StagePlan is read by falcon++"
                    + " only), and the method is " + method.cliName() + "; pass null, or use Method.FALCON_PLUS_PLUS");
        }
        boolean backsolveAsked = inputs.mpBacksolve() != null && inputs.mpBacksolve() != Backsolve.Mode.NONE;
        if (method == Method.MAGNITUDE && backsolveAsked) {
            throw new IllegalArgumentException("SolverInputs.mpBacksolve: is " + inputs.mpBacksolve() + ", and magnitude has no backsolve"
                    + "; pass null or Backsolve.Mode.NONE, or use Method.MP for the authors' MP + BS");
        }
        // the options' other fields go unread by mp + BS so that one SolverOptions may serve falcon and mp + BS alike, but
        // a backsolve other than the default that differs from mpBacksolve names two backsolves for one solve
        SolverOptions options = inputs.options();
        if (method == Method.MP && backsolveAsked && options != null && options.backsolve() != SolverOptions.defaults().backsolve()
                && options.backsolve() != inputs.mpBacksolve()) {
            throw new IllegalArgumentException("SolverInputs.options.backsolve: is " + options.backsolve() + ", but mp + BS runs SolverInputs.mpBacksolve ("
                    + inputs.mpBacksolve() + ") and never reads the options' backsolve; make the two agree, or leave the options' backsolve at its default ("
                    + SolverOptions.defaults().backsolve() + ")");
        }
        boolean noSolver = method == Method.MAGNITUDE || method == Method.MP && !backsolveAsked;
        if (noSolver && inputs.options() != null && !inputs.options().equals(SolverOptions.defaults())) {
            String which = method == Method.MAGNITUDE ? "magnitude" : "mp without a backsolve (SolverInputs.mpBacksolve null or NONE)";
            throw new IllegalArgumentException("SolverInputs.options: only apply to Method.FALCON, Method.FALCON_PLUS_PLUS and mp + BS, and "
                    + which + " runs no solver; pass null or SolverOptions.defaults(), or use Method.FALCON"
                    + (method == Method.MP ? " or an mpBacksolve of EXACT, BLOCK or SWEEP" : ""));
        }
    }

    /**
     * A NaN or infinite weight or linear term otherwise surfaced as "score 7 is NaN" from the selection, or as a LAPACK
     * argument error from a backsolve, naming neither the vector nor the fix.
     */
    private static void requireFinite(FloatPointer vector, long p, String what) {
        FloatBuffer values = floats(vector, p);
        for (int i = 0; i < (int) p; i++) {
            float v = values.get(i);
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException(what + " holds " + v + " at index " + i + "; every value must be finite: fix or drop the non-finite values");
            }
        }
    }

    private static boolean allFinite(float[] v) {
        for (float x : v) if (!Float.isFinite(x)) return false;
        return true;
    }

    private static double linear(float[] g, float[] w, float[] wbar) {
        if (g == null) return 0;
        double s = 0;
        // the difference in double, exact as Objective forms it: in float it rounded before the product
        for (int i = 0; i < w.length; i++) s += (double) g[i] * ((double) w[i] - wbar[i]);
        return s;
    }

    private PruneResult pruneWithoutSolver(Method method, FloatPointer weights, LayerTable layers, Budgets budgets) {
        if (!method.available()) {
            // the CLI refuses an unavailable --method itself before it prunes: a refusal here is for a Java caller
            throw InputException.of("Pruner.prune", "method", "method " + method.cliName() + " is " + method.unavailableReason(),
                    "use Method.MP or Method.MAGNITUDE");
        }
        if (budgets.parameters() != layers.parameters()) {
            throw new IllegalArgumentException("budgets resolved for p = " + budgets.parameters() + " but the layers have p = " + layers.parameters());
        }
        long p = layers.parameters();
        long t0 = System.nanoTime();
        FloatPointer scores = backend.floatVector(p);
        BytePointer mask = null;
        FloatPointer pruned = null;
        try {
            boolean squared = method == Method.MP;
            // Direct-buffer views: Pointer.get/put(i) is a JNI call per element, 20x slower at p = 25.5M.
            FloatBuffer wv = floats(weights, p);
            FloatBuffer sv = floats(scores, p);
            int shift = squared ? squaringShift(wv, p) : 0;
            long belowNormalScores = 0;  // nonzero weights whose float score is subnormal or 0: see ofTheWeights
            for (int i = 0; i < (int) p; i++) {
                float w = wv.get(i);
                if (squared) {
                    float v = Math.scalb(w, shift);
                    float score = v * v;
                    sv.put(i, score);
                    if (w != 0 && score < Float.MIN_NORMAL) belowNormalScores++;
                } else {
                    sv.put(i, Math.abs(w));
                }
            }
            // magnitude's loops over the weights run in this thread, not in VectorLoops, which stop an interrupted prune
            if (Thread.currentThread().isInterrupted()) throw new IllegalStateException("interrupted while scoring the weights");
            long t1 = System.nanoTime();
            long[] perLayer;
            long kept;
            double keptFlops;
            PruneResult.Certificate certificate = null;
            double scoreUnits = 1;
            boolean nothingMayBeKept = false;
            mask = new BytePointer(p);
            if (method == Method.MAGNITUDE) {
                mask.fill(0);
                perLayer = new long[layers.size()];
                double[] f = layers.flopsPerWeight();
                double cheapest = Double.POSITIVE_INFINITY;
                for (double v : f) cheapest = Math.min(cheapest, v);
                long[] starts = layers.segmentStarts();
                long k = 0;
                double used = 0;
                try (FloatPointer sorted = new FloatPointer(p); IntPointer index = new IntPointer(p)) {
                    // no prefix sums: the order alone decides, and cuda would copy back 8 bytes per weight for them
                    backend.sortSegmentsDescending(scores, new long[] {0, p}, sorted, index, null);
                    IntBuffer order = index.position(0).limit(p).asBuffer();
                    FloatBuffer ranked = sorted.position(0).limit(p).asBuffer();
                    ByteBuffer keep = mask.position(0).limit(p).asBuffer();
                    for (int r = 0; r < (int) p && k < budgets.nnz() && used + cheapest <= budgets.flops(); r++) {
                        if (!(ranked.get(r) > 0)) break; // a zero weight kept would count as kept and cost FLOPs, as mp does not
                        int i = order.get(r);
                        int l = layerOf(starts, i);
                        if (used + f[l] > budgets.flops()) continue; // no longer fits: skip it, cheaper ones may
                        keep.put(i, (byte) 1);
                        used += f[l];
                        perLayer[l]++;
                        k++;
                    }
                }
                kept = k;
                keptFlops = used;
            } else {
                try (FlopAwareSelector selector = new FlopAwareSelector(backend);
                     Selection s = selector.select(scores, layers, budgets.nnz(), budgets.flops())) {
                    s.copyMaskTo(mask);
                    kept = s.kept();
                    keptFlops = s.keptFlops();
                    perLayer = s.keptPerLayer();
                    // the selection saw the squares of the shifted weights: back to the caller's units (mu and omega too,
                    // both in score units); the relative gap is scale-free
                    double units = Math.scalb(1.0, -2 * shift);
                    scoreUnits = units;
                    certificate = new PruneResult.Certificate(s.primalValue() * units, s.dualBound() * units, s.relativeGap(),
                            s.mu() * units, s.omega() * units, s.dualEvaluations());
                    nothingMayBeKept = s.nothingMayBeKept();
                }
            }
            long t2 = System.nanoTime();
            pruned = backend.floatVector(p);
            double keptScore = 0;
            FloatBuffer pv = floats(pruned, p);
            ByteBuffer mv = mask.position(0).limit(p).asBuffer();
            for (int i = 0; i < (int) p; i++) {
                float w = wv.get(i);
                if (mv.get(i) != 0) {
                    pv.put(i, w);
                    keptScore += (double) w * w;
                } else {
                    pv.put(i, 0f);
                }
            }
            // under a budget of 0 no rounding of the scores can hide a kept weight: the bound of 0 stays exact (the
            // allowance made it 2.5e-79 for --flops 0 and 4.9e-324 for --nnz 0, each a relative gap of 1)
            if (certificate != null && !nothingMayBeKept) {
                certificate = ofTheWeights(certificate, keptScore, Math.min(budgets.nnz(), belowNormalScores), scoreUnits);
            }
            long t3 = System.nanoTime();
            return new PruneResult(pruned, mask, method, budgets, kept, keptFlops, perLayer, keptScore, certificate,
                    (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9);
        } catch (RuntimeException | Error e) {
            if (mask != null) mask.close();
            if (pruned != null) pruned.close();
            throw e;
        } finally {
            scores.close();
        }
    }

    /**
     * The selection's certificate is of its float scores, each w^2 rounded to float: its dual bound could lie below the
     * kept weights' own sum of w^2 in double (1e-8 relative), so it bounded no support's true value. The primal becomes
     * that exact sum, and the dual is raised by the most the roundings can hide: a normal score is at least
     * w^2 (1 - 2^-24), and a subnormal or zero one of a nonzero weight at least w^2 less the smallest float, in the
     * caller's units (the LP's value is monotone in the scores and subadditive in them, so one factor, and one term per
     * such weight a support can keep, {@code mostBelowNormalKept}, bound it). A zero weight's score is exactly 0 and
     * hides nothing: the term counted every kept weight, and all-zero weights, every support of value 0, got a dual of
     * 1.4e-42 and a relative gap of 1 for an optimal selection.
     */
    private static PruneResult.Certificate ofTheWeights(PruneResult.Certificate c, double keptSquares, long mostBelowNormalKept, double units) {
        double raised = c.dualBound() / (1 - 0x1p-24) + mostBelowNormalKept * (double) Float.MIN_VALUE * units;
        // nextUp covers the rounding of the sum above; a raised bound of exactly 0 (a zero dual and no term) has none
        double dual = raised > 0 ? Math.nextUp(raised) : 0;
        double gap = dual > 0 ? Math.max(0, (dual - keptSquares) / dual) : 0;
        return new PruneResult.Certificate(keptSquares, dual, gap, c.mu(), c.omega(), c.dualEvaluations());
    }

    /**
     * The power of two mp multiplies the weights by before squaring them into float scores, so that the largest |w|
     * lands in [2^60, 2^61) and its square near 2^121. Unscaled, weights below about 1e-19 squared into subnormals and
     * below 2.6e-23 into 0, and the selection kept arbitrary ones among the ties instead of the largest; weights above
     * 1.8e19 squared to Infinity. A power of two is exact and keeps the order; only weights 2^-135 times the largest or
     * smaller still square to 0, and those are not the ones a budget keeps.
     */
    static int squaringShift(FloatBuffer w, long p) {
        float largest = 0;
        for (int i = 0; i < (int) p; i++) largest = Math.max(largest, Math.abs(w.get(i)));
        return largest > 0 ? 60 - Math.getExponent((double) largest) : 0;
    }

    /**
     * A direct-buffer view of {@code length} floats from the pointer's position (lengths never come from
     * {@code Pointer.limit()}). The position is where the caller's vector starts, as {@code PointerExtent} and
     * {@code FloatPointer.get(float[], int, int)} take it, and the caller's position and limit are left as they were:
     * resetting them read a view into a larger buffer from its base, and a limit set for one call's p refused the next
     * call's larger p as a short vector.
     */
    static FloatBuffer floats(FloatPointer pointer, long length) {
        if (length > Integer.MAX_VALUE) throw new IllegalArgumentException("vectors over 2^31 - 1 elements are not supported: " + length);
        return new FloatPointer(pointer).limit(pointer.position() + length).asBuffer();
    }

    private static int layerOf(long[] starts, long i) {
        int lo = 0, hi = starts.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= i) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /**
     * Holds nothing to free (the backend is the caller's), but a prune after close() is refused as on every other closed
     * object of the API: a closed Pruner went on pruning, so a close meant as "done with this backend" was no check at all.
     * A second close does nothing.
     */
    @Override
    public void close() {
        closed = true;
    }
}
