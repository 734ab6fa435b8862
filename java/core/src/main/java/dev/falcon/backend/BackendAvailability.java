package dev.falcon.backend;

import java.util.Map;

/**
 * Result of probing a backend: usable or not, a human reason when not (never an exception), and
 * facts worth showing in {@code falcon env} and reports (library versions, BLAS core, devices).
 * {@code misconfigured}: unusable because of a setting the user gave it, which the choice of a backend refuses (see
 * {@link BackendSettingException}) where another reason only skips the backend.
 */
public record BackendAvailability(boolean usable, String reason, Map<String, String> facts, boolean misconfigured) {
    public BackendAvailability {
        facts = Map.copyOf(facts);
        if (usable && misconfigured) throw new IllegalArgumentException("a misconfigured backend is not usable");
    }

    public BackendAvailability(boolean usable, String reason, Map<String, String> facts) {
        this(usable, reason, facts, false);
    }

    public static BackendAvailability usable(Map<String, String> facts) {
        return new BackendAvailability(true, "", facts);
    }

    public static BackendAvailability unusable(String reason) {
        return new BackendAvailability(false, reason, Map.of());
    }

    /** Unusable because of a setting the user gave the backend; {@code reason} names it, the accepted values and the fix. */
    public static BackendAvailability misconfigured(String reason) {
        return new BackendAvailability(false, reason, Map.of(), true);
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
