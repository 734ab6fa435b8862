package dev.falcon.cli;

import dev.falcon.backend.BackendMemoryException;
import dev.falcon.backend.NativeCalls;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import dev.falcon.io.RunPhase;
import dev.falcon.io.ShutdownHooks;
import dev.falcon.io.StoppedException;
import dev.falcon.model.Numbers;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code falcon}: FLOP-aware pruning from the command line. Exit codes: 0 ok, 2 bad usage or input
 * (including a run that would not fit in memory), 3 infeasible budgets, 1 internal error, stdout or an output not writable, 130 or 143
 * stopped by SIGINT or SIGTERM.
 */
@Command(name = "falcon", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "FLOP-aware neural-network pruning (FALCON).",
        subcommands = {PruneCommand.class, InspectCommand.class, EnvCommand.class, CommandLine.HelpCommand.class},
        // footer lines fit picocli's 80 columns: longer ones it wraps wherever, even inside an option's name
        footer = {"", "Exit codes: 0 ok, 2 bad usage or input (or too little memory), 3 infeasible",
                "  budgets, 1 internal error, stdout not writable (the summary; the outputs",
                "  are complete), an output that could not be written (no output is left",
                "  behind) or a failed --grads-command (prune), 130 or 143 stopped by SIGINT",
                "  (Ctrl-C) or SIGTERM (one line says where, and what was written).",
                "Try: falcon prune --example resnet20"})
public final class Main implements java.util.concurrent.Callable<Integer> {
    public static final int OK = 0, INTERNAL = 1, USAGE = 2, INFEASIBLE = 3;
    /**
     * A run stopped by a signal (SIGTERM's status): the JVM exits with its own status after its hooks (130 for SIGINT,
     * 143 for SIGTERM), so this is what callers of {@link #execute} in-process see.
     */
    public static final int STOPPED = 128 + 15;

    // JUL keeps loggers only weakly: a level set on a logger nobody holds is lost at the next GC, and the INFO
    // lines came back (the backend choice printed even under --quiet).
    private static final java.util.logging.Logger FALCON_LOG = java.util.logging.Logger.getLogger("dev.falcon");

    @Spec CommandSpec spec;

    /** No command: bad usage, as the footer's exit codes say; exit 0 let `falcon && next` go on. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return USAGE;
    }

    public static void main(String[] args) {
        // The backend choice goes into the report and the summary; keep the console to errors and progress.
        FALCON_LOG.setLevel(java.util.logging.Level.WARNING);
        // The JVM's own streams are gated too, before JUL's console handler takes System.err (at the first record):
        // a record under way when the stop came was written after the stop line, since LogManager's hook, which removes
        // that handler, waits for it. Libraries' warnings and uncaught exceptions' traces go there as well.
        PrintStream rawOut = System.out, rawErr = System.err;
        UntilStopped outGate = new UntilStopped(rawOut), errGate = new UntilStopped(rawErr);
        PrintStream out = outGate.stream(), err = errGate.stream();
        System.setOut(out);
        System.setErr(err);
        warnInTheCliForm(err);
        recordStoppingSignals();
        reportStopAtShutdown(rawOut, rawErr);
        exitWithNoNativeCallInFlight();
        int code = execute(args, out, err);
        outGate.drain();
        // A PrintStream keeps its write errors to itself: `inspect > /dev/full`, or a summary into a pipe whose reader
        // had gone, exited 0 with what stdout should hold lost, and a script took it for read.
        if (code == OK && rawOut.checkError()) {
            // only a prune that committed its outputs wrote files: inspect's and env's message spoke of files they never
            // wrote, and so did that of `prune --help` and `prune -V`
            err.println("falcon: error: stdout could not be written (a full disk, a pipe whose reader has gone, or stdout closed),"
                    + " so what falcon printed there is incomplete" + ("prune".equals(commandRun) && RunPhase.outputsWritten()
                    ? "; the files prune wrote are complete" : ""));
            code = INTERNAL;
        }
        errGate.drain();
        if (!END.compareAndSet(RUNNING, FINISHED)) {
            // a signal came first and the JVM is exiting on it, with the stop's line: an exit of the run's own now could
            // take the JVM's exit from it and end with the run's status after the stop's line
            while (true) {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    // the JVM's halt ends this thread
                }
            }
        }
        finished = true;
        exitStatus = code;
        System.exit(code);
    }

    private static final int RUNNING = 0, FINISHED = 1, STOPPED_BY_SIGNAL = 2;
    /**
     * Which came first, the run's end or a stopping signal: only one of them ends the JVM. A SIGTERM just after the run
     * had ended (a batch system's time limit, a `kill` of a job that was done) raced main's System.exit, and where the
     * signal's exit won the JVM ended with 143 and no line at all, though the outputs were complete and the summary
     * printed. Once the run has ended the signal is let go: the work is done, and the status is the run's.
     */
    private static final java.util.concurrent.atomic.AtomicInteger END = new java.util.concurrent.atomic.AtomicInteger(RUNNING);

    /**
     * The library's warnings as the CLI says its own, one "falcon: warning: ..." line each: JUL's default console form
     * put a line of date and class ("Dec 05, 2026 ... dev.falcon.solve.Backsolve sweep") before each, which tells a user
     * nothing, among lines of another form.
     */
    private static void warnInTheCliForm(PrintStream err) {
        FALCON_LOG.setUseParentHandlers(false);
        FALCON_LOG.addHandler(new java.util.logging.Handler() {
            @Override public void publish(java.util.logging.LogRecord r) {
                if (!isLoggable(r)) return;
                String kind = r.getLevel().intValue() >= java.util.logging.Level.SEVERE.intValue() ? "error" : "warning";
                String message = new java.util.logging.SimpleFormatter().formatMessage(inCliWords(r));
                err.println("falcon: " + kind + ": " + message + (r.getThrown() != null ? " (" + r.getThrown() + ")" : ""));
            }

            @Override public void flush() {
                err.flush();
            }

            /** The record with each setting it advises named by the CLI's option (the library's message names the Java one). */
            private java.util.logging.LogRecord inCliWords(java.util.logging.LogRecord r) {
                Object[] parameters = r.getParameters();
                if (parameters == null) return r;
                java.util.logging.LogRecord copy = new java.util.logging.LogRecord(r.getLevel(), r.getMessage());
                copy.setParameters(dev.falcon.io.SettingName.inCliWords(parameters));
                copy.setResourceBundle(r.getResourceBundle());
                return copy;
            }

            @Override public void close() {}
        });
    }

    /**
     * The run's stdout or stderr, silent from the moment the stop hook begins its line. The run's thread is not told of a
     * signal and goes on: a commit finished by AtomicFiles' hook let it print the summary (or an error) after "the
     * outputs are complete", as if the run went on. Each write is checked and made under the lock the hook takes first.
     * <p>
     * Only whole lines are passed on: picocli's writer and JUL's handler hand over 8192 characters at a time, and a stop
     * between two parts of a long line (a summary naming long paths, a warning with a long trace) left it cut, with the
     * stop line going on from there. What follows the last newline waits for its own, or for {@link #drain}.
     */
    private static final class UntilStopped extends java.io.OutputStream {
        private final PrintStream raw;
        /** The unfinished line; only touched under RunPhase's print lock. */
        private final java.io.ByteArrayOutputStream partial = new java.io.ByteArrayOutputStream();

        UntilStopped(PrintStream raw) {
            this.raw = raw;
        }

        PrintStream stream() {
            return new PrintStream(this, true, java.nio.charset.Charset.defaultCharset());
        }

        @Override public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override public void write(byte[] b, int off, int len) {
            RunPhase.printUnlessStopping(() -> {
                int end = off + len;
                while (end > off && b[end - 1] != '\n') end--;
                if (end == off) {
                    partial.write(b, off, len);
                    return;
                }
                partial.write(b, off, end - off);
                byte[] lines = partial.toByteArray();
                partial.reset();
                partial.write(b, end, off + len - end);
                raw.write(lines, 0, lines.length);
            });
        }

        @Override public void flush() {
            raw.flush();
        }

        /** The run has ended: a last line without a newline is printed as it is. */
        void drain() {
            RunPhase.printUnlessStopping(() -> {
                byte[] rest = partial.toByteArray();
                partial.reset();
                raw.write(rest, 0, rest.length);
                raw.flush();
            });
        }
    }

    /** The subcommand the last {@link #execute} ran (prune, inspect, env, help), or null: main's message on stdout names prune's files. */
    private static volatile String commandRun;

    /** Set when the run has returned: the JVM's shutdown after that is the normal exit, with nothing to report. */
    private static volatile boolean finished;
    /** How long the report waits for a commit of outputs under way: a little longer than AtomicFiles' hook (5 s) lets it run. */
    private static final long COMMIT_WAIT_MILLIS = 6000;

    /**
     * A signal starts the JVM's shutdown hooks while the run's thread goes on solving (or loading, or writing): it is
     * never told, and the JVM halts when the hooks end. So the line that says where the run stopped and what it wrote
     * comes from a hook, the only code sure to run; the run's thread, should it fail on the way, says nothing more.
     */
    private static void reportStopAtShutdown(PrintStream out, PrintStream err) {
        ShutdownHooks.add(new Thread(() -> {
            if (finished) return;
            String line = "falcon: " + RunPhase.stopReport(StoppedException.signalName(), COMMIT_WAIT_MILLIS);
            // A write of the run's blocked on a pipe nobody reads holds that stream's lock for good, and a hook that
            // waited for it kept the JVM from ending: stdout waited for only so long, then the line (stderr may be
            // such a pipe as well)
            whileAtMost(STREAM_WAIT_MILLIS, out::flush);
            whileAtMost(STREAM_WAIT_MILLIS, () -> {
                err.println(line);
                err.flush();
            });
            StoppedException.reported();
        }, "falcon-report-stop"));
        reportingHook = true;
    }

    /** How long the stop's report waits for a stream to take a write. */
    private static final long STREAM_WAIT_MILLIS = 2000;

    /** Runs {@code write} and waits at most {@code millis} for it; one still blocked then is left to the JVM's halt. */
    private static void whileAtMost(long millis, Runnable write) {
        Thread writer = new Thread(write, "falcon-report-stop-write");
        writer.setDaemon(true);
        writer.start();
        try {
            writer.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the JVM's shutdown has begun (the hooks may not have got as far as {@link RunPhase#stopping()}). */
    static boolean shuttingDown() {
        Thread probe = new Thread(() -> {});
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }

    /** The status the JVM is exiting with: 128 + the signal's number, or the run's code; 1 where neither is known. */
    private static volatile int exitStatus = INTERNAL;
    /**
     * How long the exit waits for a native call under way (an OpenBLAS call of the run's thread, which a stop does not
     * interrupt) to return. The calls of a solve take milliseconds; a larger one (dsyrk or dpotrf at n in the thousands)
     * can take seconds, and the exit then is immediate (see {@link #exitWithNoNativeCallInFlight}).
     */
    private static final long NATIVE_CALL_WAIT_MILLIS = 3000;
    /** How long, past that wait, the immediate exit waits for the other hooks (the stop's line, temporary files removed). */
    private static final long OTHER_HOOKS_WAIT_MILLIS = 10_000;

    /**
     * A stop (SIGINT, SIGTERM) found the run's thread inside OpenBLAS now and then, and the JVM's exit then hung for good
     * after the stop's line: libc's exit runs OpenBLAS's teardown, which joins its worker threads, and a worker whose part
     * of the call in flight ended after the teardown had told it to stop went back to sleep (gdb: the VM thread in
     * gotoblas_quit, blas_thread_shutdown_, pthread_join; the run's thread parked on its way back from cblas_dsyrk). A
     * hook closes the backends' gate for native calls (a call not yet begun is held, in Java) and waits, with a bound, for
     * the one under way: the exit then goes on with none in flight. Past the bound, once the other hooks have done their
     * work, the process ends at once (_exit), with the status the JVM would have given.
     */
    private static void exitWithNoNativeCallInFlight() {
        ShutdownHooks.add(new Thread(() -> {
            NativeCalls calls = NativeCalls.process();
            if (calls.closeAndAwait(NATIVE_CALL_WAIT_MILLIS)) return;
            ShutdownHooks.awaitOthers(OTHER_HOOKS_WAIT_MILLIS);
            calls.exitNow(exitStatus);
        }, "falcon-native-calls"));
    }

    /** True in a JVM started by {@link #main}: a stop is reported by the hook, not by {@link #handle}. */
    private static volatile boolean reportingHook;

    /**
     * Puts a handler before the JVM's own for SIGINT, SIGTERM and SIGHUP that notes which one came, so that a stopped run
     * can name it ("stopped by SIGINT"), then hands the signal on: the JVM still runs its hooks and exits with 128 + the
     * signal's number. A signal the JVM does not handle (ignored, as in a background job, or -Xrs) is left alone.
     */
    @SuppressWarnings("sunapi")
    private static void recordStoppingSignals() {
        for (String name : new String[] {"INT", "TERM", "HUP"}) {
            try {
                sun.misc.Signal sig = new sun.misc.Signal(name);
                sun.misc.SignalHandler[] jvm = new sun.misc.SignalHandler[1];
                jvm[0] = sun.misc.Signal.handle(sig, s -> {
                    // the run has ended: its exit, with its status, is under way
                    if (!END.compareAndSet(RUNNING, STOPPED_BY_SIGNAL) && END.get() == FINISHED) return;
                    StoppedException.signalled("SIG" + name);
                    exitStatus = 128 + s.getNumber(); // the JVM's own status for it
                    jvm[0].handle(s);
                });
                if (jvm[0] == sun.misc.SignalHandler.SIG_IGN || jvm[0] == sun.misc.SignalHandler.SIG_DFL) sun.misc.Signal.handle(sig, jvm[0]);
            } catch (IllegalArgumentException | LinkageError e) {
                // not on this platform or JVM: the message says "a signal"
            }
        }
    }

    /**
     * Runs the CLI in-process (tests use this) and returns the exit code. An output given as {@code -} goes to this
     * process's stdout (file descriptor 1), not to {@code out}: it is binary, and it must reach a pipe as it is.
     */
    public static int execute(String[] args, PrintStream out, PrintStream err) {
        PrintWriter outWriter = new PrintWriter(out, true);
        PrintWriter errWriter = new PrintWriter(err, true);
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(outWriter);
        cl.setErr(errWriter);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        takeValuesAttachedWithEquals(cl);
        registerNumberConverters(cl);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> handle(e, errWriter));
        cl.setExecutionStrategy(parsed -> {
            rejectWhatHelpDoesNotRead(parsed);
            return new CommandLine.RunLast().execute(parsed);
        });
        // one line and where to look, like every other input error, instead of the whole usage text
        cl.setParameterExceptionHandler((thrown, arguments) -> {
            String command = thrown.getCommandLine().getCommandSpec().qualifiedName();
            CommandLine.ParameterException e = unmatchedBeforeMissing(thrown);
            List<String> afterEnd = afterEndOfOptions(e, arguments);
            CommandLine.ParameterException beforeEnd = afterEnd.isEmpty() ? e : unmatchedBefore(e, afterEnd);
            if (beforeEnd != null) {
                errWriter.println("falcon: error: " + namedAsTyped(beforeEnd, arguments) + attachedValueFix(beforeEnd));
                CommandLine.UnmatchedArgumentException.printSuggestions(beforeEnd, errWriter);
                for (String file : filesTakenForOptions(beforeEnd, arguments)) {
                    errWriter.println("'" + file + "' is read as an option, and a file of that name exists: give it as ./" + file
                            + " (or after '--', which ends the options)");
                }
            }
            if (!afterEnd.isEmpty()) {
                // picocli called them unknown options and suggested the very option typed; what is wrong is the "--"
                boolean one = afterEnd.size() == 1;
                errWriter.println("falcon: error: " + String.join(", ", afterEnd.stream().map(a -> "'" + a + "'").toList())
                        + (one ? " comes" : " come") + " after '--', which ends the options, and `" + command + "` takes no positional arguments;"
                        + " move " + (one ? "it" : "them") + " before '--' or drop '--'");
            }
            errWriter.println("see `" + command + " --help`");
            return USAGE;
        });
        try {
            rejectUnreadableArgumentFiles(cl, args);
            int code = cl.execute(args);
            CommandLine.ParseResult parsed = cl.getParseResult();
            commandRun = parsed != null && parsed.subcommand() != null ? parsed.subcommand().commandSpec().name() : null;
            return code;
        } catch (Throwable t) { // errors (OutOfMemoryError, LinkageError) bypass picocli's exception handler
            return handle(t, errWriter);
        } finally {
            outWriter.flush();
            errWriter.flush();
        }
    }

    /**
     * picocli checks a required parameter before it reports what it could not match: `falcon inspect --bogus` (and -x,
     * and -w.npy for a file of that name) said "Missing required parameter: 'FILE'", which names nothing the user typed
     * and, for -w.npy, denies the file given; `inspect --bogus w.npy` said "Unknown option: '--bogus'". The unmatched
     * arguments are what is wrong in both, and are told the same way.
     */
    static CommandLine.ParameterException unmatchedBeforeMissing(CommandLine.ParameterException e) {
        // only a missing FILE: a value found missing after an unknown option (`--bogus --out -q`) is told as it is
        if (!(e instanceof CommandLine.MissingParameterException missing)
                || !missing.getMissing().stream().allMatch(CommandLine.Model.ArgSpec::isPositional)) {
            return e;
        }
        CommandLine.ParseResult parsed = e.getCommandLine().getParseResult();
        if (parsed == null || parsed.unmatched().isEmpty()) return e;
        return new CommandLine.UnmatchedArgumentException(e.getCommandLine(), parsed.unmatched());
    }

    /**
     * The refused arguments that name an existing file, where the command takes files (inspect): picocli reads an
     * argument that begins with '-' as an option, so `falcon inspect -w.npy` never looked for the file -w.npy.
     */
    static List<String> filesTakenForOptions(CommandLine.ParameterException e, String[] arguments) {
        if (!(e instanceof CommandLine.UnmatchedArgumentException unmatched)
                || e.getCommandLine().getCommandSpec().positionalParameters().isEmpty()) {
            return List.of();
        }
        // the words typed, not picocli's unmatched pieces: a word beginning with one of the command's short options
        // (-q.npy, -quant.npy) is split as a cluster, and only its remainder (-.npy, -uant.npy) is unmatched; checked for
        // a file, the remainder missed the file typed, or named another one (-qf.npy's -f.npy) the user never gave
        CommandLine.Model.CommandSpec command = e.getCommandLine().getCommandSpec();
        List<String> files = new java.util.ArrayList<>();
        for (String typed : asParsed(e.getCommandLine(), arguments)) {
            if (typed.equals(e.getCommandLine().getEndOfOptionsDelimiter())) break;
            if (!typed.startsWith("-") || typed.equals("-") || files.contains(typed) || !isFile(typed)) continue;
            if (unmatched.getUnmatched().stream().anyMatch(refused -> refused.equals(typed) || isClusterEndingIn(command, typed, refused))) {
                files.add(typed);
            }
        }
        return files;
    }

    /** Whether picocli read {@code typed} as a cluster of the command's short options followed by {@code rest}. */
    private static boolean isClusterEndingIn(CommandLine.Model.CommandSpec command, String typed, String rest) {
        if (typed.startsWith("--") || !rest.startsWith("-") || rest.length() >= typed.length()
                || !typed.endsWith(rest.substring(1))) {
            return false;
        }
        String cluster = typed.substring(1, typed.length() - rest.length() + 1);
        return cluster.chars().allMatch(c -> command.findOption((char) c) != null);
    }

    private static boolean isFile(String name) {
        try {
            return java.nio.file.Files.isRegularFile(java.nio.file.Path.of(name));
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    /**
     * A value attached with '=' is the option's value, whatever it looks like: picocli refused `--out=-X.npy` and
     * `--report=-q` ("Expected parameter for option '--out' but found '-X.npy'") because the value begins with one of
     * the command's short options (-X, -q), while it took `--report=-r.json`, so whether a path was taken hung on its
     * second character. A value given as the next argument that looks like an option is still refused, with the fix
     * ({@link #attachedValueFix}): there it is more often an option typed where a value was forgotten (`--report -q`).
     * picocli's switch holds for a whole command; each option, as it is read, sets it for its own value.
     */
    static void takeValuesAttachedWithEquals(CommandLine cl) {
        CommandLine.Model.CommandSpec command = cl.getCommandSpec();
        List<CommandLine.Model.OptionSpec> options = List.copyOf(command.options());
        // removed and added again in their order: --help lists them so where a command does not sort them
        for (CommandLine.Model.OptionSpec option : options) command.remove(option);
        for (CommandLine.Model.OptionSpec option : options) command.addOption(option.toBuilder().preprocessor(ATTACHED_VALUE_TAKEN).build());
        for (CommandLine sub : new java.util.LinkedHashSet<>(cl.getSubcommands().values())) takeValuesAttachedWithEquals(sub);
    }

    private static final CommandLine.IParameterPreprocessor ATTACHED_VALUE_TAKEN = (args, command, option, info) -> {
        command.parser().allowOptionsAsOptionParameters("=".equals(info.get("separator")));
        return false; // picocli reads the value as it would have
    };

    /**
     * How to give a refused value that looks like an option, or "": picocli's "Expected parameter for option '--report'
     * but found '-q'" named no way to give -q as the value. Its message is the one place that names the value. Only
     * where the value can be a path or free text: elsewhere the value was forgotten, and that is what it says.
     */
    static String attachedValueFix(CommandLine.ParameterException e) {
        if (!(e instanceof CommandLine.MissingParameterException)) return "";
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^Expected parameter for option '([^']+)' but found '(-[^']*)'$").matcher(e.getMessage());
        if (!m.matches()) return "";
        String option = m.group(1), value = m.group(2);
        // a count, a fraction or one of a few words never begins with '-': there the next option was typed where the
        // value was forgotten (--n -q), and '--n=-q' or './-q for a file' would be refused in turn
        // picocli leaves this exception's ArgSpec unset: the option is found by the name its message gives
        CommandLine.Model.OptionSpec spec = e.getCommandLine().getCommandSpec().findOption(option);
        if (spec == null) return "";
        if (!takesAPathOrText(spec)) return "; " + option + " needs its value (" + spec.paramLabel() + ") before '" + value + "'";
        return "; if '" + value + "' is its value, attach it with '=': " + option + "=" + value + " (or ./" + value + " for a file)";
    }

    /** Options other than paths whose value is free text or a file's name: a command (--grads-command), and --flops,
     *  which takes a file of per-weight costs where its value is not a number. */
    private static final java.util.Set<String> TEXT_OR_FILE_OPTIONS = java.util.Set.of("--grads-command", "--flops");

    /** Whether an option's value can be a path or free text, which may begin with '-': a Path, a value labelled as a
     *  file's name (X.npy, report.json), or one of {@link #TEXT_OR_FILE_OPTIONS}. */
    private static boolean takesAPathOrText(CommandLine.Model.OptionSpec option) {
        return java.nio.file.Path.class.equals(option.type()) || java.io.File.class.equals(option.type())
                || option.paramLabel().matches("[\\w-]+\\.[A-Za-z]+") || TEXT_OR_FILE_OPTIONS.contains(option.longestName());
    }

    /**
     * The arguments picocli refused as unmatched because they came after the end-of-options "--" to a command that takes
     * no positional arguments (prune, env, falcon itself), or none. Every argument after the first "--" is positional
     * there, so they are the last of the unmatched ones; where what follows "--" is not (an option took "--" as its
     * value), none are.
     */
    static List<String> afterEndOfOptions(CommandLine.ParameterException e, String[] arguments) {
        if (!(e instanceof CommandLine.UnmatchedArgumentException unmatched)) return List.of();
        CommandLine commandLine = e.getCommandLine();
        if (!commandLine.getCommandSpec().positionalParameters().isEmpty()) return List.of();
        List<String> parsed = List.of(asParsed(commandLine, arguments));
        int end = parsed.indexOf(commandLine.getEndOfOptionsDelimiter());
        if (end < 0) return List.of();
        List<String> after = parsed.subList(end + 1, parsed.size()), refused = unmatched.getUnmatched();
        boolean lastRefused = !after.isEmpty() && refused.size() >= after.size()
                && refused.subList(refused.size() - after.size(), refused.size()).equals(after);
        return lastRefused ? List.copyOf(after) : List.of();
    }

    /** What picocli refused before the "--", with its message and suggestions, or null where all came after it. */
    private static CommandLine.ParameterException unmatchedBefore(CommandLine.ParameterException e, List<String> afterEnd) {
        List<String> refused = ((CommandLine.UnmatchedArgumentException) e).getUnmatched();
        List<String> before = refused.subList(0, refused.size() - afterEnd.size());
        return before.isEmpty() ? null : new CommandLine.UnmatchedArgumentException(e.getCommandLine(), before);
    }

    /**
     * picocli sets aside what a request for help does not read: its help command (`falcon help prune --bogus`, `help
     * prune extra`, `help -x`) and --help/-h or --version/-V on any command (`falcon prune -h --exampel resnet20`,
     * `falcon env --help extra`, `falcon --help --bogus`) printed the usage with exit 0, where an unknown option or
     * argument is bad usage (exit 2) everywhere else, and a typo next to -h went unmentioned. Refused as picocli refuses
     * one without help, through the same handler, at whichever command's level it was typed.
     */
    static void rejectWhatHelpDoesNotRead(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult command = parsed; command != null; command = command.subcommand()) {
            if (!command.unmatched().isEmpty()) {
                throw new CommandLine.UnmatchedArgumentException(command.commandSpec().commandLine(), command.unmatched());
            }
            rejectHelpOfHelpBesideACommand(parsed, command);
        }
    }

    /**
     * `falcon help prune --help` (or `help -h prune`) printed the help command's own usage with exit 0, the COMMAND
     * dropped unread: picocli matches -h/--help there as help's own option. `falcon help [COMMAND]` takes COMMAND or
     * --help, and anything more is bad usage, as README says.
     */
    private static void rejectHelpOfHelpBesideACommand(CommandLine.ParseResult parsed, CommandLine.ParseResult command) {
        if (!(command.commandSpec().userObject() instanceof CommandLine.HelpCommand) || !command.isUsageHelpRequested()
                || command.matchedPositionals().isEmpty()) {
            return;
        }
        CommandLine.Model.CommandSpec help = command.commandSpec();
        CommandLine.Model.OptionSpec usage = help.options().stream().filter(CommandLine.Model.OptionSpec::usageHelp).findFirst().orElseThrow();
        List<String> typed = namesTyped(help, usage, parsed.expandedArgs().toArray(new String[0]));
        String flag = typed.isEmpty() ? usage.longestName() : typed.get(typed.size() - 1);
        String named = String.join(" ", command.matchedPositionals().get(0).stringValues());
        // as `falcon help bogus` is refused: advice to run `falcon help bogus` would only lead there
        if (!help.parent().subcommands().containsKey(named)) {
            throw new CommandLine.ParameterException(help.parent().commandLine(), "Unknown subcommand '" + named + "'.");
        }
        // `falcon help help --help`: both ask for help's own usage, and the advice below would offer `falcon help --help` twice
        if (named.equals(help.name())) {
            throw new CommandLine.ParameterException(help.commandLine(), "'" + flag + "' and '" + named + "' both ask for the usage of `"
                    + help.qualifiedName() + "`, which takes one of them: give `" + help.qualifiedName() + " " + flag + "` or `"
                    + help.qualifiedName() + " " + named + "`");
        }
        String root = help.root().qualifiedName();
        throw new CommandLine.ParameterException(help.commandLine(), "'" + flag + "' asks for the usage of `" + help.qualifiedName()
                + "` itself, and '" + named + "' for that of `" + root + " " + named + "`: help takes one of them; give `"
                + help.qualifiedName() + " " + named + "` (or `" + root + " " + named + " --help`), or `" + help.qualifiedName() + " " + flag + "` alone");
    }

    /**
     * An argument @FILE that picocli expands (its rule: "@" alone and "@@...", which stands for the literal "@...", are not)
     * must name a readable file. picocli keeps one it cannot read as a literal argument: `falcon prune @args.txt` with
     * args.txt missing was refused as "Unmatched argument at index 1: '@args.txt'", `falcon inspect @x` looked for a file
     * named "@x", and a folder failed inside picocli with a trace. Only the command line's own are checked: one named
     * inside an argument file is expanded (or kept) by picocli as it reads that file. After the end-of-options delimiter
     * ("--") picocli keeps an @FILE it cannot read (File.canRead: missing, or its permissions) as the literal argument,
     * which is not refused there; one it can read it still expands, so a folder (which canRead accepts, and picocli then
     * fails to open with a trace) is refused there too, and a regular file must be text ({@link #notText}). A pipe or
     * device (`@<(...)`, `@/dev/stdin`, a FIFO) is left to picocli unread: reading its head here would consume the very
     * arguments picocli is to read, and a pipe cannot be read twice.
     */
    static void rejectUnreadableArgumentFiles(CommandLine cl, String[] args) {
        if (!cl.isExpandAtFiles()) return;
        boolean afterEndOfOptions = false;
        for (String a : args) {
            if (a != null && a.equals(cl.getEndOfOptionsDelimiter())) afterEndOfOptions = true;
            if (a == null || !a.startsWith("@") || a.equals("@") || a.startsWith("@@")) continue;
            java.io.File file = new java.io.File(a.substring(1));
            String problem = afterEndOfOptions && !file.canRead() ? null // kept as the literal argument by picocli
                    : !file.exists() ? "does not exist" : file.isDirectory() ? "is a folder, not a file of arguments"
                    : !file.canRead() ? "cannot be read (its permissions)"
                    : java.nio.file.Files.isRegularFile(file.toPath()) ? notText(file) : null;
            if (problem != null) {
                throw InputException.of(a, "argument file", problem + " (an argument @FILE stands for the arguments written in FILE)",
                        "check the path, or write @" + a + " for an argument that itself begins with @ (./" + a + " names such a file too)");
            }
        }
    }

    /**
     * Why a readable argument file is no text, or null. picocli expands one it can read after "--" too: `falcon inspect
     * -- @w.npy` beside README's w.npy fed the binary .npy to picocli as 43,478 arguments, each refused on its own line
     * of mojibake and control bytes. The head of the file tells: a .npy or .safetensors signature, or a NUL byte.
     */
    private static String notText(java.io.File file) {
        byte[] head;
        try (java.io.InputStream in = new java.io.FileInputStream(file)) {
            head = in.readNBytes(64 * 1024);
        } catch (java.io.IOException e) {
            if (dev.falcon.io.ReadFailures.byInterrupt(e)) throw dev.falcon.io.ReadFailures.interrupted("the argument file", file, e);
            return "cannot be read (" + dev.falcon.io.ReadFailures.detail(e) + ")";
        }
        ArrayFiles.ContentFormat format = ArrayFiles.formatByContent(head, head.length);
        if (format == ArrayFiles.ContentFormat.NPY) return "is a .npy array, not a text file of arguments";
        if (format == ArrayFiles.ContentFormat.SAFETENSORS) return "is a .safetensors file, not a text file of arguments";
        for (byte b : head) if (b == 0) return "is a binary file (it holds NUL bytes), not a text file of arguments";
        return null;
    }

    /**
     * picocli's message, with an option given twice named as the user typed it: picocli names it by its longest name, so
     * `--device cpu --device java` was refused as "option '--backend' ... should be specified only once", an option the
     * user never gave, and `-X a -X a` as '--grads'. Where two of its names were typed, the message says they are one
     * option, which the user may not know.
     */
    static String namedAsTyped(CommandLine.ParameterException e, String[] arguments) {
        if (!(e instanceof CommandLine.OverwrittenOptionException overwritten)
                || !(overwritten.getOverwritten() instanceof CommandLine.Model.OptionSpec option) || option.names().length < 2) {
            return e.getMessage();
        }
        List<String> typed = namesTyped(e.getCommandLine().getCommandSpec(), option, asParsed(e.getCommandLine(), arguments));
        if (typed.isEmpty()) return e.getMessage();
        String message = e.getMessage().replace("'" + option.longestName() + "'", "'" + typed.get(0) + "'");
        return typed.size() > 1 ? message + " (" + String.join(" and ", typed) + " are names of one option)" : message;
    }

    /**
     * The arguments as picocli parsed them, each @FILE replaced by the arguments written in FILE: the handler is given
     * them as typed, so an option repeated inside an argument file was found under no name and kept picocli's longest
     * one. picocli's own expansion (its parse result's, there even where the parse failed) is taken, not a second
     * reading of the files that could read them otherwise.
     */
    static String[] asParsed(CommandLine commandLine, String[] arguments) {
        CommandLine.ParseResult parsed = commandLine.getParseResult();
        return parsed != null ? parsed.expandedArgs().toArray(new String[0]) : arguments;
    }

    /**
     * The names under which {@code option} of {@code command} appears in {@code arguments}, in the order first typed,
     * read as picocli reads them: --name or --name=value; a short name alone, with its value attached (-XX.npy) or
     * ending a cluster of flags (-qX X.npy); an option's separate value is skipped (a quoted --grads-command beginning
     * with -X is not -X), and nothing after "--" is an option.
     */
    static List<String> namesTyped(CommandLine.Model.CommandSpec command, CommandLine.Model.OptionSpec option, String[] arguments) {
        java.util.LinkedHashSet<String> typed = new java.util.LinkedHashSet<>();
        for (int i = 0; i < arguments.length; i++) {
            String a = arguments[i];
            if (a.equals("--")) break;
            if (a.startsWith("--")) {
                int equals = a.indexOf('=');
                String name = equals < 0 ? a : a.substring(0, equals);
                CommandLine.Model.OptionSpec o = command.findOption(name);
                if (o == null) continue;
                if (o == option) typed.add(name);
                if (equals < 0 && takesTheNextArgument(o, arguments, i)) i++;
            } else if (a.startsWith("-") && a.length() > 1) {
                for (int c = 1; c < a.length(); c++) {
                    CommandLine.Model.OptionSpec o = command.findOption(a.charAt(c));
                    if (o == null) break;
                    if (o == option) typed.add("-" + a.charAt(c));
                    if (o.arity().max() > 0) {
                        // its value is the rest of the argument, or the next one
                        if (c == a.length() - 1 && takesTheNextArgument(o, arguments, i)) i++;
                        break;
                    }
                }
            }
        }
        return List.copyOf(typed);
    }

    /** Whether an option typed as arguments[i], with no value attached, takes arguments[i + 1] as its value. */
    private static boolean takesTheNextArgument(CommandLine.Model.OptionSpec o, String[] arguments, int i) {
        if (o.arity().max() == 0 || i + 1 >= arguments.length) return false;
        // an optional value (--backsolve [exact|...]) is taken where the next argument is no option
        return o.arity().min() > 0 || !arguments[i + 1].startsWith("-");
    }

    /**
     * Every number option is read in falcon's one grammar ({@link Numbers}): picocli's own converters are Java's, which
     * took 0.3d, 0.3f, " 0.3" and 0x1p-2 for numbers and 1e400 for Infinity. Registered before any option is parsed, for
     * every subcommand.
     */
    private static void registerNumberConverters(CommandLine cl) {
        CommandLine.ITypeConverter<Double> decimal = text -> convert(() -> Numbers.parseDecimal(text));
        CommandLine.ITypeConverter<Long> whole = text -> convert(() -> Numbers.parseWhole(text, Long.MIN_VALUE, Long.MAX_VALUE));
        CommandLine.ITypeConverter<Integer> integer = text -> convert(() -> (int) Numbers.parseWhole(text, Integer.MIN_VALUE, Integer.MAX_VALUE));
        cl.registerConverter(Double.class, decimal);
        cl.registerConverter(Double.TYPE, decimal);
        cl.registerConverter(Long.class, whole);
        cl.registerConverter(Long.TYPE, whole);
        cl.registerConverter(Integer.class, integer);
        cl.registerConverter(Integer.TYPE, integer);
    }

    /** Runs a parse, its message (which quotes the value as typed) becoming picocli's "Invalid value for option ...: MESSAGE". */
    static <T> T convert(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    static int handle(Throwable e, PrintWriter err) {
        // the run failed because the JVM is stopping (a commit refused, a temporary file removed under it): the hook's line
        // says why it ended, and a second one would contradict it
        if (reportingHook && (RunPhase.stopping() || shuttingDown())) return STOPPED;
        if (e instanceof InputException ie) {
            err.println("falcon: error: " + ie.getMessage());
            return ie.infeasible() ? INFEASIBLE : ie.ofTheMachine() ? INTERNAL : USAGE;
        }
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof StoppedException stop) {
                // the user's Ctrl-C or a kill: one line, not an internal error with a trace
                err.println("falcon: stopped by " + StoppedException.signalName() + " " + stop.getMessage() + "; no output written");
                err.flush();
                StoppedException.reported();
                return STOPPED;
            }
        }
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof BackendMemoryException memory) {
                // the GPU (or the page-locked memory X streams through) is too small for this run: a limit of the machine
                // with a fix, like a run that does not fit in host memory, not a trace to report
                // a refusal that names its own fixes (the cuda backend's 46,340-row limit) is not told them twice
                String fixes = memory.getMessage().contains("--device cpu") ? "" : "; --device cpu runs on the host, or use fewer rows in X";
                err.println("falcon: error: " + memory.getMessage() + fixes);
                return USAGE;
            }
        }
        if (e instanceof OutOfMemoryError oom) {
            if (isJavaCppCapReached(oom)) {
                // without the launcher (java -jar, the Python bridge's FALCON_CLI) JavaCPP caps off-heap memory from -Xmx:
                // the machine may have plenty, and the cap, not the machine, is the fix
                // which cap and where it came from: one set in FALCON_JAVA_OPTS was blamed on running without the launcher
                SystemInfo.JavaCppCap cap = reachedJavaCppCap(oom);
                err.println("falcon: error: out of memory: " + e.getMessage() + "; JavaCPP's cap on off-heap memory was reached"
                        + (cap != null ? " (" + cap.origin() + "): " + cap.fix()
                        : " (it derives it from the Java heap limit when falcon runs without its ./falcon launcher, which lifts it):"
                        + " add -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 to the java command,"
                        + " or run ./falcon"));
                return USAGE;
            }
            if (isJavaHeapExhausted(oom)) {
                // the advice is the run's own: a heap that fits the machine beside the rest of the run, rows only where they
                // are on the heap (a fixed 8g was three times what a machine had, and rows were offered to runs without X)
                err.println("falcon: out of memory: " + e.getMessage() + "; " + MemoryPlan.heapExhaustedAdvice(MemoryPlan.heapLimitOfThisJvm()));
                return INTERNAL;
            }
            // X and the solver's vectors are native memory, which FALCON_HEAP does not bound: a larger heap only
            // leaves less of the machine for them. A limit of the machine with a fix, as the memory plan's refusals are.
            long addressSpace = SystemInfo.addressSpaceLimit(java.nio.file.Path.of("/proc/self/limits"));
            if (addressSpace >= 0) {
                // under ulimit -v the JVM's reservations, not the machine's memory, used up the room: freeing memory cannot help
                err.println("falcon: error: out of memory: " + e.getMessage() + "; this process's address space is limited to "
                        + SystemInfo.bytes(addressSpace) + " (ulimit -v), of which the JVM reserves its whole heap limit and more"
                        + " up front: raise ulimit -v (ulimit -v unlimited lifts it), lower " + MemoryPlan.heapLimitVariable() + ", or run with a smaller --n / fewer rows in X");
                return USAGE;
            }
            err.println("falcon: error: out of memory: " + e.getMessage()
                    + "; this is the machine's memory outside the Java heap (FALCON_HEAP does not limit it, and raising it"
                    + " cannot help): free memory on this machine, or run with a smaller --n / fewer rows in X");
            return USAGE;
        }
        long addressSpace = SystemInfo.addressSpaceLimit(java.nio.file.Path.of("/proc/self/limits"));
        for (Throwable c = e; c != null && addressSpace >= 0; c = c.getCause()) {
            if (c instanceof java.io.IOException && c.getMessage() != null && c.getMessage().startsWith("cannot map ")) {
                // the cpu backend maps X in place, and ulimit -v counts the whole mapping: a limit of the machine with a fix
                // (the plan counts the mapping, so this is what the plan's margin missed), not a trace to report
                err.println("falcon: error: " + c.getMessage() + "; this process's address space is limited to "
                        + SystemInfo.bytes(addressSpace) + " (ulimit -v), which counts the whole mapping of X beside what the JVM"
                        + " reserves: raise ulimit -v (ulimit -v unlimited lifts it), lower " + MemoryPlan.heapLimitVariable() + ", or use fewer rows in X");
                return USAGE;
            }
        }
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        err.println("falcon: internal error: " + e);
        err.println(trace);
        err.println("Please report this with the command line and `falcon env` output.");
        return INTERNAL;
    }

    /**
     * Whether the JVM ran out of its own heap (the messages HotSpot gives: "Java heap space", "GC overhead limit
     * exceeded", "Requested array size exceeds VM limit") rather than of native memory (a failed malloc of X, JavaCPP's
     * "Cannot allocate", the kernels' own allocations), for which FALCON_HEAP is no remedy.
     */
    static boolean isJavaHeapExhausted(OutOfMemoryError e) {
        String m = e.getMessage();
        return m != null && (m.startsWith("Java heap space") || m.startsWith("GC overhead limit exceeded")
                || m.startsWith("Requested array size exceeds VM limit"));
    }

    /**
     * The JavaCPP cap the refusal was at ("Physical memory usage is too high": maxPhysicalBytes, else maxBytes), or null
     * where none is in effect now.
     */
    static SystemInfo.JavaCppCap reachedJavaCppCap(OutOfMemoryError e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage();
            if (m != null && m.contains("Physical memory usage is too high")) return SystemInfo.JavaCppCap.of("maxPhysicalBytes");
        }
        return SystemInfo.JavaCppCap.of("maxBytes");
    }

    /**
     * Whether JavaCPP refused an allocation at its own limits (maxBytes, maxPhysicalBytes), not because malloc failed:
     * its "Cannot allocate new XPointer" carries the cause "Failed to allocate memory within limits" or "Physical memory
     * usage is too high".
     */
    static boolean isJavaCppCapReached(OutOfMemoryError e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage();
            if (m != null && (m.contains("within limits") || m.contains("Physical memory usage is too high"))) return true;
        }
        return false;
    }

    /** falcon, Java and JavaCPP versions. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"falcon " + SystemInfo.falconVersion(), "java " + SystemInfo.javaVersion(), "javacpp " + SystemInfo.javacppVersion()};
        }
    }
}
