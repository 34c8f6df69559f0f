package io.diffusion4j.pipeline.latent;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.diffusers.autoencoder.Autoencoder;
import io.diffusion4j.model.diffusers.autoencoder.AutoencoderKL;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;

/**
 * Latent diffusion (Rombach et al. 2022): a {@link DiffusionPipeline} that samples in an autoencoder's latent space,
 * then decodes ({@code z / scaling_factor + shift_factor}, then the decoder), as diffusers' LDMPipeline does. img2img
 * and inpainting go through {@link #encodeImage} and {@link #latentMask}: the input image is encoded with the
 * posterior mean (deterministic, so a seed means the same result; the posterior's spread is small next to the noise
 * that img2img adds), the mask is downsampled to the latent size with nearest-neighbour sampling, and the pixel
 * pipeline's inpainting blend then runs on latents, as diffusers' legacy inpaint pipeline blends.
 *
 * <p>The scheduler and the pipeline know nothing of the autoencoder: they only ever see latents.
 */
public final class LatentDiffusionPipeline implements AutoCloseable {
    private final DiffusionPipeline pipeline;
    private final Autoencoder autoencoder;
    private final boolean tiledDecoding;

    /** A generated batch: the final latent (what the denoiser produced, scaled) and its decoded images. */
    public record Result(Tensor latent, Tensor images) {
    }

    /**
     * @param denoiser      the latent denoiser (borrowed)
     * @param latentShape   one latent without the batch dimension
     * @param autoencoder   borrowed: the caller closes it
     * @param tiledDecoding decode an AutoencoderKL's latents tile by tile (diffusers' {@code enable_tiling})
     */
    public LatentDiffusionPipeline(Denoiser denoiser, Scheduler scheduler, long[] latentShape, Autoencoder autoencoder,
                                   boolean tiledDecoding) {
        if (latentShape != null && (latentShape.length != 3
                || latentShape[0] != autoencoder.config().diffusionChannels())) {
            throw new IllegalArgumentException("the latent shape " + java.util.Arrays.toString(latentShape)
                    + " does not fit the " + autoencoder.config().kind().className() + " (latents of "
                    + autoencoder.config().diffusionChannels() + " channels, [C, h, w])");
        }
        this.pipeline = new DiffusionPipeline(denoiser, scheduler, latentShape);
        this.autoencoder = autoencoder;
        this.tiledDecoding = tiledDecoding;
    }

    public DiffusionPipeline latentPipeline() {
        return pipeline;
    }

    public Autoencoder autoencoder() {
        return autoencoder;
    }

    /** Samples latents for {@code request} (its image and mask, if any, already in latent space) and decodes them. */
    public Result generate(GenerationRequest request) {
        Tensor latent = pipeline.generate(request);
        return new Result(latent, decode(latent));
    }

    /** The images of scaled latents {@code [B, C, h, w]}. */
    public Tensor decode(Tensor latent) {
        try (InferenceGuard inference = Torch.inferenceMode()) {
            Tensor z = autoencoder.fromDiffusionLatent(latent);
            Tensor image = tiledDecoding && autoencoder instanceof AutoencoderKL kl ? kl.decodeTiled(z)
                    : autoencoder.decode(z);
            return image.to(DType.FLOAT32);
        }
    }

    /**
     * The scaled latent of images {@code [B, C, H, W]} in [-1, 1] (the posterior mean for an AutoencoderKL).
     *
     * @throws IllegalArgumentException when the size is not a multiple of the autoencoder's downsampling factor
     */
    public Tensor encodeImage(Tensor image) {
        try (InferenceGuard inference = Torch.inferenceMode()) {
            return autoencoder.toDiffusionLatent(autoencoder.encode(image)).to(DType.FLOAT32);
        }
    }

    /**
     * A pixel mask {@code [B or 1, 1 or C, H, W]} (1 = repaint) at the latent's size {@code [B or 1, 1, H / f, W / f]}:
     * nearest-neighbour at each f x f block's centre pixel {@code i * f + f / 2}, where PIL's NEAREST resize (diffusers'
     * legacy inpaint pipeline) samples it.
     */
    public Tensor latentMask(Tensor mask) {
        int f = autoencoder.config().downsamplingFactor();
        long[] s = mask.shape();
        if (s.length != 4 || s[2] % f != 0 || s[3] % f != 0) {
            throw new IllegalArgumentException("mask " + mask.describe() + " must be [B, C, H, W] with H and W "
                    + "multiples of the downsampling factor " + f);
        }
        Tensor m = mask.narrow(1, 0, 1);
        long h = s[2] / f;
        long w = s[3] / f;
        // PIL NEAREST for an integer factor f samples source pixel floor((i + 0.5) * f) = i * f + f / 2
        Tensor rows = Tensor.fromLongs(indices(h, f), h).to(m.device());
        Tensor cols = Tensor.fromLongs(indices(w, f), w).to(m.device());
        Tensor small = m.indexSelect(2, rows).indexSelect(3, cols);
        return small.contiguous();
    }

    private static long[] indices(long n, int f) {
        long[] out = new long[(int) n];
        for (int i = 0; i < n; i++) {
            out[i] = (long) i * f + f / 2;
        }
        return out;
    }

    @Override
    public void close() {
        pipeline.close();
    }
}
