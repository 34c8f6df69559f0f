package io.diffusion4j.scheduler;

import io.diffusion4j.schedule.BetaSchedule;
import io.diffusion4j.schedule.NoiseSchedule;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A diffusers {@code scheduler_config.json} as one immutable, validated object.
 *
 * <p>The keys every diffusers DDPM-family scheduler shares are typed fields (enums for the string
 * options); every other key (e.g. {@code solver_order}, {@code use_karras_sigmas}) is kept unchanged
 * in {@link #extra()} and read by the solvers that need it through {@link #extraInt}, {@link #extraDouble},
 * {@link #extraBoolean} and {@link #extraString}. Defaults are diffusers' defaults. A config round-trips
 * through {@link #toJson()} and {@link #fromJson}.
 */
public final class SchedulerConfig {

    /** The diffusers keys held in typed fields, in the order {@link #toJson()} writes them. */
    static final List<String> KNOWN_KEYS = List.of(
            "_class_name", "_diffusers_version", "num_train_timesteps", "beta_start", "beta_end",
            "beta_schedule", "trained_betas", "prediction_type", "variance_type", "clip_sample",
            "clip_sample_range", "thresholding", "dynamic_thresholding_ratio", "sample_max_value",
            "timestep_spacing", "steps_offset", "set_alpha_to_one", "rescale_betas_zero_snr");

    static final Set<String> KNOWN_KEY_SET = Set.copyOf(KNOWN_KEYS);

    private final String className;
    private final String diffusersVersion;
    private final int numTrainTimesteps;
    private final double betaStart;
    private final double betaEnd;
    private final BetaSchedule betaSchedule;
    private final double[] trainedBetas;
    private final PredictionType predictionType;
    private final VarianceType varianceType;
    private final boolean clipSample;
    private final double clipSampleRange;
    private final boolean thresholding;
    private final double dynamicThresholdingRatio;
    private final double sampleMaxValue;
    private final TimestepSpacing timestepSpacing;
    private final int stepsOffset;
    private final boolean setAlphaToOne;
    private final boolean rescaleBetasZeroSnr;
    private final Map<String, Object> extra;
    private final long[] timesteps;

    private SchedulerConfig(Builder b) {
        this.className = b.className;
        this.diffusersVersion = b.diffusersVersion;
        this.numTrainTimesteps = b.numTrainTimesteps;
        this.betaStart = b.betaStart;
        this.betaEnd = b.betaEnd;
        this.betaSchedule = Objects.requireNonNull(b.betaSchedule, "beta_schedule");
        this.trainedBetas = b.trainedBetas == null ? null : b.trainedBetas.clone();
        this.predictionType = Objects.requireNonNull(b.predictionType, "prediction_type");
        this.varianceType = Objects.requireNonNull(b.varianceType, "variance_type");
        this.clipSample = b.clipSample;
        this.clipSampleRange = b.clipSampleRange;
        this.thresholding = b.thresholding;
        this.dynamicThresholdingRatio = b.dynamicThresholdingRatio;
        this.sampleMaxValue = b.sampleMaxValue;
        this.timestepSpacing = Objects.requireNonNull(b.timestepSpacing, "timestep_spacing");
        this.stepsOffset = b.stepsOffset;
        this.setAlphaToOne = b.setAlphaToOne;
        this.rescaleBetasZeroSnr = b.rescaleBetasZeroSnr;
        this.extra = Collections.unmodifiableMap(new LinkedHashMap<>(b.extra));
        validate();
        this.timesteps = CustomTimesteps.parse(extra.get(CustomTimesteps.KEY), numTrainTimesteps);
    }

    private void validate() {
        SchedulerConfigValidation.validate(this, trainedBetas);
    }

    /** A builder holding diffusers' defaults (a {@code DDPMScheduler} with no class name). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this config's values. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /**
     * Reads a diffusers {@code scheduler_config.json}. JSON nulls mean "default"; unknown keys are kept
     * in {@link #extra()}.
     *
     * @throws SchedulerConfigException if the file is missing, not JSON, or holds an unusable value
     * @throws IOException if the file cannot be read
     */
    public static SchedulerConfig read(Path file) throws IOException {
        return SchedulerConfigJson.read(file);
    }

    /**
     * Parses {@code scheduler_config.json} text; {@code sourceName} (a path or URL) starts every error message.
     *
     * @throws SchedulerConfigException if the text is not JSON or holds an unusable value
     */
    public static SchedulerConfig fromJson(String json, String sourceName) throws SchedulerConfigException {
        return SchedulerConfigJson.parse(json, sourceName);
    }

    /** This config as pretty-printed diffusers JSON: {@code _class_name} first, then the typed keys, then {@link #extra()}. */
    public String toJson() {
        return SchedulerConfigJson.write(this);
    }

    /** Writes {@link #toJson()} to {@code file} atomically (a temporary sibling, then an atomic move). */
    public void write(Path file) throws IOException {
        SchedulerConfigJson.writeAtomically(toJson(), file);
    }

    /** The noise schedule: the trained betas if given, else the beta schedule; rescaled to zero terminal SNR if set. */
    public NoiseSchedule noiseSchedule() {
        NoiseSchedule schedule = trainedBetas != null
                ? NoiseSchedule.fromBetas(trainedBetas)
                : NoiseSchedule.of(betaSchedule, numTrainTimesteps, betaStart, betaEnd);
        return rescaleBetasZeroSnr ? schedule.rescaleZeroTerminalSnr() : schedule;
    }

    // ---- accessors ----

    /** {@code _class_name}, e.g. {@code "DDIMScheduler"}; null if the config does not name one. */
    public String className() {
        return className;
    }

    /** {@code _diffusers_version}; null if absent. */
    public String diffusersVersion() {
        return diffusersVersion;
    }

    /** {@code num_train_timesteps} (default 1000). */
    public int numTrainTimesteps() {
        return numTrainTimesteps;
    }

    /** {@code beta_start} (default 0.0001). */
    public double betaStart() {
        return betaStart;
    }

    /** {@code beta_end} (default 0.02). */
    public double betaEnd() {
        return betaEnd;
    }

    /** {@code beta_schedule} (default linear). */
    public BetaSchedule betaSchedule() {
        return betaSchedule;
    }

    /** A copy of {@code trained_betas}; null (the default) when the beta schedule applies. */
    public double[] trainedBetas() {
        return trainedBetas == null ? null : trainedBetas.clone();
    }

    /** {@code prediction_type} (default epsilon). */
    public PredictionType predictionType() {
        return predictionType;
    }

    /** {@code variance_type} (default fixed_small). */
    public VarianceType varianceType() {
        return varianceType;
    }

    /** {@code clip_sample} (default true). */
    public boolean clipSample() {
        return clipSample;
    }

    /** {@code clip_sample_range} (default 1.0). */
    public double clipSampleRange() {
        return clipSampleRange;
    }

    /** {@code thresholding} (default false). */
    public boolean thresholding() {
        return thresholding;
    }

    /** {@code dynamic_thresholding_ratio} (default 0.995). */
    public double dynamicThresholdingRatio() {
        return dynamicThresholdingRatio;
    }

    /** {@code sample_max_value} (default 1.0). */
    public double sampleMaxValue() {
        return sampleMaxValue;
    }

    /** {@code timestep_spacing} (default leading). */
    public TimestepSpacing timestepSpacing() {
        return timestepSpacing;
    }

    /** {@code steps_offset} (default 0). */
    public int stepsOffset() {
        return stepsOffset;
    }

    /** {@code set_alpha_to_one} (default true). */
    public boolean setAlphaToOne() {
        return setAlphaToOne;
    }

    /** {@code rescale_betas_zero_snr} (default false). */
    public boolean rescaleBetasZeroSnr() {
        return rescaleBetasZeroSnr;
    }

    /**
     * Every other key, unchanged and unmodifiable, in file order. Values are null, {@link String},
     * {@link Boolean}, {@link Integer}, {@link Long}, {@link Double}, {@code List} or {@code Map<String, Object>}.
     */
    public Map<String, Object> extra() {
        return extra;
    }

    /**
     * The extra key as an int, or {@code defaultValue} if absent or null.
     *
     * @throws IllegalArgumentException if the value is not an integer that fits an int
     */
    public int extraInt(String key, int defaultValue) {
        return ExtraValues.asInt(key, extra.get(key), defaultValue);
    }

    /**
     * The extra key as a double, or {@code defaultValue} if absent or null.
     *
     * @throws IllegalArgumentException if the value is not a number
     */
    public double extraDouble(String key, double defaultValue) {
        return ExtraValues.asDouble(key, extra.get(key), defaultValue);
    }

    /**
     * The extra key as a boolean, or {@code defaultValue} if absent or null.
     *
     * @throws IllegalArgumentException if the value is not true or false
     */
    public boolean extraBoolean(String key, boolean defaultValue) {
        return ExtraValues.asBoolean(key, extra.get(key), defaultValue);
    }

    /**
     * The extra key as a string, or {@code defaultValue} if absent or null.
     *
     * @throws IllegalArgumentException if the value is not a string
     */
    public String extraString(String key, String defaultValue) {
        return ExtraValues.asString(key, extra.get(key), defaultValue);
    }

    /**
     * The explicit timestep list (the {@code timesteps} key, diffusers' custom {@code timesteps}), noisiest first, a
     * copy; null when the config has none and the schedulers space their timesteps by {@code timestep_spacing}. A
     * fixed-step scheduler over a config with a list runs exactly those timesteps (so {@code plan(n)} needs {@code n}
     * equal to its length); the adaptive solver refuses one.
     */
    public long[] timesteps() {
        return timesteps == null ? null : timesteps.clone();
    }

    // ---- convenience copies ----

    /**
     * The same config with an explicit timestep list, or without one ({@code null}).
     *
     * @throws IllegalArgumentException if the list is empty, not strictly decreasing or outside
     *                                  0..num_train_timesteps-1
     */
    public SchedulerConfig withTimesteps(long[] newTimesteps) {
        if (newTimesteps == null) {
            return toBuilder().removeExtra(CustomTimesteps.KEY).build();
        }
        CustomTimesteps.check(newTimesteps, numTrainTimesteps);
        return toBuilder().putExtra(CustomTimesteps.KEY, CustomTimesteps.toJson(newTimesteps)).build();
    }

    public SchedulerConfig withClassName(String newClassName) {
        return toBuilder().className(newClassName).build();
    }

    public SchedulerConfig withPredictionType(PredictionType newPredictionType) {
        return toBuilder().predictionType(newPredictionType).build();
    }

    public SchedulerConfig withTimestepSpacing(TimestepSpacing newTimestepSpacing) {
        return toBuilder().timestepSpacing(newTimestepSpacing).build();
    }

    public SchedulerConfig withStepsOffset(int newStepsOffset) {
        return toBuilder().stepsOffset(newStepsOffset).build();
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof SchedulerConfig c)) {
            return false;
        }
        return numTrainTimesteps == c.numTrainTimesteps
                && Double.compare(betaStart, c.betaStart) == 0
                && Double.compare(betaEnd, c.betaEnd) == 0
                && clipSample == c.clipSample
                && Double.compare(clipSampleRange, c.clipSampleRange) == 0
                && thresholding == c.thresholding
                && Double.compare(dynamicThresholdingRatio, c.dynamicThresholdingRatio) == 0
                && Double.compare(sampleMaxValue, c.sampleMaxValue) == 0
                && stepsOffset == c.stepsOffset
                && setAlphaToOne == c.setAlphaToOne
                && rescaleBetasZeroSnr == c.rescaleBetasZeroSnr
                && Objects.equals(className, c.className)
                && Objects.equals(diffusersVersion, c.diffusersVersion)
                && betaSchedule == c.betaSchedule
                && Arrays.equals(trainedBetas, c.trainedBetas)
                && predictionType == c.predictionType
                && varianceType == c.varianceType
                && timestepSpacing == c.timestepSpacing
                && extra.equals(c.extra);
    }

    @Override
    public int hashCode() {
        int h = Objects.hash(className, diffusersVersion, numTrainTimesteps, betaStart, betaEnd, betaSchedule,
                predictionType, varianceType, clipSample, clipSampleRange, thresholding, dynamicThresholdingRatio,
                sampleMaxValue, timestepSpacing, stepsOffset, setAlphaToOne, rescaleBetasZeroSnr, extra);
        return 31 * h + Arrays.hashCode(trainedBetas);
    }

    @Override
    public String toString() {
        return "SchedulerConfig{className=" + className
                + ", diffusersVersion=" + diffusersVersion
                + ", numTrainTimesteps=" + numTrainTimesteps
                + ", betaStart=" + betaStart
                + ", betaEnd=" + betaEnd
                + ", betaSchedule=" + betaSchedule
                + ", trainedBetas=" + (trainedBetas == null ? "null" : "double[" + trainedBetas.length + "]")
                + ", predictionType=" + predictionType
                + ", varianceType=" + varianceType
                + ", clipSample=" + clipSample
                + ", clipSampleRange=" + clipSampleRange
                + ", thresholding=" + thresholding
                + ", dynamicThresholdingRatio=" + dynamicThresholdingRatio
                + ", sampleMaxValue=" + sampleMaxValue
                + ", timestepSpacing=" + timestepSpacing
                + ", stepsOffset=" + stepsOffset
                + ", setAlphaToOne=" + setAlphaToOne
                + ", rescaleBetasZeroSnr=" + rescaleBetasZeroSnr
                + ", extra=" + extra + "}";
    }

    /** A mutable builder; starts from diffusers' defaults (the setters: {@link AbstractSchedulerConfigBuilder}). */
    public static final class Builder extends AbstractSchedulerConfigBuilder {
        private Builder() {
        }

        private Builder(SchedulerConfig c) {
            super(c);
        }

        /**
         * Builds and validates the config.
         *
         * @throws IllegalArgumentException naming the diffusers key, the value, and what is allowed
         */
        public SchedulerConfig build() {
            return new SchedulerConfig(this);
        }
    }
}
