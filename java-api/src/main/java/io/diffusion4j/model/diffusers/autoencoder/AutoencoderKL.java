package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.io.IOException;
import java.nio.file.Path;

/**
 * diffusers' {@code AutoencoderKL} built from its {@link AutoencoderConfig}, under diffusers' parameter names:
 * {@code encoder.*}, {@code quant_conv} (1x1, when {@code use_quant_conv}), the {@link DiagonalGaussian} posterior,
 * {@code post_quant_conv} (when {@code use_post_quant_conv}), {@code decoder.*}. Under {@code force_upcast} the weights
 * stay float32 whatever dtype is asked, as diffusers' pipelines upcast such a VAE; inputs are cast to the weights'
 * dtype and results come back in it.
 *
 * <p>{@link #decodeTiled} is diffusers' {@code tiled_decode} ({@code enable_tiling}).
 */
public final class AutoencoderKL implements Autoencoder {
    private final AutoencoderConfig config;
    private final NnModule net;
    private final Encoder encoder;
    private final NnModule.Layer quantConv;
    private final NnModule.Layer postQuantConv;
    private final Decoder decoder;
    private DType dtype = DType.FLOAT32;

    /** A new model with LibTorch's default initialisation (float32). */
    public AutoencoderKL(AutoencoderConfig config, Device device) {
        if (config.kind() != AutoencoderConfig.Kind.AUTOENCODER_KL) {
            throw new IllegalArgumentException("an AutoencoderKL needs an AutoencoderKL config, got "
                    + config.kind().className());
        }
        this.config = config;
        net = new NnModule("AutoencoderKL", device);
        try {
            int z = config.latentChannels();
            encoder = new Encoder(net, "encoder", config, true);
            decoder = new Decoder(net, "decoder", config);
            quantConv = config.useQuantConv() ? net.conv2d("quant_conv", 2L * z, 2L * z, 1, 1, 0) : null;
            postQuantConv = config.usePostQuantConv() ? net.conv2d("post_quant_conv", z, z, 1, 1, 0) : null;
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

    /**
     * The model of {@code config} with the weights of {@code weights} (safetensors or a state-dict pickle), in
     * {@code dtype} (float32 under {@code force_upcast}).
     *
     * @throws IllegalArgumentException naming the missing, unexpected or mis-shaped tensor
     */
    public static AutoencoderKL load(AutoencoderConfig config, Path weights, Device device, DType dtype)
            throws IOException {
        AutoencoderKL m = new AutoencoderKL(config, device);
        try {
            AutoencoderWeights.load(m.net, weights);
            if (dtype != DType.FLOAT32 && !config.forceUpcast()) {
                m.net.to(dtype);
                m.dtype = dtype;
            }
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    @Override
    public AutoencoderConfig config() {
        return config;
    }

    /** The posterior of {@code image}: encoder, then {@code quant_conv}. */
    public DiagonalGaussian posterior(Tensor image) {
        checkImage(image);
        Tensor h = encoder.forward(image.to(dtype));
        return DiagonalGaussian.of(quantConv == null ? h : quantConv.forward(h));
    }

    /** The posterior mean (deterministic; what img2img and training encode with). */
    @Override
    public Tensor encode(Tensor image) {
        return posterior(image).mean();
    }

    @Override
    public Tensor decode(Tensor latent) {
        checkLatent(latent, config.latentChannels());
        Tensor z = latent.to(dtype);
        return decoder.forward(postQuantConv == null ? z : postQuantConv.forward(z));
    }

    /**
     * diffusers' {@code tiled_decode}: latent tiles of {@code sample_size / f} with a quarter overlap, each decoded
     * alone, blended linearly over a quarter of the image tile with the tile above and the tile to the left, cropped
     * to three quarters and joined. Only one row of decoded tiles is held at a time, so native memory is bounded by
     * one tile's decode plus the output. Latents no larger than one tile are decoded whole, as diffusers does.
     */
    public Tensor decodeTiled(Tensor latent) {
        checkLatent(latent, config.latentChannels());
        int latentTile = config.sampleSize() / config.downsamplingFactor();
        if (latent.size(2) <= latentTile && latent.size(3) <= latentTile) {
            return decode(latent);
        }
        return TiledDecoding.decode(latent, latentTile, config.sampleSize(), this::decode);
    }

    /** The native network (its layers and parameters). */
    public NnModule network() {
        return net;
    }

    @Override
    public Device device() {
        return net.device();
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public void close() {
        net.close();
    }
}
