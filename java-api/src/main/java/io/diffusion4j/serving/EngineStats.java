package io.diffusion4j.serving;

/**
 * A snapshot of a {@link BatchingEngine}'s counters (monotonic since start) and gauges (now).
 *
 * @param queued         requests waiting for admission now
 * @param activeRequests requests in the running batch now
 * @param activeRows     samples in the running batch now
 * @param steps          engine steps run (one model forward each, plus fallbacks after a failed forward)
 * @param rowSteps       sample-steps run (the sum of the batch sizes over the engine steps)
 * @param completed      requests finished with a result
 * @param rejected       requests refused because the queue was full
 * @param cancelled      requests cancelled before they finished
 * @param timedOut       requests whose deadline passed
 * @param failed         requests failed by an error (model, numerics)
 */
public record EngineStats(int queued, int activeRequests, int activeRows, long steps, long rowSteps, long completed,
                          long rejected, long cancelled, long timedOut, long failed) {
}
