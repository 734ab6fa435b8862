package dev.falcon.cuda;

import dev.falcon.backend.BackendAvailability;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Skips a whole test class, visibly and with the probe's reason, when the cuda backend cannot run here. */
public class RequiresCudaDevice implements ExecutionCondition {
    private static volatile boolean announced;

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        BackendAvailability a = new CudaBackendProvider().probe();
        if (!a.usable() && !announced) { // once per JVM, on the console: why every @Tag("gpu") class is skipped
            announced = true;
            System.out.println("[gpu tests] skipped: cuda " + a.reason());
        }
        return a.usable() ? ConditionEvaluationResult.enabled("cuda usable: " + a.facts().getOrDefault("device", "?"))
                : ConditionEvaluationResult.disabled("skipped, no usable GPU: cuda " + a.reason());
    }
}
