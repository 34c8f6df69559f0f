package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code UpDecoderBlock2D} (the autoencoders' decoder blocks): {@code resnets.*} without a time embedding
 * and without skip connections, then a conv {@code upsamplers.0} (nearest 2x + 3x3 conv) unless it is the last block.
 */
public final class UpDecoderBlock2D {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler;

    public UpDecoderBlock2D(NnModule net, String path, int numLayers, int in, int out, double eps, int groups,
                            boolean addUpsample) {
        for (int i = 0; i < numLayers; i++) {
            resnets.add(new ResnetBlock2D(net, path + ".resnets." + i, i == 0 ? in : out, out, 0, eps, groups, groups,
                    false, 1.0, ResnetBlock2D.Resample.NONE));
        }
        upsampler = addUpsample ? new Upsample2D(net, path + ".upsamplers.0", out, out) : null;
    }

    public Tensor forward(Tensor h) {
        for (ResnetBlock2D r : resnets) {
            h = r.forward(h, null);
        }
        return upsampler == null ? h : upsampler.forward(h);
    }
}
