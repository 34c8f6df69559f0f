package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * The posterior of an AutoencoderKL (diffusers' {@code DiagonalGaussianDistribution}): {@code moments} split along the
 * channels into the mean and the log-variance, clamped to [-30, 20]. A sample is {@code mean + std * eps} with
 * {@code eps} drawn from the generator in the mean's shape, as diffusers' {@code randn_tensor} draws it on the CPU.
 * The tensors belong to the caller's scope.
 */
public record DiagonalGaussian(Tensor mean, Tensor logVariance) {

    public DiagonalGaussian {
        if (mean == null || logVariance == null
                || !java.util.Arrays.equals(mean.shape(), logVariance.shape())) {
            throw new IllegalArgumentException("mean and log-variance must have the same shape, got "
                    + (mean == null ? null : mean.describe()) + " and "
                    + (logVariance == null ? null : logVariance.describe()));
        }
    }

    /** From the {@code 2 * latent_channels} moments of the encoder (after {@code quant_conv}). */
    static DiagonalGaussian of(Tensor moments) {
        List<Tensor> parts = moments.chunk(2, 1);
        return new DiagonalGaussian(parts.get(0), parts.get(1).clamp(-30.0, 20.0));
    }

    public Tensor std() {
        return logVariance.mul(0.5).exp();
    }

    /** {@code mean + std * randn(mean.shape, generator)}: the same numbers as diffusers' {@code sample(generator)}. */
    public Tensor sample(Generator generator) {
        Tensor eps = Tensor.randn(generator, mean.dtype(), mean.device(), mean.shape());
        return mean.add(std().mul(eps));
    }
}
