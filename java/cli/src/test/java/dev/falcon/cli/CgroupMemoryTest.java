package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The memory plan read MemAvailable of /proc/meminfo only: in a container with a cgroup memory limit that is the host's
 * figure, and a run it let through was killed at the limit. The cgroup's room is read from fake /proc/self/cgroup and
 * /sys/fs/cgroup trees here (this machine sets no limit).
 */
class CgroupMemoryTest {
    @TempDir Path dir;

    private Path write(String relative, String text) throws IOException {
        Path f = dir.resolve(relative);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
        return f;
    }

    /** The room read with this /proc/self/cgroup and these files (path, text, path, text, ...) under a fake /sys/fs/cgroup. */
    private SystemInfo.Available room(String selfCgroup, String... sysFiles) throws IOException {
        Path self = write("proc/self/cgroup", selfCgroup);
        for (int i = 0; i < sysFiles.length; i += 2) write("sys/" + sysFiles[i], sysFiles[i + 1]);
        return SystemInfo.cgroupRoom(self, dir.resolve("sys"), 0);
    }

    @Test
    void cgroupV2LimitLessUsageIsTheRoom() throws IOException {
        SystemInfo.Available a = room("0::/kubepods/pod1\n",
                "kubepods/pod1/memory.max", "4294967296\n", "kubepods/pod1/memory.current", "1073741824\n");
        assertEquals(3L << 30, a.bytes());
        assertTrue(a.source().startsWith("cgroup memory.max 4.0 GiB less 1.0 GiB in use"), a.source());
    }

    /**
     * memory.current counts the cgroup's page cache, which the kernel reclaims before it kills at the limit: 8 GiB with
     * 7 GiB charged, 5 GiB of it inactive cache, left 1 GiB "available" and refused runs that fit.
     */
    @Test
    void inactivePageCacheIsRoomNotUse() throws IOException {
        SystemInfo.Available a = room("0::/app\n", "app/memory.max", "8589934592\n", "app/memory.current", "7516192768\n",
                "app/memory.stat", "anon 1073741824\nfile 6442450944\nactive_file 1073741824\ninactive_file 5368709120\n");
        assertEquals(6L << 30, a.bytes());
        assertTrue(a.source().startsWith("cgroup memory.max 8.0 GiB less 2.0 GiB in use (memory.current 7.0 GiB less 5.0 GiB of inactive page cache)"), a.source());
        SystemInfo.Available v1 = room("4:memory:/d\n", "memory/d/memory.limit_in_bytes", "2147483648\n", "memory/d/memory.usage_in_bytes", "2147483648\n",
                "memory/d/memory.stat", "cache 1073741824\ninactive_file 1\ntotal_inactive_file 1073741824\n");
        assertEquals(1L << 30, v1.bytes());
    }

    /**
     * The usage a cgroup reports charges this process, which the plan's runtime term (160 MiB) counts again: in a 600 MiB
     * v1 cgroup where the falcon JVM alone was 66 MiB "in use", a run that peaked at 526 MiB was refused (533.7 MiB
     * available for a plan of 598.4), and the rows offered changed with how far the JVM had got. Its own resident
     * memory is room here, at every level, and whatever it has grown to the room stays the same.
     */
    @Test
    void thisProcessIsNotCountedAsInUse() throws IOException {
        Path self = write("proc/self/cgroup", "4:memory:/revmem\n0::/\n");
        write("sys/memory/revmem/memory.limit_in_bytes", String.valueOf(600L << 20));
        write("sys/memory/revmem/memory.stat", "total_inactive_file " + (72L << 10) + "\n");
        long others = 3L << 20;
        for (long own : new long[] {40L << 20, 63L << 20, 75L << 20}) {
            write("sys/memory/revmem/memory.usage_in_bytes", String.valueOf(others + own + (72L << 10)));
            SystemInfo.Available a = SystemInfo.cgroupRoom(self, dir.resolve("sys"), own);
            assertEquals((600L << 20) - others, a.bytes(), a.source());
            assertTrue(a.source().startsWith("cgroup v1 memory.limit_in_bytes 600.0 MiB less 3.0 MiB in use (memory.usage_in_bytes "), a.source());
            assertTrue(a.source().contains(" of this process, which the runtime term counts)"), a.source());
        }
        // a process larger than the usage (its libraries' pages charged elsewhere) leaves the whole limit, not more
        write("sys/memory/revmem/memory.usage_in_bytes", String.valueOf(10L << 20));
        assertEquals(600L << 20, SystemInfo.cgroupRoom(self, dir.resolve("sys"), 50L << 20).bytes());
    }

    /** MemAvailable has this process's anonymous memory off it already; the runtime term counts it. */
    @Test
    void thisProcessesAnonymousMemoryIsGivenBackToMemAvailable() {
        SystemInfo.Available a = SystemInfo.leastOf(500L << 20, 60L << 20, null);
        assertEquals(560L << 20, a.bytes());
        assertTrue(a.source().startsWith("MemAvailable of /proc/meminfo 500.0 MiB and 60.0 MiB of this process's own"), a.source());
        SystemInfo.Available cgroup = new SystemInfo.Available(530L << 20, "cgroup");
        assertEquals(cgroup, SystemInfo.leastOf(500L << 20, 60L << 20, cgroup), "the cgroup's room is smaller than MemAvailable with the process");
        assertEquals(-1, SystemInfo.leastOf(-1, 60L << 20, null).bytes(), "unknown stays unknown");
    }

    @Test
    void anAncestorsSmallerLimitApplies() throws IOException {
        assertEquals(600, room("0::/outer/inner\n",
                "outer/inner/memory.max", "max\n", "outer/inner/memory.current", "100\n",
                "outer/memory.max", "1000\n", "outer/memory.current", "400\n").bytes());
    }

    @Test
    void maxOrNoFilesMeanNoLimit() throws IOException {
        assertNull(room("0::/\n", "memory.max", "max\n", "memory.current", "123\n"));
        assertNull(SystemInfo.cgroupRoom(dir.resolve("proc/missing"), dir.resolve("sys"), 0));
    }

    @Test
    void cgroupV1MemoryControllerIsRead() throws IOException {
        // a hybrid layout as on this machine: the v2 line sets nothing, v1's memory controller the limit
        SystemInfo.Available a = room("4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/\n",
                "memory/docker/abc/memory.limit_in_bytes", "2147483648\n",
                "memory/docker/abc/memory.usage_in_bytes", "536870912\n",
                "memory/memory.limit_in_bytes", "9223372036854771712\n"); // v1's "no limit"
        assertEquals(3L << 29, a.bytes());
        assertTrue(a.source().startsWith("cgroup v1 memory.limit_in_bytes 2.0 GiB"), a.source());
    }

    @Test
    void aContainersOwnRootPathReadsTheMountsTop() throws IOException {
        // inside a cgroup namespace the path names the host's folder, which is not mounted in the container
        assertEquals(0, room("0::/system.slice/docker-1.scope\n", "memory.max", "1000\n", "memory.current", "1500\n").bytes(),
                "usage past the limit leaves no room, not a negative one");
    }

    /** The memory refusal names the limit it compared with. */
    @Test
    void theRefusalNamesTheLimitThatApplied() {
        System.setProperty(SystemInfo.MEMORY_PROPERTY, "2m");
        try {
            MainTest.Run r = MainTest.run("prune", "--example", "resnet20", "--n", "8", "--method", "mp", "--quiet", "--out",
                    dir.resolve("p.npy").toString(), "--report", dir.resolve("r.json").toString());
            assertEquals(2, r.code(), r.all());
            assertTrue(r.err().contains("is available (-Dfalcon.memory.available)"), r.err());
        } finally {
            System.clearProperty(SystemInfo.MEMORY_PROPERTY);
        }
    }
}
