package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import dev.falcon.io.Npy;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** falcon++ gradient sources: per-stage files and an external command. */
class GradientSourcesTest {
    static final int N = 5, P = 24;
    @TempDir Path dir;

    static HostMatrix matrix(long seed) {
        HostMatrix m = HostMatrix.allocate(N, P);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < N * P; i++) m.data().put(i, (float) r.nextDouble(-1, 1));
        return m;
    }

    static void writeX(Path file, long seed) {
        try (FloatPointer v = new FloatPointer((long) N * P)) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < N * P; i++) v.put(i, (float) r.nextDouble(-1, 1));
            Npy.writeFloat32(file, v, new long[] {N, P});
        }
    }

    static LayerTable layers() {
        return new LayerTable(List.of(new Layer("a", new long[] {16}, 4, 0, 16), new Layer("b", new long[] {8}, 1, 16, 8)), "t");
    }

    static float[] wbar() {
        float[] w = new float[P];
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < P; i++) w[i] = (float) r.nextGaussian();
        return w;
    }

    /**
     * The file and command sources refuse an X of another n; an embedder's own source was held only to p, and a stage on
     * fewer samples ran on without a word, under a lambda (l2 * n in the authors' convention) and a Q fixed with stage 0's n.
     */
    @Test
    void aSourceWhoseLaterXHasAnotherNIsRefusedNamingTheStage() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1); HostMatrix fewer = HostMatrix.allocate(N - 1, P)) {
            for (int i = 0; i < (N - 1) * P; i++) fewer.data().put(i, 0.5f * first.data().get(i));
            MultiStage.GradientSource source = new MultiStage.GradientSource() {
                @Override public HostMatrix gradients(int stage, float[] weights) { return stage == 0 ? first : fewer; }
                @Override public String describe(int stage) { return "my export of stage " + stage; }
            };
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MultiStage.run(b, source, wbar(), null, 0.1,
                    layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8, SolverOptions.defaults().withMaxIterations(3)));
            assertTrue(e.getMessage().contains("stage 1 (my export of stage 1)") && e.getMessage().contains((N - 1) + " x " + P)
                    && e.getMessage().contains("stage 0's X (my export of stage 0) is " + N + " x " + P), e.getMessage());
        }
    }

    /** parse("bogus") threw valueOf's "No enum constant ..." and parse(null) a NullPointerException. */
    @Test
    void anUnknownScheduleIsAnInputExceptionListingTheChoices() {
        assertEquals(MultiStage.Schedule.LINEAR, MultiStage.Schedule.parse(" Linear "));
        for (String bad : new String[] {"bogus", null, ""}) {
            InputException e = assertThrows(InputException.class, () -> MultiStage.Schedule.parse(bad, "--schedule"));
            assertEquals("--schedule: value: unknown schedule '" + bad + "'; choose one of poly, linear, exp, const", e.getMessage());
        }
    }

    /**
     * A Java caller of parse(text) was told about "--schedule", the CLI's option, which it never used: it is named by the
     * method's argument, or by the name the caller passes.
     */
    @Test
    void anUnknownScheduleFromJavaNamesTheJavaArgument() {
        InputException e = assertThrows(InputException.class, () -> MultiStage.Schedule.parse("bogus"));
        assertEquals("MultiStage.Schedule.parse(text): value: unknown schedule 'bogus'; choose one of poly, linear, exp, const", e.getMessage());
        e = assertThrows(InputException.class, () -> MultiStage.Schedule.parse("bogus", "config key schedule"));
        assertEquals("config key schedule: value: unknown schedule 'bogus'; choose one of poly, linear, exp, const", e.getMessage());
    }

    /**
     * gradients() after close() failed writing into the deleted temporary folder and blamed "a cleaner of /tmp" with a
     * SourceFailure (which a falcon++ run takes for a failed command and stops on, returning the last stage): it is an
     * IllegalStateException saying the source was closed.
     */
    @Test
    void gradientsAfterCloseSayTheSourceWasClosed() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            CommandGradients src = new CommandGradients(b, first, ": {weights}; : {grads}", null);
            src.close();
            for (int stage : new int[] {0, 1}) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> src.gradients(stage, wbar()));
                assertTrue(e.getMessage().contains("was closed") && !e.getMessage().contains("cleaner"), e.getMessage());
            }
        }
    }

    /** A lambda source was described by its generated class name, "the gradient source (GradientSourcesTest$$Lambda$78/0x...)". */
    @Test
    void lambdaAndAnonymousSourcesAreDescribedPlainly() {
        MultiStage.GradientSource lambda = (stage, weights) -> null;
        assertEquals("the gradient source (a lambda in dev.falcon.solve.GradientSourcesTest; override describe(stage) to name it)",
                lambda.describe(1));
        MultiStage.GradientSource anonymous = new MultiStage.GradientSource() {
            @Override public HostMatrix gradients(int stage, float[] weights) { return null; }
        };
        assertEquals("the gradient source (an anonymous class in dev.falcon.solve.GradientSourcesTest; override describe(stage) to name it)",
                anonymous.describe(1));
        class Named implements MultiStage.GradientSource {
            @Override public HostMatrix gradients(int stage, float[] weights) { return null; }
        }
        assertEquals("the gradient source (" + Named.class.getName() + ")", new Named().describe(1));
    }

    /** X of finite values too large for float32 products (X X^T overflows). */
    static HostMatrix tooLarge() {
        HostMatrix m = HostMatrix.allocate(N, P);
        for (int i = 0; i < N * P; i++) m.data().put(i, 1e30f);
        return m;
    }

    /**
     * A later stage's X whose X X^T overflows float32 was said of --grads (stage 0's file, which is fine) and ended the run
     * with exit 2 and nothing written, though a command's unusable output stops the run after the last completed stage.
     * Now a command-like source (its failures are SourceFailures) stops there, and any other source's X is named.
     */
    @Test
    void aLaterStagesXTooLargeForFloat32IsSaidOfItsSource() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1); HostMatrix huge = tooLarge()) {
            SolverOptions opt = SolverOptions.defaults().withMaxIterations(3);
            MultiStage.GradientSource stopping = new MultiStage.GradientSource() {
                @Override public HostMatrix gradients(int stage, float[] weights) { return stage < 2 ? first : huge; }
                @Override public String describe(int stage) { return "my export of stage " + stage; }
                @Override public RuntimeException unusable(int stage, String problem) {
                    return new MultiStage.SourceFailure("my export of stage " + stage + " is unusable: " + problem);
                }
            };
            MultiStage.Result stopped = MultiStage.run(b, stopping, wbar(), null, 0.1, layers(), 12, 30, 4, MultiStage.Schedule.LINEAR, 0.9, 0.9, opt);
            assertNotNull(stopped.stopped(), "the run went on past stage 2's X");
            // X X^T overflows, or the gradient's products do, depending on where the backend sums in double
            assertTrue(stopped.stopped().contains("stage 2") && stopped.stopped().contains("overflow"), stopped.stopped());
            assertEquals(1, stopped.lastCompletedStage(), stopped.stopped());
            MultiStage.GradientSource named = new MultiStage.GradientSource() {
                @Override public HostMatrix gradients(int stage, float[] weights) { return stage < 2 ? first : huge; }
                @Override public String describe(int stage) { return "file X_" + stage + ".npy"; }
            };
            InputException e = assertThrows(InputException.class, () -> MultiStage.run(b, named, wbar(), null, 0.1, layers(), 12, 30, 4,
                    MultiStage.Schedule.LINEAR, 0.9, 0.9, opt));
            assertTrue(e.getMessage().startsWith("the X of stage 2 (file X_2.npy): ") && e.getMessage().contains("overflow"), e.getMessage());
        }
    }

    /**
     * A stage whose budgets the previous stage's weights already meet has them as its optimum whatever its X (Q around
     * them is >= 0 and 0 at them): with --schedule const a pattern or command source still delivered an X for every stage
     * (a command's minutes on a GPU) and each stage returned the weights it started from. Such stages are not solved, and
     * their X is not asked for.
     */
    @Test
    void aStageThePreviousWeightsAlreadyFitDoesNotAskForItsX() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1); HostMatrix second = matrix(2)) {
            List<Integer> asked = new java.util.ArrayList<>();
            MultiStage.GradientSource source = (stage, weights) -> {
                asked.add(stage);
                return stage == 0 ? first : second;
            };
            MultiStage.Result r = MultiStage.run(b, source, wbar(), null, 0.1, layers(), 12, 30, 4, MultiStage.Schedule.CONST, 1, 1,
                    SolverOptions.defaults().withMaxIterations(3));
            assertEquals(List.of(0), asked, "stages 1..3 asked for an X that cannot change their weights");
            for (int t = 1; t < 4; t++) {
                MultiStage.Stage st = r.stages().get(t);
                assertEquals(0, st.iterations());
                assertTrue(st.note() != null && st.note().contains("whatever its X"), String.valueOf(st.note()));
            }
            assertEquals(r.stages().get(0).kept(), r.stages().get(3).kept());
        }
    }

    /** Budgets at the dense model leave every stage nothing to prune: each stage asked for its X (a pattern read every file). */
    @Test
    void denseBudgetsAskForStageZerosXOnly() {
        LayerTable layers = layers();
        int p = Math.toIntExact(layers.parameters());
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1); HostMatrix second = matrix(2)) {
            List<Integer> asked = new java.util.ArrayList<>();
            MultiStage.GradientSource source = (stage, weights) -> {
                asked.add(stage);
                return stage == 0 ? first : second;
            };
            MultiStage.Result r = MultiStage.run(b, source, wbar(), null, 0.1, layers, p, layers.denseFlops(), 3, MultiStage.Schedule.POLY, 1, 1,
                    SolverOptions.defaults().withMaxIterations(3));
            assertEquals(List.of(0), asked, "stages 1 and 2 asked for an X with nothing to prune");
            for (int t = 1; t < 3; t++) {
                assertEquals(p, r.stages().get(t).kept());
                assertTrue(String.valueOf(r.stages().get(t).note()).contains("nothing to prune"), String.valueOf(r.stages().get(t).note()));
            }
        }
    }

    /**
     * Start levels at the targets give every stage the final budgets whatever the schedule, as CONST does: the CLI
     * refuses a gradient source there by this answer, and the run asks the source for stage 0's X only.
     */
    @Test
    void startLevelsAtTheTargetsNeverChangeTheBudgets() {
        LayerTable layers = layers();
        int p = Math.toIntExact(layers.parameters());
        double flopsLevel = 30 / layers.denseFlops(), nnzLevel = 12.0 / p;
        for (MultiStage.Schedule s : MultiStage.Schedule.values()) {
            assertTrue(MultiStage.budgetsNeverChange(layers, 12, 30, 4, s, nnzLevel, flopsLevel), s.toString());
            assertEquals(s == MultiStage.Schedule.CONST, MultiStage.budgetsNeverChange(layers, 12, 30, 4, s, 1, 1), s.toString());
            // one level above its target moves that budget
            assertEquals(s == MultiStage.Schedule.CONST, MultiStage.budgetsNeverChange(layers, 12, 30, 4, s, nnzLevel, 1), s.toString());
        }
        assertTrue(MultiStage.budgetsNeverChange(layers, 12, 30, 1, MultiStage.Schedule.POLY, 1, 1), "one stage is at the final budgets");
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1); HostMatrix second = matrix(2)) {
            List<Integer> asked = new java.util.ArrayList<>();
            MultiStage.GradientSource source = (stage, weights) -> {
                asked.add(stage);
                return stage == 0 ? first : second;
            };
            MultiStage.Result r = MultiStage.run(b, source, wbar(), null, 0.1, layers, 12, 30, 4, MultiStage.Schedule.LINEAR, nnzLevel, flopsLevel,
                    SolverOptions.defaults().withMaxIterations(3));
            assertEquals(List.of(0), asked, "stages 1..3 have stage 0's budgets");
            for (MultiStage.Stage st : r.stages()) assertEquals(12, st.nnzBudget(), st.toString());
        }
    }

    /**
     * A FLOP start level a fraction of a FLOP above its target rounds to a stage-0 budget above the target (30.5 of 30)
     * that admits no other support, as every cost is whole: stage 0 keeps at most 30 FLOPs and every later stage keeps
     * its weights without asking for X. budgetsNeverChange compared the budgets (30.5 > 30) and answered false, so the
     * CLI took a --grads pattern or --grads-command it never used; the NNZ level within a weight was seen, as counts floor.
     * Costs 4 and 2 sum to even totals only: 31.9 FLOPs admit what 30 does.
     */
    @Test
    void aFlopStartLevelWithinAWholeFlopOfItsTargetNeverChangesTheBudgets() {
        LayerTable layers = layers(); // costs 4 and 1, dense 72
        int p = Math.toIntExact(layers.parameters());
        double nnzLevel = 12.0 / p;
        for (MultiStage.Schedule s : MultiStage.Schedule.values()) {
            assertTrue(MultiStage.budgetsNeverChange(layers, 12, 30, 4, s, nnzLevel, 30.5 / 72), s + " at 30.5 FLOPs");
            // a whole FLOP more admits a support of 31 FLOPs (7 x 4 + 3 x 1)
            assertEquals(s == MultiStage.Schedule.CONST, MultiStage.budgetsNeverChange(layers, 12, 30, 4, s, nnzLevel, 31.0 / 72), s + " at 31 FLOPs");
        }
        LayerTable even = new LayerTable(List.of(new Layer("a", new long[] {16}, 4, 0, 16), new Layer("b", new long[] {8}, 2, 16, 8)), "t");
        double dense = even.denseFlops();
        assertTrue(MultiStage.budgetsNeverChange(even, 12, 30, 4, MultiStage.Schedule.POLY, nnzLevel, 31.9 / dense), "31.9 of even costs");
        assertFalse(MultiStage.budgetsNeverChange(even, 12, 30, 4, MultiStage.Schedule.POLY, nnzLevel, 32.0 / dense), "32 of even costs");
        // a fractional cost: no step is known between the supports' sums, so only a budget at the target is the same
        LayerTable fractional = new LayerTable(List.of(new Layer("a", new long[] {16}, 4, 0, 16), new Layer("b", new long[] {8}, 0.5, 16, 8)), "t");
        assertFalse(MultiStage.budgetsNeverChange(fractional, 12, 30, 4, MultiStage.Schedule.POLY, nnzLevel, 30.4 / fractional.denseFlops()));
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1); HostMatrix second = matrix(2)) {
            List<Integer> asked = new java.util.ArrayList<>();
            MultiStage.GradientSource source = (stage, weights) -> {
                asked.add(stage);
                return stage == 0 ? first : second;
            };
            MultiStage.run(b, source, wbar(), null, 0.1, layers, 12, 30, 4, MultiStage.Schedule.LINEAR, nnzLevel, 30.5 / 72,
                    SolverOptions.defaults().withMaxIterations(3));
            assertEquals(List.of(0), asked, "as budgetsNeverChange says, stages 1..3 keep stage 0's weights");
        }
    }

    /**
     * The gcd step holds only while every support's FLOP sum is exact in float64. Costs 7,568,371,927,873,750 (whole,
     * below 2^53) and 7 sum past 2^53: the support "3 of a + 19 of b" sums to T + 7, rounded to T + 4, the next double
     * above T = 3 x c1 + 18 x 7 and the stage-0 budget that start level 0.7499999999999948 gives. budgetsNeverChange
     * said "same", yet stage 1 was solved and pruned another weight.
     */
    @Test
    void flopSumsPastTwoToTheFiftyThreeAreNotTakenForSteps() {
        double big = 7568371927873750.0, small = 7;
        LayerTable layers = new LayerTable(List.of(new Layer("a", new long[] {4}, big, 0, 4), new Layer("b", new long[] {55}, small, 4, 55)), "t");
        double target = 3 * big + 18 * small;
        double supportAbove = 0;
        supportAbove += 3 * big;
        supportAbove += 19 * small;
        assertTrue(supportAbove > target && supportAbove == Math.nextUp(target), "the support costs the next double above the target");
        assertFalse(MultiStage.budgetsNeverChange(layers, 59, target, 3, MultiStage.Schedule.POLY, 1, 0.7499999999999948),
                "stage 0's budget admits a support of " + supportAbove + " FLOPs, above the target " + target);
    }

    /**
     * Start levels are fractions of p or of the dense FLOPs in (0, 1], as the CLI's --start-keep options and a Pruner's
     * StagePlan take them. Through MultiStage.run a NaN level passed the below-the-target check (false for NaN) and made
     * every stage run at the final budgets, a const schedule nobody asked for; a level above 1 bent the schedule's path
     * (stage 1 of poly at 24 of 40 weights instead of 18), budgets no CLI run can give; budgetsNeverChange answered true
     * for NaN.
     */
    @Test
    void startLevelsOutsideZeroToOneAreRefusedNamingTheArgument() {
        LayerTable layers = layers();
        try (ComputeBackend b = new JavaBackend(); HostMatrix x = matrix(1)) {
            for (double level : new double[] {Double.NaN, 1.5, Double.POSITIVE_INFINITY, 0, -0.2}) {
                for (boolean nnz : new boolean[] {true, false}) {
                    double startNnz = nnz ? level : 1, startFlops = nnz ? 1 : level;
                    String field = nnz ? "startNnz" : "startFlops";
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MultiStage.run(b, MultiStage.GradientSource.fixed(x),
                            wbar(), null, 0.1, layers, 12, 30, 4, MultiStage.Schedule.POLY, startNnz, startFlops, SolverOptions.defaults().withMaxIterations(3)),
                            field + " " + level);
                    assertTrue(e.getMessage().startsWith(field + ": is " + dev.falcon.model.Numbers.shown(level) + ", outside (0, 1]"), e.getMessage());
                    e = assertThrows(IllegalArgumentException.class,
                            () -> MultiStage.budgetsNeverChange(layers, 12, 30, 4, MultiStage.Schedule.POLY, startNnz, startFlops), field + " " + level);
                    assertTrue(e.getMessage().startsWith(field + ": is " + dev.falcon.model.Numbers.shown(level) + ", outside (0, 1]"), e.getMessage());
                }
            }
        }
    }

    /**
     * The placeholders were replaced one after the other: a {grads} in the weights' path (a TMPDIR that holds one) was
     * replaced again, and the command got a path that does not exist.
     */
    @Test
    void placeholdersInsideTheReplacedPathsAreLeftAsTheyAre() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients source = new CommandGradients(b, first, "run --weights {weights} --out {grads}", null)) {
            String line = source.commandLine(Path.of("/tmp/x{grads}y/w.npy"), Path.of("/tmp/x{grads}y/X.npy"), 1);
            assertEquals("run --weights '/tmp/x{grads}y/w.npy' --out '/tmp/x{grads}y/X.npy'", line);
        }
    }

    /**
     * {t} in a command reached it as the literal text "{t}", with no word: users know {t} from the --grads pattern
     * X_stage{t}.npy. It is the stage's number, the one of the pattern's file holding the same stage's X.
     */
    @Test
    void theStagePlaceholderIsTheStageNumberAsInTheFilePattern() throws IOException {
        Path x2 = dir.resolve("X2.npy"), said = dir.resolve("said.txt");
        writeX(x2, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "echo \"stage {t}\" X_stage{t}.npy '{t}' > '" + said + "' && cp '" + x2 + "' {grads} && : {weights}", null)) {
            src.gradients(2, wbar());
            // in single quotes it is the shell's literal text, as the next test has it
            assertEquals(List.of("stage 2 X_stage2.npy {t}"), Files.readAllLines(said));
        }
    }

    /**
     * {t} was replaced by a regex wherever it stood, although single-quoted text is promised to be left alone: the command
     * printed "single:2 backslash:2 dq:2" and jq '{t}' printed 2 instead of {"t":5}. Placeholders are read as the shell
     * reads the command: replaced bare and inside double quotes, left as they are inside single quotes, after a backslash
     * and as the shell's own ${t}.
     */
    @Test
    void theStagePlaceholderIsLeftAloneInSingleQuotesAfterABackslashAndAsTheShellsVariable() throws IOException {
        Path x2 = dir.resolve("X2.npy"), said = dir.resolve("said.txt");
        writeX(x2, 3);
        String cmd = "t=7; echo single:'{t}' backslash:\\{t} dq:\"{t}\" bare:{t} shell:${t} > '" + said + "'"
                + " && echo '{\"t\":5}' | jq -c '{t}' >> '" + said + "' && cp '" + x2 + "' {grads} && : {weights}";
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, cmd, null)) {
            src.gradients(2, wbar());
            assertEquals(List.of("single:{t} backslash:{t} dq:2 bare:2 shell:7", "{\"t\":5}"), Files.readAllLines(said));
        }
    }

    /**
     * A # right after the ) that closes a $( ) continues its word, as /bin/sh reads it, but the scanner took it for a
     * comment: "argv.sh tag:$(echo a)#{t} {weights} {grads}" reached the command with "{weights}" and "{grads}" as text and
     * failed as "X for stage 2 was not written to {grads}". And placeholders only in a comment passed the "needs both"
     * check, which looked at the text, to fail the same way at stage 1.
     */
    @Test
    void aHashAfterASubstitutionContinuesItsWordAndPlaceholdersOnlyInACommentAreRefused() throws IOException {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients source = new CommandGradients(b, first, "run tag:$(echo a)#{t} {weights} {grads} `echo b`#{t}", null)) {
            assertEquals("run tag:$(echo a)#2 /w.npy /X.npy `echo b`#2", source.commandLine(Path.of("/w.npy"), Path.of("/X.npy"), 2));
        }
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients source = new CommandGradients(b, first, "(run {weights} {grads})#{t}", null)) {
            // after a subshell's ) the shell begins a word, so there the # is a comment
            assertEquals("(run /w.npy /X.npy)#{t}", source.commandLine(Path.of("/w.npy"), Path.of("/X.npy"), 2));
        }
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CommandGradients(b, first, "run a #{weights} {grads}", null));
            assertTrue(e.getMessage().startsWith("the command needs both {weights} and {grads} outside comments"), e.getMessage());
        }
    }

    /**
     * {weights} and {grads} follow the same reading as {t}; as falcon's quoted paths they must stand bare, and the shell's
     * ${grads} (a variable, which the regex replaced into "$/tmp/...") is refused as their quoted forms are.
     */
    @Test
    void aPathPlaceholderAfterADollarIsRefusedAsTheShellsVariable() {
        assertEquals("{grads} follows a $, which makes ${grads} a shell variable, not falcon's placeholder",
                CommandGradients.quotedPlaceholder("cp X.npy ${grads} && : {weights}"));
        assertNull(CommandGradients.quotedPlaceholder("echo '{t}' \\{t} \"{t}\" ${t} && cp X.npy {grads} && : {weights}"));
    }

    /** What /bin/sh prints running {@code line}: the reading the scanner has to agree with. */
    static String shellPrints(String line) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("/bin/sh", "-c", line).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String said = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), line);
        return said;
    }

    /** The command's line for stage 2 (weights /w.npy, X /X.npy), checked to be what {@code expected} says, and what sh prints running it. */
    private static String stageTwoLinePrints(String command, String expectedLine) throws IOException, InterruptedException {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients source = new CommandGradients(b, first, command, null)) {
            String line = source.commandLine(Path.of("/w.npy"), Path.of("/X.npy"), 2);
            assertEquals(expectedLine, line, command);
            return shellPrints(line);
        }
    }

    /**
     * The shell expands nothing in the body of a quoted here-document (<<'EOF', <<"EOF", <<\EOF), yet {t} there was
     * replaced: print(f"{t}") reached the shell as print(f"2"), and {weights} and {grads} only there passed the "needs
     * both" check. The body is left as it is, gets no warning for its braces, and counts for no placeholder.
     */
    @Test
    void placeholdersInAQuotedHereDocumentsBodyAreLeftAsTheyAre() throws Exception {
        for (String opener : List.of("<<'EOF'", "<<\"EOF\"", "<<\\EOF", "<<E'O'F", "<< 'EOF'", "<<-'EOF'")) {
            String command = "cat " + opener + "\nprint(f\"{t}\") {x} {weights}\nEOF\n: {weights} {grads} {t}";
            assertEquals("print(f\"{t}\") {x} {weights}\n", stageTwoLinePrints(command, command.replace(": {weights} {grads} {t}", ": /w.npy /X.npy 2")), command);
            assertNull(CommandGradients.unknownPlaceholder(command), command);
            assertNull(CommandGradients.quotedPlaceholder(command), command);
        }
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new CommandGradients(b, first, "python3 - <<'EOF'\nrun({weights}, {grads})\nEOF", null));
            assertTrue(e.getMessage().startsWith("the command needs both {weights} and {grads} outside comments and quoted here-documents"), e.getMessage());
        }
    }

    /**
     * In the body of an unquoted here-document (<<EOF, <<-EOF) the shell expands $VAR, $( ) and ` `, but quotes are its
     * text: the apostrophe of "it's stage {t}" was read as opening a quote, and the {weights} after the body was refused
     * as inside single quotes. Quotes in the body open none; {t} there is replaced, as a $VAR would be; the body ends at
     * its delimiter line (tabs stripped for <<-), each of several here-documents on a line in turn, inside $( ) too.
     */
    @Test
    void anUnquotedHereDocumentsBodyIsReadAsTheShellExpandsIt() throws Exception {
        String tail = "\n: {weights} {grads}", replacedTail = "\n: /w.npy /X.npy";
        String[][] cases = {
                {"cat <<EOF\nit's stage {t}, \"{t}\" \\{t} ${t}\nEOF", "it's stage 2, \"2\" \\{t} \n"},
                {"cat <<-END\n\tit's {t}\n\tEND", "it's 2\n"},
                {"cat <<A; cat << B\nit's {t}\nA\nB's {t}\nB", "it's 2\nB's 2\n"},
                {"x=$(cat <<EOF\nit's {t}\nEOF\n); echo \"$x\"", "it's 2\n"},
                {"cat <<EOF\nEOF it's {t}\n EOF\nEOF", "EOF it's 2\n EOF\n"},
                {"cat <<EOF\nit's $(echo '{t}' {t}) `echo '{t}'`\nEOF", "it's {t} 2 {t}\n"},
                {"cat <<EOF\nit's {t}\nEOF\necho '{t}' it\"'\"s", "it's 2\n{t} it's\n"},
        };
        for (String[] c : cases) {
            String command = c[0] + tail;
            String expectedLine = c[0].replace("{t}", "\u0000").replace("'\u0000'", "'{t}'").replace("\\\u0000", "\\{t}").replace("$\u0000", "${t}")
                    .replace("\u0000", "2") + replacedTail;
            assertEquals(c[1], stageTwoLinePrints(command, expectedLine), command);
        }
    }

    /**
     * A case pattern's ) inside "$( )" closed the substitution early in the scanner, where the shell reads on to esac:
     * the rest was read as inside the double quotes, so '{t}' in the branch was replaced (sh printed "2 2" for "{t} 2")
     * and {weights} there was refused as quoted. case ... esac is followed inside substitutions: its patterns' )
     * close nothing, ;; starts the next pattern, and case as an argument (echo case) is a word like any other.
     */
    @Test
    void aCasePatternsParenthesisInsideASubstitutionClosesNothing() throws Exception {
        String tail = "; : {weights} {grads}", replacedTail = "; : /w.npy /X.npy";
        String[][] cases = {
                {"echo \"$(case a in a) echo '{t}' {t};; esac)\"", "{t} 2\n"},
                {"echo \"$(case a in (a) echo '{t}' {t}; esac)\"", "{t} 2\n"},
                {"echo \"$(case b in a|c) echo no;; *) echo '{t}' {t};; esac)\"", "{t} 2\n"},
                {"x=$(case a in a) echo '{t}';; esac)#{t}; echo \"$x\"", "{t}#2\n"},
                {"echo \"$(case a in\n a) case b in b) echo '{t}' {t};; esac;;\n esac)\"", "{t} 2\n"},
                {"echo \"$(if true; then case a in a) echo '{t}' {t};; esac; fi)\"", "{t} 2\n"},
                {"echo $(echo case a in a) '{t}' {t}", "case a in a {t} 2\n"},
                {"echo $((1<<2)) \"$(case a in a) echo '{t}';; esac)\"", "4 {t}\n"},
        };
        for (String[] c : cases) {
            String command = c[0] + tail;
            String expectedLine = c[0].replace("'{t}'", "'\u0000'").replace("{t}", "2").replace("'\u0000'", "'{t}'") + replacedTail;
            assertEquals(c[1], stageTwoLinePrints(command, expectedLine), command);
        }
        assertNull(CommandGradients.quotedPlaceholder("echo \"$(case a in a) echo {weights};; esac)\" {grads}"));
    }

    /**
     * Each case is {command, its line for stage 2 (weights /w.npy, X /X.npy), what sh prints running that line}, the
     * command followed by "\n: {weights} {grads}", whose placeholders are replaced where sh reads that line as a command.
     */
    private static void linesPrintAsShReadsThem(String[][] cases) throws Exception {
        for (String[] c : cases) {
            String command = c[0] + "\n: {weights} {grads}";
            assertEquals(c[2], stageTwoLinePrints(command, c[1] + "\n: /w.npy /X.npy"), command);
        }
    }

    /**
     * Inside `...` a here-document's delimiter line reads EOF` in the command's text, which the scanner compared with
     * EOF, so the body never ended: the rest of the command was read as body. x=`cat <<EOF ... EOF`; echo "$x" `echo
     * '{t}'` printed "stage 2 2" where sh prints "stage 2 {t}", and {weights} after echo "`cat <<EOF ... EOF`" was refused
     * as inside double quotes. As sh (dash) reads backquoted text as its own command, a body in it ends at the closing
     * backquote, and an operator with no line of its own before that backquote gets no body.
     */
    @Test
    void aHereDocumentInsideBackquotesEndsAtTheClosingBackquote() throws Exception {
        linesPrintAsShReadsThem(new String[][] {
                {"x=`cat <<EOF\nstage {t}\nEOF`; echo \"$x\" `echo '{t}'`", "x=`cat <<EOF\nstage 2\nEOF`; echo \"$x\" `echo '{t}'`", "stage 2 {t}\n"},
                {"echo \"`cat <<EOF\nstage {t}\nEOF`\"", "echo \"`cat <<EOF\nstage 2\nEOF`\"", "stage 2\n"},
                {"x=`cat <<EOF\nstage {t}`; echo \"$x\" '{t}'", "x=`cat <<EOF\nstage 2`; echo \"$x\" '{t}'", "stage 2 {t}\n"},
                {"x=`cat <<'EOF'\nstage {t}\nEOF`; echo \"$x\" '{t}'", "x=`cat <<'EOF'\nstage {t}\nEOF`; echo \"$x\" '{t}'", "stage {t} {t}\n"},
                {"echo `cat <<A` x\necho '{t}' {t}\n: A", "echo `cat <<A` x\necho '{t}' 2\n: A", "x\n{t} 2\n"},
        });
    }

    /**
     * ${...} is the shell's parameter expansion, in which << is text and parentheses close nothing: echo ${x:-<<EOF}
     * was read as opening a here-document, and the placeholders on the lines after it were refused as in its body; a )
     * or ( inside ${...} within $( ) moved the scanner's parenthesis count, so the # after $(echo ${x:-)}) was read as a
     * comment (the line kept #{t} where sh reads ")#2") and 'argv.sh $(echo ${x:-(})#{weights} {grads}' was refused as
     * having {weights} only in a comment. Quotes inside ${...} are read as sh reads them: " opens one, ' only outside
     * double quotes.
     */
    @Test
    void redirectionsAndParenthesesInsideAParameterExpansionAreItsText() throws Exception {
        linesPrintAsShReadsThem(new String[][] {
                {"echo ${x:-<<EOF} '{t}'", "echo ${x:-<<EOF} '{t}'", "<<EOF {t}\n"},
                {"x=a; echo ${x#<<} '{t}'", "x=a; echo ${x#<<} '{t}'", "a {t}\n"},
                {"echo $(echo ${x:-)})#{t}", "echo $(echo ${x:-)})#2", ")#2\n"},
                {"echo $(echo ${x:-(})#{t}", "echo $(echo ${x:-(})#2", "(#2\n"},
                {"echo $(echo ${x:-${y:-(}})#{t} '{t}'", "echo $(echo ${x:-${y:-(}})#2 '{t}'", "(#2 {t}\n"},
                {"echo ${x:-\"a}b\"} '{t}'", "echo ${x:-\"a}b\"} '{t}'", "a}b {t}\n"},
                {"echo \"${x:-it's}\" '{t}' {t}", "echo \"${x:-it's}\" '{t}' 2", "it's {t} 2\n"},
        });
        assertNull(CommandGradients.placeholderRefusal("argv.sh $(echo ${x:-(})#{weights} {grads}"));
    }

    /**
     * sh (dash) reads no body for a here-document whose operator stands inside $( ) that closes on the same line: the
     * lines after are commands. The scanner took them for the bodies, replacing {t} inside their single quotes and
     * refusing the placeholders after them as in a body.
     */
    @Test
    void aHereDocumentOperatorInsideAClosedSubstitutionHasNoBody() throws Exception {
        linesPrintAsShReadsThem(new String[][] {
                {"echo \"$(cat <<A)\" \"$(cat <<B)\"x\necho '{t}' {t}\n: A B", "echo \"$(cat <<A)\" \"$(cat <<B)\"x\necho '{t}' 2\n: A B", " x\n{t} 2\n"},
        });
    }

    /**
     * {weights} and {grads} in an unquoted here-document's body were refused outright, which broke commands that had run
     * (cat > cfg.txt <<EOF / weights {weights} / EOF): falcon's shell quotes would be the body's text, but the body is
     * neither split nor globbed, so the path goes there as it is. It is refused only where the temporary folder's path
     * holds a character the body still expands ($, `, \) or a line break, naming the character and the fix.
     */
    @Test
    void aPathPlaceholderInAnUnquotedHereDocumentsBodyGetsThePathAsItIs() throws IOException {
        Path x2 = dir.resolve("X2.npy"), said = dir.resolve("said.txt");
        writeX(x2, 3);
        String before = System.getProperty("java.io.tmpdir");
        String command = "cat > '" + said + "' <<EOF\nweights {weights} stage {t}\nEOF\ncp '" + x2 + "' {grads}";
        try {
            System.setProperty("java.io.tmpdir", Files.createDirectories(dir.resolve("tmp dir 'q' \u00e9 *")).toString());
            try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
                 CommandGradients src = new CommandGradients(b, first, command, null)) {
                assertEquals(P, src.gradients(1, wbar()).cols());
                assertEquals(List.of("weights " + src.directory().resolve("weights_stage1_1.npy") + " stage 1"), Files.readAllLines(said));
            }
            for (String held : List.of("$x", "`x`", "a\\b")) {
                Path tmp = Files.createDirectories(dir.resolve("tmp " + held));
                System.setProperty("java.io.tmpdir", tmp.toString());
                CommandGradients.Refusal refusal = CommandGradients.placeholderRefusal(command);
                assertNotNull(refusal, held);
                assertTrue(refusal.problem().startsWith("{weights} is in the body of a here-document (<<EOF)") && refusal.problem().contains(tmp.toString())
                        && refusal.problem().contains("holds a " + held.replaceAll("[a-z]", "").charAt(0) + ", which the body would expand"), refusal.problem());
                assertTrue(refusal.fix().contains("TMPDIR"), refusal.fix());
                try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CommandGradients(b, first, command, null).close());
                    assertTrue(e.getMessage().startsWith(refusal.problem()), e.getMessage());
                }
                try (java.util.stream.Stream<Path> left = Files.list(tmp)) {
                    assertEquals(List.of(), left.toList(), "a refused source leaves no folder");
                }
            }
        } finally {
            System.setProperty("java.io.tmpdir", before);
        }
    }

    /**
     * A misspelt placeholder ({stage}, {T}, {Weights} beside {weights}) reaches the command as literal text: the source
     * takes the command (a refusal broke ordinary commands with braces of their own, as the next test shows), and
     * {@link CommandGradients#unknownPlaceholder} gives the one-line warning, naming the word, the placeholders there
     * are and that it stays literal. Braces of the shell's own or of another program's text in single quotes get none:
     * ${VAR}, awk '{print}', find's {}, {a,b}, a { ...; } group, a comment.
     */
    @Test
    void aPlaceholderFalconDoesNotKnowIsWarnedAboutAndOtherBracesAreLeftAlone() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            for (String[] c : new String[][] {{"echo \"stage arg: {t} {stage}\"; python3 grad.py {weights} {grads}", "{stage}"},
                    {"python3 grad.py --step {T} {weights} {grads}", "{T}"}, {"cp {Weights} {grads} && : {weights}", "{Weights}"},
                    {"python3 g.py {weights} {grads} --tag \"$(echo {stage_name})\"", "{stage_name}"}}) {
                new CommandGradients(b, first, c[0], null).close();
                String warning = CommandGradients.unknownPlaceholder(c[0]);
                assertNotNull(warning, c[0]);
                assertTrue(warning.startsWith(c[1] + " is not a placeholder falcon knows") && warning.contains("{weights}, {grads} and {t}")
                        && warning.contains("literal text " + c[1]) && !warning.contains("\n"), warning);
            }
            for (String shellText : List.of("echo ${HOME} \"${USER}\" && python3 g.py {weights} {grads}", "awk '{print}' log.txt; python3 g.py {weights} {grads}",
                    "jq '{name}' m.json && python3 g.py {weights} {grads}", "find . -name '*.tmp' -exec rm {} \\; ; python3 g.py {weights} {grads}",
                    "echo {a,b} {1..3} {} && python3 g.py {weights} {grads}", "{ python3 g.py {weights} {grads}; }", "python3 g.py {weights} {grads} # see {notes}",
                    "echo \\{literal} && python3 g.py {weights} {grads}")) {
                new CommandGradients(b, first, shellText, null).close();
                assertNull(CommandGradients.unknownPlaceholder(shellText), shellText);
            }
        }
    }

    /**
     * Ordinary commands with braces of their own (Python f-strings and str.format, a quoted heredoc, jq, a grep interval,
     * printf, the shell's $x{y}) were refused as misspelt placeholders ("{x} is not a placeholder falcon knows"),
     * commands that had run before. They are taken, and their braces reach them as they are.
     */
    @Test
    void commandsWithBracesOfTheirOwnAreTaken() throws IOException {
        Path x2 = dir.resolve("X2.npy"), said = dir.resolve("said.txt"), cfg = dir.resolve("cfg.json");
        writeX(x2, 3);
        Files.writeString(cfg, "{\"name\": 4}");
        String copy = " >> '" + said + "'; cp '" + x2 + "' {grads} && : {weights}";
        List<String> commands = List.of("python3 -c \"import sys; x=1; print(f'{x}')\"" + copy,
                "python3 -c \"print('{name}'.format(name=1))\"" + copy,
                "python3 - {weights} {grads} <<'EOF'\nimport shutil, sys\nx = 1\nprint(f\"{x}\")\nshutil.copy('" + x2 + "', sys.argv[2])\nEOF",
                "jq -c \"{name}\" '" + cfg + "'" + copy,
                "echo a{x} > '" + dir.resolve("f") + "'; grep -E \"a{x}\" '" + dir.resolve("f") + "'" + copy,
                "printf '%s\\n' \"a{b}\"" + copy,
                "x=v; echo \"$x{y}\"" + copy);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            for (String command : commands) {
                try (CommandGradients src = new CommandGradients(b, first, command, null)) {
                    assertEquals(N, src.gradients(2, wbar()).rows(), command);
                }
            }
        }
        assertEquals(List.of("1", "1", "{\"name\":4}", "a{x}", "a{b}", "v{y}"), Files.readAllLines(said));
    }

    /** A source that doubles the weights it is handed (in place, for its own model), then fails at {@code failAt} (-1: never). */
    private static MultiStage.GradientSource scribbling(HostMatrix x, int failAt) {
        return (stage, weights) -> {
            for (int i = 0; i < weights.length; i++) weights[i] *= 2;
            if (stage == failAt) throw new MultiStage.SourceFailure("model server gone");
            return x;
        };
    }

    /**
     * The source was handed the run's own weights: one that wrote into them and then failed had the run return the
     * written weights with the Q of the weights before (737.98 for weights of Q 135.56).
     */
    @Test
    void aSourceWritingIntoTheWeightsThenFailingLeavesTheLastStagesWeights() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix x = matrix(1)) {
            float[] wbar = wbar();
            SolverOptions opt = SolverOptions.defaults().withMaxIterations(5);
            MultiStage.Result stopped = MultiStage.run(b, scribbling(x, 2), wbar, null, 0.1, layers(), 12, 30, 4,
                    MultiStage.Schedule.LINEAR, 0.9, 0.9, opt);
            assertNotNull(stopped.stopped());
            assertEquals(1, stopped.lastCompletedStage(), stopped.stopped());
            assertEquals(FalconSolver.exactQ(b, x, stopped.weights(), wbar, null, 0.1), stopped.qFinal(), 1e-9 * Math.max(1, stopped.qFinal()));
            MultiStage.GradientSource clean = (stage, weights) -> {
                if (stage == 2) throw new MultiStage.SourceFailure("model server gone");
                return x;
            };
            assertArrayEquals(MultiStage.run(b, clean, wbar, null, 0.1, layers(), 12, 30, 4, MultiStage.Schedule.LINEAR, 0.9, 0.9, opt).weights(),
                    stopped.weights());
        }
    }

    /** A source that wrote into the run's own weights without failing moved every later stage's start. */
    @Test
    void aSourceWritingIntoTheWeightsChangesNoStagesStart() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix x = matrix(1)) {
            float[] wbar = wbar();
            SolverOptions opt = SolverOptions.defaults().withMaxIterations(5);
            MultiStage.GradientSource clean = (stage, weights) -> x;
            MultiStage.Result cleanRun = MultiStage.run(b, clean, wbar, null, 0.1, layers(), 12, 30, 4,
                    MultiStage.Schedule.LINEAR, 0.9, 0.9, opt);
            MultiStage.Result scribbled = MultiStage.run(b, scribbling(x, -1), wbar, null, 0.1, layers(), 12, 30, 4,
                    MultiStage.Schedule.LINEAR, 0.9, 0.9, opt);
            assertNull(scribbled.stopped());
            assertArrayEquals(cleanRun.weights(), scribbled.weights());
            assertEquals(cleanRun.qFinal(), scribbled.qFinal());
            assertArrayEquals(wbar(), wbar, "the dense weights given to the run");
        }
    }

    /**
     * A falcon++ stage whose file is read on an interrupted thread: the stage's channel read fails with
     * ClosedByInterruptException (no message), which was "X_1.npy: pattern: cannot be read (null); check the path and
     * permissions". It is the IllegalStateException an interrupted prune gives elsewhere, with the flag kept, and the
     * stage loads once the flag is cleared.
     */
    @Test
    void aStageFileReadOnAnInterruptedThreadIsAnInterruptNotAnUnreadableFile() {
        writeX(dir.resolve("X_0.npy"), 1);
        writeX(dir.resolve("X_1.npy"), 2);
        try (ComputeBackend b = new JavaBackend();
             FilePatternGradients src = new FilePatternGradients(b, null, dir.resolve("X_{t}.npy").toString(), 2, "pattern")) {
            Thread.currentThread().interrupt();
            try {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> src.gradients(1, wbar()));
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag was cleared: " + e);
                assertTrue(e.getMessage().startsWith("interrupted while reading ") && e.getMessage().contains(dir.resolve("X_1.npy").toString())
                        && !e.getMessage().contains("check the"), e.getMessage());
            } finally {
                Thread.interrupted();
            }
            HostMatrix x = src.gradients(1, wbar());
            assertEquals(N, x.rows());
            assertEquals(P, x.cols());
        }
    }

    /**
     * A stage file there when the source was made (every file is checked then) and removed before its stage read it was
     * "file: does not exist; check the path", which reads as a typo in the pattern.
     */
    @Test
    void aStageFileRemovedAfterTheStartIsSaidToHaveGoneDuringTheRun() throws IOException {
        for (int t = 0; t < 3; t++) writeX(dir.resolve("X_stage" + t + ".npy"), t + 1);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             FilePatternGradients src = new FilePatternGradients(b, first, dir.resolve("X_stage{t}.npy").toString(), 3, "--grads")) {
            assertEquals(N, src.gradients(1, wbar()).rows());
            Files.delete(dir.resolve("X_stage2.npy"));
            InputException e = assertThrows(InputException.class, () -> src.gradients(2, wbar()));
            assertTrue(e.getMessage().startsWith(dir.resolve("X_stage2.npy") + ": --grads: the X of stage 2 was present when the run started and is missing now:"
                    + " it was moved or deleted during the run") && !e.getMessage().contains("check the path"), e.getMessage());
        }
    }

    /**
     * A run of more stages than a FilePatternGradients was made for: the first stage past its files is one it cannot give,
     * a SourceFailure, so that the run returns the last completed stage as README documents. It threw "stage 2 outside
     * 0..1", an IllegalArgumentException that lost the completed stages and named neither count.
     */
    @Test
    void aRunPastTheStagesOfAFilePatternSourceReturnsTheLastCompletedStage() {
        writeX(dir.resolve("X_0.npy"), 1);
        writeX(dir.resolve("X_1.npy"), 2);
        try (ComputeBackend b = new JavaBackend();
             FilePatternGradients src = new FilePatternGradients(b, null, dir.resolve("X_{t}.npy").toString(), 2, "pattern")) {
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 4, MultiStage.Schedule.LINEAR, 0.9, 0.9,
                    SolverOptions.defaults().withMaxIterations(3));
            assertNotNull(r.stopped(), "the run stopped at stage 2");
            assertEquals(1, r.lastCompletedStage(), r.stopped());
            assertTrue(r.stopped().startsWith("gradients of stage 2 (file " + dir.resolve("X_2.npy") + " (beyond the 2 stages")
                    && r.stopped().contains("this FilePatternGradients was made for 2 stages (stages = 2, the files ")
                    && r.stopped().contains("but stage 2 was asked for"), r.stopped());
        }
    }

    /**
     * A FilePatternGradients of no stages is refused when it is made, naming its stages argument: 0 and -3 were taken
     * (-3 as stages() 0, a pattern in a missing folder too, as no header was read), and the prune then refused the plan,
     * offering a StagePlan of 0 stages, which StagePlan refuses as well.
     */
    @Test
    void aFilePatternSourceOfNoStagesIsRefusedWhenMade(@TempDir Path dir) {
        writeX(dir.resolve("X0.npy"), 1);
        try (ComputeBackend b = new JavaBackend()) {
            for (String pattern : new String[] {dir.resolve("X{t}.npy").toString(), dir.resolve("missing/X{t}.npy").toString()}) {
                for (int stages : new int[] {0, -3}) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> new FilePatternGradients(b, null, pattern, stages, "xs").close(), pattern + " " + stages);
                    assertTrue(e.getMessage().startsWith("FilePatternGradients stages: is " + stages + ", it must be at least 1: one file per stage")
                            && e.getMessage().contains("give the StagePlan's stages"), e.getMessage());
                    // a field like an option's is no sign of the CLI, which refuses --stages itself: no option named to a caller who has none
                    e = assertThrows(IllegalArgumentException.class, () -> FilePatternGradients.stageSources(pattern, stages, "--grads"));
                    assertTrue(e.getMessage().startsWith("FilePatternGradients stages: is " + stages + ", it must be at least 1"), e.getMessage());
                }
            }
        }
    }

    /**
     * Pruner.prune refuses a StagePlan of more stages than its FilePatternGradients was made for before any work: the
     * prune read and solved stages 0 to 2 and then failed, losing them.
     */
    @Test
    void aStagePlanOfMoreStagesThanItsFilePatternSourceIsRefusedBeforeAnyStage() {
        for (int t = 0; t < 3; t++) writeX(dir.resolve("X" + t + ".npy"), t + 1);
        List<String> told = new java.util.ArrayList<>();
        FilePatternGradients.StageFiles watcher = new FilePatternGradients.StageFiles() {
            @Override public void loading(int stage, Path file) { told.add("loading " + stage); }
            @Override public void loaded(int stage, Path file) { told.add("loaded " + stage); }
        };
        String pattern = dir.resolve("X{t}.npy").toString();
        LayerTable t = layers();
        dev.falcon.prune.Budgets budgets = dev.falcon.prune.Budgets.resolve(t, 0.5, null, 0.5, null, null);
        try (ComputeBackend b = new JavaBackend(); FloatPointer w = new FloatPointer(wbar());
             FilePatternGradients src = new FilePatternGradients(b, null, pattern, 3, "pattern", watcher);
             dev.falcon.prune.Pruner pruner = new dev.falcon.prune.Pruner(b)) {
            var inputs = new dev.falcon.prune.Pruner.SolverInputs(null, null, 1e-3, null, null,
                    new dev.falcon.prune.Pruner.StagePlan(5, MultiStage.Schedule.LINEAR, 1, 1, src));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pruner.prune(dev.falcon.prune.Method.FALCON_PLUS_PLUS, w, t, budgets, inputs).close());
            assertTrue(e.getMessage().startsWith("StagePlan.stages: is 5, but its source, the FilePatternGradients of " + pattern
                    + ", was made for 3 stages (stages = 3") && e.getMessage().contains("make the source with stages = 5")
                    && e.getMessage().contains("or give the StagePlan 3 stages"), e.getMessage());
            assertEquals(List.of(), told, "no stage's file was read");
            // as many stages as the source has (or fewer) run
            var three = new dev.falcon.prune.Pruner.SolverInputs(null, null, 1e-3, null, null,
                    new dev.falcon.prune.Pruner.StagePlan(3, MultiStage.Schedule.LINEAR, 1, 1, src));
            try (dev.falcon.prune.PruneResult r = pruner.prune(dev.falcon.prune.Method.FALCON_PLUS_PLUS, w, t, budgets, three)) {
                assertNull(r.solve().multiStage().stopped());
                assertEquals(3, r.solve().multiStage().stages().size());
            }
        }
    }

    /** A mistyped --stages is answered with the first missing file, not with "out of memory" for a table sized by it. */
    @Test
    void patternWithHugeStageCountNamesTheFirstMissingFile() {
        writeX(dir.resolve("X_0.npy"), 1);
        writeX(dir.resolve("X_1.npy"), 2);
        String pattern = dir.resolve("X_{t}.npy").toString();
        InputException e = assertThrows(InputException.class, () -> FilePatternGradients.stageSources(pattern, 1 << 30, "--grads"));
        assertTrue(e.getMessage().contains("X_2.npy"), e.getMessage());
    }

    @Test
    void patternChecksEveryStageFileUpFront() {
        writeX(dir.resolve("X_0.npy"), 1);
        writeX(dir.resolve("X_1.npy"), 2);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            String pattern = dir.resolve("X_{t}.npy").toString();
            InputException e = assertThrows(InputException.class, () -> new FilePatternGradients(b, first, pattern, 3, "--grads"));
            assertTrue(e.getMessage().contains("X_2.npy"), e.getMessage());
            // the missing file is placed in the numbering: stage 2 of 0..2, {t} from 0
            assertTrue(e.getMessage().contains("stage 2 of 0..2") && e.getMessage().contains("from 0"), e.getMessage());
            // files numbered from 1 (X_1, X_2 for two stages): stage 0's is missing, and the message says why it was looked for
            e = assertThrows(InputException.class, () -> FilePatternGradients.stageSources(dir.resolve("X_{t}.npy").toString().replace("X_", "Y_"), 2, "--grads"));
            assertTrue(e.getMessage().contains("Y_0.npy") && e.getMessage().contains("stage 0 of 0..1"), e.getMessage());
            writeX(dir.resolve("Z_1.npy"), 1);
            writeX(dir.resolve("Z_2.npy"), 2);
            e = assertThrows(InputException.class, () -> FilePatternGradients.stageSources(dir.resolve("Z_{t}.npy").toString(), 2, "--grads"));
            assertTrue(e.getMessage().contains("Z_0.npy") && e.getMessage().contains("numbered from 1"), e.getMessage());
            try (FilePatternGradients src = new FilePatternGradients(b, first, pattern, 2, "--grads")) {
                assertSame(first, src.gradients(0, wbar()));
                HostMatrix x1 = src.gradients(1, wbar());
                assertEquals(N, x1.rows());
                assertEquals(P, x1.cols());
                // once loaded, the row says what loading did, in x_conversion's words: it said "(float32 C order)" alone,
                // mapped or copied
                assertTrue(src.describe(1).endsWith("X_1.npy (float32 C order, copied once into column-major while loading (float32 values unchanged))"),
                        src.describe(1));
            }
        }
    }

    /** An npy of float64 values in Fortran order, written byte by byte: a layout unlike {@link #writeX}'s in every field. */
    static void writeFloat64Fortran(Path file, double[][] x) throws IOException {
        String dict = "{'descr': '<f8', 'fortran_order': True, 'shape': (" + x.length + ", " + x[0].length + "), }";
        int headerLength = 10 + dict.length() + 1;
        int padded = (headerLength + 63) / 64 * 64;
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(padded + 8 * x.length * x[0].length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0).putShort((short) (padded - 10));
        b.put((dict + " ".repeat(padded - headerLength) + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        for (int j = 0; j < x[0].length; j++) for (double[] row : x) b.putDouble(row[j]);
        Files.write(file, b.array());
    }

    /**
     * The headers are read when the source is made and the data when the stage starts: a stage file replaced by a rename
     * in between (a newer export) was read at the old file's offset, dtype and order, a float64 file as float32 or called
     * truncated. Each stage now reads the header of the file it loads, holds it to stage 0's shape, and tells the caller
     * which file it read; a file whose shape changed is refused naming both.
     */
    @Test
    void aStageFileReplacedByARenameIsReadAsWhatItIsWhenItsStageStarts() throws IOException {
        writeX(dir.resolve("X_0.npy"), 1);
        writeX(dir.resolve("X_1.npy"), 2);
        writeX(dir.resolve("X_2.npy"), 3);
        String pattern = dir.resolve("X_{t}.npy").toString();
        double[][] newer = new double[N][P];
        SplittableRandom r = new SplittableRandom(11);
        for (double[] row : newer) for (int j = 0; j < P; j++) row[j] = r.nextDouble(-2, 2);
        List<String> told = new java.util.ArrayList<>();
        FilePatternGradients.StageFiles watcher = new FilePatternGradients.StageFiles() {
            @Override public void loading(int stage, Path file) { told.add("loading " + stage + " " + file.getFileName()); }
            @Override public void loaded(int stage, Path file) { told.add("loaded " + stage + " " + file.getFileName()); }
        };
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             FilePatternGradients src = new FilePatternGradients(b, first, pattern, 3, "--grads", watcher)) {
            assertTrue(src.describe(1).endsWith("(float32 C order)"), src.describe(1));
            writeFloat64Fortran(dir.resolve("X_1.tmp"), newer);
            Files.move(dir.resolve("X_1.tmp"), dir.resolve("X_1.npy"), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            HostMatrix x1 = src.gradients(1, wbar());
            for (int i = 0; i < N; i++) {
                for (int j = 0; j < P; j++) {
                    assertEquals((float) newer[i][j], x1.data().get(x1.storageIndex(i, j)), "X_1[" + i + ", " + j + "]: the replacement's value");
                }
            }
            assertTrue(src.describe(1).contains("float64") && src.describe(1).contains("Fortran"), src.describe(1));
            assertEquals(List.of("loading 1 X_1.npy", "loaded 1 X_1.npy"), told);

            // stage 2's file replaced by one of another shape: refused at its stage, naming both shapes
            double[][] wider = new double[N][P + 1];
            writeFloat64Fortran(dir.resolve("X_2.tmp"), wider);
            Files.move(dir.resolve("X_2.tmp"), dir.resolve("X_2.npy"), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            InputException e = assertThrows(InputException.class, () -> src.gradients(2, wbar()));
            assertTrue(e.getMessage().contains("X_2.npy") && e.getMessage().contains(N + " x " + (P + 1)) && e.getMessage().contains(N + " x " + P)
                    && e.getMessage().contains("replaced since the run started"), e.getMessage());
        }
    }

    @Test
    void commandSourceWritesWeightsAndReadsX() throws IOException {
        Path x2 = dir.resolve("X2.npy"), seen = dir.resolve("seen.npy");
        writeX(x2, 3);
        StringWriter log = new StringWriter();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            Path tmp;
            try (CommandGradients src = new CommandGradients(b, first, "cp {weights} '" + seen + "' && cp '" + x2 + "' {grads} && echo hello >&2",
                    new PrintWriter(log, true))) {
                tmp = src.directory();
                float[] w = wbar();
                HostMatrix x = src.gradients(1, w);
                assertEquals(N, x.rows());
                assertEquals(P, x.cols());
                try (FloatPointer got = ArrayFiles.readVector(seen.toString(), "w", P)) {
                    for (int i = 0; i < P; i++) assertEquals(w[i], got.get(i));
                }
                assertTrue(log.toString().contains("hello"), log.toString());
                // runs the whole schedule with it
                MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 1, 1,
                        SolverOptions.defaults().withMaxIterations(5));
                assertNull(r.stopped());
                assertEquals(3, r.stages().size());
            }
            assertFalse(Files.exists(tmp), "temporary directory removed");
        }
        assertEquals("'a'\\''b'", CommandGradients.quote("a'b"));
    }

    @Test
    void aStageThatPrunedNothingDoesNotRunTheCommandAgain() throws IOException {
        Path x2 = dir.resolve("X2.npy"), runs = dir.resolve("runs.txt");
        writeX(x2, 3);
        Files.writeString(runs, "");
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "echo {weights} >> '" + runs + "' && cp '" + x2 + "' {grads}", null, null, CommandGradients.Names.CLI)) {
            // starting at the dense level, stage 0 prunes nothing: stage 1's X is at the dense weights, which stage 0's X is
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 1, 1,
                    SolverOptions.defaults().withMaxIterations(5));
            assertNull(r.stopped());
            assertEquals(P, r.stages().get(0).kept(), "stage 0 is at the dense level");
            assertEquals(1, Files.readAllLines(runs).size(), "the command runs for stage 2 only");
            assertTrue(r.stages().get(1).gradients().contains("not run"), r.stages().get(1).gradients());
            assertTrue(r.stages().get(2).gradients().contains("--grads-command at the weights of stage 1"), r.stages().get(2).gradients());
        }
    }

    /**
     * falcon names {grads} X_stage<t>.npy and picked the reader by that name: a command that wrote a safetensors file
     * there, as README allows, was refused as "not an .npy file" and told to use a .safetensors file, a name it cannot
     * choose. The file is read by what it holds.
     */
    @Test
    void aSafetensorsXWrittenByTheCommandIsReadByItsContent() {
        Path safetensors = dir.resolve("x.safetensors");
        try (FloatPointer v = new FloatPointer((long) N * P)) {
            SplittableRandom r = new SplittableRandom(3);
            for (int i = 0; i < N * P; i++) v.put(i, (float) r.nextDouble(-1, 1));
            java.util.LinkedHashMap<String, dev.falcon.io.NamedArray> tensors = new java.util.LinkedHashMap<>();
            tensors.put("x", new dev.falcon.io.NamedArray(v, new long[] {N, P}));
            dev.falcon.io.Safetensors.write(safetensors, tensors, null);
        }
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights}; cp '" + safetensors + "' {grads}", null)) {
            HostMatrix x = src.gradients(1, wbar());
            SplittableRandom written = new SplittableRandom(3);
            for (int i = 0; i < N; i++) {
                for (int j = 0; j < P; j++) assertEquals((float) written.nextDouble(-1, 1), x.data().get(x.storageIndex(i, j)), "X[" + i + ", " + j + "]");
            }
        }
    }

    /** A file of neither format is refused naming both, and how to write each. */
    @Test
    void aCommandOutputOfNeitherFormatIsRefusedNamingBoth() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights}; echo 'x = [1, 2]' > {grads}", null)) {
            MultiStage.SourceFailure f = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, wbar()));
            for (String said : List.of("is neither an .npy file", "nor a safetensors file", "numpy.save(path, x)", "safetensors.numpy.save_file")) {
                assertTrue(f.getMessage().contains(said), "'" + said + "' in: " + f.getMessage());
            }
        }
    }

    /**
     * The launcher's C.UTF-8 for the JVM under the C locale reached the command (LC_ALL=C.UTF-8 where the user had
     * LC_ALL=C): the user's values, which the launcher records, are put back, an unset one unset, and the records go.
     */
    @Test
    void theCommandGetsTheUsersLocaleNotTheOneTheLauncherGaveTheJvm() {
        java.util.Map<String, String> lcAll = new java.util.HashMap<>(java.util.Map.of("LC_ALL", "C.UTF-8", "LANG", "C",
                "FALCON_ORIGINAL_LOCALE_VARIABLES", "LC_ALL", "FALCON_ORIGINAL_LC_ALL", "C"));
        CommandGradients.restoreUsersLocale(lcAll);
        assertEquals(java.util.Map.of("LC_ALL", "C", "LANG", "C"), lcAll);
        java.util.Map<String, String> unsetCtype = new java.util.HashMap<>(java.util.Map.of("LC_CTYPE", "C.UTF-8", "FALCON_ORIGINAL_LOCALE_VARIABLES", "LC_CTYPE"));
        CommandGradients.restoreUsersLocale(unsetCtype);
        assertEquals(java.util.Map.of(), unsetCtype);
        // run without the launcher: nothing to restore
        java.util.Map<String, String> own = new java.util.HashMap<>(java.util.Map.of("LC_CTYPE", "C.UTF-8"));
        CommandGradients.restoreUsersLocale(own);
        assertEquals(java.util.Map.of("LC_CTYPE", "C.UTF-8"), own);
    }

    /**
     * A bad X from the command was named by its temporary path (/tmp/falcon-grads-<random>/X_stage1.npy), gone with its
     * folder when the message is read, with the advice to `falcon inspect` it; the random name made two identical
     * runs' reports differ, and the stage read "(--grads-command at the weights of stage 0 (float32 C order))". It is
     * named for what it is, with a way to look at it that can be followed.
     */
    @Test
    void aBadXFromTheCommandIsNamedForWhatItIsAndTheSameInEveryRun() throws IOException {
        Path nan = dir.resolve("nan.npy"), narrow = dir.resolve("narrow.npy"), truncated = dir.resolve("truncated.npy");
        try (FloatPointer v = new FloatPointer((long) N * P)) {
            for (int i = 0; i < N * P; i++) v.put(i, i == 2 * P + 7 ? Float.NaN : 0.5f);
            Npy.writeFloat32(nan, v, new long[] {N, P});
            Npy.writeFloat32(narrow, v, new long[] {N, P - 1});
        }
        writeX(truncated, 3);
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(truncated), 200));
        java.util.Map<Path, String> said = new java.util.LinkedHashMap<>();
        said.put(nan, "(--grads-command at the weights of stage 0, read as float32 C order, copied once into column-major while loading (float32 values unchanged)) failed: the X --grads-command wrote for stage 1 ({grads}): values: X[2, 7] is NaN");
        said.put(narrow, "the X --grads-command wrote for stage 1 ({grads}): shape: X is " + N + " x " + (P - 1) + " but stage 0's X is " + N + " x " + P);
        said.put(truncated, "the X --grads-command wrote for stage 1 ({grads}): ");
        for (var expected : said.entrySet()) {
            List<String> runs = new java.util.ArrayList<>();
            for (int run = 0; run < 2; run++) {
                try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
                     CommandGradients src = new CommandGradients(b, first, ": {weights}; cp '" + expected.getKey() + "' {grads}", null, null, CommandGradients.Names.CLI)) {
                    MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 2, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                            SolverOptions.defaults().withMaxIterations(5));
                    runs.add(r.stopped());
                }
            }
            String stopped = runs.get(0);
            assertTrue(stopped.contains(expected.getValue()), stopped);
            assertFalse(stopped.contains("falcon-grads-") || stopped.contains("X_stage1"), stopped);
            assertEquals(runs.get(0), runs.get(1), "two identical runs");
        }
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights}; cp '" + nan + "' {grads}", null)) {
            MultiStage.SourceFailure f = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, wbar()));
            assertTrue(f.getMessage().endsWith("; recompute the gradients or drop the bad samples; to look at it, run the command by hand on stage 0's weights"
                    + " (the weights this stop returns) and `falcon inspect` the X it writes"), f.getMessage());
        }
    }

    /**
     * The temporary folder removed while the command ran (by the command, or a cleaner of /tmp) read "was not written
     * by the command; the command must write X to {grads}", blaming the command; the weights' write already said what
     * happened.
     */
    @Test
    void aTemporaryFolderRemovedWhileTheCommandRanIsSaidSo() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "rm -rf \"$(dirname {weights})\" && : {grads}", null)) {
            MultiStage.SourceFailure f = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, wbar()));
            assertEquals("no X for stage 1 at {grads}: falcon's temporary folder (falcon-grads-* in " + src.directory().getParent() + ") was removed during the run"
                    + " (by the command, or a cleaner of " + src.directory().getParent() + "?); keep it while falcon runs, or set TMPDIR to a folder nothing cleans",
                    f.getMessage());
        }
    }

    /** A command that saves float64 (numpy's default) had its X converted without a word, on stderr or in the report. */
    @Test
    void aCommandsFloat64OutputIsToldAndNamedInTheStageDescription() throws IOException {
        Path x64 = dir.resolve("X64.npy");
        String header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + N + ", " + P + "), }";
        int pad = 64 - (10 + header.length() + 1) % 64;
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(10 + header.length() + pad + 1 + N * P * 8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bytes.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) (header.length() + pad + 1));
        bytes.put((header + " ".repeat(pad) + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < N * P; i++) bytes.putDouble(r.nextDouble(-1, 1));
        Files.write(x64, bytes.array());
        StringWriter log = new StringWriter();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights}; cp '" + x64 + "' {grads}", new PrintWriter(log, true), null, CommandGradients.Names.CLI)) {
            MultiStage.Result res = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 2, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            assertNull(res.stopped());
            assertTrue(log.toString().contains("X of stage 1 from --grads-command is float64; converted once to float32"), log.toString());
            assertTrue(res.stages().get(1).gradients().contains(", read as float64 C order, converted once from float64 to float32"), res.stages().get(1).gradients());
        }
    }

    /** A command killed by a signal (the out-of-memory killer's SIGKILL) was reported as a bare "status 137". */
    @Test
    void aCommandKilledByASignalIsReportedAsSuch() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights} {grads}; kill -KILL $$", null)) {
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            assertNotNull(r.stopped());
            assertTrue(r.stopped().contains("status 137") && r.stopped().contains("SIGKILL") && r.stopped().contains("out-of-memory"), r.stopped());
        }
        assertEquals("exited with status 3", CommandGradients.describeExit(3));
        assertTrue(CommandGradients.describeExit(139).contains("SIGSEGV"), CommandGradients.describeExit(139));
        assertTrue(CommandGradients.describeExit(143).contains("SIGTERM"), CommandGradients.describeExit(143));
        assertEquals("exited with status 255", CommandGradients.describeExit(255));
    }

    @Test
    void failingCommandStopsAfterTheLastCompletedStage() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights} {grads}; echo 'no GPU here' >&2; exit 3", null)) {
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            assertNotNull(r.stopped());
            assertTrue(r.stopped().contains("status 3") && r.stopped().contains("stage 1"), r.stopped());
            assertEquals("no GPU here", r.stoppedOutput());
            assertEquals(0, r.lastCompletedStage());
            long kept = 0;
            for (byte m : r.mask()) kept += m;
            assertEquals(r.stages().get(0).kept(), kept);
        }
    }

    /**
     * A command whose output has no line breaks (a progress bar drawn with backspaces, binary data sent to stderr) had
     * each "line" read whole: the failure's message carried megabytes of it, and a few hundred MB ran the JVM out of
     * heap in the reading thread, which then stopped reading. Each line is kept to its first characters.
     */
    @Test
    void aCommandOutputWithoutLineBreaksIsCutToItsStart() {
        StringWriter log = new StringWriter();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights} {grads}; head -c 3000000 /dev/zero | tr '\\0' e >&2; echo >&2; echo done >&2; exit 3",
                     new PrintWriter(log, true))) {
            MultiStage.SourceFailure f = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, wbar()));
            assertEquals("e".repeat(CommandGradients.TAIL_LINE_CHARS) + "... (cut at " + CommandGradients.TAIL_LINE_CHARS + " characters)\ndone", f.output());
            assertTrue(log.toString().length() < 4 * CommandGradients.LINE_CHARS, "a log of " + log.toString().length() + " characters");
            assertTrue(log.toString().contains("eeee... (" + (3_000_000 - CommandGradients.LINE_CHARS) + " more characters)"), log.toString().substring(0, 300));
        }
    }

    /**
     * The end of the command's stderr was kept raw: NUL, BEL, a colour and an OSC title sequence reached the failure's
     * message (and so the CLI's stdout summary and report), and 20 lines of 4,096 characters made 80 KB of it. Each kept
     * line has its control characters escaped and is cut, and the tail is bounded; the last line is always kept.
     */
    @Test
    void theStderrTailOfAFailedCommandIsEscapedAndBounded() {
        String command = ": {weights} {grads}; for i in $(seq 30); do head -c 3000 /dev/zero | tr '\\0' l >&2; echo >&2; done;"
                + " printf '\\000\\007\\033[31mred\\033[0m \\033]0;TITLE\\007\\n' >&2; echo 'Error: last' >&2; exit 2";
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, command, null, null, CommandGradients.Names.CLI)) {
            MultiStage.SourceFailure f = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, wbar()));
            assertEquals("--grads-command exited with status 2 at stage 1", f.getMessage());
            String tail = f.output();
            assertTrue(tail.endsWith("\n\\u0000\\u0007\\u001b[31mred\\u001b[0m \\u001b]0;TITLE\\u0007\nError: last"), tail);
            assertTrue(tail.length() <= CommandGradients.TAIL_CHARS, tail.length() + " characters");
            for (int c = 0; c < tail.length(); c++) assertTrue(tail.charAt(c) == '\n' || !Character.isISOControl(tail.charAt(c)), "character " + c + " of " + tail);
            assertTrue(tail.contains("l".repeat(CommandGradients.TAIL_LINE_CHARS) + "... (cut at " + CommandGradients.TAIL_LINE_CHARS + " characters)"), tail);
        }
        assertEquals("\\u0000\\u0007\\u001b[31mred\\u001b[0m \\u001b]0;TITLE\\u0007", CommandGradients.tailLine("\u0000\u0007\u001b[31mred\u001b[0m \u001b]0;TITLE\u0007"));
    }

    /**
     * A command that hangs (a GPU job waiting on a device another job holds, an export stuck on a lock) made the run
     * wait without end. With a timeout it is stopped after it, with the processes it started (its child and one it
     * detached), its files go, and the run ends after the last completed stage with a message that names the stage,
     * the command, the limit and what to do, and the end of its stderr.
     */
    /**
     * A Java caller gave the command and its limit as constructor arguments, and the failures told it to "raise
     * --grads-command-timeout" and named "--grads-command", options it has not got (README: for what you gave in Java a
     * message names that). The CLI passes its option names; the Java constructors name the command and the Duration.
     */
    /**
     * A Java caller passes the stage count as an int and was told "({t} counts the --stages 3 stages from 0 ...) ... or
     * give fewer --stages", an option it has not got; the CLI's field (--grads) keeps the option's name.
     */
    @Test
    void aMissingStageFileIsExplainedInTheCallersTerms() throws IOException {
        String pattern = dir.resolve("Xj_{t}.npy").toString();
        writeX(Path.of(FilePatternGradients.fileOf(pattern, 0)), 1);
        InputException java = assertThrows(InputException.class, () -> FilePatternGradients.stageSources(pattern, 3, "pattern"));
        assertTrue(java.getMessage().contains("{t} counts the stages = 3 stages from 0") && java.getMessage().endsWith("or give fewer stages"), java.getMessage());
        assertFalse(java.getMessage().contains("--stages"), java.getMessage());
        InputException cli = assertThrows(InputException.class, () -> FilePatternGradients.stageSources(pattern, 3, "--grads"));
        assertTrue(cli.getMessage().contains("{t} counts the --stages 3 stages from 0") && cli.getMessage().endsWith("or give fewer --stages"), cli.getMessage());
    }

    @Test
    void theMessagesOfACommandGivenInJavaNameNoCliOption() throws Exception {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients overrun = new CommandGradients(b, first, ": {weights} {grads}; exec sleep 20", null, java.time.Duration.ofSeconds(1));
             CommandGradients failing = new CommandGradients(b, first, ": {weights} {grads}; exit 3", null)) {
            MultiStage.Result slow = MultiStage.run(b, overrun, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            String said = slow.stopped();
            assertTrue(said != null && said.contains("the gradient command " + CommandGradients.quote(": {weights} {grads}; exec sleep 20") + " did not exit within 1 s")
                    && said.contains("raise the timeout given to CommandGradients if it needs longer"), said);
            MultiStage.Result failed = MultiStage.run(b, failing, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            assertTrue(failed.stopped() != null && failed.stopped().contains("the gradient command exited with status 3 at stage 1"), failed.stopped());
            for (String message : List.of(said, failed.stopped())) assertFalse(message.contains("--grads-command"), message);
        }
    }

    @Test
    void aCommandThatOverrunsItsTimeoutIsStoppedWithItsProcesses() throws Exception {
        Path pids = dir.resolve("pids");
        String command = ": {weights} {grads}; echo 'waiting for the GPU' >&2; echo partial > {grads}; (sleep 30 & echo $! >> " + pids + "); "
                + "sleep 30 & echo $! >> " + pids + "; echo $$ >> " + pids + "; wait";
        List<Long> started = new java.util.ArrayList<>();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, command, null, java.time.Duration.ofSeconds(2), CommandGradients.Names.CLI)) {
            long t0 = System.nanoTime();
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            double seconds = (System.nanoTime() - t0) / 1e9;
            for (String pid : Files.readAllLines(pids)) started.add(Long.parseLong(pid.trim()));
            assertEquals(3, started.size(), started.toString());
            for (long pid : started) {
                assertFalse(ProcessHandle.of(pid).map(h -> !CommandGradients.hasEnded(h)).orElse(false), "process " + pid + " of the command still runs");
            }
            assertTrue(seconds >= 2 && seconds < 2 + 3 * CommandGradients.STOP_GRACE_MILLIS / 1000.0, "the run took " + seconds + " s");
            assertEquals(0, r.lastCompletedStage());
            String said = r.stopped();
            assertTrue(said != null && said.contains("did not exit within 2 s") && said.contains("at stage 1") && said.contains("--grads-command " + CommandGradients.quote(command))
                    && said.contains("--grads-command-timeout"), said);
            assertEquals("waiting for the GPU", r.stoppedOutput());
            try (java.util.stream.Stream<Path> left = Files.list(src.directory())) {
                assertEquals(List.of(), left.toList(), "the weights and the partial X are removed");
            }
            long kept = 0;
            for (byte m : r.mask()) kept += m;
            assertEquals(r.stages().get(0).kept(), kept, "the last completed stage's weights");
        } finally {
            started.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    /** A command that ends within its timeout runs as without one; the limit must be positive. */
    @Test
    void aCommandWithinItsTimeoutIsUnaffected() throws IOException {
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "sleep 0.2; cp '" + x2 + "' {grads} && : {weights}", null, java.time.Duration.ofSeconds(30))) {
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            assertNull(r.stopped(), r.stopped());
            assertEquals(2, r.lastCompletedStage());
        }
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            for (java.time.Duration bad : List.of(java.time.Duration.ZERO, java.time.Duration.ofSeconds(-1))) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CommandGradients(b, first, ": {weights} {grads}", null, bad).close());
                assertTrue(e.getMessage().contains("positive"), e.getMessage());
            }
        }
        assertEquals("90 s", CommandGradients.describeTimeout(java.time.Duration.ofSeconds(90)));
        assertEquals("15 min", CommandGradients.describeTimeout(java.time.Duration.ofMinutes(15)));
        assertEquals("2 h", CommandGradients.describeTimeout(java.time.Duration.ofHours(2)));
        assertEquals("1.5 s", CommandGradients.describeTimeout(java.time.Duration.ofMillis(1500)));
    }

    /**
     * Interrupting a prune stops it with an IllegalStateException and the flag kept (README, "Threads"), also while the
     * command runs: it used to end as a source failure, and the run returned stage 0's weights, over the budgets, as its
     * result.
     */
    @Test
    void anInterruptWhileTheCommandRunsStopsTheCommandAndThePrune() throws Exception {
        // The interrupt waits for the command to have started: a fixed 1 s sleep came before stage 0's solve had ended on a
        // loaded 2-core machine, and the prune stopped in a vector loop instead, never reaching the command.
        Path started = Files.createTempFile("falcon-command-started", ".flag");
        Files.delete(started);
        Thread caller = Thread.currentThread();
        java.util.concurrent.atomic.AtomicLong interruptedAt = new java.util.concurrent.atomic.AtomicLong();
        Thread interrupter = new Thread(() -> {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!Files.exists(started) && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ignored) {
                    return;
                }
            }
            interruptedAt.set(System.nanoTime());
            caller.interrupt();
        });
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights} {grads}; touch '" + started + "'; sleep 30", null)) {
            interrupter.start();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30,
                    3, MultiStage.Schedule.LINEAR, 0.8, 0.8, SolverOptions.defaults().withMaxIterations(5)));
            assertTrue(e.getMessage().contains("interrupted") && e.getMessage().contains("stage 1"), e.getMessage());
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag is kept");
            assertTrue(interruptedAt.get() != 0 && (System.nanoTime() - interruptedAt.get()) / 1e9 < 20,
                    "the command was stopped, not waited for");
        } finally {
            interrupter.interrupt();
            interrupter.join();
            Thread.interrupted();
            Files.deleteIfExists(started);
        }
    }

    /**
     * A future.cancel(true) that lands after the weights were written and before the command starts: the check there
     * looked at the run only, and /bin/sh was started, to be stopped at once by the waitFor() the interrupt then failed
     * ("interrupted while the gradient command ran"). The call is held there (as the cancel's interrupt ends the hold, the
     * flag set, which is where a cancel leaves the call) and must fail as an interruption before any command started,
     * with the flag kept and the weights' file gone.
     */
    @Test
    void anInterruptAfterTheWeightsWereWrittenStartsNoCommand() throws Exception {
        Path started = dir.resolve("started");
        float[] weights = wbar();
        weights[0] += 1; // other weights than stage 0's, so that the command runs
        java.util.concurrent.CountDownLatch written = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicReference<Throwable> thrown = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean flagKept = new java.util.concurrent.atomic.AtomicBoolean();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "touch '" + started + "'; : {weights} {grads}", null)) {
            src.afterWeightsWritten = () -> {
                written.countDown();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            src.gradients(0, wbar());
            // a thread of its own rather than a Future, whose cancel(true) (this same interrupt) hides what the call threw
            Thread caller = new Thread(() -> {
                try {
                    src.gradients(1, weights.clone());
                } catch (Throwable t) {
                    thrown.set(t);
                    flagKept.set(Thread.currentThread().isInterrupted());
                }
            });
            caller.start();
            assertTrue(written.await(60, java.util.concurrent.TimeUnit.SECONDS), "the call wrote the weights");
            caller.interrupt();
            caller.join(60_000);
            assertFalse(caller.isAlive(), "the interrupted call returned");
            Throwable e = thrown.get();
            assertInstanceOf(MultiStage.SourceFailure.class, e, String.valueOf(e));
            assertEquals("interrupted before the gradient command started at stage 1", e.getMessage());
            assertTrue(flagKept.get(), "the interrupt flag was cleared");
            assertFalse(Files.exists(started), "the command started");
            try (var left = Files.list(src.directory())) {
                assertEquals(List.of(), left.toList(), "files the interrupted call left in the source's folder");
            }
        }
    }

    /**
     * An interrupt during the weights' write (the write's FileChannel closes on it: ClosedByInterruptException) was
     * reported as "the weights of stage 0 could not be written for the gradient command: ... cannot write
     * (java.nio.channels.ClosedByInterruptException); check that the directory exists ...", a failure of the disk. The
     * thread is interrupted as the call begins, and the write is the call's first interruptible step.
     */
    @Test
    void anInterruptDuringTheWeightsWriteIsAnInterruptionAndLeavesNoFile() throws Exception {
        Path started = dir.resolve("started");
        float[] weights = wbar();
        weights[0] += 1; // other weights than stage 0's, so that the weights are written
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "touch '" + started + "'; : {weights} {grads}", null)) {
            src.gradients(0, wbar());
            Thread.currentThread().interrupt();
            try {
                MultiStage.SourceFailure e = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, weights.clone()));
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag was cleared: " + e);
                assertEquals("interrupted while the weights of stage 0 were written for the gradient command", e.getMessage());
            } finally {
                Thread.interrupted();
            }
            assertFalse(Files.exists(started), "the command started");
            try (var left = Files.list(src.directory())) {
                assertEquals(List.of(), left.toList(), "files (the weights, the atomic write's temporary file) the interrupted write left");
            }
        }
    }

    /**
     * close() from another thread while the command runs stops the command (SIGTERM), and the prune used to take that for
     * a failed command: it returned the last completed stage's weights, over the budgets, with "exited with status 143,
     * that is killed by SIGTERM (stopped from outside)", a stop falcon made itself. It is the IllegalStateException of a
     * call on a closed source, as when the close comes before the command starts.
     */
    @Test
    void aSourceClosedWhileItsCommandRunsIsSaidToBeClosed() throws Exception {
        Path started = Files.createTempFile("falcon-command-started", ".flag");
        Files.delete(started);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, ": {weights} {grads}; touch '" + started + "'; sleep 30", null)) {
            Thread closer = new Thread(() -> {
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!Files.exists(started) && System.nanoTime() < deadline) {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                src.close();
            });
            long t0 = System.nanoTime();
            closer.start();
            try {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30,
                        3, MultiStage.Schedule.LINEAR, 0.8, 0.8, SolverOptions.defaults().withMaxIterations(5)));
                assertTrue(e.getMessage().contains("this gradient source was closed") && !e.getMessage().contains("SIGTERM"), e.getMessage());
                assertTrue((System.nanoTime() - t0) / 1e9 < 25, "the command was stopped");
            } finally {
                closer.interrupt();
                closer.join();
            }
        } finally {
            Files.deleteIfExists(started);
        }
    }

    /**
     * The temporary directory gone between stages (a cleaner of /tmp), as a full disk would: stage 2's weights cannot be
     * written for the command. That is the source failing, and the run stops after stage 1; the write's InputException
     * went through MultiStage and the run lost every stage.
     */
    @Test
    void weightsThatCannotBeWrittenForTheCommandStopTheRunAfterTheLastCompletedStage() throws IOException {
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients command = new CommandGradients(b, first, "cp '" + x2 + "' {grads} && : {weights}", null, null, CommandGradients.Names.CLI)) {
            MultiStage.GradientSource source = new MultiStage.GradientSource() {
                @Override
                public HostMatrix gradients(int stage, float[] weights) {
                    if (stage == 2) {
                        try (java.util.stream.Stream<Path> s = Files.walk(command.directory())) {
                            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    }
                    return command.gradients(stage, weights);
                }

                @Override public String describe(int stage) { return command.describe(stage); }
            };
            MultiStage.Result r = MultiStage.run(b, source, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.9, 0.9,
                    SolverOptions.defaults().withMaxIterations(5));
            assertEquals(1, r.lastCompletedStage());
            // the write's own advice was for an output the user chose ("create it first or choose another output path"); the
            // folder is named by where it was, not by its random name, which made the reports of identical runs differ
            assertTrue(r.stopped() != null && r.stopped().contains("the weights of stage 1 could not be written for --grads-command: falcon's temporary folder"
                    + " (falcon-grads-* in " + command.directory().getParent() + ") was removed during the run")
                    && r.stopped().contains("set TMPDIR to a folder nothing cleans"), r.stopped());
            assertFalse(r.stopped().contains("choose another output path"), r.stopped());
        }
    }

    /**
     * A command that ignores SIGTERM, and its children, ran on after an interrupt had stopped the prune (only SIGTERM was
     * sent). They get SIGKILL after the grace period, all of them, before the prune ends.
     */
    @Test
    void anInterruptedCommandThatIgnoresSigtermIsKilledWithItsChildren() throws Exception {
        Path pids = dir.resolve("pids");
        String command = ": {weights} {grads}; bash -c 'trap \"\" TERM; sleep 1000 & echo $$ $! > " + pids + ".tmp && mv " + pids + ".tmp "
                + pids + "; wait'";
        List<Long> started = interruptWhileTheCommandRuns(command, pids);
        try {
            for (long pid : started) {
                assertFalse(ProcessHandle.of(pid).map(h -> !dev.falcon.solve.CommandGradients.hasEnded(h)).orElse(false), "process " + pid + " of the command still runs");
            }
        } finally {
            started.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    /**
     * A killed process stays a zombie until its parent (init, for one the command left behind) reaps it, and
     * ProcessHandle.isAlive() holds a zombie alive: the stop waited out its whole grace period for processes that had
     * ended, and under load ended the run before init reaped them, with them still counted as running. Here the
     * zombie's parent never reaps it (it has exec'd into a sleep).
     */
    @Test
    void aStopDoesNotWaitForProcessesThatHaveEndedButAreNotReaped() throws Exception {
        Process parent = new ProcessBuilder("sh", "-c", "sleep 0 & exec sleep 60").start();
        try {
            ProcessHandle zombie = null;
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (zombie == null && System.nanoTime() < deadline) {
                zombie = parent.toHandle().children().filter(h -> CommandGradients.hasEnded(h) && h.isAlive()).findFirst().orElse(null);
                if (zombie == null) Thread.sleep(20);
            }
            assertNotNull(zombie, "no unreaped child appeared");
            long t0 = System.nanoTime();
            CommandGradients.awaitEnd(new java.util.LinkedHashSet<>(List.of(zombie)), CommandGradients.STOP_GRACE_MILLIS);
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 1, "waited " + seconds + " s for a process that had ended");
        } finally {
            parent.destroyForcibly();
        }
    }

    /**
     * A process the command started and that left its tree (here a double fork: the subshell that started it has ended,
     * and init adopted it; a daemon does the same) was not among the command's descendants when the prune stopped it,
     * and ran on after falcon. It is found by the variable the command's environment carries.
     */
    @Test
    void aStoppedCommandTakesTheProcessesItDetachedWithIt() throws Exception {
        Path pids = dir.resolve("pids");
        String command = ": {weights} {grads}; (sleep 1000 & echo $! > " + pids + ".tmp); mv " + pids + ".tmp " + pids + "; sleep 1000";
        List<Long> started = interruptWhileTheCommandRuns(command, pids);
        try {
            ProcessHandle detached = ProcessHandle.of(started.get(0)).orElse(null);
            assertTrue(detached == null || CommandGradients.hasEnded(detached), "the detached process " + started.get(0) + " still runs");
        } finally {
            started.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    /**
     * A command that takes a moment to end on SIGTERM, writing X as it goes (creating its directory, as Python's
     * os.makedirs(..., exist_ok=True) would): the temporary directory was removed at once, and the command put it back
     * with its X, left in /tmp. It is removed once the command has ended.
     */
    @Test
    void aCommandStillWritingWhenStoppedLeavesNoTemporaryDirectory() throws Exception {
        Path pids = dir.resolve("pids");
        String command = ": {weights}; x={grads}; trap 'sleep 1; mkdir -p \"$(dirname \"$x\")\"; echo partial > \"$x\"; exit 1' TERM; sleep 1000 & echo $$ $! > " + pids
                + ".tmp && mv " + pids + ".tmp " + pids + "; wait";
        Path[] directory = new Path[1];
        interruptWhileTheCommandRuns(command, pids, directory);
        Thread.sleep(2000); // the command's trap, had it outlived the prune
        assertFalse(Files.exists(directory[0]), "the temporary directory was left behind: " + directory[0]);
    }

    private List<Long> interruptWhileTheCommandRuns(String command, Path pids) throws Exception {
        return interruptWhileTheCommandRuns(command, pids, new Path[1]);
    }

    /** Runs falcon++ with the command, interrupts it once the command has written its pids, and checks the prune ends in bounded time. */
    private List<Long> interruptWhileTheCommandRuns(String command, Path pids, Path[] directory) throws Exception {
        Thread caller = Thread.currentThread();
        Thread interrupter = new Thread(() -> {
            try {
                while (!Files.exists(pids)) Thread.sleep(20);
            } catch (InterruptedException ignored) {
                return;
            }
            caller.interrupt();
        });
        long t0 = System.nanoTime();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, command, null)) {
            directory[0] = src.directory();
            interrupter.start();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30,
                    3, MultiStage.Schedule.LINEAR, 0.8, 0.8, SolverOptions.defaults().withMaxIterations(5)));
            assertTrue(e.getMessage().contains("interrupted"), e.getMessage());
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag is kept");
        } finally {
            interrupter.interrupt();
            interrupter.join();
            Thread.interrupted();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds < 3 * CommandGradients.STOP_GRACE_MILLIS / 1000.0, "the prune took " + seconds + " s to stop");
        return java.util.Arrays.stream(Files.readString(pids).trim().split("\\s+")).map(Long::parseLong).toList();
    }

    @Test
    void commandWithoutOutputIsAFailure() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "true {weights} {grads}", null)) {
            MultiStage.SourceFailure f = assertThrows(MultiStage.SourceFailure.class, () -> src.gradients(1, wbar()));
            assertTrue(f.getMessage().contains("not written"), f.getMessage());
        }
    }

    @Test
    void stagesThatPruneNothingReportTheSupportOfPartlyPrunedWeights() {
        float[] w = wbar();
        for (int i = 0; i < P; i += 3) w[i] = 0; // already pruned
        long nonzero = 0;
        for (float v : w) nonzero += v != 0 ? 1 : 0;
        LayerTable layers = layers();
        try (ComputeBackend b = new JavaBackend(); HostMatrix x = matrix(1)) {
            // dense budgets: no stage prunes, so the result is the support the weights came with
            MultiStage.Result none = MultiStage.run(b, MultiStage.GradientSource.fixed(x), w, null, 0.1, layers, P, layers.denseFlops(), 3,
                    MultiStage.Schedule.POLY, 1, 1, SolverOptions.defaults().withMaxIterations(5));
            for (int i = 0; i < P; i++) assertEquals(w[i] != 0 ? 1 : 0, none.mask()[i], "mask at " + i);
            for (MultiStage.Stage st : none.stages()) assertEquals(nonzero, st.kept(), "stage " + st.stage());
            // the default dense start: stage 0 prunes nothing and reports the weights' own support
            MultiStage.Result some = MultiStage.run(b, MultiStage.GradientSource.fixed(x), w, null, 0.1, layers, 10, 30, 3,
                    MultiStage.Schedule.POLY, 1, 1, SolverOptions.defaults().withMaxIterations(5));
            assertEquals(nonzero, some.stages().get(0).kept());
            assertEquals(FalconSolver.flopsOf(none.mask(), layers), some.stages().get(0).keptFlops());
        }
    }

    @Test
    void patternWithoutAGivenFirstMatrixLoadsStageZeroItself() {
        writeX(dir.resolve("X_0.npy"), 1);
        writeX(dir.resolve("X_1.npy"), 2);
        try (ComputeBackend b = new JavaBackend();
             FilePatternGradients src = new FilePatternGradients(b, null, dir.resolve("X_{t}.npy").toString(), 2, "--grads")) {
            HostMatrix x0 = src.gradients(0, wbar());
            assertEquals(N, x0.rows());
            assertEquals(P, x0.cols());
            SplittableRandom written = new SplittableRandom(1); // X_0.npy, in C order
            for (int i = 0; i < N; i++) {
                for (int j = 0; j < P; j++) assertEquals((float) written.nextDouble(-1, 1), x0.data().get(x0.storageIndex(i, j)));
            }
            MultiStage.Result r = MultiStage.run(b, src, wbar(), null, 0.1, layers(), 12, 30, 2, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                    SolverOptions.defaults().withMaxIterations(5));
            assertNull(r.stopped());
            assertEquals(2, r.stages().size());
        }
    }

    @Test
    void aSourceGivingAnotherPIsRefusedAtItsStage() {
        try (ComputeBackend b = new JavaBackend(); HostMatrix x = matrix(1); HostMatrix narrow = HostMatrix.allocate(N, P - 1)) {
            MultiStage.GradientSource source = new MultiStage.GradientSource() {
                @Override
                public HostMatrix gradients(int stage, float[] weights) { return stage == 0 ? narrow : x; }
            };
            // dense budgets: no stage solves, so only the run itself can notice (and only stage 0 is asked for its X)
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MultiStage.run(b, source, wbar(), null, 0.1, layers(),
                    P, layers().denseFlops(), 2, MultiStage.Schedule.POLY, 1, 1, SolverOptions.defaults()));
            assertTrue(e.getMessage().contains("stage 0") && e.getMessage().contains((P - 1) + "") && e.getMessage().contains("p = " + P), e.getMessage());
        }
    }
    /** {@code real}, noting at every load the matrix bytes held beyond {@code baseline}. */
    private static ComputeBackend recordingLoads(ComputeBackend real, long baseline, java.util.List<Long> heldAtLoad) {
        return (ComputeBackend) java.lang.reflect.Proxy.newProxyInstance(ComputeBackend.class.getClassLoader(),
                new Class<?>[] {ComputeBackend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("load")) heldAtLoad.add(HostMatrix.openOwnedBytes() - baseline);
                    try {
                        return method.invoke(real, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    void patternHoldsAtMostTwoMatricesWhileLoadingAStage() {
        for (int t = 0; t < 4; t++) writeX(dir.resolve("X_" + t + ".npy"), t + 1);
        try (JavaBackend real = new JavaBackend(); HostMatrix first = matrix(1)) {
            long heldBeforeAnyStage = HostMatrix.openOwnedBytes();
            java.util.List<Long> heldAtLoad = new java.util.ArrayList<>();
            ComputeBackend recording = recordingLoads(real, heldBeforeAnyStage, heldAtLoad);
            try (FilePatternGradients src = new FilePatternGradients(recording, first, dir.resolve("X_{t}.npy").toString(), 4, "--grads")) {
                for (int t = 1; t < 4; t++) assertEquals(P, src.gradients(t, wbar()).cols());
            }
            // stage 0's X is held by the caller throughout; the previous stage's X is gone before the next is read
            assertEquals(java.util.List.of(0L, 0L, 0L), heldAtLoad);
        }
    }

    @Test
    void commandHoldsAtMostTwoMatricesWhileLoadingAStageAndAFailureStillGivesQ() throws IOException {
        Path x2 = dir.resolve("X2.npy"), runs = dir.resolve("runs.txt");
        writeX(x2, 3);
        Files.writeString(runs, "");
        try (JavaBackend real = new JavaBackend(); HostMatrix first = matrix(1)) {
            long heldBeforeAnyStage = HostMatrix.openOwnedBytes();
            java.util.List<Long> heldAtLoad = new java.util.ArrayList<>();
            ComputeBackend recording = recordingLoads(real, heldBeforeAnyStage, heldAtLoad);
            // X for stages 1 and 2; at stage 3 the command writes nothing, which ends the run after stage 2
            String command = "echo {weights} >> '" + runs + "'; [ $(wc -l < '" + runs + "') -le 2 ] && cp '" + x2 + "' {grads}; true";
            try (CommandGradients src = new CommandGradients(recording, first, command, null)) {
                MultiStage.Result r = MultiStage.run(recording, src, wbar(), null, 0.1, layers(), 12, 30, 4, MultiStage.Schedule.LINEAR, 0.9, 0.9,
                        SolverOptions.defaults().withMaxIterations(5));
                assertNotNull(r.stopped());
                assertEquals(2, r.lastCompletedStage(), r.stopped());
                assertTrue(Double.isFinite(r.qFinal()) && r.qFinal() > 0, "Q at the last completed stage: " + r.qFinal());
            }
            // stage 0's X is held by the caller throughout; stage 1's X is gone before stage 2's is read
            assertEquals(java.util.List.of(0L, 0L), heldAtLoad);
        }
    }

    @Test
    void aChildLeftRunningByTheCommandDoesNotHoldUpTheStage() {
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "sleep 20 & cp '" + x2 + "' {grads} && : {weights}", null)) {
            long t0 = System.nanoTime();
            assertEquals(P, src.gradients(1, wbar()).cols());
            double seconds = (System.nanoTime() - t0) / 1e9;
            // the background sleep keeps the command's stdout and stderr open for 20 s
            assertTrue(seconds < 15, "the stage waited " + seconds + " s for the command's background child");
        }
    }

    /**
     * A placeholder the command quoted itself ("{weights}") got falcon's single quotes inside the command's own: a
     * TMPDIR with a space, a quote or an é gave the command a wrong path, and backquotes in it ran. It is refused, with
     * the bare form to write instead; quotes are read as the shell reads them.
     */
    @Test
    void placeholdersInsideTheCommandsOwnQuotesAreRefused() {
        for (String command : List.of("python export.py --weights \"{weights}\" --out {grads}", ": {weights} '{grads}'",
                ": {weights} \"--out={grads}\"", ": {weights} \"a \\\" {grads}\"", ": {weights} \\{grads}", ": \"$(echo \"{weights}\")\" {grads}")) {
            try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CommandGradients(b, first, command, null).close(), command);
                assertTrue(e.getMessage().contains(" bare, without quotes around them: falcon substitutes shell-quoted paths"), e.getMessage());
            }
        }
        assertEquals("{grads} is inside single quotes of the command's own ('{grads}')", CommandGradients.quotedPlaceholder(": {weights} '{grads}'"));
        assertEquals("{weights} is inside double quotes of the command's own (\"{weights}\")", CommandGradients.quotedPlaceholder(": \"{weights}\" {grads}"));
        // a # inside a word, or quoted, starts no comment: the quote after it still counts
        assertEquals("{grads} is inside single quotes of the command's own ('{grads}')", CommandGradients.quotedPlaceholder("echo a#b {weights} '{grads}'"));
        assertEquals("{grads} is inside double quotes of the command's own (\"{grads}\")", CommandGradients.quotedPlaceholder("echo '#' {weights} \"{grads}\""));
        // bare, though quotes stand around it or next to it: a substitution inside double quotes, an escaped quote, a
        // backslash inside single quotes (literal there), and quotes closed before it
        for (String bare : List.of("mkdir \"$(dirname {weights})/x\" && : {grads}", "echo \"`basename {weights}`\" {grads}", "echo \\\"{weights} {grads}",
                "echo '\\' {weights} {grads}", "echo \"it's\" {weights} --out={grads} \"$((1 + (2)))\"",
                "# don't edit\npython3 g.py {weights} {grads}", "cd /tmp # it's here\n: {weights} {grads}", "echo $(: # it's\n) {weights} {grads}",
                "W={weights} G={grads} sh -c 'python export.py \"$W\" \"$G\"'")) {
            assertNull(CommandGradients.quotedPlaceholder(bare), bare);
        }
    }

    /** Bare placeholders get the exact paths where TMPDIR holds a space, a quote, an é, a $x and backquotes, and run nothing of it. */
    @Test
    void barePlaceholdersGetTheExactPathsWhateverTheTemporaryFolderHolds() throws IOException {
        Path x2 = dir.resolve("X2.npy"), paths = dir.resolve("paths.txt");
        writeX(x2, 3);
        Path tmp = Files.createDirectories(dir.resolve("tmp dir 'q' \u00e9 $x `echo INJECTED >&2` {grads}"));
        StringWriter log = new StringWriter();
        String before = System.getProperty("java.io.tmpdir");
        System.setProperty("java.io.tmpdir", tmp.toString());
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients src = new CommandGradients(b, first, "printf '%s\\n' {weights} {grads} > '" + paths + "' && test -f {weights} && cp '" + x2 + "' {grads}",
                     new PrintWriter(log, true))) {
            assertEquals(P, src.gradients(1, wbar()).cols());
            assertEquals(List.of(src.directory().resolve("weights_stage1_1.npy").toString(), src.directory().resolve("X_stage1_1.npy").toString()),
                    Files.readAllLines(paths));
            assertEquals(tmp, src.directory().getParent());
        } finally {
            System.setProperty("java.io.tmpdir", before);
        }
        assertFalse(log.toString().contains("INJECTED"), log.toString());
    }

    /**
     * README's Watching memory: the counters go back once the result, X and backend are closed. A file or command source
     * kept its last stage's X (a mapping or a copy, 4 n p bytes) after the prune returned, until its own close: a service
     * pruning with falcon++ per request, as README's example does, grew by one X a request. The X goes when the run
     * ends, and the source serves a later run as the first.
     */
    @Test
    void aFalconPlusPlusPruneLeavesNoStageXOpenAndTheSourceServesAnotherRun() throws IOException {
        for (int t = 0; t < 3; t++) writeX(dir.resolve("X_" + t + ".npy"), t + 1);
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        LayerTable layers = layers();
        dev.falcon.prune.Budgets budgets = dev.falcon.prune.Budgets.resolve(layers, 0.5, null, 0.5, null, null);
        try (ComputeBackend b = new JavaBackend(); dev.falcon.prune.Pruner pruner = new dev.falcon.prune.Pruner(b); HostMatrix first = matrix(1);
             FloatPointer w = new FloatPointer(wbar())) {
            List<java.util.function.Supplier<MultiStage.GradientSource>> sources = List.of(
                    () -> new FilePatternGradients(b, first, dir.resolve("X_{t}.npy").toString(), 3, "X"),
                    () -> new CommandGradients(b, first, ": {weights}; cp '" + x2 + "' {grads}", null));
            for (var make : sources) {
                try (MultiStage.GradientSource source = make.get()) {
                    for (int run = 0; run < 2; run++) {
                        long bytes = org.bytedeco.javacpp.Pointer.totalBytes(), matrices = HostMatrix.openOwnedCount();
                        var plan = new dev.falcon.prune.Pruner.StagePlan(3, MultiStage.Schedule.LINEAR, 0.8, 0.8, source);
                        try (dev.falcon.prune.PruneResult r = pruner.prune(dev.falcon.prune.Method.FALCON_PLUS_PLUS, w, layers, budgets,
                                new dev.falcon.prune.Pruner.SolverInputs(first, null, 0.1, SolverOptions.defaults().withMaxIterations(5), null, plan))) {
                            MultiStage.Result stages = r.solve().multiStage();
                            assertNull(stages.stopped(), source.describe(2) + " run " + run);
                            assertEquals(2, stages.lastSolvedStage(), "stage 2 was solved on its source's X: " + stages.stages());
                        }
                        assertEquals(matrices, HostMatrix.openOwnedCount(), source.describe(2) + " run " + run + ": matrices left open ("
                                + HostMatrix.openOwnedBytes() + " bytes) after the prune returned");
                        assertEquals(bytes, org.bytedeco.javacpp.Pointer.totalBytes(), source.describe(2) + " run " + run + ": JavaCPP bytes left");
                    }
                }
            }
        }
    }

    /**
     * A source serves later runs: one run's stage that reused the X held (stage 0 pruned nothing) left the next run's same
     * stage, whose command ran, described as "the X already held (... not run)".
     */
    @Test
    void aCommandSourcesNextRunDescribesItsOwnStages() throws IOException {
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        Path calls = dir.resolve("calls");
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1);
             CommandGradients source = new CommandGradients(b, first, ": {weights}; echo x >> '" + calls + "'; cp '" + x2 + "' {grads}", null)) {
            SolverOptions opt = SolverOptions.defaults().withMaxIterations(5);
            MultiStage.Result dense = MultiStage.run(b, source, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 1.0, 1.0, opt);
            assertTrue(dense.stages().get(1).gradients().startsWith("the X already held"), dense.stages().get(1).gradients());
            int before = Files.readAllLines(calls).size();
            MultiStage.Result pruning = MultiStage.run(b, source, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8, opt);
            assertEquals(before + 2, Files.readAllLines(calls).size(), "the second run's stages 1 and 2 ran the command");
            for (int t = 1; t < 3; t++) {
                String from = pruning.stages().get(t).gradients();
                assertTrue(from.startsWith("the gradient command at the weights of stage " + (t - 1)), "stage " + t + ": " + from);
            }
        }
    }

    /**
     * A CommandGradients never closed was held for the JVM's life: its shutdown hook, a lambda reading its fields, sat in
     * ShutdownHooks' static set, so the source, its temporary folder (with the weights handed to the command) and the
     * hook stayed, one of each per prune. Dropped, it is collected now, and its folder goes with it.
     */
    @Test
    void aDroppedUnclosedCommandSourceIsCollectedAndItsFolderRemoved() throws Exception {
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            Path[] folder = new Path[1];
            java.lang.ref.WeakReference<CommandGradients> dropped = runAndDrop(b, first, x2, folder);
            // bounded: a source still held never clears, and the loop ends with the assertions below failing
            for (int i = 0; i < 200 && (dropped.get() != null || Files.exists(folder[0])); i++) {
                System.gc();
                Thread.sleep(10);
            }
            assertNull(dropped.get(), "a dropped, unclosed CommandGradients is still reachable");
            assertFalse(Files.exists(folder[0]), "the folder of a dropped source is left: " + folder[0]);
        }
    }

    /** A falcon++ run with a CommandGradients it never closes, whose folder it notes in {@code folder[0]}. */
    private static java.lang.ref.WeakReference<CommandGradients> runAndDrop(ComputeBackend b, HostMatrix first, Path x2, Path[] folder) {
        CommandGradients source = new CommandGradients(b, first, ": {weights}; cp '" + x2 + "' {grads}", null);
        folder[0] = source.directory();
        MultiStage.Result r = MultiStage.run(b, source, wbar(), null, 0.1, layers(), 12, 30, 3, MultiStage.Schedule.LINEAR, 0.8, 0.8,
                SolverOptions.defaults().withMaxIterations(5));
        assertNull(r.stopped());
        assertTrue(r.stages().get(2).gradients().contains("the gradient command"), r.stages().get(2).gradients());
        assertTrue(Files.isDirectory(folder[0]));
        return new java.lang.ref.WeakReference<>(source);
    }

    /**
     * An embedder that asks a CommandGradients for a stage's X itself, outside a MultiStage run (which frees it at
     * runEnded), and drops the source without close(): the cleaner removed the folder, but the X the source had read
     * (a copy of 4 n p bytes, or a mapping) stayed allocated until the JVM exited, and README's counters never came back.
     */
    @Test
    void theStageXOfADroppedUnclosedCommandSourceIsFreedWhenItIsCollected() throws Exception {
        Path x2 = dir.resolve("X2.npy");
        writeX(x2, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = matrix(1)) {
            long matrices = HostMatrix.openOwnedCount(), bytes = HostMatrix.openOwnedBytes(), javaCppBytes = org.bytedeco.javacpp.Pointer.totalBytes();
            Path[] folder = new Path[1];
            java.lang.ref.WeakReference<CommandGradients> dropped = askStageOneAndDrop(b, first, x2, folder);
            // bounded: a leak never ends, and the loop ends with the assertions below failing
            for (int i = 0; i < 200 && (dropped.get() != null || Files.exists(folder[0]) || HostMatrix.openOwnedCount() != matrices); i++) {
                System.gc();
                Thread.sleep(10);
            }
            assertNull(dropped.get(), "a dropped, unclosed CommandGradients is still reachable");
            assertFalse(Files.exists(folder[0]), "the folder of a dropped source is left: " + folder[0]);
            assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open by the dropped source ("
                    + (HostMatrix.openOwnedBytes() - bytes) + " bytes)");
            assertEquals(bytes, HostMatrix.openOwnedBytes());
            assertEquals(javaCppBytes, org.bytedeco.javacpp.Pointer.totalBytes(), "JavaCPP bytes left");
        }
    }

    /** Stage 1's X from a CommandGradients asked directly, which is then dropped unclosed; its folder in {@code folder[0]}. */
    private static java.lang.ref.WeakReference<CommandGradients> askStageOneAndDrop(ComputeBackend b, HostMatrix first, Path x2, Path[] folder) {
        long before = HostMatrix.openOwnedCount();
        CommandGradients source = new CommandGradients(b, first, ": {weights}; cp '" + x2 + "' {grads}", null);
        folder[0] = source.directory();
        HostMatrix stageOne = source.gradients(1, wbar());
        assertEquals(P, stageOne.cols());
        assertEquals(before + 1, HostMatrix.openOwnedCount(), "stage 1's X is a matrix of the source's own");
        return new java.lang.ref.WeakReference<>(source);
    }

    /** The shutdown hook of a source still open at exit, holding the folder alone, removes it. */
    @Test
    void theFolderOfASourceNeverClosedIsRemovedAtExit() throws Exception {
        Process child = new ProcessBuilder(dev.falcon.testing.ChildJvm.command(UnclosedAtExit.class)).redirectErrorStream(true).start();
        String out = new String(child.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, child.waitFor(), out);
        String folder = out.lines().filter(l -> l.startsWith("folder ")).map(l -> l.substring("folder ".length())).findFirst().orElseThrow(() -> new AssertionError(out));
        assertFalse(Files.exists(Path.of(folder)), "left at exit: " + folder);
    }

    /** Makes a CommandGradients, drops it unclosed, collects it, and exits. */
    static final class UnclosedAtExit {
        public static void main(String[] args) {
            HostMatrix first = HostMatrix.allocate(N, P);
            CommandGradients source = new CommandGradients(new JavaBackend(), first, ": {weights}; : {grads}", null);
            if (!Files.isDirectory(source.directory())) throw new AssertionError("no folder " + source.directory());
            System.out.println("folder " + source.directory());
            source = null;
            System.gc();
            System.exit(0);
        }
    }
}
