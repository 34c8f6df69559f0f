package io.diffusion4j.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/** What a {@link Trainer} checkpoint holds, and resuming from one (the newest that loads, in a folder of them). */
final class TrainerCheckpoints {
    private TrainerCheckpoints() {
    }

    /** Writes {@code t}'s checkpoint files into {@code dir} (a temporary folder of {@link Checkpoints}). */
    static void writeInto(Trainer t, Path dir) throws IOException {
        t.model.saveWeights(dir);
        if (t.steps.ema != null) {
            t.steps.ema.save(dir.resolve(Trainer.EMA_FILE));
        }
        Files.write(dir.resolve(Trainer.OPTIMIZER_FILE), t.steps.optimizer.saveState());
        Files.writeString(dir.resolve(Trainer.CONFIG_FILE), t.config().toJson());
        if (t.runRecord != null) {
            Files.writeString(dir.resolve(RunRecord.FILE_NAME), t.runRecord.toJson());
        }
        t.schedulerConfig.write(dir.resolve(ModelFolder.SCHEDULER_FILE));
        if (t.spec != null) {
            Files.writeString(dir.resolve(ModelSpec.FILE_NAME), SpecJson.write(t.spec, t.model, null));
        } else if (TrainableModel.torchScriptModule(t.model) == null) {
            throw new IllegalStateException("a Java-built network needs a ModelSpec to be checkpointed");
        }
        ObjectNode state = SpecJson.JSON.createObjectNode();
        state.put("format_version", 1);
        state.put("step", t.step);
        state.put("optimizer", t.config().optimizer().name().toLowerCase(Locale.ROOT));
        state.put("parameter_tensors", t.steps.parameterCount);
        state.put("ema", t.steps.ema != null);
        state.put("libtorch", Torch.libtorchVersion());
        Files.writeString(dir.resolve(Checkpoints.STATE_FILE), SpecJson.toString(state));
    }

    static Trainer resume(Path checkpoint, Device device, Consumer<String> warnings) throws IOException {
        if (Files.isRegularFile(checkpoint.resolve(Checkpoints.STATE_FILE))) {
            return resumeFrom(checkpoint, device);
        }
        List<Path> all = Checkpoints.list(checkpoint);
        if (all.isEmpty()) {
            throw new CheckpointException(checkpoint + " is neither a checkpoint folder (no "
                    + Checkpoints.STATE_FILE + ") nor a folder of checkpoints");
        }
        for (Path p : Checkpoints.partial(checkpoint)) {
            warnings.accept("skipping " + p + (p.getFileName().toString().contains("-deleted-")
                    ? ": left by an interrupted deletion of an old checkpoint" : ": left by an interrupted checkpoint "
                    + "save") + ", not a checkpoint");
        }
        IOException newest = null;
        for (int i = all.size() - 1; i >= 0; i--) {
            Path dir = all.get(i);
            try {
                Trainer t = resumeFrom(dir, device);
                if (newest != null) {
                    warnings.accept("resuming from " + dir + ", the newest checkpoint that loads");
                }
                return t;
            } catch (IOException | RuntimeException e) {
                if (newest == null) {
                    newest = e instanceof IOException io ? io : new CheckpointException(dir + ": " + e.getMessage(), e);
                }
                if (i > 0) {
                    warnings.accept("skipping " + dir + ": it does not load (" + oneLine(e.getMessage()) + ")");
                }
            }
        }
        throw newest;
    }

    private static String oneLine(String message) {
        String m = message == null ? "no message" : message.strip();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    private static Trainer resumeFrom(Path dir, Device device) throws IOException {
        boolean javaBuilt = Files.isRegularFile(dir.resolve(ModelSpec.FILE_NAME))
                && Files.readString(dir.resolve(ModelSpec.FILE_NAME)).contains("\"architecture\"");
        String weights = javaBuilt ? io.diffusion4j.model.nn.NetDenoiser.WEIGHTS_FILE : Trainer.MODEL_FILE;
        if (io.diffusion4j.model.diffusers.DiffusersFolder.isDiffusers(dir)) {
            weights = io.diffusion4j.model.diffusers.DiffusersFolder.UNET_DIR + "/"
                    + io.diffusion4j.model.diffusers.UNet2DModel.SAFETENSORS_FILE;
        }
        for (String f : List.of(weights, Trainer.OPTIMIZER_FILE, Trainer.CONFIG_FILE, ModelFolder.SCHEDULER_FILE)) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new CheckpointException(dir + ": " + f + " is missing; the checkpoint is incomplete");
            }
        }
        JsonNode state = SpecJson.JSON.readTree(Files.readString(dir.resolve(Checkpoints.STATE_FILE)));
        JsonNode stepNode = state.get("step");
        if (stepNode == null || !stepNode.canConvertToLong() || stepNode.asLong() < 0) {
            throw new CheckpointException(dir.resolve(Checkpoints.STATE_FILE) + ": step must be an integer >= 0, got "
                    + stepNode);
        }
        TrainingConfig config;
        try {
            config = TrainingConfig.fromJson(Files.readString(dir.resolve(Trainer.CONFIG_FILE)));
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(dir.resolve(Trainer.CONFIG_FILE) + ": " + e.getMessage(), e);
        }
        RunRecord run = null;
        if (Files.isRegularFile(dir.resolve(RunRecord.FILE_NAME))) {
            try {
                run = RunRecord.fromJson(Files.readString(dir.resolve(RunRecord.FILE_NAME)));
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(dir.resolve(RunRecord.FILE_NAME) + ": " + e.getMessage(), e);
            }
        }
        SchedulerConfig sc = SchedulerConfig.read(dir.resolve(ModelFolder.SCHEDULER_FILE));
        Path specFile = dir.resolve(ModelSpec.FILE_NAME);
        ModelSpec spec = Files.isRegularFile(specFile) ? ModelSpec.read(specFile) : null;
        if (config.emaEnabled() && !Files.isRegularFile(dir.resolve(Trainer.EMA_FILE))) {
            throw new CheckpointException(dir + ": " + Trainer.EMA_FILE + " is missing but the run keeps an EMA "
                    + "(ema_decay " + config.emaDecay() + ")");
        }
        TrainableModel model;
        try {
            model = ModelFolder.loadTrainable(dir, spec, device);
        } catch (IOException | RuntimeException e) {   // e.g. a damaged model.pt
            throw new CheckpointException(dir + ": " + oneLine(e.getMessage()), e);
        }
        Trainer t;
        try {
            t = new Trainer(model, sc, spec, config, true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        try {
            JsonNode count = state.get("parameter_tensors");
            if (count != null && count.asInt() != t.steps.parameterCount) {
                throw new CheckpointException(dir + ": the optimizer state is for " + count.asInt()
                        + " parameter tensors, the model has " + t.steps.parameterCount);
            }
            try {
                t.steps.optimizer.loadState(Files.readAllBytes(dir.resolve(Trainer.OPTIMIZER_FILE)));
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(dir.resolve(Trainer.OPTIMIZER_FILE) + ": " + e.getMessage(), e);
            }
            if (t.steps.ema != null) {
                try {
                    t.steps.ema.load(dir.resolve(Trainer.EMA_FILE));
                } catch (RuntimeException e) {
                    throw new CheckpointException(dir.resolve(Trainer.EMA_FILE) + ": " + oneLine(e.getMessage()), e);
                }
            }
            t.step = stepNode.asLong();
            t.runRecord = run;
            t.resumedFrom = dir;
            return t;
        } catch (IOException | RuntimeException e) {
            t.close();
            throw e;
        }
    }

}
