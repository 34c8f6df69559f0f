package io.diffusion4j.schedule;

import java.util.Arrays;
import java.util.Objects;

/**
 * The discrete forward-process schedule: betas, alphas = 1 - betas and their cumulative product
 * {@code alphaBar}, over {@code numTrainTimesteps} training timesteps. Immutable; the array accessors
 * return copies.
 *
 * <p>The formulas are those of Hugging Face diffusers ({@code DDPMScheduler.__init__},
 * {@code betas_for_alpha_bar}, {@code rescale_zero_terminal_snr}), computed in double precision.
 */
public final class NoiseSchedule {

    private static final double MAX_COSINE_BETA = 0.999;

    private final double[] betas;
    private final double[] alphas;
    private final double[] alphasCumprod;

    private NoiseSchedule(double[] betas) {
        this.betas = betas;
        this.alphas = new double[betas.length];
        this.alphasCumprod = new double[betas.length];
        double product = 1.0;
        for (int i = 0; i < betas.length; i++) {
            alphas[i] = 1.0 - betas[i];
            product *= alphas[i];
            alphasCumprod[i] = product;
        }
    }

    /**
     * The schedule diffusers builds for {@code beta_schedule}, {@code num_train_timesteps},
     * {@code beta_start} and {@code beta_end} ({@code squaredcos_cap_v2} ignores the last two).
     *
     * @throws IllegalArgumentException if {@code numTrainTimesteps < 1} or a beta bound is outside (0, 1)
     */
    public static NoiseSchedule of(BetaSchedule schedule, int numTrainTimesteps, double betaStart, double betaEnd) {
        Objects.requireNonNull(schedule, "schedule");
        if (numTrainTimesteps < 1) {
            throw new IllegalArgumentException("numTrainTimesteps must be >= 1, got " + numTrainTimesteps);
        }
        if (!(betaStart > 0 && betaStart < 1)) {
            throw new IllegalArgumentException("betaStart must be in (0, 1), got " + betaStart);
        }
        if (!(betaEnd > 0 && betaEnd < 1)) {
            throw new IllegalArgumentException("betaEnd must be in (0, 1), got " + betaEnd);
        }
        int n = numTrainTimesteps;
        double[] betas;
        switch (schedule) {
            case LINEAR -> betas = torchLinspace(betaStart, betaEnd, n);
            case SCALED_LINEAR -> {
                betas = torchLinspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), n);
                for (int i = 0; i < n; i++) {
                    betas[i] = betas[i] * betas[i];
                }
            }
            case SQUAREDCOS_CAP_V2 -> {
                betas = new double[n];
                for (int i = 0; i < n; i++) {
                    double t1 = (double) i / n;
                    double t2 = (double) (i + 1) / n;
                    betas[i] = Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), MAX_COSINE_BETA);
                }
            }
            case SIGMOID -> {
                betas = torchLinspace(-6, 6, n);
                for (int i = 0; i < n; i++) {
                    betas[i] = 1.0 / (1.0 + Math.exp(-betas[i])) * (betaEnd - betaStart) + betaStart;
                }
            }
            default -> throw new AssertionError(schedule);
        }
        return new NoiseSchedule(betas);
    }

    /**
     * A schedule from explicit betas (diffusers' {@code trained_betas}).
     *
     * @throws IllegalArgumentException if the array is empty or a beta is not in (0, 1)
     */
    public static NoiseSchedule fromBetas(double[] betas) {
        Objects.requireNonNull(betas, "betas");
        if (betas.length == 0) {
            throw new IllegalArgumentException("betas must not be empty");
        }
        for (int i = 0; i < betas.length; i++) {
            if (!(betas[i] > 0 && betas[i] < 1)) {
                throw new IllegalArgumentException("betas[" + i + "] must be in (0, 1), got " + betas[i]);
            }
        }
        return new NoiseSchedule(betas.clone());
    }

    /**
     * Rescales the betas so that the terminal SNR is zero (Lin et al. 2023, "Common Diffusion Noise
     * Schedules and Sample Steps are Flawed"), as diffusers' {@code rescale_zero_terminal_snr}; the
     * last beta becomes 1 and {@code alphaBar(T - 1)} becomes 0.
     *
     * @throws IllegalStateException if the schedule has a single timestep (nothing to rescale against)
     */
    public NoiseSchedule rescaleZeroTerminalSnr() {
        int n = betas.length;
        double[] sqrtAlphaBar = new double[n];
        for (int i = 0; i < n; i++) {
            sqrtAlphaBar[i] = Math.sqrt(alphasCumprod[i]);
        }
        double first = sqrtAlphaBar[0];
        double last = sqrtAlphaBar[n - 1];
        if (!(first > last)) {
            throw new IllegalStateException("cannot rescale to zero terminal SNR: alphaBar(0) = " + alphasCumprod[0]
                    + " must exceed alphaBar(" + (n - 1) + ") = " + alphasCumprod[n - 1]);
        }
        double scale = first / (first - last);
        double[] alphaBar = new double[n];
        for (int i = 0; i < n; i++) {
            double a = (sqrtAlphaBar[i] - last) * scale;
            alphaBar[i] = a * a;
        }
        double[] rescaled = new double[n];
        rescaled[0] = 1 - alphaBar[0];
        for (int i = 1; i < n; i++) {
            rescaled[i] = 1 - alphaBar[i] / alphaBar[i - 1];
        }
        return new NoiseSchedule(rescaled);
    }

    /** T, the number of training timesteps. */
    public int numTrainTimesteps() {
        return betas.length;
    }

    /** A copy of the betas, one per training timestep. */
    public double[] betas() {
        return betas.clone();
    }

    /** A copy of {@code 1 - betas}. */
    public double[] alphas() {
        return alphas.clone();
    }

    /** A copy of the cumulative products of the alphas ({@code alphaBar}). */
    public double[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    /**
     * {@code alphaBar(t)}, the product of the alphas up to and including {@code t}.
     *
     * @throws IllegalArgumentException if {@code t} is not in [0, T - 1]
     */
    public double alphaBar(int t) {
        checkTimestep(t);
        return alphasCumprod[t];
    }

    /**
     * The signal-to-noise ratio {@code alphaBar(t) / (1 - alphaBar(t))}; 0 at the last timestep of a
     * zero-terminal-SNR schedule.
     *
     * @throws IllegalArgumentException if {@code t} is not in [0, T - 1]
     */
    public double snr(int t) {
        double a = alphaBar(t);
        return a / (1 - a);
    }

    private void checkTimestep(int t) {
        if (t < 0 || t >= betas.length) {
            throw new IllegalArgumentException("timestep must be in [0, " + (betas.length - 1)
                    + "] (num_train_timesteps " + betas.length + "), got " + t);
        }
    }

    private static double cosineAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** {@code torch.linspace}: symmetric from both ends, so the last value is exactly {@code end}. */
    static double[] torchLinspace(double start, double end, int steps) {
        double[] out = new double[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        double step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NoiseSchedule other && Arrays.equals(betas, other.betas);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(betas);
    }

    @Override
    public String toString() {
        int n = betas.length;
        return "NoiseSchedule{T=" + n + ", beta[0]=" + betas[0] + ", beta[T-1]=" + betas[n - 1]
                + ", alphaBar[T-1]=" + alphasCumprod[n - 1] + "}";
    }
}
