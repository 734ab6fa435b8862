package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One falcon++ gradient source given to two prunes running at once. The file and command sources keep the run's state
 * (the stage X held, the weights it was made at) and a command source names every run's stage files alike in one
 * folder: two runs at once failed on X closed under them ("matrix (copy of file X_stage1.npy ...) was closed"), blamed
 * the command, returned weights that neither run gives alone, or left stage X copies open for good. A second run while
 * one is in progress is refused, naming the source, and the first runs on as it would alone.
 */
class SharedGradientSourceTest {
    @TempDir Path dir;

    private static final int STAGES = 3;

    /** A prune on the source: its pruned weights, with stopped() checked to be null. */
    private static float[] prune(ComputeBackend b, HostMatrix first, MultiStage.GradientSource source) {
        LayerTable layers = GradientSourcesTest.layers();
        Budgets budgets = Budgets.resolve(layers, 0.5, null, 0.5, null, null);
        try (Pruner pruner = new Pruner(b); FloatPointer w = new FloatPointer(GradientSourcesTest.wbar())) {
            var plan = new Pruner.StagePlan(STAGES, MultiStage.Schedule.LINEAR, 0.8, 0.8, source);
            try (PruneResult r = pruner.prune(Method.FALCON_PLUS_PLUS, w, layers, budgets,
                    new Pruner.SolverInputs(first, null, 0.1, SolverOptions.defaults().withMaxIterations(5), null, plan))) {
                MultiStage.Result stages = r.solve().multiStage();
                assertNull(stages.stopped(), "a prune alone on " + source.describe(1));
                assertEquals(STAGES - 1, stages.lastSolvedStage(), "every stage solved: " + stages.stages());
                return r.copyPrunedWeights();
            }
        }
    }

    /**
     * Runs a prune alone, then one held inside stage 1's X (until {@code release} runs) while a second prune on the same
     * source is started on this thread: that one is refused; the first ends as the prune alone did, and the source then
     * serves a third. {@code closeGate} makes the next stage-1 read wait, {@code awaitInside} waits until a run does.
     */
    private void secondRunIsRefused(ComputeBackend b, HostMatrix first, MultiStage.GradientSource source, String sourceName,
                                    Runnable closeGate, Runnable awaitInside, Runnable release) throws Exception {
        long matrices = HostMatrix.openOwnedCount();
        float[] alone = prune(b, first, source);
        closeGate.run();
        ExecutorService other = Executors.newSingleThreadExecutor();
        // where a second run is let in, it waits at the same gate: opened after a while, so that this test fails, not hangs
        ScheduledExecutorService opener = Executors.newSingleThreadScheduledExecutor();
        try {
            Future<float[]> held = other.submit(() -> prune(b, first, source));
            awaitInside.run();
            opener.schedule(release, 3, TimeUnit.SECONDS);
            float[] second = null;
            Throwable refused = null;
            try {
                second = prune(b, first, source);
            } catch (RuntimeException | AssertionError e) {
                refused = e;
            }
            release.run();
            assertNotNull(refused, "a second prune on " + sourceName + " while one was in progress ran, returning "
                    + (java.util.Arrays.equals(second, alone) ? "the weights of a prune alone" : "other weights than a prune alone"));
            assertEquals(IllegalStateException.class, refused.getClass(), "a second prune on " + sourceName + " while one was in progress: " + refused);
            String m = refused.getMessage();
            assertTrue(m.contains(sourceName) && m.contains("already") && m.contains("give each concurrent prune its own"), m);
            assertArrayEquals(alone, held.get(60, TimeUnit.SECONDS), "the prune in progress ends as it does alone");
        } finally {
            release.run();
            opener.shutdownNow();
            other.shutdown();
            assertTrue(other.awaitTermination(60, TimeUnit.SECONDS), "the held prune ended");
        }
        assertArrayEquals(alone, prune(b, first, source), "the source serves a prune after the one in progress ended");
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
    }

    @Test
    void aCommandSourceRefusesASecondRunWhileOneIsInProgress() throws Exception {
        Path x = dir.resolve("X.npy"), gate = dir.resolve("gate"), inside = dir.resolve("inside");
        GradientSourcesTest.writeX(x, 3);
        String command = "touch '" + inside + "'; while [ -e '" + gate + "' ]; do sleep 0.02; done; cp '" + x + "' {grads} && : {weights}";
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, command, null)) {
            secondRunIsRefused(b, first, source, "CommandGradients",
                    () -> {
                        try {
                            Files.deleteIfExists(inside);
                            Files.writeString(gate, "");
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    },
                    () -> {
                        long deadline = System.nanoTime() + 60_000_000_000L;
                        while (!Files.exists(inside) && System.nanoTime() < deadline) Thread.onSpinWait();
                        assertTrue(Files.exists(inside), "the first prune's stage-1 command started");
                    },
                    () -> {
                        try {
                            Files.deleteIfExists(gate);
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    });
        }
    }

    @Test
    void aFilePatternSourceRefusesASecondRunWhileOneIsInProgress() throws Exception {
        for (int t = 0; t < STAGES; t++) GradientSourcesTest.writeX(dir.resolve("X_" + t + ".npy"), t + 1);
        AtomicReference<CountDownLatch> gate = new AtomicReference<>();
        CountDownLatch inside = new CountDownLatch(1);
        FilePatternGradients.StageFiles held = new FilePatternGradients.StageFiles() {
            @Override
            public void loading(int stage, Path file) {
                CountDownLatch g = gate.get();
                if (stage != 1 || g == null) return;
                inside.countDown();
                try {
                    g.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void loaded(int stage, Path file) {}
        };
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             FilePatternGradients source = new FilePatternGradients(b, first, dir.resolve("X_{t}.npy").toString(), STAGES, "X", held)) {
            secondRunIsRefused(b, first, source, "FilePatternGradients of " + source.pattern(),
                    () -> gate.set(new CountDownLatch(1)),
                    () -> {
                        try {
                            assertTrue(inside.await(60, TimeUnit.SECONDS), "the first prune reached stage 1's file");
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    () -> {
                        CountDownLatch g = gate.getAndSet(null);
                        if (g != null) g.countDown();
                    });
        }
    }

    /**
     * An embedder's source that passes runStarting() and runEnded() through on the run's thread but calls the inner
     * source's gradients() on a pool thread, to put a timeout on it.
     */
    private static final class TimeLimitedSource implements MultiStage.GradientSource {
        private final MultiStage.GradientSource inner;
        private final ExecutorService pool = Executors.newSingleThreadExecutor();

        TimeLimitedSource(MultiStage.GradientSource inner) { this.inner = inner; }

        @Override
        public HostMatrix gradients(int stage, float[] weights) {
            Future<HostMatrix> call = pool.submit(() -> inner.gradients(stage, weights));
            try {
                return call.get(60, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) throw r;
                throw new IllegalStateException(e.getCause());
            } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
                call.cancel(true); // get() alone leaves the call, and a command source's command, running
                throw new MultiStage.SourceFailure("stage " + stage + "'s gradients took over 60 s: " + e);
            }
        }

        @Override public String describe(int stage) { return "time-limited " + inner.describe(stage); }
        @Override public void runStarting() { inner.runStarting(); }
        @Override public void runEnded() { inner.runEnded(); }
        @Override public void close() { pool.shutdownNow(); }
    }

    /**
     * One prune through {@link TimeLimitedSource}: a single run, whose gradients() calls come from a pool thread. It was
     * refused as a second run ("gradients(0, ...) was called on thread 'pool-1-thread-1' while a falcon++ run on thread
     * 'main' is using this gradient source, and a source serves one run at a time"); it gives the weights of the prune on
     * the source itself, and a second prune while it runs is still refused.
     */
    private static void aRunWhoseGradientsComeFromAPoolThreadRuns(ComputeBackend b, HostMatrix first, MultiStage.GradientSource source,
                                                                  String sourceName) throws Exception {
        long matrices = HostMatrix.openOwnedCount();
        float[] alone = prune(b, first, source);
        try (TimeLimitedSource limited = new TimeLimitedSource(source)) {
            assertArrayEquals(alone, prune(b, first, limited), "a prune whose gradients() run on a pool thread");
            assertArrayEquals(alone, prune(b, first, limited), "the next such prune");
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
        source.runStarting();
        try (TimeLimitedSource limited = new TimeLimitedSource(source)) {
            IllegalStateException second = assertThrows(IllegalStateException.class, () -> prune(b, first, limited),
                    "a second prune while a run holds " + sourceName);
            assertTrue(second.getMessage().contains("already using this gradient source"), second.getMessage());
        } finally {
            source.runEnded();
        }
    }

    @Test
    void aCommandSourceServesARunWhoseGradientsComeFromAPoolThread() throws Exception {
        Path x = dir.resolve("X.npy");
        GradientSourcesTest.writeX(x, 3);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, "cp '" + x + "' {grads} && : {weights}", null)) {
            aRunWhoseGradientsComeFromAPoolThreadRuns(b, first, source, "CommandGradients");
        }
    }

    @Test
    void aFilePatternSourceServesARunWhoseGradientsComeFromAPoolThread() throws Exception {
        for (int t = 0; t < STAGES; t++) GradientSourcesTest.writeX(dir.resolve("X_" + t + ".npy"), t + 1);
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             FilePatternGradients source = new FilePatternGradients(b, first, dir.resolve("X_{t}.npy").toString(), STAGES, "X")) {
            aRunWhoseGradientsComeFromAPoolThreadRuns(b, first, source, "FilePatternGradients of " + source.pattern());
        }
    }

    /** X[i][j] of a matrix, row by row. */
    private static float[] valuesOf(HostMatrix x) {
        float[] v = new float[(int) (x.rows() * x.cols())];
        for (int i = 0; i < x.rows(); i++) {
            for (int j = 0; j < x.cols(); j++) v[(int) (i * x.cols() + j)] = x.data().get(x.storageIndex(i, j));
        }
        return v;
    }

    /**
     * A run whose wrapper timed out a gradients() call (pool.submit(...).get(timeout), as README suggested) ended, and
     * a second run started on the source while the call's command still ran. Finishing late, the call closed the second
     * run's stage X (releaseCurrent) and left its own X and weights as the X held, which the second run then reused for
     * weights equal to the late call's. The late call now fails with an IllegalStateException and touches nothing of
     * the next run; the second run's X are those of a fresh source.
     */
    @Test
    void aCallThatOutlivesItsRunLeavesTheNextRunAlone() throws Exception {
        Path older = dir.resolve("X_old.npy"), newer = dir.resolve("X_new.npy"), delay = dir.resolve("delay"), which = dir.resolve("which");
        GradientSourcesTest.writeX(older, 3);
        GradientSourcesTest.writeX(newer, 4);
        Files.writeString(delay, "2");
        Files.writeString(which, older.toString());
        // the file to copy is chosen as the command starts: the late call's X is X_old's
        String cmd = "s=$(cat '" + which + "'); sleep $(cat '" + delay + "') && cp \"$s\" {grads} && : {weights}";
        float[] lateWeights = GradientSourcesTest.wbar(), otherWeights = GradientSourcesTest.wbar();
        lateWeights[0] += 1;
        otherWeights[1] += 1;
        long matrices = HostMatrix.openOwnedCount();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, cmd, null);
             CommandGradients fresh = new CommandGradients(b, first, "cp '" + newer + "' {grads} && : {weights}", null)) {
            source.runStarting();
            Future<HostMatrix> late = pool.submit(() -> source.gradients(1, lateWeights.clone()));
            assertThrows(java.util.concurrent.TimeoutException.class, () -> late.get(300, TimeUnit.MILLISECONDS));
            source.runEnded(); // the run fails on the timeout, as MultiStage.run ends it
            Files.writeString(delay, "0");
            Files.writeString(which, newer.toString());

            source.runStarting();
            try {
                HostMatrix x1 = source.gradients(1, otherWeights.clone());
                assertTheLateCallWasRefused(late);
                assertFalse(x1.isClosed(), "the second run's stage 1 X was closed by the late call");
                assertArrayEquals(valuesOf(fresh.gradients(1, otherWeights.clone())), valuesOf(x1), "the second run's stage 1 X");
                assertArrayEquals(valuesOf(fresh.gradients(2, lateWeights.clone())), valuesOf(source.gradients(2, lateWeights.clone())),
                        "the second run's stage 2 X, at the weights the late call was given");
            } finally {
                source.runEnded();
                fresh.runEnded();
            }
        } finally {
            pool.shutdownNow();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
    }

    /** The files in the source's folder now, by name. */
    private static java.util.List<String> filesIn(Path folder) throws java.io.IOException {
        try (java.util.stream.Stream<Path> files = Files.list(folder)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    /**
     * A late call whose command had written its X when runEnded() stopped it left that X in the folder under the name
     * the next run's stage 1 uses: the next run's command, writing nothing, got the ended call's X as its own instead of
     * failing. Each call's files have names of their own, and the ended call removes what it wrote.
     */
    @Test
    void theXOfACallItsRunEndedIsNotTheNextRunsAndIsRemoved() throws Exception {
        Path older = dir.resolve("X_old.npy"), mode = dir.resolve("mode");
        GradientSourcesTest.writeX(older, 3);
        Files.writeString(mode, "late");
        // the late call's command writes its X, then runs until runEnded() stops it; the next run's writes nothing
        String cmd = "if [ \"$(cat '" + mode + "')\" = late ]; then cp '" + older + "' {grads}; sleep 30; fi; : {weights}";
        float[] lateWeights = GradientSourcesTest.wbar(), otherWeights = GradientSourcesTest.wbar();
        lateWeights[0] += 1;
        otherWeights[1] += 1;
        long matrices = HostMatrix.openOwnedCount();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, cmd, null)) {
            source.runStarting();
            Future<HostMatrix> late = pool.submit(() -> source.gradients(1, lateWeights.clone()));
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (filesIn(source.directory()).stream().noneMatch(f -> f.startsWith("X_")) && System.nanoTime() < deadline) Thread.sleep(10);
            Thread.sleep(200); // cp of a small file: written by now
            source.runEnded();
            assertTheLateCallWasRefused(late);
            Files.writeString(mode, "next");
            source.runStarting();
            try {
                MultiStage.SourceFailure none = assertThrows(MultiStage.SourceFailure.class, () -> source.gradients(1, otherWeights.clone()),
                        "the next run's command wrote no X, yet its stage 1 got one: the ended call's");
                assertTrue(none.getMessage().contains("was not written"), none.getMessage());
            } finally {
                source.runEnded();
            }
            assertEquals(java.util.List.of(), filesIn(source.directory()), "files left in the folder by the ended call");
        } finally {
            pool.shutdownNow();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
    }

    /**
     * A call whose run ended while it was writing the weights: runEnded() had no command to stop yet, and the call started
     * its command anyway, beside the next run's and with the same stage file names (f9aaa8bc). Held where it has written
     * the weights until runEnded() waits for it (that is, has ended its run), the call now starts no command and is refused.
     */
    @Test
    void aCallWhoseRunEndsWhileItWritesTheWeightsStartsNoCommand() throws Exception {
        Path x = dir.resolve("X.npy"), started = dir.resolve("started");
        GradientSourcesTest.writeX(x, 3);
        float[] weights = GradientSourcesTest.wbar();
        weights[0] += 1; // other weights than stage 0's, so that the command runs
        CountDownLatch written = new CountDownLatch(1), release = new CountDownLatch(1);
        Thread runThread = Thread.currentThread();
        // runEnded() ends the call's run first of all, then waits for the call (the run's thread's only timed wait in it)
        Thread releaser = new Thread(() -> {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (runThread.getState() != Thread.State.TIMED_WAITING && System.nanoTime() < deadline) Thread.onSpinWait();
            release.countDown();
        });
        long matrices = HostMatrix.openOwnedCount();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, "touch '" + started + "'; cp '" + x + "' {grads} && : {weights}", null)) {
            source.afterWeightsWritten = () -> {
                written.countDown();
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            source.runStarting();
            Future<HostMatrix> late = pool.submit(() -> source.gradients(1, weights.clone()));
            assertTrue(written.await(60, TimeUnit.SECONDS), "the call wrote the weights");
            releaser.start();
            source.runEnded();
            assertTheLateCallWasRefused(late);
            assertFalse(Files.exists(started), "the command of a call whose run ended while it wrote the weights started");
            try (var left = Files.list(source.directory())) {
                assertEquals(List.of(), left.toList(), "files the late call left in the source's folder");
            }
        } finally {
            release.countDown();
            releaser.join(60_000);
            pool.shutdownNow();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
    }

    /**
     * A late call still at work after runEnded()'s wait (here held by the log on falcon's note of its float64 X, on the
     * call's own thread) deleted, as it gave up, the X_stage1.npy the next run's command had just written: the next run
     * failed with "exited with status 0 but X for stage 1 was not written". The late call deletes only its own files.
     */
    @Test
    void aCallOutlastingRunEndedsWaitDeletesNoFileOfTheNextRun() throws Exception {
        Path x64 = dir.resolve("X64.npy"), x32 = dir.resolve("X32.npy"), mode = dir.resolve("mode"), written = dir.resolve("written"), gate = dir.resolve("gate");
        double[][] values = new double[GradientSourcesTest.N][GradientSourcesTest.P];
        for (int i = 0; i < values.length; i++) {
            for (int j = 0; j < values[i].length; j++) values[i][j] = (i + 1) * 0.5 - j * 0.125;
        }
        GradientSourcesTest.writeFloat64Fortran(x64, values);
        GradientSourcesTest.writeX(x32, 4);
        Files.writeString(mode, "late");
        String cmd = "if [ \"$(cat '" + mode + "')\" = late ]; then cp '" + x64 + "' {grads}; else cp '" + x32 + "' {grads}; touch '" + written + "';"
                + " while [ -e '" + gate + "' ]; do sleep 0.02; done; fi; : {weights}";
        CountDownLatch noteHeld = new CountDownLatch(1), releaseNote = new CountDownLatch(1);
        java.io.PrintWriter log = new java.io.PrintWriter(new java.io.StringWriter()) {
            @Override
            public void println(String line) {
                if (!line.startsWith("falcon: X of stage") || noteHeld.getCount() == 0) return;
                noteHeld.countDown();
                try {
                    releaseNote.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        float[] lateWeights = GradientSourcesTest.wbar(), otherWeights = GradientSourcesTest.wbar();
        lateWeights[0] += 1;
        otherWeights[1] += 1;
        long matrices = HostMatrix.openOwnedCount();
        ExecutorService latePool = Executors.newSingleThreadExecutor(), nextPool = Executors.newSingleThreadExecutor();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, cmd, log)) {
            source.runStarting();
            Future<HostMatrix> late = latePool.submit(() -> source.gradients(1, lateWeights.clone()));
            assertTrue(noteHeld.await(60, TimeUnit.SECONDS), "the late call reached falcon's note on its float64 X");
            source.runEnded(); // waits its while for the late call, and gives up
            Files.writeString(mode, "next");
            Files.writeString(gate, "");
            source.runStarting();
            try {
                Future<HostMatrix> next = nextPool.submit(() -> source.gradients(1, otherWeights.clone()));
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!Files.exists(written) && System.nanoTime() < deadline) Thread.sleep(10);
                assertTrue(Files.exists(written), "the next run's command wrote its X");
                releaseNote.countDown();
                assertTheLateCallWasRefused(late);
                Files.delete(gate);
                HostMatrix x1 = next.get(60, TimeUnit.SECONDS);
                float[] written32 = new float[GradientSourcesTest.N * GradientSourcesTest.P];
                java.util.SplittableRandom r = new java.util.SplittableRandom(4); // as writeX(x32, 4) drew them
                for (int i = 0; i < written32.length; i++) written32[i] = (float) r.nextDouble(-1, 1);
                assertArrayEquals(written32, valuesOf(x1), "the next run's stage 1 X is the one its command wrote");
            } finally {
                releaseNote.countDown();
                if (Files.exists(gate)) Files.delete(gate);
                source.runEnded();
            }
        } finally {
            latePool.shutdownNow();
            nextPool.shutdownNow();
            assertTrue(latePool.awaitTermination(60, TimeUnit.SECONDS) && nextPool.awaitTermination(60, TimeUnit.SECONDS));
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
    }

    /** The call made for a run that ended while it ran failed, rather than hand out its X as the next run's. */
    private static void assertTheLateCallWasRefused(Future<HostMatrix> late) {
        java.util.concurrent.ExecutionException failed = assertThrows(java.util.concurrent.ExecutionException.class, () -> late.get(60, TimeUnit.SECONDS),
                "the call made for the ended run returned its X");
        assertInstanceOf(IllegalStateException.class, failed.getCause(), String.valueOf(failed.getCause()));
        assertTrue(failed.getCause().getMessage().contains("the run this call was made for ended before it finished"), failed.getCause().getMessage());
    }

    /**
     * The same for a file source whose stage file loads slowly (here: a hook held until the next run has its X): the
     * late call made its X the one held in place of the next run's, which was then never closed, and returned it as if
     * its run went on. It now fails with an IllegalStateException, closing its own X.
     */
    @Test
    void aFileCallThatOutlivesItsRunLeavesTheNextRunAlone() throws Exception {
        for (int t = 0; t < STAGES; t++) GradientSourcesTest.writeX(dir.resolve("X_" + t + ".npy"), t + 1);
        CountDownLatch hold = new CountDownLatch(1);
        AtomicReference<Thread> held = new AtomicReference<>();
        FilePatternGradients.StageFiles slowOnce = new FilePatternGradients.StageFiles() {
            @Override
            public void loading(int stage, Path file) {
                if (held.compareAndSet(null, Thread.currentThread())) {
                    try {
                        hold.await(60, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }

            @Override public void loaded(int stage, Path file) {}
        };
        long matrices = HostMatrix.openOwnedCount();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             FilePatternGradients source = new FilePatternGradients(b, first, dir.resolve("X_{t}.npy").toString(), STAGES, "X", slowOnce);
             FilePatternGradients fresh = new FilePatternGradients(b, first, dir.resolve("X_{t}.npy").toString(), STAGES, "X")) {
            source.runStarting();
            Future<HostMatrix> late = pool.submit(() -> source.gradients(1, GradientSourcesTest.wbar()));
            assertThrows(java.util.concurrent.TimeoutException.class, () -> late.get(300, TimeUnit.MILLISECONDS));
            source.runEnded();

            source.runStarting();
            try {
                HostMatrix x1 = source.gradients(1, GradientSourcesTest.wbar());
                hold.countDown();
                assertTheLateCallWasRefused(late);
                assertFalse(x1.isClosed(), "the second run's stage 1 X");
                assertArrayEquals(valuesOf(fresh.gradients(1, GradientSourcesTest.wbar())), valuesOf(x1), "the second run's stage 1 X");
                assertArrayEquals(valuesOf(fresh.gradients(2, GradientSourcesTest.wbar())), valuesOf(source.gradients(2, GradientSourcesTest.wbar())),
                        "the second run's stage 2 X");
            } finally {
                hold.countDown();
                source.runEnded();
                fresh.runEnded();
            }
        } finally {
            pool.shutdownNow();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open (" + HostMatrix.openOwnedBytes() + " bytes)");
    }

    /**
     * A run in progress on another thread holds the source (claimed as {@link MultiStage#run} claims it); this thread calls
     * runEnded() on it, as an embedder may after using the source directly outside a run. It was accepted: it freed the
     * run's stage X and cleared the run's claim, so a third run got in alongside the first ("C accepted while A still
     * runs"). It is refused, naming the source and both threads, and the run keeps its claim until its own runEnded; then
     * direct use works again. A gradients() call meanwhile is taken as the run's (see {@link TimeLimitedSource}).
     */
    private static void runEndedFromAnotherThreadDuringARunIsRefused(MultiStage.GradientSource source, String sourceName) throws Exception {
        ExecutorService runThread = Executors.newSingleThreadExecutor(r -> new Thread(r, "the-run"));
        try {
            runThread.submit(source::runStarting).get(60, TimeUnit.SECONDS);
            float[] weights = GradientSourcesTest.wbar();
            weights[0] += 1; // other weights than stage 0's, so that a command source would run its command
            IllegalStateException refused = assertThrows(IllegalStateException.class, source::runEnded,
                    "runEnded() from another thread during the run was accepted");
            String m = refused.getMessage();
            assertTrue(m.contains(sourceName) && m.contains("runEnded() was called on thread '" + Thread.currentThread().getName() + "'")
                    && m.contains("started (runStarting()) on thread 'the-run'") && m.contains("only the thread that started a run ends it"), m);
            IllegalStateException third = assertThrows(IllegalStateException.class, source::runStarting,
                    "a run started alongside the one in progress after the refused runEnded()");
            assertTrue(third.getMessage().contains("already using this gradient source (on thread 'the-run')"), third.getMessage());
            runThread.submit(source::runEnded).get(60, TimeUnit.SECONDS);
            HostMatrix x = source.gradients(1, weights.clone());
            assertEquals(GradientSourcesTest.P, x.cols(), "X of stage 1 once the run has ended");
            source.runEnded();
            source.runStarting(); // free again: this thread's run
            source.runEnded();
        } finally {
            runThread.shutdown();
            assertTrue(runThread.awaitTermination(60, TimeUnit.SECONDS));
        }
    }

    @Test
    void aCommandSourceRefusesRunEndedFromAnotherThreadDuringARun() throws Exception {
        Path x = dir.resolve("X.npy");
        GradientSourcesTest.writeX(x, 3);
        long matrices = HostMatrix.openOwnedCount();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             CommandGradients source = new CommandGradients(b, first, "cp '" + x + "' {grads} && : {weights}", null)) {
            runEndedFromAnotherThreadDuringARunIsRefused(source, "CommandGradients");
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open");
    }

    @Test
    void aFilePatternSourceRefusesRunEndedFromAnotherThreadDuringARun() throws Exception {
        for (int t = 0; t < STAGES; t++) GradientSourcesTest.writeX(dir.resolve("X_" + t + ".npy"), t + 1);
        long matrices = HostMatrix.openOwnedCount();
        try (ComputeBackend b = new JavaBackend(); HostMatrix first = GradientSourcesTest.matrix(1);
             FilePatternGradients source = new FilePatternGradients(b, first, dir.resolve("X_{t}.npy").toString(), STAGES, "X")) {
            runEndedFromAnotherThreadDuringARunIsRefused(source, "FilePatternGradients of " + source.pattern());
        }
        assertEquals(matrices, HostMatrix.openOwnedCount(), "matrices left open");
    }
}
