package io.diffusion4j.scheduler;

/** The checks every {@link SchedulerConfig} passes when built: each names the diffusers key and the bad value. */
final class SchedulerConfigValidation {
    private SchedulerConfigValidation() {
    }

    static void validate(SchedulerConfig c, double[] trainedBetas) {
        if (c.numTrainTimesteps() < 1) {
            throw new IllegalArgumentException("num_train_timesteps must be >= 1, got " + c.numTrainTimesteps());
        }
        if (trainedBetas == null) {
            if (!(c.betaStart() > 0 && c.betaStart() < c.betaEnd() && c.betaEnd() < 1)) {
                throw new IllegalArgumentException("beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1, "
                        + "got beta_start " + c.betaStart() + ", beta_end " + c.betaEnd());
            }
        } else {
            if (trainedBetas.length != c.numTrainTimesteps()) {
                throw new IllegalArgumentException("trained_betas must have num_train_timesteps ("
                        + c.numTrainTimesteps() + ") values, got " + trainedBetas.length);
            }
            for (int i = 0; i < trainedBetas.length; i++) {
                if (!(trainedBetas[i] > 0 && trainedBetas[i] < 1)) {
                    throw new IllegalArgumentException("trained_betas[" + i + "] must be in (0, 1), got "
                            + trainedBetas[i]);
                }
            }
        }
        if (!(c.clipSampleRange() > 0)) {
            throw new IllegalArgumentException("clip_sample_range must be > 0, got " + c.clipSampleRange());
        }
        if (!(c.dynamicThresholdingRatio() > 0 && c.dynamicThresholdingRatio() <= 1)) {
            throw new IllegalArgumentException("dynamic_thresholding_ratio must be in (0, 1], got "
                    + c.dynamicThresholdingRatio());
        }
        if (!(c.sampleMaxValue() > 0)) {
            throw new IllegalArgumentException("sample_max_value must be > 0, got " + c.sampleMaxValue());
        }
        if (c.stepsOffset() < 0) {
            throw new IllegalArgumentException("steps_offset must be >= 0, got " + c.stepsOffset());
        }
    }
}
