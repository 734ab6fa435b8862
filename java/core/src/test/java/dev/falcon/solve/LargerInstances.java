package dev.falcon.solve;

import static dev.falcon.solve.ProbeArguments.integer;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.LayerTable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Instances beyond the tiny ones (p = 16..24, n = 4..12, 2-5 layers of different FLOP costs, random budgets) in four
 * families (Gaussian X; low rank plus noise; columns clustered around a few shared directions; weights with ties), half
 * of them with lambda in the authors' convention (l2 n, no first-order term), whose optimum {@link SupportOptimum}
 * finds; and a tool that measures falcon against it, {@link #USAGE}. For every instance
 * falcon misses it prints how far the optimum is (weights in and out) and the smallest move that lowers Q from where
 * falcon ended.
 */
final class LargerInstances {
    private LargerInstances() {}

    /** The branch and bound's node cap per instance (the most any of 1,000 instances needed was about 1.2 million). */
    static final long NODE_CAP = 20_000_000L;

    static final String[] FAMILIES = {"gauss", "lowrank", "corr", "ties"};

    record Case(String family, String convention, AbstractSolverTest.Instance in) {
        SupportOptimum optimum() {
            return new SupportOptimum(in.n(), in.p(), in.x(), in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops());
        }
    }

    /** Instance {@code index} of the sequence that {@code seed} starts. */
    static Case nth(long seed, int index) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Case c = null;
        for (int k = 0; k <= index; k++) c = randomCase(rnd, k);
        return c;
    }

    /** The families take turns, and within each the two lambda conventions. */
    static Case randomCase(SplittableRandom rnd, int index) {
        return randomCase(rnd, index, 4, 12, 16, 24, 2, 5);
    }

    /** An instance of n, p and layers drawn from the given ranges (inclusive), otherwise as the small ones. */
    static Case randomCase(SplittableRandom rnd, int index, int minN, int maxN, int minP, int maxP, int minLayers, int maxLayers) {
        String family = FAMILIES[index % FAMILIES.length];
        boolean falconConvention = (index / FAMILIES.length) % 2 == 1;
        int n = minN + rnd.nextInt(maxN - minN + 1), p = minP + rnd.nextInt(maxP - minP + 1);
        int layerCount = minLayers + rnd.nextInt(maxLayers - minLayers + 1);
        LayerTable t = AbstractSolverTest.randomLayers(rnd, p, layerCount);
        float[] x = new float[n * p];
        switch (family) {
            case "gauss" -> {
                for (int k = 0; k < x.length; k++) x[k] = (float) rnd.nextGaussian();
            }
            case "lowrank", "ties" -> x = AbstractSolverTest.lowRankPlusNoise(rnd, n, p, 1 + rnd.nextInt(n), 0.1);
            case "corr" -> {
                // a few shared directions, each column mostly one of them: near-duplicate columns across layers
                int clusters = 2 + rnd.nextInt(4);
                double[][] base = new double[clusters][n];
                for (double[] b : base) for (int i = 0; i < n; i++) b[i] = rnd.nextGaussian();
                double rho = rnd.nextDouble(0.8, 0.99);
                for (int j = 0; j < p; j++) {
                    double[] b = base[rnd.nextInt(clusters)];
                    double sign = rnd.nextBoolean() ? 1 : -1;
                    for (int i = 0; i < n; i++) x[j * n + i] = (float) (sign * rho * b[i] + Math.sqrt(1 - rho * rho) * rnd.nextGaussian());
                }
            }
            default -> throw new IllegalArgumentException(family);
        }
        float[] wbar = new float[p];
        for (int j = 0; j < p; j++) {
            wbar[j] = family.equals("ties") ? (float) ((rnd.nextBoolean() ? 1 : -1) * (1 + rnd.nextInt(3)) * 0.25)
                    : (float) rnd.nextDouble(-1, 1);
        }
        float[] g = null;
        double lambda;
        if (falconConvention) {
            // the authors' l2: lambda = l2 n, no first-order term
            double[] l2s = {1e-3, 1e-2, 1e-1};
            lambda = l2s[rnd.nextInt(l2s.length)] * n;
        } else {
            double[] lambdas = {1e-2, 1e-1, 1};
            lambda = lambdas[rnd.nextInt(lambdas.length)];
            if (rnd.nextBoolean()) {
                g = new float[p];
                for (int j = 0; j < p; j++) g[j] = (float) (0.1 * rnd.nextDouble(-1, 1));
            }
        }
        long nnz = rnd.nextInt(4) == 0 ? p : 1 + rnd.nextInt(p - 1);
        double minF = Double.MAX_VALUE;
        for (double v : t.flopsPerWeight()) minF = Math.min(minF, v);
        double flops = Math.max(minF, t.denseFlops() * rnd.nextDouble(0.15, 0.9));
        return new Case(family, falconConvention ? "falcon" : "ridge", new AbstractSolverTest.Instance(n, p, x, wbar, g, lambda, t, nnz, flops));
    }

    /** The command line; README's "Solver quality" gives its figures for COUNT 400, SEED 20261205. */
    static final String USAGE = "usage: java -cp java/core/target/test-classes:java/cli/target/falcon.jar dev.falcon.solve.LargerInstances"
            + " java|cpu COUNT SEED (README's figures: COUNT 400, SEED 20261205)";

    /** The tool's arguments: the backend that solves, how many instances, and their seed. */
    record Arguments(String backendName, int count, long seed) {
        /** Read from the command line, or an IllegalArgumentException naming the argument that is wrong. */
        static Arguments parse(String[] args) {
            if (args.length != 3) throw new IllegalArgumentException("takes 3 arguments; got " + args.length);
            // any other name ran on the cpu backend
            if (!args[0].equals("java") && !args[0].equals("cpu")) {
                throw new IllegalArgumentException("the backend is '" + args[0] + "'; give java or cpu");
            }
            return new Arguments(args[0], integer(args, 1, "COUNT", 1), ProbeArguments.seed(args, 2));
        }
    }

    /** Without its arguments it read args[0] and ended in an ArrayIndexOutOfBoundsException: it says how to run it. */
    public static void main(String[] args) throws Exception {
        run(ProbeArguments.parseOrExit("LargerInstances", USAGE, args, Arguments::parse));
    }

    static void run(Arguments arguments) throws ReflectiveOperationException {
        String backendName = arguments.backendName();
        int count = arguments.count();
        SplittableRandom rnd = new SplittableRandom(arguments.seed());
        int optimal = 0;
        double worst = 1;
        try (ComputeBackend backend = backendName.equals("java") ? new JavaBackend() : cpuBackend()) {
            for (int c = 0; c < count; c++) {
                Case cs = randomCase(rnd, c);
                AbstractSolverTest.Instance in = cs.in();
                FalconSolver.Result r;
                try (HostMatrix x = in.matrix()) {
                    r = new FalconSolver(backend).solve(x, in.wbar(), in.g(), in.lambda(), in.layers(), in.nnz(), in.flops(), null,
                            SolverOptions.defaults().withMaxIterations(300));
                }
                SupportOptimum bb = cs.optimum();
                boolean[] mask = AbstractSolverTest.toBool(r.mask());
                double q = AbstractSolverTest.referenceQ(in, AbstractSolverTest.toDouble(r.weights())), qSupport = bb.q(mask);
                SupportOptimum.Outcome o = bb.below(qSupport - 1e-7 * Math.max(Math.abs(qSupport), 1e-12), NODE_CAP);
                double opt = o.improved() ? o.q() : qSupport;
                boolean isOptimal = !o.capped() && q <= opt + 1e-5 * Math.max(Math.abs(opt), 1e-9);
                if (isOptimal) optimal++;
                if (opt > 0) worst = Math.max(worst, q / opt);
                StringBuilder why = new StringBuilder();
                if (!isOptimal && o.improved()) {
                    int added = 0, removed = 0;
                    for (int j = 0; j < in.p(); j++) {
                        if (o.support()[j] && !mask[j]) added++;
                        if (!o.support()[j] && mask[j]) removed++;
                    }
                    why.append(String.format(Locale.ROOT, " MISS: the optimum is %d in and %d out; %s; polish %d swaps, %d additions, %d passes",
                            added, removed, neighbourhood(bb, in, mask, qSupport), r.polish().swaps(), r.polish().additions(), r.polish().passes()));
                }
                System.out.printf(Locale.ROOT, "%3d %-7s %-6s n=%2d p=%2d L=%d lambda=%-6.3g g=%-5s nnz=%2d flops=%.4g/%.4g: opt %.9g falcon %.9g"
                        + " (%d nodes%s)%s%n", c, cs.family(), cs.convention(), in.n(), in.p(), in.layers().size(), in.lambda(), in.g() != null,
                        in.nnz(), in.flops(), in.layers().denseFlops(), opt, q, o.nodes(), o.capped() ? ", capped" : "", why);
            }
        }
        System.out.printf(Locale.ROOT, "[%s] %d/%d solved to optimality, worst Q_falcon/Q_opt %.6f%n", backendName, optimal, count, worst);
    }

    private static ComputeBackend cpuBackend() throws ReflectiveOperationException {
        Object provider = Class.forName("dev.falcon.cpu.CpuBackendProvider").getConstructor().newInstance();
        return (ComputeBackend) provider.getClass().getMethod("create", int.class).invoke(provider, 2);
    }

    /**
     * The smallest moves that lower Q from the support K within the budgets (a in and r out, a, r <= 3, by a + r): for each
     * (a, r) of that size, how many do, and the lowest Q they reach as a fraction of Q(K).
     */
    static String neighbourhood(SupportOptimum bb, AbstractSolverTest.Instance in, boolean[] k, double qk) {
        int p = in.p();
        List<Integer> inside = new ArrayList<>(), outside = new ArrayList<>();
        for (int j = 0; j < p; j++) (k[j] ? inside : outside).add(j);
        double[] f = new double[p];
        long kept = inside.size();
        double used = 0;
        for (int j = 0; j < p; j++) {
            f[j] = in.layers().get(in.layers().layerOf(j)).flopsPerWeight();
            if (k[j]) used += f[j];
        }
        StringBuilder sb = new StringBuilder();
        for (int size = 1; size <= 6; size++) {
            for (int a = 0; a <= Math.min(3, size); a++) {
                int r = size - a;
                if (r > 3) continue;
                int improving = 0;
                double best = qk;
                for (int[] adds : subsets(outside, a)) {
                    double fa = 0;
                    for (int j : adds) fa += f[j];
                    for (int[] rems : subsets(inside, r)) {
                        double fr = 0;
                        for (int j : rems) fr += f[j];
                        if (kept + a - r > in.nnz() || used + fa - fr > in.flops() * (1 + 1e-12)) continue;
                        boolean[] m = k.clone();
                        for (int j : adds) m[j] = true;
                        for (int j : rems) m[j] = false;
                        double q = bb.q(m);
                        if (q < qk - 1e-9 * Math.abs(qk)) {
                            improving++;
                            best = Math.min(best, q);
                        }
                    }
                }
                if (improving > 0) sb.append(String.format(Locale.ROOT, " %d in %d out: %d (to %.4g of Q)", a, r, improving, best / qk));
            }
            if (sb.length() > 0) return "smallest moves that lower Q:" + sb;
        }
        return "no move of up to 3 in and 3 out lowers Q";
    }

    static List<int[]> subsets(List<Integer> from, int k) {
        List<int[]> out = new ArrayList<>();
        int[] idx = new int[k];
        subsets(from, k, 0, 0, idx, out);
        return out;
    }

    private static void subsets(List<Integer> from, int k, int start, int depth, int[] idx, List<int[]> out) {
        if (depth == k) {
            out.add(idx.clone());
            return;
        }
        for (int i = start; i < from.size(); i++) {
            idx[depth] = from.get(i);
            subsets(from, k, i + 1, depth + 1, idx, out);
        }
    }
}
