package dev.falcon.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir Path dir;

    /** The files in the directory, but the lock file a batch of two or more outputs leaves there on purpose. */
    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(name -> !name.equals(AtomicFiles.LOCK_FILE)).sorted().toList();
        }
    }

    @Test
    void writesAndReplacesLeavingOnlyTheTarget() throws IOException {
        Path target = dir.resolve("out.txt");
        AtomicFiles.write(target, temp -> {
            assertEquals(dir, temp.getParent());
            assertTrue(temp.getFileName().toString().startsWith("."), "temp file is hidden");
            Files.writeString(temp, "first");
        });
        AtomicFiles.write(target, temp -> Files.writeString(temp, "second"));
        assertEquals("second", Files.readString(target));
        if (Files.getFileStore(target).supportsFileAttributeView("posix")) {
            assertTrue(Files.getPosixFilePermissions(target).contains(java.nio.file.attribute.PosixFilePermission.OWNER_READ));
            assertTrue(Files.isReadable(target));
        }
        assertEquals(List.of("out.txt"), listing());
    }

    /**
     * A rename replaces the file, not its mode: a report its user had made private (0600), or weights made group-only
     * (0640), became readable by everyone (the umask's 0644) at the next run that wrote them. Their group is kept too,
     * where this user may set it.
     */
    @Test
    void aReplacedOutputKeepsItsModeAndGroup() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.getFileStore(dir).supportsFileAttributeView("posix"), "no POSIX modes here");
        Path report = dir.resolve("r.json"), weights = dir.resolve("w.npy"), fresh = dir.resolve("m.npy");
        Files.writeString(report, "old");
        Files.writeString(weights, "old");
        Files.setPosixFilePermissions(report, PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(weights, PosixFilePermissions.fromString("rw-r-----"));
        var groups = dir.getFileSystem().getUserPrincipalLookupService();
        java.nio.file.attribute.GroupPrincipal otherGroup = null;
        for (String name : List.of("daemon", "nogroup", "users")) {
            try {
                var g = groups.lookupPrincipalByGroupName(name);
                if (g.equals(Files.readAttributes(weights, java.nio.file.attribute.PosixFileAttributes.class).group())) continue;
                Files.getFileAttributeView(weights, java.nio.file.attribute.PosixFileAttributeView.class).setGroup(g);
                otherGroup = g;
                break;
            } catch (IOException notAllowed) {
                // not a member of it: the mode alone is checked
            }
        }
        String umaskMode;
        Path probe = Files.createFile(dir.resolve("probe"));
        umaskMode = PosixFilePermissions.toString(Files.getPosixFilePermissions(probe));
        Files.delete(probe);
        try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
            batch.add(report, temp -> Files.writeString(temp, "new"));
            batch.add(weights, temp -> Files.writeString(temp, "new"));
            batch.add(fresh, temp -> Files.writeString(temp, "new"));
            batch.commit();
        }
        assertEquals("new", Files.readString(report));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(report)));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(weights)));
        assertEquals(umaskMode, PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh)), "a new output has the umask's mode");
        if (otherGroup != null) {
            assertEquals(otherGroup, Files.readAttributes(weights, java.nio.file.attribute.PosixFileAttributes.class).group());
        }
    }

    /**
     * A batch's commit takes a lock for each directory it writes into; the JVM kept one for every directory ever written
     * (about 300 bytes each), so an embedder writing each run's outputs into a directory of its own grew without end.
     */
    @Test
    void batchesInManyDirectoriesKeepNoLockOnceCommitted() throws IOException {
        int before = AtomicFiles.directoryLocksInUse();
        for (int k = 0; k < 50; k++) {
            Path run = Files.createDirectory(dir.resolve("run-" + k));
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(run.resolve("a.txt"), temp -> Files.writeString(temp, "a"));
                batch.add(run.resolve("b.txt"), temp -> Files.writeString(temp, "b"));
                batch.commit();
            }
            assertEquals("b", Files.readString(run.resolve("b.txt")));
        }
        assertEquals(before, AtomicFiles.directoryLocksInUse(), "directory locks kept after their commits");
    }

    @Test
    void ioFailureLeavesNoTempAndNoTarget() throws IOException {
        Path target = dir.resolve("out.npy");
        InputException e = assertThrows(InputException.class, () -> AtomicFiles.write(target, temp -> {
            Files.writeString(temp, "partial");
            throw new IOException("disk full");
        }));
        assertTrue(e.getMessage().contains("out.npy") && e.getMessage().contains("disk full"), e.getMessage());
        assertEquals(List.of(), listing());
    }

    @Test
    void runtimeFailureIsRethrownAndKeepsThePreviousTarget() throws IOException {
        Path target = dir.resolve("keep.txt");
        Files.writeString(target, "old");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> AtomicFiles.write(target, temp -> {
            Files.writeString(temp, "half");
            throw new IllegalStateException("boom");
        }));
        assertEquals("boom", e.getMessage());
        assertEquals("old", Files.readString(target));
        assertEquals(List.of("keep.txt"), listing());
    }

    @Test
    void missingDirectoryIsAnInputException() {
        Path target = dir.resolve("no/such/dir/out.npy");
        InputException e = assertThrows(InputException.class, () -> AtomicFiles.write(target, temp -> Files.writeString(temp, "x")));
        assertTrue(e.getMessage().contains("out.npy"));
        assertFalse(Files.exists(dir.resolve("no")));
    }

    @Test
    void npyWriterIsAtomic() throws IOException {
        Path target = dir.resolve("w.npy");
        try (FloatPointer p = new FloatPointer(1f, 2f)) {
            assertThrows(IllegalArgumentException.class, () -> Npy.writeFloat32(target, p, new long[] {3}));
            Npy.writeFloat32(target, p, new long[] {2});
        }
        assertEquals(List.of("w.npy"), listing());
    }

    @Test
    void aBatchReplacesNothingUnlessEveryOutputWasWritten() throws IOException {
        Path weights = dir.resolve("w.npy"), report = dir.resolve("r.json");
        Files.writeString(weights, "old weights");
        Files.writeString(report, "old report");
        assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(weights, temp -> Files.writeString(temp, "new weights"));
                batch.add(report, temp -> {
                    throw new IOException("no space left on device");
                });
                batch.commit();
            }
        });
        assertEquals("old weights", Files.readString(weights), "the first output must not be replaced when a later one fails");
        assertEquals("old report", Files.readString(report));
        assertEquals(List.of("r.json", "w.npy"), listing(), "no temporary file is left");
        try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
            batch.add(weights, temp -> Files.writeString(temp, "new weights"));
            batch.add(report, temp -> Files.writeString(temp, "new report"));
            assertEquals("old weights", Files.readString(weights), "nothing is replaced before the commit");
            batch.commit();
        }
        assertEquals("new weights", Files.readString(weights));
        assertEquals("new report", Files.readString(report));
        assertEquals(List.of("r.json", "w.npy"), listing());
    }

    /**
     * A batch that could not lock its directory (a lock file it may not write, another user's; a file system without
     * POSIX locks) committed without a word, and two runs writing the same outputs could mix their sets: it still
     * commits, and warns naming the lock file.
     */
    @Test
    void aBatchThatCannotLockItsDirectoryWarnsNamingTheLockFile() throws IOException {
        Path lockFile = Files.createDirectory(dir.resolve(AtomicFiles.LOCK_FILE)); // cannot be opened for writing
        List<String> warnings = warningsWhile(() -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(dir.resolve("w.npy"), temp -> Files.writeString(temp, "weights"));
                batch.add(dir.resolve("r.json"), temp -> Files.writeString(temp, "report"));
                batch.commit();
            }
        });
        assertEquals("weights", Files.readString(dir.resolve("w.npy")));
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("cannot lock " + lockFile.toRealPath()) && warnings.get(0).contains("could mix"), warnings.get(0));
        // and where the file opens but the file system has no locks
        try (java.nio.channels.FileChannel noLocks = new NoLocksChannel()) {
            List<String> lockless = warningsWhile(() -> AtomicFiles.Batch.lockBetweenProcesses(noLocks, dir));
            assertEquals(1, lockless.size(), lockless.toString());
            assertTrue(lockless.get(0).contains("No locks available") && lockless.get(0).contains(AtomicFiles.LOCK_FILE), lockless.get(0));
        }
    }

    /**
     * A lock file name that is a symbolic link was followed: falcon opened and locked whatever it pointed to (a file of
     * another user's that this one may write, a device), and a link to a named pipe held the commit forever in the open;
     * a dangling link was reported as a lock file that does not exist. The link is not followed: the outputs are
     * committed, and the warning names the link and says to remove it.
     */
    @Test
    void aLockFileThatIsASymbolicLinkIsNotFollowed() throws Exception {
        Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
        Path pipe = elsewhere.resolve("pipe");
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor() == 0, "mkfifo is not available here");
        Path missing = elsewhere.resolve("missing");
        for (Path target : List.of(pipe, missing)) {
            Path out = Files.createDirectory(dir.resolve("out-" + target.getFileName()));
            Path lockFile = Files.createSymbolicLink(out.resolve(AtomicFiles.LOCK_FILE), target);
            List<String> warnings = commitWithoutWaitingOn(pipe, out, "the commit opened the link's target " + target + " and waited on it");
            assertEquals("parent", Files.readString(out.resolve("r.json")));
            assertTrue(Files.isSymbolicLink(lockFile), "the link is the user's to remove");
            assertFalse(Files.exists(missing, java.nio.file.LinkOption.NOFOLLOW_LINKS), "the link's target was created");
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).contains("cannot lock " + out.toRealPath().resolve(AtomicFiles.LOCK_FILE))
                    && warnings.get(0).contains("symbolic link to " + target) && warnings.get(0).contains("rm " + out.toRealPath().resolve(AtomicFiles.LOCK_FILE)),
                    warnings.get(0));
        }
    }

    /**
     * Commits two outputs into {@code out} as the parent and returns the warnings; a commit still running after 10 s is
     * taken to wait in the open of {@code pipe} for a reader: one is opened to let it go, and the test fails with
     * {@code waited}.
     */
    private static List<String> commitWithoutWaitingOn(Path pipe, Path out, String waited) {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            return warningsWhile(() -> {
                java.util.concurrent.Future<?> commit = pool.submit(() -> commitAsParent(out.resolve("w.npy"), out.resolve("r.json")));
                try {
                    commit.get(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    try (var reader = java.nio.channels.FileChannel.open(pipe, java.nio.file.StandardOpenOption.READ)) {
                        // opened: the commit's open returns
                    } catch (IOException ignored) {
                        // the assertion says what went wrong
                    }
                    throw new AssertionError(waited);
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * A named pipe in the lock file's place (one any user who writes the folder can make) held every commit there in
     * the open, which waits for a reader, forever. It is not opened: the outputs are committed, and the warning names
     * it and says to remove it.
     */
    @Test
    void aLockFileThatIsANamedPipeIsNotOpened() throws Exception {
        Path pipe = dir.resolve(AtomicFiles.LOCK_FILE);
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor() == 0, "mkfifo is not available here");
        List<String> warnings = commitWithoutWaitingOn(pipe, dir, "the commit opened the named pipe " + pipe + " and waited for a reader");
        assertEquals("parent", Files.readString(dir.resolve("r.json")));
        assertFalse(Files.isRegularFile(pipe), "the pipe is the user's to remove");
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("cannot lock " + pipe.toRealPath()) && warnings.get(0).contains("a named pipe")
                && warnings.get(0).contains("rm " + pipe.toRealPath()), warnings.get(0));
    }

    /**
     * The lock file was created with the process's umask (0644 as a rule): in an output directory shared by a group or
     * by everyone (a team folder, /tmp) another user could not open it for writing, and committed without the lock.
     * It gets the write access its directory grants, and no more where the directory is this user's alone.
     */
    @Test
    void aNewLockFileGetsTheWriteAccessItsDirectoryGrants() throws Exception {
        Path team = Files.createDirectory(dir.resolve("team")), everyone = Files.createDirectory(dir.resolve("everyone")),
                own = Files.createDirectory(dir.resolve("own"));
        Files.setPosixFilePermissions(team, PosixFilePermissions.fromString("rwxrwx---"));
        Files.setPosixFilePermissions(own, PosixFilePermissions.fromString("rwx------"));
        chmod("1777", everyone);
        for (Path d : List.of(team, everyone, own)) commitAsParent(d.resolve("w.npy"), d.resolve("r.json"));
        Set<PosixFilePermission> teamLock = Files.getPosixFilePermissions(team.resolve(AtomicFiles.LOCK_FILE));
        assertTrue(teamLock.containsAll(Set.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE)), teamLock.toString());
        Set<PosixFilePermission> everyonesLock = Files.getPosixFilePermissions(everyone.resolve(AtomicFiles.LOCK_FILE));
        assertTrue(everyonesLock.containsAll(Set.of(PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE)),
                everyonesLock.toString());
        Path umaskOnly = Files.createFile(own.resolve("as-the-umask-makes-it"));
        assertEquals(Files.getPosixFilePermissions(umaskOnly), Files.getPosixFilePermissions(own.resolve(AtomicFiles.LOCK_FILE)));
    }

    /**
     * A lock file an earlier falcon made with the umask's mode stayed so: every other user sharing the folder went on
     * committing without the lock (or, now, with a shared one and a warning). Its owner's next commit gives it the
     * write access the folder grants.
     */
    @Test
    void aLockFileMadeWithTheUmasksModeIsWidenedByItsOwner() throws Exception {
        Path team = Files.createDirectory(dir.resolve("team"));
        Files.setPosixFilePermissions(team, PosixFilePermissions.fromString("rwxrwx---"));
        Path lockFile = Files.createFile(team.resolve(AtomicFiles.LOCK_FILE));
        Files.setPosixFilePermissions(lockFile, PosixFilePermissions.fromString("rw-r--r--"));
        commitAsParent(team.resolve("w.npy"), team.resolve("r.json"));
        assertEquals("rw-rw-r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(lockFile)));
    }

    /**
     * Another user committing into a directory shared with this one (here a sticky, world-writable one, as /tmp) while
     * this process holds the lock: it could not open this user's lock file for writing, warned and committed at once.
     * It waits for the lock; and with a lock file made by an earlier falcon (0644) it waits too, on a shared lock, and
     * its warning says how the owner makes the file writable. Needs root, to run the other user's JVM.
     */
    @Test
    void anotherUserInASharedDirectoryWaitsForThisUsersLock() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "skipped: only root can run a JVM as another user (nobody) to commit into the same directory");
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("setpriv", "--version").start().waitFor() == 0, "skipped: setpriv is not available");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path shared = Files.createDirectory(dir.resolve("shared"));
        chmod("1777", shared);
        Path classes = readableClassPath();
        commitAsParent(shared.resolve("w.npy"), shared.resolve("r.json"));
        // outputs of their own: in a sticky directory no user may replace another's files
        Path weights = shared.resolve("their-w.npy"), report = shared.resolve("their-r.json");
        for (String lockMode : List.of("as created", "rw-r--r--")) {
            Path lockFile = shared.resolve(AtomicFiles.LOCK_FILE);
            if (!lockMode.equals("as created")) Files.setPosixFilePermissions(lockFile, PosixFilePermissions.fromString(lockMode));
            Path said = dir.resolve("nobody.log");
            Process child;
            try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(lockFile, java.nio.file.StandardOpenOption.WRITE);
                 java.nio.channels.FileLock held = channel.lock()) {
                List<String> cmd = new java.util.ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", classes.toString(), CommitsTwoFiles.class.getName(),
                        weights.toString(), report.toString(), lockMode));
                child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(said.toFile()).start();
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!Files.readString(said).contains("committing") && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
                Thread.sleep(1500);
                assertTrue(child.isAlive(), lockMode + ": the other user's commit did not wait for this user's lock: " + Files.readString(said));
                assertFalse(Files.exists(report) && Files.readString(report).endsWith(lockMode), "committed while this user held the lock");
            }
            try {
                assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the other user's commit did not end");
                String log = Files.readString(said);
                assertEquals(0, child.exitValue(), log);
                assertEquals("nobody " + lockMode, Files.readString(report));
                if (lockMode.equals("as created")) {
                    assertFalse(log.contains("cannot lock"), log);
                } else {
                    assertTrue(log.contains("cannot lock " + lockFile.toRealPath()) && log.contains("chmod a+w " + lockFile.toRealPath()), log);
                }
            } finally {
                child.destroyForcibly();
            }
        }
    }

    private static void chmod(String mode, Path path) throws IOException, InterruptedException {
        assertEquals(0, new ProcessBuilder("chmod", mode, path.toString()).inheritIO().start().waitFor());
    }

    /** This test's class directories copied where another user can read them (~/.m2 and the clone may be private). */
    private Path readableClassPath() throws IOException {
        Path copy = Files.createDirectory(dir.resolve("classes"));
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path from = Path.of(entry);
            if (!Files.isDirectory(from)) continue; // the module's own classes are all the child needs
            try (Stream<Path> files = Files.walk(from)) {
                for (Path f : files.toList()) {
                    Path to = copy.resolve(from.relativize(f).toString());
                    if (Files.isDirectory(f)) Files.createDirectories(to);
                    else Files.copy(f, to, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        try (Stream<Path> files = Files.walk(copy)) {
            for (Path f : files.toList()) Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(Files.isDirectory(f) ? "rwxr-xr-x" : "rw-r--r--"));
        }
        return copy;
    }

    /** A child JVM that says when it begins to commit two files, each holding the user's name and a token. */
    /**
     * Where the target's previous content could not be hard-linked (a file system without hard links, or Linux's
     * protected_hardlinks: another user's file this user may replace in its directory but not write), a commit that
     * failed afterwards deleted the target instead of putting back the result it replaced.
     */
    @Test
    void aTargetThatCannotBeHardLinkedIsPutBackWhenTheCommitFails() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "skipped: only root can run a JVM as another user (nobody) to replace root's file");
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("setpriv", "--version").start().waitFor() == 0, "skipped: setpriv is not available");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/sys/fs/protected_hardlinks"))
                && Files.readString(Path.of("/proc/sys/fs/protected_hardlinks")).trim().equals("1"),
                "skipped: without fs.protected_hardlinks = 1 another user's file can be hard-linked");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path shared = Files.createDirectory(dir.resolve("team"));
        chmod("0777", shared); // not sticky: any user may replace the files in it
        Path weights = shared.resolve("w.npy");
        Files.writeString(weights, "root's weights");
        chmod("0644", weights);
        Path classes = readableClassPath();
        Path said = dir.resolve("nobody.log");
        List<String> cmd = List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", classes.toString(),
                CommitsThenFailsOnADevice.class.getName(), weights.toString());
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(said.toFile()).start();
        try {
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the other user's commit did not end");
            String log = Files.readString(said);
            assertEquals(0, child.exitValue(), log);
            assertTrue(log.contains("commit failed"), log);
        } finally {
            child.destroyForcibly();
        }
        assertTrue(Files.exists(weights), "the failed commit deleted the result it had replaced");
        assertEquals("root's weights", Files.readString(weights), "the result it replaced is put back");
        try (Stream<Path> left = Files.list(shared)) {
            assertEquals(List.of("w.npy"), left.map(f -> f.getFileName().toString()).filter(f -> !f.equals(AtomicFiles.LOCK_FILE)).sorted().toList(),
                    "no temporary file or copy is left");
        }
    }

    /** Replaces its argument, then fails on a device (as --out /dev/full does), as the user it runs as. */
    static final class CommitsThenFailsOnADevice {
        public static void main(String[] args) throws IOException {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(Path.of(args[0]), temp -> Files.writeString(temp, "nobody's weights"));
                batch.add(Path.of("/dev/null"), device -> {
                    throw new IOException("No space left on device");
                });
                batch.commit();
            } catch (InputException e) {
                System.out.println("commit failed: " + e.getMessage());
            }
        }
    }

    static final class CommitsTwoFiles {
        public static void main(String[] args) throws IOException {
            String content = System.getProperty("user.name") + " " + args[2];
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(Path.of(args[0]), temp -> Files.writeString(temp, content));
                batch.add(Path.of(args[1]), temp -> Files.writeString(temp, content));
                System.out.println("committing");
                System.out.flush();
                batch.commit();
            }
        }
    }

    /**
     * A run killed with SIGKILL while it wrote its outputs (the out-of-memory killer, a scheduler's hard limit) leaves its
     * hidden temporary files and links to the replaced content, of an output's size, next to the outputs: no later run
     * removed or named them. The next commit of those outputs names them, their size, and that rm removes them; a file
     * of another name that only looks alike is not named, nor one another run writes meanwhile.
     */
    @Test
    void aCommitNamesTheHiddenFilesAKilledRunLeftNextToItsOutputs() throws IOException {
        Path out = dir.resolve("o.npy"), report = dir.resolve("r.json");
        Path tmp = Files.writeString(dir.resolve(".o.npy.6933410e8e5f9b1e.tmp"), "x".repeat(1000));
        Path previous = Files.writeString(dir.resolve(".r.json.dc4086915fb83e4.previous"), "{}");
        Path unrelated = Files.writeString(dir.resolve(".other.npy.6933410e8e5f9b1e.tmp"), "y");
        Path notOurs = Files.writeString(dir.resolve(".o.npy.notahex.tmp"), "z");
        // another run's, which it is writing meanwhile
        Path live = Files.writeString(dir.resolve(".r.json.abc.tmp"), "{");
        List<String> warnings = warningsWhile(() -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(out, temp -> Files.writeString(temp, "new"));
                batch.add(report, temp -> {
                    Files.writeString(live, "\"a\": 1}", java.nio.file.StandardOpenOption.APPEND);
                    Files.writeString(temp, "{}");
                });
                batch.commit();
            }
        });
        assertEquals("new", Files.readString(out));
        assertEquals(1, warnings.size(), warnings.toString());
        String said = warnings.get(0);
        assertTrue(said.startsWith("2 hidden files of 1002 B in all next to the outputs, most likely left by a falcon run killed"), said);
        assertTrue(said.contains("which nothing removes: " + tmp + " " + previous + " ("), said);
        assertTrue(said.endsWith("unless another falcon run is writing these outputs now, remove them with rm"), said);
        assertFalse(said.contains(unrelated.toString()) || said.contains(notOurs.toString()) || said.contains(live.toString()), said);
        // a commit with nothing left over says nothing
        Files.delete(tmp);
        Files.delete(previous);
        assertEquals(List.of(), warningsWhile(() -> AtomicFiles.write(out, temp -> Files.writeString(temp, "newer"))));
    }

    private static List<String> warningsWhile(Runnable action) {
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(AtomicFiles.class.getName());
        List<String> warnings = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override public void publish(java.util.logging.LogRecord r) {
                if (r.getLevel().intValue() >= java.util.logging.Level.WARNING.intValue()) warnings.add(r.getMessage());
            }
            @Override public void flush() {}
            @Override public void close() {}
        };
        logger.addHandler(handler);
        try {
            action.run();
        } finally {
            logger.removeHandler(handler);
        }
        return warnings;
    }

    /** A channel on a file system without POSIX locks (an NFS mount without its lock daemon): locking fails. */
    private static final class NoLocksChannel extends java.nio.channels.FileChannel {
        @Override public java.nio.channels.FileLock lock(long position, long size, boolean shared) throws IOException {
            throw new IOException("No locks available");
        }
        @Override public java.nio.channels.FileLock tryLock(long position, long size, boolean shared) throws IOException {
            throw new IOException("No locks available");
        }
        @Override public int read(java.nio.ByteBuffer dst) { throw new UnsupportedOperationException(); }
        @Override public long read(java.nio.ByteBuffer[] dsts, int offset, int length) { throw new UnsupportedOperationException(); }
        @Override public int write(java.nio.ByteBuffer src) { throw new UnsupportedOperationException(); }
        @Override public long write(java.nio.ByteBuffer[] srcs, int offset, int length) { throw new UnsupportedOperationException(); }
        @Override public long position() { return 0; }
        @Override public java.nio.channels.FileChannel position(long newPosition) { return this; }
        @Override public long size() { return 0; }
        @Override public java.nio.channels.FileChannel truncate(long size) { return this; }
        @Override public void force(boolean metaData) {}
        @Override public long transferTo(long position, long count, java.nio.channels.WritableByteChannel target) { return 0; }
        @Override public long transferFrom(java.nio.channels.ReadableByteChannel src, long position, long count) { return 0; }
        @Override public int read(java.nio.ByteBuffer dst, long position) { throw new UnsupportedOperationException(); }
        @Override public int write(java.nio.ByteBuffer src, long position) { throw new UnsupportedOperationException(); }
        @Override public java.nio.MappedByteBuffer map(MapMode mode, long position, long size) { throw new UnsupportedOperationException(); }
        @Override protected void implCloseChannel() {}
    }

    @Test
    void aFailedBatchRemovesTheDirectoriesItCreated() throws IOException {
        Path weights = dir.resolve("new/deeper/w.npy"), report = dir.resolve("reports/r.json");
        assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.createParentDirectories(weights);
                batch.add(weights, temp -> Files.writeString(temp, "new weights"));
                batch.createParentDirectories(report);
                batch.add(report, temp -> {
                    throw new IOException("no space left on device");
                });
                batch.commit();
            }
        });
        assertEquals(List.of(), listing(), "a failed run leaves no new directory behind");
        // a commit that fails after taking the lock of the new directory: neither the lock file nor the directory stays
        assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.createParentDirectories(weights);
                batch.add(weights, temp -> Files.writeString(temp, "new weights"));
                batch.add(weights.resolveSibling("r.json"), temp -> Files.writeString(temp, "new report"));
                batch.add(Path.of("/dev/null"), target -> {
                    throw new IOException("No space left on device");
                });
                batch.commit();
            }
        });
        assertEquals(List.of(), listing(), "a failed commit leaves no new directory behind");
        try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
            batch.createParentDirectories(weights);
            batch.add(weights, temp -> Files.writeString(temp, "new weights"));
            batch.commit();
        }
        assertEquals("new weights", Files.readString(weights));
    }

    @Test
    void aRenameThatFailsPutsBackTheTargetsAlreadyReplaced() throws IOException {
        Path weights = dir.resolve("w.npy"), mask = dir.resolve("m.npy"), report = dir.resolve("r.json");
        Files.writeString(weights, "old weights");
        Files.writeString(report, "old report");
        assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(weights, temp -> Files.writeString(temp, "new weights"));
                batch.add(mask, temp -> Files.writeString(temp, "new mask"));
                batch.add(report, temp -> Files.writeString(temp, "new report"));
                // the report's target turns into a non-empty directory between the writes and the renames
                Files.delete(report);
                Files.createDirectories(report.resolve("inside"));
                batch.commit();
            }
        });
        assertEquals("old weights", Files.readString(weights), "a replaced target is put back");
        assertFalse(Files.exists(mask), "a target that was new is removed");
        assertEquals(List.of("r.json", "w.npy"), listing(), "no temporary file or link is left");
    }

    @Test
    void aDeviceThatCannotBeWrittenPutsBackTheFilesAlreadyRenamed() throws IOException {
        Path device = Path.of("/dev/null");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device) && !Files.isRegularFile(device), "no /dev/null here");
        Path weights = dir.resolve("w.npy"), report = dir.resolve("r.json");
        Files.writeString(weights, "old weights");
        assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(weights, temp -> Files.writeString(temp, "new weights"));
                // --out /dev/full, or a pipe whose reader has gone
                batch.add(device, target -> {
                    throw new IOException("No space left on device");
                });
                batch.add(report, temp -> Files.writeString(temp, "new report"));
                batch.commit();
            }
        });
        assertEquals("old weights", Files.readString(weights), "a replaced target is put back");
        assertEquals(List.of("w.npy"), listing(), "a new target is removed; no temporary file or link is left");
    }

    /**
     * A name the file system accepts (up to 255 bytes) made the hidden temporary name ("." + name + ".<16 hex>.tmp")
     * longer than that: the run failed after its whole solve with "File name too long". The link to the previous content
     * had the same fault, so a failed commit deleted such a target instead of putting its old content back. Names
     * are counted in bytes: 125 'ü' are 129 characters but 254 bytes.
     */
    @Test
    void aTargetWhoseNameIsNearTheFileSystemsLimitIsWritten() throws IOException {
        List<String> names = new java.util.ArrayList<>(List.of("w".repeat(251) + ".npy"));
        if (java.nio.charset.StandardCharsets.UTF_8.name().equals(System.getProperty("sun.jnu.encoding"))) names.add("ü".repeat(125) + ".npy");
        for (String name : names) {
            Path target = dir.resolve(name);
            AtomicFiles.write(target, temp -> {
                assertTrue(temp.getFileName().toString().startsWith("."), "the temporary file is hidden: " + temp.getFileName());
                Files.writeString(temp, "old");
            });
            assertEquals("old", Files.readString(target));
            assertThrows(InputException.class, () -> {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(target, temp -> Files.writeString(temp, "new"));
                    batch.add(dir.resolve("r.json"), temp -> Files.writeString(temp, "report"));
                    batch.add(Path.of("/dev/null"), device -> {
                        throw new IOException("No space left on device");
                    });
                    batch.commit();
                }
            });
            assertEquals("old", Files.readString(target), "the old content is put back");
            assertEquals(List.of(name), listing(), "no temporary file or link is left");
            Files.delete(target);
        }
    }

    /**
     * A write that failed said "FILE: output: cannot write (...); check that the directory exists, is writable and has
     * free space", whatever the cause, and never named the option the CLI was given for the file: the field given with
     * the output is named, and the fix fits the cause where the error tells it.
     */
    @Test
    void aFailedWriteNamesTheOutputsFieldAndAFixForItsCause() throws IOException {
        Path target = dir.resolve("w.npy");
        String temp = dir.resolve(".w.npy.1.tmp").toString();
        java.util.Map<IOException, String> fixes = new java.util.LinkedHashMap<>();
        // the test's folder has bytes free: "no space" then is the lack of inodes or a quota of files, not of bytes
        fixes.put(new IOException("No space left on device"), "the file system of " + dir + " has no space for a new file, though it has ");
        fixes.put(new java.nio.file.FileSystemException(temp, null, "No space left on device"), "most likely out of inodes, or this user's quota"
                + " of files is used up (check df -i " + dir + "); remove files there, or choose an output path on another file system");
        fixes.put(new java.nio.file.FileSystemException(temp, null, "Disk quota exceeded"), "disk quota");
        fixes.put(new java.nio.file.AccessDeniedException(temp), "this user may not write in " + dir);
        fixes.put(new java.nio.file.FileSystemException(temp, null, "Read-only file system"), dir + " is on a read-only file system");
        fixes.put(new java.nio.file.FileSystemException(temp, null, "Operation not permitted"), "immutable");
        fixes.put(new java.nio.file.FileSystemException(temp, null, "Input/output error"), "the storage under " + dir + " reported an error");
        fixes.put(new IOException("Stale file handle"), "check that the directory exists, is writable and has free space");
        for (var cause : fixes.entrySet()) {
            InputException e = assertThrows(InputException.class, () -> {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(target, "--out", t -> {
                        throw cause.getKey();
                    });
                    batch.commit();
                }
            });
            assertTrue(e.getMessage().startsWith(target + ": --out: cannot write (") && e.getMessage().contains(cause.getValue()), e.getMessage());
            assertTrue(cause.getValue().startsWith("check that") || !e.getMessage().contains("check that the directory exists"), e.getMessage());
        }
        // a name the file system refuses (256 bytes) fails at the rename, and is the fix
        Path tooLong = dir.resolve("w".repeat(252) + ".npy");
        InputException e = assertThrows(InputException.class, () -> AtomicFiles.write(tooLong, t -> Files.writeString(t, "x")));
        assertTrue(e.getMessage().startsWith(tooLong + ": output: cannot write (") && e.getMessage().contains("256 bytes")
                && e.getMessage().contains("give a shorter name"), e.getMessage());
        // a device that is full, as --out /dev/full
        Path full = Path.of("/dev/full");
        if (Files.isWritable(full) && !Files.isRegularFile(full)) {
            e = assertThrows(InputException.class, () -> {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(full, "--mask", t -> Files.writeString(t, "x"));
                    batch.commit();
                }
            });
            assertTrue(e.getMessage().startsWith(full + ": --mask: cannot write (") && e.getMessage().contains("the device is full; choose another output"),
                    e.getMessage());
        }
        // the directories a batch creates for the output, and the checks made as it is added, name the field too
        Files.writeString(dir.resolve("file"), "");
        e = assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.createParentDirectories(dir.resolve("file/sub/r.json"), "--report");
            }
        });
        assertTrue(e.getMessage().startsWith(dir.resolve("file/sub/r.json") + ": --report: cannot create directory"), e.getMessage());
        e = assertThrows(InputException.class, () -> {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(dir, "--report", t -> Files.writeString(t, "x"));
            }
        });
        assertTrue(e.getMessage().startsWith(dir + ": --report: is a directory"), e.getMessage());
        assertEquals(List.of("file"), listing(), "no temporary file is left");
    }

    /**
     * The C library's error texts follow the locale: under LANG=de_DE.UTF-8 a full device, a name too long and a pipe
     * whose reader had gone each got the general fix ("check that the directory exists, is writable and has free
     * space"), for only the English texts were matched. Run in a JVM under that locale, where it is installed.
     */
    @Test
    void aFailedWriteUnderAnotherLocaleGetsTheFixForItsCause() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(Path.of("/dev/full")) && !Files.isRegularFile(Path.of("/dev/full")));
        Path said = dir.resolve("child.log");
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), WritesThatFail.class.getName(), dir.toString()).redirectError(said.toFile());
        pb.environment().keySet().removeIf(name -> name.startsWith("LC_") || name.equals("LANGUAGE"));
        pb.environment().put("LANG", "de_DE.UTF-8");
        pb.environment().put("LC_ALL", "de_DE.UTF-8");
        Process child = pb.start();
        child.getInputStream().close(); // its stdout: a pipe whose reader has gone
        assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the child did not end");
        String log = Files.readString(said, java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, child.exitValue(), log);
        skipUnlessTheGermanLocale(!log.contains("ENOSPC: No space left on device"), "no de_DE.UTF-8 locale with translated messages: " + log);
        List<String> lines = log.lines().toList();
        assertTrue(lines.get(1).startsWith("/dev/full: --out: cannot write (") && lines.get(1).endsWith("the device is full; choose another output"), log);
        assertTrue(lines.get(2).contains(": --report: cannot write (") && lines.get(2).endsWith("256 bytes in UTF-8, more than file systems allow (most, 255); give a shorter name"), log);
        assertTrue(lines.get(3).startsWith("/dev/stdout: --mask: cannot write (") && lines.get(3).contains("the pipe's reader stopped reading"), log);
    }

    /** Says the system's text for ENOSPC, then fails to write a full device, a name too long and stdout, one line each. */
    static final class WritesThatFail {
        public static void main(String[] args) throws IOException {
            try (java.nio.channels.FileChannel full = java.nio.channels.FileChannel.open(Path.of("/dev/full"), java.nio.file.StandardOpenOption.WRITE)) {
                full.write(java.nio.ByteBuffer.wrap(new byte[1]));
            } catch (IOException e) {
                System.err.println("ENOSPC: " + e.getMessage());
            }
            fail(Path.of("/dev/full"), "--out");
            fail(Path.of(args[0], "w".repeat(252) + ".npy"), "--report");
            fail(Path.of("/dev/stdout"), "--mask");
        }

        private static void fail(Path target, String field) {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(target, field, t -> Files.writeString(t, "x".repeat(1 << 16)));
                batch.commit();
                System.err.println(target + ": written");
            } catch (InputException e) {
                System.err.println(e.getMessage());
            }
        }
    }

    /**
     * A full quota, a read-only file system, a permission refused (EPERM, or EACCES told by its text alone) and an I/O
     * error were told by their English texts only: under LANG=de_DE.UTF-8 each got the general fix. The texts are the C
     * library's for that locale, as Python's os.strerror gives them; EIO and EPERM are caused for real as well (this
     * process's memory read at address 0, a hard link to a directory).
     */
    @Test
    void failedWritesOfOtherCausesUnderAnotherLocaleGetTheFixForTheirCause() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(Path.of("/dev/full")) && !Files.isRegularFile(Path.of("/dev/full")));
        int[] errnos = {122, 30, 13, 1, 5}; // EDQUOT, EROFS, EACCES, EPERM, EIO on Linux
        List<String> english = List.of("Disk quota exceeded", "Read-only file system", "Permission denied", "Operation not permitted", "Input/output error");
        List<String> texts;
        try {
            ProcessBuilder python = new ProcessBuilder("python3", "-c", "import locale, os, sys; locale.setlocale(locale.LC_ALL, '');"
                    + " print('\\n'.join(os.strerror(int(n)) for n in sys.argv[1:]))", "122", "30", "13", "1", "5");
            underGermanLocale(python);
            Process p = python.redirectErrorStream(true).start();
            texts = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines().toList();
            skipUnlessTheGermanLocale(p.waitFor() == 0 && texts.size() == errnos.length, "no de_DE.UTF-8 locale: " + texts);
        } catch (IOException e) {
            skipUnlessTheGermanLocale(false, "python3 (which gives the C library's texts under another locale) is not installed");
            return;
        }
        skipUnlessTheGermanLocale(!texts.equals(english), "no translated messages for de_DE.UTF-8");
        Path said = dir.resolve("child.log");
        List<String> cmd = new java.util.ArrayList<>(javaCommand(OtherWritesThatFail.class, dir.toString()));
        cmd.addAll(texts);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(said.toFile());
        underGermanLocale(pb);
        Process child = pb.start();
        assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the child did not end");
        String log = Files.readString(said, java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, child.exitValue(), log);
        List<String> lines = log.lines().toList();
        assertEquals(7, lines.size(), log);
        String in = " " + dir;
        assertTrue(lines.get(0).contains(": output: cannot write (") && lines.get(0).endsWith("this user's disk quota on the file system of" + in
                + " is used up; free space within it, or choose an output path on another file system"), log);
        assertTrue(lines.get(1).endsWith(in + " is on a read-only file system; choose an output path on a writable one"), log);
        assertTrue(lines.get(2).endsWith("this user may not write in" + in + "; choose a location this user may write, or have its owner grant write access"), log);
        for (int i : new int[] {3, 5}) assertTrue(lines.get(i).contains("this user may not replace or create it there"), log);
        for (int i : new int[] {4, 6}) assertTrue(lines.get(i).contains("the storage under" + in + " reported an error"), log);
    }

    /**
     * Skips where the machine lacks the German locale or its translations, but fails under FALCON_LOCALE_REQUIRE=1: CI
     * installs both, and a skip there would hide that these tests no longer run.
     */
    private static void skipUnlessTheGermanLocale(boolean available, String why) {
        if ("1".equals(System.getenv("FALCON_LOCALE_REQUIRE"))) assertTrue(available, why + " (FALCON_LOCALE_REQUIRE=1: .ci/run installs it)");
        org.junit.jupiter.api.Assumptions.assumeTrue(available, "skipped: " + why);
    }

    private static void underGermanLocale(ProcessBuilder pb) {
        pb.environment().keySet().removeIf(name -> name.startsWith("LC_") || name.equals("LANGUAGE"));
        pb.environment().put("LANG", "de_DE.UTF-8");
        pb.environment().put("LC_ALL", "de_DE.UTF-8");
    }

    /**
     * Fails an output of {@code args[0]} once with each of the texts that follow (EDQUOT's, EROFS', EACCES', EPERM's and
     * EIO's), then with a real EPERM and a real EIO: one line each.
     */
    static final class OtherWritesThatFail {
        public static void main(String[] args) throws IOException {
            Path target = Path.of(args[0], "w.npy");
            fail(target, temp -> { throw new java.nio.file.FileSystemException(temp.toString(), null, args[1]); });
            fail(target, temp -> { throw new java.nio.file.FileSystemException(temp.toString(), null, args[2]); });
            fail(target, temp -> { throw new IOException(args[3]); });
            fail(target, temp -> { throw new java.nio.file.FileSystemException(temp.toString(), null, args[4]); });
            fail(target, temp -> { throw new IOException(args[5]); });
            // no file system links a directory: EPERM, and nothing created
            fail(target, temp -> Files.createLink(temp.resolveSibling(".link-to-a-directory"), temp.getParent()));
            // address 0 is mapped in no process: EIO
            fail(target, temp -> {
                try (java.nio.channels.FileChannel memory = java.nio.channels.FileChannel.open(Path.of("/proc/self/mem"))) {
                    memory.read(java.nio.ByteBuffer.allocate(1), 0);
                }
            });
        }

        private static void fail(Path target, AtomicFiles.TempWriter writer) {
            try {
                AtomicFiles.write(target, writer);
                System.err.println(target + ": written");
            } catch (InputException e) {
                System.err.println(e.getMessage());
            }
        }
    }

    /** As the README says: the rename replaces a link to a file, and leaves the file as it was; a link to a device is written through. */
    @Test
    void aTargetThatIsALinkToAFileIsReplacedAndALinkToADeviceWrittenThrough() throws IOException {
        Path file = dir.resolve("real.json"), link = Files.createSymbolicLink(dir.resolve("r.json"), file);
        Files.writeString(file, "old");
        AtomicFiles.write(link, temp -> Files.writeString(temp, "new"));
        assertFalse(Files.isSymbolicLink(link), "the link is replaced");
        assertEquals("new", Files.readString(link));
        assertEquals("old", Files.readString(file), "the file it pointed to keeps its contents");
        Path device = Path.of("/dev/null");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device) && !Files.isRegularFile(device), "no /dev/null here");
        Path deviceLink = Files.createSymbolicLink(dir.resolve("w.npy"), device);
        AtomicFiles.write(deviceLink, temp -> Files.writeString(temp, "discarded"));
        assertTrue(Files.isSymbolicLink(deviceLink), "a link to a device stays a link");
        assertFalse(Files.isRegularFile(device));
        assertEquals(List.of("r.json", "real.json", "w.npy"), listing());
    }

    @Test
    void aTargetThatIsNotARegularFileIsWrittenInPlaceNotReplaced() throws Exception {
        // a named pipe stands for /dev/null or /dev/stdout: renaming over it would replace it with a regular file
        Path fifo = namedPipe();
        java.util.concurrent.CompletableFuture<String> read = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readString(fifo);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        AtomicFiles.write(fifo, temp -> Files.writeString(temp, "through the pipe"));
        assertEquals("through the pipe", read.get(30, java.util.concurrent.TimeUnit.SECONDS));
        assertFalse(Files.isRegularFile(fifo), "the pipe must still be a pipe");
        assertEquals(List.of("pipe"), listing());
    }

    @Test
    void aJvmStoppedWhileWritingLeavesNoTemporaryFile() throws Exception {
        // SIGTERM or Ctrl-C during the write: the batch's close never runs, the old result stays, and nothing hidden
        // may be left next to it
        Path target = dir.resolve("pruned.npy");
        Files.writeString(target, "old result");
        // the report goes to a directory the run creates: it was left behind, empty
        Path report = dir.resolve("reports/new/r.json");
        List<String> cmd = javaCommand(StoppedWhileWriting.class, target.toString(), report.toString());
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try (java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream(),
                java.nio.charset.StandardCharsets.UTF_8))) {
            assertEquals(StoppedWhileWriting.WRITING, out.readLine(), "the child never reached the write");
            assertEquals(3, listing().size(), "the temporary file and the new directory exist while the child writes: " + listing());
            child.destroy(); // SIGTERM
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the child did not stop");
        } finally {
            child.destroyForcibly();
        }
        assertEquals("old result", Files.readString(target));
        assertEquals(List.of("pruned.npy"), listing(), "a temporary file or a new directory was left behind");
    }

    /**
     * A run that goes on writing its outputs while the JVM stops (falcon after its shutdown hook killed --grads-command,
     * another hook still running): temporary files created after this class's hook had removed the pending ones stayed
     * behind when the JVM halted. Once the hook has begun, no temporary file is created.
     */
    @Test
    void outputsWrittenWhileTheJvmStopsLeaveNoTemporaryFile() throws Exception {
        Path target = dir.resolve("pruned.npy"), report = dir.resolve("r.json");
        List<String> cmd = javaCommand(WritesWhileTheJvmStops.class, target.toString(), report.toString());
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try (java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream(),
                java.nio.charset.StandardCharsets.UTF_8))) {
            assertEquals(StoppedWhileWriting.WRITING, out.readLine(), "the child never reached the write");
            Thread.sleep(300);
            child.destroy(); // SIGTERM
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the child did not stop");
        } finally {
            child.destroyForcibly();
        }
        assertEquals(List.of("pruned.npy", "r.json"), listing(), "a temporary file was left behind");
    }

    /** A child JVM that writes its outputs again and again, with a shutdown hook of its own that takes a while. */
    static final class WritesWhileTheJvmStops {
        public static void main(String[] args) throws Exception {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException ignored) {
                    // the JVM ends anyway
                }
            }));
            Path weights = Path.of(args[0]), report = Path.of(args[1]);
            boolean first = true;
            while (true) {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(weights, temp -> Files.writeString(temp, "weights"));
                    batch.add(report, temp -> {
                        Files.writeString(temp, "report");
                        try {
                            Thread.sleep(100);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
                    batch.commit();
                } catch (RuntimeException stopping) { // refused, or a temporary file removed by the hook under the writer
                    Thread.sleep(10);
                }
                if (first) {
                    System.out.println(StoppedWhileWriting.WRITING);
                    System.out.flush();
                    first = false;
                }
            }
        }
    }

    /** A child JVM that writes an output and is stopped in the middle of it. */
    static final class StoppedWhileWriting {
        static final String WRITING = "writing";

        public static void main(String[] args) {
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                if (args.length > 1) {
                    batch.createParentDirectories(Path.of(args[1]));
                    batch.add(Path.of(args[1]), temp -> Files.writeString(temp, "a report"));
                }
                batch.add(Path.of(args[0]), temp -> {
                    Files.writeString(temp, "half a result");
                    System.out.println(WRITING);
                    System.out.flush();
                    try {
                        Thread.sleep(600_000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                batch.commit();
            }
        }
    }
    /**
     * Two runs in one JVM committing the same outputs at once: each rename was atomic, but the set was not, and one
     * run's weights could end next to the other run's report.
     */
    @Test
    void concurrentCommitsOfTheSameOutputsEndWithOneRunsSet() throws Exception {
        int files = 8;
        List<Path> targets = java.util.stream.IntStream.range(0, files).mapToObj(i -> dir.resolve("out" + i + ".npy")).toList();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < 40; round++) {
                java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
                List<java.util.concurrent.Future<?>> runs = new java.util.ArrayList<>();
                for (String run : List.of("A", "B")) {
                    String content = run + round;
                    runs.add(pool.submit(() -> {
                        try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                            for (Path t : targets) batch.add(t, temp -> Files.writeString(temp, content));
                            start.await(30, java.util.concurrent.TimeUnit.SECONDS);
                            batch.commit();
                        }
                        return null;
                    }));
                }
                for (java.util.concurrent.Future<?> f : runs) f.get(60, java.util.concurrent.TimeUnit.SECONDS);
                List<String> contents = new java.util.ArrayList<>();
                for (Path t : targets) contents.add(Files.readString(t));
                assertEquals(1, contents.stream().distinct().count(), "round " + round + ": a mixed set " + contents);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Another process halfway through its renames of the same outputs: it holds the directory's lock, has replaced the
     * weights and not yet the report. Returns once it holds the lock; a line on its stdin lets it finish its set.
     */
    private Process childRenamingHalfway(Path weights, Path report) throws Exception {
        Process child = new ProcessBuilder(javaCommand(RenamesHalfway.class, weights.toString(), report.toString()))
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String said = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream())).readLine();
        assertEquals("locked", said, "the child never took the lock");
        return child;
    }

    /** Lets a child of {@link #childRenamingHalfway} finish its set and waits for it. */
    private static void letFinish(Process child) throws Exception {
        child.getOutputStream().write('\n');
        child.getOutputStream().close();
        assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the child did not finish");
        assertEquals(0, child.exitValue());
    }

    /** A child JVM that takes the lock a commit takes, replaces the weights, and replaces the report when told to. */
    static final class RenamesHalfway {
        public static void main(String[] args) throws Exception {
            Path weights = Path.of(args[0]), report = Path.of(args[1]);
            Path dir = weights.toAbsolutePath().getParent().toRealPath();
            try (java.nio.channels.FileChannel lock = java.nio.channels.FileChannel.open(dir.resolve(AtomicFiles.LOCK_FILE),
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
                AtomicFiles.Batch.lockBetweenProcesses(lock, dir);
                Files.writeString(weights, "child");
                System.out.println("locked");
                System.out.flush();
                System.in.read();
                Files.writeString(report, "child");
            }
        }
    }

    /** This process's commit of the same two outputs. */
    private static Void commitAsParent(Path weights, Path report) throws IOException {
        try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
            batch.add(weights, temp -> Files.writeString(temp, "parent"));
            batch.add(report, temp -> Files.writeString(temp, "parent"));
            batch.commit();
        }
        return null;
    }

    /**
     * A named pipe given as an output is opened at the commit, after the whole run, and the open waits for a reader:
     * with none (a consumer not started yet, or gone) the run waited without a word, for good. It says what it waits
     * for, once, and writes the output when a reader comes.
     */
    @Test
    void aCommitWaitingForTheReaderOfANamedPipeSaysSo() throws Exception {
        Path fifo = namedPipe();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            List<String> warnings = warningsWhile(() -> {
                java.util.concurrent.Future<?> commit = pool.submit(() -> {
                    try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                        batch.add(fifo, "--report", temp -> Files.writeString(temp, "the report"));
                        batch.commit();
                    }
                });
                try {
                    Thread.sleep(AtomicFiles.QUIET_LOCK_WAIT_MILLIS + 1500);
                    assertFalse(commit.isDone(), "the commit did not wait for a reader");
                    assertEquals("the report", Files.readString(fifo));
                    commit.get(60, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).contains("waiting for " + fifo + " (--report), a named pipe, to be read"), warnings.get(0));
        } finally {
            pool.shutdownNow();
        }
    }

    /** A commit waiting for another process's commit in its directory waited without a word, for as long as that took. */
    @Test
    void aCommitWaitingForAnotherProcessSaysSo() throws Exception {
        Path weights = dir.resolve("w.npy"), report = dir.resolve("r.json");
        Process child = childRenamingHalfway(weights, report);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            List<String> warnings = warningsWhile(() -> {
                java.util.concurrent.Future<?> mine = pool.submit(() -> commitAsParent(weights, report));
                try {
                    Thread.sleep(AtomicFiles.QUIET_LOCK_WAIT_MILLIS + 1500);
                    assertFalse(mine.isDone(), "the commit did not wait");
                    letFinish(child);
                    mine.get(60, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).contains("waiting for another process writing outputs in " + dir.toRealPath())
                    && warnings.get(0).contains(AtomicFiles.LOCK_FILE), warnings.get(0));
            assertEquals("parent", Files.readString(weights));
        } finally {
            pool.shutdownNow();
            child.destroyForcibly();
        }
    }

    /** Another process committing the same outputs holds them until its set is complete: this process's commit waits. */
    @Test
    void aCommitWaitsForAnotherProcessCommittingTheSameOutputs() throws Exception {
        Path weights = dir.resolve("w.npy"), report = dir.resolve("r.json");
        Process child = childRenamingHalfway(weights, report);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            java.util.concurrent.Future<?> mine = pool.submit(() -> commitAsParent(weights, report));
            Thread.sleep(1500);
            assertFalse(mine.isDone(), "the commit did not wait for the other process's set to be complete");
            assertEquals("child", Files.readString(weights));
            letFinish(child);
            mine.get(60, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals("parent", Files.readString(weights));
            assertEquals("parent", Files.readString(report));
        } finally {
            pool.shutdownNow();
            child.destroyForcibly();
        }
    }

    /**
     * A run whose stdout or named-pipe output waits for its reader held the lock of its output directory through that
     * write, once its files were all in place: every other run writing into that directory (a sweep's shared out/) waited
     * for the reader, for good where none came, though no file of theirs was shared.
     */
    @Test
    void aCommitWaitingForItsDeviceToBeReadHoldsUpNoOtherCommitInItsDirectory() throws Exception {
        Path device = Path.of("/dev/null");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device) && !Files.isRegularFile(device), "no /dev/null here");
        java.util.concurrent.CountDownLatch writingDevice = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch readerCame = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            java.util.concurrent.Future<?> waitingForItsReader = pool.submit(() -> {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(dir.resolve("a.npy"), temp -> Files.writeString(temp, "a"));
                    batch.add(dir.resolve("a.json"), temp -> Files.writeString(temp, "a"));
                    batch.add(device, target -> {
                        writingDevice.countDown();
                        awaitOrFail(readerCame);
                    });
                    batch.commit();
                }
                return null;
            });
            assertTrue(writingDevice.await(60, java.util.concurrent.TimeUnit.SECONDS), "the first commit never wrote its device");
            java.util.concurrent.Future<?> other = pool.submit(() -> {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(dir.resolve("b.npy"), temp -> Files.writeString(temp, "b"));
                    batch.add(dir.resolve("b.json"), temp -> Files.writeString(temp, "b"));
                    batch.commit();
                }
                return null;
            });
            try {
                other.get(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("a commit of other files in the directory waited for the first one's device to be read", e);
            } finally {
                readerCame.countDown();
            }
            waitingForItsReader.get(60, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(List.of("a.json", "a.npy", "b.json", "b.npy"), listing());
        } finally {
            readerCame.countDown();
            pool.shutdownNow();
        }
    }

    /**
     * The putting back after a device or stdout write fails: once the lock is no longer held through that write, another
     * run may have committed the same outputs meanwhile, and putting this run's old content back over some of them
     * would mix its set with the other's.
     */
    @Test
    void aFailedDeviceWriteLeavesAnotherRunsSetCommittedMeanwhile() throws Exception {
        Path device = Path.of("/dev/null");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device) && !Files.isRegularFile(device), "no /dev/null here");
        Path weights = dir.resolve("w.npy"), report = dir.resolve("r.json");
        Files.writeString(weights, "old");
        Files.writeString(report, "old");
        java.util.concurrent.CountDownLatch writingDevice = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch readerGone = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            java.util.concurrent.Future<?> failing = pool.submit(() -> {
                try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                    batch.add(weights, temp -> Files.writeString(temp, "failing"));
                    batch.add(report, temp -> Files.writeString(temp, "failing"));
                    batch.add(device, target -> {
                        writingDevice.countDown();
                        awaitOrFail(readerGone);
                        throw new IOException("Broken pipe");
                    });
                    batch.commit();
                }
                return null;
            });
            assertTrue(writingDevice.await(60, java.util.concurrent.TimeUnit.SECONDS), "the first commit never wrote its device");
            java.util.concurrent.Future<?> other = pool.submit(() -> commitAsParent(weights, report));
            try {
                other.get(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("a commit of the same files waited for the first one's device to be read", e);
            } finally {
                readerGone.countDown();
            }
            java.util.concurrent.ExecutionException failed = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> failing.get(60, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(failed.getCause() instanceof InputException, failed.getCause().toString());
            assertEquals("parent", Files.readString(weights));
            assertEquals("parent", Files.readString(report));
            assertEquals(List.of("r.json", "w.npy"), listing(), "no temporary file or link is left");
        } finally {
            readerGone.countDown();
            pool.shutdownNow();
        }
    }

    private static void awaitOrFail(java.util.concurrent.CountDownLatch latch) throws IOException {
        try {
            if (!latch.await(120, java.util.concurrent.TimeUnit.SECONDS)) throw new IOException("the test never let the device write end");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /**
     * SIGTERM or Ctrl-C while a commit is under way: the shutdown hook that removes the temporary files waits for the
     * commit to complete its set (it used to remove them at once, and a commit between two renames lost the rest), but
     * a bounded time: here the commit's last output is a pipe nobody reads.
     */
    @Test
    void aJvmStoppedWhileCommittingCompletesTheSetButWaitsABoundedTime() throws Exception {
        Path fifo = namedPipe();
        Path weights = dir.resolve("w.npy"), report = dir.resolve("r.json");
        for (String token : List.of("first", "second")) {
            List<String> cmd = javaCommand(CommitsThroughAPipe.class, weights.toString(), report.toString(), fifo.toString(), token);
            Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            try {
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!(Files.exists(report) && Files.readString(report).equals(token)) && System.nanoTime() < deadline) Thread.sleep(20);
                assertEquals(token, Files.readString(report), "the child never renamed its outputs");
                child.destroy(); // SIGTERM, while the commit writes the pipe
                long t0 = System.nanoTime();
                if (token.equals("first")) {
                    Thread.sleep(1000);
                    assertTrue(child.isAlive(), "the shutdown hook did not wait for the commit under way");
                    assertEquals(token, Files.readString(fifo));
                }
                assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the child did not stop");
                double seconds = (System.nanoTime() - t0) / 1e9;
                assertTrue(seconds < 4 * AtomicFiles.SHUTDOWN_WAIT_MILLIS / 1000.0, "the child took " + seconds + " s to stop");
            } finally {
                child.destroyForcibly();
            }
            assertEquals(token, Files.readString(weights));
            assertEquals(List.of("pipe", "r.json", "w.npy"), listing(), "no temporary file or link is left");
        }
    }

    /** A child JVM that commits two files and then a pipe (written in place, after the renames). */
    static final class CommitsThroughAPipe {
        public static void main(String[] args) {
            String token = args.length > 3 ? args[3] : "child";
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                batch.add(Path.of(args[0]), temp -> Files.writeString(temp, token));
                batch.add(Path.of(args[1]), temp -> Files.writeString(temp, token));
                batch.add(Path.of(args[2]), target -> Files.writeString(target, token));
                batch.commit();
            }
        }
    }

    /** A named pipe in the test directory: a write to it blocks until someone reads, which holds a commit halfway. */
    private Path namedPipe() throws IOException, InterruptedException {
        Path fifo = dir.resolve("pipe");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mk.waitFor() == 0, "mkfifo is not available here");
        return fifo;
    }

    /** The command that runs {@code main} in a JVM of its own with this test's class path. */
    private static List<String> javaCommand(Class<?> main, String... args) {
        List<String> cmd = new java.util.ArrayList<>(dev.falcon.testing.ChildJvm.command(main));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * The prune's pre-flight and the write each said "no space for a new file" in their own words ("it is out of
     * inodes" and "it is most likely out of inodes"), with their own lookups of the free bytes: one reading now.
     */
    @Test
    void noSpaceForANewFileIsToldFullOrOutOfInodesByTheBytesFree() {
        AtomicFiles.NoSpace inodes = new AtomicFiles.NoSpace(dir, 64L << 20);
        assertFalse(inodes.full());
        assertEquals("has no space for a new file, though it has 64.0 MiB free: it is most likely out of inodes, or this user's quota of"
                + " files is used up (check df -i " + dir + ")", inodes.lack());
        AtomicFiles.NoSpace bytes = new AtomicFiles.NoSpace(dir, AtomicFiles.FREE_BYTES_OF_A_FULL_FILE_SYSTEM - 1);
        assertTrue(bytes.full());
        assertEquals("is full", bytes.lack());
    }
}
