package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code AttnUpBlock2D}: {@code resnets.i} on {@code cat(hidden, residual)} each followed by
 * {@code attentions.i}, then {@code upsamplers.0}: a conv ({@code upsample_type} conv) or a ResnetBlock2D that
 * upsamples (resnet).
 */
final class AttnUpBlock2D implements UpBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Attention> attentions = new ArrayList<>();
    private final Upsample2D convUp;
    private final ResnetBlock2D resnetUp;

    AttnUpBlock2D(BlockArgs a) {
        for (int i = 0; i < a.numLayers(); i++) {
            resnets.add(a.resnet(i, UpBlock2D.upInput(a, i), a.out()));
            attentions.add(a.attention(i));
        }
        String p = a.path() + ".upsamplers.0";
        convUp = "conv".equals(a.resample()) ? new Upsample2D(a.net(), p, a.out(), a.out()) : null;
        resnetUp = "resnet".equals(a.resample())
                ? new ResnetBlock2D(a.net(), p, a.out(), a.out(), a.temb(), a.eps(), a.groups(), a.groups(),
                        a.scaleShift(), 1.0, ResnetBlock2D.Resample.UP) : null;
    }

    @Override
    public int resnetCount() {
        return resnets.size();
    }

    @Override
    public Tensor forward(Tensor h, List<Tensor> residuals, Tensor temb, DownBlock.Skip skip) {
        for (int i = 0; i < resnets.size(); i++) {
            h = resnets.get(i).forward(Tensor.cat(List.of(h, residuals.get(residuals.size() - 1 - i)), 1), temb);
            h = attentions.get(i).forward(h);
        }
        if (convUp != null) {
            return convUp.forward(h);
        }
        return resnetUp != null ? resnetUp.forward(h, temb) : h;
    }
}
