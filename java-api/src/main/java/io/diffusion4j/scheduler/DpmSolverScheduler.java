package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++": data prediction, orders 1 to 3, the second order in the
 * midpoint or Heun form) and its SDE variant {@code sde-dpmsolver++} (orders 1 and 2), with diffusers'
 * {@code DPMSolverMultistepScheduler} semantics and config keys: {@code solver_order}, {@code algorithm_type},
 * {@code solver_type}, {@code lower_order_final}, {@code euler_at_final}, {@code use_karras_sigmas},
 * {@code use_lu_lambdas} (uniform in log-SNR, Lu et al. 2022), {@code final_sigmas_type} ({@code zero} or
 * {@code sigma_min}), {@code lambda_min_clipped}, {@code thresholding} (dynamic thresholding of each data
 * prediction), {@code variance_type} learned/learned_range (the mean half of the output is used), leading/linspace
 * spacing over {@code N + 1} points (the last dropped) and trailing spacing. The sample is variance preserving, {@code x_t = alpha_t x0 + sigma_t eps} with
 * {@code alpha_t = 1/sqrt(s^2+1)}, {@code sigma_t = s alpha_t} for the discrete-time {@code s = sqrt((1-ab)/ab)}; the
 * model sees it unscaled. With Karras sigmas the schedule spans the whole train range and the model gets the
 * rounded timesteps of those sigmas. Every step of the SDE variant draws noise. Not supported (refused by
 * key): {@code dpmsolver}/{@code sde-dpmsolver} (noise prediction), the third order of the SDE variant, exponential,
 * beta and flow sigmas.
 */
public final class DpmSolverScheduler implements Scheduler {
    public static final String CLASS_NAME = "DPMSolverMultistepScheduler";
    /** The {@code algorithm_type} values this class implements. */
    public static final List<String> ALGORITHMS = List.of("dpmsolver++", "sde-dpmsolver++");

    private final SchedulerConfig config;
    private final Sigmas sigmas;
    private final int order;
    private final boolean sde;
    private final boolean lowerOrderFinal;
    private final boolean eulerAtFinal;
    private final boolean finalSigmaMin;
    private final VpSchedule.SigmaSpacing spacing;
    private final double lambdaMinClipped;
    private final boolean heun;
    private final boolean learnedVariance;

    public DpmSolverScheduler(SchedulerConfig config) {
        this(config, config.extraInt("solver_order", 2));
    }

    public DpmSolverScheduler(SchedulerConfig config, int order) {
        if (order < 1 || order > 3) {
            throw new IllegalArgumentException("solver order must be 1, 2 or 3, got " + order);
        }
        String algorithm = config.extraString("algorithm_type", "dpmsolver++");
        if (!ALGORITHMS.contains(algorithm)) {
            throw new IllegalArgumentException("algorithm_type '" + algorithm + "' is not supported; use one of "
                    + String.join(", ", ALGORITHMS));
        }
        this.sde = algorithm.equals("sde-dpmsolver++");
        if (sde && order == 3) {
            throw new IllegalArgumentException("sde-dpmsolver++ supports solver_order 1 or 2, got 3");
        }
        String solverType = config.extraString("solver_type", "midpoint");
        if (!solverType.equals("midpoint") && !solverType.equals("heun")) {
            throw new IllegalArgumentException("solver_type '" + solverType + "' is not supported; use midpoint or heun");
        }
        String finalSigmas = config.extraString("final_sigmas_type", "zero");
        if (!finalSigmas.equals("zero") && !finalSigmas.equals("sigma_min")) {
            throw new IllegalArgumentException("final_sigmas_type must be zero or sigma_min, got '" + finalSigmas + "'");
        }
        this.spacing = VpSchedule.spacing(config, true, CLASS_NAME);
        this.lambdaMinClipped = config.extraDouble("lambda_min_clipped", Double.NEGATIVE_INFINITY);
        this.heun = solverType.equals("heun");
        this.learnedVariance = config.varianceType() == VarianceType.LEARNED
                || config.varianceType() == VarianceType.LEARNED_RANGE;
        this.config = config;
        this.order = order;
        this.lowerOrderFinal = config.extraBoolean("lower_order_final", true);
        this.eulerAtFinal = config.extraBoolean("euler_at_final", false);
        this.finalSigmaMin = finalSigmas.equals("sigma_min");
        this.sigmas = new Sigmas(config);
    }

    public int order() {
        return order;
    }

    /** Whether this is the stochastic {@code sde-dpmsolver++}. */
    public boolean isSde() {
        return sde;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return sde ? "sde-dpmsolver++" : "dpmsolver++";
    }


    @Override
    public SamplingPlan plan(int n) {
        boolean cosine = config.trainedBetas() == null
                && config.betaSchedule() == io.diffusion4j.schedule.BetaSchedule.SQUAREDCOS_CAP_V2;
        // diffusers keeps the cosine schedule's sigma-space timesteps fractional, then truncates them to int64
        VpSchedule.Grid grid = VpSchedule.grid(config, sigmas, n, spacing, lastTimestep(), !cosine);
        double[] s = java.util.Arrays.copyOf(grid.sigmas(), n + 1);
        s[n] = finalSigmaMin ? sigmas.min() : 0;
        return new Plan(grid.timesteps(), s);
    }

    private int lastTimestep() {
        return VpSchedule.lastTimestep(config, lambdaMinClipped);
    }

    /** The order of step {@code i} of {@code n}, as diffusers lowers it at the start and the end. */
    private int orderAt(int i, int n, boolean finalZero) {
        boolean last = i == n - 1;
        boolean lowerFinal = last && (eulerAtFinal || lowerOrderFinal && n < 15 || finalZero);
        boolean lowerSecond = i == n - 2 && lowerOrderFinal && n < 15;
        if (order == 1 || i < 1 || lowerFinal) {
            return 1;
        }
        if (order == 2 || i < 2 || lowerSecond) {
            return 2;
        }
        return 3;
    }

    /**
     * Per step: {@code x0 = px x + po m}, then {@code x_next = cx x + c0 x0 + c1 x0_{i-1} + c2 x0_{i-2}
     * (+ cn noise)}, all coefficients precomputed; an absent (null) coefficient is skipped.
     */
    private final class Plan implements SamplingPlan {
        private final long[] timesteps;
        private final double[] sigmas;
        private final List<Scalar> owned = new ArrayList<>();
        private final Scalar[] px;
        private final Scalar[] po;
        private final Scalar[] cx;
        private final Scalar[] c0;
        private final Scalar[] c1;
        private final Scalar[] c2;
        private final Scalar[] cn;
        private final boolean[] returnsX0;
        private final int history;

        Plan(long[] timesteps, double[] sigmas) {
            this.timesteps = timesteps;
            this.sigmas = sigmas;
            int n = timesteps.length;
            px = new Scalar[n];
            po = new Scalar[n];
            cx = new Scalar[n];
            c0 = new Scalar[n];
            c1 = new Scalar[n];
            c2 = new Scalar[n];
            cn = new Scalar[n];
            returnsX0 = new boolean[n];
            int maxOrder = 1;
            for (int i = 0; i < n; i++) {
                double[] ab = Sigmas.x0FromVp(config.predictionType(), sigmas[i]);
                px[i] = own(ab[0]);
                po[i] = own(ab[1]);
                int o = orderAt(i, n, sigmas[n] == 0);
                maxOrder = Math.max(maxOrder, o);
                if (sigmas[i + 1] == 0) {
                    returnsX0[i] = true; // alpha_t = 1, sigma_t = 0: every method lands on x0
                    continue;
                }
                double h = Sigmas.lambda(sigmas[i + 1]) - Sigmas.lambda(sigmas[i]);
                if (h == 0) {
                    cx[i] = own(1); // a step to the same level (final_sigmas_type sigma_min) changes nothing
                    continue;
                }
                coefficients(i, o, h);
            }
            history = maxOrder - 1;
        }

        private void coefficients(int i, int o, double h) {
            double at = Sigmas.alpha(sigmas[i + 1]);
            double st = Sigmas.vpSigma(sigmas[i + 1]);
            double ss = Sigmas.vpSigma(sigmas[i]);
            double r0 = o >= 2 ? (Sigmas.lambda(sigmas[i]) - Sigmas.lambda(sigmas[i - 1])) / h : 0;
            if (sde) {
                double e = at * (1 - Math.exp(-2 * h));
                cx[i] = own(st / ss * Math.exp(-h));
                cn[i] = own(st * Math.sqrt(1 - Math.exp(-2 * h)));
                if (o == 1) {
                    c0[i] = own(e);
                } else if (heun) { // D1 = (m0 - m1) / r0, weight alpha_t ((1 - e^-2h) / (-2h) + 1)
                    double g = at * ((1 - Math.exp(-2 * h)) / (-2 * h) + 1);
                    c0[i] = own(e + g / r0);
                    c1[i] = own(-g / r0);
                } else { // D1 = (m0 - m1) / r0
                    c0[i] = own(e * (1 + 0.5 / r0));
                    c1[i] = own(-0.5 * e / r0);
                }
                return;
            }
            double a = at * (Math.exp(-h) - 1.0);
            cx[i] = own(st / ss);
            if (o == 1) {
                c0[i] = own(-a);
            } else if (o == 2 && heun) { // + alpha_t ((e^-h - 1) / h + 1) D1
                double b = at * ((Math.exp(-h) - 1.0) / h + 1.0);
                c0[i] = own(-a + b / r0);
                c1[i] = own(-b / r0);
            } else if (o == 2) {
                c0[i] = own(-a * (1 + 0.5 / r0));
                c1[i] = own(0.5 * a / r0);
            } else {
                double r1 = (Sigmas.lambda(sigmas[i - 1]) - Sigmas.lambda(sigmas[i - 2])) / h;
                double b = at * ((Math.exp(-h) - 1.0) / h + 1.0);
                double c = at * ((Math.exp(-h) - 1.0 + h) / (h * h) - 0.5);
                double q = r0 / (r0 + r1);
                double p = 1 / (r0 + r1);
                double inv = 1 / r0 + 1 / r1;
                // D1 = D1_0 + q (D1_0 - D1_1), D2 = p (D1_0 - D1_1), D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1
                c0[i] = own(-a + b * (1 + q) / r0 - c * p / r0);
                c1[i] = own(b * (-1 / r0 - q * inv) + c * p * inv);
                c2[i] = own(b * q / r1 - c * p / r1);
            }
        }

        private Scalar own(double v) {
            Scalar s = Scalar.of(v);
            owned.add(s);
            return s;
        }

        @Override
        public long[] timesteps() {
            return timesteps.clone();
        }

        @Override
        public int steps() {
            return timesteps.length;
        }

        @Override
        public double modelTimestep(int i) {
            return timesteps[i];
        }

        @Override
        public boolean needsNoise(int i) {
            return sde;
        }

        @Override
        public Tensor addNoise(Tensor x0, Tensor noise, int i) {
            return x0.mul(Sigmas.alpha(sigmas[i])).add(noise, Sigmas.vpSigma(sigmas[i]));
        }

        @Override
        public Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
            if (sigmas[i + 1] == 0) {
                return x0.copy();
            }
            return x0.mul(Sigmas.alpha(sigmas[i + 1])).add(noise, Sigmas.vpSigma(sigmas[i + 1]));
        }

        @Override
        public SamplerRun start() {
            return new Run();
        }

        @Override
        public void close() {
            owned.forEach(Scalar::close);
            owned.clear();
        }

        /** Holds the last x0 predictions outside the per-step scopes (newest first). */
        private final class Run implements SamplerRun {
            private final Tensor[] previous = new Tensor[Math.max(history, 1)];

            @Override
            public Tensor step(int i, Tensor m, Tensor x, Tensor noise) {
                if (learnedVariance) {
                    m = m.narrow(1, 0, x.size(1)); // the mean half of a learned-variance output
                }
                Tensor x0 = Tensor.linearCombination(x, px[i], m, po[i]);
                if (config.thresholding()) {
                    x0 = DynamicThresholding.apply(x0, config);
                }
                Tensor next;
                if (returnsX0[i]) {
                    next = x0.copy();
                } else if (c0[i] == null) {
                    next = x.copy();
                } else {
                    next = Tensor.linearCombination(x, cx[i], x0, c0[i]);
                    if (c1[i] != null) {
                        next.addInPlace(previous[0], c1[i]);
                    }
                    if (c2[i] != null) {
                        next.addInPlace(previous[1], c2[i]);
                    }
                    if (cn[i] != null) {
                        next.addInPlace(noise, cn[i]);
                    }
                }
                if (history > 0) {
                    Tensor oldest = previous[previous.length - 1];
                    if (oldest != null) {
                        oldest.close();
                    }
                    System.arraycopy(previous, 0, previous, 1, previous.length - 1);
                    previous[0] = NativeScope.unscoped(x0::detach); // shares x0's storage; survives this step's scope
                }
                return next;
            }

            @Override
            public void close() {
                for (int k = 0; k < previous.length; k++) {
                    if (previous[k] != null) {
                        previous[k].close();
                        previous[k] = null;
                    }
                }
            }
        }
    }
}
