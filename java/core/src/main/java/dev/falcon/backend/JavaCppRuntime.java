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
     * Null where JavaCPP can read its size properties ({@code -Dorg.bytedeco.javacpp.maxBytes} and
     * {@code maxPhysicalBytes}), else the one it cannot, with its value and the forms it reads. JavaCPP reads them in
     * Pointer's class initializer, so an unreadable one ({@code 1.5g}, the form falcon's own
     * {@code -Dfalcon.memory.available} takes) made every backend unusable, was blamed on the cache folder (whose move
     * cannot fix it) and printed a stack trace from JavaCPP's deallocator thread, which that initializer starts first.
     * Checked without touching Pointer, whose failed initialization cannot be undone.
     */
    public static String settingProblem() {
        for (String name : List.of("maxBytes", "maxPhysicalBytes")) {
            String property = "org.bytedeco.javacpp." + name, lowerCase = property.toLowerCase(Locale.ROOT);
            // JavaCPP's own lookup: the camel-case name, else the lower-case one; an empty value is left unread
            String value = System.getProperty(property, System.getProperty(lowerCase));
            if (value == null || value.isEmpty() || readAsSize(value)) continue;
            String given = System.getProperty(property) != null ? property : lowerCase;
            return "-D" + given + "=" + value + " is not a size JavaCPP reads (it fails to load, which makes every backend unusable):"
                    + " write whole bytes with an optional k, m, g or t suffix (600m, 2g), a percentage of the Java heap (50%),"
                    + " or 0 for no limit (the launcher's default), e.g. FALCON_JAVA_OPTS='-D" + given + "=2g'";
        }
        return null;
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
