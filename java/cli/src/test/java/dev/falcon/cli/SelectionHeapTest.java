package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.examples.ExampleModel;
import dev.falcon.examples.ExampleModels;
import dev.falcon.io.InputException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * mp's selection keeps its mask on the Java heap, a byte per weight, and the memory plan gave mp no heap: a FALCON_HEAP
 * below the mask was not refused, the refusals offered mp with FALCON_HEAP=16m for resnet50 (p = 25.5 million), and the
 * run died of Java-heap OOM after all its work, told to take FALCON_HEAP=8g (three times the memory said to be
 * available) or fewer rows of an X it did not have.
 */
class SelectionHeapTest {
    private static final long MIB = 1L << 20;

    /** magnitude with X (n = 2) on 10M weights, the cpu backend, on a machine said to have 64 GiB. */
    private static MemoryPlan magnitudeWithXOfTenMillionWeights() {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "64g");
        long p = 10_000_000;
        long block = dev.falcon.solve.SolverOptions.DEFAULT_BLOCK_SIZE;
        return MemoryPlan.of(p, 2, null, false, "cpu", false, false, MemoryPlan.Systems.NONE, block, p, false, true, 1);
    }

    @TempDir
    Path dir;

    @AfterEach
    void clearOverride() {
        System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        MemoryPlan.runningWith(null, false);
    }

    /** A run in a JVM of its own, as the launcher starts it, with {@code heap} as its -Xmx. */
    private static String[] childJvm(String heap, Path log, String... args) throws Exception {
        return childJvm(List.of(), heap, log, args);
    }

    /** {@link #childJvm(String, Path, String...)} with {@code jvmOptions} after the launcher's, as FALCON_JAVA_OPTS come. */
    private static String[] childJvm(List<String> jvmOptions, String heap, Path log, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx" + heap,
                // as the launcher does: JavaCPP would otherwise cap off-heap memory from -Xmx
                "-Dorg.bytedeco.javacpp.maxBytes=0", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        Process child = withOnlyItsOwnJvmOptions(new ProcessBuilder(cmd)).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        assertTrue(child.waitFor(300, TimeUnit.SECONDS), "the run did not end");
        return new String[] {Integer.toString(child.exitValue()), Files.readString(log)};
    }

    /**
     * {@code child}, a JVM, without the variables through which a JVM takes options from its environment. The java
     * launcher reads _JAVA_OPTIONS after the command line, so a build under _JAVA_OPTIONS=-Xmx1g (which surefire's JVM
     * inherits, and every child of it) ran each child at 1g, not at the -Xmx the test gave it: the 16m runs that must be
     * refused ran and exited 0. JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS come before the command line, but could still
     * choose another collector for a child given none.
     */
    private static ProcessBuilder withOnlyItsOwnJvmOptions(ProcessBuilder child) {
        child.environment().keySet().removeAll(List.of("_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"));
        return child;
    }

    /** p float32 weights, all distinct, and two layers of different costs (no grouping by cost: one mask). */
    private Path[] weightsAndLayers(int p) throws IOException {
        Path weights = dir.resolve("w.npy"), layers = dir.resolve("layers.json");
        writeFloat32Npy(weights, "False, 'shape': (" + p + ",)", p, i -> 1f + (i % 1_000_003) * 1e-3f);
        Files.writeString(layers, "{\"layers\": [{\"name\": \"a\", \"shape\": [" + p / 2 + "], \"flops_per_weight\": 100},"
                + " {\"name\": \"b\", \"shape\": [" + (p - p / 2) + "], \"flops_per_weight\": 300}]}");
        return new Path[] {weights, layers};
    }

    /**
     * p = 8 million in a 16 MiB heap: the mask alone is 7.6 MiB, beside the runtime's own heap. It ran, selected, and died
     * of OOM (exit 1) with "FALCON_HEAP=8g"; it is refused before loading, naming the mask and a FALCON_HEAP, and that
     * limit runs it.
     */
    @Test
    void mpUnderAHeapThatCannotHoldItsSelectionsMaskIsRefusedBeforeLoadingWithALimitThatRunsIt() throws Exception {
        Path[] in = weightsAndLayers(8_000_000);
        String[] args = {"prune", "-q", "--weights", in[0].toString(), "--layers", in[1].toString(), "--method", "mp", "--keep-flops", "0.3",
                "--out", dir.resolve("o.npy").toString(), "--report", dir.resolve("r.json").toString()};
        // 16m, the launcher's least: at 12m the cpu backend's natives did not load from its jar (OutOfMemoryError while
        // JavaCPP loads them), so where the classpath holds jars (mvn verify, not mvn test) auto took java, whose plan
        // holds the weights on the heap too, and the refusal named arrays per weight, not the mask
        String[] refused = childJvm("16m", dir.resolve("refused.log"), args);
        assertEquals("2", refused[0], refused[1]);
        assertTrue(refused[1].contains("falcon: error: memory: Java heap: ") && refused[1].contains("(mostly the selection's mask"), refused[1]);
        assertFalse(Files.exists(dir.resolve("o.npy")) || refused[1].contains("Exception in thread"), refused[1]);
        Matcher limit = Pattern.compile("FALCON_HEAP=(\\d+)m").matcher(refused[1]);
        assertTrue(limit.find(), refused[1]);
        String[] taken = childJvm(limit.group(1) + "m", dir.resolve("taken.log"), args);
        assertEquals("0", taken[0], taken[1]);
    }

    /**
     * The heap check compared the plan with Runtime.maxMemory(), all of the heap to G1 but under the serial and parallel
     * collectors (FALCON_JAVA_OPTS=-XX:+UseSerialGC, or the JVM's own choice on one processor) the limit less a survivor
     * space, while mp's two masks (it groups 100 layers of two costs) must fit in the old generation, 2/3 of the limit:
     * p = 20 million at FALCON_HEAP=48m under the parallel collector was refused and told to raise it to the 48m it had,
     * and under the serial one passed and died of heap OOM. Here p = 8 million (two masks of 7.6 MiB) under each
     * collector and a few small limits: a run the check takes runs, and a refusal names a limit above the one given, which
     * runs under the same collector.
     */
    @Test
    void underEachCollectorTheHeapCheckTakesOnlyRunsThatFitAndProposesALimitThatRuns() throws Exception {
        long p = 8_000_000, layers = 100;
        Path weights = weightsAndLayers((int) p)[0], table = twoCostLayers(p, (int) layers);
        String[] args = {"prune", "-q", "--weights", weights.toString(), "--layers", table.toString(), "--method", "mp", "--keep-flops", "0.3",
                "--out", dir.resolve("o.npy").toString(), "--report", dir.resolve("r.json").toString()};
        Pattern proposed = Pattern.compile("raise it \\(FALCON_HEAP=(\\d+)m ");
        for (String collector : List.of("-XX:+UseSerialGC", "-XX:+UseParallelGC", "-XX:+UseG1GC")) {
            for (int heapMib : new int[] {24, 28}) {
                String what = collector + " at " + heapMib + "m";
                String[] run = childJvm(List.of(collector), heapMib + "m", dir.resolve("run.log"), args);
                if (run[0].equals("2")) {
                    Matcher limit = proposed.matcher(run[1]);
                    assertTrue(run[1].contains("falcon: error: memory: Java heap: ") && limit.find(), what + ": " + run[1]);
                    int raised = Integer.parseInt(limit.group(1));
                    assertTrue(raised > heapMib, what + " was told to take FALCON_HEAP=" + raised + "m: " + run[1]);
                    run = childJvm(List.of(collector), raised + "m", dir.resolve("run.log"), args);
                    what += ", then at the " + raised + "m proposed";
                }
                assertEquals("0", run[0], what + ": " + run[1]);
            }
        }
    }

    /**
     * G1 gives each mask (8 regions at p = 8 million) contiguous free regions, and in JDK 17 its full GC moves neither
     * humongous arrays nor archive regions: where the first mask lands splits the free space, and the second needs 8 in a
     * row. At -Xmx25m and -Xmx26m the check, counting only the regions, took the run, which died of heap OOM (exit 1) every
     * time with 14 regions free in runs of 5 and 7. Each is refused or runs, and a refusal's limit runs.
     */
    @Test
    void underG1TheSecondMaskFindsContiguousRegionsWhereverTheFirstLies() throws Exception {
        long p = 8_000_000;
        Path weights = weightsAndLayers((int) p)[0], table = twoCostLayers(p, 100);
        String[] args = {"prune", "-q", "--weights", weights.toString(), "--layers", table.toString(), "--method", "mp", "--keep-flops", "0.3",
                "--out", dir.resolve("o.npy").toString(), "--report", dir.resolve("r.json").toString()};
        Pattern proposed = Pattern.compile("raise it \\(FALCON_HEAP=(\\d+)m ");
        for (int heapMib : new int[] {25, 26}) {
            String what = "G1 at " + heapMib + "m";
            String[] run = childJvm(List.of("-XX:+UseG1GC"), heapMib + "m", dir.resolve("run.log"), args);
            if (run[0].equals("2")) {
                Matcher limit = proposed.matcher(run[1]);
                assertTrue(run[1].contains("falcon: error: memory: Java heap: ") && limit.find(), what + ": " + run[1]);
                run = childJvm(List.of("-XX:+UseG1GC"), limit.group(1) + "m", dir.resolve("run.log"), args);
                what += ", then at the " + limit.group(1) + "m proposed";
            }
            assertEquals("0", run[0], what + ": " + run[1]);
        }
    }

    /** A table of {@code layers} layers of two costs over p weights: more than 64 layers, grouped by cost (two masks). */
    private Path twoCostLayers(long p, int layers) throws IOException {
        Path table = dir.resolve("layers" + layers + ".json");
        StringBuilder json = new StringBuilder("{\"layers\": [");
        for (int i = 0; i < layers; i++) {
            json.append(i == 0 ? "" : ", ").append("{\"name\": \"l").append(i).append("\", \"shape\": [").append(p / layers)
                    .append("], \"flops_per_weight\": ").append(i % 2 == 0 ? 1 : 9).append("}");
        }
        Files.writeString(table, json.append("]}").toString());
        return table;
    }

    /** X of {@code rows} x p float32 in Fortran order (the cpu backend maps it, off the heap). */
    private Path fortranX(int rows, long p) throws IOException {
        Path x = dir.resolve("X.npy");
        writeFloat32Npy(x, "True, 'shape': (" + rows + ", " + p + ")", rows * p, i -> (i * 2654435761L % 2001 - 1000) * 1e-3f);
        return x;
    }

    /** The value of element {@code i} of a file written by {@link #writeFloat32Npy}. */
    private interface FloatAt {
        float at(long i);
    }

    /**
     * A float32 .npy of {@code count} values, {@code orderAndShape} the header's "fortran_order" value and shape
     * ("False, 'shape': (8,)"), streamed in 1 MiB chunks: p reaches millions here.
     */
    private static void writeFloat32Npy(Path file, String orderAndShape, long count, FloatAt value) throws IOException {
        String header = "{'descr': '<f4', 'fortran_order': " + orderAndShape + ", }";
        int padded = (10 + header.length() + 1 + 63) / 64 * 64;
        ByteBuffer head = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        head.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0).putShort((short) (padded - 10));
        head.put(header.getBytes(StandardCharsets.US_ASCII));
        while (head.position() < padded - 1) head.put((byte) ' ');
        head.put((byte) '\n').flip();
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            out.write(head);
            ByteBuffer chunk = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < count; i++) {
                chunk.putFloat(value.at(i));
                if (!chunk.hasRemaining()) {
                    chunk.flip();
                    out.write(chunk);
                    chunk.clear();
                }
            }
            chunk.flip();
            out.write(chunk);
        }
    }

    /**
     * magnitude ranks off-heap, but with X the report's lower bound runs the FLOP-aware selection, two masks of p bytes
     * here (100 layers of two costs), and the plan did not count them: p = 8 million with X at FALCON_HEAP=16m passed the
     * check, pruned, and died of heap OOM in the objective phase (exit 1) under G1 and the serial collector alike. It is
     * refused before loading, and the FALCON_HEAP it is told runs it.
     */
    @Test
    void magnitudeWithXCountsTheLowerBoundsSelectionMasksAndTheLimitItIsToldRunsIt() throws Exception {
        long p = 8_000_000;
        Path weights = weightsAndLayers((int) p)[0], table = twoCostLayers(p, 100), x = fortranX(2, p);
        String[] args = {"prune", "-q", "--weights", weights.toString(), "--layers", table.toString(), "--grads", x.toString(),
                "--method", "magnitude", "--keep-flops", "0.3", "--out", dir.resolve("o.npy").toString(), "--report", dir.resolve("r.json").toString()};
        Pattern proposed = Pattern.compile("raise it \\(FALCON_HEAP=(\\d+)m ");
        for (String collector : List.of("-XX:+UseG1GC", "-XX:+UseSerialGC")) {
            String[] refused = childJvm(List.of(collector), "16m", dir.resolve("refused.log"), args);
            assertEquals("2", refused[0], collector + " at 16m: " + refused[1]);
            Matcher limit = proposed.matcher(refused[1]);
            assertTrue(refused[1].contains("falcon: error: memory: Java heap: ") && limit.find(), collector + ": " + refused[1]);
            assertFalse(Files.exists(dir.resolve("o.npy")), collector + ": " + refused[1]);
            String[] taken = childJvm(List.of(collector), limit.group(1) + "m", dir.resolve("taken.log"), args);
            assertEquals("0", taken[0], collector + " at the " + limit.group(1) + "m proposed: " + taken[1]);
            Files.deleteIfExists(dir.resolve("o.npy"));
        }
    }

    /** The heap check of resnet20's falcon example at n = 128 under this JVM's heap limit: "fits", or the refusal. */
    static final class Resnet20HeapCheck {
        public static void main(String[] args) {
            MemoryPlan plan = MemoryPlan.of(ExampleModels.get("resnet20").layers().parameters(), 128, null, true, "cpu", false, false, true);
            try {
                plan.checkHeap(MemoryPlan.heapLimitOfThisJvm());
                System.out.println("fits");
            } catch (InputException refused) {
                System.out.println(refused.getMessage());
            }
        }
    }

    /** {@link Resnet20HeapCheck} in a JVM of its own with {@code collector} and -Xmx{@code heap}. */
    private String resnet20HeapCheck(String collector, String heap) throws Exception {
        Path log = dir.resolve("check.log");
        Process child = withOnlyItsOwnJvmOptions(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx" + heap,
                collector, "-cp", System.getProperty("java.class.path"), Resnet20HeapCheck.class.getName()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the check did not end");
        assertEquals(0, child.exitValue(), Files.readString(log));
        return Files.readString(log).strip();
    }

    /**
     * The FALCON_HEAP a heap refusal proposes scaled the old generation's share measured at the limit given to the limit
     * it proposed: under the serial collector resnet20's falcon (74.7 MiB of heap) was told 112m from 16m, 32m and 80m,
     * refused at 112m (an old generation of 74.6 MiB) and told 128m, and told 128m straight away from 48m. Under each
     * generational collector, every start is told the same limit, and that limit passes the check.
     */
    @Test
    void theProposedHeapLimitIsTheSameFromEveryStartAndPassesTheCheckWhenGiven() throws Exception {
        Pattern proposed = Pattern.compile("raise it \\(FALCON_HEAP=(\\d+)m ");
        for (String collector : List.of("-XX:+UseSerialGC", "-XX:+UseParallelGC")) {
            String told = null;
            for (String start : List.of("16m", "24m", "32m", "48m", "80m")) {
                String said = resnet20HeapCheck(collector, start);
                Matcher limit = proposed.matcher(said);
                assertTrue(limit.find(), collector + " at " + start + ": " + said);
                if (told == null) told = limit.group(1);
                assertEquals(told, limit.group(1), collector + " at " + start + " was told another limit: " + said);
            }
            assertEquals("fits", resnet20HeapCheck(collector, told + "m"), collector + " at the " + told + "m proposed");
        }
    }

    /**
     * falcon on resnet50 (p = 25.5 million) at 2550m was offered "--method mp with FALCON_HEAP=16m", and that run died of
     * Java-heap OOM: the offer's limit must hold mp's mask (a byte per weight) beside the runtime's own heap. The run's
     * heap limit is 2g, given to the check: read from this JVM, a build under -Xmx1g refused the run's 1.8 GiB of heap
     * first, with no mp offer to look at.
     */
    @Test
    void theMpOfferOfAnExamplesRefusalGivesAHeapThatHoldsTheSelectionsMask() {
        long heapLimit = 2L << 30;
        ExampleModel resnet50 = ExampleModels.get("resnet50");
        long p = resnet50.layers().parameters();
        Pattern mp = Pattern.compile("--method mp( --n \\d+)? with FALCON_HEAP=(\\d+)m");
        for (String available : List.of("2540m", "2550m", "2560m", "2600m")) {
            System.setProperty(SystemInfo.MEMORY_PROPERTY, available);
            MemoryPlan falcon = MemoryPlan.of(p, 16, null, true, "cpu", false, false, true).holdingX(1);
            String said = org.junit.jupiter.api.Assertions.assertThrows(InputException.class, () -> falcon.check(resnet50, null, false, List.of(), List.of(), false, heapLimit)).getMessage();
            Matcher offer = mp.matcher(said);
            assertTrue(offer.find(), said);
            assertTrue(Long.parseLong(offer.group(2)) * MIB >= p + 4 * MIB, available + ": " + said);
        }
    }

    /**
     * The JVM takes the last -Xmx, and FALCON_JAVA_OPTS comes after FALCON_HEAP: under FALCON_JAVA_OPTS=-Xmx8m the
     * refusal offered "raise it (FALCON_HEAP=16m ./falcon ...)", and followed, came back word for word. Where the launcher
     * says the limit came from FALCON_JAVA_OPTS, each offer names the option there (here surefire's -Xmx2g, the last of
     * this JVM's options); without the launcher's word (java -jar, an embedding) FALCON_HEAP is offered as before.
     */
    @Test
    void aHeapLimitFromFalconJavaOptsIsRaisedThereNotWithFalconHeap() {
        MemoryPlan magnitudeWithX = magnitudeWithXOfTenMillionWeights();
        // this JVM's own heap option, whatever the build or an IDE starts the tests with
        String given = MemoryPlan.heapLimitOption(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        String name = given.startsWith("-Xmx") ? "-Xmx" : "-XX:MaxHeapSize=";
        System.setProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY, "FALCON_JAVA_OPTS");
        String refused;
        try {
            refused = org.junit.jupiter.api.Assertions.assertThrows(InputException.class,
                    () -> magnitudeWithX.checkHeap(16 * MIB, true, true, List.of("--lambda"))).getMessage();
        } finally {
            System.clearProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY);
        }
        assertTrue(refused.contains("raise it (the " + given + " in FALCON_JAVA_OPTS to " + name), refused);
        assertFalse(refused.contains("FALCON_HEAP="), refused);
        System.setProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY, "FALCON_HEAP");
        try {
            refused = org.junit.jupiter.api.Assertions.assertThrows(InputException.class,
                    () -> magnitudeWithX.checkHeap(16 * MIB, true, true, List.of("--lambda"))).getMessage();
        } finally {
            System.clearProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY);
        }
        assertTrue(refused.contains("raise it (FALCON_HEAP="), refused);
        assertFalse(refused.contains("FALCON_JAVA_OPTS"), refused);
    }

    /**
     * _JAVA_OPTIONS is read after the command line, so its -Xmx beats FALCON_HEAP: under _JAVA_OPTIONS="-Xms16m -Xmx16m"
     * the refusal offered "raise it (FALCON_HEAP=80m ./falcon ...)", which changes nothing. Where the launcher says the
     * limit came from _JAVA_OPTIONS, the offers name the -Xmx there.
     */
    @Test
    void aHeapLimitFromJavaOptionsIsRaisedThereNotWithFalconHeap() {
        MemoryPlan magnitudeWithX = magnitudeWithXOfTenMillionWeights();
        System.setProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY, "_JAVA_OPTIONS");
        String refused, variable;
        try {
            refused = org.junit.jupiter.api.Assertions.assertThrows(InputException.class,
                    () -> magnitudeWithX.checkHeap(16 * MIB, true, true, List.of("--lambda"))).getMessage();
            variable = MemoryPlan.heapLimitVariable();
        } finally {
            System.clearProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY);
        }
        assertTrue(refused.contains(" in _JAVA_OPTIONS to -Xmx"), refused);
        assertTrue(refused.contains("FALCON_HEAP does not apply, _JAVA_OPTIONS comes later"), refused);
        assertFalse(refused.contains("FALCON_HEAP="), refused);
        assertEquals("_JAVA_OPTIONS's -Xmx", variable);
    }

    /** The JVM takes the last of its heap options; an -XX:MaxHeapSize= is named as such, without its '='. */
    @Test
    void theHeapLimitOptionIsTheJvmsLastAndNamedAsGiven() {
        assertEquals("-XX:MaxHeapSize=8m", MemoryPlan.heapLimitOption(List.of("-Xmx2g", "-Dx=1", "-XX:MaxHeapSize=8m")));
        assertEquals("-Xmx16m", MemoryPlan.heapLimitOption(List.of("-XX:MaxHeapSize=8m", "-Xmx16m")));
        assertEquals("-Xmx", MemoryPlan.heapLimitOption(List.of("-Dx=1")));
        System.setProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY, "FALCON_JAVA_OPTS");
        try {
            String given = MemoryPlan.heapLimitOptionInJavaOptions();
            assertEquals("FALCON_JAVA_OPTS's " + (given.startsWith("-Xmx") ? "-Xmx" : "-XX:MaxHeapSize"), MemoryPlan.heapLimitVariable());
        } finally {
            System.clearProperty(MemoryPlan.HEAP_LIMIT_FROM_PROPERTY);
        }
    }

    /**
     * Magnitude with X selects by FLOPs only for the report's lower bound: its refusal blamed "the selection's mask" and
     * offered only more heap, where dropping --grads spares the bound and its mask.
     */
    @Test
    void magnitudesHeapRefusalNamesTheLowerBoundAndOffersDroppingGrads() {
        MemoryPlan magnitudeWithX = magnitudeWithXOfTenMillionWeights();
        String refused = org.junit.jupiter.api.Assertions.assertThrows(InputException.class,
                () -> magnitudeWithX.checkHeap(16 * MIB, true, true, List.of("--lambda"))).getMessage();
        assertTrue(refused.contains("the report's lower bound, which runs mp's FLOP-aware selection"), refused);
        assertTrue(refused.contains("drop --grads and --lambda, which need it (magnitude reads X only for the report's objective and lower bound)"), refused);
        assertTrue(refused.contains("raise it (FALCON_HEAP="), refused);
        // an example model's X cannot be dropped: the bound is named, no --grads offered
        String example = org.junit.jupiter.api.Assertions.assertThrows(InputException.class,
                () -> magnitudeWithX.checkHeap(16 * MIB, true, false, List.of())).getMessage();
        assertTrue(example.contains("the report's lower bound") && !example.contains("drop --grads"), example);
    }

    /** The plan counts the mask for mp (two where it groups layers by cost) and none for magnitude, which ranks off-heap. */
    @Test
    void mpsPlanCountsItsSelectionsMaskOnTheHeapAndMagnitudesDoesNot() {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "64g");
        long p = ExampleModels.get("resnet50").layers().parameters();
        long block = dev.falcon.solve.SolverOptions.DEFAULT_BLOCK_SIZE;
        MemoryPlan mp = MemoryPlan.of(p, 0, null, false, "cpu", false, false, MemoryPlan.Systems.NONE, block, p, false, true, 1);
        MemoryPlan grouped = MemoryPlan.of(p, 0, null, false, "cpu", false, false, MemoryPlan.Systems.NONE, block, p, false, true, 2);
        MemoryPlan magnitude = MemoryPlan.of(p, 0, null, false, "cpu", false, false, MemoryPlan.Systems.NONE, block, p, false, false, 1);
        assertEquals(MemoryPlan.RUNTIME_LIVE_HEAP + p, mp.heapBytes(), mp.describe());
        assertEquals(MemoryPlan.RUNTIME_LIVE_HEAP + 2 * p, grouped.heapBytes(), grouped.describe());
        assertEquals(0, magnitude.heapBytes(), magnitude.describe());
        String refused = org.junit.jupiter.api.Assertions.assertThrows(InputException.class, () -> mp.checkHeap(32 * MIB)).getMessage();
        assertTrue(refused.contains("(mostly the selection's mask") && refused.contains("FALCON_HEAP=48m"), refused);
        mp.checkHeap(48 * MIB);
        magnitude.checkHeap(16 * MIB);
        assertEquals(1, dev.falcon.select.FlopAwareSelector.heapBytesPerWeight(ExampleModels.get("resnet50").layers()));
    }

    /**
     * The out-of-memory line said "FALCON_HEAP=8g, or run with a smaller --n / fewer rows in X" whatever the run: 8g with
     * 2.5 GiB available, and rows to a run without X. With no plan it offers what the available memory holds and no rows.
     */
    @Test
    void theOutOfHeapAdviceFitsTheMachineAndSpeaksOfRowsOnlyWhereTheyAreOnTheHeap() {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "2550m");
        MemoryPlan.runningWith(null, false);
        StringWriter text = new StringWriter();
        assertEquals(1, Main.handle(new OutOfMemoryError("Java heap space"), new PrintWriter(text, true)));
        String said = text.toString();
        assertFalse(said.contains("rows") || said.contains("--n"), said);
        Matcher limit = Pattern.compile("FALCON_HEAP=(\\d+)([mg])").matcher(said);
        if (limit.find()) {
            long bytes = Long.parseLong(limit.group(1)) << (limit.group(2).equals("g") ? 30 : 20);
            assertTrue(bytes + MemoryPlan.RUNTIME <= 2550 * MIB && bytes > Runtime.getRuntime().maxMemory(), said);
        } else {
            assertTrue(said.contains("free memory"), said);
        }

        // mp without X, 16m: twice the limit, which fits; no rows
        long p = 20_000_000, block = dev.falcon.solve.SolverOptions.DEFAULT_BLOCK_SIZE;
        MemoryPlan mp = MemoryPlan.of(p, 0, null, false, "cpu", false, false, MemoryPlan.Systems.NONE, block, p, false, true, 1);
        String advice = MemoryPlan.heapExhaustedAdvice(mp, false, 16 * MIB, mp.available());
        assertTrue(advice.startsWith("raise the Java heap with FALCON_HEAP=32m") && !advice.contains("rows"), advice);
        // 2g with 2550m available and 1 GiB beside the heap: the most that fits, in 16 MiB steps
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "64g");
        MemoryPlan solver = MemoryPlan.of(ExampleModels.get("resnet20").layers().parameters(), 1000, null, true, "cpu", false, false, true);
        long rest = solver.required() - solver.heapBytes();
        String room = MemoryPlan.heapExhaustedAdvice(solver, true, 2L << 30, rest + 3008 * MIB + 5);
        assertTrue(room.startsWith("raise the Java heap with FALCON_HEAP=3008m") && room.contains("a smaller --n"), room);
        String none = MemoryPlan.heapExhaustedAdvice(solver, false, 2L << 30, rest + 1000 * MIB);
        assertTrue(none.contains("free memory or use a machine with more") && !none.contains("FALCON_HEAP=")
                && none.contains("fewer rows (samples) in X"), none);
    }

    /**
     * Out of heap, the progress and memory-sampling threads printed their own stack traces beside the run's one line
     * ("Exception in thread "falcon-progress" java.lang.OutOfMemoryError: Java heap space").
     */
    @Test
    void theHelperThreadsPrintNothingWhenTheyRunOutOfHeap() throws Exception {
        PrintStream stderr = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (SystemInfo.ResidentSampler sampler = new SystemInfo.ResidentSampler();
             Progress progress = new Progress(new PrintWriter(new StringWriter()), false)) {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            for (Thread helper : List.of(sampler.thread(), progress.tickerThread())) {
                helper.getUncaughtExceptionHandler().uncaughtException(helper, new OutOfMemoryError("Java heap space"));
            }
        } finally {
            System.setErr(stderr);
        }
        assertEquals("", captured.toString(StandardCharsets.UTF_8));
    }
}
