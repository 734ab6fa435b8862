package dev.falcon.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import dev.falcon.backend.Backends;
import dev.falcon.backend.JavaCppRuntime;
import dev.falcon.backend.Processors;
import dev.falcon.backend.ComputeBackend;
import dev.falcon.data.HostMatrix;
import dev.falcon.data.RawMatrixSource;
import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.AtomicFiles;
import dev.falcon.io.RunPhase;
import dev.falcon.io.InputException;
import dev.falcon.io.LayersJson;
import dev.falcon.io.NamedArray;
import dev.falcon.io.Npy;
import dev.falcon.io.Safetensors;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import dev.falcon.prune.Budgets;
import dev.falcon.prune.Method;
import dev.falcon.prune.Objective;
import dev.falcon.prune.PruneResult;
import dev.falcon.prune.Pruner;
import dev.falcon.solve.FilePatternGradients;
import dev.falcon.solve.Backsolve;
import dev.falcon.solve.FalconSolver;
import dev.falcon.solve.LowerBound;
import dev.falcon.solve.MultiStage;
import dev.falcon.solve.SolverOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.FloatPointer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "prune", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        description = {"Prunes weights under an NNZ budget and a FLOP budget.",
                "Either --example NAME (built-in model, synthetic data, no files needed) or --weights with --layers "
                        + "or --flops-per-weight, and --grads (X), which falcon, falcon++ and --backsolve need and magnitude and mp use for the objective."},
        // lines of at most 80 columns: picocli wraps longer ones wherever, and a copied -Dfalcon.memory.\navailable=8g failed
        footer = {"",
                "Budgets are upper bounds. With no budget option the run keeps 30%% of the FLOPs",
                "(--keep-flops 0.3). With only a FLOP budget the NNZ budget is p; with only an",
                "NNZ budget the FLOP budget is the dense FLOPs. A budget that keeps no weight is",
                "refused (exit 3) unless asked for exactly: --nnz 0 or --flops 0.",
                "A fraction of 0 (or --sparsity 1) is out of range, exit 2.",
                "Outputs (written atomically; a failed run writes none, except a failed",
                "--grads-command, see the exit codes):",
                "  --out     default out/NAME-METHOD-pruned.npy",
                "            (NAME = the example's name or the weights file's stem)",
                "  --report  default out/NAME-METHOD-report.json",
                "  --mask    only when given",
                "  -         stdout (.npy for --out and --mask, JSON for --report; one output",
                "            at most); the summary then goes to stderr, and so it does for",
                "            /dev/stdout; --out and --mask refuse a terminal (they are binary)",
                "  ./-       a file named -, for --report only (--out and --mask end in .npy)",
                "Memory: the run estimates what it needs before loading and refuses with",
                "  options that fit; -Dfalcon.memory.available=SIZE replaces what it reads",
                "  (the smaller of /proc/meminfo MemAvailable and a cgroup limit's room), e.g.",
                "  FALCON_JAVA_OPTS=-Dfalcon.memory.available=8g ./falcon prune ...",
                "falcon++ gradient sources: the same X (default), --grads 'X_stage{t}.npy'",
                "  (one file per stage t = 0..T-1, all present at start), or --grads-command",
                "  CMD (run before each stage t >= 1 on the current weights).",
                "Exit codes: 0 ok, 2 bad usage or input (or too little memory for the run),",
                "  3 infeasible budgets, 1 internal error, stdout not writable (the summary;",
                "    the outputs are complete), an output that could not be written (no",
                "    output is left behind) or a failed --grads-command (or one stopped by",
                "    --grads-command-timeout; then --out, --mask and --report hold the last",
                "    completed stage),",
                "  130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM (one line says where, and",
                "    what was written)."})
final class PruneCommand implements Callable<Integer> {
    /** Why prune refuses p weights above its limit; inspect says the same of a layer table. */
    static String tooManyWeights(long p) {
        return "p = " + p + " weights, more than the " + dev.falcon.select.FlopAwareSelector.MAX_WEIGHTS + " (2^31 - 9) falcon takes: a limit"
                + " of falcon (its selection indexes the weights with Java ints), not of this machine's memory";
    }

    static final String TOO_MANY_WEIGHTS_FIX = "prune the model in parts of at most that many weights, e.g. one --weights file and layer"
            + " table per group of layers";

    /** Files larger than this are not checksummed (the report says so). */
    static final long CHECKSUM_LIMIT = 1L << 30;

    @Spec CommandSpec spec;

    // ---- inputs
    @Option(names = "--example", paramLabel = "NAME", description = "Built-in model: resnet20, mobilenetv1 or resnet50 (real layer tables, synthetic weights and gradients).")
    String example;
    @Option(names = "--n", paramLabel = "N", description = "Rows of the synthetic X for --example (default: resnet20 128, mobilenetv1 32, resnet50 16).")
    Integer rows;
    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Seed of the synthetic weights and gradients (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = {"--grads", "-X"}, paramLabel = "X.npy", description = {"Per-sample gradients X (n x p): .npy, .safetensors or FILE.safetensors:TENSOR. Needed by falcon, falcon++ and --backsolve; "
            + "for magnitude and mp optional, for the objective in the report.",
            "falcon++: a value with {t} is a per-stage pattern (e.g. 'X_stage{t}.npy'): stage t's X for t from 0 to T-1, stage 0 at the dense weights, "
                    + "stage t at the weights stage t-1 produced; every file must exist (nothing is waited for)."})
    String grads;
    @Option(names = "--weights", paramLabel = "w.npy", description = "Dense weights wbar (p values, any shape, flattened in C order).")
    String weights;
    @Option(names = "--layers", paramLabel = "layers.json", description = "Layer table {\"layers\":[{name, shape, flops_per_weight}]} in flatten order.")
    Path layersFile;
    @Option(names = "--flops-per-weight", paramLabel = "f.npy", description = "Per-weight FLOP costs (p positive values) instead of --layers; runs of equal values become layers.")
    String flopsPerWeight;
    @Option(names = "--linear-term", paramLabel = "g.npy", description = "Optional first-order term g of the objective (p values).")
    String linearTerm;

    // ---- budgets
    @Option(names = "--keep-flops", paramLabel = "FRACTION", description = "FLOP budget as a fraction of the dense FLOPs, in (0, 1].")
    Double keepFlops;
    Double flops;
    /** A --flops that is not a number: the per-weight costs in the issue's `--flops f.npy` form, resolved in validateOptions. */
    String flopsCostsFile;
    /** The option the per-weight costs came from, so that every message about that file names what the user typed. */
    String costsOption = "--flops-per-weight";

    /**
     * --flops beside --keep-flops in the help, as README pairs them: picocli lists an option set by a method after every
     * option held in a field, whatever sortOptions says, and --flops stood after -q, apart from the other budgets. A
     * mixin's options are listed where its field is declared.
     */
    @Mixin FlopsOption flopsOption = new FlopsOption();

    final class FlopsOption {
        @Option(names = "--flops", paramLabel = "F", description = "Absolute FLOP budget (multiply-adds), in [0, dense FLOPs]; "
                + "a value that is not a number names a file of per-weight FLOP costs instead, as --flops-per-weight does.")
        void flops(String value) {
            PruneCommand.this.flops(value);
        }
    }

    void flops(String value) {
        // a number in falcon's grammar is the budget; anything else (100d, NaN, an empty value) is taken for a file's
        // name, refused by validateOptions where no such file exists (Java's grammar read 100d as a budget of 100)
        if (Numbers.isDecimal(value)) {
            try {
                flops = Numbers.parseDecimal(value);
            } catch (NumberFormatException e) {
                // as a converter's message reads: thrown from a setter, picocli wrapped it with the whole command line
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Invalid value for option '--flops': " + e.getMessage());
            }
            flopsCostsFile = null;
        } else {
            flops = null;
            flopsCostsFile = value;
        }
    }
    @Option(names = "--keep-nnz", paramLabel = "FRACTION", description = "NNZ budget as a fraction of p, in (0, 1].")
    Double keepNnz;
    @Option(names = "--nnz", paramLabel = "N", description = "Absolute NNZ budget, in [0, p].")
    Long nnz;
    @Option(names = "--sparsity", paramLabel = "S", description = "NNZ budget as sparsity: keep (1 - S) p weights, S in [0, 1).")
    Double sparsity;

    // ---- method
    @Option(names = "--method", paramLabel = "METHOD", defaultValue = "mp", description = "magnitude, mp (FLOP-aware magnitude ILP), falcon, falcon++ (default: ${DEFAULT-VALUE}).")
    String method;
    @Option(names = "--lambda", paramLabel = "L", defaultValue = "1e-3", description = "Ridge strength of the objective (default: ${DEFAULT-VALUE}).")
    double lambda;
    @Option(names = "--lambda-convention", paramLabel = "ridge|falcon", defaultValue = "ridge",
            description = "How --lambda is read, so only with --lambda: ridge = lambda of Q; falcon = the authors' l2, lambda = l2 * n (default: ${DEFAULT-VALUE}).")
    String lambdaConvention;
    /** Parsed from --lambda-convention by validateOptions, as --method is: a picocli enum listed the constants, not the spellings. */
    private Objective.Convention convention;

    // ---- solver (falcon, and mp --backsolve)
    @Option(names = "--backsolve", paramLabel = "exact|block|sweep|none", arity = "0..1", fallbackValue = "exact",
            description = {"Backsolve on the final support: exact (Woodbury, whole network), block (block-diagonal, --block-size), "
                    + "sweep (block-coordinate Gauss-Seidel on the exact model), none.",
                    "falcon, falcon++: default exact, or block where only block's n x n systems fit the memory (the summary and the report say so). mp: default none; `--method mp --backsolve` = the authors' MP + BS (exact)."})
    String backsolve;
    @Option(names = "--max-iterations", paramLabel = "N", defaultValue = "100", description = "falcon: cap on DFO iterations (default: ${DEFAULT-VALUE}).")
    int maxIterations;
    @Option(names = "--tolerance", paramLabel = "T", defaultValue = "1e-6", description = "falcon: stop when an iteration lowers Q by less than this, relative (default: ${DEFAULT-VALUE}).")
    double tolerance;
    @Option(names = "--hessian", paramLabel = "exact|block", defaultValue = "exact",
            description = "falcon: Hessian model of the DFO iterations: exact low-rank Fisher (X v and X^T u per iteration) or its block-diagonal part "
                    + "(one blockGramProduct pass per iteration) (default: ${DEFAULT-VALUE}).")
    String hessian;
    @Option(names = "--block-size", paramLabel = "N", defaultValue = "2000", description = "Blocks of --hessian block and --backsolve block|sweep: layers cut into chunks of at most N weights; on the cpu backend also the width of X's panels, "
            + "all it sets without those models (refused without them where --device java or cuda was asked for; not read, as the summary says, "
            + "where auto chose such a backend or X is mapped in place) (default: ${DEFAULT-VALUE}).")
    int blockSize;
    @Option(names = "--rounds", paramLabel = "N", defaultValue = "25", description = "falcon: cap on DFO + backsolve rounds; rounds stop earlier once one lowers Q by less than the tolerance (default: ${DEFAULT-VALUE}).")
    int rounds;
    @Option(names = "--swap-candidates", paramLabel = "C", defaultValue = "4",
            description = "falcon: after each backsolve try swapping the C most promising outside weights (exact single-move values by Woodbury) against the C cheapest kept ones that keep the budgets, then batches of all swaps estimated to help (about C^2 + C + log2(16 C) backsolves), and with the exact backsolve end with the swap polish (moves scored in closed form on the n x n system, no backsolves); 0 = both off (default: ${DEFAULT-VALUE}).")
    int swapCandidates;

    @Option(names = "--stable-iterations", paramLabel = "K", defaultValue = "3",
            description = "falcon: end a DFO round (then backsolve) once the support has not changed for K iterations; 0 = off (default: ${DEFAULT-VALUE})."
                    + " Where no backsolve solved that support (--backsolve none, one skipped as singular, block or sweep landing above"
                    + " the DFO point), the next round's DFO goes on past K to the tolerance or --max-iterations: lower Q, more time"
                    + " (resnet20 n = 64 --backsolve block: Q 1.88 in ~40 s against 6.29 in 5 s).")
    int stableIterations;
    /**
     * The widest blocks a block backsolve takes on the java backend above JavaBackend.MAX_SQUARE_ROWS rows: a block of |K_B| <= n
     * kept weights solves its normal equations from the Gram of a (|K_B| + 2)-row matrix, indexed by Java ints there.
     */
    static final int JAVA_BACKEND_WIDEST_BLOCK = dev.falcon.backend.JavaBackend.MAX_SQUARE_ROWS - 2;
    /** The most --stages taken (see where it is checked). */
    static final int MAX_STAGES = 10_000;
    @Option(names = "--stages", paramLabel = "T", defaultValue = "5", description = "falcon++: number of stages (default: ${DEFAULT-VALUE}).")
    int stages;
    @Option(names = "--schedule", paramLabel = "poly|linear|exp|const", defaultValue = "poly",
            description = "falcon++: budget schedule from --start-keep-flops/--start-keep-nnz to the targets, for NNZ and FLOPs alike (default: ${DEFAULT-VALUE}).")
    String schedule;
    @Option(names = "--start-keep-flops", paramLabel = "FRACTION",
            description = "falcon++: starting level of the FLOP schedule as a fraction of the dense FLOPs, in (0, 1] (default: 1 = dense).")
    Double startKeepFlops;
    @Option(names = "--start-keep-nnz", paramLabel = "FRACTION",
            description = "falcon++: starting level of the NNZ schedule as a fraction of p, in (0, 1] (default: 1 = dense).")
    Double startKeepNnz;
    @Option(names = "--start-keep", paramLabel = "FRACTION",
            description = "falcon++: both starting levels at once (shorthand for --start-keep-flops F --start-keep-nnz F; the specific options win).")
    Double startKeep;
    @Option(names = "--grads-command", paramLabel = "CMD",
            description = {"falcon++: recompute X between stages with CMD, run through /bin/sh -c with {weights} (the current weights, float32 [p] .npy, "
                    + "in a temporary directory) and {grads} (where CMD must write X, n x p, as .npy or safetensors) replaced by shell-quoted paths (so written bare, not in quotes), "
                    + "and {t} by the stage's number t (as in a --grads 'X_stage{t}.npy' pattern; like $VAR, a placeholder in single quotes or after a backslash is left as it is; any other {word} reaches CMD as it is, with a warning), "
                    + "e.g. 'python export.py --weights {weights} --out {grads}'. Stage 0 uses --grads (or the example's X).",
                    "If CMD fails (non-zero exit, or no valid X), or the weights cannot be written for it, the run stops: its stderr is shown, --out, --mask and --report get the "
                            + "last completed stage's weights, and the exit code is 1."})
    String gradsCommand;
    @Option(names = "--grads-command-timeout", paramLabel = "DURATION",
            description = "falcon++: the longest each stage's --grads-command may run, in seconds (90) or with a unit: 90s, 15m, 2h "
                    + "(default: no limit). A command still running then is stopped with the processes it started and fails as above (exit 1).")
    String gradsCommandTimeout;

    // ---- outputs
    // the endings a file is taken with (checkOutputs), in lines as written: a reader learnt of .safetensors, and of the
    // mask's .npy, only from a refusal; lines under the description's width, which picocli broke at a dot
    @Option(names = "--out", paramLabel = "pruned.npy", description = {"Pruned weights (float32, shape of the weights file",
            "or [p]); the name ends in .npy, or in .safetensors",
            "for one F32 tensor (named as the weights' tensor,",
            "else \"weights\"); - for stdout (.npy)."})
    Path out;
    @Option(names = "--mask", paramLabel = "mask.npy", description = {"Also write the kept mask (bool, in the weights'",
            "shape), always as .npy: the name ends in .npy;",
            "- for stdout (.npy)."})
    Path mask;
    // two lines as written: left to picocli, the one line broke at "." | "npy or .safetensors", as if a sentence ended there
    @Option(names = "--report", paramLabel = "report.json", description = {"Run report (JSON); - for stdout.",
            "A name ending in .npy or .safetensors is refused."})
    Path report;

    // ---- execution
    @Option(names = {"--device", "--backend"}, paramLabel = "auto|cpu|java|cuda",
            description = "Compute backend (default: -Dfalcon.backend, else auto = the best usable one; `falcon env` lists them).")
    String device;
    @Option(names = "--threads", paramLabel = "N", description = "Worker threads, at most 4 per available processor or 16 (default: available processors); not taken by the single-threaded java backend."
            + " It alone sets the thread count: OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS and OMP_NUM_THREADS are not read (a warning says so where they differ)."
            + " OpenBLAS gets at most the available processors (its idle threads spin); falcon's own kernels split their work into N.")
    Integer threads;
    boolean quiet;

    /**
     * -q given again is taken: picocli refuses any single-value option given twice, which is right for an option with a
     * value (one of the two would go unread) but refused a repeated flag that changes nothing. As an array, each -q is
     * one more element, its value true, or false where given as --quiet=false / -q=false. The last one given is taken,
     * as the value of a flag given once is: counting the elements made --quiet=false (a script's --quiet=$QUIET) quiet.
     */
    @Option(names = {"--quiet", "-q"}, description = "Print only warnings and errors.")
    void quiet(boolean[] given) {
        quiet = given != null && given.length > 0 && given[given.length - 1];
    }

    private final Map<String, Double> timings = new LinkedHashMap<>();
    /** Set where a given --block-size reaches no block model and only sets the cpu backend's panels of X. */
    private String blockSizeNote;
    /** Why the backsolve is not the default exact one (the exact model's n x n systems do not fit), or null. */
    private String backsolveNote;
    /** The run's samples of its own and its mapped files' resident memory, for the report. */
    private SystemInfo.ResidentSampler resident;

    private double startFlopsLevel() { return startKeepFlops != null ? startKeepFlops : startKeep != null ? startKeep : 1.0; }

    private double startNnzLevel() { return startKeepNnz != null ? startKeepNnz : startKeep != null ? startKeep : 1.0; }

    /** The report's name of a pattern's stage file among the inputs. */
    private static String stageOption(int stage) { return "--grads stage " + stage; }

    private boolean gradsPattern() { return dev.falcon.solve.FilePatternGradients.isPattern(grads); }

    /** The --grads file X is read from (stage 0's file for a per-stage pattern). */
    private String gradsFile() { return gradsPattern() ? dev.falcon.solve.FilePatternGradients.fileOf(grads, 0) : grads; }

    @Override
    public Integer call() throws Exception {
        // an earlier prune in this JVM (an embedding, the tests) left its plan: out-of-memory advice before this run plans is the runtime's
        MemoryPlan.runningWith(null, false);
        try (HeldInputs held = new HeldInputs()) {
            return run(held);
        }
    }

    private Integer run(HeldInputs held) throws Exception {
        long start = System.nanoTime();
        RunPhase.set("while checking the inputs");
        PrintWriter outW = spec.commandLine().getOut();
        PrintWriter errW = spec.commandLine().getErr();
        Method m = Method.parse(method, "--method");
        if (!m.available()) {
            throw InputException.of("--method", "value", m.cliName() + " is " + m.unavailableReason(), "use --method mp or --method magnitude");
        }
        validateOptions();
        validateSolverOptions();
        // every backend's vectors need JavaCPP's own library: one line naming its folder, not a stack trace at the first vector
        String runtime = JavaCppRuntime.problem();
        if (runtime != null) throw new InputException(runtime);
        int threadCount = threads != null ? threads : Processors.usable();

        // ---------------------------------------------------------------- describe inputs (no data read)
        ExampleModel model = example != null ? ExampleModels.get(example) : null;
        String runName;
        LayerTable layers = null;
        long p;
        long n = 0;
        RawMatrixSource xSource = null;
        RawMatrixSource[] stageHeaders = null;
        long[] weightsShape = null;
        Map<String, Object> inputs = new LinkedHashMap<>();
        if (model != null) {
            runName = model.name();
            layers = model.layers();
            p = layers.parameters();
            n = rows != null ? rows : model.defaultRows();
            Map<String, Object> ex = new LinkedHashMap<>();
            ex.put("name", model.name());
            ex.put("description", model.description());
            ex.put("rows", n);
            ex.put("seed", seed);
            ex.put("gradients", "synthetic: rank " + ExampleModel.GRADIENT_RANK + " plus noise " + ExampleModel.GRADIENT_NOISE);
            ex.putAll(ExampleModel.generatorFormulas());
            inputs.put("example", ex);
        } else {
            runName = stem(weights);
            // opened before anything reads them, so that the checksums describe the files this run read
            held.holdArray("--weights", weights);
            if (layersFile != null) held.hold("--layers", layersFile); else held.holdArray(costsOption, flopsPerWeight);
            // a pattern's missing stage 0 is left to stageSources, whose message says how {t} counts
            if (grads != null && (!gradsPattern() || Files.exists(ArrayFiles.fileOf(gradsFile())))) held.holdArray("--grads", gradsFile());
            if (linearTerm != null) held.holdArray("--linear-term", linearTerm);
            long pw = ArrayFiles.length(weights, "--weights");
            p = pw;
            if (pw > dev.falcon.select.FlopAwareSelector.MAX_WEIGHTS) {
                // before the memory check, whose advice (more heap, a larger machine) cannot help here
                throw InputException.of(weights, "--weights", "holds " + tooManyWeights(pw), TOO_MANY_WEIGHTS_FIX);
            }
            if (layersFile != null) {
                layers = readLayers(layersFile);
                if (layers.parameters() != pw) {
                    throw InputException.of(layersFile, "layers", "the layer table covers p = " + layers.parameters() + " weights but "
                            + weights + " (--weights) holds p = " + pw, "make the layer table and the weights describe the same model");
                }
            } else {
                long pf = ArrayFiles.length(flopsPerWeight, costsOption);
                if (pf != pw) {
                    throw InputException.of(flopsPerWeight, costsOption, "holds p = " + pf + " values but " + weights
                            + " (--weights) holds p = " + pw, "give one FLOP cost per weight");
                }
            }
            if (grads != null) {
                if (gradsPattern()) {
                    // headers of every stage file, before any work: missing or mismatched files fail here
                    try {
                        stageHeaders = FilePatternGradients.stageSources(grads, stages, "--grads");
                    } catch (InputException fileProblem) {
                        // a pattern the schedule never reads is refused first: the file's refusal sent the user to
                        // write the stage files, and the next run refused the pattern they belong to
                        refuseAPatternTheScheduleNeverReads(m, layers, pw, errW);
                        throw fileProblem;
                    }
                    // watched, not held: --stages may name more files than a process may keep open (each is held while its stage reads it)
                    for (int stage = 1; stage < stages; stage++) held.watchArray(stageOption(stage), FilePatternGradients.fileOf(grads, stage));
                }
                xSource = ArrayFiles.matrixSource(gradsFile(), "--grads");
                if (xSource.cols() != pw) {
                    throw InputException.of(gradsFile(), "--grads", "X has p = " + xSource.cols() + " columns (shape " + xSource.rows() + " x "
                            + xSource.cols() + ") but " + weights + " (--weights) holds p = " + pw,
                            "X must be n x p with one column per weight, in the weights' flatten order");
                }
                n = xSource.rows();
            }
            if (linearTerm != null) {
                long pg = ArrayFiles.length(linearTerm, "--linear-term");
                if (pg != pw) throw InputException.of(linearTerm, "--linear-term", "holds p = " + pg + " values but " + weights + " (--weights) holds p = " + pw, "give one value per weight");
            }
            weightsShape = weightsShape(weights);
        }
        Path outPath = out != null ? out : Path.of("out", runName + "-" + m.cliName() + "-pruned.npy");
        Path reportPath = report != null ? report : Path.of("out", runName + "-" + m.cliName() + "-report.json");
        checkOutputs(outPath, reportPath, p, layers != null ? layers.size() : 0);
        if (gradsCommand != null) {
            String cramped = dev.falcon.solve.CommandGradients.checkTemporaryDirectory(n, p);
            if (cramped != null && !quiet) errW.println(cramped);
        }

        // known once n is, and a usage error like the other options' (found before the backend's note and the loading)
        double ridgeLambda = convention.toRidgeLambda(lambda, n);
        if (ridgeLambda > Pruner.MAX_LAMBDA) {
            throw InputException.of("--lambda", "value", typed("--lambda", lambda) + " in the authors' convention is lambda = " + Numbers.shown(ridgeLambda)
                    + " with n = " + n + ", above " + Numbers.shown(Pruner.MAX_LAMBDA), "give a smaller --lambda");
        }

        // ---------------------------------------------------------------- memory plan, before loading
        ComputeBackend backendProbe = null;
        Backends.Choice choice;
        // the report's "backend" phase: choosing probes the backends (loads their native libraries), 0.4-1 s of a small run
        long choosing = System.nanoTime();
        try {
            // the message is labelled below with --device or the property: choose(name) would name the property again
            // and send the user to Backends.choose("auto") instead of --device auto
            choice = Backends.choose(device, "--device auto");
        } catch (dev.falcon.backend.BackendSettingException e) {
            // names the setting (an environment variable) and its fix: --device is not what is wrong
            throw new InputException(e.getMessage());
        } catch (IllegalArgumentException | IllegalStateException e) {
            // without --device the name came from the system property: naming --device would send the user to an
            // option they never gave
            boolean fromProperty = device == null && System.getProperty(Backends.PROPERTY) != null;
            throw InputException.of(fromProperty ? "-D" + Backends.PROPERTY : typedName("--device"), "value", e.getMessage(),
                    fromProperty ? "fix or remove -D" + Backends.PROPERTY + " (e.g. in FALCON_JAVA_OPTS), or give --device; run `falcon env` to see which backends are usable"
                            : "run `falcon env` to see which backends are usable");
        }
        double choosingSeconds = secs(choosing);
        if (threads != null && choice.provider().name().equals("java")) {
            // Asked for java, --threads is a contradiction; reached by auto because cpu cannot load here, a script's
            // --threads is right for the machines where it can, and refusing would stop the run for nothing.
            if (deviceAskedFor().equals("java")) {
                throw InputException.of("--threads", "option", "is not read by the java backend (the plain-Java reference runs on one thread)",
                        "drop it, or use --device cpu (`falcon env` says whether it is usable here)");
            }
            errW.println("falcon: warning: --threads " + threads + " is not read by the java backend, which runs on one thread ("
                    + choice.explanation() + ")");
        }
        if (!choice.provider().name().equals("java")) {
            // the cpu backend (and cuda's host side) set OpenBLAS's count from --threads before each call
            String overridden = ThreadVariables.warning(ThreadVariables.environment.get(), threadCount,
                    dev.falcon.cpu.CpuBackend.openBlasThreadsFor(threadCount));
            if (overridden != null) errW.println("falcon: warning: " + overridden);
        }
        Backsolve.Mode backsolveMode = backsolveMode(m);
        boolean solver = m == Method.FALCON || m == Method.FALCON_PLUS_PLUS || backsolveMode != Backsolve.Mode.NONE;
        if (solver && model == null && grads == null) {
            throw InputException.of("--grads", "option", "missing: " + (m == Method.MP ? "--backsolve" : "--method " + m.cliName()) + " needs the gradients X",
                    "give --grads X.npy (n x p per-sample gradients), or use --example");
        }
        boolean javaBackend = choice.provider().name().equals("java");
        if ((m == Method.FALCON || m == Method.FALCON_PLUS_PLUS) && n > dev.falcon.solve.FalconSolver.MAX_ROWS) {
            throw InputException.of(model != null ? "--n" : gradsFile(), model != null ? "value" : "--grads",
                    (model != null ? "is " + n : "X has n = " + n + " rows") + "; --method " + m.cliName() + " takes at most "
                            + dev.falcon.solve.FalconSolver.MAX_ROWS + " rows (its n x n matrices are Java arrays)",
                    "use at most " + dev.falcon.solve.FalconSolver.MAX_ROWS + " samples, or --method mp --backsolve"
                            + (javaBackend ? " with --device cpu or cuda (the java backend indexes its n x n matrices with Java ints)" : ""));
        }
        long blockWidth = Math.min(blockSize, layers != null ? MemoryPlan.largestLayer(layers) : p);
        if (javaBackend && backsolveMode != Backsolve.Mode.NONE && n > dev.falcon.backend.JavaBackend.MAX_SQUARE_ROWS
                && (backsolveMode == Backsolve.Mode.EXACT || blockWidth > JAVA_BACKEND_WIDEST_BLOCK)) {
            // the java backend indexes its n x n Gram and Cholesky factor with ints: n * n overflowed int into a
            // NegativeArraySizeException (an internal error) after X was loaded. The exact backsolve always forms the
            // support's n x n Gram; a block backsolve forms only its blocks' (|K_B| + 2)-square systems where the blocks
            // are narrower than n.
            boolean exact = backsolveMode == Backsolve.Mode.EXACT;
            String narrowBlocks = "--block-size " + JAVA_BACKEND_WIDEST_BLOCK + " or less";
            throw InputException.of(model != null ? "--n" : gradsFile(), model != null ? "value" : "--grads",
                    (model != null ? "is " + n : "X has n = " + n + " rows") + "; --backsolve " + backsolveMode.cliName()
                            + (exact ? "" : " with blocks wider than " + JAVA_BACKEND_WIDEST_BLOCK + " weights") + " takes at most "
                            + dev.falcon.backend.JavaBackend.MAX_SQUARE_ROWS + " rows on the java backend"
                            + (exact ? " (it indexes its n x n matrices with Java ints)" : " (it indexes its blocks' systems, up to n x n, with Java ints)"),
                    "use --device cpu or cuda (`falcon env` says which is usable here), at most " + dev.falcon.backend.JavaBackend.MAX_SQUARE_ROWS + " samples, or "
                            + (exact ? "--backsolve block" + (blockWidth > JAVA_BACKEND_WIDEST_BLOCK ? " with " + narrowBlocks : "") : narrowBlocks));
        }
        // with --flops-per-weight the layers are known only once that file is read: a block may be as wide as p, and the
        // selection may group them by cost (two masks at once)
        MemoryPlan plan = MemoryPlan.of(p, n, xSource, model != null, choice.provider().name(), linearTerm != null, flopsPerWeight != null,
                systems(m, solver, backsolveMode), blockSize, layers != null ? MemoryPlan.largestLayer(layers) : p,
                // magnitude ranks off-heap, but with X the report's lower bound runs the FLOP-aware selection, mask and all
                // (Objective.lowerBound): uncounted, FALCON_HEAP=16m passed the check and died of heap OOM after the prune
                layers != null && MemoryPlan.oneBlock(layers, blockSize), m != Method.MAGNITUDE || model != null || xSource != null,
                layers != null ? dev.falcon.select.FlopAwareSelector.heapBytesPerWeight(layers) : 2);
        // falcon++ with a pattern or a command holds stage 0's X and the current stage's, each as it is stored: a pattern's
        // later files as their headers (read above) say, a command's X as a copy
        if (m == Method.FALCON_PLUS_PLUS && gradsCommand != null) plan = plan.holdingCommandX();
        else if (m == Method.FALCON_PLUS_PLUS && gradsPattern() && stageHeaders != null) plan = plan.holdingStagesX(stageHeaders, stage -> FilePatternGradients.fileOf(grads, stage));
        MemoryPlan exactPlan = null; // where block is taken for it: the plan with the default exact backsolve
        // exact is the default where memory allows
        if (backsolve == null && backsolveMode == Backsolve.Mode.EXACT && plan.backsolveThatFits() != plan) {
            MemoryPlan block = plan.backsolveThatFits();
            // exact's figures at the heap limit exact needs: at one too small for its heap they understated its need
            MemoryPlan exactAsRun = plan.atTheHeapLimitItNeeds(MemoryPlan.heapLimitOfThisJvm());
            backsolveNote = "backsolve block (block-diagonal, blocks of at most --block-size " + blockSize + " weights) instead of the default exact,"
                    + " which does not fit: with exact the run needs about " + SystemInfo.bytes(exactAsRun.needed()) + " (" + SystemInfo.bytes(plan.systemsBytes())
                    + " of it n x n systems at n = " + n + "), more than the " + SystemInfo.bytes(exactAsRun.available()) + " available, with block about "
                    + SystemInfo.bytes(block.needed()) + " (" + SystemInfo.bytes(block.systemsBytes()) + "); Q can be far higher with block;"
                    + " --backsolve exact insists on exact (refused with this memory)";
            backsolveMode = Backsolve.Mode.BLOCK;
            exactPlan = plan;
            plan = block;
        }
        if (solver) blockSizeNote = blockSizeOnlyForPanels(m, backsolveMode, choice.provider().name(), model, xSource);
        // the options its offers of another method, or of no --grads, must say to drop: prune refuses what it does not read
        MemoryPlan.runningWith(plan, model != null);
        plan.check(model, xSource, backsolveMode == Backsolve.Mode.EXACT, optionsNotReadWith(Method.MP, model != null), optionsNotReadWith(m, false),
                m == Method.MAGNITUDE, MemoryPlan.heapLimitOfThisJvm(), exactPlan);
        if (backsolveNote != null && !quiet) {
            // said when it is decided: the summary's note came only at the end of a run that block made many times longer
            MemoryPlan exactAsRun = exactPlan.atTheHeapLimitItNeeds(MemoryPlan.heapLimitOfThisJvm());
            errW.println("falcon: taking --backsolve block: the default exact needs about " + SystemInfo.bytes(exactAsRun.needed()) + ", more than the "
                    + SystemInfo.bytes(exactAsRun.available()) + " available (block about " + SystemInfo.bytes(plan.needed()) + "). Block is often far"
                    + " slower (its higher Q lets the support searches run, which exact's Q near its bound often skips) and its Q can be"
                    + " far higher; with the memory exact needs it is the default again (see README, \"Memory\")");
        }
        String heapWarning = plan.heapLimitWarning(MemoryPlan.heapLimitOfThisJvm());
        if (heapWarning != null) errW.println("falcon: warning: " + heapWarning);

        // Budgets are resolved as early as the layer table is known, so bad budgets fail before heavy work.
        Budgets budgets = layers != null ? resolveBudgets(layers) : null;
        if (budgets != null) checkStartLevels(m, layers, budgets, errW);
        // the one line on the backend (the library logs it at INFO; the CLI keeps its log to warnings and says it here),
        // after the usage errors that can be found before loading: it came before them, a long note above a one-line error
        if (!quiet) errW.println("falcon: " + choice.explanation());

        long startingBackend = System.nanoTime();
        try (SystemInfo.ResidentSampler sampler = new SystemInfo.ResidentSampler();
             Progress progress = new Progress(errW, quiet);
             ComputeBackend backend = choice.create(threadCount);
             Pruner pruner = new Pruner(backend);
             Resources res = new Resources()) {
            resident = sampler;
            if (backend.openBlasThreads() > 0 && backend.openBlasThreads() < backend.threads()) {
                // OpenBLAS's Grams round by its own count, so a solve's Lipschitz constant and DFO steps are those of
                // --threads N where N is OpenBLAS's count, not the requested one: say so rather than let the report's
                // "--threads 2" stand for results a 2-processor run would not give
                errW.println("falcon: warning: --threads " + backend.threads() + " but this process may use "
                        + Numbers.counted(Processors.usable(), "processor")
                        + " (" + Processors.reason() + "): OpenBLAS runs on " + Numbers.counted(backend.openBlasThreads(), "thread")
                        + ", whose rounding the results follow: they can differ from those of --threads "
                        + backend.threads() + " on " + backend.threads() + " processors; the report's backend.openblas_threads says the count used");
            }
            // Everything before loading is in one of two phases, by construction: they left 2-3 s of a small run's
            // 3 s total in no phase. "backend": choosing it and starting it (the resources above, the backend's own
            // start-up among them); "checks": the rest, the options, the inputs' headers, the layer table, the outputs,
            // the memory plan and the budgets (on a small run mostly the JVM's first use of their classes: the layer
            // table's JSON reader took 0.6 s).
            double backendSeconds = choosingSeconds + secs(startingBackend);
            timings.put("checks", secs(start) - backendSeconds);
            timings.put("backend", backendSeconds);
            // ------------------------------------------------------------ load
            progress.begin("loading inputs");
            RunPhase.set("while loading the inputs");
            long t = System.nanoTime();
            if (model != null) {
                res.weights = model.syntheticWeights(seed);
            } else {
                if (layers == null) {
                    layers = layersFromFlops(flopsPerWeight, costsOption, p);
                    budgets = resolveBudgets(layers);
                    checkStartLevels(m, layers, budgets, errW);
                }
                res.weights = ArrayFiles.readWeights(weights, "--weights", p);
                // as X's below: float64 weights are rounded to float32, which the report alone can tell afterwards
                ArrayFiles.Conversion weightsType = ArrayFiles.conversionToFloat32(weights, "--weights");
                inputs.put("weights_file_dtype", weightsType.fileType());
                inputs.put("weights_conversion", weightsType.conversion());
                if (linearTerm != null) res.g = ArrayFiles.readVector(linearTerm, "--linear-term", p);
            }
            timings.put("load", secs(t));
            if (model != null && n > 0) {
                progress.begin("generating synthetic gradients (" + n + " x " + p + ")");
                RunPhase.set("while generating the example's gradients");
                t = System.nanoTime();
                res.x = model.syntheticGradients(backend, Math.toIntExact(n), seed, Backsolve.blockStarts(layers, blockSize));
                timings.put("synthesize_gradients", secs(t));
            } else if (xSource != null) {
                progress.begin("loading X (" + xSource.rows() + " x " + xSource.cols() + ")");
                RunPhase.set("while loading X (" + gradsFile() + ")");
                t = System.nanoTime();
                res.x = backend.load(xSource, Backsolve.blockStarts(layers, blockSize));
                FilePatternGradients.checkFinite(backend, res.x, gradsFile(), "--grads");
                timings.put("load", timings.get("load") + secs(t));
            }
            held.checkUnchanged("while falcon read it");
            if (res.x != null) inputs.put("x_storage", "float32 " + res.x.layout() + ", " + res.x.origin());
            if (xSource != null) {
                inputs.put("x_file_dtype", xSource.fileType());
                // "none" only where X is used in place: a float32 X copied in full (C order into panels, or a file the
                // backend does not map) read "none: float32 copied into ...", which a script taking the first word, and
                // a reader, took for no conversion, beside a copy of n x p floats
                inputs.put("x_conversion", xSource.conversionInto(res.x));
                if (!quiet && xSource.type() != dev.falcon.data.ElementType.FLOAT32) {
                    errW.println("falcon: X (" + gradsFile() + ") is " + xSource.type().name().toLowerCase(Locale.ROOT) + "; converted once to float32");
                }
                if (!quiet && MemoryPlan.unalignedForMapping(xSource) && backend.name().equals("cpu")) {
                    // the cpu backend maps a float32 Fortran-order X in place: a copy of one is as worth telling as a conversion
                    errW.println("falcon: X (" + gradsFile() + ") is float32 in Fortran order, but " + MemoryPlan.unalignedReason(xSource)
                            + " rather than mapped in place: re-save it with np.save, which aligns the data");
                }
                if (!quiet && m == Method.FALCON_PLUS_PLUS && stageHeaders != null) {
                    // stage 0's conversion was told and the later stages' were silent: the report alone named them
                    for (int stage = 1; stage < stageHeaders.length; stage++) {
                        if (stageHeaders[stage].type() != dev.falcon.data.ElementType.FLOAT32) {
                            errW.println("falcon: X of stage " + stage + " (" + FilePatternGradients.fileOf(grads, stage) + ") is "
                                    + stageHeaders[stage].type().name().toLowerCase(Locale.ROOT) + "; converted once to float32 when stage " + stage + " is reached");
                        }
                    }
                }
            }

            // ------------------------------------------------------------ prune
            progress.begin("pruning (" + m.cliName() + ")");
            RunPhase.set("while pruning (" + m.cliName() + ")"); // falcon++ names the stage and its step
            t = System.nanoTime();
            Pruner.SolverInputs solverInputs = null;
            if (solver) {
                SolverOptions opt = SolverOptions.defaults().withMaxIterations(maxIterations).withTolerance(tolerance)
                        .withBacksolve(m == Method.MP ? Backsolve.Mode.EXACT : backsolveMode).withBlockSize(blockSize)
                        .withHessian(SolverOptions.HessianModel.parse(hessian, "--hessian"))
                        .withMaxRounds(rounds).withSwapCandidates(swapCandidates).withStableIterations(stableIterations)
                        .withActiveSetMaxBytes(plan.activeSetBytes());
                MultiStage.GradientSource source = null;
                if (m == Method.FALCON_PLUS_PLUS && gradsPattern()) {
                    // each stage holds the file it reads and hashes it then: the checksum is of what it read, also where
                    // the path was renamed over (a newer export) since the run started
                    source = new dev.falcon.solve.FilePatternGradients(backend, res.x, grads, stages, "--grads", new FilePatternGradients.StageFiles() {
                        @Override
                        public void loading(int stage, Path file) { held.loadingStage(stageOption(stage), file); }

                        @Override
                        public void loaded(int stage, Path file) { held.loadedStage(stageOption(stage), CHECKSUM_LIMIT); }
                    });
                } else if (m == Method.FALCON_PLUS_PLUS && gradsCommand != null) {
                    // its warning of an unknown {word} (braces of the command's own look the same as a misspelt {t}) comes
                    // through the library's log, which prints it as "falcon: warning: --grads-command: ...": printed here
                    // too, it came twice
                    source = new dev.falcon.solve.CommandGradients(backend, res.x, gradsCommand, quiet ? null : errW, commandTimeout,
                            dev.falcon.solve.CommandGradients.Names.CLI);
                }
                res.source = source;
                // the API refuses a plan given to a method that does not read it, as prune refuses --stages without falcon++
                Pruner.StagePlan stagePlan = m != Method.FALCON_PLUS_PLUS ? null : new Pruner.StagePlan(stages, MultiStage.Schedule.parse(schedule, "--schedule"), startNnzLevel(), startFlopsLevel(), source);
                solverInputs = new Pruner.SolverInputs(res.x, res.g, ridgeLambda, opt, m == Method.MP ? backsolveMode : null, stagePlan);
            }
            try {
                res.result = pruner.prune(m, res.weights, layers, budgets, solverInputs);
            } catch (dev.falcon.solve.FalconSolver.ValuesTooLarge e) {
                // the API names X by its origin and the linear term as g; here they are the options, in the CLI's own words
                String hint = dev.falcon.solve.FalconSolver.ValuesTooLarge.FILE_RANGES_HINT;
                if (e.xAlone()) throw new InputException("--grads: values: " + e.problem() + hint, e);
                throw new InputException("--grads, --weights or --linear-term: values: the gradient's products (X^T X (w - wbar), lambda"
                        + " (w - wbar), + g) overflow float32: X, the weights or the linear term hold values too large; rescale the largest"
                        + " of them, e.g. divide X by its largest magnitude, or the weights and the linear term by theirs" + hint, e);
            }
            PruneResult r = res.result;
            if (r.solve() != null) timings.put("solve", solveSeconds(r.solve(), held));
            timings.put("score", r.scoreSeconds());
            timings.put("selection", r.selectSeconds());
            timings.put("apply", r.applySeconds());

            // ------------------------------------------------------------ objective
            Map<String, Object> objective = null;
            if (res.x != null) {
                progress.begin("objective");
                RunPhase.set("while computing the objective");
                t = System.nanoTime();
                // a solver measured this Q already, on the same X, weights, g and lambda: another pass over X, at the cost
                // floor of a run, gave the same value
                Objective.Value measured = r.solve() != null ? r.solve().objectiveAfter() : null;
                Objective.Value after = measured != null ? measured
                        : Objective.evaluate(backend, res.x, r.prunedWeights(), res.weights, res.g, ridgeLambda);
                objective = objectiveReport(after, n);
                if (res.source != null) {
                    // the stages saw other X; Q before and after is measured on the one at the dense weights
                    objective.put("x", "stage 0's X (" + (model != null ? "the example's" : gradsFile()) + "), at the dense weights");
                }
                objective.put("lower_bound", lowerBoundReport(backend, res, layers, budgets, after, withinBudgets(r, budgets)));
                if (r.solve() != null) {
                    objective.put("solver", solverReport(r, budgets, held));
                }
                // with the solver's measuring of Q (inside the pruning above), which its solve time leaves out
                timings.put("objective", secs(t) + (r.solve() != null ? r.solve().objectiveSeconds() : 0));
            }

            // ------------------------------------------------------------ checksums
            Map<String, Object> checksums = new LinkedHashMap<>();
            if (model == null) {
                progress.begin("checksums");
                RunPhase.set("while computing the input checksums");
                t = System.nanoTime();
                checksums.put("--weights", held.checksum("--weights", CHECKSUM_LIMIT));
                if (layersFile != null) checksums.put("--layers", held.checksum("--layers", CHECKSUM_LIMIT));
                if (flopsPerWeight != null) checksums.put(costsOption, held.checksum(costsOption, CHECKSUM_LIMIT));
                if (grads != null) checksums.put("--grads", held.checksum("--grads", CHECKSUM_LIMIT));
                if (gradsPattern() && r.solve() != null && r.solve().multiStage() != null) {
                    // every stage of a pattern read its own X: each file is an input of the result
                    for (MultiStage.Stage st : r.solve().multiStage().stages()) {
                        // a stage not solved did not read its file (its row says "not asked for")
                        if (st.stage() > 0 && held.readByItsStage(stageOption(st.stage()))) checksums.put(stageOption(st.stage()), held.checksum(stageOption(st.stage()), CHECKSUM_LIMIT));
                    }
                }
                if (linearTerm != null) checksums.put("--linear-term", held.checksum("--linear-term", CHECKSUM_LIMIT));
                timings.put("checksum", secs(t) + held.stageChecksumSeconds());
            }

            // ------------------------------------------------------------ write (all or nothing)
            progress.begin("writing outputs");
            RunPhase.set("while writing the outputs");
            t = System.nanoTime();
            try (AtomicFiles.Batch batch = new AtomicFiles.Batch()) {
                List<Path> written = new ArrayList<>(List.of(shown("--out", outPath)));
                if (mask != null) written.add(shown("--mask", mask));
                written.add(shown("--report", reportPath));
                RunPhase.outputs(batch, written);
                long[] shape = weightsShape != null ? weightsShape : new long[] {p};
                add(batch, "--out", outPath, weightsContent(outPath, r.prunedWeights(), shape, m));
                if (mask != null) add(batch, "--mask", mask, Npy.boolContent(mask, r.mask(), shape)); // lines up with --out
                timings.put("write", secs(t));
                progress.end();
                timings.put("total", secs(start));
                Map<String, Object> reportMap = buildReport(m, model, inputs, checksums, layers, budgets, r, objective, backend, choice,
                        plan, outPath, reportPath);
                ObjectMapper mapper = reportMapper();
                add(batch, "--report", reportPath, temp -> Files.write(temp, LateNumber.serialize(mapper, reportMap)));
                batch.commit();
            }
            RunPhase.set("after writing the outputs");
            // an output on stdout has it to itself: the summary followed the array, and the consumer read text after it
            if (!quiet) printSummary(toStdout.isEmpty() ? outW : errW, m, runName, layers, budgets, r, objective, backend, outPath, reportPath, held);
            MultiStage.Result ms = r.solve() != null ? r.solve().multiStage() : null;
            if (ms != null && ms.stopped() != null) {
                errW.println("falcon: error: falcon++ stopped after stage " + ms.lastCompletedStage() + " of 0.." + (stages - 1) + ": " + stoppedInOneLine(ms));
                if (quiet && ms.stoppedOutput() != null) {
                    // --quiet kept the command's output off stderr as it ran: its end is all the user has of it
                    for (String line : ms.stoppedOutput().split("\n", -1)) {
                        errW.println("  " + dev.falcon.solve.CommandGradients.outputMark(ms.lastCompletedStage() + 1) + " " + line);
                    }
                }
                errW.println("falcon: " + shown("--out", outPath) + " holds the weights of stage " + ms.lastCompletedStage() + " (the last completed stage); "
                        + shown("--report", reportPath) + " says so (objective.solver.stopped)");
                errW.flush();
                return Main.INTERNAL;
            }
        }
        return Main.OK;
    }

    // ---------------------------------------------------------------- validation

    /** falcon++'s start levels against the budgets, as soon as these are known: before X is read. */
    private void checkStartLevels(Method m, LayerTable layers, Budgets budgets, PrintWriter errW) {
        if (m != Method.FALCON_PLUS_PLUS) return;
        // A start level for a budget that stays dense would be dropped by the schedule without a word
        if (startKeepFlops != null && budgets.flopsFraction() >= 1) {
            throw InputException.of("--start-keep-flops", "option", "there is no FLOP budget to schedule (the FLOP budget is the dense FLOPs)",
                    "give --keep-flops or --flops, or drop --start-keep-flops");
        }
        if (startKeepNnz != null && budgets.nnzFraction() >= 1) {
            throw InputException.of("--start-keep-nnz", "option", "there is no NNZ budget to schedule (the NNZ budget is every weight)",
                    "give --keep-nnz, --nnz or --sparsity, or drop --start-keep-nnz");
        }
        // --start-keep only fills the levels the specific options leave unset, and a level only matters for a budget below dense
        if (startKeep != null && (startKeepFlops != null || budgets.flopsFraction() >= 1) && (startKeepNnz != null || budgets.nnzFraction() >= 1)) {
            String flopsLevel = startKeepFlops != null ? "--start-keep-flops gives the FLOP level" : "there is no FLOP budget to schedule";
            String nnzLevel = startKeepNnz != null ? "--start-keep-nnz gives the NNZ level" : "there is no NNZ budget to schedule";
            throw InputException.of("--start-keep", "option", "is not read: " + flopsLevel + " and " + nnzLevel, "drop it");
        }
        // (a target of 1 is no budget at all: then any start level only moves the other budget)
        // named after the option that gave the level: --start-keep alone must not send the user to one never given
        MultiStage.requireStartsAtOrAboveTargets(new MultiStage.StartLevelNames(startKeepNnz != null ? "--start-keep-nnz" : "--start-keep",
                startKeepFlops != null ? "--start-keep-flops" : "--start-keep", true), startNnzLevel(), budgets.nnzFraction(), startFlopsLevel(),
                budgets.flopsFraction());
        refuseGradientSourcesTheScheduleNeverReads(true, layers, budgets);
        refuseACommandTheDenseStartNeverRuns(budgets);
        // Without a gradient source nothing goes unread: the run goes on. But a one-stage run was reported as T stages
        // without a word, whether asked for by name (--schedule const) or by a start level typed at its target (0.3 for 0.8).
        if (stages > 1 && constantSchedule()) {
            errW.println("falcon: warning: " + aConstantScheduleIsOneStage(budgets));
            return;
        }
        String why = stages > 1 ? whyTheScheduleNeverChangesTheBudgets(layers, budgets) : null;
        if (why != null) {
            errW.println("falcon: warning: every stage runs at the final budgets with " + why + ": stages 1.." + (stages - 1)
                    + " keep stage 0's weights and are not solved, a one-stage run; " + fixForAScheduleThatNeverMoves(budgets)
                    + " for a schedule, or --stages 1 without start levels");
        }
    }

    /**
     * The warning for --schedule const at two stages or more with one X, and advice that schedules: at --stages 2 the
     * other schedules run stage 0 at the start levels, dense by default, so leaving const alone left stage 0 pruning
     * nothing and one solve; a start level is refused with const, so it is offered only with the way off it.
     */
    private String aConstantScheduleIsOneStage(Budgets budgets) {
        boolean dense = budgetsAreDense(budgets);
        // at dense budgets, halfway between the --keep-flops offered with it and 1, as startLevelsAboveTheTargets offers
        String startLevel = dense ? "--start-keep " + Numbers.shown((KEEP_FLOPS_OFFERED_BELOW_DENSE + 1) / 2) : startLevelsAboveTheTargets(budgets);
        String offConstant = stages == 2 ? "drop --schedule const and give a --start-keep above the targets, below 1 (e.g. " + startLevel + ")"
                : "use --schedule poly, linear or exp";
        String fix = !dense ? offConstant : fixForAScheduleThatNeverMoves(budgets) + (stages == 2 ? ", " : " and ") + offConstant;
        return "--schedule const runs every stage at the final budgets" + (dense ? ", here " + DENSE_TARGETS : "") + ": stages 1.." + (stages - 1)
                + " keep stage 0's weights and are not solved, so with one X this is a one-stage run; for a schedule " + fix
                + ", or give --stages 1 without --schedule const";
    }

    /**
     * The checks of {@link #checkStartLevels} that need the layer table, made early for a pattern whose stage files
     * fail their check: with --flops-per-weight the table is otherwise read only with the other inputs, after the
     * files. Returns where nothing refuses the pattern, for the caller to refuse the files.
     */
    private void refuseAPatternTheScheduleNeverReads(Method m, LayerTable layers, long p, PrintWriter errW) {
        if (m != Method.FALCON_PLUS_PLUS) return;
        LayerTable table = layers != null ? layers : layersFromFlops(flopsPerWeight, costsOption, p);
        checkStartLevels(m, table, resolveBudgets(table), errW);
    }

    /**
     * The backend asked for: --device, else -Dfalcon.backend, else auto (which may reach java where cpu cannot load), as
     * Backends matches it (trimmed, lower case): read raw, --device "java " ran java as requested but was given the
     * advice and the warning meant for auto.
     */
    private String deviceAskedFor() {
        return Backends.requestedName(device);
    }

    private void validateOptions() {
        convention = Objective.Convention.parse(lambdaConvention, "--lambda-convention");
        if (flopsCostsFile != null && flopsCostsFile.isEmpty()) {
            // taken as a path, "" is the current folder: "both given" beside --layers, "is a directory" without
            throw InputException.of("--flops", "value", "is empty", "give the FLOP budget as a number, e.g. --flops 1.2e7 or --keep-flops 0.3,"
                    + " or the per-weight FLOP costs as a file, f.npy");
        }
        if (flopsCostsFile != null) {
            if (!Files.exists(ArrayFiles.fileOf(flopsCostsFile))) {
                throw InputException.of("--flops", "value", "'" + flopsCostsFile + "' is neither a number (the FLOP budget) nor a file (per-weight FLOP costs)",
                        "give the budget as a number, e.g. --flops 1.2e7 or --keep-flops 0.3, or the costs as an existing f.npy");
            }
            if (flopsPerWeight != null) {
                throw InputException.of("--flops/--flops-per-weight", "option", "both name a file of per-weight FLOP costs", "give one of them");
            }
            flopsPerWeight = flopsCostsFile;
            costsOption = "--flops";
        }
        // one option per budget, before anything is read: --flops-per-weight's layers (and so the budgets) are known only
        // once its file is loaded, after the backend's note
        Budgets.checkOneOptionEach(keepFlops, flops, keepNnz, nnz, sparsity, Budgets.ArgumentNames.CLI);
        if (example != null) {
            for (Object[] o : new Object[][] {{"--grads", grads}, {"--weights", weights}, {"--layers", layersFile},
                    {costsOption, flopsPerWeight}, {"--linear-term", linearTerm}}) {
                if (o[1] != null) throw InputException.of(o[0], "option", "cannot be combined with --example (the example brings its own data)", "drop " + o[0] + " or --example");
            }
            if (rows != null && rows <= 0) throw InputException.of("--n", "value", "is " + rows + ", it must be at least 1", "give the number of synthetic gradient rows, e.g. --n 64");
        } else {
            if (weights == null) {
                throw InputException.of("prune", "inputs", "no model given", "use --example resnet20|mobilenetv1|resnet50, or --weights w.npy with --layers layers.json or --flops-per-weight f.npy");
            }
            if (layersFile == null && flopsPerWeight == null) throw InputException.of("--layers", "option", "missing: the FLOP cost of each weight is needed", "give --layers layers.json or --flops-per-weight f.npy");
            if (layersFile != null && flopsPerWeight != null) throw InputException.of("--layers/" + costsOption, "option", "both given", "give one of them");
            if (rows != null) throw InputException.of("--n", "option", "only applies to --example", "the rows of X come from --grads");
        }
        // the java backend reads no --threads and refuses every value: "omit it to use every processor" was read there as
        // a call for --threads 1, refused in turn
        String threadsFix = deviceAskedFor().equals("java") ? "drop it: the java backend runs on one thread and reads no --threads"
                : "omit it to use every processor";
        if (threads != null && threads < 1) throw InputException.of("--threads", "value", "is " + threads + ", it must be at least 1", threadsFix);
        int processors = Processors.usable(), mostThreads = Backends.mostThreads();
        if (threads != null && threads > mostThreads) {
            // every kernel call starts its threads: a mistyped --threads 100000 spent seconds creating them on a tiny run
            throw InputException.of("--threads", "value", "is " + threads + ", more than " + mostThreads + " (4 per available processor, "
                    + processors + " here, or 16): falcon's kernels start their threads on every call, and threads beyond the cores only add switching",
                    threadsFix);
        }
    }

    /**
     * --block-size is read by the block models only (--hessian block, --backsolve block|sweep). Without them it still cuts
     * X into panels of that width on the cpu backend, which changes the speed and, through the order of the sums, the
     * results by rounding; on the java and cuda backends, or for an X mapped in place, a given value was dropped unread.
     * That is refused where the user asked for such a backend; where auto chose it, or the file's order decides, the same
     * command line is right on other machines or for other files, so the run goes on and the note says it was not read.
     *
     * @return what the summary and the report say where it only sets the panels or is not read; null where a block model reads it
     */
    private String blockSizeOnlyForPanels(Method m, Backsolve.Mode backsolveMode, String backendName, ExampleModel model, RawMatrixSource xSource) {
        picocli.CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (given == null || !given.hasMatchedOption("--block-size")) return null;
        boolean falcon = m == Method.FALCON || m == Method.FALCON_PLUS_PLUS;
        if (falcon && hessian.trim().equalsIgnoreCase("block") || backsolveMode == Backsolve.Mode.BLOCK || backsolveMode == Backsolve.Mode.SWEEP) return null;
        String exactModels = (falcon ? "--hessian exact and --backsolve " + backsolveMode.cliName() + " read" : "--backsolve " + backsolveMode.cliName() + " reads")
                + " no blocks";
        String fix = "drop it, or give " + (falcon ? "--hessian block or " : "") + "--backsolve block|sweep";
        if (!backendName.equals("cpu")) {
            String why = exactModels + ", and the " + backendName + " backend keeps X column-major (only the cpu backend cuts X into panels of this width)";
            if (deviceAskedFor().equals(backendName)) throw InputException.of("--block-size", "option", "is not read here: " + why, fix);
            return "--block-size " + blockSize + " is not read: " + why;
        }
        if (model == null && xSource != null && xSource.isInternalLayout()) {
            return "--block-size " + blockSize + " is not read: " + exactModels + ", and X (" + gradsFile()
                    + ") is float32 in Fortran order, which the cpu backend maps in place instead of cutting it into panels of this width";
        }
        return "--block-size " + blockSize + " sets only the width of X's panels on the cpu backend (" + exactModels
                + "): it changes the speed, and the results only by rounding (the order of the sums)";
    }

    /** The n x n systems the run holds at its peak, for the memory plan. */
    private MemoryPlan.Systems systems(Method m, boolean solver, Backsolve.Mode backsolveMode) {
        if (!solver) return MemoryPlan.Systems.NONE;
        boolean falcon = m == Method.FALCON || m == Method.FALCON_PLUS_PLUS;
        if (backsolveMode == Backsolve.Mode.BLOCK) return falcon ? MemoryPlan.Systems.BLOCK : MemoryPlan.Systems.BLOCK_SYSTEMS;
        if (backsolveMode == Backsolve.Mode.SWEEP) return falcon ? MemoryPlan.Systems.SWEEP_ROUNDS : MemoryPlan.Systems.SWEEPS;
        if (!falcon) return backsolveMode == Backsolve.Mode.EXACT ? MemoryPlan.Systems.BACKSOLVE : MemoryPlan.Systems.EXACT;
        if (backsolveMode == Backsolve.Mode.NONE) return MemoryPlan.Systems.LIPSCHITZ;
        // without swap candidates neither the swap search nor the swap polish runs
        return backsolveMode == Backsolve.Mode.EXACT && swapCandidates == 0 ? MemoryPlan.Systems.EXACT_ROUNDS : MemoryPlan.Systems.EXACT;
    }

    private Backsolve.Mode backsolveMode(Method m) {
        if (backsolve == null) return m == Method.FALCON || m == Method.FALCON_PLUS_PLUS ? Backsolve.Mode.EXACT : Backsolve.Mode.NONE;
        Backsolve.Mode mode = Backsolve.Mode.parse(backsolve, "--backsolve");
        if (m == Method.MAGNITUDE && mode != Backsolve.Mode.NONE) {
            throw InputException.of("--backsolve", "option", "only applies to --method mp, falcon and falcon++", "use --method mp --backsolve for the authors' MP + BS");
        }
        return mode;
    }

    /** --grads-command-timeout as a Duration; null: no limit. */
    private java.time.Duration commandTimeout;

    private static final java.util.regex.Pattern TIMEOUT = java.util.regex.Pattern.compile("([+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+))\\s*([smh]?)");

    /**
     * Seconds, or a number with s, m (minutes) or h: a plain number is seconds, as in timeout(1) and most schedulers;
     * m is never months here, and days are hours enough (48h).
     */
    static java.time.Duration parseTimeout(String value) {
        java.util.regex.Matcher m = TIMEOUT.matcher(value.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw InputException.of("--grads-command-timeout", "value", "'" + value + "' is not a duration", "give seconds (90) or a number with s, m or h: 90s, 15m, 2h");
        }
        java.math.BigDecimal seconds = new java.math.BigDecimal(m.group(1)).multiply(java.math.BigDecimal.valueOf(switch (m.group(2)) {
            case "m" -> 60;
            case "h" -> 3600;
            default -> 1;
        }));
        if (seconds.signum() <= 0) {
            throw InputException.of("--grads-command-timeout", "value", "is " + value + ", it must be more than 0", "leave it out for no limit, or give e.g. 15m");
        }
        // 100 years, beyond any run, and within what a long holds in nanoseconds (about 292 years)
        if (seconds.compareTo(java.math.BigDecimal.valueOf(100L * 365 * 86400)) > 0) {
            throw InputException.of("--grads-command-timeout", "value", "is " + value + ", beyond any run", "leave it out for no limit");
        }
        java.math.BigDecimal nanos = seconds.movePointRight(9).setScale(0, java.math.RoundingMode.CEILING);
        return java.time.Duration.ofNanos(nanos.longValueExact());
    }

    private void validateSolverOptions() {
        // an option the method never reads is refused before its value is checked: `--method mp --max-iterations -1` was
        // told "e.g. --max-iterations 100", and that command was refused again, for the option not applying
        boolean plusPlus = Method.parse(method, "--method").equals(Method.FALCON_PLUS_PLUS);
        if (gradsPattern() && !plusPlus) {
            throw InputException.of("--grads", "value", "'" + grads + "' is a per-stage pattern ({t}), which only applies to --method falcon++",
                    "give one X file, or use --method falcon++");
        }
        rejectCommandOptionsThatDoNotApply(plusPlus, gradsCommand != null, gradsCommandTimeout != null);
        picocli.CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (given != null) rejectOptionsThatDoNotApply(Method.parse(method, "--method"), backsolve, gradients(), given::hasMatchedOption);
        if (!(lambda > 0) || lambda > Pruner.MAX_LAMBDA) {
            throw InputException.of("--lambda", "value", "is " + typed("--lambda", lambda) + ", it must be positive and at most "
                    + Numbers.shown(Pruner.MAX_LAMBDA), "e.g. --lambda 1e-3");
        }
        if (maxIterations < 0) throw InputException.of("--max-iterations", "value", "is " + maxIterations + ", it must be >= 0", "e.g. --max-iterations 100");
        if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
            throw InputException.of("--tolerance", "value", "is " + typed("--tolerance", tolerance) + ", it must be a finite number >= 0", "e.g. --tolerance 1e-6");
        }
        if (blockSize < 1) throw InputException.of("--block-size", "value", "is " + blockSize + ", it must be at least 1", "e.g. --block-size 2000");
        if (rounds < 1) {
            throw InputException.of("--rounds", "value", "is " + rounds + ", it must be at least 1",
                    "e.g. --rounds " + spec.findOption("--rounds").defaultValue() + " (the default)");
        }
        if (stableIterations < 0) throw InputException.of("--stable-iterations", "value", "is " + stableIterations + ", it must be >= 0", "0 turns it off");
        if (swapCandidates < 0) throw InputException.of("--swap-candidates", "value", "is " + swapCandidates + ", it must be >= 0", "0 turns the swap search off");
        if (stages < 1) throw InputException.of("--stages", "value", "is " + stages + ", it must be at least 1", "e.g. --stages 5");
        // --stages 1000000000 (or 100000) ran on with no end in sight, showing only the elapsed time: each stage is a full
        // solve (about a second on resnet20, minutes on a large model; with --grads-command also a run of the command) and
        // a line of the summary and the report. 10,000 stages already take hours on resnet20, and levels that close move
        // the budgets by under 0.01% of p per stage, so that most stages prune little or nothing beyond their predecessor.
        if (stages > MAX_STAGES) {
            throw InputException.of("--stages", "value", String.format(Locale.ROOT, "is %,d, more than the %,d falcon++ takes: each stage is a full solve "
                    + "(about a second on resnet20, minutes on a large model) and a line of the report", stages, MAX_STAGES), "e.g. --stages 5; a few to a few tens are usual");
        }
        for (Object[] o : new Object[][] {{"--start-keep", startKeep}, {"--start-keep-flops", startKeepFlops}, {"--start-keep-nnz", startKeepNnz}}) {
            Double v = (Double) o[1];
            if (v != null && !MultiStage.isStartLevel(v)) throw InputException.of(o[0], "value", "is " + typed((String) o[0], v) + ", outside (0, 1]", "1 starts from the dense model");
        }
        MultiStage.Schedule.parse(schedule, "--schedule"); // an InputException naming --schedule and the choices
        SolverOptions.HessianModel.parse(hessian, "--hessian"); // an InputException naming --hessian and the choices
        if (gradsCommand != null) {
            if (gradsPattern()) throw InputException.of("--grads-command", "option", "cannot be combined with a per-stage --grads pattern", "give one gradient source");
            if (grads == null && example == null) throw InputException.of("--grads-command", "option", "needs --grads (X of stage 0, at the dense weights)", "give --grads X.npy");
            // it runs before stages 1 .. T-1 only: with one stage it would be accepted and never run
            if (stages == 1) throw InputException.of("--grads-command", "option", "does not apply with --stages 1 (it runs before each stage t >= 1)", "drop it, or give --stages 2 or more");
        }
        refuseACommandTheDenseStartNeverRuns(null);
        refuseGradientSourcesTheScheduleNeverReads(plusPlus, null, null);
        // the command's own value and its timeout are checked once it is known to run
        if (gradsCommandTimeout != null) commandTimeout = parseTimeout(gradsCommandTimeout);
        if (gradsCommand != null) {
            // the constructor's own check, so that none of its refusals is met only after the backend was chosen
            dev.falcon.solve.CommandGradients.Refusal refusal = dev.falcon.solve.CommandGradients.placeholderRefusal(gradsCommand);
            if (refusal != null) throw InputException.of("--grads-command", "value", refusal.problem(), refusal.fix());
        }
    }

    /** Whether the run has gradients X: lambda enters only the objective on X. */
    private boolean gradients() {
        return grads != null || example != null || gradsCommand != null;
    }

    /**
     * A refusal of an option that the method (or the other options) never reads, naming the option: what
     * {@link #optionsNotReadWith} collects for an offer that changes the method.
     */
    static final class OptionDoesNotApply extends InputException {
        final String option;

        OptionDoesNotApply(String option, String problem, String fix) {
            super(InputException.of(option, "option", problem, fix).getMessage());
            this.option = option;
        }
    }

    /** --grads-command is read by falcon++ only, and --grads-command-timeout only with it. */
    private static void rejectCommandOptionsThatDoNotApply(boolean plusPlus, boolean commandGiven, boolean timeoutGiven) {
        if (timeoutGiven && !commandGiven) {
            throw new OptionDoesNotApply("--grads-command-timeout", "only applies with --grads-command (it limits how long that command runs)", "drop it, or give --grads-command");
        }
        if (commandGiven && !plusPlus) throw new OptionDoesNotApply("--grads-command", "only applies to --method falcon++", "drop it");
    }

    /**
     * The options of this command line that prune refuses with method {@code m}, no --backsolve and, where
     * {@code withGradients} is false, no --grads: what a memory refusal's offer of another method must tell the user to
     * drop (a falcon++ command offered "--method mp" was refused for its --stages). Found by prune's own checks, run
     * until they accept what is left, so that the offer and the refusals cannot drift apart.
     */
    List<String> optionsNotReadWith(Method m, boolean withGradients) {
        picocli.CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (given == null) return List.of();
        List<String> dropped = new ArrayList<>();
        // replaced or dropped by the offer itself
        List<String> named = withGradients ? List.of("--method", "--backsolve") : List.of("--method", "--backsolve", "--grads");
        java.util.function.Predicate<String> kept = o -> given.hasMatchedOption(o) && !named.contains(o) && !dropped.contains(o);
        boolean gradients = withGradients && gradients() || example != null;
        while (true) {
            try {
                rejectCommandOptionsThatDoNotApply(m == Method.FALCON_PLUS_PLUS, kept.test("--grads-command"), kept.test("--grads-command-timeout"));
                rejectOptionsThatDoNotApply(m, null, gradients, kept);
                return dropped;
            } catch (OptionDoesNotApply e) {
                dropped.add(e.option);
            }
        }
    }

    /**
     * An option the method never reads is refused, as --n and --grads-command are, rather than ignored: a run that
     * silently drops --stages or --max-iterations answers a question the user did not ask.
     */
    private boolean constantSchedule() {
        return schedule != null && schedule.trim().equalsIgnoreCase("const");
    }

    /**
     * The advice that takes a refused run off --schedule const. At --stages 2 it is to drop --schedule: poly, linear and
     * exp pass through the same two points there and are each refused as the default's path, so naming one sent the user
     * from one refusal to the next.
     */
    private String leaveConstantSchedule() {
        return stages == 2 ? "drop --schedule const (with --stages 2 the default runs stage 0 at the start levels and stage 1 at the final budgets)"
                : "--schedule poly, linear or exp";
    }

    /**
     * Why every stage of the schedule has the final budgets, or null where it moves them: --schedule const, or start
     * levels whose budgets are already the final ones (as MultiStage rounds them: a start level at its target, or
     * within a weight of it). {@code budgets} null: before the layer table is known, when only const can be told.
     */
    private static final String DENSE_TARGETS = "budgets at the dense model's (nothing to prune: every weight and FLOP is kept)";

    /** The --keep-flops offered where the budgets are the dense model's. */
    private static final double KEEP_FLOPS_OFFERED_BELOW_DENSE = 0.5;

    /** The advice for a schedule that never moves the budgets: a start level above its target, or, at dense targets, budgets that prune. */
    private String fixForAScheduleThatNeverMoves(Budgets budgets) {
        return budgetsAreDense(budgets) ? "give a budget below the dense model's (e.g. --keep-flops " + Numbers.shown(KEEP_FLOPS_OFFERED_BELOW_DENSE) + ")"
                : "give a start level above its target (e.g. " + startLevelsAboveTheTargets(budgets) + ")";
    }

    private static boolean budgetsAreDense(Budgets budgets) {
        return budgets != null && budgets.nnzFraction() >= 1 && budgets.flopsFraction() >= 1;
    }

    /**
     * Whether the budgets are the dense model's or, {@code budgets} null (before the layer table is known), may turn out
     * to be: only a fraction typed below dense (--keep-flops 0.5, --keep-nnz 0.5, --sparsity 0.1) tells them apart then,
     * --nnz and --flops needing p and the dense FLOPs. A refusal whose advice does not hold at dense budgets waits for
     * the call with them, where the dense advice wins.
     */
    private boolean budgetsMayBeDense(Budgets budgets) {
        if (budgets != null) return budgetsAreDense(budgets);
        return !(keepFlops != null && keepFlops < 1 || keepNnz != null && keepNnz < 1 || sparsity != null && sparsity > 0);
    }

    /**
     * --grads-command with two stages from the dense start: stage 0 prunes nothing, so stage 1 reuses stage 0's X and a
     * broken command went unnoticed behind exit 0. At dense budgets the start levels are not read, so the advice of a
     * --start-keep below 1 was refused in turn: there {@link #refuseGradientSourcesTheScheduleNeverReads} refuses the
     * command first, with the dense advice. {@code budgets} null: before the layer table is known; called again once it is.
     */
    private void refuseACommandTheDenseStartNeverRuns(Budgets budgets) {
        if (gradsCommand == null || stages != 2 || constantSchedule() || startNnzLevel() < 1 || startFlopsLevel() < 1 || budgetsMayBeDense(budgets)) return;
        throw InputException.of("--grads-command", "option", "would never run with --stages 2 from the dense start (stage 0 prunes nothing, "
                + "so stage 1 takes stage 0's X)", "drop it, give --stages 3 or more, or a --start-keep below 1");
    }

    private String whyTheScheduleNeverChangesTheBudgets(LayerTable layers, Budgets budgets) {
        if (constantSchedule()) return budgetsAreDense(budgets) ? "--schedule const and " + DENSE_TARGETS : "--schedule const";
        if (budgets == null || !MultiStage.budgetsNeverChange(layers, budgets.nnz(), budgets.flops(), stages,
                MultiStage.Schedule.parse(schedule, "--schedule"), startNnzLevel(), startFlopsLevel())) {
            return null;
        }
        List<String> levels = new ArrayList<>();
        if (budgets.nnzFraction() < 1) levels.add((startKeepNnz != null ? "--start-keep-nnz " : "--start-keep ") + Numbers.shown(startNnzLevel()));
        if (budgets.flopsFraction() < 1) levels.add((startKeepFlops != null ? "--start-keep-flops " : "--start-keep ") + Numbers.shown(startFlopsLevel()));
        // no budget below dense: every stage's budgets are the dense model's, whatever the start levels, and no later
        // stage is solved or reads its X (the default start level 1 at --keep-flops 1 read every stage's file)
        if (levels.isEmpty()) return DENSE_TARGETS;
        List<String> distinct = levels.stream().distinct().toList();
        return "start levels at the targets (" + String.join(" and ", distinct) + (distinct.size() == 1 ? " gives" : " give")
                + " stage 0 the final budgets, whatever the schedule)";
    }

    /**
     * Start levels that schedule, for the advice when they are at the targets: halfway between each target below dense
     * and 1, in the option that gave that level. A fixed "--start-keep 0.8" was refused for a target above 0.8 (a start
     * level below its target), and named --start-keep where the level came from --start-keep-flops or --start-keep-nnz.
     * Where --start-keep gives both levels it is offered above the higher target, which it must exceed too.
     */
    private String startLevelsAboveTheTargets(Budgets budgets) {
        java.util.Map<String, Double> levels = new java.util.LinkedHashMap<>();
        if (budgets.nnzFraction() < 1) {
            levels.merge(startKeepNnz != null ? "--start-keep-nnz" : "--start-keep", (budgets.nnzFraction() + 1) / 2, Math::max);
        }
        if (budgets.flopsFraction() < 1) {
            levels.merge(startKeepFlops != null ? "--start-keep-flops" : "--start-keep", (budgets.flopsFraction() + 1) / 2, Math::max);
        }
        return String.join(" and ", levels.entrySet().stream().map(e -> e.getKey() + " " + Numbers.shown(e.getValue())).toList());
    }

    /**
     * Every stage at the final budgets (--schedule const, or start levels at the targets): stage 0's weights meet each
     * later stage's budgets, so that stage keeps them whatever its X (Q around them is 0), is not solved and does not ask
     * for its X. The command would never run, nor a stage's file be read. {@code budgets} null: before the layer table
     * is known (const only, with a budget typed below dense); called again once it is.
     */
    private void refuseGradientSourcesTheScheduleNeverReads(boolean plusPlus, LayerTable layers, Budgets budgets) {
        if (!plusPlus || stages <= 1 || gradsCommand == null && !gradsPattern()) return;
        // const's advice (another schedule, a --start-keep below 1) is refused in turn at dense budgets: where they may
        // be dense, the call with the budgets refuses, with the dense advice
        if (budgets == null && budgetsMayBeDense(null)) return;
        String why = whyTheScheduleNeverChangesTheBudgets(layers, budgets);
        if (why == null) return;
        // a command at --stages 2 runs only where stage 0 prunes, from a start level below 1 (refuseACommandTheDenseStartNeverRuns)
        String startBelowDense = stages == 2 && gradsCommand != null && startNnzLevel() >= 1 && startFlopsLevel() >= 1
                ? " and give a --start-keep below 1 (from the dense start stage 0 prunes nothing, so stage 1 would take its X)" : "";
        String offConstant = stages == 2 ? leaveConstantSchedule() + startBelowDense : "use " + leaveConstantSchedule();
        // at dense budgets the dense advice comes first, with what the run needs besides: alone, followed, it was refused
        // in turn (a budget below dense is still const, or still two stages from the dense start)
        String fix = !constantSchedule() ? fixForAScheduleThatNeverMoves(budgets) + startBelowDense + ", or one X file"
                : budgetsAreDense(budgets) ? fixForAScheduleThatNeverMoves(budgets) + " and " + offConstant + ", or one X file"
                : offConstant + (stages == 2 ? ", or give one X file" : ", or one X file");
        throw InputException.of(gradsCommand != null ? "--grads-command" : "--grads", "option", "would never be used with " + why
                + ": every stage has the final budgets, which stage 0's weights already meet, so each later stage keeps them whatever its X", fix);
    }

    /**
     * @param backsolve      the --backsolve given, or null
     * @param gradients      whether the run has gradients X (--grads, --example or --grads-command)
     * @param given          whether an option was given
     * @throws OptionDoesNotApply naming the first option given that is not read
     */
    private void rejectOptionsThatDoNotApply(Method m, String backsolve, boolean gradients, java.util.function.Predicate<String> given) {
        boolean plusPlus = m == Method.FALCON_PLUS_PLUS, falcon = m == Method.FALCON || plusPlus;
        boolean backsolved = backsolve != null && !backsolve.trim().equalsIgnoreCase("none");
        for (String o : List.of("--stages", "--schedule", "--start-keep", "--start-keep-flops", "--start-keep-nnz")) {
            if (!plusPlus && given.test(o)) throw new OptionDoesNotApply(o, "only applies to --method falcon++", "drop it, or use --method falcon++");
        }
        // one stage runs at the final budgets, as every const stage does: no schedule or start level is read
        boolean constant = constantSchedule();
        for (String o : List.of("--schedule", "--start-keep", "--start-keep-flops", "--start-keep-nnz")) {
            if (plusPlus && stages == 1 && given.test(o)) {
                throw new OptionDoesNotApply(o, "does not apply with --stages 1 (the one stage runs at the final budgets)", "drop it, or give --stages 2 or more");
            }
            if (plusPlus && constant && !o.equals("--schedule") && given.test(o)) {
                throw new OptionDoesNotApply(o, "does not apply with --schedule const (every stage runs at the final budgets)", "drop it, or "
                        + (stages == 2 ? leaveConstantSchedule() : "choose poly, linear or exp"));
            }
        }
        // two stages run at the start levels and at the final budgets: every shape but const, which moves stage 0 to the final
        // budgets, passes through the same two points
        if (plusPlus && stages == 2 && !constant && given.test("--schedule")) {
            throw new OptionDoesNotApply("--schedule", "does not apply with --stages 2 (stage 0 runs at the start levels and stage 1 at the final "
                    + "budgets, whatever the schedule's shape)", "drop it, or give --stages 3 or more");
        }
        for (String o : List.of("--max-iterations", "--tolerance", "--hessian", "--rounds", "--swap-candidates", "--stable-iterations")) {
            if (!falcon && given.test(o)) throw new OptionDoesNotApply(o, "only applies to --method falcon and falcon++", "drop it, or use --method falcon");
        }
        // without DFO iterations the rounds only backsolve and search: the steps' model and their stopping rules go unread,
        // and the tolerance also ends the rounds after the first
        if (falcon && maxIterations == 0) {
            for (String o : List.of("--hessian", "--stable-iterations")) {
                if (given.test(o)) {
                    throw new OptionDoesNotApply(o, "does not apply with --max-iterations 0 (no DFO iteration runs: the rounds only backsolve and search)",
                            "drop it, or give --max-iterations 1 or more");
                }
            }
            // nor a backsolve: every round returns mp's weights untouched
            if (!backsolved && backsolve != null) {
                for (String o : List.of("--rounds", "--tolerance")) {
                    if (given.test(o)) {
                        throw new OptionDoesNotApply(o, "does not apply with --max-iterations 0 and --backsolve none (no round runs a DFO iteration "
                                + "or a backsolve: the result is mp's)", "drop it, or give --max-iterations 1 or more or --backsolve exact, block or sweep");
                    }
                }
            }
            if (rounds == 1 && given.test("--tolerance")) {
                throw new OptionDoesNotApply("--tolerance", "does not apply with --max-iterations 0 and --rounds 1 (it ends DFO iterations and the "
                        + "rounds after the first, and neither runs)", "drop it, or give --max-iterations 1 or more or --rounds 2 or more");
            }
        }
        // the swap search and the swap polish start from backsolved points: without a backsolve neither runs
        if (falcon && !backsolved && backsolve != null && given.test("--swap-candidates")) {
            throw new OptionDoesNotApply("--swap-candidates", "does not apply with --backsolve none (the swap search and the swap polish "
                    + "start from backsolved points)", "drop it, or give --backsolve exact, block or sweep");
        }
        if (!falcon && !backsolved && given.test("--block-size")) {
            throw new OptionDoesNotApply("--block-size", "only applies to falcon, falcon++ and --backsolve (the blocks of --hessian block and "
                    + "--backsolve block|sweep, which also set the cpu backend's panels of X)", "drop it");
        }
        if (example == null && given.test("--seed")) {
            throw new OptionDoesNotApply("--seed", "only applies to --example (the seed of its synthetic data)", "drop it");
        }
        if (!gradients) {
            // no X: lambda enters no objective (mp and magnitude without X report none), so a given value would be dropped
            for (String o : List.of("--lambda", "--lambda-convention")) {
                if (given.test(o)) throw new OptionDoesNotApply(o, "needs gradients: lambda enters only the objective on X",
                        "give --grads X.npy (then the report has Q in both conventions), or drop it");
            }
        }
        // the convention says how --lambda is read: alone it reread the default 1e-3 as the authors' l2, lambda = 1e-3 n
        if (given.test("--lambda-convention") && !given.test("--lambda")) {
            throw new OptionDoesNotApply("--lambda-convention", "says how --lambda is read, and --lambda is not given (the default "
                    + spec.findOption("--lambda").defaultValue() + " is the ridge lambda of Q)", "give --lambda with it, or drop it");
        }
        // asked through given, as every check here: an offer without --grads (optionsNotReadWith) drops --grads from it, and
        // the fields still held the refused run's --grads, so "--method mp without --grads" left --linear-term in and was refused
        if (given.test("--linear-term") && !given.test("--grads")) {
            throw new OptionDoesNotApply("--linear-term", "needs --grads: the first-order term enters only the objective on X", "give --grads X.npy, or drop it");
        }
    }

    /**
     * A backend's facts as JSON values: the probes give strings (as `falcon env` prints them), and a count such as
     * cpu.available_processors or a flag went into the report as "2" and "false", where every other number is a number.
     */
    static Map<String, Object> typedFacts(Map<String, String> facts) {
        Map<String, Object> typed = new java.util.TreeMap<>();
        facts.forEach((k, v) -> typed.put(k, v != null && v.matches("-?(0|[1-9][0-9]{0,17})") ? (Object) Long.parseLong(v)
                : "true".equals(v) || "false".equals(v) ? (Object) Boolean.parseBoolean(v) : v));
        return typed;
    }

    /** Q before (mp's support, wbar kept) and after the solver in both conventions, options and the iteration log. */
    /**
     * The solve's seconds without the hashing of the stage files (--grads with {t}), which happens as each stage reads its
     * file and is reported under timings_seconds.checksum: one figure for timings_seconds.solve and objective.solver.seconds.
     */
    private static double solveSeconds(PruneResult.Solve s, HeldInputs held) {
        return s.seconds() - held.stageChecksumSeconds();
    }

    /**
     * A stage's seconds as the solve's are counted: without the hashing of the stage's file (checksum time). The report's
     * row and the summary's stage line both take this one; the line printed the raw time, 4.78 s beside the row's 4.6205.
     */
    private double stageSeconds(MultiStage.Stage stage, HeldInputs held) {
        return stage.seconds() - held.stageChecksumSeconds(stageOption(stage.stage()));
    }

    /**
     * The --block-size mp's block or sweep backsolve cut the layers with, else null: it moves Q by orders of magnitude
     * (54.6 at 100 against 0.175 at the default on one model), and falcon's report names it among its options, while
     * mp's named it nowhere, neither in the report nor in the summary.
     */
    private Integer mpBacksolveBlockSize(PruneResult r) {
        Backsolve.Mode mode = r.solve().backsolve();
        return r.method() == Method.MP && (mode == Backsolve.Mode.BLOCK || mode == Backsolve.Mode.SWEEP) ? blockSize : null;
    }

    private Map<String, Object> solverReport(PruneResult r, Budgets budgets, HeldInputs held) {
        Map<String, Object> o = new LinkedHashMap<>();
        PruneResult.Solve s = r.solve();
        o.put("backsolve", s.backsolve().cliName());
        Integer mpBlocks = mpBacksolveBlockSize(r);
        if (mpBlocks != null) o.put("block_size", mpBlocks);
        if (s.note() != null) o.put("backsolve_not_kept", s.note());
        // falcon's: every backsolve it solved raised Q, so none is in the weights (mp's says its backsolve raised Q above)
        if (s.falcon() != null && s.falcon().backsolveNeverKept() != null) o.put("backsolve_not_kept", s.falcon().backsolveNeverKept());
        if (backsolveNote != null) o.put("backsolve_note", backsolveNote);
        // as stderr said it: the library's words name the Java setting, the CLI's its option
        if (s.backsolveWarningInCliWords() != null) o.put("backsolve_warning", s.backsolveWarningInCliWords());
        Map<String, Object> before = new LinkedHashMap<>();
        before.put("what", "mp's support with the dense weights kept on it (the warm start)");
        before.put("ours", s.qMp());
        before.put("falcon_authors", s.qMpAuthors());
        o.put("q_mp_support", before);
        Map<String, Object> after = new LinkedHashMap<>();
        after.put("ours", s.qFinal());
        after.put("falcon_authors", s.qFinalAuthors());
        // weights outside the budgets (falcon++ stopped early) and mp's support at them answer two problems: their ratio
        // read as falcon++ beating mp by orders of magnitude, as the lower bound's gap would have
        boolean within = withinBudgets(r, budgets);
        after.put("ratio_to_mp_support", within && s.qMp() > 0 ? s.qFinal() / s.qMp() : null);
        if (!within || !(s.qMp() > 0)) after.put("ratio_note", noRatio(s.qMp(), within));
        o.put("q_final", after);
        o.put("seconds", solveSeconds(s, held));
        if (blockSizeNote != null) o.put("block_size_note", blockSizeNote);
        FalconSolver.Result f = s.falcon();
        if (f != null) {
            Map<String, Object> opt = new LinkedHashMap<>();
            opt.put("max_iterations", maxIterations);
            opt.put("tolerance", tolerance);
            opt.put("hessian", hessian.trim().toLowerCase(Locale.ROOT));
            opt.put("block_size", blockSize);
            opt.put("rounds", rounds);
            opt.put("swap_candidates", swapCandidates);
            opt.put("stable_iterations", stableIterations);
            o.put("options", opt);
            o.put("lipschitz", f.lipschitz());
            o.put("iterations", f.iterations());
            o.put("rounds", f.rounds());
            o.put("stop_reason", f.stopReason());
            o.put("last_projection_relative_gap", Double.isNaN(f.lastGap()) ? null : f.lastGap());
            o.put("dfo_seconds", f.dfoSeconds());
            o.put("backsolve_and_search_seconds", f.backsolveSeconds());
            FalconSolver.Polish fp = f.polish();
            Map<String, Object> polish = new LinkedHashMap<>();
            polish.put("what", "swaps and additions scored in closed form on the n x n system after the rounds, or before round 1's costly searches"
                    + " where the solve ends on the support it left (exact backsolve only)");
            polish.put("ran", fp.skipped() == null);
            if (fp.skipped() != null) {
                polish.put("skipped_because", fp.skipped());
            } else {
                polish.put("swaps", fp.swaps());
                polish.put("additions", fp.additions());
                polish.put("passes", fp.passes());
                polish.put("model_decrease", fp.modelDecrease());
                polish.put("q_before", fp.qBefore());
                polish.put("q_after", fp.qAfter());
                if (s.multiStage() != null) polish.put("q_note", "q_before and q_after are Q of the last stage's own problem (around the previous stage's weights), as its q_stage");
                polish.put("kept", fp.kept());
                polish.put("kicks", fp.kicks());
                polish.put("kicks_that_lowered_q", fp.kicksThatLoweredQ());
                polish.put("seconds", fp.seconds());
            }
            o.put("swap_polish", polish);
            List<Map<String, Object>> log = new ArrayList<>();
            for (FalconSolver.IterationLog e : f.log()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("round", e.round());
                row.put("iteration", e.iteration());
                row.put("q", e.q());
                row.put("nnz", e.nnz());
                row.put("flops", e.flops());
                row.put("step", e.step());
                row.put("seconds", e.seconds());
                row.put("model", e.model());
                if (e.note() != null) row.put("note", e.note());
                log.add(row);
            }
            o.put("iteration_log_note", "q is Q (ours convention) of the model named in the row's model: block for the DFO steps "
                    + "of --hessian block, exact for the warm start (iteration 0), backsolves and support searches (iteration -1); "
                    + "block and exact Q of one point differ, so the log falls only within a round's block rows; an exact DFO row is the Q "
                    + "the log gave the point its DFO run started from less the decrease the DFO model measured since (on the active set "
                    + "that model adds in another order, so the row and the point's exact Q differ by rounding, parts in 1e7), so no "
                    + "exact DFO row rises above the row before it");
            o.put("iteration_log", log);
        }
        if (s.multiStage() != null) {
            List<Map<String, Object>> st = new ArrayList<>();
            for (MultiStage.Stage e : s.multiStage().stages()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("stage", e.stage());
                row.put("nnz_budget", e.nnzBudget());
                row.put("flops_budget", e.flopsBudget());
                row.put("kept", e.kept());
                row.put("kept_flops", e.keptFlops());
                row.put("q_stage", e.qStage());
                row.put("iterations", e.iterations());
                row.put("seconds", stageSeconds(e, held));
                row.put("gradients", e.gradients());
                if (e.note() != null) row.put("note", e.note());
                st.add(row);
            }
            Map<String, Object> sched = new LinkedHashMap<>();
            sched.put("stages", stages);
            sched.put("schedule", schedule.trim().toLowerCase(Locale.ROOT));
            // the levels the schedule ran from: a budget left at dense (only reachable through --start-keep) starts at 1;
            // one stage, or const stages, run at the final budgets from the first (a default start of 1 was printed there)
            boolean atFinalBudgets = stages == 1 || constantSchedule();
            sched.put("start_keep_flops", atFinalBudgets ? Math.min(1.0, budgets.flopsFraction())
                    : Math.max(startFlopsLevel(), Math.min(1.0, budgets.flopsFraction())));
            sched.put("start_keep_nnz", atFinalBudgets ? Math.min(1.0, budgets.nnzFraction())
                    : Math.max(startNnzLevel(), Math.min(1.0, budgets.nnzFraction())));
            sched.put("gradient_source", gradsPattern() ? "pattern" : gradsCommand != null ? "command" : "continuation");
            sched.put("gradients", gradsPattern() ? "per-stage files " + grads + " ({t} = stage; stage 0 at the dense weights)"
                    : gradsCommand != null ? "stage 0: the initial X; stage t >= 1: --grads-command " + gradsCommand + " at the weights of stage t-1"
                            + (commandTimeout != null ? " (each run limited to " + gradsCommandTimeout.trim()
                            + (gradsCommandTimeout.trim().matches(".*\\d") ? " s" : "") + " by --grads-command-timeout)" : "")
                    : "the same X in every stage (continuation)");
            o.put("schedule", sched);
            o.put("stages", st);
            o.put("completed_stages", s.multiStage().stages().size());
            MultiStage.Result ms = s.multiStage();
            o.put("stopped", ms.stopped() == null || ms.stoppedOutput() == null ? ms.stopped() : ms.stopped() + "; its stderr ends with:\n" + ms.stoppedOutput());
            String linear = "";
            if (linearTerm != null) {
                int first = s.multiStage().firstPruningStage();
                linear = first < 0 ? "; no stage pruned, so the linear term g entered none"
                        : "; the linear term g (at the dense weights) enters stage " + first + ", the first that prunes, only";
            }
            o.put("last_solved_stage", s.multiStage().lastSolvedStage());
            o.put("stages_note", "q_stage is Q of the stage's own problem (around the previous stage's weights" + linear + "); lipschitz, iterations, rounds, "
                    + "stop_reason, dfo_seconds, backsolve_and_search_seconds, swap_polish and the iteration log are the last solved stage's "
                    + "(last_solved_stage), each stage's row has its own iterations"
                    + "; a stage with a note was not solved (continuation: the previous stage's weights already fit its budgets)");
        }
        return o;
    }

    /** Why Q after is compared with nothing that holds within the budgets: the lower bound, mp's support. */
    private static final String NOT_WITHIN_BUDGETS = "the weights are not within the budgets (falcon++ stopped before its last stage)";

    /**
     * Why Q after the solver is not given as a ratio to Q on mp's support (mp's support is at the budgets, weights
     * outside them another problem). A linear term can make the latter negative,
     * where a ratio reads backwards (a lower Q gives a larger one); the summary said "is 0" for it as well.
     */
    private static String noRatio(double qMp, boolean within) {
        return !within ? "no ratio: " + NOT_WITHIN_BUDGETS
                : qMp == 0 ? "no ratio: Q on mp's support is 0"
                : !Double.isFinite(qMp) ? "no ratio: Q on mp's support is not finite"
                : String.format(Locale.ROOT, "no ratio: Q on mp's support is %.6g, not positive (the linear term)", qMp);
    }

    /**
     * The report's writer. A value that is NaN or infinite (an objective whose float products overflowed) is written
     * as null: Jackson would write the string "NaN" where readers expect a number, and JSON has no number for it.
     */
    static ObjectMapper reportMapper() {
        JsonSerializer<Number> finiteOrNull = new JsonSerializer<>() {
            @Override
            public void serialize(Number value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
                if (!Double.isFinite(value.doubleValue())) {
                    gen.writeNull();
                } else if (value instanceof Float f) {
                    gen.writeNumber(f); // as a float: 0.1f stays 0.1, not 0.10000000149011612
                } else {
                    gen.writeNumber(value.doubleValue());
                }
            }
        };
        SimpleModule module = new SimpleModule("finite-numbers-or-null");
        for (Class<? extends Number> type : List.of(Double.class, Double.TYPE, Float.class, Float.TYPE)) {
            addSerializer(module, type, finiteOrNull);
        }
        return new ObjectMapper().registerModule(module).enable(SerializationFeature.INDENT_OUTPUT);
    }

    /**
     * A number of the report that is measured only once the rest of it is serialized (the peak memory: the serialization
     * itself raises it). {@link #serialize} writes it as a blank of fixed width and fills that with the value afterwards,
     * the value first and spaces after it (JSON whitespace), so nothing is allocated for the report between the sample
     * and its bytes.
     */
    static final class LateNumber {
        /** Wide enough for any long from -1 up to Long.MAX_VALUE. */
        static final int WIDTH = String.valueOf(Long.MAX_VALUE).length();
        private final java.util.function.LongSupplier value;
        private int offset = -1;

        LateNumber(java.util.function.LongSupplier value) {
            this.value = value;
        }

        /** {@code report} as the report's JSON, each LateNumber in it filled with its value, measured after the rest was serialized. */
        static byte[] serialize(ObjectMapper mapper, Object report) throws IOException {
            List<LateNumber> late = new ArrayList<>();
            JsonSerializer<LateNumber> blank = new JsonSerializer<>() {
                @Override
                public void serialize(LateNumber number, JsonGenerator gen, SerializerProvider serializers) throws IOException {
                    gen.writeRawValue(" ".repeat(WIDTH));
                    gen.flush();
                    // the blank's place in the bytes: what the generator wrote so far ends with it
                    number.offset = ((java.io.ByteArrayOutputStream) gen.getOutputTarget()).size() - WIDTH;
                    late.add(number);
                }
            };
            java.io.ByteArrayOutputStream json = new java.io.ByteArrayOutputStream(1 << 16);
            mapper.copy().registerModule(new SimpleModule("late-numbers").addSerializer(LateNumber.class, blank)).writeValue(json, report);
            byte[] bytes = json.toByteArray();
            for (LateNumber number : late) {
                byte[] digits = Long.toString(number.value.getAsLong()).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                System.arraycopy(digits, 0, bytes, number.offset, digits.length);
            }
            return bytes;
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Number> void addSerializer(SimpleModule module, Class<T> type, JsonSerializer<Number> serializer) {
        module.addSerializer(type, (JsonSerializer<T>) (JsonSerializer<?>) serializer);
    }

    private static boolean withinBudgets(PruneResult r, Budgets b) {
        return r.kept() <= b.nnz() && r.keptFlops() <= b.flops() * (1 + 1e-12);
    }

    private Budgets resolveBudgets(LayerTable layers) {
        return Budgets.resolve(layers, keepFlops, flops, keepNnz, nnz, sparsity, Budgets.ArgumentNames.CLI);
    }

    /**
     * A path each of {@code options} takes, as the refusal of outputs sharing stdout offers them: ./- names a file called
     * -, but only --report takes it, since --out and --mask must end in .npy (the refusal offered ./- for them too).
     */
    private static String pathsFor(List<String> options) {
        List<String> paths = new ArrayList<>();
        for (String option : options) {
            paths.add(option + switch (option) {
                case "--out" -> " pruned.npy";
                case "--mask" -> " mask.npy";
                default -> " report.json";
            });
        }
        return String.join(", ", paths.subList(0, paths.size() - 1)) + " or " + paths.get(paths.size() - 1)
                + (options.contains("--report") ? " (for --report, ./- names a file called -)" : "");
    }

    private void checkOutputs(Path outPath, Path reportPath, long p, int layerCount) {
        // each output with its option, which the messages name: an empty --out= has no file name to show
        List<Path> outputs = new ArrayList<>(List.of(outPath, reportPath));
        List<String> options = new ArrayList<>(List.of("--out", "--report"));
        if (mask != null) {
            outputs.add(mask);
            options.add("--mask");
        }
        toStdout.clear();
        List<String> dashes = new ArrayList<>();
        for (int i = 0; i < outputs.size(); i++) {
            // "-" is stdout, as for most Unix tools (it wrote a file named "-"); "./-" names such a file
            if ("-".equals(asGiven(options.get(i), outputs.get(i)))) dashes.add(options.get(i));
            if (dashes.contains(options.get(i)) || isThisProcessesStdout(outputs.get(i))) toStdout.add(options.get(i));
        }
        if (dashes.size() > 1) {
            throw InputException.of("-", String.join("/", dashes), (dashes.size() == 2 ? "both" : "all") + " are stdout, which can take only one output",
                    "give " + (dashes.size() == 2 ? "the other" : "the others") + " a file's path, e.g. " + pathsFor(dashes));
        }
        if (toStdout.size() > 1) {
            // a path that is stdout (the file stdout is redirected to, /dev/stdout) is stdout as much as "-" is: the
            // outputs went there one after the other, the report after the weights in one file
            List<String> shared = options.stream().filter(toStdout::contains).toList();
            int named = 0;
            while (dashes.contains(options.get(named)) || !toStdout.contains(options.get(named))) named++;
            Path stdout = Path.of("/proc/self/fd/1");
            String where = Files.isRegularFile(stdout) ? ", here the file " + realPath(stdout) : "";
            throw InputException.of(asGiven(options.get(named), outputs.get(named)), String.join("/", shared), (shared.size() == 2 ? "both" : "all")
                    + " are stdout" + where + ", which can take only one output", "give " + (shared.size() == 2 ? "the other" : "the others") + " a file's path");
        }
        for (int i = 0; i < outputs.size(); i++) {
            // started with stdout closed (>&-), the JVM's first file opened (its modules, read-only) takes descriptor 1,
            // and the write failed after the whole run, "Bad file descriptor", with the fix for a directory
            if (toStdout.contains(options.get(i)) && !isOpenForWriting(Path.of("/proc/self/fdinfo/1"))) {
                throw InputException.of(asGiven(options.get(i), outputs.get(i)), options.get(i), "stdout is not open for writing (falcon was started"
                        + " with it closed, as with >&-)", "give a file's path, or start falcon with stdout open");
            }
        }
        for (int i = 0; i < outputs.size(); i++) {
            // binary on a terminal is garbage on the screen, lost to the user and able to leave the terminal in a state
            // of its own (gzip refuses the same way); the report is text, and may be read there
            String option = options.get(i);
            if (option.equals("--report")) continue;
            boolean stdout = toStdout.contains(option);
            if (!isATerminal(stdout ? Path.of("/proc/self/fd/1") : outputs.get(i))) continue;
            String what = option.equals("--out") ? "the pruned weights" : "the mask", file = option.equals("--out") ? "pruned.npy" : "mask.npy";
            throw InputException.of(asGiven(option, outputs.get(i)), option, (stdout ? "stdout is a terminal" : "is a terminal") + ", which cannot take "
                    + what + " (a binary .npy)", (stdout ? "redirect stdout to a file or a program (> " + file + ", | ...), or give a file: "
                    : "give a file: ") + option + " " + file);
        }
        if (!toStdout.isEmpty()) AtomicFiles.Batch.checkStandardOutputStaging(toStdout.iterator().next());
        String stdoutOption = toStdout.isEmpty() ? null : toStdout.iterator().next();
        String stdoutGiven = stdoutOption == null ? null : asGiven(stdoutOption, outputs.get(options.indexOf(stdoutOption)));
        // what follows checks paths, which an output on stdout does not have
        for (int i = outputs.size() - 1; i >= 0; i--) {
            if (toStdout.contains(options.get(i))) {
                outputs.remove(i);
                options.remove(i);
            }
        }
        for (int i = 0; i < outputs.size(); i++) {
            // another of this process's descriptors (--report /dev/stderr 2> run.log) is a link to a file, which the
            // rename replaced (/dev/stderr itself, as root; every other user was refused, "/dev is not writable")
            int descriptor = descriptorOf(outputs.get(i));
            if (descriptor >= 0 && isFileTarget(outputs.get(i))) {
                String what = descriptor == 2 ? "falcon's stderr" : "falcon's file descriptor " + descriptor;
                throw InputException.of(outputs.get(i), options.get(i), Files.exists(outputs.get(i))
                                ? "is " + what + ", a file here (" + realPath(outputs.get(i)) + "), which the output would replace rather than write"
                                : "is " + what + ", which is not open", "give the output a file of its own, or - for stdout");
            }
        }
        for (int i = 0; i < outputs.size(); i++) {
            // a Path drops the '/' that ends a directory's name: --report reports/ wrote the report as a file named
            // "reports"; and one ending in "." became a directory once its parents were created, after the solve
            String given = asGiven(options.get(i), outputs.get(i));
            Path name = outputs.get(i).getFileName();
            if (given.endsWith("/") || name != null && (name.toString().equals(".") || name.toString().equals(".."))) {
                String file = switch (options.get(i)) {
                    case "--out" -> "pruned.npy";
                    case "--mask" -> "mask.npy";
                    default -> "report.json";
                };
                String example = given.endsWith("/") ? given + file
                        : name.toString().equals(".") ? outputs.get(i).resolveSibling(file).toString() : given + "/" + file;
                throw InputException.of(given, options.get(i), "names a directory", "give a file's path, e.g. " + example);
            }
        }
        for (int i = 0; i < outputs.size(); i++) {
            for (int j = i + 1; j < outputs.size(); j++) {
                // a device (/dev/null) is written in place, so two outputs may share it; two files would replace each other
                if (isFileTarget(outputs.get(i)) && directoryEntry(outputs.get(i)).equals(directoryEntry(outputs.get(j)))) {
                    throw InputException.of(outputs.get(i), options.get(i) + "/" + options.get(j), "name the same file", "give each output its own path");
                }
                // the folder created for one would be where the other's rename goes: "Is a directory", after the whole solve
                for (int[] pair : new int[][] {{i, j}, {j, i}}) {
                    Path file = directoryEntry(outputs.get(pair[0])), inside = directoryEntry(outputs.get(pair[1]));
                    if (isFileTarget(outputs.get(pair[0])) && inside.startsWith(file) && !inside.equals(file)) {
                        throw InputException.of(outputs.get(pair[1]), options.get(i) + "/" + options.get(j), "the folder " + outputs.get(pair[0])
                                + " of its path is the file of " + options.get(pair[0]), "give each output a path of its own");
                    }
                }
            }
            if (outputs.get(i).toString().isEmpty()) throw InputException.of("''", options.get(i), "is an empty path", "give a file name");
            if (Files.isDirectory(outputs.get(i))) throw InputException.of(outputs.get(i), options.get(i), "is a directory", "give a file name");
        }
        if (!toStdout.contains("--out") && isFileTarget(outPath) && !isSafetensors(outPath) && !hasExtension(outPath, ".npy")) {
            throw InputException.of(outPath, "--out", "names no format falcon writes", "end it in .npy (float32) or .safetensors (F32)");
        }
        if (mask != null && !toStdout.contains("--mask") && isFileTarget(mask) && !hasExtension(mask, ".npy")) {
            throw InputException.of(mask, "--mask", "the mask is written as a bool .npy", "end it in .npy");
        }
        // --report r.npy (--out and --report swapped) wrote JSON that np.load and inspect then refused. Only the array
        // formats are the likely slip: any other name (keep0.3, r.json.bak, report.2026-12-07, ./-) is the user's choice
        if (!toStdout.contains("--report") && isFileTarget(reportPath) && namesAnArrayFormat(reportPath)) {
            throw InputException.of(reportPath, "--report", "names an array format (.npy, .safetensors), but the report is written as JSON",
                    "end it in .json (did you swap --out and --report?)");
        }
        // an output over an input would destroy the input. Compared through links: an input that links to an output's
        // file loses its contents to the rename; an output that links to an input would only have its link replaced,
        // but that is most likely a mistake of paths, refused the same way
        Map<Path, String> inputFiles = new LinkedHashMap<>();
        if (weights != null) inputFiles.put(ArrayFiles.fileOf(weights), "--weights");
        if (layersFile != null) inputFiles.put(layersFile, "--layers");
        if (flopsPerWeight != null) inputFiles.put(ArrayFiles.fileOf(flopsPerWeight), costsOption);
        if (linearTerm != null) inputFiles.put(ArrayFiles.fileOf(linearTerm), "--linear-term");
        if (grads != null) {
            if (gradsPattern()) {
                for (int st = 0; st < stages; st++) inputFiles.put(ArrayFiles.fileOf(FilePatternGradients.fileOf(grads, st)), "--grads");
            } else {
                inputFiles.put(ArrayFiles.fileOf(grads), "--grads");
            }
        }
        if (stdoutOption != null) {
            // stdout appending to an input (--out - >> w.npy) wrote the output onto the input's end
            Path stdout = Path.of("/proc/self/fd/1");
            for (Map.Entry<Path, String> in : inputFiles.entrySet()) {
                try {
                    if (Files.isRegularFile(stdout) && Files.exists(in.getKey()) && Files.isSameFile(stdout, in.getKey())) {
                        throw InputException.of(stdoutGiven, stdoutOption, "stdout is the input " + in.getKey() + " (" + in.getValue()
                                + "); writing it would destroy the input", "send stdout elsewhere, or give the output a file's path");
                    }
                } catch (IOException e) {
                    // not a file this process can compare: not an input
                }
            }
        }
        for (int o = 0; o < outputs.size(); o++) {
            Path output = outputs.get(o);
            if (!Files.exists(output)) continue;
            for (Map.Entry<Path, String> in : inputFiles.entrySet()) {
                try {
                    if (Files.exists(in.getKey()) && Files.isSameFile(output, in.getKey())) {
                        throw InputException.of(output, options.get(o), "is the input " + in.getKey() + " (" + in.getValue()
                                + "); writing it would destroy the input", "give the output another path");
                    }
                } catch (IOException e) {
                    throw InputException.of(output, options.get(o), "cannot be compared with the input " + in.getKey() + " (" + dev.falcon.io.ReadFailures.detail(e) + ")",
                            "give the output another path");
                }
            }
        }
        // fail now, not after the solve, when an output cannot be created
        for (int o = 0; o < outputs.size(); o++) {
            Path output = outputs.get(o);
            if (!isFileTarget(output)) {
                // a socket cannot be opened: the write in place failed after the solve, "No such device or address"
                if (isSocket(output)) throw InputException.of(output, options.get(o), "is a socket, which cannot be opened for writing", "give a file's path, a pipe or a device");
                // a device or a pipe is written in place: its own mode counts, not its directory's (/dev is root's alone,
                // and --out /dev/null failed for every other user)
                if (!Files.isWritable(output)) throw InputException.of(output, options.get(o), "is not writable", "choose an output this user may write");
                continue;
            }
            Path existing = output.toAbsolutePath().getParent();
            while (existing != null && !Files.exists(existing)) {
                // a dangling link is no folder to create: the run solved, then failed with "... is not a directory"
                if (Files.isSymbolicLink(existing)) {
                    String target;
                    try {
                        // a relative target is relative to the link's folder, not to where falcon runs
                        target = existing.resolveSibling(Files.readSymbolicLink(existing)).toString();
                    } catch (IOException e) {
                        target = "a path";
                    }
                    throw InputException.of(output, options.get(o), existing + " is a symbolic link to " + target + ", which does not exist",
                            "create " + target + ", or choose another output path");
                }
                existing = existing.getParent();
            }
            if (existing != null && Files.isDirectory(existing) && !Files.isWritable(existing) && onAReadOnlyFileSystem(existing)) {
                // not a matter of the folder's permissions, which no chmod (and no root) changes
                throw InputException.of(output, options.get(o), existing + " is on a read-only file system", "choose an output path on a writable one");
            }
            if (existing != null && (!Files.isDirectory(existing) || !Files.isWritable(existing))) {
                throw InputException.of(output, options.get(o), existing + (Files.isDirectory(existing) ? " is not writable" : " is not a directory"),
                        "choose a writable location");
            }
            String noNewFiles = existing != null ? newFilesRefused(Map.of(existing, 1)) : null;
            if (noNewFiles != null) {
                throw InputException.of(output, options.get(o), noNewFiles, "choose an output path in a folder where files can be created");
            }
            String owner = anotherOwnerInAStickyDirectory(output);
            if (owner != null) {
                throw InputException.of(output, options.get(o), "belongs to " + owner + " in the sticky directory " + output.toAbsolutePath().getParent()
                        + ", where only its owner or the directory's may replace it", "choose another output path, or ask " + owner + " to remove it");
            }
            String readOnly = readOnlyForItsOwner(output);
            if (readOnly != null) {
                throw InputException.of(output, options.get(o), "is read-only (" + readOnly + ": its owner, this user, may not write it)",
                        "make it writable to replace it (chmod u+w " + output + "), or choose another output path");
            }
            AtomicFiles.checkNameLengths(output, options.get(o));
        }
        checkNewFilesPerFileSystem(outputs, options);
        checkFreeSpace(outputs, options, stdoutOption, p, layerCount);
    }

    /** Bytes an output will take: the array's data, its header, and for the report a generous allowance for its tables. */
    private static long outputBytes(String option, Path output, long p, int layerCount) {
        return switch (option) {
            case "--out" -> 4 * p + (isSafetensors(output) ? 1024 : 256);
            case "--mask" -> p + 256;
            default -> REPORT_ALLOWANCE + 1024L * layerCount;
        };
    }

    /** What a report takes before its per-layer rows: measured reports run to 20 KB (resnet50 mp, resnet20 falcon++). */
    static final long REPORT_ALLOWANCE = 64 << 10;

    /**
     * Refuses outputs whose file system cannot take them: a full disk was found only when the pruned weights were written,
     * after the whole solve. Each output is written whole beside the file it replaces before the rename, so the old
     * file's space does not count; outputs on one file system are added up. An output to stdout is held in
     * java.io.tmpdir until every output is written, and counts there.
     */
    private static void checkFreeSpace(List<Path> outputs, List<String> options, String stdoutOption, long p, int layerCount) {
        record Held(String option, boolean stdout, Path shown, Path folder, long bytes) {
            String label() { return option + (stdout ? " (stdout, held in java.io.tmpdir)" : ""); }
        }
        List<Held> held = new ArrayList<>();
        for (int o = 0; o < outputs.size(); o++) {
            if (!isFileTarget(outputs.get(o))) continue; // a device or a pipe is written in place and holds nothing
            Path existing = outputs.get(o).toAbsolutePath().getParent();
            while (existing != null && !Files.exists(existing)) existing = existing.getParent();
            if (existing != null) held.add(new Held(options.get(o), false, outputs.get(o), existing, outputBytes(options.get(o), outputs.get(o), p, layerCount)));
        }
        if (stdoutOption != null) {
            Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
            held.add(new Held(stdoutOption, true, tmp, tmp, outputBytes(stdoutOption, Path.of("-"), p, layerCount)));
        }
        Map<java.nio.file.FileStore, List<Held>> byStore = new LinkedHashMap<>();
        for (Held h : held) {
            try {
                byStore.computeIfAbsent(Files.getFileStore(h.folder()), k -> new ArrayList<>()).add(h);
            } catch (IOException | RuntimeException e) {
                // no file store to ask: the write says what is wrong
            }
        }
        for (Map.Entry<java.nio.file.FileStore, List<Held>> e : byStore.entrySet()) {
            long free;
            try {
                // a file system that gives no size at all (some FUSE mounts say 0 of 0) has no figure to judge by
                if (e.getKey().getTotalSpace() == 0) continue;
                free = e.getKey().getUsableSpace();
            } catch (IOException | RuntimeException ex) {
                continue;
            }
            long need = e.getValue().stream().mapToLong(Held::bytes).sum();
            if (free >= need) continue;
            List<String> parts = e.getValue().stream().map(h -> h.label() + " " + (h.option().equals("--report") ? "about " : "")
                    + SystemInfo.bytes(h.bytes())).toList();
            Held first = e.getValue().get(0);
            boolean staged = e.getValue().stream().anyMatch(Held::stdout);
            throw InputException.of(first.shown(), e.getValue().stream().map(Held::option).collect(java.util.stream.Collectors.joining("/")),
                    first.folder() + fileSystemKind(first.folder()) + " has " + SystemInfo.bytes(free) + " free for this user, but the outputs written there need "
                            + SystemInfo.bytes(need) + " (" + String.join(", ", parts) + "; p = " + p + ")",
                    "free space there, or choose output paths on another file system" + (staged ? " (for stdout: set TMPDIR to a folder with room)" : ""));
        }
    }

    /**
     * The mode of an existing output that is this user's own file without write permission for its owner (chmod a-w
     * keeps a result), else null: the rename needs only the directory's permission, and replaced it without a word.
     * Another user's file this user may replace is left to the directory's permission, as a rename is.
     */
    private static String readOnlyForItsOwner(Path output) {
        try {
            if (!Files.isRegularFile(output, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return null; // a link is replaced, not what it points to
            java.util.Set<java.nio.file.attribute.PosixFilePermission> mode = Files.getPosixFilePermissions(output, java.nio.file.LinkOption.NOFOLLOW_LINKS);
            if (mode.contains(java.nio.file.attribute.PosixFilePermission.OWNER_WRITE)) return null;
            int owner = (Integer) Files.getAttribute(output, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            return owner == new com.sun.security.auth.module.UnixSystem().getUid() ? java.nio.file.attribute.PosixFilePermissions.toString(mode) : null;
        } catch (IOException | RuntimeException | LinkageError e) {
            return null; // not a POSIX file system: the rename decides
        }
    }

    /**
     * Refuses outputs whose file system cannot take the new files the commit makes there at once: a temporary file per
     * output and each folder missing above them, counted over the outputs on one file system (as the free bytes are).
     * Each takes an inode: a file system out of them, with its bytes free, passed the space check, and the run failed
     * after the whole solve; probed folder by folder, three outputs in three folders of a file system with two inodes
     * free passed too. The lock file is not counted: the commit does without it where it cannot be created
     * (AtomicFiles.Batch.lockDirectories), and two outputs in one folder were refused where two folders committed.
     */
    private static void checkNewFilesPerFileSystem(List<Path> outputs, List<String> options) {
        record Output(String option, Path shown, Path folder, int newFiles) {}
        Map<java.nio.file.FileStore, List<Output>> byStore = new LinkedHashMap<>();
        java.util.Set<Path> toCreate = new java.util.HashSet<>(); // folders to create, each made once
        for (int o = 0; o < outputs.size(); o++) {
            Path output = outputs.get(o);
            if (!isFileTarget(output)) continue;
            Path dir = output.toAbsolutePath().getParent();
            if (dir == null) continue;
            int made = 1;
            Path existing = dir;
            for (; existing != null && !Files.exists(existing); existing = existing.getParent()) made += toCreate.add(existing) ? 1 : 0;
            if (existing == null) continue;
            try {
                byStore.computeIfAbsent(Files.getFileStore(existing), k -> new ArrayList<>()).add(new Output(options.get(o), output, existing, made));
            } catch (IOException | RuntimeException e) {
                // no file store to ask: the write says what is wrong
            }
        }
        for (List<Output> onOne : byStore.values()) {
            Map<Path, Integer> newFilesIn = new LinkedHashMap<>();
            for (Output out : onOne) newFilesIn.merge(out.folder(), out.newFiles(), Integer::sum);
            if (newFilesIn.values().stream().mapToInt(Integer::intValue).sum() < 2) continue; // one file: asked of its folder already
            String refused = newFilesRefused(newFilesIn);
            if (refused != null) {
                throw InputException.of(onOne.get(0).shown(), onOne.stream().map(Output::option).collect(java.util.stream.Collectors.joining("/")),
                        refused, "remove files there, or choose output paths on another file system");
            }
        }
    }

    /**
     * Why the folders, all on one file system, cannot take their counts of new files all at once, else null. access()
     * judges the mode alone, which root passes everywhere: /sys and /proc refused the output's temporary file only after
     * the whole solve, /proc's refusal told as a folder that "may have been removed during the run". Hidden files are
     * created there, all held until the last is made, and removed.
     */
    private static String newFilesRefused(Map<Path, Integer> newFilesIn) {
        List<Path> probes = new ArrayList<>();
        int count = newFilesIn.values().stream().mapToInt(Integer::intValue).sum();
        Path dir = null;
        try {
            for (Map.Entry<Path, Integer> folder : newFilesIn.entrySet()) {
                dir = folder.getKey();
                for (int i = 0; i < folder.getValue(); i++) probes.add(Files.createTempFile(dir, ".falcon-probe-", ".tmp"));
            }
        } catch (IOException e) {
            if (!probes.isEmpty() || AtomicFiles.isNoSpace(e)) {
                return dir + fileSystemKind(dir) + " takes " + (probes.isEmpty() ? "no new file" : "only " + probes.size() + " of the " + count
                        + " new files the outputs need on its file system (their temporary files, and the folders to create)") + " ("
                        + dev.falcon.io.ReadFailures.detail(e) + "): its file system " + AtomicFiles.NoSpace.on(dir).lack();
            }
            String outcome = e instanceof java.nio.file.AccessDeniedException ? "was refused"
                    : e instanceof java.nio.file.NoSuchFileException ? "said \"no such file or directory\"" : "failed: " + dev.falcon.io.ReadFailures.detail(e);
            return dir + fileSystemKind(dir) + " takes no new files (creating one there " + outcome + ")";
        } catch (RuntimeException e) {
            return null; // not a file system Java can create in: the write says what is wrong
        } finally {
            for (Path probe : probes) {
                try {
                    Files.delete(probe);
                } catch (IOException e) {
                    // created, so outputs can be: the probe's name says what it was
                }
            }
        }
        return null;
    }

    private static String fileSystemKind(Path dir) {
        try {
            String type = Files.getFileStore(dir).type();
            return type == null || type.isBlank() ? "" : " (on a " + type + " file system)";
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    private static boolean onAReadOnlyFileSystem(Path dir) {
        try {
            return Files.getFileStore(dir).isReadOnly();
        } catch (IOException | RuntimeException e) {
            return false; // the folder's own message follows
        }
    }

    private static boolean isSocket(Path path) {
        try {
            return ((Integer) Files.getAttribute(path, "unix:mode") & 0170000) == 0140000;
        } catch (IOException | RuntimeException e) {
            return false; // not a POSIX file system: the write says what is wrong
        }
    }

    /**
     * The owner of an existing output that this user may not replace, for it is in a sticky directory (/tmp, a shared
     * folder) and neither it nor the directory is this user's: the rename failed after the solve ("Operation not
     * permitted"). Null where it may, and where that cannot be told (root may, by its capabilities).
     */
    private static String anotherOwnerInAStickyDirectory(Path output) {
        try {
            Path dir = output.toAbsolutePath().getParent();
            if (dir == null || !Files.exists(output, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return null;
            if (((Integer) Files.getAttribute(dir, "unix:mode") & 01000) == 0) return null;
            long me = new com.sun.security.auth.module.UnixSystem().getUid();
            int owner = (Integer) Files.getAttribute(output, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            if (me == 0 || owner == me || (Integer) Files.getAttribute(dir, "unix:uid") == me) return null;
            return Files.getOwner(output, java.nio.file.LinkOption.NOFOLLOW_LINKS).getName();
        } catch (IOException | RuntimeException | LinkageError e) {
            return null; // not a POSIX file system, or no uid to compare: the rename says what is wrong
        }
    }

    /** An option's value as the command line gave it, before Path took a trailing '/' off; its Path where none was given. */
    private String asGiven(String option, Path parsed) {
        String text = typedText(option);
        return text != null ? text : parsed.toString();
    }

    /** A number option's value as the command line gave it (not Java's 0.0 or 1.0E30 for 0 or 1e30); its value where none was given. */
    private String typed(String option, double value) {
        String text = typedText(option);
        return text != null ? text : Numbers.shown(value);
    }

    /** The text the command line gave an option (its last occurrence), or null where it was not given. */
    private String typedText(String option) {
        picocli.CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (given == null || !given.hasMatchedOption(option)) return null;
        List<String> values = given.matchedOption(option).originalStringValues();
        return values.isEmpty() ? null : values.get(values.size() - 1);
    }

    /**
     * The directory entry a path names, with the symbolic links of its directories resolved: {@code d1/a.npy} and
     * {@code d2/a.npy} with d2 a link to d1 are one file, and the rename of the second would replace the first. The
     * file name itself is not resolved: a rename replaces a link, not what it points to.
     */
    private static Path directoryEntry(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path dir = absolute.getParent();
        if (dir == null) return absolute;
        Path existing = dir;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return absolute;
        try {
            return existing.toRealPath().resolve(existing.relativize(dir)).resolve(absolute.getFileName());
        } catch (IOException e) {
            return absolute;
        }
    }

    /** Whether the path is, or will be, a regular file (not a device such as /dev/null, which is written in place). */
    private static boolean isFileTarget(Path path) {
        return !Files.exists(path) || Files.isRegularFile(path);
    }

    private static boolean isSafetensors(Path path) {
        return hasExtension(path, ".safetensors");
    }

    private static boolean hasExtension(Path path, String extension) {
        return path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(extension);
    }

    /** Whether the name ends as an array file falcon reads or writes does (.npy, .safetensors, any case; ArrayFiles.locate). */
    private static boolean namesAnArrayFormat(Path path) {
        return isSafetensors(path) || hasExtension(path, ".npy");
    }

    /**
     * The pruned weights in the format the output's name gives: .safetensors (one F32 tensor, named as the input
     * tensor when the weights came from a .safetensors file, else "weights"), otherwise .npy.
     */
    private AtomicFiles.TempWriter weightsContent(Path outPath, FloatPointer pruned, long[] shape, Method m) {
        if (!isSafetensors(outPath)) return Npy.float32Content(outPath, pruned, shape);
        String name = weights != null && isSafetensors(ArrayFiles.fileOf(weights))
                ? ArrayFiles.tensorName(weights, "--weights") : "weights";
        // JSON allows the key "", the writer does not: the run failed with an internal error after the whole prune
        if (name.isEmpty()) name = "weights";
        LinkedHashMap<String, NamedArray> tensors = new LinkedHashMap<>();
        tensors.put(name, new NamedArray(pruned, shape));
        return Safetensors.content(outPath, tensors, Map.of("producer", "falcon prune", "method", m.cliName()));
    }

    private static LayerTable readLayers(Path file) {
        try {
            return LayersJson.read(file, -1, Budgets.ArgumentNames.CLI.flops());
        } catch (InputException e) {
            // named with its option, as the array readers name theirs: an .npy given here was a bare "w.npy: json: ..."
            if (e.getMessage().startsWith("--layers: ")) throw e;
            String named = "--layers: " + e.getMessage();
            throw e.ofTheMachine() ? InputException.ofTheMachine(named, e) : new InputException(named, e);
        } catch (IllegalArgumentException e) {
            throw InputException.of(file, "layers", e.getMessage(), "fix the layer table");
        }
    }

    private static LayerTable layersFromFlops(String spec, String option, long p) {
        if (p > Integer.MAX_VALUE - 8) throw InputException.of(spec, option, "p = " + p + " is too large for a per-weight file", "give a --layers table instead");
        LayerTable.Runs runs = new LayerTable.Runs();
        // as doubles: 0.7 read as float32 made the dense FLOPs of ten such weights 6.99999988, below a --flops 7
        ArrayFiles.readValues(spec, option, p, (values, start, count) -> {
            for (int j = 0; j < count; j++) runs.add(values[j]);
        });
        // NaN and Inf were refused by readValues, in the words of every file it reads
        String costProblem = runs.firstCostProblem();
        if (costProblem != null) throw InputException.of(spec, option, costProblem, LayerTable.Runs.COST_FIX);
        // the file, once, and the fix that helps: the table's refusal named a layer "run0" the user never wrote
        if (!runs.denseFlopsFitADouble()) throw InputException.of(spec, option, LayerTable.COSTS_SUM_BEYOND_DOUBLE, LayerTable.RESCALE_COSTS_FIX);
        try {
            return runs.table(spec);
        } catch (IllegalArgumentException e) {
            throw InputException.of(spec, option, e.getMessage(), "fix the file");
        }
    }

    /** Shape of the weights array (to write the pruned weights in the same shape). */
    private static long[] weightsShape(String spec) {
        return ArrayFiles.shape(spec, "--weights");
    }


    // ---------------------------------------------------------------- report

    private Map<String, Object> objectiveReport(Objective.Value v, long n) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("rows", n);
        o.put("lambda_option", inOrder("value", lambda, "convention", convention.cliName()));
        o.put("note", "Q(wbar) = 0 in both conventions (before pruning); values below are after pruning. "
                + "The conventions agree when lambda = l2 * n and there is no linear term.");
        Map<String, Object> ridge = new LinkedHashMap<>();
        ridge.put("formula", "1/2 ||X (w - wbar)||^2 + lambda/2 ||w - wbar||^2 + g^T (w - wbar)");
        ridge.put("lambda", v.lambda());
        ridge.put("fit_term", v.fit());
        ridge.put("ridge_term", v.ridgeTerm());
        ridge.put("linear_term", v.linear());
        ridge.put("before", 0.0);
        ridge.put("after", v.q());
        Map<String, Object> falcon = new LinkedHashMap<>();
        falcon.put("formula", "0.5 ||y - X w||^2 + l2n ||wbar - w||^2, y = X wbar, l2n = l2 * n / 2");
        falcon.put("l2", v.l2());
        falcon.put("l2n", v.l2n());
        falcon.put("fit_term", v.fit());
        falcon.put("ridge_term", v.l2n() * v.sqDist());
        falcon.put("before", 0.0);
        falcon.put("after", v.falconValue());
        o.put("ours", ridge);
        o.put("falcon_authors", falcon);
        o.put("squared_distance", v.sqDist());
        return o;
    }

    private Map<String, Object> lowerBoundReport(ComputeBackend backend, Resources res, LayerTable layers, Budgets b, Objective.Value after,
                                                 boolean within) {
        LowerBound ours = Objective.lowerBound(backend, res.weights, res.g, after.lambda(), layers, b.nnz(), b.flops());
        // the authors' objective has no linear term: its bound is the same one without g
        LowerBound theirs = res.g == null ? ours : Objective.lowerBound(backend, res.weights, null, after.lambda(), layers, b.nnz(), b.flops());
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("what", "certified: no w within the budgets has a smaller Q (fit term >= 0; ridge and linear terms minimised per"
                + " weight; kept set bounded by the LP dual of the FLOP-aware selection). The gap says how much lower any method"
                + " could still go; with n much smaller than the support it is small.");
        o.put("ours", ours.value());
        o.put("falcon_authors", theirs.value());
        // a bound beyond double's range is written as null, and why, not as an Infinity nobody can read as a bound
        if (ours.unavailable() != null) o.put("ours_note", "no bound: " + ours.unavailable());
        if (theirs.unavailable() != null) o.put("falcon_authors_note", "no bound: " + theirs.unavailable());
        // weights outside the budgets (falcon++ stopped before its last stage) are no w the bound speaks of: their Q may
        // lie below it, and a negative "gap" would read as a bound that does not hold
        o.put("relative_gap_of_after", within ? ours.relativeRoom(after.q()) : null);
        o.put("relative_gap_of_after_falcon_authors", within ? theirs.relativeRoom(after.falconValue()) : null);
        if (!within) o.put("gap_note", "not compared: " + NOT_WITHIN_BUDGETS);
        o.put("of_which_selection_lp", ours.selectionSlack());
        return o;
    }

    /** A two-entry map that keeps its order: Map.of iterates in a per-JVM order, and the report must not change between runs. */
    private static Map<String, Object> inOrder(String k1, Object v1, String k2, Object v2) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put(k1, v1);
        m.put(k2, v2);
        return m;
    }

    private Map<String, Object> buildReport(Method m, ExampleModel model, Map<String, Object> inputs, Map<String, Object> checksums,
                                            LayerTable layers, Budgets b, PruneResult r, Map<String, Object> objective,
                                            ComputeBackend backend, Backends.Choice choice, MemoryPlan plan, Path outPath, Path reportPath) {
        Map<String, Object> rep = new LinkedHashMap<>();
        rep.put("falcon_version", SystemInfo.falconVersion());
        rep.put("method", m.cliName());
        if (model == null) {
            Map<String, Object> files = new LinkedHashMap<>();
            files.put("weights", weights);
            if (layersFile != null) files.put("layers", layersFile.toString());
            if (flopsPerWeight != null) files.put("flops_per_weight", flopsPerWeight);
            if (grads != null) files.put("grads", grads);
            if (linearTerm != null) files.put("linear_term", linearTerm);
            inputs.put("files", files);
            inputs.put("sha256", checksums);
        }
        rep.put("inputs", inputs);
        Map<String, Object> budgets = new LinkedHashMap<>();
        budgets.put("dense", inOrder("nnz", b.parameters(), "flops", b.denseFlops()));
        Map<String, Object> asked = new LinkedHashMap<>();
        asked.put("nnz", b.nnz());
        asked.put("nnz_fraction", b.nnzFraction());
        asked.put("nnz_request", b.nnzRequest());
        asked.put("flops", b.flops());
        asked.put("flops_fraction", b.flopsFraction());
        asked.put("flops_request", b.flopsRequest());
        budgets.put("asked", asked);
        Map<String, Object> achieved = new LinkedHashMap<>();
        achieved.put("nnz", r.kept());
        achieved.put("nnz_fraction", (double) r.kept() / b.parameters());
        // (p - nnz) / p rounds once: 1 - nnz / p rounded twice, and 1,136 of 1,600 read 0.29000000000000004
        achieved.put("sparsity", (double) (b.parameters() - r.kept()) / b.parameters());
        achieved.put("flops", r.keptFlops());
        achieved.put("flops_fraction", r.keptFlops() / b.denseFlops());
        budgets.put("achieved", achieved);
        // false only when falcon++ stopped early and --out holds an earlier stage's weights
        budgets.put("within_budgets", withinBudgets(r, b));
        rep.put("budgets", budgets);
        List<Map<String, Object>> table = new ArrayList<>();
        long[] kept = r.keptPerLayer();
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", layer.name());
            row.put("shape", layer.shape());
            row.put("count", layer.count());
            row.put("kept", kept[l]);
            row.put("density", (double) kept[l] / layer.count());
            row.put("flops_per_weight", layer.flopsPerWeight());
            row.put("flops_dense", layer.count() * layer.flopsPerWeight());
            row.put("flops_kept", kept[l] * layer.flopsPerWeight());
            row.put("share_of_kept_flops", r.keptFlops() > 0 ? kept[l] * layer.flopsPerWeight() / r.keptFlops() : 0.0);
            table.add(row);
        }
        rep.put("layers", table);
        Map<String, Object> sel = new LinkedHashMap<>();
        sel.put("kept_score_sum_w2", r.keptScore());
        if (r.certificate() != null) {
            sel.put("primal", r.certificate().primalValue());
            sel.put("dual_bound", r.certificate().dualBound());
            sel.put("relative_gap", r.certificate().relativeGap());
            sel.put("mu", r.certificate().mu());
            sel.put("omega", r.certificate().omega());
            sel.put("dual_evaluations", r.certificate().dualEvaluations());
        } else {
            sel.put("relative_gap", null);
            sel.put("note", m == Method.FALCON || m == Method.FALCON_PLUS_PLUS
                    ? "falcon's support comes from DFO projections and backsolves; see objective.solver (last_projection_relative_gap)"
                    : "magnitude ranking has no optimality certificate; use --method mp for the FLOP-aware ILP with a duality gap");
        }
        rep.put("selection", sel);
        rep.put("objective", objective != null ? objective : Map.of("note", "no gradients (--grads) given: objective not evaluated"));
        rep.put("timings_seconds", timings);
        Map<String, Object> be = new LinkedHashMap<>();
        be.put("name", backend.name());
        be.put("description", backend.description());
        be.put("threads", backend.threads());
        if (backend.openBlasThreads() > 0) be.put("openblas_threads", backend.openBlasThreads());
        // say where the request came from: a backend forced by -Dfalcon.backend (FALCON_JAVA_OPTS) is no default, and a
        // report read or compared later must show it as forced, as the INFO line does
        String forcedByProperty = System.getProperty(Backends.PROPERTY);
        be.put("requested", device != null ? device
                : forcedByProperty != null ? forcedByProperty + " (-D" + Backends.PROPERTY + ")" : "auto (default)");
        be.put("choice", choice.explanation());
        Backends.candidates().stream().filter(c -> c.name().equals(backend.name())).findFirst()
                .ifPresent(c -> be.put("facts", typedFacts(c.availability().facts())));
        rep.put("backend", be);
        Map<String, Object> mem = new LinkedHashMap<>();
        mem.put("estimate_bytes", plan.required());
        mem.put("estimate", plan.describe());
        mem.put("available_bytes", plan.available());
        // measured once the rest of the report is serialized: that serialization alone raised VmHWM by 5-27 MiB (resnet20,
        // --n 64), which a figure taken while the report was built left out
        SystemInfo.ResidentSampler sampler = resident;
        mem.put("peak_rss_bytes", new LateNumber(SystemInfo::peakResident));
        mem.put("peak_rss_note", "VmHWM of the process once the other outputs and the rest of this report were written (its numbers filled in"
                + " at a fixed width): its own memory (Java heap, off-heap vectors, a copied X) and the pages of the files it maps (the JVM's and"
                + " libraries' code, and a memory-mapped X), which are page cache the kernel can drop under memory pressure;"
                + " peak_anonymous_bytes is the first part, the one the estimate is for. It leaves out what comes after: writing this"
                + " report's bytes, putting the outputs in place, the summary and the JVM's exit");
        mem.put("peak_anonymous_bytes", new LateNumber(() -> sampler != null ? sampler.peakAnonymous() : -1));
        mem.put("peak_file_bytes", new LateNumber(() -> sampler != null ? sampler.peakFile() : -1));
        mem.put("peak_parts_note", "the largest RssAnon and RssFile of the process, sampled every " + SystemInfo.ResidentSampler.INTERVAL_MS
                + " ms during the run and once more with peak_rss_bytes (the kernel keeps no peak of either), so a shorter peak can be missed");
        rep.put("memory", mem);
        Map<String, Object> ver = new LinkedHashMap<>();
        ver.put("falcon", SystemInfo.falconVersion());
        ver.put("java", SystemInfo.javaVersion());
        ver.put("javacpp", SystemInfo.javacppVersion());
        ver.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        rep.put("versions", ver);
        Map<String, Object> outs = new LinkedHashMap<>();
        outs.put("pruned_weights", shown("--out", outPath).toString());
        if (mask != null) outs.put("mask", shown("--mask", mask).toString());
        outs.put("report", shown("--report", reportPath).toString());
        rep.put("outputs", outs);
        return rep;
    }

    /**
     * Whether an output path is this process's stdout (/dev/stdout, /dev/fd/1, or the file stdout is redirected to). Not
     * where both are /dev/null, which is written in place and discards either way.
     */
    static boolean isThisProcessesStdout(Path output) {
        Path stdout = Path.of("/proc/self/fd/1");
        try {
            if (!Files.exists(stdout) || Files.isSameFile(stdout, Path.of("/dev/null"))) return false;
            return Files.exists(output) && Files.isSameFile(output, stdout);
        } catch (IOException | RuntimeException e) {
            return false; // not a file this process can look at: not its stdout
        }
    }

    /**
     * Whether the descriptor whose /proc/self/fdinfo file is given is open for writing: false where it is closed or open
     * only for reading; true where /proc cannot tell.
     */
    static boolean isOpenForWriting(Path fdinfo) {
        if (!Files.isDirectory(fdinfo.getParent())) return true;
        try {
            for (String line : Files.readAllLines(fdinfo)) {
                if (line.startsWith("flags:")) return (Integer.parseInt(line.substring("flags:".length()).trim(), 8) & 3) != 0; // O_ACCMODE, O_RDONLY 0
            }
        } catch (java.nio.file.NoSuchFileException closed) {
            return false;
        } catch (IOException | RuntimeException e) {
            // cannot tell: the write says what is wrong
        }
        return true;
    }

    /**
     * Whether the path (an output, or /proc/self/fd/1 for stdout) is a terminal: a character device whose real path
     * names one. Java tells only approximately (System.console() is null where stdin alone is redirected, and from Java
     * 22 on it is not null where stdout is a pipe); false where /proc, or the file, cannot tell.
     */
    static boolean isATerminal(Path path) {
        try {
            if (((Integer) Files.getAttribute(path, "unix:mode") & 0170000) != 0020000) return false; // a file named /dev/ttyX is none
            return namesATerminal(path.toRealPath().toString());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Whether a device's path names a terminal: a pseudo-terminal (/dev/pts/N: a terminal emulator's, ssh's, tmux's), a
     * virtual console, serial line or the controlling terminal (/dev/tty...), or the system console.
     */
    static boolean namesATerminal(String devicePath) {
        return devicePath.matches("/dev/pts/[0-9]+") || devicePath.startsWith("/dev/tty") || devicePath.equals("/dev/console");
    }

    /**
     * The descriptor of this process an output path leads to through its links (/dev/stderr, /dev/fd/3, /proc/self/fd/2),
     * or -1 where it leads to none.
     */
    static int descriptorOf(Path output) {
        try {
            Path descriptors = Path.of("/proc/self/fd").toRealPath();
            Path p = output.toAbsolutePath();
            for (int links = 0; links < 40; links++) {
                Path dir = p.getParent();
                if (dir != null && Files.isDirectory(dir) && dir.toRealPath().equals(descriptors)) return Integer.parseInt(p.getFileName().toString());
                if (!Files.isSymbolicLink(p)) return -1;
                p = p.resolveSibling(Files.readSymbolicLink(p));
            }
        } catch (IOException | RuntimeException e) {
            // no /proc (not Linux), or a link this user cannot read: no descriptor to tell
        }
        return -1;
    }

    private static String realPath(Path path) {
        try {
            return path.toRealPath().toString();
        } catch (IOException e) {
            return path.toString();
        }
    }

    /** The outputs (by option) written to stdout, set by checkOutputs. */
    private final java.util.Set<String> toStdout = new java.util.HashSet<>();

    /** How the summary, the report and a stop's line name an output: "stdout" for one given as "-". */
    private Path shown(String option, Path output) {
        return toStdout.contains(option) && "-".equals(asGiven(option, output)) ? Path.of("stdout") : output;
    }

    /**
     * Adds an output to the batch: one for stdout is written to file descriptor 1 itself. An output path that is stdout
     * (/dev/stdout) was written as a file where stdout was redirected to one (falcon prune --report /dev/stdout > r.json):
     * the rename replaced the link /dev/stdout with the report (as root; every other user was refused, "/dev is not
     * writable"), and r.json got the summary.
     */
    private void add(AtomicFiles.Batch batch, String option, Path output, AtomicFiles.TempWriter content) {
        if (toStdout.contains(option)) {
            batch.addStandardOutput(option, content);
        } else {
            batch.createParentDirectories(output, option);
            batch.add(output, option, content);
        }
    }

    /**
     * Why falcon++ stopped, for the summary and the error line: one line, where the stderr the command wrote is pointed
     * to, not copied. It was copied raw (NUL, terminal escapes, 20 lines of up to 4,096 characters) into both, and shown
     * on stderr a second time after streaming there; control characters in the reason (a command or path that holds
     * one) are escaped.
     */
    private String stoppedInOneLine(MultiStage.Result ms) {
        String reason = dev.falcon.model.LayerTable.escaped(ms.stopped());
        if (ms.stoppedOutput() == null) return reason;
        String mark = dev.falcon.solve.CommandGradients.outputMark(ms.lastCompletedStage() + 1);
        return reason + (quiet ? "; its stderr ends with:" : "; its stderr is shown above, in the lines marked " + mark);
    }

    private void printSummary(PrintWriter o, Method m, String runName, LayerTable layers, Budgets b, PruneResult r,
                              Map<String, Object> objective, ComputeBackend backend, Path outPath, Path reportPath, HeldInputs held) {
        o.printf(Locale.ROOT, "falcon prune %s, method %s, backend %s%n", runName, m.cliName(), backend.description());
        o.printf(Locale.ROOT, "  p = %s in %s, dense FLOPs %s%n", InspectCommand.weightCount(b.parameters()), InspectCommand.layerCount(layers.size()), InspectCommand.flops(b.denseFlops()));
        // beside the NNZ budget its own share of p: the fraction asked (0.9999 of 2,520) floors to a count (2,519) whose share
        // differs, and the request beside it already says what was asked
        o.printf(Locale.ROOT, "  budgets:  NNZ <= %,d (%s, %s), FLOPs <= %s (%s, %s)%n", b.nnz(), percent((double) b.nnz() / b.parameters()),
                b.nnzRequest(), InspectCommand.flops(b.flops()), percent(b.flopsFraction()), b.flopsRequest());
        o.printf(Locale.ROOT, "  achieved: NNZ %,d (%s), FLOPs %s (%s)%n", r.kept(), percent((double) r.kept() / b.parameters()),
                InspectCommand.flops(r.keptFlops()), percent(r.keptFlops() / b.denseFlops())); // 100 * FLOPs is Infinity past 1.8e306
        if (r.certificate() != null) {
            o.printf(Locale.ROOT, "  selection: sum w^2 kept %.6g, dual bound %.6g, relative gap %.3g%n", r.certificate().primalValue(),
                    r.certificate().dualBound(), r.certificate().relativeGap());
        } else if (m == Method.FALCON || m == Method.FALCON_PLUS_PLUS) {
            o.printf(Locale.ROOT, "  selection: sum wbar^2 kept %.6g (falcon: support from DFO + backsolve; each projection has its own gap)%n", r.keptScore());
        } else {
            o.printf(Locale.ROOT, "  selection: sum w^2 kept %.6g (magnitude: no dual bound)%n", r.keptScore());
        }
        if (objective != null) {
            @SuppressWarnings("unchecked") Map<String, Object> ours = (Map<String, Object>) objective.get("ours");
            @SuppressWarnings("unchecked") Map<String, Object> theirs = (Map<String, Object>) objective.get("falcon_authors");
            o.printf(Locale.ROOT, "  objective after pruning: Q = %.6g (lambda %.3g); authors' convention %.6g (l2 %.3g); before: 0%n",
                    (Double) ours.get("after"), (Double) ours.get("lambda"), (Double) theirs.get("after"), (Double) theirs.get("l2"));
            @SuppressWarnings("unchecked") Map<String, Object> bound = (Map<String, Object>) objective.get("lower_bound");
            double floor = (Double) bound.get("ours"), after = (Double) ours.get("after");
            if (bound.get("ours_note") != null) {
                o.printf(Locale.ROOT, "  lower bound: none, %s%n", bound.get("ours_note").toString().substring("no bound: ".length()));
            } else o.printf(Locale.ROOT, "  lower bound: no w within the budgets has Q below %.6g; %s%n", floor,
                    bound.get("relative_gap_of_after") == null ? "Q after is not compared: the weights are not within the budgets"
                    : floor > 0 && after > 1.5 * floor ? String.format(Locale.ROOT, "Q after is %.3g times that", after / floor)
                            : String.format(Locale.ROOT, "Q after is %.3g above it (relative to Q)", (Double) bound.get("relative_gap_of_after")));
        }
        if (r.solve() != null) {
            PruneResult.Solve sv = r.solve();
            FalconSolver.Result f = sv.falcon();
            o.printf(Locale.ROOT, "  solver: Q on mp's support %.6g -> %.6g (%s), backsolve %s%s%n", sv.qMp(), sv.qFinal(),
                    // significant digits: a backsolve's ratio of 4e-5 read "ratio 0.0000" to four decimals
                    withinBudgets(r, b) && sv.qMp() > 0 ? String.format(Locale.ROOT, "ratio %.4g", sv.qFinal() / sv.qMp())
                            : noRatio(sv.qMp(), withinBudgets(r, b)),
                    f != null && f.everyBacksolveSkipped() != null ? sv.backsolve().cliName() + " skipped on every support (its ridge"
                            + " system is singular at this --lambda; the weights are the DFO's, not backsolved; raise --lambda as the warning says)"
                            : f != null && f.backsolveNeverKept() != null ? f.backsolveNeverKept().substring("backsolve ".length())
                            : sv.backsolve().cliName() + (mpBacksolveBlockSize(r) == null ? ""
                                    : " (blocks of at most " + mpBacksolveBlockSize(r) + " weights)"),
                    // falcon++: the solver's figures are its last solved stage's, not the run's totals (each stage's line has its own)
                    f == null ? "" : String.format(Locale.ROOT, ", %s%s in %s (%s)",
                            sv.multiStage() == null ? "" : "stage " + sv.multiStage().lastSolvedStage() + ": ",
                            Numbers.counted(f.iterations(), "DFO iteration"), Numbers.counted(f.rounds(), "round"), f.stopReason()));
            if (sv.note() != null) o.println("  note: " + sv.note());
            if (backsolveNote != null) o.println("  note: " + backsolveNote);
            if (blockSizeNote != null) o.println("  note: " + blockSizeNote);
            if (sv.multiStage() != null) {
                for (MultiStage.Stage st : sv.multiStage().stages()) {
                    // FLOPs as the budgets line shows them (InspectCommand.flops): a value that is not whole is not shown as one
                    o.printf(Locale.ROOT, "  stage %d: NNZ <= %,d, FLOPs <= %s -> kept %,d, FLOPs %s, %s, %.2f s; X: %s%n", st.stage(),
                            st.nnzBudget(), InspectCommand.flops(st.flopsBudget()), st.kept(), InspectCommand.flops(st.keptFlops()),
                            Numbers.counted(st.iterations(), "iteration"), stageSeconds(st, held),
                            st.gradients() + (st.note() == null ? "" : "; " + st.note()));
                }
                if (sv.multiStage().stopped() != null) o.printf(Locale.ROOT, "  stopped after stage %d: %s%n", sv.multiStage().lastCompletedStage(), stoppedInOneLine(sv.multiStage()));
            }
        }
        StringBuilder t = new StringBuilder();
        timings.forEach((k, v) -> t.append(String.format(Locale.ROOT, " %s %.3f", k, v)));
        o.printf(Locale.ROOT, "  time (s):%s%n", t);
        o.printf(Locale.ROOT, "  wrote %s%s, %s%n", shown("--out", outPath), mask != null ? ", " + shown("--mask", mask) : "", shown("--report", reportPath));
    }

    /**
     * A fraction as a percentage, to two decimals and more where it lies within 0.01 of 100% or 0%: then to at least two
     * significant digits past the leading 9s or 0s. resnet20 --keep-nnz 0.99999 read "100.00%", and 99.99888% read
     * "99.999%" (rounded up) and 0.00149% "0.001%" while only the first digit past them was shown. Below 0.0001% the
     * two digits and the exponent (1.0e-37%): a fixed point took a decimal per leading zero, and 1e-39 of the dense
     * FLOPs, past the 17 it was allowed, read "0.00000000000000000%".
     */
    static String percent(double fraction) {
        // -0.0 printed "-0.00%"
        if (fraction == 0) return "0.00%";
        if (!Double.isFinite(fraction) || fraction < 0 || fraction >= 1) return String.format(Locale.ROOT, "%.2f%%", 100 * fraction);
        double v = 100 * fraction;
        if (v < 1e-4) return String.format(Locale.ROOT, "%.1e%%", v);
        // how far it lies from the nearer of 0% and 100%, the part the digits past the leading 9s or 0s show; below 100%
        // by at least an ulp of 100 (1.4e-14), so at most 15 decimals
        double distance = Math.min(v, 100 - v);
        int decimals = 2;
        if (distance < 0.01) decimals = (int) Math.ceil(-Math.log10(distance) - 1e-9) + 1; // 1e-3 is "0.0010"
        return String.format(Locale.ROOT, "%." + decimals + "f%%", v);
    }

    private static String stem(String spec) {
        // "/" has no file name: the read that follows says what is wrong with it
        Path file = ArrayFiles.fileOf(spec).getFileName();
        String name = file == null ? "" : file.toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    /** Everything allocated during a run, closed in reverse order. */
    private static final class Resources implements AutoCloseable {
        FloatPointer weights;
        FloatPointer g;
        HostMatrix x;
        PruneResult result;
        MultiStage.GradientSource source;

        @Override
        public void close() {
            if (result != null) result.close();
            if (source != null) {
                try { source.close(); } catch (Exception ignored) { }
            }
            if (x != null) x.close();
            if (g != null) g.close();
            if (weights != null) weights.close();
        }
    }

    /**
     * Which of an option's names the user typed (picocli reports the first): a message about --backend bogus that names
     * --device sends the user looking for an option they never gave. The first name where the arguments do not say.
     * Read as Main names a repeated option (Main.namesTyped over picocli's expanded arguments), not by a scan of its own
     * that missed names inside an @argfile and took an option's value equal to a name for that name.
     */
    String typedName(String name) {
        List<String> typed = Main.namesTyped(spec, spec.findOption(name), Main.asParsed(spec.commandLine(), new String[0]));
        return typed.isEmpty() ? name : typed.get(typed.size() - 1);
    }
}
