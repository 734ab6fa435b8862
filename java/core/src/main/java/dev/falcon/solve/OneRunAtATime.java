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

    /** The run has ended: the source serves the next. */
    void end() {
        running.set(null);
    }
}
