package io.diffusion4j.serving;

import io.diffusion4j.model.Denoiser;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.AdaptiveScheduler;
import io.diffusion4j.scheduler.Scheduler;

/**
 * What a {@link BatchingEngine} accepts: the checks of {@link BatchingEngine#submit} (each refusal says why) and the
 * class id per sample that a request's row gives the model.
 */
final class EngineRequests {
    private final Denoiser denoiser;
    private final EngineConfig config;

    EngineRequests(Denoiser denoiser, EngineConfig config) {
        this.denoiser = denoiser;
        this.config = config;
    }

    /** Throws {@link IllegalArgumentException}, saying why, for a request the engine cannot serve. */
    void validate(GenerationRequest r, Scheduler scheduler) {
        if (scheduler == null) {
            throw new IllegalArgumentException("a scheduler is required");
        }
        if (scheduler instanceof AdaptiveScheduler) {
            throw new IllegalArgumentException("the adaptive solver picks its own steps and cannot share a batch; "
                    + "choose a fixed-step scheduler (ddim, euler, dpmsolver++, ...)");
        }
        if (r.image() != null || r.initNoise() != null || r.noiseSource() != null) {
            throw new IllegalArgumentException("the batching engine generates from seeds only (no input image, "
                    + "initial noise or noise source); use DiffusionPipeline for those");
        }
        if (r.batchSize() > config.maxBatch()) {
            throw new IllegalArgumentException("batch " + r.batchSize() + " is larger than the engine's max batch "
                    + config.maxBatch());
        }
        int trainSteps = scheduler.config().numTrainTimesteps();
        if (r.steps() > trainSteps) {
            throw new IllegalArgumentException("steps must be between 1 and " + trainSteps + " (the model's "
                    + "num_train_timesteps), got " + r.steps());
        }
        labels(r); // throws for classes the model cannot take
    }

    /** The class id per sample for the model, or null for an unconditional model. */
    long[] labels(GenerationRequest r) {
        int[] given = r.classLabels();
        if (r.guided()) {
            if (!denoiser.isConditional()) {
                throw new IllegalArgumentException("guidance scale " + r.guidanceScale() + " needs a "
                        + "class-conditional model; this model is unconditional (use guidance <= 1)");
            }
            if (given == null) {
                throw new IllegalArgumentException("guidance needs class labels (choose a class)");
            }
            if (denoiser.nullClassId() < 0) {
                throw new IllegalArgumentException("guidance needs a null class id (diffusion4j.json null_class_id)");
            }
        }
        if (!denoiser.isConditional()) {
            if (given != null) {
                throw new IllegalArgumentException("this model is unconditional: it takes no class labels");
            }
            return null;
        }
        if (given == null && denoiser.nullClassId() < 0) {
            throw new IllegalArgumentException("this model is class-conditional and has no null class "
                    + "(diffusion4j.json null_class_id): choose a class");
        }
        long[] ids = new long[r.batchSize()];
        for (int i = 0; i < ids.length; i++) {
            int c = given != null ? given[i] : denoiser.nullClassId();
            boolean known = denoiser.numClasses() > 0;
            if (c < 0 || known && c >= denoiser.numClasses() && c != denoiser.nullClassId()) {
                throw new IllegalArgumentException("class " + c + " is out of range: this model has classes 0.."
                        + (denoiser.numClasses() - 1)
                        + (denoiser.nullClassId() >= 0 ? " (and " + denoiser.nullClassId() + " = unconditional)" : ""));
            }
            ids[i] = c;
        }
        return ids;
    }
}
