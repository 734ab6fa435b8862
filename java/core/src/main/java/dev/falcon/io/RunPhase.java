package dev.falcon.io;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Where a run is (loading X, a stage's solve, writing its outputs) and which batch holds its outputs, for the one line a
 * run stopped by a signal ends with. The JVM runs its shutdown hooks while the run's thread goes on wherever it was, so
 * the run's thread cannot be relied on to say anything: a hook reads this and says it.
 */
public final class RunPhase {
    private RunPhase() {}

    private static volatile String where;
    private static volatile AtomicFiles.Batch outputs;
    private static volatile List<Path> outputPaths = List.of();
    private static volatile boolean stopping;

    /** "while loading X", "during stage 2's solve": read as "stopped by SIGINT {where}"; null: nothing to say. */
    public static void set(String where) {
        RunPhase.where = where;
    }

    public static String where() {
        return where;
    }

    /** The batch that commits the run's outputs, with the paths it writes (the report names them when they were written). */
    public static void outputs(AtomicFiles.Batch batch, List<Path> paths) {
        outputs = batch;
        outputPaths = List.copyOf(paths);
    }

    /**
     * Whether a run of this JVM committed its outputs: `prune --help` and `prune -V` are prune too, but write nothing,
     * and a message that called their files complete sent the user looking for files that were never written.
     */
    public static boolean outputsWritten() {
        AtomicFiles.Batch batch = outputs;
        return batch != null && batch.committed();
    }

    /** The JVM is stopping and the stop is being reported: progress lines after that line would read as the run going on. */
    public static boolean stopping() {
        return stopping;
    }

    /** Held while the run prints; the report takes it to begin, so that nothing the run prints follows the report's line. */
    private static final java.util.concurrent.locks.ReentrantLock PRINTING = new java.util.concurrent.locks.ReentrantLock();

    /**
     * Prints (a progress line, or any write of the CLI's stdout and stderr) unless the stop is being reported; false if it
     * was not printed. Checked and printed under the lock the report takes to begin, so that nothing printed follows the
     * report's line. The lock is the innermost but for the stream {@code print} writes to: called with a lock held that
     * a writer takes before calling this (a PrintStream's, a PrintWriter's), the two threads wait for each other for good.
     */
    public static boolean printUnlessStopping(Runnable print) {
        PRINTING.lock();
        try {
            if (stopping) return false;
            print.run();
            return true;
        } finally {
            PRINTING.unlock();
        }
    }

    private static void beginStop() {
        stopping = true; // no print begins after this
        // One under way ends before the report's line. A print blocked for good (a full pipe nobody reads) held the report,
        // and with it the JVM's exit, as long: after a while the line goes out without waiting for it.
        try {
            if (PRINTING.tryLock(2, java.util.concurrent.TimeUnit.SECONDS)) PRINTING.unlock();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The line for a run stopped by {@code signal} ("SIGINT"), without the "falcon: " prefix. Stops any commit of outputs
     * that has not begun its renames and waits up to {@code millis} for one that has (AtomicFiles' own hook completes
     * it): only then is it known whether the outputs were written.
     */
    public static String stopReport(String signal, long millis) {
        beginStop();
        String at = where; // where the signal found the run, before it moves on
        boolean settled = AtomicFiles.stopCommits(millis);
        AtomicFiles.Batch batch = outputs;
        String paths = outputPaths.stream().map(Path::toString).collect(Collectors.joining(", "));
        String what;
        if (batch != null && batch.committed()) {
            what = "the outputs are complete: " + paths;
        } else if (batch != null && !settled) {
            // the files are renamed first, the devices and stdout written after: the report can be in place, complete,
            // while stdout waits for a reader
            String done = outputPaths.stream().filter(batch::finished).map(Path::toString).collect(Collectors.joining(", "));
            String rest = outputPaths.stream().filter(o -> !batch.finished(o)).map(Path::toString).collect(Collectors.joining(", "));
            what = done.isEmpty() ? "the outputs were still being written and may be incomplete: " + paths
                    : "the outputs were still being written: complete: " + done + "; may be incomplete: " + rest;
        } else {
            what = "no output written";
        }
        return "stopped by " + signal + (at != null ? " " + at : "") + "; " + what;
    }
}
