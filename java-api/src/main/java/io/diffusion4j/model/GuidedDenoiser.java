package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * Classifier-free guidance (Ho &amp; Salimans 2022) around a class-conditional denoiser: one batched forward over
 * the unconditional and conditional halves, then {@code uncond + scale * (cond - uncond)}. The unconditional half
 * comes first, as in diffusers' pipelines. The doubled labels and timesteps are made once per labels and timesteps
 * tensor ({@link DoubledInputs}), not every step; only the sample is doubled per call. A guidance-distilled model
 * ({@link Denoiser#takesGuidanceScale()}) gets the scale as an input instead: one forward over the batch itself.
 * Does not own the wrapped denoiser; {@link #close()} frees the doubled inputs it made.
 */
public final class GuidedDenoiser implements Denoiser {
    private final Denoiser inner;
    private final double scale;
    private final DoubledInputs timesteps;
    private final boolean ownsTimesteps;
    private final DoubledInputs labels = new DoubledInputs();

    public GuidedDenoiser(Denoiser inner, double scale) {
        this(inner, scale, null);
    }

    /**
     * @param sharedTimesteps where to keep the doubled timesteps, e.g. a pipeline's, which outlives each run's guided
     *                        denoiser along with the timestep tensors it caches (not closed here); null: this
     *                        denoiser's own
     */
    public GuidedDenoiser(Denoiser inner, double scale, DoubledInputs sharedTimesteps) {
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
        this.ownsTimesteps = sharedTimesteps == null;
        this.timesteps = ownsTimesteps ? new DoubledInputs() : sharedTimesteps;
    }

    public double scale() {
        return scale;
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
        if (classLabels == null) {
            throw new IllegalArgumentException("guidance needs class labels");
        }
        if (inner.takesGuidanceScale()) { // a guidance-distilled student: one forward, no doubled batch
            return inner.predict(sample, timesteps, classLabels,
                    Tensor.full(scale, DType.FLOAT32, sample.device(), sample.size(0)));
        }
        Tensor bothLabels = labels.get(classLabels, l -> withNullLabels(l, inner.nullClassId()));
        Tensor out = inner.predict(Tensor.cat(List.of(sample, sample), 0), this.timesteps.doubled(timesteps),
                bothLabels);
        return combineHalves(out, scale);
    }

    /**
     * The guided prediction {@code uncond + scale * (cond - uncond)} from one forward over the doubled batch
     * {@code [unconditional half; conditional half]} (the one place the combination is written; the distillation
     * methods' guided teachers use it too).
     */
    public static Tensor combineHalves(Tensor doubledOutput, double scale) {
        List<Tensor> halves = doubledOutput.chunk(2, 0);
        Tensor uncond = halves.get(0);
        return uncond.add(halves.get(1).sub(uncond), scale);
    }

    /** As {@link #combineHalves(Tensor, double)} with a per-example scale broadcasting over a half ({@code [B, 1, ...]}). */
    public static Tensor combineHalves(Tensor doubledOutput, Tensor scale) {
        List<Tensor> halves = doubledOutput.chunk(2, 0);
        Tensor uncond = halves.get(0);
        return uncond.add(halves.get(1).sub(uncond).mul(scale), 1.0);
    }

    /**
     * {@code [nullClass] * B} followed by {@code labels}: the labels of the doubled batch. When made outside any scope
     * its temporary is freed here.
     */
    public static Tensor withNullLabels(Tensor labels, int nullClass) {
        try (Tensor nulls = Tensor.full(nullClass, DType.INT64, labels.device(), labels.size(0))) {
            return Tensor.cat(List.of(nulls, labels), 0);
        }
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

    /** Frees the doubled inputs this denoiser made; the wrapped denoiser (and shared timesteps) stay the caller's. */
    @Override
    public void close() {
        labels.close();
        if (ownsTimesteps) {
            timesteps.close();
        }
    }
}
