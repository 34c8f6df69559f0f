package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code UpBlock2D}: {@code resnets.i} on {@code cat(hidden, residual)}, then a conv {@code upsamplers.0}
 * unless it is the last block.
 */
final class UpBlock2D implements UpBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler;

    UpBlock2D(BlockArgs a) {
        for (int i = 0; i < a.numLayers(); i++) {
            resnets.add(a.resnet(i, upInput(a, i), a.out()));
        }
        upsampler = a.resample() == null ? null : new Upsample2D(a.net(), a.path() + ".upsamplers.0", a.out(), a.out());
    }

    /** The input channels of up-block resnet {@code i}: what comes from below (or before) plus its residual. */
    static int upInput(BlockArgs a, int i) {
        int skip = i == a.numLayers() - 1 ? a.in() : a.out();
        return (i == 0 ? a.prevOut() : a.out()) + skip;
    }

    @Override
    public int resnetCount() {
        return resnets.size();
    }

    @Override
    public Tensor forward(Tensor h, List<Tensor> residuals, Tensor temb, DownBlock.Skip skip) {
        for (int i = 0; i < resnets.size(); i++) {
            h = resnets.get(i).forward(Tensor.cat(List.of(h, residuals.get(residuals.size() - 1 - i)), 1), temb);
        }
        return upsampler != null ? upsampler.forward(h) : h;
    }
}
