package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Safetensors;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.TrainableModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * diffusers' {@code UNet2DModel}, built in Java from its {@link UNet2DConfig} on LibTorch {@code torch::nn} layers
 * registered under diffusers' own paths ({@code down_blocks.1.attentions.0.to_q}), so that its state dict is
 * diffusers' name for name. Forward in diffusers' order of operations: optional input centering, time projection
 * (positional, Gaussian Fourier or learned) in float32 then cast to the weights' dtype, {@code time_embedding}, plus
 * the class embedding, {@code conv_in}, down blocks collecting residuals, mid block, up blocks consuming them,
 * GroupNorm + SiLU + {@code conv_out}, and division by the timesteps for the Fourier embedding.
 *
 * <p>Both a {@link Denoiser} and a {@link TrainableModel}. A class-conditional model has a null class (for guidance)
 * only when its folder's {@code diffusion4j.json} names one ({@code null_class_id}); diffusers has no such notion.
 */
public final class UNet2DModel implements Denoiser, TrainableModel {
    /** diffusers' weights file names in a {@code unet/} folder. */
    public static final String SAFETENSORS_FILE = "diffusion_pytorch_model.safetensors";
    public static final String BIN_FILE = "diffusion_pytorch_model.bin";

    /** The block types UNet2DModel accepts that are built here (diffusers' {@code get_down_block}/{@code get_up_block}). */
    private static final Map<String, Function<BlockArgs, DownBlock>> DOWN_BLOCKS = Map.of(
            "DownBlock2D", DownBlock2D::new,
            "AttnDownBlock2D", AttnDownBlock2D::new,
            "SkipDownBlock2D", a -> new SkipDownBlock2D(a, false),
            "AttnSkipDownBlock2D", a -> new SkipDownBlock2D(a, true));
    private static final Map<String, Function<BlockArgs, UpBlock>> UP_BLOCKS = Map.of(
            "UpBlock2D", UpBlock2D::new,
            "AttnUpBlock2D", AttnUpBlock2D::new,
            "SkipUpBlock2D", a -> new SkipUpBlock2D(a, false),
            "AttnSkipUpBlock2D", a -> new SkipUpBlock2D(a, true));

    private final UNet2DConfig config;
    private DType reducedDType;
    private String pipelineClass = DiffusersFolder.DDPM_PIPELINE;
    private LatentComponent latent;
    private final NnModule net;
    private final DType dtype;
    private final int nullClassId;
    private final Timesteps positional;
    private final GaussianFourierProjection fourier;
    private final NnModule.Layer learned;
    private final TimestepEmbedding timeEmbedding;
    private final NnModule.Layer classTable;
    private final TimestepEmbedding classTimestep;
    private final NnModule.Layer convIn;
    private final List<DownBlock> downBlocks = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final List<UpBlock> upBlocks = new ArrayList<>();
    private final NnModule.Layer convNormOut;
    private final NnModule.Layer convOut;

    /**
     * A new model with LibTorch's default initialisation (float32).
     *
     * @param nullClassId the class id meaning "unconditional" of a class-conditional model, or -1 for none
     * @throws IllegalArgumentException naming the block type or value that is not supported
     */
    public UNet2DModel(UNet2DConfig config, Device device, int nullClassId) {
        this.config = config;
        this.dtype = DType.FLOAT32;
        int[] ch = config.blockOutChannels();
        if (nullClassId >= 0 && (config.numClassEmbeds() == null || nullClassId >= config.numClassEmbeds())) {
            throw new IllegalArgumentException("null_class_id " + nullClassId + " needs a class table with more rows "
                    + "(num_class_embeds " + config.numClassEmbeds() + ")");
        }
        this.nullClassId = nullClassId;
        for (int i = 0; i < ch.length; i++) {
            checkBlock("down_block_types", i, config.downBlockTypes().get(i), DOWN_BLOCKS.keySet());
            checkBlock("up_block_types", i, config.upBlockTypes().get(i), UP_BLOCKS.keySet());
        }
        if (config.dropout() > 0) {
            org.slf4j.LoggerFactory.getLogger(UNet2DModel.class).debug("dropout {} is applied as in eval mode",
                    config.dropout());
        }
        net = new NnModule("UNet2DModel", device);
        try {
            int ted = config.timeEmbedDim();
            double eps = config.normEps();
            int groups = config.normNumGroups();
            boolean scaleShift = "scale_shift".equals(config.resnetTimeScaleShift());
            convIn = net.conv2d("conv_in", config.inChannels(), ch[0], 3, 1, 1);
            int timeInput = config.timeEmbeddingType() == UNet2DConfig.TimeEmbeddingType.FOURIER ? 2 * ch[0] : ch[0];
            positional = config.timeEmbeddingType() == UNet2DConfig.TimeEmbeddingType.POSITIONAL
                    ? new Timesteps(ch[0], config.flipSinToCos(), config.freqShift()) : null;
            fourier = config.timeEmbeddingType() == UNet2DConfig.TimeEmbeddingType.FOURIER
                    ? new GaussianFourierProjection(net, "time_proj", ch[0]) : null;
            learned = config.timeEmbeddingType() == UNet2DConfig.TimeEmbeddingType.LEARNED
                    ? net.embedding("time_proj", config.numTrainTimesteps(), ch[0]) : null;
            timeEmbedding = new TimestepEmbedding(net, "time_embedding", timeInput, ted);
            classTable = config.classEmbedType() == UNet2DConfig.ClassEmbedType.NONE && config.numClassEmbeds() != null
                    ? net.embedding("class_embedding", config.numClassEmbeds(), ted) : null;
            classTimestep = config.classEmbedType() == UNet2DConfig.ClassEmbedType.TIMESTEP
                    ? new TimestepEmbedding(net, "class_embedding", timeInput, ted) : null;
            int out = ch[0];
            for (int i = 0; i < ch.length; i++) {
                int in = out;
                out = ch[i];
                boolean last = i == ch.length - 1;
                String type = config.downBlockTypes().get(i);
                String resample = last ? null : type.equals("AttnDownBlock2D") ? config.downsampleType() : "conv";
                downBlocks.add(DOWN_BLOCKS.get(type).apply(new BlockArgs(net, "down_blocks." + i,
                        config.layersPerBlock(), in, out, 0, ted, eps, groups, headDim(out), scaleShift,
                        config.downsamplePadding(), resample)));
            }
            int last = ch[ch.length - 1];
            midBlock = new UNetMidBlock2D(net, "mid_block", last, ted, eps, groups, config.attnNormNumGroups(),
                    headDim(last), scaleShift, config.addAttention(), config.midBlockScaleFactor());
            out = last;
            for (int i = 0; i < ch.length; i++) {
                int prev = out;
                out = ch[ch.length - 1 - i];
                int in = ch[Math.max(ch.length - 2 - i, 0)];
                boolean isLast = i == ch.length - 1;
                String type = config.upBlockTypes().get(i);
                String resample = isLast ? null : type.equals("AttnUpBlock2D") ? config.upsampleType() : "conv";
                upBlocks.add(UP_BLOCKS.get(type).apply(new BlockArgs(net, "up_blocks." + i,
                        config.layersPerBlock() + 1, in, out, prev, ted, eps, groups, headDim(out), scaleShift,
                        config.downsamplePadding(), resample)));
            }
            convNormOut = net.groupNorm("conv_norm_out", groups, ch[0], eps);
            convOut = net.conv2d("conv_out", ch[0], config.outChannels(), 3, 1, 1);
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

    private int headDim(int channels) {
        return config.attentionHeadDim() != null ? config.attentionHeadDim() : channels;
    }

    private static void checkBlock(String key, int i, String type, java.util.Set<String> known) {
        if (!known.contains(type)) {
            throw new IllegalArgumentException(key + "[" + i + "] \"" + type + "\" is not supported (supported: "
                    + String.join(", ", new java.util.TreeSet<>(known)) + ")");
        }
    }

    /**
     * The model of {@code config} with the weights of a {@code unet/} folder's weights file (safetensors or a PyTorch
     * state-dict pickle), cast to {@code dtype}.
     *
     * @throws IllegalArgumentException naming the missing or unexpected tensor, or the config value not supported
     */
    public static UNet2DModel load(UNet2DConfig config, Path weights, Device device, DType dtype, int nullClassId)
            throws IOException {
        UNet2DModel m = new UNet2DModel(config, device, nullClassId);
        try (io.diffusion4j.bindings.NativeScope scope = new io.diffusion4j.bindings.NativeScope()) {
            String name = weights.getFileName().toString();
            LinkedHashMap<String, Tensor> values = name.endsWith(".safetensors") ? Safetensors.read(weights)
                    : io.diffusion4j.bindings.TensorFiles.readStateDict(weights);
            m.net.loadTensors(renameDeprecatedAttention(values), weights.toString());
            return dtype == DType.FLOAT32 ? m : m.withDType(dtype);
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Checkpoints saved before diffusers 0.14 name the attention layers query/key/value/proj_attn. */
    public static LinkedHashMap<String, Tensor> renameDeprecatedAttention(LinkedHashMap<String, Tensor> values) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : values.entrySet()) {
            String k = e.getKey();
            if (k.contains(".attentions.")) {
                k = k.replace(".query.", ".to_q.").replace(".key.", ".to_k.").replace(".value.", ".to_v.")
                        .replace(".proj_attn.", ".to_out.0.");
            }
            out.put(k, e.getValue());
        }
        return out;
    }

    private UNet2DModel withDType(DType target) {
        if (!target.isFloatingPoint()) {
            throw new IllegalArgumentException("a UNet2DModel runs in a floating-point dtype, got " + target.label());
        }
        net.to(target);
        reducedDType = target;
        return this;
    }

    public UNet2DConfig config() {
        return config;
    }

    /** The native network (its layers and parameters). */
    public NnModule network() {
        return net;
    }

    @Override
    public Tensor forward(Tensor sample, Tensor timesteps, Tensor classLabels) {
        long[] s = sample.shape();
        if (s.length != 4 || s[1] != config.inChannels()) {
            throw new IllegalArgumentException(source() + " takes samples [B, " + config.inChannels()
                    + ", H, W], got " + sample.describe());
        }
        boolean identity = config.classEmbedType() == UNet2DConfig.ClassEmbedType.IDENTITY;
        if (identity && (classLabels == null || !classLabels.dtype().isFloatingPoint())) {
            throw new IllegalArgumentException(source() + " has class_embed_type \"identity\": pass class embeddings, "
                    + "a float tensor [B, " + config.timeEmbedDim() + "] added to the time embedding, got "
                    + (classLabels == null ? "none" : classLabels.describe()));
        }
        if (isConditional() && classLabels == null) {
            throw new IllegalArgumentException(source() + " is class-conditional: pass class labels");
        }
        if (!isConditional() && classLabels != null) {
            throw new IllegalArgumentException(source() + " is unconditional: it takes no class labels");
        }
        long b = s[0];
        DType wt = dtype();
        Tensor x = sample.dtype() == wt ? sample : sample.to(wt);
        if (config.centerInputSample()) {
            x = x.mul(2.0).add(-1.0);
        }
        Tensor t = timesteps.dim() == 0 ? timesteps.reshape(1) : timesteps;
        if (t.size(0) != b) {
            t = t.expand(b);
        }
        Tensor emb = timeEmbedding.forward(project(t).to(wt));
        if (classTable != null) {
            emb = emb.add(classTable.forward(classLabels).to(wt));
        } else if (classTimestep != null) {
            emb = emb.add(classTimestep.forward(project(classLabels).to(wt)).to(wt));
        } else if (identity) {
            emb = emb.add(classLabels.to(wt));   // diffusers' nn.Identity: the class input is the embedding
        }
        Tensor h = convIn.forward(x);
        List<Tensor> residuals = new ArrayList<>();
        residuals.add(h);
        DownBlock.Skip skip = new DownBlock.Skip(x);
        for (DownBlock d : downBlocks) {
            h = d.forward(h, emb, residuals, skip);
        }
        h = midBlock.forward(h, emb);
        skip.sample = null;
        for (UpBlock u : upBlocks) {
            int n = u.resnetCount();
            List<Tensor> mine = new ArrayList<>(residuals.subList(residuals.size() - n, residuals.size()));
            residuals.subList(residuals.size() - n, residuals.size()).clear();
            h = u.forward(h, mine, emb, skip);
        }
        h = convOut.forward(convNormOut.forward(h).silu());
        if (skip.sample != null) {
            h = h.add(skip.sample);
        }
        if (fourier != null) {
            h = h.div(t.to(h.dtype()).reshape(b, 1, 1, 1));
        }
        return h;
    }

    private Tensor project(Tensor t) {
        if (positional != null) {
            return positional.forward(t);
        }
        if (fourier != null) {
            return fourier.forward(t);
        }
        return learned.forward(t.to(DType.INT64));
    }

    @Override
    public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
        return forward(sample, timesteps, classLabels);
    }

    @Override
    public String source() {
        return "diffusers:UNet2DModel";
    }

    @Override
    public Device device() {
        return net.device();
    }

    @Override
    public boolean isConditional() {
        return config.isClassConditional();
    }

    @Override
    public int numClasses() {
        if (config.numClassEmbeds() == null) {
            return 0;
        }
        return nullClassId >= 0 ? config.numClassEmbeds() - 1 : config.numClassEmbeds();
    }

    @Override
    public int nullClassId() {
        return nullClassId;
    }

    /** int64 for a learned time embedding; float32 otherwise (diffusers' positional embedding takes t.float()). */
    @Override
    public DType timestepDType() {
        return config.timeEmbeddingType() == UNet2DConfig.TimeEmbeddingType.LEARNED ? DType.INT64 : DType.FLOAT32;
    }

    @Override
    public DType dtype() {
        return reducedDType != null ? reducedDType : dtype;
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
        if (on && config.dropout() > 0) {
            throw new IllegalStateException("training a UNet2DModel with dropout " + config.dropout()
                    + " is not supported (dropout is not implemented; set dropout 0 in unet/config.json)");
        }
        net.train(on);
    }

    @Override
    public boolean isTraining() {
        return net.isTraining();
    }

    @Override
    public String weightsFile() {
        return DiffusersFolder.UNET_DIR + "/" + SAFETENSORS_FILE;
    }

    @Override
    public String schedulerConfigFile() {
        return DiffusersFolder.SCHEDULER_DIR + "/" + io.diffusion4j.model.ModelFolder.SCHEDULER_FILE;
    }

    /** Writes {@code unet/config.json} and {@code unet/diffusion_pytorch_model.safetensors} (float32). */
    @Override
    public void saveWeights(Path dir) throws IOException {
        Path unet = dir.resolve(DiffusersFolder.UNET_DIR);
        Files.createDirectories(unet);
        try (io.diffusion4j.bindings.NativeScope scope = new io.diffusion4j.bindings.NativeScope()) {
            LinkedHashMap<String, Tensor> weights = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : net.namedParameters().entrySet()) {
                weights.put(e.getKey(), e.getValue().detach().to(Device.CPU, DType.FLOAT32).contiguous());
            }
            Safetensors.write(unet.resolve(SAFETENSORS_FILE), weights, Map.of("format", "pt"));
        }
        DiffusersFolder.writeAtomically(unet.resolve(UNet2DConfig.FILE_NAME), config.toJson());
    }

    /**
     * A diffusers pipeline folder: {@code model_index.json} ({@code DDPMPipeline}) and {@code unet/}; for the UNet of
     * a latent pipeline also its (frozen, unchanged) autoencoder folder, copied.
     */
    @Override
    public void exportTo(Path dir) throws IOException {
        saveWeights(dir);
        if (latent != null) {
            Path target = dir.resolve(latent.name());
            if (!target.toAbsolutePath().normalize().equals(latent.dir().toAbsolutePath().normalize())) {
                Files.createDirectories(target);
                try (java.util.stream.Stream<Path> files = Files.list(latent.dir())) {
                    for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                        Files.copy(f, target.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        }
        DiffusersFolder.writeModelIndex(dir, pipelineClass, latent);
    }

    /** The autoencoder of the latent pipeline this UNet belongs to (exported beside it), or null. */
    public void latentComponent(LatentComponent component) {
        this.latent = component;
    }

    /** The {@code _class_name} written to {@code model_index.json} on export (DDPMPipeline unless set). */
    public void pipelineClass(String className) {
        this.pipelineClass = className;
    }

    @Override
    public void close() {
        net.close();
    }
}
