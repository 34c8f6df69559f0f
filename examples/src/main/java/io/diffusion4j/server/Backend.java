package io.diffusion4j.server;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.serving.EngineStats;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** Runs a model's generation requests: the batching engine, or one loop per request (batching off). */
interface Backend extends AutoCloseable {

    /**
     * Queues a request.
     *
     * @throws io.diffusion4j.serving.QueueFullException when the queue is full
     * @throws IllegalArgumentException                  for a request the model cannot serve
     */
    Job submit(GenerationRequest request, Scheduler scheduler, Duration timeout);

    EngineStats stats();

    /** Accepts no more requests, lets running ones finish for at most {@code grace}, then cancels the rest. */
    void shutdown(Duration grace) throws InterruptedException;

    @Override
    void close();

    /**
     * A queued request: the result tensor belongs to whoever takes it (and closes it); {@code cancel} frees the
     * request's rows at the next step.
     */
    record Job(CompletableFuture<Tensor> result, Runnable cancel) {
    }
}
