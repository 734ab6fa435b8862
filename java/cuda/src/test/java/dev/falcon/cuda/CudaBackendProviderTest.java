package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
}
