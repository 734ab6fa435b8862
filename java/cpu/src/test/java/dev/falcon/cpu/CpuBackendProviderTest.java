package dev.falcon.cpu;

import dev.falcon.testing.ChildJvm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.backend.BackendAvailability;
import dev.falcon.backend.Backends;
import dev.falcon.backend.ComputeBackend;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CpuBackendProviderTest {
    /** The CLI refused --threads 100000, the Java API took it, and every kernel call then started that many threads. */
    @Test
    void moreThreadsThanTheLimitAreRefusedThroughTheApiAsOnTheCommandLine() {
        int most = Math.max(16, 4 * Runtime.getRuntime().availableProcessors()); // the CLI's --threads limit
        try (ComputeBackend atTheLimit = new CpuBackendProvider().create(most)) {
            assertEquals(most, atTheLimit.threads());
        }
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new CpuBackendProvider().create(most + 1).close());
        assertTrue(e.getMessage().contains((most + 1) + " threads") && e.getMessage().contains("at most"), e.getMessage());
        // and too few: 0 and -3 silently ran on one thread
        for (int threads : new int[] {0, -3}) {
            IllegalArgumentException few = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Backends.choose("cpu").create(threads).close());
            assertTrue(few.getMessage().contains("asked for " + threads + " threads; give at least 1"), few.getMessage());
        }
    }

    @Test
    void probeIsUsableAndReportsFacts() {
        BackendAvailability a = new CpuBackendProvider().probe();
        assertTrue(a.usable(), a.reason());
        Map<String, String> f = a.facts();
        for (String key : List.of("openblas.version", "openblas.core", "openblas.core.corrected", "kernels.isa", "cpu.available_processors")) {
            assertTrue(f.containsKey(key) && !f.get(key).isEmpty(), "fact " + key + " in " + f);
        }
        assertTrue(f.get("openblas.version").startsWith("0."), f.toString());
        System.out.println("cpu backend facts: " + f);
    }

    @Test
    void openblasCoreIsNotALegacyFallback() {
        Map<String, String> f = new CpuBackendProvider().probe().facts();
        String core = f.get("openblas.core").toLowerCase(Locale.ROOT);
        String flags = CpuNative.cpuFlags();
        if (flags.contains(" avx2 ")) {
            assertFalse(CpuNative.LEGACY_CORES.contains(core), "OpenBLAS runs legacy core " + core + " on an AVX2 CPU");
            String suggested = CpuNative.suggestedCore(flags);
            if (System.getenv("OPENBLAS_CORETYPE") == null && suggested != null) {
                assertEquals(suggested.toLowerCase(Locale.ROOT), core, "core chosen from /proc/cpuinfo is in use");
                assertEquals("true", f.get("openblas.core.corrected"));
            }
        }
    }

    @Test
    void suggestedCoreFollowsFlags() {
        assertEquals("SkylakeX", CpuNative.suggestedCore(" fma avx2 avx512f avx512bw avx512vl ").replace("Cooperlake", "?"));
        assertEquals("Cooperlake", CpuNative.suggestedCore(" fma avx2 avx512f avx512bw avx512vl avx512_bf16 "));
        assertTrue(List.of("Haswell", "Zen").contains(CpuNative.suggestedCore(" fma avx2 ")));
        assertEquals(null, CpuNative.suggestedCore(" sse2 sse4_2 "));
    }

    /** The core setting takes effect: a child JVM asked for another core reports exactly that core. */
    @Test
    void coretypePropertyReachesOpenblas() throws Exception {
        if (!CpuNative.cpuFlags().contains(" avx2 ")) return;
        assertEquals("Haswell", childCore("Haswell"));
        String kept = childCore("keep");
        System.out.println("OpenBLAS core without correction (keep): " + kept + "; with correction: "
                + new CpuBackendProvider().probe().facts().get("openblas.core"));
    }

    /** keep with the user's own OPENBLAS_CORETYPE: OpenBLAS runs that core, and the reason says so. */
    @Test
    void keepWithAUserCoretypeNamesTheEnvironmentAsTheReason() throws Exception {
        if (!CpuNative.cpuFlags().contains(" avx2 ")) return;
        Map<String, String> child = childFacts("keep", "Haswell");
        assertEquals("Haswell", child.get("openblas.core"), child.toString());
        assertEquals("-D" + CpuNative.CORETYPE_PROPERTY + "=keep: OPENBLAS_CORETYPE set in the environment",
                child.get("openblas.coretype.reason"), child.toString());
    }

    /** A misspelt core was dropped by OpenBLAS without a word; env and the report showed it as the requested core. */
    @Test
    void aCoreOpenblasDoesNotTakeIsReported() throws Exception {
        if (!CpuNative.cpuFlags().contains(" avx2 ")) return;
        Map<String, String> child = childFacts("Skylakex2", null);
        String ignored = child.get("openblas.coretype.ignored");
        assertTrue(ignored != null && ignored.contains("'Skylakex2'") && ignored.contains(child.get("openblas.core")), child.toString());
        assertEquals(null, childFacts("haswell", null).get("openblas.coretype.ignored"), "a known core in any case is taken");
    }

    private static String childCore(String setting) throws Exception {
        return childFacts(setting, null).get("openblas.core");
    }

    /** The probe's facts in a child JVM with the core setting and OPENBLAS_CORETYPE (null: unset). */
    private static Map<String, String> childFacts(String setting, String environmentCore) throws Exception {
        List<String> cmd = ChildJvm.command(CpuBackendProvider.class, "-D" + CpuNative.CORETYPE_PROPERTY + "=" + setting);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (environmentCore == null) {
            pb.environment().remove("OPENBLAS_CORETYPE");
        } else {
            pb.environment().put("OPENBLAS_CORETYPE", environmentCore);
        }
        Process process = pb.start();
        Map<String, String> facts = new java.util.HashMap<>();
        StringBuilder all = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                all.append(line).append('\n');
                int eq = line.indexOf(" = ");
                if (eq > 0) facts.put(line.substring(0, eq), line.substring(eq + 3));
            }
        }
        assertEquals(0, process.waitFor(), all.toString());
        assertTrue(facts.containsKey("openblas.core"), all.toString());
        return facts;
    }

    @Test
    void autoChoosesCpu() {
        Backends.Choice choice = Backends.choose("auto");
        assertEquals("cpu", choice.provider().name(), choice.explanation());
        try (ComputeBackend b = choice.create(2)) {
            assertEquals("cpu", b.name());
            assertEquals(2, b.threads());
            assertTrue(b.description().contains("OpenBLAS"), b.description());
        }
    }
}
