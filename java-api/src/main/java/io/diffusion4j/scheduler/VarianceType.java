package io.diffusion4j.scheduler;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The DDPM posterior variance, fixed or learned by the model;
 * the names are diffusers' {@code variance_type} values.
 */
public enum VarianceType {
    /** The posterior variance beta-tilde. */
    FIXED_SMALL("fixed_small"),
    /** The posterior variance beta-tilde, computed in log space. */
    FIXED_SMALL_LOG("fixed_small_log"),
    /** The variance beta_t. */
    FIXED_LARGE("fixed_large"),
    /** The variance beta_t, in log space. */
    FIXED_LARGE_LOG("fixed_large_log"),
    /** The model outputs the variance. */
    LEARNED("learned"),
    /** The model outputs an interpolation between beta-tilde and beta_t in log space (Nichol &amp; Dhariwal). */
    LEARNED_RANGE("learned_range");

    private final String configName;

    VarianceType(String configName) {
        this.configName = configName;
    }

    /** The diffusers spelling, as in {@code scheduler_config.json}. */
    public String configName() {
        return configName;
    }

    /**
     * Parses a diffusers {@code variance_type} value (exact spelling).
     *
     * @throws IllegalArgumentException if the name is not one of the supported values
     */
    public static VarianceType fromConfigName(String name) {
        for (VarianceType v : values()) {
            if (v.configName.equals(name)) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown variance_type '" + name + "'; expected one of " + names());
    }

    static String names() {
        return Arrays.stream(values()).map(VarianceType::configName).collect(Collectors.joining(", "));
    }
}
