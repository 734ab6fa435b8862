package dev.falcon.backend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The processors this process may use: the one count for the default --threads, OpenBLAS's most threads and the
 * report's cpu.available_processors. {@link Runtime#availableProcessors()} alone is the JVM's count, which
 * -XX:ActiveProcessorCount (or a container's CPU quota) sets above the CPUs the process may run on: with
 * -XX:ActiveProcessorCount=4 on 2 CPUs OpenBLAS got 4 spinning threads and the report named 4 processors.
 */
public final class Processors {
    private Processors() {}

    private static final Path STATUS = Path.of("/proc/self/status"), ONLINE = Path.of("/sys/devices/system/cpu/online");

    /** The smaller of the JVM's count and the CPUs this process's affinity allows (taskset, a cpuset), at least 1. */
    public static int usable() {
        int jvm = Runtime.getRuntime().availableProcessors(), affinity = affinity();
        return Math.max(1, affinity > 0 ? Math.min(jvm, affinity) : jvm);
    }

    /** The CPUs of this process's affinity mask (Linux's Cpus_allowed_list), or 0 where it cannot be read. */
    public static int affinity() {
        try {
            for (String line : Files.readAllLines(STATUS, StandardCharsets.UTF_8)) {
                if (line.startsWith("Cpus_allowed_list:")) return countList(line.substring("Cpus_allowed_list:".length()));
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or no /proc: the JVM's count stands alone
        }
        return 0;
    }

    /** The machine's online CPUs (/sys/devices/system/cpu/online), or 0 where it cannot be read. */
    public static int online() {
        try {
            return countList(Files.readString(ONLINE, StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * Why {@link #usable()} is what it is, for a message that says a count is above it: the machine's processors, those
     * taskset or a cpuset leave this process, or the JVM's count (-XX:ActiveProcessorCount, a CPU quota). Naming
     * taskset on a machine with neither sent the user looking for a restriction that was not there.
     */
    public static String reason() {
        int usable = usable(), jvm = Runtime.getRuntime().availableProcessors(), affinity = affinity(), online = online();
        if (affinity > 0 && online > 0 && affinity < online && usable == affinity) {
            return "taskset or a cpuset leaves it " + affinity + " of the machine's " + online;
        }
        if (usable == jvm && (affinity <= 0 || jvm < affinity)) {
            return "the JVM's count, set by -XX:ActiveProcessorCount or a container's CPU quota";
        }
        if (online > 0 && usable == online) return "all the machine has";
        return "the machine's, or those taskset or a cpuset leave it";
    }

    /** The CPUs in a Linux CPU list ("0-3,8,10-11"); throws IllegalArgumentException on anything else. */
    static int countList(String list) {
        int count = 0;
        for (String part : list.trim().split(",")) {
            String[] ends = part.trim().split("-", 2);
            int first = Integer.parseInt(ends[0].trim()), last = ends.length == 1 ? first : Integer.parseInt(ends[1].trim());
            if (last < first) throw new IllegalArgumentException("not a CPU list: " + list);
            count += last - first + 1;
        }
        return count;
    }
}
