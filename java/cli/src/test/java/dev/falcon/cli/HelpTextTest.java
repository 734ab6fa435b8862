package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** --help as written, and the order of what a run prints before a usage error. */
class HelpTextTest extends SmallModel {
    /** A command's picocli model beside the --help it printed. */
    private record CommandHelp(String command, CommandLine spec, MainTest.Run printed) {}

    private static List<CommandHelp> everyCommandsHelp() {
        CommandLine falcon = new CommandLine(new Main());
        return List.of("falcon", "prune", "inspect", "env").stream().map(command -> new CommandHelp(command,
                command.equals("falcon") ? falcon : falcon.getSubcommands().get(command),
                MainTest.run(command.equals("falcon") ? new String[] {"--help"} : new String[] {command, "--help"}))).toList();
    }

    /**
     * picocli wraps a footer line longer than its width wherever it likes: prune's help broke
     * -Dfalcon.memory.\navailable=8g, so a copied example failed, and falcon's and env's broke their exit codes' lines.
     * Every footer line is printed as written.
     */
    @Test
    void everyFooterLineIsPrintedAsWritten() {
        for (CommandHelp h : everyCommandsHelp()) {
            List<String> printed = h.printed().out().lines().toList();
            for (String line : h.spec().getCommandSpec().usageMessage().footer()) {
                String shown = String.format(line);
                assertTrue(printed.contains(shown), h.command() + " --help wraps its footer line '" + shown + "':\n" + h.printed().out());
            }
        }
        assertTrue(MainTest.run("prune", "--help").out().lines().anyMatch(l -> l.trim().equals("FALCON_JAVA_OPTS=-Dfalcon.memory.available=8g ./falcon prune ...")));
    }

    /** falcon --help's exit codes left out a failed --grads-command, which prune's listed. */
    @Test
    void falconsHelpListsAFailedGradsCommandUnderExit1() {
        String codes = MainTest.run("--help").out().replaceAll("\\s+", " ");
        assertTrue(codes.contains("or a failed --grads-command (prune)"), codes);
    }

    /**
     * falcon --help's exit 1 named stdout not writable but not an output that could not be written, which prune --help
     * lists (no output is left behind): the top-level help is where a reader looks for the exit codes first.
     */
    @Test
    void falconsHelpListsAnUnwritableOutputUnderExit1() {
        String codes = MainTest.run("--help").out().replaceAll("\\s+", " ");
        assertTrue(codes.contains("1 internal error, stdout not writable (the summary; the outputs are complete),"
                + " an output that could not be written (no output is left behind)"), codes.substring(codes.indexOf("Exit codes:")));
    }

    /**
     * prune --help's --threads named OPENBLAS_NUM_THREADS and OMP_NUM_THREADS as not read, and not GOTO_NUM_THREADS,
     * which OpenBLAS reads too and for which prune warns as well.
     */
    @Test
    void prunesHelpNamesEveryThreadVariableItDoesNotRead() {
        String help = MainTest.run("prune", "--help").out().replaceAll("\\s+", " ");
        String threads = help.substring(help.indexOf("--threads=N Worker"), help.indexOf("-q, --quiet Print"));
        for (String name : ThreadVariables.NAMES) assertTrue(threads.contains(name), "prune --help's --threads does not name " + name + ": " + threads);
    }

    /**
     * prune --help's exit 1 named stdout not writable, "the outputs are complete", but not an output that could not be
     * written, which exits 1 too and leaves no output behind: a reader of the help took exit 1 for complete outputs.
     */
    @Test
    void prunesHelpListsAnUnwritableOutputUnderExit1() {
        String codes = MainTest.run("prune", "--help").out().replaceAll("\\s+", " ");
        assertTrue(codes.contains("1 internal error, stdout not writable (the summary; the outputs are complete),"
                + " an output that could not be written (no output is left behind)"), codes.substring(codes.indexOf("Exit codes:")));
    }

    /** Of {@code candidates}, the endings prune takes for {@code option}'s file on the model, found by running it. */
    private List<String> endingsTaken(String option, List<String> candidates) {
        List<String> taken = new java.util.ArrayList<>();
        for (String ending : candidates) {
            java.nio.file.Path output = out.resolve("taken" + ending);
            List<String> args = new java.util.ArrayList<>(List.of("prune", "--weights", weights.toString(), "--layers", layers.toString(),
                    "--report", out.resolve("r.json").toString(), "--device", "java", "--quiet"));
            if (option.equals("--out")) args.addAll(List.of("--out", output.toString()));
            else args.addAll(List.of("--out", out.resolve("p.npy").toString(), option, output.toString()));
            MainTest.Run r = MainTest.run(args.toArray(String[]::new));
            assertTrue(r.code() == 0 || r.code() == 2, option + " " + output + ": " + r.err());
            if (r.code() == 0) taken.add(ending);
        }
        return taken;
    }

    /**
     * prune --help said of --out only "Pruned weights (float32, shape of the weights file or [p]); - for stdout (.npy)",
     * though --out also writes .safetensors, and of --mask nothing of the .npy its name must end in: a reader learnt
     * either from a refusal. Every ending prune takes for a file of --out or --mask is named in the option's help, the
     * part on stdout aside.
     */
    @Test
    void theHelpOfEachOutputNamesEveryEndingItsFileIsTakenWith() {
        List<String> candidates = List.of(".npy", ".safetensors", ".NPY", ".npz", ".pt", ".bin", ".json", ".txt", "");
        picocli.CommandLine.Model.CommandSpec prune = new CommandLine(new Main()).getSubcommands().get("prune").getCommandSpec();
        List<String> unnamed = new java.util.ArrayList<>();
        for (String option : List.of("--out", "--mask")) {
            List<String> taken = endingsTaken(option, candidates);
            assertTrue(taken.contains(".npy"), option + " takes " + taken);
            String description = String.join(" ", prune.findOption(option).description());
            String help = description.replaceAll("-\\s+for stdout\\s*\\([^)]*\\)", "").toLowerCase(java.util.Locale.ROOT);
            for (String ending : taken) {
                if (!help.contains(ending.toLowerCase(java.util.Locale.ROOT))) unnamed.add(option + " takes " + ending + " unnamed in '" + description + "'");
            }
        }
        assertEquals(List.of(), unnamed, "endings an output's file is taken with that its help, the part on stdout aside, does not name");
    }

    /**
     * A usage error found once the backend was chosen (two NNZ budgets) came after the long "backend cpu chosen
     * automatically; cuda unusable ..." note; it is the first and only line now.
     */
    @Test
    void aUsageErrorComesBeforeTheBackendNote() {
        java.nio.file.Path costs = dir.resolve("f.npy");
        try (org.bytedeco.javacpp.FloatPointer f = new org.bytedeco.javacpp.FloatPointer(MainTest.P)) {
            for (int i = 0; i < MainTest.P; i++) f.put(i, 1f);
            dev.falcon.io.Npy.writeFloat32(costs, f, new long[] {MainTest.P});
        }
        for (String[] inputs : new String[][] {{"--layers", layers.toString()}, {"--flops-per-weight", costs.toString()}}) {
            for (String[] options : new String[][] {{"--keep-nnz", "0.5", "--nnz", "10"}, {"--keep-flops", "0.5", "--flops", "10"}}) {
                MainTest.Run r = MainTest.run("prune", "--weights", weights.toString(), inputs[0], inputs[1], "--out", out.resolve("p.npy").toString(),
                        options[0], options[1], options[2], options[3]);
                assertRefused(r, 2, options[0].equals("--keep-flops") ? "both options given" : "more than one option given");
                assertEquals(1, r.err().lines().count(), inputs[0] + ": " + r.err());
            }
        }
    }

    /**
     * picocli wraps an option's description where it likes, and breaks a word at a dot that does not end a sentence:
     * inspect --help printed "FILE." at one line's end and "safetensors:TENSOR" at the next, which reads as a sentence
     * ending and a copied example failed. Every word of every option's and parameter's description is printed whole.
     */
    @Test
    void noDescriptionWordIsBrokenAcrossLines() {
        for (CommandHelp h : everyCommandsHelp()) {
            java.util.Set<String> printedWords = new java.util.HashSet<>(List.of(h.printed().out().split("\\s+")));
            for (CommandLine.Model.ArgSpec arg : h.spec().getCommandSpec().args()) {
                for (String line : arg.description()) {
                    for (String word : String.format(line).split("\\s+")) {
                        if (word.isEmpty()) continue;
                        assertTrue(printedWords.contains(word), h.command() + " --help breaks '" + word + "' of " + arg + ":\n" + h.printed().out());
                    }
                }
            }
        }
    }

    /**
     * The word check above passes a word broken at a dot where the same word is printed whole elsewhere: prune --help
     * printed --report's "A name ending in ." at one line's end and "npy or .safetensors is refused." at the next, while
     * .npy stood whole in other options. Each description line, its spaces aside, is printed as written.
     */
    @Test
    void everyDescriptionLineIsBrokenOnlyAtSpaces() {
        for (CommandHelp h : everyCommandsHelp()) {
            String printed = h.printed().out().replaceAll("\\s+", " ");
            for (CommandLine.Model.ArgSpec arg : h.spec().getCommandSpec().args()) {
                for (String line : arg.description()) {
                    String written = String.format(line).replaceAll("\\s+", " ").trim();
                    assertTrue(printed.contains(written), h.command() + " --help breaks '" + written + "' of " + arg + ":\n" + h.printed().out());
                }
            }
        }
    }

    /**
     * README pairs --flops with --keep-flops ([--keep-flops 0.3 | --flops F]), but prune --help listed --flops after -q,
     * apart from the other budgets: picocli lists an option set by a method after all those held in fields.
     */
    @Test
    void prunesHelpListsFlopsBesideKeepFlops() {
        List<String> options = MainTest.run("prune", "--help").out().lines().filter(l -> l.matches("^  (-\\w, |    )--[a-z].*"))
                .map(l -> l.trim().split("[=\\s]")[0]).toList();
        int keepFlops = options.indexOf("--keep-flops");
        assertTrue(keepFlops >= 0, options.toString());
        assertEquals(List.of("--keep-flops", "--flops", "--keep-nnz", "--nnz", "--sparsity"), options.subList(keepFlops, keepFlops + 5), options.toString());
    }

    /**
     * README's prune synopsis says the values it shows are the defaults, yet it showed --keep-nnz 0.5, --sparsity 0.8,
     * --start-keep 1 and --grads-command-timeout 15m, none a default (no NNZ budget but p, no timeout), and --method
     * magnitude|mp|... where the default is mp. Each lower-case value shown in brackets (the first of a|b|c) is checked
     * against prune's own default: picocli's default (its fallback for a value in brackets, as --backsolve's), else the
     * "(default: ...)" of its --help description, else the footer's "(--option value)". Upper-case placeholders, file names
     * and quoted commands are not defaults and are skipped.
     */
    @Test
    void readmesPruneSynopsisShowsTheDefaults() throws java.io.IOException {
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("../../README.md"));
        int start = readme.indexOf("falcon prune --weights w.npy");
        int end = readme.indexOf("\nfalcon prune --example", start);
        assertTrue(start >= 0 && end > start, "README's prune synopsis");
        // a quoted command's own options (--weights {weights}) are not prune's
        String synopsis = readme.substring(start, end).replaceAll("'[^']*'", "'...'");
        CommandLine.Model.CommandSpec prune = new CommandLine(new Main()).getSubcommands().get("prune").getCommandSpec();
        String footer = String.join(" ", prune.usageMessage().footer()).replaceAll("\\s+", " ");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(--[a-z][a-z-]*) (\\[?)([^\\s'(\\[-][^\\s]*)").matcher(synopsis);
        List<String> wrong = new java.util.ArrayList<>();
        int checked = 0;
        while (m.find()) {
            String option = m.group(1), value = m.group(3).replaceAll("[\\])]+$", ""); // the brackets and parentheses that close around it
            CommandLine.Model.OptionSpec spec = prune.findOption(option);
            assertTrue(spec != null, "README's synopsis names " + option + ", which prune does not have");
            if (value.matches("[A-Z]+") || value.matches(".*\\.(npy|json|safetensors)")) continue;
            String shown = value.split("\\|")[0];
            String description = String.join(" ", spec.description()).replaceAll("\\s+", " ");
            java.util.regex.Matcher stated = java.util.regex.Pattern.compile("\\(default: ([^)]*)\\)").matcher(description);
            String expected = !m.group(2).isEmpty() ? spec.fallbackValue() : spec.defaultValue();
            boolean isDefault = expected != null ? sameValue(shown, expected)
                    : stated.find() ? stated.group(1).matches("(.*\\W)?" + java.util.regex.Pattern.quote(shown) + "(\\W.*)?")
                    : footer.contains("(" + option + " " + shown + ")");
            if (!isDefault) wrong.add(option + " " + shown + " (" + (expected != null ? "default: " + expected : "--help: " + description) + ")");
            checked++;
        }
        assertEquals(List.of(), wrong, "README's synopsis shows values that are not prune's defaults");
        assertTrue(checked >= 15, "the synopsis's values were read (" + checked + "): " + synopsis);
        // the example's rows --help gives as their defaults are the models'
        String rows = String.join(" ", prune.findOption("--n").description());
        for (String name : dev.falcon.examples.ExampleModels.names()) {
            assertTrue(rows.contains(name + " " + dev.falcon.examples.ExampleModels.get(name).defaultRows()), rows);
        }
    }

    /** Numbers equal as numbers (1e-3 is 0.001), words as picocli reads enum-like values, without case. */
    private static boolean sameValue(String shown, String value) {
        try {
            return Double.parseDouble(shown) == Double.parseDouble(value);
        } catch (NumberFormatException notNumbers) {
            return shown.equalsIgnoreCase(value);
        }
    }

    /**
     * prune --help's --stable-iterations said only that a round ends once the support is stable for K iterations, though
     * where no backsolve solved the support (--backsolve none, one skipped as singular, block or sweep landing above) the
     * next round's DFO goes on past it to the tolerance or --max-iterations, at a cost in time (resnet20 n = 64 --backsolve
     * block: ~40 s against 5 s).
     */
    @Test
    void prunesHelpSaysWhereTheDfoGoesOnPastStableIterations() {
        String help = MainTest.run("prune", "--help").out().replaceAll("\\s+", " ");
        int at = help.indexOf("--stable-iterations=K falcon:");
        assertTrue(at >= 0, help);
        // up to the next option's entry ("--name=LABEL" or "-x, --name"): the text may name options without a value
        java.util.regex.Matcher next = java.util.regex.Pattern.compile(" (-[A-Za-z], )?--[a-z-]+=[A-Za-z]").matcher(help);
        String stable = help.substring(at, next.find(at + 25) ? next.start() : help.length());
        for (String word : List.of("--backsolve none", "singular", "landing above", "--max-iterations", "time"))
            assertTrue(stable.contains(word), "--stable-iterations' help does not say " + word + ": " + stable);
    }

    /**
     * The Outputs section and the refusal of two outputs given as - both said "./- names a file called -", but --out and
     * --mask must end in .npy (--out .safetensors too), so ./- is refused for them: it fits --report only. The help says
     * so, and each refusal suggests for --out and --mask a path they take.
     */
    @Test
    void dotSlashDashIsOfferedOnlyForTheReport() {
        for (String array : List.of("--out", "--mask")) {
            List<String> args = new java.util.ArrayList<>(List.of("prune", "--weights", weights.toString(), "--layers", layers.toString(),
                    "--device", "java", "--report", out.resolve("r.json").toString()));
            if (array.equals("--mask")) args.addAll(List.of("--out", out.resolve("p.npy").toString()));
            args.addAll(List.of(array, "./-"));
            assertRefused(MainTest.run(args.toArray(String[]::new)), 2, "./-: " + array + ":", "end it in .npy");
        }

        List<String> dashLines = MainTest.run("prune", "--help").out().lines().filter(l -> l.contains("./-")).toList();
        assertFalse(dashLines.isEmpty(), "the help no longer says how to name a file called -");
        for (String line : dashLines) assertTrue(line.contains("--report only"), "the help offers ./- beyond --report: " + line);

        for (List<String> dashes : List.of(List.of("--out", "--mask"), List.of("--out", "--report"), List.of("--report", "--mask"),
                List.of("--out", "--report", "--mask"))) {
            List<String> args = new java.util.ArrayList<>(List.of("prune", "--weights", weights.toString(), "--layers", layers.toString(),
                    "--device", "java"));
            for (String option : dashes) args.addAll(List.of(option, "-"));
            if (!dashes.contains("--out")) args.addAll(List.of("--out", out.resolve("p.npy").toString()));
            if (!dashes.contains("--report")) args.addAll(List.of("--report", out.resolve("r.json").toString()));
            MainTest.Run r = MainTest.run(args.toArray(String[]::new));
            assertRefused(r, 2, "-: " + String.join("/", dashes) + ": ", "which can take only one output");
            String fix = r.err().substring(r.err().indexOf("which can take only one output"));
            java.util.regex.Matcher suggested = java.util.regex.Pattern.compile("(--out|--mask|--report) (\\S+?)[,;)]?(\\s|$)").matcher(fix);
            List<String> named = new java.util.ArrayList<>();
            while (suggested.find()) {
                String option = suggested.group(1), path = suggested.group(2);
                named.add(option);
                assertTrue(dashes.contains(option), dashes + ": the fix names " + option + ", which was not given as -: " + fix);
                if (!option.equals("--report")) assertTrue(path.endsWith(".npy"), dashes + ": " + option + " " + path + " would be refused: " + fix);
            }
            assertTrue(named.containsAll(dashes), dashes + ": the fix should suggest a path for each: " + fix);
            assertEquals(dashes.contains("--report"), fix.contains("./-"), dashes + ": " + fix);
        }
    }
}
