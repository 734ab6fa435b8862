package dev.falcon.cpu;

import dev.falcon.testing.ChildJvm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.falcon.backend.ComputeBackend;
import dev.falcon.backend.JavaBackend;
import dev.falcon.data.HostMatrix;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The kernels are compiled once per instruction set and dispatched at run time; this machine only
 * exercises the widest one it has. Here child JVMs force the narrower builds ({@code FALCON_CPU_ISA=generic}, the
 * portable SSE2 one, and {@code avx2} where the CPU has it) and check their products against the reference, on
 * column-major X and on the panels the backend stores X in.
 */
class IsaFallbackTest {
    /** Child entry point: prints the ISA in use and the worst relative error of the products on both layouts. */
    public static void main(String[] args) {
        try (ComputeBackend cpu = new CpuBackendProvider().create(2); JavaBackend ref = new JavaBackend()) {
            int n = 37, p = 1003;
            long[] starts = {0, 1, 8, 100, 600, 1003};
            HostMatrix x = HostMatrix.allocate(n, p);
            ref.fillUniform(x.data(), x.elements(), 5, 1f);
            HostMatrix panels = cpu.allocate(n, p, starts);
            for (long j = 0; j < p; j++) {
                for (long i = 0; i < n; i++) panels.data().put(panels.storageIndex(i, j), x.data().get(j * n + i));
            }
            FloatPointer d = new FloatPointer(p), a = new FloatPointer(p), b = new FloatPointer(p);
            ref.fillUniform(d, p, 6, 1f);
            double worst = 0;
            for (HostMatrix own : new HostMatrix[] {x, panels}) {
                cpu.blockGramProduct(own, starts, d, a);
                ref.blockGramProduct(x, starts, d, b);
                for (int j = 0; j < p; j++) worst = Math.max(worst, Math.abs(a.get(j) - b.get(j)) / (1 + Math.abs(b.get(j))));
                cpu.multiply(own, d, a);
                ref.multiply(x, d, b);
                for (int i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a.get(i) - b.get(i)) / (1 + Math.abs(b.get(i))));
                cpu.multiplyTransposed(own, d, a);
                ref.multiplyTransposed(x, d, b);
                for (int j = 0; j < p; j++) worst = Math.max(worst, Math.abs(a.get(j) - b.get(j)) / (1 + Math.abs(b.get(j))));
            }
            System.out.println("isa = " + ((CpuBackend) cpu).facts().get("kernels.isa"));
            System.out.println("worst = " + worst);
            x.close();
            panels.close();
            d.close();
            a.close();
            b.close();
        }
    }

    @ParameterizedTest(name = "FALCON_CPU_ISA={0}")
    @ValueSource(strings = {"generic", "avx2"})
    void narrowerKernelsMatchReference(String isaWanted) throws Exception {
        String flags = CpuNative.cpuFlags();
        assumeTrue(isaWanted.equals("generic") || (flags.contains(" avx2 ") && flags.contains(" fma ")),
                "this CPU has no " + isaWanted + ": its build cannot run here");
        List<String> cmd = ChildJvm.command(IsaFallbackTest.class);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("FALCON_CPU_ISA", isaWanted);
        Process process = pb.start();
        String isa = null;
        double worst = Double.NaN;
        StringBuilder all = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                all.append(line).append('\n');
                if (line.startsWith("isa = ")) isa = line.substring(6);
                if (line.startsWith("worst = ")) worst = Double.parseDouble(line.substring(8));
            }
        }
        assertEquals(0, process.waitFor(), all.toString());
        assertEquals(isaWanted, isa, all.toString());
        assertTrue(worst < 1e-4, isaWanted + " kernels differ from the reference by " + worst);
    }
}
