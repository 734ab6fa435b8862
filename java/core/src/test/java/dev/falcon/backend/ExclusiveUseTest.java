package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ExclusiveUseTest {

    /** A thread holding a call while another enters: the second is refused, naming both threads and the call. */
    @Test
    void overlappingCallsFromTwoThreadsAreRefusedAndHandOffBetweenCallsIsAllowed() throws Exception {
        ExclusiveUse use = new ExclusiveUse("the test backend");
        CountDownLatch entered = new CountDownLatch(1), leave = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread holder = new Thread(() -> {
            try (ExclusiveUse.Scope call = use.enter("multiply")) {
                entered.countDown();
                assertTrue(leave.await(30, TimeUnit.SECONDS));
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "holder-thread");
        holder.start();
        assertTrue(entered.await(30, TimeUnit.SECONDS));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> use.enter("blockGramProduct"));
        assertTrue(e.getMessage().contains("the test backend") && e.getMessage().contains("blockGramProduct")
                && e.getMessage().contains("holder-thread") && e.getMessage().contains(Thread.currentThread().getName()), e.getMessage());
        leave.countDown();
        holder.join(30_000);
        assertNull(failure.get());
        try (ExclusiveUse.Scope call = use.enter("multiply")) { // the holder is done: another thread may take over
            assertNotNull(call);
        }
    }

    /**
     * A scope closed a second time, after another thread had entered, ended that thread's call: a third thread then got
     * in beside it and both used the shared device buffers.
     */
    @Test
    void aScopeClosedTwiceDoesNotEndAnotherThreadsCall() throws Exception {
        ExclusiveUse use = new ExclusiveUse("the test backend");
        ExclusiveUse.Scope first = use.enter("multiply");
        first.close();
        CountDownLatch entered = new CountDownLatch(1), leave = new CountDownLatch(1);
        Thread holder = new Thread(() -> {
            try (ExclusiveUse.Scope call = use.enter("weightedGram")) {
                entered.countDown();
                leave.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "holder-thread");
        holder.setDaemon(true);
        holder.start();
        try {
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            first.close();
            assertThrows(IllegalStateException.class, () -> use.enter("blockGramProduct"),
                    "the holder's call was ended by another thread's scope closed twice");
        } finally {
            leave.countDown();
            holder.join(30_000);
        }
    }

    /** A call made from inside another on the same thread passes, and closing it does not end the outer call. */
    @Test
    void nestedCallsOnOneThreadKeepTheOuterCallHeld() throws Exception {
        ExclusiveUse use = new ExclusiveUse("the test backend");
        try (ExclusiveUse.Scope outer = use.enter("blockGramProduct")) {
            try (ExclusiveUse.Scope inner = use.enter("prepare")) {
                assertNotNull(inner);
            }
            AtomicReference<Throwable> seen = new AtomicReference<>();
            Thread other = new Thread(() -> {
                try (ExclusiveUse.Scope call = use.enter("multiply")) {
                    seen.set(null);
                } catch (Throwable t) {
                    seen.set(t);
                }
            });
            other.start();
            other.join(30_000);
            assertInstanceOf(IllegalStateException.class, seen.get(), "the outer call is still held after the nested one closed");
        }
        Thread after = new Thread(() -> use.enter("multiply").close());
        AtomicReference<Throwable> seen = new AtomicReference<>();
        after.setUncaughtExceptionHandler((t, x) -> seen.set(x));
        after.start();
        after.join(30_000);
        assertNull(seen.get(), "released once the outer call closed");
    }
}
