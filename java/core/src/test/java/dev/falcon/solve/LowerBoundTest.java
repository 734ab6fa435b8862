package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.JavaBackend;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.nio.FloatBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Two weights in one layer, one of them kept, no FLOP limit. With X = 0 (fit term 0) the minimum of Q over the
 * supports of one weight is known in closed form: the kept j moves to wbar_j - g_j / lambda (Q -g_j^2 / (2 lambda)),
 * the pruned i to 0 (Q lambda/2 wbar_i^2 - g_i wbar_i); the bound, whose fit term is 0 too, is that minimum.
 */
class LowerBoundTest {
    private static final LayerTable ONE_LAYER = new LayerTable(List.of(new Layer("l0", new long[] {2}, 1.0, 0, 2)), "test");

    private static LowerBound bound(float[] wbar, float[] g, double lambda) {
        try (JavaBackend backend = new JavaBackend()) {
            return LowerBound.of(backend, FloatBuffer.wrap(wbar), g == null ? null : FloatBuffer.wrap(g), lambda, ONE_LAYER, 1, 2);
        }
    }

    /** Q of keeping {@code kept} and pruning the other weight, with X = 0, in double. */
    private static double minimumKeeping(int kept, float[] wbar, float[] g, double lambda) {
        int pruned = 1 - kept;
        double gk = g == null ? 0 : g[kept], gp = g == null ? 0 : g[pruned];
        return -gk * gk / (2 * lambda) + 0.5 * lambda * wbar[pruned] * wbar[pruned] - gp * wbar[pruned];
    }

    @Test
    void anOrdinaryInstanceIsBoundedByItsMinimum() {
        float[] wbar = {1, 2}, g = {0.5f, 0};
        LowerBound b = bound(wbar, g, 2.0);
        assertNull(b.unavailable());
        double min = Math.min(minimumKeeping(0, wbar, g, 2.0), minimumKeeping(1, wbar, g, 2.0));
        assertEquals(0.5, min, 1e-15);
        assertEquals(min, b.value(), 1e-12);
    }

    /**
     * g/lambda = 1e290 is a double, its square is not: the scores were (1e290)^2 times a scale of 2^-1806 = 0, Infinity
     * times 0, and the bound NaN, where the minimum, -g^2 / (2 lambda) = -5e279, is an ordinary double.
     */
    @Test
    void aSquaredShiftBeyondDoubleStillGivesTheMinimum() {
        float[] wbar = {1, 2}, g = {1e-10f, 0};
        double lambda = 1e-300;
        LowerBound b = bound(wbar, g, lambda);
        double min = Math.min(minimumKeeping(0, wbar, g, lambda), minimumKeeping(1, wbar, g, lambda));
        assertTrue(Double.isFinite(min) && min < -1e279, "the minimum " + min);
        assertNull(b.unavailable(), b.toString());
        assertEquals(min, b.value(), 1e-12 * Math.abs(min), b.toString());
        assertTrue(b.value() <= min * (1 - 1e-15), "a bound is not above the minimum: " + b.value() + " > " + min);
    }

    /** g/lambda = 1e310 and a minimum of -5e319: no double is that bound, and none is given as one. */
    @Test
    void aMinimumBelowTheSmallestDoubleIsNoBound() {
        LowerBound b = bound(new float[] {1, 2}, new float[] {1e10f, 0}, 1e-300);
        assertTrue(Double.isNaN(b.value()), "no finite or infinite value is the bound: " + b);
        assertNotNull(b.unavailable());
        assertTrue(b.unavailable().contains("below -1.8e308"), b.unavailable());
        assertTrue(Double.isNaN(b.relativeRoom(-1.0)), "no room is measured against a bound that is not there");
    }

    /** Weights near float max and lambda 1e300: lambda/2 wbar^2 = 4.5e376 overflows; the bound was Infinity. */
    @Test
    void aMinimumAboveTheLargestDoubleIsNoBound() {
        float[] wbar = {3e38f, 3.2e38f};
        LowerBound b = bound(wbar, null, 1e300);
        assertTrue(Double.isNaN(b.value()), b.toString());
        assertTrue(b.unavailable().contains("above the largest double"), b.unavailable());
        // the same weights with lambda 1e200: the minimum 4.5e276 is a double, and the bound is it
        LowerBound ok = bound(wbar, null, 1e200);
        double min = minimumKeeping(1, wbar, null, 1e200);
        assertNull(ok.unavailable());
        // the selector's dual is on scores rounded up to float: the bound may lie a float rounding below, never above
        assertTrue(ok.value() <= min && ok.value() >= min * (1 - 1e-6), ok.value() + " against the minimum " + min);
    }
}
