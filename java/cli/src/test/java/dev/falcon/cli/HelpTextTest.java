package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** --help as written, and the order of what a run prints before a usage error. */
class HelpTextTest extends SmallModel {
    /**
     * picocli wraps a footer line longer than its width wherever it likes: prune's help broke
     * -Dfalcon.memory.\navailable=8g, so a copied example failed, and falcon's and env's broke their exit codes' lines.
     * Every footer line is printed as written.
     */
    @Test
    void everyFooterLineIsPrintedAsWritten() {
        CommandLine falcon = new CommandLine(new Main());
        for (String command : List.of("falcon", "prune", "inspect", "env")) {
            CommandLine cl = command.equals("falcon") ? falcon : falcon.getSubcommands().get(command);
            MainTest.Run help = MainTest.run(command.equals("falcon") ? new String[] {"--help"} : new String[] {command, "--help"});
            List<String> printed = help.out().lines().toList();
            for (String line : cl.getCommandSpec().usageMessage().footer()) {
                String shown = String.format(line);
                assertTrue(printed.contains(shown), command + " --help wraps its footer line '" + shown + "':\n" + help.out());
            }
        }
        assertTrue(MainTest.run("prune", "--help").out().lines().anyMatch(l -> l.trim().equals("FALCON_JAVA_OPTS=-Dfalcon.memory.available=8g ./falcon prune ...")));
    }

    /** falcon --help's exit codes left out a failed --grads-command, which prune's listed. */
    @Test
    void falconsHelpListsAFailedGradsCommandUnderExit1() {
        String codes = MainTest.run("--help").out().replaceAll("\\s+", " ");
        assertTrue(codes.contains("1 internal error, stdout not writable or a failed --grads-command (prune)"), codes);
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
        CommandLine falcon = new CommandLine(new Main());
        for (String command : List.of("falcon", "prune", "inspect", "env")) {
            CommandLine cl = command.equals("falcon") ? falcon : falcon.getSubcommands().get(command);
            MainTest.Run help = MainTest.run(command.equals("falcon") ? new String[] {"--help"} : new String[] {command, "--help"});
            java.util.Set<String> printedWords = new java.util.HashSet<>(List.of(help.out().split("\\s+")));
            for (CommandLine.Model.ArgSpec arg : cl.getCommandSpec().args()) {
                for (String line : arg.description()) {
                    for (String word : String.format(line).split("\\s+")) {
                        if (word.isEmpty()) continue;
                        assertTrue(printedWords.contains(word), command + " --help breaks '" + word + "' of " + arg + ":\n" + help.out());
                    }
                }
            }
        }
    }
}
