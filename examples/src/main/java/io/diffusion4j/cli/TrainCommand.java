package io.diffusion4j.cli;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.ProcessGroup;
import io.diffusion4j.bindings.ProcessGroupConfig;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.model.nn.Initializers;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.training.CheckpointException;
import io.diffusion4j.training.Checkpoints;
import io.diffusion4j.training.DataParallel;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/**
 * {@code diffusion4j train}: fine-tune a TorchScript denoiser (or train a new Java-built network) and export a model
 * folder. The options live in mixins by concern ({@link TrainModelOptions}, {@link TrainDataOptions},
 * {@link TrainOptimizerOptions}, {@link TrainCheckpointOptions}, {@link TrainDistributedOptions}); a resumed run's
 * settings are resolved against its checkpoint by {@link RunSettings}; the loop is {@link TrainingLoop}.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune a model's model.pt on a tensor file or an image folder with the model's own "
                + "denoising loss; save checkpoints and export a model folder that 'diffusion4j sample' and Python's "
                + "torch.jit.load read.",
            "Progress (step, mean loss, lr, steps/s) is printed about every tenth of the run. A resumed run keeps all "
                + "of the checkpoint's settings (batch, data and its content, optimizer, schedule, seed, threads, "
                + "ranks): a flag that contradicts them is refused unless --override KEY=VALUE changes the setting "
                + "deliberately; --steps may extend the run.",
            "Data-parallel: --nproc N starts N local ranks; --rank/--world-size/--master-addr/--master-port (or the "
                + "env vars RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) join a job started elsewhere. --batch is the "
                + "global batch, split evenly over the ranks; rank 0 logs, saves and exports."})
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    TrainModelOptions model;

    @Mixin
    TrainDataOptions data;

    @Option(names = "--steps", required = true, paramLabel = "N",
            description = "Optimizer steps of the run (a resumed run continues up to N).")
    int steps;

    @Mixin
    TrainOptimizerOptions optimizer;

    @Mixin
    TrainCheckpointOptions checkpoints;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR",
            description = "Model folder to export (model.pt, scheduler_config.json, diffusion4j.json); required, "
                    + "except that a resumed run defaults to its own (as it does --checkpoint-dir, "
                    + "--checkpoint-every and --metrics-csv).")
    Path out;

    /** The frozen autoencoder of a latent model folder while it trains, else null. */
    io.diffusion4j.model.diffusers.autoencoder.Autoencoder autoencoder;

    @Option(names = "--metrics-csv", paramLabel = "FILE",
            description = "Write step,loss,lr,grad_norm,seconds for every step to FILE (CSV).")
    Path metricsCsv;

    @Option(names = "--device", paramLabel = "D", defaultValue = "cpu",
            description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}; a resumed run: its checkpoint's).")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "LibTorch intra-op threads (default: LibTorch's; "
            + "with --nproc, the cores divided by N; a resumed run: its checkpoint's).")
    Integer threads;

    @Mixin
    TrainDistributedOptions distributed;

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        ParseResult given = spec.commandLine().getParseResult();
        boolean resuming = checkpoints.resume != null;
        checkOptions(given, resuming);
        ProcessGroupConfig dist = distributed.config(resuming ? null : optimizer.batch);
        if (distributed.nproc != null) {
            List<String> own = (spec.commandLine().getParent() != null
                    ? spec.commandLine().getParent().getParseResult() : given).originalArgs();
            return distributed.launch(own, threads, optimizer.batch, resuming, stdout, stderr);
        }
        int world = dist == null ? 1 : dist.worldSize();
        Consumer<String> warn = line -> {
            stderr.println("diffusion4j: warning: " + line);
            stderr.flush();
        };
        String deviceName = resuming ? RunSettings.resumeDevice(checkpoints.resume, device,
                given.hasMatchedOption("--device"), checkpoints.overrides()) : device;
        Device dev;
        try {
            dev = Torch.device(deviceName);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device: " + e.getMessage());
        }
        ModelFolder folder = null;
        if (model.model != null) {
            try {
                folder = ModelFolder.resolve(model.model);
            } catch (ModelNotFoundException e) {
                throw new UsageException("--model: " + e.getMessage());
            }
        }
        TorchScriptModule module = null;
        NetDenoiser network = null;
        io.diffusion4j.model.TrainableModel diffusersModel = null;
        Trainer trainer = null;
        try {
            if (resuming) {
                trainer = resumed(folder, dev, given, world, warn);
            } else {
                if (threads != null) {
                    Torch.setThreads(threads);
                }
                TrainingConfig c = optimizer.config(TrainingConfig.defaults(), checkpoints.keep);
                if (model.arch != null) {
                    TrainNewNetwork.Built built = TrainNewNetwork.build(model, data, c, out, optimizer.seed, dev);
                    network = built.network();
                    trainer = built.trainer();
                } else if (folder.diffusers() != null) { // a diffusers UNet2DModel: exported in diffusers' layout
                    if (folder.schedulerConfig() == null) {
                        throw new UsageException(folder.location() + " has no scheduler config: it is a bare unet "
                                + "folder; put scheduler_config.json beside it or use the pipeline folder");
                    }
                    if (model.reinit) {
                        throw new UsageException("--reinit is not supported for diffusers folders");
                    }
                    diffusersModel = folder.loadTrainable(dev);
                    if (folder.latent() != null) {   // latent diffusion: the frozen autoencoder encodes the data
                        autoencoder = folder.latent().load(dev, io.diffusion4j.bindings.DType.FLOAT32);
                    }
                    try {
                        trainer = new Trainer(diffusersModel, folder.schedulerConfig(), folder.spec(), c);
                    } catch (IllegalArgumentException e) {
                        throw new UsageException(e.getMessage());
                    }
                } else {
                    if (folder.schedulerConfig() == null) {
                        throw new UsageException(folder.location() + " has no scheduler_config.json: it is not a "
                                + "denoiser");
                    }
                    LintCommand.warn(io.diffusion4j.lint.ConfigCheck.check(folder.schedulerConfig(), null, 1,
                            folder.spec()), spec.commandLine().getErr());
                    module = folder.loadModule(dev);
                    if (model.reinit) {
                        try {
                            Initializers.reinit(module, optimizer.seed);
                        } catch (IllegalArgumentException e) {
                            throw new UsageException("--reinit: " + e.getMessage());
                        }
                    }
                    try {
                        trainer = new Trainer(module, folder.schedulerConfig(), TrainingSpec.resolve(folder, module,
                                model.sampleShape, model.valueRange, data.data, data.labels), c);
                    } catch (IllegalArgumentException e) {
                        throw new UsageException(e.getMessage());
                    }
                }
                trainer.recordRun(RunSettings.fresh(this, Torch.threads(), deviceName, world,
                        model.settings(folder != null ? folder.location() : null)));
            }
            String name = folder != null ? folder.location() : resuming ? checkpoints.resume.toString()
                    : "a new " + model.arch + " network";
            if (dist == null) {
                TrainingLoop.run(this, trainer, name, stdout, null);
            } else {
                try (ProcessGroup group = ProcessGroup.join(dist)) {
                    trainer.distribute(DataParallel.over(group));
                    TrainingLoop.run(this, trainer, name, group.isMain() ? stdout
                            : new PrintWriter(Writer.nullWriter()), trainer.dataParallel());
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
            if (autoencoder != null) {
                autoencoder.close();
                autoencoder = null;
            }
            if (network != null) {
                network.close();
            }
        }
        return 0;
    }

    /** Checks of the flags as given; a resumed run's values are checked again once resolved. */
    private void checkOptions(ParseResult given, boolean resuming) {
        if (steps < 1) {
            throw new UsageException("--steps must be >= 1, got " + steps);
        }
        if (out == null && !resuming) {
            throw new UsageException("--out DIR is required: the model folder to export");
        }
        if (threads != null && threads < 1) {
            throw new UsageException("--threads must be >= 1, got " + threads);
        }
        checkpoints.check();
        model.check(given, resuming);
        if (!resuming) {
            optimizer.totalSteps = steps;
            optimizer.check();
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
        data.check();
        distributed.check();
    }

    /** The trainer of {@code --resume}, with the run's settings resolved against the flags given. */
    private Trainer resumed(ModelFolder folder, Device dev, ParseResult given, int world, Consumer<String> warn)
            throws IOException {
        Path resume = checkpoints.resume;
        if (!Files.isDirectory(resume) || (!Files.isRegularFile(resume.resolve("trainer_state.json"))
                && Checkpoints.latest(resume) == null)) {
            throw new UsageException("--resume " + resume + ": no checkpoint there (a " + Checkpoints.PREFIX
                    + "NNNNNNNN folder, or a folder of them, as --checkpoint-dir writes)");
        }
        Trainer t;
        try {
            t = Trainer.resume(resume, dev, warn);
        } catch (CheckpointException e) {
            throw new CheckpointException("--resume: " + e.getMessage(), e);
        }
        try {
            if (folder != null && folder.spec() != null && t.spec() != null && !folder.spec().equals(t.spec())) {
                throw new UsageException("--resume " + resume + " is a checkpoint of model '" + t.spec().name()
                        + "', not of --model " + model.model + " ('" + folder.spec().name() + "')");
            }
            RunSettings.resume(t, given, this, world, warn);
            if (out == null) {
                throw new UsageException("--out DIR is required: " + t.resumedFrom() + " does not record the run's");
            }
            if (threads != null) {
                Torch.setThreads(threads);
            }
            optimizer.check();
            data.check();
            TrainDistributedOptions.checkBatch(optimizer.batch, world);
            if (t.step() >= steps) {
                throw new UsageException("--resume " + resume + " is at step " + t.step() + ", already --steps "
                        + steps + " or more");
            }
            TrainingConfig c = t.config();
            if (c.lrSchedule() == TrainingConfig.LrSchedule.COSINE && steps > c.totalSteps()) {
                throw new UsageException("--steps " + steps + " runs past the cosine schedule's end at step "
                        + c.totalSteps() + " (the learning rate is 0 from there); to stretch the decay, add "
                        + "--override " + RunSettings.TOTAL_STEPS + "=" + steps);
            }
            return t;
        } catch (IOException | RuntimeException e) {
            t.close();
            throw e;
        }
    }
}
