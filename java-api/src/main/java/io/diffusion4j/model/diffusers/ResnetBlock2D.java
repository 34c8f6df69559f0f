package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/**
 * diffusers' {@code ResnetBlock2D} (pre-norm, SiLU): {@code norm1, conv1, time_emb_proj, norm2, conv2} and a 1x1
 * {@code conv_shortcut} when the channels change. The time embedding is added before {@code norm2} ("default") or
 * scales and shifts its output ("scale_shift"); {@code up}/{@code down} resample both branches after {@code norm1}
 * (nearest 2x / 2x2 average pooling, or the FIR kernels of {@link Fir} in the skip blocks). With {@code temb} 0
 * (diffusers' {@code temb_channels=None}, the autoencoders' blocks) there is no {@code time_emb_proj} and the forward
 * takes no time embedding.
 */
final class ResnetBlock2D {
    enum Resample { NONE, UP, DOWN, FIR_UP, FIR_DOWN }

    private final NnModule.Layer norm1;
    private final NnModule.Layer conv1;
    private final NnModule.Layer timeEmbProj;
    private final NnModule.Layer norm2;
    private final NnModule.Layer conv2;
    private final NnModule.Layer convShortcut;
    private final boolean scaleShift;
    private final double outputScaleFactor;
    private final Resample resample;

    ResnetBlock2D(NnModule net, String path, int in, int out, int temb, double eps, int groups, int groupsOut,
                  boolean scaleShift, double outputScaleFactor, Resample resample) {
        this(net, path, in, out, temb, eps, groups, groupsOut, scaleShift, outputScaleFactor, resample, in != out);
    }

    /** {@code useInShortcut}: a 1x1 {@code conv_shortcut} even when the channels stay (the skip blocks' resamplers). */
    ResnetBlock2D(NnModule net, String path, int in, int out, int temb, double eps, int groups, int groupsOut,
                  boolean scaleShift, double outputScaleFactor, Resample resample, boolean useInShortcut) {
        norm1 = net.groupNorm(path + ".norm1", groups, in, eps);
        conv1 = net.conv2d(path + ".conv1", in, out, 3, 1, 1);
        timeEmbProj = temb > 0 ? net.linear(path + ".time_emb_proj", temb, scaleShift ? 2L * out : out) : null;
        norm2 = net.groupNorm(path + ".norm2", groupsOut, out, eps);
        conv2 = net.conv2d(path + ".conv2", out, out, 3, 1, 1);
        convShortcut = useInShortcut ? net.conv2d(path + ".conv_shortcut", in, out, 1, 1, 0) : null;
        this.scaleShift = scaleShift;
        this.outputScaleFactor = outputScaleFactor;
        this.resample = resample;
    }

    Tensor forward(Tensor input, Tensor temb) {
        Tensor h = norm1.forward(input).silu();
        if (resample == Resample.UP) {
            input = input.upsampleNearest(2);
            h = h.upsampleNearest(2);
        } else if (resample == Resample.DOWN) {
            input = input.avgPool2d(2);
            h = h.avgPool2d(2);
        } else if (resample == Resample.FIR_UP) {
            input = Fir.up(input);
            h = Fir.up(h);
        } else if (resample == Resample.FIR_DOWN) {
            input = Fir.down(input);
            h = Fir.down(h);
        }
        h = conv1.forward(h);
        if (timeEmbProj == null) {
            h = norm2.forward(h);
        } else if (scaleShift) {
            Tensor t = timeEmbProj.forward(temb.silu()).unsqueeze(2).unsqueeze(3);
            java.util.List<Tensor> ss = t.chunk(2, 1);
            h = norm2.forward(h).mul(ss.get(0).add(1.0)).add(ss.get(1));
        } else {
            h = norm2.forward(h.add(timeEmbProj.forward(temb.silu()).unsqueeze(2).unsqueeze(3)));
        }
        h = conv2.forward(h.silu());
        if (convShortcut != null) {
            input = convShortcut.forward(input);
        }
        return input.add(h).div(outputScaleFactor);
    }
}
