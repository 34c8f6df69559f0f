package io.diffusion4j.server;

import io.diffusion4j.model.Denoiser;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.serving.BatchingEngine;
import io.diffusion4j.serving.EngineConfig;
import io.diffusion4j.serving.EngineStats;
import io.diffusion4j.serving.Submission;
import java.time.Duration;

/** Continuous batching: every request of the model shares the running batch of one {@link BatchingEngine}. */
final class EngineBackend implements Backend {
    private final BatchingEngine engine;

    EngineBackend(Denoiser denoiser, long[] sampleShape, EngineConfig config, String name) {
        this.engine = new BatchingEngine(denoiser, sampleShape, config, name);
    }

    @Override
    public Job submit(GenerationRequest request, Scheduler scheduler, Duration timeout) {
        Submission s = engine.submit(request, scheduler, timeout);
        return new Job(s.result(), s::cancel);
    }

    @Override
    public EngineStats stats() {
        return engine.stats();
    }

    @Override
    public void shutdown(Duration grace) throws InterruptedException {
        engine.shutdown();
        if (!engine.awaitTermination(grace)) {
            engine.shutdownNow();
            engine.awaitTermination(Duration.ofSeconds(30));
        }
    }

    @Override
    public void close() {
        engine.close();
    }
}
