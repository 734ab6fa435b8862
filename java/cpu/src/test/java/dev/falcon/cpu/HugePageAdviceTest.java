package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.cpu.nativelib.FalconKernels;
import dev.falcon.data.HostMatrix;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The huge-page advice the cpu backend gives for X and the sort's buffers: only whole 2 MiB pages, never harmful. */
class HugePageAdviceTest {
    @BeforeAll
    static void loadNativeLibrary() {
        new CpuBackendProvider().create(1).close();
    }

    @Test
    void advisesOnlyRangesHoldingAWholeHugePage() {
        try (BytePointer small = new BytePointer(1 << 20); BytePointer large = new BytePointer(8L << 20)) {
            assertEquals(0, FalconKernels.falcon_advise_huge_pages(small, small.capacity()), "1 MiB holds no whole 2 MiB page");
            assertEquals(0, FalconKernels.falcon_advise_huge_pages(large, 0));
            assertEquals(0, FalconKernels.falcon_advise_huge_pages(null, 8L << 20));
            int advised = FalconKernels.falcon_advise_huge_pages(large, large.capacity());
            if (Files.isDirectory(Path.of("/sys/kernel/mm/transparent_hugepage"))) {
                assertEquals(1, advised, "8 MiB holds at least three whole 2 MiB pages");
            } else {
                System.out.println("SKIPPED the advised case: this kernel has no transparent huge pages (" + advised + ")");
            }
            // advice changes no content
            large.fill(7);
            for (long i = 0; i < large.capacity(); i += 4093) assertEquals(7, large.get(i));
        }
    }

    @Test
    void matricesOfTheBackendAreAdvisedAndHoldTheirValues() {
        try (CpuBackend backend = (CpuBackend) new CpuBackendProvider().create(2);
             HostMatrix x = backend.allocate(300, 5000, new long[] {0, 2000, 4000, 5000})) {
            backend.fillUniform(x.data(), x.elements(), 11L, 1f);
            float first = x.data().get(0), last = x.data().get(x.elements() - 1);
            assertTrue(first != 0 || last != 0, "filled");
            assertEquals(0, x.data().address() % HostMatrix.CACHE_LINE);
        }
    }
}
