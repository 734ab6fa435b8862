package dev.falcon.io;

import org.bytedeco.javacpp.FloatPointer;

/** A float32 array in C order for writing (e.g. one safetensors tensor); the caller keeps ownership of {@code data}. */
public record NamedArray(FloatPointer data, long[] shape) {
    public NamedArray {
        shape = shape.clone();
    }

    @Override
    public long[] shape() { return shape.clone(); }

    /** Product of the shape (1 for a scalar). */
    public long elements() {
        return dev.falcon.model.Layer.elements(shape);
    }
}
