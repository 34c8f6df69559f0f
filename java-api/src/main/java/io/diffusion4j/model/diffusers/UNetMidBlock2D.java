package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/**
 * diffusers' {@code UNetMidBlock2D} with one layer: {@code resnets.0}, {@code attentions.0} (when
 * {@code add_attention}), {@code resnets.1}; all scaled by {@code mid_block_scale_factor}. The attention's group
 * norm has {@code attn_norm_num_groups} groups, or the resnets' groups under the default time scale shift, or none.
 */
public final class UNetMidBlock2D {
    private final ResnetBlock2D first;
    private final Attention attention;
    private final ResnetBlock2D second;

    /** {@code temb} 0: no time embedding (the autoencoders' mid blocks). */
    public UNetMidBlock2D(NnModule net, String path, int channels, int temb, double eps, int groups, Integer attnGroups,
                   int attentionHeadDim, boolean scaleShift, boolean addAttention, double outputScaleFactor) {
        first = new ResnetBlock2D(net, path + ".resnets.0", channels, channels, temb, eps, groups, groups, scaleShift,
                outputScaleFactor, ResnetBlock2D.Resample.NONE);
        Integer g = attnGroups != null ? attnGroups : (scaleShift ? null : Integer.valueOf(groups));
        attention = addAttention ? new Attention(net, path + ".attentions.0", channels, attentionHeadDim, g, eps,
                outputScaleFactor) : null;
        second = new ResnetBlock2D(net, path + ".resnets.1", channels, channels, temb, eps, groups, groups, scaleShift,
                outputScaleFactor, ResnetBlock2D.Resample.NONE);
    }

    /** {@code temb} null when built without a time embedding. */
    public Tensor forward(Tensor h, Tensor temb) {
        h = first.forward(h, temb);
        if (attention != null) {
            h = attention.forward(h);
        }
        return second.forward(h, temb);
    }
}
