package dev.falcon.io;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;

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
        return InputException.of(file, field, "cannot be read (" + detail(e) + ")", fix);
    }

    /**
     * What went wrong, for a message: the exception's own message, or, where it has none (a closed channel's, a bare
     * IOException), its kind in words ("closed channel error", "I/O error"): "cannot be read (null)" told the user nothing.
     */
    public static String detail(Throwable e) {
        String message = e.getMessage();
        if (message != null && !message.isBlank()) return message;
        String name = e.getClass().getSimpleName().isEmpty() ? e.getClass().getName() : e.getClass().getSimpleName();
        String kind = name.endsWith("Exception") ? name.substring(0, name.length() - "Exception".length()) : name;
        StringBuilder words = new StringBuilder();
        // "ClosedChannel" -> closed, channel; "EOF" stays one word, as does "IO" (written I/O)
        for (String word : kind.split("(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")) {
            if (word.isEmpty()) continue;
            if (words.length() > 0) words.append(' ');
            words.append(word.equals("IO") ? "I/O" : word.equals(word.toUpperCase(java.util.Locale.ROOT)) ? word : word.toLowerCase(java.util.Locale.ROOT));
        }
        return (words.length() == 0 ? name : words.toString()) + (name.endsWith("Error") ? "" : " error");
    }

    /**
     * Whether {@code e} came of an interrupt of this thread: the channel closed by it, an interrupted stream, or a
     * channel found closed while the flag is set (a second read on a channel the interrupt closed fails with a plain
     * ClosedChannelException). Nothing else counts, flag or not: "any failure while the flag is set" turned a path under
     * a file ("Not a directory"), a missing file or an end of file met early into "interrupted while reading ...",
     * hiding a real file error behind an interrupt the caller may have set for a reason of its own.
     * A SocketTimeoutException is an InterruptedIOException by type alone: a timeout, not an interrupt.
     */
    public static boolean byInterrupt(IOException e) {
        return e instanceof ClosedByInterruptException
                || (e instanceof InterruptedIOException && !(e instanceof SocketTimeoutException))
                || ((e instanceof ClosedChannelException || e instanceof AsynchronousCloseException) && Thread.currentThread().isInterrupted());
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
