package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * MainTest's model for tests of their own: 17 weights in a conv of 12 at 9 FLOPs and a linear layer of 5 at 1 (113
 * dense FLOPs), X of 6 rows, written fresh for each test.
 */
abstract class SmallModel {
    @TempDir Path dir;
    Path x, weights, layers, out;

    @BeforeEach
    void writeModel() {
        MainTest.writeModel(x = dir.resolve("X.npy"), weights = dir.resolve("w.npy"), layers = dir.resolve("layers.json"));
        out = dir.resolve("out");
    }

    /** prune on the model (java backend, outputs in out/), without --quiet: the messages are what is tested. */
    MainTest.Run prune(String... options) {
        List<String> a = new ArrayList<>(List.of("prune", "--weights", weights.toString(), "--layers", layers.toString(),
                "--out", out.resolve("p.npy").toString(), "--report", out.resolve("r.json").toString(), "--device", "java"));
        a.addAll(List.of(options));
        return MainTest.run(a.toArray(String[]::new));
    }

    /** The run ended with {@code code}, its stderr saying each of {@code mentions}, and wrote nothing. */
    void assertRefused(MainTest.Run r, int code, String... mentions) {
        assertEquals(code, r.code(), "exit code; stderr: " + r.err());
        for (String m : mentions) assertTrue(r.err().contains(m), "stderr should say '" + m + "': " + r.err());
        assertFalse(Files.exists(out), "no output is written on an error");
    }

    JsonNode report() throws IOException {
        return new ObjectMapper().readTree(out.resolve("r.json").toFile());
    }
}
