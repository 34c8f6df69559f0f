package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.TensorFileException;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import io.diffusion4j.training.data.DatasetException;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** {@code train --arch}: a new Java-built network, its spec from the options and the data. */
final class TrainNewNetwork {
    private TrainNewNetwork() {
    }

    /** The network (the caller closes it after the trainer) and its trainer. */
    record Built(NetDenoiser network, Trainer trainer) {
    }

    /** A trainer of a new Java-built network ({@code --arch}), its spec from the options and the data. */
    static Built build(TrainModelOptions m, TrainDataOptions d, TrainingConfig c, Path out, long seed, Device dev)
            throws IOException {
        String arch = m.arch;
        Path data = d.data;
        Path labels = d.labels;
        long[] shape = m.sampleShape();
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
            } catch (DatasetException | TensorFileException e) {
                throw new UsageException("--data: " + e.getMessage());
            }
        }
        Architecture a;
        try {
            a = arch.equals("mlp")
                    ? Architecture.mlp(shape, m.width != null ? m.width : 128, m.depth != null ? m.depth : 3, 32)
                    : Architecture.unet(shape, m.width != null ? m.width : 32, m.depth != null ? m.depth : 2,
                            2 * (m.width != null ? m.width : 32), classes);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--arch " + arch + ": " + e.getMessage());
        }
        if (arch.equals("mlp") && labels != null) {
            throw new UsageException("--arch mlp is unconditional: drop --labels (or use --arch unet)");
        }
        PredictionType pt;
        try {
            pt = PredictionType.fromConfigName(m.predictionType);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--prediction-type must be epsilon, v_prediction or sample, got "
                    + m.predictionType);
        }
        boolean images = arch.equals("unet");
        String name = out.toAbsolutePath().getFileName().toString();
        ModelSpec modelSpec = new ModelSpec(name, "denoiser", shape, images ? new ValueRange(-1, 1) : null,
                a.isConditional() ? List.of("sample", "timestep", "class_labels") : List.of("sample", "timestep"),
                DType.INT64, a.numClasses(), a.nullClassId());
        SchedulerConfig sc = SchedulerConfig.builder().className("DDPMScheduler").predictionType(pt)
                .clipSample(images).build();
        NetDenoiser net = Networks.build(a, dev, seed);
        try {
            return new Built(net, new Trainer(net, sc, modelSpec, c));
        } catch (IllegalArgumentException e) {
            net.close();
            throw new UsageException(e.getMessage());
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

}
