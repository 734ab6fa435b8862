package dev.falcon.cli;

import dev.falcon.backend.Backends;
import dev.falcon.backend.JavaCppRuntime;
import dev.falcon.backend.Processors;
import dev.falcon.io.InputException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "env", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Shows the compute backends found (usable or why not, with their facts), threads, memory and versions.",
        footer = {"", "Exit codes: 0 shown (an unusable backend is listed with its reason, not an",
                "  error), 2 bad usage or a -Dfalcon.memory.available that is not a size, or",
                "  a -Dorg.bytedeco.javacpp.maxBytes or maxPhysicalBytes that JavaCPP cannot",
                "  read, or a backend setting it refuses (FALCON_CPU_ISA) or a",
                "  -Dfalcon.backend prune refuses (the rest is still shown), 1 internal",
                "  error, 130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM."})
final class EnvCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("falcon " + SystemInfo.falconVersion());
        out.println("java " + SystemInfo.javaVersion() + ", javacpp " + SystemInfo.javacppVersion());
        out.println("os " + System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        out.println("processors " + Processors.usable() + " (default --threads; OpenBLAS is given at most this many)");
        String threadVariables = ThreadVariables.envLine(ThreadVariables.environment.get());
        if (threadVariables != null) out.println(threadVariables);
        // a bad -Dfalcon.memory.available ended env here, before the backends it is run to show; it is reported at the end
        String available;
        InputException badMemoryProperty = null;
        try {
            String override = System.getProperty(SystemInfo.MEMORY_PROPERTY);
            // a blank value is ignored (MemAvailable is used), so it must not be named as the source
            // which limit applied: in a container the cgroup's limit is below the host's MemAvailable
            SystemInfo.Available a = SystemInfo.available();
            available = SystemInfo.bytes(a.bytes()) + " (" + (override != null && !override.isBlank() ? "from " : "") + a.source() + ")";
        } catch (InputException e) {
            badMemoryProperty = e;
            available = "unknown (-D" + SystemInfo.MEMORY_PROPERTY + " refused: see the error below)";
        }
        // a property JavaCPP cannot read makes every backend unusable, though its folder is fine: reported at the end, as a
        // bad -Dfalcon.memory.available is, and not shown as a limit in effect
        String badJavacppSetting = JavaCppRuntime.settingProblem();
        // maxPhysicalBytes beside maxBytes: it bounds the whole process's resident memory, X included, and is the one a
        // run meets first
        out.printf(Locale.ROOT, "memory: total %s, available %s, Java heap max %s, javacpp maxBytes %s, maxPhysicalBytes %s%n",
                SystemInfo.bytes(SystemInfo.totalMemory()), available,
                SystemInfo.bytes(Runtime.getRuntime().maxMemory()),
                JavaCppRuntime.settingProblem("maxBytes") != null ? "unknown (refused: see the error below)"
                        : javacppLimit(System.getProperty("org.bytedeco.javacpp.maxBytes"), "default (= heap size)"),
                JavaCppRuntime.settingProblem("maxPhysicalBytes") != null ? "unknown (refused: see the error below)"
                        : javacppLimit(System.getProperty("org.bytedeco.javacpp.maxPhysicalBytes"), "default (= twice the heap size)"));
        // the folder is per clone through the launcher, and one that cannot be used makes every backend unusable:
        // said once here, not in full for each backend and again in the choice
        String runtime = JavaCppRuntime.problem();
        java.io.File cache = JavaCppRuntime.cacheDir();
        out.println("javacpp cache folder " + (cache != null ? cache : "none") + (runtime != null && badJavacppSetting == null ? ": " + runtime : ""));
        String runtimeShort = badJavacppSetting != null ? "JavaCPP refuses one of its properties (see the error below)"
                : "JavaCPP's native library did not load (see the javacpp line above)";
        out.println("backends (highest priority first):");
        for (Backends.Candidate c : Backends.candidates()) {
            String reason = runtime != null && runtime.equals(c.availability().reason()) ? runtimeShort : c.availability().reason();
            out.printf(Locale.ROOT, "  %-6s priority %3d  %s%n", c.name(), c.provider().priority(),
                    c.availability().usable() ? "usable" : "unusable: " + reason);
            new TreeMap<>(c.availability().facts()).forEach((k, v) -> out.printf("           %s: %s%n", k, v));
        }
        for (String failure : Backends.loadFailures()) out.println("  (a provider failed to load: " + failure + ")");
        // a setting a backend refuses (FALCON_CPU_ISA=AVX-512) stops every prune but --device java: an error, as a bad
        // -Dfalcon.memory.available is, reported at the end
        String badBackendSetting = null;
        try {
            out.println("--device auto: " + Backends.choose("auto").explanation());
        } catch (dev.falcon.backend.BackendSettingException e) {
            badBackendSetting = e.getMessage();
            out.println("--device auto: refused: see the error below");
        } catch (RuntimeException e) {
            out.println("--device auto: " + (runtime != null ? "no usable compute backend: " + runtimeShort : e.getMessage()));
        }
        String preset = System.getProperty(Backends.PROPERTY);
        // a property prune refuses (an unknown or empty name, a backend that cannot run here) was one line among the
        // facts with exit 0, while prune exited 2: an error here too, reported at the end as FALCON_CPU_ISA's is
        String badBackendProperty = null;
        if (preset != null) {
            // prune without --device takes the property, not auto: say what it will get
            String label = "-D" + Backends.PROPERTY + "=" + preset + " (prune's default while it is set): "; // names the property: the message need not
            try {
                out.println(label + Backends.choose(null, "--device auto").explanation());
            } catch (dev.falcon.backend.BackendSettingException e) {
                // the backend's own setting, already the error of --device auto above
                out.println(label + "refused: see the error below");
                if (badBackendSetting == null) badBackendSetting = e.getMessage();
            } catch (IllegalArgumentException | IllegalStateException e) {
                out.println(label + "refused: see the error below");
                badBackendProperty = dev.falcon.io.InputException.of("-D" + Backends.PROPERTY, "value", e.getMessage(),
                        "fix or remove -D" + Backends.PROPERTY + " (e.g. in FALCON_JAVA_OPTS), as prune refuses it").getMessage();
            }
        }
        if (badMemoryProperty == null && badJavacppSetting == null && badBackendSetting == null && badBackendProperty == null) return Main.OK;
        out.flush();
        if (badBackendSetting != null) spec.commandLine().getErr().println("falcon: error: " + badBackendSetting);
        if (badBackendProperty != null) spec.commandLine().getErr().println("falcon: error: " + badBackendProperty);
        if (badMemoryProperty != null) spec.commandLine().getErr().println("falcon: error: " + badMemoryProperty.getMessage());
        if (badJavacppSetting != null) spec.commandLine().getErr().println("falcon: error: " + badJavacppSetting);
        return Main.USAGE;
    }

    /** JavaCPP's off-heap limit as set: 0 (the launcher's) is no limit, which "maxBytes 0" seemed to deny all memory. */
    private static String javacppLimit(String property, String byDefault) {
        if (property == null) return byDefault;
        return SystemInfo.parseBytes(property) == 0 ? "unlimited (" + property.trim() + ")" : property;
    }
}
