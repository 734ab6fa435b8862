package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
}
