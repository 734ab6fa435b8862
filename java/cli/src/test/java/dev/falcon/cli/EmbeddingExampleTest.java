package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.LayersJson;
import dev.falcon.io.Npy;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.SolverOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's "Java API" example, run as written on small files: if the API changes, this stops compiling. */
class EmbeddingExampleTest {
    @Test
    void theReadmeExampleRuns(@TempDir Path dir) throws IOException {
        writeInputs(dir, false);
        readmeExample(dir);
    }

    /**
     * The README's example gives the CLI's weights bit for bit, on a C-order X (which both convert) and a Fortran-order
     * one (which cpu maps in place). The example loaded X with {@code backend.load(source)}, column-major, where the
     * CLI loads it in the panels of its blocks ({@code load(source, blockStarts)}): on a C-order X the cpu backend's
     * block products then added in another order, and the example's weights differed from the CLI's (at p = 5,000 a
     * support 12 weights apart).
     */
    @Test
    void theReadmeExampleGivesTheClisWeightsOnCAndFortranOrderX(@TempDir Path dir) throws IOException {
        for (boolean fortranOrder : new boolean[] {false, true}) {
            writeInputs(dir, fortranOrder);
            ExampleResult example = readmeExample(dir);
            Path out = dir.resolve("cli-pruned.npy");
            java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
            int code = Main.execute(new String[] {"prune", "--weights", dir.resolve("w.npy").toString(), "--grads", dir.resolve("X.npy").toString(),
                    "--layers", dir.resolve("layers.json").toString(), "--keep-flops", "0.3", "--keep-nnz", "0.5", "--method", "falcon",
                    "--device", example.backend(), "--threads", "2", "--out", out.toString(),
                    "--report", dir.resolve("cli-report.json").toString(), "-q"},
                    new java.io.PrintStream(new java.io.ByteArrayOutputStream()), new java.io.PrintStream(err, true));
            assertEquals(0, code, err.toString());
            float[] cli = new float[example.pruned().length];
            try (FloatPointer read = ArrayFiles.readVector(out.toString(), "the CLI's --out", cli.length)) {
                read.get(cli);
            }
            String order = fortranOrder ? "Fortran-order" : "C-order";
            for (int j = 0; j < cli.length; j++) {
                assertEquals(Float.floatToRawIntBits(cli[j]), Float.floatToRawIntBits(example.pruned()[j]),
                        order + " X on " + example.backend() + ": weight " + j + " is " + example.pruned()[j] + " by the README's example, " + cli[j] + " by the CLI");
            }
        }
    }

    /** X (32 x 3000, C order as numpy saves by default, or Fortran order), w and two layers, in dir. */
    private static void writeInputs(Path dir, boolean fortranOrder) throws IOException {
        int rows = 32, cols = 3000;
        SplittableRandom rnd = new SplittableRandom(5);
        try (FloatPointer xs = new FloatPointer((long) rows * cols); FloatPointer w0 = new FloatPointer(cols)) {
            for (long i = 0; i < (long) rows * cols; i++) xs.put(i, (float) rnd.nextDouble(-1, 1));
            for (int j = 0; j < cols; j++) w0.put(j, (float) rnd.nextDouble(-1, 1));
            if (fortranOrder) writeFortranOrder(dir.resolve("X.npy"), xs, rows, cols);
            else Npy.writeFloat32(dir.resolve("X.npy"), xs, new long[] {rows, cols});
            Npy.writeFloat32(dir.resolve("w.npy"), w0, new long[] {cols});
        }
        LayersJson.write(dir.resolve("layers.json"), new LayerTable(List.of(new Layer("conv", new long[] {2000}, 9, 0, 2000),
                new Layer("fc", new long[] {1000}, 1, 2000, 1000)), "test"));
    }

    /** The same matrix as Npy.writeFloat32 of {@code rowMajor} writes, saved as np.save saves np.asfortranarray(X). */
    private static void writeFortranOrder(Path file, FloatPointer rowMajor, int rows, int cols) throws IOException {
        String dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (" + rows + ", " + cols + "), }";
        int unpadded = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(10 + header.length() + 4 * rows * cols).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bytes.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length())
                .put(header.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < rows; i++) bytes.putFloat(rowMajor.get((long) i * cols + j));
        }
        Files.write(file, bytes.array());
    }

    /** What the README's example computed, and on which backend. */
    private record ExampleResult(float[] pruned, String backend) {}

    /** The README's example, as written but for the files in dir and the lines marked "// test only". */
    private static ExampleResult readmeExample(Path dir) throws IOException {
        ExampleResult[] result = new ExampleResult[1]; // test only
        // ---- the README's example, with the files in dir
        RawMatrixSource source = ArrayFiles.matrixSource(dir.resolve("X.npy").toString(), "X");
        long p = source.cols();
        LayerTable layers = LayersJson.read(dir.resolve("layers.json"), p);
        Budgets budgets = Budgets.resolve(layers, 0.3, null, 0.5, null, null);  // 30% of the FLOPs, 50% of the weights
        SolverOptions options = SolverOptions.defaults();
        try (ComputeBackend backend = Backends.choose(null).create(2);   // -Dfalcon.backend=NAME, else auto: cuda > cpu > java
             HostMatrix x = backend.load(source, Backsolve.blockStarts(layers, options.blockSize()));   // as the CLI loads it
             FloatPointer w = ArrayFiles.readVector(dir.resolve("w.npy").toString(), "w", p);
             Pruner pruner = new Pruner(backend);
             PruneResult r = pruner.prune(Method.FALCON, w, layers, budgets,
                     new Pruner.SolverInputs(x, null, 1e-3, options, Backsolve.Mode.NONE))) {
            float[] pruned = r.copyPrunedWeights();             // zeros where the mask r.copyMask() is 0
            System.out.printf("kept %d of %d weights, %.0f FLOPs; Q = %.6g%n", r.kept(), p, r.keptFlops(), r.solve().qFinal()); // test only
            assertTrue(r.kept() <= budgets.nnz() && r.keptFlops() <= budgets.flops()); // test only
            long nonzero = 0; // test only
            for (float v : pruned) if (v != 0) nonzero++; // test only
            assertEquals(r.kept(), nonzero); // test only
            result[0] = new ExampleResult(pruned, backend.name()); // test only
        }
        // ---- end of the example
        return result[0];
    }

    /**
     * The README says its example "is run as written" here: its lines, with the file names put in dir, are the lines of
     * the example above in order, which may add only lines marked "// test only". The example above once renamed the
     * README's p (pWeights), so the README's text was not what ran.
     */
    @Test
    void theReadmesExampleIsTheCodeThisTestRuns() throws IOException {
        List<String> readmeLines = readmeJavaBlock(0);
        List<String> testLines = linesOfThisTest("// ---- the README's example", "// ---- end of the example").stream()
                .map(l -> l.replace("dir.resolve(\"X.npy\").toString()", "\"X.npy\"")
                        .replace("dir.resolve(\"w.npy\").toString()", "\"w.npy\"")
                        .replace("dir.resolve(\"layers.json\")", "Path.of(\"layers.json\")"))
                .toList();
        assertEquals(String.join("\n", readmeLines), String.join("\n", testLines),
                "README.md's Java example and the one EmbeddingExampleTest runs differ");
    }

    /**
     * The README's recipe for X from Java memory (a wrapped copy, or memory X owns filled inside a write), run as written:
     * both give the same X, and so the same falcon prune.
     */
    @Test
    void theReadmesRecipeForXFromJavaMemoryRuns() {
        int n = 16, p = 500;
        SplittableRandom rnd = new SplittableRandom(9);
        LayerTable layers = new LayerTable(List.of(new Layer("a", new long[] {300}, 4, 0, 300), new Layer("b", new long[] {200}, 1, 300, 200)), "test");
        Budgets budgets = Budgets.resolve(layers, 0.3, null, 0.5, null, null);
        float[][] results = new float[2][];
        try (ComputeBackend backend = Backends.choose(null).create(2); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(p)) {
            for (int j = 0; j < p; j++) w.put(j, (float) rnd.nextDouble(-1, 1));
            // ---- the README's recipe
            float[] gradients = new float[n * p];                // X column by column: X[i, j] at gradients[j * n + i]
            for (int k = 0; k < gradients.length; k++) gradients[k] = (float) rnd.nextDouble(-1, 1); // test only
            FloatPointer xs = new FloatPointer(gradients);       // an off-heap copy
            try (HostMatrix x = HostMatrix.wrap(xs, n, p, xs::close, "my gradients")) {   // x.close() frees the copy
                // pruner.prune(Method.FALCON, w, layers, budgets, new Pruner.SolverInputs(x, null, 1e-3, SolverOptions.defaults(), null))
                try (PruneResult r = pruner.prune(Method.FALCON, w, layers, budgets, new Pruner.SolverInputs(x, null, 1e-3, SolverOptions.defaults(), null))) { // test only
                    results[0] = r.copyPrunedWeights(); // test only
                } // test only
            }
            assertTrue(xs.isNull(), "closing X freed the copy"); // test only
            try (HostMatrix x = HostMatrix.allocate(n, p)) {     // or memory X owns (column-major), filled in place
                try (HostMatrix.Use fill = x.write("my gradients")) {
                    x.data().put(gradients);
                }
                assertEquals(gradients[3 * n + 5], x.data().get(3L * n + 5)); // test only
                try (PruneResult r = pruner.prune(Method.FALCON, w, layers, budgets, new Pruner.SolverInputs(x, null, 1e-3, SolverOptions.defaults(), null))) { // test only
                    results[1] = r.copyPrunedWeights(); // test only
                } // test only
            }
            // ---- end of the recipe
        }
        assertArrayEquals(results[0], results[1]);
        assertTrue(java.util.stream.IntStream.range(0, p).filter(j -> results[0][j] != 0).count() > 0);
    }

    /** As for the example: the README's second java block is the recipe above, line for line. */
    @Test
    void theReadmesRecipeIsTheCodeThisTestRuns() throws IOException {
        assertEquals(String.join("\n", readmeJavaBlock(1)), String.join("\n", linesOfThisTest("// ---- the README's recipe", "// ---- end of the recipe")),
                "README.md's recipe for X from Java memory and the one EmbeddingExampleTest runs differ");
    }

    /** The non-empty, stripped lines of the README's {@code index}-th ```java block (from 0). */
    private static List<String> readmeJavaBlock(int index) throws IOException {
        String readme = Files.readString(Path.of("../../README.md"));
        int open = -1;
        for (int i = 0; i <= index; i++) {
            open = readme.indexOf("```java\n", open + 1);
            assertTrue(open >= 0, "README.md has no ```java block number " + (index + 1));
        }
        int close = readme.indexOf("```", open + 8);
        return readme.substring(open + 8, close).lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    /** The non-empty, stripped lines of this file between two marker comments, without those marked "// test only". */
    private static List<String> linesOfThisTest(String startMarker, String endMarker) throws IOException {
        String source = Files.readString(Path.of("src/test/java/dev/falcon/cli/EmbeddingExampleTest.java"));
        int from = source.indexOf('\n', source.indexOf(startMarker)) + 1;
        int to = source.indexOf(endMarker);
        return source.substring(from, to).lines().map(String::strip).filter(l -> !l.isEmpty()).filter(l -> !l.endsWith("// test only")).toList();
    }

    /**
     * The example's first line, as written, takes the backend -Dfalcon.backend names: it used to read choose("auto"),
     * which ignores the property, while its comment said the property chose.
     */
    @Test
    void theExamplesBackendLineHonoursTheSystemProperty() {
        String before = System.getProperty(Backends.PROPERTY);
        System.setProperty(Backends.PROPERTY, "java");
        try (ComputeBackend backend = Backends.choose(null).create(2)) {   // -Dfalcon.backend=NAME, else auto: cuda > cpu > java
            assertEquals("java", backend.name());
        } finally {
            if (before == null) System.clearProperty(Backends.PROPERTY); else System.setProperty(Backends.PROPERTY, before);
        }
    }
}
