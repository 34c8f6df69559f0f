package io.diffusion4j.pipeline;

/** Cancels a run from another thread; the run stops at the next step boundary. Thread-safe. */
public final class CancellationToken {
    private volatile boolean cancelled;

    public void cancel() {
        cancelled = true;
    }

    public boolean isCancelled() {
        return cancelled;
    }
}
