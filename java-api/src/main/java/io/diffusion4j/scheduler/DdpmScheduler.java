package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.schedule.NoiseSchedule;

/**
 * DDPM ancestral sampling (Ho et al. 2020, eqs. 6-7 and 11) with diffusers' {@code DDPMScheduler} semantics:
 * {@code variance_type} {@code fixed_small}, {@code fixed_small_log}, {@code fixed_large}, {@code fixed_large_log},
 * {@code learned}, {@code learned_range}; {@code clip_sample}; dynamic thresholding; any number of steps up to
 * {@code num_train_timesteps} (the previous timestep is the next one of the list, as diffusers does once
 * {@code set_timesteps} was called). Noise is added at every step whose timestep is above 0.
 *
 * <p>{@code fixed_large_log}: diffusers takes the square root of {@code log(beta_t)} there (NaN); we use
 * {@code exp(0.5 * log(beta_t))}, i.e. the same standard deviation as {@code fixed_large}.
 */
public final class DdpmScheduler implements Scheduler {
    public static final String CLASS_NAME = "DDPMScheduler";

    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final Compatibility compatibility;

    public DdpmScheduler(SchedulerConfig config) {
        this(config, Compatibility.DIFFUSERS);
    }

    public DdpmScheduler(SchedulerConfig config, Compatibility compatibility) {
        this.config = config;
        this.schedule = config.noiseSchedule();
        this.compatibility = compatibility;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "ddpm";
    }


    @Override
    public SamplingPlan plan(int numInferenceSteps) {
        long[] ts = TimestepPlanning.timesteps(config, numInferenceSteps, compatibility);
        return new Plan(ts, TimestepPlanning.previousFromList(ts));
    }

    private final class Plan extends AlphaBarPlan {
        private final double[] logSmallVariance;
        private final double[] logBeta;
        private final Scalar[] halfLogBeta;
        private final Scalar[] halfLogSmall;

        Plan(long[] ts, long[] prev) {
            super(DdpmScheduler.this.config, DdpmScheduler.this.schedule, ts, prev, 1.0);
            int n = ts.length;
            logSmallVariance = new double[n];
            logBeta = new double[n];
            halfLogBeta = new Scalar[n];
            halfLogSmall = new Scalar[n];
            for (int i = 0; i < n; i++) {
                double a = alphaBar[i];
                double ap = alphaBarPrev[i];
                double curAlpha = a / ap;
                double curBeta = 1 - curAlpha;
                double c0 = Math.sqrt(ap) * curBeta / (1 - a);
                double cs = Math.sqrt(curAlpha) * (1 - ap) / (1 - a);
                double small = Math.max((1 - ap) / (1 - a) * curBeta, 1e-20);
                logSmallVariance[i] = Math.log(small);
                logBeta[i] = Math.log(curBeta);
                double sigma;
                switch (config.varianceType()) {
                    case FIXED_SMALL:
                        sigma = Math.sqrt(small);
                        break;
                    case FIXED_SMALL_LOG:
                        sigma = Math.exp(0.5 * Math.log(small));
                        break;
                    case FIXED_LARGE:
                        sigma = Math.sqrt(curBeta);
                        break;
                    case FIXED_LARGE_LOG:
                        sigma = Math.exp(0.5 * Math.log(curBeta));
                        break;
                    default:
                        sigma = 0; // learned: per element, from the model
                }
                define(i, c0, cs, 0, sigma);
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return timesteps[i] > 0;
        }

        @Override
        protected boolean learnedVariance() {
            return config.varianceType() == VarianceType.LEARNED || config.varianceType() == VarianceType.LEARNED_RANGE;
        }

        @Override
        protected Tensor learnedSigma(int i, Tensor v) {
            if (config.varianceType() == VarianceType.LEARNED) {
                return v.sqrt();
            }
            // learned_range: interpolate log-variance between the small and the large one
            Tensor frac = v.add(1.0).mul(0.5);
            Tensor logVar = frac.mul(logBeta[i] - logSmallVariance[i]).add(logSmallVariance[i]);
            return logVar.mul(0.5).exp();
        }
    }
}
