package io.diffusion4j.serving;

/**
 * Limits of a {@link BatchingEngine}.
 *
 * @param maxBatch the most samples (rows) in the running batch; a guided row costs the model two inputs
 * @param maxQueue the most requests waiting for admission; a request beyond it is rejected at once
 */
public record EngineConfig(int maxBatch, int maxQueue) {
    public EngineConfig {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
        }
        if (maxQueue < 1) {
            throw new IllegalArgumentException("max queue must be >= 1, got " + maxQueue);
        }
    }

    /** Batching off: one request at a time, as a loop per request would run (the baseline for benchmarks). */
    public EngineConfig withMaxBatch(int batch) {
        return new EngineConfig(batch, maxQueue);
    }
}
