package io.diffusion4j.training;

import io.diffusion4j.schedule.NoiseSchedule;
import io.diffusion4j.scheduler.PredictionType;

/**
 * Min-SNR-gamma loss weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy"),
 * as diffusers' training scripts apply it: with {@code snr = alphaBar / (1 - alphaBar)}, the per-sample MSE is
 * multiplied by {@code min(snr, gamma) / snr} for epsilon prediction, {@code min(snr, gamma) / (snr + 1)} for
 * v-prediction and {@code min(snr, gamma)} for x0 ({@code sample}) prediction.
 */
public final class MinSnrWeighting {
    private MinSnrWeighting() {
    }

    /**
     * The weight for one sample. At {@code snr = 0} (the last step of a zero-terminal-SNR schedule) the epsilon
     * weight is its limit 1 rather than 0/0.
     *
     * @throws IllegalArgumentException if {@code snr} is negative or NaN or {@code gamma} is not positive
     */
    public static double weight(PredictionType type, double snr, double gamma) {
        if (!(snr >= 0)) {
            throw new IllegalArgumentException("snr must be >= 0, got " + snr);
        }
        if (!(gamma > 0)) {
            throw new IllegalArgumentException("min-SNR gamma must be > 0, got " + gamma);
        }
        double clipped = Math.min(snr, gamma);
        switch (type) {
            case EPSILON:
                return snr == 0 ? 1.0 : clipped / snr;
            case V_PREDICTION:
                return clipped / (snr + 1);
            case SAMPLE:
                return clipped;
            default:
                throw new IllegalArgumentException("unknown prediction type " + type);
        }
    }

    /** The weights of a batch of timesteps under {@code schedule}. */
    public static float[] weights(NoiseSchedule schedule, PredictionType type, long[] timesteps, double gamma) {
        float[] w = new float[timesteps.length];
        for (int i = 0; i < timesteps.length; i++) {
            w[i] = (float) weight(type, schedule.snr((int) timesteps[i]), gamma);
        }
        return w;
    }
}
