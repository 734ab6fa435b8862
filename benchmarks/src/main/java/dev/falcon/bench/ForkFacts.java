package dev.falcon.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Facts of a forked benchmark JVM that its figures depend on and JMH's JSON does not hold (the OpenBLAS core it runs,
 * OpenBLAS's thread count): JMH saves only its own parameters, and the "# " lines a setup prints are lost with JMH's
 * output. benchmarks/run.sh names a file per JMH run in {@value #FILE_VARIABLE}; each trial appends one JSON line to
 * it, {"benchmark": ..., "params": {...}, "facts": {...}}, with the benchmark's name and parameters as JMH writes them,
 * and bench.py merge copies the facts into the saved entries of that benchmark and those parameters.
 */
final class ForkFacts {
    static final String FILE_VARIABLE = "FALCON_BENCH_FACTS";

    private ForkFacts() {}

    /** Appends the trial's line to the file {@value #FILE_VARIABLE} names; nothing when it is unset (JMH run by hand). */
    static void record(BenchmarkParams jmh, Map<String, ?> facts) {
        String file = System.getenv(FILE_VARIABLE);
        if (file == null || file.isEmpty()) return;
        StringBuilder line = new StringBuilder("{\"benchmark\": ").append(quote(jmh.getBenchmark())).append(", \"params\": {");
        String sep = "";
        for (String key : jmh.getParamsKeys()) {
            line.append(sep).append(quote(key)).append(": ").append(quote(jmh.getParam(key)));
            sep = ", ";
        }
        line.append("}, \"facts\": ").append(json(facts)).append("}\n");
        try {
            Files.writeString(Path.of(file), line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // a figure saved without the facts it depends on is what this class exists to prevent: fail the trial
            throw new UncheckedIOException(FILE_VARIABLE + "=" + file + ": cannot append the fork's facts", e);
        }
    }

    /** A JSON object of string and number values (numbers stay numbers, so bench.py compares thread counts as such). */
    static String json(Map<String, ?> facts) {
        StringBuilder s = new StringBuilder("{");
        String sep = "";
        for (Map.Entry<String, ?> e : facts.entrySet()) {
            Object v = e.getValue();
            s.append(sep).append(quote(e.getKey())).append(": ").append(v instanceof Number ? v.toString() : quote(String.valueOf(v)));
            sep = ", ";
        }
        return s.append('}').toString();
    }

    static String quote(String text) {
        StringBuilder s = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c < 0x20) s.append(String.format("\\u%04x", (int) c));
                    else s.append(c);
                }
            }
        }
        return s.append('"').toString();
    }
}
