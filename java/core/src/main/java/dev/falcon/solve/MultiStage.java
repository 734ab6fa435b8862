package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.io.InputException;
import dev.falcon.model.Fractions;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * FALCON++ (FALCON.md, "multi-stage"): reach the target budgets in T stages along a schedule from a
 * starting level, for NNZ and FLOPs alike. Stage t runs {@link FalconSolver} around the previous stage's
 * weights (stage 0 around the dense weights) with the gradients the {@link GradientSource} gives for
 * that stage: the same X every stage (continuation), one file per stage ({@link FilePatternGradients}), or X
 * recomputed by an external command at the new weights ({@link CommandGradients}). Stage 0's X is the one at
 * the dense weights; stage t's X is at the weights stage t-1 produced. The first-order term g (measured at the dense
 * weights) enters the first stage that prunes, the one around the dense weights, only. When a source fails
 * ({@link SourceFailure}) the run stops and returns the last completed stage's weights.
 */
public final class MultiStage {
    private MultiStage() {}

    /** Budget schedules; levels are fractions (of p for NNZ, of the dense FLOPs for FLOPs). */
    public enum Schedule {
        /** s_t = s_T + (s_0 - s_T) (1 - t/(T-1))^3 */
        POLY,
        /** s_t = s_0 + (s_T - s_0) t/(T-1) */
        LINEAR,
        /** s_t = s_0 (s_T / s_0)^(t/(T-1)) (geometric) */
        EXP,
        /** s_t = s_T in every stage */
        CONST;

        /**
         * The budget level (a fraction of p or of the dense FLOPs) of stage {@code t} of {@code stages}, from {@code s0} at
         * stage 0 to {@code sT} at the last stage (and from it on); a single stage is at {@code sT}.
         */
        public double level(int t, int stages, double s0, double sT) {
            if (stages <= 1 || t >= stages - 1) return sT;
            double u = (double) t / (stages - 1);
            return switch (this) {
                case POLY -> sT + (s0 - sT) * Math.pow(1 - u, 3);
                case LINEAR -> s0 + (sT - s0) * u;
                case EXP -> s0 <= 0 || sT <= 0 ? s0 + (sT - s0) * u : s0 * Math.pow(sT / s0, u);
                case CONST -> sT;
            };
        }

        /**
         * The schedule named {@code s} (case and surrounding blanks ignored), as {@code Method.parse} reads a method: an
         * unknown or null name is an {@link dev.falcon.io.InputException} listing the names, not valueOf's "No enum
         * constant" or a NullPointerException. The refusal names the argument {@code MultiStage.Schedule.parse(text)}: a
         * Java caller was told about the CLI's --schedule.
         */
        public static Schedule parse(String text) {
            return parse(text, "MultiStage.Schedule.parse(text)");
        }

        /**
         * As {@link #parse(String)}, with what the caller calls the value in a refusal: an option ("--schedule", as the
         * CLI passes) or a name of its own, as {@code Method.parse(text, field)} takes it.
         */
        public static Schedule parse(String text, String field) {
            return dev.falcon.io.InputException.choice(text, field, "schedule", java.util.Arrays.asList(values()), Schedule::cliName);
        }

        public String cliName() { return name().toLowerCase(Locale.ROOT); }
    }

    /**
     * Gradients X for a stage (n x p, stage 0's n in every stage), at the weights the previous stage produced (stage 0: the dense weights); the
     * source owns what it returns (valid until the next call, the end of the run ({@link #runEnded}) or close). A source that cannot deliver throws
     * {@link SourceFailure} to stop the run cleanly (other exceptions propagate).
     * <p>{@code weights} is a copy made for this call: the source may write into it or keep it, and neither the run's
     * weights nor the next stage's start change.
     * <p>A caller may use a source directly, calling {@link #gradients} and then {@link #runEnded} itself outside any run,
     * but that use must not overlap a run on the same source: the source holds the run's stage X, which a direct call
     * would hand out or free under the run. While a run holds them, the file and command sources take a {@code gradients}
     * call from any thread as the run's (a wrapper may call them on an executor, to put a timeout on it: on the timeout,
     * {@code future.cancel(true)}, which interrupts the call and so stops a command source's command; {@code get} alone
     * leaves it running; a call that finishes after its run ended throws an {@link IllegalStateException} and drops its
     * X, leaving the next run's state alone, and a command source's runEnded stops such a call's command), and refuse a
     * {@code runEnded} from a thread other than the one that called {@link #runStarting} (an {@link IllegalStateException}
     * naming the source and both threads); a direct use already under way when a run starts is not detected, so finish it
     * (runEnded included) before the prune.
     */
    public interface GradientSource extends AutoCloseable {
        HostMatrix gradients(int stage, float[] weights);

        /**
         * Where stage t's X comes from, for reports and messages. The default names the source's class; a lambda or an
         * anonymous class, whose generated name ("Main$$Lambda$78/0x...") says nothing, is called so, with the class
         * that holds it.
         */
        default String describe(int stage) { return "the gradient source (" + describeClass(getClass()) + ")"; }

        @Override default void close() {}

        /**
         * A run is about to ask this source for X ({@link #run} calls it before anything else, on the run's thread); a
         * throw refuses the run, which then does not call {@link #runEnded}. The file and command sources refuse a
         * second run while one is in progress (an {@link IllegalStateException} naming the source): they hold the run's
         * stage X, and two prunes at once on one of them closed X under each other. {@link #run} calls {@link #runEnded} on
         * the same thread: a wrapper source passes both through on it, whatever thread its gradients calls go to.
         */
        default void runStarting() {}

        /**
         * The run that asked for X has ended (returned or thrown), and nothing it was given is read again: a source frees
         * the X it made here, and stays usable for another run. Otherwise the last stage's X (a mapping or a copy, 4 n p
         * bytes) stayed until {@link #close()}, and a caller that closed its result, X and backend, as README's Watching
         * memory says, still held one X per falcon++ prune. X the caller gave (stage 0's) is the caller's and stays.
         */
        default void runEnded() {}

        /**
         * Whether every X this source gives has already been scanned for NaN/Inf (naming its file). Otherwise the run
         * scans each new X itself, one pass over it, and stops with an error naming the stage.
         */
        default boolean verifiesFinite() { return false; }

        /**
         * What to throw for stage t's X found unusable once delivered ({@code problem}: what is wrong and how to fix it,
         * e.g. values whose X X^T overflows float32): bad input naming where it came from, or a {@link SourceFailure}
         * for a source whose failures end the run after the last completed stage.
         */
        default RuntimeException unusable(int stage, String problem) {
            return new dev.falcon.io.InputException("the X of stage " + stage + " (" + describe(stage) + "): " + problem);
        }

        /** A source's class as {@link #describe} names it by default. */
        private static String describeClass(Class<?> c) {
            String name = c.getName();
            if (c.isHidden() || c.isSynthetic()) { // a lambda: Main$$Lambda$78/0x0000... (or Main$$Lambda/0x... on newer JDKs)
                int at = name.indexOf("$$Lambda");
                return "a lambda" + (at > 0 ? " in " + name.substring(0, at) : "") + "; override describe(stage) to name it";
            }
            if (c.isAnonymousClass()) {
                Class<?> in = c.getEnclosingClass();
                return "an anonymous class" + (in != null ? " in " + in.getName() : "") + "; override describe(stage) to name it";
            }
            return name;
        }

        /** The same X in every stage (the caller keeps ownership). */
        static GradientSource fixed(HostMatrix x) { return new FixedSource(x); }
    }

    /** The one source whose X cannot change between stages, so that it is scanned for NaN/Inf once. */
    private record FixedSource(HostMatrix x) implements GradientSource {
        @Override
        public HostMatrix gradients(int stage, float[] weights) { return x; }

        @Override
        public String describe(int stage) { return "the same X (continuation)"; }
    }

    /** A gradient source could not deliver a stage's X: the run stops after the last completed stage. */
    public static final class SourceFailure extends RuntimeException {
        private final String output;

        public SourceFailure(String message) { this(message, null, null); }
        public SourceFailure(String message, Throwable cause) { this(message, null, cause); }

        /**
         * @param message why, in one line
         * @param output  the last lines the source's own process wrote to stderr (a command's), joined by '\n', each
         *                with its control characters escaped; null for none. Apart from the message, so that a caller
         *                that has shown that stderr already (as the CLI does while the command runs) need not repeat it.
         */
        public SourceFailure(String message, String output, Throwable cause) {
            super(message, cause);
            this.output = output;
        }

        /** See the constructor; null for none. */
        public String output() { return output; }
    }

    /**
     * One stage: its budgets, what it kept, Q of its own problem (around the previous weights), and where its X came from.
     * {@code note}: null for a stage that was solved (or had nothing to prune), else why it was not solved.
     */
    public record Stage(int stage, long nnzBudget, double flopsBudget, long kept, double keptFlops, double qStage,
                        int iterations, double seconds, String gradients, String note) {
        public Stage(int stage, long nnzBudget, double flopsBudget, long kept, double keptFlops, double qStage,
                     int iterations, double seconds, String gradients) {
            this(stage, nnzBudget, flopsBudget, kept, keptFlops, qStage, iterations, seconds, gradients, null);
        }
    }

    /**
     * Final weights and mask (heap, length p), the stages, and Q of the final weights around the dense ones on the last X.
     * {@code stopped} is null when every stage ran, else why the run stopped after {@code stages().size()} completed stages.
     * {@code qReference}: Q of the reference weights given to {@link #run} on the same X (NaN when none were given), so
     * that a caller without an X of its own compares like with like and does not ask the source for X again.
     * {@code firstPruningStage}: the first stage that pruned, the only one the first-order term g entered (-1: none).
     * {@code lastSolvedStage}: the stage whose solve {@code lastStage} is (-1: none), which need not be the last stage.
     * {@code stoppedOutput}: the {@link SourceFailure#output()} of the failure that stopped the run (null: none).
     */
    public record Result(float[] weights, byte[] mask, List<Stage> stages, double qFinal, FalconSolver.Result lastStage,
                         String stopped, double qReference, int firstPruningStage, int lastSolvedStage, String stoppedOutput) {
        /** Number of the last completed stage (-1 if none). */
        public int lastCompletedStage() { return stages.size() - 1; }
    }

    /** Stage t's NNZ budget of {@code stages} from the start level {@code startNnz} to the final budget {@code nnz} of p weights. */
    private static long nnzBudget(int t, int stages, Schedule schedule, double startNnz, long nnz, int p) {
        if (t == stages - 1) return nnz;
        double nnzT = Math.min(1, (double) nnz / p);
        java.math.BigDecimal level = stageLevel(schedule, t, stages, Math.max(startNnz, nnzT), nnzT);
        return level == null ? nnz : Math.max(nnz, Math.min(p, Fractions.count(level, p)));
    }

    /** Stage t's FLOP budget of {@code stages} from the start level {@code startFlops} to the final budget {@code flops}. */
    private static double flopsBudget(int t, int stages, Schedule schedule, double startFlops, double flops, LayerTable layers) {
        if (t == stages - 1) return flops;
        double dense = layers.denseFlops(), flopsT = dense > 0 ? Math.min(1, flops / dense) : 0;
        java.math.BigDecimal level = stageLevel(schedule, t, stages, Math.max(startFlops, flopsT), flopsT);
        return level == null ? flops : Math.max(flops, Math.min(dense, Fractions.flopBudget(level, layers)));
    }

    /**
     * Stage t's level as the decimal its budget multiplies (README, "stage budgets"): null at the target level (const, or
     * a start at the target), whose budget is the final one as given; the start level as given at stage 0; and a level
     * the schedule computes, {@link Fractions#computedLevel}: to 12 significant digits. Its shortest decimal counted
     * 0.6499999999999999 of 1,000 weights as 649 where the schedule means 0.65 (linear from 0.7 to 0.5 in 5 stages).
     */
    private static java.math.BigDecimal stageLevel(Schedule schedule, int t, int stages, double s0, double sT) {
        double level = schedule.level(t, stages, s0, sT);
        if (schedule == Schedule.CONST || level == sT) return null;
        return t == 0 ? java.math.BigDecimal.valueOf(s0) : Fractions.computedLevel(level);
    }

    /**
     * Whether every stage of this plan has the final budgets {@code nnz} and {@code flops}, as {@link #run} rounds them:
     * {@link Schedule#CONST}, one stage, or start levels whose rounded budgets admit no support the final ones do not (a
     * start level equal to its target, or within a weight of it: an NNZ count floors, and a FLOP budget below the next
     * total whole costs can sum to, {@link #admitsNoSupportAbove}). Stage 0's weights then meet every later stage's
     * budgets, so no later stage is solved or asks its source for X: a schedule that only repeats stage 0. Every schedule
     * runs monotonically from the start level to the target, so stage 0's budgets decide it.
     */
    public static boolean budgetsNeverChange(LayerTable layers, long nnz, double flops, int stages, Schedule schedule, double startNnz, double startFlops) {
        requireStartLevel("startNnz", startNnz);
        requireStartLevel("startFlops", startFlops);
        int p = Math.toIntExact(layers.parameters());
        return nnzBudget(0, stages, schedule, startNnz, nnz, p) <= nnz
                && admitsNoSupportAbove(flopsBudget(0, stages, schedule, startFlops, flops, layers), flops, layers);
    }

    /**
     * Whether the FLOP budget {@code budget} admits only supports that {@code target} admits. Compared as numbers, the
     * 2,940.98 FLOPs that --start-keep-flops 0.3001 gives stage 0 of 9,800 dense FLOPs were above a target of 2,940, and
     * a gradient pattern or command was taken for a schedule that never read it: with costs 4, 2 and 1 no support costs
     * more than 2,940 and at most 2,940.98, so stage 0 met the final budget and every later stage kept its weights. Whole
     * costs sum to multiples of their greatest common divisor, so a budget below the next such multiple above the target
     * admits what the target does. A fractional cost leaves no such step (the supports' sums are rounded in float64),
     * nor do dense FLOPs of 2^53 or more: a support's sum (count x cost per layer, added across layers) is then rounded,
     * and with costs 7,568,371,927,873,750 and 7 "3 of one + 19 of the other" landed on the next double above the
     * target. Then only a budget at the target.
     */
    private static boolean admitsNoSupportAbove(double budget, double target, LayerTable layers) {
        if (budget <= target) return true;
        // every partial sum of whole costs is at most the dense FLOPs, so below 2^53 all of them are exact
        if (!(layers.denseFlops() < 0x1p53)) return false;
        long step = 0;
        for (Layer l : layers.layers()) {
            double cost = l.flopsPerWeight();
            if (cost != Math.rint(cost)) return false;
            step = BigInteger.valueOf(step).gcd(BigInteger.valueOf((long) cost)).longValueExact();
        }
        // a quotient rounded up to a whole number finds a multiple the budget may not reach: at worst "changes", never a false "same"
        return step > 0 && Math.floor(budget / step) * step <= target;
    }

    /**
     * Whether {@code level} is a start level: a fraction of p (NNZ) or of the dense FLOPs in (0, 1], 1 the dense model.
     * The CLI's --start-keep options, a Pruner's StagePlan and {@link #run} take the same range.
     */
    public static boolean isStartLevel(double level) {
        return level > 0 && level <= 1;
    }

    /**
     * Refuses a start level outside (0, 1], naming the argument {@code field}. A NaN passed the below-the-target check
     * (false for NaN) and its budget fell back to the target, a const schedule nobody asked for; a level above 1 bent the
     * schedule's path (poly's stage 1 at 24 of 40 weights from 1.5, 18 from the dense start), budgets no CLI run gives.
     */
    public static void requireStartLevel(String field, double level) {
        if (!isStartLevel(level)) {
            throw new IllegalArgumentException(field + ": is " + Numbers.shown(level) + ", outside (0, 1]: a start level is a fraction of p or of the dense FLOPs"
                    + "; give 1 to start from the dense model");
        }
    }

    /**
     * How a refusal of a start level below its target names the arguments: Java's fields ("StagePlan.startNnz: is 0.4,
     * below the NNZ target 0.5: ...", an IllegalArgumentException) or, with {@code cli}, the CLI's options
     * ("--start-keep: value: 0.4 is below the NNZ target 0.5: ...", an InputException: exit 2), as Budgets.ArgumentNames
     * names a budget's. The CLI and the API apply one rule through {@link #requireStartsAtOrAboveTargets}: each had its
     * own copy, and the copies compared against different targets.
     */
    public record StartLevelNames(String nnz, String flops, boolean cli) {
        /** The arguments of {@link #run}. */
        public static final StartLevelNames RUN = new StartLevelNames("startNnz", "startFlops", false);

        RuntimeException belowTarget(String name, double level, String budget, double target) {
            String problem = "below the " + budget + " target " + Numbers.shown(target) + ": the schedule runs from the start level down to the target";
            String fix = "give a start level at or above the target";
            if (cli) return InputException.of(name, "value", Numbers.shown(level) + " is " + problem, fix);
            return new IllegalArgumentException(name + ": is " + Numbers.shown(level) + ", " + problem + "; " + fix);
        }
    }

    /**
     * Refuses a start level below its target, {@code nnzTarget} and {@code flopsTarget} as fractions of p and of the
     * dense FLOPs (a Budgets' nnzFraction() and flopsFraction(): the fractions asked for), naming the arguments by
     * {@code names}. A start below its target was raised to the target without a word: every stage then ran at the
     * final budget, a const schedule nobody asked for. (A target of 1 is no budget: any start level of it is moot, as
     * --start-keep.) The CLI and Pruner.prune ask this before any work, where {@link #run} asked it only after mp's selection.
     */
    public static void requireStartsAtOrAboveTargets(StartLevelNames names, double startNnz, double nnzTarget, double startFlops, double flopsTarget) {
        if (startsBelow(startNnz, nnzTarget)) throw names.belowTarget(names.nnz(), startNnz, "NNZ", nnzTarget);
        if (startsBelow(startFlops, flopsTarget)) throw names.belowTarget(names.flops(), startFlops, "FLOP", flopsTarget);
    }

    private static boolean startsBelow(double start, double target) {
        // A budget above the dense model (an infinite FLOP budget for "none", as a Budgets record may hold) is the dense
        // level: as a fraction above 1 it made the schedule's levels Infinity - Infinity = NaN, refused as "FLOP budget NaN".
        return target < 1 && start < target * (1 - 1e-12);
    }

    /**
     * Runs T stages from the starting fractions {@code startNnz}, {@code startFlops} (in (0, 1], typically 1 = dense; at
     * or above their targets) to the budgets {@code nnz}, {@code flops}.
     */
    public static Result run(ComputeBackend backend, GradientSource source, float[] wbar, float[] g, double lambda, LayerTable layers,
                             long nnz, double flops, int stages, Schedule schedule, double startNnz, double startFlops, SolverOptions opt) {
        return run(backend, source, wbar, g, lambda, layers, nnz, flops, stages, schedule, startNnz, startFlops, opt, null);
    }

    /** As above, with Q of {@code reference} (e.g. mp's weights) measured on the last X as well. */
    public static Result run(ComputeBackend backend, GradientSource source, float[] wbar, float[] g, double lambda, LayerTable layers,
                             long nnz, double flops, int stages, Schedule schedule, double startNnz, double startFlops, SolverOptions opt,
                             float[] reference) {
        return run(backend, source, wbar, g, lambda, layers, nnz, flops, stages, schedule, startNnz, startFlops, opt, reference, null, null);
    }

    /**
     * As above, for a caller that measures Q on an X of its own, {@code callersX} (named {@code callersXName} in errors;
     * null: none), besides the stages' X: every stage's X must have its samples (n), stage 0's X included, which is
     * refused before any stage is solved. A source whose X had another n was solved on without a word, and the caller's Q
     * of the result, on an X the stages never used, compared nothing with nothing (falcon++ 1.5 times mp's Q where, on
     * its own X, it ended far below).
     */
    public static Result run(ComputeBackend backend, GradientSource source, float[] wbar, float[] g, double lambda, LayerTable layers,
                             long nnz, double flops, int stages, Schedule schedule, double startNnz, double startFlops, SolverOptions opt,
                             float[] reference, HostMatrix callersX, String callersXName) {
        return run(backend, source, wbar, g, lambda, layers, nnz, flops, stages, schedule, startNnz, startFlops, opt, reference, callersX,
                callersXName, new SweepWarning());
    }

    /**
     * As above, where sweep backsolves that stop short of the minimum tell it through {@code warning}, the prune's: once for
     * all the stages.
     */
    public static Result run(ComputeBackend backend, GradientSource source, float[] wbar, float[] g, double lambda, LayerTable layers,
                             long nnz, double flops, int stages, Schedule schedule, double startNnz, double startFlops, SolverOptions opt,
                             float[] reference, HostMatrix callersX, String callersXName, SweepWarning warning) {
        if (stages < 1) throw new IllegalArgumentException("stages: is " + stages + ", it must be at least 1; e.g. 5");
        requireStartLevel("startNnz", startNnz);
        requireStartLevel("startFlops", startFlops);
        int p = wbar.length;
        double dense = layers.denseFlops();
        requireStartsAtOrAboveTargets(StartLevelNames.RUN, startNnz, (double) nnz / p, startFlops, dense > 0 ? flops / dense : 0);
        // outside the try: a run the source refused never began, and its runEnded would end the run in progress
        source.runStarting();
        try {
            return runStages(backend, source, wbar, g, lambda, layers, nnz, flops, stages, schedule, startNnz, startFlops, opt, reference, callersX,
                    callersXName, warning);
        } finally {
            source.runEnded(); // after the final Q, the last read of the last stage's X
        }
    }

    private static Result runStages(ComputeBackend backend, GradientSource source, float[] wbar, float[] g, double lambda, LayerTable layers,
                                    long nnz, double flops, int stages, Schedule schedule, double startNnz, double startFlops, SolverOptions opt,
                                    float[] reference, HostMatrix callersX, String callersXName, SweepWarning warning) {
        int p = wbar.length;
        double dense = layers.denseFlops();
        float[] w = wbar.clone();
        // the support of the weights as given: already partly pruned weights keep their zeros out of it, as mp's and falcon's masks do
        byte[] mask = new byte[p];
        for (int i = 0; i < p; i++) mask[i] = (byte) (wbar[i] != 0 ? 1 : 0);
        List<Stage> log = new ArrayList<>();
        FalconSolver.Result last = null;
        FalconSolver solver = new FalconSolver(backend);
        HostMatrix x = null;
        HostMatrix scanned = null; // the last X scanned for NaN/Inf
        long rows0 = callersX != null ? callersX.rows() : -1; // n of stage 0's X, or of the caller's
        int firstPruningStage = -1, lastSolvedStage = -1;
        String from0 = null;
        String stopped = null, stoppedOutput = null;
        double qHeld = Double.NaN, qReferenceHeld = Double.NaN;
        for (int t = 0; t < stages; t++) {
            long t0 = System.nanoTime();
            long sT = nnzBudget(t, stages, schedule, startNnz, nnz, p);
            double fT = flopsBudget(t, stages, schedule, startFlops, flops, layers);
            if (x != null && !(source instanceof FixedSource)) {
                // Q on the X in hand, before asking for the next: a source may free it to make room for the next one
                // (the contract: valid until the next call), and if that call fails these are the run's final values. A
                // fixed X stays and cannot fail: measured for it, these were two passes over X per stage that nothing read.
                double[] q = exactQs(backend, x, w, reference, wbar, g, lambda);
                qHeld = q[0];
                qReferenceHeld = q[1];
            }
            if (last != null && last.kept() <= sT && last.keptFlops() <= fT) {
                // No g, and the previous weights fit these budgets: Q around them is >= 0 and they reach 0, whatever X is,
                // so they are this stage's optimum. A solve only found them again, at the cost of a full stage, for every
                // const stage and every pair of equal rounded budgets, and a pattern or command source delivered an X
                // (minutes of a command on a GPU) that could not change them.
                log.add(new Stage(t, sT, fT, last.kept(), last.keptFlops(), 0, 0, (System.nanoTime() - t0) / 1e9,
                        source instanceof FixedSource ? source.describe(t) : "not asked for",
                        "not solved: stage " + (t - 1) + "'s weights fit these budgets, so they are this stage's optimum"
                                + " whatever its X (Q 0 around them)"));
                continue;
            }
            if (last == null && t > 0 && sT >= p && fT >= dense) {
                // Nothing to prune here, as at the stage before: the dense weights stand whatever X is. With budgets at
                // the dense model every stage is such a one, and each read its pattern's file for nothing.
                log.add(new Stage(t, sT, fT, FalconSolver.count(mask), FalconSolver.flopsOf(mask, layers), 0, 0, (System.nanoTime() - t0) / 1e9,
                        source instanceof FixedSource ? source.describe(t) : "not asked for",
                        "not solved: nothing to prune at these budgets (the dense model's), whatever its X"));
                continue;
            }
            dev.falcon.io.RunPhase.set("while getting stage " + t + "'s X (falcon++)");
            try {
                // a copy: a source that scaled the weights in place for its model, then failed, had the run return
                // them as the pruned weights (off the mask, with the Q of the weights before), and without failing it
                // moved the next stage's start
                x = source.gradients(t, source instanceof FixedSource ? w : w.clone());
            } catch (SourceFailure f) {
                // An interrupt is the caller cancelling the prune, not a source that cannot deliver: stopping "cleanly" here
                // returned the last stage's weights, over the budgets, as a result, where an interrupt anywhere else in a
                // prune is an IllegalStateException with the flag kept.
                if (Thread.currentThread().isInterrupted()) {
                    throw new IllegalStateException("interrupted while the gradient source gave stage " + t + " (" + source.describe(t) + ")", f);
                }
                if (t == 0) throw f;
                stopped = "gradients of stage " + t + " (" + source.describe(t) + ") failed: " + f.getMessage();
                stoppedOutput = f.output();
                break;
            }
            String from = source.describe(t);
            // a stage that prunes nothing never reaches the solver's own check, and Q on an X of another p is a misread
            if (x == null || x.cols() != p) {
                throw new IllegalArgumentException("the gradient source gave stage " + t + " (" + from + ") "
                        + (x == null ? "no X" : "an X of " + x.rows() + " x " + x.cols()) + ": X must have one column per weight, p = " + p);
            }
            // as the file and command sources require: the samples are the calibration set, and lambda in the authors'
            // convention (l2 * n) and the report's Q were fixed with stage 0's n
            if (rows0 < 0) {
                rows0 = x.rows();
                from0 = from;
            } else if (x.rows() != rows0) {
                String given = "an X of " + x.rows() + " x " + x.cols();
                throw new IllegalArgumentException("the gradient source gave stage " + t + " (" + from + ") " + given + (callersX != null
                        ? " but " + callersXName + ", on which Q is measured, is " + rows0 + " x " + p + ": every stage's X must have its samples (n);"
                                + " give " + callersXName + " the source's stage 0 X, or null to measure Q on the last stage's X"
                        : " but stage 0's X (" + from0 + ") is " + rows0 + " x " + p + ": every stage's X must have the same samples (n) and weights (p)"));
            }
            if (!source.verifiesFinite() && !(source instanceof FixedSource && x == scanned)) {
                // a NaN in X makes every Q NaN: no step is ever accepted and the stage would end on its start weights
                // a source of the embedder's (the CLI's file and command sources verify their own X, naming the file)
                FilePatternGradients.checkFinite(backend, x, "the X of stage " + t + " (" + from + ")", "values", FilePatternGradients.FIX_GIVEN_X);
                scanned = x;
            }
            if (sT >= p && fT >= dense) { // nothing to prune at this level
                log.add(new Stage(t, sT, fT, FalconSolver.count(mask), FalconSolver.flopsOf(mask, layers), 0, 0, (System.nanoTime() - t0) / 1e9, from));
                continue;
            }
            // g is the first-order term at the dense weights: a stage around the weights an earlier stage produced has
            // none, as without g (that stage's backsolve left them stationary on their support). Passed again, each
            // stage would take another step along -g, and T stages would move the weights T times as far as one.
            if (last == null) firstPruningStage = t;
            dev.falcon.io.RunPhase.set("during stage " + t + "'s solve (falcon++)");
            FalconSolver.Result solved;
            try {
                solved = solver.solve(x, w, last == null ? g : null, lambda, layers, sT, fT, null, opt, warning);
            } catch (FalconSolver.ValuesTooLarge e) {
                // said of --grads, stage 0's X, though this stage's X holds them: named by its source, and a command's
                // output that cannot be used ends the run after the last completed stage as its other failures do
                if (source instanceof FixedSource) throw e;
                RuntimeException unusable = source.unusable(t, e.problem());
                if (!(unusable instanceof SourceFailure)) throw unusable;
                if (lastSolvedStage < 0) throw e; // the initial X (--grads), before the command ever ran
                stopped = "gradients of stage " + t + " (" + from + ") failed: " + unusable.getMessage();
                stoppedOutput = ((SourceFailure) unusable).output();
                break;
            }
            last = solved;
            lastSolvedStage = t;
            w = last.weights();
            mask = last.mask();
            log.add(new Stage(t, sT, fT, last.kept(), last.keptFlops(), last.qFinal(), last.iterations(), (System.nanoTime() - t0) / 1e9, from));
        }
        double[] q = stopped != null ? new double[] {qHeld, qReferenceHeld} : exactQs(backend, x, w, reference, wbar, g, lambda);
        double qFinal = q[0];
        double qReference = q[1];
        return new Result(w, mask, List.copyOf(log), qFinal, last, stopped, qReference, firstPruningStage, lastSolvedStage, stoppedOutput);
    }

    /**
     * Q of {@code w} and of {@code reference} (NaN where it is null) on x, as {@link FalconSolver#exactQ}: from w - wbar,
     * not X w less a shared X wbar, which cancelled with weights of 1e15.
     */
    private static double[] exactQs(ComputeBackend backend, HostMatrix x, float[] w, float[] reference, float[] wbar, float[] g,
                                    double lambda) {
        return new double[] {FalconSolver.exactQ(backend, x, w, wbar, g, lambda),
                reference == null ? Double.NaN : FalconSolver.exactQ(backend, x, reference, wbar, g, lambda)};
    }
}
