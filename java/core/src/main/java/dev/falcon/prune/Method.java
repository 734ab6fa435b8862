package dev.falcon.prune;

import dev.falcon.io.InputException;
import java.util.Arrays;

/** Pruning methods selectable with {@code --method}. */
public enum Method {
    /** Global magnitude pruning: rank |w|, keep in order while both budgets hold (items that no longer fit are skipped). */
    MAGNITUDE("magnitude", null),
    /** FALCON's magnitude pruning: the FLOP-aware selection ILP with scores w^2 (optimal up to the reported gap). */
    MP("mp", null),
    /** FALCON: discrete first-order method on the Fisher model. */
    FALCON("falcon", null),
    /** FALCON++: multi-stage FALCON along a budget schedule. */
    FALCON_PLUS_PLUS("falcon++", null);

    private final String cliName;
    private final String unavailableReason;

    Method(String cliName, String unavailableReason) {
        this.cliName = cliName;
        this.unavailableReason = unavailableReason;
    }

    public String cliName() { return cliName; }

    public boolean available() { return unavailableReason == null; }

    /** Why the method cannot run in this build, or "" when it can. */
    public String unavailableReason() { return unavailableReason == null ? "" : unavailableReason; }

    /**
     * Parses a CLI name (case-insensitive); an InputException listing the choices otherwise, which names the argument
     * {@code Method.parse(text)}: a Java caller was told about the CLI's --method, which it never used.
     */
    public static Method parse(String text) {
        return parse(text, "Method.parse(text)");
    }

    /**
     * As {@link #parse(String)}, with what the caller calls the value in a refusal: an option ("--method", as the CLI
     * passes) or a name of its own ("config key method"), as {@code FilePatternGradients.stageSources} takes its field.
     */
    public static Method parse(String text, String field) {
        return InputException.choice(text, field, "method", Arrays.asList(values()), Method::cliName);
    }

    @Override public String toString() { return cliName; }
}
