package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * An embedder's thread closes X while another thread's product reads it. Freeing the memory under a running product
 * is a SIGSEGV of the whole JVM (X large enough to be its own mapping, as every real X is), so the race runs in a
 * child JVM: the test fails on a crash as on a wrong product.
 */
public class CloseDuringUseTest {
    public static final String PASSED = "close-during-use: passed";

    /** Rows and columns: a 64 MiB X, so that each product lasts milliseconds and the close lands inside one. */
    public static final long N = 256, P = 65536;

    /**
     * Rounds of: a reader thread multiplies X by v again and again, comparing each product with the one computed before
     * the race, while this thread closes X at a random moment. Every product that returns must be exact, and the reader
     * must then stop with an IllegalStateException saying X was closed. Returns the failures (empty: passed).
     */
    public static List<String> race(ComputeBackend backend, Supplier<HostMatrix> filledX, int rounds) throws InterruptedException {
        List<String> failures = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            HostMatrix x = filledX.get();
            try (FloatPointer v = new FloatPointer(P); FloatPointer expected = new FloatPointer(N); FloatPointer out = new FloatPointer(N)) {
                backend.fillUniform(v, P, 7 + round, 1f);
                long t0 = System.nanoTime();
                backend.multiply(x, v, expected);
                long productNanos = System.nanoTime() - t0;
                float[] want = new float[(int) N];
                expected.get(want);
                AtomicLong done = new AtomicLong();
                AtomicReference<Throwable> ended = new AtomicReference<>();
                List<String> wrong = new ArrayList<>();
                Thread reader = new Thread(() -> {
                    float[] got = new float[(int) N];
                    try {
                        while (true) {
                            backend.multiply(x, v, out);
                            out.get(got);
                            for (int i = 0; i < N; i++) {
                                if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(want[i])) {
                                    synchronized (wrong) {
                                        wrong.add("product " + done.get() + ": row " + i + " is " + got[i] + ", not " + want[i]);
                                    }
                                    break;
                                }
                            }
                            done.incrementAndGet();
                        }
                    } catch (Throwable t) {
                        ended.set(t);
                    }
                }, "reader");
                reader.start();
                while (done.get() < 1 && reader.isAlive()) Thread.onSpinWait();
                // somewhere inside the next product, or the one after
                long pause = ThreadLocalRandom.current().nextLong(Math.max(1, productNanos));
                Thread.sleep(pause / 1_000_000, (int) (pause % 1_000_000));
                x.close();
                reader.join(120_000);
                String where = "round " + round + " (" + done.get() + " products, " + productNanos / 1_000_000 + " ms each): ";
                if (reader.isAlive()) failures.add(where + "the reader did not stop");
                synchronized (wrong) {
                    for (String w : wrong) failures.add(where + w);
                }
                Throwable t = ended.get();
                if (!(t instanceof IllegalStateException) || !String.valueOf(t.getMessage()).contains("was closed")) {
                    failures.add(where + "the reader ended with " + t + " instead of an IllegalStateException saying X was closed");
                }
            } finally {
                x.close();
            }
        }
        return failures;
    }

    /** Runs {@code main} in a child JVM on this class path and JavaCPP cache; returns its exit code and output. */
    public static String[] runChild(Class<?> main, String... args) throws Exception {
        // a crash (what this test guards against) would otherwise leave its hs_err file in the module's folder
        List<String> cmd = new ArrayList<>(dev.falcon.testing.ChildJvm.command(main, "-Xmx512m",
                "-XX:ErrorFile=" + Path.of(System.getProperty("java.io.tmpdir"), "falcon-close-during-use-hs_err_%p.log")));
        cmd.addAll(List.of(args));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = child.waitFor();
        return new String[] {String.valueOf(rc), output.length() <= 4000 ? output : output.substring(output.length() - 4000)};
    }

    /** Child entry point for the java backend. */
    public static void main(String[] args) throws Exception {
        try (JavaBackend backend = new JavaBackend()) {
            List<String> failures = race(backend, () -> {
                HostMatrix x = backend.allocate(N, P, null);
                backend.fillUniform(x.data(), x.elements(), 1, 1f);
                return x;
            }, 4);
            System.out.println(failures.isEmpty() ? PASSED : String.join("\n", failures));
            System.exit(failures.isEmpty() ? 0 : 1);
        }
    }

    @Test
    void closingXWhileTheJavaBackendReadsItWaitsForTheProduct() throws Exception {
        String[] child = runChild(CloseDuringUseTest.class);
        assertEquals("0", child[0], child[1]);
        assertTrue(child[1].contains(PASSED), child[1]);
    }
}
