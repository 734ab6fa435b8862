package dev.falcon.cpu;

import dev.falcon.testing.ChildJvm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.falcon.data.HostMatrix;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * When the system refuses a kernel's worker thread (thread limit, memory), the kernel must still finish with the same
 * result, not abort the JVM: a child JVM runs the products with pthread_create failing after the first worker
 * (an LD_PRELOAD shim, compiled here with the C compiler the native build uses).
 */
class ThreadLimitTest {
    @TempDir
    Path dir;

    /** Child entry point: prints "same" when 3-thread products, with refused threads, equal the 1-thread ones. */
    public static void main(String[] args) {
        try (CpuBackend one = (CpuBackend) new CpuBackendProvider().create(1);
             CpuBackend three = (CpuBackend) new CpuBackendProvider().create(3)) {
            int n = 17, p = 3001;
            long[] blocks = {0, 1000, 2000, 3001};
            try (HostMatrix x = three.allocate(n, p, blocks); FloatPointer d = new FloatPointer(p);
                 FloatPointer a = new FloatPointer(p); FloatPointer b = new FloatPointer(p)) {
                three.fillSyntheticGradients(x, 2, 0.1f, 3);
                three.fillUniform(d, p, 4, 1f);
                boolean same = true;
                one.multiplyTransposed(x, d, a);
                three.multiplyTransposed(x, d, b);
                for (int j = 0; j < p; j++) same &= a.get(j) == b.get(j);
                one.blockGramProduct(x, blocks, d, a);
                three.blockGramProduct(x, blocks, d, b);
                for (int j = 0; j < p; j++) same &= a.get(j) == b.get(j);
                System.out.println(same ? "same" : "different");
            }
        }
    }

    @Test
    void refusedWorkerThreadsRunOnTheCallingThread() throws Exception {
        Path source = dir.resolve("refuse_threads.c"), shim = dir.resolve("librefuse_threads.so");
        try (InputStream in = ThreadLimitTest.class.getResourceAsStream("refuse_threads.c")) {
            Files.copy(in, source);
        }
        Process cc;
        try {
            cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-O1", "-o", shim.toString(), source.toString(), "-ldl")
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "no C compiler (cc) to build the pthread_create shim: " + e.getMessage());
            return;
        }
        String ccOutput = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assumeTrue(cc.waitFor() == 0, "cc could not build the pthread_create shim: " + ccOutput);

        List<String> cmd = ChildJvm.command(ThreadLimitTest.class);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("LD_PRELOAD", shim.toString());
        // OpenBLAS starts its workers with default attributes too: the first three threads are left to it (2 when the 3-thread
        // backend sets its thread count) and to the kernels' first worker; the next worker is refused
        pb.environment().put("OPENBLAS_NUM_THREADS", "1");
        pb.environment().put("FALCON_TEST_THREADS_ALLOWED", "3");
        Process child = pb.start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, child.waitFor(), output);
        assertTrue(output.contains("same"), output);
    }
}
