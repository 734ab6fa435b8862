package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Test;

/**
 * What falcon.jar holds, as the README's "Java API (embedding)" describes it. Run by the surefire execution bound to
 * {@code package} after the shade plugin (pom.xml), where the jar exists; in the test phase only once a jar was built.
 */
class FalconJarContentsTest {
    private static List<String> entries() throws IOException {
        Path jar = Path.of(System.getProperty("falcon.jar", "target/falcon.jar"));
        assumeTrue(Files.isRegularFile(jar), "no " + jar + " yet: mvn package builds it and then runs this test");
        try (JarFile j = new JarFile(jar.toFile())) {
            return j.stream().map(ZipEntry::getName).toList();
        }
    }

    /**
     * Jackson is relocated under dev.falcon.shaded, but its Maven descriptors (META-INF/maven/com.fasterxml.jackson.core/...)
     * were kept: dependency scanners reported Jackson 2.18 as present on the class path, and its advisories with it.
     */
    @Test
    void relocatedLibrariesLeaveNoMavenDescriptors() throws IOException {
        List<String> entries = entries();
        assertEquals(List.of(), entries.stream().filter(e -> e.startsWith("META-INF/maven/com.fasterxml") || e.startsWith("META-INF/maven/info.picocli")).toList());
        assertTrue(entries.stream().anyMatch(e -> e.startsWith("dev/falcon/shaded/jackson/databind/")), "Jackson relocated");
        assertTrue(entries.stream().noneMatch(e -> e.startsWith("com/fasterxml/") || e.startsWith("picocli/")), "nothing left at the old names");
    }

    /**
     * JavaCPP's Maven plugin (its Mojos and plugin descriptors) is build tooling that cannot even load here (no Maven
     * API in the jar); JavaCPP itself stays, at its own name and with its descriptor, since embedders must see it.
     */
    @Test
    void javacppsMavenPluginIsLeftOut() throws IOException {
        List<String> entries = entries();
        assertEquals(List.of(), entries.stream().filter(e -> e.contains("Mojo") || e.equals("META-INF/maven/plugin.xml")
                || e.endsWith("/plugin-help.xml")).toList());
        assertTrue(entries.contains("org/bytedeco/javacpp/Loader.class") && entries.contains("META-INF/maven/org.bytedeco/javacpp/pom.properties"),
                "JavaCPP and its descriptor");
    }

    /**
     * No jar had an Automatic-Module-Name: on the module path each got a name derived from its file name (falcon.core,
     * or "falcon" for falcon.jar), which a renamed jar changes. falcon.jar is dev.falcon, the module jars dev.falcon.core,
     * dev.falcon.cpu and dev.falcon.cuda, and the three load as modules side by side (no package split between them).
     */
    @Test
    void theJarsHaveTheModuleNamesTheReadmeGives() throws IOException {
        Path jar = Path.of(System.getProperty("falcon.jar", "target/falcon.jar"));
        assumeTrue(Files.isRegularFile(jar), "no " + jar + " yet: mvn package builds it and then runs this test");
        try (JarFile j = new JarFile(jar.toFile())) {
            assertEquals("dev.falcon", j.getManifest().getMainAttributes().getValue("Automatic-Module-Name"));
        }
        assertEquals("dev.falcon", java.lang.module.ModuleFinder.of(jar).findAll().iterator().next().descriptor().name());
        Path[] modules = new Path[3];
        String[] names = {"core", "cpu", "cuda"};
        for (int i = 0; i < 3; i++) {
            Path target = Path.of("..", names[i], "target");
            String prefix = "falcon-" + names[i] + "-";
            try (var files = Files.list(target)) {
                modules[i] = files.filter(f -> f.getFileName().toString().startsWith(prefix) && f.getFileName().toString().endsWith(".jar")
                        && !f.getFileName().toString().endsWith("-tests.jar")).findFirst().orElse(null);
            } catch (java.nio.file.NoSuchFileException e) {
                modules[i] = null;
            }
            assumeTrue(modules[i] != null, "no " + prefix + "*.jar in " + target + " yet");
        }
        java.lang.module.ModuleFinder finder = java.lang.module.ModuleFinder.of(modules);
        java.util.Set<String> found = new java.util.TreeSet<>();
        finder.findAll().forEach(m -> found.add(m.descriptor().name()));
        assertEquals(java.util.Set.of("dev.falcon.core", "dev.falcon.cpu", "dev.falcon.cuda"), found);
        // one class loader for the three: a package in two of them would fail here
        java.lang.module.Configuration cf = ModuleLayer.boot().configuration().resolve(finder, java.lang.module.ModuleFinder.of(), found);
        ModuleLayer.boot().defineModulesWithOneLoader(cf, ClassLoader.getSystemClassLoader());
    }

    /**
     * On JDK 22 and later every run began with four warnings that JavaCPP's System.load is a restricted method called
     * from an unnamed module, to be blocked in a future release. The manifest grants the jar native access; JDK 17 to 21
     * ignore the attribute.
     */
    @Test
    void theJarIsGrantedNativeAccess() throws IOException {
        Path jar = Path.of(System.getProperty("falcon.jar", "target/falcon.jar"));
        assumeTrue(Files.isRegularFile(jar), "no " + jar + " yet: mvn package builds it and then runs this test");
        try (JarFile j = new JarFile(jar.toFile())) {
            assertEquals("ALL-UNNAMED", j.getManifest().getMainAttributes().getValue("Enable-Native-Access"));
        }
    }

    /**
     * JavaCPP gave each JNI library an rpath for every link path, so the jar's libraries told the dynamic loader to search
     * the build machine's target/classes folder (under a world-writable /tmp in a clone there) after $ORIGIN, and two
     * clones' jars differed in content. Only $ORIGIN, where JavaCPP extracts the libraries together, stays.
     */
    @Test
    void theNativeLibrariesNameNoBuildFolder() throws IOException {
        Path jar = Path.of(System.getProperty("falcon.jar", "target/falcon.jar"));
        assumeTrue(Files.isRegularFile(jar), "no " + jar + " yet: mvn package builds it and then runs this test");
        List<String> withBuildFolder = new java.util.ArrayList<>();
        int libraries = 0;
        try (JarFile j = new JarFile(jar.toFile())) {
            for (ZipEntry e : j.stream().filter(e -> e.getName().startsWith("dev/falcon/") && e.getName().endsWith(".so")).toList()) {
                libraries++;
                String bytes = new String(j.getInputStream(e).readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
                if (bytes.contains("/target/classes/")) {
                    withBuildFolder.add(e.getName());
                }
            }
        }
        assertTrue(libraries >= 2, "falcon's own libraries are in the jar");
        assertEquals(List.of(), withBuildFolder);
    }
}
