package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;

/**
 * An image autoencoder of a latent diffusion pipeline (diffusers' {@code AutoencoderKL} or {@code VQModel}): images
 * {@code [B, in_channels, H, W]} in [-1, 1] to latents {@code [B, C, H / f, W / f]} and back, {@code f} the
 * {@linkplain AutoencoderConfig#downsamplingFactor() downsampling factor}. The denoiser works on
 * {@link #toDiffusionLatent scaled latents}; {@link #fromDiffusionLatent} undoes the scaling before decoding.
 * Results belong to the caller's native scope.
 */
public interface Autoencoder extends AutoCloseable {

    AutoencoderConfig config();

    /**
     * The latent of {@code image} before scaling: the posterior mean of an AutoencoderKL, the (unquantized)
     * {@code quant_conv} output of a VQModel.
     *
     * @throws IllegalArgumentException when the image's channels or size do not fit (the size must be a multiple of
     *                                  the downsampling factor)
     */
    Tensor encode(Tensor image);

    /** The image of an (unscaled) latent. */
    Tensor decode(Tensor latent);

    Device device();

    /** The dtype the weights run in (float32 under {@code force_upcast}, whatever was asked). */
    DType dtype();

    /** {@code (z - shift_factor) * scaling_factor}: what the denoiser of the pipeline was trained on. */
    default Tensor toDiffusionLatent(Tensor latent) {
        AutoencoderConfig c = config();
        return (c.shiftFactor() == 0 ? latent : latent.add(-c.shiftFactor())).mul(c.scalingFactor());
    }

    /** {@code z / scaling_factor + shift_factor}, as diffusers' pipelines prepare latents for {@code decode}. */
    default Tensor fromDiffusionLatent(Tensor latent) {
        AutoencoderConfig c = config();
        Tensor z = latent.div(c.scalingFactor());
        return c.shiftFactor() == 0 ? z : z.add(c.shiftFactor());
    }

    /** Checks an image batch before encoding: 4-d, {@code in_channels}, sides a multiple of the downsampling factor. */
    default void checkImage(Tensor image) {
        AutoencoderConfig c = config();
        long[] s = image.shape();
        int f = c.downsamplingFactor();
        if (s.length != 4 || s[1] != c.inChannels()) {
            throw new IllegalArgumentException(c.kind().className() + " encodes images [B, " + c.inChannels()
                    + ", H, W], got " + image.describe());
        }
        if (s[2] % f != 0 || s[3] % f != 0) {
            throw new IllegalArgumentException("image size " + s[2] + "x" + s[3] + " is not a multiple of the "
                    + c.kind().className() + "'s downsampling factor " + f + " (resize or crop it to a multiple of "
                    + f + ")");
        }
    }

    /** Checks a latent batch before decoding: 4-d with the latent's channels. */
    default void checkLatent(Tensor latent, long channels) {
        long[] s = latent.shape();
        if (s.length != 4 || s[1] != channels) {
            throw new IllegalArgumentException(config().kind().className() + " decodes latents [B, " + channels
                    + ", h, w], got " + latent.describe());
        }
    }

    @Override
    void close();
}
