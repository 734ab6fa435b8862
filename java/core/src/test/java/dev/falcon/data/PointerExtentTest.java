package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

class PointerExtentTest {

    /**
     * A position at or past the pointer's limit (or capacity) holds no elements. It was read as an unknown length (-1)
     * and passed every check, so the kernels read garbage (NaN) from past the end and wrote past the allocation.
     */
    @Test
    void aPositionAtOrPastTheEndHoldsNothing() {
        try (FloatPointer limited = new FloatPointer(1000); FloatPointer capacityOnly = new FloatPointer(1000)) {
            capacityOnly.limit(0);
            for (FloatPointer v : new FloatPointer[] {limited, capacityOnly}) {
                for (long position : new long[] {1000, 1001, 5000}) {
                    v.position(position);
                    String what = "limit " + v.limit() + ", capacity " + v.capacity() + ", position " + position;
                    assertEquals(0, PointerExtent.available(v), what);
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PointerExtent.require(v, 1000, "v"), what);
                    assertEquals("v holds 0 elements but 1000 are needed", e.getMessage(), what);
                }
                v.position(999);
                assertEquals(1, PointerExtent.available(v));
                PointerExtent.require(v, 1, "v");
                v.position(0);
            }
        }
    }

    /** A bare native address (no limit, no capacity) is of unknown length and is let through, at any position. */
    @Test
    void aBareAddressIsOfUnknownLength() {
        try (FloatPointer owner = new FloatPointer(10)) {
            FloatPointer bare = new FloatPointer(owner).capacity(0).limit(0);
            for (long position : new long[] {0, 3, 20}) {
                bare.position(position);
                assertEquals(-1, PointerExtent.available(bare));
                PointerExtent.require(bare, 1000, "bare");
            }
        }
    }
}
