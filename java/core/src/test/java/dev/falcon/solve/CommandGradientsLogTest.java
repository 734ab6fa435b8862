package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The log an embedder gives CommandGradients for the command's output, when it throws. */
class CommandGradientsLogTest {
    @TempDir Path dir;

    /**
     * The log's exception ended the threads that copy the command's output (falcon-grads-command-stdout/-stderr), which
     * closed the pipes: the command died writing into them, the run stopped at the last completed stage with "the
     * gradient command exited with status ... at stage 1 (no stderr)", and the log's exception only reached System.err
     * through the uncaught-exception handler. The output is read on (and dropped) so that the command ends on its own,
     * and the prune ends with the log's failure.
     */
    @Test
    void aLogThatThrowsEndsThePruneWithItsFailureAndTheCommandRunsToItsEnd() throws Exception {
        Path x = dir.resolve("X.npy"), ran = dir.resolve("ran");
        GradientSourcesTest.writeX(x, 3);
        // more output than a pipe holds (64 KB), so a command whose reader has gone dies writing it
        String command = "i=0; while [ $i -lt 3000 ]; do echo \"progress line $i of the gradient export ..................................\"; i=$((i+1)); done;"
                + " echo 'about to save' >&2; touch '" + ran + "'; cp '" + x + "' {grads} && : {weights}";
        RuntimeException sinkFailure = new RuntimeException("log sink unavailable");
        List<String> logged = new CopyOnWriteArrayList<>();
        PrintWriter log = new PrintWriter(new StringWriter()) {
            @Override
            public void println(String line) {
                if (logged.size() >= 3) throw sinkFailure;
                logged.add(line);
            }
        };
        List<Throwable> uncaught = new CopyOnWriteArrayList<>();
        Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> uncaught.add(e));
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients src = new CommandGradients(b, first, command, log)) {
            MultiStage.Result returned = null;
            IllegalStateException failure = null;
            try {
                returned = MultiStage.run(b, src, GradientSourcesTest.wbar(), null, 0.1, GradientSourcesTest.layers(), 12, 30, 3,
                        MultiStage.Schedule.LINEAR, 0.8, 0.8, SolverOptions.defaults().withMaxIterations(5));
            } catch (IllegalStateException e) {
                failure = e;
            }
            assertNotNull(failure, "the prune returned, stopped: " + (returned == null ? null : returned.stopped()));
            String m = failure.getMessage();
            assertTrue(m.contains("the log given to CommandGradients threw") && m.contains("log sink unavailable") && m.contains("stage 1"), m);
            assertFalse(m.contains("no stderr"), m);
            assertSame(sinkFailure, failure.getCause());
            assertTrue(Files.exists(ran), "the command ran to its end: " + m);
            assertEquals(3, logged.size(), "the lines before the failure were logged: " + logged);
            assertEquals(List.of(), uncaught, "exceptions that escaped a thread");
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(before);
        }
    }

    /**
     * falcon's own note on a float64 X ("falcon: X of stage 1 from the gradient command is float64; converted once to
     * float32 ...") was written to the log on the calling thread outside the guard the output lines go through: a log that
     * threw on it escaped raw ("RuntimeException: log sink unavailable"), not as README's "the log given to
     * CommandGradients threw ...". It fails the stage as a log failure on an output line does, and the log, not called
     * again for the rest of that stage, is called again at the next.
     */
    @Test
    void aLogThatThrowsOnFalconsFloat64NoteEndsTheStageWithTheLogsFailure() throws Exception {
        Path x64 = dir.resolve("X64.npy");
        double[][] values = new double[GradientSourcesTest.N][GradientSourcesTest.P];
        for (int i = 0; i < values.length; i++) {
            for (int j = 0; j < values[i].length; j++) values[i][j] = (i + 1) * 0.5 - j * 0.125;
        }
        GradientSourcesTest.writeFloat64Fortran(x64, values);
        RuntimeException sinkFailure = new RuntimeException("log sink unavailable");
        List<String> offered = new CopyOnWriteArrayList<>();
        PrintWriter log = new PrintWriter(new StringWriter()) {
            @Override
            public void println(String line) {
                offered.add(line);
                if (line.startsWith("falcon:")) throw sinkFailure;
            }
        };
        long matrices = HostMatrix.openOwnedCount();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients src = new CommandGradients(b, first, "echo exporting; cp '" + x64 + "' {grads} && : {weights}", log)) {
            float[] weights = GradientSourcesTest.wbar();
            RuntimeException failure = assertThrows(RuntimeException.class, () -> src.gradients(1, weights.clone()));
            assertEquals(IllegalStateException.class, failure.getClass(), "a log that threw on falcon's float64 note: " + failure);
            String m = failure.getMessage();
            assertTrue(m.contains("the log given to CommandGradients threw") && m.contains("log sink unavailable") && m.contains("stage 1")
                    && m.contains("float64"), m);
            assertSame(sinkFailure, failure.getCause());
            assertTrue(offered.stream().anyMatch(line -> line.endsWith(" exporting")), "the command's line before the note was logged: " + offered);
            offered.clear();
            weights[0] += 1;
            assertThrows(IllegalStateException.class, () -> src.gradients(2, weights.clone()));
            assertTrue(offered.stream().anyMatch(line -> line.contains(CommandGradients.outputMark(2))), "the log was not called again at stage 2: " + offered);
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open");
    }

    /**
     * A Java caller got no word of an unknown {word} in its command: only the CLI printed unknownPlaceholder()'s
     * warning, and the API left it to the caller to ask. It goes to falcon's log (System.Logger, as the library's other
     * warnings do, which the CLI prints in its one-line form) once, when the source is made, in the Java caller's terms;
     * a command without one logs nothing.
     */
    @Test
    void anUnknownPlaceholderIsLoggedOnceForAJavaCaller() throws Exception {
        Path x = dir.resolve("X.npy");
        GradientSourcesTest.writeX(x, 3);
        List<java.util.logging.LogRecord> records = recordsLoggedDuring(() -> {
            try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1)) {
                float[] weights = GradientSourcesTest.wbar();
                try (CommandGradients src = new CommandGradients(b, first, "echo {stage} > /dev/null; cp '" + x + "' {grads} && : {weights}", null)) {
                    weights[0] += 1;
                    src.gradients(1, weights.clone());
                    weights[0] += 1;
                    src.gradients(2, weights.clone());
                }
                try (CommandGradients quiet = new CommandGradients(b, first, "echo {t} > /dev/null; cp '" + x + "' {grads} && : {weights}", null)) {
                    quiet.gradients(1, weights.clone());
                }
            }
        });
        java.util.logging.SimpleFormatter format = new java.util.logging.SimpleFormatter();
        List<String> warnings = records.stream().filter(r -> r.getLevel() == java.util.logging.Level.WARNING).map(format::formatMessage).toList();
        assertEquals(1, warnings.size(), "warnings logged: " + warnings);
        assertEquals("the gradient command: " + CommandGradients.unknownPlaceholder("echo {stage}") + "; " + CommandGradients.KNOWN_PLACEHOLDERS,
                warnings.get(0));
    }

    /**
     * The unknown-{word} warning was logged before the constructor's other checks: a source refused for its timeout
     * had warned of a command that never ran. A refused source logs nothing.
     */
    @Test
    void aSourceRefusedWhenMadeLogsNoWarningForItsCommand() throws Exception {
        List<java.util.logging.LogRecord> records = recordsLoggedDuring(() -> {
            try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> new CommandGradients(b, first, "echo {stage}; python3 g.py {weights} {grads}", null, java.time.Duration.ZERO));
                assertTrue(e.getMessage().startsWith("the timeout of the command must be positive"), e.getMessage());
            }
        });
        assertEquals(List.of(), records.stream().map(new java.util.logging.SimpleFormatter()::formatMessage).toList(), "logged for a source never made");
    }

    private interface Body {
        void run() throws Exception;
    }

    /** What CommandGradients logs while {@code body} runs. */
    private static List<java.util.logging.LogRecord> recordsLoggedDuring(Body body) throws Exception {
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(CommandGradients.class.getName());
        List<java.util.logging.LogRecord> records = new CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override public void publish(java.util.logging.LogRecord r) { records.add(r); }
            @Override public void flush() {}
            @Override public void close() {}
        };
        logger.addHandler(handler);
        try {
            body.run();
        } finally {
            logger.removeHandler(handler);
        }
        return records;
    }
}
