package dev.falcon.io;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.function.Executable;

/** Hand-built file bytes exactly as numpy / safetensors write them (no Python needed). */
final class Fixtures {
    private Fixtures() {}

    /** numpy's v1.0 layout: magic, 1, 0, uint16 header length, dict padded with spaces + '\n' to a multiple of 64. */
    static byte[] npyV1(String dict, byte[] data) {
        int total = 10 + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        ByteBuffer b = ByteBuffer.allocate(padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        b.putShort((short) (padded - 10));
        b.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (b.position() < padded - 1) b.put((byte) ' ');
        b.put((byte) '\n');
        b.put(data);
        return b.array();
    }

    /** v2.0 / v3.0 layout: uint32 header length. */
    static byte[] npyV2(int major, String dict, byte[] data) {
        byte[] d = dict.getBytes(major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        int total = 12 + d.length + 1;
        int padded = (total + 63) / 64 * 64;
        ByteBuffer b = ByteBuffer.allocate(padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        b.putInt(padded - 12);
        b.put(d);
        while (b.position() < padded - 1) b.put((byte) ' ');
        b.put((byte) '\n');
        b.put(data);
        return b.array();
    }

    static String dict(String descr, boolean fortran, String shape) {
        return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
    }

    static byte[] floats(ByteOrder order, float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(order);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    static byte[] doubles(double... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double f : v) b.putDouble(f);
        return b.array();
    }

    static byte[] shorts(int... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int s : v) b.putShort((short) s);
        return b.array();
    }

    /** A safetensors file: 8-byte little-endian length, the JSON header as given, the data. */
    static byte[] safetensors(String json, byte[] data) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
        out.writeBytes(len.array());
        out.writeBytes(h);
        out.writeBytes(data);
        return out.toByteArray();
    }

    static Path write(Path dir, String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }

    /** Asserts an InputException whose message names the file and every given fragment (field names etc.). */
    static InputException assertInput(Executable call, Path file, String... fragments) {
        InputException e = assertThrows(InputException.class, call);
        String m = e.getMessage();
        assertTrue(m.contains(file.getFileName().toString()), () -> "message does not name the file: " + m);
        for (String f : fragments) assertTrue(m.contains(f), () -> "message lacks '" + f + "': " + m);
        return e;
    }
}
