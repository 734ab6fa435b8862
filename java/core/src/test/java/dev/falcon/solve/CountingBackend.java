package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Delegates to a backend and counts the operations on X (by name), and the sorts asked for no prefix sums
 * ("sortSegmentsDescending without prefix sums"). At each of those operations and each Cholesky call it also samples
 * the native bytes held (JavaCPP's allocations and the owned matrices): the caller's buffers are held across its
 * backend calls, so the highest sample is the caller's native peak at those calls.
 */
public final class CountingBackend implements ComputeBackend {
    private final ComputeBackend inner;
    private final boolean supplyPrefixSums;
    public final Map<String, Integer> counts = new TreeMap<>();

    public CountingBackend(ComputeBackend inner) { this(inner, false); }

    /**
     * {@code supplyPrefixSums}: a sort asked for no prefix sums gets a buffer for them all the same, as every sort did
     * before prefixOut could be null: the caller's answers as they were then, to compare the new ones with.
     */
    public CountingBackend(ComputeBackend inner, boolean supplyPrefixSums) {
        this.inner = inner;
        this.supplyPrefixSums = supplyPrefixSums;
    }

    private long peakNativeBytes;

    /** Told of the gathers and weighted Grams (before they run), for tests that follow what a solver works on. */
    public interface Observer {
        default void gatherColumns(HostMatrix x, IntPointer columns, long k) {}

        default void weightedGram(HostMatrix x, FloatPointer weights) {}

        /** Told of every pass over X (an operation that reads all of it, by name), before it runs. */
        default void passOverX(String op) {}
    }

    /** Null: none. */
    public Observer observer;

    private void count(String op) {
        counts.merge(op, 1, Integer::sum);
        sampleNativeBytes();
    }

    /** An operation that reads all of X: counted, and told to the observer. */
    private void pass(String op) {
        count(op);
        if (observer != null) observer.passOverX(op);
    }

    /** The passes over X counted so far: every operation on X's values, the scan for NaN and Inf included. */
    public int passesOverX() {
        int passes = 0;
        for (var e : counts.entrySet()) if (!e.getKey().startsWith("sortSegmentsDescending")) passes += e.getValue();
        return passes;
    }

    private void sampleNativeBytes() {
        peakNativeBytes = Math.max(peakNativeBytes, Pointer.totalBytes() + HostMatrix.openOwnedBytes());
    }

    /** The most native bytes held at any sampled call (see above), including what was held before this backend was made. */
    public long peakNativeBytes() { return peakNativeBytes; }

    public int get(String op) { return counts.getOrDefault(op, 0); }

    @Override public String name() { return inner.name(); }
    @Override public int threads() { return inner.threads(); }
    @Override public String description() { return "counting " + inner.description(); }
    @Override public HostMatrix load(RawMatrixSource source) throws IOException { return inner.load(source); }
    @Override public HostMatrix load(RawMatrixSource source, long[] blocks) throws IOException { return inner.load(source, blocks); }
    @Override public HostMatrix allocate(long rows, long cols, long[] blocks) { return inner.allocate(rows, cols, blocks); }
    @Override public FloatPointer floatVector(long length) { return inner.floatVector(length); }
    @Override public long firstNonFinite(HostMatrix x) { pass("firstNonFinite"); return inner.firstNonFinite(x); }
    @Override public void fillUniform(FloatPointer dst, long count, long seed, float scale) { inner.fillUniform(dst, count, seed, scale); }
    @Override public void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed) { inner.fillSyntheticGradients(x, rank, noise, seed); }
    @Override public void multiply(HostMatrix x, FloatPointer v, FloatPointer out) { pass("multiply"); inner.multiply(x, v, out); }
    @Override public void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out) { pass("multiplySummedInDouble"); inner.multiplySummedInDouble(x, v, out); }
    @Override public void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out) { pass("multiplyTransposedSummedInDouble"); inner.multiplyTransposedSummedInDouble(x, u, out); }
    @Override public void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out) { pass("multiplyTransposed"); inner.multiplyTransposed(x, u, out); }
    @Override public void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) { pass("blockGramProduct"); inner.blockGramProduct(x, blockStarts, d, out); }
    @Override public void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst) {
        pass("gatherColumns");
        if (observer != null) observer.gatherColumns(x, columns, k);
        inner.gatherColumns(x, columns, k, dst);
    }
    @Override public void weightedGram(HostMatrix x, FloatPointer w, DoublePointer gram) {
        pass("weightedGram");
        if (observer != null) observer.weightedGram(x, w);
        inner.weightedGram(x, w, gram);
    }
    @Override public void singlePrecisionGram(HostMatrix x, DoublePointer gram) { pass("singlePrecisionGram"); inner.singlePrecisionGram(x, gram); }
    @Override public void choleskyFactor(DoublePointer a, int n) {
        sampleNativeBytes();
        inner.choleskyFactor(a, n);
    }
    @Override public void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs) {
        sampleNativeBytes();
        inner.choleskySolve(factor, n, b, nrhs);
    }
    @Override public void sortSegmentsDescending(FloatPointer scores, long[] starts, FloatPointer sorted, IntPointer index, DoublePointer prefix) {
        count("sortSegmentsDescending");
        if (prefix != null) {
            inner.sortSegmentsDescending(scores, starts, sorted, index, prefix);
            return;
        }
        count("sortSegmentsDescending without prefix sums");
        try (DoublePointer sums = supplyPrefixSums ? new DoublePointer(Math.max(1, ComputeBackend.endOfSegments(starts))) : null) {
            inner.sortSegmentsDescending(scores, starts, sorted, index, sums);
        }
    }
    @Override public void countAbove(FloatPointer sorted, long[] starts, double[] thresholds, long[] counts) { inner.countAbove(sorted, starts, thresholds, counts); }
    @Override public void close() {}
}
