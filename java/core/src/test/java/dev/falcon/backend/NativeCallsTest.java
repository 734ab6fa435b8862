package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The gate a stopping CLI closes before the JVM's exit runs OpenBLAS's teardown, which hung for good beside a call in
 * flight: the stop waits for the call under way, holds every call that has not begun, and waits only so long.
 */
class NativeCallsTest {

    /** A gate of its own with one thread inside a "native call" until {@code leave} is counted down. */
    private record CallInFlight(NativeCalls gate, CountDownLatch leave, Thread thread) {}

    /** A new gate and a call in flight through it, returned once the call has entered. */
    private static CallInFlight startCallInFlight() throws InterruptedException {
        NativeCalls gate = new NativeCalls();
        CountDownLatch entered = new CountDownLatch(1), leave = new CountDownLatch(1);
        Thread call = callInFlight(gate, entered, leave);
        assertTrue(entered.await(30, TimeUnit.SECONDS));
        return new CallInFlight(gate, leave, call);
    }

    private static Thread callInFlight(NativeCalls gate, CountDownLatch entered, CountDownLatch leave) {
        Thread t = new Thread(() -> {
            gate.enter();
            try {
                entered.countDown();
                leave.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                gate.leave();
            }
        }, "call-in-flight");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void awaitState(Thread t, Thread.State state) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (t.getState() != state) {
            assertTrue(System.nanoTime() < deadline, t.getName() + " is " + t.getState() + ", not " + state);
            Thread.sleep(1);
        }
    }

    @Test
    void theStopWaitsForTheCallInFlightAndReturnsOnceItHasLeft() throws Exception {
        CallInFlight inFlight = startCallInFlight();
        NativeCalls gate = inFlight.gate();
        assertEquals(1, gate.inFlight());

        AtomicBoolean none = new AtomicBoolean();
        Thread stop = new Thread(() -> none.set(gate.closeAndAwait(60_000)), "stop");
        stop.start();
        awaitState(stop, Thread.State.TIMED_WAITING); // closed, and waiting for the call
        assertTrue(gate.closed());
        assertTrue(stop.isAlive(), "the stop returned while a call was in flight");

        inFlight.leave().countDown();
        stop.join(30_000);
        assertFalse(stop.isAlive(), "the stop went on waiting after the call had left");
        assertTrue(none.get());
        assertEquals(0, gate.inFlight());
        inFlight.thread().join(30_000);
    }

    @Test
    void callsThatBeginAfterTheStopAreHeldAndNeverCounted() throws Exception {
        NativeCalls gate = new NativeCalls();
        assertTrue(gate.closeAndAwait(0), "nothing was in flight");
        AtomicInteger ran = new AtomicInteger();
        Thread late = new Thread(() -> {
            gate.enter();
            try {
                ran.incrementAndGet();
            } finally {
                gate.leave();
            }
        }, "late-call");
        late.setDaemon(true);
        late.start();
        awaitState(late, Thread.State.WAITING); // held in Java
        late.interrupt(); // an interrupt does not let it through either
        Thread.sleep(50);
        awaitState(late, Thread.State.WAITING);
        assertEquals(0, ran.get());
        assertEquals(0, gate.inFlight(), "a held call must not count as in flight: the stop would wait for it");
        assertTrue(gate.closeAndAwait(0));

        gate.reopen(); // tests only: the held call goes on
        late.join(30_000);
        assertFalse(late.isAlive());
        assertEquals(1, ran.get());
        assertEquals(0, gate.inFlight());
    }

    @Test
    void theWaitForACallThatDoesNotReturnIsBounded() throws Exception {
        CallInFlight inFlight = startCallInFlight();
        NativeCalls gate = inFlight.gate();
        long began = System.nanoTime();
        Thread.currentThread().interrupt(); // nor does an interrupt end the wait early; it is kept
        assertFalse(gate.closeAndAwait(200));
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertTrue(Thread.interrupted(), "the interrupt was lost");
        assertTrue(waited >= 200, "waited " + waited + " ms");
        assertTrue(waited < 20_000, "waited " + waited + " ms");
        assertEquals(1, gate.inFlight());
        inFlight.leave().countDown();
        inFlight.thread().join(30_000);
        assertTrue(gate.closeAndAwait(30_000));
    }

    @Test
    void anOpenGateOnlyCounts() {
        NativeCalls gate = new NativeCalls();
        gate.enter();
        gate.enter();
        assertEquals(2, gate.inFlight());
        gate.leave();
        gate.leave();
        assertEquals(0, gate.inFlight());
        assertFalse(gate.closed());
        gate.exitNow(143); // nothing registered: returns
    }
}
