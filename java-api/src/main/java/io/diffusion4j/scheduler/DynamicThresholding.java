package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Tensor;

/**
 * Dynamic thresholding of a data prediction (Saharia et al. 2022, "Imagen"), as diffusers' {@code _threshold_sample}:
 * per sample, {@code s} is the {@code dynamic_thresholding_ratio} quantile of {@code |x0|} clamped to
 * {@code [1, sample_max_value]}, and {@code x0} becomes {@code clamp(x0, -s, s) / s}.
 */
final class DynamicThresholding {
    private DynamicThresholding() {
    }

    /** The thresholded prediction, a new tensor shaped like {@code x0}. */
    static Tensor apply(Tensor x0, SchedulerConfig config) {
        long[] shape = x0.shape();
        Tensor flat = x0.reshape(shape[0], -1);
        Tensor s = flat.abs().quantile(config.dynamicThresholdingRatio(), 1, false)
                .clamp(1.0, config.sampleMaxValue()).unsqueeze(1);
        return flat.clamp(s.neg(), s).div(s).reshape(shape);
    }
}
