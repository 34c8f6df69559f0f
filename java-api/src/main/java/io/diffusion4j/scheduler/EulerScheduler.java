package io.diffusion4j.scheduler;

import java.util.Arrays;

/**
 * Euler's method on the probability-flow ODE in the sigma parameterisation (Karras et al. 2022, Algorithm 1 without
 * churn), with diffusers' {@code EulerDiscreteScheduler} semantics (see {@link SigmaScheduler} for the sigmas,
 * Karras sigmas, input scaling and initial noise). Epsilon, sample and v predictions. Deterministic: no noise per
 * step; one model evaluation per step. With an epsilon model it takes the same steps as DDIM with eta 0.
 */
public final class EulerScheduler extends SigmaScheduler {
    public static final String CLASS_NAME = "EulerDiscreteScheduler";

    public EulerScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    public String name() {
        return "euler";
    }

    @Override
    SamplingPlan newPlan(double[] timesteps, double[] sigmas, double initSigma) {
        return new EulerStepPlan(timesteps, sigmas, initSigma, Arrays.copyOfRange(sigmas, 1, sigmas.length), null);
    }
}
