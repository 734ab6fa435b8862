package dev.falcon.cpu;

import static dev.falcon.data.CloseDuringUseTest.N;
import static dev.falcon.data.CloseDuringUseTest.P;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.data.CloseDuringUseTest;
import dev.falcon.data.HostMatrix;
import dev.falcon.io.ArrayFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link CloseDuringUseTest}'s race on the cpu backend's native kernels, for X allocated and X mapped from a file. */
class CpuCloseDuringUseTest {
    @TempDir Path dir;

    /** Child entry point: args[0] is a folder for the mapped file. */
    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0], "x.npy");
        try (CpuBackend backend = new CpuBackend(2)) {
            List<String> failures = new ArrayList<>();
            failures.addAll(CloseDuringUseTest.race(backend, () -> filled(backend), 3));
            try (HostMatrix x = filled(backend)) {
                writeFortranNpy(x, file);
            }
            failures.addAll(CloseDuringUseTest.race(backend, () -> {
                try {
                    HostMatrix x = backend.load(ArrayFiles.matrixSource(file.toString(), "X"));
                    if (!x.origin().startsWith("mapped")) throw new IllegalStateException("X was not mapped: " + x.origin());
                    return x;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, 3));
            System.out.println(failures.isEmpty() ? CloseDuringUseTest.PASSED : String.join("\n", failures));
            System.exit(failures.isEmpty() ? 0 : 1);
        }
    }

    private static HostMatrix filled(CpuBackend backend) {
        HostMatrix x = backend.allocate(N, P, null);
        backend.fillUniform(x.data(), x.elements(), 1, 1f);
        return x;
    }

    private static void writeFortranNpy(HostMatrix x, Path file) throws IOException {
        String dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (" + x.rows() + ", " + x.cols() + "), }";
        int headerLength = 10 + dict.length() + 1;
        String padded = dict + " ".repeat((64 - headerLength % 64) % 64) + "\n";
        ByteBuffer header = ByteBuffer.allocate(10 + padded.length()).order(ByteOrder.LITTLE_ENDIAN);
        header.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        header.putShort((short) padded.length()).put(padded.getBytes(StandardCharsets.US_ASCII)).flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            while (header.hasRemaining()) ch.write(header);
            ByteBuffer data = new BytePointer(x.data()).capacity(x.bytes()).asByteBuffer();
            while (data.hasRemaining()) ch.write(data);
        }
    }

    @Test
    void closingXWhileTheCpuKernelsReadItWaitsForTheProduct() throws Exception {
        String[] child = CloseDuringUseTest.runChild(CpuCloseDuringUseTest.class, dir.toString());
        assertEquals("0", child[0], child[1]);
        assertTrue(child[1].contains(CloseDuringUseTest.PASSED), child[1]);
    }
}
