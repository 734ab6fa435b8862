package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.cuda.nativelib.FalconCuda;
import dev.falcon.examples.ExampleModels;
import java.util.Arrays;
import java.util.Locale;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The segmented sort's prefix sums on the GPU against the CPU driver's, bit for bit: both run the bodies of
 * falcon_cuda_logic.cuh in the order they fix, whatever the device and the launch. Prints how long the scan and the
 * whole sort take on the device for ResNet50's 25.5 million weights. Skipped, with the probe's reason, where no GPU
 * is usable.
 */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaScanTest {

    /** The device's prefix sums of values in any order, the scan alone, on the legacy default stream. */
    private static double[] scanOnTheDevice(float[] values, long[] starts) {
        int count = values.length;
        try (FloatPointer in = new FloatPointer(values); LongPointer s = new LongPointer(starts);
             DoublePointer out = new DoublePointer(Math.max(1, count));
             DeviceBuffer dValues = DeviceBuffer.device((long) count * Float.BYTES);
             DeviceBuffer dStarts = DeviceBuffer.device((long) starts.length * Long.BYTES);
             DeviceBuffer dPrefix = DeviceBuffer.device((long) count * Double.BYTES);
             DeviceBuffer dScan = DeviceBuffer.device(DeviceMemoryPlan.scanScratchBytes(count))) {
            dValues.copyFromHost(in, (long) count * Float.BYTES, "copy to device");
            dStarts.copyFromHost(s, (long) starts.length * Long.BYTES, "copy to device");
            CudaNative.check(FalconCuda.fcu_segmented_prefix_sums(dValues.floats(0), dStarts.pointer(), starts.length - 1, count,
                    dPrefix.doubles(0), dScan.doubles(0), null), "segmented prefix sums");
            dPrefix.copyToHost(out, (long) count * Double.BYTES, "copy to host");
            double[] sums = new double[count];
            out.get(sums);
            return sums;
        }
    }

    /** Empty segments, segments around tile boundaries and one of 3 million: the scan alone, twice. */
    @Test
    void scanGivesTheCpuDriversBits() {
        long[] starts = CudaLogicScanTest.starts(CudaLogicScanTest.AWKWARD_SIZES);
        float[] values = CudaLogicScanTest.scores((int) starts[starts.length - 1], 21); // the scan needs no order
        long[] want = CudaLogicScanTest.bits(CudaLogicScanTest.scanOnTheDriver(values, starts));
        assertArrayEquals(want, CudaLogicScanTest.bits(scanOnTheDevice(values, starts)), "the GPU's scan");
        assertArrayEquals(want, CudaLogicScanTest.bits(scanOnTheDevice(values, starts)), "the GPU's scan, again");
    }

    /** Through the backends (which refuse empty segments), with and without indices as the selection asks. */
    @Test
    void sortGivesTheCpuDriversBits() {
        long[] starts = CudaLogicScanTest.starts(CudaLogicScanTest.nonEmpty(CudaLogicScanTest.AWKWARD_SIZES));
        int count = (int) starts[starts.length - 1];
        float[] scores = CudaLogicScanTest.scores(count, 22);
        try (ComputeBackend gpu = new CudaBackendProvider().create(2); CudaLogicOnCpu cpu = new CudaLogicOnCpu();
             FloatPointer in = new FloatPointer(scores); FloatPointer sortedGpu = new FloatPointer(count);
             FloatPointer sortedCpu = new FloatPointer(count); IntPointer indexGpu = new IntPointer(count);
             IntPointer indexCpu = new IntPointer(count); DoublePointer prefixGpu = new DoublePointer(count);
             DoublePointer prefixCpu = new DoublePointer(count); DoublePointer prefixAgain = new DoublePointer(count)) {
            gpu.sortSegmentsDescending(in, starts, sortedGpu, indexGpu, prefixGpu);
            cpu.sortSegmentsDescending(in, starts, sortedCpu, indexCpu, prefixCpu);
            assertArrayEquals(ints(indexCpu, count), ints(indexGpu, count), "indices");
            assertArrayEquals(doubleBits(prefixCpu, count), doubleBits(prefixGpu, count), "prefix sums");
            gpu.sortSegmentsDescending(in, starts, sortedGpu, null, prefixAgain);
            assertArrayEquals(doubleBits(prefixCpu, count), doubleBits(prefixAgain, count), "prefix sums without indices");
        }
    }

    /**
     * magnitude asks for no prefix sums: the device then skips the scan and copies back 8 bytes per score fewer (204 MB
     * of ResNet50's 25.5 million weights), with the same values and indices.
     */
    @Test
    void sortWithoutPrefixSumsCopiesBackOnlyTheValuesAndIndices() {
        long[] starts = CudaLogicScanTest.starts(CudaLogicScanTest.nonEmpty(CudaLogicScanTest.AWKWARD_SIZES));
        int count = (int) starts[starts.length - 1];
        float[] scores = CudaLogicScanTest.scores(count, 24);
        try (CudaBackend gpu = (CudaBackend) new CudaBackendProvider().create(2); FloatPointer in = new FloatPointer(scores);
             FloatPointer sorted = new FloatPointer(count); FloatPointer sortedAgain = new FloatPointer(count);
             IntPointer index = new IntPointer(count); IntPointer indexAgain = new IntPointer(count);
             DoublePointer prefix = new DoublePointer(count)) {
            long start = gpu.bytesCopiedToHost();
            gpu.sortSegmentsDescending(in, starts, sorted, index, prefix);
            long withSums = gpu.bytesCopiedToHost() - start;
            gpu.sortSegmentsDescending(in, starts, sortedAgain, indexAgain, null);
            long withoutSums = gpu.bytesCopiedToHost() - start - withSums;
            assertEquals((long) count * (Float.BYTES + Integer.BYTES + Double.BYTES), withSums, "bytes copied back with prefix sums");
            assertEquals((long) count * (Float.BYTES + Integer.BYTES), withoutSums, "bytes copied back without prefix sums");
            assertArrayEquals(ints(index, count), ints(indexAgain, count), "indices without prefix sums");
            float[] values = new float[count], valuesAgain = new float[count];
            sorted.position(0).get(values);
            sortedAgain.position(0).get(valuesAgain);
            assertArrayEquals(values, valuesAgain, "values without prefix sums");
        }
    }

    /**
     * What only a GPU shows: the time of the scan (three passes) and of the whole sort on the device, copies excluded,
     * for ResNet50's weights as magnitude sorts them (one segment) and as the projection does (one per layer).
     */
    @Test
    void timesTheScanAndTheSortAtResNet50Size() {
        long[] perLayer = ExampleModels.get("resnet50").layers().segmentStarts();
        int count = (int) perLayer[perLayer.length - 1];
        float[] scores = CudaLogicScanTest.scores(count, 23);
        for (long[] starts : new long[][] {{0, count}, perLayer}) {
            try (FloatPointer in = new FloatPointer(scores); LongPointer s = new LongPointer(starts);
                 FloatPointer sorted = new FloatPointer(count); DoublePointer prefix = new DoublePointer(count);
                 DeviceBuffer dScores = DeviceBuffer.device((long) count * Float.BYTES);
                 DeviceBuffer dStarts = DeviceBuffer.device((long) starts.length * Long.BYTES);
                 DeviceBuffer dSorted = DeviceBuffer.device((long) count * Float.BYTES);
                 DeviceBuffer dIndex = DeviceBuffer.device((long) count * Integer.BYTES);
                 DeviceBuffer dPrefix = DeviceBuffer.device((long) count * Double.BYTES);
                 DeviceBuffer dKeys = DeviceBuffer.device((long) count * Long.BYTES);
                 DeviceBuffer dScan = DeviceBuffer.device(DeviceMemoryPlan.scanScratchBytes(count))) {
                dScores.copyFromHost(in, (long) count * Float.BYTES, "copy to device");
                dStarts.copyFromHost(s, (long) starts.length * Long.BYTES, "copy to device");
                long[] bad = {-1};
                double[] sortMs = new double[5], scanMs = new double[5];
                for (int run = -1; run < 5; run++) { // run -1 warms up
                    long t0 = System.nanoTime();
                    CudaNative.check(FalconCuda.fcu_sort_segments(dScores.floats(0), dStarts.pointer(), starts.length - 1, count,
                            dSorted.floats(0), dIndex.ints(0), dPrefix.doubles(0), dKeys.pointer(), dScan.doubles(0), bad, null),
                            "segmented sort");
                    CudaNative.check(FalconCuda.fcu_stream_sync(null), "cudaStreamSynchronize");
                    long t1 = System.nanoTime();
                    CudaNative.check(FalconCuda.fcu_segmented_prefix_sums(dSorted.floats(0), dStarts.pointer(), starts.length - 1,
                            count, dPrefix.doubles(0), dScan.doubles(0), null), "segmented prefix sums");
                    CudaNative.check(FalconCuda.fcu_stream_sync(null), "cudaStreamSynchronize");
                    long t2 = System.nanoTime();
                    if (run >= 0) {
                        sortMs[run] = (t1 - t0) / 1e6;
                        scanMs[run] = (t2 - t1) / 1e6;
                    }
                }
                assertEquals(-1, bad[0]);
                dSorted.copyToHost(sorted, (long) count * Float.BYTES, "copy to host");
                dPrefix.copyToHost(prefix, (long) count * Double.BYTES, "copy to host");
                float[] values = new float[count];
                double[] sums = new double[count];
                sorted.get(values);
                prefix.get(sums);
                CudaLogicScanTest.assertAccurate(values, starts, sums, "the GPU's prefix sums");
                Arrays.sort(sortMs);
                Arrays.sort(scanMs);
                System.out.printf(Locale.ROOT, "[gpu timing] p=%d in %d segment(s): scan %.3f ms, whole sort %.3f ms (medians of 5)%n",
                        count, starts.length - 1, scanMs[2], sortMs[2]);
            }
        }
    }

    private static int[] ints(IntPointer p, int count) {
        int[] a = new int[count];
        p.position(0).get(a);
        return a;
    }

    private static long[] doubleBits(DoublePointer p, int count) {
        double[] a = new double[count];
        p.position(0).get(a);
        return CudaLogicScanTest.bits(a);
    }
}
