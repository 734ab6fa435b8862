package dev.falcon.solve;

import dev.falcon.data.HostMatrix;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The run a gradient source serves, claimed in {@link MultiStage.GradientSource#runStarting} and given up in
 * {@link MultiStage.GradientSource#runEnded}, both on the run's thread; the calls for the run in between may come from
 * any thread. The file and command sources hold a run's state (the stage X it was given,
 * the weights that X is at) and a command source names every run's stage files alike in its one folder: two prunes at
 * once on one source closed X under each other ("matrix ... was closed, by this thread or another"), blamed the command,
 * returned weights neither prune gives alone, and left stage X open for good.
 */
final class OneRunAtATime {
    private final AtomicReference<Thread> running = new AtomicReference<>();
    /**
     * Changes as each run starts and ends: a gradients() call that took one value and finds another when it finishes
     * outlived the run it was made for (a wrapper's timed-out pool.submit(...).get(...)), and must not touch the state
     * of the run that came after it.
     */
    private final java.util.concurrent.atomic.AtomicLong generation = new java.util.concurrent.atomic.AtomicLong();

    /**
     * Claims the source for the run the calling thread starts.
     * @param source the source as messages name it ("CommandGradients (...)")
     * @throws IllegalStateException while another run holds it
     */
    void begin(String source) {
        Thread self = Thread.currentThread();
        Thread other = running.compareAndExchange(null, self);
        if (other != null) {
            throw new IllegalStateException(source + ": a falcon++ run is already using this gradient source ("
                    + (other == self ? "on this thread, from inside that run" : "on thread '" + other.getName() + "'")
                    + "), and a source serves one run at a time: it holds that run's stage X"
                    + "; give each concurrent prune its own source, or start this prune after the other has returned");
        }
        generation.incrementAndGet();
    }

    /** The run (or the time between runs) a call starts in, for {@link #requireSameRun}. */
    long generation() {
        return generation.get();
    }

    /**
     * The run a call was made for has ended, at the start of runEnded(): calls made for it from then on fail in
     * {@link #requireSameRun}, although the claim stays until {@link #end}.
     */
    void retire() {
        generation.incrementAndGet();
    }

    /**
     * Refuses a call that finishes after the run it was made for ended: its result would replace (and close) the
     * stage X of the next run on the source.
     * @param source    the source as messages name it
     * @param call      the call, as the caller wrote it ("gradients(1, ...)")
     * @param startedIn what {@link #generation} said as the call started
     * @throws IllegalStateException where a run has started or ended since
     */
    void requireSameRun(String source, String call, long startedIn) {
        if (generation.get() != startedIn) {
            throw new IllegalStateException(source + ": " + call + ": the run this call was made for ended before it finished (a caller that"
                    + " timed it out, as with future.get(timeout), let the run end while it ran); its X was dropped and the source's state left"
                    + " to the run after it; on a timeout, cancel the call with future.cancel(true), which stops its command");
        }
    }

    /** {@link #requireSameRun}, closing the call's own X (which no run holds) where it refuses. */
    void requireSameRun(String source, String call, long startedIn, HostMatrix own) {
        try {
            requireSameRun(source, call, startedIn);
        } catch (IllegalStateException e) {
            own.close();
            throw e;
        }
    }

    /**
     * Refuses a {@code runEnded()} from a thread other than the one that started the run holding the source: accepted, it
     * freed that run's stage X and ended its claim, letting a second run in alongside it. {@code gradients()} is not
     * checked: a run's own calls may come from another thread (a wrapper that calls the source on an executor to put a
     * timeout on it), and the source cannot tell them from an embedder's own, so a thread rule refused such a run, the
     * only one, as a second. Any thread may call while no run holds the source.
     * @param source the source as messages name it
     * @throws IllegalStateException while a run started on another thread holds it
     */
    void requireRunsOwnThreadToEnd(String source) {
        Thread self = Thread.currentThread();
        Thread holder = running.get();
        if (holder != null && holder != self) {
            throw new IllegalStateException(source + ": runEnded() was called on thread '" + self.getName() + "', but the falcon++ run"
                    + " using this gradient source was started (runStarting()) on thread '" + holder.getName() + "', and only the"
                    + " thread that started a run ends it: from any other, it would free that run's stage X and let another run in"
                    + " beside it; call runEnded() on the thread that called runStarting() (a wrapper passes both through on the"
                    + " run's thread), and call it yourself only while no prune uses the source");
        }
    }

    /**
     * The calling thread's run has ended: the source serves the next. Only that thread's claim goes: cleared whoever held
     * it, another caller's end let a new run in beside the one still running.
     */
    void end() {
        if (running.compareAndSet(Thread.currentThread(), null)) generation.incrementAndGet();
    }
}
