package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.ProcessGroup;
import io.diffusion4j.bindings.ProcessGroupConfig;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.Initializers;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.util.List;
import io.diffusion4j.training.Checkpoints;
import io.diffusion4j.training.DataParallel;
import io.diffusion4j.training.LocalLauncher;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
                + "checkpoint's settings and continues its step count up to --steps.",
            "Data-parallel: --nproc N starts N local ranks; --rank/--world-size/--master-addr/--master-port (or the "
                + "env vars RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) join a job started elsewhere. --batch is the "
                + "global batch, split evenly over the ranks; rank 0 logs, saves and exports."})
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "NAME|DIR",
            description = "A built-in model or a model folder to fine-tune (not needed with --resume or --arch).")
    String model;

    @Option(names = "--arch", paramLabel = "mlp|unet",
            description = "Train a new Java-built network instead of a model.pt: mlp (any sample shape, e.g. 2-D points) "
                    + "or unet ([C, H, W] images, class-conditional with a null class when the data has labels). "
                    + "Exported as weights.pt (a PyTorch state dict) + its architecture in diffusion4j.json.")
    String arch;

    @Option(names = "--sample-shape", paramLabel = "D[,D...]",
            description = "Sample shape for --arch, e.g. 2 or 1,8,8 (default: a tensor file's; required for an image "
                    + "folder).")
    String sampleShape;

    @Option(names = "--width", paramLabel = "N",
            description = "--arch width: hidden units (mlp, default 128) or base channels (unet, default 32).")
    Integer width;

    @Option(names = "--depth", paramLabel = "N",
            description = "--arch depth: hidden layers (mlp, default 3) or middle ResBlocks (unet, default 2).")
    Integer depth;

    @Option(names = "--prediction-type", paramLabel = "T", defaultValue = "epsilon",
            description = "What a new --arch network predicts: epsilon, v_prediction or sample (default: "
                    + "${DEFAULT-VALUE}); its scheduler is DDPM, 1000 steps, linear betas 1e-4..0.02.")
    String predictionType;

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
            description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--lr-schedule", paramLabel = "S", defaultValue = "constant",
            description = "constant or cosine (decay to 0 at --steps) after the warm-up (default: ${DEFAULT-VALUE}).")
    String lrSchedule;

    @Option(names = "--warmup-steps", paramLabel = "N", defaultValue = "0",
            description = "Linear learning-rate warm-up over the first N steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;

    @Option(names = "--optimizer", paramLabel = "O", defaultValue = "adamw",
            description = "adamw, adam or sgd (default: ${DEFAULT-VALUE}).")
    String optimizer;

    @Option(names = "--weight-decay", paramLabel = "W", defaultValue = "1e-2",
            description = "Weight decay: decoupled for adamw, L2 for adam and sgd (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--offset-noise", paramLabel = "S", defaultValue = "0",
            description = "Offset-noise strength: noise += S * randn[B, C, 1, 1] (default: off).")
    double offsetNoise;

    @Option(names = "--metrics-csv", paramLabel = "FILE",
            description = "Write step,loss,lr,grad_norm,seconds for every step to FILE (CSV).")
    Path metricsCsv;

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

    @Option(names = "--threads", paramLabel = "N", description = "LibTorch intra-op threads (default: LibTorch's; "
            + "with --nproc, the cores divided by N).")
    Integer threads;

    @Option(names = "--nproc", paramLabel = "N",
            description = "Start N local processes as ranks 0..N-1 of a data-parallel job and wait for them; their "
                    + "output is prefixed with [rank r].")
    Integer nproc;

    @Option(names = "--rank", paramLabel = "R", description = "This process's rank in a data-parallel job "
            + "(default: env RANK).")
    Integer rank;

    @Option(names = "--world-size", paramLabel = "W", description = "The number of ranks (default: env WORLD_SIZE; "
            + "none: one process).")
    Integer worldSize;

    @Option(names = "--master-addr", paramLabel = "HOST", description = "Host of rank 0's rendezvous (default: env "
            + "MASTER_ADDR, else 127.0.0.1).")
    String masterAddr;

    @Option(names = "--master-port", paramLabel = "PORT", description = "Port of rank 0's rendezvous (default: env "
            + "MASTER_PORT, else 29500).")
    Integer masterPort;

    @Option(names = "--dist-timeout", paramLabel = "SECONDS", defaultValue = "300",
            description = "How long a rank waits for the others (rendezvous and every gradient all-reduce) before it "
                    + "fails (default: ${DEFAULT-VALUE}).")
    int distTimeout;

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        checkOptions();
        ProcessGroupConfig dist = distributedConfig();
        if (nproc != null) {
            return launch(stdout, spec.commandLine().getErr());
        }
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
        io.diffusion4j.model.TrainableModel diffusersModel = null;
        Trainer trainer = null;
        try {
            if (resume != null) {
                trainer = resumed(folder, dev);
            } else if (arch != null) {
                trainer = newNetwork(dev);
            } else if (folder.diffusers() != null) {   // a diffusers UNet2DModel: exported back in diffusers' layout
                if (folder.schedulerConfig() == null) {
                    throw new UsageException(folder.location() + " has no scheduler config: it is a bare unet folder;"
                            + " put scheduler_config.json beside it or use the pipeline folder");
                }
                if (reinit) {
                    throw new UsageException("--reinit is not supported for diffusers folders");
                }
                diffusersModel = folder.loadTrainable(dev);
                try {
                    trainer = new Trainer(diffusersModel, folder.schedulerConfig(), folder.spec(), config());
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
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
            String name = folder != null ? folder.location() : resume != null ? resume.toString()
                    : "a new " + arch + " network";
            if (dist == null) {
                train(trainer, name, stdout, null);
            } else {
                try (ProcessGroup group = ProcessGroup.join(dist)) {
                    trainer.distribute(DataParallel.over(group));
                    train(trainer, name, group.isMain() ? stdout : new PrintWriter(java.io.Writer.nullWriter()),
                            trainer.dataParallel());
                }
            }
        } finally {
            if (trainer != null) {
                trainer.close();
            }
            if (module != null) {
                module.close();
            }
            if (diffusersModel != null) {
                diffusersModel.close();
            }
            if (ownedNetwork != null) {
                ownedNetwork.close();
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
        if (arch != null && !arch.equals("mlp") && !arch.equals("unet")) {
            throw new UsageException("--arch must be mlp or unet, got " + arch);
        }
        if (arch != null && (model != null || resume != null)) {
            throw new UsageException("--arch builds a new network; it cannot be combined with "
                    + (model != null ? "--model" : "--resume"));
        }
        if (arch == null && (sampleShape != null || width != null || depth != null
                || spec.commandLine().getParseResult().hasMatchedOption("--prediction-type"))) {
            throw new UsageException("--sample-shape, --width, --depth and --prediction-type describe a new --arch "
                    + "network");
        }
        if (width != null && width < 1 || depth != null && depth < 0) {
            throw new UsageException("--width must be >= 1 and --depth >= 0, got " + width + " and " + depth);
        }
        if (model == null && resume == null && arch == null) {
            throw new UsageException("--model NAME|DIR is required (or --resume DIR, or --arch mlp|unet)");
        }
        if (!lrSchedule.equals("constant") && !lrSchedule.equals("cosine")) {
            throw new UsageException("--lr-schedule must be constant or cosine, got " + lrSchedule);
        }
        if (warmupSteps < 0) {
            throw new UsageException("--warmup-steps must be >= 0, got " + warmupSteps);
        }
        if (lrSchedule.equals("cosine") && warmupSteps >= steps) {
            throw new UsageException("--warmup-steps " + warmupSteps + " leaves no steps to decay: with --lr-schedule "
                    + "cosine it must be less than --steps " + steps);
        }
        if (!optimizer.equals("adamw") && !optimizer.equals("adam") && !optimizer.equals("sgd")) {
            throw new UsageException("--optimizer must be adamw, adam or sgd, got " + optimizer);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new UsageException("--weight-decay must be >= 0, got " + weightDecay);
        }
        if (!(offsetNoise >= 0) || Double.isInfinite(offsetNoise)) {
            throw new UsageException("--offset-noise must be >= 0, got " + offsetNoise);
        }
        if (!(gradClip >= 0) || Double.isInfinite(gradClip)) {
            throw new UsageException("--grad-clip must be >= 0 (0 = off), got " + gradClip);
        }
        if (metricsCsv != null) {
            Path parent = metricsCsv.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                throw new UsageException("--metrics-csv " + metricsCsv + ": folder " + parent + " does not exist");
            }
            if (Files.isDirectory(metricsCsv)) {
                throw new UsageException("--metrics-csv " + metricsCsv + " is a folder; give a file name");
            }
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
        if (distTimeout < 1) {
            throw new UsageException("--dist-timeout must be >= 1 second, got " + distTimeout);
        }
        if (nproc != null) {
            if (nproc < 1) {
                throw new UsageException("--nproc must be >= 1, got " + nproc);
            }
            if (rank != null || worldSize != null) {
                throw new UsageException("--nproc starts its own ranks; drop --rank/--world-size (they join a job "
                        + "started elsewhere)");
            }
        }
    }

    /** The data-parallel job this process joins, or null for a single process (world size 1, or no job given). */
    private ProcessGroupConfig distributedConfig() {
        if (nproc != null) {
            if (batch % nproc != 0) {
                throw new UsageException("--batch " + batch + " must be a multiple of --nproc " + nproc + " (it is the "
                        + "global batch, split evenly over the ranks)");
            }
            return null;
        }
        Map<String, String> env = System.getenv();
        if (rank == null && worldSize == null && !ProcessGroupConfig.inEnvironment(env)) {
            return null;
        }
        ProcessGroupConfig c;
        try {
            if (rank != null || worldSize != null) {
                if (rank == null || worldSize == null) {
                    throw new UsageException("--rank and --world-size go together (or set RANK and WORLD_SIZE)");
                }
                String addr = masterAddr != null ? masterAddr : env.getOrDefault("MASTER_ADDR", "127.0.0.1");
                int port = masterPort != null ? masterPort : env.containsKey("MASTER_PORT")
                        ? Integer.parseInt(env.get("MASTER_PORT").strip()) : ProcessGroupConfig.DEFAULT_PORT;
                c = ProcessGroupConfig.tcp(rank, worldSize, addr, port);
            } else {
                c = ProcessGroupConfig.fromEnvironment(env);
                if (masterAddr != null || masterPort != null) {
                    c = new ProcessGroupConfig(c.rank(), c.worldSize(), c.localRank(),
                            masterAddr != null ? masterAddr : c.masterAddr(),
                            masterPort != null ? masterPort : c.masterPort(), null, c.timeout(), c.backend());
                }
            }
            c = c.withTimeout(Duration.ofSeconds(distTimeout));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (batch % c.worldSize() != 0) {
            throw new UsageException("--batch " + batch + " must be a multiple of the world size " + c.worldSize()
                    + " (it is the global batch, split evenly over the ranks)");
        }
        return c.worldSize() == 1 ? null : c;
    }

    /** --nproc: this same command as N local ranks. */
    private int launch(PrintWriter stdout, PrintWriter stderr) throws IOException, InterruptedException {
        List<String> own = new ArrayList<>(spec.commandLine().getParent() != null
                ? spec.commandLine().getParent().getParseResult().originalArgs()
                : spec.commandLine().getParseResult().originalArgs());
        List<String> base = new ArrayList<>();
        for (int i = 0; i < own.size(); i++) {
            String a = own.get(i);
            if (a.equals("--nproc")) {
                i++;
            } else if (!a.startsWith("--nproc=")) {
                base.add(a);
            }
        }
        int port = masterPort != null ? masterPort : LocalLauncher.freePort();
        int perRank = threads != null ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / nproc);
        stdout.printf("starting %d ranks on this machine (rendezvous 127.0.0.1:%d, %d thread(s) each, batch %d = "
                + "%d x %d)%n", nproc, port, perRank, batch, nproc, batch / nproc);
        stdout.flush();
        return LocalLauncher.run(nproc, r -> {
            List<String> args = new ArrayList<>(base);
            args.addAll(List.of("--rank", Integer.toString(r), "--world-size", Integer.toString(nproc),
                    "--master-addr", "127.0.0.1", "--master-port", Integer.toString(port)));
            if (threads == null) {
                args.addAll(List.of("--threads", Integer.toString(perRank)));
            }
            return LocalLauncher.javaCommand(Main.class.getName(), args);
        }, Map.of("TORCH_CPP_LOG_LEVEL", System.getenv().getOrDefault("TORCH_CPP_LOG_LEVEL", "ERROR")),
                Duration.ofSeconds(Math.min(distTimeout, 30) + 5L), stdout, stderr);
    }

    private TrainingConfig config() {
        try {
            return TrainingConfig.builder().learningRate(lr).emaDecay(ema).minSnrGamma(minSnr)
                    .lrSchedule(TrainingConfig.LrSchedule.valueOf(lrSchedule.toUpperCase(java.util.Locale.ROOT)))
                    .lrWarmupSteps(warmupSteps).weightDecay(weightDecay).offsetNoise(offsetNoise)
                    .optimizer(TrainingConfig.OptimizerType.valueOf(optimizer.toUpperCase(java.util.Locale.ROOT)))
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
            same(given, "--warmup-steps", warmupSteps, c.lrWarmupSteps(), "lr_warmup_steps");
            same(given, "--weight-decay", weightDecay, c.weightDecay(), "weight_decay");
            same(given, "--offset-noise", offsetNoise, c.offsetNoise(), "offset_noise");
            sameName(given, "--optimizer", optimizer, c.optimizer().name(), "optimizer");
            sameName(given, "--lr-schedule", lrSchedule, c.lrSchedule().name(), "lr_schedule");
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

    private static void sameName(ParseResult given, String option, String value, String saved, String key) {
        if (given.hasMatchedOption(option) && !value.equalsIgnoreCase(saved)) {
            throw new UsageException(option + " " + value + " differs from the checkpoint's " + key + " "
                    + saved.toLowerCase(java.util.Locale.ROOT) + "; a resumed run keeps its settings");
        }
    }

    /** A trainer of a new Java-built network ({@code --arch}), its spec from the options and the data. */
    private Trainer newNetwork(Device dev) throws IOException {
        long[] shape = null;
        if (sampleShape != null) {
            try {
                shape = Arrays.stream(sampleShape.split(",")).mapToLong(x -> Long.parseLong(x.trim())).toArray();
            } catch (NumberFormatException e) {
                throw new UsageException("--sample-shape must be sizes separated by commas, e.g. 1,8,8, got "
                        + sampleShape);
            }
            if (Arrays.stream(shape).anyMatch(d -> d < 1)) {
                throw new UsageException("--sample-shape sizes must be >= 1, got " + sampleShape);
            }
        }
        int classes = 0;
        if (Files.isDirectory(data)) {
            if (shape == null) {
                throw new UsageException("--arch with an image folder needs --sample-shape C,H,W (the size images are "
                        + "resized to)");
            }
            if (shape.length == 3) {
                try (var dirs = Files.list(data)) {
                    classes = (int) dirs.filter(Files::isDirectory).count();
                }
            }
        } else {
            try {
                TensorFileDataset probe = TensorFileDataset.read(data, labels);
                if (shape == null) {
                    shape = probe.sampleShape();
                } else {
                    probe.requireSampleShape(shape, "--sample-shape");
                }
                classes = probe.labeled() ? probe.numClasses() : 0;
            } catch (DatasetException | io.diffusion4j.bindings.TensorFileException e) {
                throw new UsageException("--data: " + e.getMessage());
            }
        }
        Architecture a;
        try {
            a = arch.equals("mlp")
                    ? Architecture.mlp(shape, width != null ? width : 128, depth != null ? depth : 3, 32)
                    : Architecture.unet(shape, width != null ? width : 32, depth != null ? depth : 2,
                            2 * (width != null ? width : 32), classes);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--arch " + arch + ": " + e.getMessage());
        }
        if (arch.equals("mlp") && labels != null) {
            throw new UsageException("--arch mlp is unconditional: drop --labels (or use --arch unet)");
        }
        PredictionType pt;
        try {
            pt = PredictionType.fromConfigName(predictionType);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--prediction-type must be epsilon, v_prediction or sample, got "
                    + predictionType);
        }
        boolean images = arch.equals("unet");
        String name = out.toAbsolutePath().getFileName().toString();
        ModelSpec modelSpec = new ModelSpec(name, "denoiser", shape, images ? new ValueRange(-1, 1) : null,
                a.isConditional() ? List.of("sample", "timestep", "class_labels") : List.of("sample", "timestep"),
                DType.INT64, a.numClasses(), a.nullClassId());
        SchedulerConfig sc = SchedulerConfig.builder().className("DDPMScheduler").predictionType(pt)
                .clipSample(images).build();
        TrainingConfig c = config();
        ownedNetwork = Networks.build(a, dev, seed);   // closed in call()
        try {
            return new Trainer(ownedNetwork, sc, modelSpec, c);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private NetDenoiser ownedNetwork;

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

    private void train(Trainer trainer, String modelName, PrintWriter stdout, DataParallel dp) throws IOException {
        int world = dp == null ? 1 : dp.worldSize();
        int rankHere = dp == null ? 0 : dp.rank();
        ModelSpec modelSpec = trainer.spec();
        Dataset ds = dataset(modelSpec, trainer.config().seed());
        boolean conditional = trainer.model().isConditional();
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
        stdout.printf("training %s on %s (%d examples%s) on %s: steps %d..%d, batch %s, lr %s%s%n", modelName, data,
                ds.size(), ds.labeled() ? ", " + ds.numClasses() + " classes"
                        : nullClass >= 0 ? ", all as the null class " + nullClass : "",
                trainer.model().device(), first + 1, steps,
                world == 1 ? Integer.toString(batch) : batch + " (" + world + " ranks x " + batch / world + ")",
                c.learningRate(), c.emaEnabled() ? ", EMA " + c.emaDecay() : "");
        stdout.flush();
        int every = Math.max(1, steps / 10);
        Path lastSaved = null;
        long runStart = System.nanoTime();
        Path csv = rankHere == 0 ? metricsCsv : null; // one metrics file, written by rank 0
        boolean appendMetrics = csv != null && first > 0 && Files.isRegularFile(csv);
        try (BatchLoader loader = new BatchLoader(ds, batch / world, c.seed(), first, rankHere, world);
             PrintWriter metrics = csv == null ? null : new PrintWriter(Files.newBufferedWriter(csv,
                     appendMetrics ? new java.nio.file.OpenOption[] {java.nio.file.StandardOpenOption.APPEND}
                             : new java.nio.file.OpenOption[0]))) {
            if (metrics != null && !appendMetrics) {
                metrics.println("step,loss,lr,grad_norm,seconds");
            }
            double lossSum = 0;
            int lossCount = 0;
            long t0 = System.nanoTime();
            long stepsSince = 0;
            long reduceNanos = 0;
            long reduceCount = 0;
            for (long s = first; s < steps; s++) {
                try (NativeScope scope = new NativeScope()) {
                    Batch b = loader.next();
                    Tensor l = b.labels() != null ? b.labels()
                            : nullClass >= 0 ? Tensor.full(nullClass, DType.INT64, Device.CPU, b.size()) : null;
                    double loss = trainer.step(b.x0(), l);
                    lossSum += loss;
                    if (metrics != null) {
                        metrics.printf(java.util.Locale.ROOT, "%d,%.8g,%.8g,%s,%.3f%n", s + 1, loss,
                                trainer.lastLearningRate(), Double.isNaN(trainer.lastGradNorm()) ? ""
                                        : String.format(java.util.Locale.ROOT, "%.8g", trainer.lastGradNorm()),
                                (System.nanoTime() - runStart) / 1e9);
                    }
                    lossCount++;
                    stepsSince++;
                }
                long done = s + 1;
                if (done % every == 0 || done == steps) {
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    stdout.printf("step %d/%d  loss %.5f  lr %.3g  %.1f steps/s%s%n", done, steps, lossSum / lossCount,
                            trainer.lastLearningRate(), stepsSince / Math.max(seconds, 1e-9), dp == null ? ""
                                    : String.format("  all-reduce %.2f ms/step", (dp.allReduceNanos() - reduceNanos)
                                            / 1e6 / Math.max(1, dp.allReduceCount() - reduceCount)));
                    if (dp != null) {   // per window, like the rest of the line
                        reduceNanos = dp.allReduceNanos();
                        reduceCount = dp.allReduceCount();
                    }
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
