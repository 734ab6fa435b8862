package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.BackendMemoryException;
import dev.falcon.data.HostMatrix;
import org.bytedeco.javacpp.DoublePointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The cuda backend's n x n systems above 46,340 rows, refused on the CPU driver as on the device: before any of their work,
 * and so before the argument checks that would need the 17 GB a matrix of that size holds (the pointers here are tiny).
 */
@ExtendWith(RequiresCudaLogic.class)
class CudaLogicDenseSystemLimitTest {
    private static final int ROWS = 46_341;

    @Test
    void aGramOfMoreThan46340RowsIsRefusedBeforeItsWork() {
        try (CudaLogicOnCpu backend = new CudaLogicOnCpu(); HostMatrix x = HostMatrix.allocate(ROWS, 1);
             DoublePointer gram = new DoublePointer(1)) {
            BackendMemoryException e = assertThrows(BackendMemoryException.class, () -> backend.weightedGram(x, null, gram));
            assertTrue(e.getMessage().contains("weightedGram needs an n x n system at n = 46341 rows"), e.getMessage());
        }
    }

    @Test
    void aCholeskyOfMoreThan46340RowsIsRefusedBeforeItsWork() {
        try (CudaLogicOnCpu backend = new CudaLogicOnCpu(); DoublePointer a = new DoublePointer(1); DoublePointer b = new DoublePointer(1)) {
            BackendMemoryException factor = assertThrows(BackendMemoryException.class, () -> backend.choleskyFactor(a, ROWS));
            assertTrue(factor.getMessage().contains("choleskyFactor needs an n x n system at n = 46341 rows"), factor.getMessage());
            BackendMemoryException solve = assertThrows(BackendMemoryException.class, () -> backend.choleskySolve(a, ROWS, b, 1));
            assertTrue(solve.getMessage().contains("choleskySolve needs an n x n system at n = 46341 rows"), solve.getMessage());
        }
    }
}
