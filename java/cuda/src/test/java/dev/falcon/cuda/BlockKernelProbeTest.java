package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The probe's check of -Dfalcon.cuda.blockKernel, which a GPU run reaches after finding the device. */
class BlockKernelProbeTest {
    private static CudaNative.Result probeWith(String kernel, Map<String, String> facts) {
        String before = System.getProperty(BlockGramKernel.PROPERTY);
        System.setProperty(BlockGramKernel.PROPERTY, kernel);
        try {
            return CudaNative.putBlockKernel(facts);
        } finally {
            if (before == null) System.clearProperty(BlockGramKernel.PROPERTY);
            else System.setProperty(BlockGramKernel.PROPERTY, before);
        }
    }

    /** README: the INFO line and falcon env say why the cuda backend is not taken "always as '0 GPUs because ...'". */
    @Test
    void aMistypedKernelIsAReasonInTheProbesWords() {
        CudaNative.Result r = probeWith("cluster4", new LinkedHashMap<>());
        assertFalse(r.usable());
        assertEquals("0 GPUs because -Dfalcon.cuda.blockKernel = 'cluster4' is not a block product kernel: use one of tree, warp,"
                + " cluster8, cluster16", r.reason());
    }

    @Test
    void aValidKernelIsAFact() {
        Map<String, String> facts = new LinkedHashMap<>();
        assertNull(probeWith("tree", facts));
        assertTrue(facts.get("block.kernel").startsWith("tree (-Dfalcon.cuda.blockKernel="), facts.toString());
    }
}
