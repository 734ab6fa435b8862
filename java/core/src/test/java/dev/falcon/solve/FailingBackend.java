package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * Delegates to a backend and throws an IllegalStateException from its {@code failAt}-th call, as a backend call does when
 * another thread closed X or the backend: for the paths a run takes when it stops half way.
 */
public final class FailingBackend implements ComputeBackend {
    private final ComputeBackend inner;
    private long calls;
    private long failAt = Long.MAX_VALUE;
    private String failed;

    public FailingBackend(ComputeBackend inner) { this.inner = inner; }

    /** Counts the calls from zero again, the {@code call}-th of them failing (Long.MAX_VALUE: none). */
    public void failAt(long call) {
        calls = 0;
        failAt = call;
        failed = null;
    }

    /** The calls made since {@link #failAt}. */
    public long calls() { return calls; }

    /** The operation that failed, or null. */
    public String failed() { return failed; }

    private void call(String op) {
        if (++calls == failAt) {
            failed = op;
            throw new IllegalStateException("call " + calls + " (" + op + ") failed on purpose");
        }
    }

    @Override public String name() { return inner.name(); }
    @Override public int threads() { return inner.threads(); }
    @Override public String description() { return "failing " + inner.description(); }
    @Override public HostMatrix load(RawMatrixSource source) throws IOException { return inner.load(source); }
    @Override public HostMatrix load(RawMatrixSource source, long[] blocks) throws IOException { return inner.load(source, blocks); }
    @Override public HostMatrix allocate(long rows, long cols, long[] blocks) { call("allocate"); return inner.allocate(rows, cols, blocks); }
    @Override public FloatPointer floatVector(long length) { call("floatVector"); return inner.floatVector(length); }
    @Override public long firstNonFinite(HostMatrix x) { call("firstNonFinite"); return inner.firstNonFinite(x); }
    @Override public void fillUniform(FloatPointer dst, long count, long seed, float scale) { inner.fillUniform(dst, count, seed, scale); }
    @Override public void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed) { inner.fillSyntheticGradients(x, rank, noise, seed); }
    @Override public void multiply(HostMatrix x, FloatPointer v, FloatPointer out) { call("multiply"); inner.multiply(x, v, out); }
    @Override public void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out) { call("multiplySummedInDouble"); inner.multiplySummedInDouble(x, v, out); }
    @Override public void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out) { call("multiplyTransposedSummedInDouble"); inner.multiplyTransposedSummedInDouble(x, u, out); }
    @Override public void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out) { call("multiplyTransposed"); inner.multiplyTransposed(x, u, out); }
    @Override public void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out) { call("blockGramProduct"); inner.blockGramProduct(x, blockStarts, d, out); }
    @Override public void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst) { call("gatherColumns"); inner.gatherColumns(x, columns, k, dst); }
    @Override public void weightedGram(HostMatrix x, FloatPointer w, DoublePointer gram) { call("weightedGram"); inner.weightedGram(x, w, gram); }
    @Override public void singlePrecisionGram(HostMatrix x, DoublePointer gram) { call("singlePrecisionGram"); inner.singlePrecisionGram(x, gram); }
    @Override public void choleskyFactor(DoublePointer a, int n) { call("choleskyFactor"); inner.choleskyFactor(a, n); }
    @Override public void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs) { call("choleskySolve"); inner.choleskySolve(factor, n, b, nrhs); }
    @Override public void sortSegmentsDescending(FloatPointer scores, long[] starts, FloatPointer sorted, IntPointer index, DoublePointer prefix) {
        call("sortSegmentsDescending");
        inner.sortSegmentsDescending(scores, starts, sorted, index, prefix);
    }
    @Override public void countAbove(FloatPointer sorted, long[] starts, double[] thresholds, long[] counts) { call("countAbove"); inner.countAbove(sorted, starts, thresholds, counts); }
    @Override public void close() {}
}
