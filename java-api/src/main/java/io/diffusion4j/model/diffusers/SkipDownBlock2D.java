package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code SkipDownBlock2D} and, with {@code attention}, {@code AttnSkipDownBlock2D} (score-SDE): resnets
 * scaled by {@code sqrt(2)} with {@code min(channels / 4, 32)} groups (attention with 32 groups after each), then
 * {@code resnet_down} (FIR downsampling, 1x1 shortcut) plus {@code skip_conv} (1x1 from the 3-channel skip branch,
 * which {@code downsamplers.0}, a parameter-free FIR filter, halves).
 */
final class SkipDownBlock2D implements DownBlock {
    static final double SQRT2 = Math.sqrt(2.0);

    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Attention> attentions = new ArrayList<>();
    private final ResnetBlock2D resnetDown;
    private final NnModule.Layer skipConv;

    SkipDownBlock2D(BlockArgs a, boolean attention) {
        for (int i = 0; i < a.numLayers(); i++) {
            int in = i == 0 ? a.in() : a.out();
            resnets.add(new ResnetBlock2D(a.net(), a.path() + ".resnets." + i, in, a.out(), a.temb(), a.eps(),
                    Math.min(in / 4, 32), Math.min(a.out() / 4, 32), a.scaleShift(), SQRT2,
                    ResnetBlock2D.Resample.NONE));
            if (attention) {
                attentions.add(new Attention(a.net(), a.path() + ".attentions." + i, a.out(), a.attentionHeadDim(), 32,
                        a.eps(), SQRT2));
            }
        }
        if (a.resample() != null) {
            int g = Math.min(a.out() / 4, 32);
            resnetDown = new ResnetBlock2D(a.net(), a.path() + ".resnet_down", a.out(), a.out(), a.temb(), a.eps(), g,
                    g, a.scaleShift(), SQRT2, ResnetBlock2D.Resample.FIR_DOWN, true);
            skipConv = a.net().conv2d(a.path() + ".skip_conv", 3, a.out(), 1, 1, 0);
        } else {
            resnetDown = null;
            skipConv = null;
        }
    }

    @Override
    public Tensor forward(Tensor h, Tensor temb, List<Tensor> residuals, Skip skip) {
        for (int i = 0; i < resnets.size(); i++) {
            h = resnets.get(i).forward(h, temb);
            if (!attentions.isEmpty()) {
                h = attentions.get(i).forward(h);
            }
            residuals.add(h);
        }
        if (resnetDown != null) {
            h = resnetDown.forward(h, temb);
            skip.sample = Fir.down(skip.sample);
            h = skipConv.forward(skip.sample).add(h);
            residuals.add(h);
        }
        return h;
    }
}
