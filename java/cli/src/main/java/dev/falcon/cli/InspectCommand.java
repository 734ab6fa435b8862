package dev.falcon.cli;

import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import dev.falcon.io.InputFiles;
import dev.falcon.io.LayersJson;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.prune.Budgets;
import dev.falcon.select.FlopAwareSelector;
import java.io.PrintWriter;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "inspect", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        // `falcon --help` lists each command with the first line alone: it must be a whole sentence
        description = {"Describes input files without loading them whole.",
                "For .npy and .safetensors every array's dtype, shape, NaN/Inf counts and range; for a .json layer table every "
                        + "layer with its FLOPs and share of the dense FLOPs."},
        footer = {"", "Exit codes: 0 every array is taken by some input (a note on its row says",
                "  which, where not by all), 2 a file is unreadable or holds an array of a",
                "  dtype falcon cannot convert, an empty array, NaN/Inf values, or an array",
                "  no input takes (an integer or bool matrix in Fortran order, more than",
                "  2^31 - 9 weights, float64 values beyond float32's range in a Fortran-order",
                "  matrix, in more than 2^31 - 9 values or beside a value <= 0: X and weights",
                "  refuse such values, FLOPs take them if all are positive and their sum,",
                "  the dense FLOPs, fits a double), or a layer table of more than 2^31 - 9",
                "  weights (what prune would refuse in every role), 1 internal error or",
                "  stdout not writable (a full disk, a closed pipe), 130 or 143 stopped by",
                "  SIGINT (Ctrl-C) or SIGTERM."})
final class InspectCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    // strings, not paths: a Path is normalised, which turned the tensor of 'f.safetensors:enc//w' into enc/w
    // two lines as written: left to picocli, the one line broke at "FILE." | "safetensors:TENSOR", which read as a
    // sentence's end
    @Parameters(arity = "1..*", paramLabel = "FILE", description = {"Files to inspect (.npy, .safetensors, .json);",
            "FILE.safetensors:TENSOR describes that tensor only."})
    List<String> files;

    boolean quiet;

    /**
     * -q given again is taken: picocli refuses any single-value option given twice, which is right for an option with a
     * value (one of the two would go unread) but refused a repeated flag that changes nothing. As an array, each -q is
     * one more element, its value true, or false where given as --quiet=false / -q=false. The last one given is taken,
     * as the value of a flag given once is: counting the elements made --quiet=false (a script's --quiet=$QUIET) quiet.
     */
    @Option(names = {"--quiet", "-q"}, description = "Print only problems (each file's header line, then its arrays with one).")
    void quiet(boolean[] given) {
        quiet = given != null && given.length > 0 && given[given.length - 1];
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int code = Main.OK;
        for (String spec : files) {
            try {
                Path file;
                try {
                    file = ArrayFiles.fileOf(spec);
                } catch (InvalidPathException e) {
                    throw InputException.of(spec, "FILE", "is not a valid path (" + e.getMessage() + ")", "check the file name");
                }
                String tensor = ArrayFiles.tensorOf(spec);
                // prune's check, which says what the path is (missing, a directory, a FIFO, a device) and what to do
                InputFiles.requireRegularFile(file);
                boolean json = file.toString().toLowerCase(Locale.ROOT).endsWith(".json");
                com.fasterxml.jackson.databind.JsonNode report = json ? LayersJson.report(file) : null;
                if (report != null) {
                    // the .json falcon itself writes: read as a layer table, its first key was "unknown", to "fix or remove"
                    printReport(out, file, report, quiet);
                } else if (json) {
                    LayerTable t;
                    try {
                        t = LayersJson.read(file, -1, Budgets.ArgumentNames.CLI.flops());
                    } catch (IllegalArgumentException e) {
                        throw InputException.of(file, "layers", e.getMessage(), "fix the layer table");
                    }
                    if (!quiet) printLayers(out, file, t);
                    if (t.parameters() > FlopAwareSelector.MAX_WEIGHTS) {
                        // prune refuses the table before reading anything else: no weights file can match it
                        throw InputException.of(file, "layers", "covers " + PruneCommand.tooManyWeights(t.parameters()), PruneCommand.TOO_MANY_WEIGHTS_FIX);
                    }
                } else {
                    List<ArrayFiles.Entry> entries = ArrayFiles.describe(file);
                    if (tensor != null) {
                        List<ArrayFiles.Entry> named = entries.stream().filter(e -> e.name().equals(tensor)).toList();
                        if (named.isEmpty()) {
                            throw InputException.of(file, "tensor '" + tensor + "'", "not in the file; it holds "
                                    + entries.stream().map(InspectCommand::shown).toList(), "name one of the tensors after the colon");
                        }
                        entries = named;
                    }
                    List<String> nonFiniteNames = new java.util.ArrayList<>();
                    List<String> unconvertible = new java.util.ArrayList<>();
                    List<String> miscasedDtypes = new java.util.ArrayList<>();
                    List<String> empty = new java.util.ArrayList<>();
                    // arrays prune refuses in every role (X, weights, FLOPs), why, and what to do
                    List<String> noRoleNames = new java.util.ArrayList<>();
                    java.util.Set<String> noRoleReasons = new java.util.LinkedHashSet<>(), noRoleFixes = new java.util.LinkedHashSet<>();
                    boolean noRoleTooMany = false, noRoleTransposed = false;
                    // under -q too, before the file's first row: rows of several files could not be told apart without it
                    String header = String.format(Locale.ROOT, "%s: %d array(s)%n", file, entries.size());
                    boolean headed = !quiet;
                    if (!quiet) out.print(header);
                    // columns as wide as their longest entry: a fixed width let a long name, dtype (F8_E4M3) or shape
                    // push the rest of its row out of line with the others
                    int nameWidth = 1, dtypeWidth = 1, shapeWidth = 1;
                    for (ArrayFiles.Entry e : entries) {
                        nameWidth = Math.max(nameWidth, shown(e).length());
                        dtypeWidth = Math.max(dtypeWidth, e.dtype().length());
                        shapeWidth = Math.max(shapeWidth, Arrays.toString(e.shape()).length());
                    }
                    String columns = "  %-" + nameWidth + "s %-" + dtypeWidth + "s shape %-" + shapeWidth + "s ";
                    for (ArrayFiles.Entry e : entries) {
                        if (e.nanCount() < 0) {
                            // a dtype the readers cannot convert: its values were not read, and prune refuses it as it
                            // refuses a .npy of such a dtype, whose header inspect already rejects with exit 2
                            String miscased = ArrayFiles.miscasedDtype(e.dtype());
                            if (miscased != null) miscasedDtypes.add("'" + shown(e) + "' (" + e.dtype() + "): " + miscased);
                            else unconvertible.add("'" + shown(e) + "' (" + e.dtype() + ")");
                            if (!headed) out.print(header);
                            headed = true;
                            out.printf(Locale.ROOT, columns + "values not read: %s   <- rejected as input%n", shown(e), e.dtype(), Arrays.toString(e.shape()),
                                    (miscased != null ? "not a safetensors dtype: " : "falcon cannot convert ") + e.dtype());
                            continue;
                        }
                        boolean nonFinite = e.nanCount() > 0 || e.infCount() > 0;
                        // prune refuses an empty array ("the array is empty"); inspect printed "min NaN, max NaN" and exit 0
                        boolean isEmpty = Arrays.stream(e.shape()).anyMatch(d -> d == 0);
                        if (isEmpty) empty.add("'" + shown(e) + "' " + Arrays.toString(e.shape()));
                        String range = isEmpty ? "no values" : e.finiteCount() == 0 ? "no finite values"
                                : String.format(Locale.ROOT, "min %.6g, max %.6g", e.min(), e.max());
                        if (nonFinite) nonFiniteNames.add("'" + shown(e) + "'");
                        Roles roles = Roles.of(e);
                        boolean noRole = roles.noRole();
                        if (noRole) {
                            noRoleNames.add("'" + shown(e) + "' (" + roles.traits() + ")");
                            noRoleReasons.add(roles.notXBecause());
                            noRoleReasons.add(roles.notWeightsBecause());
                            if (roles.transposed()) noRoleFixes.add("save weights or FLOPs with numpy.save(path, numpy.ascontiguousarray(a))");
                            if (!e.readableAsX()) noRoleFixes.add("save X as float32");
                            if (roles.beyondFloat32()) {
                                noRoleFixes.add("rescale X or weights into float32's range" + (!(e.min() > 0) ? ", or make FLOPs positive"
                                        : roles.costsBeyondADouble() ? ", or " + LayerTable.RESCALE_COSTS_FIX : ""));
                            }
                            if (roles.tooManyWeights()) noRoleFixes.add("prune a model of more weights in parts (a limit of falcon, not of this machine)");
                            noRoleTooMany |= roles.tooManyWeights();
                            noRoleTransposed |= roles.transposed();
                        }
                        // values beyond float32's range stay a problem under -q though FLOPs take them: X and weights do not;
                        // so do values that are 0 in float32, which the weights refuse
                        if (!quiet || nonFinite || roles.beyondFloat32() || roles.zeroedInFloat32() > 0 || isEmpty || noRole) {
                            if (!headed) out.print(header);
                            headed = true;
                            out.printf(Locale.ROOT, columns + "NaN %d, Inf %d, finite %d, %s%s%n", shown(e), e.dtype(),
                                    Arrays.toString(e.shape()), e.nanCount(), e.infCount(), e.finiteCount(), range,
                                    roles.note(e.dtype())
                                            + (isEmpty ? "   <- empty: rejected as input" : "")
                                            + (nonFinite ? "   <- NaN/Inf: rejected as input" : ""));
                        }
                    }
                    // NaN/Inf is refused in every role; values beyond float32's range are judged by role (Roles), as FLOPs take them
                    if (!nonFiniteNames.isEmpty()) {
                        // a .npy file is the array; a .safetensors file's name alone left the user to find which of its tensors
                        String what = file.toString().toLowerCase(Locale.ROOT).endsWith(".npy") ? "holds NaN/Inf values" : holds(nonFiniteNames) + "NaN/Inf values";
                        err.println("falcon: error: " + file + ": data: " + what + "; falcon rejects such inputs (recompute or clean them)");
                        code = Main.USAGE;
                    }
                    if (!empty.isEmpty()) {
                        err.println("falcon: error: " + file + ": shape: " + String.join(", ", empty)
                                + (empty.size() > 1 ? " are empty" : " is empty") + "; falcon rejects empty arrays (pass one value per weight, or n x p gradients)");
                        code = Main.USAGE;
                    }
                    if (!noRoleNames.isEmpty()) {
                        err.println("falcon: error: " + file + ": " + (noRoleTooMany ? "shape" : noRoleTransposed ? "fortran_order" : "data") + ": " + String.join(", ", noRoleNames)
                                + (noRoleNames.size() > 1 ? " are" : " is") + " taken by no input: " + String.join(", and ", noRoleReasons)
                                + "; " + String.join(", ", noRoleFixes));
                        code = Main.USAGE;
                    }
                    for (String miscased : miscasedDtypes) {
                        err.println("falcon: error: " + file + ": dtype: " + miscased);
                        code = Main.USAGE;
                    }
                    if (!unconvertible.isEmpty()) {
                        err.println("falcon: error: " + file + ": dtype: " + String.join(", ", unconvertible)
                                + (unconvertible.size() > 1 ? " are of dtypes" : " is of a dtype") + " falcon cannot convert"
                                + " (readable: float32, float64, float16, bfloat16, bool and integer types); save "
                                + (unconvertible.size() > 1 ? "them" : "it") + " as float32"
                                + (entries.size() > unconvertible.size() ? ", or name a readable tensor as FILE.safetensors:TENSOR" : ""));
                        code = Main.USAGE;
                    }
                }
            } catch (InputException e) {
                err.println("falcon: error: " + e.getMessage());
                code = Main.USAGE;
            }
        }
        return code;
    }

    /**
     * Which inputs refuse an array and why, as prune refuses them. The notes were chosen apart, so an integer matrix in
     * Fortran order was "accepted for X" by one and "accepted for weights and FLOPs" by the other; and prune's limit on
     * p was not checked, so an array of more weights passed, "accepted for weights". X may hold more values: n rows of
     * at most that many.
     *
     * @param traits what about the array the refusals answer: "<i4 in Fortran order", "Fortran order, 2,147,483,648 values"
     * <p>
     * Finite float64 values beyond float32's +-3.4e38 are Inf once read as float32, as X and weights are read, so those
     * refuse them; FLOP costs are read as float64 and take them. Such an array is judged by role as the others: "rejected
     * as input" made inspect exit 2 on per-weight costs that prune takes.
     *
     * @param notXBecause why prune --grads refuses it, null where it takes it
     * @param notWeightsBecause why prune --weights and --flops-per-weight refuse it for its order or size (both read
     *        it so), null where they take it
     * @param beyondFloat32 it holds finite values beyond float32's range: --weights refuses it too (and X, which
     *        notXBecause then says), --flops-per-weight does not where they are positive and their sum fits a double
     * @param costsBeyondADouble as per-weight FLOP costs, their sum, the dense FLOPs, exceeds the largest double: prune's
     *        check ({@link LayerTable.Runs}), so that inspect passes no costs that prune refuses (1e308 each was
     *        "accepted for FLOPs only"); only values beyond float32's range can sum so high in 2^31 - 9 of them
     * @param notAllPositive a value is 0 or negative, which prune refuses as a FLOP cost: an integer or bool array (a
     *        mask of falcon's own) was "accepted for weights and FLOPs" with 0 in it, and prune refused it as FLOPs
     * @param zeroedInFloat32 how many values are nonzero but 0 in float32, where the weights would count them as pruned:
     *        prune refuses them as weights, X and FLOPs take them (X's would add nothing, FLOPs are read as float64)
     */
    record Roles(String traits, String notXBecause, String notWeightsBecause, boolean transposed, boolean tooManyWeights,
                 boolean beyondFloat32, boolean costsBeyondADouble, boolean notAllPositive, long zeroedInFloat32) {
        /** Why X and weights refuse values beyond float32's range, and FLOPs do not. */
        static final String BEYOND_FLOAT32_BECAUSE = "X and weights are read as float32, where such values are Inf; FLOPs are read as float64";

        static Roles of(ArrayFiles.Entry e) {
            long values = valueCount(e.shape());
            boolean tooManyWeights = values > FlopAwareSelector.MAX_WEIGHTS;
            boolean transposed = e.fortranOrder() && transposedByFortranOrder(e.shape());
            // min and max are of the finite values: NaN (none finite) is no value beyond the range
            boolean beyondFloat32 = Float.isInfinite((float) e.min()) || Float.isInfinite((float) e.max());
            boolean costsBeyondADouble = e.min() > 0 && Double.isInfinite(e.denseFlops());
            String notWeightsBecause = transposed && tooManyWeights ? "weights and FLOPs must be C order and of at most " + MAX_WEIGHTS_SHOWN + " values"
                    : transposed ? "weights and FLOPs must be C order"
                    : tooManyWeights ? "weights and FLOPs hold at most " + MAX_WEIGHTS_SHOWN + " values"
                    // FLOPs, the one input that takes values beyond float32's range, must be positive: -1e300 was
                    // "accepted for FLOPs only", and prune refused it as FLOPs
                    : beyondFloat32 && !(e.min() > 0) ? "weights must lie within float32's range and FLOPs be positive"
                    : beyondFloat32 && costsBeyondADouble ? "weights must lie within float32's range, and as FLOPs " + LayerTable.COSTS_SUM_BEYOND_DOUBLE
                    : null;
            // prune --grads takes a 2-D array only; a Fortran-order one of more dimensions no input takes, and was
            // "accepted for X" (a C-order one is weights, which need no note)
            String notXBecause = !e.readableAsX() ? "X must be float32, float64, float16 or bfloat16"
                    : transposed && e.shape().length != 2 ? "X must be 2-D (n samples x p weights)"
                    : tooManyWeights && (e.shape().length != 2 || e.shape()[1] > FlopAwareSelector.MAX_WEIGHTS)
                            ? "X must be n x p with p at most " + MAX_WEIGHTS_SHOWN
                    : beyondFloat32 ? "X must lie within float32's range" : null;
            List<String> traits = new java.util.ArrayList<>();
            if (!e.readableAsX()) traits.add(e.dtype() + (transposed ? " in Fortran order" : ""));
            else if (transposed) traits.add("Fortran order");
            if (tooManyWeights) traits.add(String.format(Locale.ROOT, "%,d values", values));
            if (beyondFloat32) traits.add("values beyond float32's +-3.4e38");
            // min is of the finite values: with none (an empty array) no value is known to be positive
            return new Roles(String.join(", ", traits), notXBecause, notWeightsBecause, transposed, tooManyWeights, beyondFloat32, costsBeyondADouble,
                    !(e.min() > 0), e.zeroedInFloat32());
        }

        boolean noRole() {
            return notXBecause != null && notWeightsBecause != null;
        }

        /** The remark on the array's row: a refusal where no input takes it, else which inputs do. */
        String note(String dtype) {
            if (noRole()) return "   <- " + traits + ": rejected as input (" + notXBecause + "; " + notWeightsBecause + ")";
            // exit 0, as prune takes it for FLOPs; the note keeps the user from taking it for weights or X
            if (beyondFloat32) return "   (" + traits + ": accepted for FLOPs only; " + BEYOND_FLOAT32_BECAUSE + ")";
            if (notWeightsBecause != null) return "   (" + traits + ": accepted for X; " + notWeightsBecause + ")";
            // exit 0, as X (and FLOPs) take them, but prune --weights refuses them: the one sign before a prune that did
            if (zeroedInFloat32 > 0) {
                return String.format(Locale.ROOT, "   (%,d nonzero value%s 0 in float32, below %s: accepted for %s; not for weights, which are"
                                + " read as float32, where %s count as pruned)", zeroedInFloat32, zeroedInFloat32 == 1 ? " is" : "s are",
                        ArrayFiles.ZEROED_IN_FLOAT32_BELOW, notAllPositive ? "X" : "X and FLOPs", zeroedInFloat32 == 1 ? "it would" : "they would");
            }
            // exit 0 is right for weights of this type, but prune --grads refuses it: say so before the user takes
            // inspect's silence as a clean bill for X
            // a float array with values <= 0 (most weights) gets no note: X and weights, its roles, take it; an integer
            // one has a note already, which must not offer it as FLOPs where prune refuses it as such
            if (notXBecause != null && notAllPositive) {
                return "   (" + dtype + ", values <= 0: accepted for weights; not for X, which must be float32, float64, float16 or bfloat16,"
                        + " nor for FLOPs, which must be positive)";
            }
            if (notXBecause != null) return "   (" + dtype + ": accepted for weights and FLOPs, not for X, which must be float32, float64, float16 or bfloat16)";
            return "";
        }
    }

    private static final String MAX_WEIGHTS_SHOWN = String.format(Locale.ROOT, "%,d (2^31 - 9)", FlopAwareSelector.MAX_WEIGHTS);

    /** The number of values of an array of this shape, Long.MAX_VALUE where it overflows a long. */
    private static long valueCount(long[] shape) {
        for (long d : shape) if (d == 0) return 0;
        try {
            return dev.falcon.model.Layer.elements(shape);
        } catch (ArithmeticException beyondALong) {
            return Long.MAX_VALUE;
        }
    }

    /** "'a' holds ", "'a', 'b' hold ". */
    /**
     * A tensor's name as printed: a safetensors header may name a tensor with control characters (an escape sequence,
     * a line break), which went to the terminal as they were and could rewrite or split the table.
     */
    private static String shown(ArrayFiles.Entry e) {
        return dev.falcon.model.LayerTable.escaped(e.name());
    }

    private static String holds(List<String> names) {
        return String.join(", ", names) + (names.size() == 1 ? " holds " : " hold ");
    }

    /**
     * Whether Fortran order puts the values in another order than C order: with at most one dimension above 1 (a vector,
     * [p, 1]) both orders are the same, and prune reads such weights and FLOPs; inspect said they "must be C order".
     */
    private static boolean transposedByFortranOrder(long[] shape) {
        int dimensionsAboveOne = 0;
        for (long d : shape) if (d > 1) dimensionsAboveOne++;
        return dimensionsAboveOne > 1;
    }

    /**
     * A prune report in two lines: what ran and what it kept; it is no input of prune, which the last line says. Between
     * them, a run that stopped early or whose weights are outside its budgets says so: the report of a falcon++ run
     * whose --grads-command failed read as a finished one, its weights an earlier stage's, above the FLOP budget. Under
     * -q only such a run is printed, without the last line.
     */
    private static void printReport(PrintWriter out, Path file, com.fasterxml.jackson.databind.JsonNode report, boolean quiet) {
        List<String> problems = unfinished(report);
        if (quiet && problems.isEmpty()) return;
        com.fasterxml.jackson.databind.JsonNode dense = report.path("budgets").path("dense"), achieved = report.path("budgets").path("achieved");
        out.printf(Locale.ROOT, "%s: falcon prune report (falcon %s, method %s, %s): kept %s of %s weights, %s of %s dense FLOPs%n", file,
                report.path("falcon_version").asText("?"), report.path("method").asText("?"), layerCount(report.path("layers").size()),
                count(achieved.path("nnz")), count(dense.path("nnz")), count(achieved.path("flops")), count(dense.path("flops")));
        for (String problem : problems) out.println("  " + problem);
        if (quiet) return;
        out.println("  not an input of prune; the layer table it read: "
                + (report.path("inputs").path("files").path("layers").isTextual() ? LayerTable.escaped(report.path("inputs").path("files").path("layers").asText())
                        : "none (an example model, or costs per weight)"));
    }

    /**
     * What keeps a report from being a finished run within its budgets, one line each, starting in capitals, so that a
     * reader of the two usual lines does not pass over it: where falcon++ stopped (objective.solver.stopped, after
     * completed_stages of the schedule's stages) and which budgets the weights exceed (within_budgets false).
     */
    static List<String> unfinished(com.fasterxml.jackson.databind.JsonNode report) {
        List<String> problems = new java.util.ArrayList<>();
        com.fasterxml.jackson.databind.JsonNode solver = report.path("objective").path("solver");
        if (solver.path("stopped").isTextual()) {
            // the first line: the command's stderr tail that follows it is the report's to keep, not this line's
            String reason = solver.path("stopped").asText().lines().findFirst().orElse("").replaceFirst("; its stderr ends with:$", "");
            int completed = solver.path("completed_stages").asInt(0), stages = solver.path("schedule").path("stages").asInt(0);
            problems.add("STOPPED EARLY: " + report.path("method").asText("falcon++") + " stopped after stage " + (completed - 1)
                    + (stages > 0 ? " of 0.." + (stages - 1) : "") + " (" + LayerTable.escaped(reason) + "); the weights are stage " + (completed - 1) + "'s");
        }
        com.fasterxml.jackson.databind.JsonNode budgets = report.path("budgets");
        if (budgets.path("within_budgets").isBoolean() && !budgets.path("within_budgets").asBoolean()) {
            com.fasterxml.jackson.databind.JsonNode asked = budgets.path("asked"), achieved = budgets.path("achieved");
            List<String> missed = new java.util.ArrayList<>();
            if (achieved.path("nnz").asDouble() > asked.path("nnz").asDouble()) {
                missed.add("NNZ " + count(achieved.path("nnz")) + " > " + count(asked.path("nnz")) + " (" + asked.path("nnz_request").asText("?") + ")");
            }
            // the tolerance of prune's own check (withinBudgets), for budgets summed in another order
            if (achieved.path("flops").asDouble() > asked.path("flops").asDouble() * (1 + 1e-12)) {
                missed.add("FLOPs " + count(achieved.path("flops")) + " > " + count(asked.path("flops")) + " (" + asked.path("flops_request").asText("?") + ")");
            }
            problems.add("OUTSIDE THE BUDGETS: " + (missed.isEmpty() ? "within_budgets is false" : String.join(", ", missed))
                    + "; not a result to use as one within them");
        }
        return problems;
    }

    /** A count of the report as inspect prints FLOPs, "?" where the report has none. */
    private static String count(com.fasterxml.jackson.databind.JsonNode v) {
        return v.isNumber() ? flops(v.doubleValue()) : "?";
    }

    private static void printLayers(PrintWriter out, Path file, LayerTable t) {
        double dense = t.denseFlops();
        out.printf(Locale.ROOT, "%s: %s, p = %s, dense FLOPs %s%n", file, layerCount(t.size()), weightCount(t.parameters()), flops(dense));
        List<String[]> rows = new java.util.ArrayList<>();
        rows.add(new String[] {"name", "shape", "count", "flops/weight", "flops", "%flops", "%params"});
        for (Layer l : t.layers()) {
            double f = l.count() * l.flopsPerWeight();
            // the share first: 100 * f is Infinity for the FLOPs past 1.8e306 that README accepts; shares as prune's summary
            // gives them, since two decimals read a layer of 1 weight in 2e9 as 0.00% and the other as 100.00%
            rows.add(new String[] {l.name(), Arrays.toString(l.shape()), String.format(Locale.ROOT, "%,d", l.count()), flops(l.flopsPerWeight()), flops(f),
                    PruneCommand.percent(f / dense), PruneCommand.percent((double) l.count() / t.parameters())});
        }
        // columns as wide as their longest entry, as the array table's: fixed widths (32 for the name, 12 for the count)
        // let a long layer name (module.features.denseblock4.denselayer16.conv2.weight) or a large count push the rest
        // of its row out of line
        int[] width = new int[rows.get(0).length];
        for (String[] row : rows) for (int c = 0; c < row.length; c++) width[c] = Math.max(width[c], row[c].length());
        StringBuilder format = new StringBuilder(" ");
        for (int c = 0; c < width.length; c++) format.append(" %").append(c < 2 ? "-" : "").append(width[c]).append('s'); // text left, numbers right
        format.append("%n");
        for (String[] row : rows) out.printf(Locale.ROOT, format.toString(), (Object[]) row);
    }

    /** "1 layer", "2 layers". */
    static String layerCount(int layers) {
        return String.format(Locale.ROOT, "%,d %s", layers, layers == 1 ? "layer" : "layers");
    }

    /** "1 weight", "1,234 weights". */
    static String weightCount(long weights) {
        return String.format(Locale.ROOT, "%,d %s", weights, weights == 1 ? "weight" : "weights");
    }

    /**
     * FLOPs as they are, grouped: whole ones exactly (2,250), others to six significant digits and at least one decimal
     * (7.5, 0.25, 2,251.2, 1,228,800,000.3), which a rounding to whole FLOPs showed as 8 and 0 next to the layer's exact
     * total, and six digits alone as 1,228,800,000 for a budget that is not whole. From 1e18 up and below 1e-6 in
     * scientific notation (1.00000e+300). Shared by inspect and prune's summary.
     */
    static String flops(double v) {
        if (!Double.isFinite(v)) return String.valueOf(v);
        // flops_per_weight 1e300 printed 300 digits of binary noise and 5e-324 a line of 330 zeros, breaking the table
        if (v != 0 && (Math.abs(v) >= 1e18 || Math.abs(v) < 1e-6)) return String.format(Locale.ROOT, "%.6g", v);
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return String.format(Locale.ROOT, "%,d", (long) v);
        int wholeDigits = Math.abs(v) >= 1 ? (int) Math.floor(Math.log10(Math.abs(v))) + 1 : 0;
        int digits = Math.max(6, wholeDigits + 1);
        java.math.BigDecimal shown = new java.math.BigDecimal(v).round(new java.math.MathContext(digits)).stripTrailingZeros();
        // a value that is not whole is not shown as one: a FLOP budget of 71,734.01312 read "71,734"
        while (shown.scale() <= 0 && digits < 17) {
            shown = new java.math.BigDecimal(v).round(new java.math.MathContext(++digits)).stripTrailingZeros();
        }
        return String.format(Locale.ROOT, "%,." + Math.max(0, shown.scale()) + "f", shown);
    }
}
