package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.cpu.CpuBackendProvider;
import dev.falcon.data.HostMatrix;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.Objective;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import java.util.stream.Stream;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 5 section 5: on every built-in example, CUDA and CPU keep the same support, or (where float ties are
 * broken differently) reach the same objective Q within 1e-4 relative.
 */
@Tag("gpu")
@ExtendWith(RequiresCudaDevice.class)
class CudaCrossBackendTest {

    static Stream<Arguments> cases() {
        return ExampleModels.names().stream().flatMap(name -> Stream.of(
                Arguments.of(name, "mp", 0.2, 1.0), Arguments.of(name, "mp", 0.1, 0.3), Arguments.of(name, "magnitude", 0.3, 0.5)));
    }

    @ParameterizedTest(name = "{0} {1} keep-flops {2} keep-nnz {3}")
    @MethodSource("cases")
    void cudaAndCpuAgree(String example, String methodName, double keepFlops, double keepNnz) {
        ExampleModel model = ExampleModels.get(example);
        Method method = Method.parse(methodName);
        Budgets budgets = Budgets.resolve(model.layers(), keepFlops, null, keepNnz, null, null);
        long p = model.layers().parameters();
        try (ComputeBackend cuda = new CudaBackendProvider().create(2);
             ComputeBackend cpu = new CpuBackendProvider().create(2);
             Pruner cudaPruner = new Pruner(cuda);
             Pruner cpuPruner = new Pruner(cpu);
             FloatPointer w = model.syntheticWeights(7);
             PruneResult a = cudaPruner.prune(method, w, model.layers(), budgets);
             PruneResult b = cpuPruner.prune(method, w, model.layers(), budgets);
             HostMatrix xCuda = model.syntheticGradients(cuda, 16, 7);
             HostMatrix xCpu = model.syntheticGradients(cpu, 16, 7)) {
            long differences = 0;
            for (long i = 0; i < p; i++) {
                if (a.mask().get(i) != b.mask().get(i)) differences++;
            }
            double qCuda = Objective.evaluate(cuda, xCuda, a.prunedWeights(), w, null, 1e-3).q();
            double qCpu = Objective.evaluate(cpu, xCpu, b.prunedWeights(), w, null, 1e-3).q();
            if (differences != 0) {
                assertEquals(qCpu, qCuda, 1e-4 * Math.abs(qCpu), differences + " weights differ and Q differs by more than 1e-4");
            } else {
                assertTrue(Math.abs(qCuda - qCpu) <= 1e-4 * Math.abs(qCpu), "same support, Q " + qCuda + " vs " + qCpu);
            }
        }
    }
}
