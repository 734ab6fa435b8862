package dev.falcon.cuda;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Skips a whole test class, visibly and with the reason, when the CUDA kernel logic library was not built. */
public class RequiresCudaLogic implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String why = CudaLogicOnCpu.unavailableReason();
        return why == null ? ConditionEvaluationResult.enabled("CUDA kernel logic built")
                : ConditionEvaluationResult.disabled("skipped: " + why);
    }
}
