package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.evaluation.EnergyDistance;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Compatibility;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.DdpmScheduler;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Progressive distillation of the built-in toy2d model (an epsilon model) into v-prediction students, DDIM 64 -> 32
 * -> 16 -> 8 -> 4 steps (trailing spacing), 500 x 256 per round, measured by the energy distance of 2000 samples to
 * 2000 true two-moons points (toy2d's quality protocol): the 4-step student must be no worse than 2x the teacher's own
 * DDPM-1000 (issue 15's bar), computed here; resume skips finished rounds and refuses changed settings.
 * BENCHMARKS.md "Few-step generation" has the sweep of parameterisations and budgets.
 */
@ExtendWith(OneThread.class)
class ProgressiveDistillationTest {
    static final int SAMPLES = 2000;
    static final long SEED = 20000;

    @TempDir
    Path tmp;

    static Path trainingData(Path dir) throws IOException {
        Path train = dir.resolve("train.pt");
        try (NativeScope scope = new NativeScope()) {
            Tensor all = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt");
            TensorFiles.write(train, all.narrow(0, SAMPLES, all.size(0) - SAMPLES));
        }
        return train;
    }

    /** Energy distance to data.pt[0:2000] of 2000 samples (seeds 20000 + i) of a folder's model. */
    static double energyDistance(ModelFolder folder, Scheduler scheduler, int steps) throws IOException {
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline p = new DiffusionPipeline(d, scheduler, new long[] {2})) {
            Tensor samples = p.generate(GenerationRequest.builder().steps(steps).seed(SEED).batchSize(SAMPLES).build());
            Tensor data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt").narrow(0, 0, SAMPLES);
            return EnergyDistance.of(samples.toDoubleArray(), data.toDoubleArray(), 2);
        }
    }

    static Scheduler trailingDdim(SchedulerConfig sc) {
        return new DdimScheduler(ProgressiveDistillation.studentScheduler(sc, 1), 0, Compatibility.CORRECTED);
    }

    @Test
    void fourStepStudentBeatsTheTeacherAtFourSteps() throws IOException {
        int perRound = Integer.getInteger("d4j.distill.steps", 500);
        double lr = Double.parseDouble(System.getProperty("d4j.distill.lr", "1e-3"));
        int batch = Integer.getInteger("d4j.distill.batch", 256);
        int from = Integer.getInteger("d4j.distill.from", 64);
        PredictionType type = PredictionType.fromConfigName(System.getProperty("d4j.distill.prediction",
                "v_prediction"));
        ModelFolder teacher = ModelFolder.builtin("toy2d");
        ProgressiveDistillation.Config config = new ProgressiveDistillation.Config(from, 4, perRound, batch, lr,
                LossWeighting.TRUNCATED_SNR, 1.0, 7, type, 0);
        Path out = tmp.resolve("out");
        List<ProgressiveDistillation.Round> rounds;
        long t0 = System.nanoTime();
        try (NativeScope scope = new NativeScope()) {
            rounds = new ProgressiveDistillation(config).run(teacher, TensorFileDataset.read(trainingData(tmp), null),
                    out, Device.CPU, null);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(config.rounds(), rounds.stream().map(ProgressiveDistillation.Round::studentSteps).toList());
        SchedulerConfig sc = teacher.schedulerConfig();
        double teacher64 = energyDistance(teacher, trailingDdim(sc), 64);
        double teacher4 = energyDistance(teacher, trailingDdim(sc), 4);
        double ddpm1000 = energyDistance(teacher, new DdpmScheduler(sc), 1000); // about 14 s on an idle machine
        List<String> lines = new ArrayList<>();
        for (ProgressiveDistillation.Round r : rounds) {
            ModelFolder f = ModelFolder.open(r.folder());
            assertEquals(type, f.schedulerConfig().predictionType(), "the student folder records its prediction type");
            double student = energyDistance(f, Schedulers.fromConfig(f.schedulerConfig(), 0), r.studentSteps());
            double teacherSame = energyDistance(teacher, trailingDdim(sc), r.studentSteps());
            lines.add(String.format("  %2d steps: student %.5f, teacher %.5f (loss %.4g, %.1f s)", r.studentSteps(),
                    student, teacherSame, r.finalLoss(), r.seconds()));
        }
        // the exported folder samples with its own scheduler and step count
        ModelFolder student = ModelFolder.open(out);
        SchedulerConfig own = student.schedulerConfig();
        assertEquals(4, own.extraInt("num_inference_steps", -1));
        // the final folder's record covers the whole run
        com.fasterxml.jackson.databind.JsonNode record = StudentFolder.JSON.readTree(
                Files.readString(out.resolve("diffusion4j.json"))).path("distillation");
        assertEquals("builtin:toy2d", record.path("teacher").asText());
        assertEquals(config.rounds().size(), record.path("rounds").size());
        assertEquals(from, record.path("rounds").get(0).path("teacher_steps").asInt());
        double student4 = energyDistance(student, Schedulers.fromConfig(own, 0), 4);
        System.out.printf("progressive distillation toy2d %d->4, %s students, %d steps x %d per round, lr %g, %.1f s:"
                        + "%n%s%n  teacher DDIM-64 %.5f, DDPM-1000 %.5f; final student (its own scheduler_config) at 4 "
                        + "steps %.5f%n", from, type.configName(), perRound, batch, lr, seconds,
                String.join("\n", lines), teacher64, ddpm1000, student4);
        // measured (2026-11-30): student 0.00124 at 4 steps, DDPM-1000 0.00115, teacher DDIM-4 trailing 0.1467
        assertTrue(student4 <= 2 * ddpm1000, "student at 4 steps " + student4 + " vs 2x DDPM-1000 " + 2 * ddpm1000);
        assertTrue(student4 < 0.1 * teacher4, "student at 4 steps " + student4 + " vs teacher at 4 steps " + teacher4);

        // resume: every round is finished, so nothing is trained again
        List<ProgressiveDistillation.Round> resumed = new ArrayList<>();
        try (NativeScope scope = new NativeScope()) {
            new ProgressiveDistillation(config).run(teacher, TensorFileDataset.read(trainingData(tmp), null), out,
                    Device.CPU, new ProgressiveDistillation.Listener() {
                        @Override
                        public void onStep(int studentSteps, long step, double loss) {
                            throw new AssertionError("resume trained round " + studentSteps + " again");
                        }

                        @Override
                        public void onResumed(ProgressiveDistillation.Round round) {
                            resumed.add(round);
                        }
                    });
        }
        assertEquals(rounds.size(), resumed.size());
        assertEquals(rounds.size() + 1, Files.readAllLines(out.resolve(ProgressiveDistillation.METRICS_FILE)).size());
        // resume refuses a changed student parameterisation; an unconditional teacher refuses a guidance scale
        PredictionType other = type == PredictionType.EPSILON ? PredictionType.V_PREDICTION : PredictionType.EPSILON;
        try (NativeScope scope = new NativeScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    new ProgressiveDistillation(config.withStudentPrediction(other)).run(teacher,
                            TensorFileDataset.read(trainingData(tmp), null), out, Device.CPU, null));
            assertTrue(e.getMessage().contains("was distilled with student_prediction \"" + type.configName()
                    + "\", this run has \"" + other.configName() + "\""), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () ->
                    new ProgressiveDistillation(config.withGuidanceScale(3)).run(teacher,
                            TensorFileDataset.read(trainingData(tmp), null), tmp.resolve("guided"), Device.CPU, null));
            assertTrue(e.getMessage().contains("is not class-conditional with a null class"), e.getMessage());
        }
    }

    @Test
    void badSettingsSayWhatToFix() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                new ProgressiveDistillation.Config(48, 4, 10, 8, 1e-4, LossWeighting.TRUNCATED_SNR, 0, 1));
        assertTrue(e.getMessage().contains("teacher steps (48) must be steps-to (4) times a power of two"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                new ProgressiveDistillation.Config(64, 4, 10, 8, -1, LossWeighting.TRUNCATED_SNR, 0, 1));
        assertTrue(e.getMessage().contains("learning rate must be a finite number > 0, got -1.0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LossWeighting.parse("snr"));
        assertTrue(e.getMessage().contains("valid: truncated-snr, snr+1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ProgressiveDistillation.Config(64, 4, 10, 8, 1e-4,
                LossWeighting.TRUNCATED_SNR, 0, 1, PredictionType.V_PREDICTION, -3));
        assertTrue(e.getMessage().contains("guidance scale must be a finite number >= 0 (0 = none), got -3.0"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ProgressiveDistillation.Config(64, 4, 10, 8, 1e-4,
                LossWeighting.TRUNCATED_SNR, 0, 1, null, 0));
        assertTrue(e.getMessage().contains("a student prediction type is required"), e.getMessage());
    }
}
