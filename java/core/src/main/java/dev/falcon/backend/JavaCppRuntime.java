package dev.falcon.backend;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
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

    /** Null when JavaCPP's native library is loaded, else why not: the folder and the option that moves it. */
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

    private static String probe() {
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
