package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/** diffusers' {@code TimestepEmbedding}: {@code linear_2(silu(linear_1(x)))}. */
final class TimestepEmbedding {
    private final NnModule.Layer linear1;
    private final NnModule.Layer linear2;

    TimestepEmbedding(NnModule net, String path, int in, int dim) {
        linear1 = net.linear(path + ".linear_1", in, dim);
        linear2 = net.linear(path + ".linear_2", dim, dim);
    }

    Tensor forward(Tensor x) {
        return linear2.forward(linear1.forward(x).silu());
    }
}
