package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.cpu.CpuBackendProvider;
import dev.falcon.data.HostMatrix;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The rule by which the cuda backend reuses its resident copy of X (no GPU needed): it reused it for the same matrix
 * object whatever happened to the contents, so after an embedder changed X the GPU solved with the old X while cpu and
 * java read the new one.
 */
class ResidentCopyTest {
    @Test
    void aWriteToXMakesTheCopyStaleAndReadsDoNot() {
        try (HostMatrix x = HostMatrix.allocate(3, 5); HostMatrix y = HostMatrix.allocate(3, 5)) {
            ResidentCopy copy = ResidentCopy.of(x);
            assertTrue(copy.isCurrentFor(x));
            assertFalse(copy.isCurrentFor(y), "a copy of x stands for x only");
            try (HostMatrix.Use read = x.use("a product")) {
                x.data().get(0);
            }
            x.columns(0, 2);
            assertTrue(copy.isCurrentFor(x), "reading X must not make the backend copy it again");
            try (HostMatrix.Use write = x.write("the embedder's update")) {
                x.data().put(4, 7f);
            }
            assertFalse(copy.isCurrentFor(x), "X was changed: its device copy is stale");
            assertTrue(ResidentCopy.of(x).isCurrentFor(x));
        }
    }

    @Test
    void everyHostBackendsFillChangesTheVersion() {
        ComputeBackend cpu = new CpuBackendProvider().probe().usable() ? new CpuBackendProvider().create(1) : null;
        try (JavaBackend java = new JavaBackend()) {
            for (ComputeBackend b : cpu == null ? new ComputeBackend[] {java} : new ComputeBackend[] {java, cpu}) {
                try (HostMatrix x = b.allocate(4, 6, null)) {
                    ResidentCopy copy = ResidentCopy.of(x);
                    b.fillSyntheticGradients(x, 2, 0.1f, 3);
                    assertFalse(copy.isCurrentFor(x), b.name() + "'s fillSyntheticGradients left the device copy of X current");
                }
            }
        } finally {
            if (cpu != null) cpu.close();
        }
    }

    @Test
    void aCopyTakenWhileAnotherThreadWritesIsStaleOnceTheWriteEnds() throws Exception {
        try (HostMatrix x = HostMatrix.allocate(3, 5)) {
            CountDownLatch writing = new CountDownLatch(1);
            CountDownLatch copied = new CountDownLatch(1);
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread writer = new Thread(() -> {
                try (HostMatrix.Use w = x.write("the writer")) {
                    x.data().put(0, 1f);
                    writing.countDown();
                    copied.await(10, TimeUnit.SECONDS);
                    x.data().put(1, 2f);
                } catch (Throwable t) {
                    failed.set(t);
                }
            }, "writer");
            writer.setDaemon(true);
            writer.start();
            assertTrue(writing.await(10, TimeUnit.SECONDS));
            ResidentCopy copy = ResidentCopy.of(x); // half of the write in it
            copied.countDown();
            writer.join(10_000);
            assertFalse(writer.isAlive());
            assertFalse(copy.isCurrentFor(x), "a copy taken during a write was taken for current");
        }
    }

    @Test
    void aClosedMatrixTakesNoWrite() {
        HostMatrix x = HostMatrix.allocate(2, 2);
        x.close();
        assertThrows(IllegalStateException.class, () -> x.write("a late writer"));
    }
}
