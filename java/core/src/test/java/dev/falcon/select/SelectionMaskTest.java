package dev.falcon.select;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/** The mask handed to a caller's own off-heap buffer: the pruner's mp path copied it through a second p-byte allocation. */
class SelectionMaskTest {

    private static Selection selection(byte[] mask) {
        long kept = 0;
        for (byte b : mask) kept += b;
        return new Selection(mask, mask.length, kept, kept, new long[] {kept}, 1.0, 1.0, 0.0, 0.0, 1, 0.0, "test");
    }

    @Test
    void copyMaskToWritesTheMaskAtTheDestinationsAddressWithoutAllocating() {
        byte[] bits = {1, 0, 1, 1, 0, 0, 1};
        try (BytePointer dst = new BytePointer(bits.length); Selection s = selection(bits.clone())) {
            dst.fill(7);
            // a caller's pointer moved by an earlier view: the copy still starts at the buffer's address
            dst.position(3);
            long before = Pointer.totalBytes();
            s.copyMaskTo(dst);
            assertEquals(before, Pointer.totalBytes(), "copyMaskTo allocated off-heap memory");
            byte[] got = new byte[bits.length];
            dst.position(0).get(got);
            assertArrayEquals(bits, got);
        }
    }

    @Test
    void copyMaskToRefusesADestinationTooSmallAndAClosedSelection() {
        Selection s = selection(new byte[] {1, 0, 1});
        try (BytePointer small = new BytePointer(2)) {
            assertEquals("mask destination holds 2 bytes, the mask 3",
                    assertThrows(IllegalArgumentException.class, () -> s.copyMaskTo(small)).getMessage());
            s.close();
            assertThrows(IllegalStateException.class, () -> s.copyMaskTo(small));
        }
    }
}
