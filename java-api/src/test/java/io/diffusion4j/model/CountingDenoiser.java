package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real denoiser that counts its forwards (without and with a guidance-scale input) and the rows they ran; every call
 * goes to the wrapped model. For tests that assert how many model evaluations a sampler or server spends.
 */
public final class CountingDenoiser implements Denoiser {
    private final Denoiser inner;
    public final AtomicInteger plainForwards = new AtomicInteger();
    public final AtomicInteger guidedForwards = new AtomicInteger();
    public final AtomicInteger rows = new AtomicInteger();

    public CountingDenoiser(Denoiser inner) {
        this.inner = inner;
    }

    /** Forwards of either kind. */
    public int forwards() {
        return plainForwards.get() + guidedForwards.get();
    }

    public void reset() {
        plainForwards.set(0);
        guidedForwards.set(0);
        rows.set(0);
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
        plainForwards.incrementAndGet();
        rows.addAndGet((int) sample.size(0));
        return inner.predict(sample, timesteps, classLabels);
    }

    @Override
    public boolean takesGuidanceScale() {
        return inner.takesGuidanceScale();
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        guidedForwards.incrementAndGet();
        rows.addAndGet((int) sample.size(0));
        return inner.predict(sample, timesteps, classLabels, guidanceScale);
    }

    @Override
    public boolean isConditional() {
        return inner.isConditional();
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

    @Override
    public void close() {
        inner.close();
    }
}
