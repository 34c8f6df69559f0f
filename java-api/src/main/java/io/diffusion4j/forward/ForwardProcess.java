package io.diffusion4j.forward;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.schedule.NoiseSchedule;
import io.diffusion4j.scheduler.PredictionType;

/**
 * The forward (noising) process q(x_t | x_0) of a noise schedule, and the conversions between the three things a
 * denoiser may predict (epsilon, x0 = {@code sample}, v). Every method takes per-sample timesteps, so a batch may
 * mix noise levels. Timesteps are Java longs: the per-sample coefficients are computed in doubles on the host and
 * uploaded once, so nothing is read back from the device. Immutable and thread-safe.
 */
public final class ForwardProcess {
    private final NoiseSchedule schedule;
    private final double[] alphaBar;

    public ForwardProcess(NoiseSchedule schedule) {
        this.schedule = schedule;
        this.alphaBar = schedule.alphasCumprod();
    }

    public NoiseSchedule schedule() {
        return schedule;
    }

    /** {@code x_t = sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) noise} (Ho et al. 2020, eq. 4). */
    public Tensor addNoise(Tensor x0, Tensor noise, long[] timesteps) {
        return combine(x0, noise, timesteps, Coef.SQRT_AB, Coef.SQRT_ONE_MINUS_AB);
    }

    /** The v-prediction target {@code v = sqrt(alphaBar_t) noise - sqrt(1 - alphaBar_t) x0} (Salimans &amp; Ho 2022). */
    public Tensor velocity(Tensor x0, Tensor noise, long[] timesteps) {
        return combine(noise, x0, timesteps, Coef.SQRT_AB, Coef.MINUS_SQRT_ONE_MINUS_AB);
    }

    /** The training target for a prediction type: noise, x0 or v. */
    public Tensor target(PredictionType type, Tensor x0, Tensor noise, long[] timesteps) {
        switch (type) {
            case EPSILON:
                return noise;
            case SAMPLE:
                return x0;
            case V_PREDICTION:
                return velocity(x0, noise, timesteps);
            default:
                throw new IllegalArgumentException("unknown prediction type " + type);
        }
    }

    /** x0 implied by a model output of {@code type} at {@code sample} (x_t). */
    public Tensor predictedOriginal(PredictionType type, Tensor output, Tensor sample, long[] timesteps) {
        switch (type) {
            case EPSILON:
                return combine(sample, output, timesteps, Coef.INV_SQRT_AB, Coef.MINUS_SQRT_ONE_MINUS_AB_OVER_SQRT_AB);
            case SAMPLE:
                return output;
            case V_PREDICTION:
                return combine(sample, output, timesteps, Coef.SQRT_AB, Coef.MINUS_SQRT_ONE_MINUS_AB);
            default:
                throw new IllegalArgumentException("unknown prediction type " + type);
        }
    }

    /** Epsilon implied by a model output of {@code type} at {@code sample} (x_t). */
    public Tensor predictedEpsilon(PredictionType type, Tensor output, Tensor sample, long[] timesteps) {
        switch (type) {
            case EPSILON:
                return output;
            case SAMPLE:
                return combine(sample, output, timesteps, Coef.INV_SQRT_ONE_MINUS_AB, Coef.MINUS_SQRT_AB_OVER_SQRT_ONE_MINUS_AB);
            case V_PREDICTION:
                return combine(output, sample, timesteps, Coef.SQRT_AB, Coef.SQRT_ONE_MINUS_AB);
            default:
                throw new IllegalArgumentException("unknown prediction type " + type);
        }
    }

    /** Converts a model output from one prediction type to another. */
    public Tensor convert(Tensor output, PredictionType from, PredictionType to, Tensor sample, long[] timesteps) {
        if (from == to) {
            return output;
        }
        Tensor x0 = predictedOriginal(from, output, sample, timesteps);
        Tensor eps = predictedEpsilon(from, output, sample, timesteps);
        return target(to, x0, eps, timesteps);
    }

    private enum Coef { SQRT_AB, SQRT_ONE_MINUS_AB, MINUS_SQRT_ONE_MINUS_AB, INV_SQRT_AB,
        MINUS_SQRT_ONE_MINUS_AB_OVER_SQRT_AB, INV_SQRT_ONE_MINUS_AB, MINUS_SQRT_AB_OVER_SQRT_ONE_MINUS_AB }

    private double coef(Coef c, double a) {
        switch (c) {
            case SQRT_AB: return Math.sqrt(a);
            case SQRT_ONE_MINUS_AB: return Math.sqrt(1 - a);
            case MINUS_SQRT_ONE_MINUS_AB: return -Math.sqrt(1 - a);
            case INV_SQRT_AB: return 1 / Math.sqrt(a);
            case MINUS_SQRT_ONE_MINUS_AB_OVER_SQRT_AB: return -Math.sqrt(1 - a) / Math.sqrt(a);
            case INV_SQRT_ONE_MINUS_AB: return 1 / Math.sqrt(1 - a);
            default: return -Math.sqrt(a) / Math.sqrt(1 - a);
        }
    }

    /** {@code ca(t) * a + cb(t) * b} with per-sample coefficients broadcast over the sample dimensions. */
    private Tensor combine(Tensor a, Tensor b, long[] timesteps, Coef ca, Coef cb) {
        long batch = a.size(0);
        if (timesteps.length != batch) {
            throw new IllegalArgumentException(timesteps.length + " timesteps for a batch of " + batch);
        }
        float[] va = new float[(int) batch];
        float[] vb = new float[(int) batch];
        for (int i = 0; i < batch; i++) {
            long t = timesteps[i];
            if (t < 0 || t >= alphaBar.length) {
                throw new IllegalArgumentException("timestep " + t + " is outside 0.." + (alphaBar.length - 1));
            }
            va[i] = (float) coef(ca, alphaBar[(int) t]);
            vb[i] = (float) coef(cb, alphaBar[(int) t]);
        }
        long[] shape = new long[a.dim()];
        java.util.Arrays.fill(shape, 1);
        shape[0] = batch;
        Tensor ta = Tensor.fromFloats(va, shape);
        Tensor tb = Tensor.fromFloats(vb, shape);
        if (a.device().isCuda()) {
            ta = ta.to(a.device());
            tb = tb.to(a.device());
        }
        return a.mul(ta).add(b.mul(tb));
    }
}
