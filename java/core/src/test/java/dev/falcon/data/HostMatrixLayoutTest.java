package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** The panel layout's addressing, and the reference backend reading it exactly as column-major. */
class HostMatrixLayoutTest {
    @Test
    void storageIndexAndElementAtAreInverse() {
        long[] panels = {0, 3, 4, 11};
        try (HostMatrix x = HostMatrix.allocate(5, 11, panels); HostMatrix c = HostMatrix.allocate(5, 11)) {
            boolean[] seen = new boolean[55];
            for (long j = 0; j < 11; j++) {
                for (long i = 0; i < 5; i++) {
                    long s = x.storageIndex(i, j);
                    assertTrue(!seen[(int) s], "each element has its own address");
                    seen[(int) s] = true;
                    assertArrayEquals(new long[] {i, j}, x.elementAt(s));
                    assertEquals(j * 5 + i, c.storageIndex(i, j));
                    assertArrayEquals(new long[] {i, j}, c.elementAt(j * 5 + i));
                }
            }
            // a panel is row-major: row 1 of panel [4, 11) starts 7 floats after its row 0
            assertEquals(4 * 5 + 7, x.storageIndex(1, 4));
            assertEquals("row-major panels (3)", x.layout());
            assertEquals(3, x.panelCount());
            assertTrue(c.isColumnMajor());
            assertThrows(IllegalArgumentException.class, () -> x.requireColumnMajor("a reader"));
        }
    }

    @Test
    void allocatedMatricesStartOnACacheLineAndHoldEveryElement() {
        // sizes whose malloc blocks land at different offsets; X must start on a cache line for the vector kernels
        for (long[] shape : new long[][] {{1, 1}, {3, 5}, {7, 13}, {64, 1001}, {129, 4099}}) {
            for (int k = 0; k < 4; k++) {
                try (HostMatrix x = HostMatrix.allocate(shape[0], shape[1])) {
                    assertEquals(0, x.data().address() % HostMatrix.CACHE_LINE, "start of " + shape[0] + " x " + shape[1]);
                    assertEquals(0, x.data().position());
                    long last = x.elements() - 1;
                    // the first and the last element are inside the allocation
                    x.data().put(last, -2.5f);
                    assertEquals(-2.5f, x.data().get(last));
                    x.data().put(0, 1.5f);
                    assertEquals(1.5f, x.data().get(0));
                    assertEquals(x.elements(), x.data().capacity());
                }
            }
        }
    }

    /**
     * An embedder's X may be a view into a larger buffer: a FloatPointer positioned at X's first element. The native
     * kernels read from address + position; the reference backend's column views set an absolute position and read the
     * buffer's first elements instead, so the java backend (the oracle) disagreed with cpu and cuda on such an X.
     */
    @Test
    void aWrappedPointerIsReadFromItsPositionByTheColumnViewsAndTheReferenceBackend() {
        int offset = 7, n = 3, p = 4;
        try (FloatPointer buffer = new FloatPointer(offset + n * p); JavaBackend backend = new JavaBackend()) {
            for (int i = 0; i < offset + n * p; i++) buffer.put(i, i < offset ? 1000f + i : i - offset);
            try (HostMatrix x = HostMatrix.wrap(new FloatPointer(buffer).position(offset), n, p, null, "a view at offset 7");
                 FloatPointer v = new FloatPointer(1f, 0f, 0f, 2f); FloatPointer out = new FloatPointer(n)) {
                java.nio.FloatBuffer column2 = x.columns(2, 1);
                assertEquals(6f, column2.get(0), "element (0, 2) of the view");
                backend.multiply(x, v, out);
                float[] got = new float[n];
                out.get(got);
                // column 0 is 0, 1, 2 and column 3 is 9, 10, 11
                assertArrayEquals(new float[] {18f, 21f, 24f}, got);
            }
        }
    }

    /**
     * README's column read, {@code x.data().position(col * n).get(column)}, on X wrapped at a position: data() kept the
     * wrapped position and position() is absolute, so the read gave column col shifted back by the offset.
     */
    @Test
    void dataOfAWrappedViewStartsAtItsFirstElement() {
        int offset = 7, n = 3, p = 4;
        try (FloatPointer buffer = new FloatPointer(offset + n * p)) {
            for (int i = 0; i < offset + n * p; i++) buffer.put(i, i < offset ? 1000f + i : i - offset);
            try (HostMatrix x = HostMatrix.wrap(new FloatPointer(buffer).position(offset), n, p, null, "a view at offset 7");
                 HostMatrix.Use use = x.use("the column read")) {
                float[] column = new float[n];
                x.data().position(2L * n).get(column);
                assertArrayEquals(new float[] {6f, 7f, 8f}, column, "column 2 read as README says");
                assertEquals(0, x.data().position());
                assertEquals(0f, x.data().get(0), "element (0, 0)");
                assertEquals(11f, x.data().get(x.storageIndex(2, 3)), "element (2, 3)");
                assertTrue(x.data().limit() == 0 || x.data().limit() >= x.elements(), "limit " + x.data().limit());
            }
        }
    }

    @Test
    void panelStartsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> HostMatrix.allocate(2, 5, new long[] {0, 5, 5}));
        assertThrows(IllegalArgumentException.class, () -> HostMatrix.allocate(2, 5, new long[] {0, 4}));
        assertThrows(IllegalArgumentException.class, () -> HostMatrix.allocate(2, 5, new long[] {1, 5}));
    }

    @Test
    void referenceBackendGivesTheSameResultsOnPanels() {
        int n = 7, p = 23;
        long[] panels = {0, 1, 9, 10, 23};
        SplittableRandom random = new SplittableRandom(3);
        try (JavaBackend java = new JavaBackend(); HostMatrix c = HostMatrix.allocate(n, p); HostMatrix x = HostMatrix.allocate(n, p, panels);
             HostMatrix filled = HostMatrix.allocate(n, p, panels);
             FloatPointer v = new FloatPointer(p); FloatPointer a = new FloatPointer(p); FloatPointer b = new FloatPointer(p)) {
            for (int j = 0; j < p; j++) {
                v.put(j, (float) random.nextDouble());
                for (int i = 0; i < n; i++) {
                    float value = (float) (random.nextDouble() - 0.5);
                    c.data().put(c.storageIndex(i, j), value);
                    x.data().put(x.storageIndex(i, j), value);
                }
            }
            assertArrayEquals(floats(c.columns(2, 9)), floats(x.columns(2, 9)));
            long[] blocks = {0, 5, 23};
            java.blockGramProduct(c, blocks, v, a);
            java.blockGramProduct(x, blocks, v, b);
            assertArrayEquals(get(a, p), get(b, p), "block product");
            java.multiplyTransposed(c, v, a);
            java.multiplyTransposed(x, v, b);
            assertArrayEquals(get(a, p), get(b, p), "X^T u");
            java.fillSyntheticGradients(filled, 2, 0.1f, 9);
            java.fillSyntheticGradients(c, 2, 0.1f, 9);
            for (int j = 0; j < p; j++) {
                for (int i = 0; i < n; i++) assertEquals(c.data().get(c.storageIndex(i, j)), filled.data().get(filled.storageIndex(i, j)));
            }
        }
    }

    private static float[] floats(java.nio.FloatBuffer b) {
        float[] a = new float[b.remaining()];
        b.duplicate().get(a);
        return a;
    }

    private static float[] get(FloatPointer p, int count) {
        float[] a = new float[count];
        p.position(0).get(a);
        return a;
    }
}
