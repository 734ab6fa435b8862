package dev.falcon.solve;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import dev.falcon.io.InputFiles;
import dev.falcon.io.ReadFailures;
import dev.falcon.model.Numbers;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.Objects;

/**
 * falcon++ gradients from one file per stage: {@code --grads 'X_stage{t}.npy'}, stage t's X in the file with
 * {@code {t}} replaced by t (t = 0 .. T-1; stage 0 = X at the dense weights, stage t = X at the weights stage t-1
 * produced). Nothing is waited for: every file must exist and have the same n x p shape when the source is
 * created (else an {@link InputException} naming the file, before any work). Stage 0's matrix is given by the
 * caller (who keeps owning it); later stages are loaded when reached and owned by this source, which closes the last
 * one when the run ends ({@link MultiStage.GradientSource#runEnded}) and stays usable for another run.
 * A stage reads the file its path names when the stage starts, header and data: one replaced by a rename since the
 * source was created (a newer export) is read as what it is now, and must still have stage 0's shape.
 */
public final class FilePatternGradients implements MultiStage.GradientSource {
    public static final String PLACEHOLDER = "{t}";

    private final ComputeBackend backend;
    private final HostMatrix first;
    private final String pattern;
    private final String field;
    private final RawMatrixSource[] sources;
    /** Each loaded stage's type and what loading did (copied or mapped), for its report row; null until loaded. */
    private final String[] loadedAs;
    private final StageFiles stageFiles;
    private HostMatrix current;
    private final OneRunAtATime runs = new OneRunAtATime();
    /** Held where a call or runEnded() changes the run's state (the X held, what each stage's file was loaded as). */
    private final Object state = new Object();

    /**
     * Told around each later stage's read of its file, so that a caller can hold the file the stage read (the CLI opens
     * it, and hashes it for the report). Either method may throw to stop the stage, as a file that cannot be read does.
     */
    public interface StageFiles {
        /** Before stage {@code stage} reads anything of {@code file}. */
        void loading(int stage, java.nio.file.Path file);

        /** After its header and data were read, before the solve uses them. */
        void loaded(int stage, java.nio.file.Path file);
    }

    /**
     * What a stage file that was there when the run started and is gone when its stage reads it is: said as such, since
     * "does not exist; check the path" read as a typo in a pattern whose every file had been found.
     */
    public static final String MISSING_SINCE_START = "was present when the run started and is missing now: it was moved or deleted during the run";
    public static final String MISSING_SINCE_START_FIX = "put it back and rerun, and leave every stage's file in place until its stage has read it"
            + " (to update one during a run, write the new file under another name and rename it over the old one)";

    /** True when a --grads value is a per-stage pattern. */
    public static boolean isPattern(String spec) {
        return spec != null && spec.contains(PLACEHOLDER);
    }

    /** The file of stage t. */
    public static String fileOf(String pattern, int stage) {
        return pattern.replace(PLACEHOLDER, Integer.toString(stage));
    }

    /**
     * Checks every stage file's header (existence, 2-D, dtype, shape = stage 0's) without reading data.
     * @param first stage 0's X, already loaded from {@code fileOf(pattern, 0)} (may be null: loaded here on demand)
     */
    public FilePatternGradients(ComputeBackend backend, HostMatrix first, String pattern, int stages, String field) {
        this(backend, first, pattern, stages, field, null);
    }

    /** As above, telling {@code stageFiles} (may be null) around each later stage's read. */
    public FilePatternGradients(ComputeBackend backend, HostMatrix first, String pattern, int stages, String field, StageFiles stageFiles) {
        if (!isPattern(pattern)) throw new IllegalArgumentException("pattern has no " + PLACEHOLDER + ": " + pattern);
        this.backend = Objects.requireNonNull(backend);
        this.first = first;
        this.pattern = pattern;
        this.field = field;
        this.stageFiles = stageFiles;
        this.sources = stageSources(pattern, stages, field);
        this.loadedAs = new String[sources.length];
        if (first != null) loadedAs[0] = sources[0].typeAndConversion(first);
        if (first != null && (first.rows() != sources[0].rows() || first.cols() != sources[0].cols())) {
            throw new IllegalArgumentException("stage 0's matrix does not match " + fileOf(pattern, 0));
        }
    }

    /**
     * The headers of stages 0 .. stages-1 (existence, 2-D, dtype, the same n x p as stage 0), read without any data: a
     * caller checks them before it loads anything.
     * @param field what the caller calls the pattern in messages: an option ("--grads", as the CLI passes) makes them
     *              name the stage count --stages, anything else the argument {@code stages} (a Java caller passed an int
     *              and was told to "give fewer --stages")
     */
    public static RawMatrixSource[] stageSources(String pattern, int stages, String field) {
        // Zero or fewer stages read no file at all, so a pattern in a missing folder made a source, -3 became stages() 0,
        // and the prune refused it only later, offering "give the StagePlan 0 stages", which StagePlan refuses too.
        // (the CLI refuses its --stages below 1 among its options, before any file is named to this)
        if (stages < 1) {
            throw new IllegalArgumentException("FilePatternGradients stages: is " + stages + ", it must be at least 1: one file per stage, {t} = 0 .. stages-1"
                    + "; give the StagePlan's stages (e.g. 5) and write a file for each");
        }
        // grown file by file: sized by --stages up front, a mistyped --stages 2000000000 ended in "out of memory" instead
        // of naming the first missing file
        java.util.List<RawMatrixSource> sources = new java.util.ArrayList<>();
        for (int t = 0; t < stages; t++) {
            String spec = fileOf(pattern, t);
            if (!java.nio.file.Files.exists(ArrayFiles.fileOf(spec))) {
                // a bare "does not exist" left open whether {t} counts from 0 or 1, or how many files --stages asks for
                boolean fromOne = t == 0 && stages > 1 && java.nio.file.Files.exists(ArrayFiles.fileOf(fileOf(pattern, stages)));
                boolean cli = field != null && field.startsWith("--");
                throw InputException.of(spec, field, "does not exist: the X of stage " + t + " of 0.." + (stages - 1) + " ({t} counts the "
                        + (cli ? "--stages " + stages : "stages = " + stages) + " stages from 0; stage 0's X is at the dense weights)"
                        + (fromOne ? "; " + fileOf(pattern, stages) + " exists: are the files numbered from 1?" : ""),
                        "write every stage's file before the run (nothing is waited for), or give fewer " + (cli ? "--stages" : "stages"));
            }
            sources.add(t == 0 ? ArrayFiles.matrixSource(spec, field) : stageHeader(pattern, field, t, sources.get(0), ""));
        }
        return sources.toArray(new RawMatrixSource[0]);
    }

    /** Why stage {@code stage} (at or past {@link #stages()}) has no X here, and the fix. */
    private String beyondTheStages(int stage) {
        boolean cli = field != null && field.startsWith("--");
        String count = cli ? "--stages " + sources.length : "stages = " + sources.length;
        return "this FilePatternGradients was made for " + Numbers.counted(sources.length, "stage") + " (" + count + ", the files "
                + pattern + " for {t} = 0.." + (sources.length - 1) + ") but stage " + stage + " was asked for: make it with as many stages as the"
                + " run has (the StagePlan's stages), writing a file for each, or run fewer stages";
    }

    /** Stage {@code stage}'s header as its file is now, held to stage 0's shape. */
    private static RawMatrixSource stageHeader(String pattern, String field, int stage, RawMatrixSource stage0, String why) {
        String spec = fileOf(pattern, stage);
        RawMatrixSource s = ArrayFiles.matrixSource(spec, field);
        if (s.rows() != stage0.rows() || s.cols() != stage0.cols()) {
            throw InputException.of(spec, field, "X of stage " + stage + " has shape " + s.rows() + " x " + s.cols()
                    + " but stage 0 (" + fileOf(pattern, 0) + ") is " + stage0.rows() + " x " + stage0.cols() + why,
                    "every stage's X must have the same samples (n) and weights (p)");
        }
        return s;
    }

    public long rows() { return sources[0].rows(); }

    /** The number of stages, files {t} = 0 .. stages-1, this source was made for: a plan of more stages cannot be given them. */
    public int stages() { return sources.length; }

    /** The per-stage pattern, {@link #PLACEHOLDER} and all, as given. */
    public String pattern() { return pattern; }

    public long cols() { return sources[0].cols(); }

    /**
     * {@inheritDoc} A call that finishes after the run it was made for ended (its caller timed it out and the run ended)
     * throws an {@link IllegalStateException}, closing the X it loaded: it had made that X the one held in place of the
     * next run's, which then stayed open for good.
     */
    @Override
    public HostMatrix gradients(int stage, float[] weights) {
        long run = runs.generation();
        String call = "gradients(" + stage + ", ...)";
        if (stage < 0) throw new IllegalArgumentException("stage " + stage + " is negative: stages count from 0");
        // a stage past the files this source was made for is one it cannot give, as a missing file would be: a
        // SourceFailure, so that a run asking for more stages (MultiStage.run given more than this source's stages) returns
        // the last completed stage, as README documents, instead of losing every completed stage to an exception
        if (stage >= sources.length) throw new MultiStage.SourceFailure(beyondTheStages(stage));
        if (stage == 0 && first != null) return first;
        String spec = fileOf(pattern, stage);
        // the previous stage's X goes before the next one is read, so that no more than two X (stage 0's and this one) are
        // held at once; it is not used again: a file that fails to load ends the run
        synchronized (state) {
            runs.requireSameRun(sourceName(), call, run);
            if (current != null) current.close();
            current = null;
        }
        java.nio.file.Path file = ArrayFiles.fileOf(spec);
        if (stageFiles != null) stageFiles.loading(stage, file);
        if (!java.nio.file.Files.exists(file)) throw InputException.of(spec, field, "the X of stage " + stage + " " + MISSING_SINCE_START, MISSING_SINCE_START_FIX);
        InputFiles.Identity before = InputFiles.Identity.of(file);
        // the header read when the source was made can be of a file since replaced by a rename: the data would then be
        // read at the old file's offset, dtype and order (a float64 file read as float32, or called truncated)
        RawMatrixSource now = stageHeader(pattern, field, stage, sources[0], " (the file was replaced since the run started)");
        HostMatrix next;
        try {
            next = backend.load(now, first != null ? first.panelStarts() : null); // the layout of stage 0's X, when given
        } catch (IOException e) {
            throw ReadFailures.cannotRead(spec, field, "stage " + stage + "'s X from", e, "check the file");
        }
        try {
            if (before == null || !before.equals(InputFiles.Identity.of(file))) {
                throw InputException.of(spec, field, "changed while stage " + stage + " read it (its device and inode, size or modification time differ), so"
                        + " its header and data may be of two files", "write a new file and rename it over the old one before its stage starts, or rerun");
            }
            if (stageFiles != null) stageFiles.loaded(stage, file);
            checkFinite(backend, next, spec, field);
        } catch (RuntimeException e) {
            next.close();
            throw e;
        }
        synchronized (state) {
            runs.requireSameRun(sourceName(), call, run, next);
            if (current != null) current.close(); // a direct call's, made while this one loaded
            sources[stage] = now;
            loadedAs[stage] = now.typeAndConversion(next);
            current = next;
            return current;
        }
    }

    @Override
    public RuntimeException unusable(int stage, String problem) {
        return MultiStage.GradientSource.super.unusable(stage, problem + FalconSolver.ValuesTooLarge.FILE_RANGES_HINT);
    }

    /** Each X is scanned as it is loaded, naming its file. */
    @Override
    public boolean verifiesFinite() { return true; }

    /**
     * The stage's file with its dtype and order (a report gave stage 0's alone, as if every stage's were the same) and,
     * once loaded, whether it was copied or mapped, in the report's x_conversion words.
     */
    @Override
    public String describe(int stage) {
        if (stage < 0 || stage >= sources.length) {
            return "file " + fileOf(pattern, stage) + " (beyond the " + sources.length + " stages this source was made for)";
        }
        String type = loadedAs[stage] != null ? loadedAs[stage] : sources[stage].typeAndConversion();
        return "file " + fileOf(pattern, stage) + " (" + type + ")";
    }

    /** Refuses a second run while one is in progress: the stage X held is that run's. */
    @Override
    public void runStarting() {
        runs.begin(sourceName());
    }

    /** This source as its refusals name it. */
    private String sourceName() {
        return "FilePatternGradients of " + pattern;
    }

    /**
     * The stage X this source loaded goes; stage 0's, the caller's, stays. A later run loads its stages again. Refused
     * from a thread other than the one that started the run holding the source.
     */
    @Override
    public void runEnded() {
        runs.requireRunsOwnThreadToEnd(sourceName());
        try {
            runs.retire(); // a call still loading for this run gives up its X rather than hand it to the next
            close();
        } finally {
            runs.end();
        }
    }

    @Override
    public void close() {
        synchronized (state) {
            if (current != null) current.close();
            current = null;
        }
    }

    /** The fix for NaN/Inf in an X an embedder gave in Java: no file, so nothing `falcon inspect` could read. */
    public static final String FIX_GIVEN_X = "recompute the gradients or drop the bad samples";

    /**
     * Rejects NaN/Inf in X read from a file (scanned by the backend: no Java loop reads X), naming the first bad (row,
     * column) and {@code falcon inspect}, which reads the file.
     */
    public static void checkFinite(ComputeBackend backend, HostMatrix x, String spec, String field) {
        checkFinite(backend, x, spec, field, FIX_GIVEN_X + "; `falcon inspect` counts NaN/Inf and shows each array's min and max");
    }

    /** As above, with the fix to give (a file the user cannot inspect needs another). */
    public static void checkFinite(ComputeBackend backend, HostMatrix x, String spec, String field, String fix) {
        long bad = backend.firstNonFinite(x);
        if (bad < 0) return;
        long[] at = x.elementAt(bad);
        long row = at[0], col = at[1];
        float v;
        try (HostMatrix.Use use = x.use("the report of a non-finite value")) {
            v = x.data().get(bad);
        }
        // X is checked after its conversion to float32, where a float64 file's finite values past the float32 range are
        // infinite: inspect (which reads the file's own values) would show them only as its min or max
        String why = Float.isInfinite(v) ? " (Inf in the gradients, or a float64 value beyond float32's +-3.4e38)" : " (NaN in the gradients)";
        throw InputException.of(spec, field, "X[" + row + ", " + col + "] is " + v + why, fix);
    }
}
