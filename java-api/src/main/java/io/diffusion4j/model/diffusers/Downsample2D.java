package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/**
 * diffusers' {@code Downsample2D} with a convolution (registered as {@code conv}, the blocks' {@code name="op"}):
 * a 3x3 stride-2 conv; with {@code padding} 0 the input is first padded by one pixel on the right and bottom.
 */
final class Downsample2D {
    private final NnModule.Layer conv;
    private final int padding;

    Downsample2D(NnModule net, String path, int channels, int out, int padding) {
        conv = net.conv2d(path + ".conv", channels, out, 3, 2, padding);
        this.padding = padding;
    }

    Tensor forward(Tensor x) {
        return conv.forward(padding == 0 ? x.pad2d(0, 1, 0, 1) : x);
    }
}
