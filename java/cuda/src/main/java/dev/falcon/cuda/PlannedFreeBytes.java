package dev.falcon.cuda;

/**
 * The free device memory {@link CudaBackend} plans X with ({@link DeviceMemoryPlan}): cudaMemGetInfo's figure, or, in a
 * test, less. Without less, no test on a device reaches the streamed plan: every X a test can afford fits any GPU the
 * project targets, and only an X larger than the device (ResNet50 at n = 1024 on an H100) is streamed.
 */
@FunctionalInterface
interface PlannedFreeBytes {
    /**
     * The free bytes to plan X of n x p with, given cudaMemGetInfo's {@code reportedFreeBytes} and the bytes of X's
     * working set the backend already holds ({@link DeviceMemoryPlan#reusableHeldBytes}).
     */
    long of(long n, long p, long reportedFreeBytes, long heldWorkBytes);

    /** cudaMemGetInfo's figure as it is: what every backend but a test's plans with. */
    PlannedFreeBytes REPORTED = (n, p, reportedFreeBytes, heldWorkBytes) -> reportedFreeBytes;

    /**
     * Just the room that streams X in chunks of {@code chunkColumns} columns ({@link DeviceMemoryPlan#freeBytesStreamingIn}),
     * never more than reported: an X of more than 2 chunkColumns columns is streamed in chunks of that width, a
     * smaller one stays resident.
     */
    static PlannedFreeBytes streamingIn(long chunkColumns) {
        DeviceMemoryPlan.freeBytesStreamingIn(1, 1, chunkColumns, 0); // a bad width is refused here, not at the first plan
        return (n, p, reportedFreeBytes, heldWorkBytes) ->
                Math.min(reportedFreeBytes, DeviceMemoryPlan.freeBytesStreamingIn(n, p, chunkColumns, heldWorkBytes));
    }
}
