package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * diffusers' {@code GaussianFourierProjection} as UNet2DModel builds it (log input, sin before cos): a fixed random
 * {@code weight} of {@code size} frequencies (a parameter without gradient), {@code x = log(t)[:, None] * weight * 2 *
 * pi}, {@code cat(sin x, cos x)}.
 */
final class GaussianFourierProjection {
    private final Tensor weight;

    GaussianFourierProjection(NnModule net, String path, int size) {
        weight = net.parameter(path + ".weight", false, size);
    }

    Tensor forward(Tensor timesteps) {
        Tensor x = timesteps.to(DType.FLOAT32).log().unsqueeze(1).mul(weight.unsqueeze(0).to(DType.FLOAT32))
                .mul(2.0).mul(Math.PI);
        return Tensor.cat(List.of(x.sin(), x.cos()), 1);
    }
}
