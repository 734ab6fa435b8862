package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.io.InputException;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Backsolve's public helpers refuse arguments they cannot use, as the rest of the API does. */
class BacksolveArgumentsTest {
    private static final LayerTable LAYERS = new LayerTable(List.of(new Layer("a", new long[] {5}, 1, 0, 5),
            new Layer("b", new long[] {3}, 2, 5, 3)), "test");

    /** A block size of 0 or below never advanced the loop over a layer: it filled the heap until an OutOfMemoryError. */
    @Test
    void aBlockSizeBelowOneIsRefused() {
        for (long blockSize : new long[] {0, -1, Long.MIN_VALUE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backsolve.blockStarts(LAYERS, blockSize));
            assertTrue(e.getMessage().startsWith("Backsolve.blockStarts: blockSize is " + blockSize + "; it must be >= 1"), e.getMessage());
        }
        assertArrayEquals(new long[] {0, 2, 4, 5, 7, 8}, Backsolve.blockStarts(LAYERS, 2));
        assertArrayEquals(new long[] {0, 5, 8}, Backsolve.blockStarts(LAYERS, Long.MAX_VALUE));
    }

    /**
     * parse("bogus") threw valueOf's "No enum constant dev.falcon.solve.Backsolve.Mode.BOGUS" and parse(null) a
     * NullPointerException: it is an InputException naming the argument and the choices, as Method.parse and
     * MultiStage.Schedule.parse give.
     */
    @Test
    void anUnknownModeIsAnInputExceptionListingTheChoices() {
        assertEquals(Backsolve.Mode.SWEEP, Backsolve.Mode.parse(" Sweep "));
        assertEquals(Backsolve.Mode.NONE, Backsolve.Mode.parse("none", "--backsolve"));
        for (String bad : new String[] {"bogus", null, ""}) {
            InputException e = assertThrows(InputException.class, () -> Backsolve.Mode.parse(bad));
            assertEquals("Backsolve.Mode.parse(text): value: unknown mode '" + bad + "'; choose one of exact, block, sweep, none", e.getMessage());
            e = assertThrows(InputException.class, () -> Backsolve.Mode.parse(bad, "config key backsolve"));
            assertEquals("config key backsolve: value: unknown mode '" + bad + "'; choose one of exact, block, sweep, none", e.getMessage());
        }
    }

    /**
     * --lambda-convention and --hessian read their names by hand, each in its own wording ("choose exact or block"), and
     * the Hessian model had no parser for an API caller: both read as the other named values do.
     */
    @Test
    void theConventionAndTheHessianModelAreReadAsEveryNamedValue() {
        assertEquals(dev.falcon.prune.Objective.Convention.FALCON, dev.falcon.prune.Objective.Convention.parse(" Falcon ", "--lambda-convention"));
        assertEquals(SolverOptions.HessianModel.BLOCK, SolverOptions.HessianModel.parse(" BLOCK "));
        for (String bad : new String[] {"bogus", null, ""}) {
            InputException e = assertThrows(InputException.class, () -> dev.falcon.prune.Objective.Convention.parse(bad, "--lambda-convention"));
            assertEquals("--lambda-convention: value: unknown convention '" + bad + "'; choose one of ridge (lambda of Q), falcon (the authors' l2, lambda = l2 * n)", e.getMessage());
            e = assertThrows(InputException.class, () -> dev.falcon.prune.Objective.Convention.parse(bad));
            assertEquals("Objective.Convention.parse(text): value: unknown convention '" + bad + "'; choose one of ridge (lambda of Q), falcon (the authors' l2, lambda = l2 * n)", e.getMessage());
            e = assertThrows(InputException.class, () -> SolverOptions.HessianModel.parse(bad, "--hessian"));
            assertEquals("--hessian: value: unknown model '" + bad + "'; choose one of exact, block", e.getMessage());
        }
    }
}
