package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;

/**
 * Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn), with
 * diffusers' {@code HeunDiscreteScheduler} semantics: an {@code N}-step run makes {@code 2N - 1} model evaluations,
 * listed as its steps. Evaluation {@code 2j} takes an Euler step from {@code s_j} to {@code s_{j+1}}; evaluation
 * {@code 2j + 1} evaluates the model there and replaces the step by the average of the two slopes. The last step, to
 * sigma 0, stays first order. Sigmas, Karras sigmas (between {@code sigma_min} and {@code sigma_max} when the config
 * has them, as diffusers' class reads them from its config), input scaling and initial noise as
 * {@link SigmaScheduler}; the class has no {@code final_sigmas_type} key (ignored, as diffusers does: the run ends at
 * sigma 0).
 */
public final class HeunScheduler extends SigmaScheduler {
    public static final String CLASS_NAME = "HeunDiscreteScheduler";

    public HeunScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    boolean readsFinalSigmasType() {
        return false;
    }

    @Override
    public String name() {
        return "heun";
    }

    @Override
    SamplingPlan newPlan(double[] timesteps, double[] sigmas, double initSigma) {
        int n = timesteps.length;
        int evals = 2 * n - 1;
        double[] evalTimesteps = new double[evals];
        double[] evalSigmas = new double[evals];
        double[] after = new double[evals];
        for (int k = 0; k < evals; k++) {
            int j = (k + 1) / 2; // 0, 1, 1, 2, 2, ...
            evalTimesteps[k] = timesteps[j];
            evalSigmas[k] = sigmas[j];
            after[k] = sigmas[k / 2 + 1];
        }
        return new HeunPlan(evalTimesteps, evalSigmas, after, sigmas, initSigma);
    }

    private final class HeunPlan extends Plan {
        /** First-order evaluations: the slope {@code d = dx x + dm m} and the Euler step length. */
        private final Scalar[] dx;
        private final Scalar[] dm;
        private final Scalar[] dt;
        private final Scalar[] halfDt;
        private final boolean[] firstOrderOnly;
        private final Scalar one;

        HeunPlan(double[] evalTimesteps, double[] evalSigmas, double[] after, double[] sigmas, double initSigma) {
            super(evalTimesteps, evalSigmas, after, initSigma);
            int evals = evalTimesteps.length;
            dx = new Scalar[evals];
            dm = new Scalar[evals];
            dt = new Scalar[evals];
            halfDt = new Scalar[evals];
            firstOrderOnly = new boolean[evals];
            one = own(1.0);
            for (int k = 0; k < evals; k++) {
                boolean first = k % 2 == 0;
                int j = k / 2;
                double s = evalSigmas[k];
                double[] ab = Sigmas.x0FromSigmaSpace(config.predictionType(), s);
                dx[k] = own((1 - ab[0]) / s);
                dm[k] = own(-ab[1] / s);
                double step = sigmas[j + 1] - sigmas[j];
                dt[k] = own(step);
                halfDt[k] = own(step / 2);
                firstOrderOnly[k] = first && sigmas[j + 1] == 0;
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return false;
        }

        @Override
        public boolean isStepStart(int i) {
            return i % 2 == 0;
        }

        @Override
        public SamplerRun start() {
            return new Run();
        }

        /** Holds the sample and slope of the pending first-order evaluation outside the per-step scopes. */
        private final class Run implements SamplerRun {
            private Tensor start;
            private Tensor slope;

            @Override
            public Tensor step(int k, Tensor m, Tensor x, Tensor noise) {
                Tensor d = Tensor.linearCombination(x, dx[k], m, dm[k]);
                if (k % 2 == 0) {
                    Tensor next = Tensor.linearCombination(x, one, d, dt[k]);
                    if (!firstOrderOnly[k]) {
                        release();
                        start = NativeScope.unscoped(x::detach); // shares storage; survives this step's scope
                        slope = NativeScope.unscoped(d::detach);
                    }
                    return next;
                }
                if (start == null) {
                    throw new IllegalStateException("Heun's correction step " + k + " needs step " + (k - 1)
                            + " first: start a run at an even step");
                }
                Tensor next = Tensor.linearCombination(start, one, slope.add(d), halfDt[k]);
                release();
                return next;
            }

            private void release() {
                if (start != null) {
                    start.close();
                    slope.close();
                    start = null;
                    slope = null;
                }
            }

            @Override
            public void close() {
                release();
            }
        }
    }
}
