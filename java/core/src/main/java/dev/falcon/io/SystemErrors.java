package dev.falcon.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.Pipe;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Tells the causes of I/O errors that the JDK gives no exception type of their own. It reports ENOSPC, EPIPE or
 * ENAMETOOLONG as a plain IOException or FileSystemException carrying the C library's text, and that text follows the
 * locale: under LANG=de_DE.UTF-8 a full disk is "Auf dem Gerät ist kein Speicherplatz mehr verfügbar", and a match
 * against the English text alone gave a German user the general fix. Each of these errors can be caused harmlessly: it
 * is caused once, where the English text does not match, and its text taken as this process's C library says it. The
 * English text still counts where that cannot be done (no /dev/full). Errors that cannot be caused so (EDQUOT, EROFS,
 * EPERM, EIO) are told by their English text alone.
 */
final class SystemErrors {
    private SystemErrors() {}

    /** The longest path the system takes, with its terminating NUL (Linux's PATH_MAX). */
    static final int PATH_MAX_BYTES = 4096;

    private static volatile String noSpace, brokenPipe, nameTooLong;

    /** The reason an I/O error gives: a FileSystemException's without the file names, else the message. */
    static String reason(IOException e) {
        return e instanceof FileSystemException f ? f.getReason() : e.getMessage();
    }

    /** ENOSPC: the file system or the device is full. */
    static boolean isNoSpace(IOException e) {
        String reason = reason(e);
        if (reason == null) return false;
        if (reason.equals("No space left on device")) return true;
        if (noSpace == null) noSpace = textOf(() -> {
            // /dev/full refuses every write with ENOSPC
            try (FileChannel full = FileChannel.open(Path.of("/dev/full"), StandardOpenOption.WRITE)) {
                full.write(ByteBuffer.wrap(new byte[1]));
            }
        });
        return reason.equals(noSpace);
    }

    /** EPIPE: the reader of a pipe has gone. */
    static boolean isBrokenPipe(IOException e) {
        String reason = reason(e);
        if (reason == null) return false;
        if (reason.equals("Broken pipe")) return true;
        if (brokenPipe == null) brokenPipe = textOf(() -> {
            // the JVM ignores SIGPIPE, so a write into a pipe with no reader fails with EPIPE
            Pipe pipe = Pipe.open();
            pipe.source().close();
            try (Pipe.SinkChannel sink = pipe.sink()) {
                sink.write(ByteBuffer.wrap(new byte[1]));
            }
        });
        return reason.equals(brokenPipe);
    }

    /** ENAMETOOLONG: a name longer than its file system takes, or a path longer than the system takes. */
    static boolean isNameTooLong(IOException e) {
        if (e instanceof NoSuchFileException || e instanceof AccessDeniedException) return false;
        String reason = reason(e);
        if (reason == null) return false;
        if (reason.equals("File name too long")) return true;
        if (nameTooLong == null) nameTooLong = textOf(() -> {
            // every POSIX system refuses a path of PATH_MAX bytes, whatever its file systems take
            Files.readAttributes(Path.of("/" + "x".repeat(PATH_MAX_BYTES)), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        });
        return reason.equals(nameTooLong);
    }

    /**
     * Whether the file system refuses to look up {@code path} for the length of its last name (or of the whole path):
     * a lookup does not create anything, and the file system checks the name against its own limit, in its own units.
     */
    static boolean nameTooLongToLookUp(Path path) {
        try {
            Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            return false;
        } catch (IOException e) {
            return isNameTooLong(e);
        }
    }

    private interface Failing {
        void run() throws IOException;
    }

    /** The reason of the error the action fails with; "" (which no error's text equals) where it does not fail so. */
    private static String textOf(Failing action) {
        try {
            action.run();
        } catch (IOException e) {
            String reason = reason(e);
            if (reason != null) return reason;
        } catch (RuntimeException e) {
            // not on this platform
        }
        return "";
    }
}
