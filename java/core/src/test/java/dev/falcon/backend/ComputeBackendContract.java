package dev.falcon.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.falcon.data.ElementType;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.solve.CountingBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract every {@link ComputeBackend} must meet, checked operation by operation against the
 * reference {@link JavaBackend} on random data. A backend module extends this class (it ships in
 * falcon-core's test-jar) and implements {@link #createBackend(int)}.
 *
 * <p>Tolerances are principled: a float product is compared against the reference within
 * {@code tol * (|X| |v|)} computed on absolute values, the scale of its rounding error; everything
 * without arithmetic (fills, gathers, loads, sorts, indices) must match exactly, and so must the sort's prefix sums
 * unless the backend adds them in another order than the reference's serial one ({@link #prefixSumTolerance()}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ComputeBackendContract {
    /** Shapes (n, p): n=1, p below/not a multiple of SIMD and block widths, tall and wide. */
    protected static final int[][] SHAPES = {{1, 1}, {1, 37}, {5, 3}, {17, 1001}, {64, 515}, {100, 2003}, {33, 257}};

    protected ComputeBackend backend;
    protected ComputeBackend reference;
    private final List<AutoCloseable> resources = new ArrayList<>();

    @TempDir
    Path dir;

    /** The backend under test, using {@code threads} threads. */
    protected abstract ComputeBackend createBackend(int threads);

    /** Threads for the backend under test (more than one, to exercise partitioning). */
    protected int threads() { return 2; }

    /** Relative tolerance of float products against the reference, per unit of |X||v|. */
    protected double productTolerance() { return 2e-6; }

    /**
     * Tolerance of the sort's prefix sums against the reference's, per unit of the reference's sum (the scores are
     * non-negative, so that is the sum of their absolute values): 0, bit for bit, for a backend that adds each segment
     * serially as the reference does.
     */
    protected double prefixSumTolerance() { return 0; }

    /**
     * Tolerance of {@link ComputeBackend#multiplyTransposedSummedInDouble} against the reference at n rows, per unit of
     * the column's {@code sum_i |x_ij u_i|}: 0, bit for bit, for a backend that sums each column over the rows in order
     * as the interface promises; a backend documented as summing in another order states its bound here.
     */
    protected double transposedSummedInDoubleTolerance(int n) { return 0; }

    @BeforeAll
    void createBackends() {
        backend = createBackend(threads());
        reference = new JavaBackend();
    }

    @AfterAll
    void closeBackends() throws Exception {
        for (AutoCloseable c : resources) c.close();
        backend.close();
        reference.close();
    }

    // ---------------------------------------------------------------- helpers

    protected <T extends AutoCloseable> T track(T resource) {
        resources.add(resource);
        return resource;
    }

    protected FloatPointer floats(float[] values) {
        FloatPointer p = track(new FloatPointer(Math.max(1, values.length)));
        p.put(values, 0, values.length);
        return p;
    }

    protected static float[] get(FloatPointer p, long count) {
        float[] a = new float[Math.toIntExact(count)];
        p.position(0).get(a);
        return a;
    }

    protected static double[] get(DoublePointer p, long count) {
        double[] a = new double[Math.toIntExact(count)];
        p.position(0).get(a);
        return a;
    }

    protected static int[] get(IntPointer p, long count) {
        int[] a = new int[Math.toIntExact(count)];
        p.position(0).get(a);
        return a;
    }

    protected HostMatrix matrix(float[] columnMajor, int n, int p) {
        HostMatrix x = track(HostMatrix.allocate(n, p));
        x.data().put(columnMajor, 0, columnMajor.length);
        return x;
    }

    protected static float[] randomFloats(SplittableRandom random, int count) {
        float[] a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (float) (random.nextDouble() * 2 - 1);
        return a;
    }

    protected static float[] abs(float[] a) {
        float[] b = new float[a.length];
        for (int i = 0; i < a.length; i++) b[i] = Math.abs(a[i]);
        return b;
    }

    /** Asserts |got - want| <= tol * scale + tiny, element by element. */
    protected static void assertClose(String what, float[] want, float[] got, float[] scale, double tol) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            double bound = tol * scale[i] + 1e-30;
            if (!(Math.abs((double) got[i] - want[i]) <= bound)) {
                fail(what + ": entry " + i + " is " + got[i] + ", reference " + want[i] + " (bound " + bound + ")");
            }
        }
    }

    private static long[] blockStarts(int p, int... sizes) {
        List<Long> s = new ArrayList<>();
        long at = 0;
        s.add(0L);
        int k = 0;
        while (at < p) {
            at = Math.min(p, at + sizes[k++ % sizes.length]);
            s.add(at);
        }
        return s.stream().mapToLong(Long::longValue).toArray();
    }

    /** X in the layout the backend under test chooses for these blocks (panels on cpu), holding the same values. */
    protected HostMatrix ownLayout(float[] columnMajor, int n, int p, long[] blocks) {
        HostMatrix x = track(backend.allocate(n, p, blocks));
        FloatPointer data = x.data();
        for (int j = 0; j < p; j++) {
            for (int i = 0; i < n; i++) data.put(x.storageIndex(i, j), columnMajor[j * n + i]);
        }
        return x;
    }

    /** Element (i, j) of x in column-major order, whatever its layout. */
    protected static float[] columnMajorValues(HostMatrix x) {
        float[] a = new float[Math.toIntExact(x.elements())];
        for (long j = 0; j < x.cols(); j++) {
            for (long i = 0; i < x.rows(); i++) a[(int) (j * x.rows() + i)] = x.data().get(x.storageIndex(i, j));
        }
        return a;
    }

    /** Layout blocks for the own-layout tests: one column each, irregular, one panel, the solver's default. */
    private static List<long[]> layoutBlocks(int p) {
        return List.of(blockStarts(p, 3, 1, 64, 17), blockStarts(p, p), blockStarts(p, 2000), blockStarts(p, 1));
    }

    // ---------------------------------------------------------------- synthetic data

    @Test
    void fillUniformMatchesReferenceBitForBit() {
        for (long count : new long[] {1, 15, 100_003, 300_001}) {
            FloatPointer a = track(new FloatPointer(count)), b = track(new FloatPointer(count));
            backend.fillUniform(a, count, 20261125L + count, 0.75f);
            reference.fillUniform(b, count, 20261125L + count, 0.75f);
            assertArrayEquals(get(b, count), get(a, count), "fillUniform, count " + count);
        }
    }

    @Test
    void fillSyntheticGradientsMatchesReferenceBitForBit() {
        int[][] cases = {{1, 5, 1}, {17, 101, 3}, {64, 130, 8}, {33, 7, 16}};
        for (int[] c : cases) {
            HostMatrix a = track(HostMatrix.allocate(c[0], c[1])), b = track(HostMatrix.allocate(c[0], c[1]));
            backend.fillSyntheticGradients(a, c[2], 0.1f, 42);
            reference.fillSyntheticGradients(b, c[2], 0.1f, 42);
            assertArrayEquals(get(b.data(), b.elements()), get(a.data(), a.elements()),
                    "fillSyntheticGradients " + c[0] + " x " + c[1] + " rank " + c[2]);
        }
    }

    /**
     * A rank below 1 is refused on every backend: the java backend, the oracle, filled X with NaN at rank 0 without a word
     * and threw NegativeArraySizeException at rank -1, where cpu refused both.
     */
    @Test
    void fillSyntheticGradientsRefusesARankBelowOne() {
        HostMatrix x = track(HostMatrix.allocate(4, 6));
        backend.fillUniform(x.data(), x.elements(), 1, 1f);
        for (int rank : new int[] {0, -1}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.fillSyntheticGradients(x, rank, 0.1f, 1),
                    backend.name() + " rank " + rank);
            assertEquals("fillSyntheticGradients: rank must be >= 1, got " + rank, e.getMessage());
        }
        assertEquals(-1, backend.firstNonFinite(x), backend.name() + ": X is left as it was");
    }

    // ---------------------------------------------------------------- products

    @Test
    void productsMatchReference() {
        SplittableRandom random = new SplittableRandom(1);
        for (int[] shape : SHAPES) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p);
            HostMatrix x = matrix(xs, n, p), ax = matrix(abs(xs), n, p);
            float[] vs = randomFloats(random, p), us = randomFloats(random, n);
            vs[p / 2] = 0f; // a zero entry (the reference skips it)
            FloatPointer v = floats(vs), u = floats(us), av = floats(abs(vs)), au = floats(abs(us));
            FloatPointer got = track(new FloatPointer(Math.max(n, p))), want = track(new FloatPointer(Math.max(n, p)));
            FloatPointer scale = track(new FloatPointer(Math.max(n, p)));

            backend.multiply(x, v, got);
            reference.multiply(x, v, want);
            reference.multiply(ax, av, scale);
            assertClose("X v " + n + "x" + p, get(want, n), get(got, n), get(scale, n), productTolerance() * Math.sqrt(p));

            backend.multiplyTransposed(x, u, got);
            reference.multiplyTransposed(x, u, want);
            reference.multiplyTransposed(ax, au, scale);
            assertClose("X^T u " + n + "x" + p, get(want, p), get(got, p), get(scale, p), productTolerance() * Math.sqrt(n));

            for (long[] starts : List.of(blockStarts(p, 1), blockStarts(p, 7), blockStarts(p, p),
                    blockStarts(p, 2000), blockStarts(p, 3, 1, 64, 17))) {
                backend.blockGramProduct(x, starts, v, got);
                reference.blockGramProduct(x, starts, v, want);
                reference.blockGramProduct(ax, starts, av, scale);
                assertClose("block product " + n + "x" + p + " (" + (starts.length - 1) + " blocks)",
                        get(want, p), get(got, p), get(scale, p), productTolerance() * Math.sqrt(n + p));
            }
        }
    }

    /**
     * Pairs of equal columns with opposite v cancel, leaving the last column's small product: what a backsolve's
     * residual X d looks like to the objective. Float partial sums (the cpu backend's multiply) keep their rounding.
     */
    /**
     * Relative: below a float's rounding (up to 2^-24, about 6e-8; 2.3e-8 on the first 5 x 2001 row), which a tolerance
     * of 1e-6 let a result rounded to float pass, and above what double partial sums of the cancelling pairs leave in
     * another order than the column's (the cpu backend's panels: 2.4e-11 there; 1e-12 refused them).
     */
    private static final double SUMMED_IN_DOUBLE_TOLERANCE = 1e-9;

    @Test
    void multiplySummedInDoubleKeepsASmallResidualOfLargeProducts() {
        SplittableRandom random = new SplittableRandom(9);
        for (int[] shape : new int[][] {{5, 2001}, {16, 4001}, {33, 257}}) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p), vs = randomFloats(random, p);
            for (int j = 0; j + 1 < p - 1; j += 2) {
                System.arraycopy(xs, j * n, xs, (j + 1) * n, n);
                vs[j + 1] = -vs[j];
            }
            vs[p - 1] = 1e-4f;
            double[] want = new double[n];
            boolean floatRoundingShows = false;
            for (int i = 0; i < n; i++) {
                want[i] = (double) xs[(p - 1) * n + i] * vs[p - 1]; // exact: two floats' product
                floatRoundingShows |= Math.abs((float) want[i] - want[i]) > SUMMED_IN_DOUBLE_TOLERANCE * Math.abs(want[i]);
            }
            // a sum rounded to float at the end (the bug this method exists to remove) must miss the tolerance
            assertTrue(floatRoundingShows, "no row of " + n + "x" + p + " tells a float result from a double one");
            FloatPointer v = floats(vs);
            DoublePointer got = track(new DoublePointer(n));
            List<HostMatrix> layouts = new ArrayList<>(List.of(matrix(xs, n, p)));
            for (long[] blocks : layoutBlocks(p)) layouts.add(ownLayout(xs, n, p, blocks));
            for (HostMatrix x : layouts) {
                backend.multiplySummedInDouble(x, v, got);
                double[] g = get(got, n);
                for (int i = 0; i < n; i++) {
                    assertEquals(want[i], g[i], SUMMED_IN_DOUBLE_TOLERANCE * Math.abs(want[i]), "X v summed in double, " + n + "x" + p
                            + (x.isColumnMajor() ? "" : " in panels") + ", row " + i);
                }
            }
        }
    }

    /**
     * u = B (e_0 - e_{n-1}) + y with rows 0 and n-1 of X equal: X^T annihilates the large part, as it does the part of the
     * Woodbury backsolve's M^{-1} right side that M's near singularity amplified, and X^T u = X^T y exactly. Float
     * sums keep B's rounding (6e-8 B), u rounded to float y's (6e-8 |y|), a result rounded to float its own: each misses
     * the tolerance, 1e-9 of the largest entry; double sums in any order keep about 1e-16 B per addition.
     */
    @Test
    void multiplyTransposedSummedInDoubleCancelsALargePartOfUExactly() {
        SplittableRandom random = new SplittableRandom(21);
        double large = 4096;
        for (int[] shape : new int[][] {{5, 2001}, {40, 515}, {100, 257}, {2, 37}}) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p);
            for (int j = 0; j < p; j++) xs[j * n + n - 1] = xs[j * n];
            double[] us = new double[n];
            for (int i = 0; i < n; i++) us[i] = random.nextDouble(-1, 1);
            us[0] += large;
            us[n - 1] -= large;
            // exact: a float times a double, and their sum, are exact in BigDecimal
            double[] want = new double[p];
            double largest = 0;
            for (int j = 0; j < p; j++) {
                java.math.BigDecimal sum = java.math.BigDecimal.ZERO;
                for (int i = 0; i < n; i++) sum = sum.add(new java.math.BigDecimal(xs[j * n + i]).multiply(new java.math.BigDecimal(us[i])));
                want[j] = sum.doubleValue();
                largest = Math.max(largest, Math.abs(want[j]));
            }
            double tolerance = 1e-9 * largest;
            // what multiplyTransposed gives (u in float) must miss the tolerance: the test tells float from double
            float[] uf = new float[n];
            for (int i = 0; i < n; i++) uf[i] = (float) us[i];
            FloatPointer floatOut = track(new FloatPointer(p));
            reference.multiplyTransposed(matrix(xs, n, p), floats(uf), floatOut);
            float[] viaFloat = get(floatOut, p);
            boolean floatShows = false;
            for (int j = 0; j < p; j++) floatShows |= Math.abs(viaFloat[j] - want[j]) > tolerance;
            assertTrue(floatShows, "no column of " + n + "x" + p + " tells u in float from u in double");
            DoublePointer u = track(new DoublePointer(us));
            DoublePointer got = track(new DoublePointer(p));
            List<HostMatrix> layouts = new ArrayList<>(List.of(matrix(xs, n, p)));
            for (long[] blocks : layoutBlocks(p)) layouts.add(ownLayout(xs, n, p, blocks));
            for (HostMatrix x : layouts) {
                got.fill(0xff); // NaN where a column is left unwritten
                backend.multiplyTransposedSummedInDouble(x, u, got);
                double[] g = get(got, p);
                for (int j = 0; j < p; j++) {
                    assertEquals(want[j], g[j], tolerance, "X^T u summed in double, " + n + "x" + p
                            + (x.isColumnMajor() ? "" : " in panels") + ", column " + j);
                }
            }
        }
    }

    /**
     * u of magnitudes from 1 to 1e7 against a uniform X: the order of each column's sum shows in its last bits (the cuda
     * kernel's 32 lane-strided partial sums and their tree differ from the in-order sum already in column 0), so a
     * backend that keeps the interface's order gives the reference's bits on every layout.
     */
    @Test
    void multiplyTransposedSummedInDoubleSumsEachColumnOverTheRowsInOrder() {
        int n = 1000, p = 64;
        SplittableRandom random = new SplittableRandom(22);
        float[] xs = randomFloats(random, n * p);
        double[] us = new double[n];
        for (int i = 0; i < n; i++) us[i] = random.nextDouble(-1, 1) * Math.pow(10, random.nextInt(8));
        DoublePointer u = track(new DoublePointer(us));
        DoublePointer got = track(new DoublePointer(p)), want = track(new DoublePointer(p));
        reference.multiplyTransposedSummedInDouble(matrix(xs, n, p), u, want);
        double tolerance = transposedSummedInDoubleTolerance(n);
        List<HostMatrix> layouts = new ArrayList<>(List.of(matrix(xs, n, p)));
        for (long[] blocks : layoutBlocks(p)) layouts.add(ownLayout(xs, n, p, blocks));
        for (HostMatrix x : layouts) {
            got.fill(0xff); // NaN where a column is left unwritten
            backend.multiplyTransposedSummedInDouble(x, u, got);
            for (int j = 0; j < p; j++) {
                String what = "X^T u summed in double, " + n + "x" + p + (x.isColumnMajor() ? "" : " in panels") + ", column " + j;
                if (tolerance == 0) {
                    assertEquals(want.get(j), got.get(j), 0, what + ": not the rows' order");
                } else {
                    double scale = 0;
                    for (int i = 0; i < n; i++) scale += Math.abs(xs[j * n + i] * us[i]);
                    assertEquals(want.get(j), got.get(j), tolerance * scale, what);
                }
            }
        }
    }

    /**
     * Every operation on X checks its vectors against X's n and p before touching native memory: a short, null or closed
     * vector is an IllegalArgumentException naming the operation, the argument, the length needed and the length held.
     * Unchecked, a short out was written past its end (SIGSEGV, or "munmap_chunk(): invalid pointer" at a later free, on
     * cpu and java alike) and a short u or v read past its end (1e275 or NaN returned without a word).
     */
    @Test
    void shortNullOrClosedVectorsAreRefusedBeforeAnyKernelRuns() {
        int n = 64, p = 515;
        HostMatrix x = matrix(randomFloats(new SplittableRandom(5), n * p), n, p);
        String rows = "(n = " + n + ", the rows of X)", cols = "(p = " + p + ", the columns of X)";
        FloatPointer vP = floats(new float[p]), vN = floats(new float[n]);
        DoublePointer uN = track(new DoublePointer(n)), outN = track(new DoublePointer(n)), outP = track(new DoublePointer(p));
        FloatPointer floatOutN = track(new FloatPointer(n)), floatOutP = track(new FloatPointer(p));
        FloatPointer closedFloats = new FloatPointer(p);
        closedFloats.close();
        long[] blocks = {0, 100, p};
        IntPointer columns = track(new IntPointer(new int[] {0, 3, 7}));
        List<Object[]> cases = List.of(
                // what, call, the message's start; first a short input, which read past its end without crashing, so that
                // a backend without the checks fails here rather than writing past an output's end
                new Object[] {"u of X^T u summed in double short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplyTransposedSummedInDouble(x, track(new DoublePointer(3)), outP),
                        "multiplyTransposedSummedInDouble: u " + rows + " holds 3 elements but " + n + " are needed"},
                new Object[] {"out of X v summed in double short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplySummedInDouble(x, vP, track(new DoublePointer(2))),
                        "multiplySummedInDouble: out " + rows + " holds 2 elements but " + n + " are needed"},
                new Object[] {"v of X v summed in double short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplySummedInDouble(x, floats(new float[10]), outN),
                        "multiplySummedInDouble: v " + cols + " holds 10 elements but " + p + " are needed"},
                new Object[] {"out of X^T u summed in double short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplyTransposedSummedInDouble(x, uN, track(new DoublePointer(10))),
                        "multiplyTransposedSummedInDouble: out " + cols + " holds 10 elements but " + p + " are needed"},
                new Object[] {"u of X^T u summed in double null", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplyTransposedSummedInDouble(x, null, outP),
                        "multiplyTransposedSummedInDouble: u " + rows + " is null"},
                new Object[] {"out of X v short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiply(x, vP, track(new FloatPointer(10))),
                        "multiply: out " + rows + " holds 10 elements but " + n + " are needed"},
                new Object[] {"v of X v closed", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiply(x, closedFloats, floatOutN),
                        "multiply: v " + cols + " is a null pointer (was it closed"},
                new Object[] {"out of X^T u short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplyTransposed(x, vN, track(new FloatPointer(10))),
                        "multiplyTransposed: out " + cols + " holds 10 elements but " + p + " are needed"},
                new Object[] {"u of X^T u at a position near its end", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiplyTransposed(x, floats(new float[n]).position(1), floatOutP),
                        "multiplyTransposed: u " + rows + " holds " + (n - 1) + " elements but " + n + " are needed"},
                // a position past the end (a caller stepping through a buffer one step too far) holds nothing: it was
                // read as an unknown length, and X v returned NaN read past v and wrote past out without a word
                new Object[] {"v of X v at a position past its end", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiply(x, floats(new float[p]).position(p + 1), floatOutN),
                        "multiply: v " + cols + " holds 0 elements but " + p + " are needed"},
                new Object[] {"out of X v at a position at its end", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiply(x, vP, track(new FloatPointer(n)).position(n)),
                        "multiply: out " + rows + " holds 0 elements but " + n + " are needed"},
                new Object[] {"out of X v at a position past its capacity, no limit", (org.junit.jupiter.api.function.Executable) () ->
                        backend.multiply(x, vP, track(new FloatPointer(n)).limit(0).position(n + 1)),
                        "multiply: out " + rows + " holds 0 elements but " + n + " are needed"},
                new Object[] {"d of the block product short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.blockGramProduct(x, blocks, floats(new float[p - 1]), floatOutP),
                        "blockGramProduct: d " + cols + " holds " + (p - 1) + " elements but " + p + " are needed"},
                new Object[] {"out of the block product null", (org.junit.jupiter.api.function.Executable) () ->
                        backend.blockGramProduct(x, blocks, vP, null),
                        "blockGramProduct: out " + cols + " is null"},
                new Object[] {"dst of the gather short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.gatherColumns(x, columns, 3, track(new FloatPointer(2L * n))),
                        "gatherColumns: dst (n k = " + n + " x 3, the gathered columns) holds " + (2 * n) + " elements but " + (3 * n) + " are needed"},
                new Object[] {"columns of the gather short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.gatherColumns(x, columns, 4, track(new FloatPointer(4L * n))),
                        "gatherColumns: columns (k = 4, the columns to gather) holds 3 elements but 4 are needed"},
                new Object[] {"k of the gather negative", (org.junit.jupiter.api.function.Executable) () ->
                        backend.gatherColumns(x, columns, -1, floatOutN),
                        "gatherColumns: k is -1"},
                new Object[] {"gram short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.weightedGram(x, null, track(new DoublePointer((long) n * n - 1))),
                        "weightedGram: gram (n x n = " + n + " x " + n + ", n the rows of X) holds " + (n * n - 1) + " elements but " + (n * n) + " are needed"},
                new Object[] {"column weights short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.weightedGram(x, floats(new float[p - 2]), track(new DoublePointer((long) n * n))),
                        "weightedGram: columnWeights " + cols + " holds " + (p - 2) + " elements but " + p + " are needed"},
                new Object[] {"single-precision gram short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.singlePrecisionGram(x, track(new DoublePointer(n))),
                        // the default is weightedGram's check, the cpu backend's its own: either names the gram
                        ": gram (n x n = " + n + " x " + n + ", n the rows of X) holds " + n + " elements but " + (n * n) + " are needed"},
                // the operations sized by their own arguments rather than by X: a short a was factored in place past its end
                // (the JVM aborted), and a short scores sorted with what lay past it
                new Object[] {"matrix to factor short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.choleskyFactor(track(new DoublePointer(8)), 3),
                        "choleskyFactor: a (n x n = 3 x 3) holds 8 elements but 9 are needed"},
                new Object[] {"factor of the solve short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.choleskySolve(track(new DoublePointer(8)), 3, track(new DoublePointer(6)), 2),
                        "choleskySolve: factor (n x n = 3 x 3) holds 8 elements but 9 are needed"},
                new Object[] {"right-hand sides of the solve short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.choleskySolve(track(new DoublePointer(9)), 3, track(new DoublePointer(5)), 2),
                        "choleskySolve: b (n x nrhs = 3 x 2) holds 5 elements but 6 are needed"},
                new Object[] {"fill short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.fillUniform(track(new FloatPointer(10)), 11, 1, 1f),
                        "fillUniform: dst (count = 11) holds 10 elements but 11 are needed"},
                new Object[] {"scores of the sort short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.sortSegmentsDescending(floats(new float[9]), new long[] {0, 4, 10}, track(new FloatPointer(10)), null, null),
                        "sortSegmentsDescending: scores (the last segment start, 10) holds 9 elements but 10 are needed"},
                new Object[] {"indices of the sort short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.sortSegmentsDescending(floats(new float[10]), new long[] {0, 4, 10}, track(new FloatPointer(10)),
                                track(new IntPointer(9)), null),
                        "sortSegmentsDescending: indexOut (the last segment start, 10) holds 9 elements but 10 are needed"},
                new Object[] {"prefix sums of the sort short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.sortSegmentsDescending(floats(new float[10]), new long[] {0, 4, 10}, track(new FloatPointer(10)),
                                null, track(new DoublePointer(3))),
                        "sortSegmentsDescending: prefixOut (the last segment start, 10) holds 3 elements but 10 are needed"},
                new Object[] {"sorted of the counts short", (org.junit.jupiter.api.function.Executable) () ->
                        backend.countAbove(floats(new float[9]), new long[] {0, 4, 10}, new double[2], new long[2]),
                        "countAbove: sorted (the last segment start, 10) holds 9 elements but 10 are needed"});
        for (Object[] c : cases) {
            String what = backend.name() + ": " + c[0];
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, (org.junit.jupiter.api.function.Executable) c[1], what);
            String expected = (String) c[2];
            assertTrue(expected.startsWith(":") ? e.getMessage().contains(expected) : e.getMessage().startsWith(expected),
                    what + " said: " + e.getMessage());
        }
        // the vectors of the right lengths still work, the checks having read no data
        backend.multiplySummedInDouble(x, vP, outN);
        backend.multiplyTransposedSummedInDouble(x, uN, outP);
    }

    @Test
    void blockStartsAreValidated() {
        HostMatrix x = matrix(new float[12], 3, 4);
        FloatPointer d = floats(new float[4]), out = floats(new float[4]);
        assertThrows(IllegalArgumentException.class, () -> backend.blockGramProduct(x, new long[] {0, 2, 3}, d, out));
        assertThrows(IllegalArgumentException.class, () -> backend.blockGramProduct(x, new long[] {0, 2, 2, 4}, d, out));
        assertThrows(IllegalArgumentException.class, () -> backend.blockGramProduct(x, new long[] {1, 4}, d, out));
    }

    /** Work after close() is refused with IllegalStateException on every backend, the reference included. */
    /**
     * Bad blocks are refused by load and loadCopy as by allocate, on every backend and for every file layout: java (and
     * cuda) kept {0, 3} for a 5-column X, cpu refused it for a C-order file and kept it for a Fortran-order float32 one.
     */
    @Test
    void loadRefusesBadBlocksAsAllocateDoesWhateverTheFileLayout() throws IOException {
        int n = 4, p = 5;
        float[] values = randomFloats(new SplittableRandom(3), n * p);
        for (boolean rowMajor : new boolean[] {false, true}) {
            String name = "blocks-" + (rowMajor ? "C" : "F") + ".raw";
            Path file = writeRaw(name, values, null, n, p, ElementType.FLOAT32, rowMajor, ByteOrder.LITTLE_ENDIAN, 64);
            RawMatrixSource source = new RawMatrixSource(file, 64, ElementType.FLOAT32, ByteOrder.LITTLE_ENDIAN, rowMajor, n, p);
            for (long[] blocks : new long[][] {{0, 3}, {0, 3, 3, 5}, {1, 5}}) {
                String what = backend.name() + " " + name + " " + java.util.Arrays.toString(blocks);
                String allocateSays = assertThrows(IllegalArgumentException.class, () -> backend.allocate(n, p, blocks).close(), what).getMessage();
                assertEquals(allocateSays, assertThrows(IllegalArgumentException.class, () -> backend.load(source, blocks).close(), what).getMessage(), what);
                assertEquals(allocateSays, assertThrows(IllegalArgumentException.class, () -> backend.loadCopy(source, blocks).close(), what).getMessage(), what);
            }
        }
    }

    @Test
    void aClosedBackendRefusesWork() {
        ComputeBackend closed = createBackend(1);
        HostMatrix x = track(HostMatrix.allocate(3, 5));
        FloatPointer v = track(new FloatPointer(5)), out = track(new FloatPointer(3));
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.multiply(x, v, out), closed.name());
        assertThrows(IllegalStateException.class, () -> closed.sortSegmentsDescending(v, new long[] {0, 5}, track(new FloatPointer(5)),
                track(new IntPointer(5L)), track(new DoublePointer(5))), closed.name());
        closed.close(); // a second close is harmless
    }

    /**
     * A negative length, or one whose bytes a long cannot count, is refused before JavaCPP allocates: floatVector(-1)
     * aborted the JVM on the cpu and java backends (std::bad_array_new_length in C++, exit 134), so no catch ran, and
     * allocate of rows * cols beyond a long threw an ArithmeticException.
     */
    @Test
    void anAllocationOfANegativeOrOverflowingLengthIsRefusedBeforeAnyNativeCall() {
        try (ComputeBackend backend = createBackend(1)) {
            for (long length : new long[] {-1, -5_000_000_000L, Long.MIN_VALUE, (Long.MAX_VALUE - Float.BYTES) / Float.BYTES + 1, Long.MAX_VALUE}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.floatVector(length).close(),
                        backend.name() + " floatVector(" + length + ")");
                assertTrue(e.getMessage().startsWith("floatVector: length is " + length + "; it must be >= 0"), e.getMessage());
            }
            long[][] shapes = {{-1, 4}, {4, -1}, {0, 4}, {1L << 32, 1L << 32}, {Long.MAX_VALUE / 4, 1}, {Long.MAX_VALUE, Long.MAX_VALUE}};
            for (long[] shape : shapes) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.allocate(shape[0], shape[1], null).close(),
                        backend.name() + " allocate(" + shape[0] + ", " + shape[1] + ")");
                assertTrue(e.getMessage().contains(shape[0] + " x " + shape[1]), e.getMessage());
            }
            try (FloatPointer empty = backend.floatVector(0)) {
                assertEquals(0, empty.capacity(), backend.name() + ": an empty vector is still given");
            }
        }
    }

    /**
     * The calls that allocate are refused after close() too, naming the closed backend: floatVector handed out fresh
     * vectors from a closed cpu backend (and allocate from the java one), and cuda's load said "cpu backend was closed",
     * its host's.
     */
    @Test
    void aClosedBackendRefusesToAllocate() throws IOException {
        float[] values = new float[12];
        Path file = writeRaw("closed.raw", values, null, 3, 4, ElementType.FLOAT32, false, ByteOrder.LITTLE_ENDIAN, 64);
        RawMatrixSource source = new RawMatrixSource(file, 64, ElementType.FLOAT32, ByteOrder.LITTLE_ENDIAN, false, 3, 4);
        long[] blocks = {0, 2, 4};
        ComputeBackend closed = createBackend(1);
        String refusal = closed.name() + " backend was closed";
        closed.close();
        List<org.junit.jupiter.api.function.Executable> calls = List.of(
                () -> closed.floatVector(4).close(),
                () -> closed.allocate(3, 4, null).close(),
                () -> closed.allocate(3, 4, blocks).close(),
                () -> closed.load(source).close(),
                () -> closed.load(source, blocks).close(),
                () -> closed.loadCopy(source).close(),
                () -> closed.loadCopy(source, blocks).close());
        List<String> names = List.of("floatVector", "allocate", "allocate with blocks", "load", "load with blocks", "loadCopy",
                "loadCopy with blocks");
        for (int i = 0; i < calls.size(); i++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, calls.get(i), closed.name() + " " + names.get(i));
            assertEquals(refusal, e.getMessage(), names.get(i));
        }
    }

    /**
     * Every call of the interface that works on data is refused after close(), naming the closed backend: the
     * cuda-logic-cpu backend handed X^T u and the Cholesky calls to its java host, whose refusal named the java backend.
     * The calls are read from the interface, so one added later is covered too (its parameter types need an argument
     * below); each is given arguments it would accept on an open backend, so only the close can refuse it.
     */
    @Test
    void aClosedBackendRefusesEveryCallNamingItself() throws Exception {
        Path file = writeRaw("closed-every.raw", new float[12], null, 3, 4, ElementType.FLOAT32, false, ByteOrder.LITTLE_ENDIAN, 64);
        RawMatrixSource source = new RawMatrixSource(file, 64, ElementType.FLOAT32, ByteOrder.LITTLE_ENDIAN, false, 3, 4);
        HostMatrix x = track(HostMatrix.allocate(3, 4));
        // by parameter type: a 3 x 4 X; starts {0, 2, 4} as its column blocks and as two segments of 4 scores; 4 as a
        // count, a length or a column count, 2 as a system's order, a rank or a right-hand side count; vectors and index
        // lists zero-filled, systems the identity (which factors), all longer than any of these shapes read or write
        java.util.Map<Class<?>, java.util.function.Supplier<Object>> arguments = java.util.Map.of(
                HostMatrix.class, () -> x,
                RawMatrixSource.class, () -> source,
                long[].class, () -> new long[] {0, 2, 4},
                double[].class, () -> new double[] {0, 0, 0},
                long.class, () -> 4L,
                int.class, () -> 2,
                float.class, () -> 0.5f,
                FloatPointer.class, () -> floats(new float[64]),
                DoublePointer.class, () -> track(new DoublePointer(new double[64])).put(0, 1).put(3, 1), // the 2 x 2 identity first
                IntPointer.class, () -> track(new IntPointer(new int[64])));
        // facts of the instance, as a report of a closed backend may still give them
        java.util.Set<String> notWork = java.util.Set.of("name", "threads", "openBlasThreads", "description", "close");
        ComputeBackend closed = createBackend(1);
        String refusal = closed.name() + " backend was closed";
        closed.close();
        List<String> checked = new ArrayList<>();
        for (java.lang.reflect.Method call : ComputeBackend.class.getMethods()) {
            if (java.lang.reflect.Modifier.isStatic(call.getModifiers()) || notWork.contains(call.getName())) continue;
            String what = closed.name() + "." + call.getName() + Arrays.toString(call.getParameterTypes());
            Object[] values = new Object[call.getParameterCount()];
            for (int i = 0; i < values.length; i++) {
                java.util.function.Supplier<Object> value = arguments.get(call.getParameterTypes()[i]);
                if (value == null) fail(what + ": no argument for a " + call.getParameterTypes()[i].getName() + "; add one to this test");
                values[i] = value.get();
            }
            java.lang.reflect.InvocationTargetException thrown =
                    assertThrows(java.lang.reflect.InvocationTargetException.class, () -> closeResult(call.invoke(closed, values)), what);
            assertTrue(thrown.getCause() instanceof IllegalStateException, what + " threw " + thrown.getCause());
            assertEquals(refusal, thrown.getCause().getMessage(), what);
            checked.add(call.getName());
        }
        assertTrue(checked.containsAll(List.of("multiply", "multiplyTransposed", "choleskyFactor", "choleskySolve", "singlePrecisionGram",
                "countAbove", "load", "floatVector")), "calls checked: " + checked);
    }

    /** What a call that should have been refused returned, freed (a matrix or a vector), so the test leaks nothing. */
    private static void closeResult(Object result) throws Exception {
        if (result instanceof AutoCloseable resource) resource.close();
    }

    @Test
    void resultsAreDeterministicAcrossCalls() {
        SplittableRandom random = new SplittableRandom(2);
        int n = 64, p = 4099;
        HostMatrix x = matrix(randomFloats(random, n * p), n, p);
        FloatPointer d = floats(randomFloats(random, p));
        FloatPointer a = track(new FloatPointer(p)), b = track(new FloatPointer(p));
        long[] starts = blockStarts(p, 100);
        backend.blockGramProduct(x, starts, d, a);
        backend.blockGramProduct(x, starts, d, b);
        assertArrayEquals(get(a, p), get(b, p), "block product twice");
        backend.multiply(x, d, a);
        backend.multiply(x, d, b);
        assertArrayEquals(get(a, n), get(b, n), "X v twice");
        backend.multiplyTransposed(x, d, a);
        backend.multiplyTransposed(x, d, b);
        assertArrayEquals(get(a, p), get(b, p), "X^T u twice");
        DoublePointer g1 = track(new DoublePointer((long) n * n)), g2 = track(new DoublePointer((long) n * n));
        backend.weightedGram(x, d, g1);
        backend.weightedGram(x, d, g2);
        assertArrayEquals(get(g1, (long) n * n), get(g2, (long) n * n), "weighted Gram twice");
    }

    @Test
    void weightedGramLeavesTheCallersPointersAsTheyWere() {
        int n = 3, p = 40;
        SplittableRandom random = new SplittableRandom(5);
        HostMatrix x = matrix(randomFloats(random, n * p), n, p);
        float[] ws = randomFloats(random, p + 8); // a caller's buffer longer than p: its limit is the caller's business
        for (int j = 0; j < p; j += 3) ws[j] = -ws[j];
        for (float[] weights : new float[][] {ws, new float[p + 8]}) {
            FloatPointer w = floats(weights);
            DoublePointer g = track(new DoublePointer((long) n * n + 5));
            backend.weightedGram(x, w, g);
            assertEquals(0, w.position(), "weights position");
            assertEquals(p + 8, w.limit(), "weights limit");
            assertEquals(0, g.position(), "gram position");
            assertEquals((long) n * n + 5, g.limit(), "gram limit");
        }
    }

    @Test
    void gatherColumnsIsExact() {
        SplittableRandom random = new SplittableRandom(3);
        for (int[] shape : SHAPES) {
            int n = shape[0], p = shape[1];
            HostMatrix x = matrix(randomFloats(random, n * p), n, p);
            int k = Math.min(p, 50) + 2;
            int[] cols = new int[k];
            for (int c = 0; c < k; c++) cols[c] = random.nextInt(p);
            cols[0] = 0;
            cols[1] = p - 1;
            IntPointer columns = track(new IntPointer(cols));
            FloatPointer a = track(new FloatPointer((long) n * k)), b = track(new FloatPointer((long) n * k));
            backend.gatherColumns(x, columns, k, a);
            reference.gatherColumns(x, columns, k, b);
            assertArrayEquals(get(b, (long) n * k), get(a, (long) n * k), "gather " + n + "x" + p);
        }
        HostMatrix x = matrix(new float[6], 2, 3);
        FloatPointer dst = floats(new float[2]);
        assertThrows(IndexOutOfBoundsException.class, () -> backend.gatherColumns(x, track(new IntPointer(new int[] {3})), 1, dst));
        assertThrows(IndexOutOfBoundsException.class, () -> backend.gatherColumns(x, track(new IntPointer(new int[] {-1})), 1, dst));
    }

    // ---------------------------------------------------------------- the backend's own layout of X

    @Test
    void ownLayoutFillsLoadsAndFindsNonFiniteLikeTheReference() throws IOException {
        int[][] cases = {{1, 5, 1}, {17, 101, 3}, {64, 130, 8}, {33, 7, 16}};
        for (int[] c : cases) {
            HostMatrix b = track(HostMatrix.allocate(c[0], c[1]));
            reference.fillSyntheticGradients(b, c[2], 0.1f, 42);
            for (long[] blocks : layoutBlocks(c[1])) {
                HostMatrix a = track(backend.allocate(c[0], c[1], blocks));
                backend.fillSyntheticGradients(a, c[2], 0.1f, 42);
                assertArrayEquals(get(b.data(), b.elements()), columnMajorValues(a),
                        "fillSyntheticGradients " + c[0] + " x " + c[1] + " in " + a.layout());
            }
        }
        SplittableRandom random = new SplittableRandom(15);
        for (int[] shape : new int[][] {{1, 9}, {7, 1}, {17, 1001}, {70, 4100}}) {
            int n = shape[0], p = shape[1];
            float[] values = randomFloats(random, n * p);
            for (ElementType type : new ElementType[] {ElementType.FLOAT32, ElementType.FLOAT64}) {
                for (boolean rowMajor : new boolean[] {false, true}) {
                    String name = "own-" + type + (rowMajor ? "-C-" : "-F-") + n + "x" + p + ".raw";
                    Path file = writeRaw(name, values, null, n, p, type, rowMajor, ByteOrder.BIG_ENDIAN, 64);
                    RawMatrixSource source = new RawMatrixSource(file, 64, type, ByteOrder.BIG_ENDIAN, rowMajor, n, p);
                    try (HostMatrix want = reference.load(source)) {
                        for (long[] blocks : layoutBlocks(p)) {
                            try (HostMatrix got = backend.load(source, blocks)) {
                                assertArrayEquals(get(want.data(), want.elements()), columnMajorValues(got), name + " in " + got.layout());
                            }
                        }
                    }
                }
            }
            for (long[] blocks : layoutBlocks(p)) {
                HostMatrix x = ownLayout(values, n, p, blocks);
                assertEquals(-1, backend.firstNonFinite(x), "all finite in " + x.layout());
                int i = random.nextInt(n), j = random.nextInt(p);
                x.data().put(x.storageIndex(i, j), Float.NaN);
                assertArrayEquals(new long[] {i, j}, x.elementAt(backend.firstNonFinite(x)), "the NaN in " + x.layout());
            }
        }
    }

    @Test
    void ownLayoutProductsGathersAndGramsMatchReference() {
        SplittableRandom random = new SplittableRandom(16);
        for (int[] shape : SHAPES) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p);
            HostMatrix ref = matrix(xs, n, p), ax = matrix(abs(xs), n, p);
            float[] vs = randomFloats(random, p), us = randomFloats(random, n);
            FloatPointer v = floats(vs), u = floats(us), av = floats(abs(vs)), au = floats(abs(us));
            FloatPointer got = track(new FloatPointer(Math.max(n, p))), want = track(new FloatPointer(Math.max(n, p)));
            FloatPointer scale = track(new FloatPointer(Math.max(n, p)));
            int k = Math.min(p, 50) + 2;
            int[] cols = new int[k];
            for (int c = 0; c < k; c++) cols[c] = random.nextInt(p);
            cols[0] = p - 1;
            IntPointer columns = track(new IntPointer(cols));
            long nn = (long) n * n;
            for (long[] layout : layoutBlocks(p)) {
                HostMatrix x = ownLayout(xs, n, p, layout);
                String in = n + "x" + p + " in " + x.layout();

                backend.multiply(x, v, got);
                reference.multiply(ref, v, want);
                reference.multiply(ax, av, scale);
                assertClose("X v " + in, get(want, n), get(got, n), get(scale, n), productTolerance() * Math.sqrt(p));

                backend.multiplyTransposed(x, u, got);
                reference.multiplyTransposed(ref, u, want);
                reference.multiplyTransposed(ax, au, scale);
                assertClose("X^T u " + in, get(want, p), get(got, p), get(scale, p), productTolerance() * Math.sqrt(n));

                // blocks equal to the layout, and blocks cutting across it
                for (long[] starts : List.of(layout, blockStarts(p, 7), blockStarts(p, 3, 1, 64, 17))) {
                    backend.blockGramProduct(x, starts, v, got);
                    reference.blockGramProduct(ref, starts, v, want);
                    reference.blockGramProduct(ax, starts, av, scale);
                    assertClose("block product " + in + " (" + (starts.length - 1) + " blocks)",
                            get(want, p), get(got, p), get(scale, p), productTolerance() * Math.sqrt(n + p));
                }

                FloatPointer a = track(new FloatPointer((long) n * k)), b = track(new FloatPointer((long) n * k));
                backend.gatherColumns(x, columns, k, a);
                reference.gatherColumns(ref, columns, k, b);
                assertArrayEquals(get(b, (long) n * k), get(a, (long) n * k), "gather " + in);

                DoublePointer g = track(new DoublePointer(nn)), r = track(new DoublePointer(nn)), sc = track(new DoublePointer(nn));
                float[] support = new float[p];
                for (int j = 0; j < p; j++) support[j] = random.nextInt(3) == 0 ? 0f : 1f;
                // signed weights (a Gram update: positive minus negative syrk), a 0/1 support and none (all ones)
                for (float[] ws : new float[][] {vs, support, null}) {
                    backend.weightedGram(x, ws == null ? null : floats(ws), g);
                    reference.weightedGram(ref, ws == null ? null : floats(ws), r);
                    reference.weightedGram(ax, ws == null ? null : floats(abs(ws)), sc);
                    double[] gs = get(g, nn), rs = get(r, nn), scs = get(sc, nn);
                    for (int e = 0; e < nn; e++) {
                        assertTrue(Math.abs(gs[e] - rs[e]) <= 1e-12 * scs[e] + 1e-300, "weighted Gram " + in + " entry " + e + ": " + gs[e] + " vs " + rs[e]);
                    }
                }
                reference.weightedGram(ax, null, sc);
                double[] scs = get(sc, nn);
                backend.singlePrecisionGram(x, g);
                reference.weightedGram(ref, null, r);
                double[] gs = get(g, nn), rs = get(r, nn);
                for (int e = 0; e < nn; e++) {
                    assertTrue(Math.abs(gs[e] - rs[e]) <= 1e-5 * scs[e] + 1e-300, "single-precision Gram " + in + " entry " + e);
                }
            }
        }
    }

    // ---------------------------------------------------------------- dense algebra

    @Test
    void firstNonFiniteFindsTheFirstNaNOrInfinity() {
        SplittableRandom random = new SplittableRandom(11);
        for (int[] shape : SHAPES) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p);
            assertEquals(-1, backend.firstNonFinite(matrix(xs, n, p)), "all finite " + n + "x" + p);
            int later = random.nextInt(n * p), earlier = random.nextInt(later + 1);
            xs[later] = Float.NaN;
            assertEquals(later, backend.firstNonFinite(matrix(xs, n, p)), "NaN at " + later);
            xs[earlier] = random.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
            assertEquals(earlier, backend.firstNonFinite(matrix(xs, n, p)), "infinity at " + earlier);
        }
    }

    @Test
    void weightedGramRejectsWeightsThatAreNotFinite() {
        int n = 3, p = 5;
        HostMatrix x = matrix(randomFloats(new SplittableRandom(8), n * p), n, p);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] ws = {1f, -1f, bad, 0f, 1f};
            DoublePointer gram = track(new DoublePointer((long) n * n));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.weightedGram(x, floats(ws), gram));
            assertTrue(e.getMessage().contains("column weight 2"), e.getMessage());
        }
    }

    /**
     * Weights passed at a position are the p floats from there, as every kernel reads them: the finiteness check and the
     * non-negativity answer that picks cpu's and cuda's kernel (a rank-k update on sqrt(w) when every weight is >= 0)
     * must look at the same floats. X's columns are (1, 2) and (3, 4).
     */
    @Test
    void weightedGramReadsTheWeightsFromTheirPosition() {
        HostMatrix x = matrix(new float[] {1, 2, 3, 4}, 2, 2);
        float[][] buffers = {{1f, 1f, -1f}, {Float.NaN, 1f, 1f}}; // w = {1, -1}, and w = {1, 1} after a NaN
        double[][] grams = {{1 - 9, 2 - 12, 2 - 12, 4 - 16}, {1 + 9, 2 + 12, 2 + 12, 4 + 16}};
        for (int k = 0; k < buffers.length; k++) {
            FloatPointer w = floats(buffers[k]);
            w.position(1);
            DoublePointer gram = track(new DoublePointer(4));
            backend.weightedGram(x, w, gram);
            assertArrayEquals(grams[k], get(gram, 4), Arrays.toString(buffers[k]) + " at position 1");
            assertEquals(1, w.position(), "weights position");
        }
        FloatPointer negative = floats(new float[] {1f, 1f, -1f});
        negative.position(1);
        assertEquals(false, ComputeBackend.requireFiniteWeights(negative, 2), "w = {1, -1} is not all >= 0");
    }

    @Test
    void weightedGramMatchesReference() {
        SplittableRandom random = new SplittableRandom(4);
        for (int[] shape : SHAPES) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p);
            HostMatrix x = matrix(xs, n, p), ax = matrix(abs(xs), n, p);
            float[] ws = randomFloats(random, p);
            // a support mask scaled by non-negative weights, with zeros: the backsolve's case
            float[] support = new float[p];
            for (int j = 0; j < p; j++) support[j] = random.nextInt(3) == 0 ? 0f : (random.nextBoolean() ? 1f : Math.abs(ws[j]));
            for (FloatPointer w : new FloatPointer[] {null, floats(ws), floats(support)}) {
                long nn = (long) n * n;
                DoublePointer got = track(new DoublePointer(nn)), want = track(new DoublePointer(nn)), scale = track(new DoublePointer(nn));
                backend.weightedGram(x, w, got);
                reference.weightedGram(x, w, want);
                reference.weightedGram(ax, w == null ? null : floats(abs(get(w, p))), scale);
                double[] g = get(got, nn), r = get(want, nn), s = get(scale, nn);
                for (int i = 0; i < nn; i++) {
                    assertTrue(Math.abs(g[i] - r[i]) <= 1e-12 * s[i] + 1e-300,
                            "Gram " + n + "x" + p + " entry " + i + ": " + g[i] + " vs " + r[i]);
                }
                for (int a = 0; a < n; a++) {
                    for (int b = 0; b < n; b++) assertEquals(g[a * n + b], g[b * n + a], "Gram symmetric");
                }
            }
        }
    }

    @Test
    void singlePrecisionGramMatchesReferenceToFloatAccuracy() {
        SplittableRandom random = new SplittableRandom(14);
        int[][] shapes = java.util.Arrays.copyOf(SHAPES, SHAPES.length + 1);
        shapes[SHAPES.length] = new int[] {3, 40_000}; // more columns than one single-precision chunk of the cpu backend
        for (int[] shape : shapes) {
            int n = shape[0], p = shape[1];
            float[] xs = randomFloats(random, n * p);
            HostMatrix x = matrix(xs, n, p), ax = matrix(abs(xs), n, p);
            long nn = (long) n * n;
            DoublePointer got = track(new DoublePointer(nn)), want = track(new DoublePointer(nn)), scale = track(new DoublePointer(nn));
            backend.singlePrecisionGram(x, got);
            reference.weightedGram(x, null, want);
            reference.weightedGram(ax, null, scale);
            double[] g = get(got, nn), r = get(want, nn), sc = get(scale, nn);
            for (int i = 0; i < nn; i++) {
                assertTrue(Math.abs(g[i] - r[i]) <= 1e-5 * sc[i] + 1e-300, "Gram " + n + "x" + p + " entry " + i + ": " + g[i] + " vs " + r[i]);
            }
            for (int a = 0; a < n; a++) {
                for (int b = 0; b < n; b++) assertEquals(g[a * n + b], g[b * n + a], "Gram symmetric");
            }
        }
    }

    private double[] spd(SplittableRandom random, int n) {
        double[] m = new double[n * n];
        double[] f = new double[n * n];
        for (int i = 0; i < f.length; i++) f[i] = random.nextDouble() - 0.5;
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                double s = a == b ? n : 0;
                for (int k = 0; k < n; k++) s += f[k * n + a] * f[k * n + b];
                m[b * n + a] = s;
            }
        }
        return m;
    }

    @Test
    void choleskyMatchesReference() {
        SplittableRandom random = new SplittableRandom(5);
        for (int n : new int[] {1, 2, 7, 64, 129}) {
            double[] m = spd(random, n);
            DoublePointer a = track(new DoublePointer(m)), b = track(new DoublePointer(m));
            backend.choleskyFactor(a, n);
            reference.choleskyFactor(b, n);
            double[] la = get(a, (long) n * n), lb = get(b, (long) n * n);
            for (int c = 0; c < n; c++) {
                for (int r = c; r < n; r++) {
                    assertEquals(lb[c * n + r], la[c * n + r], 1e-10 * Math.sqrt(n) * (1 + Math.abs(lb[c * n + r])),
                            "L[" + r + "," + c + "] n=" + n);
                }
            }
            int nrhs = 3;
            double[] rhs = new double[n * nrhs];
            for (int i = 0; i < rhs.length; i++) rhs[i] = random.nextDouble() - 0.5;
            DoublePointer ya = track(new DoublePointer(rhs)), yb = track(new DoublePointer(rhs));
            backend.choleskySolve(a, n, ya, nrhs);
            reference.choleskySolve(b, n, yb, nrhs);
            double[] sa = get(ya, rhs.length), sb = get(yb, rhs.length);
            for (int i = 0; i < rhs.length; i++) assertEquals(sb[i], sa[i], 1e-9 * (1 + Math.abs(sb[i])), "solve n=" + n);
            // residual check against the original matrix: M y = rhs
            for (int r = 0; r < nrhs; r++) {
                for (int i = 0; i < n; i++) {
                    double s = 0;
                    for (int k = 0; k < n; k++) s += m[k * n + i] * sa[r * n + k];
                    assertEquals(rhs[r * n + i], s, 1e-9 * n, "residual n=" + n);
                }
            }
        }
    }

    /**
     * n = 0 passes the argument checks, so it is a system like any other: nothing to factor or solve, and nothing written
     * (LAPACKE refuses lda = 0 for n = 0, and cuSOLVER's potrf_bufferSize would too, so the backends must not call them).
     */
    @Test
    void choleskyOfNoRowsIsANoOp() {
        DoublePointer a = track(new DoublePointer(new double[] {7})), b = track(new DoublePointer(new double[] {9}));
        backend.choleskyFactor(a, 0);
        backend.choleskySolve(a, 0, b, 1);
        backend.choleskySolve(a, 0, b, 0);
        assertEquals(7, a.get(0), "the factor's memory beyond its 0 x 0 entries");
        assertEquals(9, b.get(0), "the right-hand side's memory beyond its 0 x 1 entries");
    }

    @Test
    void choleskyRejectsNonPositiveDefinite() {
        DoublePointer a = track(new DoublePointer(new double[] {1, 2, 2, 1}));
        assertThrows(ArithmeticException.class, () -> backend.choleskyFactor(a, 2));
        DoublePointer b = track(new DoublePointer(new double[] {-1}));
        assertThrows(ArithmeticException.class, () -> backend.choleskyFactor(b, 1));
        DoublePointer c = track(new DoublePointer(new double[] {4, 0, 0, 0, 0, 0, 0, 0, 1}));
        assertThrows(ArithmeticException.class, () -> backend.choleskyFactor(c, 3));
    }

    /**
     * NaN or an infinity in the lower triangle (all a factor reads) is the same clear refusal on every backend: LAPACKE
     * refused a NaN as "dpotrf: argument 4 is invalid", and an infinite pivot passed as positive into an infinite factor.
     */
    @Test
    void choleskyRejectsANonFiniteMatrixSayingSo() {
        int n = 3;
        double[] spd = {4, 1, 0, 1, 3, 1, 0, 1, 2};
        int[][] entries = {{1, 0}, {2, 2}, {0, 0}, {2, 1}};
        double[] values = {Double.NaN, Double.POSITIVE_INFINITY, Double.NaN, Double.NEGATIVE_INFINITY};
        for (int e = 0; e < entries.length; e++) {
            int i = entries[e][0], j = entries[e][1];
            double[] m = spd.clone();
            m[j * n + i] = values[e];
            DoublePointer a = track(new DoublePointer(m));
            ArithmeticException thrown = assertThrows(NonFiniteMatrixException.class, () -> backend.choleskyFactor(a, n),
                    values[e] + " at (" + i + ", " + j + ")");
            assertTrue(thrown.getMessage().startsWith("the 3 x 3 matrix to factor is not finite: entry (" + i + ", " + j + ") is "
                    + values[e]), thrown.getMessage());
        }
        // the upper triangle is not read: NaN there changes nothing
        double[] m = spd.clone();
        m[2 * n] = Double.NaN;
        DoublePointer a = track(new DoublePointer(m)), b = track(new DoublePointer(spd));
        backend.choleskyFactor(a, n);
        reference.choleskyFactor(b, n);
        for (int j = 0; j < n; j++) {
            for (int i = j; i < n; i++) assertEquals(b.get(j * n + i), a.get(j * n + i), 1e-14, "L[" + i + ", " + j + "]");
        }
    }

    // ---------------------------------------------------------------- selection kernels

    private void checkSort(float[] scores, long[] starts, String what) {
        int p = scores.length;
        FloatPointer s = floats(scores);
        FloatPointer sa = track(new FloatPointer(p)), sb = track(new FloatPointer(p));
        IntPointer ia = track(new IntPointer(p)), ib = track(new IntPointer(p));
        DoublePointer pa = track(new DoublePointer(p)), pb = track(new DoublePointer(p));
        backend.sortSegmentsDescending(s, starts, sa, ia, pa);
        reference.sortSegmentsDescending(s, starts, sb, ib, pb);
        assertArrayEquals(get(ib, p), get(ia, p), what + ": indices");
        float[] va = get(sa, p), vb = get(sb, p);
        int[] order = get(ia, p);
        for (int i = 0; i < p; i++) {
            assertEquals(Float.floatToIntBits(vb[i]), Float.floatToIntBits(va[i]), what + ": value " + i);
            assertEquals(Float.floatToIntBits(scores[order[i]] + 0.0f), Float.floatToIntBits(va[i]), what + ": value/index " + i);
        }
        assertPrefixSums(get(pb, p), get(pa, p), what);
        // without indices: the same values and prefix sums (a backend may sort the values alone)
        FloatPointer sc = track(new FloatPointer(p));
        DoublePointer pc = track(new DoublePointer(p));
        backend.sortSegmentsDescending(s, starts, sc, null, pc);
        float[] vc = get(sc, p);
        for (int i = 0; i < p; i++) assertEquals(Float.floatToIntBits(va[i]), Float.floatToIntBits(vc[i]), what + ": value without indices " + i);
        assertArrayEquals(get(pa, p), get(pc, p), what + ": prefix sums without indices");
        // without prefix sums (magnitude asks for none): the same values and indices, with indices and without
        FloatPointer sd = track(new FloatPointer(p)), se = track(new FloatPointer(p));
        IntPointer id = track(new IntPointer(p));
        backend.sortSegmentsDescending(s, starts, sd, id, null);
        backend.sortSegmentsDescending(s, starts, se, null, null);
        assertArrayEquals(get(ia, p), get(id, p), what + ": indices without prefix sums");
        float[] vd = get(sd, p), ve = get(se, p);
        for (int i = 0; i < p; i++) {
            assertEquals(Float.floatToIntBits(va[i]), Float.floatToIntBits(vd[i]), what + ": value without prefix sums " + i);
            assertEquals(Float.floatToIntBits(va[i]), Float.floatToIntBits(ve[i]), what + ": value without indices and prefix sums " + i);
        }
        // ordering within segments: descending, ties by increasing index
        int[] idx = order;
        for (int g = 0; g + 1 < starts.length; g++) {
            for (long i = starts[g] + 1; i < starts[g + 1]; i++) {
                int k = (int) i;
                assertTrue(va[k - 1] > va[k] || (va[k - 1] == va[k] && idx[k - 1] < idx[k]), what + ": order at " + k);
                assertTrue(idx[k] >= starts[g] && idx[k] < starts[g + 1], what + ": index stays in its segment");
            }
        }
        // countAbove against the reference, thresholds at, between and beyond values
        SplittableRandom random = new SplittableRandom(p);
        int segments = starts.length - 1;
        for (int trial = 0; trial < 20; trial++) {
            double[] t = new double[segments];
            for (int g = 0; g < segments; g++) {
                int pick = (int) (starts[g] + random.nextLong(starts[g + 1] - starts[g]));
                t[g] = switch (trial % 4) {
                    case 0 -> va[pick];
                    case 1 -> va[pick] * 0.999;
                    case 2 -> -1;
                    default -> 10;
                };
            }
            long[] ca = new long[segments], cb = new long[segments];
            backend.countAbove(sa, starts, t, ca);
            reference.countAbove(sb, starts, t, cb);
            assertArrayEquals(cb, ca, what + ": countAbove");
        }
    }

    private void assertPrefixSums(double[] want, double[] got, String what) {
        double tolerance = prefixSumTolerance();
        if (tolerance == 0) {
            assertArrayEquals(want, got, what + ": prefix sums");
            return;
        }
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], tolerance * want[i], what + ": prefix sum " + i);
    }

    @Test
    void segmentedSortMatchesReference() {
        SplittableRandom random = new SplittableRandom(6);
        // random values with many ties and zeros, several segment layouts
        for (int p : new int[] {1, 2, 17, 1000, 70_001}) {
            float[] scores = new float[p];
            for (int i = 0; i < p; i++) {
                int kind = random.nextInt(5);
                scores[i] = switch (kind) {
                    case 0 -> 0f;
                    case 1 -> -0.0f;
                    case 2 -> random.nextInt(4); // ties
                    default -> (float) random.nextDouble() * 100;
                };
            }
            checkSort(scores, new long[] {0, p}, "one segment p=" + p);
            if (p >= 17) {
                checkSort(scores, blockStarts(p, 1, 5, p / 3, 2), "segments p=" + p);
                checkSort(scores, blockStarts(p, 1), "single-element segments p=" + p);
            }
        }
        // several segments large enough for a multi-threaded sort each, one of them a single repeated value and one
        // whose values differ only in their low bits (radix digits every key shares)
        int big = 210_000;
        float[] large = new float[big];
        for (int i = 0; i < big; i++) {
            large[i] = i < 70_000 ? (float) random.nextDouble() * 5
                    : i < 140_000 ? 3.25f
                    : Float.intBitsToFloat(Float.floatToIntBits(1.5f) + random.nextInt(64));
        }
        checkSort(large, new long[] {0, 70_000, 140_000, big}, "large segments");
        checkSort(large, new long[] {0, big}, "one large segment");
        float[] edge = {0f, -0.0f, Float.MIN_VALUE, Float.MAX_VALUE, 1f, -0.0f, 0f, 1f, Float.MIN_NORMAL};
        checkSort(edge, new long[] {0, edge.length}, "edge values");
        checkSort(edge, new long[] {0, 4, 5, edge.length}, "edge values, segments");
    }

    @Test
    void negativeZeroSortsAsZero() {
        float[] scores = {-0.0f, 0f, 1f, -0.0f, 0f};
        FloatPointer s = floats(scores);
        FloatPointer sorted = track(new FloatPointer(5));
        IntPointer index = track(new IntPointer(5));
        DoublePointer prefix = track(new DoublePointer(5));
        backend.sortSegmentsDescending(s, new long[] {0, 5}, sorted, index, prefix);
        assertArrayEquals(new int[] {2, 0, 1, 3, 4}, get(index, 5), "-0.0 is 0.0 and ties keep index order");
        assertEquals(1.0, get(prefix, 5)[4]);
    }

    @Test
    void sortRejectsInvalidScores() {
        for (float bad : new float[] {-1f, Float.NaN, Float.POSITIVE_INFINITY, -Float.MIN_VALUE}) {
            FloatPointer s = floats(new float[] {1f, bad, 2f});
            FloatPointer sorted = track(new FloatPointer(3));
            IntPointer index = track(new IntPointer(3));
            DoublePointer prefix = track(new DoublePointer(3));
            assertThrows(IllegalArgumentException.class,
                    () -> backend.sortSegmentsDescending(s, new long[] {0, 3}, sorted, index, prefix), "score " + bad);
            assertThrows(IllegalArgumentException.class,
                    () -> backend.sortSegmentsDescending(s, new long[] {0, 3}, sorted, index, null), "score " + bad + ", no prefix sums");
        }
    }

    /**
     * magnitude keeps weights in the sort's order and never reads its prefix sums: it asks for none (the cuda backend
     * then neither computes them nor copies their 8 bytes per weight back, 204 MB for ResNet50), and keeps the mask it
     * kept when every sort returned them, which is the reference's mask.
     */
    @Test
    void magnitudeSortsWithoutPrefixSumsAndKeepsTheSameMask() {
        ExampleModel model = ExampleModels.get("resnet20");
        LayerTable layers = model.layers();
        long p = layers.parameters();
        FloatPointer w = track(model.syntheticWeights(5));
        FloatBuffer view = w.position(0).limit(p).asBuffer();
        // coarse levels: ties, which the order breaks by index, and zeros, which magnitude never keeps
        for (int i = 0; i < (int) p; i++) view.put(i, Math.round(view.get(i) * 16) / 16f);
        for (double[] keep : new double[][] {{0.3, 0.5}, {0.1, 1.0}, {1.0, 0.05}}) {
            String what = "keep-flops " + keep[0] + ", keep-nnz " + keep[1];
            Budgets budgets = Budgets.resolve(layers, keep[0], null, keep[1], null, null);
            CountingBackend now = new CountingBackend(backend), before = new CountingBackend(backend, true);
            try (Pruner prunerNow = new Pruner(now); Pruner prunerBefore = new Pruner(before); Pruner prunerReference = new Pruner(reference);
                 PruneResult a = prunerNow.prune(Method.MAGNITUDE, w, layers, budgets);
                 PruneResult b = prunerBefore.prune(Method.MAGNITUDE, w, layers, budgets);
                 PruneResult r = prunerReference.prune(Method.MAGNITUDE, w, layers, budgets)) {
                assertEquals(1, now.get("sortSegmentsDescending"), what + ": sorts");
                assertEquals(1, now.get("sortSegmentsDescending without prefix sums"), what + ": magnitude asked for prefix sums it never reads");
                assertTrue(a.kept() > 0 && a.kept() < p, what + ": kept " + a.kept());
                assertArrayEquals(b.copyMask(), a.copyMask(), what + ": mask without prefix sums against the mask with them");
                assertArrayEquals(r.copyMask(), a.copyMask(), what + ": mask against the reference's");
                assertEquals(b.kept(), a.kept(), what + ": kept");
                assertEquals(b.keptFlops(), a.keptFlops(), what + ": kept FLOPs");
                assertArrayEquals(b.keptPerLayer(), a.keptPerLayer(), what + ": kept per layer");
            }
        }
    }

    @Test
    void sortRejectsSegmentStartsWithoutAnEnd() {
        FloatPointer s = floats(new float[] {1f, 2f});
        FloatPointer sorted = track(new FloatPointer(2));
        DoublePointer prefix = track(new DoublePointer(2));
        for (long[] starts : new long[][] {{}, {0}}) {
            // an embedder's empty array read its last entry first: ArrayIndexOutOfBoundsException: Index -1
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.sortSegmentsDescending(s, starts, sorted, null, prefix), Arrays.toString(starts));
            assertTrue(e.getMessage().contains("segment starts"), e.getMessage());
        }
    }

    /**
     * Short thresholds or counts, and segment starts that are not valid, are refused before a kernel reads or writes past
     * an array's end (a native driver given 1 threshold for 3 segments counted against garbage).
     */
    @Test
    void countAboveRefusesShortArraysAndBadSegmentStarts() {
        FloatPointer sorted = floats(new float[] {5, 4, 3, 9, 8, 7, 2, 1, 0.5f});
        long[] starts = {0, 3, 6, 9};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.countAbove(sorted, starts, new double[] {3.5}, new long[3]), "short thresholds");
        assertTrue(e.getMessage().startsWith("countAbove: need 3 thresholds and counts"), e.getMessage());
        long[] few = new long[1];
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.countAbove(sorted, starts, new double[] {3.5, 8.5, 0.7}, few), "short counts");
        assertTrue(e.getMessage().startsWith("countAbove: need 3 thresholds and counts"), e.getMessage());
        for (long[] bad : new long[][] {{}, {0}, {1, 9}, {0, 6, 3, 9}, {0, 3, 3, 9}}) {
            e = assertThrows(IllegalArgumentException.class,
                    () -> backend.countAbove(sorted, bad, new double[4], new long[4]), Arrays.toString(bad));
            assertTrue(e.getMessage().contains("segment starts"), e.getMessage());
        }
        long[] counts = new long[3];
        backend.countAbove(sorted, starts, new double[] {3.5, 8.5, 0.7}, counts);
        assertArrayEquals(new long[] {2, 1, 2}, counts);
    }

    /**
     * A null starts, thresholds or counts array is an IllegalArgumentException as a short one is, on every backend:
     * blockGramProduct's null starts and countAbove's null thresholds were NullPointerExceptions naming a local variable
     * of the check ("starts"), not the argument, where the sort's null segment starts were already refused so.
     */
    @Test
    void nullStartsThresholdsOrCountsAreRefusedAsShortOnes() {
        HostMatrix x = matrix(new float[12], 3, 4);
        FloatPointer d = floats(new float[4]), out = track(new FloatPointer(4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.blockGramProduct(x, null, d, out), backend.name());
        assertEquals("block starts must begin at 0 and end at p = 4: null", e.getMessage());
        FloatPointer sorted = floats(new float[] {2f, 1f});
        e = assertThrows(IllegalArgumentException.class, () -> backend.countAbove(sorted, new long[] {0, 2}, null, new long[1]), backend.name());
        assertEquals("countAbove: need 1 thresholds and counts, one per segment of the 2 segment starts: got null thresholds and 1 counts", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> backend.countAbove(sorted, new long[] {0, 2}, new double[1], null), backend.name());
        assertTrue(e.getMessage().endsWith("got 1 thresholds and null counts"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> backend.countAbove(sorted, null, new double[1], new long[1]), backend.name());
        assertTrue(e.getMessage().startsWith("segment starts must hold at least two entries") && e.getMessage().endsWith("got null"), e.getMessage());
    }

    /**
     * allocate's blocks and singlePrecisionGram's gram are refused alike on every backend, naming the call: the java backend
     * dropped starts that did not end at p without a word (cpu refused them), and called a short gram given to
     * singlePrecisionGram weightedGram's.
     */
    @Test
    void allocateAndSinglePrecisionGramRefuseBadArgumentsAsEveryBackendDoes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.allocate(4, 5, new long[] {0, 3}).close(),
                backend.name() + " allocate with starts ending at 3");
        assertEquals("panel starts must begin at 0 and end at p = 5: [0, 3]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> backend.allocate(4, 5, new long[] {0, 3, 3, 5}).close(), backend.name());
        assertEquals("panel starts must increase strictly: entry 2 = 3 after 3", e.getMessage());
        try (HostMatrix x = backend.allocate(4, 5, new long[] {0, 3, 5})) {
            assertEquals(5, x.cols(), backend.name() + ": valid blocks are still taken");
        }
        HostMatrix x = matrix(new float[12], 3, 4);
        e = assertThrows(IllegalArgumentException.class, () -> backend.singlePrecisionGram(x, track(new DoublePointer(3))), backend.name());
        assertTrue(e.getMessage().startsWith("singlePrecisionGram: gram (n x n = 3 x 3") && e.getMessage().contains("holds 3 elements but 9"),
                e.getMessage());
    }

    /**
     * Bad starts are one error on every backend and operation: the java backend's own copy of the check called segment
     * starts "block starts" and printed the whole array, so its sortSegmentsDescending and countAbove worded the same
     * mistake differently.
     */
    @Test
    void badStartsAreTheSameErrorOnEveryOperation() {
        FloatPointer scores = floats(new float[] {5, 4, 3, 9}), sortedOut = track(new FloatPointer(4));
        DoublePointer prefixOut = track(new DoublePointer(4));
        long[] decreasing = {0, 3, 2, 4};
        String expected = "segment starts must increase strictly: entry 2 = 2 after 3";
        IllegalArgumentException sort = assertThrows(IllegalArgumentException.class,
                () -> backend.sortSegmentsDescending(scores, decreasing, sortedOut, null, prefixOut));
        assertEquals(expected, sort.getMessage());
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> backend.countAbove(scores, decreasing, new double[3], new long[3]));
        assertEquals(expected, count.getMessage());
        HostMatrix x = matrix(new float[12], 3, 4);
        FloatPointer d = floats(new float[4]), out = track(new FloatPointer(4));
        IllegalArgumentException block = assertThrows(IllegalArgumentException.class,
                () -> backend.blockGramProduct(x, decreasing, d, out));
        assertEquals("block starts must increase strictly: entry 2 = 2 after 3", block.getMessage());
        // a long array is counted, not printed: per-weight starts would fill the message
        long[] perWeight = java.util.stream.LongStream.rangeClosed(1, 40).toArray();
        IllegalArgumentException many = assertThrows(IllegalArgumentException.class,
                () -> backend.sortSegmentsDescending(scores, perWeight, sortedOut, null, prefixOut));
        assertEquals("segment starts must begin at 0 and end at p = 40: 40 entries", many.getMessage());
    }

    // ---------------------------------------------------------------- loading

    /** Writes rows x cols values (given column-major) as raw bytes of a type/order/endianness at an offset. */
    private Path writeRaw(String name, float[] colMajor, short[] halves, int rows, int cols, ElementType type,
                          boolean rowMajor, ByteOrder order, int offset) throws IOException {
        int w = type.bytes();
        ByteBuffer buf = ByteBuffer.allocate(offset + rows * cols * w).order(order);
        for (int k = 0; k < offset; k++) buf.put(k, (byte) 0x5a); // header bytes
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                int src = j * rows + i;
                int dst = rowMajor ? i * cols + j : j * rows + i;
                int at = offset + dst * w;
                switch (type) {
                    case FLOAT32 -> buf.putFloat(at, colMajor[src]);
                    case FLOAT64 -> buf.putDouble(at, colMajor[src] * (1 + 1e-9));
                    case FLOAT16, BFLOAT16 -> buf.putShort(at, halves[src]);
                }
            }
        }
        Path file = dir.resolve(name);
        Files.write(file, buf.array());
        return file;
    }

    @Test
    void loadMatchesReferenceForEveryLayoutAndType() throws IOException {
        SplittableRandom random = new SplittableRandom(7);
        int[][] shapes = {{1, 1}, {1, 9}, {7, 1}, {5, 3}, {17, 1001}, {70, 4100}};
        for (int[] shape : shapes) {
            int n = shape[0], p = shape[1];
            float[] values = randomFloats(random, n * p);
            short[] f16 = new short[n * p], bf16 = new short[n * p];
            for (int i = 0; i < n * p; i++) {
                f16[i] = (short) ((random.nextInt(0x10000) & ~0x7c00) | (random.nextInt(0x1f) << 10)); // no Inf/NaN
                bf16[i] = (short) ((random.nextInt(0x10000) & ~0x7f80) | (random.nextInt(0xff) << 7));
            }
            for (ElementType type : ElementType.values()) {
                for (boolean rowMajor : new boolean[] {false, true}) {
                    for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
                        int offset = 128;
                        String name = type + (rowMajor ? "-C-" : "-F-") + order + "-" + n + "x" + p + ".raw";
                        Path file = writeRaw(name, values, type == ElementType.FLOAT16 ? f16 : bf16, n, p, type, rowMajor, order, offset);
                        RawMatrixSource source = new RawMatrixSource(file, offset, type, order, rowMajor, n, p);
                        try (HostMatrix a = backend.load(source); HostMatrix b = reference.load(source)) {
                            assertEquals(n, a.rows());
                            assertEquals(p, a.cols());
                            float[] ga = get(a.data(), a.elements()), gb = get(b.data(), b.elements());
                            for (int i = 0; i < ga.length; i++) {
                                assertEquals(Float.floatToIntBits(gb[i]), Float.floatToIntBits(ga[i]), name + " element " + i);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void loadRejectsTruncatedFiles() throws IOException {
        float[] values = new float[20];
        for (boolean rowMajor : new boolean[] {false, true}) {
            Path file = writeRaw("short" + rowMajor + ".raw", values, null, 4, 5, ElementType.FLOAT32, rowMajor,
                    ByteOrder.LITTLE_ENDIAN, 64);
            RawMatrixSource source = new RawMatrixSource(file, 64, ElementType.FLOAT32, ByteOrder.LITTLE_ENDIAN, rowMajor, 4, 6);
            assertThrows(IOException.class, () -> backend.load(source).close());
        }
    }
}
