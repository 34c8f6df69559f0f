package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.List;

/** An up block of a UNet2DModel: takes one residual per resnet, the last one first. */
interface UpBlock {
    int resnetCount();

    Tensor forward(Tensor hidden, List<Tensor> residuals, Tensor temb, DownBlock.Skip skip);
}
