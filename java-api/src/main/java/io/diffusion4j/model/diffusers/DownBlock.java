package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * A down block of a UNet2DModel: returns the hidden states and appends its residual outputs to {@code residuals}; the
 * skip blocks also downsample {@code skip.sample} (the input image branch of score-SDE's UNets).
 */
interface DownBlock {
    Tensor forward(Tensor hidden, Tensor temb, List<Tensor> residuals, Skip skip);

    /** The skip branch carried between the skip blocks ({@code skip_sample}; null where diffusers has None). */
    final class Skip {
        Tensor sample;

        Skip(Tensor sample) {
            this.sample = sample;
        }
    }
}
