package dev.falcon.io;

import static dev.falcon.io.Fixtures.assertInput;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LayersJsonTest {
    @TempDir Path dir;

    private Path json(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    private static String layers(String... entries) {
        return "{\"layers\": [" + String.join(", ", entries) + "]}";
    }

    @Test
    void roundTrip() {
        LayerTable table = new LayerTable(List.of(
                new Layer("conv1.weight", new long[] {16, 3, 3, 3}, 1024, 0, 432),
                new Layer("fc.weight", new long[] {10, 64}, 1, 432, 640)), "test");
        Path f = dir.resolve("layers.json");
        LayersJson.write(f, table);
        LayerTable back = LayersJson.read(f, 1072);
        assertEquals(table.layers(), back.layers());
        assertEquals(1072, back.parameters());
    }

    /**
     * A table read in Java whose dense FLOPs leave a double was told to give "--flops in the same unit", an option of a
     * CLI it never ran: the Java reader names Budgets.resolve's argument, and the CLI's option only where the CLI asks.
     */
    @Test
    void denseFlopsBeyondADoubleNameTheFlopBudgetAsTheCallerGivesIt() throws IOException {
        Path f = json("huge.json", layers("{\"name\": \"a\", \"shape\": [4, 25], \"flops_per_weight\": 1e307}"));
        InputException java = assertThrows(InputException.class, () -> LayersJson.read(f, -1));
        assertTrue(java.getMessage().contains("and Budgets.resolve's flops in the same unit") && !java.getMessage().contains("--flops"),
                java.getMessage());
        InputException cli = assertThrows(InputException.class, () -> LayersJson.read(f, -1, "--flops"));
        assertTrue(cli.getMessage().endsWith(LayerTable.RESCALE_COSTS_FIX), cli.getMessage());
    }

    @Test
    void derivesOffsetsAndCountsAndTakesTheExportersFields() throws IOException {
        // falcon_torch.export writes these besides the table: they are known, not read
        Path f = json("l.json", "{\"format\": \"falcon-layers\", \"version\": 1, \"dense_flops\": 2052.5, \"parameters\": 11,"
                + " \"n_samples\": 0, \"gradient_scale\": \"1/sqrt(n)\", \"flops_unit\": \"multiply-adds per sample\", \"layers\": ["
                + "{\"name\": \"a\", \"shape\": [4, 2], \"flops_per_weight\": 256, \"kind\": \"conv\", \"module\": \"features.0\"},"
                + "{\"name\": \"b\", \"shape\": [3], \"flops_per_weight\": 1.5, \"offset\": 8, \"count\": 3}]}");
        LayerTable t = LayersJson.read(f, -1);
        assertEquals(11, t.parameters());
        assertEquals(8, t.get(0).count());
        assertEquals(8, t.get(1).offset());
        assertEquals(1.5, t.get(1).flopsPerWeight());
    }

    /**
     * A misspelt key ("offest", "cuont") was ignored: the offset or count it meant was derived instead, silently, and a
     * top-level one too. Refused naming the file, the layer, the key, the known keys and the closest of them.
     */
    @Test
    void refusesUnknownKeysNamingTheClosestKnownOne() throws IOException {
        Path offset = json("offest.json", layers("{\"name\": \"a\", \"shape\": [4], \"flops_per_weight\": 2, \"offest\": 0}"));
        assertInput(() -> LayersJson.read(offset, -1), offset, "layers[0] (\"a\"): unknown key \"offest\"", "did you mean \"offset\"?",
                "name, shape, flops_per_weight, offset, count");
        Path count = json("cuont.json", layers("{\"name\": \"a\", \"shape\": [4], \"flops_per_weight\": 2}",
                "{\"name\": \"b\", \"shape\": [4], \"flops_per_weight\": 2, \"cuont\": 4}"));
        assertInput(() -> LayersJson.read(count, -1), count, "layers[1] (\"b\"): unknown key \"cuont\"", "did you mean \"count\"?");
        Path top = json("extra.json", "{\"extra\": 1, \"layers\": [{\"name\": \"a\", \"shape\": [4], \"flops_per_weight\": 2}]}");
        assertInput(() -> LayersJson.read(top, -1), top, "unknown top-level key \"extra\"", "layers");
        Path layerz = json("layerz.json", "{\"layerz\": []}");
        assertInput(() -> LayersJson.read(layerz, -1), layerz, "unknown top-level key \"layerz\"", "did you mean \"layers\"?");
    }

    @Test
    void rejectsBadTables() throws IOException {
        String a = "{\"name\": \"a\", \"shape\": [4], \"flops_per_weight\": 2}";
        Path count = json("count.json", layers("{\"name\": \"a\", \"shape\": [4, 2], \"flops_per_weight\": 2, \"count\": 7}"));
        assertInput(() -> LayersJson.read(count, -1), count, "layers[0] (\"a\").count", "7", "8 elements");
        Path gap = json("gap.json", layers(a, "{\"name\": \"b\", \"shape\": [2], \"flops_per_weight\": 2, \"offset\": 5}"));
        assertInput(() -> LayersJson.read(gap, -1), gap, "layers[1] (\"b\").offset", "a gap");
        Path overlap = json("overlap.json", layers(a, "{\"name\": \"b\", \"shape\": [2], \"flops_per_weight\": 2, \"offset\": 3}"));
        assertInput(() -> LayersJson.read(overlap, -1), overlap, "layers[1] (\"b\").offset", "an overlap");
        Path dup = json("dup.json", layers(a, a.replace("[4]", "[1]")));
        assertInput(() -> LayersJson.read(dup, -1), dup, "layers[1] (\"a\").name", "duplicates layers[0]");
        Path nan = json("nan.json", layers(a.replace("2}", "NaN}")));
        assertInput(() -> LayersJson.read(nan, -1), nan, "layers[0] (\"a\").flops_per_weight", "NaN", "positive");
        Path zero = json("zero.json", layers(a.replace("2}", "0}")));
        assertInput(() -> LayersJson.read(zero, -1), zero, "flops_per_weight", "positive");
        Path neg = json("neg.json", layers(a.replace("2}", "-3}")));
        assertInput(() -> LayersJson.read(neg, -1), neg, "flops_per_weight");
        Path inf = json("inf.json", layers(a.replace("2}", "Infinity}")));
        assertInput(() -> LayersJson.read(inf, -1), inf, "flops_per_weight", "is Inf;");
        Path noFlops = json("noflops.json", layers("{\"name\": \"a\", \"shape\": [4]}"));
        assertInput(() -> LayersJson.read(noFlops, -1), noFlops, "flops_per_weight", "missing");
        Path noName = json("noname.json", layers("{\"shape\": [4], \"flops_per_weight\": 1}"));
        assertInput(() -> LayersJson.read(noName, -1), noName, "layers[0].name");
        Path badShape = json("shape.json", layers("{\"name\": \"a\", \"shape\": [4, 0], \"flops_per_weight\": 1}"));
        assertInput(() -> LayersJson.read(badShape, -1), badShape, "layers[0] (\"a\").shape", "positive");
        Path total = json("total.json", layers(a));
        assertInput(() -> LayersJson.read(total, 5), total, "layers", "4 weights", "5");
        Path syntax = json("syntax.json", "{\"layers\": [");
        assertInput(() -> LayersJson.read(syntax, -1), syntax, "json", "invalid JSON");
        Path unbalanced = json("unbalanced.json", "{\"layers\": [}");
        InputException e = assertThrows(InputException.class, () -> LayersJson.read(unbalanced, -1));
        assertTrue(e.getMessage().contains("line: 1, column: 12") && !e.getMessage().contains("REDACTED"), e.getMessage());
        Path empty = json("empty.json", "{\"layers\": []}");
        assertInput(() -> LayersJson.read(empty, -1), empty, "layers", "empty");
        Path top = json("top.json", "[1, 2]");
        assertInput(() -> LayersJson.read(top, -1), top, "json", "not an object");
        Path dupKey = json("dupkey.json", "{\"layers\": [" + a + "], \"layers\": []}");
        assertInput(() -> LayersJson.read(dupKey, -1), dupKey, "json", "Duplicate");
        assertInput(() -> LayersJson.read(dir.resolve("none.json"), -1), dir.resolve("none.json"), "does not exist");
    }

    /**
     * A binary file given as the layer table (a .safetensors, whose first bytes are a little-endian header length with
     * NULs in it, or any file starting with NULs) made Jackson guess UTF-32 and throw a CharConversionException, which
     * was reported as "file: cannot be read (Invalid UTF-32 character ...); check the path and permissions".
     */
    /**
     * json.dump of numpy floats writes a whole number as 2.0: the refusal quoted it in falcon's number form ("entry 0 is 2,
     * not a positive integer"), contradicting itself, and called an integer beyond 64 bits "not a positive integer".
     */
    @Test
    void aWholeNumberWrittenAsADecimalIsQuotedAsWrittenWithTheIntegerToWrite() throws IOException {
        Path decimal = json("decimal.json", layers("{\"name\": \"a\", \"shape\": [2.0, 4], \"flops_per_weight\": 2}"));
        assertInput(() -> LayersJson.read(decimal, -1), decimal,
                "layers[0] (\"a\").shape: entry 0 is 2.0, written with a decimal point or an exponent, not as an integer",
                "write it as the integer 2");
        Path exponent = json("exponent.json", layers("{\"name\": \"a\", \"shape\": [2.4e1], \"flops_per_weight\": 2}"));
        assertInput(() -> LayersJson.read(exponent, -1), exponent, "entry 0 is 24.0, written with a decimal point", "the integer 24");
        Path count = json("count8.json", layers("{\"name\": \"a\", \"shape\": [8], \"flops_per_weight\": 2, \"count\": 8.0}"));
        assertInput(() -> LayersJson.read(count, -1), count, "layers[0] (\"a\").count: is 8.0, written with a decimal point",
                "write it as the integer 8");
        Path huge = json("huge.json", layers("{\"name\": \"a\", \"shape\": [99999999999999999999], \"flops_per_weight\": 2}"));
        assertInput(() -> LayersJson.read(huge, -1), huge, "entry 0 is 99999999999999999999, not an integer that fits 64 bits");
        // the integer fix only where the integer is taken: "write it as the integer -2" was refused in turn
        Path negative = json("negative.json", layers("{\"name\": \"a\", \"shape\": [-2.0, 2], \"flops_per_weight\": 2}"));
        InputException refused = assertInput(() -> LayersJson.read(negative, -1), negative, "entry 0 is -2.0, not an integer >= 1",
                "dimensions must be positive integers");
        assertTrue(!refused.getMessage().contains("write it as the integer"), refused.getMessage());
        Path zeroCount = json("zero.json", layers("{\"name\": \"a\", \"shape\": [8], \"flops_per_weight\": 2, \"count\": 0.0}"));
        assertInput(() -> LayersJson.read(zeroCount, -1), zeroCount, ".count: is 0.0, not an integer >= 1", "fix it or omit it");
        Path zeroOffset = json("offset0.json", layers("{\"name\": \"a\", \"shape\": [8], \"flops_per_weight\": 2, \"offset\": 0.0}"));
        assertInput(() -> LayersJson.read(zeroOffset, -1), zeroOffset, ".offset: is 0.0, written with a decimal point", "the integer 0");
        // whole numbers of 1e18 and more: one that fits a long is still an integer to write, one beyond it is said to be
        Path big = json("big.json", layers("{\"name\": \"a\", \"shape\": [3e18], \"flops_per_weight\": 2}"));
        assertInput(() -> LayersJson.read(big, -1), big, "entry 0 is 3e18, written with a decimal point", "the integer 3000000000000000000");
        Path beyond = json("beyond.json", layers("{\"name\": \"a\", \"shape\": [1e20], \"flops_per_weight\": 2}"));
        assertInput(() -> LayersJson.read(beyond, -1), beyond, "entry 0 is 1e20, not an integer that fits 64 bits");
        Path fraction = json("fraction.json", layers("{\"name\": \"a\", \"shape\": [2.5], \"flops_per_weight\": 2}"));
        assertInput(() -> LayersJson.read(fraction, -1), fraction, "entry 0 is 2.5, not an integer >= 1", "dimensions must be positive integers");
    }

    @Test
    void aBinaryFileIsBadContentNotAnUnreadableFile() throws IOException {
        // an .npy or safetensors file is named as such (anArrayFileIsNamedAsSuchNotAsBrokenJson)
        Path leadingNuls = dir.resolve("nul.json");
        Files.write(leadingNuls, "\0\0\0{\"layers\":[]}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (Path binary : new Path[] {leadingNuls}) {
            InputException e = assertInput(() -> LayersJson.read(binary, -1), binary, "json", "is not JSON text",
                    "{\"layers\": [", "--weights");
            assertTrue(!e.getMessage().contains("permissions") && !e.getMessage().contains("UTF-32 character"), e.getMessage());
        }
    }

    /**
     * An .npy given as the layer table (the weights or per-weight costs in the wrong option) was "invalid JSON
     * (Unexpected character ((CTRL-CHAR, code 147)) ...); fix the JSON syntax", and a safetensors file was only guessed at
     * ("a binary file such as a .npy or .safetensors?"). The array readers name a swapped .npy/.safetensors file by its
     * first bytes; so does the layer table.
     */
    @Test
    void anArrayFileIsNamedAsSuchNotAsBrokenJson() throws IOException {
        Path npy = dir.resolve("w.npy");
        Files.write(npy, Fixtures.npyV1(Fixtures.dict("<f4", false, "(2,)"), Fixtures.floats(java.nio.ByteOrder.LITTLE_ENDIAN, 1, 2)));
        InputException e = assertInput(() -> LayersJson.read(npy, -1), npy, "w.npy: json: is an .npy array (it starts with the magic"
                + " \\x93NUMPY), not a layer table", "{\"layers\": [", "--flops-per-weight");
        assertTrue(!e.getMessage().contains("CTRL-CHAR") && !e.getMessage().contains("fix the JSON syntax"), e.getMessage());
        Path safetensors = dir.resolve("w.safetensors");
        Files.write(safetensors, Fixtures.safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                Fixtures.floats(java.nio.ByteOrder.LITTLE_ENDIAN, 1)));
        e = assertInput(() -> LayersJson.read(safetensors, -1), safetensors, "w.safetensors: json: is a safetensors file (an 8-byte"
                + " header length, then a JSON header), not a layer table", "{\"layers\": [", "--flops-per-weight");
        assertTrue(!e.getMessage().contains("?"), e.getMessage());
    }

    /** An empty file (an exporter that died before writing) was "the top level is not an object". */
    @Test
    void anEmptyFileIsCalledEmpty() throws IOException {
        for (String content : new String[] {"", "  \n"}) {
            Path empty = json("empty.json", content);
            assertInput(() -> LayersJson.read(empty, -1), empty, "json", "the file is empty");
        }
        Path array = json("array.json", "[]");
        assertInput(() -> LayersJson.read(array, -1), array, "json", "the top level is not an object");
    }

    @Test
    void rejectsLayersWhoseWeightsOverflowALong() throws IOException {
        // each layer of 2^62 weights is valid alone; the second brings the running offset past Long.MAX_VALUE
        String quarter = "{\"name\": \"q%d\", \"shape\": [4611686018427387904], \"flops_per_weight\": 1}";
        Path overflow = json("overflow.json", layers(quarter.formatted(0), quarter.formatted(1), quarter.formatted(2)));
        assertInput(() -> LayersJson.read(overflow, -1), overflow, "layers[1] (\"q1\").shape", "weights in all");
    }

    @Test
    void rejectsFlopsWhoseDenseTotalOverflows() throws IOException {
        // 1e308 is a finite double, but 4 weights of it (and 1e308 + 1e308 over two layers) are not
        Path layer = json("layer.json", layers("{\"name\": \"a\", \"shape\": [4], \"flops_per_weight\": 1e308}"));
        assertInput(() -> LayersJson.read(layer, -1), layer, "layers[0] (\"a\").flops_per_weight", "is 1e308:", "dense FLOPs");
        String one = "{\"name\": \"%s\", \"shape\": [1], \"flops_per_weight\": 1e308}";
        Path sum = json("sum.json", layers(one.formatted("a"), one.formatted("b")));
        assertInput(() -> LayersJson.read(sum, -1), sum, "layers[1] (\"b\").flops_per_weight", "dense FLOPs");
        Path large = json("large.json", layers("{\"name\": \"a\", \"shape\": [4], \"flops_per_weight\": 1e300}"));
        assertEquals(4e300, LayersJson.read(large, -1).denseFlops(), 1e285);
    }

    /** The name was quoted raw in the file's messages (here a later shape error) before the table was checked. */
    @Test
    void aNameWithControlCharactersIsRefusedBeforeItIsQuoted() throws IOException {
        Path esc = json("esc.json", layers("{\"name\": \"a\\u001b[31mRED\\u001b[0m\\nfalcon: fake line\", \"shape\": [0], \"flops_per_weight\": 1}"));
        InputException e = assertThrows(InputException.class, () -> LayersJson.read(esc, -1));
        assertTrue(e.getMessage().startsWith(esc + ": layers[0].name: \"a\\u001b[31mRED\\u001b[0m\\u000afalcon: fake line\" has the control character \\u001b")
                && e.getMessage().chars().noneMatch(Character::isISOControl), e.getMessage());
    }
}
