package io.diffusion4j.training;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/** A {@link Trainer}'s model written as a model folder (see {@link Trainer#export}). */
final class TrainerExport {
    private TrainerExport() {
    }

    /**
     * Writes {@code t}'s model (the EMA weights when the EMA is on, in eval mode, parameters frozen) into {@code dir},
     * {@code schedulerConfig} beside it and, when {@code source} is given, {@code diffusion4j.json} with a
     * {@code training} record of the run; the model's mode, its {@code requires_grad} flags and its raw weights are
     * restored afterwards for further training.
     */
    static void writeModelFolder(Trainer t, Path dir, SchedulerConfig schedulerConfig, ModelSpec source)
            throws IOException {
        TrainableModel model = t.model;
        Ema ema = t.ema();
        Files.createDirectories(dir);
        boolean wasTraining = model.isTraining();
        model.train(false);
        if (ema != null) {
            ema.swap();
        }
        // saved frozen (requires_grad off), as a model for inference should be; restored for further training
        List<Boolean> grads = new ArrayList<>();
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> params = model.parameters();
            try {
                for (Tensor p : params) {
                    grads.add(p.requiresGrad());
                    p.requiresGrad(false);
                }
                model.exportTo(dir);
            } finally {
                for (int i = 0; i < grads.size(); i++) {
                    params.get(i).requiresGrad(grads.get(i));
                }
                if (ema != null) {
                    ema.swap();
                }
                model.train(wasTraining);
            }
        }
        Path schedulerFile = dir.resolve(model.schedulerConfigFile());
        Files.createDirectories(schedulerFile.toAbsolutePath().getParent());
        schedulerConfig.write(schedulerFile);
        if (source != null) {
            ObjectNode training = SpecJson.JSON.createObjectNode();
            training.put("steps", t.step());
            training.put("weights", ema != null ? "ema" : "raw");
            training.set("config", SpecJson.JSON.readTree(t.config().toJson()));
            training.put("trainer", "diffusion4j (LibTorch " + Torch.libtorchVersion() + ")");
            Path specFile = dir.resolve(ModelSpec.FILE_NAME);
            Path tmp = Files.createTempFile(dir, ModelSpec.FILE_NAME, ".tmp");
            try {
                Files.writeString(tmp, SpecJson.write(source, model, training));
                Files.move(tmp, specFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }
}
