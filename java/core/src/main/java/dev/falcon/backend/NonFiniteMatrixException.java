package dev.falcon.backend;

/**
 * A matrix given to {@link ComputeBackend#choleskyFactor} holds NaN or an infinity: it has no Cholesky factor, and no
 * ridge lambda gives it one. An {@link ArithmeticException} like every refusal of the factor, so that callers that fall
 * back on a matrix that is not positive definite fall back on this one too.
 */
public final class NonFiniteMatrixException extends ArithmeticException {
    NonFiniteMatrixException(String message) {
        super(message);
    }
}
