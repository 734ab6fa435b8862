package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * A budget that keeps no weight: refused (exit 3) where it only rounds to nothing, kept where asked for exactly, and then
 * certified exactly. The NNZ refusals never said how to ask for it, and --flops 0 reported a dual bound of 2.5e-79
 * with a relative gap of 1.
 */
class EmptySupportTest extends SmallModel {
    @Test
    void everyRefusalOfABudgetThatKeepsNothingSaysHowToAskForIt() {
        // p = 17: 0.01 of it rounds to 0 weights; 0.99 sparsity too; the cheapest weight costs 1 FLOP
        // each names the zero that replaces the option refused: "--nnz 0 or --flops 0" beside a --flops 0 already given
        // could not be followed
        for (String[] budget : new String[][] {{"--keep-nnz", "0.01", "--nnz"}, {"--sparsity", "0.99", "--nnz"}, {"--flops", "0.5", "--flops"},
                {"--keep-flops", "0.001", "--flops"}}) {
            assertRefused(prune(budget[0], budget[1]), 3, "or " + budget[2] + " 0 in place of " + budget[0] + " to prune every weight on purpose");
        }
        assertRefused(prune("--keep-nnz", "0.01", "--flops", "0"), 3, "or --nnz 0 in place of --keep-nnz to prune every weight on purpose");
    }

    @Test
    void anEmptySupportAskedForExactlyHasAnExactCertificate() throws IOException {
        for (String[] budget : new String[][] {{"--nnz", "0"}, {"--flops", "0"}}) {
            MainTest.Run r = prune(budget);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("achieved: NNZ 0 "), r.out());
            JsonNode selection = report().get("selection");
            assertEquals(0.0, selection.get("primal").asDouble(), selection.toString());
            assertEquals(0.0, selection.get("dual_bound").asDouble(), String.join(" ", budget) + ": " + selection);
            assertEquals(0.0, selection.get("relative_gap").asDouble(), String.join(" ", budget) + ": " + selection);
        }
    }
}
