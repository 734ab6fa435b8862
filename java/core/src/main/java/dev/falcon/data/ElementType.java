package dev.falcon.data;

/** Element types accepted for X on input; everything is converted once to float32. */
public enum ElementType {
    FLOAT32(4), FLOAT64(8), FLOAT16(2), BFLOAT16(2);

    private final int bytes;

    ElementType(int bytes) { this.bytes = bytes; }

    public int bytes() { return bytes; }
}
