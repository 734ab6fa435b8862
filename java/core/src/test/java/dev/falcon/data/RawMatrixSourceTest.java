package dev.falcon.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteOrder;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class RawMatrixSourceTest {
    private static RawMatrixSource fortranFloat32At(long offset) {
        return new RawMatrixSource(Path.of("X.npy"), offset, ElementType.FLOAT32, ByteOrder.LITTLE_ENDIAN, false, 3, 5);
    }

    @Test
    void floatAlignedFortranFloat32IsTheInternalLayout() {
        assertTrue(fortranFloat32At(128).isInternalLayout());
        assertTrue(fortranFloat32At(76).isInternalLayout());
    }

    /** A mapping of such a file would hand the native kernels misaligned floats (undefined behaviour in C++). */
    @Test
    void dataOffsetOffTheFloatBoundaryIsConvertedNotMapped() {
        assertFalse(fortranFloat32At(74).isInternalLayout());
        assertFalse(fortranFloat32At(75).isInternalLayout());
    }

    /** The report said "x_conversion: none" for a big-endian float32 X, whose every value is byte-swapped while loading. */
    @Test
    void aBigEndianFloat32XIsSaidToBeByteSwapped() {
        RawMatrixSource bigEndian = new RawMatrixSource(Path.of("X.npy"), 128, ElementType.FLOAT32, ByteOrder.BIG_ENDIAN, true, 3, 5);
        assertTrue(bigEndian.conversion() != null && bigEndian.conversion().contains("byte-swapped"), String.valueOf(bigEndian.conversion()));
        assertTrue(bigEndian.typeAndConversion().contains("big-endian") && bigEndian.typeAndConversion().contains("byte-swapped"));
        assertEquals(null, fortranFloat32At(128).conversion(), "little-endian float32 is read as it is");
    }
}
