package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.nn.Initializers;
import io.diffusion4j.training.Checkpoints;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.Dataset;
import io.diffusion4j.training.data.DatasetException;
import io.diffusion4j.training.data.ImageFolderDataset;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/** {@code diffusion4j train}: fine-tune a TorchScript denoiser and export a model folder. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Fine-tune a model's model.pt on a tensor file or an image folder with the model's own "
                + "denoising loss; save checkpoints and export a model folder that 'diffusion4j sample' and Python's "
                + "torch.jit.load read.",
            "Progress (step, mean loss, lr, steps/s) is printed about every tenth of the run. A resumed run keeps the "
                + "checkpoint's settings and continues its step count up to --steps."})
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "NAME|DIR",
            description = "A built-in model or a model folder to fine-tune (not needed with --resume).")
    String model;

    @Option(names = "--data", required = true, paramLabel = "DIR|FILE.pt",
            description = "A tensor file [N, ...sample shape] in the model's value range, or a folder of PNG/JPEG "
                    + "images (class sub-folders, sorted by name, give labels 0..K-1 for a class-conditional model).")
    Path data;

    @Option(names = "--labels", paramLabel = "FILE.pt", description = "Class ids [N] (int64) for a tensor file.")
    Path labels;

    @Option(names = "--steps", required = true, paramLabel = "N",
            description = "Optimizer steps of the run (a resumed run continues up to N).")
    int steps;

    @Option(names = {"-b", "--batch"}, paramLabel = "B", defaultValue = "64",
            description = "Examples per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "1e-4",
            description = "Learning rate, AdamW (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--ema", paramLabel = "DECAY", defaultValue = "0",
            description = "Keep an EMA of the weights with this decay, exported instead of the raw weights (default: off).")
    double ema;

    @Option(names = "--min-snr", paramLabel = "GAMMA", defaultValue = "0",
            description = "Min-SNR-gamma loss weighting, e.g. 5 (default: off).")
    double minSnr;

    @Option(names = "--label-dropout", paramLabel = "P", defaultValue = "0",
            description = "Replace class labels by the null class with probability P (classifier-free guidance).")
    double labelDropout;

    @Option(names = "--grad-clip", paramLabel = "C", defaultValue = "0",
            description = "Clip the global gradient norm to C (default: off).")
    double gradClip;

    @Option(names = "--accumulate", paramLabel = "K", defaultValue = "1",
            description = "Split each batch into K micro-batches (default: ${DEFAULT-VALUE}).")
    int accumulate;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Seed of the data order, flips, timesteps and noise (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--reinit",
            description = "Re-initialise the model's weights before training (PyTorch's default initialisation by "
                    + "layer, seeded by --seed): train the architecture from scratch.")
    boolean reinit;

    @Option(names = "--flip", description = "Flip images horizontally at random (image folders).")
    boolean flip;

    @Option(names = "--checkpoint-dir", paramLabel = "DIR",
            description = "Save checkpoints (weights, EMA, optimizer state, step, config) here, and at the end.")
    Path checkpointDir;

    @Option(names = "--checkpoint-every", paramLabel = "N", defaultValue = "0",
            description = "Save a checkpoint every N steps (needs --checkpoint-dir; default: only at the end).")
    int checkpointEvery;

    @Option(names = "--keep", paramLabel = "K", defaultValue = "3",
            description = "Keep the newest K checkpoints (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--resume", paramLabel = "DIR",
            description = "Continue from a checkpoint folder, or the newest checkpoint in a folder of checkpoints.")
    Path resume;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR",
            description = "Model folder to export (model.pt, scheduler_config.json, diffusion4j.json).")
    Path out;

    @Option(names = "--device", paramLabel = "D", defaultValue = "cpu",
            description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "LibTorch intra-op threads (default: LibTorch's).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        checkOptions();
        if (threads != null) {
            Torch.setThreads(threads);
        }
        Device dev;
        try {
            dev = Torch.device(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device: " + e.getMessage());
        }
        ModelFolder folder = null;
        if (model != null) {
            try {
                folder = ModelFolder.resolve(model);
            } catch (ModelNotFoundException e) {
                throw new UsageException("--model: " + e.getMessage());
            }
        }
        TorchScriptModule module = null;
        Trainer trainer = null;
        try {
            if (resume != null) {
                trainer = resumed(folder, dev);
            } else {
                if (folder.schedulerConfig() == null) {
                    throw new UsageException(folder.location() + " has no scheduler_config.json: it is not a denoiser");
                }
                module = folder.loadModule(dev);
                if (reinit) {
                    try {
                        Initializers.reinit(module, seed);
                    } catch (IllegalArgumentException e) {
                        throw new UsageException("--reinit: " + e.getMessage());
                    }
                }
                try {
                    trainer = new Trainer(module, folder.schedulerConfig(), folder.spec(), config());
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            }
            train(trainer, folder != null ? folder.location() : resume.toString(), stdout);
        } finally {
            if (trainer != null) {
                trainer.close();
            }
            if (module != null) {
                module.close();
            }
        }
        return 0;
    }

    private void checkOptions() {
        if (steps < 1) {
            throw new UsageException("--steps must be >= 1, got " + steps);
        }
        if (batch < 1) {
            throw new UsageException("--batch must be >= 1, got " + batch);
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new UsageException("--lr must be > 0, got " + lr);
        }
        if (accumulate < 1 || accumulate > batch) {
            throw new UsageException("--accumulate must be between 1 and --batch " + batch + ", got " + accumulate);
        }
        if (threads != null && threads < 1) {
            throw new UsageException("--threads must be >= 1, got " + threads);
        }
        if (checkpointEvery < 0) {
            throw new UsageException("--checkpoint-every must be >= 0, got " + checkpointEvery);
        }
        if (checkpointEvery > 0 && checkpointDir == null) {
            throw new UsageException("--checkpoint-every needs --checkpoint-dir DIR");
        }
        if (keep < 1) {
            throw new UsageException("--keep must be >= 1, got " + keep);
        }
        if (reinit && resume != null) {
            throw new UsageException("--reinit starts from new weights; it cannot be combined with --resume");
        }
        if (model == null && resume == null) {
            throw new UsageException("--model NAME|DIR is required (or --resume DIR)");
        }
        if (!Files.exists(data)) {
            throw new UsageException("--data " + data + ": no such file or folder");
        }
        if (labels != null && Files.isDirectory(data)) {
            throw new UsageException("--labels is for tensor files; an image folder's labels come from its "
                    + "sub-folders");
        }
        if (labels != null && !Files.isRegularFile(labels)) {
            throw new UsageException("--labels " + labels + ": no such file");
        }
        if (flip && !Files.isDirectory(data)) {
            throw new UsageException("--flip is for image folders; " + data + " is a tensor file");
        }
    }

    private TrainingConfig config() {
        try {
            return TrainingConfig.builder().learningRate(lr).emaDecay(ema).minSnrGamma(minSnr)
                    .labelDropout(labelDropout).gradientClipNorm(gradClip).gradientAccumulation(accumulate).seed(seed)
                    .keepCheckpoints(keep).totalSteps(steps).build();
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** The trainer of {@code --resume}, after checking that the options given agree with the checkpoint. */
    private Trainer resumed(ModelFolder folder, Device dev) throws IOException {
        boolean isCheckpoint = Files.isRegularFile(resume.resolve("trainer_state.json"));
        if (!Files.isDirectory(resume) || (!isCheckpoint && Checkpoints.latest(resume) == null)) {
            throw new UsageException("--resume " + resume + ": no checkpoint there (a " + Checkpoints.PREFIX
                    + "NNNNNNNN folder, or a folder of them, as --checkpoint-dir writes)");
        }
        Trainer t = Trainer.resume(resume, dev);
        try {
            TrainingConfig c = t.config();
            ParseResult given = spec.commandLine().getParseResult();
            same(given, "--lr", lr, c.learningRate(), "learning_rate");
            same(given, "--ema", ema, c.emaDecay(), "ema_decay");
            same(given, "--min-snr", minSnr, c.minSnrGamma(), "min_snr_gamma");
            same(given, "--label-dropout", labelDropout, c.labelDropout(), "label_dropout");
            same(given, "--grad-clip", gradClip, c.gradientClipNorm(), "gradient_clip_norm");
            same(given, "--accumulate", accumulate, c.gradientAccumulation(), "gradient_accumulation");
            same(given, "--seed", seed, c.seed(), "seed");
            same(given, "--keep", keep, c.keepCheckpoints(), "keep_checkpoints");
            if (folder != null && folder.spec() != null && t.spec() != null && !folder.spec().equals(t.spec())) {
                throw new UsageException("--resume " + resume + " is a checkpoint of model '" + t.spec().name()
                        + "', not of --model " + model + " ('" + folder.spec().name() + "')");
            }
            if (t.step() >= steps) {
                throw new UsageException("--resume " + resume + " is at step " + t.step() + ", already --steps "
                        + steps + " or more");
            }
            return t;
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    private static void same(ParseResult given, String option, double value, double saved, String key) {
        if (given.hasMatchedOption(option) && value != saved) {
            throw new UsageException(option + " " + value + " differs from the checkpoint's " + key + " " + saved
                    + "; a resumed run keeps its settings");
        }
    }

    /** The data as the model takes it. */
    private Dataset dataset(ModelSpec modelSpec, long dataSeed) throws IOException {
        try {
            if (Files.isDirectory(data)) {
                if (modelSpec == null || modelSpec.valueRange() == null || modelSpec.sampleShape().length != 3) {
                    throw new UsageException("--data " + data + " is an image folder, but the model "
                            + (modelSpec == null ? "has no " + ModelSpec.FILE_NAME
                            : "takes samples " + Arrays.toString(modelSpec.sampleShape())
                                    + (modelSpec.valueRange() == null ? " and no value_range" : ""))
                            + "; image folders need sample_shape [C, H, W] and value_range");
                }
                ImageFolderDataset images;
                try {
                    images = ImageFolderDataset.forModel(data, modelSpec);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--data " + data + ": " + e.getMessage());
                }
                return flip ? images.withFlip(dataSeed) : images;
            }
            TensorFileDataset tensors = TensorFileDataset.read(data, labels);
            if (modelSpec != null) {
                tensors.requireSampleShape(modelSpec.sampleShape(), modelSpec.name());
            }
            return tensors;
        } catch (DatasetException | io.diffusion4j.bindings.TensorFileException e) {
            throw new UsageException("--data: " + e.getMessage());
        }
    }

    private void train(Trainer trainer, String modelName, PrintWriter stdout) throws IOException {
        ModelSpec modelSpec = trainer.spec();
        Dataset ds = dataset(modelSpec, trainer.config().seed());
        boolean conditional = modelSpec != null ? modelSpec.isConditional()
                : trainer.module().forwardArguments().size() == 3;
        long nullClass = -1;
        if (ds.labeled() && !conditional) {
            throw new UsageException(modelName + " is unconditional: it takes no class labels (drop "
                    + (labels != null ? "--labels" : "the class sub-folders") + ")");
        }
        if (ds.labeled() && modelSpec != null && ds.numClasses() > modelSpec.numClasses()) {
            throw new UsageException("the data has class ids up to " + (ds.numClasses() - 1) + ", but " + modelName
                    + " has " + modelSpec.numClasses() + " classes (0.." + (modelSpec.numClasses() - 1) + ")");
        }
        if (!ds.labeled() && conditional) {
            nullClass = modelSpec != null ? modelSpec.nullClassId() : -1;
            if (nullClass < 0) {
                throw new UsageException(modelName + " is class-conditional without a null class: give labels "
                        + "(--labels FILE.pt, or class sub-folders)");
            }
        }
        TrainingConfig c = trainer.config();
        long first = trainer.step();
        stdout.printf("training %s on %s (%d examples%s) on %s: steps %d..%d, batch %d, lr %s%s%n", modelName, data,
                ds.size(), ds.labeled() ? ", " + ds.numClasses() + " classes"
                        : nullClass >= 0 ? ", all as the null class " + nullClass : "",
                trainer.module().device(), first + 1, steps, batch, c.learningRate(),
                c.emaEnabled() ? ", EMA " + c.emaDecay() : "");
        stdout.flush();
        int every = Math.max(1, steps / 10);
        Path lastSaved = null;
        try (BatchLoader loader = new BatchLoader(ds, batch, c.seed(), first)) {
            double lossSum = 0;
            int lossCount = 0;
            long t0 = System.nanoTime();
            long stepsSince = 0;
            for (long s = first; s < steps; s++) {
                try (NativeScope scope = new NativeScope()) {
                    Batch b = loader.next();
                    Tensor l = b.labels() != null ? b.labels()
                            : nullClass >= 0 ? Tensor.full(nullClass, DType.INT64, Device.CPU, b.size()) : null;
                    lossSum += trainer.step(b.x0(), l);
                    lossCount++;
                    stepsSince++;
                }
                long done = s + 1;
                if (done % every == 0 || done == steps) {
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    stdout.printf("step %d/%d  loss %.5f  lr %.3g  %.1f steps/s%n", done, steps, lossSum / lossCount,
                            trainer.lastLearningRate(), stepsSince / Math.max(seconds, 1e-9));
                    stdout.flush();
                    lossSum = 0;
                    lossCount = 0;
                    stepsSince = 0;
                    t0 = System.nanoTime();
                }
                if (checkpointDir != null && checkpointEvery > 0 && done % checkpointEvery == 0) {
                    lastSaved = trainer.saveTo(checkpointDir);
                    stdout.println("saved " + lastSaved);
                }
            }
        }
        if (checkpointDir != null && (lastSaved == null
                || !Objects.equals(lastSaved.getFileName().toString(), Checkpoints.name(trainer.step())))) {
            stdout.println("saved " + trainer.saveTo(checkpointDir));
        }
        trainer.export(out, trainer.schedulerConfig(), modelSpec);
        stdout.printf("exported %s (%s weights after %d steps); sample with: diffusion4j sample --model %s%n", out,
                c.emaEnabled() ? "EMA" : "raw", trainer.step(), out);
        stdout.flush();
    }
}
