package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.DType;

/**
 * A sampler for the reverse process. A scheduler holds configuration only and is immutable, so one instance serves
 * many threads; {@link #plan} precomputes a run's timesteps and per-step coefficients, and
 * {@link SamplingPlan#start()} gives the per-run state a multistep solver needs.
 */
public interface Scheduler {

    /** The diffusers config this scheduler was built from. */
    SchedulerConfig config();

    /** A short name, e.g. {@code ddim}. */
    String name();

    /**
     * Plans a run of {@code numInferenceSteps} steps.
     *
     * @throws IllegalArgumentException if the step count is outside 1..num_train_timesteps
     */
    SamplingPlan plan(int numInferenceSteps);

    /**
     * The dtype in which diffusers passes this scheduler's timesteps to the model: int64 where its timesteps are
     * integers (the default: DDPM, DDIM, DPM-Solver++, whose Karras timesteps are rounded too, UniPC, PNDM, DEIS,
     * LCM), float32 where they are fractional (the sigma schedulers, which override this: Euler, Euler ancestral,
     * Heun, LMS, and the adaptive solver). A pipeline passes timesteps in this dtype unless the model declares its own
     * ({@code timestep_dtype} in {@code diffusion4j.json}, or a typed forward argument).
     */
    default DType timestepDType() {
        return DType.INT64;
    }
}
