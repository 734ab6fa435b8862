package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.ByteCounts;
import dev.falcon.io.InputException;
import dev.falcon.io.Npy;
import dev.falcon.io.RunPhase;
import dev.falcon.io.ShutdownHooks;
import dev.falcon.io.StoppedException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.ref.Cleaner;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;
import org.bytedeco.javacpp.FloatPointer;

/**
 * falcon++ gradients from an external command ({@code --grads-command 'python export.py --weights {weights} --out {grads}'}).
 * Stage 0 uses the given X (at the dense weights). For each stage t &ge; 1 the weights stage t-1 produced are written
 * to {@code weights_stage<t>_<k>.npy} (float32, shape [p], flatten order; k numbers the source's commands, so that a call
 * whose run ended while it ran shares no file with the next run's) in a private temporary directory, the command runs
 * through {@code /bin/sh -c} with {@code {weights}} and {@code {grads}} replaced by the shell-quoted paths of that file
 * and of {@code X_stage<t>_<k>.npy} (which it must write: n x p, as an .npy or a one-tensor safetensors file, told apart by
 * their content: the name is falcon's, .npy so that numpy.save keeps it as it is), and {@code {t}} by t (another
 * {word} reaches it as literal text, which {@link #unknownPlaceholder} warns of and the constructor logs once; a placeholder inside single quotes, after a backslash,
 * in a quoted here-document's body or as ${t} is left as it is, as the shell leaves a $VAR there: {@link Brace#replaced}), and X is read back
 * with the same n and p as stage 0. The command's stdout and stderr are forwarded line by line to the given log, with
 * falcon's note on an X that is not float32 (one that throws is not called again for the rest of that stage, and the
 * stage then throws that failure, once the command has ended; a later stage calls it again);
 * weights that cannot be written for it, a non-zero exit, a command still running after the timeout (if one is given:
 * it is then stopped with the processes it started, as on SIGTERM), a missing or invalid output, or NaN/Inf in it throws
 * {@link MultiStage.SourceFailure} (with the last lines of its stderr as its output()), which stops the run after the last completed stage. The
 * last X read goes when the run ends ({@link MultiStage.GradientSource#runEnded}); {@link #close()} removes the temporary
 * directory and the shutdown hook, and frees the X last read. Close it: one dropped unclosed keeps them until the
 * collector takes it (a cleaner then removes them and frees that X, also where {@link #gradients} was called outside a
 * run, which no runEnded follows) or the JVM exits (the hook removes the directory). A source in a local variable never
 * read again can be collected while it is still in scope, its X freed under the code using it: keep the source in
 * try-with-resources (or pass it to Reference.reachabilityFence) for as long as its X is used.
 */
public final class CommandGradients implements MultiStage.GradientSource {
    public static final String WEIGHTS = "{weights}", GRADS = "{grads}";
    /**
     * The stage's number t, as {@link FilePatternGradients#PLACEHOLDER} counts it: the command that writes stage t's X gets
     * t, the number of that X's file in a --grads pattern. Digits need no quoting, so it may stand inside quotes too.
     */
    public static final String STAGE = "{t}";
    /**
     * The end of the command's stderr kept for a failure's message and the report: its last lines, each cut to its first
     * characters and all together bounded, with control characters escaped. Copied raw, NUL, BEL and terminal escapes
     * (a colour, an OSC title) reached falcon's stdout summary and the report, and 20 lines of 4,096 characters made
     * 80 KB of one message. 500 characters hold a CUDA out-of-memory line whole.
     */
    static final int TAIL_LINES = 20, TAIL_LINE_CHARS = 500, TAIL_CHARS = 4000;
    /**
     * The characters of a line of the command's output that are kept (shown, and in the stderr tail); the rest of it is
     * counted. Output without line breaks (a progress bar drawn with backspaces, binary data) made one "line" of
     * megabytes: a failure's message carried all of it, and hundreds of MB ran the JVM out of heap.
     */
    static final int LINE_CHARS = 4096;
    /**
     * How long the output of a command that has exited is still read before X is: what it wrote is at most a pipe's
     * buffer and takes microseconds, but a child it left running in the background (`server &`) holds the pipes open
     * until that child ends, and waiting for the end of its output would wait for the child.
     */
    static final long DRAIN_MILLIS = 2000;
    /** How long a command has to end after SIGTERM before it and the processes under it get SIGKILL. */
    static final long STOP_GRACE_MILLIS = 5000;
    /**
     * Set in the command's environment, a value of its own for each stage's command: a process it started that has left
     * its tree (a double fork, a daemon, or a background child whose parent has exited, which init then adopts) is no
     * longer among its descendants, and is found by this variable, which it inherited, instead.
     */
    public static final String MARKER_VARIABLE = "FALCON_GRADS_COMMAND";
    private static final System.Logger LOG = System.getLogger(CommandGradients.class.getName());

    private final ComputeBackend backend;
    private final HostMatrix first;
    private final String command;
    /** The longest a stage's command may run before it is stopped and the source fails; null: no limit. */
    private final java.time.Duration timeout;
    private final long rows, cols;
    private final PrintWriter log;
    private final Names names;
    private final Path dir;
    /** The command under way, and the value of {@link #MARKER_VARIABLE} it was given. */
    private record Running(Process process, String marker) {}
    /** What the shutdown hook and the cleaner read and do, held apart from this source so that they do not hold it. */
    private final Cleanup cleanup;
    /** Runs {@link #cleanup} once: at {@link #close()}, or when this source, dropped unclosed, has become unreachable. */
    private final Cleaner.Cleanable cleanable;
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "falcon-grads-folder-cleaner");
        t.setDaemon(true);
        return t;
    });
    /**
     * Set by {@link #close()}: a later {@link #gradients} is refused as a call on a closed source. Without it the call
     * failed writing into the deleted folder and blamed "a cleaner of /tmp", a {@link MultiStage.SourceFailure} that
     * inside a falcon++ run would have ended the run early as if the command had failed.
     */
    private volatile boolean closed;
    /** How long the hook lets the run's thread report the stop (it has only to print a line). */
    static final long REPORT_WAIT_MILLIS = 2000;
    /** How long a command killed by SIGINT/SIGTERM/SIGHUP waits for the JVM's own hook (Ctrl-C reaches both at once). */
    static final long SIGNAL_WAIT_MILLIS = 1000;
    /** The weights the X last handed out was computed at, and that X (first, or {@link Cleanup#stageX}). */
    private float[] lastWeights;
    private HostMatrix lastX;
    private final java.util.Set<Integer> reused = new java.util.TreeSet<>();
    /** Each loaded stage's file type and conversion (copied or mapped), for the report: the file itself is gone by then. */
    private final java.util.Map<Integer, String> stageFileTypes = new java.util.TreeMap<>();
    /** The file of {@link Cleanup#stageX}, which a mapped X reads. */
    private Path currentFile;
    private final OneRunAtATime runs = new OneRunAtATime();
    /** Numbers each command's files, so that no two calls (of one run or of two) share a name in the folder. */
    private final java.util.concurrent.atomic.AtomicLong commandsStarted = new java.util.concurrent.atomic.AtomicLong();
    /** Held where a call or runEnded() changes the run's state (the X held, the weights it is at). */
    private final Object state = new Object();
    /** gradients() calls under way, for runEnded() to stop and wait for: a timed-out caller leaves one running. */
    private int callsInFlight;
    /**
     * Run by a gradients() call between writing the weights and starting the command (null: nothing). A runEnded() or a
     * cancel that lands in that window is otherwise too brief to land on purpose: a test holds the call there.
     */
    volatile Runnable afterWeightsWritten;

    /**
     * @param first stage 0's X (the caller keeps owning it); its shape is required of every output
     * @param log   where the command's output lines go (null: dropped, the stderr tail is still kept); one that throws
     *              is not called again for the rest of that stage, the command runs to its end, and {@link #gradients} then throws an
     *              {@link IllegalStateException} ("the log given to CommandGradients threw ...") with its exception as the cause
     */
    public CommandGradients(ComputeBackend backend, HostMatrix first, String command, PrintWriter log) {
        this(backend, first, command, log, null);
    }

    /**
     * @param first   stage 0's X (the caller keeps owning it); its shape is required of every output
     * @param log     where the command's output lines go (null: dropped, the stderr tail is still kept); one that throws
     *                is not called again for the rest of that stage, the command runs to its end, and {@link #gradients} then throws an
     *                {@link IllegalStateException} ("the log given to CommandGradients threw ...") with its exception as the cause
     * @param timeout the longest a stage's command may run (null: no limit): one still running then is stopped with
     *                the processes it started, as on SIGTERM, and {@link #gradients} throws {@link MultiStage.SourceFailure},
     *                which stops the run after the last completed stage
     */
    public CommandGradients(ComputeBackend backend, HostMatrix first, String command, PrintWriter log, java.time.Duration timeout) {
        this(backend, first, command, log, timeout, Names.JAVA);
    }

    /**
     * What the failure messages call the command and its time limit. A Java caller was told to "raise
     * --grads-command-timeout", which it has not got: it passed a Duration.
     *
     * @param command what gave the command ("--grads-command", "the gradient command")
     * @param timeout what sets its limit ("--grads-command-timeout", "the timeout given to CommandGradients")
     */
    public record Names(String command, String timeout) {
        public static final Names JAVA = new Names("the gradient command", "the timeout given to CommandGradients");
        public static final Names CLI = new Names("--grads-command", "--grads-command-timeout");

        public Names {
            Objects.requireNonNull(command);
            Objects.requireNonNull(timeout);
        }
    }

    /**
     * As {@link #CommandGradients(ComputeBackend, HostMatrix, String, PrintWriter, java.time.Duration)}, with the
     * names its messages give the command and its time limit (the CLI passes {@link Names#CLI}).
     */
    public CommandGradients(ComputeBackend backend, HostMatrix first, String command, PrintWriter log, java.time.Duration timeout, Names names) {
        this.names = Objects.requireNonNull(names);
        this.backend = Objects.requireNonNull(backend);
        this.first = Objects.requireNonNull(first);
        this.command = Objects.requireNonNull(command);
        Refusal refusal = placeholderRefusal(command);
        if (refusal != null) throw new IllegalArgumentException(refusal.problem() + "; " + refusal.fix() + ": " + command);
        if (timeout != null && (timeout.isNegative() || timeout.isZero())) {
            throw new IllegalArgumentException("the timeout of the command must be positive (null for none): " + timeout);
        }
        this.timeout = timeout;
        this.rows = first.rows();
        this.cols = first.cols();
        this.log = log;
        this.dir = createDirectory(names.command());
        this.cleanup = new Cleanup(dir);
        ShutdownHooks.add(cleanup.onExit);
        this.cleanable = CLEANER.register(this, cleanup);
        // once, here: a Java caller that never asked unknownPlaceholder() had no word of it; the CLI's log handler prints
        // it as "falcon: warning: --grads-command: ...", its only print of it. Last: a source refused by a later check
        // (its timeout, its folder) had warned of a command that never ran
        String unknown = unknownPlaceholder(command);
        if (unknown != null) LOG.log(System.Logger.Level.WARNING, names.command() + ": " + unknown + "; " + KNOWN_PLACEHOLDERS);
    }

    /** Why a command is refused, and what to do about it. */
    public record Refusal(String problem, String fix) {}

    /**
     * What the constructor refuses in the command's placeholders; null where it takes them. The CLI refuses its
     * --grads-command with this same check before any work: a check of the constructor's that the CLI lacked
     * (placeholders only in a comment) reached the user as an internal error with a stack trace, after the backend was
     * chosen.
     */
    public static Refusal placeholderRefusal(String command) {
        if (!command.contains(WEIGHTS) || !command.contains(GRADS)) {
            return new Refusal("the command needs both " + WEIGHTS + " and " + GRADS, "e.g. 'python export.py --weights " + WEIGHTS + " --out " + GRADS + "'");
        }
        // read as the substitution reads it: "run a #{weights} {grads}" has them only in a comment, and a quoted
        // here-document's body is the shell's literal text: both stay as they are
        List<String> read = braces(command).stream().map(Brace::word).toList();
        List<String> commented = Stream.of(WEIGHTS, GRADS).filter(p -> !read.contains(p)).toList();
        if (!commented.isEmpty()) {
            return new Refusal("the command needs both " + WEIGHTS + " and " + GRADS + " outside comments and quoted here-documents: "
                    + String.join(" and ", commented) + (commented.size() == 1 ? " stands" : " stand") + " only in a comment or in the body of"
                    + " a quoted here-document (a # that begins a word comments out the rest of its line, the body of <<'EOF' is text the"
                    + " shell expands nothing in, and falcon leaves placeholders there as they are)", (commented.size() == 1 ? "write it" : "write them")
                    + " before the # or outside the here-document, or quote the # ('#' or \\#) where it was not meant to begin a comment");
        }
        String quoted = quotedPlaceholder(command);
        if (quoted != null) return new Refusal(quoted, BARE_PLACEHOLDERS);
        return hereDocumentPathRefusal(command, System.getProperty("java.io.tmpdir"));
    }

    /**
     * The characters of a path that an unquoted here-document's body still reads: $, ` and \ expand there, and a line
     * break would split the body's line (one that then read as the delimiter would end the body early).
     */
    private static final String EXPANDED_IN_A_BODY = "$`\\\n";

    /**
     * In an unquoted here-document's body (<<EOF) quotes are text, so {weights} and {grads} get their paths as they are,
     * without shell quotes: the body is neither split into words nor globbed, so a space or a * in the path is its own.
     * Refused where the folder the paths lie in ({@code tmpdir}, in which the source's folder is named with digits)
     * holds a character the body would still read.
     */
    private static Refusal hereDocumentPathRefusal(String command, String tmpdir) {
        if (tmpdir == null) return null;
        int held = -1;
        for (int i = 0; i < tmpdir.length() && held < 0; i++) if (EXPANDED_IN_A_BODY.indexOf(tmpdir.charAt(i)) >= 0) held = i;
        if (held < 0) return null;
        for (Brace b : braces(command)) {
            if (b.quote() != 'H' || !b.replaced() || b.word().equals(STAGE)) continue;
            char c = tmpdir.charAt(held);
            String named = c == '\n' ? "line break" : c + "";
            return new Refusal(b.word() + " is in the body of a here-document (<<EOF), where falcon writes its path as it is (quotes there would be"
                    + " text), and the temporary folder " + tmpdir + " (java.io.tmpdir) holds a " + named + ", which the body would "
                    + (c == '\n' ? "take for the end of a line" : "expand"), "set TMPDIR to a folder whose path has no $, `, \\ or line break (the launcher"
                    + " passes it on), or pass the paths as arguments (python3 - " + WEIGHTS + " " + GRADS + " <<EOF ... sys.argv)");
        }
        return null;
    }

    /**
     * The folder and the command's state, for the shutdown hook and the cleaner. The hook was a lambda that read the
     * source's fields, so ShutdownHooks' static set held every source never closed, with its folder, its hook and its
     * last X, for the JVM's life. Holding only this, a dropped source is collected, and the cleaner removes its folder
     * and its hook; one still open at exit is cleaned by the hook.
     */
    private static final class Cleanup implements Runnable {
        private final Path dir;
        private final Thread onExit;
        volatile Running running;
        /**
         * The marker of the stage whose command runs, kept until the run has looked at how it ended: Ctrl-C reaches the
         * command with falcon, and one that died of it first has cleared {@link #running} before the hook looks, while the
         * processes it detached, which a shell starts with SIGINT ignored, run on.
         */
        volatile String commandMarker;
        /**
         * True from the start of the command until the run has checked {@link #stoppedByHook} after it: a command that Ctrl-C
         * ended on its own has cleared {@link #running} before the hook looks, but the run is about to report the stop.
         */
        volatile boolean commandStage;
        /** Set when the shutdown hook has begun: the command ended because the JVM is stopping, not by itself. */
        volatile boolean stoppedByHook;
        /**
         * The X the command wrote for the last stage asked for, until the next stage's, runEnded or the cleanup replaces
         * it (null: none). Held here, not by the source: an embedder that called gradients() itself, outside a run whose
         * runEnded frees it, and dropped the source unclosed had the folder removed by the cleaner and this X (a copy
         * of 4 n p bytes, or a mapping; HostMatrix has no cleaner) kept until the JVM exited.
         */
        volatile HostMatrix stageX;

        Cleanup(Path dir) {
            this.dir = dir;
            this.onExit = new Thread(this::atExit, "falcon-grads-command-cleanup");
        }

        /**
         * Ctrl-C or a kill ends the JVM without close(): stop the command (it would run on as an orphan) and remove the
         * directory with the weights handed to it, once the command has ended (one still writing X would leave it).
         */
        private void atExit() {
            boolean awaited = commandStage; // read before stoppedByHook is set: a run that sees that flag finds this true
            String marker = commandMarker; // likewise: the run clears it once it has seen the flag
            Running underWay = running;
            stoppedByHook = true;
            stopCommand(underWay, marker);
            deleteDirectory(dir);
            // the stop is about to be reported (by the CLI's own hook, or by the run's thread, which the command's end
            // wakes, where no hook does): the JVM halts once the hooks end
            if (awaited) StoppedException.awaitReport(REPORT_WAIT_MILLIS);
        }

        /**
         * The source is closed, or unreachable: no command runs for it (a stage's command runs inside its gradients, which
         * holds it), so the folder, the hook and the stage's X go. X last: its close waits for any backend call still
         * using it, and the folder and the hook should not wait with it.
         */
        @Override
        public void run() {
            // the folder first, the hook after: removed first, an exit while the cleaner's daemon thread deleted the folder
            // ended that thread with nothing left to finish it (CI saw the folder of a source collected at exit remain)
            deleteDirectory(dir);
            try {
                ShutdownHooks.remove(onExit);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or about to: it cleans up as well
            }
            HostMatrix x = stageX;
            stageX = null;
            if (x != null) x.close();
        }
    }

    /**
     * A new private directory in java.io.tmpdir. The property is read here, each time: Files.createTempDirectory(prefix)
     * reads it once per JVM. One that cannot be used is the user's to fix (exit 2), not an internal error with a trace.
     */
    static Path createDirectory(String commandName) {
        String tmp = System.getProperty("java.io.tmpdir");
        try {
            return Files.createTempDirectory(Path.of(tmp), "falcon-grads-");
        } catch (IOException | RuntimeException e) {
            throw InputException.of(tmp, "java.io.tmpdir", "cannot create the temporary directory where " + commandName + " gets the weights"
                    + " and writes X (" + e + ")", "make it a writable directory, set TMPDIR to one (the launcher passes it on), or give another with FALCON_JAVA_OPTS=-Djava.io.tmpdir=DIR");
        }
    }

    /**
     * Fails as the constructor would, before any work: a run that has loaded X and pruned stage 0 has spent its time.
     * Checks the room the command needs there too: the weights (float32) and X, n x p, at 2 bytes a value at least
     * (float16 or bfloat16); a full temporary directory was found at stage 1, after stage 0's solve, as the command's
     * own failure. Refused where even that does not fit.
     * @return a warning where a float32 X (4 bytes a value, what most exporters write) would not fit, else null
     */
    public static String checkTemporaryDirectory(long rows, long cols) {
        Path probe = createDirectory(Names.CLI.command());
        long total, free;
        try {
            java.nio.file.FileStore store = Files.getFileStore(probe);
            total = store.getTotalSpace();
            free = store.getUsableSpace();
        } catch (IOException | RuntimeException e) {
            return null; // no figure to judge by: the command says what is wrong
        } finally {
            deleteQuietly(probe);
        }
        if (total == 0) return null; // a file system that gives no size (some FUSE mounts say 0 of 0)
        long weightsBytes = 4 * cols + 256, halfX = 2 * rows * cols + 256, floatX = 4 * rows * cols + 256;
        String tmp = System.getProperty("java.io.tmpdir");
        String need = "has " + ByteCounts.of(free) + " free, where --grads-command gets the weights (" + ByteCounts.of(weightsBytes)
                + ") and writes X, " + rows + " x " + cols + ": " + ByteCounts.of(floatX) + " as float32, " + ByteCounts.of(halfX) + " as float16";
        String fix = "set TMPDIR to a folder with room (the launcher passes it on), or give one with FALCON_JAVA_OPTS=-Djava.io.tmpdir=DIR";
        if (free < weightsBytes + halfX) throw InputException.of(tmp, "java.io.tmpdir", need + "; neither fits", fix);
        if (free < weightsBytes + floatX) return "falcon: warning: " + tmp + " (java.io.tmpdir) " + need + "; a float32 X does not fit; " + fix;
        return null;
    }

    private void stopCommand() {
        String marker = cleanup.commandMarker;
        stopCommand(cleanup.running, marker);
    }

    private static void stopCommand(Running command, String marker) {
        if (command == null && marker == null) return;
        stopTree(command != null ? command.process().toHandle() : null, command != null ? command.marker() : marker);
    }

    /**
     * SIGTERM to a process and every process under it, then SIGKILL to those still alive after {@link #STOP_GRACE_MILLIS}:
     * a command that ignores SIGTERM, or whose children do, ran on after falcon had stopped it (holding a GPU, and free
     * to write into the temporary directory after it was removed). Returns when they have ended, or after one more
     * grace period if even SIGKILL has not ended one (a process in uninterruptible sleep). Keeps an interrupt.
     * Processes whose environment holds {@link #MARKER_VARIABLE}={@code marker} are among them wherever they are.
     */
    static void stopTree(ProcessHandle root, String marker) {
        // taken before any signal: a child whose parent has died is no longer among its descendants
        Set<ProcessHandle> tree = new LinkedHashSet<>();
        if (root != null) {
            tree.add(root);
            root.descendants().forEach(tree::add);
        }
        addMarked(tree, marker);
        tree.forEach(ProcessHandle::destroy);
        boolean interrupted = awaitEnd(tree, STOP_GRACE_MILLIS);
        if (tree.stream().anyMatch(h -> !hasEnded(h))) {
            for (ProcessHandle h : List.copyOf(tree)) {
                if (h.isAlive()) h.descendants().forEach(tree::add); // started meanwhile
            }
            addMarked(tree, marker);
            tree.stream().filter(h -> !hasEnded(h)).forEach(ProcessHandle::destroyForcibly);
            interrupted |= awaitEnd(tree, STOP_GRACE_MILLIS);
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /**
     * Adds the live processes, with their descendants, whose environment holds the marker. Linux's /proc gives every
     * process's environment as it started (a process that cleared it, as {@code env -i} does, is not found); elsewhere,
     * and for processes of other users, there is nothing to read and nothing is added.
     */
    private static void addMarked(Set<ProcessHandle> tree, String marker) {
        if (marker == null) return;
        byte[] entry = (MARKER_VARIABLE + "=" + marker).getBytes(StandardCharsets.UTF_8);
        long self = ProcessHandle.current().pid();
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            all.filter(h -> h.pid() != self && !tree.contains(h) && environmentHolds(h.pid(), entry)).forEach(h -> {
                tree.add(h);
                h.descendants().forEach(tree::add);
            });
        } catch (RuntimeException e) {
            // the processes could not be listed: those found among the descendants are all that is stopped
        }
    }

    private static boolean environmentHolds(long pid, byte[] entry) {
        byte[] env;
        try {
            env = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "environ"));
        } catch (IOException | RuntimeException e) {
            return false; // ended meanwhile, another user's, or no /proc
        }
        for (int start = 0; start < env.length; ) {
            int end = start;
            while (end < env.length && env[end] != 0) end++;
            if (java.util.Arrays.equals(env, start, end, entry, 0, entry.length)) return true;
            start = end + 1;
        }
        return false;
    }

    /** Waits (bounded) until none is alive; whether an interrupt came meanwhile (the wait goes on: it is bounded). */
    static boolean awaitEnd(Set<ProcessHandle> tree, long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000;
        boolean interrupted = false;
        while (tree.stream().anyMatch(h -> !hasEnded(h)) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        return interrupted;
    }

    /**
     * Whether the process has ended, a zombie included: ProcessHandle.isAlive() holds one alive until its parent reaps it,
     * which for a process the command left behind is init, whenever init gets to it. A zombie runs nothing and holds no
     * file or device; only its entry in the process table waits.
     */
    public static boolean hasEnded(ProcessHandle h) {
        if (!h.isAlive()) return true;
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
            int afterName = stat.lastIndexOf(')'); // the name in parentheses may hold spaces and parentheses itself
            return afterName >= 0 && afterName + 2 < stat.length() && stat.charAt(afterName + 2) == 'Z';
        } catch (IOException | RuntimeException e) {
            return !h.isAlive(); // ended meanwhile, or no /proc: isAlive is all there is
        }
    }

    /** The temporary directory (removed by {@link #close()}). */
    public Path directory() { return dir; }

    /** Characters a POSIX shell never treats specially in a word (Python's shlex.quote leaves such words as they are). */
    private static final java.util.regex.Pattern SHELL_SAFE = java.util.regex.Pattern.compile("[A-Za-z0-9@%+=:,./_-]+");

    /**
     * POSIX shell quoting: a path of safe characters (the usual temporary directory) as it is, any other single-quoted.
     * Right only where the placeholder stands bare in the command, which {@link #quotedPlaceholder} makes sure of.
     */
    static String quote(String s) {
        if (SHELL_SAFE.matcher(s).matches()) return s;
        return "'" + s.replace("'", "'\\''") + "'";
    }

    /** What to do about a placeholder {@link #quotedPlaceholder} finds. */
    public static final String BARE_PLACEHOLDERS = "write " + WEIGHTS + " and " + GRADS + " bare, without quotes around them: falcon substitutes"
            + " shell-quoted paths (e.g. 'python export.py --weights " + WEIGHTS + " --out " + GRADS + "'; for a command of its own in quotes,"
            + " pass them through its environment: W=" + WEIGHTS + " G=" + GRADS + " sh -c 'python export.py --weights \"$W\" --out \"$G\"')";

    /** The characters after which /bin/sh begins a word: a # right after one of them starts a comment. */
    private static final String WORD_BREAKS = " \t\n;&|()<>";

    /**
     * Where the command has a placeholder inside quotes of its own ("{weights}", '{grads}') or after a backslash, what
     * is wrong with it; null where each stands bare. falcon's own quotes around a path with a space, a quote, a $ or a
     * backquote were taken literally there: the command got a wrong path, and backquotes in TMPDIR ran as a command
     * (a path of safe characters, as /tmp gives, hid it until another machine). Quotes are followed as /bin/sh reads
     * them: a backslash escapes the next character outside single quotes, and $(...) or `...` inside double quotes
     * start unquoted text of their own, where a bare placeholder gets its path right ("$(dirname {weights})/x"); a # that
     * begins a word outside quotes comments out the rest of its line (an apostrophe there, "# don't edit", quotes nothing).
     * The body of a here-document is text: a quoted one's (<<'EOF') is left as it is, and in an unquoted one's (<<EOF)
     * quotes are text while {t} is replaced; {weights} and {grads} there get their paths without quotes, which
     * {@link #placeholderRefusal} refuses only where the temporary folder's path holds a character the body reads.
     * ${weights} is refused too: the shell's variable, left as it is by {@link #commandLine}, as ${t} is.
     */
    public static String quotedPlaceholder(String command) {
        return scanPlaceholders(command, false);
    }

    /** What to do about a placeholder {@link #unknownPlaceholder} finds: the end of its warning. */
    public static final String KNOWN_PLACEHOLDERS = "if one was meant, spell it so; braces of the command's own (a Python f-string, jq's"
            + " {name}) are fine as they are, and in single quotes ('{...}') or after a backslash falcon does not warn of them";

    /**
     * The warning for the {word}s of the command that are none of {@link #WEIGHTS}, {@link #GRADS} and {@link #STAGE},
     * one line; null where it has none. A misspelt placeholder ({stage}, {T}, {Weights}) reaches the command as literal
     * text, and so do the braces of Python's f-strings and str.format, jq, grep -E or a heredoc: a warning, not a
     * refusal, which broke such commands. A word is letters, digits and _ (not first a digit) between braces, read as the
     * shell reads the command (see {@link #quotedPlaceholder}): braces the shell or another program reads are not one,
     * ${VAR} (after a $), {a,b}, {1..3}, find's {}, a { ...; } group, a comment, text after a backslash, and text in
     * single quotes, which the shell hands on as it is (awk '{print}', jq '{name}'). The constructor takes such a
     * command and logs this warning once (System.Logger, WARNING), which the CLI prints before the first stage.
     */
    public static String unknownPlaceholder(String command) {
        return scanPlaceholders(command, true);
    }

    private static final java.util.regex.Pattern WORD_IN_BRACES = java.util.regex.Pattern.compile("\\{[A-Za-z_][A-Za-z0-9_]*}");

    /**
     * A {word} in the command and how the shell reads the place it stands: {@code quote} is the innermost context open
     * there ({@link ShellReading}'s: ' and " for quotes, H for an unquoted here-document's body, ' ' for none), {@code escaped} that a backslash comes before it, {@code afterDollar} that it
     * is the shell's ${word}.
     */
    private record Brace(int at, String word, char quote, boolean escaped, boolean afterDollar) {
        boolean known() {
            return word.equals(WEIGHTS) || word.equals(GRADS) || word.equals(STAGE);
        }

        /**
         * The one rule for all three placeholders: replaced where the shell would expand a $variable (bare, in double
         * quotes, in $(...) or `...`, in an unquoted here-document's body), left as it is in single quotes, after a
         * backslash and as ${word} (a quoted here-document's body, which the shell expands nothing in, has none).
         */
        boolean replaced() {
            return known() && quote != '\'' && !escaped && !afterDollar;
        }
    }

    private static String wordAt(String command, int i) {
        if (i >= command.length() || command.charAt(i) != '{') return null;
        java.util.regex.Matcher m = WORD_IN_BRACES.matcher(command).region(i, command.length());
        return m.lookingAt() ? m.group() : null;
    }

    /**
     * Every {word} of the command outside comments and quoted here-document bodies, walked as /bin/sh reads it: the
     * checks and the substitution share this one reading of its quotes, so that they cannot disagree on them (a regex
     * replaced {t} inside single quotes, which the checks and README leave alone).
     */
    private static List<Brace> braces(String command) {
        return new ShellReading(command).braces();
    }

    /**
     * The part of sh's grammar that decides where a placeholder stands, and nothing more: quotes, backslashes, comments,
     * $( ), ` `, $(( )), here-documents and case inside substitutions (whose pattern's ")" would otherwise close the
     * substitution). Each rule was met in a real command that the scanner read otherwise than sh (dash) does, and
     * GradientSourcesTest runs each such command through sh to compare. The contexts, innermost on top of {@link #open}:
     * <ul>
     * <li>' ' unquoted; '\'' and '"' quotes; '`' a backquote substitution; '$' a $( ); '(' a parenthesis inside one;
     * 'A' arithmetic $(( )), where &lt;&lt; is a shift;
     * <li>'H' the body of an unquoted here-document: $, ` and \ work there, but quotes and # are its text; inside
     * backquotes it ends at the closing one, sh reading backquoted text as a command string of its own;
     * <li>'B' a ${...}, in which &lt;&lt;, # and parentheses are text;
     * <li>inside a substitution, a case before its "in" ('c'), at its patterns ('p': a ")" ends a pattern) and in a
     * branch's commands ('b', until ";;" or esac).
     * </ul>
     */
    private static final class ShellReading {
        /**
         * A here-document whose operator is read; its body starts after the next newline the shell reads.
         * {@code substitutions} counts the $( ) and ` ` open around its operator: one that closes before that newline
         * takes the here-document with it, as dash reads no body for it. {@code inBackquotes}: sh reads backquoted text
         * as a command string of its own, which ends at the closing backquote, and the body with it.
         */
        private record HereDocument(String delimiter, boolean quoted, boolean stripsTabs, int substitutions, boolean inBackquotes) {}

        private static final String COMMANDS = " $(`Acpb", SUBSTITUTION = "$(Acpb";
        /** The words after which a reserved word such as case begins a command. */
        private static final Set<String> COMMAND_STARTERS = Set.of("then", "do", "else", "elif", "if", "while", "until", "!", "{");

        private final String command;
        private final int length;
        private final List<Brace> found = new ArrayList<>();
        private final Deque<Character> open = new ArrayDeque<>();
        private final Deque<HereDocument> pending = new ArrayDeque<>();
        /** The here-document of each 'H' in {@link #open}, innermost first. */
        private final Deque<HereDocument> bodies = new ArrayDeque<>();
        /**
         * Where the ) or ` that ended a substitution stands: the word goes on after it, so a # there is no comment
         * ("tag:$(echo a)#{t}" left {weights} and {grads} behind what was read as a comment).
         */
        private int substitutionEnd = -1;

        ShellReading(String command) {
            this.command = command;
            this.length = command.length();
        }

        List<Brace> braces() {
            for (int i = 0; i < length; ) i = step(i);
            return found;
        }

        /** Reads what starts at i; where the next step starts. */
        private int step(int i) {
            char c = command.charAt(i), in = open.isEmpty() ? ' ' : open.peek();
            String word = wordAt(command, i);
            if (word != null) {
                found.add(new Brace(i, word, quoteAround(), false, in != '\'' && i > 0 && command.charAt(i - 1) == '$'));
                return i + word.length(); // letters, digits and _: nothing in it opens or closes a quote
            }
            if (in == '\'') {
                if (c == '\'') open.pop();
                return i + 1;
            }
            if (c == '\\') {
                String escaped = wordAt(command, i + 1);
                if (escaped != null) found.add(new Brace(i + 1, escaped, quoteAround(), true, false));
                return i + 2;
            }
            if (in == 'H' && c == '`' && bodies.peek().inBackquotes()) {
                // the backquoted command string ends here, and the body with it: the backquote is read next, as its close
                open.pop();
                bodies.pop();
                return i;
            }
            if (c == '\n' && (in == 'H' || COMMANDS.indexOf(in) >= 0)) return afterNewline(i + 1, in);
            boolean inSubstitution = SUBSTITUTION.indexOf(in) >= 0;
            if (c == '#' && (in == ' ' || inSubstitution) && (i == 0 || WORD_BREAKS.indexOf(command.charAt(i - 1)) >= 0 && substitutionEnd != i - 1)) {
                int end = command.indexOf('\n', i);
                return end < 0 ? length : end;
            }
            if (command.startsWith("$((", i)) {
                open.push('$');
                open.push('A');
                return i + 3;
            }
            if (command.startsWith("$(", i)) {
                open.push('$');
                return i + 2;
            }
            if (c == '$' && in != 'H' && i + 1 < length && command.charAt(i + 1) == '{' && wordAt(command, i + 1) == null) {
                open.push('B');
                return i + 2;
            }
            if (in == 'B') return parameterExpansionSyntax(i, c);
            if (in == '"') {
                if (c == '"') open.pop();
                else if (c == '`') open.push('`');
                return i + 1;
            }
            if (c == '`') {
                if (in == '`') {
                    int depth = substitutionsOpen();
                    open.pop();
                    closeSubstitution(depth);
                    substitutionEnd = i;
                } else {
                    open.push('`');
                }
                return i + 1;
            }
            if (in == 'H') return i + 1; // quotes there are the text's own
            if (c == '\'' || c == '"') {
                open.push(c);
                return i + 1;
            }
            if (c == '<' && in != 'A' && command.startsWith("<<", i)) return hereDocumentOperator(i + 2);
            return inSubstitution ? substitutionSyntax(i, c, in) : i + 1;
        }

        /**
         * Inside ${...}, where sh reads no operator: << is text and parentheses open and close nothing. Quotes, ${ }, $( )
         * and ` ` nest in it; a ' is a quote only where the expansion is not inside double quotes ("${x:-it's}").
         */
        private int parameterExpansionSyntax(int i, char c) {
            if (c == '}') open.pop();
            else if (c == '`' || c == '"' || c == '\'' && quoteAround() != '"') open.push(c);
            return i + 1;
        }

        /** Parentheses and case inside a substitution; where the next step starts. */
        private int substitutionSyntax(int i, char c, char in) {
            if (in == 'p' && c == ')') {
                open.pop();
                open.push('b'); // the pattern ended: its branch's commands follow
            } else if (in == 'p' && c == '(') {
                return i + 1; // a pattern's optional opening parenthesis
            } else if (in == 'b' && command.startsWith(";;", i)) {
                open.pop();
                open.push('p');
                return i + 2;
            } else if ((in == 'p' || in == 'b' && atCommandStart(i)) && reservedWordAt(i, "esac")) {
                open.pop();
                return i + 4;
            } else if (in == 'c' && reservedWordAt(i, "in")) {
                open.pop();
                open.push('p');
                return i + 2;
            } else if ((in == '$' || in == '(' || in == 'b') && reservedWordAt(i, "case") && atCommandStart(i)) {
                open.push('c');
                return i + 4;
            } else if (c == '(') {
                open.push(in == 'A' ? 'A' : '('); // a subshell or arithmetic inside $( ): its ')' is not the one that ends it
            } else if (c == ')') {
                int depth = substitutionsOpen();
                char closed = open.pop();
                if (closed == '$') {
                    substitutionEnd = i;
                    closeSubstitution(depth);
                }
                if (closed == 'c' || closed == 'b') return i; // a case left open: the ) is the enclosing context's
            }
            return i + 1;
        }

        /**
         * At {@code at}, after a newline the shell reads: the end of the here-document body it was in, where this line is
         * its delimiter, and the bodies of here-documents whose operators came before it.
         */
        private int afterNewline(int at, char in) {
            if (in == 'H') {
                int after = afterDelimiterLine(at, bodies.peek());
                if (after < 0) return at;
                open.pop();
                bodies.pop();
                at = after;
            }
            // in backquotes a delimiter line can end at the closing backquote: no body begins after it
            while (!pending.isEmpty() && at < length && command.charAt(at) != '`') {
                HereDocument body = pending.removeFirst();
                if (body.quoted()) {
                    at = afterQuotedBody(at, body); // the shell reads nothing in it
                    continue;
                }
                int after = afterDelimiterLine(at, body);
                if (after >= 0) {
                    at = after; // an empty body
                    continue;
                }
                open.push('H');
                bodies.push(body);
                break;
            }
            return at;
        }

        /** After {@code <<} at {@code at}: reads the delimiter word (quoted wholly or in part: a quoted here-document). */
        private int hereDocumentOperator(int at) {
            if (at < length && command.charAt(at) == '<') return at + 1; // bash's here-string <<<: no here-document
            boolean stripsTabs = at < length && command.charAt(at) == '-';
            if (stripsTabs) at++;
            while (at < length && (command.charAt(at) == ' ' || command.charAt(at) == '\t')) at++;
            StringBuilder delimiter = new StringBuilder();
            boolean quoted = false, inBackquotes = open.contains('`');
            // in backquotes the word ends at the closing one (`cat <<A`: the delimiter is A)
            while (at < length && WORD_BREAKS.indexOf(command.charAt(at)) < 0 && !(inBackquotes && command.charAt(at) == '`')) {
                char d = command.charAt(at);
                if (d == '\'' || d == '"') {
                    int close = command.indexOf(d, at + 1);
                    if (close < 0) close = length;
                    delimiter.append(command, at + 1, close);
                    quoted = true;
                    at = Math.min(close + 1, length);
                } else if (d == '\\' && at + 1 < length) {
                    delimiter.append(command.charAt(at + 1));
                    quoted = true;
                    at += 2;
                } else {
                    delimiter.append(d);
                    at++;
                }
            }
            if (delimiter.length() > 0 || quoted) {
                pending.addLast(new HereDocument(delimiter.toString(), quoted, stripsTabs, substitutionsOpen(), inBackquotes));
            }
            return at;
        }

        /**
         * After the delimiter line of the body, where the line at {@code at} is it (for <<-, after its leading tabs); else
         * -1. In backquotes the line ends at the closing backquote too (EOF` is the line EOF), which is where this then
         * returns, for the backquote to close its substitution.
         */
        private int afterDelimiterLine(int at, HereDocument body) {
            if (at >= length) return -1;
            int end = lineEnd(at, body);
            int from = at;
            if (body.stripsTabs()) while (from < end && command.charAt(from) == '\t') from++;
            if (!command.substring(from, end).equals(body.delimiter())) return -1;
            return end < length && command.charAt(end) == '`' ? end : Math.min(end + 1, length);
        }

        /** Where the body's line at {@code at} ends: its newline, the command's end, or in backquotes the closing one. */
        private int lineEnd(int at, HereDocument body) {
            int end = command.indexOf('\n', at);
            if (end < 0) end = length;
            if (body.inBackquotes()) {
                for (int j = at; j < end; j++) {
                    if (command.charAt(j) == '\\') j++;
                    else if (command.charAt(j) == '`') return j;
                }
            }
            return end;
        }

        private int afterQuotedBody(int at, HereDocument body) {
            while (at < length) {
                int after = afterDelimiterLine(at, body);
                if (after >= 0) return after;
                int end = lineEnd(at, body);
                if (end < length && command.charAt(end) == '`') return end; // the backquoted command, and the body, end there
                at = end < length ? end + 1 : length;
            }
            return length; // no delimiter line: sh takes the body to the end
        }

        /** The $( ) and ` ` open here. */
        private int substitutionsOpen() {
            int n = 0;
            for (char o : open) if (o == '$' || o == '`') n++;
            return n;
        }

        /**
         * A substitution closes (its count among those open given): here-documents whose operators stood in it and whose
         * bodies have not begun get none, as dash reads them (echo "$(cat <<A)" leaves the next line a command).
         */
        private void closeSubstitution(int depth) {
            pending.removeIf(h -> h.substitutions() >= depth);
        }

        /**
         * The quote a {word} stands in: that of the innermost context, or for one inside ${...} that of the context around
         * the expansion (${x:-{t}} in double quotes is double-quoted).
         */
        private char quoteAround() {
            for (char o : open) if (o != 'B') return o;
            return ' ';
        }

        /** The reserved word stands at i as a word of its own. */
        private boolean reservedWordAt(int i, String word) {
            int end = i + word.length();
            return command.startsWith(word, i) && (i == 0 || WORD_BREAKS.indexOf(command.charAt(i - 1)) >= 0)
                    && (end == length || WORD_BREAKS.indexOf(command.charAt(end)) >= 0);
        }

        /** A word at i begins a command (where sh reads case and esac as reserved words, not as an argument). */
        private boolean atCommandStart(int i) {
            int j = i - 1;
            while (j >= 0 && (command.charAt(j) == ' ' || command.charAt(j) == '\t')) j--;
            if (j < 0 || ";&|()\n".indexOf(command.charAt(j)) >= 0) return true;
            int end = j + 1;
            while (j >= 0 && WORD_BREAKS.indexOf(command.charAt(j)) < 0) j--;
            return COMMAND_STARTERS.contains(command.substring(j + 1, end));
        }
    }

    /**
     * Walks the command as /bin/sh reads it, for {@link #quotedPlaceholder} ({@code unknownWords} false) or
     * {@link #unknownPlaceholder} (true).
     */
    private static String scanPlaceholders(String command, boolean unknownWords) {
        Set<String> unknown = new LinkedHashSet<>();
        for (Brace b : braces(command)) {
            if (unknownWords) {
                if (!b.known() && b.quote() != '\'' && !b.escaped() && !b.afterDollar()) unknown.add(b.word());
                continue;
            }
            if (!b.word().equals(WEIGHTS) && !b.word().equals(GRADS)) continue;
            if (b.quote() == 'H') continue; // the path as it is, which hereDocumentPathRefusal checks against the folder's
            if (b.escaped()) return b.quote() == '"' ? insideQuotes(b.word(), '"') : b.word() + " follows a backslash, which quotes its first character";
            if (b.quote() == '\'' || b.quote() == '"') return insideQuotes(b.word(), b.quote());
            if (b.afterDollar()) {
                return b.word() + " follows a $, which makes $" + b.word() + " a shell variable, not falcon's placeholder";
            }
        }
        if (unknown.isEmpty()) return null;
        String words = String.join(", ", unknown);
        return words + (unknown.size() == 1 ? " is not a placeholder falcon knows" : " are not placeholders falcon knows") + " (the placeholders are "
                + WEIGHTS + ", " + GRADS + " and " + STAGE + ", the stage's number as in a --grads 'X_stage" + STAGE + ".npy' pattern):"
                + " the command gets it as the literal text " + words;
    }

    private static String insideQuotes(String placeholder, char quote) {
        return placeholder + " is inside " + (quote == '"' ? "double" : "single") + " quotes of the command's own (" + quote + placeholder + quote + ")";
    }

    /**
     * The command line for one stage, the placeholders replaced in one pass where {@link Brace#replaced} says: replaced
     * one after the other, a {grads} inside the weights' path (a TMPDIR that holds one) was replaced again, and the
     * command got a path that does not exist.
     */
    String commandLine(Path weights, Path grads, int stage) {
        StringBuilder line = new StringBuilder();
        int copied = 0;
        for (Brace b : braces(command)) {
            if (!b.replaced()) continue;
            String path = (b.word().equals(WEIGHTS) ? weights : grads).toString();
            // a here-document's body reads quotes as text: the path as it is, which the constructor checked it may be
            String value = b.word().equals(STAGE) ? Integer.toString(stage) : b.quote() == 'H' ? path : quote(path);
            line.append(command, copied, b.at()).append(value);
            copied = b.at() + b.word().length();
        }
        return line.append(command, copied, command.length()).toString();
    }

    /**
     * {@inheritDoc} A call that finishes after the run it was made for ended (its caller timed it out and the run ended;
     * runEnded() stops its command and waits a while for it) throws an {@link IllegalStateException} and leaves the
     * source's state, by then the next run's, alone: it had closed the next run's stage X and left its own as the X held.
     */
    @Override
    public HostMatrix gradients(int stage, float[] weights) {
        long run;
        // counted with the run it is for, at once: runEnded() either waits for it or sees its run gone
        synchronized (state) {
            run = runs.generation();
            callsInFlight++;
        }
        try {
            return gradients(stage, weights, run);
        } finally {
            synchronized (state) {
                callsInFlight--;
                state.notifyAll();
            }
        }
    }

    private HostMatrix gradients(int stage, float[] weights, long run) {
        checkOpen(stage);
        String call = "gradients(" + stage + ", ...)";
        if (stage == 0) {
            synchronized (state) {
                runs.requireSameRun(sourceName(), call, run);
                lastWeights = weights.clone();
                lastX = first;
            }
            return first;
        }
        if (weights.length != cols) throw new IllegalArgumentException("weights have " + weights.length + " values, X has p = " + cols);
        // A stage that pruned nothing (falcon++ starting at the dense level) hands on the weights it got: X at those
        // weights is the X already held, and the command (often minutes on a GPU) would only compute it again.
        synchronized (state) {
            if (lastX != null && java.util.Arrays.equals(weights, lastWeights)) {
                runs.requireSameRun(sourceName(), call, run);
                reused.add(stage);
                return lastX;
            }
        }
        // named for this call alone: a call whose run ended while it ran (runEnded() waits for it only a while) must
        // neither leave an X that the next run's same stage takes for its own nor delete that stage's files as it ends
        long own = commandsStarted.incrementAndGet();
        Path w = dir.resolve("weights_stage" + stage + "_" + own + ".npy");
        Path x = dir.resolve("X_stage" + stage + "_" + own + ".npy");
        try (FloatPointer wp = new FloatPointer(weights.length)) {
            wp.put(weights, 0, weights.length);
            Npy.writeFloat32(w, wp, new long[] {weights.length});
        } catch (InputException e) {
            deleteQuietly(w); // the later finally that removes it is never reached from here
            // a cancel(true), whose interrupt closes the write's FileChannel: not a disk that failed
            if (Thread.currentThread().isInterrupted() || e.getCause() instanceof IOException io && dev.falcon.io.ReadFailures.byInterrupt(io)) {
                Thread.currentThread().interrupt();
                throw new MultiStage.SourceFailure("interrupted while the weights of stage " + (stage - 1) + " were written for " + names.command(), e);
            }
            // a full disk or a directory a cleaner of /tmp removed: the source cannot deliver, as when the command fails,
            // and the stages completed so far are the run's result
            checkOpen(stage); // closed from another thread during this call: its folder went with the close, not with a cleaner
            if (!Files.isDirectory(dir)) {
                // the write's own advice is for an output the user chose ("create it first or choose another output path")
                throw new MultiStage.SourceFailure("the weights of stage " + (stage - 1) + " could not be written for " + names.command() + ": " + removedDirectory(), e);
            }
            throw new MultiStage.SourceFailure("the weights of stage " + (stage - 1) + " could not be written for " + names.command() + ": " + e.getMessage(), e);
        }
        String line = commandLine(w, x, stage);
        Deque<String> tail = new ArrayDeque<>();
        java.util.concurrent.atomic.AtomicReference<Throwable> logFailure = new java.util.concurrent.atomic.AtomicReference<>();
        int code;
        boolean timedOut = false;
        cleanup.commandStage = true;
        RunPhase.set("during stage " + stage + "'s --grads-command");
        try {
            ProcessBuilder builder = new ProcessBuilder("/bin/sh", "-c", line).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            String marker = dir.getFileName() + "/stage" + stage;
            builder.environment().put(MARKER_VARIABLE, marker);
            restoreUsersLocale(builder.environment());
            cleanup.commandMarker = marker;
            Runnable pause = afterWeightsWritten;
            if (pause != null) pause.run();
            Process proc;
            // a call whose run ended while it wrote the weights starts no command beside the next run's: runEnded() had
            // nothing to stop yet
            synchronized (state) {
                runs.requireSameRun(sourceName(), call, run);
                // a cancel(true) that landed since the weights were written: the command would start only to be stopped
                if (Thread.currentThread().isInterrupted()) {
                    throw new MultiStage.SourceFailure("interrupted before " + names.command() + " started at stage " + stage);
                }
                proc = builder.start();
                cleanup.running = new Running(proc, marker);
            }
            Thread out = pump(proc.getInputStream(), null, stage, logFailure);
            Thread err = pump(proc.getErrorStream(), tail, stage, logFailure);
            if (timeout == null || proc.waitFor(saturatedNanos(timeout), java.util.concurrent.TimeUnit.NANOSECONDS)) {
                code = proc.waitFor();
            } else {
                // what a stop does, so that nothing of a hung command (a GPU job, a child waiting on a lock) runs on
                timedOut = true;
                stopCommand(cleanup.running, marker);
                proc.waitFor(STOP_GRACE_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS); // ended, or beyond even SIGKILL
                code = -1;
            }
            cleanup.running = null;
            // both streams drain at once, within one DRAIN_MILLIS: a background child the command left holding them
            // (`... &`) cost 2 s for each in turn, 4 s a stage
            long drainEnd = System.nanoTime() + DRAIN_MILLIS * 1_000_000;
            out.join(DRAIN_MILLIS);
            err.join(Math.max(1, (drainEnd - System.nanoTime()) / 1_000_000));
            // Ctrl-C reaches the command and falcon together: a command that died of it first must not read as one that
            // failed, after which the run went on to write the last stage's outputs, refused as the JVM stops
            // runEnded() stopped it: no Ctrl-C to wait for
            if (!timedOut && runs.generation() == run && (code == 128 + 1 || code == 128 + 2 || code == 128 + 15)) {
                long deadline = System.nanoTime() + SIGNAL_WAIT_MILLIS * 1_000_000;
                while (!cleanup.stoppedByHook && System.nanoTime() < deadline) Thread.sleep(10);
            }
            if (cleanup.stoppedByHook) throw new StoppedException("during stage " + stage + "'s --grads-command");
            RunPhase.set("while reading the X stage " + stage + "'s --grads-command wrote");
        } catch (IOException e) {
            throw new MultiStage.SourceFailure(names.command() + " could not be started: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            stopCommand();
            Thread.currentThread().interrupt();
            throw new MultiStage.SourceFailure("interrupted while " + names.command() + " ran", e);
        } finally {
            Running command = cleanup.running;
            if (command != null && command.process().isAlive()) stopCommand(); // anything else thrown while it ran: it must not run on
            cleanup.running = null;
            cleanup.commandStage = false;
            cleanup.commandMarker = null;
            deleteQuietly(w);
            // unreachable while its command ran, the source's cleaner would remove the folder the command writes into
            java.lang.ref.Reference.reachabilityFence(this);
        }
        // close() from another thread stops the command: its SIGTERM status is falcon's own stop, not a failed command
        // whose last completed stage the run would return
        checkOpen(stage);
        try {
            runs.requireSameRun(sourceName(), call, run); // as runEnded() stopping it: not the command's failure
        } catch (IllegalStateException ended) {
            deleteQuietly(x); // whatever the stopped command wrote: no run reads it
            throw ended;
        }
        Throwable logFailed = logFailure.get();
        if (logFailed != null) {
            // the embedder's own failure: not a command that could not deliver, whose SourceFailure would end the run
            // quietly at the last completed stage
            deleteQuietly(x);
            throw logThrew(logFailed, "a line of the output of " + names.command() + " at stage " + stage + "; the command ran on, the rest of its"
                    + " output read and dropped, and " + (timedOut ? "did not exit within " + describeTimeout(timeout) : describeExit(code)));
        }
        String stderr = tailText(tail);
        if (timedOut) {
            deleteQuietly(x); // whatever part of X it had written
            throw new MultiStage.SourceFailure(names.command() + " " + quote(command) + " did not exit within " + describeTimeout(timeout) + " at stage " + stage
                    + " and was stopped with the processes it started; raise " + names.timeout() + " if it needs longer, or fix the command if it hangs"
                    + (stderr == null ? " (no stderr)" : ""), stderr, null);
        }
        if (code != 0) {
            deleteQuietly(x);
            throw new MultiStage.SourceFailure(names.command() + " " + describeExit(code) + " at stage " + stage + (stderr == null ? " (no stderr)" : ""), stderr, null);
        }
        // Named for the user, not by its path: the file and its folder are gone by the time the message is read (and
        // inspecting it, as the readers' advice goes, cannot be done), and a random folder name made the reports of two
        // identical runs differ.
        String label = "the X " + names.command() + " wrote for stage " + stage + " (" + GRADS + ")";
        HostMatrix next;
        try {
            if (!Files.exists(x)) {
                if (!Files.isDirectory(dir)) throw new InputException("no X for stage " + stage + " at " + GRADS + ": " + removedDirectory());
                throw new InputException(names.command() + " exited with status 0 but X for stage " + stage + " was not written to " + GRADS
                        + "; the command must write X to the path " + GRADS + " stands for");
            }
            if (Files.isDirectory(x)) throw new InputException(label + ": is a directory; write X as a file at the path " + GRADS + " stands for");
            RawMatrixSource src = ArrayFiles.matrixSourceByContent(x, null, label);
            if (src.rows() != rows || src.cols() != cols) {
                throw InputException.of(label, "shape", "X is " + src.rows() + " x " + src.cols() + " but stage 0's X is " + rows + " x " + cols,
                        "write X for the same samples (n) and weights (p)");
            }
            if (src.type() != dev.falcon.data.ElementType.FLOAT32) {
                // a command that saves float64 (numpy's default) doubles the bytes it writes and falcon reads: say so once per stage
                String type = src.type().name().toLowerCase(java.util.Locale.ROOT);
                logLine("falcon: X of stage " + stage + " from " + names.command() + " is " + type + "; converted once to float32"
                        + (src.type() == dev.falcon.data.ElementType.FLOAT64 ? " (write float32 to halve the file)" : ""), logFailure);
                Throwable noteFailed = logFailure.get();
                // written on this thread, it escaped raw, not as the log's failure an output line's gives
                if (noteFailed != null) {
                    throw logThrew(noteFailed, "falcon's note that the X " + names.command() + " wrote for stage " + stage + " is " + type
                            + "; the command " + describeExit(code) + ", and that X was not read");
                }
            }
            // the previous stage's X goes before the next is read, so that two X (stage 0's and this one) are held, not
            // three; MultiStage measured Q on it before this call, and a failure from here on ends the run
            synchronized (state) {
                runs.requireSameRun(sourceName(), call, run);
                releaseCurrent();
            }
            next = backend.load(src, first.panelStarts()); // the layout of stage 0's X
            try {
                synchronized (state) {
                    runs.requireSameRun(sourceName(), call, run);
                    stageFileTypes.put(stage, src.typeAndConversion(next));
                }
                FilePatternGradients.checkFinite(backend, next, label, "values", "recompute the gradients or drop the bad samples; " + lookingAtX(stage));
            } catch (RuntimeException e) {
                next.close();
                throw e;
            }
        } catch (InputException | IOException e) {
            deleteQuietly(x);
            // the readers name the file by its path
            throw new MultiStage.SourceFailure(String.valueOf(e.getMessage()).replace(x.toString(), label), stderr, e);
        } catch (RuntimeException e) {
            // an interrupt while reading it (an IllegalStateException): the file is of no use either way
            deleteQuietly(x);
            throw e;
        }
        synchronized (state) {
            try {
                runs.requireSameRun(sourceName(), call, run, next);
            } catch (IllegalStateException ended) {
                deleteQuietly(x);
                throw ended;
            }
            releaseCurrent();
            cleanup.stageX = next;
            currentFile = x; // kept until the next stage's X replaces it (a Fortran-order float32 npy is memory-mapped)
            lastWeights = weights.clone();
            lastX = next;
        }
        return next;
    }

    /**
     * That the temporary folder went during the run, naming where it was (not its random name, which would make two
     * identical runs' reports differ): the command did not fail to write X into it.
     */
    private String removedDirectory() {
        return "falcon's temporary folder (falcon-grads-* in " + dir.getParent() + ") was removed during the run (by the command, or a cleaner of "
                + dir.getParent() + "?); keep it while falcon runs, or set TMPDIR to a folder nothing cleans";
    }

    /** How to look at a bad X, which went with the temporary folder: the weights the command got are what the run returns. */
    private static String lookingAtX(int stage) {
        return "to look at it, run the command by hand on stage " + (stage - 1) + "'s weights (the weights this stop returns) and `falcon inspect` the X it writes";
    }

    /** A limit beyond what a long holds in nanoseconds (about 292 years) is no limit in practice. */
    private static long saturatedNanos(java.time.Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException beyondALong) {
            return Long.MAX_VALUE;
        }
    }

    /** "90 s", "15 min", "2 h" or "1.5 s". */
    static String describeTimeout(java.time.Duration d) {
        if (d.getNano() == 0 && d.getSeconds() % 3600 == 0) return d.getSeconds() / 3600 + " h";
        if (d.getNano() == 0 && d.getSeconds() % 60 == 0) return d.getSeconds() / 60 + " min";
        return java.math.BigDecimal.valueOf(d.getSeconds()).add(java.math.BigDecimal.valueOf(d.getNano(), 9)).stripTrailingZeros().toPlainString() + " s";
    }

    /**
     * "exited with status N", naming the signal where N is how a shell and the JDK report a death by one (128 + the
     * signal's number): a bare 137 sends users looking for an exit(137) in their script, not at the out-of-memory killer.
     */
    static String describeExit(int code) {
        String signal = switch (code - 128) {
            case 1 -> "SIGHUP";
            case 2 -> "SIGINT (interrupted)";
            case 6 -> "SIGABRT (the process aborted itself)";
            case 9 -> "SIGKILL (often the kernel's out-of-memory killer: see `dmesg`)";
            case 11 -> "SIGSEGV (a crash)";
            case 15 -> "SIGTERM (stopped from outside)";
            default -> null;
        };
        return "exited with status " + code + (signal == null ? "" : ", that is killed by " + signal);
    }

    /**
     * The X the command wrote goes, file and matrix; the folder, the hook and stage 0's X (the caller's) stay for another
     * run, whose stages run the command again. What this run's stages were (X reused, file types) goes too: kept, a later
     * run's stage that ran the command was described as one that reused the X held. Refused from a
     * thread other than the one that started the run holding the source: it would free that run's X and end its claim.
     */
    @Override
    public void runEnded() {
        runs.requireRunsOwnThreadToEnd(sourceName());
        try {
            runs.retire();
            stopCallsInFlight();
            synchronized (state) {
                releaseCurrent();
                lastX = null;
                lastWeights = null;
                reused.clear();
                stageFileTypes.clear();
            }
        } finally {
            runs.end();
        }
    }

    /**
     * Stops the command of a gradients() call still under way (one its caller timed out without cancelling) and waits
     * for the call to give up, so that its files go before the next run; a call that outlasts the wait still leaves the
     * next run's state ({@link OneRunAtATime#requireSameRun}) and files (named for each call) alone, and removes its own.
     */
    private void stopCallsInFlight() {
        synchronized (state) {
            if (callsInFlight == 0) return;
        }
        stopCommand();
        long deadline = System.nanoTime() + (2 * STOP_GRACE_MILLIS + DRAIN_MILLIS) * 1_000_000;
        boolean interrupted = false;
        synchronized (state) {
            for (long left; callsInFlight > 0 && (left = deadline - System.nanoTime()) > 0; ) {
                try {
                    state.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    interrupted = true;
                    break;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /**
     * Refuses a second run while one is in progress: the X held, the weights it is at and the stage files in the one
     * folder are that run's.
     */
    @Override
    public void runStarting() {
        runs.begin(sourceName());
    }

    /** This source as its refusals name it. */
    private String sourceName() {
        return "CommandGradients (" + names.command() + " " + quote(command) + ")";
    }

    private void releaseCurrent() {
        HostMatrix held = cleanup.stageX;
        cleanup.stageX = null;
        if (held != null) held.close();
        if (currentFile != null) deleteQuietly(currentFile);
        if (lastX == held) lastX = null;
        currentFile = null;
    }

    /**
     * Writes one line to the log, unless there is none or it has already thrown this stage; a failure goes to
     * {@code logFailure} (the first only), for the stage to throw once the command has ended. Every write to the log
     * comes here, from the output's threads and from the stage's own.
     */
    private void logLine(String line, java.util.concurrent.atomic.AtomicReference<Throwable> logFailure) {
        if (log == null || logFailure.get() != null) return;
        try {
            synchronized (log) {
                log.println(line);
                log.flush();
            }
        } catch (RuntimeException | Error e) {
            logFailure.compareAndSet(null, e);
        }
    }

    /** The stage's failure for a log that threw {@code failure} on {@code what}, with what the command did meanwhile. */
    private static IllegalStateException logThrew(Throwable failure, String what) {
        return new IllegalStateException("the log given to CommandGradients threw " + failure + " on " + what
                + "; give a log that does not throw (a PrintWriter keeps its own write errors for checkError())", failure);
    }

    /**
     * Copies one of the command's streams to the log, and stderr's lines to {@code tail}, until its end. A log that
     * throws is not called again for the rest of the stage (by either stream's thread, or the stage's) and its failure
     * goes to {@code logFailure}: the stream is still read, since a thread that ended closed the pipe and the command
     * died writing into it.
     */
    private Thread pump(InputStream in, Deque<String> tail, int stage, java.util.concurrent.atomic.AtomicReference<Throwable> logFailure) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                BoundedLines lines = new BoundedLines(r, LINE_CHARS);
                for (String s; (s = lines.next()) != null; ) {
                    logLine("  " + outputMark(stage) + " " + s, logFailure);
                    if (tail != null) {
                        String kept = tailLine(s);
                        synchronized (tail) {
                            tail.addLast(kept);
                            if (tail.size() > TAIL_LINES) tail.removeFirst();
                        }
                    }
                }
            } catch (IOException ignored) {
                // the process went away; what was read is kept
            }
        }, "falcon-grads-command-" + (tail != null ? "stderr" : "stdout"));
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Set by the launcher where it changed a locale variable for the JVM: which one (LC_ALL or LC_CTYPE). */
    static final String LOCALE_CHANGED_VARIABLE = "FALCON_ORIGINAL_LOCALE_VARIABLES";
    /** The launcher's prefix for the user's own value of a variable it changed (absent: the user had it unset). */
    static final String ORIGINAL_PREFIX = "FALCON_ORIGINAL_";

    /**
     * Puts back in the command's environment the locale the user ran falcon under: the launcher gives the JVM the
     * C.UTF-8 character set under the C locale (for file names), and the command inherited it, sorting and formatting
     * otherwise than when run by hand. The launcher's FALCON_ORIGINAL_* variables are removed; without them (the jar run
     * by java itself) nothing changes.
     */
    static void restoreUsersLocale(java.util.Map<String, String> env) {
        String changed = env.get(LOCALE_CHANGED_VARIABLE);
        if (changed != null) {
            for (String name : changed.split(",")) {
                if (!name.equals("LC_ALL") && !name.equals("LC_CTYPE")) continue; // the only ones the launcher changes
                String original = env.get(ORIGINAL_PREFIX + name);
                if (original != null) env.put(name, original);
                else env.remove(name);
            }
        }
        env.keySet().removeIf(name -> name.startsWith(ORIGINAL_PREFIX));
    }

    /** What marks each line of stage t's command's output where falcon shows it: "[grads-command stage t]". */
    public static String outputMark(int stage) {
        return "[grads-command stage " + stage + "]";
    }

    /** A line of stderr as the tail keeps it: control characters escaped as elsewhere in messages, cut to TAIL_LINE_CHARS. */
    static String tailLine(String line) {
        String escaped = dev.falcon.model.LayerTable.escaped(line);
        if (escaped.length() <= TAIL_LINE_CHARS) return escaped;
        int end = TAIL_LINE_CHARS;
        if (Character.isHighSurrogate(escaped.charAt(end - 1))) end--; // half a character would print as '?'
        return escaped.substring(0, end) + "... (cut at " + TAIL_LINE_CHARS + " characters)";
    }

    /** The kept tail's last lines within TAIL_CHARS (the last line always, which usually names the error); null: none. */
    static String tailText(Deque<String> tail) {
        List<String> lines;
        synchronized (tail) {
            lines = List.copyOf(tail);
        }
        if (lines.isEmpty()) return null;
        int from = lines.size() - 1, chars = lines.get(from).length();
        while (from > 0 && chars + 1 + lines.get(from - 1).length() <= TAIL_CHARS) chars += 1 + lines.get(--from).length();
        return String.join("\n", lines.subList(from, lines.size()));
    }

    /** Lines as {@link BufferedReader#readLine()} splits them (at LF, CR or CR LF), each cut to its first characters. */
    static final class BoundedLines {
        private final java.io.Reader in;
        private final int max;
        private boolean afterCarriageReturn;

        BoundedLines(java.io.Reader in, int max) {
            this.in = in;
            this.max = max;
        }

        /** The next line, or null at the end. */
        String next() throws IOException {
            StringBuilder line = new StringBuilder();
            long cut = 0;
            boolean any = false;
            for (int c; (c = in.read()) != -1; ) {
                if (afterCarriageReturn) {
                    afterCarriageReturn = false;
                    if (c == '\n') continue;
                }
                if (c == '\n' || c == '\r') {
                    afterCarriageReturn = c == '\r';
                    return ended(line, cut);
                }
                any = true;
                if (line.length() < max) line.append((char) c);
                else cut++;
            }
            return any ? ended(line, cut) : null;
        }

        private static String ended(StringBuilder line, long cut) {
            return cut == 0 ? line.toString() : line + "... (" + cut + " more characters)";
        }
    }

    /** Each X is scanned as it is loaded, naming its file. */
    @Override
    public boolean verifiesFinite() { return true; }

    /** As for any other X the command could not deliver: the run stops after the last completed stage. */
    @Override
    public RuntimeException unusable(int stage, String problem) {
        return new MultiStage.SourceFailure("the X " + names.command() + " wrote for stage " + stage + ": " + problem + "; " + lookingAtX(stage));
    }

    @Override
    public String describe(int stage) {
        if (stage == 0) return "the initial X (at the dense weights)";
        return reused.contains(stage) ? "the X already held (stage " + (stage - 1) + " left the weights unchanged; " + names.command() + " not run)"
                : names.command() + " at the weights of stage " + (stage - 1) + (stageFileTypes.containsKey(stage) ? ", read as " + stageFileTypes.get(stage) : "");
    }

    private void checkOpen(int stage) {
        if (closed) {
            throw new IllegalStateException("CommandGradients.gradients(" + stage + ", ...): this gradient source was closed"
                    + " (its temporary folder with it); close it only after the prune that uses it has returned");
        }
    }

    @Override
    public void close() {
        closed = true;
        stopCommand(); // closed from another thread while the command runs: it must not outlive the directory
        cleanable.clean(); // the folder, the hook and the stage's X, as when the source is collected unclosed
    }

    private static void deleteDirectory(Path dir) {
        // the cleaner and the shutdown hook may delete the same folder at once (a source collected as the JVM exits): a
        // walk that meets a file the other removed fails, and is walked again
        for (int attempt = 0; attempt < 3 && Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS); attempt++) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(CommandGradients::deleteQuietly);
            } catch (IOException | java.io.UncheckedIOException ignored) {
                // best effort
            }
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort
        }
    }
}
