package dev.falcon.solve;

import dev.falcon.model.Numbers;

/**
 * Options of the FALCON solver (DFO + backsolve).
 *
 * @param maxIterations   cap on DFO iterations (all rounds together)
 * @param tolerance       stop a DFO round when the relative decrease of Q in one iteration is below this
 * @param backsolve       how the final weights on the support are computed
 * @param blockSize       block size of the block-diagonal models (layers cut into chunks of at most this many weights)
 * @param hessian         Hessian model of the DFO iterations: the exact low-rank Fisher or its block-diagonal part
 * @param maxStepDoublings line search: at most this many doublings of the step 1/Lip per iteration
 * @param maxRounds       DFO + backsolve rounds (a round restarts DFO from the backsolved weights while the support changes)
 * @param activeSet       run DFO on an active set of 3S coordinates (the support and twice as many of the best outside), grown
 *                        when outside coordinates want in; only with the exact Hessian and a support S below p/4
 * @param stableIterations a DFO round ends (and its support is backsolved) once the support has not changed for this many iterations (0 = off)
 * @param swapCandidates  after each round's backsolve, where the searches' cost allows it (see FalconSolver), backsolve each of the c best
 *                        additions alone and against each of the c cheapest removals (c (c + 1) backsolves), then the c best pairs and
 *                        batches of pairs; with the exact backsolve end with the swap polish (SwapPolish); 0 = both off
 * @param activeSetMaxBytes the most bytes the active set's gathered columns of X (n x its size, float32) may take: a larger
 *                        set is not gathered and DFO runs on all coordinates instead (the CLI passes the memory its plan
 *                        leaves free; {@link Long#MAX_VALUE} = no limit)
 */
public record SolverOptions(int maxIterations, double tolerance, Backsolve.Mode backsolve, int blockSize,
                            HessianModel hessian, int maxStepDoublings, int maxRounds, boolean activeSet,
                            int swapCandidates, int stableIterations, long activeSetMaxBytes) {

    public static final int DEFAULT_BLOCK_SIZE = 2000;

    /** Hessian model of the DFO iterations. */
    public enum HessianModel {
        /** X^T X: two passes over X per iteration (X v, X^T u). */
        EXACT,
        /** blockdiag(X_B^T X_B): one {@code blockGramProduct} pass per iteration. */
        BLOCK;

        /** The spelling --hessian takes: exact or block. */
        public String cliName() { return name().toLowerCase(java.util.Locale.ROOT); }

        /**
         * The model named {@code text} (case-insensitive); an unknown or null name is an InputException listing the
         * names, not valueOf's "No enum constant". The refusal names the argument {@code SolverOptions.HessianModel.parse(text)}.
         */
        public static HessianModel parse(String text) {
            return parse(text, "SolverOptions.HessianModel.parse(text)");
        }

        /** As {@link #parse(String)}, with what the caller calls the value in a refusal ("--hessian", as the CLI passes). */
        public static HessianModel parse(String text, String field) {
            return dev.falcon.io.InputException.choice(text, field, "model", java.util.List.of(values()), HessianModel::cliName);
        }
    }

    public SolverOptions {
        if (maxIterations < 0) {
            throw refused("maxIterations", maxIterations, "it must be at least 0", SolverOptions::maxIterations,
                    " (0 runs no DFO iteration: the rounds only backsolve and search)");
        }
        if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
            throw refused("tolerance", Numbers.shown(tolerance), "it must be a finite number at least 0", o -> Numbers.shown(o.tolerance()), "");
        }
        if (blockSize < 1) throw refused("blockSize", blockSize, "it must be at least 1", SolverOptions::blockSize, "");
        if (maxStepDoublings < 0) throw refused("maxStepDoublings", maxStepDoublings, "it must be at least 0", SolverOptions::maxStepDoublings, "");
        if (swapCandidates < 0) {
            throw refused("swapCandidates", swapCandidates, "it must be at least 0", SolverOptions::swapCandidates,
                    ", or 0 to turn the swap searches and the swap polish off");
        }
        if (stableIterations < 0) {
            throw refused("stableIterations", stableIterations, "it must be at least 0", SolverOptions::stableIterations, ", or 0 to turn it off");
        }
        if (maxRounds < 1) throw refused("maxRounds", maxRounds, "it must be at least 1", SolverOptions::maxRounds, "");
        if (activeSetMaxBytes < 0) {
            throw refused("activeSetMaxBytes", activeSetMaxBytes, "it must be at least 0",
                    o -> o.activeSetMaxBytes() == Long.MAX_VALUE ? "Long.MAX_VALUE (no limit)" : o.activeSetMaxBytes(), "");
        }
        if (backsolve == null) backsolve = Backsolve.Mode.EXACT;
        if (hessian == null) hessian = HessianModel.EXACT;
    }

    /**
     * A refusal in the form of the API's others ("SolverInputs.lambda: is NaN, it must be ...; e.g. 1e-3"): the field as
     * the record names it, so that a caller of a with* method or of the constructor knows which value to change.
     * The example is the field's value in {@link #defaults()}, read from there so that the two cannot drift apart.
     */
    private static IllegalArgumentException refused(String field, Object value, String rule,
                                                    java.util.function.Function<SolverOptions, Object> defaultValue, String more) {
        return new IllegalArgumentException("SolverOptions." + field + ": is " + value + ", " + rule + "; e.g. " + defaultValue.apply(defaults())
                + ", as SolverOptions.defaults()" + more);
    }

    /** The options as they were before {@code activeSetMaxBytes}: no limit on the active set's gathered columns. */
    public SolverOptions(int maxIterations, double tolerance, Backsolve.Mode backsolve, int blockSize, HessianModel hessian,
                         int maxStepDoublings, int maxRounds, boolean activeSet, int swapCandidates, int stableIterations) {
        this(maxIterations, tolerance, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations,
                Long.MAX_VALUE);
    }

    /**
     * The CLI's defaults: 100 DFO iterations, tolerance 1e-6, the exact backsolve, blocks of {@value #DEFAULT_BLOCK_SIZE},
     * the exact Hessian, 4 step doublings, 25 rounds, the active set on, 4 swap candidates, a round ended after 3
     * iterations of a stable support, and no limit on the active set's bytes.
     */
    public static SolverOptions defaults() {
        return new SolverOptions(100, 1e-6, Backsolve.Mode.EXACT, DEFAULT_BLOCK_SIZE, HessianModel.EXACT, 4, 25, true, 4, 3);
    }

    /** These options with {@link #maxIterations} set to {@code v} (the CLI's {@code --max-iterations}); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withMaxIterations(int v) { return new SolverOptions(v, tolerance, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #tolerance} set to {@code v} ({@code --tolerance}); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withTolerance(double v) { return new SolverOptions(maxIterations, v, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #backsolve} set to {@code v} ({@code --backsolve}; null is {@code EXACT}); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withBacksolve(Backsolve.Mode v) { return new SolverOptions(maxIterations, tolerance, v, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #blockSize} set to {@code v} ({@code --block-size}); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withBlockSize(int v) { return new SolverOptions(maxIterations, tolerance, backsolve, v, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #hessian} set to {@code v} ({@code --hessian}; null is {@code EXACT}); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withHessian(HessianModel v) { return new SolverOptions(maxIterations, tolerance, backsolve, blockSize, v, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #maxRounds} set to {@code v}; out-of-range values are an IllegalArgumentException. */
    public SolverOptions withMaxRounds(int v) { return new SolverOptions(maxIterations, tolerance, backsolve, blockSize, hessian, maxStepDoublings, v, activeSet, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #swapCandidates} set to {@code v} ({@code --swap-candidates}; 0 turns the swap searches and the polish off); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withSwapCandidates(int v) { return new SolverOptions(maxIterations, tolerance, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, v, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #stableIterations} set to {@code v} ({@code --stable-iterations}; 0 = off); out-of-range values are an IllegalArgumentException. */
    public SolverOptions withStableIterations(int v) { return new SolverOptions(maxIterations, tolerance, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, v, activeSetMaxBytes); }
    /** These options with {@link #activeSet} set to {@code v}; out-of-range values are an IllegalArgumentException. */
    public SolverOptions withActiveSet(boolean v) { return new SolverOptions(maxIterations, tolerance, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, v, swapCandidates, stableIterations, activeSetMaxBytes); }
    /** These options with {@link #activeSetMaxBytes} set to {@code v}; out-of-range values are an IllegalArgumentException. */
    public SolverOptions withActiveSetMaxBytes(long v) { return new SolverOptions(maxIterations, tolerance, backsolve, blockSize, hessian, maxStepDoublings, maxRounds, activeSet, swapCandidates, stableIterations, v); }
}
