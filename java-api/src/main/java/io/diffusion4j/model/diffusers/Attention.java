package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/**
 * diffusers' {@code Attention} as the UNet2D blocks build it (self-attention over the pixels, {@code group_norm}
 * optional, {@code to_q/to_k/to_v/to_out.0} with biases, residual connection, {@code rescale_output_factor},
 * softmax upcast to float32), in the order of diffusers' {@code AttnProcessor}: scores {@code scale * q k^T}
 * (its {@code baddbmm} with beta 0), softmax, {@code probs v}.
 */
final class Attention {
    private final NnModule.Layer groupNorm;
    private final NnModule.Layer toQ;
    private final NnModule.Layer toK;
    private final NnModule.Layer toV;
    private final NnModule.Layer toOut;
    private final int heads;
    private final double scale;
    private final double rescaleOutputFactor;

    Attention(NnModule net, String path, int channels, int headDim, Integer groups, double eps,
              double rescaleOutputFactor) {
        if (headDim < 1 || channels % headDim != 0) {
            throw new IllegalArgumentException(path + ": attention_head_dim " + headDim + " does not divide "
                    + channels + " channels");
        }
        heads = channels / headDim;
        int inner = heads * headDim;
        groupNorm = groups == null ? null : net.groupNorm(path + ".group_norm", groups, channels, eps);
        toQ = net.linear(path + ".to_q", channels, inner);
        toK = net.linear(path + ".to_k", channels, inner);
        toV = net.linear(path + ".to_v", channels, inner);
        toOut = net.linear(path + ".to_out.0", inner, channels);
        scale = Math.pow(headDim, -0.5);
        this.rescaleOutputFactor = rescaleOutputFactor;
    }

    Tensor forward(Tensor x) {
        long[] s = x.shape();
        long b = s[0];
        long c = s[1];
        long n = s[2] * s[3];
        Tensor h = x.reshape(b, c, n).transpose(1, 2);
        if (groupNorm != null) {
            h = groupNorm.forward(h.transpose(1, 2)).transpose(1, 2);
        }
        Tensor q = headsToBatch(toQ.forward(h), b, n);
        Tensor k = headsToBatch(toK.forward(h), b, n);
        Tensor v = headsToBatch(toV.forward(h), b, n);
        DType dtype = q.dtype();
        Tensor probs = q.matmul(k.transpose(1, 2)).mul(scale).to(DType.FLOAT32).softmax(-1).to(dtype);
        Tensor o = probs.matmul(v);
        long d = o.size(2);
        o = o.reshape(b, heads, n, d).permute(0, 2, 1, 3).reshape(b, n, heads * d);
        o = toOut.forward(o).transpose(1, 2).reshape(s);
        return o.add(x).div(rescaleOutputFactor);
    }

    private Tensor headsToBatch(Tensor t, long b, long n) {
        long d = t.size(2) / heads;
        return t.reshape(b, n, heads, d).permute(0, 2, 1, 3).reshape(b * heads, n, d);
    }
}
