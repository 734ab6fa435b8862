package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Local search over swaps, additions and their batches (and, where none of those lowers Q, pairs of swaps, then moves of
 * up to three weights in and three out, then, where every feasible support holds at most three weights and they are
 * few, the best of them all) for the exact backsolve, evaluated in closed form on the n x n system instead of
 * by backsolving every candidate support.
 *
 * <p>With the exact backsolve on support K, Q depends on K alone:
 * <pre>  Q(K) = sum_{j not in K} t_j^2 / (2 lambda) - ||g||^2 / (2 lambda) + v^T M^{-1} v / (2 lambda)</pre>
 * where {@code t_j = g_j - lambda wbar_j}, {@code v = sum_{j in K} g_j x_j + lambda sum_{j not in K} wbar_j x_j}
 * and {@code M = X_K X_K^T + lambda I}. A coordinate joining K adds {@code t_j x_j} to v and {@code x_j x_j^T} to M,
 * so by Sherman-Morrison, with {@code a_j = x_j^T M^{-1} x_j} and {@code e_j = x_j^T M^{-1} v - t_j} (the gradient of
 * Q at the backsolved point; {@code lambda w_j} for kept j), adding j lowers Q by {@code e_j^2 / (2 lambda (1 + a_j))}
 * and removing kept j raises it by {@code e_j^2 / (2 lambda (1 - a_j))}; a swap is the two in sequence, its cross term
 * {@code x_i^T M^{-1} x_j}. Every quantity is an n-vector product: a pass needs one product X^T y for the gradient of
 * every coordinate and the gathered candidate columns, never a backsolve.
 *
 * <p>Why it matters: when |K| >> n (large networks, few gradient rows) a single move changes Q by parts in 10^9,
 * below what comparing two backsolved Q's in float can resolve, and backsolving a candidate costs n^2 |K|. Here each
 * batch is accepted only when its exact change, computed from double n-vectors, is negative.
 */
final class SwapPolish {
    private SwapPolish() {}

    /** Most candidate columns gathered per pass (n x this many doubles are held at once). */
    static final int MAX_CANDIDATE_COLUMNS = 8192;

    /**
     * Doubles of gathered candidate columns and their solves held at once (two n x m arrays, 32 MB each). resnet20 at
     * n = 1000 (2,000 columns): four times as many took 2.5 times as long (17 s) and 1.2 GB more RSS for 0.01% of Q.
     */
    static final long MAX_CANDIDATE_DOUBLES = 1L << 22;

    /**
     * Passes stop once one adds less than this fraction of the decrease so far (resnet20, n = 128, 10% of the FLOPs: the
     * sixth pass adds 1.1% and reaches 98% of what sixteen passes gain).
     */
    static final double DIMINISHING = 0.02;

    /**
     * Additions and removals, each, that the pairs of swaps are drawn from: C(24, 2)^2 = 76,176 pairs, each a 4 x 4
     * elimination, a few ms.
     */
    static final int PAIR_CANDIDATES = 24;

    /** Removal partners tried per layer for each addition, cheapest first. */
    static final int PARTNERS_PER_LAYER = 4;

    /**
     * The search's result: the final support with its Gram (owned by the caller; both null when no move lowered Q), how
     * many moves were accepted, and the exact decrease of Q they add up to on the model (before the final backsolve's
     * rounding).
     */
    record Outcome(byte[] mask, Backsolve.SupportGram gram, int swaps, int additions, double decrease, int passes) {}

    /**
     * Runs up to {@code maxPasses} passes that take moves from the exact backsolve of {@code mask}, and between them the
     * passes that find none and only move on to the next stage ({@link Outcome#passes} counts both). {@code near} is used
     * when it is the Gram of {@code mask} (else, or when null, that Gram is formed); the run takes it over and closes it,
     * also when it fails. Budgets: at most {@code nnz} weights and {@code flops} FLOPs, counted per layer as the selection
     * counts them.
     */
    static Outcome run(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers,
                       long nnz, double flops, byte[] mask, Backsolve.SupportGram near, int maxPasses) {
        return run(backend, x, wbar, g, lambda, layers, nnz, flops, mask, near, maxPasses, true);
    }

    /**
     * As above; {@code boundLayers} false makes each addition try every layer's removals, as it did before the bound
     * let it pass over the layers that cannot hold its best move (for tests, which compare the two).
     */
    static Outcome run(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, LayerTable layers,
                       long nnz, double flops, byte[] mask, Backsolve.SupportGram near, int maxPasses, boolean boundLayers) {
        int n = Math.toIntExact(x.rows());
        Coefficients t = new Coefficients(wbar, g, lambda);
        byte[] current = mask.clone();
        Backsolve.SupportGram gram = near;
        DoublePointer factor = null;
        int swaps = 0, additions = 0, passes = 0;
        double decrease = 0;
        // room for the most columns a pass gathers: every pass reuses it
        try (Workspace work = new Workspace(n, Math.max(Math.min(candidateColumns(n), wbar.length), 2 * PAIR_CANDIDATES))) {
            if (gram == null || !gram.isOf(current)) {
                if (gram != null) gram.close();
                gram = null;
                gram = Backsolve.SupportGram.of(backend, x, current, null);
            }
            // afterwards kept up to date with the moved columns only
            double[] v = linearTerm(backend, x, wbar, g, lambda, current);
            for (double vi : v) {
                if (!Double.isFinite(vi)) {
                    throw new NotFinite("its linear term X z (z = g on K, lambda wbar off K, in float32) is not finite: lambda wbar"
                            + " or the product overflows float32");
                }
            }
            factor = work.squares.take();
            factor(backend, gram, lambda, n, factor);
            double[] y = solve(backend, factor, n, v);
            double fit = dot(v, y);
            // Swaps of one weight for several cheaper ones are tried only once the additions and swaps find nothing:
            // taken from the start, they removed weights that later swaps would have used better (resnet20, n = 32,
            // 10% of the FLOPs: Q 0.9996298 of mp + BS instead of 0.9995685), and they cost cross terms on every pass.
            boolean exchanges = false;
            // Pairs of swaps come last of all, where no single move lowers Q (two of the tiny instances' optima were two
            // swaps away, each alone raising Q), one pair at a time from a small pool: pairs of pairs grow with the fourth
            // power of the candidates.
            boolean pairs = false;
            // Last of all, where no pair lowers Q either, moves of up to three weights in and three out, taken whole: on
            // instances of p = 16..24 the optimum was most often such a move away (three one-for-one swaps, or one costly
            // weight out for two cheaper ones in, each part alone raising Q).
            boolean coordinated = false;
            // Where every feasible support holds at most EXHAUSTIVE_MOST weights and they are few, the last stage scores
            // them all: with a budget of one or two weights among hundreds, the optimum was often a pair of weights that
            // are poor alone, which no pool ranked by single moves holds (p = 350: the polish ended at 1.114 times it).
            // Decided once from the budgets alone, so a large support pays nothing for it.
            int exhaustibleSize = fewFeasibleSupports(layers, nnz, flops);
            boolean exhaustible = exhaustibleSize > 0, exhaustive = false;
            // Only passes that take moves count against the cap: one that finds none moves on to the next stage, at most
            // four in a row, the last ending the run. Counted, they ended the polish just before the stages that still
            // found moves (from mp at n = 24, p = 494: Q 7.3e-4 above where it converges).
            for (int taken = 0; taken < maxPasses; ) {
                passes++;
                double before = decrease;
                Pass moves = exhaustive ? proposeBestFeasibleSupport(backend, x, layers, exhaustibleSize, flops, current, t, lambda, factor, v, n, work)
                        : coordinated ? proposeCoordinated(backend, x, layers, nnz, flops, current, t, lambda, factor, v, y, n, work)
                        : pairs ? proposePair(backend, x, layers, flops, current, t, lambda, factor, v, y, n, work)
                        : propose(backend, x, layers, nnz, flops, current, t, lambda, factor, v, y, n, exchanges, boundLayers, work);
                if (moves == null) {
                    if (exhaustive || coordinated && !exhaustible) break;
                    if (coordinated) exhaustive = true;
                    if (pairs) coordinated = true;
                    if (exchanges) pairs = true;
                    exchanges = true;
                    continue;
                }
                // The moves were scored one by one; together they interact (through M and v), the more so the smaller
                // |K| / n. The first m of them (best first) are evaluated exactly for m = all, half, a quarter, ...,
                // and the best prefix is taken: halving stops once a shorter one is worse than the best so far. A pair
                // of swaps (or a coordinated move) is taken whole or not at all: its parts alone raise Q.
                Trial best = null;
                try {
                    int fewest = pairs ? moves.size() : 1;
                    for (int m = moves.size(); m >= fewest; m = m == 1 ? 0 : (m + 1) / 2) {
                        Trial trial = Trial.of(backend, x, moves, m, gram, v, t, lambda, fit, n, work);
                        // strictly below, by more than the rounding of the fit term: a tie is no move
                        boolean lower = trial.change < 0 && trial.change < -1e-13 * Math.abs(fit / (2 * lambda));
                        if (lower && (best == null || trial.change < best.change)) {
                            if (best != null) best.release(work);
                            best = trial;
                        } else {
                            trial.release(work);
                            if (best != null) break;
                        }
                    }
                } catch (RuntimeException | Error e) {
                    if (best != null) best.release(work);
                    throw e;
                }
                if (best == null) {
                    if (exhaustive || coordinated && !exhaustible) break;
                    if (coordinated) exhaustive = true;
                    if (pairs) coordinated = true;
                    if (exchanges) pairs = true;
                    exchanges = true;
                    continue;
                }
                taken++;
                gram.close();
                gram = best.gram;
                work.squares.give(factor);
                factor = best.factor;
                v = best.v;
                y = best.y;
                fit = best.fit;
                decrease -= best.change;
                for (int k = 0; k < best.moves; k++) {
                    current[moves.add()[k]] = 1;
                    for (int j : moves.remove()[k]) current[j] = 0;
                    if (moves.remove()[k].length > 0) swaps++;
                    else additions++;
                }
                // after a pair of swaps (or a coordinated move) the single moves are tried again: it may have opened some
                if (pairs) {
                    pairs = false;
                    coordinated = false;
                    exhaustive = false;
                    continue;
                }
                // a batch cut down by its interactions says little about what the next, fresh proposal can gain
                if (best.moves == moves.size() && decrease - before < DIMINISHING * decrease) break;
            }
            work.squares.give(factor);
            factor = null;
            if (swaps + additions == 0) {
                gram.close();
                return new Outcome(null, null, 0, 0, 0, passes);
            }
            // a Gram from the workspace outlives it: closing it then frees its matrix
            return new Outcome(current, gram, swaps, additions, decrease, passes);
        } catch (RuntimeException | Error e) {
            if (factor != null) factor.close();
            if (gram != null) gram.close();
            throw e;
        }
    }

    /**
     * What every pass and trial of one run reuses: the n x n matrices (the trials' Grams and their updates, the Cholesky
     * factors) and the gathered candidate columns with their solves. Allocated per trial and pass, they were garbage of
     * several n x n doubles per trial, and the Java heap grew with it past what the run holds live (resnet20 at n = 3000:
     * peak RSS 4407 MiB, 533 MiB above the memory plan).
     */
    private static final class Workspace implements AutoCloseable {
        final Backsolve.SquareBuffers squares;
        private double[] columns, solved;
        private DoublePointer rhs;

        Workspace(int n, int columnCapacity) {
            squares = new Backsolve.SquareBuffers(n);
            columns = new double[columnCapacity * n];
            solved = new double[columnCapacity * n];
        }

        /** An array of at least {@code length} doubles for the gathered columns, overwritten by the next pass. */
        double[] columns(int length) {
            if (columns.length < length) columns = new double[length];
            return columns;
        }

        /** An array of at least {@code length} doubles for the gathered columns' solves, overwritten by the next pass. */
        double[] solved(int length) {
            if (solved.length < length) solved = new double[length];
            return solved;
        }

        /** Off-heap room for at least {@code length} right-hand sides' doubles. */
        DoublePointer rhs(long length) {
            if (rhs == null || rhs.capacity() < length) {
                if (rhs != null) rhs.close();
                rhs = null;
                rhs = new DoublePointer(length);
            }
            return rhs.position(0);
        }

        @Override
        public void close() {
            squares.close();
            if (rhs != null) rhs.close();
        }
    }

    /** The polish cannot score its moves: a quantity it needs is not finite in the precision it is formed in. */
    static final class NotFinite extends RuntimeException {
        NotFinite(String message) { super(message); }
    }

    /**
     * The first {@code moves} moves of a pass applied together: the Gram of the resulting support and the Cholesky factor
     * of M (both from the workspace: {@link #release} them unless taken), v, M^{-1} v, and the exact change of Q.
     */
    private record Trial(int moves, Backsolve.SupportGram gram, double[] v, DoublePointer factor, double[] y, double fit,
                         double change) {
        static Trial of(ComputeBackend backend, HostMatrix x, Pass pass, int moves, Backsolve.SupportGram gram,
                        double[] v, Coefficients t, double lambda, double fit, int n, Workspace work) {
            double scalar = 0;
            double[] vt = v.clone();
            int removals = 0;
            for (int k = 0; k < moves; k++) removals += pass.remove()[k].length;
            int[] joined = new int[moves], left = new int[removals];
            for (int k = 0, r = 0; k < moves; k++) {
                int add = pass.add()[k];
                joined[k] = add;
                scalar -= t.squared(add);
                pass.axpy(pass.addAt()[k], t.of(add), vt);
                for (int q = 0; q < pass.remove()[k].length; q++) {
                    int rem = pass.remove()[k][q];
                    left[r++] = rem;
                    scalar += t.squared(rem);
                    pass.axpy(pass.removeAt()[k][q], -t.of(rem), vt);
                }
            }
            Backsolve.SupportGram trialGram = Backsolve.SupportGram.updated(backend, x, gram, joined, left, work.squares);
            DoublePointer factor = null;
            try {
                factor = work.squares.take();
                SwapPolish.factor(backend, trialGram, lambda, n, factor);
                double[] y = SwapPolish.solve(backend, factor, n, vt);
                double trialFit = dot(vt, y);
                return new Trial(moves, trialGram, vt, factor, y, trialFit, (scalar + trialFit - fit) / (2 * lambda));
            } catch (RuntimeException | Error e) {
                if (factor != null) work.squares.give(factor);
                trialGram.close();
                throw e;
            }
        }

        /** Gives the Gram and the factor back to the workspace. */
        void release(Workspace work) {
            gram.close();
            work.squares.give(factor);
        }
    }

    /**
     * The moves of one pass in the order they were chosen (each feasible after the ones before it), the gathered columns
     * (double, column-major n x m) and where move k's added and removed columns sit in them. A move removes none (an
     * addition), one (a swap) or several weights (a swap of one costly weight for cheaper ones, to keep the FLOPs).
     */
    private record Pass(int[] add, int[][] remove, double[] columns, int[] addAt, int[][] removeAt, int n) {
        int size() { return add.length; }

        /** target += scale x_j for the gathered column at {@code at}. */
        void axpy(int at, double scale, double[] target) {
            int from = at * n;
            for (int i = 0; i < n; i++) target[i] += scale * columns[from + i];
        }
    }

    /** Most candidate columns one pass gathers at n rows. */
    private static int candidateColumns(int n) {
        return (int) Math.min(MAX_CANDIDATE_COLUMNS, Math.max(2, MAX_CANDIDATE_DOUBLES / (2L * n)));
    }

    /**
     * One pass's batch: every coordinate's gradient from one product, the most promising additions and removals of
     * every layer gathered, and each addition paired greedily with the removal (or none, when the budgets allow an
     * addition) whose exact change of Q, with the pair's cross term, is lowest and negative; with {@code exchanges},
     * also with the fewest cheapest partners of a layer whose single weight does not free the FLOPs it costs. Null when
     * none is.
     */
    private static Pass propose(ComputeBackend backend, HostMatrix x, LayerTable layers, long nnz, double flops, byte[] mask,
                                Coefficients t, double lambda, DoublePointer factor, double[] v, double[] y, int n,
                                boolean exchanges, boolean boundLayers, Workspace work) {
        int layerCount = layers.size();
        float[] xty = Backsolve.transposedProduct(backend, x, y);
        int budget = candidateColumns(n);
        int perSide = Math.max(1, budget / (2 * layerCount));
        int[][] addsOf = new int[layerCount][], removalsOf = new int[layerCount][];
        int total = 0;
        for (int l = 0; l < layerCount; l++) {
            Layer layer = layers.get(l);
            int lo = (int) layer.offset(), count = (int) layer.count();
            // one scan ranks both sides by the gradient alone (the leverage, near 0 when |K| >> n, is known only once
            // gathered): the largest e_j^2 outside K, the smallest inside
            Best adds = new Best(perSide), removals = new Best(perSide);
            for (int j = lo; j < lo + count; j++) {
                double e = xty[j] - t.of(j), e2 = e * e;
                // a gradient that overflowed cannot be scored, and its NaN or infinite key would pass for a real one on
                // the side j is not on (an addition of a kept column)
                if (!Double.isFinite(e2)) continue;
                // both sides offered, the one j is not on pushed below any real key by arithmetic: a branch on the
                // (near-random) mask would mispredict every other weight, and offer's first test almost always rejects
                int kept = (mask[j] | -mask[j]) >>> 31;
                adds.offer(j, e2 - kept * Best.EXCLUDED);
                removals.offer(j, -e2 - (1 - kept) * Best.EXCLUDED);
            }
            addsOf[l] = adds.indices();
            removalsOf[l] = removals.indices();
            total += addsOf[l].length + removalsOf[l].length;
        }
        if (total == 0) return null;
        int[] columnsIdx = new int[total];
        int c = 0;
        for (int l = 0; l < layerCount; l++) {
            for (int j : addsOf[l]) columnsIdx[c++] = j;
            for (int j : removalsOf[l]) columnsIdx[c++] = j;
        }
        Gathered gathered = new Gathered(backend, x, columnsIdx, t, factor, v, n, work);
        double[] cols = gathered.columns, solved = gathered.solved, lev = gathered.leverage, grad = gathered.gradient;
        // position in the gathered arrays of every candidate, by layer
        int[][] addAtOf = new int[layerCount][], remAtOf = new int[layerCount][];
        c = 0;
        for (int l = 0; l < layerCount; l++) {
            addAtOf[l] = new int[addsOf[l].length];
            for (int k = 0; k < addAtOf[l].length; k++) addAtOf[l][k] = c++;
            remAtOf[l] = new int[removalsOf[l].length];
            for (int k = 0; k < remAtOf[l].length; k++) remAtOf[l][k] = c++;
            // cheapest removal first, exactly
            Integer[] order = new Integer[remAtOf[l].length];
            for (int k = 0; k < order.length; k++) order[k] = remAtOf[l][k];
            Arrays.sort(order, (u, w) -> Double.compare(removalCost(grad[u], lev[u], lambda), removalCost(grad[w], lev[w], lambda)));
            for (int k = 0; k < order.length; k++) remAtOf[l][k] = order[k];
        }
        RemovalBounds bounds = new RemovalBounds(remAtOf, grad, lev, cols, solved, n, lambda);
        List<Integer> addsAt = new ArrayList<>();
        for (int l = 0; l < layerCount; l++) for (int k : addAtOf[l]) addsAt.add(k);
        addsAt.sort((u, w) -> Double.compare(additionGain(grad[w], lev[w], lambda), additionGain(grad[u], lev[u], lambda)));
        long[] perStart = FalconSolver.perLayer(mask, layers);
        long[] per = perStart.clone();
        long kept = FalconSolver.sum(per);
        boolean[] used = new boolean[total];
        // each move: the addition's position, then its removals' (none for an addition alone)
        List<int[]> chosen = new ArrayList<>();
        List<Double> changes = new ArrayList<>();
        int[] partners = new int[PARTNERS_PER_LAYER];
        for (int ai : addsAt) {
            int i = columnsIdx[ai];
            int li = layers.layerOf(i);
            double gain = additionGain(grad[ai], lev[ai], lambda);
            double best = 0;
            int bestAt = -2;  // -2 none, -1 an addition alone, -3 bestPartners
            // the layer of the best move, -1 for none or the addition alone: the layers are visited cheapest first, and
            // a move as good as the best replaces it only from a lower layer, so that the first of the best moves in
            // layer order wins, as when every layer was tried in order
            int bestLayer = -1;
            int[] bestPartners = null;
            per[li]++;
            double withAddition = FalconSolver.flopsOf(per, layers);
            if (kept + 1 <= nnz && withAddition <= flops && -gain < best) {
                best = -gain;
                bestAt = -1;
            }
            bounds.addition(ai);
            double reachOfAll = bounds.reach(bounds.mostPull, bounds.mostRoundingPull);
            for (int visit = 0; visit < layerCount; visit++) {
                int l = boundLayers ? bounds.byCheapest[visit] : visit;
                if (boundLayers) {
                    // every later layer's removals cost at least this one's, and no addition gains more than reachOfAll
                    if (bounds.cannotBeat(bounds.cheapest[l], reachOfAll, best)) break;
                    if (bounds.cannotBeat(bounds.cheapest[l], bounds.reach(bounds.pull[l], bounds.roundingPull[l]), best)) continue;
                }
                per[l]--;
                boolean fits = per[l] >= 0 && FalconSolver.fitsAfterChange(withAddition, -layers.get(l).flopsPerWeight(), per, layers, flops);
                per[l]++;
                if (!fits) {
                    // One weight of a cheaper layer does not free the FLOPs the addition costs (when the FLOP budget
                    // binds, every swap into a costlier layer): the fewest of its cheapest that do
                    int k = exchanges ? exchangePartners(remAtOf[l], used, per, l, layers, flops, partners, withAddition) : 0;
                    if (k > 0) {
                        double change = exchangeChange(ai, partners, k, grad, lev, cols, solved, n, lambda);
                        if (change < best || (change == best && l < bestLayer)) {
                            best = change;
                            bestAt = -3;
                            bestLayer = l;
                            bestPartners = Arrays.copyOf(partners, k);
                        }
                    }
                    continue;
                }
                int tried = 0;
                for (int rj : remAtOf[l]) {
                    if (used[rj]) continue;
                    if (tried++ == PARTNERS_PER_LAYER) break;
                    double change = swapChange(ai, rj, grad, lev, cols, solved, n, lambda);
                    if (change < best || (change == best && l < bestLayer)) {
                        best = change;
                        bestAt = rj;
                        bestLayer = l;
                    }
                }
            }
            if (bestAt == -2) {
                per[li]--;
                continue;
            }
            int[] bestMove;
            if (bestAt == -3) {
                bestMove = new int[bestPartners.length + 1];
                System.arraycopy(bestPartners, 0, bestMove, 1, bestPartners.length);
            } else {
                bestMove = new int[bestAt == -1 ? 1 : 2];
                if (bestAt >= 0) bestMove[1] = bestAt;
            }
            bestMove[0] = ai;
            used[ai] = true;
            for (int q = 1; q < bestMove.length; q++) {
                used[bestMove[q]] = true;
                per[layers.layerOf(columnsIdx[bestMove[q]])]--;
            }
            kept += 2 - bestMove.length;
            chosen.add(bestMove);
            changes.add(best);
        }
        if (chosen.isEmpty()) return null;
        // most negative first, so that the shorter prefixes the caller tries keep the best moves; the budgets are checked
        // again in this order, and a move that breaks them dropped, so that every prefix is feasible
        Integer[] order = new Integer[chosen.size()];
        for (int k = 0; k < order.length; k++) order[k] = k;
        Arrays.sort(order, (u, w) -> Double.compare(changes.get(u), changes.get(w)));
        long[] per0 = perStart.clone();
        long kept0 = FalconSolver.sum(per0);
        List<int[]> feasible = new ArrayList<>();
        for (int k : order) {
            int[] mv = chosen.get(k);
            per0[layers.layerOf(columnsIdx[mv[0]])]++;
            for (int q = 1; q < mv.length; q++) per0[layers.layerOf(columnsIdx[mv[q]])]--;
            long k2 = kept0 + 2 - mv.length;
            if (k2 <= nnz && FalconSolver.flopsOf(per0, layers) <= flops) {
                kept0 = k2;
                feasible.add(mv);
            } else {
                per0[layers.layerOf(columnsIdx[mv[0]])]--;
                for (int q = 1; q < mv.length; q++) per0[layers.layerOf(columnsIdx[mv[q]])]++;
            }
        }
        int m = feasible.size();
        int[] add = new int[m], addAt = new int[m];
        int[][] remove = new int[m][], removeAt = new int[m][];
        for (int k = 0; k < m; k++) {
            int[] mv = feasible.get(k);
            addAt[k] = mv[0];
            add[k] = columnsIdx[mv[0]];
            removeAt[k] = Arrays.copyOfRange(mv, 1, mv.length);
            remove[k] = new int[removeAt[k].length];
            for (int q = 0; q < remove[k].length; q++) remove[k][q] = columnsIdx[removeAt[k][q]];
        }
        return m == 0 ? null : new Pass(add, remove, cols, addAt, removeAt, n);
    }

    /**
     * What a move that takes weights out of one layer can change Q by, at best, for any addition: every addition tried
     * every layer's removals (2,000 layers of distinct costs, n = 32: seconds a pass), though most layers cannot hold
     * its best move.
     *
     * <p>A move that removes R (from layer l) and adds a changes Q by Q(K - R + a) - Q(K) >= Q(K - j + a) - Q(K) for any
     * j in R (a smaller support fits no better). That swap is {@link #swapChange}: cost_j - e'^2 / (2 lambda (1 + a'))
     * with a' >= a_a and |e'| <= |e_a| + |c| |e_j| / (1 - a_j), where the cross term c = x_a^T M^-1 x_j has
     * c^2 <= a_a a_j (Cauchy-Schwarz in M^-1); its computed value, from computed solves, is trusted to within
     * TRUSTED_CROSS ||x_a|| ||M^-1 x_j||. So every move out of layer l changes Q by at least cheapest_l - reach, reach =
     * (|e_a| + sqrt(a_a) pull_l + ||x_a|| roundingPull_l)^2 / (2 lambda (1 + a_a)), pull_l the largest
     * sqrt(a_j) |e_j| / (1 - a_j) of its candidates and roundingPull_l the largest
     * TRUSTED_CROSS ||M^-1 x_j|| |e_j| / (1 - a_j).
     * Layers are visited by cheapest_l, so the search stops at the first whose cheapest removal less the largest
     * reach of all cannot beat the best move found.
     */
    private static final class RemovalBounds {
        /** Relative slack for the rounding of the computed changes (Sherman-Morrison steps of the exchanges). */
        private static final double SLACK = 1e-6;

        /**
         * How far a computed cross term may be from the one that obeys Cauchy-Schwarz, relative to ||x_a|| ||M^-1 x_j||:
         * far more than the n roundings of its dot product, for the error of the solves on an ill-conditioned M.
         */
        private static final double TRUSTED_CROSS = 1e-8;

        final double[] cheapest, pull, roundingPull;
        final int[] byCheapest;
        final double mostPull, mostRoundingPull;
        private final double[] grad, lev, cols;
        private final int n;
        private final double lambda;
        /** The addition the reaches are of: |e_a|, sqrt(a_a), ||x_a|| and 2 lambda (1 + a_a). */
        private double gradient, rootLeverage, norm, denominator;

        RemovalBounds(int[][] removalsAt, double[] grad, double[] lev, double[] cols, double[] solved, int n, double lambda) {
            int layerCount = removalsAt.length;
            this.grad = grad;
            this.lev = lev;
            this.cols = cols;
            this.n = n;
            this.lambda = lambda;
            cheapest = new double[layerCount];
            pull = new double[layerCount];
            roundingPull = new double[layerCount];
            double most = 0, mostRounding = 0;
            for (int l = 0; l < layerCount; l++) {
                // the removals are in order of cost, cheapest first; a layer without any holds no move
                cheapest[l] = removalsAt[l].length == 0 ? Double.POSITIVE_INFINITY
                        : removalCost(grad[removalsAt[l][0]], lev[removalsAt[l][0]], lambda);
                for (int rj : removalsAt[l]) {
                    double a = lev[rj], room = 1 - a, e = Math.abs(grad[rj]);
                    // a >= 1, or a NaN, leaves no bound: +infinity and NaN make every comparison below fail
                    double p = a < 1 ? Math.sqrt(Math.max(0, a)) * e / room : Double.POSITIVE_INFINITY;
                    double r = a < 1 ? TRUSTED_CROSS * norm(solved, rj, n) * e / room : Double.POSITIVE_INFINITY;
                    pull[l] = largest(pull[l], p);
                    roundingPull[l] = largest(roundingPull[l], r);
                }
                most = largest(most, pull[l]);
                mostRounding = largest(mostRounding, roundingPull[l]);
            }
            mostPull = most;
            mostRoundingPull = mostRounding;
            byCheapest = new int[layerCount];
            Integer[] order = new Integer[layerCount];
            for (int l = 0; l < layerCount; l++) order[l] = l;
            Arrays.sort(order, (u, w) -> Double.compare(cheapest[u], cheapest[w])); // stable: ties by layer
            for (int l = 0; l < layerCount; l++) byCheapest[l] = order[l];
        }

        /** Makes the addition at {@code ai} the one {@link #reach} is of. */
        void addition(int ai) {
            double a = Math.max(0, lev[ai]);
            gradient = Math.abs(grad[ai]);
            rootLeverage = Math.sqrt(a);
            norm = norm(cols, ai, n);
            denominator = 2 * lambda * (1 + a);
        }

        /** The most the addition can gain with removals of the given pulls. */
        double reach(double pullOfRemovals, double roundingPullOfRemovals) {
            double e = gradient + rootLeverage * pullOfRemovals + norm * roundingPullOfRemovals;
            return e * e / denominator;
        }

        /** Whether no move with removals costing at least {@code cost} and gaining at most {@code reach} beats best. */
        boolean cannotBeat(double cost, double reach, double best) {
            // false whenever a NaN is involved, so such a layer is tried
            return (1 - SLACK) * cost - (1 + SLACK) * reach > best;
        }

        private static double largest(double a, double b) {
            return a >= b || Double.isNaN(a) ? a : b; // a NaN stays, so that no bound is drawn from it
        }

        private static double norm(double[] columns, int at, int n) {
            double sum = 0;
            for (int k = 0; k < n; k++) sum += columns[at * n + k] * columns[at * n + k];
            return Math.sqrt(sum);
        }
    }

    /**
     * The best pair of swaps (two weights in, two out, a move of two entries) among the most promising additions and
     * removals, PAIR_CANDIDATES of each at most, scored in closed form against every other pair, within the budgets and
     * lowering Q; null when none does. The number of kept weights does not change, so only the FLOPs are checked.
     */
    private static Pass proposePair(ComputeBackend backend, HostMatrix x, LayerTable layers, double flops, byte[] mask,
                                    Coefficients t, double lambda, DoublePointer factor, double[] v, double[] y, int n, Workspace work) {
        int layerCount = layers.size();
        float[] xty = Backsolve.transposedProduct(backend, x, y);
        // a few of every layer, so that a layer whose gradients are small still offers the swaps that keep its FLOPs
        int perLayer = Math.max(1, PAIR_CANDIDATES / layerCount);
        Best adds = new Best(PAIR_CANDIDATES), removals = new Best(PAIR_CANDIDATES);
        for (int l = 0; l < layerCount; l++) {
            Layer layer = layers.get(l);
            int lo = (int) layer.offset(), count = (int) layer.count();
            Best layerAdds = new Best(perLayer), layerRemovals = new Best(perLayer);
            for (int j = lo; j < lo + count; j++) {
                double e = xty[j] - t.of(j), e2 = e * e;
                if (!Double.isFinite(e2)) continue;
                if (mask[j] != 0) layerRemovals.offer(j, -e2);
                else layerAdds.offer(j, e2);
            }
            for (int j : layerAdds.indices()) adds.offer(j, squaredGradient(xty, t, j));
            for (int j : layerRemovals.indices()) removals.offer(j, -squaredGradient(xty, t, j));
        }
        int[] addIdx = adds.indices(), removeIdx = removals.indices();
        int na = addIdx.length, nr = removeIdx.length;
        if (na < 2 || nr < 2) return null;
        int[] columnsIdx = Arrays.copyOf(addIdx, na + nr);
        System.arraycopy(removeIdx, 0, columnsIdx, na, nr);
        Gathered gathered = new Gathered(backend, x, columnsIdx, t, factor, v, n, work);
        int c = columnsIdx.length;
        double[] crossAll = crossTerms(gathered, c, n);
        long[] per = FalconSolver.perLayer(mask, layers);
        int[] layerAt = new int[c];
        for (int k = 0; k < c; k++) layerAt[k] = layers.layerOf(columnsIdx[k]);
        double best = 0;
        int[] bestAt = null;
        // removals first, as sequentialChange takes them
        int[] at = new int[4];
        double[] cross = new double[16], e = new double[4];
        for (int r1 = na; r1 < c; r1++) {
            for (int r2 = r1 + 1; r2 < c; r2++) {
                for (int a1 = 0; a1 < na; a1++) {
                    for (int a2 = a1 + 1; a2 < na; a2++) {
                        at[0] = r1;
                        at[1] = r2;
                        at[2] = a1;
                        at[3] = a2;
                        for (int u = 0; u < 4; u++) {
                            e[u] = gathered.gradient[at[u]];
                            for (int w = 0; w < 4; w++) cross[u * 4 + w] = crossAll[at[u] * c + at[w]];
                        }
                        double change = sequentialChange(cross, e, 4, 2, lambda);
                        if (!(change < best)) continue;
                        per[layerAt[a1]]++;
                        per[layerAt[a2]]++;
                        per[layerAt[r1]]--;
                        per[layerAt[r2]]--;
                        boolean fits = FalconSolver.flopsOf(per, layers) <= flops;
                        per[layerAt[a1]]--;
                        per[layerAt[a2]]--;
                        per[layerAt[r1]]++;
                        per[layerAt[r2]]++;
                        if (fits) {
                            best = change;
                            bestAt = at.clone();
                        }
                    }
                }
            }
        }
        if (bestAt == null) return null;
        return new Pass(new int[] {columnsIdx[bestAt[2]], columnsIdx[bestAt[3]]},
                new int[][] {{columnsIdx[bestAt[0]]}, {columnsIdx[bestAt[1]]}}, gathered.columns,
                new int[] {bestAt[2], bestAt[3]}, new int[][] {{bestAt[0]}, {bestAt[1]}}, n);
    }

    /**
     * The best move of one to three additions and one to three removals together, scored in closed form (the removals in
     * sequence, then the additions), within the budgets and lowering Q; null when none does. Its pools: up to
     * COORDINATED_GATHERED of each side gathered by e_j^2, then as many of them as COORDINATED_MOVES allows by their exact
     * single-move value (where |K| is not much above n, the leverage ranks them differently from the gradient), a share
     * from every layer. The move is written as one swap per addition and removal paired in order, the surplus removals
     * with the last addition, and is taken whole.
     */
    private static Pass proposeCoordinated(ComputeBackend backend, HostMatrix x, LayerTable layers, long nnz, double flops, byte[] mask,
                                           Coefficients t, double lambda, DoublePointer factor, double[] v, double[] y, int n,
                                           Workspace work) {
        float[] xty = Backsolve.transposedProduct(backend, x, y);
        int[] addIdx = poolByGradient(layers, mask, xty, t, false), removeIdx = poolByGradient(layers, mask, xty, t, true);
        if (addIdx.length == 0 || removeIdx.length == 0) return null;
        int[] columnsIdx = Arrays.copyOf(addIdx, addIdx.length + removeIdx.length);
        System.arraycopy(removeIdx, 0, columnsIdx, addIdx.length, removeIdx.length);
        Gathered gathered = new Gathered(backend, x, columnsIdx, t, factor, v, n, work);
        int na = addIdx.length, nr = removeIdx.length;
        while (movesOf(na) * movesOf(nr) > COORDINATED_MOVES) {
            if (movesOf(na) >= movesOf(nr)) na--;
            else nr--;
        }
        double[] value = new double[columnsIdx.length];
        int[] layerOf = new int[columnsIdx.length];
        for (int k = 0; k < columnsIdx.length; k++) {
            layerOf[k] = layers.layerOf(columnsIdx[k]);
            value[k] = k < addIdx.length ? additionGain(gathered.gradient[k], gathered.leverage[k], lambda)
                    : -removalCost(gathered.gradient[k], gathered.leverage[k], lambda);
        }
        int[] addAt = shares(0, addIdx.length, na, value, layerOf, layers.size());
        int[] removeAt = shares(addIdx.length, columnsIdx.length, nr, value, layerOf, layers.size());
        na = addAt.length;
        nr = removeAt.length;
        // x_u^T M^{-1} x_w among the chosen, additions first
        int c = na + nr;
        int[] at = Arrays.copyOf(addAt, c);
        System.arraycopy(removeAt, 0, at, na, nr);
        double[] crossAll = new double[c * c];
        for (int u = 0; u < c; u++) {
            crossAll[u * c + u] = gathered.leverage[at[u]];
            for (int w = 0; w < u; w++) {
                double d = 0;
                for (int q = 0; q < n; q++) d += gathered.columns[at[u] * n + q] * gathered.solved[at[w] * n + q];
                crossAll[u * c + w] = d;
                crossAll[w * c + u] = d;
            }
        }
        long[] per = FalconSolver.perLayer(mask, layers);
        long kept = FalconSolver.sum(per);
        List<int[]> removalSets = subsetsOf(na, c, COORDINATED_MOST), additionSets = subsetsOf(0, na, COORDINATED_MOST);
        double best = 0;
        int[] bestRemovals = null, bestAdditions = null;
        double[] cross = new double[na * na], e = new double[na];
        double[] sub = new double[COORDINATED_MOST * COORDINATED_MOST], subE = new double[COORDINATED_MOST];
        double[] gradientAt = new double[c];
        for (int u = 0; u < c; u++) gradientAt[u] = gathered.gradient[at[u]];
        for (int[] rs : removalSets) {
            int r = rs.length;
            // the removals in sequence against M (Sherman-Morrison), carrying every addition's gradient and cross terms
            AfterRemovals after = afterRemovals(rs, na, crossAll, c, gradientAt, lambda);
            if (after.change() == Double.POSITIVE_INFINITY) continue;
            double removalChange = after.change();
            int m = after.size();
            double[] sys = after.system(), es = after.gradients();
            for (int u = 0; u < na; u++) {
                e[u] = es[r + u];
                for (int w = 0; w < na; w++) cross[u * na + w] = sys[(r + u) * m + r + w];
            }
            for (int q : rs) per[layerOf[at[q]]]--;
            for (int[] as : additionSets) {
                int a = as.length;
                if (kept + a - r > nnz) continue;
                for (int u = 0; u < a; u++) {
                    subE[u] = e[as[u]];
                    for (int w = 0; w < a; w++) sub[u * a + w] = cross[as[u] * na + as[w]];
                }
                double change = removalChange + eliminate(sub, subE, a, a, 0, lambda);
                if (!(change < best)) continue;
                for (int q : as) per[layerOf[at[q]]]++;
                boolean fits = FalconSolver.flopsOf(per, layers) <= flops;
                for (int q : as) per[layerOf[at[q]]]--;
                if (fits) {
                    best = change;
                    bestRemovals = rs;
                    bestAdditions = as;
                }
            }
            for (int q : rs) per[layerOf[at[q]]]++;
        }
        if (bestRemovals == null) return null;
        int moves = bestAdditions.length, r = bestRemovals.length;
        int[] add = new int[moves], addPos = new int[moves];
        int[][] remove = new int[moves][], removePos = new int[moves][];
        for (int k = 0; k < moves; k++) {
            addPos[k] = at[bestAdditions[k]];
            add[k] = columnsIdx[addPos[k]];
            // removal k goes with addition k; the surplus removals with the last addition
            int from = Math.min(k, r), to = k == moves - 1 ? r : Math.min(k + 1, r);
            removePos[k] = new int[to - from];
            remove[k] = new int[to - from];
            for (int q = 0; q < to - from; q++) {
                removePos[k][q] = at[bestRemovals[from + q]];
                remove[k][q] = columnsIdx[removePos[k][q]];
            }
        }
        return new Pass(add, remove, gathered.columns, addPos, removePos, n);
    }

    /** Most weights of a feasible support for which the polish scores every feasible support. */
    static final int EXHAUSTIVE_MOST = 3;

    /**
     * Most feasible supports scored in that case (each at most a 3 x 3 elimination after its removals', which are
     * shared): 5,150 at p = 350 with room for two weights of one layer or one of another took milliseconds.
     */
    static final long EXHAUSTIVE_SUPPORTS = 200_000;

    /**
     * Most weights that fit the FLOP budget alone for which that is done: their cross terms (c^2 doubles, formed in
     * c^2 n) and each kept subset's eliminated system are held at once, 3.3 MB each at this many.
     */
    static final int EXHAUSTIVE_CANDIDATES = 640;

    /**
     * The most weights any feasible support holds, where that is at most EXHAUSTIVE_MOST and the weights that fit the
     * FLOP budget alone are few enough (EXHAUSTIVE_CANDIDATES) that every support of up to that many of them can be
     * scored (at most EXHAUSTIVE_SUPPORTS); 0 otherwise.
     */
    static int fewFeasibleSupports(LayerTable layers, long nnz, double flops) {
        // the most weights that fit: the cheapest first (an upper bound on any support's size)
        Integer[] byCost = new Integer[layers.size()];
        for (int l = 0; l < byCost.length; l++) byCost[l] = l;
        Arrays.sort(byCost, (a, b) -> Double.compare(layers.get(a).flopsPerWeight(), layers.get(b).flopsPerWeight()));
        long most = 0, candidates = 0;
        double used = 0;
        for (int l : byCost) {
            Layer layer = layers.get(l);
            double cost = layer.flopsPerWeight();
            if (cost > flops) break;
            candidates += layer.count();
            for (long k = 0; k < layer.count() && most <= EXHAUSTIVE_MOST && used + cost <= flops; k++) {
                used += cost;
                most++;
            }
        }
        most = Math.min(most, nnz);
        if (most == 0 || most > EXHAUSTIVE_MOST || candidates > EXHAUSTIVE_CANDIDATES) return 0;
        long supports = 0, choose = 1;
        for (long s = 1; s <= most; s++) {
            choose = choose * (candidates - s + 1) / s;
            supports += choose;
        }
        return supports <= EXHAUSTIVE_SUPPORTS ? (int) most : 0;
    }

    /**
     * The move from {@code mask} to the support of lowest Q among every feasible one of up to EXHAUSTIVE_MOST weights
     * ({@code most}, from {@link #fewFeasibleSupports}: no feasible support holds more), scored in closed form: the kept weights that leave in sequence,
     * then the ones that join. Written as one swap per addition and removal paired in order, the surplus removals with
     * the last addition, and taken whole; null when no support lowers Q.
     */
    private static Pass proposeBestFeasibleSupport(ComputeBackend backend, HostMatrix x, LayerTable layers, int most, double flops,
                                                   byte[] mask, Coefficients t, double lambda, DoublePointer factor, double[] v, int n,
                                                   Workspace work) {
        List<Integer> additions = new ArrayList<>(), kept = new ArrayList<>();
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            int lo = (int) layer.offset(), count = (int) layer.count();
            boolean fits = layer.flopsPerWeight() <= flops;
            for (int j = lo; j < lo + count; j++) {
                if (mask[j] != 0) kept.add(j);
                else if (fits) additions.add(j);
            }
        }
        int na = additions.size(), nk = kept.size();
        if (na == 0 || nk > most) return null;
        int[] columnsIdx = new int[na + nk];
        for (int k = 0; k < na; k++) columnsIdx[k] = additions.get(k);
        for (int k = 0; k < nk; k++) columnsIdx[na + k] = kept.get(k);
        Gathered gathered = new Gathered(backend, x, columnsIdx, t, factor, v, n, work);
        int c = columnsIdx.length;
        double[] crossAll = crossTerms(gathered, c, n);
        int[] layerOf = new int[c];
        for (int k = 0; k < c; k++) layerOf[k] = layers.layerOf(columnsIdx[k]);
        long[] per = FalconSolver.perLayer(mask, layers);
        double best = 0;
        int[] bestRemovals = null, bestAdditions = null;
        int[] addition = new int[EXHAUSTIVE_MOST];
        double[] sub = new double[EXHAUSTIVE_MOST * EXHAUSTIVE_MOST], subE = new double[EXHAUSTIVE_MOST];
        // every subset of the kept weights leaves (the empty one too), every support of the rest and up to
        // EXHAUSTIVE_MOST in all joins: each support is reached once, by the kept weights it drops
        for (int leaving = 0; leaving < 1 << nk; leaving++) {
            int r = Integer.bitCount(leaving);
            int[] rs = new int[r];
            for (int k = 0, q = 0; k < nk; k++) if ((leaving >> k & 1) != 0) rs[q++] = na + k;
            AfterRemovals after = afterRemovals(rs, na, crossAll, c, gathered.gradient, lambda);
            if (after.change() == Double.POSITIVE_INFINITY) continue;
            double removalChange = after.change();
            int m = after.size();
            double[] sys = after.system(), es = after.gradients();
            for (int q : rs) per[layerOf[q]]--;
            int room = most - (nk - r);
            for (int a = 1; a <= room && a <= na; a++) {
                for (int k = 0; k < a; k++) addition[k] = k;
                while (true) {
                    for (int k = 0; k < a; k++) per[layerOf[addition[k]]]++;
                    boolean fits = FalconSolver.flopsOf(per, layers) <= flops;
                    for (int k = 0; k < a; k++) per[layerOf[addition[k]]]--;
                    if (fits) {
                        for (int u = 0; u < a; u++) {
                            subE[u] = es[r + addition[u]];
                            for (int w = 0; w < a; w++) sub[u * a + w] = sys[(r + addition[u]) * m + r + addition[w]];
                        }
                        double change = removalChange + eliminate(sub, subE, a, a, 0, lambda);
                        if (change < best) {
                            best = change;
                            bestRemovals = rs;
                            bestAdditions = Arrays.copyOf(addition, a);
                        }
                    }
                    // the next subset of a of the na additions, in lexicographic order
                    int k = a - 1;
                    while (k >= 0 && addition[k] == na - a + k) k--;
                    if (k < 0) break;
                    addition[k]++;
                    for (int w = k + 1; w < a; w++) addition[w] = addition[w - 1] + 1;
                }
            }
            for (int q : rs) per[layerOf[q]]++;
        }
        if (bestAdditions == null) return null;
        int moves = bestAdditions.length, r = bestRemovals.length;
        int[] add = new int[moves], addPos = new int[moves];
        int[][] remove = new int[moves][], removePos = new int[moves][];
        for (int k = 0; k < moves; k++) {
            addPos[k] = bestAdditions[k];
            add[k] = columnsIdx[addPos[k]];
            int from = Math.min(k, r), to = k == moves - 1 ? r : Math.min(k + 1, r);
            removePos[k] = new int[to - from];
            remove[k] = new int[to - from];
            for (int q = 0; q < to - from; q++) {
                removePos[k][q] = bestRemovals[from + q];
                remove[k][q] = columnsIdx[removePos[k][q]];
            }
        }
        return new Pass(add, remove, gathered.columns, addPos, removePos, n);
    }

    /** Most additions, and most removals, of one coordinated move. */
    static final int COORDINATED_MOST = 3;

    /** Most columns of each side that a coordinated pass gathers (by e_j^2) before its pools are chosen among them. */
    static final int COORDINATED_GATHERED = 64;

    /**
     * Most coordinated moves scored per pass (the product of the two sides' subsets of one to three): 298^2 = 88,804 with
     * 12 of each, or 2 removals against 69 additions (where NNZ allows only a few weights), each at most a 3 x 3
     * elimination after its removals' (shared); about 10 ms.
     */
    static final long COORDINATED_MOVES = 100_000;

    /** Subsets of one to COORDINATED_MOST of k. */
    private static long movesOf(long k) {
        return k + k * (k - 1) / 2 + k * (k - 1) * (k - 2) / 6;
    }

    /**
     * Up to COORDINATED_GATHERED of the most promising additions (by e_j^2, outside K) or cheapest removals (kept): a share
     * from every layer, so that a layer whose gradients are small still offers moves that keep its FLOPs, and the places
     * a layer leaves empty filled with the best of the rest.
     */
    private static int[] poolByGradient(LayerTable layers, byte[] mask, float[] xty, Coefficients t, boolean removals) {
        int layerCount = layers.size();
        int share = Math.max(1, COORDINATED_GATHERED / layerCount);
        Best pool = new Best(COORDINATED_GATHERED), rest = new Best(COORDINATED_GATHERED);
        for (int l = 0; l < layerCount; l++) {
            Layer layer = layers.get(l);
            int lo = (int) layer.offset(), count = (int) layer.count();
            Best ofLayer = new Best(COORDINATED_GATHERED);
            for (int j = lo; j < lo + count; j++) {
                if ((mask[j] != 0) != removals) continue;
                double e2 = squaredGradient(xty, t, j);
                if (!Double.isFinite(e2)) continue;
                ofLayer.offer(j, removals ? -e2 : e2);
            }
            int[] ranked = ofLayer.indices();
            for (int k = 0; k < ranked.length; k++) {
                double e2 = squaredGradient(xty, t, ranked[k]);
                (k < share ? pool : rest).offer(ranked[k], removals ? -e2 : e2);
            }
        }
        int[] chosen = pool.indices(), more = rest.indices();
        int[] all = Arrays.copyOf(chosen, Math.min(COORDINATED_GATHERED, chosen.length + more.length));
        System.arraycopy(more, 0, all, chosen.length, all.length - chosen.length);
        return all;
    }

    /**
     * The {@code size} best of the positions from..to by {@code value}, a share from every layer and the rest filled with
     * the best of the others; in increasing position order.
     */
    private static int[] shares(int from, int to, int size, double[] value, int[] layerOf, int layerCount) {
        Integer[] order = new Integer[to - from];
        for (int k = 0; k < order.length; k++) order[k] = from + k;
        Arrays.sort(order, (u, w) -> Double.compare(value[w], value[u]));
        int share = Math.max(1, size / layerCount);
        int[] taken = new int[layerCount];
        boolean[] chosen = new boolean[value.length];
        int count = 0;
        for (int k : order) {
            if (count == size) break;
            if (taken[layerOf[k]] < share) {
                taken[layerOf[k]]++;
                chosen[k] = true;
                count++;
            }
        }
        for (int k : order) {
            if (count == size) break;
            if (!chosen[k]) {
                chosen[k] = true;
                count++;
            }
        }
        int[] out = new int[count];
        for (int k = from, q = 0; k < to; k++) if (chosen[k]) out[q++] = k;
        return out;
    }

    /** Every subset of 1 to {@code most} of the positions from..to (exclusive), in increasing order within each. */
    private static List<int[]> subsetsOf(int from, int to, int most) {
        List<int[]> out = new ArrayList<>();
        for (int i = from; i < to; i++) {
            out.add(new int[] {i});
            if (most < 2) continue;
            for (int j = i + 1; j < to; j++) {
                out.add(new int[] {i, j});
                if (most < 3) continue;
                for (int k = j + 1; k < to; k++) out.add(new int[] {i, j, k});
            }
        }
        return out;
    }

    private static double squaredGradient(float[] xty, Coefficients t, int j) {
        double e = xty[j] - t.of(j);
        return e * e;
    }

    /** x_u^T M^{-1} x_w for every two gathered columns (c x c), the leverages on the diagonal. */
    private static double[] crossTerms(Gathered gathered, int c, int n) {
        double[] cross = new double[c * c];
        for (int u = 0; u < c; u++) {
            cross[u * c + u] = gathered.leverage[u];
            for (int w = 0; w < u; w++) {
                double d = 0;
                for (int q = 0; q < n; q++) d += gathered.columns[u * n + q] * gathered.solved[w * n + q];
                cross[u * c + w] = d;
                cross[w * c + u] = d;
            }
        }
        return cross;
    }

    /** t_j = g_j - lambda wbar_j: how much x_j's coefficient in v grows when j joins K (shrinks when it leaves), without a p-array. */
    private static final class Coefficients {
        private final float[] wbar, g;
        private final double lambda;

        Coefficients(float[] wbar, float[] g, double lambda) {
            this.wbar = wbar;
            this.g = g;
            this.lambda = lambda;
        }

        double of(int j) { return (g == null ? 0 : g[j]) - lambda * (double) wbar[j]; }

        double squared(int j) {
            double t = of(j);
            return t * t;
        }
    }

    /**
     * Columns gathered from X (double, column-major n x m), M^{-1} times them, their leverages a_j = x_j^T M^{-1} x_j
     * and their gradients e_j = x_j^T M^{-1} v - t_j, all from n-vectors in double. The columns and their solves are the
     * workspace's arrays (their first n m doubles), valid until the next gather.
     */
    private static final class Gathered {
        final double[] columns, solved, leverage, gradient;

        Gathered(ComputeBackend backend, HostMatrix x, int[] indices, Coefficients t, DoublePointer factor, double[] v, int n, Workspace work) {
            int m = indices.length;
            columns = work.columns(m * n);
            try (HostMatrix gathered = HostMatrix.allocate(n, m); IntPointer idx = new IntPointer(indices)) {
                backend.gatherColumns(x, idx, m, gathered.data());
                java.nio.FloatBuffer fb = gathered.data().position(0).limit((long) n * m).asBuffer();
                for (int i = 0; i < m * n; i++) columns[i] = fb.get(i);
            }
            solved = work.solved(m * n);
            DoublePointer rhs = work.rhs((long) m * n);
            rhs.put(columns, 0, m * n);
            backend.choleskySolve(factor, n, rhs, m);
            rhs.get(solved, 0, m * n);
            leverage = new double[m];
            gradient = new double[m];
            for (int k = 0; k < m; k++) {
                double a = 0, b = 0;
                for (int i = 0; i < n; i++) {
                    a += columns[k * n + i] * solved[k * n + i];
                    b += solved[k * n + i] * v[i];
                }
                leverage[k] = a;
                gradient[k] = b - t.of(indices[k]);
            }
        }
    }

    /**
     * The closed-form change of Q when {@code add} (outside the mask, or -1) joins and {@code remove} (kept, or -1) leaves,
     * from the exact backsolve of {@code mask}: what the search predicts for one move, for checking against backsolves.
     */
    static double predictedChange(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                  int add, int remove) {
        if (add < 0 && remove < 0) return 0;
        int[] idx = add >= 0 && remove >= 0 ? new int[] {add, remove} : new int[] {Math.max(add, remove)};
        Gathered c = gatheredFromBacksolveOf(backend, x, wbar, g, lambda, mask, idx);
        int n = Math.toIntExact(x.rows());
        if (remove < 0) return -additionGain(c.gradient[0], c.leverage[0], lambda);
        if (add < 0) return removalCost(c.gradient[0], c.leverage[0], lambda);
        return swapChange(0, 1, c.gradient, c.leverage, c.columns, c.solved, n, lambda);
    }

    /**
     * The closed-form change of Q when {@code add} (outside the mask) joins and the kept {@code remove} weights leave
     * together, from the exact backsolve of {@code mask}: what the search predicts for a swap of one weight for several.
     */
    static double predictedExchange(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                    int add, int[] remove) {
        int[] idx = Arrays.copyOf(remove, remove.length + 1);
        idx[remove.length] = add;
        Gathered c = gatheredFromBacksolveOf(backend, x, wbar, g, lambda, mask, idx);
        int n = Math.toIntExact(x.rows());
        int[] at = new int[remove.length];
        for (int k = 0; k < at.length; k++) at[k] = k;
        return exchangeChange(remove.length, at, at.length, c.gradient, c.leverage, c.columns, c.solved, n, lambda);
    }

    /**
     * The closed-form change of Q when the {@code add} weights (outside the mask) join and the kept {@code remove} weights
     * leave together, from the exact backsolve of {@code mask}: what the search predicts for a pair of swaps.
     */
    static double predictedMove(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                int[] add, int[] remove) {
        int m = remove.length + add.length;
        int[] idx = Arrays.copyOf(remove, m);
        System.arraycopy(add, 0, idx, remove.length, add.length);
        Gathered c = gatheredFromBacksolveOf(backend, x, wbar, g, lambda, mask, idx);
        int n = Math.toIntExact(x.rows());
        return sequentialChange(crossTerms(c, m, n), c.gradient.clone(), m, remove.length, lambda);
    }

    /** The columns {@code idx} with their gradients and leverages at the exact backsolve of {@code mask}. */
    private static Gathered gatheredFromBacksolveOf(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask,
                                                    int[] idx) {
        int n = Math.toIntExact(x.rows());
        double[] v = linearTerm(backend, x, wbar, g, lambda, mask);
        try (Workspace work = new Workspace(n, idx.length); Backsolve.SupportGram gram = Backsolve.SupportGram.of(backend, x, mask, null);
             DoublePointer factor = new DoublePointer((long) n * n)) {
            factor(backend, gram, lambda, n, factor);
            return new Gathered(backend, x, idx, new Coefficients(wbar, g, lambda), factor, v, n, work);
        }
    }

    private static double additionGain(double e, double a, double lambda) {
        return e * e / (2 * lambda * (1 + a));
    }

    private static double removalCost(double e, double a, double lambda) {
        // 1 - a <= 0 only by rounding: a coordinate K cannot do without
        return a < 1 ? e * e / (2 * lambda * (1 - a)) : Double.POSITIVE_INFINITY;
    }

    /**
     * Exact change of Q when j (kept, at {@code rj}) leaves and i (outside, at {@code ai}) joins: the removal, then the
     * addition against M - x_j x_j^T, whose leverage and gradient of i follow by Sherman-Morrison.
     */
    private static double swapChange(int ai, int rj, double[] grad, double[] lev, double[] cols, double[] solved, int n, double lambda) {
        double aj = lev[rj];
        if (!(aj < 1)) return Double.POSITIVE_INFINITY;
        double cross = 0;
        for (int k = 0; k < n; k++) cross += cols[ai * n + k] * solved[rj * n + k];
        double ai2 = lev[ai] + cross * cross / (1 - aj);
        double ei = grad[ai] + cross * grad[rj] / (1 - aj);
        return removalCost(grad[rj], aj, lambda) - ei * ei / (2 * lambda * (1 + ai2));
    }

    /**
     * The fewest unused cheapest removals of layer l (in {@code removalsAt}'s order, at most PARTNERS_PER_LAYER) that keep
     * the FLOPs with the addition counted in {@code per}, written to {@code partners}; 0 when none do. On the tiny
     * instances the exhaustive optimum was two or three removals from one layer for one addition away.
     */
    private static int exchangePartners(int[] removalsAt, boolean[] used, long[] per, int l, LayerTable layers, double flops,
                                        int[] partners, double perFlops) {
        int k = 0;
        for (int rj : removalsAt) {
            if (used[rj]) continue;
            if (k == PARTNERS_PER_LAYER) break;
            partners[k++] = rj;
            per[l] -= k;
            boolean fits = per[l] >= 0 && FalconSolver.fitsAfterChange(perFlops, -k * layers.get(l).flopsPerWeight(), per, layers, flops);
            per[l] += k;
            if (fits) return k;
        }
        return 0;
    }

    /**
     * Exact change of Q when the kept columns at {@code rj[0..k)} leave and i (at {@code ai}) joins: the removals one after
     * another, each against M less the ones before (leverages, gradients and cross terms by Sherman-Morrison), then the
     * addition. With k = 1 it is {@link #swapChange}.
     */
    private static double exchangeChange(int ai, int[] rj, int k, double[] grad, double[] lev, double[] cols, double[] solved,
                                         int n, double lambda) {
        int m = k + 1;
        int[] at = Arrays.copyOf(rj, m);
        at[k] = ai;
        // cross[u m + w] = x_u^T M^{-1} x_w among the k + 1 columns, the leverages on the diagonal
        double[] cross = new double[m * m], e = new double[m];
        for (int u = 0; u < m; u++) {
            e[u] = grad[at[u]];
            cross[u * m + u] = lev[at[u]];
            for (int w = 0; w < u; w++) {
                double d = 0;
                for (int q = 0; q < n; q++) d += cols[at[u] * n + q] * solved[at[w] * n + q];
                cross[u * m + w] = d;
                cross[w * m + u] = d;
            }
        }
        return sequentialChange(cross, e, m, k, lambda);
    }

    /**
     * Exact change of Q when the first {@code removals} of m gathered columns (kept) leave and the rest (outside) join,
     * one after another, each against M as the ones before left it: with Sherman-Morrison, the later columns' leverages,
     * gradients and cross terms follow from each step's. {@code cross} (m x m, x_u^T M^{-1} x_w, the leverages on the
     * diagonal) and {@code e} (their gradients) are overwritten.
     */
    private static double sequentialChange(double[] cross, double[] e, int m, int removals, double lambda) {
        return eliminate(cross, e, m, m, removals, lambda);
    }

    /**
     * The removals {@code rs} (positions among the cross terms) taken in sequence against M, followed by the additions at
     * positions 0..na-1: the system and gradients of the additions as the removals left them, and the removals' change of
     * Q (+infinity where M without them is singular).
     */
    private record AfterRemovals(double[] system, double[] gradients, int size, double change) {}

    /** {@link AfterRemovals} of {@code rs}, from the cross terms of c columns and their gradients, both by position. */
    private static AfterRemovals afterRemovals(int[] rs, int na, double[] crossAll, int c, double[] gradient, double lambda) {
        int r = rs.length, m = r + na;
        double[] sys = new double[m * m], es = new double[m];
        int[] order = new int[m];
        System.arraycopy(rs, 0, order, 0, r);
        for (int k = 0; k < na; k++) order[r + k] = k;
        for (int u = 0; u < m; u++) {
            es[u] = gradient[order[u]];
            for (int w = 0; w < m; w++) sys[u * m + w] = crossAll[order[u] * c + order[w]];
        }
        return new AfterRemovals(sys, es, m, eliminate(sys, es, m, r, r, lambda));
    }

    /**
     * The first {@code steps} columns of {@link #sequentialChange} moved (the first {@code removals} of them leaving): their
     * change of Q, with the later columns' gradients and cross terms in {@code e} and {@code cross} as those moves left them.
     */
    private static double eliminate(double[] cross, double[] e, int m, int steps, int removals, double lambda) {
        double change = 0;
        for (int r = 0; r < steps; r++) {
            double a = cross[r * m + r];
            boolean leaves = r < removals;
            if (leaves && !(a < 1)) return Double.POSITIVE_INFINITY;
            double pivot = leaves ? 1 - a : 1 + a;
            double step = e[r] * e[r] / (2 * lambda * pivot);
            change = leaves ? change + step : change - step;
            for (int u = r + 1; u < m; u++) {
                double scale = leaves ? cross[u * m + r] / pivot : -cross[u * m + r] / pivot;
                e[u] += scale * e[r];
                for (int w = r + 1; w <= u; w++) {
                    cross[u * m + w] += scale * cross[r * m + w];
                    cross[w * m + u] = cross[u * m + w];
                }
            }
        }
        return change;
    }

    /** The c largest keys offered (ties: the first offered), in decreasing order; keys at or below -EXCLUDED / 2 are none. */
    private static final class Best {
        /** Far below any squared gradient (|e| < 1e76 for float inputs), still finite. */
        static final double EXCLUDED = 1e300;

        private final int[] idx;
        private final double[] val;
        private int size;

        Best(int c) {
            idx = new int[c];
            val = new double[c];
        }

        void offer(int i, double v) {
            if (size == idx.length && v <= val[size - 1]) return;
            int pos = size < idx.length ? size++ : size - 1;
            while (pos > 0 && v > val[pos - 1]) {
                val[pos] = val[pos - 1];
                idx[pos] = idx[pos - 1];
                pos--;
            }
            val[pos] = v;
            idx[pos] = i;
        }

        int[] indices() {
            int real = 0;
            while (real < size && val[real] > -EXCLUDED / 2) real++;
            return Arrays.copyOf(idx, real);
        }
    }

    /** v = X z with z = g on K and lambda wbar off K: one product. */
    private static double[] linearTerm(ComputeBackend backend, HostMatrix x, float[] wbar, float[] g, double lambda, byte[] mask) {
        float[] z = new float[mask.length];
        for (int j = 0; j < z.length; j++) z[j] = mask[j] != 0 ? (g == null ? 0f : g[j]) : (float) (lambda * wbar[j]);
        return Backsolve.product(backend, x, z);
    }

    /** The Cholesky factor of gram + lambda I, written to (and returned as) {@code into}, n x n; the Gram is left as it is. */
    private static DoublePointer factor(ComputeBackend backend, Backsolve.SupportGram gram, double lambda, int n, DoublePointer into) {
        Pointer.memcpy(into, gram.matrix(), (long) n * n * Double.BYTES);
        for (int i = 0; i < n; i++) into.put((long) i * n + i, into.get((long) i * n + i) + lambda);
        Backsolve.choleskyAboveRounding(backend, into, n);
        return into;
    }

    /** (L L^T)^{-1} b for one right-hand side of length n. */
    private static double[] solve(ComputeBackend backend, DoublePointer factor, int n, double[] b) {
        try (DoublePointer rhs = new DoublePointer(b)) {
            backend.choleskySolve(factor, n, rhs, 1);
            double[] out = new double[b.length];
            rhs.get(out, 0, b.length);
            return out;
        }
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
