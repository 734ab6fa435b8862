package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The order of the cuda backend's X^T u in double, the one exception to ComputeBackend's "each column's sum runs over
 * the rows in order": one warp per column, lane l summing rows l, l + 32, ... and the 32 lane sums added as a tree
 * (16, 8, 4, 2, 1 apart), on the CPU driver. The GPU also fuses each lane's multiply-adds (nvcc contracts them; the
 * driver, built without FMA, does not), so its bits are the driver's only to rounding: the contract bounds both.
 */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicTransposedOrderTest {
    private static final int LANES = 32;

    /**
     * How far the cuda backend's column sums may be from the in-order ones at n rows, per unit of sum_i |x_ij u_i|:
     * an in-order sum is within n units of rounding (2^-53) of the exact one, the lanes' sums and their tree within
     * n / 32 + 6, fused or not; (n + 8) 2^-52 covers both, whatever the data.
     */
    static double orderTolerance(int n) {
        return (n + 8) * 0x1p-52;
    }

    /** The documented order in plain Java (which fuses nothing): the CPU driver's bits, column by column. */
    @Test
    void eachColumnIsThirtyTwoLaneStridedSumsAddedAsATree() {
        SplittableRandom random = new SplittableRandom(23);
        for (int n : new int[] {1, 31, 33, 1000}) {
            int p = 64;
            try (HostMatrix x = HostMatrix.allocate(n, p); DoublePointer u = new DoublePointer(n); DoublePointer got = new DoublePointer(p);
                 DoublePointer inOrder = new DoublePointer(p); CudaLogicOnCpu cuda = new CudaLogicOnCpu(); JavaBackend java = new JavaBackend()) {
                java.fillUniform(x.data(), (long) n * p, 3, 1f);
                for (int i = 0; i < n; i++) u.put(i, random.nextDouble(-1, 1) * Math.pow(10, random.nextInt(8)));
                cuda.multiplyTransposedSummedInDouble(x, u, got);
                java.multiplyTransposedSummedInDouble(x, u, inOrder);
                int differing = 0;
                for (int j = 0; j < p; j++) {
                    double[] lane = new double[LANES];
                    for (int l = 0; l < LANES; l++) {
                        for (int i = l; i < n; i += LANES) lane[l] += (double) x.data().get((long) j * n + i) * u.get(i);
                    }
                    for (int half = LANES / 2; half > 0; half >>= 1) {
                        for (int l = 0; l < half; l++) lane[l] += lane[l + half];
                    }
                    assertEquals(lane[0], got.get(j), 0, n + " rows, column " + j + ": not the lanes' and the tree's order");
                    if (got.get(j) != inOrder.get(j)) differing++;
                }
                // at 1000 rows the orders differ in their last bits (60 of 64 columns here): the exception the javadoc names is real
                if (n == 1000) assertTrue(differing > 0, "the lanes' order gave the in-order bits in every column");
            }
        }
    }
}
