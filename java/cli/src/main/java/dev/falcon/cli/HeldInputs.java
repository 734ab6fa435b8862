package dev.falcon.cli;

import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import dev.falcon.io.InputFiles;
import dev.falcon.io.InputFiles.Identity;
import dev.falcon.io.ReadFailures;
import dev.falcon.solve.FilePatternGradients;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The run's input files as it found them, so that the report's checksums describe the data the run used. The readers
 * open inputs by path, and the checksums come after the solve: a file replaced in between (cp + mv over it) was hashed
 * as the replacement. Each input is opened here before anything reads it, and the channel kept: it reads the same file
 * (inode) whatever the path names later, without a second pass over X. Its identity (device and inode, size,
 * modification time) is recorded, so that a path that named another file while the inputs were read, or a file
 * rewritten in place, which no channel can undo, stops the run instead of being reported with a checksum of other bytes.
 */
final class HeldInputs implements AutoCloseable {
    /**
     * One input; {@code channel} is null for a file watched only (falcon++'s later stage files, up to --stages of them,
     * until their stage reads one: see {@link #loadingStage}), and {@code checksum} the entry of a stage file hashed as it
     * was read.
     */
    private record Held(Path file, Identity identity, FileChannel channel, Map<String, Object> checksum) {
        Held(Path file, Identity identity, FileChannel channel) { this(file, identity, channel, null); }
    }

    private final Map<String, Held> inputs = new LinkedHashMap<>();
    private long stageChecksumNanos;
    /** The same time by stage file (its option), for the stage rows of the report. */
    private final Map<String, Long> stageChecksumNanosByOption = new HashMap<>();

    /** {@link #hold(String, Path)} for an array spec ("path.safetensors:tensor" holds path.safetensors). */
    void holdArray(String option, String spec) {
        hold(option, fileOf(option, spec), InputFiles.ARRAY_FILE);
    }

    /** Opens the layer table and records what it is, before anything reads it. */
    void hold(String option, Path file) {
        hold(option, file, InputFiles.LAYER_TABLE);
    }

    /** Opens the input file, of {@code kind} (InputFiles' names), and records what it is, before anything reads it. */
    private void hold(String option, Path file, String kind) {
        Held earlier = inputs.get(option);
        if (earlier != null && earlier.channel() != null) close(earlier.channel());
        requireRegularFile(option, file, kind);
        Identity before = identity(option, file);
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw InputException.of(option + ": " + file, "file", "was removed while falcon opened it", "rerun with the file in place");
        } catch (IOException e) {
            if (ReadFailures.byInterrupt(e)) throw ReadFailures.interrupted("the " + option + " file", file, e);
            throw InputException.of(option + ": " + file, "file", "cannot be read (" + ReadFailures.detail(e) + ")", "check the path and permissions");
        }
        Identity after;
        try {
            after = identity(option, file);
        } catch (RuntimeException e) {
            close(channel);
            throw e;
        }
        inputs.put(option, new Held(file, after, channel));
        if (!before.equals(after)) throw changed(option, file, "while falcon opened it");
    }

    /** Records what the input an array spec names is, without holding it open. */
    void watchArray(String option, String spec) {
        Path file = fileOf(option, spec);
        requireRegularFile(option, file, InputFiles.ARRAY_FILE);
        inputs.put(option, new Held(file, identity(option, file), null));
    }

    /**
     * A watched stage file, as its stage starts to read it: held from now on, so that the checksum is of the file that
     * stage read. It may have been replaced by a rename since the run started, as the message of a changed input advises:
     * the stage reads the file the path names now, header included, and that is the one hashed. One that was watched
     * and is gone is said to have gone during the run, not to be a path that "does not exist".
     */
    void loadingStage(String option, Path file) {
        if (inputs.containsKey(option) && !Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            throw InputException.of(option + ": " + file, "file", FilePatternGradients.MISSING_SINCE_START, FilePatternGradients.MISSING_SINCE_START_FIX);
        }
        hold(option, file, InputFiles.ARRAY_FILE);
    }

    /**
     * After a stage's X was read: refused if the path no longer names the file held when the stage began (the header and
     * data may come from two files), and otherwise hashed now, while its pages are fresh, so that no stage keeps a file
     * open: --stages may name more files than a process may keep open.
     */
    void loadedStage(String option, long limit) {
        Held h = inputs.get(option);
        if (h == null || h.channel() == null) throw new IllegalStateException("stage file " + option + " was not held before it was read");
        if (!h.identity().equals(Identity.of(h.file()))) throw changed(option, h.file(), "while its stage read it");
        long t = System.nanoTime();
        Map<String, Object> entry = checksum(option, limit);
        long spent = System.nanoTime() - t;
        stageChecksumNanos += spent;
        stageChecksumNanosByOption.merge(option, spent, Long::sum);
        close(h.channel());
        inputs.put(option, new Held(h.file(), h.identity(), null, entry));
    }

    /** Seconds spent hashing stage files as their stages read them (inside the solve's time). */
    double stageChecksumSeconds() { return stageChecksumNanos / 1e9; }

    /** Seconds spent hashing the stage file of {@code option} as its stage read it (inside that stage's time); 0 if none. */
    double stageChecksumSeconds(String option) { return stageChecksumNanosByOption.getOrDefault(option, 0L) / 1e9; }

    /** True once a stage has read the watched file of {@code option} ({@link #loadedStage}). */
    boolean readByItsStage(String option) {
        Held h = inputs.get(option);
        return h != null && h.checksum() != null;
    }

    /** Refuses a run whose inputs changed while they were read: its data may mix two files. */
    void checkUnchanged(String when) {
        for (Map.Entry<String, Held> e : inputs.entrySet()) {
            Held h = e.getValue();
            if (h.channel() == null) continue; // read later, by its stage: held and checked then
            Identity now = Identity.of(h.file());
            if (!h.identity().equals(now)) throw changed(e.getKey(), h.file(), when);
        }
    }

    /**
     * The report entry of one input: its bytes and SHA-256 as the run read them (files above {@code limit} bytes are
     * not hashed). A path that names another file now (replaced or removed since it was read) is hashed through the
     * channel opened at the start, the file the run read; a file rewritten in place is refused.
     */
    Map<String, Object> checksum(String option, long limit) {
        Held h = inputs.get(option);
        if (h == null) throw new IllegalStateException("no input held for " + option);
        if (h.checksum() != null) {
            // a stage file, hashed when its stage read it: later renames over its path do not change what was read
            Map<String, Object> entry = new LinkedHashMap<>(h.checksum());
            if (!h.identity().sameFile(Identity.of(h.file())) && !entry.containsKey("note") && entry.get("sha256") != null) {
                entry.put("note", "the path names another file now (replaced or removed during the run); this is the checksum of the file the run read");
            }
            return entry;
        }
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("file", h.file().toString());
        Identity now = Identity.of(h.file());
        boolean replaced = !h.identity().sameFile(now);
        if (h.channel() == null) throw new IllegalStateException(option + " was watched but no stage read it: it has no checksum");
        if (!replaced && !h.identity().equals(now)) {
            throw changed(option, h.file(), "during the run, in place");
        }
        long size = h.identity().size();
        if (sizeOf(option, h) != size) throw changed(option, h.file(), "during the run, before it was replaced");
        entry.put("bytes", size);
        if (size > limit) {
            entry.put("sha256", null);
            entry.put("note", "not computed: file larger than 1 GiB (reading it again would cost more than the run)");
        } else {
            entry.put("sha256", ArrayFiles.sha256(h.channel(), h.file()));
            if (replaced) entry.put("note", "the path names another file now (replaced or removed during the run); this is the checksum of the file the run read");
        }
        return entry;
    }

    @Override
    public void close() {
        for (Held h : inputs.values()) if (h.channel() != null) close(h.channel());
        inputs.clear();
    }

    private static long sizeOf(String option, Held h) {
        try {
            return h.channel().size();
        } catch (IOException e) {
            if (ReadFailures.byInterrupt(e)) throw ReadFailures.interrupted("the size of the " + option + " file", h.file(), e);
            throw InputException.of(option + ": " + h.file(), "file", "cannot be read (" + ReadFailures.detail(e) + ")", "check the file");
        }
    }

    private static void close(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            // only read from: nothing of it is lost
        }
    }

    private static Path fileOf(String option, String spec) {
        try {
            return ArrayFiles.fileOf(spec);
        } catch (java.nio.file.InvalidPathException e) {
            throw InputException.of(spec, option, "is not a valid path (" + e.getMessage() + ")", "check the file name");
        }
    }

    private static void requireRegularFile(String option, Path file, String kind) {
        try {
            InputFiles.requireRegularFile(file, kind);
        } catch (InputException e) {
            throw new InputException(option + ": " + e.getMessage(), e);
        }
    }

    private static Identity identity(String option, Path file) {
        Identity identity = Identity.of(file);
        if (identity == null) throw InputException.of(option + ": " + file, "file", "was removed while falcon opened it", "rerun with the file in place");
        return identity;
    }

    private static InputException changed(String option, Path file, String when) {
        return InputException.of(option + ": " + file, "file", "changed " + when
                + " (its device and inode, size or modification time differ), so the data the run used cannot be told",
                "rerun with the input left as it is until falcon has read it; to update an input while a run solves, write a new file and rename it over the old one");
    }
}
