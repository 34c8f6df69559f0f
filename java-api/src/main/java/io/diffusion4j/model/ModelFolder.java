package io.diffusion4j.model;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.ModelInvocationException;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.models.BuiltinModels;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import io.diffusion4j.model.diffusers.DiffusersFolder;
import io.diffusion4j.model.diffusers.UNet2DModel;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;

/**
 * A model folder: {@code model.pt} (TorchScript), {@code scheduler_config.json} (diffusers) and, optionally,
 * {@code diffusion4j.json} (sample shape, value range, signature, classes); or a folder in diffusers' own layout
 * ({@code model_index.json}, {@code unet/}, {@code scheduler/}: see {@link DiffusersFolder}), whose UNet2DModel is
 * built in Java. Opened from a directory or from the
 * built-in models on the classpath; the files are read and checked when opened, the module when loaded.
 */
public final class ModelFolder {
    public static final String MODEL_FILE = "model.pt";
    public static final String SCHEDULER_FILE = "scheduler_config.json";

    private final String location;
    private final Path dir;
    private final String resourceDir;
    private final SchedulerConfig schedulerConfig;
    private final ModelSpec spec;
    private final Architecture architecture;
    private final DiffusersFolder diffusers;

    private ModelFolder(String location, Path dir, String resourceDir, SchedulerConfig schedulerConfig, ModelSpec spec,
                        Architecture architecture, DiffusersFolder diffusers) {
        this.diffusers = diffusers;
        this.location = location;
        this.dir = dir;
        this.resourceDir = resourceDir;
        this.schedulerConfig = schedulerConfig;
        this.spec = spec;
        this.architecture = architecture;
    }

    /** The prefix that names a built-in model explicitly ({@link #location()} of a built-in), even where a folder of
     * the same name exists. */
    public static final String BUILTIN_PREFIX = "builtin:";

    /**
     * Opens a model folder on disk, or else a built-in model by name: a directory that holds a model (a
     * {@link #MODEL_FILE}, {@link #SCHEDULER_FILE}, {@code diffusion4j.json} or diffusers' {@code model_index.json})
     * wins over a built-in of the same name, so a student written to {@code --out toy2d-4step} is the one that
     * {@code --model toy2d-4step} then runs (as diffusers' {@code from_pretrained} prefers a local folder);
     * {@code builtin:NAME} always names the built-in.
     *
     * @throws ModelFolderException naming what is missing or wrong
     */
    public static ModelFolder resolve(String nameOrPath) throws IOException {
        return resolve(nameOrPath, Path.of(""));
    }

    /** {@link #resolve(String)} with relative paths taken from {@code base}. */
    static ModelFolder resolve(String nameOrPath, Path base) throws IOException {
        if (nameOrPath.startsWith(BUILTIN_PREFIX)) {
            return builtin(nameOrPath.substring(BUILTIN_PREFIX.length()));
        }
        Path p = base.resolve(nameOrPath);
        boolean builtin = BuiltinModels.names().contains(nameOrPath);
        if (Files.isDirectory(p) && (!builtin || holdsModel(p))) {
            return open(p);
        }
        if (builtin) {
            return builtin(nameOrPath);
        }
        throw new ModelNotFoundException("model '" + nameOrPath + "' is neither a built-in model ("
                + String.join(", ", BuiltinModels.names()) + ") nor a directory");
    }

    /** Whether {@code dir} holds any of a model folder's files (an unrelated folder does not hide a built-in). */
    private static boolean holdsModel(Path dir) {
        return Files.isRegularFile(dir.resolve(MODEL_FILE)) || Files.isRegularFile(dir.resolve(SCHEDULER_FILE))
                || Files.isRegularFile(dir.resolve(ModelSpec.FILE_NAME)) || DiffusersFolder.isDiffusers(dir);
    }

    /** Opens a model folder on disk. */
    public static ModelFolder open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new ModelFolderException("model folder not found: " + dir.toAbsolutePath());
        }
        if (DiffusersFolder.isDiffusers(dir)) {   // diffusers' layout: model_index.json + unet/ + scheduler/
            DiffusersFolder d = DiffusersFolder.open(dir);
            return new ModelFolder(dir.toString(), dir, null, d.schedulerConfig(), d.spec(), null, d);
        }
        Path sched = dir.resolve(SCHEDULER_FILE);
        SchedulerConfig config = Files.isRegularFile(sched) ? SchedulerConfig.read(sched) : null;
        Path specFile = dir.resolve(ModelSpec.FILE_NAME);
        ModelSpec spec = Files.isRegularFile(specFile) ? ModelSpec.read(specFile) : null;
        Architecture architecture = Files.isRegularFile(specFile) ? readArchitecture(specFile) : null;
        if (architecture == null && !Files.isRegularFile(dir.resolve(MODEL_FILE))) {
            throw new ModelFolderException(dir + ": " + MODEL_FILE + " is missing (a TorchScript file written by "
                    + "torch.jit.save, or " + NetDenoiser.WEIGHTS_FILE + " with an architecture in "
                    + ModelSpec.FILE_NAME + ")");
        }
        if (architecture != null && !Files.isRegularFile(dir.resolve(NetDenoiser.WEIGHTS_FILE))) {
            throw new ModelFolderException(dir + ": " + NetDenoiser.WEIGHTS_FILE + " is missing (the weights of the "
                    + architecture.type().name().toLowerCase(java.util.Locale.ROOT) + " architecture that "
                    + ModelSpec.FILE_NAME + " describes)");
        }
        return new ModelFolder(dir.toString(), dir, null, config, spec, architecture, null);
    }

    /** The {@code architecture} of a {@code diffusion4j.json}, or null when it has none. */
    static Architecture readArchitecture(Path specFile) throws IOException {
        com.fasterxml.jackson.databind.JsonNode root;
        try {
            root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readString(specFile));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ModelFolderException(specFile + ": not valid JSON", e);
        }
        com.fasterxml.jackson.databind.JsonNode a = root == null ? null : root.get("architecture");
        if (a == null || a.isNull()) {
            return null;
        }
        try {
            return Architecture.fromJson(a);
        } catch (IllegalArgumentException e) {
            throw new ModelFolderException(specFile + ": " + e.getMessage(), e);
        }
    }

    /**
     * The trainable model of a model folder or checkpoint {@code dir}: a Java-built network when
     * {@code diffusion4j.json} has an {@code architecture} (weights from {@code weights.pt}), otherwise the
     * TorchScript {@code model.pt}. The caller owns (closes) it.
     */
    public static TrainableModel loadTrainable(Path dir, ModelSpec spec, Device device) throws IOException {
        if (DiffusersFolder.isDiffusers(dir)) {
            return DiffusersFolder.open(dir).loadModel(device, DType.FLOAT32);
        }
        Path specFile = dir.resolve(ModelSpec.FILE_NAME);
        Architecture a = Files.isRegularFile(specFile) ? readArchitecture(specFile) : null;
        if (a != null) {
            Path weights = dir.resolve(NetDenoiser.WEIGHTS_FILE);
            if (!Files.isRegularFile(weights)) {
                throw new ModelFolderException(dir + ": " + NetDenoiser.WEIGHTS_FILE + " is missing");
            }
            return Networks.load(a, weights, device);
        }
        Path model = dir.resolve(MODEL_FILE);
        if (!Files.isRegularFile(model)) {
            throw new ModelFolderException(dir + ": " + MODEL_FILE + " is missing");
        }
        return TrainableModel.of(TorchScriptModule.load(model, device), spec, true);
    }

    /**
     * The autoencoder of a latent pipeline folder (its denoiser works on latents, {@link #spec()}'s sample shape is the
     * latent's), or null for a pixel-space model.
     */
    public io.diffusion4j.model.diffusers.LatentComponent latent() {
        return diffusers == null ? null : diffusers.autoencoder();
    }

    /** The diffusers layout of this folder (a UNet2DModel pipeline or unet folder), or null for any other folder. */
    public DiffusersFolder diffusers() {
        return diffusers;
    }

    /** The architecture of a folder holding a Java-built network, or null for a TorchScript model. */
    public Architecture architecture() {
        return architecture;
    }

    /** The model as a {@link TrainableModel} on {@code device} (the caller owns it). */
    public TrainableModel loadTrainable(Device device) throws IOException {
        if (diffusers != null) {
            return diffusers.loadModel(device, DType.FLOAT32);
        }
        if (dir != null) {
            return loadTrainable(dir, spec, device);
        }
        return TrainableModel.of(loadModule(device), spec, true);
    }

    /** Opens a built-in model from the classpath. */
    public static ModelFolder builtin(String name) throws IOException {
        String base = BuiltinModels.ROOT + name + "/";
        if (resourceExists(base + DiffusersFolder.MODEL_INDEX)) {
            // a diffusers folder: its weights are read from files, so it is unpacked to a temporary folder first
            Path tmp = Files.createTempDirectory("diffusion4j-" + name + "-");
            deleteOnExit(tmp);
            DiffusersFolder.copyResource(classLoader(), base, tmp);
            DiffusersFolder d = DiffusersFolder.open(tmp);
            return new ModelFolder(BUILTIN_PREFIX + name, tmp, null, d.schedulerConfig(), d.spec(), null, d);
        }
        String modelJson = resourceText(base + ModelSpec.FILE_NAME);
        String sched = resourceText(base + SCHEDULER_FILE);
        if (sched == null && modelJson == null) {
            throw new ModelFolderException("no built-in model '" + name + "'; built-in models: "
                    + String.join(", ", BuiltinModels.names()));
        }
        SchedulerConfig config = sched == null ? null : SchedulerConfig.fromJson(sched, BUILTIN_PREFIX + name + "/" + SCHEDULER_FILE);
        ModelSpec spec = modelJson == null ? null : ModelSpec.fromJson(modelJson, BUILTIN_PREFIX + name + "/" + ModelSpec.FILE_NAME);
        return new ModelFolder(BUILTIN_PREFIX + name, null, base, config, spec, null, null);
    }

    private static boolean resourceExists(String resource) {
        return classLoader().getResource(resource) != null;
    }

    private static void deleteOnExit(Path dir) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try (java.util.stream.Stream<Path> files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // best effort: a temporary folder
            }
        }));
    }

    private static String resourceText(String resource) throws IOException {
        try (InputStream in = classLoader().getResourceAsStream(resource)) {
            return in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static ClassLoader classLoader() {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        return cl != null ? cl : ModelFolder.class.getClassLoader();
    }

    /**
     * Copies this folder's model files (TorchScript {@code model.pt} or a Java-built network's weights, its
     * {@code diffusion4j.json}, any other file beside them) into {@code target}, but not {@code scheduler_config.json}:
     * for a derived folder that samples the same model with another scheduler config.
     *
     * @throws ModelFolderException for a diffusers folder (its scheduler config lives in scheduler/)
     */
    public void copyModelFilesTo(Path target) throws IOException {
        if (diffusers != null) {
            throw new ModelFolderException(location + " is a diffusers folder; copy it and edit its "
                    + "scheduler/scheduler_config.json instead");
        }
        Files.createDirectories(target);
        if (dir != null) {
            try (java.util.stream.Stream<Path> files = Files.list(dir)) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    if (!f.getFileName().toString().equals(SCHEDULER_FILE)) {
                        Files.copy(f, target.resolve(f.getFileName().toString()),
                                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            return;
        }
        for (String name : new String[] {MODEL_FILE, ModelSpec.FILE_NAME}) {
            try (InputStream in = classLoader().getResourceAsStream(resourceDir + name)) {
                if (in != null) {
                    Files.copy(in, target.resolve(name), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    /** Where the folder is: a path or {@code builtin:<name>}. */
    public String location() {
        return location;
    }

    /** The scheduler config, or null when the folder has none (e.g. a classifier). */
    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    /** The folder's {@code diffusion4j.json}, or null when it has none. */
    public ModelSpec spec() {
        return spec;
    }

    /** Loads {@code model.pt} onto {@code device}. */
    public TorchScriptModule loadModule(Device device) throws IOException {
        if (diffusers != null) {
            throw new ModelFolderException(location + " is a diffusers folder (UNet2DModel), not a TorchScript model");
        }
        return dir != null
                ? TorchScriptModule.load(dir.resolve(MODEL_FILE), device)
                : TorchScriptModule.loadResource(resourceDir + MODEL_FILE, device);
    }

    /**
     * Loads the denoiser and, when {@code diffusion4j.json} gives a sample shape, checks with one forward on a batch
     * of one that the model accepts that shape and returns it (or twice its channels, for learned variance).
     *
     * @throws ModelFolderException if the model rejects the documented shape
     */
    public Denoiser loadDenoiser(Device device, DType dtype) throws IOException {
        return loadDenoiser(device, dtype, ScriptMode.DEFAULT);
    }

    /**
     * As {@link #loadDenoiser(Device, DType)}, choosing how a TorchScript model runs ({@link ScriptMode}; frozen by
     * default). Java-built and diffusers-folder networks ignore {@code scriptMode}.
     */
    public Denoiser loadDenoiser(Device device, DType dtype, ScriptMode scriptMode) throws IOException {
        if (scriptMode == null) {
            throw new IllegalArgumentException("script mode must be given (FROZEN or PLAIN), got null");
        }
        if (schedulerConfig == null) {
            throw new ModelFolderException(location + ": " + SCHEDULER_FILE + " is missing (a denoiser needs the "
                    + "diffusers scheduler config it was trained with)");
        }
        if (diffusers != null) {
            UNet2DModel unet = diffusers.loadModel(device, dtype);
            if (unet.config().classEmbedType() == io.diffusion4j.model.diffusers.UNet2DConfig.ClassEmbedType.IDENTITY) {
                return unet;   // its class input is a float embedding the probe cannot make up
            }
            try {
                probe(unet, spec);
            } catch (ModelFolderException | RuntimeException e) {
                unet.close();
                throw e;
            }
            return unet;
        }
        if (architecture != null) {
            if (dtype != DType.FLOAT32) {
                throw new ModelFolderException(location + ": a Java-built " + architecture.type().name()
                        .toLowerCase(java.util.Locale.ROOT) + " runs in float32 only, got " + dtype.label());
            }
            NetDenoiser net = Networks.load(architecture, dir.resolve(NetDenoiser.WEIGHTS_FILE), device);
            if (spec != null) {
                try {
                    probe(net, spec);
                } catch (ModelFolderException e) {
                    net.close();
                    throw e;
                }
            }
            return net;
        }
        TorchScriptModule module = loadModule(device);
        TorchScriptDenoiser d;
        try {
            d = new TorchScriptDenoiser(module, spec, dtype, scriptMode);
        } catch (IllegalArgumentException e) {
            module.close();
            throw new ModelFolderException(location + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            module.close();
            throw e;
        }
        if (spec != null) {
            try {
                probe(d, spec);
            } catch (ModelFolderException e) {
                d.close();
                throw e;
            }
            io.diffusion4j.bindings.StartupTrace.mark("probe forward (the model takes its sample shape)");
        }
        return d;
    }

    private void probe(Denoiser d, ModelSpec spec) throws ModelFolderException {
        long[] shape = spec.batchShape(1);
        String where = location + "/" + ModelSpec.FILE_NAME;
        try (NativeScope scope = new NativeScope()) {
            Tensor x = Tensor.zeros(d.dtype(), d.device(), shape);
            Tensor t = Tensor.zeros(d.timestepDType(), d.device(), 1);
            Tensor labels = d.isConditional()
                    ? Tensor.full(Math.max(0, d.nullClassId()), DType.INT64, d.device(), 1) : null;
            long[] out = d.predict(x, t, labels).shape();
            long[] doubled = shape.clone();
            if (doubled.length > 1) {
                doubled[1] *= 2;
            }
            if (!Arrays.equals(out, shape) && !Arrays.equals(out, doubled)) {
                throw new ModelFolderException(where + ": sample_shape " + Arrays.toString(spec.sampleShape())
                        + " gives a model output of shape " + Arrays.toString(out) + ", expected "
                        + Arrays.toString(shape));
            }
        } catch (ModelInvocationException e) {
            if (d.dtype() != DType.FLOAT32) {
                throw new ModelFolderException(location + "/" + MODEL_FILE + " does not run in " + d.dtype().label()
                        + " (it makes float32 tensors inside its forward); use float32 (" + e.getMessage() + ")", e);
            }
            throw new ModelFolderException(where + ": sample_shape " + Arrays.toString(spec.sampleShape())
                    + " is not accepted by " + MODEL_FILE + " (" + e.getMessage() + ")", e);
        }
    }
}
