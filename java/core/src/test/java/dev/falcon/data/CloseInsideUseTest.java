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

    /**
     * A use closed twice (try-with-resources around an explicit close()) counted as two ended calls: close() then waited
     * forever for a count that could not come back, or, with another thread's call in flight, freed X under that call.
     */
    @Test
    void aUseOrAWriteClosedTwiceEndsOnce() throws Exception {
        HostMatrix x = HostMatrix.allocate(4, 8);
        HostMatrix.Use twice = x.use("a use closed twice");
        twice.close();
        twice.close();
        HostMatrix.Use write = x.write("a write closed twice");
        write.close();
        long version = x.version();
        write.close();
        assertEquals(version, x.version(), "a write closed twice changed the version twice");
        CountDownLatch inUse = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread reader = daemon("reader", () -> {
            try (HostMatrix.Use use = x.use("the reader's product")) {
                inUse.countDown();
                release.await(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(inUse.await(TIMEOUT_MS, TimeUnit.MILLISECONDS));
        Thread closer = daemon("closer", x::close);
        closer.join(300);
        assertTrue(closer.isAlive() && !x.isClosed(), "close() freed X while the reader's call was still in it");
        release.countDown();
        closer.join(TIMEOUT_MS);
        assertFalse(closer.isAlive(), "close() never returned once every use had ended");
        assertTrue(x.isClosed());
        reader.join(TIMEOUT_MS);
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
