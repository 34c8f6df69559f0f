package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code SkipUpBlock2D} and, with {@code attention}, {@code AttnSkipUpBlock2D} (score-SDE): resnets on
 * {@code cat(hidden, residual)} scaled by {@code sqrt(2)} (one attention after all of them), the skip branch
 * FIR-upsampled ({@code upsampler}, no parameters) plus {@code skip_conv(silu(skip_norm(h)))} to 3 channels, then
 * {@code resnet_up} (FIR upsampling, 1x1 shortcut). The resnets' input groups follow diffusers exactly, including
 * AttnSkipUpBlock2D's {@code min(in + skip / 4, 32)}.
 */
final class SkipUpBlock2D implements UpBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Attention attention;
    private final ResnetBlock2D resnetUp;
    private final NnModule.Layer skipNorm;
    private final NnModule.Layer skipConv;

    SkipUpBlock2D(BlockArgs a, boolean withAttention) {
        for (int i = 0; i < a.numLayers(); i++) {
            int skipChannels = i == a.numLayers() - 1 ? a.in() : a.out();
            int resnetIn = i == 0 ? a.prevOut() : a.out();
            int groups = withAttention ? Math.min(resnetIn + skipChannels / 4, 32)
                    : Math.min((resnetIn + skipChannels) / 4, 32);
            resnets.add(new ResnetBlock2D(a.net(), a.path() + ".resnets." + i, resnetIn + skipChannels, a.out(),
                    a.temb(), a.eps(), groups, Math.min(a.out() / 4, 32), a.scaleShift(), SkipDownBlock2D.SQRT2,
                    ResnetBlock2D.Resample.NONE));
        }
        attention = withAttention ? new Attention(a.net(), a.path() + ".attentions.0", a.out(), a.attentionHeadDim(),
                32, a.eps(), SkipDownBlock2D.SQRT2) : null;
        if (a.resample() != null) {
            int g = Math.min(a.out() / 4, 32);
            resnetUp = new ResnetBlock2D(a.net(), a.path() + ".resnet_up", a.out(), a.out(), a.temb(), a.eps(), g, g,
                    a.scaleShift(), SkipDownBlock2D.SQRT2, ResnetBlock2D.Resample.FIR_UP, true);
            skipConv = a.net().conv2d(a.path() + ".skip_conv", a.out(), 3, 3, 1, 1);
            skipNorm = a.net().groupNorm(a.path() + ".skip_norm", g, a.out(), a.eps());
        } else {
            resnetUp = null;
            skipConv = null;
            skipNorm = null;
        }
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
        if (attention != null) {
            h = attention.forward(h);
        }
        Tensor s = skip.sample != null ? Fir.up(skip.sample) : null;
        if (resnetUp != null) {
            Tensor branch = skipConv.forward(skipNorm.forward(h).silu());
            s = s == null ? branch : s.add(branch);
            h = resnetUp.forward(h, temb);
        }
        skip.sample = s;
        return h;
    }
}
