package dev.falcon.backend;

/**
 * A backend ran out of memory of its own (a GPU's device memory, or the page-locked host memory it copies X through):
 * the run cannot go on on that backend. Not an internal error: the message says what did not fit, and another backend
 * (or fewer rows in X) is the fix. The CLI maps it to exit code 2, as it does a run that would not fit in host memory.
 */
public class BackendMemoryException extends RuntimeException {
    public BackendMemoryException(String message) {
        super(message);
    }
}
