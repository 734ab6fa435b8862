package dev.falcon.data;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Loops over length-p vectors (never over X: that is the backends' work), spread over the backend's thread count.
 * At p = 4.2M a DFO iteration runs a handful of them (the step, the selection's mask, the evaluation), and on one
 * thread they took about as long as the pass over X.
 *
 * <p>Work is cut into fixed chunks of {@link #CHUNK} coordinates whatever the thread count, and sums are formed per
 * chunk and added in chunk order: results are the same for every thread count.
 */
public final class VectorLoops {
    public static final int CHUNK = 1 << 15;

    /** Idle workers end after a minute; daemon threads never hold the JVM up. */
    private static final ExecutorService WORKERS = Executors.newCachedThreadPool(task -> {
        Thread t = new Thread(task, "falcon-vector-loop");
        t.setDaemon(true);
        return t;
    });

    /** The loop body over coordinates [from, to): adds its sums into {@code sums} (zeroed per chunk). */
    @FunctionalInterface
    public interface Body {
        void run(int from, int to, double[] sums);
    }

    /**
     * A loop body with a scratch object of its own per thread of the loop (a buffer to read a chunk into), made once per
     * thread per loop and dropped when the loop returns.
     */
    @FunctionalInterface
    public interface ScratchBody<S> {
        void run(int from, int to, double[] sums, S scratch);
    }

    private VectorLoops() {}

    /**
     * Runs {@code body} over [0, m) on {@code threads} threads and returns its {@code sumCount} sums, each the
     * in-order total of the per-chunk sums.
     */
    public static double[] run(int threads, int m, int sumCount, Body body) {
        return run(threads, m, sumCount, () -> null, (from, to, sums, none) -> body.run(from, to, sums));
    }

    /**
     * As {@link #run(int, int, int, Body)}, with a scratch object from {@code scratch} for each thread of the loop.
     * Scratch per loop rather than a ThreadLocal: a ThreadLocal made per call left its value in the map of every thread
     * that ran the loop (the caller's and the pool's) until the map happened to expunge it, so a long-lived caller held
     * one 128 KiB buffer per mask of every prune it had run (190 MB after 20 small prunes), and a static one would keep
     * a buffer per thread for the thread's life.
     */
    public static <S> double[] run(int threads, int m, int sumCount, Supplier<S> scratch, ScratchBody<S> body) {
        int chunks = Math.max(1, (m + CHUNK - 1) / CHUNK);
        double[] partial = new double[chunks * sumCount];
        int workers = Math.min(Math.max(1, threads), chunks);
        AtomicInteger next = new AtomicInteger();
        Runnable share = () -> {
            double[] sums = new double[sumCount];
            S mine = null;
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                java.util.Arrays.fill(sums, 0);
                if (mine == null) mine = scratch.get();
                body.run(c * CHUNK, (int) Math.min(m, (long) (c + 1) * CHUNK), sums, mine);
                System.arraycopy(sums, 0, partial, c * sumCount, sumCount);
            }
        };
        if (workers == 1) {
            share.run();
        } else {
            List<Future<?>> helpers = new ArrayList<>(workers - 1);
            for (int t = 1; t < workers; t++) helpers.add(WORKERS.submit(share));
            Throwable failure = null;
            try {
                share.run();
            } catch (RuntimeException | Error e) { // an Error (OutOfMemoryError) too: the helpers must end before it leaves
                failure = e;
                next.set(chunks); // the helpers stop after their current chunk
            }
            // Every helper is waited for, even when this thread is interrupted: the bodies use the caller's buffers
            // (off-heap vectors among them), which the caller frees once this returns, so a helper still running then
            // would touch freed memory and crash the JVM. The interrupt only stops the chunks not yet started.
            boolean interrupted = false;
            for (Future<?> f : helpers) {
                while (true) {
                    try {
                        f.get();
                        break;
                    } catch (ExecutionException e) {
                        if (failure == null) {
                            failure = e.getCause() instanceof RuntimeException || e.getCause() instanceof Error ? e.getCause()
                                    : new IllegalStateException(e.getCause());
                        }
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true;
                        next.set(chunks);
                        if (failure == null) failure = new IllegalStateException("interrupted in a vector loop", e);
                    }
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            if (failure instanceof Error e) throw e;
            if (failure != null) throw (RuntimeException) failure;
        }
        // One thread never waits on a helper, and helpers that finished before the caller looked never report the
        // interrupt: without this a one-thread backend (or a vector of one chunk) ran an interrupted solve to its end.
        if (Thread.currentThread().isInterrupted()) throw new IllegalStateException("interrupted in a vector loop");
        double[] totals = new double[sumCount];
        for (int c = 0; c < chunks; c++) {
            for (int k = 0; k < sumCount; k++) totals[k] += partial[c * sumCount + k];
        }
        return totals;
    }
}
