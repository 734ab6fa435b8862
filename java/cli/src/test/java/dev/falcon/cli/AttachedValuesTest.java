package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** An option's value attached with '=' is its value, whatever it looks like. */
class AttachedValuesTest extends SmallModel {
    /**
     * picocli refused `--out=-X.npy` and `--report=-q` as "Expected parameter for option '--out' but found '-X.npy'": the
     * value begins with a short option of prune's (-X, -q), though the '=' says it is the value. Every option of every
     * command that takes a value takes one so attached (a number option then refuses it as a number).
     */
    @Test
    void everyOptionTakesAValueAttachedWithEqualsThatLooksLikeAnOption() {
        CommandLine falcon = new CommandLine(new Main());
        int checked = 0;
        for (CommandLine command : List.of(falcon, falcon.getSubcommands().get("prune"), falcon.getSubcommands().get("inspect"),
                falcon.getSubcommands().get("env"))) {
            for (CommandLine.Model.OptionSpec option : command.getCommandSpec().options()) {
                if (option.arity().max() == 0 || option.type() == boolean.class || option.type() == boolean[].class) continue;
                // -V is a short option of every command
                String[] args = command == falcon ? new String[] {option.longestName() + "=-V.x", "--help"}
                        : new String[] {command.getCommandName(), option.longestName() + "=-V.x", "--help"};
                MainTest.Run r = MainTest.run(args);
                assertFalse(r.err().contains("Expected parameter"), String.join(" ", args) + ": " + r.err());
                checked++;
            }
        }
        assertTrue(checked > 30, "options checked: " + checked);
    }

    /** The value reaches the run: --grads=-X.npy is read as the file -X.npy, which does not exist here. */
    @Test
    void aValueAttachedWithEqualsReachesTheRun() {
        MainTest.Run r = prune("--grads=-X.npy", "--method", "falcon");
        assertRefused(r, 2, "-X.npy");
        assertFalse(r.err().contains("Expected parameter"), r.err());
        assertRefused(prune("--grads=-q", "--method", "falcon"), 2, "--grads: -q: file: does not exist");
    }

    /**
     * A value given as the next argument that looks like an option is still refused (more often an option typed where a
     * value was forgotten), and the message now says how to give it as the value.
     */
    @Test
    void aSeparateValueThatLooksLikeAnOptionIsRefusedWithTheFix() {
        MainTest.Run r = prune("--grads", "-q");
        assertEquals(2, r.code(), r.err());
        assertEquals("falcon: error: Expected parameter for option '--grads' but found '-q'; if '-q' is its value, attach it with"
                + " '=': --grads=-q (or ./-q for a file)", r.err().lines().findFirst().orElse(""), r.err());
    }

    /**
     * The fix was offered for options that take a count, a fraction or a word: `--n -q` said "attach it with '=': --n=-q
     * (or ./-q for a file)", which fails in turn ('-q' is not a number), and no count is a file. There the value was
     * forgotten, and that is what the message says; options whose value is a path or free text keep the fix.
     */
    @Test
    void theFixIsOfferedOnlyWhereTheValueCanBeAPathOrText() {
        String[][] forgotten = {{"--n", "-q", "N"}, {"--keep-flops", "-q", "FRACTION"}, {"--method", "-X", "METHOD"},
            {"--backend", "-q", "auto|cpu|java|cuda"}, {"--lambda", "-q", "L"}};
        for (String[] c : forgotten) {
            MainTest.Run r = MainTest.run("prune", "--example", "resnet20", c[0], c[1]);
            assertEquals(2, r.code(), r.err());
            assertEquals("falcon: error: Expected parameter for option '" + c[0] + "' but found '" + c[1] + "'; " + c[0]
                    + " needs its value (" + c[2] + ") before '" + c[1] + "'", r.err().lines().findFirst().orElse(""), r.err());
        }
        for (String option : new String[] {"--out", "--report", "--grads", "--weights", "--flops", "--grads-command", "--layers"}) {
            MainTest.Run r = prune(option, "-q");
            assertEquals(2, r.code(), r.err());
            assertEquals("falcon: error: Expected parameter for option '" + option + "' but found '-q'; if '-q' is its value, attach it"
                    + " with '=': " + option + "=-q (or ./-q for a file)", r.err().lines().findFirst().orElse(""), r.err());
        }
    }
}
