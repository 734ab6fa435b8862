package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.Backends;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the probe never throws, says why when unusable, and the choice follows it. */
class CudaBackendProviderTest {
    @Test
    void probeNeverThrowsAndExplains() {
        CudaBackendProvider provider = new CudaBackendProvider();
        assertEquals("cuda", provider.name());
        assertEquals(300, provider.priority());
        BackendAvailability a = provider.probe();
        System.out.println("cuda probe: usable=" + a.usable() + " " + a.reason() + " " + a.facts());
        if (!a.usable()) {
            assertTrue(a.reason().startsWith("0 GPUs because "), a.reason());
            assertThrows(IllegalStateException.class, () -> provider.create(1));
        } else {
            assertTrue(a.facts().containsKey("device"));
        }
    }

    @Test
    void choiceFollowsTheProbe() {
        BackendAvailability a = new CudaBackendProvider().probe();
        assertTrue(Backends.candidates().stream().anyMatch(c -> c.name().equals("cuda")), "cuda provider is discovered");
        Backends.Choice auto = Backends.choose("auto");
        if (a.usable()) {
            assertEquals("cuda", auto.provider().name());
        } else {
            assertNotEquals("cuda", auto.provider().name());
            assertTrue(auto.explanation().contains("cuda unusable: 0 GPUs because"), auto.explanation());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.choose("cuda"));
            assertTrue(e.getMessage().contains("0 GPUs because"), e.getMessage());
        }
    }

    /**
     * Naming cuda where it cannot run told a Java caller "(--device auto falls back to the best usable backend)", the
     * CLI's option, and with the name from -Dfalcon.backend (choose(null)) did not say it came from there. The API's
     * messages name Backends.choose("auto") and the property; the CLI's (choose(name, "--device auto")) are as they were.
     */
    @Test
    void anUnusableBackendsMessageNamesTheWayBackToAutoOfTheCaller() {
        assumeFalse(new CudaBackendProvider().probe().usable(), "cuda is usable here");
        String given = assertThrows(IllegalArgumentException.class, () -> Backends.choose("cuda")).getMessage();
        assertTrue(given.startsWith("backend 'cuda' cannot run here: 0 GPUs because ")
                && given.endsWith(" (Backends.choose(\"auto\") falls back to the best usable backend)"), given);
        String cli = assertThrows(IllegalArgumentException.class, () -> Backends.choose("cuda", "--device auto")).getMessage();
        assertTrue(cli.startsWith("backend 'cuda' cannot run here: 0 GPUs because ")
                && cli.endsWith(" (--device auto falls back to the best usable backend)"), cli);
        String before = System.getProperty(Backends.PROPERTY);
        try {
            System.setProperty(Backends.PROPERTY, "cuda");
            String property = assertThrows(IllegalArgumentException.class, () -> Backends.choose(null)).getMessage();
            assertTrue(property.startsWith("the system property falcon.backend names backend 'cuda', which cannot run here: 0 GPUs because ")
                    && property.endsWith(" (-Dfalcon.backend=auto (or no such property) falls back to the best usable backend,"
                            + " as Backends.choose(\"auto\") does)"), property);
            assertFalse(property.contains("--device") || given.contains("--device"), given + " / " + property);
        } finally {
            if (before == null) System.clearProperty(Backends.PROPERTY);
            else System.setProperty(Backends.PROPERTY, before);
        }
    }
}
