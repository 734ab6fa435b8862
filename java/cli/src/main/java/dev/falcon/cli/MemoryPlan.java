package dev.falcon.cli;

import dev.falcon.data.RawMatrixSource;
import dev.falcon.examples.ExampleModel;
import dev.falcon.io.InputException;
import java.util.ArrayList;
import java.util.List;

/**
 * What a prune run will need, estimated before anything is loaded: X (unless it is mapped without a
 * copy), the length-p vectors and selection buffers off-heap, and the Java heap the reference kernels
 * use. Compared with the available memory ({@link SystemInfo#availableMemory()}).
 */
record MemoryPlan(long p, long rows, long xBytes, boolean xMapped, long vectorBytes, long heapBytes, long available, boolean javaBackend) {
    /** Off-heap bytes per weight: weights, pruned weights, scores, mask, sorted scores, indices, prefix sums, objective d. */
    static final long BYTES_PER_WEIGHT = 4 + 4 + 4 + 1 + 4 + 4 + 8 + 4;
    static final long SLACK = 64L << 20;

    /** Java heap bytes per weight the solver (falcon, backsolve) keeps: weights, iterate, gradient, step, scores, masks. */
    static final long SOLVER_HEAP_PER_WEIGHT = 64;

    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops) {
        return of(p, rows, x, example, backend, linearTerm, perWeightFlops, false);
    }

    static MemoryPlan of(long p, long rows, RawMatrixSource x, boolean example, String backend, boolean linearTerm, boolean perWeightFlops,
                         boolean solver) {
        long xBytes = Math.multiplyExact(Math.multiplyExact(rows, p), 4L);
        boolean mapped = x != null && x.isInternalLayout() && !backend.equals("java");
        long perWeight = BYTES_PER_WEIGHT + (linearTerm ? 4 : 0) + (perWeightFlops ? 4 : 0);
        boolean java = backend.equals("java");
        long heap = (java ? 8 * p : 0) + (perWeightFlops ? 4 * p : 0) + (solver ? SOLVER_HEAP_PER_WEIGHT * p : 0);
        return new MemoryPlan(p, rows, xBytes, mapped, perWeight * p, heap, SystemInfo.availableMemory(), java);
    }

    long required() {
        return (xMapped ? 0 : xBytes) + vectorBytes + heapBytes + SLACK;
    }

    String describe() {
        return "X " + SystemInfo.bytes(xBytes) + (xMapped ? " (mapped from the file, not counted)" : "")
                + " + vectors and selection buffers " + SystemInfo.bytes(vectorBytes)
                + (heapBytes > 0 ? " + Java heap " + SystemInfo.bytes(heapBytes) : "")
                + " = about " + SystemInfo.bytes(required());
    }

    /** Refuses (InputException, exit 2) when the run cannot fit, saying what would. */
    void check(ExampleModel model, RawMatrixSource x) {
        long maxHeap = Runtime.getRuntime().maxMemory();
        if (heapBytes > 0.8 * maxHeap) {
            throw InputException.of("memory", "Java heap", "the run needs about " + SystemInfo.bytes(heapBytes) + " of Java heap for p = " + p
                    + " but the heap is limited to " + SystemInfo.bytes(maxHeap),
                    "raise it (FALCON_HEAP=" + Math.max(2, (long) Math.ceil(heapBytes / 0.7 / (1L << 30))) + "g ./falcon ...), or use the cpu backend (--device cpu)");
        }
        if (available < 0 || required() <= available) return;
        List<String> options = new ArrayList<>();
        long room = available - vectorBytes - heapBytes - SLACK;
        long maxRows = room > 0 ? room / (4 * p) : 0;
        if (model != null) {
            if (maxRows >= 1) {
                options.add("--n " + maxRows + " (the most rows of synthetic X that fit)");
            } else {
                options.add(model.name() + "'s weights and buffers alone need " + SystemInfo.bytes(vectorBytes + heapBytes + SLACK));
            }
            for (String other : dev.falcon.examples.ExampleModels.names()) {
                if (other.equals(model.name())) continue;
                ExampleModel e = dev.falcon.examples.ExampleModels.get(other);
                long q = e.layers().parameters();
                long fixed = BYTES_PER_WEIGHT * q + (javaBackend ? 8 * q : 0) + SLACK;
                long fit = available > fixed ? (available - fixed) / (4 * q) : 0;
                if (fit >= 1) options.add("--example " + other + " --n " + Math.min(fit, e.defaultRows()));
            }
        } else if (x != null) {
            if (maxRows >= 1) options.add("at most " + maxRows + " rows (samples) in X");
            if (!x.isInternalLayout()) {
                options.add("store X as float32 in Fortran order (numpy: np.save(f, np.asfortranarray(X, dtype=np.float32))) so the cpu backend maps it without a copy");
            } else if (javaBackend) {
                options.add("--device cpu, which maps this float32 Fortran-order X without a copy (the java reference backend copies it)");
            }
            options.add("drop --grads (the selection itself does not need X; only the objective does)");
        }
        options.add("a machine with more memory");
        throw InputException.of("memory", "estimate", "the run needs " + describe() + " but only " + SystemInfo.bytes(available)
                + " is available", "options that fit: " + String.join("; ", options));
    }
}
