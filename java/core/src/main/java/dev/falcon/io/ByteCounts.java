package dev.falcon.io;

import java.util.Locale;

/** Sizes in messages and tables, in binary units with one decimal (the same figures from the CLI and the solver). */
public final class ByteCounts {
    private ByteCounts() {}

    /** "512 B", "1.0 KiB", "2.2 GiB"; "unknown" for a negative count (a size the system did not give). */
    public static String of(long b) {
        if (b < 0) return "unknown";
        if (b < 1 << 10) return b + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
