package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;

/**
 * An adaptive step-size solver of the probability-flow ODE: DPM-Solver-12, an embedded pair in half-log-SNR
 * {@code lambda = -log(sigma)} (in the spirit of Lu et al. 2022's adaptive DPM-Solver and k-diffusion's
 * {@code dpm_adaptive}). Given tolerances instead of a step count, it chooses its own steps from
 * {@code sigma_max} (the last train timestep) to {@code sigma_min} (timestep 0) and returns the data prediction
 * there.
 *
 * <p>A step of length {@code h} from {@code x_s} evaluates the model once at the midpoint {@code lambda_s + h/2}
 * (DPM-Solver++(2S)'s intermediate point) and forms two solutions at {@code lambda_s + h}: the first-order one from
 * the start point's data prediction, and the second-order one from the midpoint's. Their difference, scaled by
 * {@code max(atol, rtol * max(|x_low|, |x_s|))} element-wise, gives one RMS error for the whole batch; the step is
 * accepted when it is at most 1 (then the second-order solution is kept and the model is evaluated at the new
 * point), and {@code h} is multiplied by {@code clamp(0.9 err^(-1/2), 0.2, 5)} either way. The first step has
 * length {@code h_init}. The number of model evaluations is {@code 1 + 2 * accepted + rejected}.
 *
 * <p>Config keys: {@code rtol} (default 0.05), {@code atol} (0.0078, one grey level of [-1, 1] in 8 bits),
 * {@code h_init} (0.05). The sample is variance preserving ({@code x = alpha x0 + sigma_vp eps}); the model sees it
 * unscaled, at the (fractional) timestep of its sigma, rounded for integer-timestep models. Because the batch
 * shares one error, a sample depends on the batch it was made in. The step sequence is not known in advance, so
 * {@link #plan} is unsupported: {@link io.diffusion4j.pipeline.DiffusionPipeline} runs this solver through
 * {@link #solve}.
 */
public final class AdaptiveScheduler implements Scheduler {
    /** Our own {@code _class_name} (diffusers has no adaptive scheduler). */
    public static final String CLASS_NAME = "DPMSolverAdaptive";

    private static final double SAFETY = 0.9;
    private static final double MIN_FACTOR = 0.2;
    private static final double MAX_FACTOR = 5.0;
    private static final int MAX_EVALUATIONS = 10_000;

    private final SchedulerConfig config;
    private final Sigmas sigmas;
    private final double rtol;
    private final double atol;
    private final double hInit;

    public AdaptiveScheduler(SchedulerConfig config) {
        this(config, config.extraDouble("rtol", 0.05), config.extraDouble("atol", 0.0078));
    }

    public AdaptiveScheduler(SchedulerConfig config, double rtol, double atol) {
        if (!(rtol > 0) || !Double.isFinite(rtol)) {
            throw new IllegalArgumentException("rtol must be > 0, got " + rtol);
        }
        if (!(atol > 0) || !Double.isFinite(atol)) {
            throw new IllegalArgumentException("atol must be > 0, got " + atol);
        }
        double h = config.extraDouble("h_init", 0.05);
        if (!(h > 0) || !Double.isFinite(h)) {
            throw new IllegalArgumentException("h_init must be > 0, got " + h);
        }
        if (config.thresholding()) {
            throw new IllegalArgumentException("thresholding is not supported by the adaptive solver; use ddpm or ddim");
        }
        if (config.timesteps() != null) {
            throw new IllegalArgumentException("the adaptive solver picks its own timesteps; remove the timesteps list "
                    + "or use a fixed-step scheduler");
        }
        this.config = config;
        this.sigmas = new Sigmas(config);
        this.rtol = rtol;
        this.atol = atol;
        this.hInit = h;
    }

    public double rtol() {
        return rtol;
    }

    public double atol() {
        return atol;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "adaptive";
    }

    /** {@inheritDoc} Fractional timesteps: float32. */
    @Override
    public io.diffusion4j.bindings.DType timestepDType() {
        return io.diffusion4j.bindings.DType.FLOAT32;
    }

    /** Unsupported: the solver picks its steps as it goes; use {@link #solve}. */
    @Override
    public SamplingPlan plan(int numInferenceSteps) {
        throw new UnsupportedOperationException("the adaptive solver chooses its own steps; it has no fixed plan "
                + "(DiffusionPipeline runs it; set rtol/atol instead of a step count)");
    }

    /** The largest sigma, where a run starts; the initial noise is not scaled (variance preserving). */
    public double sigmaMax() {
        return sigmas.max();
    }

    /** The model, called at a sample and the (fractional) model timestep of its noise level. */
    @FunctionalInterface
    public interface Model {
        /** The raw model output for {@code sample} (not scaled) at {@code timestep}. */
        Tensor predict(Tensor sample, double timestep);
    }

    /** What a solve did. */
    public record Solution(Tensor sample, int evaluations, int accepted, int rejected) {
    }

    /**
     * Solves from {@code noise} (standard normal, [B, ...]). The result and every intermediate belong to scopes of
     * this method except {@link Solution#sample}, which belongs to the caller's scope.
     *
     * @throws IllegalStateException if it needs more than 10,000 model evaluations (the tolerances are too tight)
     */
    public Solution solve(Tensor noise, Model model) {
        double lambdaEnd = Sigmas.lambda(sigmas.min());
        double lambda = Sigmas.lambda(sigmas.max());
        double h = hInit;
        int evaluations = 0;
        int accepted = 0;
        int rejected = 0;
        try (NativeScope run = new NativeScope()) {
            Tensor x = noise;
            Tensor d = dataPrediction(model, x, lambda);
            evaluations++;
            while (lambda < lambdaEnd - 1e-9) {
                if (evaluations >= MAX_EVALUATIONS) {
                    throw new IllegalStateException("the adaptive solver needed more than " + MAX_EVALUATIONS
                            + " model evaluations; loosen rtol (" + rtol + ") or atol (" + atol + ")");
                }
                h = Math.min(h, lambdaEnd - lambda);
                try (NativeScope step = new NativeScope()) {
                    double s = sigmaOf(lambda);
                    double u = sigmaOf(lambda + h / 2);
                    double t = sigmaOf(lambda + h);
                    Tensor xu = firstOrder(x, d, s, u, h / 2);
                    Tensor du = dataPrediction(model, xu, lambda + h / 2);
                    evaluations++;
                    // both solutions at t share the x term: x_t = (sigma_t / sigma_s) x + c * x0
                    Tensor xt = x.mul(Sigmas.vpSigma(t) / Sigmas.vpSigma(s));
                    double c = -Sigmas.alpha(t) * (Math.exp(-h) - 1.0);
                    Tensor low = xt.add(d, c);
                    Tensor high = xt.add(du, c);
                    Tensor delta = low.abs().maximum(x.abs()).mul(rtol).clampMin(atol);
                    double err = Math.sqrt(low.sub(high).div(delta).square().mean().item());
                    double factor = err == 0 ? MAX_FACTOR
                            : Math.min(MAX_FACTOR, Math.max(MIN_FACTOR, SAFETY * Math.pow(err, -0.5)));
                    if (Double.isNaN(err)) {
                        throw new IllegalStateException("the adaptive solver's error estimate is NaN at sigma " + s
                                + ": the model returned non-finite values");
                    }
                    if (err <= 1) {
                        lambda += h;
                        Tensor next = step.keep(high);
                        Tensor dNext = step.keep(dataPrediction(model, next, lambda));
                        evaluations++;
                        accepted++;
                        if (x != noise) {
                            x.close();
                        }
                        d.close();
                        x = next;
                        d = dNext;
                    } else {
                        rejected++;
                    }
                    h *= factor;
                }
            }
            return new Solution(run.keep(d), evaluations, accepted, rejected);
        }
    }

    private Tensor dataPrediction(Model model, Tensor x, double lambda) {
        double sigma = sigmaOf(lambda);
        double[] ab = Sigmas.x0FromVp(config.predictionType(), sigma);
        Tensor m = model.predict(x, sigmas.toTimestep(sigma));
        return x.mul(ab[0]).add(m, ab[1]);
    }

    /** DPM-Solver++'s first-order step from sigma {@code s} to {@code t}, {@code h = lambda_t - lambda_s}. */
    private static Tensor firstOrder(Tensor x, Tensor x0, double s, double t, double h) {
        double at = Sigmas.alpha(t);
        return x.mul(Sigmas.vpSigma(t) / Sigmas.vpSigma(s)).add(x0, -at * (Math.exp(-h) - 1.0));
    }

    private static double sigmaOf(double lambda) {
        return Math.exp(-lambda);
    }
}
