package dev.falcon.solve;

import java.util.concurrent.atomic.AtomicReference;

/**
 * The run a gradient source serves, claimed in {@link MultiStage.GradientSource#runStarting} and given up in
 * {@link MultiStage.GradientSource#runEnded}. The file and command sources hold a run's state (the stage X it was given,
 * the weights that X is at) and a command source names every run's stage files alike in its one folder: two prunes at
 * once on one source closed X under each other ("matrix ... was closed, by this thread or another"), blamed the command,
 * returned weights neither prune gives alone, and left stage X open for good.
 */
final class OneRunAtATime {
    private final AtomicReference<Thread> running = new AtomicReference<>();

    /**
     * Claims the source for the calling thread's run.
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
    }

    /**
     * Refuses a direct call (an embedder's own {@code gradients()} or {@code runEnded()}) from a thread other than the
     * one whose run holds the source: accepted, it handed out and freed that run's stage X, and a runEnded cleared the
     * run's claim, letting a third run in alongside it. The run's own thread, and any thread while no run holds the
     * source, may call.
     * @param source the source as messages name it
     * @param call   the call refused, as the caller wrote it ("gradients(1, ...)", "runEnded()")
     * @throws IllegalStateException while another thread's run holds it
     */
    void requireNoOtherRun(String source, String call) {
        Thread self = Thread.currentThread();
        Thread holder = running.get();
        if (holder != null && holder != self) {
            throw new IllegalStateException(source + ": " + call + " was called on thread '" + self.getName() + "' while a falcon++ run"
                    + " on thread '" + holder.getName() + "' is using this gradient source, and a source serves one run at a time: it holds"
                    + " that run's stage X; call gradients() and runEnded() yourself only while no prune uses the source, or give your own"
                    + " calls a source of their own");
        }
    }

    /**
     * The calling thread's run has ended: the source serves the next. Only that thread's claim goes: cleared whoever held
     * it, another caller's end let a new run in beside the one still running.
     */
    void end() {
        running.compareAndSet(Thread.currentThread(), null);
    }
}
