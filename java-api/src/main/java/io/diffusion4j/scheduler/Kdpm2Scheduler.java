package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;

/**
 * The second-order DPM-Solver step in sigma space of Karras et al. (2022, "Elucidating the Design Space", the
 * "DPM2" sampler of k-diffusion): from {@code s_j} an Euler step to the geometric midpoint
 * {@code s_mid = sqrt(s_j s_{j+1})}, a model evaluation there, and the whole step from {@code s_j} to
 * {@code s_{j+1}} taken with the midpoint's slope. diffusers' {@code KDPM2DiscreteScheduler} semantics: an
 * {@code N}-step run makes {@code 2N - 1} model evaluations, listed as its steps (even: at {@code s_j}, odd: at the
 * midpoint, whose fractional timestep is found through log sigma); the last step, to sigma 0, is the first-order
 * one alone. Sigmas, Karras sigmas (timesteps rounded; between {@code sigma_min} and {@code sigma_max} when the
 * config has them, as diffusers' class reads them from its config), input scaling and initial noise as
 * {@link SigmaScheduler}; the class has no {@code final_sigmas_type} key (ignored, as diffusers does). Refused: {@code prediction_type} sample (diffusers raises NotImplementedError), {@code
 * rescale_betas_zero_snr} true (not a key of this class). Deterministic; the midpoint evaluations step in place.
 */
public final class Kdpm2Scheduler extends SigmaScheduler {
    public static final String CLASS_NAME = "KDPM2DiscreteScheduler";

    public Kdpm2Scheduler(SchedulerConfig config) {
        super(refuseUnsupported(config));
    }

    private static SchedulerConfig refuseUnsupported(SchedulerConfig config) {
        if (config.predictionType() == PredictionType.SAMPLE) {
            throw new IllegalArgumentException("prediction_type sample is not supported by " + CLASS_NAME
                    + " (diffusers raises NotImplementedError); use epsilon or v_prediction");
        }
        if (config.rescaleBetasZeroSnr()) {
            throw new IllegalArgumentException("rescale_betas_zero_snr is not a key of " + CLASS_NAME
                    + " (diffusers ignores it); remove it or choose another scheduler");
        }
        return config;
    }

    @Override
    boolean readsFinalSigmasType() {
        return false;
    }

    @Override
    public String name() {
        return "kdpm2";
    }

    @Override
    SamplingPlan newPlan(double[] timesteps, double[] sigmas, double initSigma) {
        int n = timesteps.length;
        double[] mid = new double[n + 1]; // mid[j]: between s_{j-1} and s_j; mid[n] = 0
        for (int j = 1; j <= n; j++) {
            mid[j] = sigmas[j] == 0 ? 0 : Math.exp((Math.log(sigmas[j]) + Math.log(sigmas[j - 1])) / 2);
        }
        int evals = 2 * n - 1;
        double[] evalTimesteps = new double[evals];
        double[] evalSigmas = new double[evals];
        double[] after = new double[evals];
        for (int k = 0; k < evals; k++) {
            if (k % 2 == 0) {
                int j = k / 2;
                // diffusers rounds the timesteps of Karras sigmas (not those of the midpoints)
                evalTimesteps[k] = karras ? Math.rint(timesteps[j]) : timesteps[j];
                evalSigmas[k] = sigmas[j];
                after[k] = mid[j + 1];
            } else {
                int j = (k + 1) / 2;
                evalTimesteps[k] = this.sigmas.toTimestep(mid[j]);
                evalSigmas[k] = mid[j];
                after[k] = sigmas[j];
            }
        }
        return new Kdpm2Plan(evalTimesteps, evalSigmas, after, sigmas, initSigma);
    }

    private final class Kdpm2Plan extends Plan {
        /** Evaluation {@code k}: {@code next = ex x + cm m}, plus the step's start for the midpoint (odd k). */
        private final Scalar[] ex;
        private final Scalar[] cm;
        private final boolean[] keepsStart;
        private final Scalar one;

        Kdpm2Plan(double[] evalTimesteps, double[] evalSigmas, double[] after, double[] sigmas, double initSigma) {
            super(evalTimesteps, evalSigmas, after, initSigma);
            int evals = evalTimesteps.length;
            cm = new Scalar[evals];
            ex = new Scalar[evals];
            keepsStart = new boolean[evals];
            one = own(1.0);
            for (int k = 0; k < evals; k++) {
                double s = evalSigmas[k];
                double[] ab = Sigmas.x0FromSigmaSpace(config.predictionType(), s);
                double dx = (1 - ab[0]) / s; // slope d = (x - x0) / s = dx x + dm m
                double dm = -ab[1] / s;
                double dt;
                if (k % 2 == 0) {
                    int j = k / 2;
                    dt = after[k] - sigmas[j];
                    keepsStart[k] = k < evals - 1;
                    ex[k] = own(1 + dt * dx); // next = x + dt d
                } else {
                    int j = (k + 1) / 2;
                    dt = sigmas[j] - sigmas[j - 1];
                    ex[k] = own(dt * dx); // next = start + dt d
                }
                cm[k] = own(dt * dm);
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

        /** Holds the sample at the start of the pending step outside the per-step scopes. */
        private final class Run implements SamplerRun {
            private Tensor start;

            @Override
            public Tensor step(int k, Tensor m, Tensor x, Tensor noise) {
                if (k % 2 == 0) {
                    Tensor next = Tensor.linearCombination(x, ex[k], m, cm[k]);
                    keep(k, x);
                    return next;
                }
                return stepInPlace(k, m, x.copy(), noise);
            }

            @Override
            public Tensor stepInPlace(int k, Tensor m, Tensor x, Tensor noise) {
                if (k % 2 == 0) {
                    if (keepsStart[k]) {
                        return step(k, m, x, noise); // x is the next step's start: not overwritten
                    }
                    return x.mulInPlace(ex[k]).addInPlace(m, cm[k]);
                }
                if (start == null) {
                    throw new IllegalStateException("KDPM2's midpoint step " + k + " needs step " + (k - 1)
                            + " first: start a run at an even step");
                }
                x.mulInPlace(ex[k]).addInPlace(m, cm[k]).addInPlace(start, one);
                release();
                return x;
            }

            private void keep(int k, Tensor x) {
                release();
                if (keepsStart[k]) {
                    start = NativeScope.unscoped(x::detach); // shares storage; survives this step's scope
                }
            }

            private void release() {
                if (start != null) {
                    start.close();
                    start = null;
                }
            }

            @Override
            public void close() {
                release();
            }
        }
    }
}
