package dev.falcon.select;

import org.bytedeco.javacpp.BytePointer;

/**
 * Result of {@link FlopAwareSelector#select}: the kept mask (off-heap, owned by this object), budget use,
 * the primal value, the LP dual bound at the dual optimum found and the relative gap between them.
 */
public final class Selection implements AutoCloseable {
    private final byte[] maskBytes;
    private BytePointer mask;
    private final long parameters;
    private final long kept;
    private final double keptFlops;
    private final long[] keptPerLayer;
    private final double primalValue;
    private final double dualBound;
    private final double mu;
    private final double omega;
    private final int dualEvaluations;
    private final double seconds;
    private final String phases;
    private final boolean nothingMayBeKept;
    private boolean closed;

    Selection(byte[] mask, long parameters, long kept, double keptFlops, long[] keptPerLayer, double primalValue,
              double dualBound, double mu, double omega, int dualEvaluations, double seconds, String phases) {
        this(mask, parameters, kept, keptFlops, keptPerLayer, primalValue, dualBound, mu, omega, dualEvaluations, seconds, phases, false);
    }

    private Selection(byte[] mask, long parameters, long kept, double keptFlops, long[] keptPerLayer, double primalValue,
                      double dualBound, double mu, double omega, int dualEvaluations, double seconds, String phases, boolean nothingMayBeKept) {
        this.nothingMayBeKept = nothingMayBeKept;
        this.phases = phases;
        this.maskBytes = mask;
        this.parameters = parameters;
        this.kept = kept;
        this.keptFlops = keptFlops;
        this.keptPerLayer = keptPerLayer.clone();
        this.primalValue = primalValue;
        this.dualBound = dualBound;
        this.mu = mu;
        this.omega = omega;
        this.dualEvaluations = dualEvaluations;
        this.seconds = seconds;
    }

    /** The selection under a budget of 0 (NNZ or FLOPs): the empty support, with primal and dual bound both exactly 0. */
    static Selection empty(long parameters, int layers, double seconds) {
        return new Selection(new byte[(int) parameters], parameters, 0, 0.0, new long[layers], 0.0, 0.0, 0.0, 0.0, 0, seconds,
                "a budget of 0: the empty support, with an exact bound of 0", true);
    }

    /** Whether a budget was 0, so that the empty support is the only one and its bound of 0 is exact. */
    public boolean nothingMayBeKept() { return nothingMayBeKept; }

    /** p bytes, 1 = kept; owned by this Selection and freed by {@link #close()}. */
    public BytePointer mask() {
        if (closed) throw new IllegalStateException("selection is closed");
        if (mask == null) mask = new BytePointer(maskBytes); // off-heap only for callers that ask for it
        return mask;
    }

    /** Copies the p mask bytes (1 = kept) into {@code dst} from {@code offset}, without an off-heap copy. */
    public void copyMaskTo(byte[] dst, int offset) {
        if (closed) throw new IllegalStateException("selection is closed");
        System.arraycopy(maskBytes, 0, dst, offset, maskBytes.length);
    }

    /**
     * Copies the p mask bytes (1 = kept) to {@code dst}'s address, without an off-heap copy of its own: {@link #mask()}
     * allocated p bytes (25.5 MB on resnet50) beside the caller's mask, which the memory plan did not count.
     */
    public void copyMaskTo(BytePointer dst) {
        if (closed) throw new IllegalStateException("selection is closed");
        if (dst.capacity() != 0 && dst.capacity() < maskBytes.length) {
            throw new IllegalArgumentException("mask destination holds " + dst.capacity() + " bytes, the mask " + maskBytes.length);
        }
        new BytePointer(dst).position(0).put(maskBytes, 0, maskBytes.length);
    }

    /** The mask's own bytes, for the selector that made it (no copy). */
    byte[] maskBytes() { return maskBytes; }

    /** p, the number of weights. */
    public long parameters() { return parameters; }

    /** Number of weights kept (NNZ). */
    public long kept() { return kept; }

    /** FLOPs of the kept weights: sum over layers of kept count times FLOPs per weight, in layer order. */
    public double keptFlops() { return keptFlops; }

    /** Kept count per layer, in layer order. */
    public long[] keptPerLayer() { return keptPerLayer.clone(); }

    /** Sum of the kept scores. */
    public double primalValue() { return primalValue; }

    /** Value of the LP dual at (mu, omega): an upper bound on every feasible selection's value. */
    public double dualBound() { return dualBound; }

    /** (dual - primal) / max(dual, tiny). */
    public double relativeGap() { return (dualBound - primalValue) / Math.max(dualBound, 1e-300); }

    /** Dual price of one FLOP. */
    public double mu() { return mu; }

    /** Dual price of one kept weight. */
    public double omega() { return omega; }

    /** Number of evaluations of the dual function. */
    public int dualEvaluations() { return dualEvaluations; }

    /** Wall time of select(), seconds. */
    public double seconds() { return seconds; }

    /** Wall time per phase (sort, dual, rounding, mask), for logs and benchmarks. */
    String phases() { return phases; }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT,
                "Selection[p=%d kept=%d flops=%.6g primal=%.9g dual=%.9g gap=%.3g mu=%.6g omega=%.6g evals=%d %.3fs]",
                parameters, kept, keptFlops, primalValue, dualBound, relativeGap(), mu, omega, dualEvaluations, seconds);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (mask != null) mask.close();
        }
    }
}
