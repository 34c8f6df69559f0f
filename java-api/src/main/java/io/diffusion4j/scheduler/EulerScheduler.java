package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;

/**
 * Euler's method on the probability-flow ODE in the sigma parameterisation (Karras et al. 2022, Algorithm 1 without
 * churn), with diffusers' {@code EulerDiscreteScheduler} semantics (see {@link SigmaScheduler} for the sigmas,
 * Karras sigmas, input scaling and initial noise). Epsilon, sample and v predictions. Deterministic: no noise per
 * step; one model evaluation per step.
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
        return new EulerPlan(timesteps, sigmas, initSigma);
    }

    /** {@code x_next = x + (x - x0) / s * (next - s)} with {@code x0 = a x + b m}, folded to {@code cx x + cm m}. */
    private final class EulerPlan extends Plan {
        private final Scalar[] cx;
        private final Scalar[] cm;

        EulerPlan(double[] timesteps, double[] sigmas, double initSigma) {
            super(timesteps, Arrays.copyOf(sigmas, timesteps.length),
                    Arrays.copyOfRange(sigmas, 1, sigmas.length), initSigma);
            int n = timesteps.length;
            cx = new Scalar[n];
            cm = new Scalar[n];
            for (int i = 0; i < n; i++) {
                double s = sigmas[i];
                double r = (sigmas[i + 1] - s) / s;
                double[] ab = Sigmas.x0FromSigmaSpace(config.predictionType(), s);
                cx[i] = own(1 + r * (1 - ab[0]));
                cm[i] = own(-r * ab[1]);
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return false;
        }

        /** Stateless: the run only steps (closing it must not close the plan, which the pipeline caches). */
        @Override
        public SamplerRun start() {
            return new SamplerRun() {
                @Override
                public Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                    return Tensor.linearCombination(sample, cx[i], modelOutput, cm[i]);
                }

                @Override
                public Tensor stepInPlace(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                    return sample.mulInPlace(cx[i]).addInPlace(modelOutput, cm[i]);
                }
            };
        }
    }
}
