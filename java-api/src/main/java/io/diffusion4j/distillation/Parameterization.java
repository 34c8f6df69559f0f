package io.diffusion4j.distillation;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.scheduler.PredictionType;

/**
 * A model output as the x0 and epsilon estimates it implies at {@code z = alpha x0 + sigma eps}, for per-example
 * {@code alpha}, {@code sigma} (tensors broadcasting over the sample, e.g. {@code [B, 1]}).
 */
final class Parameterization {
    private Parameterization() {
    }

    /** {@code {x0, eps}} from the model output {@code m} of {@code type}. */
    static Tensor[] x0AndEpsilon(PredictionType type, Tensor m, Tensor z, Tensor alpha, Tensor sigma) {
        return switch (type) {
            case EPSILON -> new Tensor[] {z.sub(sigma.mul(m)).div(alpha), m};
            case SAMPLE -> new Tensor[] {m, z.sub(alpha.mul(m)).div(sigma)};
            case V_PREDICTION -> new Tensor[] {alpha.mul(z).sub(sigma.mul(m)), sigma.mul(z).add(alpha.mul(m))};
        };
    }

    /** The x0 estimate alone. */
    static Tensor x0(PredictionType type, Tensor m, Tensor z, Tensor alpha, Tensor sigma) {
        return switch (type) {
            case EPSILON -> z.sub(sigma.mul(m)).div(alpha);
            case SAMPLE -> m;
            case V_PREDICTION -> alpha.mul(z).sub(sigma.mul(m));
        };
    }

    /** Per-example coefficients as a tensor of shape {@code [B, 1, ...]} that broadcasts over {@code like}. */
    static Tensor perExample(double[] values, Tensor like) {
        long[] shape = new long[like.dim()];
        java.util.Arrays.fill(shape, 1);
        shape[0] = values.length;
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        Tensor t = Tensor.fromFloats(f, shape);
        return like.device().isCuda() ? t.to(like.device()) : t;
    }
}
