package dev.falcon.io;

import dev.falcon.data.ElementType;
import dev.falcon.data.HalfFloats;
import java.nio.ByteBuffer;

/** Element types known to the readers (package-private). */
enum Dtype {
    F32(4, "float32"), F64(8, "float64"), F16(2, "float16"), BF16(2, "bfloat16"),
    BOOL(1, "bool"), U8(1, "uint8"), I8(1, "int8"), I16(2, "int16"), U16(2, "uint16"),
    I32(4, "int32"), U32(4, "uint32"), I64(8, "int64"), U64(8, "uint64"),
    /** Known to safetensors but not convertible here. */
    F8_E4M3(1, "float8_e4m3"), F8_E5M2(1, "float8_e5m2"),
    /**
     * A safetensors dtype not listed here (the format keeps adding them: F8_E8M0, F4, F6_E2M3, ...): its tensor is
     * listed and its extent checked, so the other tensors of the file stay readable, but it is never converted. Its
     * size is unknown (0), since some of these types take less than a byte per element.
     */
    UNLISTED(0, "a dtype not known here");

    final int size;
    final String label;

    Dtype(int size, String label) {
        this.size = size;
        this.label = label;
    }

    boolean floating() {
        return this == F32 || this == F64 || this == F16 || this == BF16;
    }

    /** True when {@link #value} can convert it (every type but the float8 variants and unlisted ones). */
    boolean convertible() {
        return this != F8_E4M3 && this != F8_E5M2 && this != UNLISTED;
    }

    /** The matrix element type for X, or null when X cannot be stored in this type. */
    ElementType elementType() {
        return switch (this) {
            case F32 -> ElementType.FLOAT32;
            case F64 -> ElementType.FLOAT64;
            case F16 -> ElementType.FLOAT16;
            case BF16 -> ElementType.BFLOAT16;
            default -> null;
        };
    }

    /** Element at absolute byte index {@code at} of {@code b} (whose byte order is set), as a double. */
    double value(ByteBuffer b, int at) {
        return switch (this) {
            case F32 -> b.getFloat(at);
            case F64 -> b.getDouble(at);
            case F16 -> HalfFloats.fromFloat16(b.getShort(at));
            case BF16 -> HalfFloats.fromBfloat16(b.getShort(at));
            // numpy takes any non-zero byte for True: a mask written by C code may hold 255 or 7 there
            case BOOL -> b.get(at) != 0 ? 1 : 0;
            case U8 -> b.get(at) & 0xff;
            case I8 -> b.get(at);
            case I16 -> b.getShort(at);
            case U16 -> b.getShort(at) & 0xffff;
            case I32 -> b.getInt(at);
            case U32 -> b.getInt(at) & 0xffffffffL;
            case I64 -> b.getLong(at);
            case U64 -> {
                long v = b.getLong(at);
                // halved to fit a signed long, the dropped bit kept as a sticky bit: dropped outright, 2^63 + 1025
                // rounded down to 2^63 instead of up to 2^63 + 2048 as numpy rounds it
                yield v >= 0 ? v : (double) ((v >>> 1) | (v & 1)) * 2.0;
            }
            default -> throw new IllegalStateException(label + " cannot be converted");
        };
    }

    /**
     * The safetensors name {@code name} differs from only in case ("f32" for F32), or null where it differs from all of
     * them: safetensors names are upper case, and a hand-written exporter's "f32" is float32 data under a name no reader
     * takes, which the refusal of an unconvertible dtype ("save it as float32") misdescribed. Only convertible names:
     * "f8_e4m3" told "did you mean 'F8_E4M3'?" sent the user to rename data that needs converting.
     */
    static String safetensorsSpellingOf(String name) {
        String upper = name.toUpperCase(java.util.Locale.ROOT);
        return !upper.equals(name) && fromSafetensors(upper).convertible() ? upper : null;
    }

    /** The safetensors names of the convertible types, in declaration order: "F32, F64, ..., U64". */
    static String convertibleSafetensorsNames() {
        StringBuilder names = new StringBuilder();
        for (Dtype d : values()) if (d.convertible()) names.append(names.length() > 0 ? ", " : "").append(d.name());
        return names.toString();
    }

    /** Safetensors dtype names. */
    static Dtype fromSafetensors(String name) {
        return switch (name) {
            case "F32" -> F32;
            case "F64" -> F64;
            case "F16" -> F16;
            case "BF16" -> BF16;
            case "BOOL" -> BOOL;
            case "U8" -> U8;
            case "I8" -> I8;
            case "I16" -> I16;
            case "U16" -> U16;
            case "I32" -> I32;
            case "U32" -> U32;
            case "I64" -> I64;
            case "U64" -> U64;
            case "F8_E4M3" -> F8_E4M3;
            case "F8_E5M2" -> F8_E5M2;
            default -> UNLISTED;
        };
    }
}
