package dev.falcon.solve;

import static dev.falcon.solve.ProbeArguments.integer;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Default falcon against a much longer search from its result (the polish with {@code PASSES} passes and no other cap,
 * then {@code KICKS} kicks of 2 to |K|/4 random weights, each polished so), on instances of {@link LargerInstances}'
 * families beyond the reach of an exact optimum: p = 200..2,000, n = 16..64, 2-8 layers, or the ranges given.
 * {@link #USAGE} prints, per instance and as median, 90th percentile and worst, Q_falcon / Q_best (for a negative
 * Q_best, 1 plus the gap relative to |Q_best|).
 */
final class MidScaleProbe {
    /** The command line; README's "Solver quality" gives its figures for {@code 40 20261207 100 1000}. */
    static final String USAGE = "usage: java -cp java/core/target/test-classes:java/cli/target/falcon.jar dev.falcon.solve.MidScaleProbe"
            + " COUNT SEED KICKS PASSES [MIN_N MAX_N MIN_P MAX_P] (README's figures: 40 20261207 100 1000)";

    /** Layers per instance, drawn from this range: every layer needs a weight, so p is at least the most. */
    static final int MIN_LAYERS = 2, MAX_LAYERS = 8;

    /** The probe's arguments; the ranges of n and p default to 16..64 and 200..2,000. */
    record Arguments(int count, long seed, int kicks, int passes, int minN, int maxN, int minP, int maxP) {
        /** Read from the command line, or an IllegalArgumentException naming the argument that is wrong. */
        static Arguments parse(String[] args) {
            if (args.length != 4 && args.length != 8) {
                throw new IllegalArgumentException("takes 4 arguments, or 8 with the ranges of n and p; got " + args.length);
            }
            boolean ranges = args.length == 8;
            int minN = ranges ? integer(args, 4, "MIN_N", 1) : 16, minP = ranges ? integer(args, 6, "MIN_P", MAX_LAYERS) : 200;
            return new Arguments(integer(args, 0, "COUNT", 1), ProbeArguments.seed(args, 1), integer(args, 2, "KICKS", 0),
                    integer(args, 3, "PASSES", 1), minN, ranges ? integer(args, 5, "MAX_N", minN) : 64, minP,
                    ranges ? integer(args, 7, "MAX_P", minP) : 2000);
        }
    }

    static double q(AbstractSolverTest.Instance in, byte[] keep) {
        int n = in.n(), p = in.p();
        double lambda = in.lambda();
        double[] m = new double[n * n], v = new double[n];
        for (int i = 0; i < n; i++) m[i * n + i] = lambda;
        double outside = 0, gg = 0;
        float[] x = in.x();
        for (int j = 0; j < p; j++) {
            double gj = in.g() == null ? 0 : in.g()[j];
            gg += gj * gj;
            double tj = gj - lambda * (double) in.wbar()[j];
            if (keep[j] != 0) {
                for (int a = 0; a < n; a++) {
                    double xa = x[j * n + a];
                    v[a] += gj * xa;
                    for (int b = 0; b <= a; b++) m[a * n + b] += xa * x[j * n + b];
                }
            } else {
                outside += tj * tj;
                for (int a = 0; a < n; a++) v[a] += lambda * in.wbar()[j] * (double) x[j * n + a];
            }
        }
        // Cholesky (lower) in place, then v^T M^-1 v = |L^-1 v|^2
        for (int c = 0; c < n; c++) {
            double d = m[c * n + c];
            for (int k = 0; k < c; k++) d -= m[c * n + k] * m[c * n + k];
            d = Math.sqrt(d);
            m[c * n + c] = d;
            for (int r = c + 1; r < n; r++) {
                double s = m[r * n + c];
                for (int k = 0; k < c; k++) s -= m[r * n + k] * m[c * n + k];
                m[r * n + c] = s / d;
            }
        }
        double quad = 0;
        double[] y = v.clone();
        for (int r = 0; r < n; r++) {
            double s = y[r];
            for (int k = 0; k < r; k++) s -= m[r * n + k] * y[k];
            y[r] = s / m[r * n + r];
            quad += y[r] * y[r];
        }
        return (outside - gg + quad) / (2 * lambda);
    }

    static byte[] kick(SplittableRandom r, byte[] mask, AbstractSolverTest.Instance in, int strength) {
        return FalconSolver.kick(r, mask, in.layers(), in.nnz(), in.flops(), strength);
    }

    /** Without its arguments it read args[0] and ended in an ArrayIndexOutOfBoundsException: it says how to run it. */
    public static void main(String[] args) {
        run(ProbeArguments.parseOrExit("MidScaleProbe", USAGE, args, Arguments::parse));
    }

    static void run(Arguments arguments) {
        int count = arguments.count(), kicks = arguments.kicks(), passes = arguments.passes();
        SplittableRandom rnd = new SplittableRandom(arguments.seed());
        double[] ratios = new double[count];
        double tFalcon = 0, tLong = 0;
        int atBest = 0;
        try (ComputeBackend backend = new JavaBackend()) {
            for (int c = 0; c < count; c++) {
                LargerInstances.Case cs = LargerInstances.randomCase(rnd, c, arguments.minN(), arguments.maxN(), arguments.minP(),
                        arguments.maxP(), MIN_LAYERS, MAX_LAYERS);
                AbstractSolverTest.Instance in = cs.in();
                try (HostMatrix x = in.matrix()) {
                    long t0 = System.nanoTime();
                    FalconSolver.Result r = new FalconSolver(backend).solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(), null,
                            SolverOptions.defaults());
                    double tf = (System.nanoTime() - t0) / 1e9;
                    tFalcon += tf;
                    byte[] best = r.mask();
                    double qf = q(in, best), qb = qf;
                    long t1 = System.nanoTime();
                    SplittableRandom kr = new SplittableRandom(c * 7919L + 3);
                    // the polish without its pass cap from falcon's point, then kicks of varied strength
                    for (int k = -1; k < kicks; k++) {
                        byte[] start = k < 0 ? best : kick(kr, best, in, 2 + kr.nextInt(Math.max(2, (int) Math.min(30, FalconSolver.count(best) / 4))));
                        byte[] cand = start;
                        try {
                            SwapPolish.Outcome o = SwapPolish.run(backend, x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(), start, null, passes);
                            if (o.mask() != null) cand = o.mask();
                            if (o.gram() != null) o.gram().close();
                        } catch (ArithmeticException | SwapPolish.NotFinite e) {
                            continue;
                        }
                        double qc = q(in, cand);
                        if (qc < qb) { qb = qc; best = cand; }
                    }
                    double tl = (System.nanoTime() - t1) / 1e9;
                    tLong += tl;
                    // Q can be negative with g: compare the room above the lower of the two by the gap relative to |Q_best|
                    double ratio = qb > 0 ? qf / qb : 1 + (qf - qb) / Math.abs(qb);
                    ratios[c] = ratio;
                    if (ratio <= 1 + 1e-9) atBest++;
                    System.out.printf(Locale.ROOT, "%3d %-7s %-6s n=%2d p=%4d L=%d nnz=%4d/%d kept=%d: falcon %.9g (%.2f s) long %.9g (%.1f s) ratio %.6f%n",
                            c, cs.family(), cs.convention(), in.n(), in.p(), in.layers().size(), in.nnz(), in.p(), FalconSolver.count(r.mask()),
                            qf, tf, qb, tl, ratio);
                }
            }
        }
        Arrays.sort(ratios);
        System.out.printf(Locale.ROOT, "%d instances: falcon at the best found on %d; ratio median %.6f, 90th %.6f, worst %.6f; falcon %.1f s, long search %.1f s%n",
                count, atBest, ratios[count / 2], ratios[(int) (0.9 * (count - 1))], ratios[count - 1], tFalcon, tLong);
    }
}
