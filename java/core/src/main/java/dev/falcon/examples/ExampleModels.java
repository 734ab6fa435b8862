package dev.falcon.examples;

import dev.falcon.io.InputException;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The built-in examples, built programmatically from the architectures (kernel sizes, strides,
 * padding "same" so H_out = ceil(H_in / stride)):
 * <ul>
 * <li>{@code resnet20}: ResNet20 for CIFAR-10 (He et al. 2016, option-A shortcuts, no shortcut
 *     weights), 32x32 input: p = 268,336, 40,551,040 dense MACs.</li>
 * <li>{@code mobilenetv1}: MobileNetV1 1.0 for ImageNet, 224x224: p = 4,209,088, 568,740,352 MACs.</li>
 * <li>{@code resnet50}: ResNet50 for ImageNet (torchvision layout, stride on the 3x3 conv), 224x224:
 *     p = 25,502,912, 4,089,184,256 MACs.</li>
 * </ul>
 * Weights are PyTorch-shaped ([out, in/groups, kh, kw] for convolutions, [out, in] for linear layers),
 * named like PyTorch state-dict keys and listed in module definition order.
 */
public final class ExampleModels {
    private static final List<String> NAMES = List.of("resnet20", "mobilenetv1", "resnet50");

    private ExampleModels() {}

    public static List<String> names() { return NAMES; }

    public static ExampleModel get(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        return switch (key) {
            case "resnet20" -> resnet20();
            case "mobilenetv1" -> mobilenetV1();
            case "resnet50" -> resnet50();
            default -> throw InputException.of("--example", "name", "unknown example '" + name + "'",
                    "choose one of " + String.join(", ", NAMES));
        };
    }

    /** Accumulates layers in flatten order. */
    private static final class Builder {
        final List<Layer> layers = new ArrayList<>();
        long offset;

        /** A conv layer; returns its output spatial size. */
        int conv(String name, int in, int out, int kernel, int stride, int groups, int inputSize) {
            int outputSize = (inputSize + stride - 1) / stride;
            long[] shape = {out, in / groups, kernel, kernel};
            add(name, shape, (double) outputSize * outputSize);
            return outputSize;
        }

        void linear(String name, int in, int out) {
            add(name, new long[] {out, in}, 1.0);
        }

        void add(String name, long[] shape, double flops) {
            long count = Layer.elements(shape);
            layers.add(new Layer(name, shape, flops, offset, count));
            offset += count;
        }

        LayerTable table(String origin) { return new LayerTable(layers, origin); }
    }

    static ExampleModel resnet20() {
        Builder b = new Builder();
        int size = b.conv("conv1.weight", 3, 16, 3, 1, 1, 32);
        int in = 16;
        int[] widths = {16, 32, 64};
        for (int stage = 0; stage < 3; stage++) {
            int width = widths[stage];
            for (int block = 0; block < 3; block++) {
                int stride = stage > 0 && block == 0 ? 2 : 1;
                String prefix = "layer" + (stage + 1) + "." + block + ".";
                size = b.conv(prefix + "conv1.weight", in, width, 3, stride, 1, size);
                size = b.conv(prefix + "conv2.weight", width, width, 3, 1, 1, size);
                in = width; // option A: identity/zero-padding shortcuts carry no weights
            }
        }
        b.linear("fc.weight", 64, 10);
        return new ExampleModel("resnet20", "ResNet20, CIFAR-10 (32x32 input, 10 classes)", b.table("example resnet20"), 128);
    }

    static ExampleModel mobilenetV1() {
        Builder b = new Builder();
        int size = b.conv("model.0.conv.weight", 3, 32, 3, 2, 1, 224);
        int[][] blocks = { // {output channels, stride of the depthwise conv}
            {64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
            {512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
        int in = 32;
        for (int i = 0; i < blocks.length; i++) {
            String prefix = "model." + (i + 1) + ".";
            size = b.conv(prefix + "dw.weight", in, in, 3, blocks[i][1], in, size);
            size = b.conv(prefix + "pw.weight", in, blocks[i][0], 1, 1, 1, size);
            in = blocks[i][0];
        }
        b.linear("fc.weight", 1024, 1000);
        return new ExampleModel("mobilenetv1", "MobileNetV1 1.0, ImageNet (224x224 input, 1000 classes)", b.table("example mobilenetv1"), 32);
    }

    static ExampleModel resnet50() {
        Builder b = new Builder();
        int size = b.conv("conv1.weight", 3, 64, 7, 2, 1, 224);
        size = (size + 1) / 2; // 3x3 max pool, stride 2: 112 -> 56
        int in = 64;
        int[] depths = {3, 4, 6, 3};
        int[] widths = {64, 128, 256, 512};
        for (int stage = 0; stage < 4; stage++) {
            int width = widths[stage], outChannels = width * 4;
            for (int block = 0; block < depths[stage]; block++) {
                int stride = stage > 0 && block == 0 ? 2 : 1;
                String prefix = "layer" + (stage + 1) + "." + block + ".";
                int inputSize = size;
                b.conv(prefix + "conv1.weight", in, width, 1, 1, 1, inputSize);
                size = b.conv(prefix + "conv2.weight", width, width, 3, stride, 1, inputSize);
                b.conv(prefix + "conv3.weight", width, outChannels, 1, 1, 1, size);
                if (block == 0) b.conv(prefix + "downsample.0.weight", in, outChannels, 1, stride, 1, inputSize);
                in = outChannels;
            }
        }
        b.linear("fc.weight", 2048, 1000);
        return new ExampleModel("resnet50", "ResNet50, ImageNet (224x224 input, 1000 classes)", b.table("example resnet50"), 16);
    }
}
