package dev.falcon.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.data.CloseDuringUseTest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * A PruneResult closed by one thread while another copies its weights out. The record's close() freed the memory
 * under the copy: for a result this large (its own mapping) a SIGSEGV of the whole JVM, so the race runs in a child JVM
 * and the test fails on a crash as on a wrong copy.
 */
public class PruneResultCloseWhileReadTest {
    static final String PASSED = "prune-result-close-while-read: passed";
    /** 16 MiB of weights: each copy lasts milliseconds, and malloc maps it (freeing it unmaps it). */
    static final int P = 1 << 22;

    static PruneResult result(int seed) {
        FloatPointer w = new FloatPointer(P);
        BytePointer m = new BytePointer(P);
        for (int i = 0; i < P; i++) {
            w.put(i, (i % 1000) * 0.5f + seed);
            m.put(i, (byte) (i % 3 == 0 ? 0 : 1));
        }
        return new PruneResult(w, m, Method.MAGNITUDE, null, 0, 0, new long[0], 0, null, 0, 0, 0);
    }

    static List<String> race(int rounds) throws InterruptedException {
        List<String> failures = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            PruneResult r = result(round);
            float[] want = r.copyPrunedWeights();
            byte[] wantMask = r.copyMask();
            long t0 = System.nanoTime();
            r.copyPrunedWeights();
            long copyNanos = System.nanoTime() - t0;
            AtomicLong done = new AtomicLong();
            AtomicReference<Throwable> ended = new AtomicReference<>();
            List<String> wrong = new ArrayList<>();
            Thread reader = new Thread(() -> {
                try {
                    while (true) {
                        float[] got = r.copyPrunedWeights();
                        byte[] gotMask = r.copyMask();
                        if (!java.util.Arrays.equals(got, want) || !java.util.Arrays.equals(gotMask, wantMask)) {
                            synchronized (wrong) {
                                wrong.add("copy " + done.get() + " differs from the result");
                            }
                        }
                        done.incrementAndGet();
                    }
                } catch (Throwable t) {
                    ended.set(t);
                }
            }, "reader");
            reader.setDaemon(true);
            reader.start();
            while (done.get() < 1 && reader.isAlive()) Thread.onSpinWait();
            long pause = ThreadLocalRandom.current().nextLong(Math.max(1, copyNanos));
            Thread.sleep(pause / 1_000_000, (int) (pause % 1_000_000));
            r.close();
            reader.join(60_000);
            String where = "round " + round + " (" + done.get() + " copies, " + copyNanos / 1_000_000 + " ms each): ";
            if (reader.isAlive()) failures.add(where + "the reader did not stop");
            synchronized (wrong) {
                for (String w : wrong) failures.add(where + w);
            }
            Throwable t = ended.get();
            if (!(t instanceof IllegalStateException) || !String.valueOf(t.getMessage()).contains("close")) {
                failures.add(where + "the reader ended with " + t + " instead of an IllegalStateException saying the result was closed");
            }
        }
        return failures;
    }

    public static void main(String[] args) throws Exception {
        List<String> failures = race(6);
        System.out.println(failures.isEmpty() ? PASSED : String.join("\n", failures));
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    @Test
    void closingAResultWhileAnotherThreadCopiesItOutWaitsForTheCopy() throws Exception {
        String[] child = CloseDuringUseTest.runChild(PruneResultCloseWhileReadTest.class);
        assertEquals("0", child[0], child[1]);
        assertTrue(child[1].contains(PASSED), child[1]);
    }

    @Test
    void closingAResultInsideItsOwnUseIsRefusedAndAfterCloseEveryReadIsRefused() throws Exception {
        PruneResult r = result(0);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try (PruneResult.Use use = r.use("the embedder's copy")) {
                r.close();
            } catch (Throwable e) {
                thrown.set(e);
            }
        }, "embedder");
        t.setDaemon(true);
        t.start();
        t.join(10_000);
        assertFalse(t.isAlive(), "close() inside the result's own use never returned");
        assertInstanceOf(IllegalStateException.class, thrown.get());
        assertEquals(1.5f, r.copyPrunedWeights()[3]); // still open
        r.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, r::copyPrunedWeights);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, r::prunedWeights);
        assertThrows(IllegalStateException.class, () -> r.use("a late reader"));
        r.close(); // twice: nothing more
    }

    @Test
    void aUseClosedTwiceDoesNotEndAnotherUseOfTheSameThread() throws Exception {
        PruneResult r = result(1);
        java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        Thread reader = new Thread(() -> {
            try (PruneResult.Use outer = r.use("the outer read")) {
                PruneResult.Use inner = r.use("the inner read");
                inner.close();
                inner.close();
                reading.countDown();
                done.await(10, java.util.concurrent.TimeUnit.SECONDS);
                r.prunedWeights().get(0);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "reader");
        reader.setDaemon(true);
        reader.start();
        assertTrue(reading.await(10, java.util.concurrent.TimeUnit.SECONDS));
        Thread closer = new Thread(r::close, "closer");
        closer.setDaemon(true);
        closer.start();
        closer.join(300);
        assertTrue(closer.isAlive(), "close() freed the result while the outer read was still in it");
        done.countDown();
        closer.join(10_000);
        reader.join(10_000);
        assertFalse(closer.isAlive());
        assertThrows(IllegalStateException.class, r::prunedWeights);
    }

    @Test
    void copiesAreTheResult() {
        try (PruneResult r = result(2)) {
            float[] w = r.copyPrunedWeights();
            byte[] m = r.copyMask();
            assertEquals(P, w.length);
            assertEquals(P, m.length);
            float[] direct = new float[P];
            r.prunedWeights().get(direct);
            assertArrayEquals(direct, w);
            r.prunedWeights().position(5).limit(9); // a caller's reading of a few weights: the copy is still all of them
            r.mask().position(3);
            assertArrayEquals(w, r.copyPrunedWeights());
            assertArrayEquals(m, r.copyMask());
            assertEquals(0, m[0]);
            assertEquals(1, m[1]);
        }
    }
}
