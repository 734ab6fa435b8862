package dev.falcon.backend;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;

/**
 * JavaCPP's own native library, which every off-heap vector needs whatever the backend. JavaCPP extracts it from the
 * jar into a cache folder first; where no such folder can be created or written, every backend is unusable, and the
 * first vector a run allocated failed with JavaCPP's "No native JavaCPP library in memory. (Has Loader.load() been
 * called?)" and a stack trace, naming neither the folder nor how to move it.
 */
public final class JavaCppRuntime {
    /** JavaCPP's system property for its cache folder (the launcher sets it to a folder inside the clone). */
    public static final String CACHE_PROPERTY = "org.bytedeco.javacpp.cachedir";

    private static volatile String problem;
    private static volatile boolean probed;

    private JavaCppRuntime() {}

    /**
     * Null when JavaCPP's native library is loaded, else why not: a size property it cannot read
     * ({@link #settingProblem}), or the folder and the option that moves it.
     */
    public static String problem() {
        if (!probed) {
            synchronized (JavaCppRuntime.class) {
                if (!probed) {
                    problem = probe();
                    probed = true;
                }
            }
        }
        return problem;
    }

    /** The folder JavaCPP extracts native libraries to, or null when it has none. */
    public static File cacheDir() {
        try {
            return Loader.getCacheDir();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Null where JavaCPP can read the properties Pointer's class initializer parses (the sizes
     * {@code -Dorg.bytedeco.javacpp.maxBytes} and {@code maxPhysicalBytes}, and the count {@code maxRetries}), else the
     * first it cannot, with its value and the forms it reads. An unreadable one ({@code 1.5g}, the form falcon's own
     * {@code -Dfalcon.memory.available} takes) failed that initializer: every backend was unusable, the cause was
     * blamed on the cache folder (whose move cannot fix it) and JavaCPP's deallocator thread, which that initializer
     * starts first, printed a stack trace. Checked without touching Pointer, whose failed initialization cannot be undone.
     */
    public static String settingProblem() {
        for (String name : SETTINGS) {
            String problem = settingProblem(name);
            if (problem != null) return problem;
        }
        return null;
    }

    /** The properties Pointer's class initializer parses, in its order. */
    private static final List<String> SETTINGS = List.of("maxBytes", "maxPhysicalBytes", "maxRetries");

    /** As {@link #settingProblem()} for one of them, by its camel-case name ({@code maxBytes}): null where it is readable. */
    public static String settingProblem(String name) {
        if (!SETTINGS.contains(name)) throw new IllegalArgumentException("not a property Pointer parses: " + name);
        String property = "org.bytedeco.javacpp." + name, lowerCase = property.toLowerCase(Locale.ROOT);
        // JavaCPP's own lookup: the camel-case name, else the lower-case one; an empty value is left unread
        String value = System.getProperty(property, System.getProperty(lowerCase));
        if (value == null || value.isEmpty()) return null;
        String given = System.getProperty(property) != null ? property : lowerCase;
        if (name.equals("maxRetries")) {
            if (readAsInt(value)) return null;
            return "-D" + given + "=" + value + " is not a whole number JavaCPP reads (it fails to load, which makes every backend unusable):"
                    + " write the count of times it retries an allocation after a garbage collection, in digits (10, its default),"
                    + " e.g. FALCON_JAVA_OPTS='-D" + given + "=10'";
        }
        if (readAsSize(value)) return null;
        return "-D" + given + "=" + value + " is not a size JavaCPP reads (it fails to load, which makes every backend unusable):"
                + " write whole bytes with an optional k, m, g or t suffix (600m, 2g), a percentage of the Java heap (50%),"
                + " or 0 for no limit (the launcher's default), e.g. FALCON_JAVA_OPTS='-D" + given + "=2g'";
    }

    /** Whether JavaCPP's Integer.parseInt of maxRetries takes {@code value}. */
    private static boolean readAsInt(String value) {
        try {
            Integer.parseInt(value);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** Whether JavaCPP's Pointer.parseBytes takes {@code value}: digits, then blanks and a suffix it knows, or none. */
    private static boolean readAsSize(String value) {
        int digits = 0;
        while (digits < value.length() && Character.isDigit(value.charAt(digits))) digits++;
        try {
            Long.parseLong(value.substring(0, digits));
        } catch (NumberFormatException e) { // no digits, or more than a long holds
            return false;
        }
        return List.of("", "%", "t", "tb", "g", "gb", "m", "mb", "k", "kb").contains(value.substring(digits).trim().toLowerCase(Locale.ROOT));
    }

    private static String probe() {
        String setting = settingProblem();
        if (setting != null) return setting;
        try (BytePointer ignored = new BytePointer(1L)) {
            return null;
        } catch (Throwable t) { // RuntimeException wrapping an UnsatisfiedLinkError, or a failed class initializer
            return explain(t);
        }
    }

    private static String explain(Throwable t) {
        String fix = "set -D" + CACHE_PROPERTY + "=DIR to a writable folder (through the launcher: FALCON_JAVA_OPTS='-D"
                + CACHE_PROPERTY + "=DIR')";
        File dir = cacheDir();
        if (dir == null) {
            // JavaCPP's own order of candidates (Loader.getCacheDir)
            String configured = System.getProperty(CACHE_PROPERTY);
            return "JavaCPP cannot load its native library: it could create none of the folders it extracts native libraries to, "
                    + (configured != null ? configured + " (-D" + CACHE_PROPERTY + "), " : "")
                    + new File(System.getProperty("user.home"), ".javacpp/cache") + " (in user.home) and "
                    + new File(System.getProperty("java.io.tmpdir"), ".javacpp-" + System.getProperty("user.name") + "/cache")
                    + " (in java.io.tmpdir); " + fix;
        }
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String cause = root.getMessage() == null ? root.getClass().getSimpleName() : root.getClass().getSimpleName() + ": " + root.getMessage();
        return "JavaCPP cannot load its native library from its cache folder " + dir
                + (Files.isWritable(dir.toPath()) ? "" : ", which is not writable") + " (" + cause + "); " + fix;
    }
}
