package dev.falcon.data;

/**
 * Counter-based pseudo-random numbers: the value at (seed, index) depends on nothing else, so every
 * backend (Java, C++, CUDA) fills the same element with the same number whatever its thread count or
 * order of work. Native kernels implement the same formulas; keep them in step.
 */
public final class CounterRandom {
    private CounterRandom() {}

    /** SplitMix64 finaliser. */
    public static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform on [-1, 1) with 24 random bits: {@code (mix64(seed ^ (index * golden)) >>> 40) * 2^-23 - 1}. */
    public static float uniform(long seed, long index) {
        long bits = mix64(seed ^ (index * 0x9E3779B97F4A7C15L)) >>> 40;
        return bits * 0x1p-23f - 1f;
    }
}
