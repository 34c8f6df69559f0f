package io.diffusion4j.scheduler;

/** Timesteps and previous timesteps for the alpha-bar schedulers, with diffusers' quirks or corrected. */
final class TimestepPlanning {
    private TimestepPlanning() {
    }

    /** The config's explicit timestep list if it has one (see {@link SchedulerConfig#timesteps()}), else spaced. */
    static long[] timesteps(SchedulerConfig config, int n, Compatibility compat) {
        int t = config.numTrainTimesteps();
        if (n < 1 || n > t) {
            throw new IllegalArgumentException("steps must be between 1 and num_train_timesteps (" + t + "), got " + n);
        }
        long[] custom = CustomTimesteps.forSteps(config, n);
        if (custom != null) {
            return custom;
        }
        long[] ts = Timesteps.of(config.timestepSpacing(), t, n, config.stepsOffset());
        for (int i = 0; i < ts.length; i++) {
            if (ts[i] >= t || ts[i] < 0) {
                if (compat == Compatibility.CORRECTED) {
                    ts[i] = Math.max(0, Math.min(t - 1, ts[i]));
                } else {
                    throw new IllegalArgumentException("timestep_spacing " + config.timestepSpacing().configName()
                            + " with steps_offset " + config.stepsOffset() + " and " + n + " steps gives timestep "
                            + ts[i] + ", outside 0.." + (t - 1) + " (diffusers fails here too, issue #10003); use "
                            + "fewer steps, steps_offset 0, or Compatibility.CORRECTED");
                }
            }
        }
        return ts;
    }

    /** diffusers' DDIM rule: t - T // N, whatever the spacing. */
    static long[] previousByRatio(long[] ts, int numTrain) {
        long ratio = numTrain / ts.length;
        long[] prev = new long[ts.length];
        for (int i = 0; i < ts.length; i++) {
            prev[i] = ts[i] - ratio;
        }
        return prev;
    }

    /** The next timestep of the list, -1 after the last. */
    static long[] previousFromList(long[] ts) {
        long[] prev = new long[ts.length];
        for (int i = 0; i < ts.length; i++) {
            prev[i] = i + 1 < ts.length ? ts[i + 1] : -1;
        }
        return prev;
    }
}
