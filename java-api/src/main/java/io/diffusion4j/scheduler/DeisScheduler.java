package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;

/**
 * DEIS (Zhang and Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator"), the multistep
 * exponential integrator in log-rho ({@code rho = sigma / alpha}) on the noise prediction, orders 1 to 3, with
 * diffusers' {@code DEISMultistepScheduler} semantics and config keys: {@code solver_order}, {@code algorithm_type}
 * deis, {@code solver_type} logrho, {@code lower_order_final}, {@code thresholding} (of the data prediction the noise
 * is recomputed from), {@code use_karras_sigmas} and the spacing of {@link VpSchedule}. The last step ends at the
 * smallest train sigma (with Karras sigmas: stays at the last one), as diffusers does. Deterministic.
 */
public final class DeisScheduler implements Scheduler {

    public static final String CLASS_NAME = "DEISMultistepScheduler";

    private final SchedulerConfig config;
    private final Sigmas sigmas;
    private final int order;
    private final boolean lowerOrderFinal;
    private final VpSchedule.SigmaSpacing spacing;

    public DeisScheduler(SchedulerConfig config) {
        this.order = config.extraInt("solver_order", 2);
        if (order < 1 || order > 3) {
            throw new IllegalArgumentException("solver_order must be 1, 2 or 3 for DEIS, got " + order);
        }
        String algorithm = config.extraString("algorithm_type", "deis");
        if (!algorithm.equals("deis")) {
            throw new IllegalArgumentException("algorithm_type '" + algorithm + "' is not supported by DEIS; use deis");
        }
        String solverType = config.extraString("solver_type", "logrho");
        if (!solverType.equals("logrho")) {
            throw new IllegalArgumentException("solver_type '" + solverType + "' is not supported by DEIS; use logrho");
        }
        this.spacing = VpSchedule.spacing(config, false, CLASS_NAME);
        this.lowerOrderFinal = config.extraBoolean("lower_order_final", true);
        this.config = config;
        this.sigmas = new Sigmas(config);
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "deis";
    }

    @Override
    public SamplingPlan plan(int n) {
        VpSchedule.Grid grid = VpSchedule.grid(config, sigmas, n, spacing, config.numTrainTimesteps(), true);
        double[] s = Arrays.copyOf(grid.sigmas(), n + 1);
        s[n] = spacing == VpSchedule.SigmaSpacing.KARRAS ? s[n - 1] : sigmas.min();
        return new Plan(grid.timesteps(), s);
    }

    private int orderAt(int i, int n) {
        boolean lowerFinal = i == n - 1 && lowerOrderFinal && n < 15;
        boolean lowerSecond = i == n - 2 && lowerOrderFinal && n < 15;
        if (order == 1 || i < 1 || lowerFinal) {
            return 1;
        }
        return order == 2 || i < 2 || lowerSecond ? 2 : 3;
    }

    /** diffusers' {@code ind_fn} of the second order: the integral of a log-rho Lagrange basis, up to a constant. */
    private static double ind2(double t, double b, double c) {
        return t * (-Math.log(c) + Math.log(t) - 1) / (Math.log(b) - Math.log(c));
    }

    /** The same for the third order. */
    private static double ind3(double t, double b, double c, double d) {
        double lt = Math.log(t);
        double lc = Math.log(c);
        double ld = Math.log(d);
        double numerator = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2);
        return numerator / ((Math.log(b) - lc) * (Math.log(b) - ld));
    }

    /**
     * Per step: the noise prediction {@code e = ex x + em m} (or from the thresholded data prediction), then
     * {@code next = cx x + sum_k ce[k] e_{i-k}}.
     */
    private final class Plan extends VpPlan {
        private final Scalar[] ex;
        private final Scalar[] em;
        private final Scalar[] px;
        private final Scalar[] po;
        private final Scalar[] fromX;
        private final Scalar[] fromX0;
        private final Scalar[] cx;
        private final Scalar[][] ce;

        Plan(long[] timesteps, double[] s) {
            super(timesteps, s);
            int n = timesteps.length;
            ex = new Scalar[n];
            em = new Scalar[n];
            px = new Scalar[n];
            po = new Scalar[n];
            fromX = new Scalar[n];
            fromX0 = new Scalar[n];
            cx = new Scalar[n];
            ce = new Scalar[n][];
            for (int i = 0; i < n; i++) {
                double a = Sigmas.alpha(s[i]);
                double sv = Sigmas.vpSigma(s[i]);
                double[] x0 = Sigmas.x0FromVp(config.predictionType(), s[i]);
                px[i] = own(x0[0]);
                po[i] = own(x0[1]);
                ex[i] = own((1 - a * x0[0]) / sv); // eps = (x - alpha x0) / sigma
                em[i] = own(-a * x0[1] / sv);
                fromX[i] = own(1 / sv);
                fromX0[i] = own(-a / sv);
                double at = Sigmas.alpha(s[i + 1]);
                double st = Sigmas.vpSigma(s[i + 1]);
                int o = orderAt(i, n);
                double[] w;
                if (o == 1) {
                    double h = Sigmas.lambda(s[i + 1]) - Sigmas.lambda(s[i]);
                    w = new double[] {at / a, -st * Math.expm1(h)};
                } else if (o == 2) {
                    double rt = s[i + 1];
                    double r0 = s[i];
                    double r1 = s[i - 1];
                    w = new double[] {at / a, at * (ind2(rt, r0, r1) - ind2(r0, r0, r1)),
                            at * (ind2(rt, r1, r0) - ind2(r0, r1, r0))};
                } else {
                    double rt = s[i + 1];
                    double r0 = s[i];
                    double r1 = s[i - 1];
                    double r2 = s[i - 2];
                    w = new double[] {at / a, at * (ind3(rt, r0, r1, r2) - ind3(r0, r0, r1, r2)),
                            at * (ind3(rt, r1, r2, r0) - ind3(r0, r1, r2, r0)),
                            at * (ind3(rt, r2, r0, r1) - ind3(r0, r2, r0, r1))};
                }
                cx[i] = own(w[0]);
                ce[i] = new Scalar[w.length - 1];
                for (int k = 1; k < w.length; k++) {
                    ce[i][k - 1] = own(w[k]);
                }
            }
        }

        @Override
        public SamplerRun start() {
            return new SamplerRun() {
                private final TensorHistory eps = new TensorHistory(order);

                @Override
                public Tensor step(int i, Tensor m, Tensor x, Tensor noise) {
                    Tensor e;
                    if (config.thresholding()) {
                        Tensor x0 = DynamicThresholding.apply(Tensor.linearCombination(x, px[i], m, po[i]), config);
                        e = Tensor.linearCombination(x, fromX[i], x0, fromX0[i]);
                    } else {
                        e = Tensor.linearCombination(x, ex[i], m, em[i]);
                    }
                    eps.push(e);
                    Tensor next = x.mul(cx[i]);
                    for (int k = 0; k < ce[i].length; k++) {
                        next.addInPlace(eps.get(k), ce[i][k]);
                    }
                    return next;
                }

                @Override
                public void close() {
                    eps.close();
                }
            };
        }
    }
}
