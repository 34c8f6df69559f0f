package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.List;

/** A down block of a UNet2DModel: returns the hidden states and appends its residual outputs to {@code residuals}. */
interface DownBlock {
    Tensor forward(Tensor hidden, Tensor temb, List<Tensor> residuals);
}
