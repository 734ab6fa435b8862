package dev.falcon.io;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * falcon's shutdown hooks (the stop's report, the removal of temporary outputs, the stop of a --grads-command), known
 * to each other: a hook that must end the process itself, rather than let the JVM exit, first waits for the others'
 * work ({@link #awaitOthers}), as the JVM would.
 */
public final class ShutdownHooks {
    private ShutdownHooks() {}

    private static final Set<Thread> HOOKS = ConcurrentHashMap.newKeySet();

    /** {@link Runtime#addShutdownHook}, noted for {@link #awaitOthers}; throws as it does once the JVM is stopping. */
    public static void add(Thread hook) {
        Runtime.getRuntime().addShutdownHook(hook);
        HOOKS.add(hook);
    }

    /** {@link Runtime#removeShutdownHook}; throws as it does once the JVM is stopping (the hook then runs). */
    public static boolean remove(Thread hook) {
        boolean removed = Runtime.getRuntime().removeShutdownHook(hook);
        HOOKS.remove(hook);
        return removed;
    }

    /**
     * Waits up to {@code millis} in all for every hook added here but the calling thread to end: all have been started
     * once the JVM's shutdown runs its hooks, so one that is not alive has ended (or never ran). True when all have
     * ended. An interrupt ends no wait and is kept.
     */
    public static boolean awaitOthers(long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        boolean interrupted = false;
        boolean all = true;
        for (Thread hook : HOOKS) {
            if (hook == Thread.currentThread()) continue;
            while (hook.isAlive()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    all = false;
                    break;
                }
                try {
                    hook.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        return all;
    }
}
