package io.diffusion4j.pipeline;

/** Receives a {@link StepEvent} after every step, on the sampling thread. */
@FunctionalInterface
public interface StepListener {
    void onStep(StepEvent event);
}
