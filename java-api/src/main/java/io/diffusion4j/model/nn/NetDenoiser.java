package io.diffusion4j.model.nn;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.TrainableModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * A denoiser network built in Java from LibTorch {@code torch::nn} layers ({@link NnModule}): both a
 * {@link Denoiser} (pipelines sample it) and a {@link TrainableModel} (the Trainer trains it). Its weights are a
 * PyTorch state-dict file ({@value #WEIGHTS_FILE}); its {@link Architecture} rebuilds it. Float32, int64 timesteps.
 * A network with {@link Architecture#guidanceEmbedding()} also takes the guidance scale
 * ({@link #takesGuidanceScale()}, {@link #guidanceConditioned()}); its three-argument forward runs it at {@code w = 1},
 * the conditional prediction, as a TorchScript guidance student's does.
 */
public abstract sealed class NetDenoiser implements Denoiser, TrainableModel permits MlpDenoiser, UNetDenoiser {
    /** The weights file of a Java-built model in a model folder or checkpoint. */
    public static final String WEIGHTS_FILE = "weights.pt";

    protected final Architecture architecture;
    protected final NnModule net;
    private final Tensor freqs;
    private final int embeddingDim;

    protected NetDenoiser(Architecture architecture, String name, Device device, int embeddingDim) {
        this.architecture = architecture;
        this.net = new NnModule(name, device);
        this.embeddingDim = embeddingDim;
        // PyTorch's recipe in float32 ops: exp(-ln(10000) * arange(half) / half), as the built-in models compute it
        int half = embeddingDim / 2;
        this.freqs = NativeScope.unscoped(() -> {
            try (NativeScope scope = new NativeScope()) {
                float[] k = new float[half];
                for (int i = 0; i < half; i++) {
                    k[i] = i;
                }
                Tensor f = Tensor.fromFloats(k, 1, half).mul(-Math.log(10000.0)).div(half).exp();
                return scope.keep(device.isCuda() ? f.to(device) : f);
            }
        });
    }

    /** The sinusoidal timestep embedding {@code cat(sin(t f), cos(t f))}, {@code [B, embeddingDim]}. */
    protected Tensor timestepEmbedding(Tensor timesteps, long batch) {
        Tensor t = timesteps.dim() == 0 ? timesteps.reshape(1).expand(batch) : timesteps;
        Tensor a = t.to(DType.FLOAT32).unsqueeze(1).mul(freqs);
        return Tensor.cat(List.of(a.sin(), a.cos()), 1);
    }

    /**
     * The network's forward; subclasses define it.
     *
     * @param guidanceScale [B] float32 for a network with a guidance embedding, null otherwise
     */
    protected abstract Tensor run(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale);

    /**
     * Sets the layers that must start at zero (the guidance embedding's output layer); {@link Networks} calls it after
     * every (re-)initialisation. Nothing by default.
     */
    void zeroInitialise() {
    }

    private void checkSample(Tensor sample) {
        long[] shape = architecture.sampleShape();
        if (sample.dim() != shape.length + 1 || !java.util.Arrays.equals(java.util.Arrays.copyOfRange(sample.shape(), 1,
                sample.dim()), shape)) {
            throw new IllegalArgumentException(source() + " takes samples [B, " + java.util.Arrays.toString(shape)
                    .replaceAll("[\\[\\]]", "") + "], got " + sample.describe());
        }
    }

    public Architecture architecture() {
        return architecture;
    }

    /** The native network (its layers and parameters). */
    public NnModule network() {
        return net;
    }

    @Override
    public final Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels) {
        checkSample(sample);
        if (isConditional() && classLabels == null) {
            throw new IllegalArgumentException(source() + " is class-conditional: pass class labels (the null class "
                    + nullClassId() + " for unconditional samples)");
        }
        if (!isConditional() && classLabels != null) {
            throw new IllegalArgumentException(source() + " is unconditional: it takes no class labels");
        }
        return run(sample, timesteps, classLabels, architecture.guidanceEmbedding()
                ? Tensor.full(1.0, DType.FLOAT32, sample.device(), sample.size(0)) : null);
    }

    @Override
    public final Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        if (!architecture.guidanceEmbedding()) {
            return TrainableModel.super.forward(sample, timesteps, classLabels, guidanceScale);
        }
        if (classLabels == null || guidanceScale == null) {
            throw new IllegalArgumentException(source() + " takes class labels and a guidance scale per sample");
        }
        checkSample(sample);
        if (guidanceScale.dim() != 1 || guidanceScale.size(0) != sample.size(0)) {
            throw new IllegalArgumentException(source() + " takes one guidance scale per sample, [" + sample.size(0)
                    + "], got " + guidanceScale.describe());
        }
        return run(sample, timesteps, classLabels, guidanceScale);
    }

    @Override
    public final Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
        return forward(sample, timesteps, classLabels);
    }

    @Override
    public final Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        if (!architecture.guidanceEmbedding()) {
            return Denoiser.super.predict(sample, timesteps, classLabels, guidanceScale);
        }
        return forward(sample, timesteps, classLabels, guidanceScale);
    }

    @Override
    public boolean takesGuidanceScale() {
        return architecture.guidanceEmbedding();
    }

    @Override
    public boolean guidanceConditioned() {
        return architecture.guidanceEmbedding();
    }

    @Override
    public String source() {
        return "java:" + architecture.type().name().toLowerCase(java.util.Locale.ROOT) + " " + net.name();
    }

    @Override
    public Device device() {
        return net.device();
    }

    @Override
    public boolean isConditional() {
        return architecture.isConditional();
    }

    @Override
    public int numClasses() {
        return architecture.numClasses();
    }

    @Override
    public int nullClassId() {
        return architecture.nullClassId();
    }

    @Override
    public DType timestepDType() {
        return DType.INT64;
    }

    @Override
    public DType dtype() {
        return DType.FLOAT32;
    }

    @Override
    public List<Tensor> parameters() {
        return net.parameters();
    }

    @Override
    public LinkedHashMap<String, Tensor> namedParameters() {
        return net.namedParameters();
    }

    @Override
    public void train(boolean on) {
        net.train(on);
    }

    @Override
    public boolean isTraining() {
        return net.isTraining();
    }

    @Override
    public String weightsFile() {
        return WEIGHTS_FILE;
    }

    @Override
    public void saveWeights(Path dir) throws IOException {
        net.saveStateDict(dir.resolve(WEIGHTS_FILE));
    }

    @Override
    public void exportTo(Path dir) throws IOException {
        net.saveStateDict(dir.resolve(WEIGHTS_FILE));
    }

    /** Loads weights written by {@link #saveWeights} (or a PyTorch state dict with the same names and shapes). */
    public void loadWeights(Path file) throws IOException {
        net.loadStateDict(file);
    }

    @Override
    public void close() {
        net.close();
        freqs.close();
    }
}
