package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bounds on the run that are no machine's memory: an address-space limit (ulimit -v) and JavaCPP's caps. The memory
 * plan compared with MemAvailable and cgroups alone, so such a run passed it and failed after loading, told to free
 * memory on a machine with 17 GiB free, or that the cap it set itself came from running without the launcher. Each
 * case runs falcon in a JVM of its own, started by bash so that ulimit applies to it.
 */
class MemoryLimitsTest {
    @TempDir Path dir;

    private record Child(int code, String output) {}

    private Child falcon(String shellPrefix, List<String> jvmOptions, String... args) throws Exception {
        List<String> java = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path")));
        String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cache != null) java.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
        java.addAll(jvmOptions);
        java.add(Main.class.getName());
        java.addAll(List.of(args));
        List<String> cmd = new ArrayList<>(List.of("bash", "-c", shellPrefix + " exec \"$@\"", "falcon"));
        cmd.addAll(java);
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "falcon did not end");
        return new Child(child.exitValue(), Files.readString(log));
    }

    private static final List<String> NO_JAVACPP_CAPS = List.of("-Xmx128m", "-Dorg.bytedeco.javacpp.maxBytes=0",
            "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0");

    /**
     * {@code falcon prune --example resnet20 --n n --method falcon}, started after {@code shellPrefix} with
     * {@code jvmOptions}: asserts that it exits 2 with each of {@code said} in its output, and returns it.
     */
    private Child refusedResnet20Prune(String shellPrefix, List<String> jvmOptions, String n, String... said) throws Exception {
        Child c = falcon(shellPrefix, jvmOptions, "prune", "--example", "resnet20", "--n", n, "--method", "falcon",
                "--out", dir.resolve("w.npy").toString(), "-q");
        assertEquals(2, c.code(), c.output());
        for (String s : said) assertTrue(c.output().contains(s), c.output());
        return c;
    }

    @Test
    void aRunBeyondTheAddressSpaceLimitIsRefusedBeforeLoadingNamingUlimit() throws Exception {
        Child c = refusedResnet20Prune("ulimit -v 4000000;", NO_JAVACPP_CAPS, "800", "falcon: error: memory: estimate: the run needs",
                "(the address-space limit (ulimit -v) of 3.8 GiB less the", " or more (in kB; ulimit -v unlimited lifts it)");
        assertFalse(c.output().contains("free memory on this machine"), c.output());
        assertFalse(c.output().contains("a machine with more memory"), c.output());
    }

    @Test
    void aMappedXBeyondTheAddressSpaceLimitIsRefusedBeforeLoadingNamingUlimit() throws Exception {
        // a float32 Fortran-order X, which the cpu backend maps in place: counted as 0 (page cache), a 1 GiB X passed the
        // plan under ulimit -v and its mmap failed, an internal error with a trace. Sparse: 4.1 GiB of address, no disk.
        long rows = 1_100_000, p = 1000;
        Path x = dir.resolve("X.npy");
        writeNpyHeader(x, "{'descr': '<f4', 'fortran_order': True, 'shape': (" + rows + ", " + p + "), }", rows * p * 4);
        Path w = dir.resolve("w.npy");
        writeNpyHeader(w, "{'descr': '<f4', 'fortran_order': False, 'shape': (" + p + ",), }", 0);
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(Files.newOutputStream(w, java.nio.file.StandardOpenOption.APPEND))) {
            for (int i = 0; i < p; i++) out.writeInt(Integer.reverseBytes(Float.floatToIntBits(1f + i)));
        }
        Child c = falcon("ulimit -v 4000000;", NO_JAVACPP_CAPS, "prune", "--method", "mp", "-X", x.toString(), "--weights", w.toString(),
                "--flops-per-weight", w.toString(), "--device", "cpu", "--keep-flops", "0.3", "--out", dir.resolve("o.npy").toString(), "-q");
        assertEquals(2, c.code(), c.output());
        assertTrue(c.output().contains("falcon: error: memory: estimate: the run needs about"), c.output());
        assertTrue(c.output().contains("of it X's mapping of its file"), c.output());
        assertTrue(c.output().contains("(the address-space limit (ulimit -v) of 3.8 GiB less the"), c.output());
        assertTrue(c.output().contains(" or more (in kB; ulimit -v unlimited lifts it)"), c.output());
        assertFalse(c.output().contains("internal error"), c.output());
    }

    /**
     * mp with a mapped X of 128 x 4,000,000 float32 (1.9 GiB) under ulimit -v 4000000 with a 256m heap and the small class
     * space: the refusal listed "a smaller FALCON_HEAP" among the options that fit, and followed down to 32m it was
     * refused the same way (at 16m, for the heap), while the run without --grads, which fits, was not offered and "a
     * larger ulimit -v" named no figure. Each option named must fit: the ulimit -v it names runs.
     */
    @Test
    void aMappedXRefusalUnderUlimitOffersOnlyOptionsThatFit() throws Exception {
        long rows = 128, p = 4_000_000;
        Path x = dir.resolve("X.npy");
        writeNpyHeader(x, "{'descr': '<f4', 'fortran_order': True, 'shape': (" + rows + ", " + p + "), }", rows * p * 4);
        Path w = dir.resolve("w.npy"), f = dir.resolve("f.npy");
        writeVector(w, p, i -> 1f + i % 1000);
        writeVector(f, p, i -> 1f);
        List<String> jvm = List.of("-Xmx256m", "-XX:CompressedClassSpaceSize=64m", "-XX:ReservedCodeCacheSize=32m",
                "-Dorg.bytedeco.javacpp.maxBytes=0", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0");
        String[] prune = {"prune", "--method", "mp", "-X", x.toString(), "--weights", w.toString(), "--flops-per-weight", f.toString(),
                "--device", "cpu", "--keep-flops", "0.3", "--out", dir.resolve("o.npy").toString(), "-q"};
        Child c = falcon("ulimit -v 4000000;", jvm, prune);
        assertEquals(2, c.code(), c.output());
        assertTrue(c.output().contains("of it X's mapping of its file"), c.output());
        assertFalse(c.output().contains("a smaller FALCON_HEAP"), c.output());
        assertTrue(c.output().contains("no FALCON_HEAP fits with this X mapped"), c.output());
        assertTrue(c.output().contains("drop --grads"), c.output());
        java.util.regex.Matcher ulimit = java.util.regex.Pattern.compile("ulimit -v (\\d+) or more").matcher(c.output());
        assertTrue(ulimit.find(), c.output());
        Child followed = falcon("ulimit -v " + ulimit.group(1) + ";", jvm, prune);
        assertFalse(followed.output().contains("of address space"), followed.output());
        assertEquals(0, followed.code(), followed.output());
    }

    /**
     * The rows offered for a mapped X under ulimit -v are the most that fit at the FALCON_HEAP the offer names. They were
     * counted at the run's own heap limit (2g) and offered with a much lower one: "at most 5 rows (samples) in X with
     * FALCON_HEAP=160m", where all 64 rows ran at 160m. Each offer is run: the rows at its heap, and the full X at that
     * heap must not fit (else cutting rows is never needed); the FALCON_HEAP offered runs the full X.
     */
    @Test
    void theRowsOfferedForAMappedXUnderUlimitAreTheMostThatFitAtTheHeapNamed() throws Exception {
        long rows = 64, p = 6_000_000;
        Path w = dir.resolve("w.npy"), f = dir.resolve("f.npy");
        writeVector(w, p, i -> 1f + i % 1000);
        writeVector(f, p, i -> 1f);
        java.util.function.LongFunction<Path> xOfRows = n -> {
            Path x = dir.resolve("X" + n + ".npy");
            try {
                if (!Files.exists(x)) writeNpyHeader(x, "{'descr': '<f4', 'fortran_order': True, 'shape': (" + n + ", " + p + "), }", n * p * 4);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return x;
        };
        java.util.function.Function<String, List<String>> jvm = heap -> List.of("-Xmx" + heap, "-XX:CompressedClassSpaceSize=64m",
                "-XX:ReservedCodeCacheSize=32m", "-Dorg.bytedeco.javacpp.maxBytes=0", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0");
        java.util.function.LongFunction<String[]> prune = n -> new String[] {"prune", "--method", "mp", "-X", xOfRows.apply(n).toString(),
                "--weights", w.toString(), "--flops-per-weight", f.toString(), "--device", "cpu", "--keep-flops", "0.3",
                "--out", dir.resolve("o.npy").toString(), "-q"};
        String ulimit = "ulimit -v 6000000;";
        Child c = falcon(ulimit, jvm.apply("2g"), prune.apply(rows));
        assertEquals(2, c.code(), c.output());
        assertTrue(c.output().contains("of it X's mapping of its file"), c.output());
        java.util.regex.Matcher heapOffer = java.util.regex.Pattern.compile("FALCON_HEAP=(\\d+)m or lower").matcher(c.output());
        assertTrue(heapOffer.find(), c.output());
        Child atOfferedHeap = falcon(ulimit, jvm.apply(heapOffer.group(1) + "m"), prune.apply(rows));
        assertEquals(0, atOfferedHeap.code(), "FALCON_HEAP=" + heapOffer.group(1) + "m: " + atOfferedHeap.output());
        java.util.regex.Matcher rowsOffer = java.util.regex.Pattern.compile("at most (\\d+) rows \\(samples\\) in X(?: with FALCON_HEAP=(\\d+)m)?")
                .matcher(c.output());
        if (rowsOffer.find()) {
            String heap = rowsOffer.group(2) != null ? rowsOffer.group(2) + "m" : "2g";
            Child fewer = falcon(ulimit, jvm.apply(heap), prune.apply(Long.parseLong(rowsOffer.group(1))));
            assertEquals(0, fewer.code(), rowsOffer.group() + ": " + fewer.output());
            Child every = falcon(ulimit, jvm.apply(heap), prune.apply(rows));
            assertTrue(every.code() != 0, "offered '" + rowsOffer.group() + "' of " + rows + " rows, but all " + rows
                    + " run at that heap: " + c.output());
        }
    }

    /** A float32 vector of {@code p} values {@code value(i)} as an .npy file. */
    private static void writeVector(Path file, long p, java.util.function.IntToDoubleFunction value) throws java.io.IOException {
        writeNpyHeader(file, "{'descr': '<f4', 'fortran_order': False, 'shape': (" + p + ",), }", 0);
        java.nio.ByteBuffer data = java.nio.ByteBuffer.allocate(Math.toIntExact(4 * p)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < p; i++) data.putFloat((float) value.applyAsDouble(i));
        Files.write(file, data.array(), java.nio.file.StandardOpenOption.APPEND);
    }

    /** An .npy file's version 1.0 header for {@code dict}, padded to 64 bytes, then {@code dataBytes} of zeros (sparse). */
    private static void writeNpyHeader(Path file, String dict, long dataBytes) throws java.io.IOException {
        int unpadded = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(10 + header.length()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length())
                .put(header.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        Files.write(file, b.array());
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() + dataBytes);
        }
    }

    @Test
    void theAddressSpaceLimitIsReadFromProcSelfLimits() throws Exception {
        Path limits = dir.resolve("limits");
        Files.writeString(limits, "Limit                     Soft Limit           Hard Limit           Units     \n"
                + "Max address space         4096000000           unlimited            bytes     \n");
        assertEquals(4_096_000_000L, SystemInfo.addressSpaceLimit(limits));
        Files.writeString(limits, "Max address space         unlimited            unlimited            bytes     \n");
        assertEquals(-1, SystemInfo.addressSpaceLimit(limits));
        assertEquals(null, SystemInfo.addressSpaceRoom(-1, 3L << 30, 2L << 30));
        // what the JVM has reserved and reserves later comes off; the runtime term the plan counts again is given back, and
        // so is the heap limit, which the plan charges whole
        assertEquals((4L << 30) - (3L << 30) + (2L << 30) - SystemInfo.ADDRESS_SPACE_ALLOWANCE + MemoryPlan.RUNTIME,
                SystemInfo.addressSpaceRoom(4L << 30, 3L << 30, 2L << 30).bytes());
    }

    @Test
    void anAddressSpaceLimitBelowASmallerMemoryFigureIsTheBoundWithTheHeapLimitCharged() {
        // ulimit -v 3500000 with FALCON_HEAP=1g: 0.3 GiB beside the reserved heap limit, under a 1300m JavaCPP cap
        long heapLimit = 1L << 30;
        SystemInfo.Available room = SystemInfo.addressSpaceRoom(3_500_000L * 1024, (2L << 30) + heapLimit, heapLimit);
        SystemInfo.Available cap = new SystemInfo.Available(1300L << 20, "JavaCPP's cap");
        assertTrue(room.bytes() > cap.bytes(), "the room holds the heap limit: " + room.bytes());
        SystemInfo.Available memory = new SystemInfo.Available(16L << 30, "MemAvailable of /proc/meminfo");
        for (SystemInfo.Available bound : List.of(SystemInfo.tightest(memory, room, cap), SystemInfo.tightest(cap, room, null))) {
            assertEquals(room, bound, "chose " + bound.source() + " (" + bound.bytes() + " bytes) over the address-space room");
        }
        // a memory figure below the room's part beside the heap limit is still the bound
        SystemInfo.Available little = new SystemInfo.Available(200L << 20, "cgroup memory.max");
        assertEquals(little, SystemInfo.tightest(little, room, cap));
    }

    @Test
    void aJavaCppPhysicalCapInTheOptionsIsInThePlanAndNamed() throws Exception {
        Child c = refusedResnet20Prune("", List.of("-Xmx512m", "-Dorg.bytedeco.javacpp.maxBytes=0",
                "-Dorg.bytedeco.javacpp.maxPhysicalBytes=300m"), "256", "falcon: error: memory: estimate: the run needs",
                "-Dorg.bytedeco.javacpp.maxPhysicalBytes=300m (300.0 MiB), set in the JVM's options");
        assertFalse(c.output().contains("when falcon runs without its ./falcon launcher"), c.output());
        Child env = falcon("", List.of("-Dorg.bytedeco.javacpp.maxPhysicalBytes=300m"), "env");
        assertEquals(0, env.code(), env.output());
        assertTrue(env.output().contains(", maxPhysicalBytes 300m"), env.output());
    }

    @Test
    void aJavaCppMaxBytesBelowTheVectorsIsRefusedNamingIt() throws Exception {
        refusedResnet20Prune("", List.of("-Xmx512m", "-Dorg.bytedeco.javacpp.maxBytes=4m", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"),
                "16", "falcon: error: memory: estimate: the run's off-heap vectors need about",
                "-Dorg.bytedeco.javacpp.maxBytes=4m (4.0 MiB), set in the JVM's options");
    }
}
