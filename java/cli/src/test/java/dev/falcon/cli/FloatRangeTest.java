package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
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
}
