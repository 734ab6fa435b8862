package dev.falcon.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.runner.BenchmarkList;
import org.openjdk.jmh.runner.BenchmarkListEntry;
import org.openjdk.jmh.runner.format.OutputFormatFactory;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * The trials JMH makes of DeviceProductBenchmark (from the annotation processor's list): a trial per block product
 * kernel, and one for each benchmark that does not depend on the kernel. Run once on a borrowed GPU
 * (scripts/device-figures.sh), a trial repeated per kernel value spends its time for nothing.
 */
class DeviceProductBenchmarkTest {
    @Test
    void onlyTheBlockProductIsRunForEachKernel() {
        Map<String, Map<String, String[]>> params = new TreeMap<>();
        for (BenchmarkListEntry e : BenchmarkList.defaultList().find(OutputFormatFactory.createFormatInstance(System.out, VerboseMode.SILENT),
                List.of(DeviceProductBenchmark.class.getName() + "\\."), List.of())) {
            params.put(e.getUsername().substring(e.getUsername().lastIndexOf('.') + 1), e.getParams().orElse(Map.of()));
        }
        assertEquals(List.of("deviceBlockProduct", "deviceRead", "deviceTwoProducts"), List.copyOf(params.keySet()));
        assertArrayEquals(new String[] {"tree", "warp", "cluster8", "cluster16"}, params.get("deviceBlockProduct").get("kernel"));
        assertFalse(params.get("deviceRead").containsKey("kernel"), "deviceRead does not use the kernel");
        assertFalse(params.get("deviceTwoProducts").containsKey("kernel"), "deviceTwoProducts does not use the kernel");
    }
}
