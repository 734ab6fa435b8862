package dev.falcon.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Atomic file output: the content is written to a hidden temporary file in the target's directory,
 * forced to disk, then renamed over the target ({@code ATOMIC_MOVE}, falling back to
 * {@code REPLACE_EXISTING} on file systems that cannot rename atomically). On any failure the
 * temporary file is removed and the target is left as it was, so an interrupted run never leaves a
 * half-written result.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes the complete content of the file at {@code temp}. */
    @FunctionalInterface
    public interface TempWriter {
        void write(Path temp) throws IOException;
    }

    /**
     * Writes via a temp file in the target's directory, fsyncs, renames atomically over target; temp
     * removed on any failure; IOException -> InputException naming target. RuntimeExceptions and Errors
     * from the writer are rethrown unchanged (after the temp file is removed).
     */
    public static void write(Path target, TempWriter writer) {
        Path absolute = target.toAbsolutePath();
        Path dir = absolute.getParent();
        Path temp = null;
        boolean done = false;
        try {
            if (dir != null && !Files.isDirectory(dir)) {
                throw InputException.of(target, "output", "the directory " + dir + " does not exist",
                        "create it first or choose another output path");
            }
            if (Files.isDirectory(absolute)) {
                throw InputException.of(target, "output", "is a directory", "name a file, not a directory");
            }
            temp = createTemp(dir, absolute.getFileName().toString());
            writer.write(temp);
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            try {
                Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, absolute, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new InputException(target + ": output: cannot write (" + e + "); check that the directory exists,"
                    + " is writable and has free space", e);
        } finally {
            if (!done && temp != null) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException ignored) {
                    // best effort: nothing more can be done
                }
            }
        }
    }

    /**
     * A new hidden file next to the target. Unlike {@code Files.createTempFile} (mode 0600) it gets the
     * default permissions (umask), so the renamed result is as readable as any other output.
     */
    private static Path createTemp(Path dir, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path temp = dir.resolve("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1) + ".tmp");
            try {
                return Files.createFile(temp);
            } catch (FileAlreadyExistsException e) {
                if (attempt > 100) throw e;
            }
        }
    }

    /** Makes the rename itself durable; not every platform allows opening a directory, so best effort. */
    private static void syncDirectory(Path dir) {
        if (dir == null) return;
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | RuntimeException ignored) {
            // directories cannot be opened on some platforms; the rename has happened already
        }
    }
}
