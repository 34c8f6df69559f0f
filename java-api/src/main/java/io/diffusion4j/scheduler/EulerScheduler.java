package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Euler's method on the probability-flow ODE in the sigma parameterisation (Karras et al. 2022, Algorithm 1 without
 * churn), with diffusers' {@code EulerDiscreteScheduler} semantics for models trained in the discrete-time form:
 * {@code sigma_t = sqrt((1 - alphaBar_t) / alphaBar_t)}, the sample lives in sigma space, the model sees
 * {@code x / sqrt(sigma^2 + 1)} ({@link SamplingPlan#scaleModelInput}), sigmas are interpolated linearly over the
 * train timesteps and end at 0, the initial noise is scaled by {@code sqrt(sigma_max^2 + 1)} (leading spacing) or
 * {@code sigma_max} (trailing, linspace). Epsilon, sample and v predictions. Deterministic: no noise per step.
 * Karras sigmas are not implemented yet.
 */
public final class EulerScheduler implements Scheduler {
    public static final String CLASS_NAME = "EulerDiscreteScheduler";

    private final SchedulerConfig config;
    private final double[] allSigmas;

    public EulerScheduler(SchedulerConfig config) {
        this.config = config;
        double[] ab = config.noiseSchedule().alphasCumprod();
        this.allSigmas = new double[ab.length];
        for (int i = 0; i < ab.length; i++) {
            allSigmas[i] = Math.sqrt((1 - ab[i]) / ab[i]);
        }
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "euler";
    }

    @Override
    public SamplingPlan plan(int numInferenceSteps) {
        int t = config.numTrainTimesteps();
        if (numInferenceSteps < 1 || numInferenceSteps > t) {
            throw new IllegalArgumentException("steps must be between 1 and num_train_timesteps (" + t + "), got "
                    + numInferenceSteps);
        }
        double[] ts = new double[numInferenceSteps];
        if (config.timestepSpacing() == TimestepSpacing.LINSPACE) {
            // diffusers keeps linspace timesteps fractional for the sigma schedulers
            for (int i = 0; i < numInferenceSteps; i++) {
                ts[numInferenceSteps - 1 - i] = numInferenceSteps == 1 ? 0
                        : (t - 1) * (double) i / (numInferenceSteps - 1);
            }
        } else {
            long[] grid = TimestepPlanning.timesteps(config, numInferenceSteps, Compatibility.DIFFUSERS);
            for (int i = 0; i < grid.length; i++) {
                ts[i] = grid[i];
            }
        }
        double[] sigmas = new double[numInferenceSteps + 1];
        for (int i = 0; i < numInferenceSteps; i++) {
            sigmas[i] = interpolate(ts[i]);
        }
        sigmas[numInferenceSteps] = 0.0;
        double max = 0;
        for (double s : sigmas) {
            max = Math.max(max, s);
        }
        double init = config.timestepSpacing() == TimestepSpacing.LEADING ? Math.sqrt(max * max + 1) : max;
        return new Plan(ts, sigmas, init);
    }

    /** Linear interpolation of the train sigmas at a (possibly fractional) timestep, as numpy's interp. */
    private double interpolate(double t) {
        if (t <= 0) {
            return allSigmas[0];
        }
        if (t >= allSigmas.length - 1) {
            return allSigmas[allSigmas.length - 1];
        }
        int lo = (int) Math.floor(t);
        double w = t - lo;
        return allSigmas[lo] * (1 - w) + allSigmas[lo + 1] * w;
    }

    /** The coefficients of {@code x_next = cx * x + cm * m}, per prediction type. */
    private double[] stepCoefficients(double s, double next) {
        double r = (next - s) / s;
        switch (config.predictionType()) {
            case EPSILON: // x0 = x - s m, d = m
                return new double[] {1, next - s};
            case SAMPLE: // x0 = m
                return new double[] {1 + r, -r};
            case V_PREDICTION: { // x0 = a m + b x
                double a = -s / Math.sqrt(s * s + 1);
                double b = 1 / (s * s + 1);
                return new double[] {1 + r - r * b, -r * a};
            }
            default:
                throw new IllegalStateException("unhandled prediction type " + config.predictionType());
        }
    }

    private final class Plan implements SamplingPlan {
        private final double[] timesteps;
        private final double[] sigmas;
        private final double initSigma;
        private final List<Scalar> owned = new ArrayList<>();
        private final Scalar[] inputScale;
        private final Scalar[] cx;
        private final Scalar[] cm;
        private final Scalar[] sigma;
        private final Scalar one;

        Plan(double[] timesteps, double[] sigmas, double initSigma) {
            this.timesteps = timesteps;
            this.sigmas = sigmas;
            this.initSigma = initSigma;
            int n = timesteps.length;
            inputScale = new Scalar[n];
            cx = new Scalar[n];
            cm = new Scalar[n];
            sigma = new Scalar[n + 1];
            one = own(1.0);
            for (int i = 0; i < n; i++) {
                double s = sigmas[i];
                inputScale[i] = own(1 / Math.sqrt(s * s + 1));
                double[] c = stepCoefficients(s, sigmas[i + 1]);
                cx[i] = own(c[0]);
                cm[i] = own(c[1]);
            }
            for (int i = 0; i <= n; i++) {
                sigma[i] = own(sigmas[i]);
            }
        }

        private Scalar own(double v) {
            Scalar s = Scalar.of(v);
            owned.add(s);
            return s;
        }

        @Override
        public long[] timesteps() {
            long[] out = new long[timesteps.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.round(timesteps[i]);
            }
            return out;
        }

        @Override
        public int steps() {
            return timesteps.length;
        }

        @Override
        public double modelTimestep(int i) {
            return timesteps[i];
        }

        /** The sigma at which step {@code i} starts ({@code steps()} = the final 0). */
        public double sigma(int i) {
            return sigmas[i];
        }

        @Override
        public double initNoiseSigma() {
            return initSigma;
        }

        @Override
        public Tensor scaleModelInput(Tensor sample, int i) {
            return sample.mul(inputScale[i]);
        }

        @Override
        public boolean needsNoise(int i) {
            return false;
        }

        @Override
        public Tensor addNoise(Tensor x0, Tensor noise, int i) {
            return Tensor.linearCombination(x0, one, noise, sigma[i]);
        }

        @Override
        public Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
            return sigmas[i + 1] == 0 ? x0.copy() : Tensor.linearCombination(x0, one, noise, sigma[i + 1]);
        }

        /** Stateless: the run only steps (closing it must not close the plan, which the pipeline caches). */
        @Override
        public SamplerRun start() {
            return this::step;
        }

        private Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
            return Tensor.linearCombination(sample, cx[i], modelOutput, cm[i]);
        }

        @Override
        public void close() {
            owned.forEach(Scalar::close);
            owned.clear();
        }
    }
}
