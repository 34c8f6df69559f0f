package io.diffusion4j.server;

import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One model the server serves: its spec, scheduler config, loaded denoiser and the backend that runs its requests.
 * Owns the denoiser and the backend.
 */
public final class ServedModel implements AutoCloseable {
    private final String name;
    private final ModelSpec spec;
    private final SchedulerConfig config;
    private final Denoiser denoiser;
    private final Backend backend;

    ServedModel(String name, ModelSpec spec, SchedulerConfig config, Denoiser denoiser, Backend backend) {
        this.name = name;
        this.spec = spec;
        this.config = config;
        this.denoiser = denoiser;
        this.backend = backend;
    }

    public String name() {
        return name;
    }

    public ModelSpec spec() {
        return spec;
    }

    public SchedulerConfig schedulerConfig() {
        return config;
    }

    public Denoiser denoiser() {
        return denoiser;
    }

    Backend backend() {
        return backend;
    }

    /** A request and its scheduler from the parsed body. */
    record Prepared(GenerationRequest request, Scheduler scheduler, long seed) {
    }

    /** @throws IllegalArgumentException for parameters this model cannot take (answered with 400) */
    Prepared prepare(GenerateParams p) {
        Scheduler scheduler = p.scheduler() != null ? Schedulers.byName(p.scheduler(), config, p.eta())
                : Schedulers.fromConfig(config, p.eta());
        int steps = p.steps() != null ? p.steps() : switch (scheduler.name()) {
            case "ddpm" -> config.numTrainTimesteps();
            case "ddim" -> 50;
            default -> 20;
        };
        if (steps > config.numTrainTimesteps()) {
            throw new IllegalArgumentException("steps must be between 1 and " + config.numTrainTimesteps()
                    + " (the model's num_train_timesteps), got " + steps);
        }
        long seed = p.seed() != null ? p.seed() : ThreadLocalRandom.current().nextLong(1L << 31);
        GenerationRequest.Builder b = GenerationRequest.builder().steps(steps).seed(seed).batchSize(p.batch())
                .guidanceScale(p.guidance());
        if (p.classes() != null) {
            b.classLabels(p.classes());
        }
        return new Prepared(b.build(), scheduler, seed);
    }

    /** Stops the backend (running requests finish or are cancelled) and frees the model. */
    @Override
    public void close() {
        backend.close();
        denoiser.close();
    }
}
