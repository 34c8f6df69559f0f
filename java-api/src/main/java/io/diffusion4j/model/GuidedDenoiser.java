package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * Classifier-free guidance (Ho &amp; Salimans 2022) around a class-conditional denoiser: one batched forward over
 * the unconditional and conditional halves, then {@code uncond + scale * (cond - uncond)}. The unconditional half
 * comes first, as in diffusers' pipelines. A guidance-distilled model ({@link Denoiser#takesGuidanceScale()}) gets the
 * scale as an input instead: one forward over the batch itself. Does not own the wrapped denoiser.
 */
public final class GuidedDenoiser implements Denoiser {
    private final Denoiser inner;
    private final double scale;

    public GuidedDenoiser(Denoiser inner, double scale) {
        if (!inner.isConditional()) {
            throw new IllegalArgumentException("guidance needs a class-conditional model; this model is unconditional");
        }
        if (inner.nullClassId() < 0) {
            throw new IllegalArgumentException("guidance needs a null class id (diffusion4j.json null_class_id)");
        }
        if (!(scale >= 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("guidance scale must be a finite number >= 0, got " + scale);
        }
        this.inner = inner;
        this.scale = scale;
    }

    public double scale() {
        return scale;
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
        if (classLabels == null) {
            throw new IllegalArgumentException("guidance needs class labels");
        }
        long b = sample.size(0);
        if (inner.takesGuidanceScale()) { // a guidance-distilled student: one forward, no doubled batch
            return inner.predict(sample, timesteps, classLabels,
                    Tensor.full(scale, DType.FLOAT32, sample.device(), b));
        }
        Tensor nullLabels = Tensor.full(inner.nullClassId(), DType.INT64, classLabels.device(), b);
        Tensor out = inner.predict(Tensor.cat(List.of(sample, sample), 0), Tensor.cat(List.of(timesteps, timesteps), 0),
                Tensor.cat(List.of(nullLabels, classLabels), 0));
        List<Tensor> halves = out.chunk(2, 0);
        Tensor uncond = halves.get(0);
        return uncond.add(halves.get(1).sub(uncond), scale);
    }

    @Override
    public boolean isConditional() {
        return true;
    }

    @Override
    public int numClasses() {
        return inner.numClasses();
    }

    @Override
    public int nullClassId() {
        return inner.nullClassId();
    }

    @Override
    public DType timestepDType() {
        return inner.timestepDType();
    }

    @Override
    public boolean declaresTimestepDType() {
        return inner.declaresTimestepDType();
    }

    @Override
    public DType dtype() {
        return inner.dtype();
    }

    @Override
    public Device device() {
        return inner.device();
    }

    /** Does nothing: the wrapped denoiser belongs to the caller. */
    @Override
    public void close() {
    }
}
