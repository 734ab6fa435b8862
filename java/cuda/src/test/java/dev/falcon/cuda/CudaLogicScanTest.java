package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.cuda.nativelib.CudaLogic;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The segmented sort's prefix sums as the GPU adds them (three passes over tiles of {@code kScanTile} positions,
 * falcon_cuda_logic.cuh), run by the CPU driver on segments around and across tile boundaries.
 */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicScanTest {
    static final int TILE = (int) DeviceMemoryPlan.SCAN_TILE;

    /**
     * How far the cuda backends' prefix sums may be from the reference's serial ones in the shared contract, per unit of
     * the sum: measured below 1e-15 there (up to 210,000 scores of one magnitude, whose roundings go both ways; the
     * two orders' worst cases add up to 2.4e-11).
     */
    static final double SERIAL_TOLERANCE = 1e-12;

    private static final double UNIT_ROUNDOFF = Math.ulp(1.0) / 2;

    /**
     * Segment sizes around tile boundaries: empty, 1, tile - 1, tile, tile + 1, several tiles, starts falling on a
     * tile's first and last position, and one segment of a few million.
     */
    static final int[] AWKWARD_SIZES = {
        1, 0, TILE - 1, TILE, 0, 0, TILE + 1, 1, TILE - 2, TILE - 1, 1, TILE - 1, 3 * TILE + 5, 2 * TILE, 7,
        3_000_017, 0, 1, TILE, 5, 0};

    /** Starts of segments of the given sizes (empty ones allowed: the kernels accept them, the backends refuse them). */
    static long[] starts(int[] sizes) {
        long[] starts = new long[sizes.length + 1];
        for (int s = 0; s < sizes.length; s++) starts[s + 1] = starts[s] + sizes[s];
        return starts;
    }

    /** The awkward sizes without the empty segments, for the backends. */
    static int[] nonEmpty(int[] sizes) {
        return Arrays.stream(sizes).filter(size -> size > 0).toArray();
    }

    /** Non-negative scores over many binary orders of magnitude (so that nearly every addition rounds), ties and zeros. */
    static float[] scores(int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] scores = new float[count];
        for (int i = 0; i < count; i++) {
            scores[i] = switch (random.nextInt(6)) {
                case 0 -> 0f;
                case 1 -> random.nextInt(4);
                default -> (float) Math.scalb(random.nextDouble(), random.nextInt(-40, 20));
            };
        }
        return scores;
    }

    record Sorted(float[] values, double[] prefix) {}

    /** The CPU driver's sort and prefix sums. */
    static Sorted sortOnTheDriver(float[] scores, long[] starts) {
        int count = scores.length;
        try (FloatPointer in = new FloatPointer(scores); FloatPointer sorted = new FloatPointer(Math.max(1, count));
             IntPointer index = new IntPointer(Math.max(1, count)); DoublePointer prefix = new DoublePointer(Math.max(1, count))) {
            assertEquals(-1, CudaLogic.fcl_sort_segments(in, starts, starts.length - 1, sorted, index, prefix));
            float[] values = new float[count];
            double[] sums = new double[count];
            sorted.get(values);
            prefix.get(sums);
            return new Sorted(values, sums);
        }
    }

    /** The CPU driver's prefix sums alone, of values in any order. */
    static double[] scanOnTheDriver(float[] values, long[] starts) {
        int count = values.length;
        try (FloatPointer in = new FloatPointer(values); DoublePointer prefix = new DoublePointer(Math.max(1, count))) {
            CudaLogic.fcl_segmented_prefix_sums(in, starts, starts.length - 1, prefix);
            double[] sums = new double[count];
            prefix.get(sums);
            return sums;
        }
    }

    /**
     * Each segment's prefix sums to within about 2^-53 of the sum: compensated (Neumaier) sums, whose error is
     * 2^-53 |sum| + O(terms 2^-106) of the sum of absolute values.
     */
    static double[] accuratePrefixSums(float[] sorted, long[] starts) {
        double[] prefix = new double[sorted.length];
        for (int s = 0; s + 1 < starts.length; s++) {
            double sum = 0, compensation = 0;
            for (int e = (int) starts[s]; e < starts[s + 1]; e++) {
                double v = sorted[e], t = sum + v;
                compensation += Math.abs(sum) >= Math.abs(v) ? (sum - t) + v : (v - t) + sum;
                sum = t;
                prefix[e] = sum + compensation;
            }
        }
        return prefix;
    }

    /**
     * Every prefix sum within the tiled order's error bound: a position's sum is at most kScanTile local additions,
     * one per earlier tile of its segment and the carry's, each rounding by at most 2^-53 of the sum so far (scores
     * >= 0). A serial sum's bound grows with the segment's length instead, and its error does for scores sorted in
     * descending order, whose small values round the same way: 3.6e-12 of the sum at 3 million, 10 times this bound.
     */
    static void assertAccurate(float[] sorted, long[] starts, double[] got, String what) {
        double[] want = accuratePrefixSums(sorted, starts);
        for (int s = 0; s + 1 < starts.length; s++) {
            int first = (int) starts[s], end = (int) starts[s + 1];
            if (first == end) continue;
            assertEquals(sorted[first], got[first], what + ": segment " + s + " restarts at its first score");
            for (int e = first; e < end; e++) {
                long tilesBefore = e / TILE - first / TILE;
                double bound = (TILE + tilesBefore + 2) * UNIT_ROUNDOFF * want[e];
                assertEquals(want[e], got[e], bound, what + ": segment " + s + " (" + (end - first) + " scores), position "
                        + (e - first));
            }
        }
    }

    static long[] bits(double[] values) {
        return Arrays.stream(values).mapToLong(Double::doubleToRawLongBits).toArray();
    }

    /** The Java side sizes the scan's scratch by the tile the kernels use: both must agree. */
    @Test
    void scratchIsSizedByTheKernelsTile() {
        assertEquals(CudaLogic.fcl_scan_tile(), DeviceMemoryPlan.SCAN_TILE);
    }

    @Test
    void awkwardSegmentsAreSummedAccuratelyAndRepeatBitForBit() {
        long[] starts = starts(AWKWARD_SIZES);
        float[] scores = scores((int) starts[starts.length - 1], 11);
        Sorted first = sortOnTheDriver(scores, starts);
        assertAccurate(first.values(), starts, first.prefix(), "prefix sums");
        Sorted again = sortOnTheDriver(scores, starts);
        assertArrayEquals(bits(first.prefix()), bits(again.prefix()), "a second run's prefix sums");
        assertArrayEquals(bits(first.prefix()), bits(scanOnTheDriver(first.values(), starts)), "the scan alone");
    }

    /**
     * The order of the additions, written out here as falcon_cuda_logic.cuh documents it: whatever device runs the
     * kernels, this is the sum each position gets, bit for bit.
     */
    static double[] tiledPrefixSums(float[] sorted, long[] starts) {
        int count = sorted.length, tiles = (count + TILE - 1) / TILE;
        boolean[] segmentStart = new boolean[count + 1];
        for (long start : starts) segmentStart[(int) start] = true;
        double[] prefix = new double[count];
        double[] tails = new double[tiles];
        for (int t = 0; t < tiles; t++) {
            double running = 0;
            for (int e = t * TILE; e < Math.min(count, (t + 1) * TILE); e++) {
                if (segmentStart[e]) running = 0;
                prefix[e] = running += sorted[e];
            }
            tails[t] = running;
        }
        for (int s = 0; s + 1 < starts.length; s++) {
            double carry = 0;
            for (long t = starts[s] / TILE + 1; t * TILE < starts[s + 1]; t++) {
                carry += tails[(int) t - 1];
                for (long e = t * TILE; e < Math.min(starts[s + 1], (t + 1) * TILE); e++) prefix[(int) e] += carry;
            }
        }
        return prefix;
    }

    @Test
    void sumsAreAddedInTilesInTheDocumentedOrder() {
        long[] starts = starts(AWKWARD_SIZES);
        float[] scores = scores((int) starts[starts.length - 1], 12);
        Sorted got = sortOnTheDriver(scores, starts);
        assertArrayEquals(bits(tiledPrefixSums(got.values(), starts)), bits(got.prefix()));
    }
}
