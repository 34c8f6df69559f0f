package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.training.Checkpoints;
import io.diffusion4j.training.DataParallel;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.Dataset;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** {@code train}'s loop: batches, steps, progress lines, metrics, checkpoints and the export at the end. */
final class TrainingLoop {
    private TrainingLoop() {
    }

    static void run(TrainCommand cmd, Trainer trainer, String modelName, PrintWriter stdout, DataParallel dp)
            throws IOException {
        TrainDataOptions data = cmd.data;
        int batch = cmd.optimizer.batch;
        long steps = cmd.steps;
        Path checkpointDir = cmd.checkpoints.checkpointDir;
        int checkpointEvery = cmd.checkpoints.checkpointEvery;
        Path out = cmd.out;
        if (checkpointEvery > 0 && checkpointDir == null) {
            throw new UsageException("--checkpoint-every needs --checkpoint-dir DIR");
        }
        int world = dp == null ? 1 : dp.worldSize();
        int rankHere = dp == null ? 0 : dp.rank();
        ModelSpec modelSpec = trainer.spec();
        Dataset ds = cmd.autoencoder == null ? data.dataset(modelSpec, trainer.config().seed())
                : data.latentDataset(modelSpec, cmd.autoencoder, trainer.config().seed(), batch, stdout);
        boolean conditional = trainer.model().isConditional();
        long nullClass = -1;
        if (ds.labeled() && !conditional) {
            throw new UsageException(modelName + " is unconditional: it takes no class labels (drop "
                    + (data.labels != null ? "--labels" : "the class sub-folders") + ")");
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
        stdout.printf("training %s on %s (%d examples%s) on %s: steps %d..%d, batch %s, lr %s%s%n", modelName, data.data,
                ds.size(), ds.labeled() ? ", " + ds.numClasses() + " classes"
                        : nullClass >= 0 ? ", all as the null class " + nullClass : "",
                trainer.model().device(), first + 1, steps,
                world == 1 ? Integer.toString(batch) : batch + " (" + world + " ranks x " + batch / world + ")",
                c.learningRate(), c.emaEnabled() ? ", EMA " + c.emaDecay() : "");
        stdout.flush();
        long every = Math.max(1, steps / 10);
        Path lastSaved = null;
        long runStart = System.nanoTime();
        Path csv = rankHere == 0 ? cmd.metricsCsv : null; // one metrics file, written by rank 0
        boolean appendMetrics = csv != null && first > 0 && Files.isRegularFile(csv);
        if (appendMetrics) {
            dropRowsAfter(csv, first);
        }
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
                        metrics.flush();   // a killed run keeps its rows up to the step it died in
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

    /** A resumed run's metrics: the rows of steps after its checkpoint (lost in a crash) are dropped, to be redone. */
    private static void dropRowsAfter(Path csv, long step) throws IOException {
        List<String> lines = Files.readAllLines(csv);
        List<String> kept = new ArrayList<>();
        for (String l : lines) {
            int comma = l.indexOf(',');
            try {
                if (comma > 0 && Long.parseLong(l.substring(0, comma)) > step) {
                    continue;
                }
            } catch (NumberFormatException e) {
                // the header
            }
            kept.add(l);
        }
        if (kept.size() != lines.size()) {
            Path tmp = Files.createTempFile(csv.toAbsolutePath().getParent(), csv.getFileName().toString(), ".tmp");
            Files.write(tmp, kept);
            Files.move(tmp, csv, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
