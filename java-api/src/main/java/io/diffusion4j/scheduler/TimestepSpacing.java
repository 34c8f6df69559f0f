package io.diffusion4j.scheduler;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * How inference timesteps are spread over the training timesteps;
 * the names are diffusers' {@code timestep_spacing} values.
 */
public enum TimestepSpacing {
    /** {@code arange(0, N) * (T // N) + steps_offset}, descending; usually skips the last training timesteps. */
    LEADING("leading"),
    /** {@code round(arange(T, 0, -T / N)) - 1}: always starts at T - 1 (Lin et al. 2023, table 2). */
    TRAILING("trailing"),
    /** {@code round(linspace(0, T - 1, N))}, descending. */
    LINSPACE("linspace");

    private final String configName;

    TimestepSpacing(String configName) {
        this.configName = configName;
    }

    /** The diffusers spelling, as in {@code scheduler_config.json}. */
    public String configName() {
        return configName;
    }

    /**
     * Parses a diffusers {@code timestep_spacing} value (exact spelling).
     *
     * @throws IllegalArgumentException if the name is not one of the supported values
     */
    public static TimestepSpacing fromConfigName(String name) {
        for (TimestepSpacing v : values()) {
            if (v.configName.equals(name)) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown timestep_spacing '" + name + "'; expected one of " + names());
    }

    static String names() {
        return Arrays.stream(values()).map(TimestepSpacing::configName).collect(Collectors.joining(", "));
    }
}
