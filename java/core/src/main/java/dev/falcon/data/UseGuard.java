package dev.falcon.data;

import java.util.ArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The calls using an owned piece of native memory, so that its close() frees it only once none is in flight: a close()
 * from one thread while another thread read the memory freed it under the reader (munmap: a SIGSEGV of the whole JVM; a
 * free: wrong numbers from reused memory). Shared by {@link HostMatrix} and {@code PruneResult}, whose close() and uses
 * must agree on the same subtle points: a use ends once however often its scope is closed, a close() waits for the uses
 * of other threads and refuses one of its own thread (it would wait for itself), and an interrupt does not cut the wait.
 * One atomic add per use, against products of 10-100 ms.
 */
public final class UseGuard {
    /** The end of a use, for try-with-resources. */
    public interface Use extends AutoCloseable {
        @Override
        void close();
    }

    /** Uses in flight, plus {@link #CLOSING} once close began. */
    private final AtomicLong state = new AtomicLong();
    private static final long CLOSING = 1L << 62;
    /** The guards each thread is inside a use of, with the user's name, innermost last. */
    private static final ThreadLocal<ArrayList<Object[]>> HELD_HERE = ThreadLocal.withInitial(ArrayList::new);
    private boolean closed; // guarded by this

    /**
     * Opens a use named {@code user}, to be closed on this thread.
     *
     * @param refused builds the exception for a use after close began, given {@code user}
     */
    public Use enter(String user, Function<String, IllegalStateException> refused) {
        long before = state.getAndIncrement();
        if ((before & CLOSING) != 0) {
            notifyIfLast(state.decrementAndGet());
            throw refused.apply(user);
        }
        HELD_HERE.get().add(new Object[] {this, user});
        // one per call, ending once: a scope closed twice (try-with-resources around an explicit close()) took the count
        // below zero, and every later call on the open memory was refused as if it were closed
        AtomicBoolean ended = new AtomicBoolean();
        return () -> {
            if (ended.compareAndSet(false, true)) exit();
        };
    }

    private void exit() {
        ArrayList<Object[]> held = HELD_HERE.get();
        for (int i = held.size() - 1; i >= 0; i--) {
            if (held.get(i)[0] == this) {
                held.remove(i);
                break;
            }
        }
        notifyIfLast(state.decrementAndGet());
    }

    private void notifyIfLast(long after) {
        if (after == CLOSING) {
            synchronized (state) {
                state.notifyAll();
            }
        }
    }

    /** The use this thread is inside (its user's name), or null. */
    public String heldByThisThread() {
        for (Object[] h : HELD_HERE.get()) {
            if (h[0] == this) return (String) h[1];
        }
        return null;
    }

    /**
     * Refuses new uses, waits for those in flight, then runs {@code free}: once, however often or from however many
     * threads this is called; a later call returns once the memory is freed.
     *
     * @param refusedHere builds the exception for a close on a thread that is itself inside a use, given that use's
     *                    name: waiting would be for itself, forever; the guard stays open
     */
    public void closeWhenUnused(Function<String, IllegalStateException> refusedHere, Runnable free) {
        // before taking the monitor: another thread's close holds it while it waits for this thread's use
        String user = heldByThisThread();
        if (user != null) throw refusedHere.apply(user);
        synchronized (this) {
            if (closed) return;
            state.getAndAdd(CLOSING);
            boolean interrupted = false;
            synchronized (state) {
                while (state.get() != CLOSING) {
                    try {
                        state.wait();
                    } catch (InterruptedException e) {
                        // the memory cannot be freed while a use reads it: keep waiting, and keep the flag for the caller
                        interrupted = true;
                    }
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            closed = true;
            free.run();
        }
    }
}
