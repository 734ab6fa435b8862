package dev.falcon.data;

/** Conversions of 16-bit floating-point storage formats to float32 (JDK 17 has none built in). */
public final class HalfFloats {
    private HalfFloats() {}

    /** IEEE 754 binary16 to float32, exact for every value including subnormals, infinities and NaN. */
    public static float fromFloat16(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) return Float.intBitsToFloat(sign);
            float value = mantissa * 0x1p-24f; // subnormal: mantissa * 2^-24
            return sign != 0 ? -value : value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** bfloat16 is the upper half of a float32. */
    public static float fromBfloat16(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }
}
