package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Single-step DPM-Solver (Lu et al. 2022, "DPM-Solver", Algorithms 1-2, and "DPM-Solver++"): the steps come in groups
 * of one to three; a group of order {@code k} starts from the sample at its first step and reaches the end of its
 * last step with an exponential integrator over the {@code k} model outputs of the group. diffusers'
 * {@code DPMSolverSinglestepScheduler} semantics and config keys: {@code solver_order} 1-3, {@code algorithm_type}
 * {@code dpmsolver++} (data prediction), {@code dpmsolver} (noise prediction) or {@code sde-dpmsolver++}
 * (noise every step), {@code solver_type} {@code midpoint} or {@code heun}, {@code lower_order_final} (forced on,
 * as diffusers does, when the step count is not a multiple of the order or the last sigma is zero),
 * {@code use_karras_sigmas}, {@code final_sigmas_type} ({@code zero}: the last step lands on the data prediction;
 * {@code sigma_min}), {@code lambda_min_clipped}, {@code thresholding} (of the data prediction) and learned variance. The timesteps are always
 * {@code N + 1} linspace points over the train range with the last dropped ({@code timestep_spacing} and
 * {@code steps_offset} are not keys of this class, and are ignored as there); the model sees the sample unscaled.
 * Like diffusers, {@code algorithm_type} deis means dpmsolver++ and {@code solver_type} logrho/bh1/bh2 mean
 * midpoint. Refused by key: exponential, beta and flow sigmas, dynamic shifting, Lu lambdas, {@code dpmsolver}
 * with {@code final_sigmas_type} zero or with {@code thresholding} (diffusers fails on it),
 * {@code rescale_betas_zero_snr} (not a key of this class).
 */
public final class DpmSolverSinglestepScheduler implements Scheduler {
    public static final String CLASS_NAME = "DPMSolverSinglestepScheduler";
    /** The {@code algorithm_type} values this class implements. */
    public static final List<String> ALGORITHMS = List.of("dpmsolver++", "dpmsolver", "sde-dpmsolver++");

    private enum Algorithm { DATA, NOISE, SDE }

    private final SchedulerConfig config;
    private final SchedulerConfig gridConfig;
    private final Sigmas sigmas;
    private final int order;
    private final Algorithm algorithm;
    private final boolean heun;
    private final boolean lowerOrderFinal;
    private final boolean finalSigmaMin;
    private final VpSchedule.SigmaSpacing spacing;
    private final double lambdaMinClipped;
    private final boolean learnedVariance;

    public DpmSolverSinglestepScheduler(SchedulerConfig config) {
        this.order = config.extraInt("solver_order", 2);
        if (order < 1 || order > 3) {
            throw new IllegalArgumentException("solver_order must be 1, 2 or 3 for " + CLASS_NAME + ", got " + order);
        }
        String type = config.extraString("algorithm_type", "dpmsolver++");
        this.algorithm = switch (type) {
            case "dpmsolver++", "deis" -> Algorithm.DATA; // diffusers maps deis to dpmsolver++
            case "dpmsolver" -> Algorithm.NOISE;
            case "sde-dpmsolver++" -> Algorithm.SDE;
            default -> throw new IllegalArgumentException("algorithm_type '" + type + "' is not supported by "
                    + CLASS_NAME + "; use one of " + String.join(", ", ALGORITHMS));
        };
        String solverType = config.extraString("solver_type", "midpoint");
        if (!List.of("midpoint", "heun", "logrho", "bh1", "bh2").contains(solverType)) {
            throw new IllegalArgumentException("solver_type '" + solverType + "' is not supported by " + CLASS_NAME
                    + "; use midpoint or heun");
        }
        this.heun = solverType.equals("heun");
        String finalSigmas = config.extraString("final_sigmas_type", "zero");
        if (!finalSigmas.equals("zero") && !finalSigmas.equals("sigma_min")) {
            throw new IllegalArgumentException("final_sigmas_type must be zero or sigma_min, got '" + finalSigmas + "'");
        }
        this.finalSigmaMin = finalSigmas.equals("sigma_min");
        if (algorithm == Algorithm.NOISE && !finalSigmaMin) {
            throw new IllegalArgumentException("final_sigmas_type zero is not supported with algorithm_type dpmsolver; "
                    + "use final_sigmas_type sigma_min or algorithm_type dpmsolver++");
        }
        if (algorithm == Algorithm.NOISE && config.thresholding()) {
            // diffusers indexes its train alphas with the deprecated timestep argument, which is None there, and fails
            throw new IllegalArgumentException("thresholding is not supported with algorithm_type dpmsolver (diffusers' "
                    + CLASS_NAME + " fails on it too); use algorithm_type dpmsolver++");
        }
        if (config.rescaleBetasZeroSnr()) {
            throw new IllegalArgumentException("rescale_betas_zero_snr is not a key of " + CLASS_NAME
                    + " (diffusers ignores it); remove it or choose another scheduler");
        }
        String shiftType = config.extraString("time_shift_type", "exponential");
        if (!shiftType.equals("exponential")) {
            throw new IllegalArgumentException("time_shift_type '" + shiftType + "' is not supported; use exponential");
        }
        this.spacing = VpSchedule.spacing(config, false, CLASS_NAME);
        this.lambdaMinClipped = config.extraDouble("lambda_min_clipped", Double.NEGATIVE_INFINITY);
        this.lowerOrderFinal = config.extraBoolean("lower_order_final", false);
        this.learnedVariance = config.varianceType() == VarianceType.LEARNED
                || config.varianceType() == VarianceType.LEARNED_RANGE;
        this.config = config;
        // the class has no sigma_min / sigma_max (Karras sigmas span the train range), no spacing keys: linspace
        this.gridConfig = config.toBuilder().removeExtra("sigma_min").removeExtra("sigma_max")
                .timestepSpacing(TimestepSpacing.LINSPACE).stepsOffset(0).build();
        this.sigmas = new Sigmas(config);
    }

    public int order() {
        return order;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "dpmsolver-single";
    }

    @Override
    public SamplingPlan plan(int n) {
        VpSchedule.Grid grid = VpSchedule.grid(gridConfig, sigmas, n, spacing,
                VpSchedule.lastTimestep(config, lambdaMinClipped), true);
        double[] s = Arrays.copyOf(grid.sigmas(), n + 1);
        s[n] = finalSigmaMin ? sigmas.min() : 0;
        return new Plan(grid.timesteps(), s, orders(n));
    }

    /**
     * diffusers' order list: 1, 2, 3, 1, 2, 3, ...; with lower_order_final (or forced) and a step count that is a
     * multiple of the order, the last group ends with a first-order step; a zero final sigma always does.
     */
    int[] orders(int n) {
        boolean lower = lowerOrderFinal || n % order != 0 || !finalSigmaMin;
        int[] o = new int[n];
        for (int i = 0; i < n; i++) {
            o[i] = i % order + 1;
        }
        if (lower && n % order == 0 || !finalSigmaMin) {
            o[n - 1] = 1;
        }
        return o;
    }

    /**
     * Per step {@code i}: the converted output {@code m_i = mx x + mo out} (data or noise prediction, thresholded if
     * configured), then {@code x_next = cs x_g + sum_k w_k m_{i-k} (+ cn noise)}, {@code x_g} the sample at the
     * start of the step's group; all coefficients precomputed in doubles.
     */
    private final class Plan extends VpPlan {
        private final int[] orders;
        private final Scalar[] mx;
        private final Scalar[] mo;
        private final Scalar[] cs;
        private final Scalar[][] w;
        private final Scalar[] cn;
        private final boolean[] returnsPrediction;
        private final boolean[] keepsStart;

        Plan(long[] timesteps, double[] s, int[] orders) {
            super(timesteps, s);
            this.orders = orders;
            int n = timesteps.length;
            mx = new Scalar[n];
            mo = new Scalar[n];
            cs = new Scalar[n];
            w = new Scalar[n][];
            cn = new Scalar[n];
            returnsPrediction = new boolean[n];
            keepsStart = new boolean[n];
            for (int i = 0; i < n; i++) {
                double[] c = conversion(s[i]);
                mx[i] = own(c[0]);
                mo[i] = own(c[1]);
                keepsStart[i] = i + 1 < n && orders[i + 1] > 1;
                if (s[i + 1] == 0) {
                    returnsPrediction[i] = true; // alpha_t = 1, sigma_t = 0: a first-order step lands on x0
                    continue;
                }
                coefficients(i, orders[i], s);
            }
        }

        /** {@code (mx, mo)} of the converted output at VP sigma {@code s}. */
        private double[] conversion(double s) {
            if (algorithm != Algorithm.NOISE) {
                return Sigmas.x0FromVp(config.predictionType(), s);
            }
            double a = Sigmas.alpha(s);
            double sv = Sigmas.vpSigma(s);
            return switch (config.predictionType()) {
                case EPSILON -> new double[] {0, 1};
                case SAMPLE -> new double[] {1 / sv, -a / sv};
                case V_PREDICTION -> new double[] {sv, a};
            };
        }

        /**
         * diffusers' single-step updates of order 1-3, written as weights of {@code m_i, m_{i-1}, m_{i-2}}: each
         * divided difference {@code D} is a weight vector over those outputs.
         */
        private void coefficients(int i, int o, double[] s) {
            double st = s[i + 1];
            double sg = s[i - o + 1];
            double at = Sigmas.alpha(st);
            double svt = Sigmas.vpSigma(st);
            double lt = Sigmas.lambda(st);
            double h = lt - Sigmas.lambda(sg);
            double[] d0 = unit(o - 1); // the group's first output
            double[] d1 = null;        // first divided difference (midpoint / heun forms)
            double[] d1Last = null;    // third order: (m0 - m2) / r0
            double[] d2 = null;
            if (o == 2) {
                double r0 = (Sigmas.lambda(s[i]) - Sigmas.lambda(s[i - 1])) / h;
                d1 = new double[] {1 / r0, -1 / r0, 0};
            } else if (o == 3) {
                double r0 = (Sigmas.lambda(s[i]) - Sigmas.lambda(s[i - 2])) / h;
                double r1 = (Sigmas.lambda(s[i - 1]) - Sigmas.lambda(s[i - 2])) / h;
                double[] d10 = {0, 1 / r1, -1 / r1};
                d1Last = new double[] {1 / r0, 0, -1 / r0};
                d1 = sum(r0 / (r0 - r1), d10, -r1 / (r0 - r1), d1Last);
                d2 = sum(2 / (r0 - r1), d1Last, -2 / (r0 - r1), d10);
            }
            double base;
            double[] weights;
            switch (algorithm) {
                case DATA -> {
                    double a = at * Math.expm1(-h);
                    double b = at * (Math.expm1(-h) / h + 1);
                    double c = at * ((Math.expm1(-h) + h) / (h * h) - 0.5);
                    base = svt / Sigmas.vpSigma(sg);
                    weights = o == 1 ? scale(-a, d0)
                            : o == 2 ? (heun ? sum(-a, d0, b, d1) : sum(-a, d0, -0.5 * a, d1))
                            : heun ? sum(1, sum(-a, d0, b, d1), 1, scale(-c, d2)) : sum(-a, d0, b, d1Last);
                }
                case NOISE -> {
                    double a = svt * Math.expm1(h);
                    double b = svt * (Math.expm1(h) / h - 1);
                    double c = svt * ((Math.expm1(h) - h) / (h * h) - 0.5);
                    base = at / Sigmas.alpha(sg);
                    weights = o == 1 ? scale(-a, d0)
                            : o == 2 ? (heun ? sum(-a, d0, -b, d1) : sum(-a, d0, -0.5 * a, d1))
                            : heun ? sum(1, sum(-a, d0, -b, d1), 1, scale(-c, d2)) : sum(-a, d0, -b, d1Last);
                }
                default -> {
                    double e = -at * Math.expm1(-2 * h);
                    double g = at * (-Math.expm1(-2 * h) / (-2 * h) + 1);
                    double k = at * ((-Math.expm1(-2 * h) - 2 * h) / (4 * h * h) - 0.5);
                    base = svt / Sigmas.vpSigma(sg) * Math.exp(-h);
                    weights = o == 1 ? scale(e, d0)
                            : o == 2 ? (heun ? sum(e, d0, g, d1) : sum(e, d0, 0.5 * e, d1))
                            : heun ? sum(1, sum(e, d0, g, d1), 1, scale(k, d2)) : sum(e, d0, g, d1Last);
                    cn[i] = own(svt * Math.sqrt(-Math.expm1(-2 * h)));
                }
            }
            cs[i] = own(base);
            w[i] = new Scalar[o];
            for (int k = 0; k < o; k++) {
                w[i][k] = own(weights[k]);
            }
        }

        private static double[] unit(int k) {
            double[] v = new double[3];
            v[k] = 1;
            return v;
        }

        private static double[] scale(double a, double[] x) {
            return new double[] {a * x[0], a * x[1], a * x[2]};
        }

        private static double[] sum(double a, double[] x, double b, double[] y) {
            return new double[] {a * x[0] + b * y[0], a * x[1] + b * y[1], a * x[2] + b * y[2]};
        }

        @Override
        public boolean needsNoise(int i) {
            return algorithm == Algorithm.SDE; // diffusers draws noise at every step of the SDE variant
        }

        @Override
        public SamplerRun start() {
            return new Run();
        }

        /** Holds the group's start sample and its converted outputs (newest first) outside the per-step scopes. */
        private final class Run implements SamplerRun {
            private final TensorHistory outputs = new TensorHistory(order);
            private Tensor start;

            @Override
            public Tensor step(int i, Tensor out, Tensor x, Tensor noise) {
                Tensor m = convert(i, out, x);
                outputs.push(m);
                if (orders[i] > 1 && start == null) {
                    throw new IllegalStateException("step " + i + " of a single-step DPM-Solver group needs its first "
                            + "step " + (i - orders[i] + 1) + ": start a run at the start of a group");
                }
                Tensor base = orders[i] == 1 ? x : start;
                Tensor next;
                if (returnsPrediction[i]) {
                    next = m.copy();
                } else {
                    next = Tensor.linearCombination(base, cs[i], outputs.get(0), w[i][0]);
                    for (int k = 1; k < w[i].length; k++) {
                        next.addInPlace(outputs.get(k), w[i][k]);
                    }
                    if (cn[i] != null) {
                        next.addInPlace(noise, cn[i]);
                    }
                }
                if (orders[i] == 1) {
                    release();
                    if (keepsStart[i]) {
                        start = NativeScope.unscoped(x::detach); // shares x's storage; survives this step's scope
                    }
                } else if (!keepsStart[i]) {
                    release(); // the group ends here
                }
                return next;
            }

            @Override
            public Tensor stepInPlace(int i, Tensor out, Tensor x, Tensor noise) {
                if (orders[i] > 1 || keepsStart[i] || returnsPrediction[i]) {
                    return step(i, out, x, noise);
                }
                Tensor m = convert(i, out, x);
                outputs.push(m);
                x.mulInPlace(cs[i]).addInPlace(m, w[i][0]);
                if (cn[i] != null) {
                    x.addInPlace(noise, cn[i]);
                }
                release();
                return x;
            }

            private Tensor convert(int i, Tensor out, Tensor x) {
                if (learnedVariance && config.predictionType() == PredictionType.EPSILON) {
                    out = out.narrow(1, 0, x.size(1)); // the mean half of a learned-variance output
                }
                Tensor m = Tensor.linearCombination(x, mx[i], out, mo[i]);
                return config.thresholding() ? DynamicThresholding.apply(m, config) : m; // data prediction only
            }

            private void release() {
                if (start != null) {
                    start.close();
                    start = null;
                }
            }

            @Override
            public void close() {
                release();
                outputs.close();
            }
        }
    }
}
