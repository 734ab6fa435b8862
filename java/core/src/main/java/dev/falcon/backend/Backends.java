package dev.falcon.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * Finds the compute backends on the class path and chooses one. The choice is "auto" (the usable
 * backend of highest priority) unless the caller or the system property {@value #PROPERTY} names
 * one; naming an unusable backend is an error that says why it cannot run. One INFO line records
 * the backend chosen and why the others were skipped.
 */
public final class Backends {
    /** System property overriding the automatic choice: auto, java, cpu or cuda. */
    public static final String PROPERTY = "falcon.backend";

    private static final System.Logger LOG = System.getLogger(Backends.class.getName());
    private static volatile List<Candidate> discovered;
    private static volatile List<String> loadFailures = List.of();

    /** A provider together with its (cached) probe result. */
    public record Candidate(BackendProvider provider, BackendAvailability availability) {
        public String name() { return provider.name(); }
    }

    /** The chosen provider and the line explaining the choice. */
    public record Choice(BackendProvider provider, String explanation) {
        public ComputeBackend create(int threads) {
            return provider.create(threads);
        }
    }

    private Backends() {}

    /**
     * The backends falcon ships in modules of their own, with the artifact that brings each: with falcon-core alone on the
     * class path, auto took java without a word of them, and naming one said "unknown backend 'cpu'".
     */
    private static final java.util.Map<String, String> MODULES = java.util.Map.of(
            "cpu", "falcon-cpu (dev.falcon:falcon-cpu, with its OpenBLAS preset)",
            "cuda", "falcon-cuda (dev.falcon:falcon-cuda, with falcon-cpu and the CUDA presets)");

    private static String absent(String name) {
        return name + (loadFailures.isEmpty() ? " not on the class path: add " : " not loaded (see the providers that failed to load), or not on"
                + " the class path: add ") + MODULES.get(name);
    }

    /** The known backends whose module is missing, in order of priority (cuda first). */
    private static List<String> absentModules(List<Candidate> all) {
        return MODULES.keySet().stream().filter(n -> all.stream().noneMatch(c -> c.name().equals(n)))
                .sorted(Comparator.reverseOrder()).toList();
    }

    /**
     * Refuses a thread count below 1: a backend runs on at least one thread, and 0 or -3 silently ran on one while too
     * many threads is an error. (The CLI refuses {@code --threads 0} the same way.)
     */
    static void requireThreads(String backend, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("the " + backend + " backend was asked for " + threads + " threads; give at least 1"
                    + " (at most " + mostThreads() + ")");
        }
        // the java backend ignored a count above the limit that the cpu and cuda backends refuse: one rule for all
        if (threads > mostThreads()) {
            throw new IllegalArgumentException("the " + backend + " backend was asked for " + threads + " threads, more than " + mostThreads()
                    + " (4 per available processor, " + Processors.usable() + " here, and at least 16); ask for at most that many");
        }
    }

    /**
     * The most threads a backend is created with: 4 per available processor, or 16. The cpu kernels start their threads on
     * every call, so a mistyped 100000 spent seconds creating them in each call of a tiny run; beyond the cores they only
     * add switching.
     */
    public static int mostThreads() {
        return Math.max(16, 4 * Processors.usable());
    }

    /** Every provider found, highest priority first, each probed once per JVM. */
    public static List<Candidate> candidates() {
        List<Candidate> result = discovered;
        if (result == null) {
            synchronized (Backends.class) {
                result = discovered;
                if (result == null) {
                    Discovery d = discover(Backends.class.getClassLoader());
                    loadFailures = d.failures();
                    discovered = result = d.candidates();
                }
            }
        }
        return result;
    }

    /** Providers listed on the class path whose class could not be loaded, with why (empty when all loaded). */
    public static List<String> loadFailures() {
        candidates();
        return loadFailures;
    }

    /** The providers a class loader lists, probed and sorted, and those that failed to load. */
    record Discovery(List<Candidate> candidates, List<String> failures) {}

    /**
     * A provider whose class cannot load (a backend module on the class path without its native presets, say) is
     * recorded and skipped: ServiceLoader would otherwise throw out of the loop, and no backend at all would be found.
     */
    static Discovery discover(ClassLoader loader) {
        List<Candidate> found = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        Iterator<BackendProvider> providers = ServiceLoader.load(BackendProvider.class, loader).iterator();
        while (failures.size() < MAX_LOAD_FAILURES) { // ServiceLoader only tries its best to go on after an error
            BackendProvider provider;
            try {
                if (!providers.hasNext()) break;
                provider = providers.next();
            } catch (ServiceConfigurationError | LinkageError e) {
                String why = e.getMessage() + (e.getCause() != null ? " (" + e.getCause() + ")" : "");
                failures.add(why);
                LOG.log(System.Logger.Level.WARNING, "a compute backend provider could not be loaded and is skipped: " + why);
                continue;
            }
            found.add(new Candidate(provider, safeProbe(provider)));
        }
        found.sort(Comparator.comparingInt((Candidate c) -> c.provider().priority()).reversed().thenComparing(Candidate::name));
        return new Discovery(List.copyOf(found), List.copyOf(failures));
    }

    private static final int MAX_LOAD_FAILURES = 16;

    /** Usable backends, highest priority first (for suites that run over every backend). */
    public static List<Candidate> usable() {
        return candidates().stream().filter(c -> c.availability().usable()).toList();
    }

    /**
     * Chooses a backend. {@code requested} is "auto", a backend name, or null (then the system
     * property decides, defaulting to auto). The messages are worded for a Java caller: a name that came from the
     * system property is called that, and the way back to the automatic choice is {@code Backends.choose("auto")}.
     *
     * @throws IllegalArgumentException when a named backend is unknown or not usable here, or the name is empty
     * @throws BackendSettingException (an IllegalArgumentException) when the backend named, or for auto any backend, is
     *         unusable because of a setting the user gave it (an unknown FALCON_CPU_ISA, say)
     */
    public static Choice choose(String requested) {
        if (requested != null) return chooseNamed(requested, null, "Backends.choose(\"auto\") falls back to the best usable backend");
        String property = System.getProperty(PROPERTY);
        if (property == null) return chooseNamed("auto", null, null);
        // the caller gave no name: without saying where it came from, "unknown backend 'gpu'" points at nothing they wrote
        return chooseNamed(property, "the system property " + PROPERTY, "-D" + PROPERTY + "=auto (or no such property) falls back"
                + " to the best usable backend, as Backends.choose(\"auto\") does");
    }

    /**
     * {@link #choose(String)} for a front end that labels the messages with the name's origin itself (the CLI prefixes
     * them with {@code --device} or {@code -Dfalcon.backend}): the messages do not name the origin, and an unusable
     * backend's says that {@code autoRequest} (the CLI's {@code "--device auto"}) falls back to the best usable backend.
     */
    public static Choice choose(String requested, String autoRequest) {
        java.util.Objects.requireNonNull(autoRequest, "autoRequest");
        return chooseNamed(requestedName(requested), null, autoRequest + " falls back to the best usable backend");
    }

    /**
     * The name {@link #choose(String, String)} reads for {@code requested}: it, else the system property, else auto; in
     * the form it is matched in (trimmed, lower case). A front end that treats a named backend apart from auto compares
     * this: compared raw, {@code --device "java "} was java "chosen as requested" but not java to the CLI's checks.
     */
    public static String requestedName(String requested) {
        return normalized(requested != null ? requested : System.getProperty(PROPERTY, "auto"));
    }

    /** A backend name as it is matched: a value read from a file keeps its trailing space or CR, and JAVA is java. */
    private static String normalized(String name) {
        return name.trim().toLowerCase(Locale.ROOT);
    }

    /**
     * @param origin where the name came from, for the messages ("the system property falcon.backend"), or null where
     *        the caller gave it and so knows
     * @param fallback how the caller gets the automatic choice instead, said when the named backend cannot run here
     */
    private static Choice chooseNamed(String wanted, String origin, String fallback) {
        wanted = normalized(wanted);
        String names = origin == null ? "" : origin + " names ";
        List<Candidate> all = candidates();
        Choice choice;
        if (wanted.isEmpty()) {
            // an unset variable (--device "$DEV", -Dfalcon.backend=$B) is a mistake to report, not a request for auto
            String choices = String.join(", ", all.stream().map(Candidate::name).toList()) + ", auto";
            throw new IllegalArgumentException(origin == null ? "the backend name is empty; give one of " + choices
                    : origin + " is empty; set it to one of " + choices + ", or remove it (then auto)");
        }
        if (wanted.equals("auto")) {
            // the setting was given for that backend: taking the next one would run what the user did not ask for
            for (Candidate c : all) {
                if (c.availability().misconfigured()) throw new BackendSettingException(c.availability().reason());
            }
            Candidate winner = all.stream().filter(c -> c.availability().usable()).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no usable compute backend: " + skipped(all, null)));
            choice = new Choice(winner.provider(), "backend " + winner.name() + " chosen automatically"
                    + suffix(skipped(all, winner)));
        } else {
            final String name = wanted;
            Candidate named = all.stream().filter(c -> c.name().equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException(names + (MODULES.containsKey(name) ? "backend " + absent(name)
                            : "unknown backend '" + name + "'") + "; available: "
                            + String.join(", ", all.stream().map(Candidate::name).toList()) + ", auto"
                            + (loadFailures.isEmpty() ? "" : "; providers that failed to load: " + String.join("; ", loadFailures))));
            // auto refuses it too: the fallback the message below offers is not there
            if (named.availability().misconfigured()) throw new BackendSettingException(named.availability().reason());
            if (!named.availability().usable()) {
                throw new IllegalArgumentException((origin == null ? "backend '" + name + "' cannot run here: "
                        : origin + " names backend '" + name + "', which cannot run here: ")
                        + named.availability().reason() + " (" + fallback + ")");
            }
            choice = new Choice(named.provider(), "backend " + name + " chosen as requested"
                    + suffix(skipped(all, named)));
        }
        LOG.log(System.Logger.Level.INFO, choice.explanation());
        return choice;
    }

    private static String suffix(String skipped) {
        return skipped.isEmpty() ? "" : "; " + skipped;
    }

    private static String skipped(List<Candidate> all, Candidate winner) {
        List<String> parts = new ArrayList<>();
        for (Candidate c : all) {
            if (c == winner) continue;
            if (!c.availability().usable()) {
                parts.add(c.name() + " unusable: " + c.availability().reason());
            } else if (winner != null && c.provider().priority() < winner.provider().priority()) {
                parts.add(c.name() + " has lower priority");
            } else {
                parts.add(c.name() + " not requested");
            }
        }
        for (String name : absentModules(all)) parts.add(absent(name));
        return String.join("; ", parts);
    }

    private static BackendAvailability safeProbe(BackendProvider provider) {
        try {
            BackendAvailability a = provider.probe();
            return a != null ? a : BackendAvailability.unusable("probe returned nothing");
        } catch (Throwable t) { // a probe must never take the engine down, whatever a native loader throws
            return BackendAvailability.unusable("probe failed", t);
        }
    }
}
