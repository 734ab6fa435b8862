package dev.falcon.data;

import org.bytedeco.javacpp.Pointer;

/** How many elements a JavaCPP pointer can be read from, so that a short buffer is an error and not a read past its end. */
public final class PointerExtent {
    private PointerExtent() {}

    /**
     * Elements from the pointer's position to its limit, or to its capacity when no limit is set; 0 when the position is at
     * or past that end; -1 only when JavaCPP does not know (a pointer made from a bare native address: no limit, no
     * capacity).
     */
    public static long available(Pointer p) {
        // a position past the end (a caller stepping through a buffer one step too far) holds nothing: read as -1, it
        // passed every check as "unknown" and the kernels read and wrote past the allocation
        if (p.limit() > 0) return Math.max(0, p.limit() - p.position());
        if (p.capacity() > 0) return Math.max(0, p.capacity() - p.position());
        return -1;
    }

    /**
     * The most floats a vector may be asked for: above it JavaCPP's {@code new float[length]} throws
     * std::bad_array_new_length in C++, which no Java code can catch, and the JVM aborts (SIGABRT, exit 134).
     */
    public static final long MOST_FLOATS = (Long.MAX_VALUE - Float.BYTES) / Float.BYTES;

    /**
     * Throws IllegalArgumentException naming {@code what} unless {@code 0 <= length <= MOST_FLOATS}. Checked before
     * JavaCPP allocates: a negative length (the usual result of an int overflow, n * p in int) aborted the JVM there, so
     * no catch, finally or try-with-resources of the caller ran.
     */
    public static void requireFloatCount(long length, String what) {
        if (length < 0 || length > MOST_FLOATS) {
            throw new IllegalArgumentException(what + ": length is " + length + "; it must be >= 0 and at most " + MOST_FLOATS
                    + (length < 0 ? " (a negative length is often an int product that overflowed: compute it in long)" : ""));
        }
    }

    /** Throws IllegalArgumentException naming {@code what} when the pointer is null or holds fewer than {@code needed} elements. */
    public static void require(Pointer p, long needed, String what) {
        // a closed JavaCPP pointer is a null one too: an embedder who closed it too early reads that, not just "null"
        if (p == null) throw new IllegalArgumentException(what + " is null");
        if (p.isNull()) throw new IllegalArgumentException(what + " is a null pointer (was it closed or deallocated before this call?)");
        long available = available(p);
        if (available >= 0 && available < needed) {
            throw new IllegalArgumentException(what + " holds " + available + " elements but " + needed + " are needed");
        }
    }
}
