package io.diffusion4j.pipeline;

import io.diffusion4j.bindings.Tensor;
import java.time.Duration;

/**
 * Progress of a run, given to a {@link StepListener} after each step.
 *
 * @param step      steps done so far in this run (1-based)
 * @param steps     steps this run takes (fewer than the plan's for img2img); 0 when unknown in advance (the adaptive
 *                  solver, whose events count model evaluations)
 * @param timestep  the model timestep of the step just done
 * @param elapsed   time since the run started
 * @param remaining estimated time to the end
 * @param sample    the sample after this step; valid only during the call (it is freed afterwards)
 */
public record StepEvent(int step, int steps, double timestep, Duration elapsed, Duration remaining, Tensor sample) {
}
