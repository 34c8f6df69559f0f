package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.schedule.NoiseSchedule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Shared machinery of the alpha-bar (discrete DDPM-family) plans: timesteps, previous timesteps and their
 * alpha-bars, the forward process, prediction-type conversions and x0 clipping/thresholding, with every per-step
 * coefficient a precomputed native scalar.
 *
 * <p>A step has the shape {@code x0 = px*x + po*m} (from the prediction type), then
 * {@code next = c0*clip(x0) + cx*x + cm*m + sigma*noise}; without clipping it folds into
 * {@code next = (c0*px + cx)*x + (c0*po + cm)*m + sigma*noise}: two fused ops and one for the noise.
 */
abstract class AlphaBarPlan implements SamplingPlan {
    protected final SchedulerConfig config;
    protected final long[] timesteps;
    protected final long[] previous;
    protected final double[] alphaBar;
    protected final double[] alphaBarPrev;
    private final boolean clip;
    private final List<Scalar> owned = new ArrayList<>();
    // per step: fused (no clipping) or split coefficients
    private final Scalar[] fx;
    private final Scalar[] fm;
    private final Scalar[] px;
    private final Scalar[] po;
    private final Scalar[] c0;
    private final Scalar[] cx;
    private final Scalar[] cm;
    private final Scalar[] sigma;
    private final Scalar[] sqrtAb;
    private final Scalar[] sqrtOneMinusAb;
    private final Scalar[] sqrtAbPrev;
    private final Scalar[] sqrtOneMinusAbPrev;
    private final Scalar clipMin;
    private final Scalar clipMax;

    AlphaBarPlan(SchedulerConfig config, NoiseSchedule schedule, long[] timesteps, long[] previous, double finalAlphaBar) {
        this.config = config;
        this.timesteps = timesteps.clone();
        this.previous = previous.clone();
        double[] ab = schedule.alphasCumprod();
        int n = timesteps.length;
        this.alphaBar = new double[n];
        this.alphaBarPrev = new double[n];
        for (int i = 0; i < n; i++) {
            alphaBar[i] = ab[(int) timesteps[i]];
            alphaBarPrev[i] = previous[i] >= 0 ? ab[(int) previous[i]] : finalAlphaBar;
        }
        this.clip = config.clipSample() || config.thresholding();
        fx = new Scalar[n];
        fm = new Scalar[n];
        px = new Scalar[n];
        po = new Scalar[n];
        c0 = new Scalar[n];
        cx = new Scalar[n];
        cm = new Scalar[n];
        sigma = new Scalar[n];
        sqrtAb = new Scalar[n];
        sqrtOneMinusAb = new Scalar[n];
        sqrtAbPrev = new Scalar[n];
        sqrtOneMinusAbPrev = new Scalar[n];
        clipMin = own(-config.clipSampleRange());
        clipMax = own(config.clipSampleRange());
    }

    /** Fills step {@code i}'s coefficients; called by subclasses' constructors for every step. */
    protected final void define(int i, double c0v, double cxv, double cmv, double sigmaV) {
        double a = alphaBar[i];
        double b = 1 - a;
        double pxv;
        double pov;
        switch (config.predictionType()) {
            case EPSILON:
                pxv = 1 / Math.sqrt(a);
                pov = -Math.sqrt(b) / Math.sqrt(a);
                break;
            case SAMPLE:
                pxv = 0;
                pov = 1;
                break;
            case V_PREDICTION:
                pxv = Math.sqrt(a);
                pov = -Math.sqrt(b);
                break;
            default:
                throw new IllegalStateException("unhandled prediction type " + config.predictionType());
        }
        px[i] = own(pxv);
        po[i] = own(pov);
        c0[i] = own(c0v);
        cx[i] = own(cxv);
        cm[i] = own(cmv);
        fx[i] = own(c0v * pxv + cxv);
        fm[i] = own(c0v * pov + cmv);
        sigma[i] = own(sigmaV);
        sqrtAb[i] = own(Math.sqrt(a));
        sqrtOneMinusAb[i] = own(Math.sqrt(b));
        sqrtAbPrev[i] = own(Math.sqrt(alphaBarPrev[i]));
        sqrtOneMinusAbPrev[i] = own(Math.sqrt(1 - alphaBarPrev[i]));
    }

    /** Coefficients (ex, eo) of the predicted epsilon {@code eps = ex*x + eo*m} at alpha-bar {@code a}. */
    protected final double[] epsilonCoefficients(double a) {
        double b = 1 - a;
        switch (config.predictionType()) {
            case EPSILON:
                return new double[] {0, 1};
            case SAMPLE:
                return new double[] {1 / Math.sqrt(b), -Math.sqrt(a) / Math.sqrt(b)};
            case V_PREDICTION:
                return new double[] {Math.sqrt(b), Math.sqrt(a)};
            default:
                throw new IllegalStateException("unhandled prediction type " + config.predictionType());
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

    /** The previous timesteps (the level each step ends at; -1 = clean data). */
    public long[] previousTimesteps() {
        return previous.clone();
    }

    /** Stateless: the run only steps (closing it must not close the plan, which the pipeline caches). */
    @Override
    public SamplerRun start() {
        return new SamplerRun() {
            @Override
            public Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                return AlphaBarPlan.this.step(i, modelOutput, sample, noise);
            }

            @Override
            public Tensor stepInPlace(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                return AlphaBarPlan.this.stepInPlace(i, modelOutput, sample, noise);
            }
        };
    }

    /**
     * One reverse step that overwrites {@code sample} (see {@link SamplerRun#stepInPlace}): two in-place ops without
     * clipping (with clipping, the clipped x0 is the one new tensor), plus one for the noise.
     */
    public Tensor stepInPlace(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
        if (config.thresholding() || learnedVariance()) {
            return step(i, modelOutput, sample, noise);
        }
        if (clip) {
            Tensor x0 = Tensor.linearCombination(sample, px[i], modelOutput, po[i]).clampInPlace(clipMin, clipMax);
            sample.mulInPlace(cx[i]).addInPlace(x0, c0[i]);
            if (cm[i].value() != 0) {
                sample.addInPlace(modelOutput, cm[i]);
            }
        } else {
            sample.mulInPlace(fx[i]).addInPlace(modelOutput, fm[i]);
        }
        if (needsNoise(i)) {
            if (noise == null) {
                throw new IllegalArgumentException("step " + i + " needs noise");
            }
            sample.addInPlace(noise, sigma[i]);
        }
        return sample;
    }

    /** One reverse step; see {@link SamplerRun#step}. */
    public Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
        Tensor m = modelOutput;
        Tensor predictedVariance = null;
        if (learnedVariance()) {
            long c = sample.size(1);
            if (modelOutput.size(1) != 2 * c) {
                throw new IllegalArgumentException("variance_type " + config.varianceType().configName()
                        + " needs a model output with twice the sample's channels (" + 2 * c + "), got "
                        + modelOutput.describe());
            }
            m = modelOutput.narrow(1, 0, c);
            predictedVariance = modelOutput.narrow(1, c, c);
        }
        Tensor next;
        if (!clip) {
            next = Tensor.linearCombination(sample, fx[i], m, fm[i]);
        } else {
            Tensor x0 = Tensor.linearCombination(sample, px[i], m, po[i]);
            x0 = config.thresholding() ? DynamicThresholding.apply(x0, config) : x0.clampInPlace(clipMin, clipMax);
            next = Tensor.linearCombination(x0, c0[i], sample, cx[i]);
            if (cm[i].value() != 0) {
                next.addInPlace(m, cm[i]); // next is this step's own fresh tensor
            }
        }
        if (needsNoise(i)) {
            if (noise == null) {
                throw new IllegalArgumentException("step " + i + " needs noise");
            }
            if (predictedVariance != null) {
                next.addInPlace(noise.mul(learnedSigma(i, predictedVariance)));
            } else {
                next.addInPlace(noise, sigma[i]);
            }
        }
        return next;
    }

    /** Whether the model predicts its variance (extra output channels). */
    protected boolean learnedVariance() {
        return false;
    }

    /** Per-element standard deviation from a predicted variance (learned variance types). */
    protected Tensor learnedSigma(int i, Tensor predictedVariance) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Tensor addNoise(Tensor x0, Tensor noise, int i) {
        return Tensor.linearCombination(x0, sqrtAb[i], noise, sqrtOneMinusAb[i]);
    }

    @Override
    public Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
        if (previous[i] < 0 && alphaBarPrev[i] >= 1.0) {
            return x0.copy();
        }
        return Tensor.linearCombination(x0, sqrtAbPrev[i], noise, sqrtOneMinusAbPrev[i]);
    }

    @Override
    public void close() {
        owned.forEach(Scalar::close);
        owned.clear();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + Arrays.toString(timesteps);
    }
}
