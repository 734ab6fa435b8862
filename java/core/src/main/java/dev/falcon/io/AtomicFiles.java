package dev.falcon.io;

import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLockInterruptionException;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Atomic file output: the content is written to a hidden temporary file in the target's directory,
 * forced to disk, then renamed over the target ({@code ATOMIC_MOVE}, falling back to
 * {@code REPLACE_EXISTING} on file systems that cannot rename atomically). On any failure the
 * temporary file is removed and the target is left as it was, so an interrupted run never leaves a
 * half-written result. A JVM that shuts down while outputs are being written (SIGTERM, Ctrl-C) removes the
 * temporary files too, and the directories created for the outputs: only SIGKILL can leave one behind.
 * <p>
 * The renames of a {@link Batch} of two or more outputs are serialized, within the JVM and between processes, per
 * output directory: two runs committing the same outputs at once end with one run's set, never the weights of one with
 * the report of the other. Between processes the lock is a POSIX lock on {@value #LOCK_FILE} in each directory renamed
 * into (an empty file, left there).
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    private static final System.Logger LOG = System.getLogger(AtomicFiles.class.getName());

    /**
     * Temporary files created and not yet renamed or removed. The try-with-resources that removes them on a failure
     * never runs when the JVM is told to stop, so a shutdown hook does.
     */
    private static final Set<Path> PENDING_TEMPS = ConcurrentHashMap.newKeySet();
    /** Directories a batch created for its outputs and has neither committed into nor removed: the hook removes them too. */
    private static final Set<Path> PENDING_DIRECTORIES = ConcurrentHashMap.newKeySet();

    /**
     * The lock file in each directory a batch of two or more outputs renames into. It lives next to the outputs, not in
     * java.io.tmpdir: every process that can replace these outputs sees it, whatever its java.io.tmpdir
     * (FALCON_JAVA_OPTS, a scheduler's TMPDIR, a container's private /tmp) and on whichever host shares the directory;
     * runs writing elsewhere never wait for each other; and no other user's lock file in a shared /tmp stands in the way.
     * It is never removed: a process that deletes it while another waits on it lets a third lock a new file, and two
     * commits run at once again.
     */
    public static final String LOCK_FILE = ".falcon-outputs.lock";

    /**
     * How long a shutdown hook waits for a commit in progress: the renames take milliseconds, and the hook that removes
     * temporary files must not pull them from under a commit halfway through its set. A device write stuck on a pipe
     * whose reader has stopped must not keep the JVM from ending, though.
     */
    static final long SHUTDOWN_WAIT_MILLIS = 5000;

    /**
     * How long a stop waits, from the stop or from when the commit went on to them, for a commit whose files are all in
     * place and which writes only devices and stdout: such a write is fast, or waits on a reader that may never come (a
     * consumer that stopped reading), and waiting the whole SHUTDOWN_WAIT_MILLIS for it made a stopped run end 6.4 s after
     * the signal. A reader that comes within it still gets the whole output.
     */
    static final long STREAM_WAIT_MILLIS = 2000;

    /** When the commit under way began writing its devices and stdout (System.nanoTime), or 0 while it does not. */
    private static volatile long writingStreamsSince;

    /** How long a commit waits for another process's in its directory before it says so. */
    static final long QUIET_LOCK_WAIT_MILLIS = 2000;

    /**
     * Within this JVM: a second FileChannel lock on the same file throws instead of waiting, so this goes first. An entry
     * lives only while commits hold or wait for it: kept for good, a JVM that writes into ever new directories grew by
     * one entry per directory (about 300 bytes; 20,000 batches, 6 MB).
     */
    private static final ConcurrentHashMap<Path, DirectoryLock> DIRECTORY_LOCKS = new ConcurrentHashMap<>();

    private static final class DirectoryLock {
        final ReentrantLock lock = new ReentrantLock();
        /** Commits holding or waiting for the lock; changed only inside DIRECTORY_LOCKS.compute for its directory. */
        int users;
    }

    private static DirectoryLock joinDirectoryLock(Path dir) {
        return DIRECTORY_LOCKS.compute(dir, (d, l) -> {
            DirectoryLock joined = l == null ? new DirectoryLock() : l;
            joined.users++;
            return joined;
        });
    }

    private static void leaveDirectoryLock(Path dir) {
        DIRECTORY_LOCKS.computeIfPresent(dir, (d, l) -> --l.users == 0 ? null : l);
    }

    /** Directories with a commit holding or waiting for their lock in this JVM. */
    static int directoryLocksInUse() { return DIRECTORY_LOCKS.size(); }

    /**
     * Held shared while a commit renames and while a temporary file or directory is created and registered; the shutdown
     * hook takes it exclusively before removing the temporaries.
     */
    private static final ReentrantReadWriteLock COMMITTING = new ReentrantReadWriteLock();
    private static volatile boolean stopping;

    static {
        try {
            ShutdownHooks.add(new Thread(AtomicFiles::removePendingAtShutdown, "falcon-remove-temporary-outputs"));
        } catch (IllegalStateException shuttingDown) {
            // first used while the JVM is already stopping: the failure paths still remove what they create
        }
    }

    private static void removePendingAtShutdown() {
        stopping = true; // a commit that has not begun its renames does not begin them
        boolean locked = awaitCommit(SHUTDOWN_WAIT_MILLIS);
        try {
            PENDING_TEMPS.forEach(AtomicFiles::deleteQuietly);
            PENDING_DIRECTORIES.stream().sorted(java.util.Comparator.comparingInt(Path::getNameCount).reversed()).forEach(d -> {
                removeIfOnlyTheLockFile(d);
                deleteQuietly(d); // only an empty one goes: a directory someone else filled meanwhile stays
            });
        } finally {
            if (locked) COMMITTING.writeLock().unlock();
        }
    }

    /**
     * Takes the commits' write lock once the commit under way (if any) has ended, waiting at most {@code millis}, or
     * STREAM_WAIT_MILLIS (from this call, or from when the commit went on to them) of its writes to devices and stdout;
     * false when it has not ended by then. An interrupt does not
     * end the wait (a hook must not leave a commit halfway) and is kept for the caller.
     */
    private static boolean awaitCommit(long millis) {
        long began = System.nanoTime();
        long deadline = began + TimeUnit.MILLISECONDS.toNanos(millis);
        boolean interrupted = false;
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                long streams = writingStreamsSince;
                if (streams != 0) {
                    left = Math.min(left, Math.max(began, streams) + TimeUnit.MILLISECONDS.toNanos(STREAM_WAIT_MILLIS) - System.nanoTime());
                }
                try {
                    // in steps, so that a commit that goes on to its streams meanwhile is waited for only as long as they are
                    if (COMMITTING.writeLock().tryLock(Math.max(0, Math.min(left, TimeUnit.MILLISECONDS.toNanos(50))), TimeUnit.NANOSECONDS)) {
                        return true;
                    }
                } catch (InterruptedException e) {
                    interrupted = true;
                }
                if (left <= 0) return false;
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /**
     * Refuses every commit that has not begun its renames from now on, and waits up to {@code millis} for one that has;
     * false when it has not ended by then. A stopped run's report calls this to know whether its outputs were written.
     */
    public static boolean stopCommits(long millis) {
        stopping = true;
        if (!awaitCommit(millis)) return false;
        COMMITTING.writeLock().unlock();
        return true;
    }

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
        try (Batch batch = new Batch()) {
            batch.add(target, writer);
            batch.commit();
        }
    }

    /**
     * Outputs that appear together or not at all (pruned weights, mask, report): each is written to its own temporary
     * file first, and only when all are written are they renamed over their targets, so a failure in the last one
     * leaves every earlier target as it was (an old result is neither replaced nor deleted). Closing without
     * {@link #commit()} removes the temporary files. A target that exists and is neither a regular file nor a
     * directory (a device such as /dev/null, a pipe) is written in place at commit: renaming over it would replace the
     * device with a file.
     */
    public static final class Batch implements AutoCloseable {
        private record Staged(Path target, String field, Path temp, TempWriter direct) {
            /** Staged in {@code temp} and copied to stdout at commit, after the files and devices. */
            boolean toStdout() {
                return target == STANDARD_OUTPUT;
            }
        }

        private final List<Staged> staged = new ArrayList<>();
        private final List<Path> createdDirectories = new ArrayList<>();
        /**
         * The hidden files named as this batch's outputs' temporary files or links to replaced content, as they were when
         * the output was added (size and time of last change): one still so at the commit is most likely left by a killed
         * run, where one another run is writing changes meanwhile (see {@link #warnOfLeftovers}).
         */
        private final java.util.Map<Path, List<Object>> hiddenAtAdd = new java.util.LinkedHashMap<>();
        /** Set under the commit lock, so that {@link #stopCommits} followed by {@link #committed()} tells a commit that ended from one refused. */
        private volatile boolean committed;
        /**
         * The targets a commit under way has finished (renamed, or written for a device or stdout), for a stop that cannot
         * wait for the rest: a stdout nobody reads holds the commit after its files are in place, complete.
         */
        private final List<Path> finished = new java.util.concurrent.CopyOnWriteArrayList<>();

        /**
         * Creates the directories missing above {@code target}. They are the batch's outputs too: closing without
         * {@link #commit()} removes those still empty, so a run that fails leaves no new directory behind either.
         */
        public void createParentDirectories(Path target) {
            createParentDirectories(target, OUTPUT);
        }

        /** As {@link #createParentDirectories(Path)}, naming the output {@code field} in its errors, as {@link #add(Path, String, TempWriter)}. */
        public void createParentDirectories(Path target, String field) {
            Path parent = target.toAbsolutePath().getParent();
            List<Path> missing = new ArrayList<>();
            for (Path d = parent; d != null && !Files.exists(d); d = d.getParent()) missing.add(d);
            for (int i = missing.size() - 1; i >= 0; i--) {
                Path d = missing.get(i);
                try {
                    whileNotStopping(() -> {
                        Files.createDirectory(d);
                        PENDING_DIRECTORIES.add(d);
                        return d;
                    });
                    createdDirectories.add(d);
                } catch (FileAlreadyExistsException e) {
                    if (!Files.isDirectory(d)) throw InputException.of(target, field, d + " is not a directory", "choose another output path");
                } catch (IOException e) {
                    throw InputException.of(target, field, "cannot create directory " + d + " (" + ReadFailures.detail(e) + ")",
                            "choose a writable location");
                }
            }
        }

        /** Writes {@code target}'s content to a temporary file next to it (or keeps the writer for a device target). */
        public void add(Path target, TempWriter writer) {
            add(target, OUTPUT, writer);
        }

        /**
         * As {@link #add(Path, TempWriter)}; the errors about this output, here and at {@link #commit()}, name it
         * {@code field} (a CLI's option, such as --out), where they would say "output".
         */
        public void add(Path target, String field, TempWriter writer) {
            if (committed) throw new IllegalStateException("batch already committed");
            Path absolute = target.toAbsolutePath();
            Path dir = absolute.getParent();
            if (dir != null && !Files.isDirectory(dir)) {
                throw InputException.of(target, field, "the directory " + dir + " does not exist",
                        "create it first or choose another output path");
            }
            if (Files.isDirectory(absolute)) {
                throw InputException.of(target, field, "is a directory", "name a file, not a directory");
            }
            if (Files.exists(absolute) && !Files.isRegularFile(absolute)) {
                staged.add(new Staged(absolute, field, null, writer));
                return;
            }
            try {
                noteHiddenFiles(absolute);
                Path temp = createTemp(dir, absolute.getFileName().toString());
                staged.add(new Staged(absolute, field, temp, null));
                // before the content goes in: a file its user made private is not readable by others while it is written
                Set<PosixFilePermission> kept = keepModeAndGroup(absolute, temp);
                writer.write(temp);
                try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
                if (kept != null && !kept.equals(Files.getPosixFilePermissions(temp))) Files.setPosixFilePermissions(temp, kept);
            } catch (IOException e) {
                throw cannotWrite(target, field, false, e);
            }
        }

        /**
         * Writes the content for this process's stdout (file descriptor 1, whatever it is: a pipe, a terminal, a file
         * it is redirected to, a socket) at {@link #commit()}, after the files and the devices. The content is staged
         * in a file of its own in java.io.tmpdir (readable by this user only), so that stdout gets nothing unless every
         * output was written; errors name the output {@code stdout} and {@code field}.
         */
        public void addStandardOutput(String field, TempWriter writer) {
            if (committed) throw new IllegalStateException("batch already committed");
            String tmp = System.getProperty("java.io.tmpdir");
            try {
                Path temp = whileNotStopping(() -> {
                    Path created = createStandardOutputStaging(tmp);
                    PENDING_TEMPS.add(created);
                    return created;
                });
                staged.add(new Staged(STANDARD_OUTPUT, field, temp, null));
                writer.write(temp);
            } catch (IOException | java.nio.file.InvalidPathException e) {
                throw cannotStage(tmp, field, e);
            }
        }

        /** Fails as {@link #addStandardOutput} would where java.io.tmpdir cannot hold its content: before any work. */
        public static void checkStandardOutputStaging(String field) {
            String tmp = System.getProperty("java.io.tmpdir");
            try {
                Files.delete(createStandardOutputStaging(tmp));
            } catch (IOException | java.nio.file.InvalidPathException e) {
                throw cannotStage(tmp, field, e);
            }
        }

        private static Path createStandardOutputStaging(String tmp) throws IOException {
            return Files.createTempFile(Path.of(tmp), ".falcon-stdout-", ".tmp");
        }

        private static InputException cannotStage(String tmp, String field, Exception e) {
            return InputException.of(tmp, "java.io.tmpdir", "cannot hold what " + field + " writes to stdout until the outputs are complete ("
                    + e + ")", "make it a writable directory with free space, set TMPDIR to one (the launcher passes it on), or give another"
                    + " with FALCON_JAVA_OPTS=-Djava.io.tmpdir=DIR");
        }

        /**
         * Copies the staged content to file descriptor 1 itself: /dev/stdout opened again truncated a file stdout appends
         * to, and a socket cannot be opened.
         */
        private static void copyToStandardOutput(Path temp) throws IOException {
            System.out.flush();
            // not closed: that would close file descriptor 1
            FileChannel stdout = new java.io.FileOutputStream(java.io.FileDescriptor.out).getChannel();
            try (FileChannel in = FileChannel.open(temp, StandardOpenOption.READ)) {
                java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(1 << 20);
                while (in.read(buffer) >= 0) {
                    buffer.flip();
                    while (buffer.hasRemaining()) stdout.write(buffer);
                    buffer.clear();
                }
            }
        }

        /**
         * Renames every temporary file over its target, then writes the devices, then stdout. A rename or a device (or
         * stdout) write that fails puts back the targets already replaced (from hard links to them taken just before)
         * and removes the ones that were new, so the files are all new or all as they were (what reached a device cannot
         * be taken back). With two or more outputs, the renames are made holding the lock of each directory renamed into
         * (see {@link AtomicFiles}), and so is the putting back after a device or stdout write fails.
         */
        public void commit() {
            if (committed) throw new IllegalStateException("batch already committed");
            List<AutoCloseable> locks = lockDirectories();
            List<Renamed> renamed;
            COMMITTING.readLock().lock();
            try {
                try {
                    // the shutdown hook removes the temporary files: renaming some of them first would leave a mixed set
                    if (stopping) throw new StoppedException("before the outputs were written");
                    renamed = renameFiles();
                } finally {
                    // held through the device and stdout writes, which wait for their reader, every other run writing
                    // into these directories (a sweep's shared out/) waited for a consumer that read late, or never
                    release(locks);
                }
                writeDevicesAndStandardOutput(renamed);
                committed = true;
            } finally {
                COMMITTING.readLock().unlock();
            }
            Set<Path> dirs = new LinkedHashSet<>();
            for (Renamed r : renamed) dirs.add(r.target().getParent());
            for (Path dir : dirs) syncDirectory(dir);
            warnOfLeftovers();
        }

        /**
         * A run killed with SIGKILL (the OOM killer, a scheduler's hard limit, Popen.kill()) cannot remove its temporary
         * files nor the links to the content its commit replaced: hidden and of an output's size, they stayed next to the
         * outputs for good, and no later run said so. Which run one belongs to, and whether that run still lives, cannot
         * be told from the file (a run on another host, or of another user, may be writing it now), so the commit that
         * writes the same outputs names them and says how to remove them, rather than removing them itself: those that
         * were there when the batch added its outputs and have not changed since (a run writing one changes it).
         */
        private void warnOfLeftovers() {
            List<Path> left = new ArrayList<>();
            long bytes = 0;
            for (var noted : hiddenAtAdd.entrySet()) {
                List<Object> now = sizeAndChange(noted.getKey());
                if (now == null || !now.equals(noted.getValue()) || PENDING_TEMPS.contains(noted.getKey())) continue;
                left.add(noted.getKey());
                bytes += (Long) now.get(0);
            }
            if (left.isEmpty()) return;
            String names = left.stream().limit(10).map(Path::toString).collect(java.util.stream.Collectors.joining(" "))
                    + (left.size() > 10 ? " and " + (left.size() - 10) + " more" : "");
            String size = ByteCounts.of(bytes);
            int count = left.size();
            LOG.log(System.Logger.Level.WARNING, () -> count + (count == 1 ? " hidden file" : " hidden files") + " of " + size + " in all"
                    + " next to the outputs, most likely left by a falcon run killed while it wrote them (SIGKILL: the out-of-memory"
                    + " killer, a scheduler's hard limit), which nothing removes: " + names + " (.NAME.TOKEN.tmp is an output not yet"
                    + " renamed into place, .NAME.TOKEN.previous an output's content before a commit replaced it); unless another falcon"
                    + " run is writing these outputs now, remove them with rm");
        }

        /** Notes the hidden files next to {@code target} named as its temporary file or link to replaced content. */
        private void noteHiddenFiles(Path target) {
            String name = target.getFileName().toString();
            try (java.util.stream.Stream<Path> entries = Files.list(target.getParent())) {
                for (Path p : (Iterable<Path>) entries::iterator) {
                    if (!isHiddenNameOf(p.getFileName().toString(), name)) continue;
                    List<Object> state = sizeAndChange(p);
                    if (state != null) hiddenAtAdd.put(p, state);
                }
            } catch (IOException | RuntimeException e) {
                // best effort: nothing is said of them
            }
        }

        /** The file's size and time of last change, not following a link; null where it is gone. */
        private static List<Object> sizeAndChange(Path file) {
            try {
                var a = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                return List.of(a.size(), a.lastModifiedTime(), String.valueOf(a.fileKey()));
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        /**
         * Whether {@code file} is a name {@link #hiddenName} gives next to the output {@code name}: "." + name (cut to
         * fit) + "." + a hex token + ".tmp" or ".previous".
         */
        static boolean isHiddenNameOf(String file, String name) {
            String suffix = file.endsWith(".tmp") ? ".tmp" : file.endsWith(".previous") ? ".previous" : null;
            if (suffix == null || !file.startsWith(".")) return false;
            String stem = file.substring(1, file.length() - suffix.length());
            int dot = stem.lastIndexOf('.');
            if (dot <= 0 || dot == stem.length() - 1 || stem.length() - dot - 1 > 16) return false;
            for (int i = dot + 1; i < stem.length(); i++) {
                if (Character.digit(stem.charAt(i), 16) < 0 || Character.isUpperCase(stem.charAt(i))) return false;
            }
            String namePart = stem.substring(0, dot);
            // a long name is cut to fit NAME_MAX (at a character's boundary, so up to 3 bytes short of it)
            return namePart.equals(name) || (namePart.length() < name.length() && name.startsWith(namePart)
                    && utf8Length(file) >= NAME_MAX_BYTES - 3);
        }

        /**
         * A named pipe's open waits for a reader, and its writes for one that reads: with none (a consumer not started
         * yet, or gone) a run that had done all its work waited without a word, for good. Said once, after as long as a
         * commit waits for another's without a word.
         */
        private static java.util.concurrent.CompletableFuture<Void> warnWhileUnread(Staged s) {
            boolean namedPipe;
            try {
                namedPipe = ((Integer) Files.getAttribute(s.target(), "unix:mode") & 0170000) == 0010000;
            } catch (IOException | RuntimeException e) {
                namedPipe = false;
            }
            if (!namedPipe) return java.util.concurrent.CompletableFuture.completedFuture(null);
            return java.util.concurrent.CompletableFuture.runAsync(() -> LOG.log(System.Logger.Level.WARNING, () -> "waiting for " + s.target() + " ("
                    + s.field() + "), a named pipe, to be read: nothing has opened it for reading, or its reader has stopped; the output is"
                    + " written as soon as it reads"), java.util.concurrent.CompletableFuture.delayedExecutor(QUIET_LOCK_WAIT_MILLIS, TimeUnit.MILLISECONDS));
        }

        /** Whether every output of the batch has been renamed into place (or written to its device). */
        public boolean committed() {
            return committed;
        }

        /**
         * Whether a commit under way has finished the output {@code target} (as given to {@link #add}, or
         * {@code Path.of("stdout")} for stdout).
         */
        public boolean finished(Path target) {
            return finished.contains(target.toAbsolutePath()) || (target.equals(STANDARD_OUTPUT) && finished.contains(STANDARD_OUTPUT));
        }

        /**
         * A target renamed into place: the link to its previous content (null where it was new), and the identity of the
         * file renamed there (null where the file system has none), which tells whether another run replaced it since.
         */
        private record Renamed(Path target, Path previous, Object fileKey) {}

        /** Renames every temporary file over its target; a rename that fails puts back those already made. */
        private List<Renamed> renameFiles() {
            List<Renamed> renamed = new ArrayList<>();
            try {
                for (Staged s : staged) {
                    if (s.temp() == null || s.toStdout()) continue;
                    Path previous = linkToPrevious(s.target());
                    try {
                        move(s.temp(), s.target());
                    } catch (IOException e) {
                        if (previous != null) {
                            deleteQuietly(previous);
                            PENDING_TEMPS.remove(previous);
                        }
                        throw cannotWrite(s.target(), s.field(), false, e);
                    }
                    PENDING_TEMPS.remove(s.temp());
                    renamed.add(new Renamed(s.target(), previous, fileKey(s.target())));
                    finished.add(s.target());
                }
            } catch (RuntimeException e) {
                finished.clear(); // put back as they were
                for (int i = renamed.size() - 1; i >= 0; i--) putBack(renamed.get(i).target(), renamed.get(i).previous());
                throw e;
            }
            return renamed;
        }

        /**
         * Writes the devices, then stdout; one that fails puts back the files renamed before, holding the directories'
         * locks again, and only those no other run has replaced since the locks were released: putting back this run's
         * old content over another run's complete set would mix the two.
         */
        private void writeDevicesAndStandardOutput(List<Renamed> renamed) {
            writingStreamsSince = System.nanoTime();
            try {
                // a device that fails (/dev/full, a pipe whose reader is gone) fails the batch too: the renamed files
                // were left behind next to the error (--report written, exit 2, when --out /dev/full could not be)
                for (Staged s : staged) {
                    if (s.temp() != null) continue;
                    java.util.concurrent.CompletableFuture<Void> warning = warnWhileUnread(s);
                    try {
                        s.direct().write(s.target());
                    } catch (IOException e) {
                        throw cannotWrite(s.target(), s.field(), true, e);
                    } finally {
                        warning.cancel(false);
                    }
                    finished.add(s.target());
                }
                for (Staged s : staged) {
                    if (!s.toStdout()) continue;
                    try {
                        copyToStandardOutput(s.temp());
                    } catch (IOException e) {
                        throw cannotWrite(s.target(), s.field(), true, e);
                    }
                    finished.add(s.target());
                }
            } catch (RuntimeException e) {
                finished.clear(); // put back as they were
                putBackWhereStillThisRuns(renamed, e);
                throw e;
            } finally {
                writingStreamsSince = 0;
            }
            for (Renamed r : renamed) {
                if (r.previous() != null) {
                    deleteQuietly(r.previous());
                    PENDING_TEMPS.remove(r.previous());
                }
            }
            PENDING_DIRECTORIES.removeAll(createdDirectories); // they hold outputs now
        }

        private void putBackWhereStillThisRuns(List<Renamed> renamed, RuntimeException failure) {
            List<AutoCloseable> locks = List.of();
            try {
                locks = lockDirectories();
            } catch (RuntimeException interrupted) {
                failure.addSuppressed(interrupted); // put back all the same: the check of each target is still made
            }
            try {
                for (int i = renamed.size() - 1; i >= 0; i--) {
                    Renamed r = renamed.get(i);
                    Object now = fileKey(r.target());
                    if (r.fileKey() == null || r.fileKey().equals(now)) {
                        putBack(r.target(), r.previous());
                    } else if (r.previous() != null) {
                        deleteQuietly(r.previous()); // another run's output is there now, and stays
                        PENDING_TEMPS.remove(r.previous());
                    }
                }
            } finally {
                release(locks);
            }
        }

        /** The identity of the file at {@code path} (device and inode on POSIX), not following a link; null where there is none. */
        private static Object fileKey(Path path) {
            try {
                return Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        /**
         * Locks every directory the batch renames into, in the order of their real paths (the same in every process, so
         * two runs with outputs in two directories cannot each hold one and wait for the other). One output needs no
         * lock: its rename is atomic, and there is no set to mix.
         */
        private List<AutoCloseable> lockDirectories() {
            List<AutoCloseable> held = new ArrayList<>();
            if (staged.size() < 2) return held;
            TreeMap<String, Path> dirs = new TreeMap<>();
            for (Staged s : staged) {
                if (s.temp() == null || s.toStdout()) continue;
                Path dir = s.temp().getParent();
                try {
                    dir = dir.toRealPath();
                } catch (IOException e) {
                    // the rename that follows says what is wrong with the directory
                }
                dirs.put(dir.toString(), dir);
            }
            boolean locked = false;
            try {
                for (Path dir : dirs.values()) {
                    ReentrantLock inJvm = joinDirectoryLock(dir).lock;
                    held.add(() -> leaveDirectoryLock(dir));
                    try {
                        inJvm.lockInterruptibly();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while waiting for another commit of outputs in " + dir, e);
                    }
                    held.add(inJvm::unlock);
                    LockFile lockFile = openLockFile(dir);
                    if (lockFile == null) continue; // warned; the renames are still serialized within this JVM
                    held.add(lockFile.channel()); // closing it releases the lock
                    lockBetweenProcesses(lockFile.channel(), dir, lockFile.shared());
                }
                locked = true;
                return held;
            } finally {
                if (!locked) release(held);
            }
        }

        /** A lock file's channel, and whether it is open only for reading (a shared lock is all it can take). */
        private record LockFile(FileChannel channel, boolean shared) {}

        /**
         * The directory's lock file, open for writing; open only for reading where this user may not write it (after a
         * warning); null where it cannot be opened at all (after a warning).
         */
        private static LockFile openLockFile(Path dir) {
            Path file = dir.resolve(LOCK_FILE);
            for (int attempt = 0; ; attempt++) {
                try {
                    FileChannel created = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
                    grantWhatTheDirectoryGrants(file, dir);
                    return new LockFile(created, false);
                } catch (FileAlreadyExistsException exists) {
                    // the usual case: opened below
                } catch (IOException | UnsupportedOperationException | SecurityException e) {
                    warnUnlocked(dir, e);
                    return null;
                }
                // an open for writing waits for a reader of a named pipe, forever, and may act on a device
                if (warnedOfWhatElseItIs(file)) return null;
                try {
                    // without CREATE: Linux's fs.protected_regular (1 on most systemd distributions) refuses an O_CREAT
                    // open of a file that neither this user nor the directory's owner owns in a sticky world-writable
                    // directory (/tmp), however writable the file is
                    // nor through a link: it opened and locked whatever the link pointed to (a file of another user's
                    // that this one may write, a device), and a link to a named pipe held the commit in the open forever
                    FileChannel existing = FileChannel.open(file, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
                    // one an earlier falcon made with the umask's mode: every other user sharing the folder went on
                    // without the lock until its owner changed it by hand
                    if (ownedByThisUser(file)) grantWhatTheDirectoryGrants(file, dir);
                    return new LockFile(existing, false);
                } catch (java.nio.file.NoSuchFileException removed) {
                    if (attempt < 3) continue; // removed by hand between the two opens: create it again
                    warnUnlocked(dir, removed);
                    return null;
                } catch (java.nio.file.AccessDeniedException denied) {
                    return openForASharedLock(file, dir, denied);
                } catch (IOException | UnsupportedOperationException | SecurityException e) {
                    if (!warnedOfWhatElseItIs(file)) warnUnlocked(dir, e);
                    return null;
                }
            }
        }

        /**
         * Warns where the lock file is a symbolic link, a named pipe, a device or a socket (which falcon never made: one a
         * user or another program put there), naming it and how to remove it; false where it is a regular file or a
         * directory (whose open says what is wrong), or where that cannot be told.
         */
        private static boolean warnedOfWhatElseItIs(Path file) {
            String what;
            try {
                what = switch ((Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000) {
                    case 0120000 -> "a symbolic link to " + Files.readSymbolicLink(file) + ", which falcon does not follow (it would open and lock"
                            + " whatever the link points to)";
                    case 0010000 -> "a named pipe, which falcon does not open (it would wait for a reader)";
                    case 0020000, 0060000 -> "a device, which falcon does not open";
                    case 0140000 -> "a socket, which cannot be opened";
                    default -> null;
                };
            } catch (IOException | RuntimeException e) {
                return false; // not a POSIX file system: the open says what is wrong
            }
            if (what == null) return false;
            LOG.log(System.Logger.Level.WARNING, () -> "cannot lock " + file + ": it is " + what + "; another process writing the same outputs"
                    + " at the same time could mix its files with this run's; remove it (rm " + file + "): the next run creates the lock file");
            return true;
        }

        /**
         * A lock file this user may read but not write (one an earlier falcon made with the umask's mode, or one its
         * owner narrowed): POSIX grants an exclusive lock only on a file open for writing, but a shared
         * lock on one open for reading still keeps this commit apart from those of every user who can write the file
         * (they wait for it, and it waits for them). Two users who can only read it are not kept apart: the warning
         * says so, and names the chmod its owner can make.
         */
        private static LockFile openForASharedLock(Path file, Path dir, java.nio.file.AccessDeniedException denied) {
            FileChannel readOnly;
            try {
                readOnly = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
            } catch (IOException | UnsupportedOperationException | SecurityException e) {
                if (!warnedOfWhatElseItIs(file)) warnUnlocked(dir, denied);
                return null;
            }
            String owner, chmod;
            try {
                owner = Files.getOwner(file).getName();
                chmod = Files.getPosixFilePermissions(dir).contains(PosixFilePermission.OTHERS_WRITE) ? "a+w" : "g+w";
            } catch (IOException | UnsupportedOperationException | SecurityException e) {
                owner = "its owner";
                chmod = "g+w";
            }
            String who = owner, mode = chmod;
            LOG.log(System.Logger.Level.WARNING, () -> "cannot lock " + file + " for writing (" + denied + "): this commit waits for runs of users who can write it"
                    + " (a shared lock), but another process of a user who cannot could mix its files with this run's; " + who
                    + " can make it writable for everyone who writes outputs there: chmod " + mode + " " + file);
            return new LockFile(readOnly, true);
        }

        /** Whether the file (not a link to it) belongs to the user this process runs as; false where that cannot be told. */
        private static boolean ownedByThisUser(Path file) {
            try {
                var me = file.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(System.getProperty("user.name"));
                return me.equals(Files.getOwner(file, java.nio.file.LinkOption.NOFOLLOW_LINKS));
            } catch (IOException | UnsupportedOperationException | SecurityException e) {
                return false; // a user without a name (a container's uid with no passwd entry): left as it is
            }
        }

        /**
         * Gives a lock file of this user's (just created, or made by an earlier falcon) the write access its directory
         * grants, which the umask (0022 as a rule) took away: in a directory a group or everyone writes outputs into (a
         * team folder, /tmp), another user could not open it for writing, and committed without the lock. The file is empty and never
         * read, so writing it gains nothing beyond the lock; in a sticky directory (/tmp) only this user can remove or
         * replace it. The lock file of a directory only this user writes keeps the umask's mode. The change is made
         * without following links, and only to a regular file with one link: in a directory others write without the
         * sticky bit, one of them could have put another file in its place meanwhile.
         */
        private static void grantWhatTheDirectoryGrants(Path file, Path dir) {
            try {
                Set<PosixFilePermission> granted = Files.getPosixFilePermissions(dir);
                var view = Files.getFileAttributeView(file, java.nio.file.attribute.PosixFileAttributeView.class, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                if (view == null) return;
                var attributes = view.readAttributes();
                if (!attributes.isRegularFile() || ((Number) Files.getAttribute(file, "unix:nlink", java.nio.file.LinkOption.NOFOLLOW_LINKS)).intValue() != 1) return;
                Set<PosixFilePermission> mode = java.util.EnumSet.noneOf(PosixFilePermission.class);
                mode.addAll(attributes.permissions());
                if (granted.contains(PosixFilePermission.GROUP_WRITE)) {
                    mode.addAll(List.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE));
                    // in a group's folder without the setgid bit the file gets this user's primary group, not the
                    // folder's; this user can give it the folder's only where it is a member of it
                    try {
                        var folderGroup = Files.readAttributes(dir, java.nio.file.attribute.PosixFileAttributes.class).group();
                        if (!folderGroup.equals(attributes.group())) view.setGroup(folderGroup);
                    } catch (IOException notAMember) {
                        // group-writable for this user's group then, which is all this user can give
                    }
                }
                if (granted.contains(PosixFilePermission.OTHERS_WRITE)) {
                    mode.addAll(List.of(PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE));
                }
                if (!mode.equals(attributes.permissions())) view.setPermissions(mode);
            } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException e) {
                // not a POSIX file system (its own rules, or ACLs, decide who may write it): left as it was made
            }
        }

        /**
         * Waits for the lock of the directory's lock file, or warns where it cannot be had: the renames are then
         * serialized only within this JVM.
         */
        static void lockBetweenProcesses(FileChannel channel, Path dir) {
            lockBetweenProcesses(channel, dir, false);
        }

        /** As above; {@code shared} for a channel open only for reading. */
        private static void lockBetweenProcesses(FileChannel channel, Path dir, boolean shared) {
            try {
                // a run waiting on another's commit said nothing, however long the other took (a hung network file
                // system): one line says what it waits for, once the wait is longer than the renames of runs of a sweep
                // that write into one directory take
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(QUIET_LOCK_WAIT_MILLIS);
                while (true) {
                    if (channel.tryLock(0, Long.MAX_VALUE, shared) != null) return;
                    if (System.nanoTime() > deadline) break;
                    Thread.sleep(20);
                }
                LOG.log(System.Logger.Level.WARNING, () -> "waiting for another process writing outputs in " + dir + " (it holds the lock on "
                        + dir.resolve(LOCK_FILE) + ") to finish its set");
                channel.lock(0, Long.MAX_VALUE, shared);
            } catch (FileLockInterruptionException | ClosedByInterruptException | InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for another process's commit of outputs in " + dir, e);
            } catch (IOException | OverlappingFileLockException | UnsupportedOperationException e) {
                warnUnlocked(dir, e); // a file system without locks ("No locks available")
            }
        }

        /**
         * A commit that cannot lock its directory went on without a word, and the README's promise that two runs writing
         * the same outputs end with one run's set did not hold: the user is told, and what to do.
         */
        private static void warnUnlocked(Path dir, Exception e) {
            LOG.log(System.Logger.Level.WARNING, () -> "cannot lock " + dir.resolve(LOCK_FILE) + " (" + e + "): another process"
                    + " writing the same outputs at the same time could mix its files with this run's; make the lock file one this"
                    + " user can write, on a file system with POSIX locks, or give runs that overlap their own output directories");
        }

        private static void release(List<AutoCloseable> held) {
            for (int i = held.size() - 1; i >= 0; i--) {
                try {
                    held.get(i).close();
                } catch (Exception ignored) {
                    // closing a lock file's channel: nothing to recover
                }
            }
        }

        /**
         * A hard link to the target's current content, or a copy of it where no link can be made; null when it has
         * none, or when neither can be made (the target then has no rollback: a warning says so).
         */
        private static Path linkToPrevious(Path target) {
            if (!Files.isRegularFile(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return null;
            boolean copy = false;
            for (int attempt = 0; attempt < 100; attempt++) {
                Path link = target.resolveSibling(hiddenName(target.getFileName().toString(), ".previous"));
                try {
                    if (copy) {
                        Files.copy(target, link, java.nio.file.LinkOption.NOFOLLOW_LINKS, StandardCopyOption.COPY_ATTRIBUTES);
                    } else {
                        Files.createLink(link, target);
                    }
                    PENDING_TEMPS.add(link);
                    return link;
                } catch (FileAlreadyExistsException e) {
                    // another name
                } catch (IOException | UnsupportedOperationException | SecurityException e) {
                    // a file system without hard links, or protected_hardlinks refusing another user's file this user may
                    // replace but not write: without the old content a failed commit could only delete the result it
                    // replaced, so it is copied (the cost of one read of the file, on such file systems alone)
                    if (copy) {
                        deleteQuietly(link);
                        LOG.log(System.Logger.Level.WARNING, () -> "cannot keep the previous content of " + target + " (" + e
                                + "): if writing another output fails after it is replaced, it cannot be put back");
                        return null;
                    }
                    copy = true;
                    attempt--;
                }
            }
            return null;
        }

        private static void putBack(Path target, Path previous) {
            try {
                if (previous != null) {
                    move(previous, target);
                    PENDING_TEMPS.remove(previous);
                } else {
                    Files.deleteIfExists(target);
                }
            } catch (IOException e) {
                // best effort: the error that stopped the commit is the one reported
            }
        }

        private static void move(Path from, Path to) throws IOException {
            try {
                Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
            }
        }

        @Override
        public void close() {
            for (Staged s : staged) {
                if (s.temp() == null) continue;
                deleteQuietly(s.temp());
                PENDING_TEMPS.remove(s.temp());
            }
            if (committed) return;
            for (int i = createdDirectories.size() - 1; i >= 0; i--) {
                removeIfOnlyTheLockFile(createdDirectories.get(i));
                deleteQuietly(createdDirectories.get(i)); // a directory someone else filled meanwhile stays
                PENDING_DIRECTORIES.remove(createdDirectories.get(i));
            }
        }
    }

    /**
     * A commit that failed in a directory the batch created may have left the lock file there, and with it the directory.
     * Where anything else is in it another run is using it, and the lock file stays (see {@link #LOCK_FILE}).
     */
    private static void removeIfOnlyTheLockFile(Path dir) {
        try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
            List<Path> all = entries.limit(2).toList();
            if (all.size() == 1 && all.get(0).getFileName().toString().equals(LOCK_FILE)) deleteQuietly(all.get(0));
        } catch (IOException | RuntimeException e) {
            // best effort
        }
    }

    /** Whether the error is the system's "No space left on device" (ENOSPC), in English or in this process's locale. */
    public static boolean isNoSpace(IOException e) {
        return SystemErrors.isNoSpace(e);
    }

    /**
     * The bytes free at a failure that "no space" cannot be the lack of: a write that ran out of bytes leaves next to
     * none, and one out of inodes or over a quota of files leaves the bytes as they were.
     */
    static final long FREE_BYTES_OF_A_FULL_FILE_SYSTEM = 1 << 20;

    /**
     * A file system that refused a new file for want of space (ENOSPC), with the bytes this user may still write on it
     * (0 where that cannot be told). The one reading of that refusal, for the prune's pre-flight and for the write
     * alike: they had each their own wording, and differed.
     */
    public record NoSpace(Path dir, long free) {
        /** The file system of {@code dir}, with its free bytes as they are now. */
        public static NoSpace on(Path dir) {
            return new NoSpace(dir, usableSpace(dir));
        }

        /** Whether its bytes ran out, not its inodes or this user's quota of files. */
        public boolean full() {
            return free < FREE_BYTES_OF_A_FULL_FILE_SYSTEM;
        }

        /**
         * What it lacks, said after "the file system of DIR": "full; free space on it" sent a user whose file system had
         * no inodes left to df -h, which showed it empty.
         */
        public String lack() {
            return full() ? "is full" : "has no space for a new file, though it has " + ByteCounts.of(free) + " free: it is most likely out of"
                    + " inodes, or this user's quota of files is used up (check df -i " + dir + ")";
        }
    }

    /**
     * "TARGET: FIELD: cannot write (the error); the fix": one fix for every cause ("check that the directory exists, is
     * writable and has free space") sent a user whose disk was full, or whose file name was too long, to look at the
     * wrong thing. The cause is told by the exception's type where it has one, else by the system's error text, in
     * English or as this process's locale gives it (see {@link SystemErrors}). A full disk or quota, a storage error and
     * a reader gone are the machine's failures (exit 1), the rest the choice of path (exit 2).
     */
    private static InputException cannotWrite(Path target, String field, boolean device, IOException e) {
        Path dir = target.toAbsolutePath().getParent();
        String fix;
        boolean ofTheMachine = false;
        if (e instanceof java.nio.file.AccessDeniedException || SystemErrors.isPermissionDenied(e)) {
            fix = device ? "this user may not write it; choose an output this user may write"
                    : "this user may not write in " + dir + "; choose a location this user may write, or have its owner grant write access";
        } else if (e instanceof java.nio.file.NoSuchFileException) {
            fix = "check that " + dir + " still exists (it may have been removed during the run), or choose another output path";
        } else if (SystemErrors.isNoSpace(e)) {
            ofTheMachine = true;
            NoSpace noSpace = device ? null : NoSpace.on(dir);
            fix = device ? "the device is full; choose another output"
                    : "the file system of " + dir + " " + noSpace.lack() + (noSpace.full() ? "; free space on it" : "; remove files there")
                            + ", or choose an output path on another file system";
        } else if (SystemErrors.isQuotaExceeded(e)) {
            ofTheMachine = true;
            fix = "this user's disk quota on the file system of " + dir + " is used up; free space within it, or choose an output"
                    + " path on another file system";
        } else if (SystemErrors.isReadOnlyFileSystem(e)) {
            fix = dir + " is on a read-only file system; choose an output path on a writable one";
        } else if (SystemErrors.isNameTooLong(e)) {
            int bytes = target.getFileName().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            fix = bytes > NAME_MAX_BYTES ? "the name is " + bytes + " bytes in UTF-8, more than file systems allow (most, " + NAME_MAX_BYTES
                    + "); give a shorter name" : "the path is longer than the system allows; give a shorter one";
        } else if (SystemErrors.isNotPermitted(e)) {
            fix = "this user may not replace or create it there (a file of another user's in a sticky directory, or an immutable or"
                    + " append-only file or directory); choose another output path";
        } else if (SystemErrors.isBrokenPipe(e)) {
            ofTheMachine = true;
            fix = "the pipe's reader stopped reading before falcon had written everything; keep it reading to the end, or give a file";
        } else if (SystemErrors.isIoError(e)) {
            ofTheMachine = true;
            fix = "the storage under " + (device ? target : dir) + " reported an error; check it (the system log says more), or choose"
                    + " an output path on another file system";
        } else {
            fix = "check that the directory exists, is writable and has free space";
        }
        String message = target + ": " + field + ": cannot write (" + e + "); " + fix;
        return ofTheMachine ? InputException.ofTheMachine(message, e) : new InputException(message, e);
    }

    /**
     * Gives the temporary file that replaces {@code target} the target's group (where this user may: a member of it, or
     * root) and its mode, with write access for its owner while it is written; returns the target's mode, null where
     * there is no target (a new output keeps the umask's mode) or no POSIX mode. A rename replaces the file, not its
     * mode: a report its user had made private (chmod 600) or group-only became readable by everyone at the next run.
     */
    private static Set<PosixFilePermission> keepModeAndGroup(Path target, Path temp) {
        java.nio.file.attribute.PosixFileAttributes previous;
        try {
            previous = Files.readAttributes(target, java.nio.file.attribute.PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null; // a new output, or not a POSIX file system: its own rules decide
        }
        if (!previous.isRegularFile()) return null; // a link is replaced by a file of its own, as any rename replaces it
        var view = Files.getFileAttributeView(temp, java.nio.file.attribute.PosixFileAttributeView.class);
        try {
            if (!previous.group().equals(view.readAttributes().group())) view.setGroup(previous.group());
        } catch (IOException | SecurityException notAMember) {
            // this user's group then, which is all it can give
        }
        Set<PosixFilePermission> writable = java.util.EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
        writable.addAll(previous.permissions());
        try {
            view.setPermissions(writable);
        } catch (IOException | SecurityException e) {
            return null;
        }
        return previous.permissions();
    }

    /** The bytes this user may still write on the file system of {@code dir}; 0 where that cannot be told. */
    private static long usableSpace(Path dir) {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * A new hidden file next to the target. Unlike {@code Files.createTempFile} (mode 0600) it gets the
     * default permissions (umask), so a new output is as readable as any other file; one that replaces a file takes
     * that file's mode instead ({@link #keepModeAndGroup}).
     */
    private static Path createTemp(Path dir, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path temp = dir.resolve(hiddenName(name, ".tmp"));
            try {
                return whileNotStopping(() -> {
                    Path created = Files.createFile(temp);
                    PENDING_TEMPS.add(created);
                    return created;
                });
            } catch (FileAlreadyExistsException e) {
                if (attempt > 100) throw e;
            }
        }
    }

    /**
     * Refuses, before any work, an output whose name, or the name of a folder to be created for it, is longer than its
     * file system takes, and one whose path, with the temporary file's name written next to it first, is longer than
     * the system takes: either failed only at the commit, after the whole solve.
     * <p>
     * The file system is asked, by looking the names up in the nearest folder that exists: that creates nothing (a
     * probe file could be left behind by a kill), and each file system checks a name against its own limit, in its own
     * units. A fixed 255 bytes would refuse names that vfat, exFAT, NTFS or SMB mounts take (255 UTF-16 units: 100 CJK
     * characters are 300 bytes) and pass ones eCryptfs refuses (143 bytes). A file system that does not check names on
     * lookup still fails at the commit, with the fix for the cause.
     */
    public static void checkNameLengths(Path target, String field) {
        Path absolute = target.toAbsolutePath();
        Path name = absolute.getFileName();
        Path dir = absolute.getParent();
        if (name == null || dir == null) return;
        int pathBytes = utf8Length(absolute.toString());
        // the longest path the commit hands the system: the temporary file's, or the link to the previous content's
        int nameBytes = utf8Length(name.toString());
        int hiddenBytes = Math.min(NAME_MAX_BYTES, 1 + nameBytes + 1 + 16 + ".previous".length());
        int committedBytes = pathBytes - nameBytes + Math.max(nameBytes, hiddenBytes);
        int pathMax = SystemErrors.PATH_MAX_BYTES - 1;
        if (committedBytes > pathMax) {
            throw InputException.of(target, field, "the path is " + pathBytes + " bytes in UTF-8" + (pathBytes > pathMax ? ""
                    : ", " + committedBytes + " with the name of the temporary file written next to it first") + ", more than the "
                    + pathMax + " the system takes", "give a shorter path");
        }
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) return;
        Path existing = dir;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null || !Files.isDirectory(existing)) return; // the checks of the folders say what is wrong
        Path missing = existing.relativize(absolute);
        for (int i = 0; i < missing.getNameCount(); i++) {
            Path part = missing.getName(i);
            boolean isFile = i == missing.getNameCount() - 1;
            if (SystemErrors.nameTooLongToLookUp(existing.resolve(part))) {
                throw InputException.of(target, field, (isFile ? "the name is " : "the folder name " + part + " is ") + utf8Length(part.toString())
                        + " bytes in UTF-8, more than " + limitOf(existing), isFile ? "give a shorter name" : "give a shorter folder name");
            }
        }
        String hidden = hiddenName(name.toString(), ".previous");
        if (SystemErrors.nameTooLongToLookUp(existing.resolve(hidden))) {
            throw InputException.of(target, field, "the name is " + nameBytes + " bytes in UTF-8, and with the " + (utf8Length(hidden) - nameBytes)
                    + " falcon adds for the temporary file written first more than " + limitOf(existing), "give a shorter name");
        }
    }

    /** "the N bytes the file system of DIR takes", N found by looking up names of N bytes; without N where none is refused. */
    private static String limitOf(Path dir) {
        int ok = 1, refused = SystemErrors.PATH_MAX_BYTES - 2 - utf8Length(dir.toString());
        if (refused <= ok || !SystemErrors.nameTooLongToLookUp(dir.resolve("x".repeat(refused)))) return "the file system of " + dir + " takes";
        while (refused - ok > 1) {
            int mid = (ok + refused) >>> 1;
            if (SystemErrors.nameTooLongToLookUp(dir.resolve("x".repeat(mid)))) refused = mid;
            else ok = mid;
        }
        return "the " + ok + " the file system of " + dir + " takes";
    }

    private static int utf8Length(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    }

    /** What the errors call an output written to stdout. */
    private static final Path STANDARD_OUTPUT = Path.of("stdout");

    /** What the errors call an output given without a field of its own. */
    private static final String OUTPUT = "output";

    /** The longest file name most file systems take (NAME_MAX: ext4, XFS, Btrfs, tmpfs, ZFS), in bytes. */
    static final int NAME_MAX_BYTES = 255;

    /**
     * A new hidden name next to the file {@code name}: "." + name + "." + a random token + {@code suffix}. A name the
     * file system accepts, of up to 255 bytes, made this one longer than it allows, and the run failed after its whole
     * solve with "File name too long": the copy of the name is cut to fit, at a character's boundary, counting the
     * bytes of its UTF-8 form (what Linux stores); the token keeps it unique.
     */
    static String hiddenName(String name, String suffix) {
        String token = "." + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1) + suffix; // ASCII: a byte a char
        int room = NAME_MAX_BYTES - 1 - token.length();
        int end = 0;
        for (int bytes = 0; end < name.length(); ) {
            int c = name.codePointAt(end);
            bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
            if (bytes > room) break;
            end += Character.charCount(c);
        }
        return "." + name.substring(0, end) + token;
    }

    private interface Creation<T> {
        T create() throws IOException;
    }

    /**
     * Creates a temporary file or directory and registers it for the shutdown hook, or refuses once the hook has begun:
     * one created after the hook's pass (a run that goes on writing its outputs while the JVM stops, e.g. after
     * --grads-command was killed) stayed behind when the JVM halted before the run's own cleanup.
     */
    private static <T> T whileNotStopping(Creation<T> creation) throws IOException {
        COMMITTING.readLock().lock();
        try {
            if (stopping) throw new StoppedException("before the outputs were written");
            return creation.create();
        } finally {
            COMMITTING.readLock().unlock();
        }
    }

    private static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // best effort: nothing more can be done
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
