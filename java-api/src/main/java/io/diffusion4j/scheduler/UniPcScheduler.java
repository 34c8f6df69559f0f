package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models"):
 * the multistep predictor UniP of order 1 to 3 and, after every model evaluation but the first, the corrector UniC that
 * reuses that evaluation, with diffusers' {@code UniPCMultistepScheduler} semantics and config keys:
 * {@code solver_order}, {@code solver_type} ({@code bh1}: B(h) = h, {@code bh2}: B(h) = e^h - 1; diffusers maps
 * {@code midpoint}, {@code heun} and {@code logrho} to bh2), {@code predict_x0} (data or noise prediction),
 * {@code lower_order_final}, {@code disable_corrector} (step indices whose following corrector is skipped),
 * {@code thresholding}, {@code use_karras_sigmas}, {@code final_sigmas_type}, and the timestep spacing of
 * {@link VpSchedule}. Every per-step weight is a Java double computed once per plan (the small linear systems for the
 * rho coefficients included); a step is a handful of fused tensor ops. Deterministic.
 */
public final class UniPcScheduler implements Scheduler {

    public static final String CLASS_NAME = "UniPCMultistepScheduler";

    private final SchedulerConfig config;
    private final Sigmas sigmas;
    private final int order;
    private final boolean bh1;
    private final boolean predictX0;
    private final boolean lowerOrderFinal;
    private final boolean finalSigmaMin;
    private final Set<Integer> disableCorrector;
    private final VpSchedule.SigmaSpacing spacing;

    public UniPcScheduler(SchedulerConfig config) {
        this.order = config.extraInt("solver_order", 2);
        if (order < 1 || order > 3) {
            throw new IllegalArgumentException("solver_order must be 1, 2 or 3 for UniPC, got " + order);
        }
        String solverType = config.extraString("solver_type", "bh2");
        switch (solverType) {
            case "bh1" -> bh1 = true;
            case "bh2", "midpoint", "heun", "logrho" -> bh1 = false; // diffusers registers the others as bh2
            default -> throw new IllegalArgumentException("solver_type '" + solverType
                    + "' is not supported by UniPC; use bh1 or bh2");
        }
        if (config.extra().get("solver_p") != null) {
            throw new IllegalArgumentException("solver_p is not supported; remove it (UniP is the predictor)");
        }
        String finalSigmas = config.extraString("final_sigmas_type", "zero");
        if (!finalSigmas.equals("zero") && !finalSigmas.equals("sigma_min")) {
            throw new IllegalArgumentException("final_sigmas_type must be zero or sigma_min, got '" + finalSigmas + "'");
        }
        this.finalSigmaMin = finalSigmas.equals("sigma_min");
        this.spacing = VpSchedule.spacing(config, false, CLASS_NAME);
        this.predictX0 = config.extraBoolean("predict_x0", true);
        this.lowerOrderFinal = config.extraBoolean("lower_order_final", true);
        this.disableCorrector = new HashSet<>();
        Object disabled = config.extra().get("disable_corrector");
        if (disabled != null) {
            if (!(disabled instanceof List<?> list)) {
                throw new IllegalArgumentException("disable_corrector must be a list of step indices, got " + disabled);
            }
            for (Object o : list) {
                if (!(o instanceof Integer k) || k < 0) {
                    throw new IllegalArgumentException("disable_corrector must hold step indices >= 0, got " + o);
                }
                disableCorrector.add(k);
            }
        }
        this.config = config;
        this.sigmas = new Sigmas(config);
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "unipc";
    }

    /** The predictor's order setting ({@code solver_order}). */
    public int order() {
        return order;
    }

    @Override
    public SamplingPlan plan(int n) {
        VpSchedule.Grid grid = VpSchedule.grid(config, sigmas, n, spacing, config.numTrainTimesteps(), true);
        double[] s = Arrays.copyOf(grid.sigmas(), n + 1);
        // diffusers: with Karras sigmas sigma_min is the last Karras sigma, otherwise the smallest train sigma
        s[n] = !finalSigmaMin ? 0 : spacing == VpSchedule.SigmaSpacing.KARRAS ? s[n - 1] : sigmas.min();
        return new Plan(grid.timesteps(), s);
    }

    /** The predictor's order at step {@code i} of {@code n}: warm-up from 1, lowered towards the end. */
    private int orderAt(int i, int n) {
        int o = lowerOrderFinal ? Math.min(order, n - i) : order;
        return Math.min(o, i + 1);
    }

    /**
     * Per step: the converted output {@code mc = px x + po m} (data or noise prediction); the corrector (from the
     * previous step's sample) {@code x = kx last + kt mc + sum_k kh[k] h_k}; the predictor
     * {@code next = cx x + sum_k ch[k] h_k} over the history {@code h_0 = mc, h_1, ...}.
     */
    private final class Plan extends VpPlan {
        private final Scalar[] px;
        private final Scalar[] po;
        private final Scalar[] kx;
        private final Scalar[] kt;
        private final Scalar[][] kh;
        private final Scalar[] cx;
        private final Scalar[][] ch;

        Plan(long[] timesteps, double[] s) {
            super(timesteps, s);
            int n = timesteps.length;
            px = new Scalar[n];
            po = new Scalar[n];
            kx = new Scalar[n];
            kt = new Scalar[n];
            kh = new Scalar[n][];
            cx = new Scalar[n];
            ch = new Scalar[n][];
            for (int i = 0; i < n; i++) {
                double[] c = convert(s[i]);
                px[i] = own(c[0]);
                po[i] = own(c[1]);
                int p = orderAt(i, n);
                double[] w = weights(i, i + 1, p, false);
                cx[i] = own(w[0]);
                ch[i] = owned(w, 1, p);
                if (i > 0 && !disableCorrector.contains(i - 1)) {
                    int pc = orderAt(i - 1, n);
                    double[] u = weights(i - 1, i, pc, true);
                    kx[i] = own(u[0]);
                    kh[i] = owned(u, 1, pc); // over the history before mc joins it: h_0 = mc of step i - 1
                    kt[i] = own(u[pc + 1]);
                }
            }
        }

        private Scalar[] owned(double[] w, int from, int count) {
            Scalar[] out = new Scalar[count];
            for (int k = 0; k < count; k++) {
                out[k] = own(w[from + k]);
            }
            return out;
        }

        /** The coefficients of the converted output: data prediction (x0) or noise prediction (eps). */
        private double[] convert(double sigma) {
            if (predictX0) {
                return Sigmas.x0FromVp(config.predictionType(), sigma);
            }
            double a = Sigmas.alpha(sigma);
            double sv = Sigmas.vpSigma(sigma);
            return switch (config.predictionType()) {
                case EPSILON -> new double[] {0, 1};
                case SAMPLE -> new double[] {1 / sv, -a / sv};
                case V_PREDICTION -> new double[] {sv, a};
            };
        }

        /**
         * The UniP (predictor) or UniC (corrector) step from level {@code from} to level {@code to} of order
         * {@code p}: {@code [c_x, c_h0 .. c_h(p-1)]} for the predictor and the same plus the weight of the new
         * output for the corrector, over the outputs {@code h_k} of steps {@code from - k}.
         */
        private double[] weights(int from, int to, int p, boolean corrector) {
            double lf = Sigmas.lambda(sigmas[from]);
            double h = Sigmas.lambda(sigmas[to]) - lf;
            double hh = predictX0 ? -h : h;
            double hPhi1 = Math.expm1(hh);
            double bh = bh1 ? hh : Math.expm1(hh);
            double at = Sigmas.alpha(sigmas[to]);
            double st = Sigmas.vpSigma(sigmas[to]);
            double k1 = predictX0 ? at : st;
            double[] w = new double[p + 2];
            w[0] = predictX0 ? st / Sigmas.vpSigma(sigmas[from]) : at / Sigmas.alpha(sigmas[from]);
            w[1] = -k1 * hPhi1;
            double[] rho = rhos(from, h, hh, hPhi1, bh, p, corrector);
            double kk = k1 * bh;
            for (int k = 1; k < p; k++) { // D1_k = (h_k - h_0) / r_k
                double rk = (Sigmas.lambda(sigmas[from - k]) - lf) / h;
                w[1 + k] = -kk * rho[k - 1] / rk;
                w[1] += kk * rho[k - 1] / rk;
            }
            if (corrector) { // D1_t = mc - h_0
                w[p + 1] = -kk * rho[p - 1];
                w[1] += kk * rho[p - 1];
            }
            for (double v : w) {
                if (!Double.isFinite(v)) {
                    throw new IllegalArgumentException("UniPC step " + from + " of " + timesteps.length
                            + " is not finite (a step of order > 1 or with predict_x0 false to sigma 0); set "
                            + "final_sigmas_type sigma_min or lower_order_final true");
                }
            }
            return w;
        }

        /** The rho weights: UniP uses {@code p - 1} of them (0.5 for order 2), UniC {@code p} (0.5 for order 1). */
        private double[] rhos(int from, double h, double hh, double hPhi1, double bh, int p, boolean corrector) {
            if (!corrector && p == 1) {
                return new double[0];
            }
            if (!corrector && p == 2 || corrector && p == 1) {
                return new double[] {0.5};
            }
            double[] r = new double[p];
            double lf = Sigmas.lambda(sigmas[from]);
            for (int k = 1; k < p; k++) {
                r[k - 1] = (Sigmas.lambda(sigmas[from - k]) - lf) / h;
            }
            r[p - 1] = 1;
            double[] b = new double[p];
            double hPhiK = hPhi1 / hh - 1;
            double factorial = 1;
            for (int k = 1; k <= p; k++) {
                b[k - 1] = hPhiK * factorial / bh;
                factorial *= k + 1;
                hPhiK = hPhiK / hh - 1 / factorial;
            }
            int m = corrector ? p : p - 1;
            double[][] a = new double[m][m];
            for (int row = 0; row < m; row++) {
                for (int col = 0; col < m; col++) {
                    a[row][col] = Math.pow(r[col], row);
                }
            }
            return solve(a, Arrays.copyOf(b, m));
        }

        @Override
        public SamplerRun start() {
            return new Run();
        }

        /** The history of converted outputs (newest first) and the sample before the last predictor step. */
        private final class Run implements SamplerRun {
            private final TensorHistory history = new TensorHistory(order);
            private Tensor last;

            @Override
            public Tensor step(int i, Tensor m, Tensor x, Tensor noise) {
                Tensor mc = Tensor.linearCombination(x, px[i], m, po[i]);
                if (predictX0 && config.thresholding()) {
                    mc = DynamicThresholding.apply(mc, config);
                }
                Tensor sample = x;
                if (kx[i] != null && last != null) {
                    sample = Tensor.linearCombination(last, kx[i], mc, kt[i]);
                    for (int k = 0; k < kh[i].length; k++) {
                        sample.addInPlace(history.get(k), kh[i][k]);
                    }
                }
                history.push(mc);
                if (last != null) {
                    last.close();
                }
                last = NativeScope.unscoped(sample::detach); // the corrector of the next step starts from it
                Tensor next = sample.mul(cx[i]);
                for (int k = 0; k < ch[i].length; k++) {
                    next.addInPlace(history.get(k), ch[i][k]);
                }
                return next;
            }

            @Override
            public void close() {
                history.close();
                if (last != null) {
                    last.close();
                    last = null;
                }
            }
        }
    }
}
