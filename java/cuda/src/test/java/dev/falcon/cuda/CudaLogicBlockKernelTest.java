package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.falcon.backend.JavaBackend;
import dev.falcon.cuda.nativelib.CudaLogic;
import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Every block product kernel's bodies, run on the CPU with its launch geometry (clusters, row lanes and column
 * groups, warps) against the java reference, on shapes that reach each kernel's edge cases.
 */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicBlockKernelTest {

    /** n: one row; below a warp; lanes rounded up with four column groups (100 -> 128 x 4); more rows than lanes. */
    private static final int[] ROWS = {1, 31, 100, 513};

    @ParameterizedTest
    @EnumSource(BlockGramKernel.class)
    void matchesTheReferenceOnBlocksNarrowerAndWiderThanTheCluster(BlockGramKernel kernel) {
        // widths 1, 3 and 7 leave slices of a cluster empty; 40 and 129 split unevenly; a zero-width gap never occurs
        long[] starts = {0, 1, 4, 11, 51, 180};
        int p = (int) starts[starts.length - 1];
        for (int n : ROWS) {
            try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p); FloatPointer got = new FloatPointer(p);
                 FloatPointer want = new FloatPointer(p); JavaBackend reference = new JavaBackend();
                 CudaLogicOnCpu backend = new CudaLogicOnCpu(kernel)) {
                reference.fillUniform(x.data(), (long) n * p, 11 + n, 1f);
                reference.fillUniform(d, p, 12 + n, 1f);
                for (int j = 0; j < p; j += 3) d.put(j, 0f); // zero entries are skipped in the first pass only
                backend.blockGramProduct(x, starts, d, got);
                reference.blockGramProduct(x, starts, d, want);
                for (int j = 0; j < p; j++) {
                    float w = want.get(j);
                    assertEquals(w, got.get(j), 2e-6f * Math.max(1f, Math.abs(w)), kernel.id() + ", n = " + n + ", column " + j);
                }
            }
        }
    }

    /**
     * The sliced kernels' second pass reads a slice's first columns from the copy phase 1 left in shared memory and
     * the rest from X: at n = 2000 the emulated 227 KiB hold 23 columns, so the blocks here are cached exactly, partly
     * (76 columns for warp) and, for the clusters, split into slices that are cached partly too (300 columns).
     */
    @ParameterizedTest
    @EnumSource(value = BlockGramKernel.class, names = {"WARP", "CLUSTER8", "CLUSTER16"})
    void theSecondPassReadsTheCachedAndTheUncachedColumns(BlockGramKernel kernel) {
        int n = 2000;
        long[] starts = {0, 23, 24, 100, 400};
        int p = (int) starts[starts.length - 1];
        assertEquals(23, (BlockGramKernel.EMULATED_SHARED_BYTES - kernel.sumsSharedBytes(n)) / (n * Float.BYTES));
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p); FloatPointer got = new FloatPointer(p);
             FloatPointer want = new FloatPointer(p); JavaBackend reference = new JavaBackend();
             CudaLogicOnCpu backend = new CudaLogicOnCpu(kernel)) {
            reference.fillUniform(x.data(), (long) n * p, 21, 1f);
            reference.fillUniform(d, p, 22, 1f);
            for (int j = 0; j < p; j += 3) d.put(j, 0f); // cached columns are copied whatever their d
            backend.blockGramProduct(x, starts, d, got);
            reference.blockGramProduct(x, starts, d, want);
            for (int j = 0; j < p; j++) {
                float w = want.get(j);
                assertEquals(w, got.get(j), 2e-6f * Math.max(1f, Math.abs(w)), kernel.id() + ", column " + j);
            }
        }
    }

    /** Each kernel's order of summation is fixed: the same call twice gives the same bits. */
    @ParameterizedTest
    @EnumSource(BlockGramKernel.class)
    void isDeterministic(BlockGramKernel kernel) {
        int n = 100, p = 300;
        long[] starts = {0, 120, 300};
        try (HostMatrix x = HostMatrix.allocate(n, p); FloatPointer d = new FloatPointer(p); FloatPointer a = new FloatPointer(p);
             FloatPointer b = new FloatPointer(p); JavaBackend reference = new JavaBackend();
             CudaLogicOnCpu backend = new CudaLogicOnCpu(kernel)) {
            reference.fillUniform(x.data(), (long) n * p, 5, 1f);
            reference.fillUniform(d, p, 6, 1f);
            backend.blockGramProduct(x, starts, d, a);
            backend.blockGramProduct(x, starts, d, b);
            for (int j = 0; j < p; j++) assertEquals(Float.floatToIntBits(a.get(j)), Float.floatToIntBits(b.get(j)), "column " + j);
        }
    }

    /** The backend falls back to the tree kernel from the same shared-memory need the native launch computes. */
    @Test
    void theSumsSharedMemoryAgreesWithTheKernels() {
        for (long n : new long[] {1, 31, 32, 33, 100, 128, 129, 511, 512, 513, 1000, 9685, 20000}) {
            assertEquals(CudaLogic.fcl_slice_sums_shared_bytes(n), BlockGramKernel.CLUSTER8.sumsSharedBytes(n), "n = " + n);
        }
        assertEquals(0, BlockGramKernel.TREE.sumsSharedBytes(512));
    }

    @Test
    void anUnknownKernelNameSaysWhichExist() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BlockGramKernel.parse("cluster4", "-D" + BlockGramKernel.PROPERTY));
        assertEquals("-Dfalcon.cuda.blockKernel = 'cluster4' is not a block product kernel: use one of tree, warp, cluster8, cluster16",
                e.getMessage());
    }
}
