package dev.falcon.data;

import org.bytedeco.javacpp.Pointer;

/** How many elements a JavaCPP pointer can be read from, so that a short buffer is an error and not a read past its end. */
public final class PointerExtent {
    private PointerExtent() {}

    /**
     * Elements from the pointer's position to its limit, or to its capacity when no limit is set; -1 when JavaCPP does not
     * know (a pointer made from a native address).
     */
    public static long available(Pointer p) {
        if (p.limit() > 0) return p.limit() - p.position();
        if (p.capacity() > 0) return p.capacity() - p.position();
        return -1;
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
