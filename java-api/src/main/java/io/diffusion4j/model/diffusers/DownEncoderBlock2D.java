package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code DownEncoderBlock2D} (the autoencoders' encoder blocks): {@code resnets.*} without a time
 * embedding, then a conv {@code downsamplers.0} (padding 0: padded right and bottom first) unless it is the last block.
 */
public final class DownEncoderBlock2D {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler;

    public DownEncoderBlock2D(NnModule net, String path, int numLayers, int in, int out, double eps, int groups,
                              boolean addDownsample, int downsamplePadding) {
        for (int i = 0; i < numLayers; i++) {
            resnets.add(new ResnetBlock2D(net, path + ".resnets." + i, i == 0 ? in : out, out, 0, eps, groups, groups,
                    false, 1.0, ResnetBlock2D.Resample.NONE));
        }
        downsampler = addDownsample ? new Downsample2D(net, path + ".downsamplers.0", out, out, downsamplePadding)
                : null;
    }

    public Tensor forward(Tensor h) {
        for (ResnetBlock2D r : resnets) {
            h = r.forward(h, null);
        }
        return downsampler == null ? h : downsampler.forward(h);
    }
}
