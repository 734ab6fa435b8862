package dev.falcon.cli;

import dev.falcon.io.InputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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

    /** Bytes available for a new run and where the figure came from ("MemAvailable of /proc/meminfo", "cgroup memory.max"). */
    record Available(long bytes, String source, String fix, MemoryPlan.AddressSpace addressSpace) {
        Available(long bytes, String source) {
            this(bytes, source, null, null);
        }

        Available(long bytes, String source, String fix) {
            this(bytes, source, fix, null);
        }
    }

    /** The last figure {@link #availableMemory} gave, for the memory refusal to name its source. */
    private static volatile Available lastAvailable;

    /**
     * Bytes available for a new run: the property, else the smaller of MemAvailable of /proc/meminfo and the room the
     * process's cgroup memory limit leaves, else -1. In a container MemAvailable is the host's: a run it let through was
     * killed by the kernel at the cgroup's limit.
     */
    static long availableMemory() {
        return availableNow().bytes();
    }

    /** {@link #availableMemory()} with where it came from, and the address-space limit it is the room of, if it is. */
    static Available availableNow() {
        Available a = available();
        lastAvailable = a;
        return a;
    }

    /** Where the available memory the plan compared with came from, or null where it was not the last figure read. */
    static String availableSource(long bytes) {
        Available a = lastAvailable;
        return a != null && a.bytes() == bytes ? a.source() : null;
    }

    /**
     * The fix for a run that does not fit, where the bound the plan compared with is no machine's memory (an address-space
     * limit, a JavaCPP cap), else null: "a machine with more memory" cannot lift those.
     */
    static String availableFix(long bytes) {
        Available a = lastAvailable;
        return a != null && a.bytes() == bytes ? a.fix() : null;
    }

    static Available available() {
        String override = System.getProperty(MEMORY_PROPERTY);
        if (override != null && !override.isBlank()) return new Available(availableMemoryProperty(), "-D" + MEMORY_PROPERTY);
        long[] own = procKilobytes(Path.of("/proc/self/status"), "RssAnon:", "VmRSS:");
        long meminfo = procKilobytes(Path.of("/proc/meminfo"), "MemAvailable:");
        Available cgroup = cgroupRoom(Path.of("/proc/self/cgroup"), Path.of("/sys/fs/cgroup"), Math.max(0, own[1]));
        return tightest(leastOf(meminfo, Math.max(0, own[0]), cgroup), addressSpaceRoom(), javacppPhysicalCap());
    }

    /**
     * The bound that leaves a run the least room: of the memory figure ({@code memory}: MemAvailable or the cgroup's room),
     * the address-space room ({@code addressSpace}) and JavaCPP's cap, each null or unknown (-1) where there is none.
     */
    static Available tightest(Available memory, Available addressSpace, Available javacppCap) {
        return tighter(tighter(memory, addressSpace), javacppCap);
    }

    /**
     * The tighter of two bounds, {@code b} null or {@code a} unknown (-1) taken as no bound, compared in the same account:
     * the address-space room holds the whole heap limit, which the plan charges there, while a memory figure is charged
     * only the heap the run keeps. Compared by their bytes alone, the room was larger by the heap limit, so a JavaCPP cap,
     * a cgroup or MemAvailable below it was chosen, the reserved heap went uncharged, and a run the limit could not hold
     * passed the plan and failed allocating X (ulimit -v 3500000, FALCON_HEAP=1g, maxPhysicalBytes=1300m).
     */
    private static Available tighter(Available a, Available b) {
        if (b == null) return a;
        return a.bytes() < 0 || roomBesideHeapLimit(b) < roomBesideHeapLimit(a) ? b : a;
    }

    /** A bound's room for what the run holds beside its heap: an address-space room less the heap limit it holds whole. */
    private static long roomBesideHeapLimit(Available bound) {
        return bound.bytes() - (bound.addressSpace() != null ? bound.addressSpace().heapLimit() : 0);
    }

    /**
     * Address space the JVM reserves after the plan is made, beside the run's own data: malloc's arenas of the threads
     * that start later, more code cache. resnet20 at --n 1 with FALCON_HEAP=512m on the 2-core VM: a VmSize of 3.6 GiB at
     * the plan and a VmPeak of 3.78 GiB, 150 MiB beyond its 25 MiB of off-heap data; some margin is added for machines
     * with more threads. Not OpenBLAS's buffers: they are reserved as the cpu backend loads, before the plan (about
     * 0.6 GiB with 2 threads, more per thread; in VmSize by the time of a prune's plan), and a limit that leaves too little
     * for them ended the process in OpenBLAS's own words before any plan: the launcher asks falcon env under such a limit
     * first. In {@code falcon env}, which reports this figure before loading the backends, it is not yet counted.
     */
    static final long ADDRESS_SPACE_ALLOWANCE = 192L << 20;

    /**
     * The soft limit on this process's address space (RLIMIT_AS, what {@code ulimit -v} sets) from the "Max address space"
     * line of {@code limits} (/proc/self/limits), in bytes; -1 where it is unlimited or cannot be read.
     */
    static long addressSpaceLimit(Path limits) {
        try {
            for (String line : Files.readAllLines(limits)) {
                if (!line.startsWith("Max address space")) continue;
                String soft = line.substring("Max address space".length()).trim().split("\\s+")[0];
                return soft.equals("unlimited") ? -1 : Long.parseLong(soft);
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /**
     * The room an address-space limit of {@code limit} bytes (-1: none) leaves a run of this process, whose VmSize is
     * {@code vmSize} bytes (-1: unknown), or null where no limit is set. Under {@code ulimit -v} the machine's free memory is beside
     * the point: every mapping counts, reserved or not, and the JVM reserves its whole heap limit, its class space and
     * code cache up front (with the default FALCON_HEAP=2g about 3.4 GiB before any data). A run that fitted MemAvailable
     * then failed allocating X and was told to free memory on a machine with 17 GiB free. What the JVM has reserved so far
     * is in VmSize, and the plan's runtime term counts that process again: it is given back so that it is counted once.
     * So is the whole heap limit {@code heapLimit} reserved in VmSize: the room is for the runtime, a heap reservation and
     * the run's data, and the plan charges the heap at the limit it runs with ({@link MemoryPlan.AddressSpace}). Left in
     * VmSize, it was counted twice: a run that fitted was warned to lower FALCON_HEAP, and refused with fewer rows where
     * a smaller FALCON_HEAP ran them all.
     */
    static Available addressSpaceRoom(long limit, long vmSize, long heapLimit) {
        if (limit < 0 || vmSize < 0) return null;
        long room = Math.max(0, limit - vmSize + heapLimit - ADDRESS_SPACE_ALLOWANCE + MemoryPlan.RUNTIME);
        return new Available(room, "the address-space limit (ulimit -v) of " + bytes(limit) + " less the " + bytes(Math.max(0, vmSize - heapLimit))
                + " this JVM has reserved beside its heap limit and " + bytes(ADDRESS_SPACE_ALLOWANCE) + " it reserves as it runs",
                null, new MemoryPlan.AddressSpace(limit, heapLimit));
    }

    /** {@link #addressSpaceRoom(long, long, long)} of this process now, or null where no address-space limit is set. */
    static Available addressSpaceRoom() {
        return addressSpaceRoom(addressSpaceLimit(LIMITS), vmSize(), MemoryPlan.heapLimitOfThisJvm());
    }

    /** This process's limits, among them its address-space limit. */
    static final Path LIMITS = Path.of("/proc/self/limits");

    /** The address space this process has reserved (VmSize), in bytes; -1 where it cannot be read. */
    static long vmSize() {
        return procKilobytes(Path.of("/proc/self/status"), "VmSize:");
    }


    /**
     * JavaCPP's cap on the physical memory of this whole process (Pointer.maxPhysicalBytes(): it refuses an off-heap
     * vector once the resident set is above it), or null where none is in effect. Set in FALCON_JAVA_OPTS, or by
     * JavaCPP itself as twice the Java heap limit where falcon runs without its launcher, which sets it to 0; the run
     * passed the plan and failed after loading its inputs, minutes later for a large X.
     */
    static Available javacppPhysicalCap() {
        JavaCppCap cap = JavaCppCap.of("maxPhysicalBytes");
        if (cap == null) return null;
        return new Available(cap.bytes(), "JavaCPP's cap on this process's physical memory: " + cap.origin(), cap.fix());
    }

    /**
     * A JavaCPP cap in effect ({@code maxBytes} or {@code maxPhysicalBytes}): its bytes, where it came from and how to
     * lift it.
     */
    record JavaCppCap(String name, long bytes, String origin, String fix) {
        /** The cap of that name in effect, or null where it is 0 (none) or JavaCPP refuses its properties. */
        static JavaCppCap of(String name) {
            if (dev.falcon.backend.JavaCppRuntime.settingProblem() != null) return null;
            long bytes;
            try {
                bytes = name.equals("maxBytes") ? org.bytedeco.javacpp.Pointer.maxBytes() : org.bytedeco.javacpp.Pointer.maxPhysicalBytes();
            } catch (Throwable notLoaded) { // Pointer's class initializer failed: JavaCppRuntime.problem() reports it
                return null;
            }
            if (bytes <= 0) return null;
            String property = "org.bytedeco.javacpp." + name;
            String given = System.getProperty(property, System.getProperty(property.toLowerCase(Locale.ROOT)));
            String sizeOf = "-D" + property + "=";
            if (given != null && !given.isEmpty()) {
                return new JavaCppCap(name, bytes, sizeOf + given + " (" + SystemInfo.bytes(bytes) + "), set in the JVM's options (FALCON_JAVA_OPTS or JAVA_TOOL_OPTIONS)",
                        "a larger " + sizeOf + " (0: no cap), or leave it out");
            }
            return new JavaCppCap(name, bytes, "JavaCPP's default " + name + " of " + SystemInfo.bytes(bytes) + ", derived from the Java heap limit (-Xmx)"
                    + " because falcon runs without its ./falcon launcher, which lifts it",
                    "add -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 to the java command, or run ./falcon");
        }
    }

    /**
     * The smaller of MemAvailable ({@code memAvailable}, -1 where unknown) and the cgroup's room (null where no limit is
     * set). The plan's runtime term counts this whole process, which has already started and loaded its native libraries
     * by the time it asks: its own anonymous memory ({@code ownAnonymous}) has come off MemAvailable (its mapped file
     * pages are page cache, which MemAvailable counts as available), and is given back here so that it is counted once.
     */
    static Available leastOf(long memAvailable, long ownAnonymous, Available cgroup) {
        long meminfo = memAvailable < 0 ? -1 : memAvailable + ownAnonymous;
        if (cgroup != null && (meminfo < 0 || cgroup.bytes() < meminfo)) return cgroup;
        return new Available(meminfo, "MemAvailable of /proc/meminfo" + (memAvailable >= 0 && ownAnonymous > 0
                ? " " + bytes(memAvailable) + " and " + bytes(ownAnonymous) + " of this process's own, which the runtime term counts" : ""));
    }

    /** A v1 limit of "no limit" is the largest page-aligned long, about 2^63: anything from 2^62 up is none. */
    private static final long V1_UNLIMITED = 1L << 62;

    /**
     * The room the memory limits of this process's cgroup and its ancestors leave (limit minus usage, the least over the
     * levels that set one), or null where none is set or the files cannot be read. cgroup v2: the "0::PATH" line of
     * {@code procSelfCgroup}, memory.max ("max" is none) less memory.current under {@code root}/PATH; v1: the line whose
     * controllers include memory, memory.limit_in_bytes less memory.usage_in_bytes under {@code root}/memory/PATH; the
     * usage less its inactive page cache (memory.stat's inactive_file, v1 total_inactive_file), which is reclaimable. In a
     * container the path is often its own root ("/") or not mounted as named: the mount's top folder is read then.
     * {@code ownResident}: this process's resident memory (VmRSS), taken off the usage, which charges it too, since the
     * plan's runtime term counts the whole process: subtracting it as "in use" as well counted the JVM twice (a run that
     * peaked at 526 MiB in a 600 MiB cgroup was refused, and the rows proposed instead changed with how far the JVM had
     * got when it read the usage). Where its mapped files' pages were charged to another cgroup, the room is that much
     * larger, and so is the runtime term beside what the run will charge here.
     */
    static Available cgroupRoom(Path procSelfCgroup, Path root, long ownResident) {
        List<String> lines;
        try {
            lines = Files.readAllLines(procSelfCgroup);
        } catch (IOException | RuntimeException e) {
            return null;
        }
        Available least = null;
        for (String line : lines) {
            String[] parts = line.split(":", 3);
            if (parts.length < 3) continue;
            boolean v2 = parts[0].equals("0") && parts[1].isEmpty();
            boolean v1 = java.util.Arrays.asList(parts[1].split(",")).contains("memory");
            if (!v2 && !v1) continue;
            Path mount = v2 ? root : root.resolve("memory");
            String limitFile = v2 ? "memory.max" : "memory.limit_in_bytes", usageFile = v2 ? "memory.current" : "memory.usage_in_bytes";
            Path dir = mount.resolve(parts[2].replaceFirst("^/+", ""));
            if (!Files.isDirectory(dir)) dir = mount;
            for (Path level = dir; level != null && level.startsWith(mount); level = level.getParent()) {
                long limit = cgroupNumber(level.resolve(limitFile));
                if (limit < 0 || (v1 && limit >= V1_UNLIMITED)) continue;
                long charged = Math.max(0, cgroupNumber(level.resolve(usageFile)));
                // the usage counts the cgroup's page cache, which the kernel reclaims before it kills at the limit (as
                // MemAvailable counts it available): a gradients file just copied or read left gigabytes "in use", and
                // runs that fit were refused. Its inactive part is taken as room, as the kubelet's working set does.
                long reclaimable = Math.min(charged, Math.max(0, cgroupStat(level.resolve("memory.stat"), v2 ? "inactive_file" : "total_inactive_file")));
                long ownCharged = Math.min(charged - reclaimable, Math.max(0, ownResident));
                long usage = charged - reclaimable - ownCharged;
                long room = Math.max(0, limit - usage);
                if (least == null || room < least.bytes()) {
                    List<String> less = new java.util.ArrayList<>();
                    if (reclaimable > 0) less.add(bytes(reclaimable) + " of inactive page cache");
                    if (ownCharged > 0) less.add(bytes(ownCharged) + " of this process, which the runtime term counts");
                    least = new Available(room, "cgroup " + (v2 ? "" : "v1 ") + limitFile + " " + bytes(limit) + " less " + bytes(usage) + " in use"
                            + (less.isEmpty() ? "" : " (" + usageFile + " " + bytes(charged) + " less " + String.join(" and ", less) + ")"));
                }
            }
        }
        return least;
    }

    /** The value of {@code key} in a memory.stat file ("key value" lines); -1 where it or the file is missing or unreadable. */
    private static long cgroupStat(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                String[] kv = line.trim().split("\\s+");
                if (kv.length == 2 && kv[0].equals(key)) return Long.parseLong(kv[1]);
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** A cgroup file's number; -1 for "max", a missing or unreadable file. */
    private static long cgroupNumber(Path file) {
        try {
            String t = Files.readString(file).trim();
            return t.equals("max") ? -1 : Long.parseLong(t);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long availableMemoryProperty() {
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
        return -1;
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
                    try {
                        sample();
                    } catch (OutOfMemoryError heapFull) {
                        // the run's heap is full for now: this sample is skipped, and the run's own thread reports it if it stays so
                    }
                    try {
                        Thread.sleep(INTERVAL_MS);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "falcon-rss-sampler");
            thread.setDaemon(true);
            thread.setUncaughtExceptionHandler(HELPER_THREADS);
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

        /** The sampling thread, for tests. */
        Thread thread() { return thread; }
    }

    /**
     * The uncaught-exception handler of falcon's helper threads (progress lines, memory sampling): silent on running out
     * of memory, which the run's own thread meets too and reports in one line with its fix; the default handler printed
     * the helper's stack trace beside it ("Exception in thread "falcon-progress" java.lang.OutOfMemoryError: Java heap
     * space"), or failed doing so ("thrown from the UncaughtExceptionHandler in thread "falcon-rss-sampler""). Anything
     * else is a bug and goes to the default handler. A class made up front, not a lambda, so that calling it on a full
     * heap links and allocates nothing.
     */
    static final Thread.UncaughtExceptionHandler HELPER_THREADS = new HelperThreadFailures();

    private static final class HelperThreadFailures implements Thread.UncaughtExceptionHandler {
        @Override
        public void uncaughtException(Thread thread, Throwable e) {
            if (e instanceof OutOfMemoryError) return;
            thread.getThreadGroup().uncaughtException(thread, e);
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
     * "600m", "4g", "1.5G", "123456" -> bytes; -1 when not a size, {@link #BEYOND_A_LONG} when more than a long holds. The
     * number is read in falcon's grammar, not Double.parseDouble's, which also takes Java's literal suffixes and hex floats:
     * "2d" (a typo) was 2 bytes and "0x1p30" 1 GiB, where the error's own advice is 600m, 4g or bytes.
     */
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
        // falcon's one number grammar (Numbers), unsigned: a size has no sign
        if (t.isEmpty() || t.charAt(0) == '+' || t.charAt(0) == '-' || !dev.falcon.model.Numbers.isDecimal(t)) return -1;
        double v = Double.parseDouble(t) * unit;
        // (long) saturates: 1e30t became Long.MAX_VALUE, shown as 8388608 TiB available
        return v < 0x1p63 ? (long) v : BEYOND_A_LONG;
    }

    static String bytes(long b) {
        return dev.falcon.io.ByteCounts.of(b);
    }
}
