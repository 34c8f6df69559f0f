package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * The FIR resampling of score-SDE's skip blocks (diffusers' {@code upfirdn2d_native} with the kernel
 * {@code outer(1,3,3,1) / 64}): {@link #up} inserts zeros between pixels, pads (2, 1) and filters with 4x the kernel
 * ({@code upsample_2d}, {@code FirUpsample2D}); {@link #down} pads (1, 1) and filters with stride 2
 * ({@code downsample_2d}, {@code FirDownsample2D}). Each channel is filtered on its own, as a [B*C, 1, H, W] conv.
 */
final class Fir {
    private static final float[] TAPS = {1, 3, 3, 1};

    private Fir() {
    }

    private static Tensor kernel(float gain, Tensor like) {
        float[] k = new float[16];
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                k[4 * i + j] = TAPS[i] * TAPS[j] / 64f * gain;
            }
        }
        Tensor w = Tensor.fromFloats(k, 1, 1, 4, 4);
        return w.to(like.device(), like.dtype());
    }

    static Tensor up(Tensor x) {
        long[] s = x.shape();
        long b = s[0] * s[1];
        long h = s[2];
        long w = s[3];
        Tensor cols = Tensor.cat(List.of(x.reshape(b, 1, h, w, 1), Tensor.zeros(x.dtype(), x.device(), b, 1, h, w, 1)),
                4).reshape(b, 1, h, 2 * w);
        Tensor rows = Tensor.cat(List.of(cols.unsqueeze(3), Tensor.zeros(x.dtype(), x.device(), b, 1, h, 1, 2 * w)),
                3).reshape(b, 1, 2 * h, 2 * w);
        Tensor out = rows.pad2d(2, 1, 2, 1).conv2d(kernel(4f, x), 1);
        return out.reshape(s[0], s[1], 2 * h, 2 * w);
    }

    static Tensor down(Tensor x) {
        long[] s = x.shape();
        Tensor out = x.reshape(s[0] * s[1], 1, s[2], s[3]).pad2d(1, 1, 1, 1).conv2d(kernel(1f, x), 2);
        return out.reshape(s[0], s[1], out.size(2), out.size(3));
    }
}
