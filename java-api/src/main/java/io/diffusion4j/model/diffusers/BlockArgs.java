package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;

/**
 * What {@code get_down_block}/{@code get_up_block} pass to a block of a UNet2DModel: where it lives ({@code path}),
 * its channels ({@code prevOut}: the channels coming up from below, up blocks only), the time embedding width and
 * the config's resnet/attention settings. {@code resample} says whether the block ends with a down/upsampler and
 * of which type ({@code conv} or {@code resnet}; null for none).
 */
record BlockArgs(NnModule net, String path, int numLayers, int in, int out, int prevOut, int temb, double eps,
                 int groups, int attentionHeadDim, boolean scaleShift, int downsamplePadding, String resample) {

    ResnetBlock2D resnet(int index, int in, int out) {
        return new ResnetBlock2D(net, path + ".resnets." + index, in, out, temb, eps, groups, groups, scaleShift, 1.0,
                ResnetBlock2D.Resample.NONE);
    }

    Attention attention(int index) {
        return new Attention(net, path + ".attentions." + index, out, attentionHeadDim, groups, eps, 1.0);
    }
}
