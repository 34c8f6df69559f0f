package io.diffusion4j.scheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The explicit timestep list of a {@link SchedulerConfig} ({@code "timesteps": [999, 759, ...]}, diffusers' custom
 * {@code timesteps} argument of {@code set_timesteps}, stored in {@code scheduler_config.json}): parsed and checked once
 * when the config is built, and handed to the fixed-step schedulers, which then run exactly these timesteps.
 */
final class CustomTimesteps {
    /** The {@code scheduler_config.json} key. */
    static final String KEY = "timesteps";

    private CustomTimesteps() {
    }

    /**
     * The list under {@link #KEY}, or null when absent or null.
     *
     * @throws IllegalArgumentException if it is not a non-empty list of integers, strictly decreasing, in
     *                                  0..num_train_timesteps-1
     */
    static long[] parse(Object value, int numTrainTimesteps) {
        if (value == null) {
            return null;
        }
        if (!(value instanceof List<?> list)) {
            throw new IllegalArgumentException(KEY + " must be a list of integer timesteps, e.g. [999, 759, 499, 259], got "
                    + value);
        }
        if (list.isEmpty()) {
            throw new IllegalArgumentException(KEY + " must list at least one timestep; remove the key to use "
                    + "timestep_spacing");
        }
        long[] ts = new long[list.size()];
        for (int i = 0; i < ts.length; i++) {
            Object v = list.get(i);
            if (v instanceof Integer || v instanceof Long) {
                ts[i] = ((Number) v).longValue();
            } else if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 1e15) {
                ts[i] = (long) (double) d;
            } else {
                throw new IllegalArgumentException(KEY + "[" + i + "] must be an integer, got " + v);
            }
        }
        check(ts, numTrainTimesteps);
        return ts;
    }

    /**
     * Checks a timestep list.
     *
     * @throws IllegalArgumentException if it is empty, not strictly decreasing, or outside 0..num_train_timesteps-1
     */
    static void check(long[] ts, int numTrainTimesteps) {
        if (ts.length == 0) {
            throw new IllegalArgumentException(KEY + " must list at least one timestep");
        }
        for (int i = 0; i < ts.length; i++) {
            if (ts[i] < 0 || ts[i] >= numTrainTimesteps) {
                throw new IllegalArgumentException(KEY + "[" + i + "] = " + ts[i] + " is outside 0.."
                        + (numTrainTimesteps - 1) + " (num_train_timesteps " + numTrainTimesteps + ")");
            }
            if (i > 0 && ts[i] >= ts[i - 1]) {
                throw new IllegalArgumentException(KEY + " must be strictly decreasing (noisiest first), got "
                        + ts[i - 1] + " then " + ts[i] + " at index " + i + " of " + Arrays.toString(ts));
            }
        }
    }

    /** The JSON form of a list: a list of Integers. */
    static List<Object> toJson(long[] ts) {
        List<Object> out = new ArrayList<>(ts.length);
        for (long t : ts) {
            out.add((int) t);
        }
        return out;
    }

    /**
     * The list of {@code config} for a run of {@code n} steps, a copy, or null when the config has none.
     *
     * @throws IllegalArgumentException if the config lists another number of timesteps than {@code n}
     */
    static long[] forSteps(SchedulerConfig config, int n) {
        long[] ts = config.timesteps();
        if (ts == null) {
            return null;
        }
        if (n != ts.length) {
            throw new IllegalArgumentException("the scheduler config lists " + ts.length + " timesteps "
                    + Arrays.toString(ts) + " (its timesteps key), so a run has " + ts.length + " steps, got " + n
                    + "; run " + ts.length + " steps or remove the timesteps key");
        }
        return ts;
    }

    /** Refuses a custom list where a config option builds its own timesteps. */
    static void refuseWith(SchedulerConfig config, String option) {
        if (config.timesteps() != null) {
            throw new IllegalArgumentException("a timesteps list cannot be combined with " + option
                    + "; remove one of them");
        }
    }
}
