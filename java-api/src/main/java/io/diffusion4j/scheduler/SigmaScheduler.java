package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What diffusers' sigma schedulers ({@code EulerDiscreteScheduler}, {@code EulerAncestralDiscreteScheduler},
 * {@code HeunDiscreteScheduler}) share: the sample lives in sigma space ({@code x = x0 + sigma * eps}), the model
 * sees {@code x / sqrt(sigma^2 + 1)}, the sigmas are the train sigmas interpolated linearly at the spaced timesteps
 * (fractional for linspace spacing) or, with {@code use_karras_sigmas}, Karras et al.'s schedule between the first
 * and last of those (or {@code sigma_min} and {@code sigma_max} when the config has them and the class reads them,
 * {@link #karrasReadsSigmaRange()}) with the timesteps mapped back through log sigma; the last sigma is 0
 * ({@code final_sigmas_type: zero}, and always for a class without that key, {@link #readsFinalSigmasType()}) or the
 * smallest train sigma ({@code sigma_min}); the initial noise is scaled by {@code sqrt(sigma_max^2 + 1)} for leading
 * spacing and by {@code sigma_max} otherwise.
 */
abstract sealed class SigmaScheduler implements Scheduler
        permits EulerScheduler, EulerAncestralScheduler, HeunScheduler, LmsScheduler, Kdpm2Scheduler {

    final SchedulerConfig config;
    final Sigmas sigmas;
    final boolean karras;
    final boolean finalSigmaMin;

    SigmaScheduler(SchedulerConfig config) {
        this.config = config;
        this.sigmas = new Sigmas(config);
        this.karras = config.extraBoolean("use_karras_sigmas", false);
        String finalType = readsFinalSigmasType() ? config.extraString("final_sigmas_type", "zero") : "zero";
        if (!finalType.equals("zero") && !finalType.equals("sigma_min")) {
            throw new IllegalArgumentException("final_sigmas_type must be zero or sigma_min, got '" + finalType + "'");
        }
        this.finalSigmaMin = finalType.equals("sigma_min");
        for (String key : new String[] {"use_exponential_sigmas", "use_beta_sigmas"}) {
            if (config.extraBoolean(key, false)) {
                throw new IllegalArgumentException(key + " is not supported; use use_karras_sigmas or the default");
            }
        }
        String interpolation = config.extraString("interpolation_type", "linear");
        if (!interpolation.equals("linear")) {
            throw new IllegalArgumentException("interpolation_type '" + interpolation + "' is not supported; use linear");
        }
        String timestepType = config.extraString("timestep_type", "discrete");
        if (!timestepType.equals("discrete")) {
            throw new IllegalArgumentException("timestep_type '" + timestepType + "' is not supported; use discrete");
        }
        if (config.thresholding()) {
            throw new IllegalArgumentException("thresholding is not supported by " + name() + "; use ddpm or ddim");
        }
    }

    /**
     * Whether the diffusers class reads {@code final_sigmas_type} (an {@code __init__} argument of Euler's only); the
     * others end at sigma 0 whatever the key says, as diffusers' do. Called from the constructor.
     */
    boolean readsFinalSigmasType() {
        return true;
    }

    /**
     * Whether Karras sigmas span the config's {@code sigma_min} and {@code sigma_max} when it has them. diffusers'
     * Euler, Heun and KDPM2 read them from their config ({@code hasattr(self.config, "sigma_min")}), which
     * {@code from_config} fills for Heun and KDPM2 too (keys of compatible classes are kept in the config); LMS spans
     * the first and last spaced train sigmas whatever the keys say (test-models/make_scheduler_refs.py, the
     * {@code *_sigma_keys} cases).
     */
    boolean karrasReadsSigmaRange() {
        return true;
    }

    @Override
    public final SchedulerConfig config() {
        return config;
    }

    /** {@inheritDoc} diffusers' sigma schedulers pass their (fractional) timesteps as float32. */
    @Override
    public final io.diffusion4j.bindings.DType timestepDType() {
        return io.diffusion4j.bindings.DType.FLOAT32;
    }

    /** Whether the schedule uses Karras sigmas. */
    public final boolean karras() {
        return karras;
    }

    @Override
    public final SamplingPlan plan(int n) {
        int t = config.numTrainTimesteps();
        if (n < 1 || n > t) {
            throw new IllegalArgumentException("steps must be between 1 and num_train_timesteps (" + t + "), got " + n);
        }
        double[] ts = new double[n];
        long[] custom = CustomTimesteps.forSteps(config, n);
        if (custom != null) {
            if (karras) {
                CustomTimesteps.refuseWith(config, "use_karras_sigmas");
            }
            for (int i = 0; i < n; i++) {
                ts[i] = custom[i]; // diffusers' custom timesteps: the train sigmas at those timesteps
            }
        } else if (config.timestepSpacing() == TimestepSpacing.LINSPACE) {
            // diffusers keeps linspace timesteps fractional for the sigma schedulers
            for (int i = 0; i < n; i++) {
                ts[n - 1 - i] = n == 1 ? 0 : (t - 1) * (double) i / (n - 1);
            }
        } else {
            long[] grid = TimestepPlanning.timesteps(config, n, Compatibility.DIFFUSERS);
            for (int i = 0; i < n; i++) {
                ts[i] = grid[i];
            }
        }
        double[] s = new double[n + 1];
        for (int i = 0; i < n; i++) {
            s[i] = sigmas.interpolate(ts[i]);
        }
        if (karras) {
            double min = karrasReadsSigmaRange() ? config.extraDouble("sigma_min", s[n - 1]) : s[n - 1];
            double max = karrasReadsSigmaRange() ? config.extraDouble("sigma_max", s[0]) : s[0];
            double[] k = Sigmas.karras(min, max, n);
            for (int i = 0; i < n; i++) {
                s[i] = k[i];
                ts[i] = sigmas.toTimestep(k[i]);
            }
        }
        s[n] = finalSigmaMin ? sigmas.min() : 0.0;
        double max = 0;
        for (double v : s) {
            max = Math.max(max, v);
        }
        double init = config.timestepSpacing() == TimestepSpacing.LEADING ? Math.sqrt(max * max + 1) : max;
        return newPlan(ts, s, init);
    }

    /** The plan over {@code n} timesteps and their {@code n + 1} sigmas (the last one the final level). */
    abstract SamplingPlan newPlan(double[] timesteps, double[] sigmas, double initSigma);

    /**
     * One model evaluation per step: an Euler step from {@code s_i} to {@code targets[i]},
     * {@code x + (x - x0) / s * (target - s)} with {@code x0 = a x + b m}, folded to {@code cx x + cm m}, plus
     * {@code up[i] * noise} when {@code up} is given (ancestral sampling).
     */
    final class EulerStepPlan extends Plan {
        private final Scalar[] cx;
        private final Scalar[] cm;
        private final Scalar[] upScale;

        EulerStepPlan(double[] timesteps, double[] sigmas, double initSigma, double[] targets, double[] up) {
            super(timesteps, Arrays.copyOf(sigmas, timesteps.length), Arrays.copyOfRange(sigmas, 1, sigmas.length),
                    initSigma);
            int n = timesteps.length;
            cx = new Scalar[n];
            cm = new Scalar[n];
            upScale = up == null ? null : new Scalar[n];
            for (int i = 0; i < n; i++) {
                double s = sigmas[i];
                double r = (targets[i] - s) / s;
                double[] ab = Sigmas.x0FromSigmaSpace(config.predictionType(), s);
                cx[i] = own(1 + r * (1 - ab[0]));
                cm[i] = own(-r * ab[1]);
                if (up != null) {
                    upScale[i] = own(up[i]);
                }
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return upScale != null;
        }

        /** Stateless: the run only steps (closing it must not close the plan, which the pipeline caches). */
        @Override
        public SamplerRun start() {
            return new SamplerRun() {
                @Override
                public Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                    Tensor next = Tensor.linearCombination(sample, cx[i], modelOutput, cm[i]);
                    return upScale == null ? next : next.addInPlace(noise, upScale[i]);
                }

                @Override
                public Tensor stepInPlace(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                    sample.mulInPlace(cx[i]).addInPlace(modelOutput, cm[i]);
                    return upScale == null ? sample : sample.addInPlace(noise, upScale[i]);
                }
            };
        }
    }

    /**
     * A plan whose model evaluation {@code k} runs at {@code evalTimesteps[k]} on a sample at {@code evalSigmas[k]}
     * and whose step {@code k} ends at {@code sigmasAfter[k]}. Holds its native scalars; subclasses add theirs
     * through {@link #own}.
     */
    abstract static class Plan implements SamplingPlan {
        private final double[] evalTimesteps;
        private final double[] evalSigmas;
        private final double[] sigmasAfter;
        private final double initSigma;
        private final List<Scalar> owned = new ArrayList<>();
        private final Scalar[] inputScale;

        Plan(double[] evalTimesteps, double[] evalSigmas, double[] sigmasAfter, double initSigma) {
            this.evalTimesteps = evalTimesteps;
            this.evalSigmas = evalSigmas;
            this.sigmasAfter = sigmasAfter;
            this.initSigma = initSigma;
            this.inputScale = new Scalar[evalTimesteps.length];
            for (int k = 0; k < inputScale.length; k++) {
                inputScale[k] = own(1 / Math.sqrt(evalSigmas[k] * evalSigmas[k] + 1));
            }
        }

        final Scalar own(double v) {
            Scalar s = Scalar.of(v);
            owned.add(s);
            return s;
        }

        @Override
        public final long[] timesteps() {
            long[] out = new long[evalTimesteps.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.round(evalTimesteps[i]);
            }
            return out;
        }

        @Override
        public final int steps() {
            return evalTimesteps.length;
        }

        @Override
        public final double modelTimestep(int i) {
            return evalTimesteps[i];
        }

        /** The sigma of the sample that model evaluation {@code i} sees. */
        public final double sigma(int i) {
            return evalSigmas[i];
        }

        @Override
        public final double initNoiseSigma() {
            return initSigma;
        }

        @Override
        public final Tensor scaleModelInput(Tensor sample, int i) {
            return sample.mul(inputScale[i]);
        }

        @Override
        public final Tensor addNoise(Tensor x0, Tensor noise, int i) {
            return x0.add(noise, evalSigmas[i]);
        }

        @Override
        public final Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
            return sigmasAfter[i] == 0 ? x0.copy() : x0.add(noise, sigmasAfter[i]);
        }

        @Override
        public void close() {
            owned.forEach(Scalar::close);
            owned.clear();
        }
    }
}
