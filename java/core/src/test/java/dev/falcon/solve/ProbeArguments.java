package dev.falcon.solve;

import java.util.function.Function;

/**
 * The command lines of the solver probes in the test sources ({@link MidScaleProbe}, {@link PolishCapProbe},
 * {@link LargerInstances}), which README's "Solver quality" gives commands for: each argument read with its name, so
 * that a wrong one is named, and a command line a probe cannot take answered with its usage and exit 2, not a stack trace.
 */
final class ProbeArguments {
    private ProbeArguments() {}

    /** The probe's arguments as {@code parse} reads them; else the reason and {@code usage} on stderr, and exit 2. */
    static <T> T parseOrExit(String probe, String usage, String[] args, Function<String[], T> parse) {
        try {
            return parse.apply(args);
        } catch (IllegalArgumentException e) {
            System.err.println(probe + ": " + e.getMessage());
            System.err.println(usage);
            System.exit(2);
            throw new AssertionError("unreachable", e);
        }
    }

    /** args[index], a whole number of at least {@code least}, or an IllegalArgumentException naming it. */
    static int integer(String[] args, int index, String name, int least) {
        int value;
        try {
            value = Integer.parseInt(args[index].trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " is '" + args[index] + "', not a whole number");
        }
        if (value < least) throw new IllegalArgumentException(name + " is " + value + "; give at least " + least);
        return value;
    }

    /** args[index] as the seed of the instances' random numbers, or an IllegalArgumentException naming it. */
    static long seed(String[] args, int index) {
        try {
            return Long.parseLong(args[index].trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("SEED is '" + args[index] + "', not a whole number");
        }
    }
}
