package dev.falcon.solve;

import dev.falcon.io.InputException;

/**
 * A backsolve's ridge system is singular in double precision at the user's lambda (rank-deficient X and a lambda below
 * the rounding of its diagonal). For a backsolve the user asked for it is bad input naming {@code --lambda}; a solver
 * that only tries a support on its way (a search candidate) catches it and passes that support by.
 */
public final class SingularRidgeSystemException extends InputException {
    SingularRidgeSystemException(String message) {
        super(message);
    }
}
