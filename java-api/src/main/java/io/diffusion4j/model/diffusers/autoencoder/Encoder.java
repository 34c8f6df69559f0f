package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.diffusers.DownEncoderBlock2D;
import io.diffusion4j.model.diffusers.UNetMidBlock2D;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code Encoder} (autoencoders/vae.py) under {@code encoder.*}: {@code conv_in}, one DownEncoderBlock2D per
 * entry of {@code block_out_channels} (downsampling with padding 0 after all but the last), the mid block (one-head
 * attention over all pixels unless {@code mid_block_add_attention} is false), GroupNorm + SiLU, {@code conv_out} to
 * {@code 2 * latent_channels} ({@code double_z}: mean and log-variance) or {@code latent_channels}. eps 1e-6 throughout.
 */
final class Encoder {
    static final double EPS = 1e-6;
    private final NnModule.Layer convIn;
    private final List<DownEncoderBlock2D> downBlocks = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final NnModule.Layer convNormOut;
    private final NnModule.Layer convOut;

    Encoder(NnModule net, String path, AutoencoderConfig c, boolean doubleZ) {
        int[] ch = c.blockOutChannels();
        int groups = c.normNumGroups();
        convIn = net.conv2d(path + ".conv_in", c.inChannels(), ch[0], 3, 1, 1);
        int out = ch[0];
        for (int i = 0; i < ch.length; i++) {
            int in = out;
            out = ch[i];
            downBlocks.add(new DownEncoderBlock2D(net, path + ".down_blocks." + i, c.layersPerBlock(), in, out, EPS,
                    groups, i < ch.length - 1, 0));
        }
        int last = ch[ch.length - 1];
        midBlock = new UNetMidBlock2D(net, path + ".mid_block", last, 0, EPS, groups, null, last, false,
                c.midBlockAddAttention(), 1.0);
        convNormOut = net.groupNorm(path + ".conv_norm_out", groups, last, EPS);
        convOut = net.conv2d(path + ".conv_out", last, doubleZ ? 2L * c.latentChannels() : c.latentChannels(), 3, 1, 1);
    }

    Tensor forward(Tensor x) {
        Tensor h = convIn.forward(x);
        for (DownEncoderBlock2D d : downBlocks) {
            h = d.forward(h);
        }
        h = midBlock.forward(h, null);
        return convOut.forward(convNormOut.forward(h).silu());
    }
}
