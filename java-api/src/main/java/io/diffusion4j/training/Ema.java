package io.diffusion4j.training;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.ShadowWeights;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFileException;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.TrainableModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An exponential moving average of a module's parameters: a shadow copy (own storage, not views) updated after
 * each optimizer step as {@code shadow = decay_t * shadow + (1 - decay_t) * param}, with
 * {@code decay_t = min(decay, (1 + t) / (10 + t))} when warm-up is on ({@code t} = number of earlier updates),
 * otherwise {@code decay}. Sampling and export use it through {@link #copyTo} or {@link #swap}. Its native memory is
 * independent of any {@link NativeScope}; close it when done. Not thread-safe.
 */
public final class Ema implements AutoCloseable {
    private final java.util.function.Supplier<List<Tensor>> module;
    private final ShadowWeights shadow;
    private final double decay;
    private final boolean warmup;

    /** Starts an average at the module's current weights. */
    public Ema(TorchScriptModule module, double decay, boolean warmup) {
        this(module::parameters, decay, warmup);
    }

    /** Starts an average at the model's current weights. */
    public Ema(TrainableModel model, double decay, boolean warmup) {
        this(model::parameters, decay, warmup);
    }

    private Ema(java.util.function.Supplier<List<Tensor>> module, double decay, boolean warmup) {
        if (!(decay >= 0 && decay < 1)) {
            throw new IllegalArgumentException("EMA decay must be in [0, 1), got " + decay);
        }
        this.module = module;
        this.decay = decay;
        this.warmup = warmup;
        try (NativeScope scope = new NativeScope()) {
            this.shadow = ShadowWeights.copyOf(module.get());
        }
    }

    public double decay() {
        return decay;
    }

    public boolean warmup() {
        return warmup;
    }

    /** The decay used by update number {@code t} (0-based). */
    public double decayAt(long t) {
        if (t < 0) {
            throw new IllegalArgumentException("update index must be >= 0, got " + t);
        }
        return warmup ? Math.min(decay, (1.0 + t) / (10.0 + t)) : decay;
    }

    /** Moves the average towards the module's current weights with {@link #decayAt decayAt(t)}. */
    public void update(long t) {
        double d = decayAt(t);
        try (NativeScope scope = new NativeScope()) {
            shadow.lerpTowards(module.get(), 1.0 - d);
        }
    }

    /** Copies the averaged weights into {@code target} (this module or another with the same parameters). */
    public void copyTo(TorchScriptModule target) {
        try (NativeScope scope = new NativeScope()) {
            shadow.copyTo(target.parameters());
        }
    }

    /** Copies the averaged weights into {@code target} (this model or another with the same parameters). */
    public void copyTo(TrainableModel target) {
        try (NativeScope scope = new NativeScope()) {
            shadow.copyTo(target.parameters());
        }
    }

    /**
     * Exchanges the averaged weights with the module's current ones; call again to swap back (e.g. around sampling
     * or export with EMA weights).
     */
    public void swap() {
        try (NativeScope scope = new NativeScope()) {
            shadow.swapWith(module.get());
        }
    }

    /**
     * Writes the averaged weights as one float tensor file (all parameters flattened and concatenated in module
     * order; Python reads it with {@code torch.load}).
     */
    public void save(Path file) throws IOException {
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> flat = new ArrayList<>();
            for (Tensor t : shadow.tensors()) {
                flat.add(t.reshape(-1));
            }
            TensorFiles.write(file, Tensor.cat(flat, 0));
        }
    }

    /**
     * Restores averaged weights written by {@link #save}.
     *
     * @throws TensorFileException if the file is not a tensor file or does not hold as many values as the module's
     *                             parameters
     */
    public void load(Path file) throws IOException {
        try (NativeScope scope = new NativeScope()) {
            Tensor all = TensorFiles.read(file);
            List<Tensor> params = module.get();
            long total = 0;
            for (Tensor p : params) {
                total += p.numel();
            }
            if (all.dim() != 1 || all.numel() != total) {
                throw new TensorFileException(file + ": expected EMA weights of " + total + " values (a 1-d tensor), "
                        + "got " + all.describe());
            }
            List<Tensor> parts = new ArrayList<>(params.size());
            long offset = 0;
            for (Tensor p : params) {
                parts.add(all.narrow(0, offset, p.numel()).reshape(p.shape()).to(p.dtype()));
                offset += p.numel();
            }
            shadow.copyFrom(parts);
        }
    }

    @Override
    public void close() {
        shadow.close();
    }
}
