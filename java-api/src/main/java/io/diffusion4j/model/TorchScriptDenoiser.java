package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * A denoiser backed by a TorchScript module whose forward is {@code (sample, timestep)} or
 * {@code (sample, timestep, class_labels)}, or {@code (sample, timestep, class_labels, guidance_scale)} for a
 * guidance-distilled student (see {@link Denoiser#takesGuidanceScale()}). The signature and timestep dtype come from {@code diffusion4j.json}
 * when there is one, otherwise from the module's schema (three arguments = class-conditional). A timestep dtype that
 * neither declares (a {@code Tensor} argument and no {@code timestep_dtype}) is left to the scheduler, as in diffusers.
 * By default it predicts with a frozen copy of the module ({@link ScriptMode}).
 */
public final class TorchScriptDenoiser implements Denoiser {
    private final TorchScriptModule module;
    private final ScriptMode mode;
    private final boolean conditional;
    private final boolean takesGuidance;
    private final int numClasses;
    private final int nullClassId;
    private final DType timestepDType;
    private final boolean declaresTimestepDType;
    private final DType dtype;

    /** A denoiser in the default {@link ScriptMode} ({@link ScriptMode#FROZEN}). */
    public TorchScriptDenoiser(TorchScriptModule module, ModelSpec spec, DType dtype) {
        this(module, spec, dtype, ScriptMode.DEFAULT);
    }

    /**
     * @param module the loaded module; this denoiser takes ownership and closes it (at once when it freezes a copy)
     * @param spec   the model's diffusion4j.json, or null to read the signature from the module
     * @param dtype  the dtype to run the model in (its weights are converted if not float32)
     * @param mode   whether to predict with a frozen copy of the module or the module as loaded
     */
    public TorchScriptDenoiser(TorchScriptModule module, ModelSpec spec, DType dtype, ScriptMode mode) {
        if (mode == null) {
            throw new IllegalArgumentException("script mode must be given (FROZEN or PLAIN), got null");
        }
        this.mode = mode;
        List<TorchScriptModule.Argument> args = module.forwardArguments();
        int arity = GuidanceSignature.arity(module, spec);
        this.conditional = arity >= 3;
        this.takesGuidance = arity == 4;
        this.numClasses = spec != null ? spec.numClasses() : 0;
        this.nullClassId = spec != null ? spec.nullClassId() : -1;
        DType td = spec != null ? spec.timestepDType() : null;
        if (td == null && args.size() >= 2) {
            // a scalar argument fixes the type; a Tensor argument takes whatever the scheduler passes
            String type = args.get(1).type().toLowerCase(Locale.ROOT);
            td = type.equals("float") ? DType.FLOAT32 : type.equals("int") ? DType.INT64 : null;
        }
        this.declaresTimestepDType = td != null;
        this.timestepDType = td != null ? td : DType.INT64;
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("model dtype must be floating point, got " + dtype.label());
        }
        if (dtype != DType.FLOAT32) {
            module.to(dtype);
        }
        this.dtype = dtype;
        // A denoiser only predicts. Parameters saved with requires_grad (what torch.jit.save of a trained module
        // writes) make TorchScript's optimized graph record autograd state, which fails on inference tensors.
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : module.parameters()) {
                p.requiresGrad(false);
            }
        }
        if (mode == ScriptMode.FROZEN) {
            TorchScriptModule frozen = module.frozen();
            module.close(); // the frozen copy holds its own weights
            this.module = frozen;
        } else {
            this.module = module;
        }
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
        return optimized(() -> run(sample, timesteps, classLabels));
    }

    /**
     * Inference runs the optimized plan even on a thread a Trainer left with optimization off (its switch is per
     * thread); training modules, other threads and the next call on this one keep their own setting.
     */
    private static Tensor optimized(Supplier<Tensor> forward) {
        boolean turnedOn = TorchScriptRuntime.optimizedGraphsOn();
        try {
            return forward.get();
        } finally {
            TorchScriptRuntime.restoreGraphOptimization(turnedOn);
        }
    }

    private Tensor run(Tensor sample, Tensor timesteps, Tensor classLabels) {
        if (conditional) {
            if (classLabels == null) {
                throw new IllegalArgumentException(module.source() + " is class-conditional: pass class labels "
                        + "(the null class " + nullClassId + " for unconditional samples)");
            }
            if (takesGuidance) { // w = 1: the conditional prediction
                return module.forward(sample, timesteps, classLabels,
                        Tensor.full(1.0, DType.FLOAT32, sample.device(), sample.size(0)));
            }
            return module.forward(sample, timesteps, classLabels);
        }
        if (classLabels != null) {
            throw new IllegalArgumentException(module.source() + " is unconditional: it takes no class labels");
        }
        return module.forward(sample, timesteps);
    }

    @Override
    public boolean takesGuidanceScale() {
        return takesGuidance;
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        if (!takesGuidance) {
            return Denoiser.super.predict(sample, timesteps, classLabels, guidanceScale);
        }
        if (classLabels == null || guidanceScale == null) {
            throw new IllegalArgumentException(module.source() + " takes class labels and a guidance scale per sample");
        }
        return optimized(() -> module.forward(sample, timesteps, classLabels, guidanceScale));
    }

    /**
     * The module {@link #predict} runs: a frozen copy (no parameters, not trainable) in {@link ScriptMode#FROZEN}, the
     * loaded module in {@link ScriptMode#PLAIN}. Train and export through {@link TrainableModel} instead.
     */
    public TorchScriptModule module() {
        return module;
    }

    /** Whether predictions run on a frozen copy of the module or on the module as loaded. */
    public ScriptMode scriptMode() {
        return mode;
    }

    @Override
    public boolean isConditional() {
        return conditional;
    }

    @Override
    public int numClasses() {
        return numClasses;
    }

    @Override
    public int nullClassId() {
        return nullClassId;
    }

    @Override
    public DType timestepDType() {
        return timestepDType;
    }

    @Override
    public boolean declaresTimestepDType() {
        return declaresTimestepDType;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public Device device() {
        return module.device();
    }

    @Override
    public void close() {
        module.close();
    }
}
