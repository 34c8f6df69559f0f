package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code AutoencoderTiny} (TAESD, Bohan 2023): a small convolutional encoder and decoder of
 * {@code AutoencoderTinyBlock}s (3x3 conv, ReLU, 3x3 conv, ReLU, 3x3 conv, plus the input, ReLU) with diffusers'
 * {@code nn.Sequential} parameter names ({@code encoder.layers.K.conv.0}, ...; activations and upsamplers take indices
 * too). The encoder maps [-1, 1] images to [0, 1] first, the decoder soft-clamps its latent with
 * {@code tanh(z / 3) * 3} and returns {@code 2 x - 1}. It stands in for a large VAE's decoder where speed matters more
 * than fidelity (previews of intermediate latents); {@link #scaleLatents}/{@link #unscaleLatents} are diffusers'
 * {@code latent_magnitude}/{@code latent_shift} mapping to [0, 1] (storing latents as 8-bit images).
 */
public final class AutoencoderTiny implements AutoCloseable {
    private final AutoencoderTinyConfig config;
    private final NnModule net;
    private final List<java.util.function.UnaryOperator<Tensor>> encoder = new ArrayList<>();
    private final List<java.util.function.UnaryOperator<Tensor>> decoder = new ArrayList<>();

    public AutoencoderTiny(AutoencoderTinyConfig config, Device device) {
        this.config = config;
        net = new NnModule("AutoencoderTiny", device);
        try {
            int[] ch = config.encoderBlockOutChannels();
            int[] blocks = config.numEncoderBlocks();
            int k = 0;
            for (int i = 0; i < ch.length; i++) {
                NnModule.Layer conv = i == 0 ? net.conv2d("encoder.layers." + k++, config.inChannels(), ch[0], 3, 1, 1)
                        : net.conv2d("encoder.layers." + k++, ch[i], ch[i], 3, 2, 1, false);
                encoder.add(conv::forward);
                for (int b = 0; b < blocks[i]; b++) {
                    encoder.add(block("encoder.layers." + k++, ch[i]));
                }
            }
            NnModule.Layer out = net.conv2d("encoder.layers." + k, ch[ch.length - 1], config.latentChannels(), 3, 1, 1);
            encoder.add(out::forward);

            ch = config.decoderBlockOutChannels();
            blocks = config.numDecoderBlocks();
            NnModule.Layer in = net.conv2d("decoder.layers.0", config.latentChannels(), ch[0], 3, 1, 1);
            decoder.add(in::forward);
            decoder.add(Tensor::relu);   // decoder.layers.1
            k = 2;
            for (int i = 0; i < ch.length; i++) {
                boolean last = i == ch.length - 1;
                for (int b = 0; b < blocks[i]; b++) {
                    decoder.add(block("decoder.layers." + k++, ch[i]));
                }
                if (!last) {
                    int f = config.upsamplingScalingFactor();
                    decoder.add(x -> x.upsampleNearest(f));
                    k++;
                }
                NnModule.Layer conv = net.conv2d("decoder.layers." + k++, ch[i], last ? config.outChannels() : ch[i],
                        3, 1, 1, last);
                decoder.add(conv::forward);
            }
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

    /** An AutoencoderTinyBlock of equal in/out channels (no {@code skip} conv): relu(conv(x) + x). */
    private java.util.function.UnaryOperator<Tensor> block(String path, int c) {
        NnModule.Layer c0 = net.conv2d(path + ".conv.0", c, c, 3, 1, 1);
        NnModule.Layer c2 = net.conv2d(path + ".conv.2", c, c, 3, 1, 1);
        NnModule.Layer c4 = net.conv2d(path + ".conv.4", c, c, 3, 1, 1);
        return x -> c4.forward(c2.forward(c0.forward(x).relu()).relu()).add(x).relu();
    }

    /** Loads {@code dir} ({@code config.json} + weights). */
    public static AutoencoderTiny load(Path dir, Device device) throws IOException {
        Path cfg = dir.resolve(AutoencoderConfig.FILE_NAME);
        AutoencoderTinyConfig c = AutoencoderTinyConfig.fromJson(Files.readString(cfg), cfg.toString());
        AutoencoderTiny m = new AutoencoderTiny(c, device);
        try {
            AutoencoderWeights.load(m.net, Autoencoders.weights(dir));
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public AutoencoderTinyConfig config() {
        return config;
    }

    /** The latent of images in [-1, 1] (diffusers' {@code encode().latents}). */
    public Tensor encode(Tensor image) {
        int f = config.downsamplingFactor();
        long[] s = image.shape();
        if (s.length != 4 || s[1] != config.inChannels() || s[2] % f != 0 || s[3] % f != 0) {
            throw new IllegalArgumentException("AutoencoderTiny encodes images [B, " + config.inChannels()
                    + ", H, W] with H and W multiples of " + f + ", got " + image.describe());
        }
        Tensor x = image.to(DType.FLOAT32).add(1.0).div(2.0);
        for (var layer : encoder) {
            x = layer.apply(x);
        }
        return x;
    }

    /** The image in [-1, 1] of a latent (diffusers' {@code decode().sample}). */
    public Tensor decode(Tensor latent) {
        if (latent.dim() != 4 || latent.size(1) != config.latentChannels()) {
            throw new IllegalArgumentException("AutoencoderTiny decodes latents [B, " + config.latentChannels()
                    + ", h, w], got " + latent.describe());
        }
        Tensor x = latent.to(DType.FLOAT32).div(3.0).tanh().mul(3.0);
        for (var layer : decoder) {
            x = layer.apply(x);
        }
        return x.mul(2.0).add(-1.0);
    }

    /** {@code (x / (2 latent_magnitude) + latent_shift).clamp(0, 1)}. */
    public Tensor scaleLatents(Tensor x) {
        return x.div(2 * config.latentMagnitude()).add(config.latentShift()).clamp(0, 1);
    }

    /** {@code (x - latent_shift) * 2 latent_magnitude}. */
    public Tensor unscaleLatents(Tensor x) {
        return x.add(-config.latentShift()).mul(2 * config.latentMagnitude());
    }

    public Device device() {
        return net.device();
    }

    @Override
    public void close() {
        net.close();
    }
}
