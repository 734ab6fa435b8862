package dev.falcon.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * The check every input file passes before it is opened. Opening a FIFO waits for a writer (forever where there is
 * none), and an input is opened more than once (its header, its data, its checksum), which a pipe or a device such as
 * /dev/zero cannot give consistently: only regular files, links to them included, are read.
 */
public final class InputFiles {
    private InputFiles() {}

    /**
     * What a path names at one moment: its file (device and inode), size and modification time. Two equal identities
     * taken before and after a read say that the read saw one file, unchanged; a rename over the path changes the file,
     * a rewrite in place its size or time.
     */
    public record Identity(Object fileKey, long size, java.nio.file.attribute.FileTime modified) {
        /** The same file (inode), whatever its contents did. */
        public boolean sameFile(Identity other) { return other != null && fileKey != null && java.util.Objects.equals(fileKey, other.fileKey); }

        /** The file the path names now (links followed), or null where it names none or cannot be read. */
        public static Identity of(Path file) {
            try {
                BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
                return new Identity(a.fileKey(), a.size(), a.lastModifiedTime());
            } catch (IOException e) {
                return null;
            }
        }
    }

    /** The existing file a missing path names before a ":suffix" in its file name, or null. */
    private static Path beforeTensorSuffix(Path file) {
        Path name = file.getFileName();
        int colon = name == null ? -1 : name.toString().lastIndexOf(':');
        if (colon <= 0) return null;
        Path base = file.resolveSibling(name.toString().substring(0, colon));
        return Files.isRegularFile(base) ? base : null;
    }

    /** What an array reader takes, for {@link #requireRegularFile(Path, String)}. */
    public static final String ARRAY_FILE = ".npy or .safetensors file";

    /** What the layer-table reader takes, for {@link #requireRegularFile(Path, String)}. */
    public static final String LAYER_TABLE = ".json layer table";

    /** Refuses, naming the file and what it is, a path that is missing, a directory, or not a regular file. */
    public static void requireRegularFile(Path file) {
        requireRegularFile(file, ".npy, .safetensors or .json file");
    }

    /**
     * As {@link #requireRegularFile(Path)}, with {@code kind} the kind of file the caller reads ({@link #ARRAY_FILE},
     * {@link #LAYER_TABLE}), named in the fix of an empty name: --layers was told to give an .npy it cannot take.
     */
    public static void requireRegularFile(Path file, String kind) {
        // Path.of("") is the working folder: an unset shell variable ("$W") was refused as "is a directory"
        if (file.toString().isEmpty()) {
            throw InputException.of("''", "file", "the name is empty (an unset shell variable?)", "give the path of the " + kind);
        }
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            if (Files.isSymbolicLink(file)) throw InputException.of(file, "file", "is a link to a missing file", "check the path");
            // X.npy:foo was "does not exist" beside an X.npy that does: the :TENSOR suffix is read on .safetensors names only
            Path beforeSuffix = beforeTensorSuffix(file);
            if (beforeSuffix != null) {
                throw InputException.of(file, "file", "does not exist; " + beforeSuffix + " does, but a :TENSOR suffix names a tensor of a"
                        + " .safetensors file only", "give " + beforeSuffix + " alone");
            }
            throw InputException.of(file, "file", "does not exist", "check the path");
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the attributes of", e, "check the path and permissions");
        }
        if (attributes.isRegularFile()) return;
        if (attributes.isDirectory()) throw InputException.of(file, "file", "is a directory", "name the array or table file in it");
        throw InputException.of(file, "file", "not a regular file (" + kind(file) + ")",
                "save the data to a regular file and pass that: falcon reads an input more than once, which a pipe or a device cannot give");
    }

    /** What a path that is neither a regular file nor a directory is, from its mode bits; links are named with their target. */
    private static String kind(Path file) {
        String kind = "a special file";
        try {
            int type = ((Number) Files.getAttribute(file, "unix:mode")).intValue() & 0170000;
            kind = switch (type) {
                case 0010000 -> "a FIFO";
                case 0020000 -> "a character device";
                case 0060000 -> "a block device";
                case 0140000 -> "a socket";
                default -> kind;
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            // no unix attributes on this file system: the general word stands
        }
        if (Files.isSymbolicLink(file)) {
            try {
                kind += ", through a link to " + file.toRealPath();
            } catch (IOException e) {
                // gone since, or its target cannot be resolved: the kind alone
            }
        }
        return kind;
    }
}
