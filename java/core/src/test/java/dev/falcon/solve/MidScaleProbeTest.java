package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * README's "Solver quality" cites MidScaleProbe's figures; run as its siblings are shown, without arguments, it read
 * args[0] and ended in an ArrayIndexOutOfBoundsException. It prints its usage line and exits 2 instead.
 */
class MidScaleProbeTest {
    private static ProbeUsageTest.Exit probe(String... args) throws IOException, InterruptedException {
        return ProbeUsageTest.probe(MidScaleProbe.class, args);
    }

    @Test
    void withoutArgumentsItPrintsItsUsageAndExits2() throws Exception {
        ProbeUsageTest.Exit bare = probe();
        assertEquals(2, bare.code(), bare.err());
        assertEquals("MidScaleProbe: takes 4 arguments, or 8 with the ranges of n and p; got 0\n" + MidScaleProbe.USAGE + "\n",
                bare.err());
        assertTrue(MidScaleProbe.USAGE.startsWith("usage: java -cp java/core/target/test-classes:java/cli/target/falcon.jar "
                + "dev.falcon.solve.MidScaleProbe COUNT SEED KICKS PASSES"), MidScaleProbe.USAGE);
    }

    @Test
    void aWrongArgumentIsNamed() {
        assertEquals("COUNT is 'forty', not a whole number",
                assertThrows(IllegalArgumentException.class, () -> MidScaleProbe.Arguments.parse(new String[] {"forty", "1", "2", "3"})).getMessage());
        assertEquals("COUNT is 0; give at least 1",
                assertThrows(IllegalArgumentException.class, () -> MidScaleProbe.Arguments.parse(new String[] {"0", "1", "2", "3"})).getMessage());
        assertEquals("MAX_P is 100; give at least 200", assertThrows(IllegalArgumentException.class,
                () -> MidScaleProbe.Arguments.parse(new String[] {"1", "1", "2", "3", "16", "64", "200", "100"})).getMessage());
        assertEquals("takes 4 arguments, or 8 with the ranges of n and p; got 5",
                assertThrows(IllegalArgumentException.class, () -> MidScaleProbe.Arguments.parse(new String[] {"1", "1", "2", "3", "16"})).getMessage());
        assertEquals(new MidScaleProbe.Arguments(40, 20261207, 100, 1000, 16, 64, 200, 2000),
                MidScaleProbe.Arguments.parse(new String[] {"40", "20261207", "100", "1000"}));
    }
}
