package dev.falcon.backend;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Refuses overlapping calls from two threads into an object that keeps shared state between calls (the cuda backend's
 * resident X, scratch buffers and streams). Without it a second thread silently overwrites the first one's buffers and
 * both get wrong products. Handing the object from one thread to another between calls stays allowed, and a call made
 * from inside another call on the same thread passes.
 */
public final class ExclusiveUse {
    private final String owner;
    private final AtomicReference<Thread> inside = new AtomicReference<>();
    private static final Scope NESTED = () -> { };

    /** {@code owner} names the object in the error, e.g. "the cuda backend". */
    public ExclusiveUse(String owner) {
        this.owner = owner;
    }

    /** The end of a call, for try-with-resources. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Marks the calling thread as inside {@code operation} until the scope closes; fails when another thread is inside. */
    public Scope enter(String operation) {
        Thread me = Thread.currentThread();
        if (inside.get() == me) return NESTED;
        if (!inside.compareAndSet(null, me)) {
            Thread other = inside.get();
            throw new IllegalStateException(owner + " is not thread-safe and was called from two threads at once: " + me.getName()
                    + " called " + operation + " while " + (other != null ? other.getName() : "another thread")
                    + " was inside a call; give each thread its own instance (or serialize the calls)");
        }
        // one per call, ending only its own call: a shared scope closed a second time, after another thread had entered,
        // ended that thread's call and let a third in beside it
        boolean[] ended = {false};
        return () -> {
            if (ended[0]) return;
            ended[0] = true;
            inside.compareAndSet(me, null);
        };
    }
}
