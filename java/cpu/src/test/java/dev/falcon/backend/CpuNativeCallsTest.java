package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.cpu.CpuBackendProvider;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.javacpp.DoublePointer;
import org.junit.jupiter.api.Test;

/**
 * The cpu backend's OpenBLAS calls pass the process's {@link NativeCalls} gate, which the CLI closes when it stops: the
 * JVM's exit ran OpenBLAS's teardown beside a call in flight and hung for good. (In this package for the gate's
 * test-only reopen.)
 */
class CpuNativeCallsTest {

    @Test
    void anOpenBlasCallBegunAfterTheStopIsHeldUntilTheGateOpens() throws Exception {
        NativeCalls gate = NativeCalls.process();
        try (ComputeBackend cpu = new CpuBackendProvider().create(2); DoublePointer a = new DoublePointer(4)) {
            a.put(4, 2, 2, 5); // [[4, 2], [2, 5]], column-major: L = [[2, 0], [1, 2]]
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread call = new Thread(() -> {
                try {
                    cpu.choleskyFactor(a, 2);
                } catch (Throwable t) {
                    failed.set(t);
                }
            }, "cholesky");
            call.setDaemon(true);
            assertTrue(gate.closeAndAwait(30_000), "a call of another test still in flight");
            try {
                call.start();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (call.getState() != Thread.State.WAITING) {
                    assertTrue(call.isAlive() && System.nanoTime() < deadline, "the call was not held: " + call.getState());
                    Thread.sleep(1);
                }
                assertEquals(4.0, a.get(0), "dpotrf ran while the gate was closed");
                assertEquals(0, gate.inFlight());
            } finally {
                gate.reopen();
            }
            call.join(30_000);
            assertFalse(call.isAlive());
            assertNull(failed.get());
            assertEquals(2.0, a.get(0));
            assertEquals(1.0, a.get(1));
            assertEquals(2.0, a.get(3));
            assertEquals(0, gate.inFlight());
        }
    }
}
