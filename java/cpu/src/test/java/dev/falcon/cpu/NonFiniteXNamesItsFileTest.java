package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A NaN in X read from a file is reported with the file's name on every backend and load path. Only a float32
 * Fortran-order file that cpu maps in place was named ("X (mapped file ...)"); every X copied or converted from a file
 * (cpu's C-order or float64 conversions, loadCopy, panels, and every load of the java backend) said "X (allocated)".
 */
class NonFiniteXNamesItsFileTest {
    private static final int N = 6, P = 70, BAD_ROW = 3, BAD_COL = 7;
    @TempDir Path dir;

    /** X[i, j] = i - j / 100, with NaN at X[3, 7], as '<f4' or '<f8', in Fortran or C order. */
    private Path write(String name, boolean fortranOrder, boolean float64) throws IOException {
        Path file = dir.resolve(name);
        String dict = "{'descr': '<f" + (float64 ? 8 : 4) + "', 'fortran_order': " + (fortranOrder ? "True" : "False") + ", 'shape': (" + N + ", " + P + "), }";
        int headerLength = 10 + dict.length() + 1;
        String padded = dict + " ".repeat((64 - headerLength % 64) % 64) + "\n";
        int width = float64 ? 8 : 4;
        ByteBuffer b = ByteBuffer.allocate(10 + padded.length() + width * N * P).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) padded.length()).put(padded.getBytes(StandardCharsets.US_ASCII));
        for (int outer = 0; outer < (fortranOrder ? P : N); outer++) {
            for (int inner = 0; inner < (fortranOrder ? N : P); inner++) {
                int i = fortranOrder ? inner : outer, j = fortranOrder ? outer : inner;
                double v = i == BAD_ROW && j == BAD_COL ? Double.NaN : i - j / 100.0;
                if (float64) b.putDouble(v); else b.putFloat((float) v);
            }
        }
        Files.write(file, b.array());
        return file;
    }

    private interface Load { HostMatrix from(ComputeBackend backend, RawMatrixSource source) throws IOException; }

    private static void assertNamed(ComputeBackend backend, Path file, String how, Load load, String origin) throws IOException {
        LayerTable layers = new LayerTable(List.of(new Layer("a", new long[] {40}, 2, 0, 40), new Layer("b", new long[] {30}, 1, 40, 30)), "test");
        Budgets budgets = Budgets.resolve(layers, 0.5, null, null, null, null);
        try (FloatPointer w = new FloatPointer(P); Pruner pruner = new Pruner(backend);
             HostMatrix x = load.from(backend, ArrayFiles.matrixSource(file.toString(), "X"))) {
            for (int j = 0; j < P; j++) w.put(j, 1 + j % 5);
            InputException e = assertThrows(InputException.class, () -> {
                try (PruneResult r = pruner.prune(Method.FALCON, w, layers, budgets, new Pruner.SolverInputs(x, null, 1e-3, null, null))) {
                    r.kept();
                }
            }, backend.name() + " " + how + " " + file.getFileName());
            String expected = "X (" + origin + " " + file.getFileName() + "): values: X[" + BAD_ROW + ", " + BAD_COL + "] is NaN";
            assertTrue(e.getMessage().startsWith(expected), backend.name() + " " + how + ": " + e.getMessage());
            assertEquals(origin + " " + file.getFileName(), x.origin());
        }
    }

    @Test
    void everyLoadOfAFileNamesItInTheNaNMessage() throws IOException {
        Path fortran = write("Xnan_f.npy", true, false);
        Path cOrder = write("Xnan_c.npy", false, false);
        Path wide = write("Xnan64.npy", false, true);
        long[] blocks = {0, 40, P};
        try (CpuBackend cpu = new CpuBackend(2); JavaBackend java = new JavaBackend()) {
            assertNamed(cpu, fortran, "load", ComputeBackend::load, "mapped file");
            assertNamed(cpu, fortran, "loadCopy", ComputeBackend::loadCopy, "copy of file");
            assertNamed(cpu, fortran, "loadCopy with blocks", (b, s) -> b.loadCopy(s, blocks), "copy of file");
            for (Path converted : List.of(cOrder, wide)) {
                assertNamed(cpu, converted, "load", ComputeBackend::load, "copy of file");
                assertNamed(cpu, converted, "load with blocks", (b, s) -> b.load(s, blocks), "copy of file");
                assertNamed(cpu, converted, "loadCopy", ComputeBackend::loadCopy, "copy of file");
            }
            for (Path any : List.of(fortran, cOrder, wide)) {
                assertNamed(java, any, "load", ComputeBackend::load, "copy of file");
                assertNamed(java, any, "loadCopy", ComputeBackend::loadCopy, "copy of file");
            }
        }
    }
}
