package io.diffusion4j.distillation;

import java.util.Arrays;
import java.util.Locale;

/**
 * How a distillation loss weights the squared error of the student's x0 estimate at log-SNR {@code lambda}
 * (Salimans &amp; Ho 2022, section 4): the weight says which target the student effectively regresses, whatever its
 * own {@code prediction_type}.
 */
public enum LossWeighting {
    /** {@code max(SNR, 1)}: "truncated SNR", the larger of the x0 and the epsilon error (the paper's default). */
    TRUNCATED_SNR("truncated-snr"),
    /** {@code SNR + 1}: the error of a v target ({@code v = alpha eps - sigma x0}). */
    SNR_PLUS_ONE("snr+1");

    private final String configName;

    LossWeighting(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }

    /** The weight at signal-to-noise ratio {@code snr = alphaBar / (1 - alphaBar)}. */
    public double weight(double snr) {
        return switch (this) {
            case TRUNCATED_SNR -> Math.max(snr, 1.0);
            case SNR_PLUS_ONE -> snr + 1.0;
        };
    }

    /** Parses {@code truncated-snr} or {@code snr+1} (also {@code v}); the message lists the valid names. */
    public static LossWeighting parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (LossWeighting w : values()) {
            if (w.configName.equals(n)) {
                return w;
            }
        }
        if (n.equals("v")) {
            return SNR_PLUS_ONE;
        }
        throw new IllegalArgumentException("unknown loss weighting '" + name + "'; valid: "
                + String.join(", ", Arrays.stream(values()).map(LossWeighting::configName).toList()));
    }
}
