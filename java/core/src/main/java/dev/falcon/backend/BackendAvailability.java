package dev.falcon.backend;

import java.util.Map;

/**
 * Result of probing a backend: usable or not, a human reason when not (never an exception), and
 * facts worth showing in {@code falcon env} and reports (library versions, BLAS core, devices).
 */
public record BackendAvailability(boolean usable, String reason, Map<String, String> facts) {
    public BackendAvailability {
        facts = Map.copyOf(facts);
    }

    public static BackendAvailability usable(Map<String, String> facts) {
        return new BackendAvailability(true, "", facts);
    }

    public static BackendAvailability unusable(String reason) {
        return new BackendAvailability(false, reason, Map.of());
    }

    /** Turns a probe failure into a reason, naming the root cause; used by providers' probe(). */
    public static BackendAvailability unusable(String what, Throwable cause) {
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String message = root.getMessage() == null ? root.getClass().getSimpleName()
                : root.getClass().getSimpleName() + ": " + root.getMessage();
        return new BackendAvailability(false, what + " (" + message + ")", Map.of());
    }
}
