package io.diffusion4j.scheduler;

import io.diffusion4j.schedule.BetaSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The values and setters of {@link SchedulerConfig.Builder}, starting from diffusers' defaults (a
 * {@code DDPMScheduler}); the builder itself adds {@link SchedulerConfig.Builder#build()}, which validates them.
 */
abstract sealed class AbstractSchedulerConfigBuilder permits SchedulerConfig.Builder {
    String className;
    String diffusersVersion;
    int numTrainTimesteps = 1000;
    double betaStart = 0.0001;
    double betaEnd = 0.02;
    BetaSchedule betaSchedule = BetaSchedule.LINEAR;
    double[] trainedBetas;
    PredictionType predictionType = PredictionType.EPSILON;
    VarianceType varianceType = VarianceType.FIXED_SMALL;
    boolean clipSample = true;
    double clipSampleRange = 1.0;
    boolean thresholding = false;
    double dynamicThresholdingRatio = 0.995;
    double sampleMaxValue = 1.0;
    TimestepSpacing timestepSpacing = TimestepSpacing.LEADING;
    int stepsOffset = 0;
    boolean setAlphaToOne = true;
    boolean rescaleBetasZeroSnr = false;
    final Map<String, Object> extra = new LinkedHashMap<>();

    AbstractSchedulerConfigBuilder() {
    }

    AbstractSchedulerConfigBuilder(SchedulerConfig c) {
        className = c.className();
        diffusersVersion = c.diffusersVersion();
        numTrainTimesteps = c.numTrainTimesteps();
        betaStart = c.betaStart();
        betaEnd = c.betaEnd();
        betaSchedule = c.betaSchedule();
        trainedBetas = c.trainedBetas();
        predictionType = c.predictionType();
        varianceType = c.varianceType();
        clipSample = c.clipSample();
        clipSampleRange = c.clipSampleRange();
        thresholding = c.thresholding();
        dynamicThresholdingRatio = c.dynamicThresholdingRatio();
        sampleMaxValue = c.sampleMaxValue();
        timestepSpacing = c.timestepSpacing();
        stepsOffset = c.stepsOffset();
        setAlphaToOne = c.setAlphaToOne();
        rescaleBetasZeroSnr = c.rescaleBetasZeroSnr();
        extra.putAll(c.extra());
    }

    /** {@code _class_name}; null for none. */
    public SchedulerConfig.Builder className(String value) {
        className = value;
        return self();
    }

    /** {@code _diffusers_version}; null for none. */
    public SchedulerConfig.Builder diffusersVersion(String value) {
        diffusersVersion = value;
        return self();
    }

    public SchedulerConfig.Builder numTrainTimesteps(int value) {
        numTrainTimesteps = value;
        return self();
    }

    public SchedulerConfig.Builder betaStart(double value) {
        betaStart = value;
        return self();
    }

    public SchedulerConfig.Builder betaEnd(double value) {
        betaEnd = value;
        return self();
    }

    public SchedulerConfig.Builder betaSchedule(BetaSchedule value) {
        betaSchedule = Objects.requireNonNull(value, "beta_schedule");
        return self();
    }

    /** {@code trained_betas} (copied); null to use the beta schedule. */
    public SchedulerConfig.Builder trainedBetas(double[] value) {
        trainedBetas = value == null ? null : value.clone();
        return self();
    }

    public SchedulerConfig.Builder predictionType(PredictionType value) {
        predictionType = Objects.requireNonNull(value, "prediction_type");
        return self();
    }

    public SchedulerConfig.Builder varianceType(VarianceType value) {
        varianceType = Objects.requireNonNull(value, "variance_type");
        return self();
    }

    public SchedulerConfig.Builder clipSample(boolean value) {
        clipSample = value;
        return self();
    }

    public SchedulerConfig.Builder clipSampleRange(double value) {
        clipSampleRange = value;
        return self();
    }

    public SchedulerConfig.Builder thresholding(boolean value) {
        thresholding = value;
        return self();
    }

    public SchedulerConfig.Builder dynamicThresholdingRatio(double value) {
        dynamicThresholdingRatio = value;
        return self();
    }

    public SchedulerConfig.Builder sampleMaxValue(double value) {
        sampleMaxValue = value;
        return self();
    }

    public SchedulerConfig.Builder timestepSpacing(TimestepSpacing value) {
        timestepSpacing = Objects.requireNonNull(value, "timestep_spacing");
        return self();
    }

    public SchedulerConfig.Builder stepsOffset(int value) {
        stepsOffset = value;
        return self();
    }

    public SchedulerConfig.Builder setAlphaToOne(boolean value) {
        setAlphaToOne = value;
        return self();
    }

    public SchedulerConfig.Builder rescaleBetasZeroSnr(boolean value) {
        rescaleBetasZeroSnr = value;
        return self();
    }

    /** Replaces all extra keys. */
    public SchedulerConfig.Builder extra(Map<String, ?> values) {
        Objects.requireNonNull(values, "values");
        extra.clear();
        values.forEach(this::putExtra);
        return self();
    }

    /**
     * Sets one extra key (a JSON-shaped value: null, String, Boolean, number, List or Map).
     *
     * @throws IllegalArgumentException if the key has a typed setter, or the value is not JSON-shaped
     */
    public SchedulerConfig.Builder putExtra(String key, Object value) {
        Objects.requireNonNull(key, "key");
        if (SchedulerConfig.KNOWN_KEY_SET.contains(key)) {
            throw new IllegalArgumentException(key + " is a typed field of SchedulerConfig; use its builder setter");
        }
        extra.put(key, ExtraValues.normalize(key, value));
        return self();
    }

    /** Removes one extra key, if present. */
    public SchedulerConfig.Builder removeExtra(String key) {
        extra.remove(key);
        return self();
    }

    private SchedulerConfig.Builder self() {
        return (SchedulerConfig.Builder) this;
    }
}
