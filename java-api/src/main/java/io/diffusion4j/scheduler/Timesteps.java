package io.diffusion4j.scheduler;

import java.util.Objects;

/**
 * Inference timesteps, computed exactly as diffusers' {@code DDIMScheduler.set_timesteps} and
 * {@code DDPMScheduler.set_timesteps} do (including numpy's {@code arange}, {@code linspace} and
 * round-half-to-even), in descending order.
 */
public final class Timesteps {

    private Timesteps() {
    }

    /**
     * The {@code numInferenceSteps} timesteps for a model trained on {@code numTrainTimesteps}, in
     * descending order. {@code stepsOffset} is added for {@link TimestepSpacing#LEADING} only, as in
     * diffusers. Results are not range-checked: leading spacing with {@code stepsOffset = 1} and
     * {@code N = T} yields {@code T} as its first timestep, exactly as diffusers does (its issue #10003).
     *
     * @throws IllegalArgumentException if {@code numTrainTimesteps < 1}, {@code numInferenceSteps} is not in
     *     [1, numTrainTimesteps] or {@code stepsOffset < 0}
     */
    public static long[] of(TimestepSpacing spacing, int numTrainTimesteps, int numInferenceSteps, int stepsOffset) {
        Objects.requireNonNull(spacing, "spacing");
        if (numTrainTimesteps < 1) {
            throw new IllegalArgumentException("num_train_timesteps must be >= 1, got " + numTrainTimesteps);
        }
        if (numInferenceSteps < 1 || numInferenceSteps > numTrainTimesteps) {
            throw new IllegalArgumentException("num_inference_steps must be between 1 and " + numTrainTimesteps
                    + " (num_train_timesteps), got " + numInferenceSteps);
        }
        if (stepsOffset < 0) {
            throw new IllegalArgumentException("steps_offset must be >= 0, got " + stepsOffset);
        }
        return switch (spacing) {
            case LEADING -> leading(numTrainTimesteps, numInferenceSteps, stepsOffset);
            case TRAILING -> trailing(numTrainTimesteps, numInferenceSteps);
            case LINSPACE -> linspace(numTrainTimesteps, numInferenceSteps);
        };
    }

    /** {@code (np.arange(0, N) * (T // N)).round()[::-1] + steps_offset}. */
    private static long[] leading(int t, int n, int stepsOffset) {
        long stepRatio = t / n;
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[n - 1 - i] = i * stepRatio + stepsOffset;
        }
        return out;
    }

    /** {@code np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1}. */
    private static long[] trailing(int t, int n) {
        double step = -((double) t / n);
        // numpy: length = ceil((stop - start) / step); values start, start + step, then start + i * delta,
        // where delta = (start + step) - start (numpy's DOUBLE_fill), which may differ from step by rounding.
        int length = (int) Math.ceil((0.0 - t) / step);
        double start = t;
        double delta = (start + step) - start;
        long[] out = new long[length];
        for (int i = 0; i < length; i++) {
            double value = i == 0 ? start : i == 1 ? start + step : start + i * delta;
            out[i] = (long) Math.rint(value) - 1;
        }
        return out;
    }

    /** {@code np.linspace(0, T - 1, N).round()[::-1]}. */
    private static long[] linspace(int t, int n) {
        long[] out = new long[n];
        double stop = t - 1;
        double step = n > 1 ? stop / (n - 1) : 0;
        for (int i = 0; i < n; i++) {
            double value = (n > 1 && i == n - 1) ? stop : i * step;
            out[n - 1 - i] = (long) Math.rint(value);
        }
        return out;
    }
}
