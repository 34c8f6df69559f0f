package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;

/** A TorchScript module as a {@link TrainableModel}: weights are the module itself ({@code model.pt}). */
final class TorchScriptTrainable implements TrainableModel {
    private final TorchScriptModule module;
    private final boolean owns;
    private final boolean conditional;
    private final boolean takesGuidance;
    private final DType timestepDType;

    TorchScriptTrainable(TorchScriptModule module, ModelSpec spec, boolean owns) {
        if (module == null) {
            throw new IllegalArgumentException("a trainable model needs a module, got null");
        }
        this.module = module;
        this.owns = owns;
        List<TorchScriptModule.Argument> args = module.forwardArguments();
        int arity = GuidanceSignature.arity(module, spec);
        this.conditional = arity >= 3;
        this.takesGuidance = arity == 4;
        DType td = spec != null ? spec.timestepDType() : null;
        if (td == null && args.size() >= 2) {
            td = args.get(1).type().toLowerCase(Locale.ROOT).equals("float") ? DType.FLOAT32 : DType.INT64;
        }
        this.timestepDType = td != null ? td : DType.INT64;
    }

    /** The module. */
    TorchScriptModule module() {
        return module;
    }

    @Override
    public String source() {
        return module.source();
    }

    @Override
    public Device device() {
        return module.device();
    }

    @Override
    public boolean isConditional() {
        return conditional;
    }

    @Override
    public DType timestepDType() {
        return timestepDType;
    }

    @Override
    public Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels) {
        if (takesGuidance) {
            return forward(sample, timesteps, classLabels,
                    Tensor.full(1.0, DType.FLOAT32, sample.device(), sample.size(0)));
        }
        return classLabels == null ? module.forward(sample, timesteps) : module.forward(sample, timesteps, classLabels);
    }

    @Override
    public boolean guidanceConditioned() {
        return takesGuidance;
    }

    @Override
    public Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        if (!takesGuidance) {
            return TrainableModel.super.forward(sample, timesteps, classLabels, guidanceScale);
        }
        return module.forward(sample, timesteps, classLabels, guidanceScale);
    }

    @Override
    public List<Tensor> parameters() {
        return module.parameters();
    }

    @Override
    public LinkedHashMap<String, Tensor> namedParameters() {
        return module.namedParameters();
    }

    @Override
    public void train(boolean on) {
        module.train(on);
    }

    @Override
    public boolean isTraining() {
        return module.isTraining();
    }

    @Override
    public String weightsFile() {
        return ModelFolder.MODEL_FILE;
    }

    @Override
    public void saveWeights(Path dir) throws IOException {
        module.save(dir.resolve(ModelFolder.MODEL_FILE));
    }

    @Override
    public void exportTo(Path dir) throws IOException {
        module.save(dir.resolve(ModelFolder.MODEL_FILE));
    }

    @Override
    public void close() {
        if (owns) {
            module.close();
        }
    }
}
