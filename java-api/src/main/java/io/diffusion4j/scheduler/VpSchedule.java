package io.diffusion4j.scheduler;

/**
 * The timesteps and sigmas of diffusers' variance-preserving multistep solvers (DPM-Solver++, UniPC): leading and
 * linspace spacing over {@code N + 1} points with the last dropped, trailing spacing, or a schedule built in sigma
 * space over the whole train range (Karras et al.'s, or Lu et al.'s uniform in log-SNR) whose timesteps are the
 * train timesteps of those sigmas. The final level is left to the solver. Immutable results; no tensors.
 */
final class VpSchedule {
    /** How the inference sigmas are chosen. */
    enum SigmaSpacing {
        /** The train sigmas at the spaced timesteps. */
        TIMESTEPS,
        /** Karras et al. (2022), rho 7. */
        KARRAS,
        /** Lu et al. (2022): uniform in lambda = -log sigma. */
        LU
    }

    /** The {@code n} timesteps (descending) and their {@code n} sigmas. */
    record Grid(long[] timesteps, double[] sigmas) {
    }

    private VpSchedule() {
    }

    /** The sigma spacing a config selects ({@code use_karras_sigmas}, {@code use_lu_lambdas}), refusing conflicts. */
    static SigmaSpacing spacing(SchedulerConfig config, boolean luAllowed, String className) {
        boolean karras = config.extraBoolean("use_karras_sigmas", false);
        boolean lu = config.extraBoolean("use_lu_lambdas", false);
        for (String key : new String[] {"use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas",
                "use_dynamic_shifting"}) {
            if (config.extraBoolean(key, false)) {
                throw new IllegalArgumentException(key + " is not supported; use use_karras_sigmas or the default");
            }
        }
        if (lu && !luAllowed) {
            throw new IllegalArgumentException("use_lu_lambdas is not a key of " + className
                    + "; use use_karras_sigmas or the default");
        }
        if (karras && lu) {
            throw new IllegalArgumentException("use_karras_sigmas and use_lu_lambdas are both true; choose one");
        }
        return karras ? SigmaSpacing.KARRAS : lu ? SigmaSpacing.LU : SigmaSpacing.TIMESTEPS;
    }

    /**
     * The grid of {@code n} steps.
     *
     * @param lastTimestep   one past the largest timestep the spacing may use (num_train_timesteps unless
     *                       {@code lambda_min_clipped} cuts the range)
     * @param roundTimesteps whether the timesteps of sigma-space schedules are rounded (else truncated, as diffusers
     *                       does for the cosine schedule)
     */
    static Grid grid(SchedulerConfig config, Sigmas sigmas, int n, SigmaSpacing spacing, int lastTimestep,
            boolean roundTimesteps) {
        int t = config.numTrainTimesteps();
        if (n < 1 || n > t) {
            throw new IllegalArgumentException("steps must be between 1 and num_train_timesteps (" + t + "), got " + n);
        }
        long[] ts = new long[n];
        double[] s = new double[n];
        long[] custom = CustomTimesteps.forSteps(config, n);
        if (custom != null) {
            if (spacing != SigmaSpacing.TIMESTEPS) {
                CustomTimesteps.refuseWith(config, spacing == SigmaSpacing.KARRAS ? "use_karras_sigmas"
                        : "use_lu_lambdas");
            }
            for (int i = 0; i < n; i++) {
                s[i] = sigmas.at((int) custom[i]); // diffusers: the train sigmas at the listed timesteps
            }
            return new Grid(custom, s);
        }
        if (spacing != SigmaSpacing.TIMESTEPS) {
            double[] k = spacing == SigmaSpacing.KARRAS
                    ? Sigmas.karras(config.extraDouble("sigma_min", sigmas.min()),
                            config.extraDouble("sigma_max", sigmas.max()), n)
                    : logUniform(sigmas.min(), sigmas.max(), n); // Lu: the train range, whatever sigma_min says
            for (int i = 0; i < n; i++) {
                s[i] = k[i];
                double ft = sigmas.toTimestep(k[i]);
                ts[i] = roundTimesteps ? (long) Math.rint(ft) : (long) ft;
            }
            return new Grid(ts, s);
        }
        switch (config.timestepSpacing()) {
            case LEADING -> {
                long ratio = lastTimestep / (n + 1);
                for (int i = 0; i < n; i++) {
                    ts[i] = (long) (n - i) * ratio + config.stepsOffset(); // arange(n+1)*ratio reversed, last dropped
                }
            }
            case LINSPACE -> {
                for (int i = 0; i < n; i++) {
                    ts[i] = (long) Math.rint((lastTimestep - 1) * (double) (n - i) / n);
                }
            }
            default -> {
                // arange(last, 0, -T/n), rounded, minus 1
                double ratio = (double) t / n;
                int count = (int) Math.ceil(lastTimestep / ratio);
                if (count != n) {
                    throw new IllegalArgumentException("trailing spacing over " + lastTimestep + " of " + t
                            + " timesteps gives " + count + " steps, not " + n + "; remove lambda_min_clipped");
                }
                for (int i = 0; i < n; i++) {
                    ts[i] = (long) Math.rint(lastTimestep - i * ratio) - 1;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            if (ts[i] < 0 || ts[i] >= t) {
                throw new IllegalArgumentException("timestep " + ts[i] + " is outside 0.." + (t - 1)
                        + " (steps_offset " + config.stepsOffset() + ")");
            }
            s[i] = sigmas.at((int) ts[i]);
        }
        return new Grid(ts, s);
    }

    /**
     * One past the largest timestep the spacing uses: {@code lambda_min_clipped} drops the timesteps whose half
     * log-SNR {@code log(sqrt(ab)) - log(sqrt(1 - ab))} is below it (critical for the cosine schedule).
     */
    static int lastTimestep(SchedulerConfig config, double lambdaMinClipped) {
        int t = config.numTrainTimesteps();
        if (lambdaMinClipped == Double.NEGATIVE_INFINITY) {
            return t;
        }
        double[] ab = config.noiseSchedule().alphasCumprod();
        int clipped = 0;
        for (double a : ab) {
            if (0.5 * Math.log(a) - 0.5 * Math.log(1 - a) < lambdaMinClipped) {
                clipped++;
            }
        }
        if (clipped >= t) {
            throw new IllegalArgumentException("lambda_min_clipped " + lambdaMinClipped + " clips every timestep");
        }
        return t - clipped;
    }

    /** Lu et al.'s schedule: {@code n} sigmas from {@code max} to {@code min}, uniform in log sigma. */
    static double[] logUniform(double min, double max, int n) {
        double lo = Math.log(min);
        double hi = Math.log(max);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            out[i] = Math.exp(hi + ramp * (lo - hi));
        }
        return out;
    }
}
