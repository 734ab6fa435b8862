package dev.falcon.backend;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * Calls in flight into a native library whose teardown at the process's exit cannot run beside one of them, and a gate
 * that a process about to exit closes so that none is.
 * <p>
 * OpenBLAS's library destructor, which libc's {@code exit} runs, tells its worker threads to end and joins them. When a
 * call was in flight then, a worker finishing its part of it overwrote the stop it was told, went back to sleep, and the
 * join waited for good: a CLI run stopped by SIGTERM during a solve printed its line and never exited (the JVM's exit
 * calls {@code exit} while the run's thread is still in OpenBLAS). The cpu backend passes every OpenBLAS call through
 * {@link #enter} and {@link #leave} (an atomic counter: nothing measurable beside a BLAS call); a shutdown hook that
 * calls {@link #closeAndAwait} holds every call that has not begun, in Java, and lets the exit go on once the calls under
 * way have returned.
 * <p>
 * Nothing closes the gate unless its user does: a program using the library without the CLI is unaffected unless it
 * opts in (the CLI does, in its shutdown hooks).
 */
public final class NativeCalls {
    private static final NativeCalls PROCESS = new NativeCalls();

    /** The process's gate: the libraries behind it (OpenBLAS) are loaded once per process. */
    public static NativeCalls process() {
        return PROCESS;
    }

    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile boolean closed;
    /** Waited on by {@link #closeAndAwait} (for the last call to leave) and by held calls (for {@link #reopen}). */
    private final Object changes = new Object();
    private volatile IntConsumer exitNow;

    NativeCalls() {}

    /**
     * Before a native call: counts it in flight, or, once the gate is closed, holds the calling thread in Java, for good
     * (the process is exiting). Each {@code enter} that returns must be followed by one {@link #leave}, in a finally.
     */
    public void enter() {
        while (true) {
            inFlight.incrementAndGet();
            // read after the increment, as closeAndAwait reads the count after closing: either this call sees the gate
            // closed, or the closer sees this call in flight and waits for it
            if (!closed) return;
            leave();
            holdWhileClosed();
        }
    }

    /** After a native call that {@link #enter} let through (in a finally). */
    public void leave() {
        if (inFlight.decrementAndGet() == 0 && closed) {
            synchronized (changes) {
                changes.notifyAll();
            }
        }
    }

    /**
     * Closes the gate, for good: every native call that has not begun is held, and this waits up to {@code millis} for
     * those under way to return. True when none is in flight any longer; false when one still was when the time was up.
     * An interrupt does not end the wait (the exit must not go on beside a call) and is kept for the caller.
     */
    public boolean closeAndAwait(long millis) {
        closed = true;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, millis));
        boolean interrupted = false;
        try {
            synchronized (changes) {
                while (inFlight.get() != 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) return false;
                    try {
                        TimeUnit.NANOSECONDS.timedWait(changes, left);
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                return true;
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** Whether {@link #closeAndAwait} has closed the gate. */
    public boolean closed() {
        return closed;
    }

    /** Native calls between {@link #enter} and {@link #leave} now. */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * Registered by a backend whose native library can end the process at once ({@code _exit}: no exit handlers, no
     * library destructors), for a process whose call in flight did not return in time: see {@link #exitNow}.
     */
    public void exitNowWith(IntConsumer exit) {
        exitNow = exit;
    }

    /**
     * Ends the process at once with {@code status}, without the exit's library teardown that would wait for the call
     * still in flight for good: only for a caller that has done what must be done before the exit (the JVM's shutdown
     * hooks' work). Returns where no backend registered a way (then nothing native was called through this gate that
     * could hold the exit).
     */
    public void exitNow(int status) {
        IntConsumer exit = exitNow;
        if (exit != null) exit.accept(status);
    }

    /** Opens the gate again and lets the held calls go on: for tests, since a closed gate is meant for an exiting process. */
    void reopen() {
        closed = false;
        synchronized (changes) {
            changes.notifyAll();
        }
    }

    private void holdWhileClosed() {
        boolean interrupted = false;
        synchronized (changes) {
            while (closed) {
                try {
                    changes.wait();
                } catch (InterruptedException e) {
                    interrupted = true; // held all the same: the call must not begin beside the exit
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
