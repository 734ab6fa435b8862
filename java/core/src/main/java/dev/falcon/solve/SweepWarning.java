package dev.falcon.solve;

import dev.falcon.io.SettingName;
import java.text.MessageFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The backsolve's warnings, each told once per prune: the sweep backsolve's that it stopped short of the exact model's
 * minimum, and falcon's that it skipped the backsolve of a support whose ridge system is singular at the lambda given,
 * keeping the DFO's weights there (where it skipped every one, {@link FalconSolver.Result#everyBacksolveSkipped}, the
 * weights were never backsolved). Once: falcon backsolves candidate after candidate, and printed the same line 26 times
 * in one run. A static flag made it once per process, so in
 * a JVM that prunes many times the first prune used it up, even with falcon's logging off or when that prune was
 * interrupted and its result discarded, and every later prune stopped short without a word. One is made per
 * {@code Pruner.prune} (and per direct call of {@link Backsolve#solve}, {@link Backsolve#sweep}, {@link FalconSolver#solve}
 * or {@link MultiStage#run} that is not handed one), and what it told reaches the result
 * ({@code PruneResult.Solve.backsolveWarning}), so that an embedder can act on it whatever its logging does. Used by the
 * thread that runs the prune.
 */
public final class SweepWarning {
    private static final System.Logger LOG = System.getLogger(Backsolve.class.getName());

    /** The parameters of every warning's pattern: {@code {0}} is the exact backsolve's setting. */
    private static final Object[] PARAMETERS = {Backsolve.EXACT_SETTING};

    /** The first warning of the prune as logged, a MessageFormat pattern of {@link #PARAMETERS} (null: the sweeps stopped short nowhere). */
    private String pattern;

    /**
     * The first backsolve falcon skipped on a singular ridge system, as logged, naming the Java setting and the CLI's
     * option (null: none was). Skipped without a word, the summary still said "backsolve exact" and Q stood 10 orders of
     * magnitude above a slightly larger lambda's.
     */
    private SettingName skipped;

    /** What a sweep that stopped on a small decrease, which crawling sweeps share, says of its weights. */
    static final String MAY_NOT_BE_EXACT = "the weights may not be the exact model''s";
    /** What a sweep that ran to its cap still falling says of its weights. */
    static final String NOT_YET_EXACT = "the weights are not yet the exact model''s";
    private static final String DIRECT = "; {0} solves the same model directly (told once per prune)";

    /**
     * A sweep that stopped short during a falcon solve: what it did and what that means for its weights (MessageFormat
     * text), the round it ran in (0: before round 1) and the hash of the weights it returned (null until returned).
     */
    private static final class Stop {
        final String what, consequence;
        final int round;
        Integer weights;

        Stop(String what, String consequence, int round) {
            this.what = what;
            this.consequence = consequence;
            this.round = round;
        }
    }

    /**
     * Within a falcon solve the sweeps' warnings wait for its end: a round's sweep that stopped short was told as though
     * the final weights were its own, while a later round's sweep that converged gave them (max |w - w_exact| 1.7e-7).
     */
    private boolean solving;
    private int round;
    private final List<Stop> stops = new ArrayList<>();
    /** The stop whose sweep has not yet returned its weights (null: none). */
    private Stop awaitingWeights;

    /**
     * A sweep stopped short: {@code what} it did and the {@code consequence} for its weights (MessageFormat text,
     * {@link #MAY_NOT_BE_EXACT} or {@link #NOT_YET_EXACT}). Outside a falcon solve it is logged at once, unless this
     * prune has told it already, and kept for the result; within one it waits for {@link #settle}.
     */
    void stoppedShort(String what, String consequence) {
        if (pattern != null) return;
        if (!solving) {
            tell(what + ": " + consequence + DIRECT);
            return;
        }
        awaitingWeights = new Stop(what, consequence, round);
        stops.add(awaitingWeights);
    }

    /** The weights a sweep returned: where it stopped short within a falcon solve, the final weights are compared with them. */
    void sweepReturned(float[] weights) {
        if (awaitingWeights != null) awaitingWeights.weights = Arrays.hashCode(weights);
        awaitingWeights = null;
    }

    /** A falcon solve starts: its sweeps' warnings wait for {@link #settle} (or {@link #endSolve}). */
    void beginSolve() {
        solving = true;
        round = 0;
        stops.clear();
        awaitingWeights = null;
    }

    /** The falcon solve's round {@code round} starts. */
    void round(int round) {
        this.round = round;
    }

    /**
     * The falcon solve ended on {@code finalWeights}: tells the stop of the sweep that returned them, where one did, and
     * otherwise the first stop, saying that the final weights are not its sweep's.
     */
    void settle(float[] finalWeights) {
        if (pattern == null && !stops.isEmpty()) {
            int hash = Arrays.hashCode(finalWeights);
            Stop theirs = null;
            for (Stop s : stops) if (s.weights != null && s.weights == hash) theirs = s;
            if (theirs != null) {
                tell(theirs.what + when(theirs) + ": " + theirs.consequence + ", and the final weights are this sweep''s" + DIRECT);
            } else {
                Stop first = stops.get(0);
                tell(first.what + when(first) + ": " + (first.weights == null ? first.consequence
                        : "the final weights are not this sweep''s, and no sweep that stopped short gave them") + DIRECT);
            }
        }
        stops.clear();
    }

    /**
     * The falcon solve is over; a stop not settled (the solve failed first) is told as though its weights were the
     * final ones, which cannot be ruled out.
     */
    void endSolve() {
        solving = false;
        awaitingWeights = null;
        if (pattern == null && !stops.isEmpty()) {
            Stop first = stops.get(0);
            tell(first.what + when(first) + ": " + first.consequence + DIRECT);
        }
        stops.clear();
    }

    private static String when(Stop stop) {
        return stop.round == 0 ? " before round 1" : " in round " + stop.round;
    }

    /** Logs {@code pattern} (a MessageFormat pattern whose {@code {0}} is the exact backsolve's setting) and keeps it for the result. */
    private void tell(String pattern) {
        this.pattern = pattern;
        LOG.log(System.Logger.Level.WARNING, pattern, PARAMETERS.clone());
    }

    /**
     * Logs, unless this prune has told it already, that falcon skipped a backsolve on a singular ridge system
     * ({@code refusal}: what mp's backsolve refuses the same system with, naming the value of lambda to give), and keeps
     * it for the result. The library's log and {@link #told} say it in an embedder's words, naming the lambda of
     * Pruner.SolverInputs; the CLI's stderr line and {@link #toldInCliWords} in mp + BS's refusal's, naming --lambda
     * (both read the CLI's "--lambda: value: ..." before).
     */
    void backsolveSkipped(SingularRidgeSystemException refusal) {
        if (skipped != null) return;
        String skip = "falcon skipped the backsolve of a support whose ridge system is singular, keeping the DFO's weights there: ";
        skipped = new SettingName(skip + refusal.inJavaWords(), skip + refusal.getMessage());
        // the whole message is the one parameter, so that the CLI's handler puts its words in (SettingName.inCliWords)
        LOG.log(System.Logger.Level.WARNING, "{0}", skipped);
    }

    /**
     * The warning told in this prune, naming the Java setting: the sweep's, the skipped backsolve's, or both; null when no
     * sweeps stopped short of the minimum and no backsolve was skipped.
     */
    public String told() {
        return joined(pattern == null ? null : new MessageFormat(pattern, Locale.ROOT).format(PARAMETERS), skipped == null ? null : skipped.java());
    }

    private static String joined(String sweeps, String skip) {
        return sweeps == null ? skip : skip == null ? sweeps : sweeps + " Also: " + skip;
    }

    /**
     * The same warning in the CLI's words, naming its option as the CLI's stderr line does (both through
     * {@link SettingName#inCliWords}); null when no sweeps stopped short of the minimum and no backsolve was skipped.
     */
    public String toldInCliWords() {
        return joined(pattern == null ? null : new MessageFormat(pattern, Locale.ROOT).format(SettingName.inCliWords(PARAMETERS)),
                skipped == null ? null : skipped.cli());
    }
}
