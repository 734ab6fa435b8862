package dev.falcon.cpu;

import dev.falcon.backend.BackendSettingException;
import dev.falcon.backend.NativeCalls;
import dev.falcon.cpu.nativelib.FalconKernels;
import dev.falcon.io.InputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * Loads the native side once per JVM, in the order that matters: first our kernels library, then,
 * after choosing OPENBLAS_CORETYPE (OpenBLAS reads it once, when it is loaded), the OpenBLAS preset.
 * OpenBLAS misdetects the CPUs of these VMs (Prescott or Nehalem kernels on AVX2/AVX-512 machines,
 * 4-5x slower sgemm); we read /proc/cpuinfo and name the right core unless the user said otherwise
 * ({@code -Dfalcon.openblas.coretype=keep|<name>}, or OPENBLAS_CORETYPE already in the environment).
 */
final class CpuNative {
    static final String CORETYPE_PROPERTY = "falcon.openblas.coretype";
    /** Cores OpenBLAS falls back to when it does not recognise a CPU: slow on anything recent. */
    static final Set<String> LEGACY_CORES = Set.of("prescott", "nehalem", "core2", "penryn", "dunnington",
            "atom", "katmai", "coppermine", "northwood", "banias", "opteron", "barcelona", "bobcat", "sse3", "unknown");

    /** Names the kernel set instead of the widest this CPU runs (native/cpu/falcon_kernels.cpp, pick()). */
    static final String ISA_VARIABLE = "FALCON_CPU_ISA";
    /** The kernel sets built, narrowest first: the values ISA_VARIABLE takes. */
    static final List<String> ISA_NAMES = List.of("generic", "avx2", "avx512");

    /** Where ISA_VARIABLE is read: System.getenv, replaced by tests (a JVM cannot set its own). */
    static volatile Supplier<Map<String, String>> environment = System::getenv;

    private static final Object LOCK = new Object();
    private static volatile Map<String, String> facts;
    private static volatile Throwable failure;

    private CpuNative() {}

    /** Facts about the loaded native side; throws the (cached) load failure. */
    static Map<String, String> ensureLoaded() {
        Map<String, String> f = facts;
        if (f != null) return f;
        synchronized (LOCK) {
            if (facts != null) return facts;
            if (failure != null) throw new IllegalStateException("cpu backend failed to load", failure);
            try {
                facts = f = loadOnce();
                return f;
            } catch (Throwable t) {
                failure = t;
                throw new IllegalStateException("cpu backend failed to load", t);
            }
        }
    }

    /**
     * The kernel set FALCON_CPU_ISA names (case and surrounding blanks ignored, as falcon's other names), or null where
     * it is not set. The native side takes any value but avx2 and avx512 for generic, the plain SSE2 build: AVX512 or
     * avx-512 on an AVX-512 machine ran at a fraction of the speed, on products rounded differently, without a word.
     *
     * @throws BackendSettingException for any other value, empty included
     */
    static String requestedIsa() {
        String value = environment.get().get(ISA_VARIABLE);
        if (value == null) return null;
        try {
            return InputException.choice(value, ISA_VARIABLE, "kernel set", ISA_NAMES, name -> name);
        } catch (InputException e) {
            throw new BackendSettingException(e.getMessage() + ", or unset it (then the widest this CPU runs)");
        }
    }

    private static Map<String, String> loadOnce() {
        String isaRequested = requestedIsa();
        FalconKernels.load();
        // before the first kernel call, where the native side reads it once: it compares the exact lower-case names
        if (isaRequested != null && !isaRequested.equals(FalconKernels.falcon_getenv(ISA_VARIABLE))) {
            FalconKernels.falcon_setenv(ISA_VARIABLE, isaRequested);
        }
        Map<String, String> f = new LinkedHashMap<>();
        String flags = cpuFlags();
        String detected = suggestedCore(flags);
        String setting = System.getProperty(CORETYPE_PROPERTY, "auto").trim();
        String inherited = FalconKernels.falcon_getenv("OPENBLAS_CORETYPE");
        String requested;
        String why;
        if (setting.equalsIgnoreCase("keep")) {
            requested = inherited.isEmpty() ? null : inherited;
            // keep leaves OpenBLAS alone, and OpenBLAS itself follows a user's OPENBLAS_CORETYPE
            why = "-D" + CORETYPE_PROPERTY + "=keep: " + (inherited.isEmpty() ? "OpenBLAS detects the core itself"
                    : "OPENBLAS_CORETYPE set in the environment");
        } else if (!setting.isEmpty() && !setting.equalsIgnoreCase("auto")) {
            requested = setting;
            why = "-D" + CORETYPE_PROPERTY + "=" + setting;
        } else if (!inherited.isEmpty()) {
            requested = inherited;
            why = "OPENBLAS_CORETYPE set in the environment";
        } else {
            requested = detected;
            why = detected == null ? "no AVX2/AVX-512 in /proc/cpuinfo: OpenBLAS detects the core itself"
                    : "chosen from /proc/cpuinfo flags";
        }
        if (requested != null && !requested.equals(inherited)) {
            FalconKernels.falcon_setenv("OPENBLAS_CORETYPE", requested);
        }
        // OpenBLAS starts its worker threads as it loads, and its teardown at the exit joins them: the load and the
        // probes pass the gate every OpenBLAS call passes (CpuBackend.openblasCall), and past a stop's wait for them the
        // exit can be immediate (_exit, in our kernels' library)
        NativeCalls gate = NativeCalls.process();
        gate.exitNowWith(FalconKernels::falcon_exit_now);
        String core, config;
        gate.enter();
        try {
            Loader.load(openblas.class);
            core = FalconKernels.falcon_openblas_corename();
            config = FalconKernels.falcon_openblas_config();
        } finally {
            gate.leave();
        }
        String isa = FalconKernels.falcon_isa();
        f.put("kernels.isa", isa);
        if (isaRequested != null) {
            // a set this CPU cannot run falls back to the widest it can: by design, but said, as the results differ
            f.put("kernels.isa.requested", isaRequested + " (" + ISA_VARIABLE + ")" + (isa.equals(isaRequested) ? ""
                    : "; this CPU cannot run it: " + isa + ", the widest it runs, runs instead"));
        }
        f.put("openblas.version", openblasVersion(config));
        f.put("openblas.config", config.trim());
        f.put("openblas.core", core);
        f.put("openblas.coretype.requested", requested == null ? "(none)" : requested);
        f.put("openblas.coretype.reason", why);
        f.put("openblas.core.corrected", String.valueOf(requested != null && inherited.isEmpty()));
        if (requested != null && !core.equalsIgnoreCase(requested)) {
            // OpenBLAS drops a name it does not know (a typo in -Dfalcon.openblas.coretype) without a word and picks its own core
            f.put("openblas.coretype.ignored", "OpenBLAS runs " + core + ", not the requested '" + requested + "': not a core name it knows"
                    + " or one this CPU cannot run; names as in OPENBLAS_CORETYPE, e.g. Haswell, Zen, SkylakeX, Cooperlake");
        }
        f.put("cpu.suggestedCore", detected == null ? "(none)" : detected);
        // the processors this process may use (the JVM's count, but never more than its affinity allows), not the threads a run uses (the report's backend.threads, --threads):
        // named cpu.threads, it read as the run's count beside a --threads 3 that disagreed with it
        f.put("cpu.available_processors", String.valueOf(dev.falcon.backend.Processors.usable()));
        return Map.copyOf(f);
    }

    static String openblasVersion(String config) {
        // "OpenBLAS 0.3.31  DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=..."
        String[] words = config.trim().split("\\s+");
        if (words.length >= 2 && words[0].equalsIgnoreCase("OpenBLAS")) return words[1];
        return openblas.OPENBLAS_VERSION;
    }

    static String cpuFlags() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) return " " + line.substring(line.indexOf(':') + 1).trim() + " ";
            }
        } catch (IOException | RuntimeException e) {
            // no /proc: let OpenBLAS decide
        }
        return "";
    }

    /** The OpenBLAS core matching the CPU's flags, or null when nothing better than autodetection is known. */
    static String suggestedCore(String flags) {
        boolean amd = isAmd();
        if (flags.contains(" avx512f ") && flags.contains(" avx512bw ") && flags.contains(" avx512vl ")) {
            return flags.contains(" avx512_bf16 ") ? "Cooperlake" : "SkylakeX";
        }
        if (flags.contains(" avx2 ") && flags.contains(" fma ")) return amd ? "Zen" : "Haswell";
        return null;
    }

    private static boolean isAmd() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("vendor_id")) return line.toLowerCase(Locale.ROOT).contains("amd");
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }
}
