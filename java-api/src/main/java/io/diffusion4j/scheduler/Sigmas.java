package io.diffusion4j.scheduler;

/**
 * The sigma parameterisation shared by the sigma-space solvers (Euler, Euler ancestral, Heun, DPM-Solver++,
 * adaptive): for a model trained in discrete time, {@code sigma_t = sqrt((1 - alphaBar_t) / alphaBar_t)}, so
 * {@code x_t / sqrt(alphaBar_t) = x0 + sigma_t * eps}. Immutable.
 */
final class Sigmas {
    /** Karras et al. (2022)'s rho, as diffusers uses it. */
    static final double KARRAS_RHO = 7.0;

    private final double[] train;
    private final double[] logTrain;

    Sigmas(SchedulerConfig config) {
        double[] ab = config.noiseSchedule().alphasCumprod();
        if (config.rescaleBetasZeroSnr()) {
            ab[ab.length - 1] = Math.pow(2, -24); // diffusers: keeps the terminal sigma finite
        }
        train = new double[ab.length];
        logTrain = new double[ab.length];
        for (int i = 0; i < ab.length; i++) {
            train[i] = Math.sqrt((1 - ab[i]) / ab[i]);
            logTrain[i] = Math.log(train[i]);
        }
    }

    /** The sigma of train timestep {@code t}. */
    double at(int t) {
        return train[t];
    }

    /** The smallest train sigma (timestep 0). */
    double min() {
        return train[0];
    }

    /** The largest train sigma (the last timestep). */
    double max() {
        return train[train.length - 1];
    }

    /** Linear interpolation of the train sigmas at a (possibly fractional) timestep, as numpy's {@code interp}. */
    double interpolate(double t) {
        if (t <= 0) {
            return train[0];
        }
        if (t >= train.length - 1) {
            return train[train.length - 1];
        }
        int lo = (int) Math.floor(t);
        double w = t - lo;
        return train[lo] * (1 - w) + train[lo + 1] * w;
    }

    /**
     * The fractional timestep of a sigma: linear interpolation in log sigma between the two train timesteps around
     * it (diffusers' {@code _sigma_to_t}), clamped to the train range.
     */
    double toTimestep(double sigma) {
        double ls = Math.log(Math.max(sigma, 1e-10));
        int low = 0;
        for (int i = 0; i < logTrain.length; i++) {
            if (logTrain[i] <= ls) {
                low = i; // train sigmas increase with t: the last index at or below
            }
        }
        low = Math.min(low, logTrain.length - 2);
        int high = low + 1;
        double w = (logTrain[low] - ls) / (logTrain[low] - logTrain[high]);
        w = Math.max(0, Math.min(1, w));
        return (1 - w) * low + w * high;
    }

    /** Karras et al. (2022)'s schedule: {@code n} sigmas from {@code max} to {@code min}, uniform in sigma^(1/rho). */
    static double[] karras(double min, double max, int n) {
        double minInv = Math.pow(min, 1 / KARRAS_RHO);
        double maxInv = Math.pow(max, 1 / KARRAS_RHO);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            out[i] = Math.pow(maxInv + ramp * (minInv - maxInv), KARRAS_RHO);
        }
        return out;
    }

    /** The variance-preserving scale of sigma: {@code alpha = 1 / sqrt(sigma^2 + 1)}. */
    static double alpha(double sigma) {
        return 1 / Math.sqrt(sigma * sigma + 1);
    }

    /** The variance-preserving noise level {@code sigma * alpha}. */
    static double vpSigma(double sigma) {
        return sigma * alpha(sigma);
    }

    /** Half the log-SNR, {@code lambda = log(alpha / sigma_vp) = -log(sigma)}; +infinity at sigma 0. */
    static double lambda(double sigma) {
        return -Math.log(sigma);
    }

    /**
     * The coefficients {@code (a, b)} of the data prediction {@code x0 = a * x + b * m} for a sample in sigma space
     * ({@code x = x0 + sigma * eps}) and model output {@code m}.
     */
    static double[] x0FromSigmaSpace(PredictionType type, double sigma) {
        return switch (type) {
            case EPSILON -> new double[] {1, -sigma};
            case SAMPLE -> new double[] {0, 1};
            case V_PREDICTION -> new double[] {1 / (sigma * sigma + 1), -sigma / Math.sqrt(sigma * sigma + 1)};
        };
    }

    /**
     * The coefficients {@code (a, b)} of {@code x0 = a * x + b * m} for a variance-preserving sample
     * ({@code x = alpha x0 + sigma_vp eps}).
     */
    static double[] x0FromVp(PredictionType type, double sigma) {
        double a = alpha(sigma);
        double s = sigma * a;
        return switch (type) {
            case EPSILON -> new double[] {1 / a, -s / a};
            case SAMPLE -> new double[] {0, 1};
            case V_PREDICTION -> new double[] {a, -s};
        };
    }
}
