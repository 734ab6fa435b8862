package dev.falcon.solve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * README's "Solver quality" gives commands for the probes of the test sources; run with missing or wrong arguments,
 * PolishCapProbe and LargerInstances read past args or parsed a word as a number and ended in a stack trace (exit 1).
 * Each prints what is wrong and its usage line, and exits 2, as MidScaleProbe does.
 */
class ProbeUsageTest {
    record Exit(int code, String err) {}

    /** The probe's main run in a JVM of its own, with the test's class path; its exit code and standard error. */
    static Exit probe(Class<?> probe, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), probe.getName()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), probe.getSimpleName() + " did not end");
        return new Exit(process.exitValue(), err.replace(System.lineSeparator(), "\n"));
    }

    static Stream<Arguments> badCommandLines() {
        return Stream.of(
                Arguments.of(PolishCapProbe.class, PolishCapProbe.USAGE, new String[] {},
                        "takes 3 arguments, or 7 with the ranges of n and p; got 0"),
                Arguments.of(PolishCapProbe.class, PolishCapProbe.USAGE, new String[] {"40", "forty", "1000"},
                        "SEED is 'forty', not a whole number"),
                Arguments.of(LargerInstances.class, LargerInstances.USAGE, new String[] {"java", "2"}, "takes 3 arguments; got 2"),
                Arguments.of(LargerInstances.class, LargerInstances.USAGE, new String[] {}, "takes 3 arguments; got 0"),
                Arguments.of(LargerInstances.class, LargerInstances.USAGE, new String[] {"gpu", "2", "1"},
                        "the backend is 'gpu'; give java or cpu"));
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("badCommandLines")
    void aCommandLineTheProbeCannotTakeGetsTheReasonAndItsUsageAndExit2(Class<?> probe, String usage, String[] args, String reason)
            throws Exception {
        Exit exit = probe(probe, args);
        assertEquals(2, exit.code(), exit.err());
        assertEquals(probe.getSimpleName() + ": " + reason + "\n" + usage + "\n", exit.err());
        assertTrue(usage.startsWith("usage: java -cp java/core/target/test-classes:java/cli/target/falcon.jar dev.falcon.solve."
                + probe.getSimpleName() + " "), usage);
    }

    @Test
    void theArgumentsReadmeGivesAreTaken() {
        assertEquals(new PolishCapProbe.Arguments(40, 20261207, 1000, 16, 64, FalconSolver.KICK_MAX_WEIGHTS + 1, 20000),
                PolishCapProbe.Arguments.parse(new String[] {"40", "20261207", "1000"}));
        assertEquals(new PolishCapProbe.Arguments(2, 1, 16, 8, 12, 100, 200),
                PolishCapProbe.Arguments.parse(new String[] {"2", "1", "16", "8", "12", "100", "200"}));
        assertEquals(new LargerInstances.Arguments("cpu", 400, 20261205),
                LargerInstances.Arguments.parse(new String[] {"cpu", "400", "20261205"}));
    }

    @Test
    void aWrongArgumentIsNamed() {
        assertEquals("MAX_N is 4; give at least 8", assertThrows(IllegalArgumentException.class,
                () -> PolishCapProbe.Arguments.parse(new String[] {"2", "1", "16", "8", "4", "100", "200"})).getMessage());
        assertEquals("PASSES is 0; give at least 1", assertThrows(IllegalArgumentException.class,
                () -> PolishCapProbe.Arguments.parse(new String[] {"2", "1", "0"})).getMessage());
        assertEquals("COUNT is 'many', not a whole number", assertThrows(IllegalArgumentException.class,
                () -> LargerInstances.Arguments.parse(new String[] {"java", "many", "1"})).getMessage());
    }
}
