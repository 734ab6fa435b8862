package dev.falcon.cli;

import dev.falcon.io.InputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.bytedeco.javacpp.Loader;

/** Memory and version facts from the running system. */
final class SystemInfo {
    /** System property overriding the available memory (e.g. 600m, 4g, bytes); for tests and shared machines. */
    static final String MEMORY_PROPERTY = "falcon.memory.available";

    private SystemInfo() {}

    static String falconVersion() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev (not built from a jar)";
    }

    static String javaVersion() {
        return System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")";
    }

    static String javacppVersion() {
        try {
            String v = Loader.getVersion();
            return v != null ? v : "unknown";
        } catch (IOException | RuntimeException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    /** Bytes available for a new run: the property, else MemAvailable of /proc/meminfo, else -1. */
    static long availableMemory() {
        String override = System.getProperty(MEMORY_PROPERTY);
        if (override != null && !override.isBlank()) {
            long v = parseBytes(override);
            if (v < 0) throw InputException.of("-D" + MEMORY_PROPERTY, "value", "'" + override + "' is not a size", "write e.g. 600m, 4g or a number of bytes");
            return v;
        }
        return procKilobytes(Path.of("/proc/meminfo"), "MemAvailable:");
    }

    static long totalMemory() {
        return procKilobytes(Path.of("/proc/meminfo"), "MemTotal:");
    }

    /** Peak resident set size (VmHWM) of this process, or -1. */
    static long peakResident() {
        return procKilobytes(Path.of("/proc/self/status"), "VmHWM:");
    }

    private static long procKilobytes(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key)) {
                    String[] parts = line.substring(key.length()).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** "600m", "4g", "1.5G", "123456" -> bytes; -1 when not a size. */
    static long parseBytes(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.endsWith("b")) t = t.substring(0, t.length() - 1);
        double unit = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k' -> unit = 1L << 10;
                case 'm' -> unit = 1L << 20;
                case 'g' -> unit = 1L << 30;
                case 't' -> unit = 1L << 40;
                default -> { }
            }
            if (unit != 1) t = t.substring(0, t.length() - 1);
        }
        try {
            double v = Double.parseDouble(t);
            return v >= 0 && Double.isFinite(v) ? (long) (v * unit) : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    static String bytes(long b) {
        return dev.falcon.io.ByteCounts.of(b);
    }
}
