package io.diffusion4j.scheduler;

/**
 * Euler ancestral sampling in the sigma parameterisation, with diffusers' {@code EulerAncestralDiscreteScheduler}
 * semantics: each step from {@code s} to {@code s'} splits {@code s'} into a deterministic part
 * {@code sigma_down} reached by an Euler step and fresh noise of standard deviation
 * {@code sigma_up = sqrt(s'^2 (s^2 - s'^2) / s^2)}, with {@code sigma_down = sqrt(s'^2 - sigma_up^2)}. Draws noise at
 * every step (the last one adds none, but draws it, as diffusers does). Sigmas as {@link SigmaScheduler}, including
 * Karras sigmas (an extension: diffusers' ancestral scheduler has no such option).
 */
public final class EulerAncestralScheduler extends SigmaScheduler {
    public static final String CLASS_NAME = "EulerAncestralDiscreteScheduler";

    public EulerAncestralScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    public String name() {
        return "euler-a";
    }

    @Override
    SamplingPlan newPlan(double[] timesteps, double[] sigmas, double initSigma) {
        int n = timesteps.length;
        double[] down = new double[n];
        double[] up = new double[n];
        for (int i = 0; i < n; i++) {
            double s = sigmas[i];
            double to = sigmas[i + 1];
            up[i] = Math.sqrt(to * to * (s * s - to * to) / (s * s));
            down[i] = Math.sqrt(to * to - up[i] * up[i]);
        }
        return new EulerStepPlan(timesteps, sigmas, initSigma, down, up);
    }
}
