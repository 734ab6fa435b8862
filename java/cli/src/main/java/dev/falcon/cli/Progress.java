package dev.falcon.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Progress lines on stderr for phases that take more than ~2 s: a line when such a phase is still
 * running (every ~5 s) and one when it ends. Silent with --quiet and for quick phases.
 */
final class Progress implements AutoCloseable {
    private static final long THRESHOLD_NANOS = 2_000_000_000L;
    private final PrintWriter err;
    private final boolean quiet;
    private final ScheduledExecutorService ticker;
    private volatile String phase;
    private volatile long phaseStart;
    private volatile long lastPrint;

    Progress(PrintWriter err, boolean quiet) {
        this.err = err;
        this.quiet = quiet;
        if (quiet) {
            ticker = null;
        } else {
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "falcon-progress");
                t.setDaemon(true);
                t.setUncaughtExceptionHandler(SystemInfo.HELPER_THREADS);
                return t;
            });
            ticker.scheduleAtFixedRate(this::tick, 500, 500, TimeUnit.MILLISECONDS);
        }
    }

    /** Starts a phase (ending the previous one) and returns the seconds the previous one took. */
    synchronized void begin(String name) {
        end();
        phase = name;
        phaseStart = System.nanoTime();
        lastPrint = phaseStart;
    }

    /** Ends the current phase; prints its duration when it was long. Returns seconds. */
    synchronized double end() {
        if (phase == null) return 0;
        long now = System.nanoTime();
        double seconds = (now - phaseStart) / 1e9;
        if (!quiet && now - phaseStart > THRESHOLD_NANOS) {
            // Not wrapped in RunPhase.printUnlessStopping: main's stderr is gated itself, and holding the gate's lock
            // while taking the stream's deadlocked with any thread writing to the stream (JUL, a command's relayed lines).
            err.println(String.format(Locale.ROOT, "falcon: %s done in %.1f s", phase, seconds));
            err.flush();
        }
        phase = null;
        return seconds;
    }

    private synchronized void tick() {
        try {
            tickOnce();
        } catch (OutOfMemoryError heapFull) {
            // the run's heap is full for now: this line is skipped (an exception would cancel every later tick), and the
            // run's own thread reports it if it stays so
        }
    }

    /** The thread the ticks run on, or null under --quiet; for tests. */
    Thread tickerThread() throws Exception {
        return ticker == null ? null : ticker.submit(Thread::currentThread).get();
    }

    private void tickOnce() {
        String p = phase;
        if (p == null) return;
        long now = System.nanoTime();
        if (now - phaseStart > THRESHOLD_NANOS && now - lastPrint > (lastPrint == phaseStart ? THRESHOLD_NANOS : 5 * THRESHOLD_NANOS / 2)) {
            err.println(String.format(Locale.ROOT, "falcon: %s ... %.0f s%s", p, (now - phaseStart) / 1e9, stageOf(p)));
            err.flush();
            lastPrint = now;
        }
    }

    /**
     * " (stage 2's solve)" while falcon++ is inside a stage: its pruning phase spans every stage, and a user watching a
     * run of many minutes (or a script that stops it) could not tell which stage it had reached. Getting a later stage's
     * X (" (getting stage 1's X)", or its --grads-command's steps) is named too: a load of minutes printed "... 76 s" alone.
     */
    private static String stageOf(String phase) {
        String where = dev.falcon.io.RunPhase.where();
        if (!phase.startsWith("pruning") || where == null || !where.contains("stage ")) return "";
        for (String step : new String[] {"during ", "while "}) {
            if (where.startsWith(step)) return " (" + where.substring(step.length()).replace(" (falcon++)", "") + ")";
        }
        return "";
    }

    @Override
    public void close() {
        if (ticker != null) ticker.shutdownNow();
    }
}
