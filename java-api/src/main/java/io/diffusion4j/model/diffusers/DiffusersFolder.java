package io.diffusion4j.model.diffusers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.model.ModelFolderException;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * A model folder in diffusers' layout: a pipeline folder ({@code model_index.json} naming {@code unet} and
 * {@code scheduler}, with {@code unet/config.json} + {@code unet/diffusion_pytorch_model.safetensors} (or
 * {@code .bin}) and {@code scheduler/scheduler_config.json}), or a bare {@code unet} folder ({@code config.json} of
 * a UNet2DModel + weights; no scheduler unless a {@code scheduler_config.json} lies beside it or in
 * {@code ../scheduler/}). The pipeline's {@code _class_name} picks the default scheduler: {@code DDIMPipeline}
 * converts the folder's scheduler config to DDIM, as diffusers' DDIMPipeline does.
 *
 * <p>The model spec comes from an optional {@code diffusion4j.json} in the folder (how a class-conditional model
 * names its null class for classifier-free guidance), otherwise from the config: sample shape
 * {@code [in_channels, sample_size]}, value range [-1, 1] (diffusers' image pipelines), no null class.
 */
public final class DiffusersFolder {
    public static final String MODEL_INDEX = "model_index.json";
    public static final String UNET_DIR = "unet";
    public static final String SCHEDULER_DIR = "scheduler";
    static final String DDPM_PIPELINE = "DDPMPipeline";
    static final String DDIM_PIPELINE = "DDIMPipeline";
    /** diffusers' unconditional latent pipeline ({@code vqvae} + {@code unet} + {@code scheduler}). */
    static final String LDM_PIPELINE = "LDMPipeline";
    /** Our name for latent pipelines diffusers has no class for (an AutoencoderKL {@code vae}, class labels). */
    static final String LATENT_PIPELINE = "LatentDiffusionPipeline";
    private static final java.util.Set<String> PIPELINES = java.util.Set.of(DDPM_PIPELINE, DDIM_PIPELINE,
            LDM_PIPELINE, LATENT_PIPELINE);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Path unetDir;
    private final UNet2DConfig config;
    private final Path weights;
    private final SchedulerConfig schedulerConfig;
    private final String pipelineClass;
    private final ModelSpec spec;
    private final LatentComponent autoencoder;

    private DiffusersFolder(Path dir, Path unetDir, UNet2DConfig config, Path weights, SchedulerConfig schedulerConfig,
                            String pipelineClass, ModelSpec spec, LatentComponent autoencoder) {
        this.autoencoder = autoencoder;
        this.dir = dir;
        this.unetDir = unetDir;
        this.config = config;
        this.weights = weights;
        this.schedulerConfig = schedulerConfig;
        this.pipelineClass = pipelineClass;
        this.spec = spec;
    }

    /** Whether {@code dir} is in diffusers' layout (a pipeline folder, a bare unet folder, or a checkpoint of one). */
    public static boolean isDiffusers(Path dir) {
        return Files.isRegularFile(dir.resolve(MODEL_INDEX))
                || Files.isRegularFile(dir.resolve(UNET_DIR).resolve(UNet2DConfig.FILE_NAME))
                || (Files.isRegularFile(dir.resolve(UNet2DConfig.FILE_NAME))
                        && (Files.isRegularFile(dir.resolve(UNet2DModel.SAFETENSORS_FILE))
                                || Files.isRegularFile(dir.resolve(UNet2DModel.BIN_FILE))));
    }

    /**
     * Reads the folder's configs (not the weights).
     *
     * @throws ModelFolderException naming the file and what is missing or wrong
     */
    public static DiffusersFolder open(Path dir) throws IOException {
        String pipeline = null;
        Path unetDir = dir;
        Path schedulerFile = null;
        LatentComponent latent = null;
        Path index = dir.resolve(MODEL_INDEX);
        if (Files.isRegularFile(index)) {
            JsonNode n = readJson(index);
            pipeline = n.path("_class_name").asText(null);
            if (!PIPELINES.contains(pipeline)) {
                throw new ModelFolderException(index + ": _class_name " + n.get("_class_name") + " is not supported ("
                        + String.join(", ", new java.util.TreeSet<>(PIPELINES)) + "; text-to-image pipelines with "
                        + "UNet2DConditionModel and text encoders are not supported yet)");
            }
            latent = LatentComponent.of(dir, n, pipeline, index);
            JsonNode unet = n.get(UNET_DIR);
            if (unet == null || !unet.isArray() || unet.size() != 2 || !"UNet2DModel".equals(unet.get(1).asText())) {
                throw new ModelFolderException(index + ": \"unet\" must be [\"diffusers\", \"UNet2DModel\"], got "
                        + unet);
            }
            unetDir = dir.resolve(UNET_DIR);
            schedulerFile = dir.resolve(SCHEDULER_DIR).resolve(io.diffusion4j.model.ModelFolder.SCHEDULER_FILE);
            if (!Files.isRegularFile(schedulerFile)) {
                throw new ModelFolderException(dir + ": " + SCHEDULER_DIR + "/"
                        + io.diffusion4j.model.ModelFolder.SCHEDULER_FILE + " is missing (model_index.json names a "
                        + "scheduler)");
            }
        } else if (Files.isRegularFile(dir.resolve(UNET_DIR).resolve(UNet2DConfig.FILE_NAME))) {
            unetDir = dir.resolve(UNET_DIR);   // a checkpoint: unet/ and scheduler_config.json beside it
        }
        if (schedulerFile == null) {
            for (Path p : List.of(dir.resolve(io.diffusion4j.model.ModelFolder.SCHEDULER_FILE),
                    dir.resolve(SCHEDULER_DIR).resolve(io.diffusion4j.model.ModelFolder.SCHEDULER_FILE),
                    dir.toAbsolutePath().resolveSibling(SCHEDULER_DIR)
                            .resolve(io.diffusion4j.model.ModelFolder.SCHEDULER_FILE))) {
                if (Files.isRegularFile(p)) {
                    schedulerFile = p;
                    break;
                }
            }
        }
        Path configFile = unetDir.resolve(UNet2DConfig.FILE_NAME);
        if (!Files.isRegularFile(configFile)) {
            throw new ModelFolderException(unetDir + ": " + UNet2DConfig.FILE_NAME + " is missing");
        }
        UNet2DConfig config;
        try {
            config = UNet2DConfig.fromJson(Files.readString(configFile), configFile.toString());
        } catch (IllegalArgumentException e) {
            throw new ModelFolderException(e.getMessage(), e);
        }
        Path weights = unetDir.resolve(UNet2DModel.SAFETENSORS_FILE);
        if (!Files.isRegularFile(weights)) {
            weights = unetDir.resolve(UNet2DModel.BIN_FILE);
        }
        if (!Files.isRegularFile(weights)) {
            throw new ModelFolderException(unetDir + ": the weights are missing (" + UNet2DModel.SAFETENSORS_FILE
                    + " or " + UNet2DModel.BIN_FILE + ")");
        }
        SchedulerConfig sc = schedulerFile == null ? null : SchedulerConfig.read(schedulerFile);
        if (sc != null && DDIM_PIPELINE.equals(pipeline)) {
            sc = sc.withClassName("DDIMScheduler");
        }
        Path specFile = dir.resolve(ModelSpec.FILE_NAME);
        ModelSpec spec = Files.isRegularFile(specFile) ? ModelSpec.read(specFile) : specOf(config, dir, configFile);
        if (latent != null) {
            latent.checkFits(config, configFile);
        }
        return new DiffusersFolder(dir, unetDir, config, weights, sc, pipeline, spec, latent);
    }

    private static ModelSpec specOf(UNet2DConfig c, Path dir, Path configFile) throws ModelFolderException {
        if (c.sampleSize() == null) {
            throw new ModelFolderException(configFile + ": sample_size is null; give the sample shape in "
                    + dir.resolve(ModelSpec.FILE_NAME));
        }
        int[] s = c.sampleSize();
        List<String> sig = c.isClassConditional() ? List.of("sample", "timestep", "class_labels")
                : List.of("sample", "timestep");
        Path name = dir.toAbsolutePath().normalize().getFileName();
        return new ModelSpec(name == null ? "unet" : name.toString(), "denoiser",
                new long[] {c.inChannels(), s[0], s[1]}, new ValueRange(-1, 1), sig,
                c.timeEmbeddingType() == UNet2DConfig.TimeEmbeddingType.LEARNED ? DType.INT64 : DType.FLOAT32,
                c.numClassEmbeds() != null ? c.numClassEmbeds() : 0, -1);
    }

    private static JsonNode readJson(Path file) throws IOException {
        try {
            JsonNode n = JSON.readTree(Files.readString(file));
            if (n == null || !n.isObject()) {
                throw new ModelFolderException(file + ": expected a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ModelFolderException(file + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
    }

    /** Loads the UNet with its weights on {@code device}, cast to {@code dtype}. */
    public UNet2DModel loadModel(Device device, DType dtype) throws IOException {
        UNet2DModel m;
        try {
            m = UNet2DModel.load(config, weights, device, dtype, spec.nullClassId());
        } catch (IllegalArgumentException e) {
            throw new ModelFolderException(e.getMessage(), e);
        }
        if (pipelineClass != null) {
            m.pipelineClass(pipelineClass);
        }
        m.latentComponent(autoencoder);
        return m;
    }

    public Path dir() {
        return dir;
    }

    public Path unetDir() {
        return unetDir;
    }

    public UNet2DConfig config() {
        return config;
    }

    /** The weights file that {@link #loadModel} reads. */
    public Path weights() {
        return weights;
    }

    /** The scheduler config (DDIM for a DDIMPipeline), or null for a bare unet folder without one. */
    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    /** {@code DDPMPipeline}, {@code DDIMPipeline}, or null for a bare unet folder. */
    public String pipelineClass() {
        return pipelineClass;
    }

    public ModelSpec spec() {
        return spec;
    }

    /** The autoencoder of a latent pipeline ({@code vae/} or {@code vqvae/}), or null for a pixel-space folder. */
    public LatentComponent autoencoder() {
        return autoencoder;
    }

    /** Writes {@code model_index.json} for a pipeline of {@code unet} (UNet2DModel) and {@code scheduler}. */
    static void writeModelIndex(Path dir, String pipelineClass, LatentComponent latent) throws IOException {
        String text = "{\n  \"_class_name\": \"" + pipelineClass + "\",\n  \"_diffusers_version\": \"0.30.3\",\n"
                + "  \"scheduler\": [\n    \"diffusers\",\n    \"DDPMScheduler\"\n  ],\n"
                + "  \"unet\": [\n    \"diffusers\",\n    \"UNet2DModel\"\n  ]"
                + (latent == null ? "" : ",\n  \"" + latent.name() + "\": [\n    \"diffusers\",\n    \""
                        + latent.config().kind().className() + "\"\n  ]") + "\n}\n";
        writeAtomically(dir.resolve(MODEL_INDEX), text);
    }

    static void writeAtomically(Path file, String text) throws IOException {
        Path target = file.toAbsolutePath();
        Files.createDirectories(target.getParent());
        Path tmp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The files a diffusers folder of a UNet2DModel may hold, relative to it. */
    private static final List<String> FILES = List.of(MODEL_INDEX, ModelSpec.FILE_NAME,
            UNET_DIR + "/" + UNet2DConfig.FILE_NAME, UNET_DIR + "/" + UNet2DModel.SAFETENSORS_FILE,
            UNET_DIR + "/" + UNet2DModel.BIN_FILE,
            SCHEDULER_DIR + "/" + io.diffusion4j.model.ModelFolder.SCHEDULER_FILE,
            io.diffusion4j.model.ModelFolder.SCHEDULER_FILE, UNet2DConfig.FILE_NAME, UNet2DModel.SAFETENSORS_FILE,
            UNet2DModel.BIN_FILE,
            "vae/config.json", "vae/" + UNet2DModel.SAFETENSORS_FILE, "vae/" + UNet2DModel.BIN_FILE,
            "vqvae/config.json", "vqvae/" + UNet2DModel.SAFETENSORS_FILE, "vqvae/" + UNet2DModel.BIN_FILE);

    /**
     * Copies a diffusers folder from the classpath ({@code resourceDir} ending in {@code /}) to {@code target}, so that
     * it can be opened like one on disk. Returns whether the classpath holds such a folder.
     */
    public static boolean copyResource(ClassLoader loader, String resourceDir, Path target) throws IOException {
        boolean any = false;
        for (String f : FILES) {
            try (java.io.InputStream in = loader.getResourceAsStream(resourceDir + f)) {
                if (in != null) {
                    Path p = target.resolve(f);
                    Files.createDirectories(p.getParent());
                    Files.copy(in, p, StandardCopyOption.REPLACE_EXISTING);
                    any = true;
                }
            }
        }
        return any;
    }
}
