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
            if (v == BEYOND_A_LONG) {
                throw InputException.of("-D" + MEMORY_PROPERTY, "value", "'" + override + "' is beyond the " + Long.MAX_VALUE + " bytes a size can be",
                        "write e.g. 600m, 4g or a number of bytes");
            }
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

    /**
     * The peaks of RssAnon and RssFile of this process, sampled every {@link #INTERVAL_MS} ms from /proc/self/status while it
     * is open, and once more when asked. VmHWM alone counts the page cache of the files the process maps: a memory-mapped X
     * of 2 GB made a run whose own memory stayed at its 264 MiB estimate report a peak of 2.26 GB, above the memory said to be
     * available, when those pages are the kernel's to drop under pressure. The kernel keeps no high-water mark of either
     * part, hence the sampling.
     */
    static final class ResidentSampler implements AutoCloseable {
        static final long INTERVAL_MS = 50;
        private long peakAnonymous = -1, peakFile = -1;
        private final Thread thread;
        private volatile boolean closed;

        ResidentSampler() {
            sample();
            thread = new Thread(() -> {
                while (!closed) {
                    sample();
                    try {
                        Thread.sleep(INTERVAL_MS);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "falcon-rss-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        private synchronized void sample() {
            long[] v = procKilobytes(Path.of("/proc/self/status"), "RssAnon:", "RssFile:");
            peakAnonymous = Math.max(peakAnonymous, v[0]);
            peakFile = Math.max(peakFile, v[1]);
        }

        /** The largest RssAnon seen (the process's own memory: heap, off-heap vectors, a copied X), or -1 where /proc does not say. */
        synchronized long peakAnonymous() {
            sample();
            return peakAnonymous;
        }

        /** The largest RssFile seen (pages of mapped files: the JVM's and libraries' code, and a memory-mapped X), or -1. */
        synchronized long peakFile() {
            sample();
            return peakFile;
        }

        @Override
        public void close() {
            closed = true;
            thread.interrupt();
        }
    }

    /** The values of the given keys of a /proc file in kB, as bytes; -1 for each one missing. */
    static long[] procKilobytes(Path file, String... keys) {
        long[] values = new long[keys.length];
        java.util.Arrays.fill(values, -1);
        try {
            for (String line : Files.readAllLines(file)) {
                for (int k = 0; k < keys.length; k++) {
                    if (line.startsWith(keys[k])) values[k] = Long.parseLong(line.substring(keys[k].length()).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            java.util.Arrays.fill(values, -1);
        }
        return values;
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

    /** What {@link #parseBytes} returns for a size of more bytes than a long holds. */
    static final long BEYOND_A_LONG = -2;

    /**
     * Decimal digits with an optional fraction and exponent: Double.parseDouble also takes Java's literal suffixes and
     * hex floats, so "2d" (a typo) was 2 bytes and "0x1p30" 1 GiB, where the error's own advice is 600m, 4g or bytes.
     */
    private static final java.util.regex.Pattern SIZE = java.util.regex.Pattern.compile("([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(e[+-]?[0-9]+)?");

    /** "600m", "4g", "1.5G", "123456" -> bytes; -1 when not a size, {@link #BEYOND_A_LONG} when more than a long holds. */
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
        if (!SIZE.matcher(t).matches()) return -1;
        double v = Double.parseDouble(t) * unit;
        // (long) saturates: 1e30t became Long.MAX_VALUE, shown as 8388608 TiB available
        return v < 0x1p63 ? (long) v : BEYOND_A_LONG;
    }

    static String bytes(long b) {
        return dev.falcon.io.ByteCounts.of(b);
    }
}
