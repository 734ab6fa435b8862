package dev.falcon.cli;

import dev.falcon.model.Numbers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The environment variables by which OpenBLAS (and OpenMP programs) take a thread count. falcon does not read them:
 * the cpu backend sets OpenBLAS's count from --threads before each call (at most the available processors), and its
 * own kernels use std::thread, not OpenMP. A user's OPENBLAS_NUM_THREADS=1, the usual way to run several jobs on one
 * machine, was overridden without a word; prune warns and env shows them.
 */
final class ThreadVariables {
    /** OpenBLAS reads the first of these that is set for its starting count; OMP_NUM_THREADS is also OpenMP's. */
    static final List<String> NAMES = List.of("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS");

    private ThreadVariables() {}

    /** Where prune and env read the environment: System.getenv, replaced by tests (a JVM cannot set its own). */
    static volatile java.util.function.Supplier<Map<String, String>> environment = System::getenv;

    /** The variables of {@link #NAMES} that are set in {@code env}, as NAME=value, in that order. */
    static List<String> set(Map<String, String> env) {
        List<String> found = new ArrayList<>();
        for (String name : NAMES) {
            String value = env.get(name);
            if (value != null) found.add(name + "=" + value);
        }
        return found;
    }

    /**
     * The warning prune prints for a run of {@code threads} threads on a backend that sets OpenBLAS's count to
     * {@code openBlasThreads} (the cpu backend's cap at the processors), or null where no such variable is set or every
     * one that is asks for OpenBLAS's very count (it would change nothing). Compared with --threads, OPENBLAS_NUM_THREADS=2
     * beside --threads 4 on 2 cores was said to be overridden by "this run: 4 threads", where OpenBLAS ran on the 2 asked.
     */
    static String warning(Map<String, String> env, int threads, int openBlasThreads) {
        List<String> differing = new ArrayList<>();
        for (String name : NAMES) {
            String value = env.get(name);
            if (value != null && !value.trim().equals(Integer.toString(openBlasThreads))) differing.add(name + "=" + value);
        }
        if (differing.isEmpty()) return null;
        return String.join(", ", differing) + (differing.size() == 1 ? " is" : " are") + " not read: --threads alone sets the thread count,"
                + " OpenBLAS's included (this run: " + Numbers.counted(threads, "thread")
                + (openBlasThreads == threads ? "" : ", OpenBLAS " + openBlasThreads + ", at most the processors") + "); give --threads N instead";
    }

    /** The line env prints where such variables are set, or null. */
    static String envLine(Map<String, String> env) {
        List<String> found = set(env);
        if (found.isEmpty()) return null;
        return String.join(", ", found) + ": not read by falcon; --threads alone sets the thread count, OpenBLAS's included";
    }
}
