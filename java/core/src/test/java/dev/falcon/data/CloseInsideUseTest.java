package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * close() on a thread that is itself inside a use() of X (an embedder closing X from a gradient source or a callback a
 * prune runs) waited for its own call forever. Each case runs on a daemon thread joined with a timeout, so that a
 * regression fails the test instead of hanging the build.
 */
class CloseInsideUseTest {
    private static final long TIMEOUT_MS = 10_000;

    private static Thread daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    @Test
    void closingXInsideItsOwnUseIsRefusedInsteadOfWaitingForItself() throws Exception {
        HostMatrix x = HostMatrix.allocate(4, 8);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread embedder = daemon("embedder", () -> {
            try (HostMatrix.Use use = x.use("the embedder's product")) {
                x.close();
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        embedder.join(TIMEOUT_MS);
        assertFalse(embedder.isAlive(), "close() inside a use of X on the same thread never returned");
        IllegalStateException e = assertInstanceOf(IllegalStateException.class, thrown.get());
        assertTrue(e.getMessage().contains("the embedder's product") && e.getMessage().contains("\"embedder\""), e.getMessage());
        // refused, not half done: X is still open, usable, and closes once the call has returned
        assertFalse(x.isClosed());
        x.data().put(0, 1f);
        assertEquals(1f, x.data().get(0));
        x.close();
        assertTrue(x.isClosed());
    }

    @Test
    void closingXInsideItsUseWhileAnotherThreadClosesItIsRefusedToo() throws Exception {
        HostMatrix x = HostMatrix.allocate(4, 8);
        CountDownLatch inUse = new CountDownLatch(1);
        CountDownLatch otherCloses = new CountDownLatch(1);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread reader = daemon("reader", () -> {
            try (HostMatrix.Use use = x.use("the reader's product")) {
                inUse.countDown();
                otherCloses.await(TIMEOUT_MS, TimeUnit.MILLISECONDS);
                Thread.sleep(100); // the other close() is now waiting for this use, holding X's lock
                x.close();
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        assertTrue(inUse.await(TIMEOUT_MS, TimeUnit.MILLISECONDS));
        Thread closer = daemon("closer", () -> {
            otherCloses.countDown();
            x.close();
        });
        reader.join(TIMEOUT_MS);
        assertFalse(reader.isAlive(), "close() inside a use of X, while another thread's close() waited for it, never returned");
        assertInstanceOf(IllegalStateException.class, thrown.get());
        closer.join(TIMEOUT_MS);
        assertFalse(closer.isAlive(), "the other thread's close() did not return once the use ended");
        assertTrue(x.isClosed());
    }

    @Test
    void aUseOnAnotherMatrixOrAnEndedUseDoesNotStopAClose() throws Exception {
        HostMatrix x = HostMatrix.allocate(4, 8);
        HostMatrix y = HostMatrix.allocate(4, 8);
        try (HostMatrix.Use outer = y.use("a product with y")) {
            try (HostMatrix.Use inner = x.use("a product with x")) {
                x.data().put(0, 2f);
            }
            x.close();
        }
        assertTrue(x.isClosed());
        y.close();
        assertTrue(y.isClosed());
    }
}
