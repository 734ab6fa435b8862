package dev.falcon.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.falcon.model.Layer;
import dev.falcon.model.LayerTable;
import dev.falcon.model.Numbers;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The layer table file: {@code {"layers": [{"name", "shape", "flops_per_weight", optional "offset",
 * "count"}, ...]}} in flatten order. {@code offset} defaults to the end of the previous layer and
 * {@code count} to the product of {@code shape}; when both are given they must agree. The fields
 * {@code falcon_torch.export} writes besides these (at the top level {@code format}, {@code version},
 * {@code dense_flops}, ...; in each layer {@code kind} and {@code module}) are known and not read; any other key is
 * refused, naming the closest known one: a misspelt {@code "offest"} was ignored, and the offset it meant derived
 * instead. {@code NaN} and
 * {@code Infinity} literals (Python's json.dump writes them) are parsed so they can be reported as bad
 * FLOPs rather than as a JSON syntax error.
 */
public final class LayersJson {
    private LayersJson() {}

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /**
     * Reads and validates the table; {@code expectedParameters < 0} = unknown, otherwise p must match. A fix that names
     * the FLOP budget names it as a Java caller gives it ({@link LayerTable#JAVA_FLOPS_BUDGET}).
     */
    public static LayerTable read(Path file, long expectedParameters) {
        return read(file, expectedParameters, LayerTable.JAVA_FLOPS_BUDGET);
    }

    /** As {@link #read(Path, long)}, with the FLOP budget named in a fix as the caller gives it (the CLI: {@code --flops}). */
    public static LayerTable read(Path file, long expectedParameters, String flopsBudget) {
        JsonNode root = readTree(file);
        if (isReport(root)) {
            // its first key was refused as unknown, with "fix or remove it": the file is whole, just not a table
            throw InputException.of(file, "json", "is a falcon prune report (it has \"" + (root.has("falcon_version") ? "falcon_version" : "budgets")
                    + "\"), not a layer table", "give the layer table the run read (the report's inputs.files.layers), or " + SHAPE_FIX);
        }
        return read(file, root, expectedParameters, flopsBudget);
    }

    /**
     * The file's JSON where it is a report of falcon prune ({@code --report}), else null; a file that is no JSON is
     * refused as {@link #read} refuses it. Such a report is a .json falcon wrote, but no layer table.
     */
    public static JsonNode report(Path file) {
        JsonNode root = readTree(file);
        return isReport(root) ? root : null;
    }

    private static boolean isReport(JsonNode root) {
        return root != null && root.isObject() && (root.has("falcon_version") || root.has("budgets"));
    }

    private static final String SHAPE_FIX = "write {\"layers\": [{\"name\": ..., \"shape\": [...], \"flops_per_weight\": ...}, ...]}";

    private static JsonNode readTree(Path file) {
        InputFiles.requireRegularFile(file, InputFiles.LAYER_TABLE);
        String shapeFix = SHAPE_FIX;
        JsonNode root;
        try (java.io.InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file))) {
            refuseArrayFile(file, in);
            root = JSON.readTree(in);
        } catch (NoSuchFileException e) {
            throw InputException.of(file, "file", "does not exist", "check the path");
        } catch (JsonProcessingException e) {
            // Jackson describes nested locations with a placeholder for the source ("[Source: REDACTED ...; line: 1,
            // column: 12]"): keep the line and column, drop the placeholder
            String what = e.getOriginalMessage().replaceAll("\\[Source: [^;]*; ", "[");
            throw InputException.of(file, "json", "invalid JSON (" + what + " at line "
                    + (e.getLocation() == null ? "?" : e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr()) + ")",
                    "fix the JSON syntax");
        } catch (java.io.CharConversionException e) {
            // Jackson picks the text encoding from the first bytes; leading NULs (a safetensors header length, any binary
            // file) make it guess UTF-32 and then fail to decode. That is bad content, not an unreadable file, so it must
            // not fall into the IOException branch below, whose "check the path and permissions" cannot fix it. Jackson's
            // own words (an "Invalid UTF-32 character") would name an encoding the file was never meant to have.
            throw InputException.of(file, "json", "is not JSON text (its bytes do not decode as UTF-8, UTF-16 or UTF-32 text:"
                    + " a binary file such as a .npy or .safetensors?)", shapeFix
                    + "; arrays (.npy, .safetensors) go to --weights, --grads or --flops-per-weight, not --layers");
        } catch (IOException e) {
            throw ReadFailures.cannotRead(file, "file", "the layer table", e, "check the path and permissions");
        }
        return root;
    }

    /**
     * Refuses an .npy or safetensors file by its first bytes, as the array readers name a swapped one: Jackson called an
     * .npy "invalid JSON (Unexpected character ((CTRL-CHAR, code 147)) ...)" with "fix the JSON syntax" as the fix.
     * {@code in} is left at its start.
     */
    private static void refuseArrayFile(Path file, java.io.InputStream in) throws IOException {
        byte[] head = new byte[ArrayFiles.FORMAT_HEAD_BYTES];
        in.mark(head.length);
        int read = in.readNBytes(head, 0, head.length);
        in.reset();
        ArrayFiles.ContentFormat format = ArrayFiles.formatByContent(head, read);
        if (format == null) return;
        String what = format == ArrayFiles.ContentFormat.NPY ? "is an .npy array (it starts with the magic \\x93NUMPY)"
                : "is a safetensors file (an 8-byte header length, then a JSON header)";
        throw InputException.of(file, "json", what + ", not a layer table", "give --layers the layer table, " + SHAPE_FIX.substring("write ".length())
                + ", or give per-weight FLOP costs as an array to --flops-per-weight (and the weights to --weights)");
    }

    private static LayerTable read(Path file, JsonNode root, long expectedParameters, String flopsBudget) {
        String shapeFix = SHAPE_FIX;
        if (root == null || root.isMissingNode()) throw InputException.of(file, "json", "the file is empty", shapeFix);
        if (!root.isObject()) throw InputException.of(file, "json", "the top level is not an object", shapeFix);
        refuseUnknownKeys(file, "json", "top-level key", root, TOP_LEVEL_KEYS, EXPORTER_TOP_LEVEL_KEYS);
        JsonNode list = root.get("layers");
        if (list == null || !list.isArray()) throw InputException.of(file, "layers", "missing or not an array", shapeFix);
        if (list.isEmpty()) throw InputException.of(file, "layers", "is empty", "list at least one prunable layer");
        List<Layer> layers = new ArrayList<>();
        long next = 0;
        for (int i = 0; i < list.size(); i++) {
            JsonNode node = list.get(i);
            String at = "layers[" + i + "]";
            if (!node.isObject()) throw InputException.of(file, at, "is not an object", shapeFix);
            JsonNode nameNode = node.get("name");
            refuseUnknownKeys(file, at + (nameNode != null && nameNode.isTextual() ? " (\"" + LayerTable.escaped(nameNode.textValue()) + "\")" : ""),
                    "key", node, LAYER_KEYS, EXPORTER_LAYER_KEYS);
            if (nameNode == null || !nameNode.isTextual() || nameNode.textValue().isEmpty()) {
                throw InputException.of(file, at + ".name", "missing, empty or not a string", "give every layer its tensor name");
            }
            String name = nameNode.textValue();
            // before the name is quoted in any message below
            try {
                LayerTable.checkName(file.toString(), i, name);
            } catch (IllegalArgumentException e) {
                throw new InputException(e.getMessage(), e);
            }
            String where = at + " (\"" + name + "\")";
            JsonNode shapeNode = node.get("shape");
            if (shapeNode == null || !shapeNode.isArray()) {
                throw InputException.of(file, where + ".shape", "missing or not an array", "give the tensor shape, e.g. [64, 3, 3, 3]");
            }
            long[] shape = new long[shapeNode.size()];
            for (int d = 0; d < shape.length; d++) {
                JsonNode v = shapeNode.get(d);
                if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() <= 0) {
                    throw InputException.of(file, where + ".shape", "entry " + d + " " + whyNotAnInteger(v, 1),
                            integerFix(v, 1, "dimensions must be positive integers"));
                }
                shape[d] = v.longValue();
            }
            long elements;
            try {
                elements = Layer.elements(shape);
            } catch (ArithmeticException e) {
                throw InputException.of(file, where + ".shape", "the product of the dimensions overflows 64 bits", "check the shape");
            }
            JsonNode flopsNode = node.get("flops_per_weight");
            if (flopsNode == null || !flopsNode.isNumber()) {
                throw InputException.of(file, where + ".flops_per_weight", "missing or not a number",
                        "give the FLOPs one nonzero weight costs (H_out*W_out for a conv, 1 for a linear layer)");
            }
            double flops = flopsNode.doubleValue();
            long offset = optionalLong(file, where, node, "offset", next, 0);
            long count = optionalLong(file, where, node, "count", elements, 1);
            layers.add(new Layer(name, shape, flops, offset, count));
            // the next layer's default offset; where it overflows, or any other field is wrong, the table's own check
            // below names the layer
            next = offset + count;
        }
        LayerTable table;
        try {
            table = new LayerTable(layers, file.toString(), flopsBudget);
        } catch (IllegalArgumentException e) {
            throw new InputException(e.getMessage(), e);
        }
        if (expectedParameters >= 0 && table.parameters() != expectedParameters) {
            throw InputException.of(file, "layers", "the layers hold " + table.parameters() + " weights in all but the inputs have "
                    + expectedParameters, "the layer table and the weight/gradient files must describe the same prunable weights");
        }
        return table;
    }

    private static final List<String> TOP_LEVEL_KEYS = List.of("layers");
    private static final List<String> EXPORTER_TOP_LEVEL_KEYS = List.of("format", "version", "dense_flops", "parameters", "n_samples",
            "gradient_scale", "flops_unit");
    private static final List<String> LAYER_KEYS = List.of("name", "shape", "flops_per_weight", "offset", "count");
    private static final List<String> EXPORTER_LAYER_KEYS = List.of("kind", "module");

    private static void refuseUnknownKeys(Path file, String where, String what, JsonNode node, List<String> read, List<String> exporters) {
        for (java.util.Iterator<String> keys = node.fieldNames(); keys.hasNext(); ) {
            String key = keys.next();
            if (read.contains(key) || exporters.contains(key)) continue;
            String closest = null;
            int best = Integer.MAX_VALUE;
            for (String known : read) {
                int d = editDistance(key, known);
                if (d < best) {
                    best = d;
                    closest = known;
                }
            }
            // only a near miss is a likely misspelling: "extra" is no "count"
            boolean near = best <= Math.max(2, closest.length() / 3) && best < key.length();
            throw InputException.of(file, where, "unknown " + what + " \"" + LayerTable.escaped(key) + "\"" + (near ? " (did you mean \"" + closest + "\"?)" : "")
                    + "; the known keys are " + String.join(", ", read) + " (and " + String.join(", ", exporters)
                    + ", which falcon_torch.export writes and falcon does not read)", near ? "rename it to \"" + closest + "\"" : "fix or remove it");
        }
    }

    /** Edits (insertions, deletions, substitutions and swaps of neighbours) between a and b. */
    private static int editDistance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) d[i][0] = i;
        for (int j = 0; j <= b.length(); j++) d[0][j] = j;
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }

    /** A JSON value as a message quotes it: a number in falcon's form (1e20, -5; Jackson's 1.0E20), anything else as JSON. */
    private static String shown(JsonNode v) {
        return v.isFloatingPointNumber() ? Numbers.shown(v.doubleValue()) : v.toString();
    }

    /**
     * Why a value is no integer >= min. A whole number written with a decimal point or an exponent (json.dump of numpy
     * floats writes 2.0) is quoted as a decimal, since falcon's number form would print it as the integer it is not; it
     * is called written so only where the integer would be taken, lest the fix name a value refused in turn (-2.0).
     */
    private static String whyNotAnInteger(JsonNode v, long min) {
        boolean wholeDecimal = isWholeButWrittenAsDecimal(v);
        String quoted = wholeDecimal ? asDecimal(v.doubleValue()) : shown(v);
        if (v.isIntegralNumber() && !v.canConvertToLong() || wholeDecimal && v.doubleValue() >= 0x1p63) {
            return "is " + quoted + ", not an integer that fits 64 bits";
        }
        if (integerToWrite(v, min) != null) return "is " + quoted + ", written with a decimal point or an exponent, not as an integer";
        return "is " + quoted + ", not an integer >= " + min;
    }

    private static String integerFix(JsonNode v, long min, String otherwise) {
        BigInteger integer = integerToWrite(v, min);
        return integer == null ? otherwise : "write it as the integer " + integer + " (in Python: int(value))";
    }

    /** The integer a whole number written as a decimal stands for, where it would be taken (min .. 2^63 - 1); else null. */
    private static BigInteger integerToWrite(JsonNode v, long min) {
        if (!isWholeButWrittenAsDecimal(v) || v.doubleValue() < min || v.doubleValue() >= 0x1p63) return null;
        return new BigDecimal(v.doubleValue()).toBigInteger();
    }

    private static boolean isWholeButWrittenAsDecimal(JsonNode v) {
        return v.isFloatingPointNumber() && Double.isFinite(v.doubleValue()) && v.doubleValue() == Math.rint(v.doubleValue());
    }

    /** A whole double as a decimal: 2.0, -2.0, 3e18 (falcon's form, with the ".0" it drops where it has no exponent). */
    private static String asDecimal(double whole) {
        String shown = Numbers.shown(whole);
        return shown.contains("e") ? shown : shown + ".0";
    }

    private static long optionalLong(Path file, String where, JsonNode node, String key, long fallback, long min) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < min) {
            throw InputException.of(file, where + "." + key, whyNotAnInteger(v, min),
                    integerFix(v, min, "fix it or omit it (it is then derived from the shapes)"));
        }
        return v.longValue();
    }

    /** Writes the table (name, shape, flops_per_weight, offset, count for every layer), atomically. */
    public static void write(Path file, LayerTable table) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode list = root.putArray("layers");
        for (Layer l : table.layers()) {
            ObjectNode o = list.addObject();
            o.put("name", l.name());
            ArrayNode shape = o.putArray("shape");
            for (long d : l.shape()) shape.add(d);
            o.put("flops_per_weight", l.flopsPerWeight());
            o.put("offset", l.offset());
            o.put("count", l.count());
        }
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        AtomicFiles.write(file, temp -> Files.write(temp, bytes));
    }
}
