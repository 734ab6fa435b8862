package dev.falcon.io;

/**
 * Bad input from the user: names the file, the field and the fix. The CLI maps it to exit code 2
 * ({@link #infeasible()} budgets: exit code 3; {@link #ofTheMachine()} failures: exit code 1).
 */
public class InputException extends RuntimeException {
    private final boolean infeasible;
    private final boolean ofTheMachine;

    /** Bad input described by {@code message} ("file: field: problem; fix", see {@link #of}): exit code 2 in the CLI. */
    public InputException(String message) {
        this(message, false, false, null);
    }

    /** As {@link #InputException(String)}, with the exception that revealed the problem. */
    public InputException(String message, Throwable cause) {
        this(message, false, false, cause);
    }

    private InputException(String message, boolean infeasible, boolean ofTheMachine, Throwable cause) {
        super(message, cause);
        this.infeasible = infeasible;
        this.ofTheMachine = ofTheMachine;
    }

    /** Budgets no support can meet (e.g. a FLOP budget below the cheapest weight with a positive NNZ budget). */
    public static InputException infeasible(String message) {
        return new InputException(message, true, false, null);
    }

    /**
     * A failure of the machine rather than of what the user gave (a full disk or quota, a storage error, a pipe whose
     * reader has gone), told the same way: a script retrying on exit 1 should not be told its command line was wrong.
     */
    public static InputException ofTheMachine(String message, Throwable cause) {
        return new InputException(message, false, true, cause);
    }

    /** "file: field: problem; fix" in one line. */
    public static InputException of(Object file, String field, String problem, String fix) {
        return new InputException(file + ": " + field + ": " + problem + (fix == null || fix.isEmpty() ? "" : "; " + fix));
    }

    /**
     * The choice named {@code text} (case and surrounding blanks ignored) among {@code choices}, each named by
     * {@code name}; an unknown or null text is an InputException naming {@code field} and listing the names in the order
     * given ("FIELD: value: unknown KIND 'text'; choose one of a, b, c"). The one reading of a named value, so that the
     * enum parsers (Method, MultiStage.Schedule, Backsolve.Mode) refuse alike.
     */
    public static <T> T choice(String text, String field, String kind, java.util.List<T> choices, java.util.function.Function<T, String> name) {
        return choice(text, field, kind, choices, name, name);
    }

    /**
     * As {@link #choice(String, String, String, java.util.List, java.util.function.Function)}, each choice listed in the
     * refusal as {@code listed} gives it: a name alone ("ridge, falcon") left a user to guess which of two conventions is
     * which, where the CLI had said "ridge (lambda of Q)".
     */
    public static <T> T choice(String text, String field, String kind, java.util.List<T> choices, java.util.function.Function<T, String> name,
                               java.util.function.Function<T, String> listed) {
        java.util.Objects.requireNonNull(field, "field");
        String key = text == null ? "" : text.trim().toLowerCase(java.util.Locale.ROOT);
        for (T c : choices) if (name.apply(c).equals(key)) return c;
        throw of(field, "value", "unknown " + kind + " '" + text + "'", "choose one of " + String.join(", ", choices.stream().map(listed).toList()));
    }

    public boolean infeasible() { return infeasible; }

    public boolean ofTheMachine() { return ofTheMachine; }
}
