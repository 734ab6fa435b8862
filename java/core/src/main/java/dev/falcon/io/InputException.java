package dev.falcon.io;

/**
 * Bad input from the user: names the file, the field and the fix. The CLI maps it to exit code 2
 * ({@link #infeasible()} budgets: exit code 3).
 */
public class InputException extends RuntimeException {
    private final boolean infeasible;

    public InputException(String message) {
        this(message, false, null);
    }

    public InputException(String message, Throwable cause) {
        this(message, false, cause);
    }

    private InputException(String message, boolean infeasible, Throwable cause) {
        super(message, cause);
        this.infeasible = infeasible;
    }

    /** Budgets no support can meet (e.g. a FLOP budget below the cheapest weight with a positive NNZ budget). */
    public static InputException infeasible(String message) {
        return new InputException(message, true, null);
    }

    /** "file: field: problem; fix" in one line. */
    public static InputException of(Object file, String field, String problem, String fix) {
        return new InputException(file + ": " + field + ": " + problem + (fix == null || fix.isEmpty() ? "" : "; " + fix));
    }

    public boolean infeasible() { return infeasible; }
}
