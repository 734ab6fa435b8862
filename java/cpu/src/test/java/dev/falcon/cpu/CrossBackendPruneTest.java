package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.Objective;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.SolverOptions;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The native backend must prune exactly like the reference: the same mask, the same certificate and
 * the same objective, on a real layer table at several budgets.
 */
class CrossBackendPruneTest {
    private static final ExampleModel RESNET20 = ExampleModels.get("resnet20");

    @ParameterizedTest(name = "{0} keep-flops {1} keep-nnz {2}")
    @CsvSource({"mp, 0.2, 1.0", "mp, 0.1, 0.3", "mp, 0.5, 0.05", "magnitude, 0.3, 0.5", "magnitude, 0.1, 1.0"})
    void cpuAndJavaPruneIdentically(String methodName, double keepFlops, double keepNnz) {
        Method method = Method.parse(methodName);
        Budgets budgets = Budgets.resolve(RESNET20.layers(), keepFlops, null, keepNnz, null, null);
        long p = RESNET20.layers().parameters();
        try (ComputeBackend cpu = new CpuBackendProvider().create(2);
             JavaBackend java = new JavaBackend();
             Pruner cpuPruner = new Pruner(cpu);
             Pruner javaPruner = new Pruner(java);
             FloatPointer w = RESNET20.syntheticWeights(7);
             PruneResult a = cpuPruner.prune(method, w, RESNET20.layers(), budgets);
             PruneResult b = javaPruner.prune(method, w, RESNET20.layers(), budgets);
             HostMatrix xCpu = RESNET20.syntheticGradients(cpu, 16, 7);
             HostMatrix xJava = RESNET20.syntheticGradients(java, 16, 7)) {
            assertEquals(b.kept(), a.kept());
            assertEquals(b.keptFlops(), a.keptFlops());
            long differences = 0;
            for (long i = 0; i < p; i++) {
                if (a.mask().get(i) != b.mask().get(i)) differences++;
            }
            assertEquals(0, differences, "weights kept by one backend and not the other");
            if (method == Method.MP) {
                assertEquals(b.certificate().primalValue(), a.certificate().primalValue(), 1e-9 * b.certificate().primalValue());
                assertEquals(b.certificate().dualBound(), a.certificate().dualBound(), 1e-9 * b.certificate().dualBound());
            }
            double qCpu = Objective.evaluate(cpu, xCpu, a.prunedWeights(), w, null, 1e-3).q();
            double qJava = Objective.evaluate(java, xJava, b.prunedWeights(), w, null, 1e-3).q();
            assertEquals(qJava, qCpu, 1e-6 * qJava, "objective on the two backends");
        }
    }

    /**
     * mp squares the weights into float scores: ResNet20's weights scaled by 2^-70 (about 1e-22) squared into a few
     * subnormal values and zeros, and the cpu selection then kept arbitrary weights among the ties. The scaled weights
     * must keep exactly what the weights themselves keep, with the certificate scaled by 2^-140.
     */
    @ParameterizedTest(name = "keep-flops {0} keep-nnz {1}")
    @CsvSource({"0.2, 1.0", "0.5, 0.05"})
    void mpOfTinyWeightsKeepsWhatTheSameWeightsScaledUpKeep(double keepFlops, double keepNnz) {
        Budgets budgets = Budgets.resolve(RESNET20.layers(), keepFlops, null, keepNnz, null, null);
        long p = RESNET20.layers().parameters();
        try (ComputeBackend cpu = new CpuBackendProvider().create(2);
             Pruner pruner = new Pruner(cpu);
             FloatPointer w = RESNET20.syntheticWeights(7);
             FloatPointer tiny = new FloatPointer(p)) {
            for (long i = 0; i < p; i++) tiny.put(i, Math.scalb(w.get(i), -70));
            try (PruneResult a = pruner.prune(Method.MP, tiny, RESNET20.layers(), budgets);
                 PruneResult b = pruner.prune(Method.MP, w, RESNET20.layers(), budgets)) {
                assertEquals(b.kept(), a.kept());
                long differences = 0;
                for (long i = 0; i < p; i++) {
                    if (a.mask().get(i) != b.mask().get(i)) differences++;
                }
                assertEquals(0, differences, "weights kept at 2^-70 scale and not at 1, or the reverse");
                double units = 0x1p-140;
                assertEquals(b.certificate().primalValue() * units, a.certificate().primalValue(), 1e-9 * b.certificate().primalValue() * units);
                assertEquals(b.certificate().dualBound() * units, a.certificate().dualBound(), 1e-9 * b.certificate().dualBound() * units);
            }
        }
    }

    /**
     * Keeping one of two weights of 3e38 leaves the residual X wbar = 6e38 of the other, Infinity in float. The java
     * backend's Cholesky solve passes the non-finite right-hand side through and the backsolve is not kept; the cpu
     * backend's LAPACKE_dpotrs refused it (info -7), and the run ended as an internal error with a Java trace (exit 1).
     */
    @Test
    void aBacksolveWhoseRightHandSideOverflowsEndsAsOnTheReference() {
        LayerTable t = new LayerTable(List.of(new Layer("a", new long[] {2}, 1, 0, 2)), "test");
        Budgets budgets = Budgets.resolve(t, null, null, null, 1L, null);
        for (ComputeBackend backend : new ComputeBackend[] {new CpuBackendProvider().create(2), new JavaBackend()}) {
            try (backend; Pruner pruner = new Pruner(backend); FloatPointer w = new FloatPointer(3e38f, 3e38f);
                 HostMatrix x = HostMatrix.allocate(1, 2)) {
                x.data().put(new float[] {2f, 2f}, 0, 2);
                try (PruneResult r = pruner.prune(Method.MP, w, t, budgets,
                        new Pruner.SolverInputs(x, null, 1e-3, SolverOptions.defaults(), Backsolve.Mode.EXACT))) {
                    assertEquals(3e38f, r.prunedWeights().get(0), backend.name() + ": mp's weight stays");
                    assertEquals(0f, r.prunedWeights().get(1), backend.name());
                    assertNotNull(r.solve().note(), backend.name() + ": the result says why the backsolve was not kept");
                }
            }
        }
    }
}
