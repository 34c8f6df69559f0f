package io.diffusion4j.schedule;

import java.util.Arrays;
import java.util.stream.Collectors;

/** How betas are laid out over the training timesteps; the names are diffusers' {@code beta_schedule} values. */
public enum BetaSchedule {
    /** {@code linspace(beta_start, beta_end, T)} (Ho et al., DDPM). */
    LINEAR("linear"),
    /** {@code linspace(sqrt(beta_start), sqrt(beta_end), T)^2} (Stable Diffusion). */
    SCALED_LINEAR("scaled_linear"),
    /** The cosine schedule of Nichol &amp; Dhariwal, betas capped at 0.999. */
    SQUAREDCOS_CAP_V2("squaredcos_cap_v2"),
    /** {@code sigmoid(linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start} (GeoDiff). */
    SIGMOID("sigmoid");

    private final String configName;

    BetaSchedule(String configName) {
        this.configName = configName;
    }

    /** The diffusers spelling, as in {@code scheduler_config.json}. */
    public String configName() {
        return configName;
    }

    /**
     * Parses a diffusers {@code beta_schedule} value (exact spelling).
     *
     * @throws IllegalArgumentException if the name is not one of the four supported schedules
     */
    public static BetaSchedule fromConfigName(String name) {
        for (BetaSchedule s : values()) {
            if (s.configName.equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown beta_schedule '" + name + "'; expected one of " + names());
    }

    static String names() {
        return Arrays.stream(values()).map(BetaSchedule::configName).collect(Collectors.joining(", "));
    }
}
