package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/** diffusers' {@code Upsample2D} with a convolution: nearest-neighbour 2x, then a 3x3 {@code conv}. */
final class Upsample2D {
    private final NnModule.Layer conv;

    Upsample2D(NnModule net, String path, int channels, int out) {
        conv = net.conv2d(path + ".conv", channels, out, 3, 1, 1);
    }

    Tensor forward(Tensor x) {
        return conv.forward(x.upsampleNearest(2));
    }
}
