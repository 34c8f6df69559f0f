package io.diffusion4j.scheduler;

import io.diffusion4j.schedule.NoiseSchedule;

/**
 * DDIM (Song et al. 2021, eq. 12) with diffusers' {@code DDIMScheduler} semantics: {@code eta} (0 = deterministic,
 * 1 = DDPM-like), {@code set_alpha_to_one}, {@code steps_offset}, {@code timestep_spacing}, {@code clip_sample},
 * dynamic thresholding, {@code rescale_betas_zero_snr} and all three prediction types. Immutable.
 */
public final class DdimScheduler implements Scheduler {
    public static final String CLASS_NAME = "DDIMScheduler";

    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final double eta;
    private final Compatibility compatibility;

    public DdimScheduler(SchedulerConfig config) {
        this(config, 0.0, Compatibility.DIFFUSERS);
    }

    public DdimScheduler(SchedulerConfig config, double eta, Compatibility compatibility) {
        if (!(eta >= 0) || Double.isInfinite(eta)) {
            throw new IllegalArgumentException("eta must be a finite number >= 0, got " + eta);
        }
        this.config = config;
        this.schedule = config.noiseSchedule();
        this.eta = eta;
        this.compatibility = compatibility;
    }

    /** The same scheduler with another {@code eta}. */
    public DdimScheduler withEta(double eta) {
        return new DdimScheduler(config, eta, compatibility);
    }

    public double eta() {
        return eta;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "ddim";
    }


    @Override
    public SamplingPlan plan(int numInferenceSteps) {
        long[] ts = TimestepPlanning.timesteps(config, numInferenceSteps, compatibility);
        // an explicit list steps from each listed timestep to the next (the DDIM rule t - T // N assumes even spacing)
        long[] prev = compatibility == Compatibility.DIFFUSERS && config.timesteps() == null
                ? TimestepPlanning.previousByRatio(ts, config.numTrainTimesteps())
                : TimestepPlanning.previousFromList(ts);
        double finalAlphaBar = config.setAlphaToOne() ? 1.0 : schedule.alphasCumprod()[0];
        return new Plan(ts, prev, finalAlphaBar);
    }

    private final class Plan extends AlphaBarPlan {
        private final boolean drawsNoise;

        Plan(long[] ts, long[] prev, double finalAlphaBar) {
            super(DdimScheduler.this.config, DdimScheduler.this.schedule, ts, prev, finalAlphaBar);
            this.drawsNoise = eta > 0;
            for (int i = 0; i < ts.length; i++) {
                double a = alphaBar[i];
                double ap = alphaBarPrev[i];
                double variance = (1 - ap) / (1 - a) * (1 - a / ap);
                double std = eta * Math.sqrt(variance);
                double dir = Math.sqrt(Math.max(0, 1 - ap - std * std));
                double[] e = epsilonCoefficients(a);
                define(i, Math.sqrt(ap), dir * e[0], dir * e[1], std);
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return drawsNoise;
        }
    }
}
