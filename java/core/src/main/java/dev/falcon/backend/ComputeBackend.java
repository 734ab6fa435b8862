package dev.falcon.backend;

import dev.falcon.data.HostMatrix;
import dev.falcon.data.PointerExtent;
import dev.falcon.data.RawMatrixSource;
import java.io.IOException;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Every operation the solver performs on X and on length-p vectors. The solver above this interface
 * never knows which implementation it runs on; implementations are found at run time through
 * {@link BackendProvider} and chosen by {@link Backends}.
 *
 * <p>Conventions: X is a float32 {@link HostMatrix} (n rows, p columns), column-major or in the panel layout
 * that {@link #allocate}/{@link #load(RawMatrixSource, long[])} of the same backend produced (every backend
 * accepts column-major; the java backend reads either; a backend given a layout it cannot read says so). Vectors are
 * off-heap JavaCPP pointers owned by the caller, read and written from their position; lengths are given by the matrix or
 * explicitly, never by {@code Pointer.limit()}. Every operation on X checks its vectors first, on every backend (through
 * the static checks below, which read only the pointers' limit or capacity): a vector that is null, closed, or holds
 * fewer elements from its position than the operation reads or writes (each method names the length, n = X's rows,
 * p = X's columns) is an {@link IllegalArgumentException} naming the operation, the argument, the length needed and
 * the length held, before any native memory is touched. Unchecked, a short output was written past its end (the JVM
 * crashed then, or later at an unrelated free) and a short input read past it (garbage such as 1e275 or NaN returned
 * without a word). A pointer made from a bare native address (no limit, no capacity) has no known length and is taken
 * as it is. Reductions that decide anything accumulate in double. Results are deterministic for a given input and
 * thread count.
 *
 * <p>Threads: the {@code cpu} and {@code java} instances keep no state between calls, so several threads may share
 * one (two {@code Pruner.prune} calls at once give the results each gives alone). A {@code cuda} instance keeps X
 * resident and its scratch buffers between calls and must be used by one thread at a time: give each thread its own
 * (overlapping calls from two threads are refused with an IllegalStateException, see {@link ExclusiveUse}).
 */
public interface ComputeBackend extends AutoCloseable {

    /** Short name: "java", "cpu", "cuda". */
    String name();

    /** Threads this instance uses for its kernels. */
    int threads();

    /**
     * The thread count OpenBLAS runs this instance's calls with, as OpenBLAS reports it, or 0 where it makes no OpenBLAS
     * call. It can be below {@link #threads()}: the cpu backend gives OpenBLAS at most the processors this process may
     * use (taskset, a cpuset), and OpenBLAS's Grams and factors round by its own count.
     */
    default int openBlasThreads() { return 0; }

    /** One line for logs and reports, e.g. "cpu: OpenBLAS 0.3.31 (core SkylakeX), 2 threads". */
    String description();

    // ---------------------------------------------------------------- loading X

    /**
     * Produces X in the internal layout from a validated file description: a zero-copy mapping when
     * the file already is column-major little-endian float32, otherwise one conversion (transposition
     * and/or widening) into memory the returned matrix owns ({@link HostMatrix#origin()} "copy of file NAME").
     * <p>Always column-major. The CLI loads X with {@link #load(RawMatrixSource, long[])} and the blocks of its block
     * size instead, and on {@code cpu} a file it does not map (C order, or not float32) is then stored in panels, whose
     * products add in another order: a falcon prune of this X agrees with the CLI's only to rounding, which its local
     * search can carry to a support a few weights apart. To get the CLI's results, load with
     * {@code load(source, Backsolve.blockStarts(layers, options.blockSize()))}.
     */
    HostMatrix load(RawMatrixSource source) throws IOException;

    /**
     * X in the layout this backend streams fastest when the solver's block-diagonal products use {@code blockStarts}
     * (null when unknown): as {@link #load(RawMatrixSource)}, but a backend may store it in panels equal to the blocks
     * (cpu does, unless the file maps without a copy). The default ignores the blocks. Blocks that break a rule of
     * {@link #requireStarts} are refused on every backend and for every file layout, as by {@link #allocate}.
     */
    default HostMatrix load(RawMatrixSource source, long[] blockStarts) throws IOException {
        HostMatrix.requireShape(source.rows(), source.cols(), blockStarts); // unused here, but refused as where they are used
        return load(source);
    }

    /**
     * As {@link #load(RawMatrixSource, long[])}, but always into memory the returned matrix owns, never a mapping of the
     * file: a later rewrite of the file (truncated by {@code np.save} over the same path) does not change this X. A mapped
     * X (cpu, a float32 Fortran-order file) reads the file's pages at every product, and a read past the end of a file
     * truncated meanwhile is a SIGBUS that stops the JVM. Costs one read of the file and memory for X. The default is
     * {@link #load(RawMatrixSource, long[])}, for backends that never map the file ({@code java}); a backend that maps
     * overrides it.
     */
    default HostMatrix loadCopy(RawMatrixSource source, long[] blockStarts) throws IOException {
        return load(source, blockStarts);
    }

    /** {@link #loadCopy(RawMatrixSource, long[])} with no blocks: column-major X the matrix owns. */
    default HostMatrix loadCopy(RawMatrixSource source) throws IOException {
        return loadCopy(source, null);
    }

    /**
     * An uninitialised rows x cols matrix for X, in the layout {@link #load(RawMatrixSource, long[])} would give for
     * these blocks. The default is column-major; a backend that keeps it still refuses it after {@link #close()}, as
     * every call (it overrides it to check). Blocks that break a rule of {@link #requireStarts} are refused on every
     * backend, the ones that ignore them included.
     */
    default HostMatrix allocate(long rows, long cols, long[] blockStarts) {
        HostMatrix.requireShape(rows, cols, blockStarts);
        return HostMatrix.allocate(rows, cols);
    }

    /**
     * An uninitialised off-heap vector of {@code length} floats for length-p operands and results, owned and closed by
     * the caller. The cpu backend asks for transparent huge pages for large ones before their first touch; the default
     * is a plain {@code new FloatPointer(length)}. Refused after {@link #close()}, as every call: a backend that keeps
     * the default overrides it to check. A negative length, or one whose bytes a long cannot count, is an
     * IllegalArgumentException before anything is allocated.
     */
    default FloatPointer floatVector(long length) {
        dev.falcon.data.PointerExtent.requireFloatCount(length, "floatVector");
        return new FloatPointer(length);
    }

    /**
     * Validation of user input: the storage index ({@link HostMatrix#elementAt} gives its row and column) of the
     * first NaN or infinity in X's memory, or -1 when every element is finite.
     */
    long firstNonFinite(HostMatrix x);

    // ---------------------------------------------------------------- synthetic data

    /**
     * {@code dst[i] = scale * CounterRandom.uniform(seed, i)} for i in [0, count): fully random data
     * for benchmarks (these machines merge identical memory pages, so repeated data fakes bandwidth).
     *
     * @throws IllegalArgumentException when count is negative, or dst holds fewer than count floats or is null or closed
     *         ({@link #requireFillArguments})
     */
    void fillUniform(FloatPointer dst, long count, long seed, float scale);

    /** The argument checks of {@link #fillUniform}, which every backend makes before its kernel runs. */
    static void requireFillArguments(Pointer dst, long count) {
        if (count < 0) throw new IllegalArgumentException("fillUniform: count is " + count + "; it must be >= 0");
        requireVector("fillUniform", "dst", dst, count, "count = " + count);
    }

    /**
     * Deterministic low-rank-plus-noise gradients for the built-in examples:
     * {@code x[i,j] = (sum_{r<rank} A[i,r] B[r,j]) / sqrt(rank) + noise * E[i,j]} with
     * {@code A[i,r] = uniform(seed + 1, i*rank + r)}, {@code B[r,j] = uniform(seed + 2, j*rank + r)},
     * {@code E[i,j] = uniform(seed + 3, j*n + i)} (see {@link dev.falcon.data.CounterRandom}); the sum
     * runs over r in increasing order in float.
     *
     * @throws IllegalArgumentException when rank is below 1 ({@link #requireSyntheticRank})
     */
    void fillSyntheticGradients(HostMatrix x, int rank, float noise, long seed);

    /**
     * The rank check of {@link #fillSyntheticGradients}, which every backend makes before it writes X: the java backend,
     * the oracle, had none, and filled X with NaN at rank 0 (0 / sqrt(0)) without a word and failed in a
     * NegativeArraySizeException below it, where cpu refused both.
     */
    static void requireSyntheticRank(int rank) {
        if (rank < 1) throw new IllegalArgumentException("fillSyntheticGradients: rank must be >= 1, got " + rank);
    }

    // ---------------------------------------------------------------- products with X

    /**
     * {@code out[0..n) = X v}, v of length p.
     *
     * @throws IllegalArgumentException when v holds fewer than p floats or out fewer than n, or either is null or closed
     *         ({@link #requireProductVectors})
     */
    void multiply(HostMatrix x, FloatPointer v, FloatPointer out);

    /**
     * {@code out[0..n) = X v} with every row's products summed in double and left in double, for values reported on their
     * own and the decisions taken on them (the objective, {@link dev.falcon.prune.Objective}): the residual X d after a
     * backsolve is tiny against its products, and float partial sums leave mostly their own rounding in it; rounded to
     * float once at the end, each entry was still 6e-8 off, its square in the fit term twice that, and Q lost 1e-4 of
     * itself where the linear term cancels the fit. No default: {@link #multiply}'s float output is what this avoids.
     *
     * @throws IllegalArgumentException when v holds fewer than p floats or out fewer than n doubles, or either is null or
     *         closed ({@link #requireProductVectors})
     */
    void multiplySummedInDouble(HostMatrix x, FloatPointer v, DoublePointer out);

    /**
     * {@code out[0..p) = X^T u}, u of length n.
     *
     * @throws IllegalArgumentException when u holds fewer than n floats or out fewer than p, or either is null or closed
     *         ({@link #requireTransposedProductVectors})
     */
    void multiplyTransposed(HostMatrix x, FloatPointer u, FloatPointer out);

    /**
     * {@code out[0..p) = X^T u} with u in double, every product and sum in double and the result left in double: where u
     * carries a large part that X^T annihilates (the Woodbury backsolve's {@code M^{-1}} right side when M is near
     * singular: it brings the residual outside the range of X_K back multiplied by about 1/lambda), u rounded to float
     * and float sums left 6e-8 of that part in the result. Each column's sum runs over the rows in order, on every layout
     * and thread count, on every backend but {@code cuda}: its kernel gives each column one warp, lane l summing rows l,
     * l + 32, ... and the 32 lane sums added as a tree, with the device's fused multiply-adds, so its results agree with
     * the in-order sums to rounding (within (n + 8) 2^-52 of each column's sum of |x_ij u_i|), not bit for bit. No
     * default: {@link #multiplyTransposed}'s float u is what this avoids.
     *
     * @throws IllegalArgumentException when u holds fewer than n doubles or out fewer than p, or either is null or closed
     *         ({@link #requireTransposedProductVectors})
     */
    void multiplyTransposedSummedInDouble(HostMatrix x, DoublePointer u, DoublePointer out);

    /**
     * Block-diagonal Fisher product in one pass over X: for every block b of consecutive columns
     * {@code [blockStarts[b], blockStarts[b+1])}, {@code out_B = X_B^T (X_B d_B)}. {@code blockStarts}
     * starts at 0, increases strictly and ends at p; d and out hold p floats each.
     *
     * @throws IllegalArgumentException when the starts are null or break a rule ({@link #requireStarts}), or d or out holds fewer
     *         than p floats or is null or closed ({@link #requireBlockGramProductArguments})
     */
    void blockGramProduct(HostMatrix x, long[] blockStarts, FloatPointer d, FloatPointer out);

    /**
     * Copies the columns {@code columns[0..k)} of X into {@code dst}, an n x k column-major buffer.
     *
     * @throws IllegalArgumentException when k is negative, or columns holds fewer than k ints or dst fewer than n k floats,
     *         or either is null or closed ({@link #requireGatherArguments})
     * @throws IndexOutOfBoundsException naming a column index outside [0, p)
     */
    void gatherColumns(HostMatrix x, IntPointer columns, long k, FloatPointer dst);

    /**
     * The vector checks of {@link #multiply} and {@link #multiplySummedInDouble}, which every backend makes before its
     * kernel runs: v holds p elements from its position, out n.
     *
     * @param operation names the call in the error
     * @throws IllegalArgumentException naming the argument, the length needed and the length held, or the null pointer
     */
    static void requireProductVectors(String operation, HostMatrix x, Pointer v, Pointer out) {
        requireVector(operation, "v", v, x.cols(), "p = " + x.cols() + ", the columns of X");
        requireVector(operation, "out", out, x.rows(), "n = " + x.rows() + ", the rows of X");
    }

    /**
     * The vector checks of {@link #multiplyTransposed} and {@link #multiplyTransposedSummedInDouble}, which every backend
     * makes before its kernel runs: u holds n elements from its position, out p.
     *
     * @throws IllegalArgumentException naming the argument, the length needed and the length held, or the null pointer
     */
    static void requireTransposedProductVectors(String operation, HostMatrix x, Pointer u, Pointer out) {
        requireVector(operation, "u", u, x.rows(), "n = " + x.rows() + ", the rows of X");
        requireVector(operation, "out", out, x.cols(), "p = " + x.cols() + ", the columns of X");
    }

    /** The argument checks of {@link #blockGramProduct}, which every backend makes before its kernel runs. */
    static void requireBlockGramProductArguments(HostMatrix x, long[] blockStarts, Pointer d, Pointer out) {
        requireStarts("block", blockStarts, x.cols());
        requireVector("blockGramProduct", "d", d, x.cols(), "p = " + x.cols() + ", the columns of X");
        requireVector("blockGramProduct", "out", out, x.cols(), "p = " + x.cols() + ", the columns of X");
    }

    /**
     * The argument checks of {@link #gatherColumns}, which every backend makes before its kernel runs; the column indices
     * themselves are checked by the kernels as they read them (a pass over them, which these checks do not make).
     */
    static void requireGatherArguments(HostMatrix x, Pointer columns, long k, Pointer dst) {
        if (k < 0) throw new IllegalArgumentException("gatherColumns: k is " + k + "; the number of columns to gather must be >= 0");
        requireVector("gatherColumns", "columns", columns, k, "k = " + k + ", the columns to gather");
        long floats;
        try {
            floats = Math.multiplyExact(x.rows(), k);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("gatherColumns: dst would hold n k = " + x.rows() + " x " + k + " floats, more than a long counts; gather fewer columns at once");
        }
        requireVector("gatherColumns", "dst", dst, floats, "n k = " + x.rows() + " x " + k + ", the gathered columns");
    }

    /**
     * The Gram's result checks of {@link #weightedGram} and {@link #singlePrecisionGram}, which every backend makes before
     * its kernel runs: gram holds n x n doubles from its position (the weights are checked by
     * {@link #requireFiniteWeights}).
     */
    static void requireGram(String operation, HostMatrix x, Pointer gram) {
        long n = x.rows();
        requireVector(operation, "gram", gram, n * n, "n x n = " + n + " x " + n + ", n the rows of X");
    }

    /**
     * One vector of an operation on X: null, closed, or holding fewer than {@code needed} elements from its position (its
     * limit, else its capacity: O(1), no pass over the data) is an IllegalArgumentException such as "multiply: out (n =
     * 64, the rows of X) holds 2 elements but 64 are needed".
     *
     * @param length how the operation sizes it, for the message
     */
    static void requireVector(String operation, String argument, Pointer vector, long needed, String length) {
        PointerExtent.require(vector, needed, operation + ": " + argument + " (" + length + ")");
    }

    // ---------------------------------------------------------------- small dense algebra (n x n)

    /**
     * {@code gram = sum_j w_j x_j x_j^T} (n x n, column-major, both triangles filled, double); with
     * {@code columnWeights == null} every weight is 1, i.e. {@code gram = X X^T}.
     *
     * @throws IllegalArgumentException when a weight is NaN or infinite, columnWeights (when given) holds fewer than p
     *         floats, or gram fewer than n x n doubles or is null or closed ({@link #requireGram})
     */
    void weightedGram(HostMatrix x, FloatPointer columnWeights, DoublePointer gram);

    /**
     * Checks the p column weights of {@code weightedGram}, from the pointer's position as every kernel reads them: every
     * backend calls it first, so a weight that is not
     * finite is rejected everywhere (a backend splitting the columns by sign would otherwise drop it silently, another
     * return a NaN Gram). Returns whether every weight is {@code >= 0} (null: all ones), i.e. whether the Gram can be
     * one symmetric rank-k update on {@code sqrt(w_j) x_j}: the solver's 0/1 supports can.
     *
     * @throws IllegalArgumentException naming the first weight that is NaN or infinite, or weights that hold fewer than p
     *         floats from their position or were closed
     */
    static boolean requireFiniteWeights(FloatPointer weights, long p) {
        if (weights == null) return true;
        requireVector("weightedGram", "columnWeights", weights, p, "p = " + p + ", the columns of X");
        // [position, position + p) of the caller's buffer, through a copy of the pointer so the caller's limit stays: the
        // answer picks the cpu and cuda backends' kernel (rank-k on sqrt(w) or the general product), so it must describe
        // the weights those kernels read, not the first p floats of the allocation
        java.nio.FloatBuffer w = new FloatPointer(weights).limit(weights.position() + p).asBuffer();
        boolean nonNegative = true;
        for (int j = 0; j < (int) p; j++) {
            float v = w.get(j);
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException("weightedGram: column weight " + j + " is " + v + "; weights must be finite");
            }
            if (v < 0) nonNegative = false;
        }
        return nonNegative;
    }

    /**
     * {@code gram = X X^T} as {@code weightedGram(x, null, gram)} gives it, but only as accurate as float32 products
     * (relative error about 1e-6): for spectral bounds such as the Lipschitz constant, where a backend may compute it
     * in single precision (cpu: ssyrk on X in place, without the widened double copy, about twice as fast). The
     * default is the double-precision Gram.
     *
     * @throws IllegalArgumentException when gram holds fewer than n x n doubles or is null or closed ({@link #requireGram})
     */
    default void singlePrecisionGram(HostMatrix x, DoublePointer gram) {
        // checked in this call's name first: weightedGram's own check named weightedGram, a call the caller never made
        requireGram("singlePrecisionGram", x, gram);
        weightedGram(x, null, gram);
    }

    /**
     * Cholesky factor in place (lower triangle, column-major, n x n); throws
     * {@link ArithmeticException} when the matrix is not positive definite, {@link NonFiniteMatrixException} (one)
     * when its lower triangle holds NaN or an infinity. n = 0 does nothing, on every backend.
     */
    void choleskyFactor(DoublePointer a, int n);

    /**
     * Checks the lower triangle of the n x n column-major {@code a}, all that {@link #choleskyFactor} reads: every backend
     * calls it first, so that a NaN or an infinity is the same error everywhere. Otherwise LAPACKE refuses a NaN as
     * "dpotrf: argument 4 is invalid", an infinite pivot passes the test for a positive one (its factor is infinite, or NaN),
     * and cuSOLVER may return a NaN factor with info 0.
     *
     * @throws NonFiniteMatrixException naming the first such entry
     */
    static void requireFiniteLowerTriangle(DoublePointer a, int n) {
        // every backend's choleskyFactor calls this first: a short a was read (and factored in place) past its end
        if (n < 0) throw new IllegalArgumentException("choleskyFactor: n is " + n + "; it must be >= 0");
        requireVector("choleskyFactor", "a", a, (long) n * n, "n x n = " + n + " x " + n);
        double[] column = new double[n];
        DoublePointer at = new DoublePointer(a); // one bulk read per column, not n^2 native calls
        for (int j = 0; j < n; j++) {
            at.position(a.position() + (long) j * n + j).get(column, j, n - j);
            for (int i = j; i < n; i++) {
                double v = column[i];
                if (!Double.isFinite(v)) {
                    throw new NonFiniteMatrixException("the " + n + " x " + n + " matrix to factor is not finite: entry (" + i + ", "
                            + j + ") is " + v + ", so it has no Cholesky factor and no ridge lambda gives it one; the values it was"
                            + " formed from (X, the weights, lambda) hold NaN or Inf, or are large enough to overflow");
                }
            }
        }
    }

    /**
     * Solves {@code L L^T Y = B} in place for B (n x nrhs, column-major) given the factor L; n = 0 does nothing.
     *
     * @throws IllegalArgumentException when n or nrhs is negative, or factor holds fewer than n x n doubles or b fewer than
     *         n x nrhs, or either is null or closed ({@link #requireCholeskySolveArguments})
     */
    void choleskySolve(DoublePointer factor, int n, DoublePointer b, int nrhs);

    /** The argument checks of {@link #choleskySolve}, which every backend makes before its solver runs. */
    static void requireCholeskySolveArguments(Pointer factor, int n, Pointer b, int nrhs) {
        if (n < 0 || nrhs < 0) throw new IllegalArgumentException("choleskySolve: n is " + n + " and nrhs " + nrhs + "; both must be >= 0");
        requireVector("choleskySolve", "factor", factor, (long) n * n, "n x n = " + n + " x " + n);
        requireVector("choleskySolve", "b", b, (long) n * nrhs, "n x nrhs = " + n + " x " + nrhs);
    }

    // ---------------------------------------------------------------- selection kernels

    /**
     * Segmented sort, descending and stable (ties keep increasing original index): for every segment
     * {@code [segmentStarts[s], segmentStarts[s+1])} of {@code scores}, writes the sorted values to
     * {@code sortedOut}, their original (global) indices to {@code indexOut}, and the inclusive prefix
     * sums in double, restarting at each segment, to {@code prefixOut}: added in an order fixed by each backend (java
     * and cpu serially, cuda in tiles), so backends agree on them to rounding. Scores must be finite and
     * non-negative. {@code indexOut} may be null when the caller needs no indices (the selection does not): a backend
     * may then sort the values alone, which moves half the bytes. {@code prefixOut} may be null when the caller needs no
     * prefix sums (magnitude does not): the sorted values and indices are the same, and a backend may then skip the sums
     * (cuda neither computes nor copies back their 8 bytes per score) or keep using a buffer of its own as scratch (cpu).
     *
     * @throws IllegalArgumentException when the starts break a rule, or scores or sortedOut (and indexOut or prefixOut where
     *         given) holds fewer entries than the last start, or is null or closed ({@link #requireSortArguments})
     */
    void sortSegmentsDescending(FloatPointer scores, long[] segmentStarts,
                                FloatPointer sortedOut, IntPointer indexOut, DoublePointer prefixOut);

    /**
     * The argument checks of {@link #sortSegmentsDescending}, which every backend makes before its kernel runs: a short
     * scores was sorted with what lay past its end (garbage refused or not as it happened to be) and a short output
     * written past it. Returns the number of scores, the last start.
     */
    static long requireSortArguments(Pointer scores, long[] segmentStarts, Pointer sortedOut, Pointer indexOut, Pointer prefixOut) {
        long count = endOfSegments(segmentStarts);
        requireStarts("segment", segmentStarts, count);
        String length = "the last segment start, " + count;
        requireVector("sortSegmentsDescending", "scores", scores, count, length);
        requireVector("sortSegmentsDescending", "sortedOut", sortedOut, count, length);
        if (indexOut != null) requireVector("sortSegmentsDescending", "indexOut", indexOut, count, length);
        if (prefixOut != null) requireVector("sortSegmentsDescending", "prefixOut", prefixOut, count, length);
        return count;
    }

    /**
     * The last of the segment starts (the number of scores), for backends to check the starts against: an array without
     * its two ends (0 and the count) is refused here, before a backend reads its last entry.
     */
    static long endOfSegments(long[] segmentStarts) {
        if (segmentStarts == null || segmentStarts.length < 2) {
            throw new IllegalArgumentException("segment starts must hold at least two entries, 0 and the number of scores: got "
                    + (segmentStarts == null ? "null" : java.util.Arrays.toString(segmentStarts)));
        }
        return segmentStarts[segmentStarts.length - 1];
    }

    /**
     * Block or segment starts as every backend takes them: at least two entries, beginning at 0, increasing strictly and
     * ending at {@code end} (p, or the number of scores). One check for all backends and X's panels
     * ({@link HostMatrix#requireStarts}), so that a bad array is the same error everywhere rather than an out-of-bounds
     * read in one backend's native code.
     *
     * @param what names the starts in the error ("block", "segment")
     * @throws IllegalArgumentException naming the first entry that breaks a rule
     */
    static void requireStarts(String what, long[] starts, long end) {
        HostMatrix.requireStarts(what, starts, end);
    }

    /**
     * Threshold counts: for every segment s of a descending {@code sorted} array, {@code counts[s]} =
     * the number of entries v with {@code (double) v > thresholds[s]} (a binary search per segment).
     *
     * @throws IllegalArgumentException (every backend, through {@link #requireCountAboveArguments}) when the segment
     *         starts are not valid or null, {@code sorted} holds fewer entries than the last start or is null or closed, or
     *         {@code thresholds} or {@code counts} is null or has fewer entries than there are segments
     */
    void countAbove(FloatPointer sorted, long[] segmentStarts, double[] thresholds, long[] counts);

    /**
     * The argument checks of {@link #countAbove}, which every backend makes before its kernel runs: a native kernel given
     * a short {@code thresholds} would read past its end (counts against garbage), and one given a short {@code counts}
     * would write past it. Returns the number of segments.
     *
     * @throws IllegalArgumentException naming the bad starts, or the lengths needed and given
     */
    static int requireCountAboveArguments(Pointer sorted, long[] segmentStarts, double[] thresholds, long[] counts) {
        long count = endOfSegments(segmentStarts);
        requireStarts("segment", segmentStarts, count);
        requireVector("countAbove", "sorted", sorted, count, "the last segment start, " + count);
        int segments = segmentStarts.length - 1;
        // null is no array of them either: it was a NullPointerException naming a local variable, not the argument
        if (thresholds == null || counts == null || thresholds.length < segments || counts.length < segments) {
            throw new IllegalArgumentException("countAbove: need " + segments + " thresholds and counts, one per segment of the "
                    + segmentStarts.length + " segment starts: got " + (thresholds == null ? "null" : thresholds.length) + " thresholds and "
                    + (counts == null ? "null" : counts.length) + " counts");
        }
        return segments;
    }

    /**
     * Releases handles, pools and scratch memory of this instance. Matrices passed in stay owned by the caller. Every
     * later call, the allocating ones ({@link #load}, {@link #allocate}, {@link #floatVector}) included, throws
     * {@link IllegalStateException}; a second close does nothing.
     */
    @Override
    void close();
}
