package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/** diffusers' {@code DownBlock2D}: {@code resnets.*}, then a conv {@code downsamplers.0} unless it is the last block. */
final class DownBlock2D implements DownBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler;

    DownBlock2D(BlockArgs a) {
        for (int i = 0; i < a.numLayers(); i++) {
            resnets.add(a.resnet(i, i == 0 ? a.in() : a.out(), a.out()));
        }
        downsampler = a.resample() == null ? null
                : new Downsample2D(a.net(), a.path() + ".downsamplers.0", a.out(), a.out(), a.downsamplePadding());
    }

    @Override
    public Tensor forward(Tensor h, Tensor temb, List<Tensor> residuals, Skip skip) {
        for (ResnetBlock2D r : resnets) {
            h = r.forward(h, temb);
            residuals.add(h);
        }
        if (downsampler != null) {
            h = downsampler.forward(h);
            residuals.add(h);
        }
        return h;
    }
}
