package dev.falcon.prune;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.JavaBackend;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

class PruneResultArraysTest {
    /** keptPerLayer() returned the result's own array: a caller's write into it changed what every later call returned. */
    @Test
    void keptPerLayerIsACopyEachTime() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {30}, 4, 0, 30), new Layer("b", new long[] {20}, 1, 30, 20)), "test");
        float[] ws = new float[50];
        for (int i = 0; i < ws.length; i++) ws[i] = (i % 7) - 3.5f;
        try (JavaBackend backend = new JavaBackend(); Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(ws);
             PruneResult r = pruner.prune(Method.MAGNITUDE, w, t, Budgets.resolve(t, 0.3, null, 0.5, null, null))) {
            long[] first = r.keptPerLayer();
            long[] seen = first.clone();
            first[0] = -1;
            assertArrayEquals(seen, r.keptPerLayer());
            assertEquals(r.kept(), seen[0] + seen[1]);
        }
        // and the array given to the constructor is not the result's either
        long[] given = {3, 4};
        try (FloatPointer pw = new FloatPointer(50); BytePointer mask = new BytePointer(50);
             PruneResult built = new PruneResult(pw, mask, Method.MP, Budgets.resolve(t, 0.3, null, 0.5, null, null), 7, 20, given, 1.0,
                     null, 0, 0, 0)) {
            given[0] = 99;
            assertArrayEquals(new long[] {3, 4}, built.keptPerLayer());
        }
    }
}
