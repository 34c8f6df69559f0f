package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;

/**
 * The one model abstraction: {@code (sample, timestep, class labels) -> prediction} (epsilon, x0 or v, as the
 * scheduler config's {@code prediction_type} says). A TorchScript module, a Java-built module or a guided wrapper
 * are all denoisers. Implementations are safe for concurrent {@link #predict} calls in inference.
 */
public interface Denoiser extends AutoCloseable {

    /**
     * Runs the model.
     *
     * @param sample      [B, ...sample shape], float32 (or the model's dtype)
     * @param timesteps   [B] in {@link #timestepDType()}
     * @param classLabels [B] int64, or null for an unconditional model
     * @return the prediction, same shape as {@code sample} (twice the channels for learned variance)
     */
    Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels);

    /**
     * Whether the model takes the classifier-free guidance scale as an input (a guidance-distilled student, Meng et al.
     * 2023): it predicts the guided {@code uncond + w (cond - uncond)} in one forward, so {@link GuidedDenoiser} calls
     * {@link #predict(Tensor, Tensor, Tensor, Tensor)} once instead of doubling the batch.
     */
    default boolean takesGuidanceScale() {
        return false;
    }

    /**
     * Runs a guidance-conditioned model ({@link #takesGuidanceScale()}).
     *
     * @param guidanceScale [B] float32, the guidance scale w of each sample
     * @throws UnsupportedOperationException if the model does not take a guidance scale
     */
    default Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        throw new UnsupportedOperationException("this model does not take a guidance scale; wrap it in a "
                + "GuidedDenoiser (two predictions per step) instead");
    }

    /** Whether {@link #predict} takes class labels. */
    boolean isConditional();

    /** Number of classes of a conditional model, 0 otherwise. */
    int numClasses();

    /** The class id that means "unconditional" (classifier-free guidance), or -1 if the model has none. */
    int nullClassId();

    /**
     * The dtype the model takes timesteps in: the declared one (see {@link #declaresTimestepDType()}), else int64,
     * which is what diffusers' training scripts pass.
     */
    DType timestepDType();

    /**
     * Whether {@link #timestepDType()} is the model's own requirement ({@code timestep_dtype} in
     * {@code diffusion4j.json}, a typed forward argument, or a Java-built network). When not, a sampling pipeline
     * passes timesteps in the scheduler's own dtype ({@link io.diffusion4j.scheduler.Scheduler#timestepDType()}),
     * as a diffusers pipeline passes {@code scheduler.timesteps} to its model unchanged.
     */
    default boolean declaresTimestepDType() {
        return true;
    }

    /** The dtype of the model's weights (inputs are converted to it). */
    DType dtype();

    Device device();

    @Override
    void close();
}
