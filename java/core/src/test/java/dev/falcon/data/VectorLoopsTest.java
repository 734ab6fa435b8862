package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class VectorLoopsTest {

    @Test
    void sumsAreTheSameForEveryThreadCountAndAddedChunkByChunk() {
        int m = 5 * VectorLoops.CHUNK + 123;
        double[] v = new double[m];
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < m; i++) v[i] = random.nextDouble() * Math.pow(10, random.nextInt(12) - 6);
        // the reference: per-chunk sums in coordinate order, the chunk sums added in chunk order
        double expectedSum = 0, expectedSquares = 0;
        for (int from = 0; from < m; from += VectorLoops.CHUNK) {
            double a = 0, b = 0;
            for (int i = from; i < Math.min(m, from + VectorLoops.CHUNK); i++) {
                a += v[i];
                b += v[i] * v[i];
            }
            expectedSum += a;
            expectedSquares += b;
        }
        for (int threads : new int[] {1, 2, 3, 8}) {
            AtomicIntegerArray visits = new AtomicIntegerArray(m);
            double[] sums = VectorLoops.run(threads, m, 2, (from, to, acc) -> {
                for (int i = from; i < to; i++) {
                    acc[0] += v[i];
                    acc[1] += v[i] * v[i];
                    visits.incrementAndGet(i);
                }
            });
            assertArrayEquals(new double[] {expectedSum, expectedSquares}, sums, 0.0, threads + " threads");
            for (int i = 0; i < m; i++) assertEquals(1, visits.get(i), "coordinate " + i + " visited once, " + threads + " threads");
        }
    }

    @Test
    void emptyAndSmallRanges() {
        assertArrayEquals(new double[] {0}, VectorLoops.run(4, 0, 1, (from, to, acc) -> acc[0] += to - from), 0.0);
        assertArrayEquals(new double[] {7}, VectorLoops.run(4, 7, 1, (from, to, acc) -> acc[0] += to - from), 0.0);
        assertEquals(0, VectorLoops.run(2, 10, 0, (from, to, acc) -> { }).length);
    }

    @Test
    void aFailingChunkFailsTheLoopWithItsException() {
        int m = 4 * VectorLoops.CHUNK;
        IllegalStateException boom = new IllegalStateException("chunk failed");
        for (int threads : new int[] {1, 2, 4}) {
            IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> VectorLoops.run(threads, m, 1, (from, to, acc) -> {
                if (from == 2 * VectorLoops.CHUNK) throw boom;
            }));
            assertSame(boom, thrown, threads + " threads");
        }
    }

    /**
     * A caller interrupted (a cancelled task) must not get control back while a helper still runs the body: the
     * caller then frees the buffers the body reads (Pruner's off-heap scores), and the helper crashed the JVM.
     */
    @Test
    void anInterruptedLoopEndsOnlyAfterEveryHelperHasFinished() {
        Thread caller = Thread.currentThread();
        AtomicBoolean helperStarted = new AtomicBoolean();
        AtomicInteger running = new AtomicInteger();
        caller.interrupt();
        try {
            assertThrows(IllegalStateException.class, () -> VectorLoops.run(2, 2 * VectorLoops.CHUNK, 0, (from, to, acc) -> {
                running.incrementAndGet();
                if (Thread.currentThread() == caller) {
                    while (!helperStarted.get()) Thread.onSpinWait(); // so that the helper takes the other chunk
                } else {
                    helperStarted.set(true);
                    long end = System.nanoTime() + 200_000_000L;
                    while (System.nanoTime() < end) Thread.onSpinWait();
                }
                running.decrementAndGet();
            }));
            assertEquals(0, running.get(), "a helper still runs the body after the loop ended");
            assertTrue(caller.isInterrupted(), "the interrupt is kept for the caller");
        } finally {
            Thread.interrupted();
        }
    }

    /** The README: interrupting a thread stops its prune at the next loop over the weights, on any thread count. */
    @Test
    void anInterruptedLoopThrowsOnOneThreadAndWhenNoHelperIsStillRunning() {
        int m = 3 * VectorLoops.CHUNK;
        for (int threads : new int[] {1, 2}) {
            Thread.currentThread().interrupt();
            try {
                IllegalStateException thrown = assertThrows(IllegalStateException.class,
                        () -> VectorLoops.run(threads, m, 1, (from, to, acc) -> acc[0] += to - from), threads + " threads");
                assertTrue(thrown.getMessage().contains("interrupted"), thrown.getMessage());
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is kept for the caller, " + threads + " threads");
            } finally {
                Thread.interrupted();
            }
        }
        // a vector of one chunk runs on the caller alone whatever the thread count
        Thread.currentThread().interrupt();
        try {
            assertThrows(IllegalStateException.class, () -> VectorLoops.run(4, 10, 1, (from, to, acc) -> acc[0] += to - from));
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
        assertArrayEquals(new double[] {m}, VectorLoops.run(1, m, 1, (from, to, acc) -> acc[0] += to - from), 0.0,
                "a thread that is not interrupted runs the loop as before");
    }

    @Test
    void anErrorInTheCallersChunkEndsTheLoopOnlyAfterEveryHelperHasFinished() {
        Thread caller = Thread.currentThread();
        AtomicBoolean helperStarted = new AtomicBoolean();
        AtomicInteger running = new AtomicInteger();
        OutOfMemoryError thrown = assertThrows(OutOfMemoryError.class, () -> VectorLoops.run(2, 2 * VectorLoops.CHUNK, 0, (from, to, acc) -> {
            if (Thread.currentThread() == caller) {
                while (!helperStarted.get()) Thread.onSpinWait();
                throw new OutOfMemoryError("in the caller's chunk");
            }
            running.incrementAndGet();
            helperStarted.set(true);
            long end = System.nanoTime() + 200_000_000L;
            while (System.nanoTime() < end) Thread.onSpinWait();
            running.decrementAndGet();
        }));
        assertEquals("in the caller's chunk", thrown.getMessage());
        assertEquals(0, running.get(), "a helper still runs the body after the loop ended");
    }
}
