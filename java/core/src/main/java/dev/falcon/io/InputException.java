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

    public boolean infeasible() { return infeasible; }

    public boolean ofTheMachine() { return ofTheMachine; }
}
