package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Options and arguments no command reads: bad usage (exit 2) in one message, whatever else the command line asks. */
class UnmatchedArgumentsTest {
    /** The first line of what a run printed on stderr. */
    private static String firstLine(MainTest.Run r) {
        return r.err().lines().findFirst().orElse("");
    }

    /**
     * picocli sets aside what --help/-h (or --version) does not read: `falcon prune -h --exampel resnet20` printed the
     * usage with exit 0 and no word of the typo, where `falcon help prune --exampel` (the form README calls the same) is
     * refused with exit 2. Both are refused now, with the message the help command gives, at every command's level.
     */
    @Test
    void anOptionOrArgumentBesideHelpIsBadUsage() {
        String[][] refused = {{"prune", "-h", "--exampel", "resnet20"}, {"prune", "--bogus", "--help"}, {"inspect", "-h", "--bogus"},
            {"env", "--help", "extra"}, {"env", "--bogus", "-h"}, {"--help", "--bogus"}, {"-h", "extra"}, {"--help", "prune", "--bogus"},
            {"prune", "-V", "--bogus"}, {"--version", "--bogus"}};
        String[] unread = {"--exampel", "--bogus", "--bogus", "extra", "--bogus", "--bogus", "extra", "--bogus", "--bogus", "--bogus"};
        for (int i = 0; i < refused.length; i++) {
            MainTest.Run r = MainTest.run(refused[i]);
            String what = String.join(" ", refused[i]) + ": " + r.out() + r.err();
            assertEquals(2, r.code(), what);
            assertEquals("", r.out(), what);
            assertTrue(r.err().startsWith("falcon: error: ") && r.err().contains("'" + unread[i] + "'"), what);
        }
        // the help command's own message, word for word, for the same typo
        assertEquals(firstLine(MainTest.run("help", "prune", "--bogus")), firstLine(MainTest.run("prune", "--bogus", "--help")));
        assertEquals(firstLine(MainTest.run("help", "env", "extra")), firstLine(MainTest.run("env", "--help", "extra")));
        assertTrue(MainTest.run("prune", "-h", "--exampel").err().contains("see `falcon prune --help`"));
        // help alone still prints the usage, exit 0
        for (String[] a : new String[][] {{"prune", "-h"}, {"env", "--help"}, {"--help"}, {"-h", "prune"}, {"prune", "-V"}}) {
            MainTest.Run r = MainTest.run(a);
            assertEquals(0, r.code(), String.join(" ", a) + ": " + r.err());
            assertTrue(r.out().startsWith("Usage: falcon") || r.out().startsWith("falcon "), String.join(" ", a) + ": " + r.out());
        }
    }

    /**
     * After "--" every argument is positional, and prune takes none: `falcon prune --example resnet20 -q -- -q` was
     * refused as "Unknown option: '-q'" with "Possible solutions: --quiet, -q", the very option typed. The message
     * says what is wrong, naming the argument and the "--".
     */
    @Test
    void anArgumentAfterTheEndOfOptionsIsToldSo() {
        String[][] refused = {{"prune", "--example", "resnet20", "-q", "--", "-q"}, {"prune", "--weights", "w.npy", "--", "--layers", "layers.json"},
            {"prune", "--", "--example", "resnet20"}, {"env", "--", "extra"}, {"--", "prune"}, {"prune", "-h", "--", "-q"}};
        String[] told = {"'-q' comes after '--', which ends the options, and `falcon prune` takes no positional arguments; move it before '--' or drop '--'",
            "'--layers', 'layers.json' come after '--', which ends the options, and `falcon prune` takes no positional arguments; move them before '--' or drop '--'",
            "'--example', 'resnet20' come after '--', which ends the options, and `falcon prune` takes no positional arguments; move them before '--' or drop '--'",
            "'extra' comes after '--', which ends the options, and `falcon env` takes no positional arguments; move it before '--' or drop '--'",
            "'prune' comes after '--', which ends the options, and `falcon` takes no positional arguments; move it before '--' or drop '--'",
            "'-q' comes after '--', which ends the options, and `falcon prune` takes no positional arguments; move it before '--' or drop '--'"};
        for (int i = 0; i < refused.length; i++) {
            MainTest.Run r = MainTest.run(refused[i]);
            String what = String.join(" ", refused[i]) + ": " + r.out() + r.err();
            assertEquals(2, r.code(), what);
            assertEquals("falcon: error: " + told[i], firstLine(r), what);
            assertFalse(r.err().contains("Possible solutions") || r.err().contains("Unknown option"), what);
        }
        // an unknown option before "--" is still told as one, with its suggestions, beside the argument after it
        MainTest.Run both = MainTest.run("prune", "--exampel", "resnet20", "--", "-q");
        assertEquals(2, both.code(), both.err());
        assertEquals(List.of("falcon: error: Unknown options: '--exampel', 'resnet20'", "Possible solutions: --example",
                "falcon: error: '-q' comes after '--', which ends the options, and `falcon prune` takes no positional arguments; move it before '--' or drop '--'",
                "see `falcon prune --help`"), both.err().lines().toList());
        // inspect takes files: what follows "--" is a file of its own
        MainTest.Run inspect = MainTest.run("inspect", "--", "-q");
        assertEquals(2, inspect.code(), inspect.err());
        assertFalse(inspect.err().contains("after '--'"), inspect.err());
    }

    /**
     * picocli checks inspect's required FILE before it reports what it could not match: `falcon inspect --bogus` said
     * "Missing required parameter: 'FILE'", naming nothing typed, where `inspect --bogus w.npy` names '--bogus'. For a file
     * whose name begins with '-' the message denied the file given; it now says how to give it.
     */
    @Test
    void anUnknownOptionAloneIsNamedNotTakenForAMissingFile() throws java.io.IOException {
        for (String unknown : new String[] {"--bogus", "-x"}) {
            for (String[] args : new String[][] {{"inspect", unknown}, {"inspect", unknown, "w.npy"}}) {
                MainTest.Run r = MainTest.run(args);
                String what = String.join(" ", args) + ": " + r.err();
                assertEquals(2, r.code(), what);
                assertEquals("falcon: error: Unknown option: '" + unknown + "'", firstLine(r), what);
                assertFalse(r.err().contains("./" + unknown), what);
            }
        }
        // a file in the working directory, as the user's -w.npy is in theirs
        java.nio.file.Path dashed = java.nio.file.Path.of("-unmatched-arguments-test.npy");
        java.nio.file.Files.write(dashed, new byte[0]);
        try {
            for (String[] args : new String[][] {{"inspect", dashed.toString()}, {"inspect", "-q", dashed.toString()}}) {
                MainTest.Run r = MainTest.run(args);
                String what = String.join(" ", args) + ": " + r.err();
                assertEquals(2, r.code(), what);
                assertEquals(List.of("falcon: error: Unknown option: '" + dashed + "'", "'" + dashed + "' is read as an option, and a file of that"
                        + " name exists: give it as ./" + dashed + " (or after '--', which ends the options)", "see `falcon inspect --help`"),
                        r.err().lines().toList(), what);
            }
        } finally {
            java.nio.file.Files.delete(dashed);
        }
    }

    /**
     * picocli splits a word beginning with one of inspect's short options (-q, -h, -V) as a cluster, and only the
     * remainder is unmatched: `inspect -q.npy` and `inspect -quant.npy` for files of those names got no hint (the hint
     * checked '-.npy', '-uant.npy'), and `inspect -qf.npy`, no such file, named ./-f.npy, a file the user never typed.
     * The hint is for the words typed.
     */
    @Test
    void theFileHintNamesTheWordTypedWhereItBeginsWithAShortOption() throws java.io.IOException {
        List<String> names = List.of("-q-unmatched-test.npy", "-quant-unmatched-test.npy", "-h-unmatched-test.npy",
                "-V-unmatched-test.npy", "-f-unmatched-test.npy");
        for (String name : names) java.nio.file.Files.write(java.nio.file.Path.of(name), new byte[0]);
        try {
            for (String name : names.subList(0, 4)) {
                MainTest.Run r = MainTest.run("inspect", name);
                assertEquals(2, r.code(), r.err());
                assertTrue(r.err().contains("'" + name + "' is read as an option, and a file of that name exists: give it as ./" + name
                        + " (or after '--', which ends the options)"), name + ": " + r.err());
            }
            // every file typed gets the hint, the one split as a cluster too
            MainTest.Run both = MainTest.run("inspect", "-f-unmatched-test.npy", "-quant-unmatched-test.npy");
            assertEquals(2, both.code(), both.err());
            assertTrue(both.err().contains("give it as ./-f-unmatched-test.npy "), both.err());
            assertTrue(both.err().contains("give it as ./-quant-unmatched-test.npy "), both.err());
            // -qf-unmatched-test.npy is no file: the -f-unmatched-test.npy picocli left of it is not named
            MainTest.Run other = MainTest.run("inspect", "-qf-unmatched-test.npy");
            assertEquals(2, other.code(), other.err());
            assertFalse(other.err().contains("a file of that name exists"), other.err());
        } finally {
            for (String name : names) java.nio.file.Files.delete(java.nio.file.Path.of(name));
        }
    }
}
