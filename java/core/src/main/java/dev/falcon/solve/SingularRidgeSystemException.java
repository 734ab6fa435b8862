package dev.falcon.solve;

import dev.falcon.io.InputException;

/**
 * A backsolve's ridge system is singular in double precision at the user's lambda (rank-deficient X and a lambda below
 * the rounding of its diagonal). For a backsolve the user asked for it is bad input naming {@code --lambda}; a solver
 * that only tries a support on its way (a search candidate) catches it and passes that support by.
 */
public final class SingularRidgeSystemException extends InputException {
    private final String inJavaWords;

    /** {@code message} names --lambda, as the CLI refuses the input; {@code inJavaWords} the same naming the Java setting. */
    SingularRidgeSystemException(String message, String inJavaWords) {
        super(message);
        this.inJavaWords = inJavaWords;
    }

    /**
     * The message in an embedder's words, naming the lambda of {@code Pruner.SolverInputs} where {@link #getMessage} names
     * --lambda behind the CLI's "--lambda: value:": what the library's own log and result say of a skipped backsolve.
     */
    public String inJavaWords() {
        return inJavaWords;
    }
}
