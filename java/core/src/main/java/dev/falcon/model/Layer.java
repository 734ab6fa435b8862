package dev.falcon.model;

import java.util.Arrays;

/**
 * One prunable tensor: its name, shape, position in the flattened weight vector and the FLOPs each of
 * its nonzero weights costs (constant inside a layer, which the selection exploits).
 */
public record Layer(String name, long[] shape, double flopsPerWeight, long offset, long count) {
    public Layer {
        // a null shape is kept for LayerTable to refuse naming the layer and the field, as it does a null name
        shape = shape == null ? null : shape.clone();
    }

    /** Product of a shape (1 for a scalar), overflow-checked: the element count of any array in falcon. */
    public static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public long end() { return offset + count; }

    @Override public long[] shape() { return shape == null ? null : shape.clone(); }

    @Override
    public boolean equals(Object o) {
        return o instanceof Layer l && java.util.Objects.equals(name, l.name) && Arrays.equals(shape, l.shape)
                && Double.compare(flopsPerWeight, l.flopsPerWeight) == 0 && offset == l.offset && count == l.count;
    }

    @Override
    public int hashCode() { return java.util.Objects.hashCode(name) * 31 + Long.hashCode(offset); }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + " @" + offset + "+" + count + " x" + flopsPerWeight + " FLOPs";
    }
}
