package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Tensor;

/**
 * An immutable plan for one number of steps: the timesteps and every per-step coefficient, computed once in Java
 * doubles, so a step makes no device-to-host reads. Thread-safe; close it to free its native scalars.
 */
public interface SamplingPlan extends AutoCloseable {

    /** The model timesteps, in sampling order (descending). */
    long[] timesteps();

    /** The timestep passed to the model at step {@code i}, as diffusers passes it. */
    default double modelTimestep(int i) {
        return timesteps()[i];
    }

    /** Number of steps. */
    default int steps() {
        return timesteps().length;
    }

    /** Standard deviation of the initial noise (1 for DDPM/DDIM). */
    default double initNoiseSigma() {
        return 1.0;
    }

    /** Scales the sample before the model sees it at step {@code i} (identity for DDPM/DDIM). */
    default Tensor scaleModelInput(Tensor sample, int i) {
        return sample;
    }

    /**
     * Whether a run may start at step {@code i} (img2img starts part-way). False for the inner evaluations of a
     * multi-evaluation step (Heun's correction).
     */
    default boolean isStepStart(int i) {
        return true;
    }

    /** Whether step {@code i} consumes a noise tensor (drawn in step order, one per step that needs it). */
    boolean needsNoise(int i);

    /**
     * The forward process to the noise level at which step {@code i} starts: {@code x0} noised with {@code noise}
     * (img2img, inpainting).
     */
    Tensor addNoise(Tensor x0, Tensor noise, int i);

    /**
     * The forward process to the noise level that step {@code i} ends at; {@code x0} itself (a copy) after the final
     * step. Inpainting blends the known region at this level.
     */
    Tensor addNoiseAfter(Tensor x0, Tensor noise, int i);

    /** Starts a run: the per-run state (history of a multistep solver). Not thread-safe; one per generation. */
    SamplerRun start();

    @Override
    void close();
}
