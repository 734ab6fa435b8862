package dev.falcon.cuda;

import dev.falcon.backend.BackendAvailability;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Skips a whole test class, visibly and with the probe's reason, when the cuda backend cannot run here. */
public class RequiresCudaDevice implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        BackendAvailability a = new CudaBackendProvider().probe();
        return a.usable() ? ConditionEvaluationResult.enabled("cuda usable: " + a.facts().getOrDefault("device", "?"))
                : ConditionEvaluationResult.disabled("skipped, no usable GPU: cuda " + a.reason());
    }
}
