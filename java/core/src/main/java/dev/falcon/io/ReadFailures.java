package dev.falcon.io;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.nio.channels.ClosedByInterruptException;

/**
 * What an IOException met while reading an input becomes. A channel read on an interrupted thread fails with
 * ClosedByInterruptException, whose message is null, and it was told as "X: bigC.npy: file: cannot be read (null);
 * check the path and permissions": the caller's own cancel, blamed on a file that was fine. An interrupt is the
 * IllegalStateException an interrupted prune gives everywhere else (README, Java API), with the flag kept.
 */
public final class ReadFailures {
    private ReadFailures() {}

    /**
     * The exception for {@code e}, met while reading {@code what} {@code file}: {@link #interrupted} where the thread was
     * interrupted ({@link #byInterrupt}), else the InputException "file: field: cannot be read (reason); fix".
     */
    public static RuntimeException cannotRead(Object file, String field, String what, IOException e, String fix) {
        if (byInterrupt(e)) return interrupted(what, file, e);
        return InputException.of(file, field, "cannot be read (" + e.getMessage() + ")", fix);
    }

    /**
     * Whether {@code e} came of an interrupt of this thread: the channel closed by it, an interrupted stream, or any
     * failure while the flag is set (a read that notices the interrupt may fail with another exception first).
     * A SocketTimeoutException is an InterruptedIOException by type alone: a timeout, not an interrupt.
     */
    public static boolean byInterrupt(IOException e) {
        return e instanceof ClosedByInterruptException
                || (e instanceof InterruptedIOException && !(e instanceof SocketTimeoutException))
                || Thread.currentThread().isInterrupted();
    }

    /**
     * "interrupted while reading WHAT FILE", with the interrupt flag set again: an InterruptedIOException may have
     * cleared it, and the caller that interrupted the thread looks for it.
     */
    public static IllegalStateException interrupted(String what, Object file, Throwable cause) {
        Thread.currentThread().interrupt();
        return new IllegalStateException("interrupted while reading " + what + " " + file, cause);
    }
}
