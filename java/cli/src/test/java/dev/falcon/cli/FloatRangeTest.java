package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * Values beyond float32's range are finite: they were called "NaN or Inf" with numpy.nan_to_num as the fix, which
 * leaves them as they are. Per-weight FLOP costs are read as float64, as the README says, yet costs of 1e39 were refused
 * through --flops-per-weight while a layer table's were taken.
 */
class FloatRangeTest extends SmallModel {
    /** A float64 .npy of {@code values}. */
    private Path float64(String name, double... values) throws IOException {
        byte[] header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (" + values.length + ",), }").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(10 + header.length + 8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)).put((byte) 1).put((byte) 0).putShort((short) header.length).put(header);
        for (double v : values) b.putDouble(v);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    @Test
    void perWeightCostsBeyondFloat32AreReadAsFloat64() throws IOException {
        double[] costs = new double[MainTest.P];
        java.util.Arrays.fill(costs, 1e39);
        costs[0] = 1e40;
        Path f = float64("f.npy", costs);
        MainTest.Run r = MainTest.run("prune", "--weights", weights.toString(), "--flops-per-weight", f.toString(), "--out", out.resolve("p.npy").toString(),
                "--report", out.resolve("r.json").toString(), "--device", "java", "--quiet");
        assertEquals(0, r.code(), r.err());
        assertEquals(1e40 + 16 * 1e39, report().at("/budgets/dense/flops").asDouble(), 1e27);
    }

    @Test
    void weightsBeyondFloat32AreSaidToBeSoNotNanOrInf() throws IOException {
        double[] w = new double[MainTest.P];
        w[4] = 1e39;
        Path big = float64("w.npy", w);
        MainTest.Run r = MainTest.run("prune", "--weights", big.toString(), "--layers", layers.toString(), "--out", out.resolve("p.npy").toString(), "--quiet");
        assertRefused(r, 2, "1 of 17 values are beyond float32's range (+-3.4e38)", "the first is at index 4 (1e39)", "rescale the values");
        assertFalse(r.err().contains("NaN or Inf") || r.err().contains("nan_to_num"), r.err());
    }

    /** The model's weights as float64, with {@code tiny} at the indices given. */
    private Path float64Weights(String name, double tiny, int... at) throws IOException {
        double[] w = new double[MainTest.P];
        try (FloatPointer f = dev.falcon.io.ArrayFiles.readVector(weights.toString(), "w", MainTest.P)) {
            for (int i = 0; i < w.length; i++) w[i] = f.get(i);
        }
        for (int i : at) w[i] = tiny;
        return float64(name, w);
    }

    /**
     * Float64 weights below float32's smallest value were read as 0, weights already pruned, with not a word: a layer of
     * them was "pruned" and its FLOPs left unused, and neither prune, inspect nor the report said so. prune refuses them,
     * as it refuses values beyond float32's range; inspect notes them.
     */
    @Test
    void float64WeightsThatAreZeroInFloat32AreRefusedAndInspectNotesThem() throws IOException {
        Path tiny = float64Weights("tiny.npy", 1e-47, 3, 9);
        // --report in the test's folder: without it prune writes one to out/ under the working directory
        MainTest.Run r = MainTest.run("prune", "--weights", tiny.toString(), "--layers", layers.toString(), "--out", out.resolve("p.npy").toString(),
                "--report", out.resolve("r.json").toString(), "--quiet");
        assertRefused(r, 2, "--weights: " + tiny + ": values: 2 of 17 values are nonzero but 0 in float32", "the first is at index 3 (1e-47)",
                "set those meant as pruned to 0 before saving");
        // 7.1e-46 is above half float32's smallest subnormal: it rounds to 1.4e-45, nonzero, and is taken
        Path justAbove = float64Weights("above.npy", 7.1e-46, 3);
        assertEquals(0, MainTest.run("prune", "--weights", justAbove.toString(), "--layers", layers.toString(), "--out", out.resolve("p.npy").toString(),
                "--report", out.resolve("r.json").toString(), "--quiet").code());

        for (boolean quiet : new boolean[] {false, true}) {
            MainTest.Run inspect = quiet ? MainTest.run("inspect", "-q", tiny.toString()) : MainTest.run("inspect", tiny.toString());
            assertEquals(0, inspect.code(), "X takes them: " + inspect.err());
            assertTrue(inspect.out().contains("(2 nonzero values are 0 in float32, below about 7.0e-46: accepted for X; not for weights, which are read as"
                    + " float32, where they would count as pruned)"), (quiet ? "-q still prints the row: " : "") + inspect.out());
        }
        assertFalse(MainTest.run("inspect", justAbove.toString()).out().contains("0 in float32"));
    }

    /** The report said how X was read (x_file_dtype, x_conversion) and not how the weights were, whose float64 values are rounded. */
    @Test
    void theReportGivesTheWeightsDtypeAndConversion() throws IOException {
        MainTest.Run r = prune("--quiet");
        assertEquals(0, r.code(), r.err());
        assertEquals("float32", report().at("/inputs/weights_file_dtype").asText(), report().get("inputs").toString());
        assertEquals("none: read as float32", report().at("/inputs/weights_conversion").asText());
        Path w64 = float64Weights("w64.npy", 0.5);
        r = MainTest.run("prune", "--weights", w64.toString(), "--layers", layers.toString(), "--out", out.resolve("p.npy").toString(),
                "--report", out.resolve("r.json").toString(), "--device", "java", "--quiet");
        assertEquals(0, r.code(), r.err());
        assertEquals("float64", report().at("/inputs/weights_file_dtype").asText(), report().get("inputs").toString());
        assertEquals("converted once from float64 to float32 while loading (rounded to float32 precision)", report().at("/inputs/weights_conversion").asText());
    }
}
