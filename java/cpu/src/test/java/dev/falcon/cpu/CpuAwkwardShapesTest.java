package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.ElementType;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The cpu backend against the reference on the shapes where the native kernels change path: row counts around the
 * four-row groups and the pipelined panel loop (n < 8, n = 8, tails of 1-3 rows), widths that are not a multiple of
 * any vector, one-column blocks, blocks that cut panels into several pieces, more threads than blocks, and half
 * precision files converted straight into panels. Every result must also be bit-identical on a second call.
 */
class CpuAwkwardShapesTest {
    private static final int[] ROWS = {1, 2, 3, 5, 7, 8, 9, 15, 17, 33};
    private static final int[] COLS = {1, 2, 3, 5, 13, 31, 67};

    @TempDir
    Path dir;

    /** Starts of blocks of the given sizes, repeated until p. */
    private static long[] starts(int p, int... sizes) {
        List<Long> s = new ArrayList<>(List.of(0L));
        for (int k = 0; s.get(s.size() - 1) < p; k++) s.add(Math.min(p, s.get(s.size() - 1) + sizes[k % sizes.length]));
        return s.stream().mapToLong(Long::longValue).toArray();
    }

    private static List<long[]> layouts(int p) {
        return List.of(starts(p, p), starts(p, 1), starts(p, 3, 1, 7, 2), starts(p, 4), starts(p, 16));
    }

    private static float[] get(FloatPointer f, int count) {
        float[] a = new float[count];
        f.position(0).get(a);
        return a;
    }

    private static double[] get(DoublePointer f, int count) {
        double[] a = new double[count];
        f.position(0).get(a);
        return a;
    }

    private static void assertNear(String what, float[] want, float[] got, float[] scale) {
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= 1e-5 * (1 + scale[i]))) {
                fail(what + ": entry " + i + " is " + got[i] + ", reference " + want[i]);
            }
        }
    }

    private static HostMatrix inLayout(ComputeBackend backend, float[] columnMajor, int n, int p, long[] panels) {
        HostMatrix x = panels == null ? HostMatrix.allocate(n, p) : backend.allocate(n, p, panels);
        for (int j = 0; j < p; j++) {
            for (int i = 0; i < n; i++) x.data().put(x.storageIndex(i, j), columnMajor[j * n + i]);
        }
        return x;
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 2, 3, 16})
    void productsGathersAndGramsMatchReferenceBitForBitAcrossCalls(int threads) {
        SplittableRandom random = new SplittableRandom(threads);
        try (ComputeBackend cpu = new CpuBackendProvider().create(threads); JavaBackend ref = new JavaBackend()) {
            for (int n : ROWS) {
                for (int p : COLS) {
                    float[] xs = new float[n * p], as = new float[n * p];
                    for (int e = 0; e < xs.length; e++) as[e] = Math.abs(xs[e] = (float) (random.nextDouble() * 2 - 1));
                    float[] vs = new float[p], us = new float[n];
                    for (int j = 0; j < p; j++) vs[j] = (float) (random.nextDouble() * 2 - 1);
                    for (int i = 0; i < n; i++) us[i] = (float) (random.nextDouble() * 2 - 1);
                    int k = 2 * p + 1;
                    int[] cols = new int[k];
                    for (int c = 0; c < k; c++) cols[c] = random.nextInt(p);
                    float[] weights = new float[p];
                    for (int j = 0; j < p; j++) weights[j] = random.nextInt(3) == 0 ? 0f : (float) (random.nextDouble() * 2 - 1);
                    try (HostMatrix ref0 = inLayout(ref, xs, n, p, null); HostMatrix abs0 = inLayout(ref, as, n, p, null);
                         FloatPointer v = new FloatPointer(vs); FloatPointer u = new FloatPointer(us);
                         FloatPointer av = new FloatPointer(p); FloatPointer au = new FloatPointer(n);
                         FloatPointer got = new FloatPointer(Math.max(n, p)); FloatPointer again = new FloatPointer(Math.max(n, p));
                         FloatPointer want = new FloatPointer(Math.max(n, p)); FloatPointer scale = new FloatPointer(Math.max(n, p));
                         IntPointer columns = new IntPointer(cols); FloatPointer gathered = new FloatPointer((long) n * k);
                         FloatPointer gatheredRef = new FloatPointer((long) n * k); FloatPointer w = new FloatPointer(weights);
                         DoublePointer gram = new DoublePointer((long) n * n); DoublePointer gramRef = new DoublePointer((long) n * n)) {
                        for (int j = 0; j < p; j++) av.put(j, Math.abs(vs[j]));
                        for (int i = 0; i < n; i++) au.put(i, Math.abs(us[i]));
                        List<long[]> layouts = new ArrayList<>(layouts(p));
                        layouts.add(0, null);
                        for (long[] layout : layouts) {
                            try (HostMatrix x = inLayout(cpu, xs, n, p, layout)) {
                                String in = n + "x" + p + " in " + x.layout() + ", " + threads + " threads";
                                cpu.multiply(x, v, got);
                                cpu.multiply(x, v, again);
                                ref.multiply(ref0, v, want);
                                ref.multiply(abs0, av, scale);
                                assertNear("X v " + in, get(want, n), get(got, n), get(scale, n));
                                assertArrayEquals(get(got, n), get(again, n), "X v twice " + in);

                                cpu.multiplyTransposed(x, u, got);
                                cpu.multiplyTransposed(x, u, again);
                                ref.multiplyTransposed(ref0, u, want);
                                ref.multiplyTransposed(abs0, au, scale);
                                assertNear("X^T u " + in, get(want, p), get(got, p), get(scale, p));
                                assertArrayEquals(get(got, p), get(again, p), "X^T u twice " + in);

                                for (long[] blocks : layouts(p)) {
                                    cpu.blockGramProduct(x, blocks, v, got);
                                    cpu.blockGramProduct(x, blocks, v, again);
                                    ref.blockGramProduct(ref0, blocks, v, want);
                                    ref.blockGramProduct(abs0, blocks, av, scale);
                                    String b = "block product " + in + ", " + (blocks.length - 1) + " blocks";
                                    assertNear(b, get(want, p), get(got, p), get(scale, p));
                                    assertArrayEquals(get(got, p), get(again, p), b + " twice");
                                }

                                cpu.gatherColumns(x, columns, k, gathered);
                                ref.gatherColumns(ref0, columns, k, gatheredRef);
                                assertArrayEquals(get(gatheredRef, n * k), get(gathered, n * k), "gather " + in);

                                for (FloatPointer weight : new FloatPointer[] {w, null}) {
                                    cpu.weightedGram(x, weight, gram);
                                    ref.weightedGram(ref0, weight, gramRef);
                                    double[] g = get(gram, n * n), r = get(gramRef, n * n);
                                    for (int e = 0; e < n * n; e++) {
                                        assertEquals(r[e], g[e], 1e-9 * (1 + Math.abs(r[e])), "weighted Gram " + in + " entry " + e);
                                    }
                                }
                                cpu.singlePrecisionGram(x, gram);
                                double[] g = get(gram, n * n), r = get(gramRef, n * n);
                                for (int e = 0; e < n * n; e++) {
                                    assertEquals(r[e], g[e], 1e-5 * (1 + p), "single-precision Gram " + in + " entry " + e);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** float16, bfloat16 and float64 files, in C and Fortran order, converted into panels at load. */
    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 3})
    void halfAndDoubleFilesLoadIntoPanelsLikeTheReference(int threads) throws IOException {
        SplittableRandom random = new SplittableRandom(99);
        try (ComputeBackend cpu = new CpuBackendProvider().create(threads); JavaBackend ref = new JavaBackend()) {
            for (int[] shape : new int[][] {{1, 1}, {3, 5}, {9, 2}, {17, 67}}) {
                int n = shape[0], p = shape[1];
                for (ElementType type : ElementType.values()) {
                    for (boolean rowMajor : new boolean[] {false, true}) {
                        for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
                            int w = type.bytes(), offset = 7;
                            ByteBuffer buf = ByteBuffer.allocate(offset + n * p * w).order(order);
                            for (int e = 0; e < n * p; e++) {
                                int at = offset + e * w;
                                switch (type) {
                                    case FLOAT32 -> buf.putFloat(at, (float) random.nextGaussian());
                                    case FLOAT64 -> buf.putDouble(at, random.nextGaussian());
                                    // any bit pattern but Inf/NaN, subnormals included
                                    case FLOAT16 -> buf.putShort(at, (short) ((random.nextInt(0x10000) & ~0x7c00) | (random.nextInt(0x1f) << 10)));
                                    case BFLOAT16 -> buf.putShort(at, (short) ((random.nextInt(0x10000) & ~0x7f80) | (random.nextInt(0xff) << 7)));
                                }
                            }
                            Path file = dir.resolve(type + "-" + rowMajor + "-" + order + "-" + n + "x" + p + ".raw");
                            Files.write(file, buf.array());
                            RawMatrixSource source = new RawMatrixSource(file, offset, type, order, rowMajor, n, p);
                            try (HostMatrix want = ref.load(source)) {
                                for (long[] panels : layouts(p)) {
                                    try (HostMatrix got = cpu.load(source, panels)) {
                                        for (int j = 0; j < p; j++) {
                                            for (int i = 0; i < n; i++) {
                                                assertEquals(Float.floatToRawIntBits(want.data().get((long) j * n + i)),
                                                        Float.floatToRawIntBits(got.data().get(got.storageIndex(i, j))),
                                                        file.getFileName() + " element (" + i + ", " + j + ") in " + got.layout());
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
