package io.diffusion4j.bindings;

/**
 * A collective operation or the rendezvous of a {@link ProcessGroup} failed: a peer died or did not answer within the
 * group's timeout, the master could not be reached, or the ranks disagree (different models, say). The message is one
 * line naming the operation, this rank and what to check; the native error, when there is one, is the cause.
 */
public class DistributedException extends NativeOperationException {
    private static final long serialVersionUID = 1L;

    public DistributedException(String message) {
        super(message);
    }

    public DistributedException(String message, Throwable cause) {
        super(message, cause);
    }
}
