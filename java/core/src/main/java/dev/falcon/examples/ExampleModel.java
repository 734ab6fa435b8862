package dev.falcon.examples;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.CounterRandom;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.SolverOptions;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A built-in example: the real prunable layers of a published architecture (shapes in PyTorch order,
 * flatten order = module definition order, FLOPs per weight = output H*W for a convolution, 1 for a
 * linear layer) with deterministic synthetic weights and gradients.
 *
 * @param name         the name {@code --example} takes
 * @param description  one line: architecture and input resolution
 * @param layers       prunable weights (conv + linear, no biases, no batch-norm)
 * @param defaultRows  n used when {@code --n} is not given: small enough that X fits comfortably in memory
 */
public record ExampleModel(String name, String description, LayerTable layers, int defaultRows) {

    /** Rank of the synthetic gradients' low-rank part. */
    public static final int GRADIENT_RANK = 8;
    /** Amplitude of the synthetic gradients' noise part. */
    public static final float GRADIENT_NOISE = 0.1f;

    /**
     * Kaiming-scaled uniform weights: layer l gets {@code sqrt(6 / fan_in) * uniform(seed', i)} with
     * fan_in = count / shape[0] and seed' derived from the seed and the layer index. Deterministic
     * for a given seed whatever the machine. The caller closes the pointer.
     */
    public FloatPointer syntheticWeights(long seed) {
        long p = layers.parameters();
        FloatPointer w = new FloatPointer(p);
        // a direct-buffer view: FloatPointer.put(i, v) is one JNI call per element
        FloatBuffer view = w.position(0).limit(p).asBuffer();
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            long fanIn = Math.max(1, layer.count() / layer.shape()[0]);
            float bound = (float) Math.sqrt(6.0 / fanIn);
            long layerSeed = CounterRandom.mix64(seed * 0x9E3779B97F4A7C15L + l + 1);
            int offset = Math.toIntExact(layer.offset());
            for (int i = 0; i < layer.count(); i++) view.put(offset + i, bound * CounterRandom.uniform(layerSeed, i));
        }
        return w;
    }

    /**
     * Synthetic per-sample gradients X (rows x p, low rank {@value #GRADIENT_RANK} plus noise
     * {@value #GRADIENT_NOISE}) filled by {@link ComputeBackend#fillSyntheticGradients}. Caller closes.
     */
    public HostMatrix syntheticGradients(ComputeBackend backend, int rows, long seed) {
        return syntheticGradients(backend, rows, seed, Backsolve.blockStarts(layers, SolverOptions.DEFAULT_BLOCK_SIZE));
    }

    /** As above, in the layout the backend prefers for these solver blocks (null: column-major on every backend). */
    public HostMatrix syntheticGradients(ComputeBackend backend, int rows, long seed, long[] blockStarts) {
        if (rows <= 0) throw new IllegalArgumentException("rows must be positive, got " + rows);
        HostMatrix x = backend.allocate(rows, layers.parameters(), blockStarts);
        try {
            backend.fillSyntheticGradients(x, GRADIENT_RANK, GRADIENT_NOISE, seed);
        } catch (RuntimeException | Error e) {
            x.close();
            throw e;
        }
        return x;
    }

    /**
     * How the synthetic weights and X are generated, as formulas a user can evaluate outside falcon (numpy, ...) to
     * recompute a run's objective: the report carries them, since it holds neither the weights nor X, and its seed and
     * rows alone regenerate nothing. Keep them in step with {@link #syntheticWeights}, the backends'
     * {@code fillSyntheticGradients} and {@link CounterRandom}.
     */
    public static Map<String, String> generatorFormulas() {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("weights_formula", "w[offset_l + i] = float(sqrt(6 / fan_in_l)) * U(mix64(seed * 0x9E3779B97F4A7C15 + l + 1), i) in float32, "
                + "for layer l = 0, 1, ... of the layer table and i = 0 .. count_l - 1, fan_in_l = max(1, count_l / shape_l[0]) (integer division)");
        f.put("gradients_formula", "X[i, j] = s_ij * float(1 / sqrt(" + GRADIENT_RANK + ")) + " + GRADIENT_NOISE + " * U(seed + 3, j * n + i) in float32, "
                + "s_ij = the float32 sum over r = 0 .. " + (GRADIENT_RANK - 1) + ", in that order, of U(seed + 1, " + GRADIENT_RANK + " i + r) * U(seed + 2, "
                + GRADIENT_RANK + " j + r), for i < n (rows) and j < p");
        f.put("uniform_formula", "U(s, k) = (mix64(s XOR (k * 0x9E3779B97F4A7C15)) >>> 40) * 2^-23 - 1 (uniform on [-1, 1)), in 64-bit wrapping arithmetic, "
                + "mix64(z) = SplitMix64's finaliser: z = (z XOR z >>> 30) * 0xBF58476D1CE4E5B9; z = (z XOR z >>> 27) * 0x94D049BB133111EB; z XOR z >>> 31");
        return f;
    }

    /** Bytes of X for a given number of rows (float32). */
    public long gradientBytes(long rows) {
        return Math.multiplyExact(rows, layers.parameters()) * Float.BYTES;
    }
}
