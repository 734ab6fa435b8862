package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.falcon.io.ArrayFiles;
import dev.falcon.io.LayersJson;
import dev.falcon.io.NamedArray;
import dev.falcon.io.Npy;
import dev.falcon.io.Safetensors;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Runs the CLI in-process: exit codes, messages, outputs, and every bad-input case of issue section 7. */
class MainTest {
    record Run(int code, String out, String err) {
        String all() { return out + err; }
    }

    static final int P = 17, N = 6;

    @TempDir Path dir;
    Path outDir, xFile, wFile, layersFile, flopsFile;

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static FloatPointer values(int count, long seed) {
        FloatPointer v = new FloatPointer(count);
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < count; i++) v.put(i, (float) r.nextGaussian());
        return v;
    }

    static LayerTable table() {
        // a "conv" of 12 weights costing 9 FLOPs each, a "linear" of 5 weights costing 1
        return new LayerTable(List.of(new Layer("conv", new long[] {4, 3}, 9, 0, 12), new Layer("fc", new long[] {5}, 1, 12, 5)), "test");
    }

    @BeforeEach
    void writeInputs() {
        outDir = dir.resolve("out");
        xFile = dir.resolve("X.npy");
        wFile = dir.resolve("w.npy");
        layersFile = dir.resolve("layers.json");
        flopsFile = dir.resolve("f.npy");
        writeModel(xFile, wFile, layersFile);
        try (FloatPointer f = new FloatPointer(P)) {
            for (int i = 0; i < P; i++) f.put(i, i < 12 ? 9f : 1f);
            Npy.writeFloat32(flopsFile, f, new long[] {P});
        }
    }

    /** The tests' model: X (N x P), the weights and the layer table (table()); SmallModel's tests share it. */
    static void writeModel(Path xFile, Path wFile, Path layersFile) {
        try (FloatPointer x = values(N * P, 1); FloatPointer w = values(P, 2)) {
            Npy.writeFloat32(xFile, x, new long[] {N, P});
            Npy.writeFloat32(wFile, w, new long[] {P});
        }
        LayersJson.write(layersFile, table());
    }

    /** Refused before X is synthesized or loaded, instead of an internal error in the solver's n x n arrays after it. */
    @Test
    void falconWithMoreRowsThanItsArraysHoldIsRefusedNamingTheLimit() throws IOException {
        for (String method : List.of("falcon", "falcon++")) {
            Run r = run("prune", "--example", "resnet20", "--n", "46341", "--method", method, "--out", outDir.resolve("p.npy").toString(),
                    "--report", outDir.resolve("r.json").toString(), "--quiet");
            assertFails(r, 2, "--n: value: is 46341; --method " + method + " takes at most 46340 rows", "use at most 46340 samples");
        }
    }

    /**
     * The java backend indexes its n x n matrices with ints too: mp --backsolve exact at 46,341 rows died in a
     * NegativeArraySizeException (an internal error, exit 1) after X was loaded, where falcon's refusal sent the user.
     * Refused before, with what works there: another backend, fewer rows, or narrow enough blocks.
     */
    @Test
    void backsolvesThatFormJavaArraysOfMoreRowsThanTheyHoldAreRefusedOnTheJavaBackend() throws IOException {
        String[] outputs = {"--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--quiet", "--device", "java"};
        Run falcon = run(concat(new String[] {"prune", "--example", "resnet20", "--n", "46341", "--method", "falcon"}, outputs));
        assertFails(falcon, 2, "--method falcon takes at most 46340 rows", "or --method mp --backsolve with --device cpu or cuda");

        Run exact = run(concat(new String[] {"prune", "--example", "resnet20", "--n", "46341", "--method", "mp", "--backsolve"}, outputs));
        assertFails(exact, 2, "--n: value: is 46341; --backsolve exact takes at most 46340 rows on the java backend",
                "use --device cpu or cuda", "at most 46340 samples, or --backsolve block");
        assertFalse(exact.err().contains("--block-size"), "resnet20's blocks are all narrow enough: " + exact.err());

        // mobilenetv1 has a layer of 1024 x 1024 weights: blocks of 50,000 form systems of 50,002 rows
        Run wide = run(concat(new String[] {"prune", "--example", "mobilenetv1", "--n", "46341", "--method", "mp", "--backsolve", "block",
                "--block-size", "50000"}, outputs));
        assertFails(wide, 2, "--backsolve block with blocks wider than 46338 weights takes at most 46340 rows on the java backend",
                "--block-size 46338 or less");
        Run wideExact = run(concat(new String[] {"prune", "--example", "mobilenetv1", "--n", "46341", "--method", "mp", "--backsolve", "exact",
                "--block-size", "50000"}, outputs));
        assertFails(wideExact, 2, "or --backsolve block with --block-size 46338 or less");

        // narrow blocks form no n x n array: what stops this run is its memory (X alone is 50 GB), not the arrays
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "1g");
        try {
            Run narrow = run(concat(new String[] {"prune", "--example", "resnet20", "--n", "46341", "--method", "mp", "--backsolve", "block"}, outputs));
            assertFails(narrow, 2, "memory: estimate");
            assertFalse(narrow.err().contains("Java ints"), narrow.err());
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    String[] fileArgs(String... extra) {
        List<String> a = new ArrayList<>(List.of("prune", "--grads", xFile.toString(), "--weights", wFile.toString(), "--layers", layersFile.toString(),
                "--out", outDir.resolve("p.npy").toString(), "--mask", outDir.resolve("m.npy").toString(), "--report", outDir.resolve("r.json").toString(),
                "--device", "java", "--quiet"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    /** Replaces one option's value in an argument list. */
    static String[] with(String[] args, String option, String value) {
        String[] copy = args.clone();
        for (int i = 0; i < copy.length - 1; i++) if (copy[i].equals(option)) copy[i + 1] = value;
        return copy;
    }

    void assertFails(Run r, int code, String... mentions) throws IOException {
        assertEquals(code, r.code(), "exit code; stderr: " + r.err());
        for (String m : mentions) assertTrue(r.err().contains(m), "message should mention '" + m + "': " + r.err());
        assertFalse(Files.exists(outDir), "no output may be created on error");
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary files left");
        }
    }

    Path hostile(String name, byte[] bytes) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, bytes);
        return f;
    }

    static byte[] npy(String dict, int dataBytes) {
        byte[] h = dict.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(10 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.ISO_8859_1)).put((byte) 1).put((byte) 0).putShort((short) h.length).put(h);
        return b.array();
    }

    // ------------------------------------------------------------------ happy paths

    /** No command is bad usage (exit 2, as the README says), not a success: `falcon && next` went on, and the usage went to stdout. */
    @Test
    void noCommandPrintsTheUsageOnStderrAndExits2() {
        Run r = run();
        assertEquals(2, r.code());
        assertEquals("", r.out());
        assertTrue(r.err().contains("Usage: falcon"), r.err());
        assertTrue(r.err().contains("prune") && r.err().contains("inspect") && r.err().contains("env"));
    }

    /**
     * picocli refused an option given twice under its longest name, not the name typed: `--device cpu --device java` as
     * "option '--backend' ...", `-X a -X a` as '--grads', `-q -q` as '--quiet'. It is named as typed now, two of its
     * names typed are said to be one option, and -q may be repeated (a flag changes nothing the second time).
     */
    @Test
    void anOptionGivenTwiceIsNamedAsTyped() throws IOException {
        String[] inputs = {"prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString()};
        String x = xFile.toString();
        Object[][] cases = {
                {new String[] {"--device", "java", "--device", "java"}, "option '--device' (auto|cpu|java|cuda) should be specified only once"},
                {new String[] {"--backend", "java", "--backend", "java"}, "option '--backend' (auto|cpu|java|cuda) should be specified only once"},
                {new String[] {"--device", "java", "--backend=java"},
                        "option '--device' (auto|cpu|java|cuda) should be specified only once (--device and --backend are names of one option)"},
                {new String[] {"-X", x, "-X", x}, "option '-X' (X.npy) should be specified only once"},
                {new String[] {"--grads=" + x, "-qX", x}, "option '--grads' (X.npy) should be specified only once (--grads and -X are names of one option)"},
                {new String[] {"-X" + x, "--grads", x}, "option '-X' (X.npy) should be specified only once (-X and --grads are names of one option)"},
        };
        for (Object[] c : cases) {
            String[] twice = (String[]) c[0];
            Run r = run(concat(inputs, twice));
            assertFails(r, 2, (String) c[1]);
            assertEquals(2, r.err().lines().count(), String.join(" ", twice) + ": " + r.err());
            if (!String.join(" ", twice).contains("--backend")) assertFalse(r.err().contains("--backend"), r.err());
        }
        assertTrue(run("prune", "-h", "-h").err().contains("option '-h' should be specified only once"));
        // what follows "--" is no option, and an option's value is not one: neither is taken for a name typed
        CommandLine.Model.CommandSpec prune = new CommandLine(new Main()).getSubcommands().get("prune").getCommandSpec();
        assertEquals(List.of("--grads"), Main.namesTyped(prune, prune.findOption("-X"), new String[] {"prune", "--grads", x, "--out", "-X", "--", "-X"}));

        // -q given twice, under either name, is taken: the run is as quiet as with one
        for (String[] quiet : new String[][] {{"-q", "-q"}, {"-qq"}, {"-q", "--quiet"}}) {
            Run r = run(concat(concat(inputs, new String[] {"--device", "java"}), quiet));
            assertEquals(0, r.code(), String.join(" ", quiet) + ": " + r.err());
            assertEquals("", r.out() + r.err(), String.join(" ", quiet));
        }
        Run inspect = run("inspect", "-q", "--quiet", wFile.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertEquals("", inspect.out() + inspect.err());
    }

    /**
     * picocli replaces an argument @FILE by the arguments written in FILE before it parses them: an option repeated there
     * was named by its longest name ('--backend' for --device), the names typed being looked for in the arguments
     * before that expansion.
     */
    @Test
    void anOptionRepeatedInAnArgumentFileIsNamedAsTyped() throws IOException {
        String[] inputs = {"prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString()};
        Path twice = Files.writeString(dir.resolve("device-twice.txt"), "--device java\n--device cpu\n");
        Path once = Files.writeString(dir.resolve("device-once.txt"), "--device java\n");
        Path grads = Files.writeString(dir.resolve("grads.txt"), "-X " + xFile + "\n");
        Object[][] cases = {
                {new String[] {"@" + twice}, "option '--device' (auto|cpu|java|cuda) should be specified only once"},
                {new String[] {"--backend", "java", "@" + once},
                        "option '--backend' (auto|cpu|java|cuda) should be specified only once (--backend and --device are names of one option)"},
                {new String[] {"@" + grads, "@" + grads}, "option '-X' (X.npy) should be specified only once"},
        };
        for (Object[] c : cases) {
            String[] given = (String[]) c[0];
            Run r = run(concat(inputs, given));
            assertFails(r, 2, (String) c[1]);
            assertEquals(2, r.err().lines().count(), String.join(" ", given) + ": " + r.err());
        }
    }

    /**
     * picocli keeps an argument @FILE it cannot read as a literal argument: `falcon prune @missing.txt` was refused as
     * "Unmatched argument at index 1: '@missing.txt'", with no word of the argument file, and a folder failed inside picocli
     * with a trace (exit 1). Every command refuses it naming the file and the fix, exit 2; "@@x" stays the literal "@x".
     */
    @Test
    void anArgumentFileThatCannotBeReadIsRefusedNamingIt() throws IOException {
        String missing = "@" + dir.resolve("missing.txt"), folder = "@" + dir;
        for (String[] command : new String[][] {{"prune"}, {"inspect"}, {"env"}, {"help"}, {}, {"prune", "--weights"}}) {
            for (String[] at : new String[][] {{missing, "does not exist"}, {folder, "is a folder"}}) {
                Run r = run(concat(command, new String[] {at[0]}));
                String what = String.join(" ", command) + " " + at[0] + ": " + r.err();
                assertEquals(2, r.code(), what);
                assertTrue(r.err().startsWith("falcon: error: " + at[0] + ": argument file: " + at[1]), what);
                assertTrue(r.err().contains("check the path, or write @" + at[0] + " for an argument that itself begins with @"), what);
                assertEquals(1, r.err().lines().count(), what);
            }
        }
        // an argument file that can be read is expanded as before, and @@ is the escape picocli reads as the literal "@..."
        Path args = Files.writeString(dir.resolve("args.txt"), "--weights " + wFile + "\n--layers " + layersFile + "\n");
        Run read = run("prune", "@" + args, "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(),
                "--device", "java", "--quiet");
        assertEquals(0, read.code(), read.err());
        Run literal = run("inspect", "@" + missing);
        assertEquals(2, literal.code(), literal.err());
        assertTrue(literal.err().contains(missing + ": file: does not exist"), literal.err());
    }

    /**
     * After the end-of-options delimiter an argument is positional, and picocli keeps an @FILE it cannot read as that
     * literal argument: `falcon inspect -- @w.npy` inspected the file "@w.npy" until the check of the command line's
     * argument files, which read every argument, refused it as an argument file that does not exist. Run in a JVM of its
     * own, in the folder that holds "@w.npy" (and no "w.npy", which picocli would expand), as a user types it.
     */
    @Test
    void anArgumentAfterTheEndOfOptionsIsNotCheckedAsAnArgumentFile() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("at"));
        Files.copy(wFile, folder.resolve("@w.npy"));
        Path log = dir.resolve("inspect.log");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "inspect", "--", "@w.npy")
                .directory(folder.toFile()).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "inspect did not end");
        String output = Files.readString(log);
        assertEquals(0, child.exitValue(), output);
        assertTrue(output.startsWith("@w.npy: 1 array(s)"), output);
        // a missing one after "--" is the command's own missing input, not an argument file; before it, still refused
        String missing = "@" + dir.resolve("missing.npy");
        Run after = run("inspect", "--", missing);
        assertFails(after, 2, missing + ": file: does not exist");
        assertFalse(after.err().contains("argument file"), after.err());
        Run before = run("inspect", missing, "--", wFile.toString());
        assertFails(before, 2, missing + ": argument file: does not exist");
    }

    /**
     * An argument file that is a pipe (`@<(echo w.npy)`, `@/dev/stdin`, a FIFO) is read by picocli as it was before the
     * check of argument files' heads: that check read every readable @FILE, and a pipe refused it with "cannot be read
     * (Illegal seek)" (where it did not, it would have consumed the arguments picocli was to read). Run in a JVM of its
     * own, with the arguments on its stdin, as `echo w.npy | falcon inspect @/dev/stdin`.
     */
    @Test
    void anArgumentFileThatIsAPipeIsLeftToPicocli() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/dev/stdin")), "skipped: no /dev/stdin here");
        Path log = dir.resolve("pipe.log");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "inspect", "@/dev/stdin")
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try (java.io.OutputStream stdin = child.getOutputStream()) {
            stdin.write("w.npy\n".getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "inspect did not end");
        String output = Files.readString(log);
        assertEquals(0, child.exitValue(), output);
        assertTrue(output.startsWith("w.npy: 1 array(s)"), output);
    }

    /**
     * After "--" picocli keeps as literal only an @FILE it cannot read; a folder it opens, and `falcon inspect -- @/tmp`
     * died with picocli's InitializationException trace, exit 1. Refused in one line as it is before "--".
     */
    @Test
    void aFolderAsAnArgumentFileAfterTheEndOfOptionsIsRefusedInOneLine() throws IOException {
        String folder = "@" + dir;
        Run r = run("inspect", "--", folder);
        assertFails(r, 2, folder + ": argument file: is a folder, not a file of arguments");
        assertEquals(1, r.err().lines().count(), r.err());
    }

    /**
     * picocli expands a readable @FILE after "--" too: `falcon inspect -- @w.npy` (README's example) beside a w.npy fed
     * the binary array to picocli as thousands of arguments, each refused on its own line of mojibake. An argument file
     * that is no text is refused in one line, before or after "--", saying how to name a file whose name begins with @.
     */
    @Test
    void aBinaryArgumentFileIsRefusedInOneLine() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("binary"));
        Files.copy(wFile, folder.resolve("w.npy"));
        Files.copy(wFile, folder.resolve("@w.npy"));
        Files.write(folder.resolve("nul.txt"), new byte[] {'-', 'q', 0, 'x'});
        for (String[] args : new String[][] {{"inspect", "--", "@w.npy"}, {"inspect", "@w.npy"}, {"inspect", "@nul.txt"}}) {
            Path log = dir.resolve("binary.log");
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", System.getProperty("java.class.path"), Main.class.getName()));
            cmd.addAll(List.of(args));
            Process child = new ProcessBuilder(cmd).directory(folder.toFile()).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "inspect did not end");
            String output = Files.readString(log, StandardCharsets.ISO_8859_1);
            assertEquals(2, child.exitValue(), output);
            String file = args[args.length - 1];
            String why = file.equals("@w.npy") ? "is a .npy array" : "is a binary file (it holds NUL bytes)";
            assertEquals("falcon: error: " + file + ": argument file: " + why + ", not a text file of arguments (an argument @FILE stands for the"
                    + " arguments written in FILE); check the path, or write @" + file + " for an argument that itself begins with @ (./" + file
                    + " names such a file too)\n", output);
        }
        // both ways README gives of naming the file "@w.npy" inspect it
        for (String name : List.of("@@w.npy", "./@w.npy")) {
            Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                    Main.class.getName(), "inspect", "--", name).directory(folder.toFile()).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("named.log").toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "inspect did not end");
            String output = Files.readString(dir.resolve("named.log"));
            assertEquals(0, child.exitValue(), output);
            assertTrue(output.contains("@w.npy: 1 array(s)"), output);
        }
    }

    /**
     * The argument-file check read the .npy and safetensors signatures by a copy of its own, weaker than the one the
     * array readers use (ArrayFiles.formatByContent): a truncated .npy (its magic cut short, no NUL) passed as text and
     * reached picocli as arguments, and eight NULs then '{' (a header length of 0, no safetensors file) was called one.
     */
    @Test
    void aBinaryArgumentFileIsNamedByTheArrayReadersSignatures() throws IOException {
        Path truncated = Files.write(dir.resolve("truncated.npy"), new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P'});
        Path noHeader = Files.write(dir.resolve("zero-header"), new byte[] {0, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
        Object[][] cases = {{truncated, "is a .npy array"}, {noHeader, "is a binary file (it holds NUL bytes)"}};
        for (Object[] c : cases) {
            String at = "@" + c[0];
            Run r = run("inspect", at);
            assertFails(r, 2, at + ": argument file: " + c[1] + ", not a text file of arguments");
            assertEquals(1, r.err().lines().count(), r.err());
        }
    }

    /**
     * An explicit false is not quiet: counting the -q given made `--quiet=false` (a script's `--quiet=$QUIET`) silence
     * the run. Where -q is given more than once, the last value given is taken, as for a flag given once.
     */
    @Test
    void quietFalseIsNotQuiet() {
        String[] inputs = {"prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString(), "--device", "java"};
        String summary = "falcon prune ";
        for (String[] loud : new String[][] {{"--quiet=false"}, {"-q=false"}, {"-q", "--quiet=false"}, {"-qq", "-q=false"}}) {
            Run r = run(concat(inputs, loud));
            assertEquals(0, r.code(), String.join(" ", loud) + ": " + r.err());
            assertTrue((r.out() + r.err()).contains(summary), String.join(" ", loud) + " printed no summary: " + r.out() + r.err());
        }
        for (String[] quiet : new String[][] {{"--quiet=true"}, {"-q=true"}, {"--quiet=false", "-q"}}) {
            Run r = run(concat(inputs, quiet));
            assertEquals(0, r.code(), String.join(" ", quiet) + ": " + r.err());
            assertEquals("", r.out() + r.err(), String.join(" ", quiet));
        }
        Run inspect = run("inspect", "--quiet=false", wFile.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains(wFile.getFileName().toString()), "inspect --quiet=false printed no row: " + inspect.out());
        Run quietInspect = run("inspect", "--quiet=false", "-q", wFile.toString());
        assertEquals("", quietInspect.out() + quietInspect.err());
    }

    @Test
    void helpEverywhere() {
        for (String[] a : new String[][] {{"--help"}, {"prune", "--help"}, {"inspect", "--help"}, {"env", "--help"}, {"help", "prune"}}) {
            Run r = run(a);
            assertEquals(0, r.code(), String.join(" ", a));
            assertTrue(r.out().contains("Usage: falcon"), r.out());
        }
        assertTrue(run("prune", "--help").out().contains("--flops-per-weight"));
        // the command list shows each command's first description line: it read "... every array's dtype, shape,"
        String commands = run("--help").out().split("Commands:")[1].split("\n\n")[0].replaceAll("\\s+", " ");
        List<String> names = List.of("prune", "inspect", "env", "help");
        for (int i = 0; i < names.size() - 1; i++) {
            String described = commands.substring(commands.indexOf(" " + names.get(i) + " "), commands.indexOf(" " + names.get(i + 1) + " ")).trim();
            assertTrue(described.endsWith("."), "falcon --help cuts the description of " + names.get(i) + ": " + described);
        }
        // --version, listed by every command's --help, prints the version from every command
        for (String[] a : new String[][] {{"--version"}, {"prune", "-V"}, {"inspect", "--version"}, {"env", "-V"}}) {
            Run r = run(a);
            assertEquals(0, r.code(), String.join(" ", a));
            assertTrue(r.out().startsWith("falcon "), String.join(" ", a) + ": " + r.out());
        }
    }

    /**
     * picocli's help command set aside what it does not read: `falcon help prune --bogus` printed prune's usage with exit 0,
     * where an unknown option or argument is bad usage (exit 2) everywhere else. help keeps taking one command and -h.
     */
    @Test
    void helpRefusesWhatItDoesNotRead() {
        // each with the argument not read, which the message quotes
        String[][] refused = {{"help", "prune", "--bogus"}, {"help", "prune", "extra"}, {"help", "-x"}, {"help", "--bogus", "prune"}};
        String[] unread = {"--bogus", "extra", "-x", "--bogus"};
        for (int i = 0; i < refused.length; i++) {
            Run r = run(refused[i]);
            String what = String.join(" ", refused[i]) + ": " + r.out() + r.err();
            assertEquals(2, r.code(), what);
            assertEquals("", r.out(), what);
            assertTrue(r.err().startsWith("falcon: error: ") && r.err().contains("'" + unread[i] + "'"), what);
            assertTrue(r.err().contains("see `falcon help --help`"), what);
        }
        for (String[] a : new String[][] {{"help"}, {"help", "prune"}, {"help", "--help"}, {"help", "-h"}}) {
            Run r = run(a);
            assertEquals(0, r.code(), String.join(" ", a) + ": " + r.err());
            assertTrue(r.out().contains("Usage: falcon"), String.join(" ", a) + ": " + r.out());
        }
        assertTrue(run("help", "prune").out().startsWith("Usage: falcon prune"));
    }

    /**
     * `falcon help prune --help` printed the usage of help itself with exit 0, prune dropped unread: picocli takes -h and
     * --help there as help's own option. help takes COMMAND or --help; both are bad usage, as anything more is.
     */
    @Test
    void helpRefusesItsOwnHelpBesideACommand() {
        String[][] refused = {{"help", "prune", "--help"}, {"help", "env", "--help"}, {"help", "-h", "prune"}, {"help", "inspect", "-h"}};
        for (String[] a : refused) {
            Run r = run(a);
            String what = String.join(" ", a) + ": " + r.out() + r.err();
            assertEquals(2, r.code(), what);
            assertEquals("", r.out(), what);
            String flag = a[1].startsWith("-") ? a[1] : a[2], command = a[1].startsWith("-") ? a[2] : a[1];
            assertTrue(r.err().startsWith("falcon: error: '" + flag + "' asks for the usage of `falcon help` itself, and '" + command + "'"), what);
            assertTrue(r.err().contains("give `falcon help " + command + "` (or `falcon " + command + " --help`)"), what);
            assertTrue(r.err().contains("see `falcon help --help`"), what);
        }
        // help's own usage asked twice: the two do not ask for different things, and the advice is one command, not the
        // same one twice (it said "'help' for that of `falcon help`: ... `falcon help --help`, or `falcon help --help` alone")
        for (String[] a : new String[][] {{"help", "help", "--help"}, {"help", "-h", "help"}}) {
            Run r = run(a);
            String what = String.join(" ", a) + ": " + r.out() + r.err();
            assertEquals(2, r.code(), what);
            assertEquals("", r.out(), what);
            String flag = a[1].startsWith("-") ? a[1] : a[2];
            assertTrue(r.err().startsWith("falcon: error: '" + flag + "' and 'help' both ask for the usage of `falcon help`, which"
                    + " takes one of them: give `falcon help " + flag + "` or `falcon help help`\n"), what);
        }
        // an unknown command is refused as `falcon help bogus` refuses it, not sent there
        MainTest.Run unknown = run("help", "bogus", "--help");
        assertEquals(2, unknown.code(), unknown.out() + unknown.err());
        assertEquals(run("help", "bogus").err(), unknown.err());
    }

    /** The exit codes in --help stopped at 0-3: a script that saw 130 or 143 (a stopped run) found them nowhere. */
    @Test
    void helpListsTheExitCodesOfAStoppedRun() {
        for (String[] a : new String[][] {{"--help"}, {"prune", "--help"}, {"inspect", "--help"}, {"env", "--help"}}) {
            String help = run(a).out().replaceAll("\\s+", " ");
            String codes = help.substring(help.indexOf("Exit codes:"));
            assertTrue(codes.contains("130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM"), String.join(" ", a) + ": " + codes);
            // Main turns any unexpected exception of any command into exit 1; inspect's list left it out
            assertTrue(codes.contains("1 internal error"), String.join(" ", a) + ": " + codes);
        }
        // env's own codes: a bad memory override is a 2 that the footer names, with every other line still shown
        String env = run("env", "--help").out().replaceAll("\\s+", " ");
        assertTrue(env.contains("0 shown") && env.contains("2 bad usage or a -Dfalcon.memory.available that is not a size"), env);
    }

    /**
     * A run given no budget recorded its FLOP budget as "--keep-flops 0.3", an option nobody typed, beside the NNZ
     * request's "default: p (no NNZ budget given)".
     */
    @Test
    void aDefaultFlopBudgetIsReportedAsTheDefault() throws IOException {
        Run r = run(fileArgs("--method", "magnitude"));
        assertEquals(0, r.code(), r.err());
        JsonNode asked = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/budgets/asked");
        assertEquals("default: 30% of the dense FLOPs (no budget given)", asked.get("flops_request").asText(), asked.toString());
        assertEquals("default: p (no NNZ budget given)", asked.get("nnz_request").asText(), asked.toString());
        assertEquals(0.3, asked.get("flops_fraction").asDouble(), asked.toString());
    }

    @Test
    void exampleRunWritesEverything() throws IOException {
        Run r = run("prune", "--example", "resnet20", "--n", "8", "--method", "magnitude", "--keep-flops", "0.2", "--sparsity", "0.9",
                "--out", outDir.resolve("p.npy").toString(), "--mask", outDir.resolve("m.npy").toString(), "--report", outDir.resolve("r.json").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("achieved"), r.out());
        assertTrue(r.err().contains("chosen automatically"), "one line names the backend and why: " + r.err());
        JsonNode rep = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        assertEquals("magnitude", rep.get("method").asText());
        assertEquals(20, rep.get("layers").size());
        JsonNode b = rep.get("budgets");
        assertTrue(b.get("achieved").get("nnz").asLong() <= b.get("asked").get("nnz").asLong());
        assertTrue(b.get("achieved").get("flops").asDouble() <= b.get("asked").get("flops").asDouble());
        assertEquals(26_833, b.get("asked").get("nnz").asLong());
        assertTrue(rep.get("objective").get("ours").get("after").asDouble() > 0);
        assertTrue(rep.get("timings_seconds").has("selection"));
        assertTrue(rep.at("/budgets/within_budgets").asBoolean());
        assertTrue(rep.get("memory").get("peak_rss_bytes").asLong() > 0);
        // VmHWM counts a mapped X's page cache: the process's own memory, which the estimate is for, is given apart
        JsonNode memory = rep.get("memory");
        long anonymous = memory.path("peak_anonymous_bytes").asLong(-1), file = memory.path("peak_file_bytes").asLong(-1);
        assertTrue(anonymous > 0 && file > 0 && anonymous <= memory.get("peak_rss_bytes").asLong(), memory.toString());
        assertTrue(memory.get("peak_rss_note").asText().contains("can drop under memory pressure"), memory.toString());
        assertEquals(268_336, ArrayFiles.length(outDir.resolve("p.npy").toString(), "test"));
        assertEquals(268_336, Npy.readHeader(outDir.resolve("m.npy")).elements());
    }

    @Test
    void fileRunWithLayersAndWithPerWeightFlops() throws IOException {
        Run r = run(fileArgs("--keep-flops", "0.5", "--keep-nnz", "0.5", "--lambda", "0.1", "--lambda-convention", "falcon"));
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out(), "--quiet prints nothing");
        JsonNode rep = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        assertEquals("mp", rep.get("method").asText());
        assertEquals(8, rep.get("budgets").get("asked").get("nnz").asLong());
        assertTrue(rep.get("budgets").get("achieved").get("flops").asDouble() <= 0.5 * (12 * 9 + 5));
        assertEquals(0.1 * N, rep.get("objective").get("ours").get("lambda").asDouble(), 1e-12);
        assertEquals(0.1, rep.get("objective").get("falcon_authors").get("l2").asDouble(), 1e-12);
        assertEquals(64, rep.get("inputs").get("sha256").get("--weights").get("sha256").asText().length());
        assertTrue(rep.get("selection").has("relative_gap"));
        try (FloatPointer w = ArrayFiles.readVector(wFile.toString(), "w", P); FloatPointer pr = ArrayFiles.readVector(outDir.resolve("p.npy").toString(), "p", P)) {
            int kept = 0;
            for (int i = 0; i < P; i++) {
                if (pr.get(i) != 0) {
                    kept++;
                    assertEquals(w.get(i), pr.get(i));
                }
            }
            assertEquals(rep.get("budgets").get("achieved").get("nnz").asInt(), kept);
        }
        Files.walk(outDir).sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        String[] a = fileArgs("--nnz", "5", "--method", "magnitude");
        List<String> list = new ArrayList<>(List.of(a));
        int i = list.indexOf("--layers");
        list.set(i, "--flops-per-weight");
        list.set(i + 1, flopsFile.toString());
        Run r2 = run(list.toArray(String[]::new));
        assertEquals(0, r2.code(), r2.err());
        JsonNode rep2 = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        assertEquals(5, rep2.get("budgets").get("achieved").get("nnz").asLong());
        assertEquals(2, rep2.get("layers").size());
    }

    /**
     * The achieved sparsity is (p - nnz) / p, the double nearest the true value, as a downstream tool computes it from the
     * report's own integers: 1 - nnz / p rounded twice, and kept 5 of 17 read 0.7058823529411764 where 12 / 17 is
     * 0.7058823529411765 (rev-rep35's 0.29000000000000004 for 1,136 of 1,600).
     */
    @Test
    void theAchievedFractionsAreTheNearestDoublesOfTheirCounts() throws IOException {
        Run r = run(fileArgs("--nnz", "5", "--method", "magnitude"));
        assertEquals(0, r.code(), r.err());
        JsonNode achieved = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/budgets/achieved");
        assertEquals(5, achieved.get("nnz").asLong());
        assertEquals(5.0 / P, achieved.get("nnz_fraction").asDouble());
        assertEquals((P - 5.0) / P, achieved.get("sparsity").asDouble());
    }

    @Test
    void inspectAndEnv() throws IOException {
        Run r = run("inspect", xFile.toString(), wFile.toString(), layersFile.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("[6, 17]"), r.out());
        assertTrue(r.out().contains("NaN 0, Inf 0"), r.out());
        assertTrue(r.out().contains("%flops") && r.out().contains("conv"), r.out());
        Path oneLayer = dir.resolve("one-layer.json");
        LayersJson.write(oneLayer, new LayerTable(List.of(new Layer("fc", new long[] {17}, 1, 0, 17)), "test"));
        Run single = run("inspect", oneLayer.toString());
        assertTrue(single.out().contains(": 1 layer, p = 17 weights"), single.out());
        try (FloatPointer v = new FloatPointer(1f, Float.NaN, Float.POSITIVE_INFINITY)) {
            Npy.writeFloat32(dir.resolve("bad.npy"), v, new long[] {3});
        }
        Run bad = run("inspect", dir.resolve("bad.npy").toString());
        assertEquals(2, bad.code());
        assertTrue(bad.out().contains("NaN 1, Inf 1"), bad.out());
        assertTrue(bad.err().contains("bad.npy"));
        Path two = dir.resolve("two.safetensors");
        try (FloatPointer a = values(4, 1); FloatPointer b = values(3, 2)) {
            LinkedHashMap<String, NamedArray> t = new LinkedHashMap<>();
            t.put("first", new NamedArray(a, new long[] {2, 2}));
            t.put("second", new NamedArray(b, new long[] {3}));
            Safetensors.write(two, t, null);
        }
        Run one = run("inspect", two + ":second");
        assertEquals(0, one.code(), one.err());
        assertTrue(one.out().contains("second") && !one.out().contains("first"), one.out());
        Run missing = run("inspect", two + ":third");
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("third") && missing.err().contains("first"), missing.err());
        Run env = run("env");
        assertEquals(0, env.code(), env.err());
        assertTrue(env.out().contains("java") && env.out().contains("usable") && env.out().contains("javacpp"), env.out());
    }

    /**
     * A FIFO given as an input hung prune: with no writer at the header's open ("checking the inputs"), and a layer table
     * fed by a writer was parsed, then re-opened for its checksum, where no writer came again. A .npy link to /dev/zero
     * was called a truncated 0-byte file. Every input that is not a regular file is refused before it is opened, as
     * inspect refuses it.
     */
    @Test
    void inputsThatAreNotRegularFilesAreRefusedBeforeTheyAreOpened() throws Exception {
        Path weightsPipe = dir.resolve("w-pipe.npy"), layersPipe = dir.resolve("layers-pipe.json"), xPipe = dir.resolve("X-pipe.npy");
        for (Path fifo : List.of(weightsPipe, layersPipe, xPipe)) {
            assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        }
        Path zeros = Files.createSymbolicLink(dir.resolve("zeros.npy"), Path.of("/dev/zero"));
        try {
            org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> {
                assertFails(run(with(fileArgs(), "--weights", weightsPipe.toString())), 2,
                        "--weights: " + weightsPipe + ": file: not a regular file (a FIFO); save the data to a regular file");
                assertFails(run(with(fileArgs(), "--layers", layersPipe.toString())), 2, layersPipe + ": file: not a regular file (a FIFO)");
                assertFails(run(with(fileArgs(), "--grads", xPipe.toString())), 2, "--grads: " + xPipe + ": file: not a regular file (a FIFO)");
                assertFails(run(with(fileArgs(), "--weights", zeros.toString())), 2,
                        "--weights: " + zeros + ": file: not a regular file (a character device, through a link to /dev/zero)");
            }, "prune waited on an input that is not a regular file");
        } finally {
            // a run blocked in its open (before the fix) is let go by a writer's open and close
            for (Path fifo : List.of(weightsPipe, layersPipe, xPipe)) new java.io.RandomAccessFile(fifo.toFile(), "rw").close();
        }
        Run inspect = run("inspect", weightsPipe.toString());
        assertEquals(2, inspect.code(), inspect.err());
    }

    /**
     * inspect took its arguments as paths, normalised before the tensor name was cut off: 'f.safetensors:enc//w' asked for
     * tensor 'enc/w' and 'f.safetensors:enc/' for 'enc', though prune reads both as named. The spec is cut as prune cuts it.
     */
    @Test
    void inspectReadsTensorNamesWithSlashesAsPruneDoes() throws IOException {
        Path f = dir.resolve("slash.safetensors");
        try (FloatPointer a = values(P, 1); FloatPointer b = values(P, 2)) {
            LinkedHashMap<String, NamedArray> t = new LinkedHashMap<>();
            t.put("enc//w", new NamedArray(a, new long[] {P}));
            t.put("enc/", new NamedArray(b, new long[] {P}));
            Safetensors.write(f, t, null);
        }
        for (String tensor : List.of("enc//w", "enc/")) {
            Run inspect = run("inspect", f + ":" + tensor);
            assertEquals(0, inspect.code(), inspect.all());
            assertTrue(inspect.out().contains("  " + tensor + " "), inspect.out());
            assertEquals(1, inspect.out().lines().filter(l -> l.contains("F32")).count(), "that tensor alone: " + inspect.out());
            assertEquals(0, run(with(fileArgs(), "--weights", f + ":" + tensor)).code(), "prune reads it");
        }
    }

    /**
     * A safetensors header may name a tensor with control characters: inspect printed them as they were, so an escape
     * sequence reached the terminal and a line break split the table's row (and the "it holds" list of a missing tensor).
     * They are written as \\uXXXX, as the layer table's messages write them.
     */
    @Test
    void inspectEscapesControlCharactersInTensorNames() throws IOException {
        Path f = dir.resolve("control.safetensors");
        try (FloatPointer a = values(P, 1); FloatPointer b = values(P, 2)) {
            LinkedHashMap<String, NamedArray> t = new LinkedHashMap<>();
            t.put("red\u001b[31mw", new NamedArray(a, new long[] {P}));
            t.put("two\nlines", new NamedArray(b, new long[] {P}));
            Safetensors.write(f, t, null);
        }
        Run inspect = run("inspect", f.toString());
        assertEquals(0, inspect.code(), inspect.all());
        assertFalse(inspect.all().contains("\u001b"), inspect.all());
        assertTrue(inspect.out().contains("  red\\u001b[31mw ") && inspect.out().contains("  two\\u000alines "), inspect.out());
        assertEquals(3, inspect.out().lines().count(), "the header and one row per tensor: " + inspect.out());
        Run missing = run("inspect", f + ":absent");
        assertEquals(2, missing.code(), missing.all());
        assertTrue(missing.err().contains("two\\u000alines") && !missing.err().contains("two\nlines"), missing.err());
    }

    /**
     * inspect -q printed a problem's row without its file's header, so rows of several files could not be told apart, and
     * a .safetensors' NaN/Inf line on stderr named the file but not the tensor. The header comes before a file's first
     * problem row, and the stderr line names the tensors.
     */
    @Test
    void inspectQuietKeepsEachProblemRowUnderItsFile() throws IOException {
        List<Path> files = new ArrayList<>();
        for (String name : List.of("a", "b")) {
            Path f = dir.resolve(name + ".safetensors");
            try (FloatPointer good = values(3, 1); FloatPointer bad = new FloatPointer(1f, Float.NaN, 2f)) {
                LinkedHashMap<String, NamedArray> t = new LinkedHashMap<>();
                t.put("good", new NamedArray(good, new long[] {3}));
                t.put("bad", new NamedArray(bad, new long[] {3}));
                Safetensors.write(f, t, null);
            }
            files.add(f);
        }
        Run quiet = run("inspect", "-q", files.get(0).toString(), wFile.toString(), files.get(1).toString());
        assertEquals(2, quiet.code(), quiet.all());
        List<String> lines = quiet.out().lines().toList();
        assertEquals(List.of(files.get(0) + ": 2 array(s)", files.get(1) + ": 2 array(s)"),
                lines.stream().filter(l -> !l.startsWith(" ")).toList(), "a header for each file with a problem, none for w.npy: " + quiet.out());
        assertTrue(lines.size() == 4 && lines.get(1).contains("bad") && lines.get(3).contains("bad"), quiet.out());
        for (Path f : files) {
            assertTrue(quiet.err().contains(f + ": data: 'bad' holds NaN/Inf values"), quiet.err());
        }
    }

    /**
     * inspect said a FIFO was "not found or not a regular file; check the path" where prune says what it is, and a layer
     * table of another extension was "neither .npy nor .safetensors", with no word of the .json inspect reads tables from.
     */
    @Test
    void inspectSaysWhatAFileIsAsPruneDoes() throws Exception {
        Path fifo = dir.resolve("fifo.npy");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        Run inspect = run("inspect", fifo.toString());
        assertEquals(2, inspect.code(), inspect.all());
        assertTrue(inspect.err().contains(fifo + ": file: not a regular file (a FIFO); save the data to a regular file"), inspect.err());
        Run missing = run("inspect", dir.resolve("missing.npy").toString());
        assertTrue(missing.err().contains("missing.npy: file: does not exist; check the path"), missing.err());
        Path txt = dir.resolve("layers.txt");
        Files.copy(layersFile, txt);
        Run table = run("inspect", txt.toString());
        assertEquals(2, table.code(), table.all());
        assertTrue(table.err().contains(".json"), "names the extension layer tables are read from: " + table.err());
    }

    /**
     * A header length field that left out the header's padding passed inspect with exit 0, and prune wrote weights read
     * 2 floats late (the padding's spaces as the first two) with exit 0. Both refuse it now, and prune writes nothing.
     */
    @Test
    void aSafetensorsHeaderLengthShortOfItsPaddingIsRefusedByInspectAndPrune() throws IOException {
        byte[] json = ("{\"w\":{\"dtype\":\"F32\",\"shape\":[" + P + "],\"data_offsets\":[0," + 4 * P + "]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes = ByteBuffer.allocate(8 + json.length + 8 + 4 * P).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json);
        bytes.put("        ".getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < P; i++) bytes.putFloat(i + 1f);
        Path lies = hostile("lies.safetensors", bytes.array());
        String says = lies + ": tensor 'w'.data_offsets: the tensors end at byte " + 4 * P + " of the " + (4 * P + 8) + "-byte data area";
        Run inspect = run("inspect", lies.toString());
        assertEquals(2, inspect.code(), "inspect's exit code: " + inspect.all());
        assertTrue(inspect.err().contains(says) && inspect.err().contains("header length"), inspect.err());
        assertFails(run(with(fileArgs(), "--weights", lies.toString())), 2, says, "re-save it with safetensors.save_file");
    }

    /** A .safetensors of no tensors (header {} or only __metadata__) passed inspect with exit 0, and prune refuses it. */
    @Test
    void inspectRefusesASafetensorsFileOfNoTensorsAsPruneDoes() throws IOException {
        for (String header : List.of("{}", "{\"__metadata__\":{\"a\":\"b\"}}")) {
            byte[] json = header.getBytes(StandardCharsets.UTF_8);
            ByteBuffer bytes = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json);
            Path empty = hostile("empty.safetensors", bytes.array());
            String says = empty + ": tensors: holds no tensors" + (header.equals("{}") ? "" : " (only __metadata__)");
            Run inspect = run("inspect", empty.toString());
            assertEquals(2, inspect.code(), "inspect's exit code: " + inspect.all());
            assertTrue(inspect.err().contains(says), inspect.err());
            assertFails(run(with(fileArgs(), "--weights", empty.toString())), 2, says);
        }
    }

    /**
     * Above 2^31 - 9 weights the memory check asked for more heap or a machine with more memory, though no machine
     * helps: the selection refuses such p. Refused first, as a limit of falcon. (A sparse file: no disk is used.)
     */
    @Test
    void moreWeightsThanTheSelectionIndexesAreRefusedAsALimitOfFalcon() throws IOException {
        long p = Integer.MAX_VALUE - 7L;
        byte[] header = npy("{'descr': '|u1', 'fortran_order': False, 'shape': (" + p + ",), }", 0);
        Path huge = dir.resolve("huge.npy");
        try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(huge.toFile(), "rw")) {
            file.write(header);
            file.setLength(header.length + p);
        }
        Path hugeLayers = dir.resolve("huge.json");
        LayersJson.write(hugeLayers, new LayerTable(List.of(new Layer("huge", new long[] {p}, 1, 0, p)), "test"));
        String[] args = {"prune", "--weights", huge.toString(), "--layers", hugeLayers.toString(), "--method", "mp",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet"};
        assertFails(run(args), 2, huge + ": --weights: holds p = 2147483640 weights, more than the 2147483639 (2^31 - 9)"
                + " falcon takes: a limit of falcon", "not of this machine's memory; prune the model in parts");
    }

    /**
     * Per-weight costs were read as float32: ten float64 costs of 0.7 made dense FLOPs 6.99999988, so --flops 7 was refused
     * as "outside the valid range [0, 7.00000]", and int64 costs of 16,777,217 became 16,777,216. They are read as numpy
     * reads them as float64, and the range's bound is printed with the digits that show why a value is beyond it.
     */
    @Test
    void perWeightCostsAreReadAsFloat64() throws IOException {
        Path w = dir.resolve("w10.npy");
        try (FloatPointer v = values(10, 3)) {
            Npy.writeFloat32(w, v, new long[] {10});
        }
        byte[] tenths = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10,), }", 80);
        byte[] big = npy("{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }", 80);
        for (int i = 0; i < 10; i++) {
            ByteBuffer.wrap(tenths).order(ByteOrder.LITTLE_ENDIAN).putDouble(tenths.length - 80 + 8 * i, 0.7);
            ByteBuffer.wrap(big).order(ByteOrder.LITTLE_ENDIAN).putLong(big.length - 80 + 8 * i, 16_777_217L);
        }
        String[] outputs = {"--method", "magnitude", "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(),
                "--device", "java", "--quiet"};
        for (String option : List.of("--flops-per-weight", "--flops")) {
            String[] costs = option.equals("--flops") ? new String[] {"--flops", hostile("c07.npy", tenths).toString(), "--keep-flops", "1"}
                    : new String[] {option, hostile("c07.npy", tenths).toString(), "--flops", "7"};
            Run dense = run(concat(concat(new String[] {"prune", "--weights", w.toString()}, costs), outputs));
            assertEquals(0, dense.code(), dense.err());
            assertEquals(7.0, new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/budgets/dense/flops").doubleValue());
        }
        Run above = run(concat(new String[] {"prune", "--weights", w.toString(), "--flops-per-weight", dir.resolve("c07.npy").toString(),
                "--flops", "7.0000001"}, outputs));
        assertEquals(2, above.code(), above.err());
        assertTrue(above.err().contains("is 7.0000001, outside the valid range [0, 7] (dense FLOPs)"), above.err());

        Run exact = run(concat(new String[] {"prune", "--weights", w.toString(), "--flops-per-weight", hostile("cbig.npy", big).toString()}, outputs));
        assertEquals(0, exact.code(), exact.err());
        assertEquals(167_772_170.0, new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/budgets/dense/flops").doubleValue());
    }

    /**
     * X and weights are read as float32: a float64 file holding 1e300 was "fine" to inspect (exit 0) and refused by prune
     * as weights. Then inspect refused it in every role (exit 2, "rejected as input"), though prune reads per-weight FLOP
     * costs as float64 and takes it there. It is judged by role, as a dtype or an order is: exit 0 with a note that FLOPs
     * alone take it, and exit 2 where its order or size shuts out FLOPs too.
     */
    @Test
    void inspectFlagsFloat64ValuesBeyondTheFloat32Range() throws IOException {
        byte[] bytes = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putDouble(bytes.length - 16, 1.5).putDouble(bytes.length - 8, 1e300);
        Path big = hostile("big.npy", bytes);
        Run r = run("inspect", big.toString());
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().contains("max 1.00000e+300") && r.out().contains("beyond float32"), r.out());
        assertTrue(r.out().contains("(values beyond float32's +-3.4e38: accepted for FLOPs only; X and weights are read as float32,"
                + " where such values are Inf; FLOPs are read as float64)"), r.out());
        assertFalse(r.all().contains("rejected as input"), r.all());
        assertEquals("", r.err());
        assertEquals(2, run("prune", "--weights", big.toString(), "--flops-per-weight", big.toString(), "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet").code(), "prune refuses it as --weights");
        byte[] weights = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
        ByteBuffer.wrap(weights).order(ByteOrder.LITTLE_ENDIAN).putFloat(weights.length - 8, 1f).putFloat(weights.length - 4, 2f);
        assertEquals(0, run("prune", "--weights", hostile("w2.npy", weights).toString(), "--flops-per-weight", big.toString(), "--out",
                outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet").code(),
                "prune takes it as --flops-per-weight, as inspect says");
        Run quiet = run("inspect", "-q", big.toString());
        assertEquals(0, quiet.code());
        assertTrue(quiet.out().contains("beyond float32"), "-q still prints the row (X and weights refuse it): " + quiet.out());

        // a matrix in Fortran order: weights and FLOPs refuse its order, X its values, so no input takes it
        byte[] matrix = npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", 32);
        ByteBuffer.wrap(matrix).order(ByteOrder.LITTLE_ENDIAN).putDouble(matrix.length - 8, -1e300);
        assertInspectTakenByNoInput(hostile("bigF.npy", matrix), "<- Fortran order, values beyond float32's +-3.4e38: rejected as input"
                + " (X must lie within float32's range; weights and FLOPs must be C order)",
                "bigF.npy: fortran_order: 'bigF.npy' (Fortran order, values beyond float32's +-3.4e38) is taken by no input",
                "rescale X or weights into float32's range");
        // NaN beside them: every role refuses it
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putDouble(bytes.length - 16, Double.NaN);
        Run nan = run("inspect", hostile("bigNaN.npy", bytes).toString());
        assertEquals(2, nan.code(), nan.all());
        assertTrue(nan.err().contains("bigNaN.npy: data: holds NaN/Inf values"), nan.err());
        String help = run("inspect", "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.contains("float64 values beyond float32's range in a Fortran-order matrix, in more than 2^31 - 9 values or beside a value <= 0:"
                + " X and weights refuse such values, FLOPs take them if all are positive"), help);
    }

    /**
     * Per-weight costs whose sum, the dense FLOPs, exceeds a double: prune's refusal named the file twice and a layer
     * "layers[0] ("run0")" the user never wrote ("count x flops_per_weight summed over the layers so far"), and told them
     * to "give the FLOPs one nonzero weight costs", which the file held. It names the file once and says to rescale.
     */
    @Test
    void perWeightCostsWhoseSumExceedsADoubleAreRefusedNamingTheFileOnce() throws IOException {
        byte[] costs = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", 32);
        ByteBuffer b = ByteBuffer.wrap(costs).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 4; i++) b.putDouble(costs.length - 32 + 8 * i, 1e308);
        Path huge = hostile("huge.npy", costs);
        byte[] weights = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 16);
        ByteBuffer.wrap(weights).order(ByteOrder.LITTLE_ENDIAN).putFloat(weights.length - 16, 1f).putFloat(weights.length - 4, 2f);
        Run r = run("prune", "--weights", hostile("w4.npy", weights).toString(), "--flops-per-weight", huge.toString(), "--out",
                outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet");
        assertFails(r, 2, huge + ": --flops-per-weight: the costs' sum, the dense FLOPs, exceeds the largest double",
                "rescale the costs so that their sum fits a double");
        assertEquals(1, r.err().split(java.util.regex.Pattern.quote(huge.toString()), -1).length - 1, "the file, once: " + r.err());
        assertFalse(r.err().contains("run0") || r.err().contains("layers[") || r.err().contains("give the FLOPs one nonzero weight costs"), r.err());
    }

    /**
     * The fix for a layer table whose dense FLOPs leave a double names the FLOP budget: as the CLI's --flops here, where
     * the Java API's table names Budgets.resolve's flops (LayerTableTest).
     */
    @Test
    void aLayerTableWhoseDenseFlopsExceedADoubleIsToldToGiveFlopsInTheSameUnit() throws IOException {
        Files.writeString(layersFile, "{\"layers\": [{\"name\": \"conv\", \"shape\": [4, 3], \"flops_per_weight\": 1e308},"
                + " {\"name\": \"fc\", \"shape\": [5], \"flops_per_weight\": 1}]}");
        String fix = "e.g. millions of FLOPs, and --flops in the same unit)";
        Run prune = run(fileArgs("--method", "mp"));
        assertFails(prune, 2, layersFile + ": layers[0] (\"conv\").flops_per_weight: is 1e308: the dense FLOPs", fix);
        Run inspect = run("inspect", layersFile.toString());
        assertEquals(2, inspect.code(), inspect.err());
        assertTrue(inspect.err().contains(fix) && !inspect.err().contains("Budgets.resolve"), inspect.err());
    }

    /** inspect exits 2 on {@code file}, its row carrying {@code rowNote} and stderr the refusal and the fix. */
    private void assertInspectTakenByNoInput(Path file, String rowNote, String refusal, String fix) {
        Run r = run("inspect", file.toString());
        assertEquals(2, r.code(), r.all());
        assertTrue(r.out().contains(rowNote), r.out());
        assertTrue(r.err().contains(refusal) && r.err().contains(fix), r.err());
    }

    /**
     * FLOPs, the one input that takes float64 values beyond float32's range, must be positive: -1e300 beside -1 was
     * "accepted for FLOPs only" (exit 0), and prune refused the file as --flops-per-weight ("FLOPs per weight must be
     * positive"), so no input took it.
     */
    @Test
    void inspectRefusesValuesBeyondFloat32ThatFlopsCannotTakeEither() throws IOException {
        byte[] bytes = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putDouble(bytes.length - 16, -1).putDouble(bytes.length - 8, -1e300);
        Path negative = hostile("negbig.npy", bytes);
        assertInspectTakenByNoInput(negative, "<- values beyond float32's +-3.4e38: rejected as input (X must lie within float32's range;"
                + " weights must lie within float32's range and FLOPs be positive)",
                "negbig.npy: data: 'negbig.npy' (values beyond float32's +-3.4e38) is taken by no input",
                "rescale X or weights into float32's range, or make FLOPs positive");
        byte[] weights = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
        ByteBuffer.wrap(weights).order(ByteOrder.LITTLE_ENDIAN).putFloat(weights.length - 8, 1f).putFloat(weights.length - 4, 2f);
        assertEquals(2, run("prune", "--weights", hostile("w2n.npy", weights).toString(), "--flops-per-weight", negative.toString(), "--out",
                outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet").code(),
                "prune refuses it as --flops-per-weight too");
        // a zero beside 1e300 is no FLOP cost either
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putDouble(bytes.length - 16, 0).putDouble(bytes.length - 8, 1e300);
        assertEquals(2, run("inspect", hostile("zerobig.npy", bytes).toString()).code());
    }

    /**
     * Costs of 1e308 each are positive, so inspect passed them, "accepted for FLOPs only" (exit 0), and prune refused
     * them in every role: X and weights for float32's range, FLOPs for their sum, the dense FLOPs, beyond a double.
     * inspect judges them by prune's own sum (LayerTable.Runs): the two agree on each side of the largest double.
     */
    @Test
    void inspectRefusesCostsWhoseSumExceedsADoubleAsPruneDoes() throws IOException {
        double half = Double.MAX_VALUE / 2;
        // MAX_VALUE + 2^969 rounds to MAX_VALUE, + 2^970 (half its last unit, 2^971, to even) to Infinity
        double[][] cases = {{1e308, 1e308, 1e308, 1e308}, {1e308, 1e308, 1, 1}, {half, half, Math.scalb(1.0, 969)}, {half, half, Math.scalb(1.0, 970)}};
        boolean[] fits = {false, false, true, false};
        for (int c = 0; c < cases.length; c++) {
            double[] costs = cases[c];
            byte[] bytes = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (" + costs.length + ",), }", 8 * costs.length);
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < costs.length; i++) b.putDouble(bytes.length - 8 * costs.length + 8 * i, costs[i]);
            Path file = hostile("costs" + c + ".npy", bytes);
            String what = java.util.Arrays.toString(costs);
            if (fits[c]) {
                Run r = run("inspect", file.toString());
                assertEquals(0, r.code(), what + ": " + r.all());
                assertTrue(r.out().contains("accepted for FLOPs only"), r.out());
            } else {
                assertInspectTakenByNoInput(file, "<- values beyond float32's +-3.4e38: rejected as input (X must lie within float32's range;"
                        + " weights must lie within float32's range, and as FLOPs the costs' sum, the dense FLOPs, exceeds the largest double",
                        "costs" + c + ".npy: data: 'costs" + c + ".npy' (values beyond float32's +-3.4e38) is taken by no input",
                        "rescale X or weights into float32's range, or rescale the costs so that their sum fits a double");
            }
            byte[] weights = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + costs.length + ",), }", 4 * costs.length);
            ByteBuffer w = ByteBuffer.wrap(weights).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < costs.length; i++) w.putFloat(weights.length - 4 * costs.length + 4 * i, 1f + i);
            Run pruned = run("prune", "--weights", hostile("w" + c + ".npy", weights).toString(), "--flops-per-weight", file.toString(), "--out",
                    outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet");
            assertEquals(fits[c] ? 0 : 2, pruned.code(), what + ": prune as inspect says: " + pruned.all());
        }
        String help = run("inspect", "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.contains("FLOPs take them if all are positive and their sum, the dense FLOPs, fits a double"), help);
    }

    /**
     * The report's phases left 2.4-3.4 s of a small run's 3-4 s total in no phase (the checks before loading, the
     * backend's choice and start-up): the report could not say where the time went. Run in a JVM of its own, as the
     * CLI is, where that time is the JVM's first use of the classes. Every interval before loading is in "checks" or
     * "backend" by construction; what is left (the moments between the later phases) is far below the quarter of the
     * total allowed here, on a loaded machine too, and was 85-90% of it.
     */
    @Test
    void theReportsPhasesAccountForTheRunsTotal() throws Exception {
        Path log = dir.resolve("falcon.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(fileArgs("--keep-flops", "0.5", "--method", "mp")));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        assertTrue(child.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "the run did not end");
        assertEquals(0, child.exitValue(), Files.readString(log));
        var timings = new com.fasterxml.jackson.databind.ObjectMapper().readTree(outDir.resolve("r.json").toFile()).get("timings_seconds");
        double total = timings.get("total").asDouble(), phases = 0;
        for (var it = timings.fields(); it.hasNext(); ) {
            var phase = it.next();
            if (!phase.getKey().equals("total")) phases += phase.getValue().asDouble();
        }
        assertTrue(phases <= total, timings.toString());
        assertTrue(total - phases < 0.25 * total, "in no phase: " + (total - phases) + " s of " + total + " s: " + timings);
        assertTrue(timings.has("checks") && timings.has("backend"), timings.toString());
    }

    /** Runs falcon in a JVM of its own with FALCON_CPU_ISA set (read by the native side, once per process). */
    Run runWithIsa(String isa, String... args) throws Exception {
        Path out = Files.createTempFile(dir, "isa", ".out"), err = Files.createTempFile(dir, "isa", ".err");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("FALCON_CPU_ISA", isa);
        Process child = pb.start();
        assertTrue(child.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        Run r = new Run(child.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return r;
    }

    /**
     * A FALCON_CPU_ISA the kernels do not know (avx-512 for avx512) selected the plain SSE2 kernels without a word, a
     * slower run on products rounded otherwise (rev-det35 finding 2): refused, exit 2, naming the variable, the values
     * and the fix, by prune (nothing written; auto does not go around the cpu backend to java) and by env, which still
     * shows the rest. A known one is shown by env with the kernels it selected.
     */
    @Test
    void anUnknownFalconCpuIsaIsRefusedAndAKnownOneIsShown() throws Exception {
        String message = "falcon: error: FALCON_CPU_ISA: value: unknown kernel set 'avx-512'; choose one of generic, avx2, avx512,"
                + " or unset it (then the widest this CPU runs)";
        List<String> args = new ArrayList<>(List.of(fileArgs("--keep-flops", "0.5", "--method", "mp")));
        int device = args.indexOf("--device");
        args.subList(device, device + 2).clear();
        Run pruned = runWithIsa("avx-512", args.toArray(String[]::new));
        assertFails(pruned, 2, message);
        Run env = runWithIsa("avx-512", "env");
        assertEquals(2, env.code(), env.all());
        assertTrue(env.err().contains(message), env.all());
        assertTrue(env.out().contains("unusable: FALCON_CPU_ISA: value: unknown kernel set 'avx-512'"), env.out());
        assertTrue(env.out().contains("java   priority   0  usable"), "the rest is still shown: " + env.out());
        Run known = runWithIsa("Generic", "env");
        assertEquals(0, known.code(), known.all());
        assertTrue(known.out().contains("kernels.isa: generic\n") && known.out().contains("kernels.isa.requested: generic (FALCON_CPU_ISA)\n"),
                known.out());
    }

    /**
     * A vector saved in Fortran order (Julia's NPZ writes every array so) flattens as in C order, and prune reads it as
     * weights: inspect said "weights and FLOPs must be C order". A Fortran-order matrix keeps the remark.
     */
    @Test
    void inspectRemarksFortranOrderOnlyWhereItTransposes() throws IOException {
        byte[] vector = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (" + P + ", 1), }", 4 * P);
        ByteBuffer b = ByteBuffer.wrap(vector).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < P; i++) b.putFloat(vector.length - 4 * P + 4 * i, 0.5f + i);
        Path w = hostile("wF.npy", vector);
        Run r = run("inspect", w.toString());
        assertEquals(0, r.code(), r.all());
        assertFalse(r.out().contains("must be C order"), r.out());
        assertEquals(0, run("prune", "--weights", w.toString(), "--layers", layersFile.toString(), "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet").code(), "prune reads it as weights");
        Path matrix = hostile("xF.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24));
        assertTrue(run("inspect", matrix.toString()).out().contains("weights and FLOPs must be C order"), "a Fortran-order matrix keeps the remark");
    }

    /** prune refuses an empty array; inspect showed "min NaN, max NaN" and exit 0, where README promises exit 2. */
    @Test
    void inspectRejectsAnEmptyArrayAsPruneDoes() throws IOException {
        Path empty = hostile("empty.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", 0));
        Run r = run("inspect", empty.toString());
        assertEquals(2, r.code(), r.all());
        assertTrue(r.out().contains("no values   <- empty: rejected as input") && !r.out().contains("NaN,"), r.out());
        assertTrue(r.err().contains("shape: 'empty.npy' [0] is empty"), r.err());
        // inspect --help listed every other reason for its exit 2 but this one
        String help = run("inspect", "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.substring(help.indexOf("Exit codes:")).contains("an empty array"), help);
        assertEquals(2, run("prune", "--weights", empty.toString(), "--flops-per-weight", empty.toString(), "--out",
                outDir.resolve("e.npy").toString(), "--report", outDir.resolve("e.json").toString(), "--quiet").code());
        Path nonFinite = hostile("nan.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4));
        byte[] bytes = Files.readAllBytes(nonFinite);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putFloat(bytes.length - 4, Float.NaN);
        Files.write(nonFinite, bytes);
        assertTrue(run("inspect", nonFinite.toString()).out().contains("finite 0, no finite values"));
    }

    /**
     * inspect passed an int32 n x p array with exit 0 and no remark, which README's "exit 2 for what prune would refuse"
     * let a user take for a usable X, while prune --grads refuses every integer X. Integers stay fine (weights and
     * FLOPs read them), so inspect exits 0 and says on the array's line that X cannot be of that type.
     */
    @Test
    void inspectSaysAnIntegerArrayIsNoX() throws IOException {
        byte[] bytes = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", 16);
        ByteBuffer values = ByteBuffer.wrap(bytes, bytes.length - 16, 16).slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 1; i <= 4; i++) values.putInt(i);
        Path ints = hostile("ints.npy", bytes);
        Run r = run("inspect", ints.toString());
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().contains("<i4: accepted for weights and FLOPs, not for X"), r.out());
        assertFails(run("prune", "--grads", ints.toString(), "--weights", wFile.toString(), "--layers", layersFile.toString(),
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet"),
                2, "ints.npy", "<i4", "float32");
        Run x = run("inspect", xFile.toString());
        assertFalse(x.out().contains("not for X"), "a float32 X gets no remark: " + x.out());
    }

    /**
     * An empty file name (an unset shell variable, `falcon inspect "$W"`) was refused as ": file: is a directory". The fix
     * names the kind of file the option takes: --layers and --grads were both told to give ".npy, .safetensors or .json",
     * though --layers takes only a .json table and --grads only an array.
     */
    @Test
    void anEmptyFileNameIsSaidToBeEmpty() throws IOException {
        String said = "'': file: the name is empty (an unset shell variable?); give the path of the ";
        Run inspect = run("inspect", "");
        assertEquals(2, inspect.code(), inspect.all());
        assertTrue(inspect.err().contains("falcon: error: " + said + ".npy, .safetensors or .json file"), inspect.err());
        assertFalse(inspect.err().contains("directory"), inspect.err());
        String[] out = {"--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--quiet"};
        Object[][] cases = {
                {new String[] {"prune", "--weights", "", "--layers", layersFile.toString()}, "--weights: " + said + ".npy or .safetensors file"},
                {new String[] {"prune", "--weights", wFile.toString(), "--layers", ""}, "--layers: " + said + ".json layer table"},
                {new String[] {"prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--method", "falcon", "--grads", ""},
                        "--grads: " + said + ".npy or .safetensors file"},
        };
        for (Object[] c : cases) {
            Run prune = run(concat((String[]) c[0], out));
            assertFails(prune, 2, (String) c[1]);
            assertFalse(prune.err().contains("directory"), prune.err());
        }
    }

    /**
     * inspect reads every .json as a layer table: falcon's own report was refused as 'unknown top-level key
     * "falcon_version"; ... fix or remove it'. It is recognised and summarised (exit 0), and given to --layers it is
     * refused as a report, not as a table to edit.
     */
    @Test
    void inspectSummarisesFalconsOwnReport() throws IOException {
        Path report = dir.resolve("report.json");
        assertEquals(0, run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--method", "mp",
                "--out", dir.resolve("p.npy").toString(), "--report", report.toString(), "--device", "java", "--quiet").code());
        Run r = run("inspect", report.toString());
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().startsWith(report + ": falcon prune report (falcon "), r.out());
        assertTrue(r.out().contains(", method mp, ") && r.out().contains(" of " + P + " weights, ") && r.out().contains("dense FLOPs"), r.out());
        assertTrue(r.out().contains("not an input of prune; the layer table it read: " + layersFile), r.out());
        assertFalse(r.all().contains("unknown top-level key"), r.all());
        assertFails(run("prune", "--weights", wFile.toString(), "--layers", report.toString(), "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet"), 2,
                report + ": json: is a falcon prune report (it has \"falcon_version\"), not a layer table; give the layer table the run read");
    }

    /**
     * An array given as --layers was "falcon: error: w.npy: json: invalid JSON (Unexpected character ((CTRL-CHAR, code
     * 147)) ...); fix the JSON syntax": neither the option nor what the file is. It is named as the array readers name a
     * swapped file, with the option, and the fix.
     */
    @Test
    void anArrayGivenAsTheLayerTableIsNamedWithItsOption() throws IOException {
        Path safetensors = dir.resolve("w.safetensors");
        assertEquals(0, run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--method", "mp",
                "--out", safetensors.toString(), "--report", dir.resolve("w-report.json").toString(), "--device", "java", "--quiet").code());
        for (Path array : new Path[] {wFile, safetensors}) {
            String what = array == wFile ? "is an .npy array (it starts with the magic \\x93NUMPY)"
                    : "is a safetensors file (an 8-byte header length, then a JSON header)";
            Run r = run("prune", "--weights", wFile.toString(), "--layers", array.toString(), "--out", outDir.resolve("p.npy").toString(),
                    "--device", "java", "--quiet");
            assertFails(r, 2, "falcon: error: --layers: " + array + ": json: " + what + ", not a layer table", "--flops-per-weight");
            assertFalse(r.err().contains("fix the JSON syntax"), r.err());
        }
    }

    /**
     * prune refuses FLOP costs that are not all positive, yet inspect said an integer or bool array holding 0 (falcon's
     * own --mask output among them) was "accepted for weights and FLOPs". The note offers it for weights alone.
     */
    @Test
    void inspectOffersNoArrayWithValuesAtMostZeroAsFlops() throws IOException {
        byte[] bytes = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (" + P + ",), }", 4 * P);
        ByteBuffer values = ByteBuffer.wrap(bytes, bytes.length - 4 * P, 4 * P).slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < P; i++) values.putInt(i % 3); // 0 among them
        Path costs = hostile("costs.npy", bytes);
        // falcon's own mask, written beside the test's files: assertFails wants no outDir
        Path mask = dir.resolve("m.npy");
        String[] outputs = {"--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet"};
        assertEquals(0, run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--mask", mask.toString(),
                "--out", dir.resolve("p.npy").toString(), "--report", dir.resolve("r.json").toString(), "--device", "java", "--quiet").code());
        for (Path f : List.of(costs, mask)) {
            Run r = run("inspect", f.toString());
            assertEquals(0, r.code(), r.all());
            String dtype = f == costs ? "<i4" : "|b1";
            assertTrue(r.out().contains("(" + dtype + ", values <= 0: accepted for weights; not for X, which must be float32, float64, float16 or"
                    + " bfloat16, nor for FLOPs, which must be positive)"), r.out());
            assertFalse(r.out().contains("accepted for weights and FLOPs"), r.out());
            assertFails(run(concat(new String[] {"prune", "--weights", wFile.toString(), "--flops-per-weight", f.toString()}, outputs)),
                    2, "FLOPs per weight must be positive");
        }
    }

    /**
     * An int32 or bool matrix in Fortran order got two notes chosen apart, "Fortran order: accepted for X" and "<i4:
     * accepted for weights and FLOPs", and exit 0, though prune refuses it as X (its dtype) and as weights or FLOPs (its
     * order). One note names both reasons, and inspect exits 2 as it does for what prune refuses.
     */
    @Test
    void inspectRefusesAnIntegerMatrixInFortranOrderThatNoInputTakes() throws IOException {
        for (String descr : new String[] {"<i4", "|b1"}) {
            int size = descr.equals("<i4") ? 4 : 1;
            Path f = hostile("intF" + size + ".npy", npy("{'descr': '" + descr + "', 'fortran_order': True, 'shape': (2, 3), }", 6 * size));
            Run r = run("inspect", f.toString());
            assertEquals(2, r.code(), r.all());
            assertFalse(r.out().contains("accepted for"), "no role accepts it: " + r.out());
            assertTrue(r.out().contains(descr + " in Fortran order: rejected as input (X must be float32, float64, float16 or bfloat16;"
                    + " weights and FLOPs must be C order)"), r.out());
            assertTrue(r.err().contains(f + ": fortran_order: 'intF" + size + ".npy' (" + descr + " in Fortran order) is taken by no input")
                    && r.err().contains("numpy.ascontiguousarray"), r.err());
            assertTrue(run("inspect", "-q", f.toString()).out().contains("rejected as input"), "-q prints its row");
            String[] outputs = {"--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet"};
            assertEquals(2, run(concat(new String[] {"prune", "--grads", f.toString(), "--weights", wFile.toString(), "--layers", layersFile.toString()}, outputs)).code());
            assertEquals(2, run(concat(new String[] {"prune", "--weights", f.toString(), "--flops-per-weight", f.toString()}, outputs)).code());
        }
        // either reason alone leaves a role, and exit 0
        Path intC = hostile("intC.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 24));
        Path floatF = hostile("floatF.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24));
        assertEquals(0, run("inspect", intC.toString(), floatF.toString()).code());
    }

    /**
     * prune refuses more than 2^31 - 9 weights (its selection indexes them with ints); inspect passed a layer table of
     * 2^31 weights and a |u1 array of 2^31 values with exit 0, the array "accepted for weights and FLOPs". Both exit 2
     * now, with prune's reason; a table of exactly the limit passes.
     */
    @Test
    void inspectRefusesMoreWeightsThanPruneTakes() throws IOException {
        long limit = dev.falcon.select.FlopAwareSelector.MAX_WEIGHTS;
        Path table = dir.resolve("huge.json");
        Files.writeString(table, "{\"layers\": [{\"name\": \"a\", \"shape\": [" + (limit + 1) + "], \"flops_per_weight\": 1}]}");
        Run r = run("inspect", table.toString());
        assertEquals(2, r.code(), r.all());
        assertTrue(r.err().contains("huge.json: layers: covers p = " + (limit + 1) + " weights, more than the " + limit + " (2^31 - 9) falcon takes")
                && r.err().contains("prune the model in parts"), r.err());
        Path atLimit = dir.resolve("limit.json");
        Files.writeString(atLimit, "{\"layers\": [{\"name\": \"a\", \"shape\": [" + limit + "], \"flops_per_weight\": 1}]}");
        assertEquals(0, run("inspect", atLimit.toString()).code());

        // arrays of 2^31 values described as inspect describes them (a file of them is 2 GiB to read)
        long values = limit + 9;
        InspectCommand.Roles bytes = InspectCommand.Roles.of(new ArrayFiles.Entry("w", "|u1", new long[] {values}, 0, 0, values, 0, 0, false, false, 0));
        assertTrue(bytes.noRole());
        assertEquals("   <- |u1, 2,147,483,648 values: rejected as input (X must be float32, float64, float16 or bfloat16;"
                + " weights and FLOPs hold at most 2,147,483,639 (2^31 - 9) values)", bytes.note("|u1"));
        InspectCommand.Roles vector = InspectCommand.Roles.of(new ArrayFiles.Entry("w", "<f4", new long[] {values}, 0, 0, values, 0, 0, false, true, 0));
        assertTrue(vector.noRole() && vector.note("<f4").contains("X must be n x p with p at most 2,147,483,639 (2^31 - 9)"), vector.note("<f4"));
        // n x p with p under the limit: X takes it
        InspectCommand.Roles x = InspectCommand.Roles.of(new ArrayFiles.Entry("X", "<f4", new long[] {2, values / 2}, 0, 0, values, 0, 0, false, true, 0));
        assertEquals("   (2,147,483,648 values: accepted for X; weights and FLOPs hold at most 2,147,483,639 (2^31 - 9) values)", x.note("<f4"));
        InspectCommand.Roles atLimitValues = InspectCommand.Roles.of(new ArrayFiles.Entry("w", "|u1", new long[] {limit}, 0, 0, limit, 1, 1, false, false, limit));
        assertFalse(atLimitValues.noRole());
        assertTrue(atLimitValues.note("|u1").contains("accepted for weights and FLOPs"), atLimitValues.note("|u1"));
    }

    /** A 3-D float array in Fortran order was "accepted for X" with exit 0, though prune refuses it as X and as weights. */
    @Test
    void inspectRefusesAFortranOrderArrayOfThreeDimensions() throws IOException {
        Path f3d = dir.resolve("f3d.npy");
        String header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }";
        header = header + " ".repeat(64 - (10 + header.length() + 1) % 64) + "\n";
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        bytes.write(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (byte) header.length(), 0});
        bytes.write(header.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        bytes.write(new byte[24 * 4]);
        Files.write(f3d, bytes.toByteArray());
        Run r = run("inspect", f3d.toString());
        assertEquals(2, r.code(), r.all());
        assertTrue(r.out().contains("rejected as input (X must be 2-D (n samples x p weights); weights and FLOPs must be C order)"), r.all());
        assertFalse(r.all().contains("accepted for X"), r.all());
        InspectCommand.Roles cOrder = InspectCommand.Roles.of(new ArrayFiles.Entry("w", "<f4", new long[] {2, 3, 4}, 0, 0, 24, 0, 0, false, true, 0));
        assertEquals("", cOrder.note("<f4"), "a C-order array of any shape is weights");
    }

    /**
     * An array of a dtype falcon cannot convert made inspect exit 2 for .npy ('<c8', '<U4': the header is refused) and
     * 0 for .safetensors (F8_E4M3, C64: listed as "values not read"), though prune refuses both. Inspect's exit code says
     * whether falcon takes the files: both formats exit 2 and say why, and a convertible tensor named alone exits 0.
     */
    @Test
    void inspectFlagsADtypeFalconCannotConvertInEitherFormat() throws IOException {
        for (String descr : new String[] {"<c8", "<U4"}) {
            Path f = hostile("odd" + descr.substring(1) + ".npy", npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }", 16));
            Run r = run("inspect", f.toString());
            assertFails(r, 2, f.toString(), descr, "not supported", "float32");
        }
        for (String dtype : new String[] {"F8_E4M3", "C64"}) {
            int bytes = dtype.equals("C64") ? 16 : 2;
            byte[] json = ("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    + "\"q\":{\"dtype\":\"" + dtype + "\",\"shape\":[2],\"data_offsets\":[8," + (8 + bytes) + "]}}").getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + json.length + 8 + bytes).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(json.length).put(json).putFloat(1f).putFloat(2f);
            Path f = hostile("odd-" + dtype + ".safetensors", b.array());
            Run r = run("inspect", f.toString());
            assertFails(r, 2, f.toString(), "'q'", dtype, "cannot convert", "float32");
            assertTrue(r.out().contains("shape [2]") && r.out().contains(dtype), "the tensor is still described: " + r.out());
            Run quiet = run("inspect", "-q", f.toString());
            assertEquals(2, quiet.code(), quiet.all());
            assertTrue(quiet.out().contains(dtype) && !quiet.out().contains("F32"), "-q prints the problem alone: " + quiet.out());
            Run w = run("inspect", f + ":w");
            assertEquals(0, w.code(), w.all());
            assertEquals(2, run("prune", "--weights", f + ":q", "--flops-per-weight", f + ":w", "--keep-nnz", "0.5", "--out", outDir.resolve("p.npy").toString(),
                    "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet").code(), "prune refuses what inspect flags");
        }
    }

    /** A lower-case "f32" was "of a dtype falcon cannot convert ...; save it as float32", which the data already is. */
    @Test
    void inspectNamesTheSafetensorsSpellingOfADtypeInTheWrongCase() throws IOException {
        byte[] json = "{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json).putFloat(1f).putFloat(2f);
        Path f = hostile("lower.safetensors", b.array());
        Run r = run("inspect", f.toString());
        assertFails(r, 2, f.toString(), "'w' (f32)", "is not a safetensors dtype", "did you mean 'F32'", "safetensors.save_file");
        assertFalse(r.err().contains("as float32"), r.err());
    }

    /**
     * inspect's columns were 24, 5 and 18 characters wide: a longer name, dtype (F8_E4M3) or shape pushed the rest of its
     * row to the right of the others. Every row's "shape" and the values after it start in the same column.
     */
    @Test
    void inspectKeepsItsColumnsInLineForLongDtypesNamesAndShapes() throws IOException {
        String longName = "model.layers.17.self_attn.q_proj.weight";
        byte[] json = ("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[8,10]},"
                + "\"" + longName + "\":{\"dtype\":\"BF16\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[10,14]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 14).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json).putFloat(1f).putFloat(2f);
        Path f = hostile("wide.safetensors", b.array());
        Run r = run("inspect", f.toString());
        assertEquals(2, r.code(), r.all()); // F8_E4M3 cannot be converted
        List<String> rows = r.out().lines().filter(l -> l.startsWith("  ")).toList();
        assertEquals(3, rows.size(), r.out());
        for (String row : rows) {
            assertEquals(rows.get(0).indexOf(" shape "), row.indexOf(" shape "), "shape column:\n" + r.out());
            int values = row.contains("NaN ") ? row.indexOf("NaN ") : row.indexOf("values not read");
            int first = rows.get(0).contains("NaN ") ? rows.get(0).indexOf("NaN ") : rows.get(0).indexOf("values not read");
            assertEquals(first, values, "values column:\n" + r.out());
        }
    }

    /**
     * The layer table's columns were 32, 20, 12, 14 and 16 characters wide whatever they held: a longer layer name
     * (DenseNet's module.features.denseblock4.denselayer16.conv2.weight) or a count past 12 characters pushed the rest of
     * its row out of line with the header and the other rows.
     */
    @Test
    void inspectKeepsTheLayerTableInLineForLongNamesAndLargeCounts() {
        // a count of 13 characters (2,000,000,000) under prune's limit of 2^31 - 9 weights, which inspect refuses past
        Path wide = dir.resolve("wide.json");
        LayersJson.write(wide, new LayerTable(List.of(new Layer("conv1", new long[] {64, 3, 3, 3}, 50176, 0, 1728),
                new Layer("module.features.denseblock4.denselayer16.conv2.weight", new long[] {32, 128, 3, 3}, 49, 1728, 36864),
                new Layer("embed", new long[] {2_000_000, 1_000}, 2, 1728 + 36864, 2_000_000_000L)), "test"));
        Run r = run("inspect", wide.toString());
        assertEquals(0, r.code(), r.err());
        List<String> rows = r.out().lines().filter(l -> l.startsWith("  ")).toList();
        assertEquals(4, rows.size(), r.out());
        String header = rows.get(0);
        for (String row : rows) {
            // text columns start where their header does, numbers end where theirs does
            assertEquals(header.indexOf("shape"), row.indexOf(row.equals(header) ? "shape" : "["), "shape column:\n" + r.out());
            assertEquals(header.length(), row.length(), "the last column ends in another place:\n" + r.out());
            for (String column : List.of("count", "flops/weight", "%flops")) {
                int end = header.indexOf(column) + column.length();
                assertTrue(end == row.length() || row.charAt(end) == ' ', column + " column runs past its header:\n" + r.out());
                assertNotEquals(' ', row.charAt(end - 1), column + " column ends before its header:\n" + r.out());
            }
        }
    }

    /**
     * README accepts FLOP costs up to a dense total of the largest double, but the shares were printed as
     * 100 * flops / dense, which is Infinity once flops passes 1.8e306: inspect's %flops column and prune's achieved
     * FLOPs read "Infinity%" for a table with 1e306 FLOPs per weight.
     */
    @Test
    void flopSharesOfCostsNearTheLargestDoubleArePrintedAsPercentages() {
        Path huge = dir.resolve("huge-costs.json");
        LayersJson.write(huge, new LayerTable(List.of(new Layer("conv", new long[] {4, 3}, 1e306, 0, 12), new Layer("fc", new long[] {5}, 3, 12, 5)), "test"));
        Run inspected = run("inspect", huge.toString());
        assertEquals(0, inspected.code(), inspected.err());
        assertFalse(inspected.out().contains("Infinity"), inspected.out());
        assertTrue(inspected.out().lines().anyMatch(l -> l.contains("conv") && l.contains(" 100.00%")), inspected.out());
        Run pruned = run("prune", "--weights", wFile.toString(), "--layers", huge.toString(), "--keep-flops", "0.3",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java");
        assertEquals(0, pruned.code(), pruned.err());
        assertFalse(pruned.out().contains("Infinity"), pruned.out());
        assertTrue(pruned.out().lines().anyMatch(l -> l.contains("achieved:") && l.contains("(25.00%)")), pruned.out());
    }

    /** The extension decides the format whatever its case, as it does for .npy and .safetensors (prune --layers takes any name). */
    @Test
    void inspectReadsALayerTableWithAnUpperCaseExtension() throws IOException {
        Path upper = dir.resolve("LAYERS.JSON");
        Files.copy(layersFile, upper);
        Run r = run("inspect", upper.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("%flops") && r.out().contains("conv"), r.out());
        Path oneLayer = dir.resolve("one-layer.json");
        LayersJson.write(oneLayer, new LayerTable(List.of(new Layer("fc", new long[] {17}, 1, 0, 17)), "test"));
        Run single = run("inspect", oneLayer.toString());
        assertTrue(single.out().contains(": 1 layer, p = 17 weights"), single.out());
    }

    /** FLOPs per weight need not be whole (a mean over tokens, a --flops-per-weight file): inspect shows them as they are. */
    @Test
    void inspectShowsFractionalFlopsPerWeight() {
        Path fractional = dir.resolve("fractional.json");
        LayersJson.write(fractional, new LayerTable(List.of(new Layer("attn", new long[] {300}, 7.5, 0, 300),
                new Layer("head", new long[] {4}, 0.3, 300, 4)), "test"));
        Run r = run("inspect", fractional.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("dense FLOPs 2,251.2\n"), r.out());
        String attn = r.out().lines().filter(l -> l.contains("attn")).findFirst().orElseThrow();
        String head = r.out().lines().filter(l -> l.contains("head")).findFirst().orElseThrow();
        // 300 weights at 7.5 FLOPs are 2,250 FLOPs, not 300 at "8"; 4 at 0.3 are 1.2 FLOPs, not 4 at "0"
        assertTrue(attn.contains(" 7.5 ") && attn.contains(" 2,250 "), attn);
        assertTrue(head.contains(" 0.3 ") && head.contains(" 1.2 "), head);
        // a budget that is not whole keeps its whole digits (not "1,228,800,000", nor "1,788" for 1,787.5)
        assertEquals("1,228,800,000.3", InspectCommand.flops(1_228_800_000.3));
        assertEquals("1,787.5", InspectCommand.flops(1787.5));
        assertEquals("0.333333", InspectCommand.flops(1.0 / 3));
        // hostile tables: six significant digits, not hundreds of them
        assertEquals("1.00000e+300", InspectCommand.flops(1e300));
        assertEquals("1.50000e-07", InspectCommand.flops(1.5e-7));
        assertTrue(InspectCommand.flops(Double.MIN_VALUE).length() < 15, InspectCommand.flops(Double.MIN_VALUE));
        assertEquals("100,000,000,000,000,000", InspectCommand.flops(1e17));
        assertEquals("0", InspectCommand.flops(0));
    }

    /** falcon++'s stage lines show a budget and kept FLOPs that are not whole as the budgets line does, not rounded. */
    @Test
    void stageLinesShowFractionalFlops() throws IOException {
        LayersJson.write(layersFile, new LayerTable(List.of(new Layer("conv", new long[] {4, 3}, 9.5, 0, 12), new Layer("fc", new long[] {5}, 0.5, 12, 5)), "test"));
        Run r = run(java.util.Arrays.stream(fileArgs("--flops", "30.5", "--method", "falcon++", "--stages", "2"))
                .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode stage = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/stages/1");
        assertEquals(30.5, stage.get("flops_budget").asDouble(), stage.toString());
        String line = r.out().lines().filter(l -> l.startsWith("  stage 1:")).findFirst().orElseThrow();
        // it read "FLOPs <= 31 -> kept ..., FLOPs 31" next to "FLOPs <= 30.5" in the budgets line
        assertTrue(line.contains("FLOPs <= 30.5 -> kept " + stage.get("kept").asLong() + ", FLOPs "
                + InspectCommand.flops(stage.get("kept_flops").asDouble()) + ","), line);
        assertTrue(stage.get("kept_flops").asDouble() != Math.rint(stage.get("kept_flops").asDouble()), "kept FLOPs not whole: " + stage);
        assertTrue(r.out().lines().anyMatch(l -> l.contains("stage 0: NNZ <= 17, FLOPs <= 116.5 -> kept 17, FLOPs 116.5,")), r.out());
    }

    /**
     * With a linear term, objective.solver.q_final.falcon_authors was Q minus a linear term formed from w - wbar rounded
     * to float32, 1e-10 to 4e-10 relative away from objective.falcon_authors.after (fit + ridge, the same weights); the
     * two are one value, as q_final.ours is objective.ours.after.
     */
    @Test
    void theSolversFinalQInTheAuthorsConventionIsTheObjectivesWithALinearTerm() throws IOException {
        Path g = dir.resolve("g.npy");
        try (FloatPointer gv = values(P, 7)) {
            for (int i = 0; i < P; i++) gv.put(i, gv.get(i) * 1e-3f);
            Npy.writeFloat32(g, gv, new long[] {P});
        }
        for (String[] method : new String[][] {{"--method", "mp", "--backsolve"}, {"--method", "falcon"}}) {
            Run r = run(concat(fileArgs("--keep-flops", "0.4", "--linear-term", g.toString()), method));
            assertEquals(0, r.code(), r.err());
            JsonNode objective = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective");
            assertEquals(objective.at("/ours/after").doubleValue(), objective.at("/solver/q_final/ours").doubleValue(), method[1]);
            assertEquals(objective.at("/falcon_authors/after").doubleValue(), objective.at("/solver/q_final/falcon_authors").doubleValue(),
                    method[1] + ": " + objective);
        }
    }

    /** A linear term can make Q on mp's support negative: the summary said it was 0, and the report gave no reason. */
    @Test
    void negativeQOnMpSupportIsNamedAsSuch() throws IOException {
        Path g = dir.resolve("g.npy");
        try (FloatPointer w = values(P, 2); FloatPointer gv = new FloatPointer(P)) {
            for (int i = 0; i < P; i++) gv.put(i, 50 * w.get(i)); // g along wbar: pruning wbar_j costs -50 wbar_j^2
            Npy.writeFloat32(g, gv, new long[] {P});
        }
        Run r = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "mp", "--backsolve", "--linear-term", g.toString()))
                .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode solver = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
        double qMp = solver.at("/q_mp_support/ours").asDouble();
        assertTrue(qMp < 0, solver.toString());
        assertTrue(solver.at("/q_final/ratio_to_mp_support").isNull(), solver.toString());
        assertTrue(solver.at("/q_final/ratio_note").asText().contains("not positive"), solver.toString());
        String line = r.out().lines().filter(l -> l.contains("solver:")).findFirst().orElseThrow();
        assertFalse(line.contains("is 0"), line);
        assertTrue(line.contains(String.format(java.util.Locale.ROOT, "no ratio: Q on mp's support is %.6g, not positive", qMp)), line);
    }

    /**
     * The report of an example holds neither its weights nor X: its seed and rows alone let nobody recompute Q. It gives
     * the generator's formulas, and these, evaluated here from their text's terms, give the report's Q.
     */
    @Test
    void exampleReportSaysHowToRegenerateItsInputs() throws IOException {
        int n = 3;
        long seed = 5;
        Run r = run("prune", "--example", "resnet20", "--n", String.valueOf(n), "--seed", String.valueOf(seed), "--method", "magnitude",
                "--device", "java", "--quiet", "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString());
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        JsonNode example = report.at("/inputs/example");
        for (String key : List.of("weights_formula", "gradients_formula", "uniform_formula")) {
            assertTrue(example.hasNonNull(key), "inputs.example." + key + " missing: " + example);
        }
        assertTrue(example.get("uniform_formula").asText().contains("0x9E3779B97F4A7C15") && example.get("uniform_formula").asText().contains(">>> 40")
                && example.get("uniform_formula").asText().contains("0xBF58476D1CE4E5B9") && example.get("uniform_formula").asText().contains("0x94D049BB133111EB"), example.toString());
        assertTrue(example.get("weights_formula").asText().contains("sqrt(6 / fan_in_l)") && example.get("weights_formula").asText().contains("l + 1"), example.toString());
        assertTrue(example.get("gradients_formula").asText().contains("U(seed + 3, j * n + i)"), example.toString());

        LayerTable layers = dev.falcon.examples.ExampleModels.get("resnet20").layers();
        int p = (int) layers.parameters();
        float[] wbar = new float[p];
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            float bound = (float) Math.sqrt(6.0 / Math.max(1, layer.count() / layer.shape()[0]));
            long layerSeed = mix64(seed * 0x9E3779B97F4A7C15L + l + 1);
            for (int i = 0; i < layer.count(); i++) wbar[(int) layer.offset() + i] = bound * uniform(layerSeed, i);
        }
        float inv = (float) (1 / Math.sqrt(8));
        double[] residual = new double[n];
        double squaredDistance = 0;
        try (FloatPointer w = ArrayFiles.readVector(outDir.resolve("p.npy").toString(), "out", p)) {
            for (int j = 0; j < p; j++) {
                float d = w.get(j) - wbar[j];
                squaredDistance += (double) d * d;
                if (d == 0) continue;
                for (int i = 0; i < n; i++) {
                    float sum = 0;
                    for (int k = 0; k < 8; k++) sum += uniform(seed + 1, 8L * i + k) * uniform(seed + 2, 8L * j + k);
                    residual[i] += (double) (sum * inv + 0.1f * uniform(seed + 3, (long) j * n + i)) * d;
                }
            }
        }
        double fit = 0;
        for (double v : residual) fit += v * v;
        double q = 0.5 * fit + 0.5 * 1e-3 * squaredDistance;
        assertEquals(q, report.at("/objective/ours/after").asDouble(), 1e-6 * q, report.at("/objective").toString());
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static float uniform(long s, long k) {
        return (mix64(s ^ (k * 0x9E3779B97F4A7C15L)) >>> 40) * 0x1p-23f - 1f;
    }

    /** A backsolve can lower Q by five orders of magnitude: the solver line's ratio showed it as 0.0000. */
    @Test
    void solverRatioKeepsItsDigits() throws IOException {
        Run r = run("prune", "--example", "resnet20", "--n", "2", "--method", "mp", "--backsolve", "--lambda", "1e-6", "--device", "java",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString());
        assertEquals(0, r.code(), r.err());
        double ratio = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/q_final/ratio_to_mp_support").asDouble();
        assertTrue(ratio > 0 && ratio < 5e-5, "a ratio that four decimals show as 0: " + ratio);
        String line = r.out().lines().filter(l -> l.contains("solver:")).findFirst().orElseThrow();
        assertTrue(line.contains(String.format(java.util.Locale.ROOT, "(ratio %.4g)", ratio)), line);
    }

    /**
     * falcon++'s solver line gave the DFO iterations and rounds of its last solved stage as if they were the run's; with
     * const stages that is stage 0, the later ones not being solved. It names the stage, and the report says which.
     */
    @Test
    void falconPlusPlusSolverFiguresNameTheirStage() throws IOException {
        for (String schedule : List.of("poly", "const")) {
            Run r = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--schedule", schedule))
                    .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            JsonNode solver = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
            int solved = schedule.equals("poly") ? 2 : 0; // const: stages 1 and 2 keep stage 0's weights unsolved
            assertEquals(solver.at("/stages/" + solved + "/iterations").asInt(), solver.get("iterations").asInt(), solver.toString());
            String line = r.out().lines().filter(l -> l.contains("solver:")).findFirst().orElseThrow();
            assertTrue(line.contains(", stage " + solved + ": " + Numbers.counted(solver.get("iterations").asInt(), "DFO iteration") + " in "
                    + Numbers.counted(solver.get("rounds").asInt(), "round")), line);
            assertEquals(solved, solver.path("last_solved_stage").asInt(-1), solver.toString());
        }
    }

    /** The summary said "1 DFO iterations in 1 rounds" and "1 iterations" on a stage's line. */
    @Test
    void summaryCountsOneIterationInTheSingular() throws IOException {
        Run r = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--max-iterations", "1",
                "--rounds", "1")).filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        String solverLine = r.out().lines().filter(l -> l.contains("solver:")).findFirst().orElseThrow();
        assertTrue(solverLine.contains(": 1 DFO iteration in 1 round ("), solverLine);
        // stage 0 is the dense start, not solved (0 iterations); stage 1 is the one solve
        String solvedStage = r.out().lines().filter(l -> l.startsWith("  stage 1:")).findFirst().orElseThrow();
        assertTrue(solvedStage.contains(", 1 iteration, "), solvedStage);
        assertFalse(r.out().contains(" 1 iterations") || r.out().contains(" 1 rounds"), r.out());
        // the DFO's stop reason on the same line, written by the solver: with --stable-iterations 1 it said "support stable
        // for 1 iterations" (--max-iterations 1 above ends the round before that rule)
        Run stable = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "falcon", "--stable-iterations", "1", "--rounds", "1"))
                .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, stable.code(), stable.err());
        String stableLine = stable.out().lines().filter(l -> l.contains("solver:")).findFirst().orElseThrow();
        assertTrue(stableLine.contains("support stable for 1 iteration)"), stableLine);
        assertFalse(stable.out().contains(" 1 iterations"), stable.out());
    }

    // ------------------------------------------------------------------ section 7: bad input

    @Test
    void mismatchedParameterCounts() throws IOException {
        try (FloatPointer w = values(P + 1, 3)) {
            Npy.writeFloat32(dir.resolve("w18.npy"), w, new long[] {P + 1});
        }
        assertFails(run(with(fileArgs(), "--weights", dir.resolve("w18.npy").toString())), 2, "layers.json", "w18.npy", "p = 17", "p = 18");
        try (FloatPointer x = values(N * (P + 1), 3)) {
            Npy.writeFloat32(dir.resolve("X18.npy"), x, new long[] {N, P + 1});
        }
        assertFails(run(with(fileArgs(), "--grads", dir.resolve("X18.npy").toString())), 2, "X18.npy", "w.npy", "p = 18", "p = 17");
    }

    @Test
    void layersNotCoveringTheWeights() throws IOException {
        Path gap = hostile("gap.json", """
                {"layers":[{"name":"conv","shape":[4,3],"flops_per_weight":9,"offset":0,"count":12},
                           {"name":"fc","shape":[5],"flops_per_weight":1,"offset":13,"count":5}]}""".getBytes(StandardCharsets.UTF_8));
        assertFails(run(with(fileArgs(), "--layers", gap.toString())), 2, "gap.json");
        Path short_ = hostile("short.json", """
                {"layers":[{"name":"conv","shape":[4,3],"flops_per_weight":9}]}""".getBytes(StandardCharsets.UTF_8));
        assertFails(run(with(fileArgs(), "--layers", short_.toString())), 2, "short.json", "p = 12", "p = 17");
    }

    @Test
    void nonFiniteInputs() throws IOException {
        try (FloatPointer w = values(P, 2)) {
            w.put(3, Float.NaN);
            Npy.writeFloat32(dir.resolve("wnan.npy"), w, new long[] {P});
        }
        assertFails(run(with(fileArgs(), "--weights", dir.resolve("wnan.npy").toString())), 2, "wnan.npy");
        try (FloatPointer x = values(N * P, 1)) {
            x.put(20, Float.POSITIVE_INFINITY);
            Npy.writeFloat32(dir.resolve("Xinf.npy"), x, new long[] {N, P});
        }
        assertFails(run(with(fileArgs(), "--grads", dir.resolve("Xinf.npy").toString())), 2, "Xinf.npy", "--grads", "Infinity");
        // finite in the file, infinite once converted to float32: the message must not say the file holds an Inf
        String header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + N + ", " + P + "), }";
        header += " ".repeat(63 - (10 + header.length()) % 64) + "\n";
        ByteBuffer npy = ByteBuffer.allocate(10 + header.length() + 8 * N * P).order(ByteOrder.LITTLE_ENDIAN);
        npy.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length());
        npy.put(header.getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < N * P; i++) npy.putDouble(i == 20 ? 1e39 : 0.01 * (i % 7));
        Files.write(dir.resolve("X64big.npy"), npy.array());
        assertFails(run(with(fileArgs(), "--grads", dir.resolve("X64big.npy").toString())), 2, "X64big.npy", "beyond float32");
    }

    @Test
    void weightsNearTheLargestFloatArePrunedByMagnitudeAndMpAndRefusedByTheSolverForItsProducts() throws IOException {
        // falcon's gradient X^T X (w - wbar) overflows when every weight is this large: a bad input naming the weights
        // among its causes and how to rescale them, not their squares
        Path all = dir.resolve("wall.npy");
        try (FloatPointer w = values(P, 2)) {
            for (int i = 0; i < P; i++) w.put(i, Math.copySign(3e38f, w.get(i)));
            Npy.writeFloat32(all, w, new long[] {P});
        }
        Run r = run(with(fileArgs("--method", "falcon"), "--weights", all.toString()));
        assertFails(r, 2, "--weights", "overflow float32", "the weights", "divide", "the weights and the linear term");
        assertFalse(r.err().contains("square"), r.err());
        // magnitude and mp were refused too, "because the weight's square, its score, overflows float32": magnitude
        // ranks |w|, and mp squares weights scaled by a power of two
        Path huge = dir.resolve("whuge.npy");
        try (FloatPointer w = values(P, 2)) {
            for (int i = 0; i < P; i++) w.put(i, w.get(i) * 1e37f);
            w.put(5, 3e38f);
            Npy.writeFloat32(huge, w, new long[] {P});
        }
        for (String method : new String[] {"magnitude", "mp"}) {
            List<String> args = new ArrayList<>(List.of(with(fileArgs("--method", method), "--weights", huge.toString())));
            int g = args.indexOf("--grads");
            args.subList(g, g + 2).clear();
            Run ok = run(args.toArray(String[]::new));
            assertEquals(0, ok.code(), method + ": " + ok.err());
            try (FloatPointer out = ArrayFiles.readVector(outDir.resolve("p.npy").toString(), "out", P)) {
                assertEquals(3e38f, out.get(5), method + " keeps the largest weight");
            }
        }
    }

    /**
     * --lambda-convention bogus answered "expected one of [RIDGE, FALCON]", the enum's constants, which are not what the
     * user types. Every option whose values are a fixed list (its label "a|b|c") must refuse a bad value as bad usage
     * listing the accepted spellings as typed.
     */
    @Test
    void aBadValueOfAnyOptionWithFixedChoicesListsTheSpellingsToType() throws IOException {
        List<picocli.CommandLine.Model.OptionSpec> listed = new ArrayList<>();
        for (var o : new picocli.CommandLine(new PruneCommand()).getCommandSpec().options()) {
            if (o.paramLabel().contains("|")) listed.add(o);
        }
        assertTrue(listed.size() >= 5, "options with fixed choices: " + listed);
        for (var o : listed) {
            String name = o.names()[0];
            String[] context = switch (name) {
                case "--hessian" -> new String[] {"--method", "falcon"};
                case "--schedule" -> new String[] {"--method", "falcon++"};
                default -> new String[0];
            };
            List<String> args = new ArrayList<>(List.of(fileArgs(context)));
            for (String alias : o.names()) {
                int at = args.indexOf(alias); // fileArgs gives --device java
                if (at >= 0) args.subList(at, at + 2).clear();
            }
            args.addAll(List.of(name, "bogus"));
            Run r = run(args.toArray(String[]::new));
            List<String> choices = List.of(o.paramLabel().split("\\|"));
            String[] mentions = new String[choices.size() + 2];
            mentions[0] = name;
            mentions[1] = "'bogus'";
            for (int i = 0; i < choices.size(); i++) mentions[i + 2] = choices.get(i);
            assertFails(r, 2, mentions);
            for (String c : choices) assertFalse(r.err().contains(c.toUpperCase(java.util.Locale.ROOT)), name + ": " + r.err());
        }
    }

    /**
     * The issue writes the per-weight costs as `--flops f.npy` where --flops is otherwise the absolute budget: a value
     * that is not a number names that file (it was refused as "'f.npy' is not a double"), with the same result as
     * --flops-per-weight, and every message about the file names --flops, the option the user typed.
     */
    @Test
    void flopsNamingAFileTakesThePerWeightCosts() throws IOException {
        String[] viaLayers = fileArgs("--keep-flops", "0.5", "--method", "mp");
        int i = List.of(viaLayers).indexOf("--layers");
        String[] viaCostsOption = viaLayers.clone();
        viaCostsOption[i] = "--flops-per-weight";
        viaCostsOption[i + 1] = flopsFile.toString();
        Run r1 = run(viaCostsOption);
        assertEquals(0, r1.code(), r1.err());
        byte[] expected = Files.readAllBytes(outDir.resolve("p.npy"));
        Files.walk(outDir).sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());

        String[] viaFlops = viaCostsOption.clone();
        viaFlops[i] = "--flops";
        Run r2 = run(viaFlops);
        assertEquals(0, r2.code(), r2.err());
        assertArrayEquals(expected, Files.readAllBytes(outDir.resolve("p.npy")));
        JsonNode rep = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        assertTrue(rep.get("inputs").get("sha256").has("--flops"), rep.get("inputs").toString());
        assertEquals("--keep-flops 0.5", rep.get("budgets").get("asked").get("flops_request").asText(), rep.get("budgets").toString());
        Files.walk(outDir).sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());

        assertFails(run(with(viaFlops, "--flops", "1,000,000")), 2, "--flops", "'1,000,000' is neither a number");
        assertFails(run(fileArgs("--flops", flopsFile.toString())), 2, "--layers/--flops", "both given");
        assertFails(run(Stream.concat(Stream.of(viaFlops), Stream.of("--flops-per-weight", flopsFile.toString())).toArray(String[]::new)),
                2, "--flops/--flops-per-weight");
        try (FloatPointer f = new FloatPointer(P)) {
            for (int k = 0; k < P; k++) f.put(k, k == 3 ? -1f : 1f);
            Npy.writeFloat32(dir.resolve("fneg.npy"), f, new long[] {P});
        }
        assertFails(run(with(viaFlops, "--flops", dir.resolve("fneg.npy").toString())), 2, "fneg.npy", "--flops", "element 3");
    }

    @Test
    void zeroOrNegativeFlops() throws IOException {
        try (FloatPointer f = new FloatPointer(P)) {
            for (int i = 0; i < P; i++) f.put(i, i == 7 ? 0f : 1f);
            Npy.writeFloat32(dir.resolve("f0.npy"), f, new long[] {P});
        }
        String[] a = fileArgs();
        List<String> list = new ArrayList<>(List.of(a));
        int i = list.indexOf("--layers");
        list.set(i, "--flops-per-weight");
        list.set(i + 1, dir.resolve("f0.npy").toString());
        assertFails(run(list.toArray(String[]::new)), 2, "f0.npy", "--flops-per-weight", "element 7");
        Path neg = hostile("neg.json", """
                {"layers":[{"name":"conv","shape":[4,3],"flops_per_weight":-9},{"name":"fc","shape":[5],"flops_per_weight":1}]}"""
                .getBytes(StandardCharsets.UTF_8));
        assertFails(run(with(fileArgs(), "--layers", neg.toString())), 2, "neg.json", "flops_per_weight");
    }

    @Test
    void hostileNpyHeaders() throws IOException {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (17,), }";
        // truncated data
        assertFails(run(with(fileArgs(), "--weights", hostile("trunc.npy", npy(dict, 40)).toString())), 2, "trunc.npy");
        // header longer than the file
        byte[] longHeader = npy(dict, 0);
        longHeader[8] = (byte) 0xff;
        longHeader[9] = (byte) 0x7f;
        assertFails(run(with(fileArgs(), "--weights", hostile("longheader.npy", longHeader).toString())), 2, "longheader.npy");
        // huge shape
        assertFails(run(with(fileArgs(), "--grads", hostile("huge.npy",
                npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 17), }", 8)).toString())), 2, "huge.npy");
        // wrong dtype string
        assertFails(run(with(fileArgs(), "--weights", hostile("dtype.npy",
                npy("{'descr': '<U8', 'fortran_order': False, 'shape': (17,), }", 17 * 32)).toString())), 2, "dtype.npy");
        // not an npy file at all
        assertFails(run(with(fileArgs(), "--weights", hostile("garbage.npy", "hello".getBytes(StandardCharsets.UTF_8)).toString())), 2, "garbage.npy");
        // missing file
        assertFails(run(with(fileArgs(), "--weights", dir.resolve("missing.npy").toString())), 2, "missing.npy");
    }

    @Test
    void hostileSafetensorsHeaders() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(1L << 40).putLong(0);
        assertFails(run(with(fileArgs(), "--grads", hostile("long.safetensors", b.array()).toString())), 2, "long.safetensors");
        byte[] json = "{\"X\":{\"dtype\":\"I64\",\"shape\":[6,17],\"data_offsets\":[0,816]}}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer s = ByteBuffer.allocate(8 + json.length + 816).order(ByteOrder.LITTLE_ENDIAN);
        s.putLong(json.length).put(json);
        assertFails(run(with(fileArgs(), "--grads", hostile("dtype.safetensors", s.array()).toString())), 2, "dtype.safetensors");
    }

    @Test
    void budgetsOutOfRange() throws IOException {
        assertFails(run(fileArgs("--keep-flops", "1.5")), 2, "--keep-flops", "(0, 1]");
        assertFails(run(fileArgs("--keep-flops", "0")), 2, "--keep-flops");
        assertFails(run(fileArgs("--flops", "-1")), 2, "--flops");
        assertFails(run(fileArgs("--sparsity", "1")), 2, "--sparsity", "[0, 1)");
        assertFails(run(fileArgs("--nnz", "-5")), 2, "--nnz", "[0, 17]");
        assertFails(run(fileArgs("--keep-nnz", "2")), 2, "--keep-nnz");
        assertFails(run(fileArgs("--keep-flops", "0.3", "--flops", "10")), 2, "--keep-flops/--flops");
        assertFails(run(fileArgs("--nnz", "3", "--sparsity", "0.5")), 2, "--nnz/--sparsity");
        assertFails(run(fileArgs("--keep-flops", "abc")), 2, "--keep-flops");
        assertFails(run(fileArgs("--lambda", "-1")), 2, "--lambda");
        assertFails(run(fileArgs("--threads", "0")), 2, "--threads");
        assertFails(run(fileArgs("--threads", "100000")), 2, "--threads", "is 100000, more than", "per available processor");
    }

    /** The fractions were echoed in Java's form: --keep-nnz 0 was "is 0.0", --keep-flops 2 "is 2.0". */
    @Test
    void anOutOfRangeFractionIsEchoedAsGiven() throws IOException {
        assertFails(run(fileArgs("--keep-nnz", "0")), 2, "--keep-nnz: value: is 0, outside the valid range (0, 1]");
        assertFails(run(fileArgs("--keep-flops", "2")), 2, "--keep-flops: value: is 2, outside the valid range (0, 1]");
    }

    /**
     * A fraction that asks to keep nothing (--keep-nnz 0, --keep-flops 0, --sparsity 1) is out of range (exit 2), as the
     * help's footer now says, and its refusal names the exact request that prunes every weight, as the refusal of a fraction
     * that rounds to no weight (exit 3) does: it offered only "e.g. --keep-nnz 0.3".
     */
    @Test
    void aFractionKeepingNothingNamesTheExactRequestForThat() throws IOException {
        assertFails(run(fileArgs("--keep-nnz", "0")), 2, "--keep-nnz: value: is 0, outside the valid range (0, 1]; give the fraction to keep,"
                + " e.g. --keep-nnz 0.3, or --nnz 0 in place of --keep-nnz to prune every weight on purpose");
        assertFails(run(fileArgs("--keep-flops", "0")), 2, "--keep-flops: value: is 0, outside the valid range (0, 1]; give the fraction to keep,"
                + " e.g. --keep-flops 0.3, or --flops 0 in place of --keep-flops to prune every weight on purpose");
        assertFails(run(fileArgs("--sparsity", "1")), 2, "--sparsity: value: is 1, outside the valid range [0, 1); give the fraction of weights"
                + " to remove, e.g. --sparsity 0.9, or --nnz 0 in place of --sparsity to prune every weight on purpose");
        // out of range on the other side: no such offer
        Run over = run(fileArgs("--keep-flops", "2"));
        assertFalse(over.err().contains("on purpose"), over.err());
        String help = run("prune", "--help").out();
        assertTrue(help.contains("A fraction of 0 (or --sparsity 1) is out of range, exit 2."), help);
    }

    /** Counts in summaries: "p = 1 weights" and "2069 layers" (ungrouped, where every other count has its commas). */
    @Test
    void layerAndWeightCountsAreGroupedAndSingularWhereOne() throws IOException {
        assertEquals("1 layer", InspectCommand.layerCount(1));
        assertEquals("2,069 layers", InspectCommand.layerCount(2069));
        assertEquals("1 weight", InspectCommand.weightCount(1));
        assertEquals("1,234 weights", InspectCommand.weightCount(1234));
        Path one = dir.resolve("one.json");
        LayersJson.write(one, new LayerTable(List.of(new Layer("w", new long[] {1}, 3, 0, 1)), "test"));
        Run r = run("inspect", one.toString());
        assertTrue(r.out().contains(": 1 layer, p = 1 weight, dense FLOPs 3"), r.out());
    }

    /** The launcher sets -Dorg.bytedeco.javacpp.maxBytes=0, which JavaCPP takes for no limit: env printed "maxBytes 0". */
    @Test
    void envSaysAJavacppLimitOfZeroIsNone() {
        assertEquals("0", System.getProperty("org.bytedeco.javacpp.maxBytes"), "set so by the test JVM's argLine, as by the launcher");
        Run env = run("env");
        assertTrue(env.out().contains("javacpp maxBytes unlimited (0)"), env.out());
    }

    @Test
    void falconAndMpBacksolveWriteTheSolverReport() throws IOException {
        // a per-stage pattern: every stage file must exist (nothing is waited for), checked before any work
        try (FloatPointer x0 = values(N * P, 1)) {
            Npy.writeFloat32(dir.resolve("Xm_0.npy"), x0, new long[] {N, P});
        }
        assertFails(run(with(fileArgs("--method", "falcon++", "--stages", "3"), "--grads", dir.resolve("Xm_{t}.npy").toString())), 2, "Xm_1.npy");
        assertFails(run(with(fileArgs("--method", "falcon"), "--grads", dir.resolve("Xm_{t}.npy").toString())), 2, "{t}", "falcon++");
        // a start level below the target is refused before X is read (X_bad's NaN would be found first)
        try (FloatPointer bad = values(N * P, 1)) {
            bad.put(5, Float.NaN);
            Npy.writeFloat32(dir.resolve("X_bad.npy"), bad, new long[] {N, P});
        }
        assertFails(run(with(fileArgs("--method", "falcon++", "--keep-flops", "0.5", "--start-keep-flops", "0.3"), "--grads",
                dir.resolve("X_bad.npy").toString())), 2, "--start-keep-flops", "below the FLOP target");
        // a stage file of another n fails on its header, before stage 0's X is read (here: its NaN would be found first)
        try (FloatPointer x0 = values(N * P, 1); FloatPointer x1 = values((N + 1) * P, 2)) {
            x0.put(3, Float.NaN);
            Npy.writeFloat32(dir.resolve("Xn_0.npy"), x0, new long[] {N, P});
            Npy.writeFloat32(dir.resolve("Xn_1.npy"), x1, new long[] {N + 1, P});
        }
        assertFails(run(with(fileArgs("--method", "falcon++", "--stages", "2"), "--grads", dir.resolve("Xn_{t}.npy").toString())), 2,
                "Xn_1.npy", "stage 1 has shape " + (N + 1) + " x " + P);
        // a NaN in a later stage's file is found when that stage loads it (as README says): exit 2, the element named, nothing written
        try (FloatPointer x0 = values(N * P, 1); FloatPointer x1 = values(N * P, 2)) {
            x1.put(P + 4, Float.NaN);
            Npy.writeFloat32(dir.resolve("Xl_0.npy"), x0, new long[] {N, P});
            Npy.writeFloat32(dir.resolve("Xl_1.npy"), x1, new long[] {N, P});
        }
        assertFails(run(with(fileArgs("--method", "falcon++", "--stages", "2", "--start-keep", "0.9", "--max-iterations", "5"), "--grads",
                dir.resolve("Xl_{t}.npy").toString())), 2, "Xl_1.npy", "X[1, 4] is NaN");
        com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        double[] q = new double[4];
        double lowerBound = Double.NaN;
        String[][] variants = {{"--method", "mp"}, {"--method", "mp", "--backsolve"}, {"--method", "falcon", "--max-iterations", "20"},
                {"--method", "falcon++", "--stages", "3", "--schedule", "linear", "--max-iterations", "10"}};
        for (int v = 0; v < variants.length; v++) {
            Run r = run(fileArgs(Stream.concat(Stream.of("--keep-flops", "0.4", "--keep-nnz", "0.5", "--lambda", "0.1"), Stream.of(variants[v])).toArray(String[]::new)));
            assertEquals(0, r.code(), r.err());
            var report = mapper.readTree(outDir.resolve("r.json").toFile());
            q[v] = report.at("/objective/ours/after").asDouble();
            // phases do not nest: the solver's time is "solve" only, not also inside "selection" (disjoint phases of one run
            // always sum to at most its total; comparing two phases' lengths would depend on the machine's speed)
            double phases = 0;
            for (var it = report.get("timings_seconds").fields(); it.hasNext(); ) {
                var phase = it.next();
                if (!phase.getKey().equals("total")) phases += phase.getValue().asDouble();
            }
            assertTrue(phases <= report.at("/timings_seconds/total").asDouble(), report.get("timings_seconds").toString());
            // the certified bound depends on the budgets only: the same for every method, and below each one's Q
            double bound = report.at("/objective/lower_bound/ours").asDouble();
            if (v == 0) lowerBound = bound;
            assertEquals(lowerBound, bound, 0.0, "lower bound of " + String.join(" ", variants[v]));
            assertTrue(bound <= q[v], "bound " + bound + " above Q " + q[v] + " of " + String.join(" ", variants[v]));
            assertEquals((q[v] - bound) / q[v], report.at("/objective/lower_bound/relative_gap_of_after").asDouble(), 1e-12);
            if (v > 0) {
                var solver = report.at("/objective/solver");
                assertEquals(q[v], solver.at("/q_final/ours").asDouble(), 1e-5 * q[v]);
                assertEquals(q[0], solver.at("/q_mp_support/ours").asDouble(), 1e-5 * q[0]);
                assertTrue(report.at("/objective/falcon_authors/after").isNumber());
            }
            if (v == 2) {
                var log = report.at("/objective/solver/iteration_log");
                assertTrue(log.isArray() && log.size() >= 2, log.toString());
                for (var row : log) assertEquals("exact", row.path("model").asText(), "whose Q each row holds: " + row);
                assertTrue(report.at("/budgets/achieved/flops").asDouble() <= report.at("/budgets/asked/flops").asDouble() * (1 + 1e-12));
                var polish = report.at("/objective/solver/swap_polish");
                assertTrue(polish.at("/ran").asBoolean(), polish.toString());
                assertTrue(polish.at("/passes").asInt() >= 1, polish.toString());
                // the polish starts from the rounds' best point and keeps its result only when it lowers Q
                double after = polish.at("/q_after").asDouble(), before = polish.at("/q_before").asDouble();
                assertEquals(polish.at("/kept").asBoolean() ? after : before, q[v], 1e-9 * q[v], polish.toString());
                // p = 17: small enough for the kicks of the support after the polish
                assertEquals(10, polish.at("/kicks").asInt(), polish.toString());
                int lowered = polish.at("/kicks_that_lowered_q").asInt();
                assertTrue(lowered >= 0 && lowered <= 10, polish.toString());
            }
        }
        assertTrue(q[1] < q[0], "mp + BS " + q[1] + " vs mp " + q[0]);
        assertTrue(q[2] <= q[1] * (1 + 1e-6), "falcon " + q[2] + " vs mp + BS " + q[1]);
        var stages = mapper.readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/stages");
        assertTrue(stages.isArray() && stages.size() == 3, stages.toString());
        // falcon++ with gradients recomputed per stage (here: copies of X scaled, so the files differ)
        try (FloatPointer x2 = values(N * P, 9)) {
            Files.copy(xFile, dir.resolve("X_s0.npy"));
            Npy.writeFloat32(dir.resolve("X_s1.npy"), x2, new long[] {N, P});
            // stage 2's file is float64: each stage's row says its own file's dtype (the report gave stage 0's alone)
            byte[] bytes = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (" + N + ", " + P + "), }", N * P * 8);
            ByteBuffer data = ByteBuffer.wrap(bytes, bytes.length - N * P * 8, N * P * 8).slice().order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < N * P; i++) data.putDouble(x2.get(i));
            hostile("X_s2.npy", bytes);
        }
        Run staged = run(java.util.Arrays.stream(with(fileArgs("--keep-flops", "0.4", "--keep-nnz", "0.8", "--method", "falcon++", "--stages", "3",
                "--start-keep-flops", "0.8", "--start-keep-nnz", "0.9"), "--grads", dir.resolve("X_s{t}.npy").toString()))
                .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, staged.code(), staged.err());
        // stage 0's conversion was told on stderr and stage 2's was not: each file's conversion is told before the work
        assertTrue(staged.err().contains("X of stage 2 (" + dir.resolve("X_s2.npy") + ") is float64; converted once to float32 when stage 2 is reached"), staged.err());
        assertFalse(staged.err().contains("X of stage 1"), staged.err());
        var sched = mapper.readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
        assertTrue(sched.at("/schedule/gradients").asText().contains("X_s{t}"), sched.toString());
        assertEquals("pattern", sched.at("/schedule/gradient_source").asText());
        assertEquals(0.8, sched.at("/schedule/start_keep_flops").asDouble());
        assertEquals(0.9, sched.at("/schedule/start_keep_nnz").asDouble());
        // copied or mapped, as inputs.x_conversion says it of stage 0's X
        String stage1 = sched.at("/stages/1/gradients").asText();
        assertTrue(stage1.contains("X_s1.npy (float32 C order, copied once into ") && stage1.endsWith(" while loading (float32 values unchanged))"), stage1);
        assertTrue(sched.at("/stages/2/gradients").asText().endsWith("X_s2.npy (float64 C order, converted once from float64 to float32 while loading"
                + " (rounded to float32 precision))"), sched.toString());
        // const stages run at the final budgets from the first: the report gave the unused default start of 1
        Run constant = run(fileArgs("--keep-flops", "0.4", "--keep-nnz", "0.8", "--method", "falcon++", "--stages", "2", "--schedule", "const"));
        assertEquals(0, constant.code(), constant.err());
        var constSched = mapper.readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/schedule");
        assertEquals(mapper.readTree(outDir.resolve("r.json").toFile()).at("/budgets/asked/flops_fraction").asDouble(),
                constSched.at("/start_keep_flops").asDouble(), 1e-12, constSched.toString());
        assertEquals(mapper.readTree(outDir.resolve("r.json").toFile()).at("/budgets/asked/nnz_fraction").asDouble(),
                constSched.at("/start_keep_nnz").asDouble(), 1e-12, constSched.toString());
        // stage 1 on the same X at the same budgets has stage 0's weights as its optimum: it is not solved again, and says so
        var constRows = mapper.readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/stages");
        assertTrue(constRows.at("/0/note").isMissingNode(), constRows.toString());
        assertTrue(constRows.at("/1/note").asText().contains("not solved"), constRows.toString());
        assertEquals(0, constRows.at("/1/iterations").asInt(), constRows.toString());
        Run constantText = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--keep-nnz", "0.8", "--method", "falcon++", "--stages", "2",
                "--schedule", "const")).filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, constantText.code(), constantText.err());
        assertTrue(constantText.out().lines().anyMatch(l -> l.contains("stage 1:") && l.contains("not solved")), constantText.out());
        staged = run(with(fileArgs("--keep-flops", "0.4", "--keep-nnz", "0.8", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.8", "--start-keep-nnz", "0.9"),
                "--grads", dir.resolve("X_s{t}.npy").toString()));
        assertEquals(0, staged.code(), staged.err());
        sched = mapper.readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
        assertTrue(sched.at("/stopped").isNull());
        // one solve time: the stage files' hashing is checksum time, in the solver's figure and its stages' as in timings'
        // (objective.solver.seconds and the stage rows counted it while timings_seconds.solve did not: rev-rpt36 finding 3)
        var timed = mapper.readTree(outDir.resolve("r.json").toFile());
        assertEquals(timed.at("/timings_seconds/solve").asDouble(), sched.at("/seconds").asDouble(), timed.toString());
        double stageSeconds = 0;
        for (var row : sched.at("/stages")) stageSeconds += row.at("/seconds").asDouble();
        assertTrue(stageSeconds <= sched.at("/seconds").asDouble(), "the stages' " + stageSeconds + " s within the solve's " + sched);
        assertTrue(mapper.readTree(outDir.resolve("r.json").toFile()).at("/objective/x").asText().contains("X_s0.npy"));
        var sums = mapper.readTree(outDir.resolve("r.json").toFile()).at("/inputs/sha256");
        for (int t = 0; t < 3; t++) {  // every stage's file is an input of the result
            var e = sums.get(t == 0 ? "--grads" : "--grads stage " + t);
            assertEquals(ArrayFiles.sha256(dir.resolve("X_s" + t + ".npy")), e.get("sha256").asText(), sums.toString());
        }
        Run ex = run("prune", "--example", "resnet20", "--n", "4", "--method", "falcon", "--hessian", "block", "--backsolve", "block",
                "--max-iterations", "2", "--rounds", "1", "--swap-candidates", "0", "--device", "java",
                "--out", outDir.resolve("e.npy").toString(), "--report", outDir.resolve("e.json").toString());
        assertEquals(0, ex.code(), ex.err());
        assertTrue(ex.out().contains("solver"), ex.out());
        var skipped = mapper.readTree(outDir.resolve("e.json").toFile()).at("/objective/solver/swap_polish");
        assertEquals("it needs the exact backsolve", skipped.at("/skipped_because").asText(), skipped.toString());
    }

    @Test
    void outputsNeverReplaceInputs() throws IOException {
        byte[] weightsBefore = Files.readAllBytes(wFile), xBefore = Files.readAllBytes(xFile), layersBefore = Files.readAllBytes(layersFile);
        assertFails(run(with(fileArgs(), "--out", wFile.toString())), 2, "--weights", "another path");
        assertFails(run(with(fileArgs(), "--out", xFile.toString())), 2, "--grads", "another path");
        assertFails(run(with(fileArgs(), "--report", layersFile.toString())), 2, "--layers", "another path");
        Path link = dir.resolve("link.npy");
        Files.createSymbolicLink(link, wFile);
        assertFails(run(with(fileArgs(), "--out", link.toString())), 2, "--weights");
        assertTrue(java.util.Arrays.equals(weightsBefore, Files.readAllBytes(wFile)));
        assertTrue(java.util.Arrays.equals(xBefore, Files.readAllBytes(xFile)));
        assertTrue(java.util.Arrays.equals(layersBefore, Files.readAllBytes(layersFile)));
        // a report that cannot be written is found before any work, and an existing result is kept
        Path blocker = dir.resolve("not-a-dir");
        Files.writeString(blocker, "x");
        assertFails(run(with(fileArgs(), "--report", blocker.resolve("r.json").toString())), 2, "not a directory");
        assertFails(run(with(fileArgs(), "--out", dir.resolve("p.npz").toString())), 2, ".npy", ".safetensors");
        assertFails(run(with(fileArgs(), "--mask", dir.resolve("m.safetensors").toString())), 2, "--mask", ".npy");
    }

    /**
     * --report o/r.npy (--out and --report swapped) exited 0 and left JSON in r.npy, which np.load and inspect refuse,
     * where an --out or --mask of the wrong extension is refused. A report named as an array file falcon reads or
     * writes is refused before any work: before the weights are read, so a NaN weight, found only while loading the
     * inputs, is not what the run reports. Any other name is the user's, one of no extension too (README: ./-): a
     * refusal of every extension but .json also refused a budget or a date after a dot (keep0.3, report.2026-12-07),
     * which had been written before.
     */
    @Test
    void aReportNamedForAnotherFormatIsRefusedBeforeAnyWork() throws IOException {
        try (FloatPointer w = values(P, 2)) {
            w.put(3, Float.NaN);
            Npy.writeFloat32(wFile, w, new long[] {P});
        }
        // the NaN is found by the work: a report of a name that passes meets it
        assertFails(run(fileArgs()), 2, wFile.toString(), "NaN");
        for (String name : List.of("r.npy", "r.safetensors", "R.NPY", "r.SafeTensors")) {
            Path report = outDir.resolve(name);
            Run r = run(with(fileArgs(), "--report", report.toString()));
            assertFails(r, 2, report + ": --report: names an array format (.npy, .safetensors), but the report is written as JSON; end it in .json");
            assertFalse(r.err().contains("NaN") || r.err().contains(wFile.toString()), "refused after the weights were read: " + r.err());
        }
        writeModel(xFile, wFile, layersFile);
        for (String name : List.of("report", "-", "R.JSON", "keep0.3", "r.json.bak", "report.2026-12-07", "r.txt", ".h.txt")) {
            Path report = dir.resolve("reports").resolve(name);
            Run r = run(with(fileArgs("--method", "mp"), "--report", report.toString()));
            assertEquals(0, r.code(), name + ": " + r.err());
            assertTrue(new ObjectMapper().readTree(report.toFile()).has("budgets"), name);
        }
    }

    @Test
    void aNonFiniteObjectiveIsWrittenAsNullNotAsText() throws IOException {
        // products of X this large with weights this large overflow float: the objective comes out NaN
        try (FloatPointer x = values(N * P, 1); FloatPointer w = values(P, 2)) {
            for (int i = 0; i < N * P; i++) x.put(i, x.get(i) * 1e30f);
            for (int i = 0; i < P; i++) w.put(i, w.get(i) * 1e10f);
            Npy.writeFloat32(xFile, x, new long[] {N, P});
            Npy.writeFloat32(wFile, w, new long[] {P});
        }
        Run r = run(fileArgs());
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        List<String> numbersWrittenAsText = new ArrayList<>();
        collectNonFiniteText(report, "", numbersWrittenAsText);
        assertEquals(List.of(), numbersWrittenAsText, "numbers must be JSON numbers or null");
        JsonNode q = report.at("/objective/ours/after");
        assertTrue(q.isNumber() || q.isNull(), q.toString());
        JsonNode mapped = new ObjectMapper().readTree(PruneCommand.reportMapper().writeValueAsString(
                java.util.Map.of("nan", Double.NaN, "inf", Double.NEGATIVE_INFINITY, "float", Float.NaN, "one", 1.5)));
        assertTrue(mapped.get("nan").isNull() && mapped.get("inf").isNull() && mapped.get("float").isNull(), mapped.toString());
        assertEquals(1.5, mapped.get("one").doubleValue());
    }

    @Test
    void reportKeysComeInTheSameOrderInEveryJvm() throws IOException {
        // Map.of iterates in an order salted per JVM: before the fix these pairs swapped in about half the runs
        Run r = run(fileArgs());
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        List<String> dense = new ArrayList<>(), lambdaOption = new ArrayList<>();
        report.at("/budgets/dense").fieldNames().forEachRemaining(dense::add);
        findField(report, "lambda_option").fieldNames().forEachRemaining(lambdaOption::add);
        assertEquals(List.of("nnz", "flops"), dense);
        assertEquals(List.of("value", "convention"), lambdaOption);
    }

    /**
     * Every number is a JSON number: the backend's facts came from the probes as strings, so cpu.threads was "2" and
     * openblas.core.corrected "false" in a report whose other numbers and flags are JSON's own.
     */
    @Test
    void noNumberOrFlagOfTheReportIsWrittenAsAString() throws IOException {
        Run r = run(with(fileArgs("--method", "falcon", "--keep-flops", "0.4", "--max-iterations", "3"), "--device", "cpu"));
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        List<String> found = new ArrayList<>();
        collectNumbersAsText(report, "", found);
        assertEquals(List.of(), found, "numbers or flags written as strings");
        assertTrue(report.at("/backend/facts/cpu.available_processors").isIntegralNumber(), report.at("/backend").toString());
    }

    /**
     * The report's backend held two thread counts: threads, the run's (--threads 3), and facts.cpu.threads, the
     * machine's processors (2 here), so a reader could not tell which the run used. The fact is named for what it is.
     */
    @Test
    void theReportTellsTheRunsThreadsFromTheMachinesProcessors() throws IOException {
        int threads = dev.falcon.backend.Processors.usable() + 1;
        Run r = run(with(fileArgs("--method", "mp", "--keep-flops", "0.4", "--threads", String.valueOf(threads)), "--device", "cpu"));
        assertEquals(0, r.code(), r.err());
        JsonNode backend = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/backend");
        assertEquals(threads, backend.at("/threads").intValue(), backend.toString());
        assertTrue(backend.at("/facts/cpu.threads").isMissingNode(), "no second thread count: " + backend);
        assertEquals(dev.falcon.backend.Processors.usable(), backend.at("/facts/cpu.available_processors").intValue(), backend.toString());
    }

    /**
     * OpenBLAS runs on at most the processors this process may use (fewer than --threads under taskset), and its Grams
     * round by its own count: the report and the summary said "2 threads" where OpenBLAS ran on 1 and the Lipschitz
     * constant was --threads 1's. They now give the count OpenBLAS reports, and prune warns once.
     */
    @Test
    void aRunWithMoreThreadsThanProcessorsSaysWhatOpenBlasRanOn() throws IOException {
        int processors = dev.falcon.backend.Processors.usable();
        int threads = processors + 1;
        Run r = run(with(fileArgs("--method", "mp", "--keep-flops", "0.4", "--threads", String.valueOf(threads)), "--device", "cpu"));
        assertEquals(0, r.code(), r.err());
        JsonNode backend = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/backend");
        assertEquals(threads, backend.at("/threads").intValue(), backend.toString());
        assertEquals(processors, backend.at("/openblas_threads").intValue(), backend.toString());
        assertTrue(backend.at("/description").asText().endsWith(threads + " threads (OpenBLAS " + processors + ": the processors this process may use)"),
                backend.toString());
        String warning = "falcon: warning: --threads " + threads + " but this process may use " + processors + " processor";
        assertEquals(1, r.err().split(java.util.regex.Pattern.quote(warning), -1).length - 1, r.err());
        // the reason was always "(taskset or a cpuset)", on a machine with neither: it now names the true one
        assertTrue(r.err().contains(" (" + dev.falcon.backend.Processors.reason() + "): OpenBLAS runs on"), r.err());
        if (dev.falcon.backend.Processors.affinity() == dev.falcon.backend.Processors.online()) {
            assertFalse(r.err().contains("taskset"), r.err());
        }
        assertTrue(r.err().contains("OpenBLAS runs on " + processors + " thread"), r.err());
        Run within = run(with(fileArgs("--method", "mp", "--keep-flops", "0.4", "--threads", String.valueOf(processors)), "--device", "cpu"));
        assertEquals(0, within.code(), within.err());
        assertFalse(within.err().contains("this process may use"), within.err());
        JsonNode withinBackend = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/backend");
        assertEquals(processors, withinBackend.at("/openblas_threads").intValue(), withinBackend.toString());
        assertFalse(withinBackend.at("/description").asText().contains("OpenBLAS " + processors + ":"), withinBackend.toString());
    }

    /**
     * OPENBLAS_NUM_THREADS=1 (the usual way to run several jobs on one machine) was overridden by --threads without a
     * word: prune warns where such a variable asks for another count than the run's, and env shows it.
     */
    @Test
    void openBlasThreadVariablesAreSaidToBeOverridden() {
        var before = ThreadVariables.environment;
        try {
            ThreadVariables.environment = () -> java.util.Map.of("OPENBLAS_NUM_THREADS", "1", "OMP_NUM_THREADS", "2");
            // --quiet (in fileArgs) keeps warnings
            Run r = run(with(fileArgs("--method", "mp", "--keep-flops", "0.4", "--threads", "2"), "--device", "cpu"));
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains("falcon: warning: OPENBLAS_NUM_THREADS=1 is not read: --threads alone sets the thread count,"
                    + " OpenBLAS's included (this run: 2 threads)"), r.err());
            assertFalse(r.err().contains("OMP_NUM_THREADS=2"), "a variable asking for the run's own count changes nothing: " + r.err());
            Run env = run("env");
            assertTrue(env.out().contains("OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=2: not read by falcon; --threads alone sets the thread count"), env.out());
            ThreadVariables.environment = java.util.Map::of;
            Run none = run(with(fileArgs("--method", "mp", "--keep-flops", "0.4", "--threads", "2"), "--device", "cpu"));
            assertFalse(none.err().contains("NUM_THREADS"), none.err());
            assertFalse(run("env").out().contains("NUM_THREADS"));
        } finally {
            ThreadVariables.environment = before;
        }
    }

    /**
     * OpenBLAS runs on at most the processors: OPENBLAS_NUM_THREADS=2 beside --threads 4 on 2 cores asks for what OpenBLAS
     * gets, and was said to be overridden ("this run: 4 threads"); a variable asking for another count is named with both.
     */
    @Test
    void theThreadVariablesWarningComparesWithOpenBlassOwnCount() {
        assertEquals(null, ThreadVariables.warning(java.util.Map.of("OPENBLAS_NUM_THREADS", "2"), 4, 2));
        assertEquals("OPENBLAS_NUM_THREADS=1 is not read: --threads alone sets the thread count, OpenBLAS's included"
                + " (this run: 4 threads, OpenBLAS 2, at most the processors); give --threads N instead",
                ThreadVariables.warning(java.util.Map.of("OPENBLAS_NUM_THREADS", "1"), 4, 2));
        assertEquals("OMP_NUM_THREADS=4 is not read: --threads alone sets the thread count, OpenBLAS's included (this run: 2 threads);"
                + " give --threads N instead", ThreadVariables.warning(java.util.Map.of("OMP_NUM_THREADS", "4"), 2, 2));
    }

    private static void collectNumbersAsText(JsonNode node, String path, List<String> found) {
        if (node.isTextual() && (node.asText().matches("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?") || List.of("true", "false").contains(node.asText()))) {
            found.add(path + " = \"" + node.asText() + "\"");
        }
        node.fields().forEachRemaining(e -> collectNumbersAsText(e.getValue(), path + "/" + e.getKey(), found));
        for (int i = 0; node.isArray() && i < node.size(); i++) collectNumbersAsText(node.get(i), path + "/" + i, found);
    }

    private static JsonNode findField(JsonNode node, String name) {
        JsonNode found = node.findValue(name);
        assertNotNull(found, name + " not in the report");
        return found;
    }

    private static void collectNonFiniteText(JsonNode node, String path, List<String> found) {
        if (node.isTextual() && List.of("NaN", "Infinity", "-Infinity").contains(node.asText())) found.add(path);
        node.fields().forEachRemaining(e -> collectNonFiniteText(e.getValue(), path + "/" + e.getKey(), found));
        for (int i = 0; node.isArray() && i < node.size(); i++) collectNonFiniteText(node.get(i), path + "/" + i, found);
    }

    @Test
    void outputsThatAreOneFileThroughALinkedDirectoryAreRefused() throws IOException {
        // the mask's rename would replace the pruned weights: exit 0 with the weights gone
        Files.createDirectories(dir.resolve("real"));
        Files.createSymbolicLink(dir.resolve("linked"), dir.resolve("real"));
        Run r = run(with(with(fileArgs(), "--out", dir.resolve("real/p.npy").toString()), "--mask", dir.resolve("linked/p.npy").toString()));
        assertFails(r, 2, "p.npy", "name the same file");
        assertFalse(Files.exists(dir.resolve("real/p.npy")));
    }

    @Test
    void aBadOutputPathIsNamedByItsOption() throws IOException {
        // --out= gave "falcon: error: : output: is a directory": neither a file nor an option to fix
        assertFails(run(with(fileArgs(), "--out", "")), 2, "--out", "empty path");
        assertFails(run(with(fileArgs(), "--report", dir.toString())), 2, "--report", "is a directory");
        assertFails(run(with(fileArgs(), "--mask", outDir.resolve("p.npy").toString())), 2, "--out/--mask", "name the same file");
    }

    /**
     * An output ending in '/' names a directory, but Java's Path drops the slash: {@code --report reports/} wrote the
     * report as a file named "reports", where the user meant a folder; and {@code --report new/.} solved first and then
     * failed as "output: is a directory". Both are refused before any work, naming the option.
     */
    @Test
    void anOutputPathThatNamesADirectoryIsRefusedBeforeAnyWork() throws IOException {
        Path reports = dir.resolve("reports");
        assertFails(run(with(fileArgs(), "--report", reports + "/")), 2, reports + "/: --report: names a directory", reports + "/report.json");
        assertFalse(Files.exists(reports), "the report was written as a file named after the directory");
        assertFails(run(with(fileArgs(), "--out", outDir.resolve("p.npy") + "/")), 2, "--out: names a directory");
        assertFalse(Files.exists(outDir.resolve("p.npy")));
        Run late = run(with(fileArgs(), "--report", dir.resolve("new") + "/."));
        assertFails(late, 2, "--report: names a directory");
        assertFalse(late.err().contains("output:"), late.err());
        assertFalse(Files.exists(dir.resolve("new")));
    }

    /**
     * A socket is neither a file to replace nor one to write in place (it cannot be opened): named as an output, the run
     * solved and then failed with "output: cannot write (... No such device or address); check that the directory
     * exists, is writable and has free space". It is refused before any work.
     */
    @Test
    void anOutputThatIsASocketIsRefusedBeforeAnyWork() throws IOException {
        Path socket = dir.resolve("falcon.sock");
        try (var listening = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            listening.bind(java.net.UnixDomainSocketAddress.of(socket));
            Run r = run(with(fileArgs(), "--report", socket.toString()));
            assertFails(r, 2, socket + ": --report: is a socket", "give a file's path");
            assertFalse(r.err().contains("cannot write"), "found after the solve: " + r.err());
        }
    }

    /**
     * An output that could not be written once the run had solved was named "output", not by its option, and every cause
     * got the same fix: "check that the directory exists, is writable and has free space" for /dev/full, and for a name
     * longer than the file system allows. A full device is the machine's failure, not bad input: exit 1, not 2 (the
     * README lists a full disk under 1), while a folder the user may not write stays 2.
     */
    @Test
    void anOutputThatCannotBeWrittenIsNamedByItsOptionWithAFixForItsCause() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(Path.of("/dev/full")) && !Files.isRegularFile(Path.of("/dev/full")));
        Run full = run(with(fileArgs(), "--out", "/dev/full"));
        assertFails(full, 1, "/dev/full: --out: cannot write (", "No space left on device", "the device is full; choose another output");
        assertFalse(full.err().contains("check that the directory exists"), full.err());
    }

    /**
     * Every folder prune writes an output file into keeps an empty hidden lock file (AtomicFiles.LOCK_FILE: deleting it
     * while another run waits on it would let two commits run at once), nested output folders each their own, while the
     * README's outputs said that a failure leaves earlier results as they were and named the lock file only in passing,
     * not whether it may be deleted. A folder falcon created for the outputs of a run that fails (--mask /dev/full) is
     * removed again, lock file included.
     */
    @Test
    void outputFoldersKeepTheLockFileTheReadmeDescribesAndAFailedRunLeavesNoFolder() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(Path.of("/dev/full")) && !Files.isRegularFile(Path.of("/dev/full")));
        Path nested = outDir.resolve("weights").resolve("p.npy");
        Run failed = run(with(with(fileArgs(), "--out", nested.toString()), "--mask", "/dev/full"));
        assertFails(failed, 1, "/dev/full: --mask: cannot write (");
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.filter(f -> f.getFileName().toString().startsWith(".")).toList(), "hidden files left by the failed run");
        }

        assertEquals(0, run(with(fileArgs(), "--out", nested.toString())).code());
        for (Path folder : List.of(outDir, nested.getParent())) {
            try (Stream<Path> hidden = Files.list(folder).filter(f -> f.getFileName().toString().startsWith("."))) {
                assertEquals(List.of(folder.resolve(dev.falcon.io.AtomicFiles.LOCK_FILE)), hidden.toList(), "hidden files in " + folder);
            }
            assertEquals(0, Files.size(folder.resolve(dev.falcon.io.AtomicFiles.LOCK_FILE)));
        }

        String outputsRow = Files.readAllLines(Path.of("../../README.md")).stream().filter(l -> l.startsWith("| outputs |")).findFirst().orElseThrow();
        for (String said : List.of("keeps an empty hidden `" + dev.falcon.io.AtomicFiles.LOCK_FILE + "`", "nested", "safe to delete",
                "`.gitignore`", "removed again, lock file included")) {
            assertTrue(outputsRow.contains(said), "README's outputs row does not say '" + said + "'");
        }
    }

    /**
     * A name longer than the file system takes (256 bytes here), a folder name to be created that is, and a path longer
     * than the system takes were found only when the outputs were written, after the whole solve. They are refused
     * before any work, with the file system's limit (asked of it: 255 on the file systems tests run on).
     */
    @Test
    void anOutputNameLongerThanTheFileSystemTakesIsRefusedBeforeAnyWork() throws IOException {
        Path tooLong = dir.resolve("r".repeat(251) + ".json");
        Run named = run(with(fileArgs(), "--report", tooLong.toString()));
        assertFails(named, 2, tooLong + ": --report: the name is 256 bytes in UTF-8, more than the 255 the file system of " + dir + " takes; give a shorter name");
        assertFalse(named.err().contains("cannot write"), "found after the solve: " + named.err());
        Path folder = outDir.resolve("f".repeat(300)).resolve("p.npy");
        Run inFolder = run(with(fileArgs(), "--out", folder.toString()));
        assertFails(inFolder, 2, folder + ": --out: the folder name " + "f".repeat(300) + " is 300 bytes in UTF-8, more than the 255", "give a shorter folder name");
        assertFalse(inFolder.err().contains("cannot"), "found after the solve: " + inFolder.err());
        StringBuilder deep = new StringBuilder(dir.toString());
        while (deep.length() < 4096) deep.append("/").append("d".repeat(200));
        Path tooDeep = Path.of(deep + "/m.npy");
        Run path = run(with(fileArgs(), "--mask", tooDeep.toString()));
        assertFails(path, 2, tooDeep + ": --mask: the path is " + tooDeep.toString().length() + " bytes in UTF-8, more than the 4095 the system takes; give a shorter path");
        assertFalse(path.err().contains("cannot"), "found after the solve: " + path.err());
        // a name the file system takes is written, though the temporary file's name is longer than the limit (it is cut)
        Path longest = dir.resolve("r".repeat(250) + ".json");
        assertEquals(0, run(with(fileArgs(), "--report", longest.toString())).code());
        assertTrue(Files.isRegularFile(longest));
    }

    /**
     * A folder of an output's path that is a dangling symbolic link passed the check made before the run, as a folder to
     * be created: the run solved and then failed with "output: ... is not a directory". It is named before any work.
     */
    @Test
    void anOutputUnderADanglingLinkIsRefusedBeforeAnyWork() throws IOException {
        Path link = Files.createSymbolicLink(dir.resolve("reports"), dir.resolve("moved-away"));
        for (Path report : List.of(link.resolve("r.json"), link.resolve("2026/r.json"))) {
            Run r = run(with(fileArgs(), "--report", report.toString()));
            assertFails(r, 2, report + ": --report: " + link + " is a symbolic link to " + dir.resolve("moved-away") + ", which does not exist");
            assertFalse(Files.exists(dir.resolve("moved-away")));
        }
    }

    @Test
    void outputsMayAllBeDiscardedIntoDevNull() throws IOException {
        // the README: a device such as /dev/null is written in place, so only the report is kept here
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/dev/null")) && !Files.isRegularFile(Path.of("/dev/null")));
        Run r = run(with(with(fileArgs(), "--out", "/dev/null"), "--mask", "/dev/null"));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(outDir.resolve("r.json")));
        assertFalse(Files.isRegularFile(Path.of("/dev/null")));
    }

    /**
     * A device or a pipe is written in place, but the check made before the run wanted its directory writable:
     * {@code --out /dev/null} failed for every user but root ("/dev is not writable"). Its own mode is what counts. The
     * CLI runs without root's power to write what a mode forbids (as root, with its capabilities dropped).
     */
    @Test
    void aPipeInADirectoryThisUserCannotWriteIsWrittenInPlace() throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        org.junit.jupiter.api.Assumptions.assumeTrue(!root || new ProcessBuilder("setpriv", "--version").start().waitFor() == 0,
                "skipped: root needs setpriv to run falcon without the capability to write any directory");
        Path locked = Files.createDirectory(dir.resolve("locked"));
        Path pipe = locked.resolve("weights.pipe"), closed = locked.resolve("closed.pipe");
        for (Path fifo : List.of(pipe, closed)) assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        Files.setPosixFilePermissions(closed, java.nio.file.attribute.PosixFilePermissions.fromString("r--r--r--"));
        Files.setPosixFilePermissions(locked, java.nio.file.attribute.PosixFilePermissions.fromString("r-xr-xr-x"));
        java.util.concurrent.CompletableFuture<byte[]> read = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readAllBytes(pipe);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try {
            Path log = dir.resolve("falcon.log");
            Process child = unprivilegedFalcon(root, log, with(fileArgs("--keep-flops", "0.4", "--method", "mp"), "--out", pipe.toString()));
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            assertEquals(0, child.exitValue(), Files.readString(log));
            byte[] weights = read.get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue(weights.length > 4 * P && weights[0] == (byte) 0x93, "--out got no .npy: " + weights.length + " bytes");
            // one whose mode forbids writing is named before any work
            Files.delete(outDir.resolve("r.json"));
            child = unprivilegedFalcon(root, log, with(fileArgs("--keep-flops", "0.4", "--method", "mp"), "--out", closed.toString()));
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(2, child.exitValue(), said);
            assertTrue(said.contains(closed + ": --out: is not writable"), said);
            assertFalse(Files.exists(outDir.resolve("r.json")), said);
        } finally {
            if (!read.isDone()) {
                try (var releasesTheReader = Files.newOutputStream(pipe)) {
                    // nothing: the reader sees the end of the pipe
                }
            }
            Files.setPosixFilePermissions(locked, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    /**
     * In a sticky directory (/tmp, a shared folder) only a file's owner, or the directory's, may replace it: a report
     * named after another user's file there failed after the whole solve, with "output: cannot write (... Operation not
     * permitted); check that the directory exists, is writable and has free space", none of which was the cause. Needs
     * root, to run the CLI as another user (nobody).
     */
    @Test
    void anOutputAnotherUserOwnsInAStickyDirectoryIsRefusedBeforeAnyWork() throws Exception {
        assumeNobodyCanBeRun();
        Path shared = Files.createDirectory(dir.resolve("shared")), mine = Files.createDirectory(dir.resolve("mine"));
        chmod("1777", shared.toString());
        chmod("777", mine.toString());
        Path theirs = Files.writeString(shared.resolve("r.json"), "root's report"), nobodys = shared.resolve("nobody.json");
        Path log = dir.resolve("falcon.log");
        String[] args = with(with(fileArgs("--keep-flops", "0.4", "--method", "mp"), "--out", mine.resolve("p.npy").toString()),
                "--mask", mine.resolve("m.npy").toString());
        Process child = falconAsNobody(log, with(args, "--report", theirs.toString()));
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(theirs + ": --report: belongs to root in the sticky directory " + shared), said);
        assertFalse(said.contains("cannot write"), "found after the solve: " + said);
        assertEquals("root's report", Files.readString(theirs));
        assertFalse(Files.exists(mine.resolve("p.npy")), said);
        // its own file there, or a new one, this user may replace
        Files.writeString(nobodys, "nobody's old report");
        Files.setOwner(nobodys, nobodys.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
        for (Path report : List.of(nobodys, shared.resolve("new.json"))) {
            child = falconAsNobody(log, with(args, "--report", report.toString()));
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            assertEquals(0, child.exitValue(), Files.readString(log));
            assertTrue(Files.readString(report).contains("\"method\""), Files.readString(report));
        }
    }

    private void assumeNobodyCanBeRun() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "skipped: only root can run the CLI as another user (nobody)");
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("setpriv", "--version").start().waitFor() == 0, "skipped: setpriv is not available");
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /**
     * The CLI in a JVM of its own as the user nobody (see {@link #assumeNobodyCanBeRun}), from copies of this test's class
     * path (~/.m2 may be root's alone) and with a JavaCPP cache of its own.
     */
    private Process falconAsNobody(Path log, String... args) throws Exception {
        Path classes = dir.resolve("nobody-classpath"), cache = dir.resolve("nobody-javacpp");
        if (!Files.exists(classes)) {
            Files.createDirectory(classes);
            int k = 0;
            for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                Path from = Path.of(entry);
                if (!Files.exists(from)) continue;
                Path to = classes.resolve(k++ + "-" + from.getFileName());
                try (Stream<Path> files = Files.walk(from)) {
                    for (Path f : files.toList()) {
                        Path copy = to.resolve(from.relativize(f).toString());
                        if (Files.isDirectory(f)) Files.createDirectories(copy);
                        else Files.copy(f, copy);
                    }
                }
            }
            Files.createDirectory(cache);
            chmod("777", cache.toString());
            chmod("-R", "a+rX", classes.toString());
        }
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Dorg.bytedeco.javacpp.cachedir=" + cache, "-cp"));
        try (Stream<Path> entries = Files.list(classes)) {
            cmd.add(String.join(java.io.File.pathSeparator, entries.sorted(java.util.Comparator.comparingInt(e -> Integer.parseInt(e.getFileName().toString().split("-")[0])))
                    .map(Path::toString).toList()));
        }
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    private static void chmod(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("chmod"));
        cmd.addAll(List.of(args));
        assertEquals(0, new ProcessBuilder(cmd).inheritIO().start().waitFor());
    }

    /** The CLI in a JVM of its own, as this user, or as root without the capabilities that let root write any file. */
    private static Process unprivilegedFalcon(boolean root, Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        if (root) cmd.addAll(List.of("setpriv", "--inh-caps=-all", "--bounding-set=-all"));
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    @Test
    void aConvertedXIsReported() throws IOException {
        String dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + N + ", " + P + "), }";
        byte[] bytes = npy(dict, N * P * 8);
        ByteBuffer data = ByteBuffer.wrap(bytes, bytes.length - N * P * 8, N * P * 8).slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < N * P; i++) data.putDouble(Math.sin(i + 1.0));
        Path x64 = hostile("X64.npy", bytes);
        Run r = run(with(fileArgs(), "--grads", x64.toString()));
        assertEquals(0, r.code(), r.err());
        JsonNode inputs = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).get("inputs");
        assertEquals("float64 C order", inputs.get("x_file_dtype").asText());
        assertTrue(inputs.get("x_conversion").asText().startsWith("converted once from float64"), inputs.toString());
        // "none" only where X is used in place: a float32 X copied in full read "none: float32 copied into ..."
        Run plain = run(fileArgs());
        assertEquals(0, plain.code(), plain.err());
        inputs = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).get("inputs");
        assertEquals("copied once into column-major while loading (float32 values unchanged)", inputs.get("x_conversion").asText(), inputs.toString());
        Run panels = run(with(fileArgs(), "--device", "cpu"));
        assertEquals(0, panels.code(), panels.err());
        inputs = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).get("inputs");
        assertTrue(inputs.get("x_conversion").asText().startsWith("copied once into row-major panels"), inputs.toString());
        // a header padded as np.save pads it, so that the float32 Fortran-order data is aligned and mapped in place
        String fortranDict = "{'descr': '<f4', 'fortran_order': True, 'shape': (" + N + ", " + P + "), }";
        fortranDict += " ".repeat(63 - (10 + fortranDict.length()) % 64) + "\n";
        byte[] fortran = npy(fortranDict, N * P * 4);
        ByteBuffer floats = ByteBuffer.wrap(fortran, fortran.length - N * P * 4, N * P * 4).slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < N * P; i++) floats.putFloat((float) Math.sin(i + 1.0));
        Run mapped = run(with(with(fileArgs(), "--device", "cpu"), "--grads", hostile("XF.npy", fortran).toString()));
        assertEquals(0, mapped.code(), mapped.err());
        inputs = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).get("inputs");
        assertEquals("none: the file is used in place (memory-mapped)", inputs.get("x_conversion").asText(), inputs.toString());
    }

    @Test
    void safetensorsOutputKeepsTheTensorNameAndShape() throws IOException {
        Path sIn = dir.resolve("model.safetensors");
        try (FloatPointer w = values(P, 2)) {
            LinkedHashMap<String, NamedArray> t = new LinkedHashMap<>();
            t.put("layer.weight", new NamedArray(w, new long[] {1, P}));
            Safetensors.write(sIn, t, null);
        }
        Path sOut = outDir.resolve("p.safetensors");
        Run r = run(with(with(fileArgs("--keep-nnz", "0.5"), "--weights", sIn.toString()), "--out", sOut.toString()));
        assertEquals(0, r.code(), r.err());
        Safetensors.Header h = Safetensors.readHeader(sOut);
        assertEquals(List.of("layer.weight"), List.copyOf(h.tensors().keySet()));
        assertTrue(java.util.Arrays.equals(new long[] {1, P}, h.tensors().get("layer.weight").shape()));
        Run npy = run(with(with(fileArgs("--keep-nnz", "0.5"), "--out", outDir.resolve("p.npy").toString()), "--mask", outDir.resolve("m.npy").toString()));
        assertEquals(0, npy.code(), npy.err());
        // the mask lines up with the pruned weights: the same shape
        assertArrayEquals(Npy.readHeader(outDir.resolve("p.npy")).shape(), Npy.readHeader(outDir.resolve("m.npy")).shape());
        Run shaped = run(with(with(with(fileArgs("--keep-nnz", "0.5"), "--weights", sIn.toString()), "--out", sOut.toString()), "--mask", outDir.resolve("m2.npy").toString()));
        assertEquals(0, shaped.code(), shaped.err());
        assertArrayEquals(new long[] {1, P}, Npy.readHeader(outDir.resolve("m2.npy")).shape());
        try (FloatPointer a = ArrayFiles.readVector(sOut.toString(), "s", P); FloatPointer b = ArrayFiles.readVector(outDir.resolve("p.npy").toString(), "n", P)) {
            for (int i = 0; i < P; i++) assertEquals(b.get(i), a.get(i), "weight " + i);
        }
    }

    @Test
    void valuesThatOverflowFloat32InTheSolverAreNotAnInternalError() throws IOException {
        Path big = dir.resolve("Xbig.npy");
        try (FloatPointer x = new FloatPointer((long) N * P)) {
            for (int i = 0; i < N * P; i++) x.put(i, 1e30f);
            Npy.writeFloat32(big, x, new long[] {N, P});
        }
        assertFails(run(with(fileArgs("--method", "falcon"), "--grads", big.toString())), 2, "--grads", "overflow float32", "rescale");
        assertFails(run(with(with(fileArgs("--method", "falcon"), "--grads", big.toString()), "--device", "cpu")), 2, "--grads", "too large");
        // weights near 1e18 squared past float32 in the solver's long exploratory steps
        Path large = dir.resolve("wlarge.npy");
        try (FloatPointer w = new FloatPointer(P)) {
            for (int i = 0; i < P; i++) w.put(i, 1e18f * (i + 1) / P);
            Npy.writeFloat32(large, w, new long[] {P});
        }
        Run r = run(with(with(fileArgs("--method", "falcon"), "--weights", large.toString()), "--device", "cpu"));
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void anInputTensorWithAnEmptyNameIsWrittenAsWeights() throws IOException {
        Path sIn = dir.resolve("unnamed.safetensors");
        byte[] json = ("{\"\":{\"dtype\":\"F32\",\"shape\":[" + P + "],\"data_offsets\":[0," + 4 * P + "]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 4 * P).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        for (int i = 0; i < P; i++) b.putFloat(i + 1f);
        Files.write(sIn, b.array());
        Path sOut = outDir.resolve("p.safetensors");
        Run r = run(with(with(fileArgs("--keep-nnz", "0.5"), "--weights", sIn.toString()), "--out", sOut.toString()));
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("weights"), List.copyOf(Safetensors.readHeader(sOut).tensors().keySet()));
    }

    @Test
    void aTensorNameWithColonsStillNamesItsFile() throws IOException {
        // TensorFlow-style names ("dense/kernel:0"): the file ends at ".safetensors:", not at the last colon
        Path sIn = dir.resolve("model.safetensors");
        try (FloatPointer w = values(P, 2)) {
            LinkedHashMap<String, NamedArray> t = new LinkedHashMap<>();
            t.put("dense/kernel:0", new NamedArray(w, new long[] {P}));
            Safetensors.write(sIn, t, null);
        }
        List<String> args = new ArrayList<>(List.of(with(fileArgs(), "--weights", sIn + ":dense/kernel:0")));
        args.remove("--quiet");
        Run r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("falcon prune model, method"), "the run is named after the file: " + r.out());
        JsonNode weights = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/inputs/sha256/--weights");
        assertEquals(sIn.toString(), weights.get("file").asText(), weights.toString());
        assertEquals(ArrayFiles.sha256(sIn), weights.get("sha256").asText(), weights.toString());
    }

    @Test
    void infeasibleBudgets() throws IOException {
        assertFails(run(fileArgs("--flops", "0.5")), 3, "cheapest", "fc");
        assertFails(run(fileArgs("--keep-nnz", "0.01")), 3, "--keep-nnz");
    }

    @Test
    void badUsage() throws IOException {
        Run parse = run("prune", "--keep-flops", "abc");
        assertFails(parse, 2, "falcon: error: ", "--keep-flops", "'abc'", "falcon prune --help");
        assertFalse(parse.err().contains("Usage:"), "a parse error is one line, not the whole usage: " + parse.err());
        assertFails(run("prune", "--kep-flops", "0.2"), 2, "--keep-flops");
        // options the method never reads are refused, not ignored
        assertFails(run(fileArgs("--method", "mp", "--stages", "3")), 2, "--stages", "falcon++");
        assertFails(run(fileArgs("--method", "falcon", "--start-keep", "0.8")), 2, "--start-keep", "falcon++");
        assertFails(run(fileArgs("--method", "mp", "--backsolve", "--max-iterations", "5")), 2, "--max-iterations", "falcon");
        assertFails(run(fileArgs("--method", "magnitude", "--block-size", "100")), 2, "--block-size");
        assertFails(run(fileArgs("--seed", "3")), 2, "--seed", "--example");
        assertFails(run(fileArgs("--method", "falcon++", "--keep-flops", "0.5", "--start-keep-flops", "0.3")), 2, "--start-keep-flops", "below");
        // the shorthand below a target is named as given, not as the option it stands for
        Run shorthand = run(fileArgs("--method", "falcon++", "--keep-flops", "0.3", "--keep-nnz", "0.9", "--start-keep", "0.5"));
        assertFails(shorthand, 2, "--start-keep: value: 0.5 is below the NNZ target");
        assertFalse(shorthand.err().contains("--start-keep-nnz"), shorthand.err());
        assertFails(run(fileArgs("--method", "falcon++", "--keep-flops", "0.5", "--start-keep-nnz", "0.9")), 2, "--start-keep-nnz", "no NNZ budget");
        assertFails(run(fileArgs("--method", "falcon++", "--keep-nnz", "0.5", "--start-keep-flops", "0.9")), 2, "--start-keep-flops", "no FLOP budget");
        assertFails(run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--linear-term", wFile.toString(),
                "--out", outDir.resolve("p.npy").toString()), 2, "--linear-term", "--grads");
        // without X lambda enters no objective: a value given was dropped unread
        for (String o : List.of("--lambda", "--lambda-convention")) {
            assertFails(run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--method", "mp", o,
                    o.equals("--lambda") ? "0.01" : "falcon", "--out", outDir.resolve("p.npy").toString()), 2, o, "needs gradients");
        }
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "0")), 2, "--stages");
        // more stages than falcon++ takes ran on for days (one solve each), printing only the elapsed time
        for (String t : List.of("1000000000", "100000", String.valueOf(PruneCommand.MAX_STAGES + 1))) {
            assertFails(run(fileArgs("--method", "falcon++", "--stages", t)), 2, "--stages", "more than the 10,000");
        }
        // one stage, or const stages, run at the final budgets: a start level or schedule given there was dropped unread
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "1", "--start-keep", "0.8")), 2, "--start-keep", "--stages 1");
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "1", "--schedule", "exp")), 2, "--schedule", "--stages 1");
        assertFails(run(fileArgs("--method", "falcon++", "--schedule", "const", "--start-keep-flops", "0.8")), 2, "--start-keep-flops", "const");
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "1", "--grads-command", "cp {weights} {grads}")), 2, "--grads-command", "--stages 1");
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "2", "--grads-command", "cp {weights} {grads}")), 2, "--grads-command",
                "never run", "--stages 3");
        assertFails(run(fileArgs("--method", "falcon++", "--schedule", "cosine")), 2, "--schedule", "poly");
        assertFails(run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--method", "falcon",
                "--out", outDir.resolve("p.npy").toString()), 2, "--grads", "falcon");
        assertFails(run(fileArgs("--method", "magnitude", "--backsolve")), 2, "--backsolve", "mp, falcon and falcon++");
        assertFails(run(fileArgs("--method", "falcon", "--backsolve", "fast")), 2, "--backsolve", "exact, block");
        assertFails(run(fileArgs("--method", "falcon", "--hessian", "full")), 2, "--hessian");
        assertFails(run(fileArgs("--method", "falcon", "--block-size", "0")), 2, "--block-size");
        assertFails(run(fileArgs("--method", "obs")), 2, "--method", "magnitude, mp");
        assertFails(run("prune", "--example", "vgg", "--out", outDir.resolve("p.npy").toString()), 2, "vgg", "resnet20");
        assertFails(run("prune", "--example", "resnet20", "--weights", wFile.toString()), 2, "--weights", "--example");
        assertFails(run("prune", "--weights", wFile.toString()), 2, "--layers");
        // a path without a file name is an input error, not an internal one (the run's name comes from it)
        assertFails(run("prune", "--weights", "/", "--layers", layersFile.toString()), 2, "--weights", "/: file:");
        assertFails(run("prune"), 2, "--example");
        assertFails(run("prune", "--bogus"), 2, "--bogus");
        assertFails(run(fileArgs("--device", "cuda")), 2, "cuda");
        assertEquals(2, run("frobnicate").code());
    }

    /**
     * An option the method never reads had its value checked first: `--method mp --max-iterations -1` was refused with
     * "e.g. --max-iterations 100", and that command again, now for the option not applying (`--method falcon --stages
     * 20000` spoke of "the 10,000 falcon++ takes"). The one refusal is the one that names the real problem.
     */
    @Test
    void anOptionThatDoesNotApplyIsRefusedBeforeItsValueIsChecked() throws IOException {
        String[][] refused = {{"falcon", "--stages", "20000"}, {"magnitude", "--stages", "0"}, {"mp", "--max-iterations", "-1"},
            {"mp", "--rounds", "0"}, {"mp", "--block-size", "0"}, {"mp", "--start-keep", "2"}, {"falcon", "--start-keep-flops", "0"},
            {"mp", "--start-keep-nnz", "1.5"}, {"mp", "--tolerance", "-1"}, {"magnitude", "--stable-iterations", "-1"},
            {"mp", "--swap-candidates", "-1"}, {"falcon", "--schedule", "cosine"}, {"mp", "--hessian", "full"}};
        for (String[] r : refused) {
            Run run = run(fileArgs("--method", r[0], r[1], r[2]));
            assertFails(run, 2, r[1] + ": option: ");
            assertFalse(run.err().contains(": value: "), String.join(" ", r) + ": " + run.err());
        }
        // nor where another option makes it unread: --stages 1 reads no schedule, --max-iterations 0 no --hessian
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "1", "--schedule", "cosine")), 2, "--schedule: option: does not apply with --stages 1");
        assertFails(run(fileArgs("--method", "falcon", "--max-iterations", "0", "--hessian", "full")), 2, "--hessian: option: does not apply");
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "1", "--grads-command", "cp a b")), 2, "--grads-command: option: does not apply with --stages 1");
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "1", "--grads-command", "cp {weights} {grads}", "--grads-command-timeout", "soon")),
                2, "--grads-command: option: does not apply with --stages 1");
        // without X lambda enters no objective, whatever its value
        assertFails(run("prune", "--weights", wFile.toString(), "--layers", layersFile.toString(), "--method", "mp", "--lambda", "-1",
                "--out", outDir.resolve("p.npy").toString()), 2, "--lambda: option: needs gradients");
        // a value out of range is still refused where the option is read
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "20000")), 2, "--stages: value: is 20,000, more than the 10,000 falcon++ takes");
        assertFails(run(fileArgs("--method", "falcon", "--max-iterations", "-1")), 2, "--max-iterations: value: ");
        assertFails(run(fileArgs("--method", "mp", "--backsolve", "block", "--block-size", "0")), 2, "--block-size: value: ");
    }

    /**
     * SolverOptions refuses these values too, naming its Java fields ("SolverOptions.maxRounds: is 0, ..."): a user who
     * typed --rounds 0 must be told about --rounds, so the CLI checks them before it makes its options.
     */
    @Test
    void solverOptionValuesAreRefusedByTheirCliNames() throws IOException {
        String[][] refused = {{"--max-iterations", "-1"}, {"--tolerance", "-1"}, {"--block-size", "0"},
            {"--rounds", "0"}, {"--swap-candidates", "-1"}, {"--stable-iterations", "-1"}};
        for (String[] r : refused) {
            Run run = run(fileArgs("--method", "falcon", r[0], r[1]));
            assertFails(run, 2, r[0] + ": value: is ");
            assertFalse(run.err().contains("SolverOptions"), String.join(" ", r) + ": " + run.err());
        }
    }

    /**
     * The swap search and the swap polish start from backsolved points, so with --backsolve none neither runs: a
     * --swap-candidates given there was dropped unread, with exit 0, where the README promises that an option the method
     * never reads is refused.
     */
    @Test
    void swapCandidatesWithoutABacksolveAreRefused() throws IOException {
        for (String method : List.of("falcon", "falcon++")) {
            assertFails(run(fileArgs("--method", method, "--backsolve", "none", "--swap-candidates", "8")), 2,
                    "--swap-candidates", "--backsolve none");
        }
        Run swapsOff = run(fileArgs("--method", "falcon", "--backsolve", "none", "--max-iterations", "2"));
        assertEquals(0, swapsOff.code(), swapsOff.err());
    }

    /**
     * With --hessian exact and --backsolve exact or none no block is read, and the java and cuda backends keep X
     * column-major: --block-size 500 gave the weights and the report of --block-size 2000, with exit 0, where the README
     * promises that an option the method never reads is refused. On cpu it still sets the width of X's panels, and the
     * summary and the report say that this is all it changed; for a float32 Fortran-order X, mapped in place, they say
     * that it was not read.
     */
    @Test
    void blockSizeIsRefusedWhereNoBlockIsRead() throws IOException {
        for (String[] exactModel : new String[][] {{"--method", "falcon"}, {"--method", "falcon", "--backsolve", "none"},
                {"--method", "falcon++", "--stages", "3"}, {"--method", "mp", "--backsolve"}}) {
            List<String> args = new ArrayList<>(List.of(exactModel));
            args.addAll(List.of("--block-size", "5"));
            assertFails(run(fileArgs(args.toArray(String[]::new))), 2, "--block-size: option: is not read here", "the java backend keeps X column-major",
                    "--backsolve block|sweep");
        }
        for (String[] blockModel : new String[][] {{"--method", "falcon", "--hessian", "block"}, {"--method", "falcon", "--backsolve", "block"},
                {"--method", "mp", "--backsolve", "sweep"}}) {
            List<String> args = new ArrayList<>(List.of(blockModel));
            args.addAll(List.of("--max-iterations", "2", "--block-size", "5"));
            if (blockModel[1].equals("mp")) args.subList(args.size() - 4, args.size() - 2).clear();
            Run r = run(fileArgs(args.toArray(String[]::new)));
            assertEquals(0, r.code(), String.join(" ", blockModel) + ": " + r.err());
        }

        // cpu: a C-order X is cut into panels of --block-size, a float32 Fortran-order one is mapped as it is
        List<String> cpu = new ArrayList<>(List.of(with(fileArgs("--method", "falcon", "--max-iterations", "2", "--block-size", "5"), "--device", "cpu")));
        cpu.remove("--quiet");
        Run panels = run(cpu.toArray(String[]::new));
        assertEquals(0, panels.code(), panels.err());
        assertTrue(panels.out().contains("--block-size 5 sets only the width of X's panels on the cpu backend"), panels.out());
        String note = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/block_size_note").asText();
        assertTrue(note.startsWith("--block-size 5 sets only the width of X's panels"), note);
        deleteOutputs();

        Path fortran = dir.resolve("XF.npy");
        String header = FORTRAN_X_HEADER;
        header = header + " ".repeat(63 - (10 + header.length()) % 64) + "\n"; // the data starts on a 64-byte boundary, as numpy pads it
        writeFortranX(fortran, header, 3);
        // the file's order, not the command line, decides here: the same command is right for a C-order file, so the run
        // goes on and says that the option was not read
        Run mapped = run(with(cpu.toArray(String[]::new), "--grads", fortran.toString()));
        assertEquals(0, mapped.code(), mapped.err());
        assertTrue(mapped.out().contains("--block-size 5 is not read: --hessian exact and --backsolve exact read no blocks, and X (" + fortran
                + ") is float32 in Fortran order, which the cpu backend maps in place"), mapped.out());
        assertTrue(new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/block_size_note").asText()
                .startsWith("--block-size 5 is not read"));
        // --help said the option was "refused ... for an X mapped in place", where the run above goes on
        String help = run("prune", "--help").out().replaceAll("\\s+", " ");
        String blockSize = help.substring(help.indexOf("--block-size=N "), help.indexOf("--rounds=N "));
        assertTrue(blockSize.contains("mapped in place") && !blockSize.matches(".*refused[^;]*mapped in place.*"), blockSize);
    }

    /** The dictionary of a v1 .npy header of a float32 Fortran-order N x P X, before its padding. */
    private static final String FORTRAN_X_HEADER = "{'descr': '<f4', 'fortran_order': True, 'shape': (" + N + ", " + P + "), }";

    /**
     * Writes a v1 .npy file by hand with the given padded header (numpy's own writer pads to 64 bytes; the tests need
     * other offsets too) and N x P Gaussian float32 values from {@code seed}.
     */
    private static void writeFortranX(Path file, String paddedHeader, long seed) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(10 + paddedHeader.length() + 4 * N * P).order(ByteOrder.LITTLE_ENDIAN);
        bytes.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.ISO_8859_1)).put((byte) 1).put((byte) 0).putShort((short) paddedHeader.length())
                .put(paddedHeader.getBytes(StandardCharsets.ISO_8859_1));
        java.util.Random random = new java.util.Random(seed);
        for (int i = 0; i < N * P; i++) bytes.putFloat((float) random.nextGaussian());
        Files.write(file, bytes.array());
    }

    /**
     * A float32 Fortran-order X whose data starts off a float boundary (a v1 header padded by hand to 125 bytes: numpy loads
     * it) is copied, not mapped: nothing said so, and the memory refusal told to store it as what it already is.
     */
    @Test
    void anUnalignedFortranFloat32XIsSaidToBeCopiedAndWhy() throws IOException {
        Path odd = dir.resolve("Xodd.npy");
        String header = FORTRAN_X_HEADER;
        header = header + " ".repeat(124 - header.length()) + "\n";
        writeFortranX(odd, header, 5);
        List<String> args = new ArrayList<>(List.of(with(with(fileArgs("--method", "mp"), "--device", "cpu"), "--grads", odd.toString())));
        Run quiet = run(args.toArray(String[]::new));
        assertEquals(0, quiet.code(), quiet.err());
        assertTrue(!quiet.err().contains("byte 135"), quiet.err());
        deleteOutputs();
        args.remove("--quiet");
        Run told = run(args.toArray(String[]::new));
        assertEquals(0, told.code(), told.err());
        assertTrue(told.err().contains("falcon: X (" + odd + ") is float32 in Fortran order, but its data starts at byte 135, not on a"
                + " 4-byte boundary, so it is copied rather than mapped in place: re-save it with np.save, which aligns the data"), told.err());
        String storage = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/inputs/x_storage").asText();
        assertTrue(!storage.contains("mapped"), storage);
    }

    /**
     * The java backend is the single-threaded reference: --threads 2 there gave the weights and the report of --threads 1
     * (both "1 thread"), with exit 0, where the README promises that an option that is not read is refused.
     */
    @Test
    void threadsAreRefusedOnTheSingleThreadedJavaBackend() throws IOException {
        assertFails(run(fileArgs("--threads", "2")), 2, "--threads: option: is not read by the java backend", "one thread", "--device cpu");
        Run cpu = run(with(fileArgs("--threads", "2"), "--device", "cpu"));
        assertEquals(0, cpu.code(), cpu.err());
    }

    /**
     * On --device java an out-of-range --threads (0, or above 4 per processor) was told "omit it to use every processor",
     * read as a call for --threads 1, which the java backend refuses in turn. There it is told to drop it, which runs; on
     * cpu, where every processor is what omitting it gives, the advice is as before.
     */
    @Test
    void anOutOfRangeThreadsIsToldWhatWorksOnTheBackendAskedFor() throws IOException {
        for (String threads : List.of("0", "100000")) {
            Run java = run(fileArgs("--threads", threads));
            assertFails(java, 2, "--threads: value: is " + threads, "drop it: the java backend runs on one thread and reads no --threads");
            assertFalse(java.err().contains("every processor"), java.err());
        }
        assertFails(run(with(fileArgs("--threads", "0"), "--device", "cpu")), 2, "--threads: value: is 0", "omit it to use every processor");
        Run dropped = run(fileArgs());
        assertEquals(0, dropped.code(), dropped.err());
    }

    /**
     * A --device the backends read as java (trimmed, any case: "java " from a file with a trailing space or CR) is java
     * asked for by name to the CLI's checks too: compared raw, --threads 0 there was told "omit it to use every processor",
     * and --threads 2 or --block-size only warned of, where --device java refuses them.
     */
    @Test
    void aDeviceNameTheBackendsTrimOrLowerIsTheBackendAskedFor() throws IOException {
        for (String java : List.of("java ", " JAVA", "Java\r")) {
            Run zero = run(with(fileArgs("--threads", "0"), "--device", java));
            assertFails(zero, 2, "--threads: value: is 0", "drop it: the java backend runs on one thread and reads no --threads");
            assertFalse(zero.err().contains("every processor"), zero.err());
            assertFails(run(with(fileArgs("--threads", "2"), "--device", java)), 2, "--threads: option: is not read by the java backend", "--device cpu");
            assertFails(run(with(fileArgs("--method", "falcon", "--block-size", "5"), "--device", java)), 2, "--block-size: option: is not read here", "the java backend keeps X column-major");
        }
    }

    /**
     * Where auto falls back to java because cpu cannot load (here: a JVM whose class path lacks falcon-cpu), a script's
     * --threads or --block-size is right for the machines where cpu loads; the run goes on and says they were not read.
     */
    @Test
    void optionsOnlyCpuReadsReachingJavaThroughAutoAreAWarningNotARefusal() throws Exception {
        String withoutCpu = java.util.Arrays.stream(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
                .filter(e -> !e.contains("falcon-cpu") && !e.contains("/java/cpu/")).collect(java.util.stream.Collectors.joining(java.io.File.pathSeparator));
        assertNotEquals(System.getProperty("java.class.path"), withoutCpu, "falcon-cpu is on the test class path");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", withoutCpu, Main.class.getName()));
        // --block-size with the exact model, which only the cpu backend's panels read, goes the same way
        List<String> args = new ArrayList<>(List.of(fileArgs("--threads", "2", "--method", "falcon", "--max-iterations", "2", "--block-size", "5")));
        int at = args.indexOf("--device");
        args.subList(at, at + 2).clear();
        args.remove("--quiet");
        cmd.addAll(args);
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, child.exitValue(), said);
        assertTrue(said.contains("warning: --threads 2 is not read by the java backend"), said);
        assertTrue(said.contains("--block-size 5 is not read: --hessian exact and --backsolve exact read no blocks, and the java backend keeps X column-major"), said);
        assertTrue(Files.exists(outDir.resolve("p.npy")), said);
    }

    /**
     * --start-keep sets the levels the specific options leave unset, of budgets that are scheduled: with both specific
     * options, or the specific one of the only budget below dense, --start-keep 0.7 and 0.95 gave the same weights and
     * report, with exit 0, where the README promises that an option that is not read is refused.
     */
    @Test
    void startKeepIsRefusedWhereTheSpecificLevelsLeaveItNothing() throws IOException {
        assertFails(run(fileArgs("--method", "falcon++", "--keep-flops", "0.3", "--keep-nnz", "0.9", "--start-keep-flops", "0.8",
                "--start-keep-nnz", "0.95", "--start-keep", "0.9")), 2, "--start-keep: option: is not read",
                "--start-keep-flops gives the FLOP level and --start-keep-nnz gives the NNZ level", "drop it");
        assertFails(run(fileArgs("--method", "falcon++", "--keep-flops", "0.3", "--start-keep-flops", "0.8", "--start-keep", "0.9")), 2,
                "--start-keep: option: is not read", "--start-keep-flops gives the FLOP level and there is no NNZ budget to schedule");
        Run read = run(fileArgs("--method", "falcon++", "--keep-flops", "0.3", "--keep-nnz", "0.9", "--start-keep-flops", "0.8",
                "--start-keep", "0.95", "--max-iterations", "2"));
        assertEquals(0, read.code(), "--start-keep gives the NNZ level here: " + read.err());
    }

    /**
     * With --max-iterations 0 no DFO iteration runs, and the rounds only backsolve and search: --hessian exact and block,
     * or --stable-iterations 0 and 3, gave the same weights and report (and --tolerance too with --rounds 1, since it
     * ends only iterations and rounds after the first), with exit 0, where the README promises that an option that is
     * not read is refused.
     */
    @Test
    void optionsOfTheDfoIterationsAreRefusedWithoutIterations() throws IOException {
        for (String method : List.of("falcon", "falcon++")) {
            assertFails(run(fileArgs("--method", method, "--max-iterations", "0", "--hessian", "block")), 2,
                    "--hessian: option: does not apply with --max-iterations 0", "--max-iterations 1 or more");
            assertFails(run(fileArgs("--method", method, "--max-iterations", "0", "--stable-iterations", "1")), 2,
                    "--stable-iterations: option: does not apply with --max-iterations 0");
            assertFails(run(fileArgs("--method", method, "--max-iterations", "0", "--rounds", "1", "--tolerance", "0.5")), 2,
                    "--tolerance: option: does not apply with --max-iterations 0 and --rounds 1", "--rounds 2 or more");
        }
        Run roundsRead = run(fileArgs("--method", "falcon", "--max-iterations", "0", "--rounds", "2", "--tolerance", "0.5"));
        assertEquals(0, roundsRead.code(), "--tolerance ends the rounds after the first: " + roundsRead.err());
    }

    /**
     * With two stages, stage 0 runs at the start levels and stage 1 at the final budgets whatever the shape of the
     * schedule: --schedule poly, linear and exp gave the same weights and report, with exit 0, where the README promises
     * that an option that is not read is refused. const is read there: it moves stage 0 to the final budgets.
     */
    @Test
    void aScheduleShapeIsRefusedWithTwoStages() throws IOException {
        for (String schedule : List.of("linear", "exp", "poly")) {
            assertFails(run(fileArgs("--method", "falcon++", "--stages", "2", "--schedule", schedule)), 2,
                    "--schedule: option: does not apply with --stages 2", "--stages 3 or more");
            assertFails(run(fileArgs("--method", "falcon++", "--stages", "2", "--start-keep", "0.6", "--schedule", schedule)), 2,
                    "--schedule: option: does not apply with --stages 2");
        }
        Run constant = run(fileArgs("--method", "falcon++", "--stages", "2", "--schedule", "const", "--max-iterations", "2"));
        assertEquals(0, constant.code(), constant.err());
        Run three = run(fileArgs("--method", "falcon++", "--stages", "3", "--schedule", "exp", "--max-iterations", "2"));
        assertEquals(0, three.code(), three.err());
    }

    /**
     * At --stages 2 a start level, --grads-command or a per-stage pattern with --schedule const was refused with "choose
     * poly, linear or exp" (or "use --schedule poly, linear or exp"), and each of those was then refused for --schedule with
     * --stages 2: the advice sent the user from one refusal to the next. It says to drop --schedule const, with a start level
     * below 1 where the command needs one, and the command it describes runs.
     */
    @Test
    void theAdviceAwayFromAConstantScheduleAtTwoStagesRunsAsWritten() throws IOException {
        String cmd = "test -s {weights} && cp '" + xFile + "' {grads}";
        for (int t = 0; t < 2; t++) Files.copy(xFile, dir.resolve("X_" + t + ".npy"));
        String pattern = dir.resolve("X_{t}.npy").toString();
        List<String[]> refused = List.of(
                fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--schedule", "const", "--start-keep", "0.6"),
                fileArgs("--keep-flops", "0.4", "--keep-nnz", "0.8", "--method", "falcon++", "--stages", "2", "--schedule", "const", "--start-keep-nnz", "0.9"),
                fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--schedule", "const", "--start-keep", "0.6", "--grads-command", cmd),
                fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--schedule", "const", "--grads-command", cmd),
                with(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--schedule", "const"), "--grads", pattern));
        for (String[] asked : refused) {
            Run r = run(asked);
            assertFails(r, 2, "--schedule const", "drop --schedule const");
            assertFalse(r.err().contains("poly, linear or exp"), "--stages 2 refuses each of them for --schedule: " + r.err());
            List<String> followed = new ArrayList<>(List.of(asked));
            int at = followed.indexOf("--schedule");
            followed.subList(at, at + 2).clear();
            if (r.err().contains("give a --start-keep below 1")) followed.addAll(List.of("--start-keep", "0.6"));
            Run taken = run(followed.toArray(String[]::new));
            assertEquals(0, taken.code(), followed + ": " + taken.err());
            try (Stream<Path> files = Files.walk(outDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /**
     * With --max-iterations 0 and --backsolve none no round runs a DFO iteration or a backsolve (falcon gives mp's
     * weights): --rounds 1 and 3, or --tolerance 1e-6 and 0.5, gave the same weights and report, with exit 0, where the
     * README promises that an option that is not read is refused.
     */
    @Test
    void optionsOfTheRoundsAreRefusedWhereNoRoundRunsAnything() throws IOException {
        for (String method : List.of("falcon", "falcon++")) {
            for (String[] option : new String[][] {{"--rounds", "3"}, {"--tolerance", "0.5"}}) {
                assertFails(run(fileArgs("--method", method, "--max-iterations", "0", "--backsolve", "none", option[0], option[1])), 2,
                        option[0] + ": option: does not apply with --max-iterations 0 and --backsolve none", "--max-iterations 1 or more");
            }
        }
        Run nothingToRun = run(fileArgs("--method", "falcon", "--max-iterations", "0", "--backsolve", "none"));
        assertEquals(0, nothingToRun.code(), nothingToRun.err());
    }

    /**
     * An empty --device (an unset shell variable: --device "$DEV"), --backend or -Dfalcon.backend= was taken as auto and
     * ran on whatever backend came first; it is bad usage naming the option and the accepted values.
     */
    /**
     * PruneCommand.typedName scanned picocli's original arguments on its own, so --backend bogus inside an @argfile was
     * refused as "--device: ..."; it now reads the names as Main does, over the expanded arguments.
     */
    @Test
    void aBackendNamedInAnArgumentFileIsRefusedUnderThatName() throws IOException {
        Path file = dir.resolve("backend-args.txt");
        Files.writeString(file, "--backend\nbogus\n");
        List<String> args = new ArrayList<>(List.of(fileArgs()));
        args.subList(args.indexOf("--device"), args.indexOf("--device") + 2).clear();
        args.add("@" + file);
        Run r = run(args.toArray(String[]::new));
        assertFails(r, 2, "--backend: ", "bogus");
        assertFalse(r.err().contains("--device: "), r.err());
    }

    @Test
    void anEmptyBackendNameIsRefusedNamingTheAcceptedValues() throws IOException {
        for (String[] option : new String[][] {{"--device", ""}, {"--backend", " "}}) {
            List<String> args = new ArrayList<>(List.of(fileArgs()));
            args.subList(args.indexOf("--device"), args.indexOf("--device") + 2).clear();
            args.addAll(List.of(option));
            assertFails(run(args.toArray(String[]::new)), 2, option[0] + ": ", "empty", "cuda, cpu, java, auto");
        }
        // the name the user typed, not picocli's first name of the option
        for (String option : List.of("--backend", "--device")) {
            List<String> args = new ArrayList<>(List.of(fileArgs()));
            args.subList(args.indexOf("--device"), args.indexOf("--device") + 2).clear();
            args.add(option + "=bogus");
            Run r = run(args.toArray(String[]::new));
            assertFails(r, 2, option + ": ", "bogus");
            String other = option.equals("--device") ? "--backend" : "--device";
            assertFalse(r.err().contains(other + ": "), r.err());
        }
        String[] withoutDevice = java.util.Arrays.stream(fileArgs()).filter(a -> !a.equals("--device") && !a.equals("java")).toArray(String[]::new);
        System.setProperty(dev.falcon.backend.Backends.PROPERTY, "");
        try {
            Run r = run(withoutDevice);
            assertFails(r, 2, "-Dfalcon.backend", "empty", "cuda, cpu, java, auto");
            assertFalse(r.err().contains("--device: "), r.err());
        } finally {
            System.clearProperty(dev.falcon.backend.Backends.PROPERTY);
        }
    }

    /**
     * env exited 0 for a -Dfalcon.backend that prune refuses with exit 2 ("unknown backend 'bogus'" on stdout among the
     * facts, and an empty one, which README says is refused, too), while a FALCON_CPU_ISA it refuses was exit 2 with an
     * error line: the same here, with the rest of the report still shown.
     */
    @Test
    void envRefusesABackendPropertyThatPruneRefuses() {
        String[] withoutDevice = java.util.Arrays.stream(fileArgs()).filter(a -> !a.equals("--device") && !a.equals("java")).toArray(String[]::new);
        for (String value : List.of("bogus", "", " ")) {
            System.setProperty(dev.falcon.backend.Backends.PROPERTY, value);
            try {
                assertEquals(2, run(withoutDevice).code(), "prune refuses -Dfalcon.backend='" + value + "'");
                Run env = run("env");
                assertEquals(2, env.code(), "'" + value + "': " + env.all());
                assertTrue(env.err().startsWith("falcon: error: -Dfalcon.backend: "), env.err());
                assertTrue(env.err().contains(value.isBlank() ? "empty" : "unknown backend 'bogus'"), env.err());
                assertEquals(1, env.err().lines().count(), env.err());
                assertTrue(env.out().contains("java   priority   0  usable"), "the rest is still shown: " + env.out());
                assertTrue(env.out().contains("-Dfalcon.backend=" + value + " (prune's default while it is set): refused: see the error below"),
                        env.out());
            } finally {
                System.clearProperty(dev.falcon.backend.Backends.PROPERTY);
            }
        }
        System.setProperty(dev.falcon.backend.Backends.PROPERTY, "java");
        try {
            Run env = run("env");
            assertEquals(0, env.code(), env.all());
            assertTrue(env.out().contains("-Dfalcon.backend=java (prune's default while it is set): backend java chosen as requested"), env.out());
        } finally {
            System.clearProperty(dev.falcon.backend.Backends.PROPERTY);
        }
    }

    /**
     * The report's backend.requested said "java (default)" for a backend forced with -Dfalcon.backend=java: " (default)"
     * was added whenever --device was absent, even where the property supplied the name.
     */
    @Test
    void aBackendForcedByThePropertyIsReportedAsForcedNotAsTheDefault() throws IOException {
        String[] withoutDevice = java.util.Arrays.stream(fileArgs()).filter(a -> !a.equals("--device") && !a.equals("java")).toArray(String[]::new);
        Path report = outDir.resolve("r.json");
        System.setProperty(dev.falcon.backend.Backends.PROPERTY, "java");
        try {
            assertEquals(0, run(withoutDevice).code());
            assertEquals("java (-Dfalcon.backend)", new ObjectMapper().readTree(report.toFile()).at("/backend/requested").textValue());
        } finally {
            System.clearProperty(dev.falcon.backend.Backends.PROPERTY);
        }
        assertEquals(0, run(fileArgs()).code());
        assertEquals("java", new ObjectMapper().readTree(report.toFile()).at("/backend/requested").textValue());
    }

    /** A backend named by -Dfalcon.backend (FALCON_JAVA_OPTS) is reported as that property, not as --device. */
    @Test
    void aBadBackendPropertyIsNamedAsThePropertyNotAsDevice() throws IOException {
        String[] withoutDevice = java.util.Arrays.stream(fileArgs()).filter(a -> !a.equals("--device") && !a.equals("java")).toArray(String[]::new);
        System.setProperty(dev.falcon.backend.Backends.PROPERTY, "tpu");
        try {
            Run r = run(withoutDevice);
            assertFails(r, 2, "-Dfalcon.backend", "unknown backend 'tpu'");
            assertFalse(r.err().contains("--device: "), r.err());
            // the CLI names the property in its label: the API's "the system property falcon.backend names" would say it twice
            assertTrue(r.err().contains("-Dfalcon.backend: value: unknown backend 'tpu'; available: "), r.err());
            List<String> explicitDevice = new ArrayList<>(List.of(withoutDevice));
            explicitDevice.addAll(List.of("--device", "tpu2"));
            Run explicit = run(explicitDevice.toArray(String[]::new));
            assertFails(explicit, 2, "--device: ", "unknown backend 'tpu2'");
            assertFalse(explicit.err().contains("-Dfalcon.backend"), "--device given: the option is named, " + explicit.err());
            // env refuses it as prune does (exit 2), naming the property once, in the error line
            Run env = run("env");
            assertEquals(2, env.code(), env.all());
            assertTrue(env.out().contains("-Dfalcon.backend=tpu (prune's default while it is set): refused: see the error below"), env.out());
            assertTrue(env.err().contains("falcon: error: -Dfalcon.backend: value: unknown backend 'tpu'; available: "), env.err());
            assertFalse(env.err().contains("system property"), env.err());
            System.setProperty(dev.falcon.backend.Backends.PROPERTY, "java");
            Run envJava = run("env");
            assertTrue(envJava.out().contains("-Dfalcon.backend=java (prune's default while it is set): backend java"), envJava.out());
        } finally {
            System.clearProperty(dev.falcon.backend.Backends.PROPERTY);
        }
    }

    /**
     * -Dfalcon.memory.available went through Double.parseDouble, which takes Java's literal suffixes and hex floats: "2d"
     * was 2 bytes and "0x1p30" 1 GiB, so prune refused for memory naming no option; and (long) saturated "1e30t" to
     * 8388608 TiB. Both are refused, naming the property; sizes as documented still read.
     */
    @Test
    void theMemoryPropertyTakesSizesOnly() {
        try {
            for (String notASize : List.of("2d", "1f", "0x1p30", "1e3d", "-1", "NaN", "Infinity")) {
                System.setProperty(SystemInfo.MEMORY_PROPERTY, notASize);
                Run r = run("env");
                assertEquals(2, r.code(), notASize + ": " + r.all());
                assertTrue(r.err().contains("-Dfalcon.memory.available: value: '" + notASize + "' is not a size"), r.err());
            }
            System.setProperty(SystemInfo.MEMORY_PROPERTY, "1e30t");
            Run huge = run("env");
            assertEquals(2, huge.code(), huge.all());
            assertTrue(huge.err().contains("'1e30t' is beyond the 9223372036854775807 bytes a size can be"), huge.err());
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
        assertEquals(600L << 20, SystemInfo.parseBytes("600m"));
        assertEquals(3L << 29, SystemInfo.parseBytes("1.5G"));
        assertEquals(123456, SystemInfo.parseBytes("123456"));
        assertEquals(1_000_000_000, SystemInfo.parseBytes("1e9"));
        assertEquals(1L << 29, SystemInfo.parseBytes(".5gb"));
        assertEquals(0, SystemInfo.parseBytes("0"));
    }

    /** env is what a user runs to see why prune fails: a bad memory property stopped it before the backends, a blank one was named as the source. */
    @Test
    void envListsEverythingWhateverTheMemoryPropertyHolds() {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "abc");
        try {
            Run bad = run("env");
            assertEquals(2, bad.code(), bad.all());
            assertTrue(bad.out().contains("available unknown") && bad.out().contains("backends (highest priority first)")
                    && bad.out().contains("--device auto: "), bad.out());
            assertTrue(bad.err().contains("-Dfalcon.memory.available") && bad.err().contains("'abc' is not a size"), bad.err());
            System.setProperty(SystemInfo.MEMORY_PROPERTY, " ");
            Run blank = run("env");
            assertEquals(0, blank.code(), blank.all());
            assertFalse(blank.out().contains("(from -D"), "a blank property is ignored, not the source: " + blank.out());
            System.setProperty(SystemInfo.MEMORY_PROPERTY, "3g");
            assertTrue(run("env").out().contains("available 3.0 GiB (from -Dfalcon.memory.available)"));
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /**
     * A resnet20 run too large for the memory was offered "--example mobilenetv1 --n 15" as an option that fits: a larger
     * model at fewer rows is no alternative to the one asked for. Only smaller examples are offered (resnet20 for resnet50).
     */
    @Test
    void aMemoryRefusalOffersOnlySmallerExamples() throws IOException {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "1g");
        try {
            Run r = run("prune", "--example", "resnet20", "--n", "2000", "--method", "falcon", "--out", outDir.resolve("p.npy").toString(),
                    "--report", outDir.resolve("r.json").toString(), "--quiet");
            assertFails(r, 2, "memory: estimate", "--n ");
            assertFalse(r.err().contains("--example"), "no other example is smaller than resnet20: " + r.err());
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    @Test
    void refusesRunsThatDoNotFitInMemory() throws IOException {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "600m");
        try {
            Run r = run("prune", "--example", "resnet50", "--n", "200", "--device", "java", "--out", outDir.resolve("p.npy").toString(),
                    "--report", outDir.resolve("r.json").toString());
            assertFails(r, 2, "memory", "600.0 MiB", "--example resnet20 --n 128");
            System.setProperty(SystemInfo.MEMORY_PROPERTY, "2g");
            // 8 since mp's selection mask (a byte per weight on the heap, 24 MiB here) and the runtime's live heap are counted: 9 before
            assertFails(run("prune", "--example", "resnet50", "--n", "200", "--device", "java", "--out", outDir.resolve("p.npy").toString()),
                    2, "2.0 GiB", "--n 8 ");
            Run files = run(fileArgs());
            assertEquals(0, files.code(), files.err()); // tiny inputs fit
            // the way out offered must work for the method asked: falcon cannot drop X, mp can
            deleteOutputs();
            // room for the selection without X (java keeps 8 more bytes per weight on the heap, and mp's selection its mask,
            // a byte per weight, beside the runtime's own live heap), its heap held to the least FALCON_HEAP that holds it
            // as every offer is, and less than X
            long mib16 = 16L << 20;
            long leastHeapLimit = Math.max(MemoryPlan.MIN_HEAP_LIMIT, ((8 + 1) * P + MemoryPlan.RUNTIME_LIVE_HEAP + mib16 - 1) / mib16 * mib16);
            long selectionAlone = MemoryPlan.RUNTIME + MemoryPlan.BYTES_PER_WEIGHT * P + leastHeapLimit;
            System.setProperty(SystemInfo.MEMORY_PROPERTY, String.valueOf(selectionAlone + 64));
            assertFails(run(fileArgs("--method", "falcon")), 2, "memory", "--method mp without --backsolve and without --grads");
            // mp with X is planned at its live heap (the selection's mask and the runtime's), below that least limit: an X
            // that does not fit beside it is one larger than the difference
            int rows = (int) (leastHeapLimit / (4L * P)) + 1;
            assertFails(run(with(fileArgs("--method", "mp"), "--grads", tallX(rows).toString())), 2, "memory", "drop --grads");
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /** An X of {@code rows} samples over the test's P weights: its n x n systems, not its size, decide the memory plan. */
    private Path tallX(int rows) throws IOException {
        Path tall = dir.resolve("Xtall.npy");
        try (FloatPointer v = values(rows * P, 5)) {
            Npy.writeFloat32(tall, v, new long[] {rows, P});
        }
        return tall;
    }

    /** Empties the output directory, so that the next run's outputs are its own. */
    private void deleteOutputs() throws IOException {
        try (Stream<Path> written = Files.walk(outDir)) {
            for (Path f : written.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }

    /**
     * Exact is the default backsolve where memory allows. Its n x n systems (the swap polish's, then 72 bytes per n^2) were
     * counted for every solver run: where they did not fit, falcon was refused even though the block-diagonal backsolve's
     * (40 per n^2) fit. Now the run takes block and says so; an explicit --backsolve exact is refused, offering block.
     */
    @Test
    void falconTakesTheBlockBacksolveWhereTheExactOneDoesNotFit() throws IOException {
        Path tall = tallX(1000);
        List<String> args = new ArrayList<>(List.of(with(fileArgs("--method", "falcon", "--keep-flops", "0.5"), "--grads", tall.toString())));
        args.remove("--quiet");
        // beside the 160 MiB runtime: exact's n x n systems and polish workspace 133 MiB, block's 55 MiB (32 MiB of it the
        // heap its backsolves fill)
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "240m");
        try {
            Run r = run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            JsonNode solver = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
            assertEquals("block", solver.at("/backsolve").asText(), solver.toString());
            String note = solver.at("/backsolve_note").asText();
            assertTrue(note.contains("instead of the default exact") && note.contains("240.0 MiB available") && note.contains("--backsolve exact"), note);
            assertTrue(r.out().contains("  note: " + note), r.out());
            // said on stderr when it is decided, once, before the progress of the run it makes slower
            String taking = "falcon: taking --backsolve block: the default exact needs about ";
            assertTrue(r.err().contains(taking) && r.err().contains("240.0 MiB available") && r.err().indexOf(taking) == r.err().lastIndexOf(taking), r.err());
            assertTrue(!r.err().contains("falcon: loading") || r.err().indexOf(taking) < r.err().indexOf("falcon: loading"), r.err());
            deleteOutputs();
            List<String> quiet = new ArrayList<>(args);
            quiet.add("--quiet");
            Run quietRun = run(quiet.toArray(String[]::new));
            assertEquals(0, quietRun.code(), quietRun.err());
            assertFalse(quietRun.err().contains("taking --backsolve block"), quietRun.err());
            deleteOutputs();
            List<String> insisting = new ArrayList<>(args);
            insisting.addAll(List.of("--backsolve", "exact"));
            assertFails(run(insisting.toArray(String[]::new)), 2, "memory", "240.0 MiB", "--backsolve block (the block-diagonal model");
            // where exact fits it stays the default, with no note
            System.setProperty(SystemInfo.MEMORY_PROPERTY, "8g");
            Run roomy = run(args.toArray(String[]::new));
            assertEquals(0, roomy.code(), roomy.err());
            JsonNode exact = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
            assertEquals("exact", exact.at("/backsolve").asText());
            assertTrue(exact.at("/backsolve_note").isMissingNode(), exact.toString());
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /**
     * mp's exact backsolve holds one Gram and its factor, falcon with --backsolve none only the Lipschitz constant's Gram,
     * and falcon with --swap-candidates 0 no swap polish: the plan charged each the polish's n x n systems and refused
     * them where they fit (here 215 MiB: 175-214 MiB with their own systems, 229 MiB as charged, 293 MiB with the polish's
     * at n = 1000).
     */
    @Test
    void runsWithoutTheSwapPolishArePlannedWithTheSystemsTheyHold() throws IOException {
        Path tall = tallX(1000);
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "215m");
        try {
            for (List<String> options : List.of(List.of("--method", "mp", "--backsolve", "exact"), List.of("--method", "falcon", "--backsolve", "none"),
                    List.of("--method", "falcon", "--swap-candidates", "0"))) {
                List<String> args = new ArrayList<>(List.of(with(fileArgs("--keep-flops", "0.5"), "--grads", tall.toString())));
                args.addAll(options);
                Run r = run(args.toArray(String[]::new));
                assertEquals(0, r.code(), options + ": " + r.err());
                deleteOutputs();
            }
            // with the swap polish (an explicit exact backsolve) the run still does not fit
            List<String> polish = new ArrayList<>(List.of(with(fileArgs("--keep-flops", "0.5", "--method", "falcon", "--backsolve", "exact"),
                    "--grads", tall.toString())));
            assertFails(run(polish.toArray(String[]::new)), 2, "memory", "215.0 MiB");
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /**
     * At n = 1000 (p = 17: X is a few KiB) mp --backsolve block needs 160 MiB of runtime and under 1 MiB of the blocks'
     * systems (layers of 12 and 5 weights), sweep 80 MiB more that the allocator keeps of the freed ones; they were charged
     * falcon's block backsolve (38.1 MiB) and the exact backsolve's swap polish (61 MiB and 72 MiB), and refused where they fit.
     */
    @Test
    void mpBlockAndSweepBacksolvesArePlannedWithTheSystemsTheyHold() throws IOException {
        Path tall = tallX(1000);
        for (String[] memoryAndMode : new String[][] {{"196m", "block"}, {"285m", "sweep"}}) {
            System.setProperty(SystemInfo.MEMORY_PROPERTY, memoryAndMode[0]);
            try {
                Run r = run(with(fileArgs("--keep-flops", "0.5", "--method", "mp", "--backsolve", memoryAndMode[1]),
                        "--grads", tall.toString()));
                assertEquals(0, r.code(), memoryAndMode[1] + ": " + r.err());
            } finally {
                System.clearProperty(SystemInfo.MEMORY_PROPERTY);
            }
        }
    }

    /**
     * The block backsolve gathers each block's columns from X (4 n width bytes) beside its systems; the plan counted the
     * systems at n^2 figures alone, right for blocks of about 2n columns. Here one layer of 20,000 weights in one block at
     * n = 100: the blocks' columns and their Gram's operand are 23 MiB, charged as 0.3 MiB, and the run was let start in
     * 180 MiB (193 MiB needed). Refused now, with rows and a --block-size that fit when followed.
     */
    @Test
    void aWideBlockIsPlannedWithTheColumnsItGathers() throws IOException {
        int wide = 20000, rows = 100;
        Path x = dir.resolve("Xwide.npy"), w = dir.resolve("wwide.npy"), layers = dir.resolve("wide.json");
        try (FloatPointer xv = values(rows * wide, 11); FloatPointer wv = values(wide, 12)) {
            Npy.writeFloat32(x, xv, new long[] {rows, wide});
            Npy.writeFloat32(w, wv, new long[] {wide});
        }
        LayersJson.write(layers, new LayerTable(List.of(new Layer("fc", new long[] {wide}, 1, 0, wide)), "test"));
        String[] args = {"prune", "--grads", x.toString(), "--weights", w.toString(), "--layers", layers.toString(), "--out",
                outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--device", "java", "--quiet",
                "--method", "mp", "--backsolve", "block", "--keep-nnz", "0.5", "--block-size", String.valueOf(wide)};
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "180m");
        try {
            Run refused = run(args);
            assertFails(refused, 2, "memory", "blocks of up to 20000 weights", "180.0 MiB");
            java.util.regex.Matcher proposal = java.util.regex.Pattern.compile("at most (\\d+) rows").matcher(refused.err());
            assertTrue(proposal.find(), refused.err());
            int fit = Integer.parseInt(proposal.group(1));
            assertTrue(fit >= 1 && fit < rows, refused.err());
            java.util.regex.Matcher narrower = java.util.regex.Pattern.compile("--block-size (\\d+) \\(the widest blocks that fit").matcher(refused.err());
            assertTrue(narrower.find(), refused.err());
            int width = Integer.parseInt(narrower.group(1));
            assertTrue(width >= 2000 && width < wide, refused.err());
            try (FloatPointer xv = values(fit * wide, 11)) {
                Npy.writeFloat32(x, xv, new long[] {fit, wide});
            }
            Run followed = run(args);
            assertEquals(0, followed.code(), "the proposed " + fit + " rows: " + followed.err());
            deleteOutputs();
            try (FloatPointer xv = values(rows * wide, 11)) {
                Npy.writeFloat32(x, xv, new long[] {rows, wide});
            }
            Run narrow = run(with(args, "--block-size", String.valueOf(width)));
            assertEquals(0, narrow.code(), "the proposed --block-size " + width + ": " + narrow.err());
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /**
     * mp --backsolve sweep over a single block (one layer of 20,000 weights, --block-size 20000) forms the same block's
     * systems every sweep, and was charged up to 80 MiB more for freed blocks of other sizes (here 23 MiB: 215 MiB
     * planned, 193 MiB without them) and refused in 200 MiB. Layers of 19,000 and 1,000 weights make two blocks, still
     * charged (213 MiB).
     */
    @Test
    void aSweepOverASingleBlockIsNotChargedFreedBlocksOfOtherSizes() throws IOException {
        int wide = 20000, rows = 100;
        Path x = dir.resolve("Xwide.npy"), w = dir.resolve("wwide.npy"), one = dir.resolve("one.json"), two = dir.resolve("two.json");
        try (FloatPointer xv = values(rows * wide, 11); FloatPointer wv = values(wide, 12)) {
            Npy.writeFloat32(x, xv, new long[] {rows, wide});
            Npy.writeFloat32(w, wv, new long[] {wide});
        }
        LayersJson.write(one, new LayerTable(List.of(new Layer("fc", new long[] {wide}, 1, 0, wide)), "test"));
        LayersJson.write(two, new LayerTable(List.of(new Layer("fc1", new long[] {19000}, 1, 0, 19000),
                new Layer("fc2", new long[] {1000}, 1, 19000, 1000)), "test"));
        String[] args = {"prune", "--grads", x.toString(), "--weights", w.toString(), "--out", outDir.resolve("p.npy").toString(), "--report",
                outDir.resolve("r.json").toString(), "--quiet", "--method", "mp", "--backsolve", "sweep", "--keep-nnz", "0.5", "--block-size",
                String.valueOf(wide), "--layers", one.toString()};
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "200m");
        try {
            Run single = run(args);
            assertEquals(0, single.code(), single.err());
            deleteOutputs();
            assertFails(run(with(args, "--layers", two.toString())), 2, "memory", "block sweeps", "200.0 MiB");
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }

    /**
     * The checksums re-read the input paths after the solve: a file replaced during the run (cp + mv over it) got the
     * replacement's SHA-256 while the result came from the original. The --grads-command between falcon++'s stages
     * replaces the weights and X by renames (the checksums are of the files the run read) and then rewrites the layer
     * table in place, which no open file undoes (refused: the data used cannot be told).
     */
    @Test
    void checksumsDescribeTheInputsTheRunReadWhenTheirPathsAreReplacedDuringIt() throws IOException {
        Path otherWeights = dir.resolve("other-w.npy"), otherX = dir.resolve("other-X.npy");
        try (FloatPointer w = values(P, 7); FloatPointer x = values(N * P, 8)) {
            Npy.writeFloat32(otherWeights, w, new long[] {P});
            Npy.writeFloat32(otherX, x, new long[] {N, P});
        }
        String weightsRead = ArrayFiles.sha256(wFile), xRead = ArrayFiles.sha256(xFile), layersRead = ArrayFiles.sha256(layersFile);
        String replace = "cp '" + otherWeights + "' '" + dir.resolve("w.tmp") + "' && mv '" + dir.resolve("w.tmp") + "' '" + wFile + "'"
                + " && cp '" + otherX + "' '" + dir.resolve("X.tmp") + "' && mv '" + dir.resolve("X.tmp") + "' '" + xFile + "'"
                + " && test -s {weights} && cp '" + otherX + "' {grads}";
        Run replaced = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--start-keep", "0.8", "--max-iterations", "5", "--grads-command", replace));
        assertEquals(0, replaced.code(), replaced.err());
        JsonNode sums = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/inputs/sha256");
        assertEquals(weightsRead, sums.at("/--weights/sha256").asText(), "--weights: the checksum of the file the run read, not its replacement's: " + sums);
        assertEquals(xRead, sums.at("/--grads/sha256").asText(), "--grads: the checksum of the file the run read, not its replacement's: " + sums);
        assertTrue(sums.at("/--weights/note").asText().contains("replaced"), sums.toString());
        assertEquals(layersRead, sums.at("/--layers/sha256").asText(), sums.toString());
        assertTrue(sums.at("/--layers/note").isMissingNode(), sums.toString());

        // the table rewritten in place, with the same bytes: its modification time moves
        try (Stream<Path> files = Files.walk(outDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        String rewrite = "cat '" + layersFile + "' > '" + dir.resolve("copy.json") + "' && cat '" + dir.resolve("copy.json") + "' > '" + layersFile
                + "' && test -s {weights} && cp '" + otherX + "' {grads}";
        assertFails(run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--start-keep", "0.8", "--max-iterations", "5", "--grads-command", rewrite)), 2,
                "--layers: " + layersFile + ": file: changed during the run, in place", "rerun with the input left as it is");
    }

    @Test
    void gradsCommandRecomputesXBetweenStages() throws IOException {
        Path x2 = dir.resolve("X2.npy"), seen = dir.resolve("seen.npy"), log = dir.resolve("log.txt");
        try (FloatPointer v = values(N * P, 9)) {
            Npy.writeFloat32(x2, v, new long[] {N, P});
        }
        String cmd = "echo {weights} >> '" + log + "' && cp {weights} '" + seen + "' && cp '" + x2 + "' {grads} && echo exported >&2";
        // from 80% (not the dense level) so that stage 0 prunes and every later stage needs a new X
        Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--max-iterations", "10",
                "--grads-command", cmd));
        assertEquals(0, r.code(), r.err());
        List<String> weightsFiles = Files.readAllLines(log);
        assertEquals(2, weightsFiles.size(), "the command runs for stages 1 and 2: " + weightsFiles);
        assertTrue(Path.of(weightsFiles.get(0)).getFileName().toString().matches("weights_stage1_\\d+\\.npy"), weightsFiles.toString());
        assertEquals(P, ArrayFiles.length(seen.toString(), "weights"));
        assertFalse(Files.exists(Path.of(weightsFiles.get(0)).getParent()), "the temporary directory is removed");
        JsonNode solver = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
        assertEquals("command", solver.at("/schedule/gradient_source").asText());
        assertEquals(3, solver.at("/completed_stages").asInt());
        assertTrue(solver.at("/stages/1/gradients").asText().contains("--grads-command"), solver.toString());
        try (Stream<Path> files = Files.walk(outDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        // misuse; const stages all have the final budgets, which stage 0's weights meet, so no later stage's X could change
        // them: the command ran for every stage and each returned the weights it was given
        // at --stages 3 (at 2 poly, linear and exp are refused for --schedule: theAdviceAwayFromAConstantScheduleAtTwoStagesRunsAsWritten)
        assertFails(run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--schedule", "const", "--grads-command", cmd)),
                2, "--grads-command: option: would never be used with --schedule const", "use --schedule poly, linear or exp");
        for (int t = 0; t < 2; t++) Files.copy(xFile, dir.resolve("X_" + t + ".npy"));
        assertFails(run(with(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--schedule", "const"), "--grads",
                dir.resolve("X_{t}.npy").toString())), 2, "--grads: option: would never be used with --schedule const");
        assertFails(run(fileArgs("--method", "falcon", "--grads-command", cmd)), 2, "--grads-command", "falcon++");
        assertFails(run(fileArgs("--method", "falcon++", "--grads-command", "cp x {grads}")), 2, "{weights}");
    }

    /** A placeholder in quotes of the command's own got a wrong path (see CommandGradients.quotedPlaceholder): exit 2 before any work. */
    @Test
    void aGradsCommandWithAQuotedPlaceholderIsRefusedBeforeAnyWork() throws IOException {
        assertFails(run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8",
                        "--grads-command", "python export.py --weights \"{weights}\" --out {grads}")), 2,
                "--grads-command: value: {weights} is inside double quotes of the command's own (\"{weights}\"); write {weights} and {grads} bare",
                "falcon substitutes shell-quoted paths");
    }

    /**
     * Placeholders only in a comment ('argv.sh a #{weights} {grads}') passed the CLI's text-based check and reached the
     * constructor's refusal of them, an internal error with a stack trace (exit 1) after the backend was chosen. Run
     * without --quiet, so that any work begun before the refusal would have printed its progress.
     */
    @Test
    void aGradsCommandWithItsPlaceholdersOnlyInACommentIsRefusedBeforeAnyWork() throws IOException {
        List<String> args = new ArrayList<>(List.of(fileArgs("--keep-flops", "0.5", "--method", "falcon++", "--stages", "2", "--start-keep", "0.8",
                "--grads-command", "argv.sh a #{weights} {grads}")));
        args.remove("--quiet");
        Run r = run(args.toArray(String[]::new));
        assertFails(r, 2, "--grads-command: value: ", "only in a comment");
        assertEquals(1, r.err().strip().lines().count(), "one line, no progress, no stack trace: " + r.err());
    }

    /**
     * '{t}' and '{stage}' in --grads-command reached the command as literal text ("[grads-command stage 1] stage arg:
     * {t} {stage}", exit 0). {t} is the stage number, as in a --grads X_stage{t}.npy pattern; another {word} gets one
     * warning line before the first stage and reaches the command as it is (a refusal broke ordinary commands).
     */
    @Test
    void theGradsCommandGetsTheStageNumberForItsStagePlaceholderAndWarnsOfAnUnknownOne() throws IOException, InterruptedException {
        Path x2 = dir.resolve("X2.npy"), log = dir.resolve("stages.txt");
        try (FloatPointer v = values(N * P, 9)) {
            Npy.writeFloat32(x2, v, new long[] {N, P});
        }
        String cmd = "echo \"stage arg: {t}\" >> '" + log + "' && cp '" + x2 + "' {grads} && : {weights}";
        Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--max-iterations", "5",
                "--grads-command", cmd));
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("stage arg: 1", "stage arg: 2"), Files.readAllLines(log));
        assertFalse(r.err().contains("falcon: warning: --grads-command"), r.err());
        try (Stream<Path> files = Files.walk(outDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        Files.delete(log);
        // the warning comes through the library's log, which the CLI prints in its own form: a child, as for the sweep warning
        Path said = dir.resolve("unknown-placeholder.log");
        Process child = falconLoggingTo(said, fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8",
                "--max-iterations", "5", "--quiet", "--grads-command", "echo \"stage arg: {t} {stage}\" >> '" + log + "' && cp '" + x2 + "' {grads} && : {weights}"));
        assertTrue(child.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String err = Files.readString(said);
        assertEquals(0, child.exitValue(), err);
        assertEquals(List.of("stage arg: 1 {stage}", "stage arg: 2 {stage}"), Files.readAllLines(log));
        List<String> warnings = err.lines().filter(l -> l.contains("--grads-command")).toList();
        assertEquals(1, warnings.size(), "printed once: " + err);
        assertTrue(warnings.get(0).startsWith("falcon: warning: --grads-command: {stage} is not a placeholder falcon knows")
                && warnings.get(0).contains("{weights}, {grads} and {t}") && warnings.get(0).contains("literal text {stage}"), warnings.get(0));
    }

    /**
     * Commands that had run before were refused with exit 2 ("--grads-command: value: {x} is not a placeholder falcon
     * knows"): braces of Python f-strings and str.format, a quoted heredoc, jq, grep -E, printf and the shell's $x{y}.
     * Each runs, with at most the one warning line.
     */
    @Test
    void gradsCommandsWithBracesOfTheirOwnRun() throws IOException {
        Path x2 = dir.resolve("X2.npy"), cfg = dir.resolve("cfg.json"), f = dir.resolve("f");
        try (FloatPointer v = values(N * P, 9)) {
            Npy.writeFloat32(x2, v, new long[] {N, P});
        }
        Files.writeString(cfg, "{\"name\": 4}");
        String copy = " >&2; cp '" + x2 + "' {grads} && : {weights}";
        for (String cmd : List.of("python3 -c \"import sys; x=1; print(f'{x}')\"" + copy,
                "python3 -c \"print('{name}'.format(name=1))\"" + copy,
                "python3 - {weights} {grads} <<'EOF'\nimport shutil, sys\nx = 1\nprint(f\"{x}\")\nshutil.copy('" + x2 + "', sys.argv[2])\nEOF",
                "jq -c \"{name}\" '" + cfg + "'" + copy,
                "echo a{x} > '" + f + "'; grep -E \"a{x}\" '" + f + "'" + copy,
                "printf '%s\\n' \"a{b}\"" + copy,
                "x=v; echo \"$x{y}\"" + copy)) {
            Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "2", "--start-keep", "0.8", "--max-iterations", "5",
                    "--grads-command", cmd));
            assertEquals(0, r.code(), cmd + "\n" + r.err());
            assertTrue(r.err().lines().filter(l -> l.startsWith("falcon: warning: --grads-command")).count() <= 1, r.err());
            try (Stream<Path> files = Files.walk(outDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** An N x P X of rank 1, X[i][j] = (i + 1) sin(j + 1), written as rank1.npy in the test's folder. */
    private Path rankOneX() throws IOException {
        Path rank1 = dir.resolve("rank1.npy");
        try (FloatPointer x = new FloatPointer((long) N * P)) {
            for (int i = 0; i < N; i++) for (int j = 0; j < P; j++) x.put((long) i * P + j, (float) ((i + 1) * Math.sin(j + 1.0)));
            Npy.writeFloat32(rank1, x, new long[] {N, P});
        }
        return rank1;
    }

    /**
     * A rank-1 X and a lambda below the rounding leave every backsolve's ridge system singular: falcon skipped them all
     * without a word (exit 0, no warning, the summary's "backsolve exact"), where mp + BS refuses the same input. It goes
     * on with the DFO's weights, warns once in mp + BS's words (kept by --quiet) and the report carries it.
     */
    @Test
    void falconSkippingSingularBacksolvesWarnsOnceAndReportsIt() throws IOException, InterruptedException {
        Path rank1 = rankOneX();
        // the library's warnings reach stderr through the process's logging: a child, as the sweep warning's test runs it
        Path said = dir.resolve("falcon-singular.log");
        Process child = falconLoggingTo(said, with(fileArgs("--method", "falcon", "--nnz", "5", "--lambda", "1e-14"), "--grads", rank1.toString()));
        assertTrue(child.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String err = Files.readString(said);
        assertEquals(0, child.exitValue(), err);
        String warning = "falcon: warning: falcon skipped the backsolve of a support whose ridge system is singular";
        assertTrue(err.contains(warning) && err.contains("give a larger --lambda"), err);
        assertEquals(err.indexOf(warning), err.lastIndexOf(warning), "told once: " + err);
        JsonNode rep = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        assertTrue(rep.path("objective").path("solver").path("backsolve_warning").asText().contains("give a larger --lambda"),
                rep.path("objective").path("solver").toString());
    }

    /**
     * Without --quiet, the summary's solver line says that every backsolve was skipped, which the test above (with
     * --quiet) never saw, and the warning printed through the library's log is in the CLI's words (--lambda), where the
     * library's own log names the lambda of Pruner.SolverInputs.
     */
    @Test
    void falconSkippingEveryBacksolveSaysSoInTheSummarysSolverLine() throws IOException, InterruptedException {
        Path rank1 = rankOneX();
        List<String> args = new ArrayList<>(List.of(with(fileArgs("--method", "falcon", "--nnz", "5", "--lambda", "1e-14"), "--grads", rank1.toString())));
        assertTrue(args.remove("--quiet"));
        Path said = dir.resolve("falcon-summary.log");
        Process child = falconLoggingTo(said, args.toArray(String[]::new));
        assertTrue(child.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String all = Files.readString(said);
        assertEquals(0, child.exitValue(), all);
        List<String> solverLines = all.lines().filter(l -> l.startsWith("  solver: ")).toList();
        assertEquals(1, solverLines.size(), all);
        assertTrue(solverLines.get(0).contains(", backsolve exact skipped on every support (its ridge system is singular at this --lambda; the weights"
                + " are the DFO's, not backsolved; raise --lambda as the warning says)"), solverLines.get(0));
        List<String> warnings = all.lines().filter(l -> l.startsWith("falcon: warning: falcon skipped the backsolve")).toList();
        assertEquals(1, warnings.size(), all);
        assertTrue(warnings.get(0).contains("there: --lambda: value: lambda = 1.00e-14 leaves") && warnings.get(0).contains("give a larger --lambda, ")
                && !warnings.get(0).contains("lambda in Pruner.SolverInputs"), warnings.get(0));
    }

    /**
     * Budgets at the dense model (--keep-flops 1, --sparsity 0) leave every stage nothing to prune, so no later stage reads
     * its X: a pattern or command was taken (exit 0, every stage's file loaded) where the same run at a start level at
     * its target is refused, and without one no warning came. The advice cannot be a start level above a target of 1.
     */
    @Test
    void denseBudgetsAreRefusedWithAGradientSourceAsStartLevelsAtTheTargetsAre() throws IOException {
        Path log = dir.resolve("ran-dense.txt");
        String cmd = "echo ran >> '" + log + "' && cp '" + xFile + "' {grads} && test -s {weights}";
        for (int t = 0; t < 3; t++) Files.copy(xFile, dir.resolve("Xd_" + t + ".npy"));
        String never = "would never be used with budgets at the dense model's (nothing to prune";
        assertFails(run(with(fileArgs("--keep-flops", "1", "--method", "falcon++", "--stages", "3"), "--grads",
                dir.resolve("Xd_{t}.npy").toString())), 2, "--grads: option: " + never, "give a budget below the dense model's");
        assertFails(run(fileArgs("--sparsity", "0", "--keep-flops", "1", "--method", "falcon++", "--stages", "3", "--grads-command", cmd)),
                2, "--grads-command: option: " + never);
        assertFalse(Files.exists(log), "the command never runs");
        Run plain = run(fileArgs("--keep-flops", "1", "--method", "falcon++", "--stages", "3", "--max-iterations", "5"));
        assertEquals(0, plain.code(), plain.err());
        assertTrue(plain.err().contains("falcon: warning: every stage runs at the final budgets with budgets at the dense model's"), plain.err());
        assertFalse(plain.err().contains("start level above"), plain.err());
    }

    /**
     * At budgets of the dense model --schedule const was refused with const's advice (another schedule; at --stages 2 a
     * --start-keep below 1), since its refusal came before the layer table, where dense budgets cannot be told: followed,
     * it was refused again ("give a budget below the dense model's", or --start-keep "is not read"). Two stages from the
     * dense start with a command were sent to a --start-keep below 1 the same way. The dense advice now comes first, with
     * what the run needs besides, and each advice, run as printed, runs.
     */
    @Test
    void theAdviceAtDenseBudgetsRunsAsPrinted() throws IOException {
        Path log = dir.resolve("ran-advice.txt");
        String cmd = "echo ran >> '" + log + "' && cp '" + xFile + "' {grads} && test -s {weights}";
        for (int t = 0; t < 3; t++) Files.copy(xFile, dir.resolve("Xa_" + t + ".npy"));
        String pattern = dir.resolve("Xa_{t}.npy").toString();
        String dense = "give a budget below the dense model's (e.g. --keep-flops 0.5)";
        String startBelowOne = "give a --start-keep below 1 (from the dense start stage 0 prunes nothing, so stage 1 would take its X)";
        assertFails(run(with(fileArgs("--keep-flops", "1", "--method", "falcon++", "--stages", "3", "--schedule", "const"), "--grads", pattern)), 2,
                "--grads: option: would never be used with --schedule const and budgets at the dense model's", dense + " and use --schedule poly, linear or exp, or one X file");
        // --nnz p is dense too, though only the layer table tells
        assertFails(run(with(fileArgs("--nnz", String.valueOf(P), "--method", "falcon++", "--stages", "3", "--schedule", "const"), "--grads", pattern)), 2,
                "--grads: option: would never be used with --schedule const and budgets at the dense model's", dense + " and use --schedule poly, linear or exp, or one X file");
        assertFails(run(fileArgs("--keep-flops", "1", "--method", "falcon++", "--stages", "2", "--schedule", "const", "--grads-command", cmd)), 2,
                "--grads-command: option: would never be used with --schedule const and budgets at the dense model's", dense + " and drop --schedule const (with --stages 2 the "
                        + "default runs stage 0 at the start levels and stage 1 at the final budgets) and " + startBelowOne + ", or one X file");
        assertFails(run(fileArgs("--nnz", String.valueOf(P), "--method", "falcon++", "--stages", "2", "--grads-command", cmd)), 2,
                "--grads-command: option: would never be used with budgets at the dense model's", dense + " and " + startBelowOne + ", or one X file");
        assertFalse(Files.exists(log), "the command never runs");

        // each advice as printed
        Run otherSchedule = run(with(fileArgs("--keep-flops", "0.5", "--method", "falcon++", "--stages", "3", "--schedule", "poly", "--max-iterations", "5"),
                "--grads", pattern));
        assertEquals(0, otherSchedule.code(), otherSchedule.err());
        Run twoStages = run(fileArgs("--keep-flops", "0.5", "--method", "falcon++", "--stages", "2", "--start-keep", "0.9", "--max-iterations", "5",
                "--grads-command", cmd));
        assertEquals(0, twoStages.code(), twoStages.err());
        Run twoStagesOfNnz = run(fileArgs("--nnz", String.valueOf(P), "--keep-flops", "0.5", "--method", "falcon++", "--stages", "2", "--start-keep", "0.9",
                "--max-iterations", "5", "--grads-command", cmd));
        assertEquals(0, twoStagesOfNnz.code(), twoStagesOfNnz.err());
        assertEquals(2, Files.readAllLines(log).size(), "the command runs for stage 1 of each two-stage run");
    }

    /**
     * Start levels at the targets give every stage the final budgets, as --schedule const does: stages 1.. kept stage
     * 0's weights, the command never ran and the run said exit 0, where the same run spelt with --schedule const is
     * refused. Refused the same way; without a gradient source the run goes on with a warning.
     */
    @Test
    void startLevelsAtTheTargetsAreRefusedWithAGradientSourceAsTheConstantScheduleIs() throws IOException {
        Path log = dir.resolve("ran.txt");
        String cmd = "echo ran >> '" + log + "' && cp '" + xFile + "' {grads} && test -s {weights}";
        for (int t = 0; t < 3; t++) Files.copy(xFile, dir.resolve("X_" + t + ".npy"));
        String never = "would never be used with start levels at the targets (--start-keep-flops 0.4";
        assertFails(run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.4", "--grads-command", cmd)),
                2, "--grads-command: option: " + never, "every stage has the final budgets", "give a start level above its target");
        assertFalse(Files.exists(log), "the command never runs");
        assertFails(run(fileArgs("--keep-flops", "0.4", "--keep-nnz", "0.5", "--method", "falcon++", "--stages", "4", "--schedule", "linear",
                "--start-keep-flops", "0.4", "--start-keep-nnz", "0.5", "--grads-command", cmd)), 2, "--grads-command: option: would never be used with start levels at the targets (--start-keep-nnz 0.5 and --start-keep-flops 0.4 give stage 0");
        assertFails(run(with(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.4"), "--grads",
                dir.resolve("X_{t}.npy").toString())), 2, "--grads: option: " + never);

        // no source goes unread: the run goes on, saying it is a one-stage run
        Run plain = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.4", "--max-iterations", "5"));
        assertEquals(0, plain.code(), plain.err());
        assertTrue(plain.err().contains("falcon: warning: every stage runs at the final budgets with start levels at the targets (--start-keep-flops 0.4"),
                plain.err());
        // a start level above its target schedules: no refusal, no warning
        Run scheduled = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.7", "--max-iterations", "5",
                "--grads-command", cmd));
        assertEquals(0, scheduled.code(), scheduled.err());
        assertFalse(scheduled.err().contains("final budgets"), scheduled.err());
        assertEquals(2, Files.readAllLines(log).size(), "the command runs for stages 1 and 2");
    }

    /**
     * A per-stage pattern the schedule never reads (start levels at the targets, budgets at the dense model's, with or
     * without --schedule const) was refused for a missing stage file first ("write every stage's file before the run"),
     * and as never used only once the files were written; --schedule const below dense budgets said the latter first.
     * "Would never be used" now comes before any of the pattern's files is checked, with --layers and with
     * --flops-per-weight (whose layer table is read only with the other inputs); a pattern the schedule reads is still
     * refused for its file.
     */
    @Test
    void aPatternTheScheduleNeverReadsIsRefusedBeforeItsFilesAreChecked() throws IOException {
        // stages 0 and 1 written, stage 2 not
        for (int t = 0; t < 2; t++) Files.copy(xFile, dir.resolve("Xm_" + t + ".npy"));
        String[] viaLayers = with(fileArgs("--method", "falcon++", "--stages", "3"), "--grads", dir.resolve("Xm_{t}.npy").toString());
        String[] viaCosts = viaLayers.clone();
        int at = List.of(viaCosts).indexOf("--layers");
        viaCosts[at] = "--flops-per-weight";
        viaCosts[at + 1] = flopsFile.toString();
        Object[][] neverRead = {
                {new String[] {"--keep-flops", "0.4", "--start-keep-flops", "0.4"}, "would never be used with start levels at the targets (--start-keep-flops 0.4"},
                {new String[] {"--keep-flops", "1"}, "would never be used with budgets at the dense model's"},
                {new String[] {"--keep-flops", "1", "--schedule", "const"}, "would never be used with --schedule const and budgets at the dense model's"},
                {new String[] {"--keep-flops", "0.4", "--schedule", "const"}, "would never be used with --schedule const:"}};
        String[] scheduled = {"--keep-flops", "0.4", "--start-keep-flops", "0.7"};
        String missing = "Xm_2.npy: --grads: does not exist: the X of stage 2 of 0..2";
        for (String[] model : List.of(viaLayers, viaCosts)) {
            for (Object[] c : neverRead) {
                Run r = run(concat(model, (String[]) c[0]));
                assertFails(r, 2, "--grads: option: " + c[1]);
                assertFalse(r.err().contains("does not exist"), String.join(" ", (String[]) c[0]) + ": " + r.err());
            }
            assertFails(run(concat(model, scheduled)), 2, missing, "write every stage's file before the run");
        }
        // a stage file that is there but of another shape is checked after the pattern too
        try (FloatPointer x = values((N - 1) * P, 3)) {
            Npy.writeFloat32(dir.resolve("Xm_2.npy"), x, new long[] {N - 1, P});
        }
        for (String[] model : List.of(viaLayers, viaCosts)) {
            for (Object[] c : neverRead) {
                Run r = run(concat(model, (String[]) c[0]));
                assertFails(r, 2, "--grads: option: " + c[1]);
                assertFalse(r.err().contains("has shape"), String.join(" ", (String[]) c[0]) + ": " + r.err());
            }
            assertFails(run(concat(model, scheduled)), 2, "X of stage 2 has shape " + (N - 1) + " x " + P);
        }
    }

    /**
     * --schedule const with one X runs every stage at the final budgets: stages 1.. keep stage 0's weights and are not
     * solved, a one-stage run reported as T stages, without a word, where the same run spelt with start levels at the
     * targets warns. It warns too (under --quiet, as warnings are kept), with advice that, followed, schedules.
     */
    @Test
    void aConstantScheduleOfSeveralStagesWarnsThatItIsAOneStageRun() throws IOException {
        String dense = "--schedule const runs every stage at the final budgets, here budgets at the dense model's (nothing to prune";
        String plain = "--schedule const runs every stage at the final budgets: ";
        Object[][] cases = {
                // the args, the warning's words, its advice, the args that follow the advice
                {new String[] {"--keep-flops", "0.4", "--stages", "3", "--schedule", "const"}, plain + "stages 1..2 keep stage 0's weights",
                        "for a schedule use --schedule poly, linear or exp, or give --stages 1 without --schedule const",
                        new String[] {"--keep-flops", "0.4", "--stages", "3", "--schedule", "poly"}},
                {new String[] {"--keep-flops", "0.4", "--keep-nnz", "0.8", "--stages", "2", "--schedule", "const"}, plain + "stages 1..1 keep stage 0's weights",
                        "for a schedule drop --schedule const and give a --start-keep above the targets, below 1 (e.g. --start-keep 0.9)",
                        new String[] {"--keep-flops", "0.4", "--keep-nnz", "0.8", "--stages", "2", "--start-keep", "0.9"}},
                {new String[] {"--keep-flops", "1", "--stages", "3", "--schedule", "const"}, dense,
                        "for a schedule give a budget below the dense model's (e.g. --keep-flops 0.5) and use --schedule poly, linear or exp",
                        new String[] {"--keep-flops", "0.5", "--stages", "3", "--schedule", "poly"}},
                {new String[] {"--keep-flops", "1", "--stages", "2", "--schedule", "const"}, dense,
                        "for a schedule give a budget below the dense model's (e.g. --keep-flops 0.5), drop --schedule const and give a --start-keep"
                                + " above the targets, below 1 (e.g. --start-keep 0.75)",
                        new String[] {"--keep-flops", "0.5", "--stages", "2", "--start-keep", "0.75"}}};
        for (Object[] c : cases) {
            String what = String.join(" ", (String[]) c[0]);
            Run constant = run(concat(fileArgs("--method", "falcon++", "--max-iterations", "5"), (String[]) c[0]));
            assertEquals(0, constant.code(), what + ": " + constant.err());
            List<String> warnings = constant.err().lines().filter(l -> l.startsWith("falcon: warning: --schedule const")).toList();
            assertEquals(1, warnings.size(), what + ": " + constant.err());
            for (int k = 1; k <= 2; k++) assertTrue(warnings.get(0).contains((String) c[k]), what + " should say '" + c[k] + "': " + warnings.get(0));
            assertTrue(warnings.get(0).contains("not solved, so with one X this is a one-stage run"), what + ": " + warnings.get(0));
            deleteOutputs();
            Run followed = run(concat(fileArgs("--method", "falcon++", "--max-iterations", "5"), (String[]) c[3]));
            assertEquals(0, followed.code(), what + " followed: " + followed.err());
            assertFalse(followed.err().contains("final budgets"), what + " followed: " + followed.err());
            deleteOutputs();
        }
        Run oneStage = run(fileArgs("--method", "falcon++", "--max-iterations", "5", "--keep-flops", "0.4", "--stages", "1"));
        assertEquals(0, oneStage.code(), oneStage.err());
        assertFalse(oneStage.err().contains("warning"), oneStage.err());
    }

    /**
     * The start level offered when the levels are at the targets is one the run accepts and schedules from, in the
     * option that gave the level. It was a fixed "--start-keep 0.8", refused for a target of 0.9 ("is below the FLOP
     * target 0.9", exit 2), and named --start-keep where --start-keep-flops gave the level.
     */
    @Test
    void theStartLevelsOfferedWhenTheLevelsAreAtTheTargetsAreAccepted() throws IOException {
        Path log = dir.resolve("ran.txt");
        String cmd = "echo ran >> '" + log + "' && cp '" + xFile + "' {grads} && test -s {weights}";
        Object[][] cases = {
                // the args, the words of the warning or refusal, the start levels offered
                {new String[] {"--keep-flops", "0.9", "--start-keep", "0.9"}, "(--start-keep 0.9 gives stage 0", "--start-keep 0.95"},
                {new String[] {"--keep-flops", "0.9", "--start-keep-flops", "0.9", "--grads-command", cmd}, "(--start-keep-flops 0.9 gives stage 0",
                        "--start-keep-flops 0.95"},
                {new String[] {"--keep-flops", "0.4", "--keep-nnz", "0.5", "--start-keep-flops", "0.4", "--start-keep-nnz", "0.5"},
                        "(--start-keep-nnz 0.5 and --start-keep-flops 0.4 give stage 0", "--start-keep-nnz 0.75 and --start-keep-flops 0.7"},
                // one --start-keep for both budgets: above the higher target, which it must exceed too
                {new String[] {"--keep-flops", "0.4", "--keep-nnz", "0.4", "--start-keep", "0.4", "--grads-command", cmd}, "(--start-keep 0.4 gives stage 0",
                        "--start-keep 0.7"}};
        for (Object[] c : cases) {
            String[] args = fileArgs(java.util.stream.Stream.concat(Stream.of("--method", "falcon++", "--stages", "3", "--max-iterations", "5"),
                    Stream.of((String[]) c[0])).toArray(String[]::new));
            String what = String.join(" ", (String[]) c[0]);
            Run atTargets = run(args);
            assertTrue(atTargets.err().contains((String) c[1]), what + ": " + atTargets.err());
            String offered = "e.g. " + c[2] + ")";
            assertTrue(atTargets.err().contains(offered), what + " should offer '" + offered + "': " + atTargets.err());
            String[] accepted = args;
            String[] levels = ((String) c[2]).split(" and ");
            for (String level : levels) accepted = with(accepted, level.split(" ")[0], level.split(" ")[1]);
            Run followed = run(accepted);
            assertEquals(0, followed.code(), what + " followed by " + c[2] + ": " + followed.err());
            assertFalse(followed.err().contains("final budgets"), what + " followed by " + c[2] + ": " + followed.err());
            try (Stream<Path> files = Files.walk(outDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    @Test
    void failingGradsCommandKeepsTheLastCompletedStage() throws IOException {
        String cmd = ": {weights} {grads}; echo 'export.py: CUDA out of memory' >&2; exit 3";
        Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.7", "--max-iterations", "10", "--grads-command", cmd));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("export.py: CUDA out of memory"), r.err());
        assertTrue(r.err().contains("status 3"), r.err());
        assertTrue(r.err().contains("stopped after stage 0"), r.err());
        assertTrue(Files.exists(outDir.resolve("p.npy")), "the last completed stage's weights are written");
        JsonNode rep = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        JsonNode solver = rep.at("/objective/solver");
        assertEquals(1, solver.at("/completed_stages").asInt());
        assertTrue(solver.at("/stopped").asText().contains("stage 1"), solver.toString());
        assertEquals(solver.at("/stages/0/kept").asLong(), rep.at("/budgets/achieved/nnz").asLong());
        assertEquals(rep.at("/budgets/achieved/nnz").asLong() <= rep.at("/budgets/asked/nnz").asLong()
                && rep.at("/budgets/achieved/flops").asDouble() <= rep.at("/budgets/asked/flops").asDouble() * (1 + 1e-12),
                rep.at("/budgets/within_budgets").asBoolean(), rep.get("budgets").toString());
        assertTrue(solver.at("/stages/0/iterations").asInt() > 0 || solver.at("/stages/0/kept").asLong() < P, solver.toString());
        // stage 0's weights keep more than the budgets allow: the bound on w within them says nothing of their Q (which
        // was below it, a negative "gap" in the report and "-1.22 above it" in the summary)
        assertFalse(rep.at("/budgets/within_budgets").asBoolean(), rep.get("budgets").toString());
        JsonNode bound = rep.at("/objective/lower_bound");
        assertTrue(bound.get("relative_gap_of_after").isNull() && bound.get("relative_gap_of_after_falcon_authors").isNull(), bound.toString());
        assertTrue(bound.at("/gap_note").asText().contains("not within the budgets"), bound.toString());
        // nor is mp's support, which is at the budgets: the ratio of the two Q read as falcon++ beating mp by a factor of 1e5
        assertTrue(solver.at("/q_final/ratio_to_mp_support").isNull(), solver.toString());
        assertEquals("no ratio: the weights are not within the budgets (falcon++ stopped before its last stage)",
                solver.at("/q_final/ratio_note").asText(), solver.toString());
        try (var w = ArrayFiles.readVector(outDir.resolve("p.npy").toString(), "out", P)) {
            long nz = 0;
            for (int i = 0; i < P; i++) if (w.get(i) != 0) nz++;
            assertEquals(solver.at("/stages/0/kept").asLong(), nz);
        }
        try (Stream<Path> files = Files.walk(outDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        Run loud = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.7",
                "--max-iterations", "10", "--grads-command", cmd)).filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(1, loud.code(), loud.err());
        List<String> solverLine = loud.out().lines().filter(l -> l.startsWith("  solver: ")).toList();
        assertTrue(solverLine.size() == 1 && solverLine.get(0).contains("(no ratio: the weights are not within the budgets")
                && !solverLine.get(0).contains("(ratio "), loud.out());
    }
    /**
     * inspect showed the report of a falcon++ run that stopped at stage 1, its weights stage 0's and above the FLOP budget
     * (within_budgets false), as a finished run: "kept ... of ... weights" and nothing of where it stopped or what it
     * missed. It says both, under -q too, and a finished run's report is unchanged.
     */
    @Test
    void inspectSaysWhereAStoppedRunStoppedAndWhichBudgetsItMissed() throws IOException {
        String cmd = ": {weights} {grads}; echo 'export.py: CUDA out of memory' >&2; exit 3";
        Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.7", "--max-iterations", "10", "--grads-command", cmd));
        assertEquals(1, r.code(), r.err());
        Path report = outDir.resolve("r.json");
        JsonNode rep = new ObjectMapper().readTree(report.toFile());
        assertFalse(rep.at("/budgets/within_budgets").asBoolean(), rep.get("budgets").toString());
        String flops = InspectCommand.flops(rep.at("/budgets/achieved/flops").asDouble()) + " > " + InspectCommand.flops(rep.at("/budgets/asked/flops").asDouble());
        for (boolean quiet : new boolean[] {false, true}) {
            Run inspect = quiet ? run("inspect", "-q", report.toString()) : run("inspect", report.toString());
            assertEquals(0, inspect.code(), inspect.err());
            String[] lines = inspect.out().split("\\R");
            assertTrue(lines[1].startsWith("  STOPPED EARLY: falcon++ stopped after stage 0 of 0..2 (gradients of stage 1 (")
                    && lines[1].contains("status 3") && lines[1].endsWith("); the weights are stage 0's"), inspect.out());
            assertEquals("  OUTSIDE THE BUDGETS: FLOPs " + flops + " (--keep-flops 0.4); not a result to use as one within them", lines[2], inspect.out());
            assertFalse(inspect.out().contains("CUDA out of memory"), "the command's stderr tail is the report's to keep: " + inspect.out());
            assertEquals(quiet ? 3 : 4, lines.length, inspect.out());
        }
        Run finished = run(fileArgs("--keep-flops", "0.4"));
        assertEquals(0, finished.code(), finished.err());
        Run inspect = run("inspect", report.toString());
        assertEquals(2, inspect.out().split("\\R").length, inspect.out());
        assertFalse(inspect.out().contains("STOPPED") || inspect.out().contains("OUTSIDE"), inspect.out());
        assertEquals("", run("inspect", "-q", report.toString()).out(), "-q prints a finished run's report no more");
    }

    /**
     * A failed command's stderr tail was copied raw (NUL, BEL, a colour, an OSC title sequence) into the stdout summary,
     * the error line and the report, and shown on stderr a second time after it had streamed there. The summary and the
     * error line are one line that points at the streamed lines; under --quiet, which hid them, the error shows the
     * escaped tail; the report keeps it escaped.
     */
    @Test
    void aFailedGradsCommandsStderrIsShownOnceAndEscapedWhereFalconRepeatsIt() throws IOException {
        String cmd = ": {weights} {grads}; printf 'loading\\n\\000\\007\\033[31mred\\033[0m \\033]0;TITLE\\007\\n' >&2; echo 'Error: last' >&2; exit 2";
        String escapedTail = "loading\n\\u0000\\u0007\\u001b[31mred\\u001b[0m \\u001b]0;TITLE\\u0007\nError: last";
        String[] quiet = fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--max-iterations", "5", "--grads-command", cmd);
        Run loud = run(java.util.Arrays.stream(quiet).filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(1, loud.code(), loud.err());
        String pointer = "--grads-command exited with status 2 at stage 1; its stderr is shown above, in the lines marked [grads-command stage 1]";
        List<String> summary = loud.out().lines().filter(l -> l.startsWith("  stopped after stage 0: ")).toList();
        assertTrue(summary.size() == 1 && summary.get(0).endsWith(pointer), loud.out());
        assertTrue(loud.out().chars().allMatch(c -> c == '\n' || !Character.isISOControl(c)), loud.out());
        assertTrue(loud.err().contains("falcon: error: falcon++ stopped after stage 0 of 0..2: ") && loud.err().contains(pointer + "\n"), loud.err());
        assertEquals(1, loud.err().split("Error: last", -1).length - 1, "the tail is on stderr once: " + loud.err());
        assertTrue(loud.err().contains("  [grads-command stage 1] Error: last\n"), loud.err());
        assertTrue(new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver/stopped").asText().endsWith(
                "--grads-command exited with status 2 at stage 1; its stderr ends with:\n" + escapedTail), loud.out());
        try (Stream<Path> files = Files.walk(outDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        Run hidden = run(quiet);
        assertEquals(1, hidden.code(), hidden.err());
        assertTrue(hidden.err().contains("--grads-command exited with status 2 at stage 1; its stderr ends with:\n  [grads-command stage 1] "
                + escapedTail.replace("\n", "\n  [grads-command stage 1] ") + "\n"), hidden.err());
        assertTrue(hidden.err().chars().allMatch(c -> c == '\n' || !Character.isISOControl(c)), hidden.err());
    }

    /**
     * A --grads-command that hangs made falcon wait without end. With --grads-command-timeout it is stopped after the
     * limit with what it started, and the run ends as after a failed command: exit 1, the outputs with the last
     * completed stage, and a message naming the stage, the command, the limit, the fix and the end of its stderr.
     */
    @Test
    void aGradsCommandThatOverrunsItsTimeoutIsStoppedAndKeepsTheLastCompletedStage() throws Exception {
        Path pids = dir.resolve("pids");
        String cmd = ": {weights} {grads}; echo loading the model >&2; sleep 30 & echo $! > " + pids + "; wait";
        Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep-flops", "0.7", "--max-iterations", "10",
                "--grads-command", cmd, "--grads-command-timeout", "1.5"));
        long sleeper = Long.parseLong(Files.readString(pids).trim());
        try {
            assertEquals(1, r.code(), r.err());
            for (String said : List.of("stopped after stage 0", "--grads-command '" + cmd + "' did not exit within 1.5 s at stage 1",
                    "raise --grads-command-timeout", "fix the command", "its stderr ends with:\n  [grads-command stage 1] loading the model\n")) {
                assertTrue(r.err().contains(said), "'" + said + "' in: " + r.err());
            }
            assertFalse(ProcessHandle.of(sleeper).map(h -> !dev.falcon.solve.CommandGradients.hasEnded(h)).orElse(false), "the command's sleep still runs");
            JsonNode solver = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/solver");
            assertEquals(1, solver.at("/completed_stages").asInt(), solver.toString());
            assertTrue(solver.at("/stopped").asText().contains("did not exit within 1.5 s") && solver.at("/stopped").asText().endsWith("its stderr ends with:\nloading the model"),
                    solver.toString());
            assertTrue(solver.at("/schedule/gradients").asText().contains("limited to 1.5 s by --grads-command-timeout"), solver.toString());
            assertTrue(Files.exists(outDir.resolve("p.npy")) && Files.exists(outDir.resolve("m.npy")));
        } finally {
            ProcessHandle.of(sleeper).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /** --grads-command-timeout: seconds or a number with s, m or h, above 0, and only with --grads-command. */
    @Test
    void gradsCommandTimeoutIsValidated() throws IOException {
        String[] plusPlus = fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--grads-command", "cp {weights} {grads}",
                "--grads-command-timeout", "90");
        for (String zero : List.of("0", "0s", "0.0m", "-5", "-1m")) {
            assertFails(run(with(plusPlus, "--grads-command-timeout", zero)), 2, "--grads-command-timeout: value: is " + zero + ", it must be more than 0");
        }
        for (String notADuration : List.of("abc", "5x", "15 minutes", "2d", "1e3", "", "PT15M")) {
            assertFails(run(with(plusPlus, "--grads-command-timeout", notADuration)), 2, "--grads-command-timeout: value: '" + notADuration + "' is not a duration",
                    "90s, 15m, 2h");
        }
        assertFails(run(with(plusPlus, "--grads-command-timeout", "1000000h")), 2, "--grads-command-timeout", "beyond any run");
        assertFails(run(fileArgs("--method", "falcon++", "--stages", "3", "--grads-command-timeout", "90s")), 2, "--grads-command-timeout",
                "only applies with --grads-command");
        assertFails(run(fileArgs("--method", "falcon", "--grads-command-timeout", "15m")), 2, "--grads-command-timeout", "only applies with --grads-command");
        assertEquals(java.time.Duration.ofSeconds(90), PruneCommand.parseTimeout("90"));
        assertEquals(java.time.Duration.ofSeconds(90), PruneCommand.parseTimeout("90s"));
        assertEquals(java.time.Duration.ofMinutes(15), PruneCommand.parseTimeout("15m"));
        assertEquals(java.time.Duration.ofHours(2), PruneCommand.parseTimeout(" 2H "));
        assertEquals(java.time.Duration.ofMillis(1500), PruneCommand.parseTimeout("1.5s"));
        assertEquals(java.time.Duration.ofMinutes(30), PruneCommand.parseTimeout(".5h"));
    }

    /**
     * The weights of a stage that cannot be written for the command (a full disk, a directory gone or unwritable; here
     * the command of stage 1 leaves a directory where stage 2's weights go) fail the gradient source as a failing command
     * does: exit 1 with the last completed stage's weights in the outputs. They used to end the run with exit 2 naming
     * the temporary file as an "output", and no output at all.
     */
    @Test
    void stageWeightsThatCannotBeWrittenForTheCommandKeepTheLastCompletedStage() throws IOException {
        Path x2 = dir.resolve("X2.npy");
        try (FloatPointer v = values(N * P, 9)) {
            Npy.writeFloat32(x2, v, new long[] {N, P});
        }
        // stage 2's is the source's second command: its files are numbered 2
        String cmd = "cp '" + x2 + "' {grads} && mkdir \"$(dirname {weights})/weights_stage2_2.npy\"";
        Run r = run(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--max-iterations", "10",
                "--grads-command", cmd));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("stopped after stage 1") && r.err().contains("weights_stage2_2.npy"), r.err());
        assertFalse(r.err().contains("internal error"), r.err());
        JsonNode rep = new ObjectMapper().readTree(outDir.resolve("r.json").toFile());
        JsonNode solver = rep.at("/objective/solver");
        assertEquals(2, solver.at("/completed_stages").asInt(), solver.toString());
        assertTrue(solver.at("/stopped").asText().contains("stage 2"), solver.toString());
        try (var w = ArrayFiles.readVector(outDir.resolve("p.npy").toString(), "out", P)) {
            long nz = 0;
            for (int i = 0; i < P; i++) if (w.get(i) != 0) nz++;
            assertEquals(solver.at("/stages/1/kept").asLong(), nz, "--out holds stage 1's weights");
        }
    }

    /**
     * --grads-command writes the weights for the command under java.io.tmpdir: one that is missing or not a directory
     * (FALCON_JAVA_OPTS=-Djava.io.tmpdir=...) ended in an internal error with a stack trace; it is bad input, named with
     * the way to change it, before any work.
     */
    @Test
    void gradsCommandWithAnUnusableTemporaryDirectoryIsRefused() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-directory"), "x");
        for (Path tmp : List.of(dir.resolve("missing"), file)) {
            Process child = childFalcon(List.of("-Djava.io.tmpdir=" + tmp),
                    fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--grads-command", "cp {weights} {grads}"));
            String err = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS));
            assertFails(new Run(child.exitValue(), "", err), 2, "java.io.tmpdir", tmp.toString(), "FALCON_JAVA_OPTS=-Djava.io.tmpdir=");
            assertFalse(err.contains("internal error") || err.contains("\tat "), err);
        }
        assertFalse(Files.exists(dir.resolve("missing")));
    }

    /**
     * SIGTERM to falcon while --grads-command runs: the shutdown hook sent SIGTERM on to the command and the JVM ended,
     * but a command that ignores SIGTERM ran on, with its children, as an orphan. They get SIGKILL after a grace
     * period, and the temporary directory goes once they have ended.
     */
    @Test
    void aStoppedRunEndsACommandThatIgnoresSigterm() throws Exception {
        Path tmp = Files.createDirectories(dir.resolve("tmp")), pids = dir.resolve("pids");
        String cmd = ": {weights} {grads}; bash -c 'trap \"\" TERM; sleep 1000 & echo $$ $! > " + pids + ".tmp && mv " + pids + ".tmp " + pids + "; wait'";
        // a file, not a pipe: the pipe's stream, read as the child exits, may throw "Stream closed" and lose what it said
        Path log = dir.resolve("falcon.log");
        List<String> falcon = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                "-Djava.io.tmpdir=" + tmp, Main.class.getName()));
        falcon.addAll(List.of(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--grads-command", cmd)));
        Process child = new ProcessBuilder(falcon).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        List<Long> started = new ArrayList<>();
        try {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!Files.exists(pids) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.exists(pids), "the command never ran");
            for (String pid : Files.readString(pids).trim().split("\\s+")) started.add(Long.parseLong(pid));
            long t0 = System.nanoTime();
            child.destroy(); // SIGTERM
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(143, child.exitValue(), said);
            assertStoppedInOneLine(said, "SIGTERM", 1);
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 20, "falcon took " + seconds + " s to end");
            for (long pid : started) {
                assertFalse(ProcessHandle.of(pid).map(h -> !dev.falcon.solve.CommandGradients.hasEnded(h)).orElse(false), "process " + pid + " of the command still runs");
            }
            try (Stream<Path> left = Files.list(tmp)) {
                assertEquals(List.of(), left.toList(), "the temporary directory of the command is left");
            }
            // the run stops where it was: no output, and no temporary file of one
            assertFalse(Files.exists(outDir.resolve("p.npy")), said);
            if (Files.exists(outDir)) {
                try (Stream<Path> files = Files.list(outDir)) {
                    List<String> names = files.map(f -> f.getFileName().toString()).toList();
                    assertTrue(names.stream().noneMatch(f -> f.endsWith(".tmp") || f.endsWith(".previous")), "temporaries left: " + names);
                }
            }
        } finally {
            child.destroyForcibly();
            started.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    /**
     * Ctrl-C (SIGINT) while --grads-command runs: the command died (of the SIGINT or of the hook), the run took that for a failed command,
     * went on to write stage 0's outputs, was refused as the JVM stopped, and printed an "internal error" with a stack
     * trace. One line says where it stopped, and the exit status is SIGINT's.
     */
    @Test
    void aRunStoppedByCtrlCWhileTheCommandRunsSaysSoInOneLine() throws Exception {
        Path started = dir.resolve("started");
        // a JVM that starts with SIGINT ignored (a background job of a non-interactive shell, as a build may be) keeps
        // ignoring it: env gives the child SIGINT's default action, as in a terminal; setsid makes falcon (setsid and env
        // exec it) lead a process group, so that the SIGINT reaches it and the command together, as Ctrl-C does
        List<String> cmd = new ArrayList<>(List.of("setsid", "env", "--default-signal=INT", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8",
                "--grads-command", ": {weights} {grads}; touch " + started + "; exec sleep 1000")));
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!Files.exists(started) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.exists(started), "the command never ran: " + Files.readString(log));
            assertEquals(0, new ProcessBuilder("kill", "-INT", "--", "-" + child.pid()).start().waitFor());
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(130, child.exitValue(), said);
            assertStoppedInOneLine(said, "SIGINT", 1);
            assertFalse(Files.exists(outDir.resolve("p.npy")), "outputs written: " + said);
        } finally {
            child.destroyForcibly();
        }
    }

    /**
     * Ctrl-C while the command runs, the command having detached a process (which a shell starts with SIGINT ignored):
     * where the command died of the SIGINT before falcon's hook looked for it, the hook found no command to stop, and
     * the detached process ran on after falcon had ended. The two SIGINTs of a Ctrl-C are sent here one after the
     * other, the command's first, for that order.
     */
    @Test
    void ctrlCWhileTheCommandRunsEndsTheProcessesItDetached() throws Exception {
        Path pids = dir.resolve("pids");
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--stages", "3", "--start-keep", "0.8", "--grads-command",
                ": {weights} {grads}; (sleep 1000 & echo $! > " + pids + ".tmp); echo $$ >> " + pids + ".tmp; mv " + pids + ".tmp " + pids + "; exec sleep 1000")));
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        long detached = -1;
        try {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!Files.exists(pids) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.exists(pids), "the command never ran: " + Files.readString(log));
            String[] started = Files.readString(pids).trim().split("\\s+");
            detached = Long.parseLong(started[0]);
            assertEquals(0, new ProcessBuilder("kill", "-INT", started[1]).start().waitFor());
            Thread.sleep(300); // within the second the run waits, after a command killed by SIGINT, for the JVM's hook
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(child.pid())).start().waitFor());
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(130, child.exitValue(), said);
            assertStoppedInOneLine(said, "SIGINT", 1);
            assertFalse(ProcessHandle.of(detached).map(h -> !dev.falcon.solve.CommandGradients.hasEnded(h)).orElse(false), "the detached process " + detached + " still runs");
        } finally {
            child.destroyForcibly();
            if (detached > 0) ProcessHandle.of(detached).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * SIGTERM (or Ctrl-C) while falcon solves: the JVM ran its hooks and ended with 143 while the solve went on, and
     * printed nothing, so the user could not tell whether anything was written. One line says where the run was and
     * that nothing was written, and no progress line follows it.
     */
    @Test
    void aSolveStoppedBySigtermSaysWhereAndThatNothingWasWritten() throws Exception {
        Path log = dir.resolve("falcon.log");
        Process child = falconLoggingTo(log, "prune", "--method", "falcon", "--example", "mobilenetv1", "--device", "cpu",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString());
        try {
            long deadline = System.nanoTime() + 180_000_000_000L;
            while (!Files.readString(log).contains("falcon: pruning (falcon) ...") && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(50);
            assertTrue(Files.readString(log).contains("falcon: pruning (falcon) ..."), "no progress line of the solve: " + Files.readString(log));
            child.destroy(); // SIGTERM
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(143, child.exitValue(), said);
            assertLastLineIsTheStop(said, "falcon: stopped by SIGTERM while pruning (falcon); no output written");
            assertFalse(Files.exists(outDir.resolve("p.npy")) || Files.exists(outDir.resolve("r.json")), "outputs written: " + said);
        } finally {
            child.destroyForcibly();
        }
    }

    /**
     * SIGTERM while the outputs are committed: AtomicFiles' hook lets the commit under way complete the set, but the run
     * said nothing, so a user could not tell a complete set from none. Here --out is a pipe, so that the commit (report
     * and mask renamed, then the weights written to the pipe) waits for the test to read it: the line says the outputs
     * are complete and names them.
     */
    @Test
    void aStopWhileTheOutputsAreCommittedSaysTheyAreComplete() throws Exception {
        stopWhileTheOutputsAreCommitted(true);
    }

    /**
     * Without --quiet the run's thread, its commit finished by AtomicFiles' hook, went on to print the summary on stdout
     * while the stop hook said its line: the summary could follow "the outputs are complete", as if the run went on.
     */
    @Test
    void aStopWhileTheOutputsAreCommittedPrintsNothingAfterItsLine() throws Exception {
        stopWhileTheOutputsAreCommitted(false);
    }

    private void stopWhileTheOutputsAreCommitted(boolean quiet) throws Exception {
        Files.createDirectories(outDir);
        Path fifo = outDir.resolve("p.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        Path log = dir.resolve("falcon.log");
        Process child = falconLoggingTo(log, java.util.Arrays.stream(with(fileArgs("--keep-flops", "0.4", "--method", "falcon"), "--out", fifo.toString()))
                .filter(a -> quiet || !a.equals("--quiet")).toArray(String[]::new));
        try {
            Path report = outDir.resolve("r.json");
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!Files.exists(report) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.exists(report), "the commit never began: " + Files.readString(log));
            child.destroy(); // SIGTERM, while the commit waits for a reader of --out
            Thread.sleep(300);
            byte[] weights = Files.readAllBytes(fifo);
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(143, child.exitValue(), said);
            assertLastLineIsTheStop(said, "falcon: stopped by SIGTERM while writing the outputs; the outputs are complete: "
                    + fifo + ", " + outDir.resolve("m.npy") + ", " + report);
            assertEquals((byte) 0x93, weights[0], "--out got no .npy");
            assertTrue(weights.length > 4 * P, "--out got " + weights.length + " bytes");
            assertTrue(Files.exists(report) && Files.exists(outDir.resolve("m.npy")), said);
        } finally {
            child.destroyForcibly();
        }
    }

    /**
     * SIGTERM while --out - waits on a stdout nobody reads: the files had been renamed into place, complete, before the
     * commit went on to stdout, but the stop line called every output "still being written and may be incomplete". It
     * now names the complete ones apart from stdout.
     */
    @Test
    void aStopWhileStdoutOutputIsBlockedNamesTheFilesAlreadyComplete() throws Exception {
        String said = stopWhileStdoutIsBlocked(with(fileArgs("--keep-flops", "0.4", "--method", "mp"), "--out", "-"));
        String last = said.lines().reduce((x, y) -> y).orElse("");
        Path report = outDir.resolve("r.json");
        assertTrue(last.startsWith("falcon: stopped by SIGTERM") && last.endsWith("; the outputs were still being written: complete: "
                + outDir.resolve("m.npy") + ", " + report + "; may be incomplete: stdout"), said);
        new ObjectMapper().readTree(report.toFile()); // complete JSON
    }

    /**
     * SIGTERM while the summary waits on a stdout nobody reads (a pipe to a consumer that stopped reading): the stop
     * hook flushed stdout before its line, waited for the run's blocked write to let go of the stream, and the JVM
     * never ended. The line goes to stderr and the run ends with SIGTERM's status, its outputs complete.
     */
    @Test
    void aStopWhileStdoutIsBlockedEndsTheRun() throws Exception {
        String said = stopWhileStdoutIsBlocked(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "mp"))
                .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        String last = said.lines().reduce((x, y) -> y).orElse("");
        assertTrue(last.startsWith("falcon: stopped by SIGTERM") && last.contains("the outputs are complete"), said);
    }

    /**
     * Runs falcon with {@code args} and a stdout that is a full pipe nobody reads, sends SIGTERM once the report is in
     * place and the run has gone on to stdout, checks it ends with SIGTERM's status within 5 s, and returns what it said
     * on stderr.
     */
    private String stopWhileStdoutIsBlocked(String[] args) throws Exception {
        Files.createDirectories(outDir);
        Path fifo = dir.resolve("stdout.fifo"), log = dir.resolve("falcon.log");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        // open for reading and writing so that falcon's open does not wait for a reader; a pipe's 64 KiB filled, so
        // that its first write of stdout blocks
        try (java.io.RandomAccessFile neverRead = new java.io.RandomAccessFile(fifo.toFile(), "rw")) {
            neverRead.write(new byte[1 << 16]);
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), Main.class.getName()));
            cmd.addAll(List.of(args));
            Process child = new ProcessBuilder(cmd).redirectOutput(fifo.toFile()).redirectError(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            try {
                Path report = outDir.resolve("r.json");
                long deadline = System.nanoTime() + 120_000_000_000L;
                while (!Files.exists(report) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
                assertTrue(Files.exists(report), "the outputs were never written: " + Files.readString(log));
                Thread.sleep(500); // on to stdout, which blocks
                assertTrue(child.isAlive(), "falcon ended with its stdout full: " + Files.readString(log));
                long signalled = System.nanoTime();
                child.destroy(); // SIGTERM
                assertTrue(child.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end: " + Files.readString(log));
                double seconds = (System.nanoTime() - signalled) / 1e9;
                String said = Files.readString(log);
                assertEquals(143, child.exitValue(), said);
                // the README: "still ends on the signal, within about 5 s" (it took 6.6 s waiting out the blocked commit)
                assertTrue(seconds < 5, "falcon ended " + seconds + " s after the signal: " + said);
                System.out.printf(java.util.Locale.ROOT, "stopped %.2f s after SIGTERM with stdout blocked%n", seconds);
                return said;
            } finally {
                child.destroyForcibly();
            }
        }
    }

    /**
     * stdout that refuses writes (a full disk here, as /dev/full; a pipe whose reader has gone; stdout closed): the
     * PrintStream kept the error to itself and `falcon inspect`, whose description is all it gives, exited 0 with
     * nothing written. The run says so on stderr and exits 1; prune's outputs, written before its summary, stay complete.
     */
    @Test
    void stdoutThatCannotBeWrittenIsAnErrorNotASuccess() throws Exception {
        for (String[] args : new String[][] {{"inspect", wFile.toString()},
                java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "mp")).filter(a -> !a.equals("--quiet")).toArray(String[]::new)}) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), Main.class.getName()));
            cmd.addAll(List.of(args));
            Path log = dir.resolve("falcon.log");
            Process child = new ProcessBuilder(cmd).redirectOutput(new java.io.File("/dev/full")).redirectError(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(1, child.exitValue(), args[0] + ": " + said);
            assertTrue(said.contains("falcon: error: stdout could not be written"), said);
            // inspect writes no files: its message spoke of "files the command wrote"
            assertEquals(args[0].equals("prune"), said.contains("the files prune wrote are complete"), said);
            assertFalse(said.contains("files the command wrote"), said);
        }
        assertTrue(Files.size(outDir.resolve("p.npy")) > 4 * P && Files.exists(outDir.resolve("r.json")), "prune's outputs are complete");
    }

    /**
     * A SIGTERM just after the run had ended (a batch system's time limit, a `kill` of a job that was done) raced main's
     * exit: where the signal's won, the JVM ended with 143 and no line, the outputs complete and the summary printed, and a
     * script could not tell whether they were usable. The run has ended: its status is 0 and nothing is said of a stop.
     */
    @Test
    void aSignalAfterTheRunHasEndedLeavesItsStatus() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.security.manager=allow", "-cp", System.getProperty("java.class.path"), SignalledAtExit.class.getName()));
        cmd.addAll(List.of(fileArgs("--keep-flops", "0.4", "--method", "mp")));
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, child.exitValue(), said);
        assertFalse(said.contains("stopped by"), said);
        assertTrue(Files.size(outDir.resolve("p.npy")) > 4 * P && Files.exists(outDir.resolve("r.json")), "prune's outputs are complete");
    }

    /**
     * `prune --help` and `prune -V` are prune but write no file: with a stdout that refuses writes their message said
     * "the files prune wrote are complete", and a user looked for files that were never written.
     */
    @Test
    void helpOrVersionOfPruneIntoAStdoutThatCannotBeWrittenNamesNoFiles() throws Exception {
        for (String asked : List.of("--help", "-V")) {
            Path log = dir.resolve("falcon.log");
            Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), Main.class.getName(), "prune", asked)
                    .redirectOutput(new java.io.File("/dev/full")).redirectError(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(1, child.exitValue(), asked + ": " + said);
            assertTrue(said.contains("falcon: error: stdout could not be written"), said);
            assertFalse(said.contains("the files prune wrote"), asked + ": " + said);
        }
    }

    /**
     * --out /dev/stdout piped to the next step of a pipeline: the summary followed the array on stdout, and the consumer
     * read text after the .npy. The summary goes to stderr when an output is stdout.
     */
    @Test
    void weightsWrittenToStdoutAreNotFollowedByTheSummary() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(java.util.Arrays.stream(with(fileArgs("--keep-flops", "0.4", "--method", "mp"), "--out", "/dev/stdout"))
                .filter(a -> !a.equals("--quiet")).toList());
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).redirectError(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        byte[] stdout = child.getInputStream().readAllBytes();
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, child.exitValue(), said);
        Path copy = Files.write(dir.resolve("from-stdout.npy"), stdout);
        long header = stdout.length - 4L * P;
        assertTrue(header > 0 && header % 64 == 0, stdout.length + " bytes on stdout, ending with: "
                + new String(stdout, Math.max(0, stdout.length - 200), Math.min(200, stdout.length), StandardCharsets.ISO_8859_1));
        assertEquals(P, ArrayFiles.length(copy.toString(), "stdout"));
        assertTrue(said.contains("falcon prune ") && said.contains("achieved"), "the summary is on stderr: " + said);
    }

    /** Runs the CLI in a JVM of its own, in {@link #dir}, with its stdout as given and its stderr into {@code log}. */
    private Process falconInAChild(String[] args, ProcessBuilder.Redirect stdout, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(java.util.Arrays.stream(args).filter(a -> !a.equals("--quiet")).toList());
        return new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(stdout).redirectError(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    /**
     * "-" is stdout to users of Unix tools, but --report - wrote a file named "-". The report, or the array, goes to stdout,
     * with the summary on stderr; "./-" still names a file called "-"; and two outputs cannot share stdout.
     */
    @Test
    void aDashAsAnOutputIsStdout() throws Exception {
        Path log = dir.resolve("falcon.log");
        Process report = falconInAChild(with(fileArgs("--keep-flops", "0.4"), "--report", "-"), ProcessBuilder.Redirect.PIPE, log);
        byte[] json = report.getInputStream().readAllBytes();
        assertTrue(report.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, report.exitValue(), said);
        assertFalse(Files.exists(dir.resolve("-")), "a file named - was written");
        JsonNode parsed = new ObjectMapper().readTree(json);
        assertEquals("stdout", parsed.path("outputs").path("report").asText(), new String(json, StandardCharsets.UTF_8));
        assertTrue(parsed.path("budgets").path("achieved").path("nnz").asLong() > 0, new String(json, StandardCharsets.UTF_8));
        assertTrue(said.contains("wrote " + outDir.resolve("p.npy") + ", " + outDir.resolve("m.npy") + ", stdout"), "the summary is on stderr: " + said);
        deleteOutputs();

        Process weights = falconInAChild(with(fileArgs("--keep-flops", "0.4"), "--out", "-"), ProcessBuilder.Redirect.PIPE, log);
        byte[] npy = weights.getInputStream().readAllBytes();
        assertTrue(weights.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        assertEquals(0, weights.exitValue(), Files.readString(log));
        assertEquals(P, ArrayFiles.length(Files.write(dir.resolve("from-stdout.npy"), npy).toString(), "stdout"));
        assertTrue(Files.exists(outDir.resolve("m.npy")) && Files.exists(outDir.resolve("r.json")));
        deleteOutputs();

        Process named = falconInAChild(with(fileArgs(), "--report", "./-"), ProcessBuilder.Redirect.DISCARD, log);
        assertTrue(named.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        assertEquals(0, named.exitValue(), Files.readString(log));
        assertTrue(new ObjectMapper().readTree(dir.resolve("-").toFile()).has("budgets"), "./- is a file named -");
        Files.delete(dir.resolve("-"));
        deleteOutputs();
        Run two = run(with(with(fileArgs(), "--out", "-"), "--report", "-"));
        assertFails(two, 2, "-: --out/--report: both are stdout, which can take only one output",
                "give the other a file's path, e.g. --out pruned.npy or --report report.json (for --report, ./- names a file called -)");
    }

    /**
     * --out - on a terminal wrote the binary .npy there after the whole run, garbage on the screen and lost (gzip refuses
     * the same way). Refused before any work, for --out and --mask; the report is JSON and may go there. The run's stdout
     * must be a terminal, which a test cannot own: util-linux's script(1) gives the child one.
     */
    @Test
    void binaryOutputsForAStdoutThatIsATerminalAreRefusedBeforeAnyWork() throws Exception {
        boolean givesATerminal;
        try {
            // a container without /dev/pts has script but no terminal to give
            givesATerminal = new ProcessBuilder("script", "--quiet", "--return", "--command", "test -t 1", "/dev/null").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start().waitFor() == 0;
        } catch (IOException e) {
            givesATerminal = false;
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(givesATerminal && Files.exists(Path.of("/proc/self/fd/1")),
                "skipped: script (util-linux, Debian's bsdutils) is not installed or cannot open a pseudo-terminal, or no /proc: no terminal to give the child");
        Path log = dir.resolve("terminal.log");
        for (String option : List.of("--out", "--mask")) {
            Process child = falconOnATerminal(with(fileArgs(), option, "-"), log);
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log, StandardCharsets.ISO_8859_1);
            assertEquals(2, child.exitValue(), said);
            String file = option.equals("--out") ? "pruned.npy" : "mask.npy";
            assertTrue(said.contains("-: " + option + ": stdout is a terminal, which cannot take " + (option.equals("--out") ? "the pruned weights" : "the mask")
                    + " (a binary .npy); redirect stdout to a file or a program (> " + file + ", | ...), or give a file: " + option + " " + file), said);
            assertFalse(said.contains("NUMPY"), "the .npy reached the terminal: " + said);
            assertFalse(Files.exists(outDir), "no output may be created on error");
        }
        Process report = falconOnATerminal(with(fileArgs(), "--report", "-"), log);
        assertTrue(report.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log, StandardCharsets.ISO_8859_1);
        assertEquals(0, report.exitValue(), said);
        assertTrue(said.contains("\"budgets\""), "the report is shown on the terminal: " + said);
    }

    /** As {@link #falconInAChild}, with stdout and stderr a terminal (script's), both copied into {@code log}. */
    private Process falconOnATerminal(String[] args, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(java.util.Arrays.stream(args).filter(a -> !a.equals("--quiet")).toList());
        String shell = String.join(" ", cmd.stream().map(a -> "'" + a.replace("'", "'\\''") + "'").toList());
        return new ProcessBuilder("script", "--quiet", "--return", "--command", shell, "/dev/null").directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    /** A terminal given by its path (--out /dev/tty) is refused as stdout on one is; only a character device counts. */
    @Test
    void binaryOutputsToATerminalDeviceAreRefusedBeforeAnyWork() throws IOException {
        for (String terminal : List.of("/dev/pts/0", "/dev/pts/17", "/dev/tty", "/dev/tty1", "/dev/ttyS0", "/dev/ttyUSB0", "/dev/console")) {
            assertTrue(PruneCommand.namesATerminal(terminal), terminal);
        }
        for (String other : List.of("/dev/null", "/dev/full", "/dev/pts/ptmx", "pipe:[4026]", "socket:[77]", "/tmp/w.npy", "/dev/shm/w.npy")) {
            assertFalse(PruneCommand.namesATerminal(other), other);
        }
        Path named = Files.createDirectories(dir.resolve("dev")).resolve("tty7");
        Files.writeString(named, "");
        assertFalse(PruneCommand.isATerminal(named), "a regular file is no terminal, whatever its name");
        Path tty = Path.of("/dev/tty");
        org.junit.jupiter.api.Assumptions.assumeTrue(PruneCommand.isATerminal(tty), "skipped: no /dev/tty character device here");
        Run out = run(with(fileArgs(), "--out", tty.toString()));
        assertFails(out, 2, "/dev/tty: --out: is a terminal, which cannot take the pruned weights (a binary .npy); give a file: --out pruned.npy");
        Run mask = run(with(fileArgs(), "--mask", tty.toString()));
        assertFails(mask, 2, "/dev/tty: --mask: is a terminal, which cannot take the mask (a binary .npy); give a file: --mask mask.npy");
    }

    /**
     * An output path that is stdout where stdout is a file (falcon prune --report /dev/stdout >> runs.log) was written as a
     * file: the rename replaced the link (/dev/stdout itself, as root; other users were refused, "/dev is not writable"),
     * and the log got the summary. It is written to stdout as it is, appended here. A link of the test's own stands in
     * for /dev/stdout.
     */
    @Test
    void anOutputThatIsStdoutRedirectedToAFileIsWrittenThere() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/fd/1")));
        Path linkToStdout = Files.createSymbolicLink(dir.resolve("stdout"), Path.of("/proc/self/fd/1"));
        Path runs = Files.writeString(dir.resolve("runs.log"), "an earlier run\n");
        Path log = dir.resolve("falcon.log");
        Process child = falconInAChild(with(fileArgs(), "--report", linkToStdout.toString()), ProcessBuilder.Redirect.appendTo(runs.toFile()), log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, child.exitValue(), said);
        assertTrue(Files.isSymbolicLink(linkToStdout), "the link to stdout was replaced by the report");
        String appended = Files.readString(runs);
        assertTrue(appended.startsWith("an earlier run\n"), appended);
        assertTrue(new ObjectMapper().readTree(appended.substring("an earlier run\n".length())).has("budgets"), appended);
        assertTrue(said.contains("achieved"), "the summary is on stderr: " + said);
    }

    /**
     * Stdout redirected to the file given as --out, with --report - or --report /dev/stdout too (falcon prune --out w.npy
     * --report - > w.npy): both outputs went to stdout, one after the other, and w.npy held the weights with the JSON
     * report after them (exit 0). Stdout takes one output however it is named: refused before any work.
     */
    @Test
    void twoOutputsThatAreBothStdoutAreRefusedHoweverTheyAreNamed() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/fd/1")));
        Path log = dir.resolve("falcon.log"), redirected = dir.resolve("both.npy");
        for (String report : List.of("-", "/dev/stdout")) {
            Process child = falconInAChild(with(with(fileArgs(), "--out", redirected.toString()), "--report", report), ProcessBuilder.Redirect.to(redirected.toFile()), log);
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(2, child.exitValue(), said);
            assertTrue(said.contains(redirected + ": --out/--report: both are stdout, here the file " + redirected.toRealPath() + ", which can take"
                    + " only one output; give the other a file's path"), said);
            assertEquals(0, Files.size(redirected), "written to stdout: " + report);
            assertFalse(Files.exists(outDir), "no output may be created on error");
        }
    }

    /**
     * falcon started with stdout closed (>&-): the JVM's first file opened takes descriptor 1, read-only, and --report -
     * failed after the whole run with "cannot write (Bad file descriptor); check that the directory exists, is writable
     * and has free space". Refused before any work, saying what stdout is.
     */
    @Test
    void anOutputToAStdoutThatIsClosedIsRefusedBeforeAnyWork() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/fdinfo/1")));
        Path log = dir.resolve("falcon.log");
        for (String report : List.of("-", "/dev/stdout")) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), Main.class.getName()));
            cmd.addAll(List.of(with(fileArgs(), "--report", report)));
            String shell = "exec " + String.join(" ", cmd.stream().map(a -> "'" + a.replace("'", "'\\''") + "'").toList()) + " >&-";
            Process child = new ProcessBuilder("sh", "-c", shell).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(2, child.exitValue(), said);
            assertTrue(said.contains(report + ": --report: stdout is not open for writing (falcon was started with it closed, as with >&-);"
                    + " give a file's path, or start falcon with stdout open"), said);
            assertFalse(Files.exists(outDir), "no output may be created on error");
        }
    }

    /**
     * A result its owner made read-only (chmod a-w, to keep it) was replaced without a word when named as an output
     * again: the rename needs only the directory's permission. numpy.save and torch.save refuse such a file; so does
     * falcon, before any work.
     */
    @Test
    void anOutputThatIsAFileItsOwnerMadeReadOnlyIsRefusedBeforeAnyWork() throws Exception {
        Path kept = Files.writeString(dir.resolve("kept.npy"), "an earlier result");
        Files.setPosixFilePermissions(kept, java.nio.file.attribute.PosixFilePermissions.fromString("r--r--r--"));
        Run r = run(with(fileArgs(), "--out", kept.toString()));
        assertFails(r, 2, kept + ": --out: is read-only (r--r--r--: its owner, this user, may not write it)", "make it writable to replace it (chmod u+w "
                + kept + "), or choose another output path");
        assertEquals("an earlier result", Files.readString(kept));
        Files.setPosixFilePermissions(kept, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        Run writable = run(with(fileArgs(), "--out", kept.toString()));
        assertEquals(0, writable.code(), writable.err());
        assertEquals(P, ArrayFiles.length(kept.toString(), "--out"), "replaced once writable");
    }

    /**
     * An output in a folder that is another output's file (--out a.npy --report a.npy/r.json): the folder was created
     * for the one, then the rename of the other failed on it after the whole solve, "Is a directory", with the fix for a
     * directory that does not exist. Refused before any work, in either order.
     */
    @Test
    void anOutputInAFolderThatIsAnotherOutputsFileIsRefusedBeforeAnyWork() throws IOException {
        Path weights = outDir.resolve("p.npy");
        Run under = run(with(fileArgs(), "--report", weights.resolve("r.json").toString()));
        assertFails(under, 2, weights.resolve("r.json") + ": --out/--report: the folder " + weights + " of its path is the file of --out;"
                + " give each output a path of its own");
        Path mask = outDir.resolve("m.npy");
        Run over = run(with(fileArgs(), "--out", mask.resolve("sub/p.npy").toString()));
        assertFails(over, 2, mask.resolve("sub/p.npy") + ": --out/--mask: the folder " + mask + " of its path is the file of --mask;"
                + " give each output a path of its own");
    }

    /**
     * As root, an output under /sys or /proc passed the check of its folder's mode (root passes every mode) and failed
     * only after the whole solve, /proc's failure told as a folder that "may have been removed during the run". Refused
     * before any work, naming the file system; no probe file is left behind.
     */
    @Test
    void anOutputOnAFileSystemThatTakesNoFilesIsRefusedBeforeAnyWork() throws IOException {
        for (String folder : List.of("/sys", "/proc")) {
            org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of(folder)) && Files.isWritable(Path.of(folder)),
                    "skipped: " + folder + " is not writable by its mode for this user (only root passes it), which the check of the mode refuses");
            Path target = Path.of(folder, "w.npy");
            Run r = run(with(fileArgs(), "--out", target.toString()));
            assertFails(r, 2, target + ": --out: " + folder + " (on a ", " file system) takes no new files (creating one there ",
                    "; choose an output path in a folder where files can be created");
        }
        // where files can be created, the probe is gone before the work starts
        Path nested = dir.resolve("fresh/sub/w.npy");
        Run fine = run(with(fileArgs(), "--out", nested.toString()));
        assertEquals(0, fine.code(), fine.err());
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith(".falcon-probe")), "a probe file was left");
        }
    }

    /**
     * An output on a read-only file system was refused as a folder "not writable; choose a writable location", which sent
     * root (whom no mode stops) and every other user to the folder's permissions. The mount is made in a mount namespace
     * of the child's own (unshare), so nothing outlives it.
     */
    @Test
    void anOutputOnAReadOnlyFileSystemIsRefusedSayingSo() throws Exception {
        Path mounted = Files.createDirectory(dir.resolve("mounted"));
        Path report = mounted.resolve("r.json"), log = dir.resolve("falcon.log");
        Process child = falconOnATmpfs(mounted, "ro", with(fileArgs(), "--report", report.toString()), log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(report + ": --report: " + mounted + " is on a read-only file system; choose an output path on a writable one"), said);
        assertFalse(Files.exists(outDir), "no output may be created on error");
    }

    /**
     * A file system without room for the outputs was found only when the pruned weights were written, after the whole
     * solve ("the file system ... is full"). Refused before any work, with what the outputs need and what is free; a
     * report alone fits in the same space.
     */
    @Test
    void outputsThatDoNotFitTheirFileSystemAreRefusedBeforeAnyWork() throws Exception {
        Path mounted = Files.createDirectory(dir.resolve("small"));
        Path weights = mounted.resolve("w.npy"), log = dir.resolve("falcon.log");
        // resnet20: p = 268,336 weights, 1.0 MiB of float32, in 256 KiB
        String[] example = {"prune", "--example", "resnet20", "--method", "mp", "--keep-flops", "0.3", "--quiet", "--out", "", "--report", ""};
        Process child = falconOnATmpfs(mounted, "size=256k", with(with(example, "--out", weights.toString()), "--report", dir.resolve("r.json").toString()), log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(weights + ": --out: " + mounted + " (on a tmpfs file system) has 256.0 KiB free for this user, but the outputs written"
                + " there need 1.0 MiB (--out 1.0 MiB; p = 268336); free space there, or choose output paths on another file system"), said);
        assertFalse(Files.exists(dir.resolve("r.json")), "no output may be created on error");
        // the report alone (about 64 KiB plus 1 KiB per layer) fits
        Path report = mounted.resolve("r.json"), pruned = dir.resolve("w.npy");
        child = falconOnATmpfs(mounted, "size=256k", with(with(example, "--out", pruned.toString()), "--report", report.toString()), log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        assertEquals(0, child.exitValue(), Files.readString(log));
        assertTrue(Files.exists(pruned));
        // stdout is held in java.io.tmpdir until every output is written: it counts there
        Files.delete(pruned);
        child = falconOnATmpfs(mounted, "size=256k", List.of("-Djava.io.tmpdir=" + mounted), with(with(example, "--out", "-"), "--report",
                dir.resolve("r.json").toString()), log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(mounted + ": --out: " + mounted + " (on a tmpfs file system) has 256.0 KiB free for this user, but the outputs written"
                + " there need 1.0 MiB (--out (stdout, held in java.io.tmpdir) 1.0 MiB; p = 268336); free space there, or choose output paths on"
                + " another file system (for stdout: set TMPDIR to a folder with room)"), said);
        assertFalse(Files.exists(dir.resolve("r.json")), "no output may be created on error");
    }

    /**
     * A file system out of inodes with its bytes free passed the space check (bytes only) and the one-file probe; the
     * whole solve ran, and the commit failed with exit 1 and "the file system ... is full; free space on it", while df -h
     * showed it empty. Refused before any work, naming df -i: here the root folder takes one inode of two, and the
     * outputs need two (their temporary files; the lock file, which the commit does without, is not counted).
     */
    @Test
    void outputsOnAFileSystemOutOfInodesAreRefusedBeforeAnyWork() throws Exception {
        Path mounted = Files.createDirectory(dir.resolve("no-inodes"));
        Path weights = mounted.resolve("w.npy"), report = mounted.resolve("r.json"), log = dir.resolve("falcon.log");
        String[] example = {"prune", "--example", "resnet20", "--method", "mp", "--keep-flops", "0.3", "--quiet", "--out", weights.toString(),
            "--report", report.toString()};
        Process child = falconOnATmpfs(mounted, "size=20m,nr_inodes=2", example, log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(weights + ": --out/--report: " + mounted + " (on a tmpfs file system) takes only 1 of the 2 new files the outputs need on its file system")
                && said.contains("out of inodes") && said.contains("check df -i " + mounted), said);
        assertFalse(said.contains("free space on it"), said);
    }

    /**
     * The new files were counted folder by folder: three outputs in three folders of a file system with two inodes free
     * each got their two (a temporary file and the lock file), the whole solve ran, and the commit failed with exit 1.
     * They are counted over the file system, without the lock file the commit does without.
     */
    @Test
    void outputsInSeveralFoldersOfAFileSystemOutOfInodesAreRefusedBeforeAnyWork() throws Exception {
        Path mounted = Files.createDirectory(dir.resolve("few-inodes"));
        Path weights = mounted.resolve("a/w.npy"), report = mounted.resolve("b/r.json"), mask = mounted.resolve("c/m.npy"), log = dir.resolve("falcon.log");
        String[] example = {"prune", "--example", "resnet20", "--method", "mp", "--keep-flops", "0.3", "--quiet", "--out", weights.toString(),
            "--report", report.toString(), "--mask", mask.toString()};
        // the root folder and a, b, c take four inodes of six: two are left for the three temporary files
        Process child = falconOnATmpfs(mounted, "size=20m,nr_inodes=6", List.of("a", "b", "c"), List.of(), example, log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(weights + ": --out/--report/--mask: ") && said.contains("takes only 2 of the 3 new files the outputs need on its file system")
                && said.contains("out of inodes") && said.contains("check df -i "), said);
    }

    /**
     * Two outputs in one folder of a file system with two inodes free commit (the lock file is best-effort): they were
     * refused, counted with a lock file, where the same two in two folders were written.
     */
    @Test
    void twoOutputsInOneFolderNeedNoInodeForTheLockFile() throws Exception {
        Path mounted = Files.createDirectory(dir.resolve("two-inodes"));
        Path weights = mounted.resolve("a/w.npy"), report = mounted.resolve("a/r.json"), log = dir.resolve("falcon.log");
        String[] example = {"prune", "--example", "resnet20", "--method", "mp", "--keep-flops", "0.3", "--quiet", "--out", weights.toString(),
            "--report", report.toString()};
        // the root folder and a take two inodes of four
        Process child = falconOnATmpfs(mounted, "size=20m,nr_inodes=4", List.of("a"), List.of(), example, log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, child.exitValue(), said);
    }

    /**
     * falcon++ with --grads-command in a temporary directory without room for the command's X: stage 0 was solved and
     * the command then failed on a full disk. Refused before any work where even a float16 X does not fit, warned where a
     * float32 one does not.
     */
    @Test
    void aGradsCommandWhoseTemporaryDirectoryCannotHoldXIsRefusedBeforeAnyWork() throws Exception {
        Path mounted = Files.createDirectory(dir.resolve("tmp")), log = dir.resolve("falcon.log");
        // resnet20 at n = 16: the weights 1.0 MiB, X 16.4 MiB as float32, 8.2 MiB as float16
        String[] args = {"prune", "--example", "resnet20", "--n", "16", "--method", "falcon++", "--stages", "3", "--keep-flops", "0.3",
                "--grads-command", ": {weights} {grads}; exit 3", "--out", dir.resolve("w.npy").toString(), "--report", dir.resolve("r.json").toString()};
        Process child = falconOnATmpfs(mounted, "size=8m", List.of("-Djava.io.tmpdir=" + mounted), args, log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(mounted + ": java.io.tmpdir: has 8.0 MiB free, where --grads-command gets the weights (1.0 MiB) and writes X, 16 x 268336:"
                + " 16.4 MiB as float32, 8.2 MiB as float16; neither fits; set TMPDIR to a folder with room"), said);
        assertFalse(Files.exists(dir.resolve("r.json")), "no output may be created on error");
        child = falconOnATmpfs(mounted, "size=12m", List.of("-Djava.io.tmpdir=" + mounted), args, log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        said = Files.readString(log);
        assertTrue(said.contains("falcon: warning: " + mounted + " (java.io.tmpdir) has 12.0 MiB free, where --grads-command gets the weights (1.0 MiB)"
                + " and writes X, 16 x 268336: 16.4 MiB as float32, 8.2 MiB as float16; a float32 X does not fit"), said);
        // the warning came before the work, which went on to the command's failure
        assertTrue(said.indexOf("warning") < said.indexOf("exited with status 3"), said);
    }

    /**
     * Runs falcon in a child with a tmpfs (mount options as given) mounted over a folder in a mount namespace of the
     * child's own (unshare), so nothing outlives it; skips where no user namespace can mount.
     */
    private static Process falconOnATmpfs(Path mountPoint, String mountOptions, String[] args, Path log) throws Exception {
        return falconOnATmpfs(mountPoint, mountOptions, List.of(), args, log);
    }

    private static Process falconOnATmpfs(Path mountPoint, String mountOptions, List<String> jvmOptions, String[] args, Path log) throws Exception {
        return falconOnATmpfs(mountPoint, mountOptions, List.of(), jvmOptions, args, log);
    }

    /** {@code folders}: made on the file system, under the mount point, before falcon runs. */
    private static Process falconOnATmpfs(Path mountPoint, String mountOptions, List<String> folders, List<String> jvmOptions, String[] args, Path log)
            throws Exception {
        String mount = "mount -t tmpfs -o " + mountOptions + " none \"$1\"" + folders.stream().map(f -> " && mkdir \"$1\"/" + f).collect(
                java.util.stream.Collectors.joining()) + " && shift && exec \"$@\"";
        boolean canMount;
        try {
            canMount = new ProcessBuilder("unshare", "--map-root-user", "--mount", "sh", "-c", mount, "sh", mountPoint.toString(), "true")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor() == 0;
        } catch (IOException e) {
            canMount = false;
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(canMount, "skipped: unshare cannot mount a file system here (no user namespaces)");
        List<String> cmd = new ArrayList<>(List.of("unshare", "--map-root-user", "--mount", "sh", "-c", mount, "sh", mountPoint.toString(),
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    /**
     * An output on stdout where stdout appends to an input (falcon prune --weights w.npy --out - >> w.npy): the pruned
     * weights were appended to the weights file, exit 0, though an output that names an input is refused. Refused the
     * same way, before any work.
     */
    @Test
    void anOutputOnAStdoutThatIsAnInputIsRefusedBeforeAnyWork() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/fd/1")));
        byte[] weights = Files.readAllBytes(wFile);
        Path log = dir.resolve("falcon.log");
        Process child = falconInAChild(with(fileArgs(), "--out", "-"), ProcessBuilder.Redirect.appendTo(wFile.toFile()), log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains("-: --out: stdout is the input " + wFile + " (--weights); writing it would destroy the input; send stdout elsewhere,"
                + " or give the output a file's path"), said);
        assertArrayEquals(weights, Files.readAllBytes(wFile), "the weights were written to");
        assertFalse(Files.exists(outDir), "no output may be created on error");
    }

    /**
     * An output path that is another of falcon's descriptors, a file here (--report /dev/stderr 2> run.log), was written
     * as a file: the rename replaced the link (/dev/stderr itself, as root; other users were refused, "/dev is not
     * writable"). It is refused before any work. A link of the test's own stands in for /dev/stderr.
     */
    @Test
    void anOutputThatIsStderrRedirectedToAFileIsRefusedBeforeAnyWork() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/fd/2")));
        Path linkToStderr = Files.createSymbolicLink(dir.resolve("stderr"), Path.of("/proc/self/fd/2"));
        Path log = dir.resolve("falcon.log");
        Process child = falconInAChild(with(fileArgs(), "--report", linkToStderr.toString()), ProcessBuilder.Redirect.DISCARD, log);
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(2, child.exitValue(), said);
        assertTrue(said.contains(linkToStderr + ": --report: is falcon's stderr, a file here (" + log.toRealPath() + "), which the output would replace"
                + " rather than write; give the output a file of its own, or - for stdout"), said);
        assertTrue(Files.isSymbolicLink(linkToStderr), "the link to stderr was replaced by the report");
        assertFalse(Files.exists(outDir), "no output may be created on error");
        Run closed = run(with(fileArgs(), "--mask", "/dev/fd/987"));
        assertFails(closed, 2, "/dev/fd/987: --mask: is falcon's file descriptor 987, which is not open");
    }

    /**
     * A JUL record being written when SIGTERM came (a library's WARNING, or the backend's INFO lines once LogManager's
     * own hook has reset the levels) followed the stop line: JUL's console handler wrote to the JVM's stderr, past the
     * gate of the run's own output, and LogManager's hook, which removes that handler, waits for a record in progress.
     */
    @Test
    void aLogRecordUnderWayWhenTheRunStopsDoesNotFollowTheStopLine() throws Exception {
        String said = stopWhilePrinting("log");
        assertLastLineIsTheStop(said, "falcon: stopped by SIGTERM while pruning (falcon); no output written");
        assertFalse(said.contains(PrintsWhenStopped.LOG_TEXT), said);
    }

    /**
     * A line that reaches the console in more than one write (picocli's writer and JUL's handler pass on 8192 characters
     * at a time: a summary line naming long paths, a warning with a long trace) was cut where the stop found it, and the
     * stop line went on from there, on the same line. A line is printed whole or not at all.
     */
    @Test
    void aLineCutByTheStopIsDroppedAndTheStopLineStartsALineOfItsOwn() throws Exception {
        String said = stopWhilePrinting("partial");
        assertLastLineIsTheStop(said, "falcon: stopped by SIGTERM while pruning (falcon); no output written");
        assertFalse(said.contains(PrintsWhenStopped.PARTIAL_TEXT.substring(0, 10)), said);
    }

    /**
     * A progress line was printed holding RunPhase's print lock and then took the stream's lock, while any other write
     * to the same stderr (a JUL record, a --grads-command's relayed line, the run's own messages) holds the stream's
     * lock and then takes the print lock in the stop gate: each waited for the other and the JVM hung for good, even
     * when signalled (seen: a run with a thread logging WARNINGs printed its stop line and never ended).
     */
    @Test
    void aProgressLineDueWhileAnotherThreadHoldsStderrDoesNotHangTheRun() throws Exception {
        Path log = dir.resolve("falcon.log"), marker = dir.resolve("printing");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                "-Dfalcon.test.marker=" + marker, "-Dfalcon.test.output=hold", PrintsWhenStopped.class.getName(),
                "prune", "--method", "falcon", "--example", "mobilenetv1", "--device", "cpu",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString()));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            assertTrue(child.waitFor(150, java.util.concurrent.TimeUnit.SECONDS), "falcon hung: " + Files.readString(log));
            String said = Files.readString(log);
            assertEquals(0, child.exitValue(), said);
            assertTrue(Files.exists(marker), said);
            assertTrue(said.contains(PrintsWhenStopped.HELD_TEXT) && said.contains("falcon: pruning (falcon) ... 2 s"), said);
        } finally {
            child.destroyForcibly();
        }
    }

    /** The report of a run stopped by SIGTERM while another thread of the run's JVM has output under way. */
    private String stopWhilePrinting(String output) throws Exception {
        Path log = dir.resolve("falcon.log"), marker = dir.resolve("printing");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                "-Dfalcon.test.marker=" + marker, "-Dfalcon.test.output=" + output, PrintsWhenStopped.class.getName(),
                "prune", "--method", "falcon", "--example", "mobilenetv1", "--device", "cpu",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString()));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + 180_000_000_000L;
            while (!Files.exists(marker) && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(Files.exists(marker), "the output never began: " + Files.readString(log));
            child.destroy(); // SIGTERM
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(143, child.exitValue(), said);
            return said;
        } finally {
            child.destroyForcibly();
        }
    }

    /** Ctrl-C during a falcon++ stage's solve: the line names the stage, as it does for a stage's --grads-command. */
    @Test
    void falconPlusPlusStoppedByCtrlCInAStageSaysWhichStage() throws Exception {
        Path log = dir.resolve("falcon.log");
        // a JVM that starts with SIGINT ignored (a background job, as a build may be) keeps ignoring it: env gives the
        // child SIGINT's default action, as in a terminal
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "prune", "--method", "falcon++", "--stages", "3",
                "--example", "mobilenetv1", "--device", "cpu", "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString()));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + 180_000_000_000L;
            // the progress line names the stage: a stop right after the phase's first line could land before stage 1
            // began (stage 0 takes seconds on a loaded machine) and be reported, rightly, as "while pruning (falcon++)"
            while (!Files.readString(log).contains(" s (stage 1's solve)") && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(50);
            assertTrue(Files.readString(log).contains(" s (stage 1's solve)"), "no progress line of stage 1's solve: " + Files.readString(log));
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(child.pid())).start().waitFor());
            assertTrue(child.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
            String said = Files.readString(log);
            assertEquals(130, child.exitValue(), said);
            // stage 0 runs at the dense start level and prunes nothing: stage 1 is the first to solve
            assertLastLineIsTheStop(said, "falcon: stopped by SIGINT during stage 1's solve (falcon++); no output written");
            assertFalse(Files.exists(outDir.resolve("p.npy")), "outputs written: " + said);
        } finally {
            child.destroyForcibly();
        }
    }

    /** falcon's CLI in a JVM of its own, stdout and stderr into a file (a pipe, read as the child ends, may lose the last lines). */
    /**
     * The library's warnings (here the sweep backsolve stopping before it converged) came out in JUL's default form,
     * a line with the date and "dev.falcon.solve.Backsolve sweep" and then "WARNING: ...", among the CLI's own
     * "falcon: warning: ..." lines; they are one line of the same form.
     */
    @Test
    void aLibraryWarningIsOneLineInTheCliForm() throws Exception {
        java.util.Random random = new java.util.Random(5);
        Path x = dir.resolve("Xsweep.npy"), w = dir.resolve("wsweep.npy"), layers = dir.resolve("sweep.json");
        try (FloatPointer v = new FloatPointer(4 * 120)) {
            for (int i = 0; i < 4 * 120; i++) v.put(i, (float) random.nextGaussian());
            Npy.writeFloat32(x, v, new long[] {4, 120});
        }
        try (FloatPointer v = new FloatPointer(120)) {
            for (int i = 0; i < 120; i++) v.put(i, (float) random.nextGaussian());
            Npy.writeFloat32(w, v, new long[] {120});
        }
        Files.writeString(layers, "{\"layers\":[{\"name\":\"a\",\"shape\":[60],\"flops_per_weight\":2},{\"name\":\"b\",\"shape\":[60],\"flops_per_weight\":1}]}");
        Path log = dir.resolve("falcon.log");
        Process child = falconLoggingTo(log, "prune", "--grads", x.toString(), "--weights", w.toString(), "--layers", layers.toString(), "--method", "mp",
                "--backsolve", "sweep", "--block-size", "5", "--lambda", "1e-4", "--keep-flops", "0.6", "--out", outDir.resolve("p.npy").toString(),
                "--report", outDir.resolve("r.json").toString(), "--quiet");
        assertTrue(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        String said = Files.readString(log);
        assertEquals(0, child.exitValue(), said);
        assertEquals(List.of("falcon: warning: block-coordinate backsolve stopped after 100 sweeps"),
                said.lines().map(l -> l.replaceAll(" with Q still falling.*", "")).toList(), said);
        assertTrue(said.contains("--backsolve exact solves the same model directly"), said);

        // falcon backsolves candidate after candidate: the same line came once per backsolve (26 times in one run)
        Path falconLog = dir.resolve("falcon-sweep.log");
        child = falconLoggingTo(falconLog, "prune", "--grads", x.toString(), "--weights", w.toString(), "--layers", layers.toString(), "--method", "falcon",
                "--backsolve", "sweep", "--block-size", "5", "--lambda", "1e-4", "--keep-flops", "0.6", "--max-iterations", "5", "--rounds", "2",
                "--out", outDir.resolve("p.npy").toString(), "--report", outDir.resolve("r.json").toString(), "--quiet");
        assertTrue(child.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "falcon did not end");
        said = Files.readString(falconLog);
        assertEquals(0, child.exitValue(), said);
        // one line for the whole solve, told at its end about the sweep whose weights are the final ones where one stopped
        // short (here round 2's), else about the first stop
        assertEquals(1, said.lines().filter(l -> l.contains("block-coordinate backsolve stopped after")).count(), said);
        assertTrue(said.contains("told once per prune"), said);
        assertTrue(said.matches("(?s).* in round \\d+: .*"), "the line names the round whose sweep stopped short: " + said);
        // the report carries it, in the CLI's words
        String warning = new com.fasterxml.jackson.databind.ObjectMapper().readTree(outDir.resolve("r.json").toFile())
                .at("/objective/solver/backsolve_warning").asText();
        assertTrue(warning.startsWith("block-coordinate backsolve stopped after") && warning.contains("--backsolve exact solves"), warning);
        assertEquals("falcon: warning: " + warning, said.lines().filter(l -> l.contains("block-coordinate backsolve stopped after")).findFirst().orElseThrow(),
                "the report carries stderr's line");
    }

    private static Process falconLoggingTo(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    /** {@code line} is said once, as the last line, with no trace or internal error. */
    static void assertLastLineIsTheStop(String said, String line) {
        List<String> lines = said.lines().toList();
        assertFalse(lines.isEmpty(), "nothing said");
        assertEquals(line, lines.get(lines.size() - 1), said);
        assertEquals(1, lines.stream().filter(l -> l.contains("stopped")).count(), said);
        assertFalse(said.contains("internal error") || said.contains("\tat ") || said.contains("Exception"), said);
    }

    static void assertStoppedInOneLine(String said, String signal, int stage) {
        assertTrue(said.contains("falcon: stopped by " + signal + " during stage " + stage + "'s --grads-command; no output written"), said);
        assertFalse(said.contains("internal error") || said.contains("\tat ") || said.contains("Exception"), said);
        assertEquals(1, said.lines().filter(l -> l.startsWith("falcon:")).count(), said);
    }

    /** falcon's CLI in a JVM of its own (options such as java.io.tmpdir are read once per JVM; signals end it), stdout and stderr merged. */
    static Process childFalcon(List<String> jvmOptions, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path")));
        cmd.addAll(jvmOptions);
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    /**
     * A bound below -1.8e308 (g of 1e10 over lambda 1e-300: g/lambda overflows double) is no number: the selection got
     * NaN scores and the run failed; the report writes null and says why, and the summary says there is none.
     */
    @Test
    void aLowerBoundBeyondDoubleIsWrittenAsNoneWithTheReason() throws IOException {
        Path g = dir.resolve("g_huge.npy");
        try (FloatPointer v = values(P, 5)) {
            for (int i = 0; i < P; i++) v.put(i, 1e10f);
            Npy.writeFloat32(g, v, new long[] {P});
        }
        Run r = run(java.util.Arrays.stream(fileArgs("--keep-flops", "0.4", "--method", "mp", "--linear-term", g.toString(), "--lambda", "1e-300"))
                .filter(a -> !a.equals("--quiet")).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode bound = new ObjectMapper().readTree(outDir.resolve("r.json").toFile()).at("/objective/lower_bound");
        assertTrue(bound.get("ours").isNull(), bound.toString());
        assertTrue(bound.get("ours_note").asText().contains("below -1.8e308"), bound.toString());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("  lower bound: none, ")), r.out());
    }

    /**
     * --linear-term with falcon++: const stages all run at the final budgets, so four of them must end where one does.
     * With g passed to every stage, each later stage took another step along -g and Q after grew stage by stage.
     */
    @Test
    void linearTermEntersFalconPlusPlusOnce() throws IOException {
        Path g = dir.resolve("g.npy");
        try (FloatPointer v = values(P, 5)) {
            for (int i = 0; i < P; i++) v.put(i, 3 * v.get(i));
            Npy.writeFloat32(g, v, new long[] {P});
        }
        ObjectMapper mapper = new ObjectMapper();
        double[] q = new double[2];
        String[][] stages = {{"--stages", "1"}, {"--stages", "4", "--schedule", "const"}};
        for (int k = 0; k < 2; k++) {
            List<String> a = new ArrayList<>(List.of(fileArgs("--keep-flops", "0.4", "--method", "falcon++", "--linear-term", g.toString(), "--lambda", "0.1")));
            a.addAll(List.of(stages[k]));
            Run r = run(a.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            JsonNode rep = mapper.readTree(outDir.resolve("r.json").toFile());
            q[k] = rep.at("/objective/ours/after").asDouble();
            assertTrue(rep.at("/objective/solver/stages_note").asText().contains("enters stage 0, the first that prunes, only"), rep.at("/objective/solver").toString());
        }
        assertEquals(q[0], q[1], 1e-6 * Math.abs(q[0]), "Q after one stage " + q[0] + ", after four const stages " + q[1]);
    }
}
