package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * mp --backsolve block|sweep reads --block-size, which moves its Q by orders of magnitude (a reviewer's model: 54.6 at
 * --block-size 100 against 0.175 at the default), yet neither the report nor the summary said which size a run used:
 * falcon's report has it (objective.solver.options.block_size), mp's had no trace of it.
 */
class BacksolveBlockSizeTest extends SmallModel {
    private MainTest.Run mpBacksolve(String mode, String... more) throws IOException {
        if (Files.exists(out)) try (var files = Files.list(out)) {
            for (var f : files.toList()) Files.delete(f);
        }
        List<String> a = new java.util.ArrayList<>(List.of("--grads", x.toString(), "--method", "mp", "--backsolve", mode, "--keep-nnz", "0.5"));
        a.addAll(List.of(more));
        MainTest.Run r = prune(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return r;
    }

    private static String solverLine(MainTest.Run r) {
        return r.out().lines().filter(l -> l.trim().startsWith("solver:")).findFirst().orElseThrow(() -> new AssertionError("no solver line: " + r.out()));
    }

    @Test
    void blockAndSweepBacksolvesRecordTheirBlockSize() throws IOException {
        // the conv's 12 weights and the linear layer's 5 cut into blocks of at most 4 (--block-size 4), or each whole (the default)
        for (String mode : List.of("block", "sweep")) {
            for (String[] size : new String[][] {{"--block-size", "4"}, {}}) {
                int expected = size.length == 0 ? 2000 : Integer.parseInt(size[1]);
                MainTest.Run r = mpBacksolve(mode, size);
                JsonNode solver = report().at("/objective/solver");
                assertEquals(expected, solver.path("block_size").asInt(-1), mode + " " + String.join(" ", size) + ": objective.solver " + solver);
                String line = solverLine(r);
                assertTrue(line.contains("backsolve " + mode + " (blocks of at most " + expected + " weights)"), mode + ": " + line);
            }
        }
    }

    @Test
    void anExactBacksolveRecordsNoBlockSizeItDidNotRead() throws IOException {
        MainTest.Run r = mpBacksolve("exact");
        assertFalse(report().at("/objective/solver").has("block_size"), report().at("/objective/solver").toString());
        assertFalse(solverLine(r).contains("blocks of"), solverLine(r));
    }

    @Test
    void falconKeepsItsBlockSizeAmongItsOptions() throws IOException {
        MainTest.Run falcon = prune("--grads", x.toString(), "--method", "falcon", "--backsolve", "block", "--keep-nnz", "0.5",
                "--block-size", "4", "--max-iterations", "2");
        assertEquals(0, falcon.code(), falcon.err());
        JsonNode solver = report().at("/objective/solver");
        assertEquals(4, solver.at("/options/block_size").asInt(-1), solver.toString());
        assertFalse(solver.has("block_size"), "one place per method: " + solver);
    }
}
