package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;

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
        return new AncestralPlan(timesteps, sigmas, initSigma);
    }

    /** {@code x_next = x + (x - x0) / s * (down - s) + up * noise}, folded to {@code cx x + cm m + up noise}. */
    private final class AncestralPlan extends Plan {
        private final Scalar[] cx;
        private final Scalar[] cm;
        private final Scalar[] up;

        AncestralPlan(double[] timesteps, double[] sigmas, double initSigma) {
            super(timesteps, Arrays.copyOf(sigmas, timesteps.length), Arrays.copyOfRange(sigmas, 1, sigmas.length),
                    initSigma);
            int n = timesteps.length;
            cx = new Scalar[n];
            cm = new Scalar[n];
            up = new Scalar[n];
            for (int i = 0; i < n; i++) {
                double s = sigmas[i];
                double to = sigmas[i + 1];
                double sigmaUp = Math.sqrt(to * to * (s * s - to * to) / (s * s));
                double sigmaDown = Math.sqrt(to * to - sigmaUp * sigmaUp);
                double r = (sigmaDown - s) / s;
                double[] ab = Sigmas.x0FromSigmaSpace(config.predictionType(), s);
                cx[i] = own(1 + r * (1 - ab[0]));
                cm[i] = own(-r * ab[1]);
                up[i] = own(sigmaUp);
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return true;
        }

        @Override
        public SamplerRun start() {
            return this::step;
        }

        private Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
            return Tensor.linearCombination(sample, cx[i], modelOutput, cm[i]).addInPlace(noise, up[i]);
        }
    }
}
