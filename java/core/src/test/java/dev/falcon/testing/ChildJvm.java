package dev.falcon.testing;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Tests that need a fresh JVM (environment set before the libraries load, a crash or a signal that must not take the
 * suite down), in every module.
 */
public final class ChildJvm {
    private ChildJvm() {}

    /** The command that runs {@code main} in a child JVM on this test's class path and JavaCPP cache, with {@code options}. */
    public static List<String> command(Class<?> main, String... options) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        // the suite's own cache: a second extraction of the same libraries could race with it
        String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cache != null) cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
        cmd.addAll(List.of(options));
        cmd.add(main.getName());
        return cmd;
    }
}
