package dev.falcon.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.cpu.nativelib.FalconKernels;
import dev.falcon.data.HostMatrix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
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
    void matricesOfTheBackendAreAdvisedAndHoldTheirValues() throws IOException {
        try (CpuBackend backend = (CpuBackend) new CpuBackendProvider().create(2);
             HostMatrix x = backend.allocate(300, 5000, new long[] {0, 2000, 4000, 5000})) {
            assertEquals(0, x.data().address() % HostMatrix.CACHE_LINE);
            assertAdvised(x.data().address(), "X");
            backend.fillUniform(x.data(), x.elements(), 11L, 1f);
            try (FloatPointer expected = new FloatPointer(x.elements())) {
                backend.fillUniform(expected, x.elements(), 11L, 1f);
                for (long i = 0; i < x.elements(); i += 997) assertEquals(expected.get(i), x.data().get(i), "element " + i);
            }
        }
    }

    @Test
    void largeVectorsAreAdvisedAndHoldTheirValues() throws IOException {
        try (CpuBackend backend = (CpuBackend) new CpuBackendProvider().create(1);
             FloatPointer large = backend.floatVector(6_000_000); FloatPointer small = backend.floatVector(1000)) {
            assertEquals(6_000_000, large.capacity());
            assertEquals(1000, small.capacity());
            assertAdvised(large.address(), "a 24 MB vector");
            for (long i = 0; i < large.capacity(); i += 4093) large.put(i, i);
            for (long i = 0; i < large.capacity(); i += 4093) assertEquals((float) i, large.get(i), "element " + i);
        }
    }

    /** The mapping holding the first whole huge page at or after {@code start} is advised MADV_HUGEPAGE. */
    private static void assertAdvised(long start, String what) throws IOException {
        if (!Files.isReadable(Path.of("/proc/self/smaps")) || !Files.isDirectory(Path.of("/sys/kernel/mm/transparent_hugepage"))) {
            System.out.println("SKIPPED the smaps check of " + what + ": no /proc/self/smaps or no transparent huge pages here");
            return;
        }
        long hugePage = 2L << 20;
        String flags = vmFlagsOfMappingHolding((start + hugePage - 1) / hugePage * hugePage);
        assertTrue(flags != null && flags.contains(" hg"), what + "'s mapping is advised MADV_HUGEPAGE (VmFlags:" + flags + ")");
    }

    /** The VmFlags line (after the colon) of the mapping of this process holding the address, or null. */
    private static String vmFlagsOfMappingHolding(long address) throws IOException {
        boolean inMapping = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            int dash = line.indexOf('-');
            int space = line.indexOf(' ');
            if (dash > 0 && space > dash && line.substring(0, dash).matches("[0-9a-f]+")) {
                long start = Long.parseUnsignedLong(line.substring(0, dash), 16);
                long end = Long.parseUnsignedLong(line.substring(dash + 1, space), 16);
                inMapping = Long.compareUnsigned(start, address) <= 0 && Long.compareUnsigned(address, end) < 0;
            } else if (inMapping && line.startsWith("VmFlags:")) {
                return line.substring("VmFlags:".length());
            }
        }
        return null;
    }
}
