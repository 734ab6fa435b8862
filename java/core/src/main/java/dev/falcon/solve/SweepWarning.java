package dev.falcon.solve;

import dev.falcon.io.SettingName;
import java.text.MessageFormat;
import java.util.Locale;

/**
 * The sweep backsolve's warning that it stopped short of the exact model's minimum, told once per prune: falcon backsolves
 * candidate after candidate, and printed the same line 26 times in one run. A static flag made it once per process, so in
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
     * The first backsolve falcon skipped on a singular ridge system, as logged (null: none was). Skipped without a word,
     * the summary still said "backsolve exact" and Q stood 10 orders of magnitude above a slightly larger lambda's.
     */
    private String skipped;

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
     * ({@code refusal}: the message mp's backsolve refuses the same system with, naming --lambda and the Java setting, and
     * the value to give), and keeps it for the result.
     */
    void backsolveSkipped(String refusal) {
        if (skipped != null) return;
        skipped = "falcon skipped the backsolve of a support whose ridge system is singular, keeping the DFO's weights there: " + refusal;
        LOG.log(System.Logger.Level.WARNING, skipped); // no parameters: the message is not a pattern
    }

    /** The warning told in this prune, naming the Java setting; null when no sweeps stopped short of the minimum and no backsolve was skipped. */
    public String told() {
        return joined(pattern == null ? null : new MessageFormat(pattern, Locale.ROOT).format(PARAMETERS));
    }

    private String joined(String sweeps) {
        return sweeps == null ? skipped : skipped == null ? sweeps : sweeps + " Also: " + skipped;
    }

    /**
     * The same warning in the CLI's words, naming its option as the CLI's stderr line does (both through
     * {@link SettingName#inCliWords}); null when no sweeps stopped short of the minimum and no backsolve was skipped.
     */
    public String toldInCliWords() {
        return joined(pattern == null ? null : new MessageFormat(pattern, Locale.ROOT).format(SettingName.inCliWords(PARAMETERS)));
    }
}
