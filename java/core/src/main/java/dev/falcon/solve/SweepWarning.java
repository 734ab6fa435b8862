package dev.falcon.solve;

import dev.falcon.io.SettingName;
import java.text.MessageFormat;
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

    /**
     * Logs {@code pattern} (a MessageFormat pattern whose {@code {0}} is the exact backsolve's setting), unless this prune
     * has told it already, and keeps it for the result.
     */
    void stoppedShort(String pattern) {
        if (this.pattern != null) return;
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
