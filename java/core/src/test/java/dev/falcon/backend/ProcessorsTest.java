package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ProcessorsTest {
    @Test
    void aCpuListCountsEveryCpuOfItsRanges() {
        assertEquals(1, Processors.countList("0"));
        assertEquals(2, Processors.countList("0-1\n"));
        assertEquals(7, Processors.countList("\t0-3,8,10-11"));
        assertThrows(IllegalArgumentException.class, () -> Processors.countList("3-1"));
        assertThrows(IllegalArgumentException.class, () -> Processors.countList("ff"));
    }

    @Test
    void theUsableProcessorsAreNeverMoreThanTheJvmsCountOrTheAffinitys() {
        int usable = Processors.usable(), affinity = Processors.affinity();
        assertTrue(usable >= 1 && usable <= Runtime.getRuntime().availableProcessors(), "usable " + usable);
        if (affinity > 0) assertTrue(usable <= affinity, "usable " + usable + ", affinity " + affinity);
    }
}
