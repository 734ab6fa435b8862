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
 * JavaCPP reads -Dorg.bytedeco.javacpp.maxBytes and maxPhysicalBytes when its Pointer class initializes. A value it
 * cannot read (1.5g, the form falcon's -Dfalcon.memory.available takes) failed that initializer: every backend was
 * unusable, the cause was blamed on the cache folder with the advice to move it, JavaCPP's deallocator thread printed
 * a stack trace, and env exited 0 showing the refused value as the limit in effect. Each case runs in a JVM of its own:
 * the property is read once per JVM, and a failed class initializer cannot be undone.
 */
class JavaCppSizePropertyTest {
    @TempDir Path dir;

    private record Child(int code, String output) {}

    private Child falcon(String property, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path")));
        // the suite's own cache: a second extraction of the same libraries could race with it
        String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cache != null) cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
        cmd.add(property);
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        Path log = dir.resolve("falcon.log");
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "falcon did not end");
        return new Child(child.exitValue(), Files.readString(log));
    }

    private static void assertNamesTheProperty(Child c, String given) {
        assertEquals(2, c.code(), c.output());
        assertTrue(c.output().contains("falcon: error: -D" + given + " is not a size JavaCPP reads"), c.output());
        assertTrue(c.output().contains("write whole bytes with an optional k, m, g or t suffix"), c.output());
        assertFalse(c.output().contains("Exception"), c.output());
        assertFalse(c.output().contains("\tat "), c.output());
        // the folder is not at fault: moving it cannot help
        assertFalse(c.output().contains("cachedir=DIR"), c.output());
    }

    @Test
    void envNamesAnUnreadableMaxBytesAndExits2() throws Exception {
        Child env = falcon("-Dorg.bytedeco.javacpp.maxBytes=1.5g", "env");
        assertNamesTheProperty(env, "org.bytedeco.javacpp.maxBytes=1.5g");
        // the refused value is not shown as the limit in effect, and each backend says why it cannot run
        assertFalse(env.output().contains("javacpp maxBytes 1.5g"), env.output());
        assertTrue(env.output().contains("cpu    priority 200  unusable: JavaCPP refuses one of its properties (see the error below)"), env.output());
        assertTrue(env.output().contains("backends (highest priority first):"), env.output());
    }

    @Test
    void pruneNamesAnUnreadableMaxPhysicalBytesAndExits2() throws Exception {
        Child prune = falcon("-Dorg.bytedeco.javacpp.maxPhysicalBytes=abc", "prune", "--example", "resnet20", "-q",
                "--out", dir.resolve("w.npy").toString(), "--report", dir.resolve("r.json").toString());
        assertNamesTheProperty(prune, "org.bytedeco.javacpp.maxPhysicalBytes=abc");
        assertFalse(Files.exists(dir.resolve("w.npy")));
    }

    /** JavaCPP reads the lower-case name where the camel-case one is not set: the message names the one given. */
    @Test
    void theLowerCaseNameIsNamedAsGiven() throws Exception {
        assertNamesTheProperty(falcon("-Dorg.bytedeco.javacpp.maxbytes=8GiB", "env"), "org.bytedeco.javacpp.maxbytes=8GiB");
    }

    /**
     * The same initializer reads -Dorg.bytedeco.javacpp.maxRetries with Integer.parseInt, and a value it cannot read failed
     * it as a bad size did: blamed on the cache folder, the deallocator thread's stack trace, env exit 0.
     */
    @Test
    void anUnreadableMaxRetriesIsNamedAndExits2() throws Exception {
        for (String[] args : new String[][] {{"env"}, {"prune", "--example", "resnet20", "-q", "--out", dir.resolve("w.npy").toString()}}) {
            Child c = falcon("-Dorg.bytedeco.javacpp.maxRetries=abc", args);
            assertEquals(2, c.code(), c.output());
            assertTrue(c.output().contains("falcon: error: -Dorg.bytedeco.javacpp.maxRetries=abc is not a whole number JavaCPP reads"), c.output());
            assertFalse(c.output().contains("Exception"), c.output());
            assertFalse(c.output().contains("\tat "), c.output());
            assertFalse(c.output().contains("cachedir=DIR"), c.output());
        }
        assertFalse(Files.exists(dir.resolve("w.npy")));
        Child taken = falcon("-Dorg.bytedeco.javacpp.maxRetries=3", "env");
        assertEquals(0, taken.code(), taken.output());
    }

    /** Where only another property is refused, the maxBytes env shows is still the one in effect, not "unknown". */
    @Test
    void envShowsAReadableMaxBytesBesideARefusedProperty() throws Exception {
        Child env = falcon("-Dorg.bytedeco.javacpp.maxPhysicalBytes=abc", "env");
        assertEquals(2, env.code(), env.output());
        assertTrue(env.output().contains("javacpp maxBytes default (= heap size)"), env.output());
    }

    /** The forms JavaCPP reads still run: a suffix with a blank before it, a percentage of the heap. */
    @Test
    void sizesJavaCppReadsAreTaken() throws Exception {
        Child env = falcon("-Dorg.bytedeco.javacpp.maxBytes=4 GB", "env");
        assertEquals(0, env.code(), env.output());
        assertTrue(env.output().contains("javacpp maxBytes 4 GB"), env.output());
        Child percent = falcon("-Dorg.bytedeco.javacpp.maxBytes=50%", "env");
        assertEquals(0, percent.code(), percent.output());
        assertTrue(percent.output().contains("javacpp maxBytes 50%"), percent.output());
    }
}
