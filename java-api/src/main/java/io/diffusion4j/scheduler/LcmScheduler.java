package io.diffusion4j.scheduler;

import io.diffusion4j.schedule.NoiseSchedule;

/**
 * Multistep consistency sampling (Song et al. 2023, Algorithm 1) with the latent consistency model's discrete
 * boundary condition (Luo et al. 2023), with diffusers' {@code LCMScheduler} semantics.
 *
 * <p>A consistency model {@code f(x_t, t) = c_skip(t) x_t + c_out(t) x0(x_t, t)} maps any point of the probability-flow
 * ODE to its end point; {@code x0} comes from the model output by its {@code prediction_type} (clipped or
 * thresholded as configured), and {@code c_skip = s^2 / ((t k)^2 + s^2)}, {@code c_out = t k / sqrt((t k)^2 + s^2)}
 * with {@code sigma_data s = 0.5} and {@code k = timestep_scaling} (default 10), so {@code f(x, 0) = x}. Each step
 * but the last re-noises the consistency estimate to the next timestep with fresh noise; the last returns it.
 *
 * <p>Timesteps: the model was distilled on the {@code original_inference_steps} (default 50) timesteps
 * {@code j * (T / original) - 1}, {@code j = 1..original}; a run of {@code N} steps takes those at the indices
 * {@code floor(i * original / N)} counted from the noisy end. So {@code N <= original_inference_steps}. Both options
 * are {@code scheduler_config.json} keys. Immutable.
 *
 * <p>Not supported: diffusers' {@code strength} argument of {@code set_timesteps} (img2img here starts part-way
 * through the plan, as for the other schedulers).
 */
public final class LcmScheduler implements Scheduler {

    public static final String CLASS_NAME = "LCMScheduler";
    /** diffusers' {@code sigma_data} of the boundary condition. */
    public static final double SIGMA_DATA = 0.5;

    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final int originalInferenceSteps;
    private final double timestepScaling;

    /**
     * @throws IllegalArgumentException if {@code original_inference_steps} is not in 1..num_train_timesteps or
     *                                  {@code timestep_scaling} is not a finite number > 0
     */
    public LcmScheduler(SchedulerConfig config) {
        this.config = config;
        this.schedule = config.noiseSchedule();
        this.originalInferenceSteps = config.extraInt("original_inference_steps", 50);
        this.timestepScaling = config.extraDouble("timestep_scaling", 10.0);
        if (originalInferenceSteps < 1 || originalInferenceSteps > config.numTrainTimesteps()) {
            throw new IllegalArgumentException("original_inference_steps must be between 1 and num_train_timesteps ("
                    + config.numTrainTimesteps() + "), got " + originalInferenceSteps);
        }
        if (!(timestepScaling > 0) || Double.isInfinite(timestepScaling)) {
            throw new IllegalArgumentException("timestep_scaling must be a finite number > 0, got " + timestepScaling);
        }
    }

    public int originalInferenceSteps() {
        return originalInferenceSteps;
    }

    public double timestepScaling() {
        return timestepScaling;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "lcm";
    }

    /** {@code c_skip} of the boundary condition at timestep {@code t}. */
    public static double cSkip(double t, double timestepScaling) {
        double s = t * timestepScaling;
        return SIGMA_DATA * SIGMA_DATA / (s * s + SIGMA_DATA * SIGMA_DATA);
    }

    /** {@code c_out} of the boundary condition at timestep {@code t}. */
    public static double cOut(double t, double timestepScaling) {
        double s = t * timestepScaling;
        return s / Math.sqrt(s * s + SIGMA_DATA * SIGMA_DATA);
    }

    /**
     * The timesteps of a run of {@code n} steps.
     *
     * @throws IllegalArgumentException if {@code n} is not in 1..original_inference_steps
     */
    public long[] timesteps(int n) {
        long[] custom = CustomTimesteps.forSteps(config, n);
        if (custom != null) {
            return custom; // diffusers' custom timesteps: any strictly decreasing list, each step to the next
        }
        if (n < 1 || n > originalInferenceSteps) {
            throw new IllegalArgumentException("LCM steps must be between 1 and original_inference_steps ("
                    + originalInferenceSteps + "), got " + n + "; a consistency model samples in few steps (1-8)");
        }
        long k = config.numTrainTimesteps() / originalInferenceSteps;
        long[] ts = new long[n];
        double stride = (double) originalInferenceSteps / n;
        for (int i = 0; i < n; i++) {
            int index = (int) Math.floor(i * stride); // from the noisy end of the original schedule
            ts[i] = (originalInferenceSteps - index) * k - 1;
        }
        return ts;
    }

    @Override
    public SamplingPlan plan(int numInferenceSteps) {
        long[] ts = timesteps(numInferenceSteps);
        return new Plan(ts, TimestepPlanning.previousFromList(ts));
    }

    private final class Plan extends AlphaBarPlan {
        Plan(long[] ts, long[] prev) {
            // after the last step the consistency estimate itself is the result: clean data, alpha-bar 1
            super(LcmScheduler.this.config, LcmScheduler.this.schedule, ts, prev, 1.0);
            for (int i = 0; i < ts.length; i++) {
                double skip = cSkip(ts[i], timestepScaling);
                double out = cOut(ts[i], timestepScaling);
                boolean last = i == ts.length - 1;
                double ap = last ? 1.0 : alphaBarPrev[i];
                // next = sqrt(ab_prev) * (c_out * x0 + c_skip * x) + sqrt(1 - ab_prev) * noise
                define(i, Math.sqrt(ap) * out, Math.sqrt(ap) * skip, 0, Math.sqrt(1 - ap));
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return i < timesteps.length - 1;
        }
    }
}
