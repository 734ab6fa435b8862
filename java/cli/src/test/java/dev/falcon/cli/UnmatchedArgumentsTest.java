package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
}
