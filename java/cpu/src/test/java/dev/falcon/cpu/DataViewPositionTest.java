package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * An embedder reading one column of X the JavaCPP way, {@code x.data().position(col * n).get(column)}, moved the
 * position of the pointer every backend passes to its kernels (which read from address + position): every later
 * product ran on X shifted by that many floats, past its end, without an error.
 */
class DataViewPositionTest {
    @Test
    void readingAColumnThroughDataDoesNotMoveXForTheBackend() {
        int n = 8, p = 50;
        try (CpuBackend backend = (CpuBackend) new CpuBackendProvider().create(1);
             HostMatrix x = backend.allocate(n, p, null);
             FloatPointer v = new FloatPointer(p); FloatPointer out = new FloatPointer(n)) {
            backend.fillUniform(x.data(), x.elements(), 3, 1f);
            backend.fillUniform(v, p, 4, 1f);
            backend.multiply(x, v, out);
            float[] want = new float[n];
            out.get(want);

            float[] column = new float[n];
            try (HostMatrix.Use use = x.use("the embedder's column read")) {
                x.data().position(3L * n).get(column);
            }

            backend.multiply(x, v, out);
            float[] got = new float[n];
            out.get(got);
            assertArrayEquals(want, got, "the product after the caller moved data()'s position");
            assertEquals(-1, backend.firstNonFinite(x));
            assertEquals(0, x.data().position(), "data() handed out the matrix's own pointer, moved by its caller");
            assertEquals(x.columns(3, 1).get(0), column[0]);
            assertEquals(x.data().get(3L * n + 1), column[1]);
        }
    }
}
