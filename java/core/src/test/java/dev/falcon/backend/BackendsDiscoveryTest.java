package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BackendsDiscoveryTest {
    /**
     * A backend module on the class path whose provider class cannot load (its jar without the native presets it needs)
     * must not hide the others: it is reported, and the java reference is still found.
     */
    @Test
    void aProviderThatCannotLoadIsReportedAndTheOthersAreStillFound(@TempDir Path dir) throws IOException {
        Path services = dir.resolve("META-INF/services");
        Files.createDirectories(services);
        Files.writeString(services.resolve(BackendProvider.class.getName()), "dev.falcon.nowhere.MissingProvider\n",
                StandardCharsets.UTF_8);
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
            Backends.Discovery d = Backends.discover(loader);
            assertTrue(d.candidates().stream().anyMatch(c -> c.name().equals("java")), d.toString());
            assertEquals(1, d.failures().size(), d.toString());
            assertTrue(d.failures().get(0).contains("dev.falcon.nowhere.MissingProvider"), d.failures().get(0));
        }
    }

    /**
     * With falcon-core alone on the class path (as in this module's tests), auto took java without a word of the cpu and
     * cuda modules, and -Dfalcon.backend=cpu said "unknown backend 'cpu'; available: java, auto": both say which artifact
     * brings the backend.
     */
    @Test
    void backendsWhoseModuleIsAbsentSayWhichArtifactBringsThem() {
        assumeTrue(Backends.candidates().stream().noneMatch(c -> c.name().equals("cpu") || c.name().equals("cuda")), "cpu or cuda present");
        IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class, () -> Backends.choose("cpu"));
        assertTrue(cpu.getMessage().startsWith("backend cpu not on the class path: add falcon-cpu (dev.falcon:falcon-cpu")
                && cpu.getMessage().contains("available: java, auto"), cpu.getMessage());
        IllegalArgumentException cuda = assertThrows(IllegalArgumentException.class, () -> Backends.choose("cuda"));
        assertTrue(cuda.getMessage().startsWith("backend cuda not on the class path: add falcon-cuda (dev.falcon:falcon-cuda"), cuda.getMessage());
        IllegalArgumentException tpu = assertThrows(IllegalArgumentException.class, () -> Backends.choose("tpu"));
        assertTrue(tpu.getMessage().startsWith("unknown backend 'tpu'; available: java, auto"), tpu.getMessage());
        String auto = Backends.choose("auto").explanation();
        assertTrue(auto.startsWith("backend java chosen automatically; cuda not on the class path: add falcon-cuda")
                && auto.contains("; cpu not on the class path: add falcon-cpu (dev.falcon:falcon-cpu"), auto);
    }

    /** 0 and -3 threads silently gave one, though too many is an IllegalArgumentException; the CLI refuses --threads 0. */
    @Test
    void fewerThanOneThreadIsRefused() {
        Backends.Choice java = Backends.choose("java");
        for (int threads : new int[] {0, -3, Integer.MIN_VALUE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> java.create(threads).close());
            assertTrue(e.getMessage().contains("asked for " + threads + " threads; give at least 1"), e.getMessage());
        }
        try (ComputeBackend one = java.create(1)) {
            assertEquals(1, one.threads());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** More than the limit was refused by cpu and cuda but taken and ignored by java: one rule for every backend. */
    @Test
    void moreThreadsThanTheLimitAreRefusedByTheJavaBackendToo() {
        Backends.Choice java = Backends.choose("java");
        int over = Backends.mostThreads() + 1;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> java.create(over).close());
        assertTrue(e.getMessage().contains("asked for " + over + " threads, more than " + Backends.mostThreads()), e.getMessage());
        try (ComputeBackend most = java.create(Backends.mostThreads())) {
            assertEquals(1, most.threads(), "the reference runs on one thread whatever the count");
        } catch (Exception ex) {
            throw new AssertionError(ex);
        }
    }

    /**
     * Backends.choose(null) takes the name from -Dfalcon.backend, perhaps set through a launcher's options; its messages
     * said "the backend name is empty" and "unknown backend 'gpu'" without a word of where the name came from. They
     * name the property; a name the caller gave is not blamed on it, and choose(name, "--device auto") (the CLI, which
     * labels its messages with the option or property itself) keeps the plain wording.
     */
    @Test
    void aNameFromTheSystemPropertyIsCalledThatInTheMessages() {
        String before = System.getProperty(Backends.PROPERTY);
        try {
            System.setProperty(Backends.PROPERTY, "gpu");
            String unknown = assertThrows(IllegalArgumentException.class, () -> Backends.choose(null)).getMessage();
            assertTrue(unknown.startsWith("the system property falcon.backend names unknown backend 'gpu'; available: "), unknown);
            String front = assertThrows(IllegalArgumentException.class, () -> Backends.choose(null, "--device auto")).getMessage();
            assertTrue(front.startsWith("unknown backend 'gpu'; available: "), front);
            String given = assertThrows(IllegalArgumentException.class, () -> Backends.choose("tpu")).getMessage();
            assertTrue(given.startsWith("unknown backend 'tpu'; available: "), "the caller's own name is not the property's: " + given);

            System.setProperty(Backends.PROPERTY, " ");
            String empty = assertThrows(IllegalArgumentException.class, () -> Backends.choose(null)).getMessage();
            assertTrue(empty.startsWith("the system property falcon.backend is empty; set it to one of ")
                    && empty.endsWith(", auto, or remove it (then auto)"), empty);
            String frontEmpty = assertThrows(IllegalArgumentException.class, () -> Backends.choose(null, "--device auto")).getMessage();
            assertTrue(frontEmpty.startsWith("the backend name is empty; give one of "), frontEmpty);

            if (Backends.candidates().stream().noneMatch(c -> c.name().equals("cpu"))) { // falcon-core alone, as here
                System.setProperty(Backends.PROPERTY, "cpu");
                String absent = assertThrows(IllegalArgumentException.class, () -> Backends.choose(null)).getMessage();
                assertTrue(absent.startsWith("the system property falcon.backend names backend cpu not on the class path: add falcon-cpu"), absent);
            }
            for (String m : new String[] {unknown, given, empty}) assertFalse(m.contains("--device"), "a Java caller gave no --device: " + m);
        } finally {
            if (before == null) System.clearProperty(Backends.PROPERTY);
            else System.setProperty(Backends.PROPERTY, before);
        }
    }
}
