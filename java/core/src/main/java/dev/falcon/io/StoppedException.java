package dev.falcon.io;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The JVM is stopping (SIGINT, SIGTERM, SIGHUP) and a run noticed it where it waits for, or is about to write, something:
 * what the user asked for ended it, which is no internal error. The message says where the run was ("during stage 2's
 * --grads-command"). The JVM's exit status after its shutdown hooks (130 for SIGINT, 143 for SIGTERM) is the one a shell
 * sees, whatever the run returns.
 */
public final class StoppedException extends IllegalStateException {
    /**
     * Counted down once the stop has been reported: a shutdown hook that knows a run is about to say why it ended waits for
     * this (bounded), because the JVM halts when its hooks have ended and would cut the line off.
     */
    private static final CountDownLatch REPORTED = new CountDownLatch(1);

    /** The signal that stopped the JVM, where its handler said so (see {@link #signalled}); null: not known. */
    private static volatile String signal;

    /** Called by a signal handler before the JVM's own one starts the shutdown: the report can then name it. */
    public static void signalled(String name) {
        signal = name;
    }

    /** "SIGINT", "SIGTERM" or "SIGHUP" where known, else "a signal". */
    public static String signalName() {
        String s = signal;
        return s != null ? s : "a signal";
    }

    public StoppedException(String where) {
        super(where);
    }

    /** Called by whoever printed the stop. */
    public static void reported() {
        REPORTED.countDown();
    }

    /** Waits up to {@code millis} for {@link #reported()}; keeps an interrupt. */
    public static void awaitReport(long millis) {
        try {
            REPORTED.await(millis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
