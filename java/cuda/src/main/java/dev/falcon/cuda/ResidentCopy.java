package dev.falcon.cuda;

import dev.falcon.data.HostMatrix;

/**
 * Which X a device copy was made from, and at which version of its contents ({@link HostMatrix#version()}, read before
 * copying). The copy was reused for the same matrix object alone: after the embedder changed X (inside
 * {@link HostMatrix#write}, or with another backend's {@code fillSyntheticGradients}) the cuda backend went on with the
 * old X while cpu and java read the new one. Kept apart from {@link CudaBackend} so that the rule is tested without a GPU.
 */
record ResidentCopy(HostMatrix matrix, long version) {
    /** Taken just before copying x. */
    static ResidentCopy of(HostMatrix x) {
        return new ResidentCopy(x, x.version());
    }

    /** Whether the copy holds x's current contents. */
    boolean isCurrentFor(HostMatrix x) {
        return matrix == x && version == x.version();
    }
}
