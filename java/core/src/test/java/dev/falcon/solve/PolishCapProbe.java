package dev.falcon.solve;

import static dev.falcon.solve.ProbeArguments.integer;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Whether the swap polish's pass cap ends it before it converges, on instances too large for the kicks (by default
 * p = 4,097..20,000, n = 16..64, 2-8 layers, {@link LargerInstances}' families): default falcon, then the polish run
 * again from its result, once with the solver's pass cap and once with {@code PASSES}.
 * {@link #USAGE} prints per instance the passes of falcon's polish (marked where there are at least the cap's number: only those that
 * take moves count against it, so only there may it have ended the polish), and how much (relative to |Q|) each further
 * run lowers Q; then how often a further run lowered Q, how many of those polishes had the cap's number of passes or
 * more, and the median and worst relative decrease.
 */
final class PolishCapProbe {
    /** The command line; README's "Solver quality" gives its figures for {@code 40 20261207 1000}. */
    static final String USAGE = "usage: java -cp java/core/target/test-classes:java/cli/target/falcon.jar dev.falcon.solve.PolishCapProbe"
            + " COUNT SEED PASSES [MIN_N MAX_N MIN_P MAX_P] (README's figures: 40 20261207 1000)";

    /** Layers per instance, drawn from this range: every layer needs a weight, so p is at least the most. */
    static final int MIN_LAYERS = 2, MAX_LAYERS = 8;

    /** The probe's arguments; the ranges of n and p default to 16..64 and, above the kicks' bound, 4,097..20,000. */
    record Arguments(int count, long seed, int passes, int minN, int maxN, int minP, int maxP) {
        /** Read from the command line, or an IllegalArgumentException naming the argument that is wrong. */
        static Arguments parse(String[] args) {
            if (args.length != 3 && args.length != 7) {
                throw new IllegalArgumentException("takes 3 arguments, or 7 with the ranges of n and p; got " + args.length);
            }
            boolean ranges = args.length == 7;
            int minN = ranges ? integer(args, 3, "MIN_N", 1) : 16;
            int minP = ranges ? integer(args, 5, "MIN_P", MAX_LAYERS) : FalconSolver.KICK_MAX_WEIGHTS + 1;
            return new Arguments(integer(args, 0, "COUNT", 1), ProbeArguments.seed(args, 1), integer(args, 2, "PASSES", 1), minN,
                    ranges ? integer(args, 4, "MAX_N", minN) : 64, minP, ranges ? integer(args, 6, "MAX_P", minP) : 20000);
        }
    }

    /** Without its arguments it read args[0] and ended in an ArrayIndexOutOfBoundsException: it says how to run it. */
    public static void main(String[] args) {
        run(ProbeArguments.parseOrExit("PolishCapProbe", USAGE, args, Arguments::parse));
    }

    static void run(Arguments arguments) {
        int count = arguments.count(), passes = arguments.passes();
        SplittableRandom rnd = new SplittableRandom(arguments.seed());
        double[] again = new double[count], longer = new double[count];
        int capped = 0, cappedAndLowered = 0, lowered = 0;
        double tFalcon = 0, tLong = 0;
        try (ComputeBackend backend = new JavaBackend()) {
            for (int c = 0; c < count; c++) {
                LargerInstances.Case cs = LargerInstances.randomCase(rnd, c, arguments.minN(), arguments.maxN(), arguments.minP(),
                        arguments.maxP(), MIN_LAYERS, MAX_LAYERS);
                AbstractSolverTest.Instance in = cs.in();
                try (HostMatrix x = in.matrix()) {
                    long t0 = System.nanoTime();
                    FalconSolver.Result r = new FalconSolver(backend).solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(),
                            null, SolverOptions.defaults());
                    double tf = (System.nanoTime() - t0) / 1e9;
                    tFalcon += tf;
                    double qf = MidScaleProbe.q(in, r.mask());
                    int fp = r.polish().passes();
                    boolean atCap = fp >= FalconSolver.POLISH_PASSES;
                    long t1 = System.nanoTime();
                    double[] qs = new double[2];
                    int[] ps = new int[2];
                    int[] caps = {FalconSolver.POLISH_PASSES, passes};
                    for (int k = 0; k < 2; k++) {
                        byte[] cand = r.mask();
                        SwapPolish.Outcome o = SwapPolish.run(backend, x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(),
                                r.mask(), null, caps[k]);
                        if (o.mask() != null) cand = o.mask();
                        if (o.gram() != null) o.gram().close();
                        qs[k] = MidScaleProbe.q(in, cand);
                        ps[k] = o.passes();
                    }
                    double tl = (System.nanoTime() - t1) / 1e9;
                    tLong += tl;
                    again[c] = Math.max(0, (qf - qs[0]) / Math.abs(qf));
                    longer[c] = Math.max(0, (qf - qs[1]) / Math.abs(qf));
                    if (atCap) capped++;
                    if (again[c] > 0) lowered++;
                    if (atCap && again[c] > 0) cappedAndLowered++;
                    System.out.printf(Locale.ROOT, "%3d %-7s %-6s n=%2d p=%5d L=%d nnz=%5d kept=%5d: falcon %.9g (%.2f s, polish %2d passes%s)"
                                    + " again %.3e (%d passes) long %.3e (%d passes, %.1f s)%n",
                            c, cs.family(), cs.convention(), in.n(), in.p(), in.layers().size(), in.nnz(), FalconSolver.count(r.mask()), qf, tf, fp,
                            atCap ? " >= cap" : "", again[c], ps[0], longer[c], ps[1], tl);
                }
            }
        }
        Arrays.sort(again);
        Arrays.sort(longer);
        System.out.printf(Locale.ROOT, "%d instances: polish ran the cap's passes or more on %d, a further run lowered Q on %d (%d of them);"
                        + " relative decrease again median %.3e worst %.3e, long median %.3e worst %.3e; falcon %.1f s, further runs %.1f s%n",
                count, capped, lowered, cappedAndLowered, again[count / 2], again[count - 1], longer[count / 2], longer[count - 1], tFalcon, tLong);
    }
}
