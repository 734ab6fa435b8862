package dev.falcon.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.io.InputException;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

class ExampleModelsTest {

    @Test
    void resnet20HasTheStandardParametersAndMacs() {
        LayerTable t = ExampleModels.get("resnet20").layers();
        assertEquals(268_336, t.parameters());
        assertEquals(40_551_040.0, t.denseFlops());
        assertEquals(20, t.size()); // 19 convs + fc
        Layer fc = t.get(t.size() - 1);
        assertArrayEquals(new long[] {10, 64}, fc.shape());
        assertEquals(1.0, fc.flopsPerWeight());
        assertEquals(1024.0, t.get(0).flopsPerWeight());
        assertEquals(64.0, t.get(t.size() - 2).flopsPerWeight());
    }

    @Test
    void mobilenetV1HasTheStandardParametersAndMacs() {
        LayerTable t = ExampleModels.get("mobilenetv1").layers();
        assertEquals(4_209_088, t.parameters());
        assertEquals(568_740_352.0, t.denseFlops());
        assertEquals(28, t.size());
        assertArrayEquals(new long[] {32, 1, 3, 3}, t.get(1).shape()); // first depthwise conv
        assertEquals(112.0 * 112, t.get(1).flopsPerWeight());
    }

    @Test
    void resnet50HasTheStandardParametersAndMacs() {
        LayerTable t = ExampleModels.get("resnet50").layers();
        assertEquals(25_502_912, t.parameters());
        assertEquals(4_089_184_256.0, t.denseFlops());
        assertEquals(54, t.size()); // 53 convs + fc
        assertEquals(12544.0, t.get(0).flopsPerWeight());
    }

    @Test
    void unknownNameListsTheChoices() {
        InputException e = assertThrows(InputException.class, () -> ExampleModels.get("vgg16"));
        assertTrue(e.getMessage().contains("resnet20, mobilenetv1, resnet50"), e.getMessage());
    }

    @Test
    void syntheticDataIsDeterministicAndScaled() {
        ExampleModel m = ExampleModels.get("resnet20");
        try (FloatPointer a = m.syntheticWeights(7); FloatPointer b = m.syntheticWeights(7); FloatPointer c = m.syntheticWeights(8)) {
            boolean differs = false;
            for (long i = 0; i < m.layers().parameters(); i++) {
                assertEquals(a.get(i), b.get(i));
                differs |= a.get(i) != c.get(i);
            }
            assertTrue(differs);
            float bound = (float) Math.sqrt(6.0 / 27); // conv1: fan_in 3*3*3
            for (long i = 0; i < 432; i++) assertTrue(Math.abs(a.get(i)) <= bound);
        }
        try (JavaBackend backend = new JavaBackend(); HostMatrix x = m.syntheticGradients(backend, 4, 1)) {
            assertEquals(4, x.rows());
            assertEquals(m.layers().parameters(), x.cols());
            assertTrue(Float.isFinite(x.columns(0, 1).get(0)));
        }
    }
}
