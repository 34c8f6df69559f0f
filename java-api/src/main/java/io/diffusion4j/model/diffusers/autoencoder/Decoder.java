package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.diffusers.UNetMidBlock2D;
import io.diffusion4j.model.diffusers.UpDecoderBlock2D;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code Decoder} (autoencoders/vae.py, {@code norm_type} "group") under {@code decoder.*}: {@code conv_in}
 * from {@code latent_channels} to the last block's channels, the mid block, one UpDecoderBlock2D of
 * {@code layers_per_block + 1} resnets per entry of the reversed {@code block_out_channels} (upsampling after all but
 * the last), GroupNorm + SiLU, {@code conv_out}. eps 1e-6 throughout.
 */
final class Decoder {
    private final NnModule.Layer convIn;
    private final UNetMidBlock2D midBlock;
    private final List<UpDecoderBlock2D> upBlocks = new ArrayList<>();
    private final NnModule.Layer convNormOut;
    private final NnModule.Layer convOut;

    Decoder(NnModule net, String path, AutoencoderConfig c) {
        int[] ch = c.blockOutChannels();
        int groups = c.normNumGroups();
        int last = ch[ch.length - 1];
        convIn = net.conv2d(path + ".conv_in", c.latentChannels(), last, 3, 1, 1);
        midBlock = new UNetMidBlock2D(net, path + ".mid_block", last, 0, Encoder.EPS, groups, null, last, false,
                c.midBlockAddAttention(), 1.0);
        int out = last;
        for (int i = 0; i < ch.length; i++) {
            int prev = out;
            out = ch[ch.length - 1 - i];
            upBlocks.add(new UpDecoderBlock2D(net, path + ".up_blocks." + i, c.layersPerBlock() + 1, prev, out,
                    Encoder.EPS, groups, i < ch.length - 1));
        }
        convNormOut = net.groupNorm(path + ".conv_norm_out", groups, ch[0], Encoder.EPS);
        convOut = net.conv2d(path + ".conv_out", ch[0], c.outChannels(), 3, 1, 1);
    }

    Tensor forward(Tensor z) {
        Tensor h = midBlock.forward(convIn.forward(z), null);
        for (UpDecoderBlock2D u : upBlocks) {
            h = u.forward(h);
        }
        return convOut.forward(convNormOut.forward(h).silu());
    }
}
