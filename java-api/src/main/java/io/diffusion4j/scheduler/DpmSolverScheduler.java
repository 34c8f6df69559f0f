package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++", Algorithm 2: data prediction, second order in the
 * midpoint form) with diffusers' {@code DPMSolverMultistepScheduler} semantics: {@code solver_order} 1 or 2,
 * {@code lower_order_final}, {@code final_sigmas_type: zero}, leading/linspace spacing over N + 1 points (the last
 * dropped) and trailing spacing. The sample is {@code x_t = alpha_t x0 + sigma_t eps} with
 * {@code alpha_t = 1/sqrt(s^2+1)}, {@code sigma_t = s alpha_t} for the discrete-time {@code s = sqrt((1-ab)/ab)}.
 * Not yet: order 3, {@code sde-dpmsolver++}, Karras sigmas, dynamic thresholding.
 */
public final class DpmSolverScheduler implements Scheduler {
    public static final String CLASS_NAME = "DPMSolverMultistepScheduler";

    private final SchedulerConfig config;
    private final double[] allSigmas;
    private final int order;
    private final boolean lowerOrderFinal;

    public DpmSolverScheduler(SchedulerConfig config) {
        this(config, config.extraInt("solver_order", 2));
    }

    public DpmSolverScheduler(SchedulerConfig config, int order) {
        if (order < 1 || order > 3) {
            throw new IllegalArgumentException("solver order must be 1, 2 or 3, got " + order);
        }
        if (order == 3) {
            throw new IllegalArgumentException("solver order 3 is not implemented yet; use 1 or 2");
        }
        String algorithm = config.extraString("algorithm_type", "dpmsolver++");
        if (!algorithm.equals("dpmsolver++")) {
            throw new IllegalArgumentException("algorithm_type '" + algorithm + "' is not supported yet; use dpmsolver++");
        }
        String finalSigmas = config.extraString("final_sigmas_type", "zero");
        if (!finalSigmas.equals("zero")) {
            throw new IllegalArgumentException("final_sigmas_type '" + finalSigmas + "' is not supported yet; use zero");
        }
        if (config.extraBoolean("use_karras_sigmas", false)) {
            throw new IllegalArgumentException("use_karras_sigmas is not supported yet by dpmsolver++");
        }
        if (config.thresholding()) {
            throw new IllegalArgumentException("thresholding is not supported yet by dpmsolver++");
        }
        this.config = config;
        this.order = order;
        this.lowerOrderFinal = config.extraBoolean("lower_order_final", true);
        double[] ab = config.noiseSchedule().alphasCumprod();
        this.allSigmas = new double[ab.length];
        for (int i = 0; i < ab.length; i++) {
            allSigmas[i] = Math.sqrt((1 - ab[i]) / ab[i]);
        }
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
        return "dpmsolver++";
    }

    @Override
    public SamplingPlan plan(int n) {
        int t = config.numTrainTimesteps();
        if (n < 1 || n > t) {
            throw new IllegalArgumentException("steps must be between 1 and num_train_timesteps (" + t + "), got " + n);
        }
        long[] ts = new long[n];
        switch (config.timestepSpacing()) {
            case LEADING: {
                long ratio = t / (n + 1);
                for (int i = 0; i < n; i++) {
                    ts[i] = (long) (n - i) * ratio + config.stepsOffset(); // arange(n+1)*ratio reversed, last dropped
                }
                break;
            }
            case LINSPACE:
                for (int i = 0; i < n; i++) {
                    ts[i] = (long) Math.rint((t - 1) * (double) (n - i) / n);
                }
                break;
            default:
                ts = Timesteps.of(TimestepSpacing.TRAILING, t, n, 0);
        }
        double[] sigmas = new double[n + 1];
        for (int i = 0; i < n; i++) {
            if (ts[i] < 0 || ts[i] >= t) {
                throw new IllegalArgumentException("timestep " + ts[i] + " is outside 0.." + (t - 1)
                        + " (steps_offset " + config.stepsOffset() + ")");
            }
            sigmas[i] = allSigmas[(int) ts[i]];
        }
        sigmas[n] = 0;
        return new Plan(ts, sigmas);
    }

    private final class Plan implements SamplingPlan {
        private final long[] timesteps;
        private final double[] sigmas;
        private final List<Scalar> owned = new ArrayList<>();
        private final Scalar[] px;
        private final Scalar[] po;
        private final Scalar[] c1x;
        private final Scalar[] c1x0;
        private final Scalar[] c2x0;
        private final Scalar[] c2prev;
        private final boolean[] secondOrder;

        Plan(long[] timesteps, double[] sigmas) {
            this.timesteps = timesteps;
            this.sigmas = sigmas;
            int n = timesteps.length;
            px = new Scalar[n];
            po = new Scalar[n];
            c1x = new Scalar[n];
            c1x0 = new Scalar[n];
            c2x0 = new Scalar[n];
            c2prev = new Scalar[n];
            secondOrder = new boolean[n];
            for (int i = 0; i < n; i++) {
                double as = alpha(sigmas[i]);
                double ss = sigmas[i] * as;
                switch (config.predictionType()) {
                    case EPSILON:
                        px[i] = own(1 / as);
                        po[i] = own(-ss / as);
                        break;
                    case V_PREDICTION:
                        px[i] = own(as);
                        po[i] = own(-ss);
                        break;
                    default: // SAMPLE
                        px[i] = own(0);
                        po[i] = own(1);
                }
                boolean last = i == n - 1;
                boolean lowerFinal = last && (lowerOrderFinal && n < 15 || sigmas[i + 1] == 0);
                secondOrder[i] = order >= 2 && i >= 1 && !lowerFinal;
                if (sigmas[i + 1] == 0) {
                    continue; // the step returns x0
                }
                double at = alpha(sigmas[i + 1]);
                double st = sigmas[i + 1] * at;
                double h = lambda(sigmas[i + 1]) - lambda(sigmas[i]);
                double a = at * (Math.exp(-h) - 1.0);
                if (secondOrder[i]) {
                    double r0 = (lambda(sigmas[i]) - lambda(sigmas[i - 1])) / h;
                    c1x[i] = own(st / ss);
                    c1x0[i] = own(-a * (1 + 0.5 / r0));
                    c2prev[i] = own(0.5 * a / r0);
                } else {
                    c1x[i] = own(st / ss);
                    c1x0[i] = own(-a);
                }
            }
        }

        private double alpha(double sigma) {
            return 1 / Math.sqrt(sigma * sigma + 1);
        }

        private double lambda(double sigma) {
            double a = alpha(sigma);
            return Math.log(a) - Math.log(sigma * a);
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
            return false;
        }

        @Override
        public Tensor addNoise(Tensor x0, Tensor noise, int i) {
            double a = alpha(sigmas[i]);
            return x0.mul(a).add(noise, sigmas[i] * a);
        }

        @Override
        public Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
            if (sigmas[i + 1] == 0) {
                return x0.copy();
            }
            double a = alpha(sigmas[i + 1]);
            return x0.mul(a).add(noise, sigmas[i + 1] * a);
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

        /** Holds the previous step's x0 prediction outside the per-step scopes. */
        private final class Run implements SamplerRun {
            private Tensor previous;

            @Override
            public Tensor step(int i, Tensor m, Tensor x, Tensor noise) {
                Tensor x0 = Tensor.linearCombination(x, px[i], m, po[i]);
                Tensor next;
                if (sigmas[i + 1] == 0) {
                    next = x0.copy();
                } else {
                    next = Tensor.linearCombination(x, c1x[i], x0, c1x0[i]);
                    if (secondOrder[i]) {
                        next.addInPlace(previous, c2prev[i]);
                    }
                }
                if (previous != null) {
                    previous.close();
                }
                previous = NativeScope.unscoped(x0::detach); // shares x0's storage; survives this step's scope
                return next;
            }

            @Override
            public void close() {
                if (previous != null) {
                    previous.close();
                    previous = null;
                }
            }
        }
    }
}
