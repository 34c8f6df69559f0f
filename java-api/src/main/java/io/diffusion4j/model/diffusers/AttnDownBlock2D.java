package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code AttnDownBlock2D}: {@code resnets.i} each followed by {@code attentions.i}, then
 * {@code downsamplers.0}: a conv ({@code downsample_type} conv) or a ResnetBlock2D that average-pools (resnet).
 */
final class AttnDownBlock2D implements DownBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Attention> attentions = new ArrayList<>();
    private final Downsample2D convDown;
    private final ResnetBlock2D resnetDown;

    AttnDownBlock2D(BlockArgs a) {
        for (int i = 0; i < a.numLayers(); i++) {
            resnets.add(a.resnet(i, i == 0 ? a.in() : a.out(), a.out()));
            attentions.add(a.attention(i));
        }
        String p = a.path() + ".downsamplers.0";
        convDown = "conv".equals(a.resample())
                ? new Downsample2D(a.net(), p, a.out(), a.out(), a.downsamplePadding()) : null;
        resnetDown = "resnet".equals(a.resample())
                ? new ResnetBlock2D(a.net(), p, a.out(), a.out(), a.temb(), a.eps(), a.groups(), a.groups(),
                        a.scaleShift(), 1.0, ResnetBlock2D.Resample.DOWN) : null;
    }

    @Override
    public Tensor forward(Tensor h, Tensor temb, List<Tensor> residuals, Skip skip) {
        for (int i = 0; i < resnets.size(); i++) {
            h = attentions.get(i).forward(resnets.get(i).forward(h, temb));
            residuals.add(h);
        }
        if (convDown != null || resnetDown != null) {
            h = convDown != null ? convDown.forward(h) : resnetDown.forward(h, temb);
            residuals.add(h);
        }
        return h;
    }
}
