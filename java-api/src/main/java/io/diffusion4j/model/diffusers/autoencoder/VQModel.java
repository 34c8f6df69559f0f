package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.io.IOException;
import java.nio.file.Path;

/**
 * diffusers' {@code VQModel} built from its {@link AutoencoderConfig}, under diffusers' parameter names:
 * {@code encoder.*} (no double_z), {@code quant_conv} to {@code vq_embed_dim}, the {@link VectorQuantizer}
 * {@code quantize}, {@code post_quant_conv} back to {@code latent_channels}, {@code decoder.*}. {@link #encode} returns
 * the unquantized {@code quant_conv} output (diffusers' {@code encode().latents}); {@link #decode} quantizes first
 * unless told not to ({@code force_not_quantize}).
 */
public final class VQModel implements Autoencoder {
    private final AutoencoderConfig config;
    private final NnModule net;
    private final Encoder encoder;
    private final NnModule.Layer quantConv;
    private final VectorQuantizer quantize;
    private final NnModule.Layer postQuantConv;
    private final Decoder decoder;
    private DType dtype = DType.FLOAT32;

    public VQModel(AutoencoderConfig config, Device device) {
        if (config.kind() != AutoencoderConfig.Kind.VQ_MODEL) {
            throw new IllegalArgumentException("a VQModel needs a VQModel config, got " + config.kind().className());
        }
        this.config = config;
        net = new NnModule("VQModel", device);
        try {
            encoder = new Encoder(net, "encoder", config, false);
            quantConv = net.conv2d("quant_conv", config.latentChannels(), config.vqEmbedDim(), 1, 1, 0);
            quantize = new VectorQuantizer(net, "quantize", config.numVqEmbeddings(), config.vqEmbedDim());
            postQuantConv = net.conv2d("post_quant_conv", config.vqEmbedDim(), config.latentChannels(), 1, 1, 0);
            decoder = new Decoder(net, "decoder", config);
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

    /** The model of {@code config} with the weights of {@code weights}, in {@code dtype} (float32 under force_upcast). */
    public static VQModel load(AutoencoderConfig config, Path weights, Device device, DType dtype) throws IOException {
        VQModel m = new VQModel(config, device);
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

    @Override
    public Tensor encode(Tensor image) {
        checkImage(image);
        return quantConv.forward(encoder.forward(image.to(dtype)));
    }

    /** Quantizes, then decodes (diffusers' {@code decode(h)}). */
    @Override
    public Tensor decode(Tensor latent) {
        return decode(latent, false);
    }

    /**
     * diffusers' {@code decode(h, force_not_quantize)}: with {@code forceNotQuantize} the latent goes to
     * {@code post_quant_conv} as it is ({@code lookup_from_codebook} configs, which decode codebook indices instead,
     * are rejected: pass indices to {@link #decodeIndices}).
     */
    public Tensor decode(Tensor latent, boolean forceNotQuantize) {
        checkLatent(latent, config.vqEmbedDim());
        Tensor h = latent.to(dtype);
        if (forceNotQuantize && config.lookupFromCodebook()) {
            throw new IllegalArgumentException("this VQModel has lookup_from_codebook: decode codebook indices with "
                    + "decodeIndices");
        }
        Tensor quant = forceNotQuantize ? h : quantize.quantize(h);
        return decoder.forward(postQuantConv.forward(quant));
    }

    /** The nearest codebook entry of each latent pixel, {@code [B * h * w]} (diffusers' {@code min_encoding_indices}). */
    public Tensor codebookIndices(Tensor latent) {
        checkLatent(latent, config.vqEmbedDim());
        return quantize.nearest(latent.to(dtype));
    }

    /** Decodes codebook indices laid out as {@code [B, h, w]} (diffusers' {@code get_codebook_entry} path). */
    public Tensor decodeIndices(Tensor indices, long batch, long height, long width) {
        Tensor quant = quantize.lookup(indices, new long[] {batch, config.vqEmbedDim(), height, width});
        return decoder.forward(postQuantConv.forward(quant));
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
