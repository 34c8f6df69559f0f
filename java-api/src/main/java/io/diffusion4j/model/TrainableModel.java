package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * A denoiser the {@code Trainer} can train: parameters, a forward that records autograd, training/eval mode and its
 * weights saved to and restored from a folder. Implemented by a TorchScript module ({@link #of}) and by the
 * Java-built networks of {@link io.diffusion4j.model.nn}. Not thread-safe while training.
 */
public interface TrainableModel extends AutoCloseable {

    /** Where the model came from (for messages). */
    String source();

    Device device();

    /** Whether the forward takes class labels. */
    boolean isConditional();

    /** The dtype the model takes timesteps in. */
    DType timestepDType();

    /**
     * The forward with gradient recording (when parameters require grad).
     *
     * @param classLabels [B] int64 for a conditional model, null otherwise
     */
    Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels);

    /** Whether the forward takes a guidance scale (see {@link Denoiser#takesGuidanceScale()}). */
    default boolean guidanceConditioned() {
        return false;
    }

    /**
     * The forward of a guidance-conditioned model, with gradient recording.
     *
     * @param guidanceScale [B] float32
     * @throws UnsupportedOperationException if the model takes no guidance scale
     */
    default Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        throw new UnsupportedOperationException(source() + " takes no guidance scale: its forward is (sample, "
                + "timestep[, class_labels])");
    }

    /** The parameters in a fixed order (handles share storage and gradients; the caller's scope owns them). */
    List<Tensor> parameters();

    /** The parameters by dotted name ({@code conv_in.weight}), in the order of {@link #parameters()}. */
    LinkedHashMap<String, Tensor> namedParameters();

    void train(boolean on);

    boolean isTraining();

    /** The file the weights are written to in a checkpoint or model folder ({@code model.pt}, {@code weights.pt}). */
    String weightsFile();

    /**
     * Where {@link #exportTo}'s folder keeps the scheduler config, relative to it: {@code scheduler_config.json},
     * or {@code scheduler/scheduler_config.json} in diffusers' pipeline layout.
     */
    default String schedulerConfigFile() {
        return ModelFolder.SCHEDULER_FILE;
    }

    /** Writes the weights (as they are now) to {@code dir}/{@link #weightsFile()}, atomically. */
    void saveWeights(Path dir) throws IOException;

    /** Writes the files of an inference model folder for these weights (the weights file, plus what else it needs). */
    void exportTo(Path dir) throws IOException;

    /**
     * How to rebuild this model in Java ({@code architecture} in {@code diffusion4j.json}), or null for a TorchScript
     * module, which carries its own code.
     */
    default io.diffusion4j.model.nn.Architecture architecture() {
        return null;
    }

    @Override
    void close();

    /** The TorchScript module behind a model made by {@link #of}, or null for any other model. */
    static TorchScriptModule torchScriptModule(TrainableModel model) {
        return model instanceof TorchScriptTrainable t ? t.module() : null;
    }

    /**
     * A TorchScript module as a trainable model; the signature and timestep dtype come from {@code spec} when given,
     * otherwise from the module's forward schema. The returned model does not own the module unless
     * {@code owns} is true.
     */
    static TrainableModel of(TorchScriptModule module, ModelSpec spec, boolean owns) {
        return new TorchScriptTrainable(module, spec, owns);
    }
}
