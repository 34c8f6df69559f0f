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
    private final DType timestepDType;

    TorchScriptTrainable(TorchScriptModule module, ModelSpec spec, boolean owns) {
        if (module == null) {
            throw new IllegalArgumentException("a trainable model needs a module, got null");
        }
        this.module = module;
        this.owns = owns;
        List<TorchScriptModule.Argument> args = module.forwardArguments();
        int arity = spec != null && !spec.forwardSignature().isEmpty() ? spec.forwardSignature().size() : args.size();
        if (arity != 2 && arity != 3) {
            throw new IllegalArgumentException(module.source() + ": forward must take (sample, timestep) or "
                    + "(sample, timestep, class_labels), found " + args);
        }
        this.conditional = arity == 3;
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
        return classLabels == null ? module.forward(sample, timesteps) : module.forward(sample, timesteps, classLabels);
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
