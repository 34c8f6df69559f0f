package io.diffusion4j.scheduler;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * What the denoising model predicts: the noise, the clean sample, or v;
 * the names are diffusers' {@code prediction_type} values.
 */
public enum PredictionType {
    /** The model predicts the added noise. */
    EPSILON("epsilon"),
    /** The model predicts the clean sample x0 directly. */
    SAMPLE("sample"),
    /** The model predicts v = alpha_t * noise - sigma_t * x0 (Salimans &amp; Ho, progressive distillation). */
    V_PREDICTION("v_prediction");

    private final String configName;

    PredictionType(String configName) {
        this.configName = configName;
    }

    /** The diffusers spelling, as in {@code scheduler_config.json}. */
    public String configName() {
        return configName;
    }

    /**
     * Parses a diffusers {@code prediction_type} value (exact spelling).
     *
     * @throws IllegalArgumentException if the name is not one of the supported values
     */
    public static PredictionType fromConfigName(String name) {
        for (PredictionType v : values()) {
            if (v.configName.equals(name)) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown prediction_type '" + name + "'; expected one of " + names());
    }

    static String names() {
        return Arrays.stream(values()).map(PredictionType::configName).collect(Collectors.joining(", "));
    }
}
