package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.CountingDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.training.data.Dataset;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Progressive distillation of a guidance-conditioned teacher (Meng et al. 2023 stage two): test-models' guidance-distilled
 * digits student (the built-in digits model in one forward per guided step), distilled DDIM 8 -> 4 -> 2 with w drawn
 * per example in [1, 5] for teacher and student alike. The students keep their guidance-scale input (no
 * {@code distilled_guidance_scale}), sample guided at scale 3 in one forward of the batch per step, and the digits
 * classifier recognises the requested digit in 100 samples (10 per class) at their own step counts.
 * {@code -Dd4j.progressive.range.steps=N} sets the budget per round (BENCHMARKS.md has the figures).
 */
@ExtendWith(OneThread.class)
class ProgressiveGuidanceRangeTest {
    /** The built-in digits model guidance-distilled into make_guidance_student.py's student (test-models/README.md). */
    static final String TEACHER = "io/diffusion4j/fixtures/digits-guidance-distilled/";

    @TempDir
    Path tmp;

    private Dataset digits() throws IOException {
        return TensorFileDataset.read(
                GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_data.pt",
                        tmp.resolve("x.pt")),
                GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_labels.pt",
                        tmp.resolve("y.pt")));
    }

    /**
     * Guided DDIM samples at {@code steps}, 100 (10 per class), seed 31337: {forwards, rows, accuracy}; the samples go
     * to {@code keep[0]}.
     */
    static double[] guidedAccuracy(ModelFolder folder, TorchScriptModule classifier, int steps, double scale,
                                   float[][] keep) throws IOException {
        int n = 100;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i / 10;
        }
        SchedulerConfig sc = folder.schedulerConfig().toBuilder().clipSample(false).build();
        try (NativeScope scope = new NativeScope();
             CountingDenoiser d = new CountingDenoiser(folder.loadDenoiser(Device.CPU, DType.FLOAT32));
             DiffusionPipeline p = new DiffusionPipeline(d, Schedulers.byName("ddim", sc, 0),
                     folder.spec().sampleShape())) {
            Tensor samples = p.generate(GenerationRequest.builder().steps(steps).seed(31337).batchSize(n)
                    .classLabels(labels).guidanceScale(scale).build());
            long[] predicted;
            try (InferenceGuard inference = Torch.inferenceMode()) {
                predicted = classifier.forward(samples).argmax(1).toLongArray();
            }
            int correct = 0;
            for (int i = 0; i < n; i++) {
                correct += predicted[i] == labels[i] ? 1 : 0;
            }
            keep[0] = samples.toFloatArray();
            return new double[] {d.guidedForwards.get(), d.rows.get(), correct / (double) n};
        }
    }

    private static double meanSquaredDistance(float[] a, float[] b) {
        double sq = 0;
        for (int i = 0; i < a.length; i++) {
            sq += (a[i] - b[i]) * (double) (a[i] - b[i]);
        }
        return sq / a.length;
    }

    @Test
    void aGuidanceConditionedTeacherDistilsIntoStudentsThatKeepTheirGuidanceInput() throws IOException {
        int perRound = Integer.getInteger("d4j.progressive.range.steps", 60);
        int batch = Integer.getInteger("d4j.progressive.range.batch", 16);
        double lr = Double.parseDouble(System.getProperty("d4j.progressive.range.lr", "5e-4"));
        int from = Integer.getInteger("d4j.progressive.range.from", 8);
        int to = Integer.getInteger("d4j.progressive.range.to", 2);
        PredictionType type = PredictionType.fromConfigName(System.getProperty("d4j.progressive.range.prediction",
                "epsilon"));
        Dataset data = digits();
        Path teacherDir = tmp.resolve("teacher");
        for (String f : new String[] {"model.pt", "scheduler_config.json", "diffusion4j.json"}) {
            GuidanceDistillationTest.copyResource(TEACHER + f, teacherDir.resolve(f));
        }
        ModelFolder teacher = ModelFolder.open(teacherDir);
        ProgressiveDistillation.Config config = new ProgressiveDistillation.Config(from, to, perRound, batch, lr,
                LossWeighting.TRUNCATED_SNR, 1.0, 7, type, 0, new GuidanceRange(1, 5));
        Path out = tmp.resolve("progressive");
        long t0 = System.nanoTime();
        List<ProgressiveDistillation.Round> rounds;
        try (NativeScope scope = new NativeScope()) {
            rounds = new ProgressiveDistillation(config).run(teacher, data, out, Device.CPU, null);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(config.rounds().size(), rounds.size());
        try (NativeScope scope = new NativeScope()) {   // resuming with another range is refused before any training
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ProgressiveDistillation(
                    config.withGuidanceRange(new GuidanceRange(1, 4))).run(teacher, data, out, Device.CPU, null));
            assertTrue(e.getMessage().contains("was distilled with guidance_scale_max 5.0, this run has 4.0"),
                    e.getMessage());
        }
        try (TorchScriptModule classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU)) {
            float[][] low = new float[1][];
            float[][] high = new float[1][];
            double[] t = guidedAccuracy(teacher, classifier, from, 3.0, low);
            guidedAccuracy(teacher, classifier, from, 1.0, low);
            guidedAccuracy(teacher, classifier, from, 5.0, high);
            double teacherSpread = meanSquaredDistance(low[0], high[0]);
            StringBuilder line = new StringBuilder(String.format("progressive distillation of the guidance-distilled "
                    + "digits student, w in [1, 5], %s students, %d -> %d, %d x %d per round, lr %g, %.1f s; guided "
                    + "accuracy at scale 3: teacher DDIM-%d %.2f", type.configName(), from, to, perRound, batch, lr,
                    seconds, from, t[2]));
            for (ProgressiveDistillation.Round r : rounds) {
                ModelFolder student = ModelFolder.open(r.folder());
                String spec = Files.readString(r.folder().resolve(ModelSpec.FILE_NAME));
                assertFalse(spec.contains(ModelSpec.DISTILLED_GUIDANCE_KEY), "the students keep their w input");
                assertTrue(spec.contains("\"guidance_scale_min\" : 1.0"), spec);
                assertEquals(List.of("sample", "timestep", "class_labels", "guidance_scale"),
                        student.spec().forwardSignature());
                int n = r.studentSteps();
                double[] s = guidedAccuracy(student, classifier, n, 3.0, low);
                assertEquals(n, (int) s[0], "one guidance-scale forward per step");
                assertEquals(n * 100, (int) s[1], "no doubled batch");
                guidedAccuracy(student, classifier, n, 1.0, low);
                guidedAccuracy(student, classifier, n, 5.0, high);
                double spread = meanSquaredDistance(low[0], high[0]);
                line.append(String.format(", student DDIM-%d %.2f (loss %.4f; w 1 vs 5: %.4f)", n, s[2],
                        r.finalLoss(), spread));
                assertTrue(s[2] >= 0.95, n + "-step student's guided accuracy " + s[2]);
                // the students still follow w: their samples at w 1 and w 5 differ as the teacher's do
                assertTrue(spread > 0.5 * teacherSpread, n + "-step student: samples at w 1 vs 5 differ by " + spread
                        + ", the teacher's by " + teacherSpread);
            }
            line.append(String.format("; teacher DDIM-%d samples at w 1 vs 5: %.4f", from, teacherSpread));
            System.out.println(line);
        }
    }

    @Test
    void aRangeNeedsAGuidanceConditionedTeacherAndExcludesAFixedScale() throws IOException {
        Dataset data = digits();
        ProgressiveDistillation pd = new ProgressiveDistillation(new ProgressiveDistillation.Config(8, 4, 1, 8, 1e-4,
                LossWeighting.TRUNCATED_SNR, 1, 1).withGuidanceRange(new GuidanceRange(1, 5)));
        Path out = tmp.resolve("o");
        try (NativeScope scope = new NativeScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pd.run(ModelFolder.builtin("digits"), data, out, Device.CPU, null));
            assertTrue(e.getMessage().contains("takes no guidance scale: a guidance range needs a "
                    + "guidance-conditioned teacher"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> pd.run(ModelFolder.builtin("toy2d"), data, out, Device.CPU, null));
            assertTrue(e.getMessage().contains("is not class-conditional: a guidance range needs"), e.getMessage());
            Path teacherDir = tmp.resolve("teacher");
            for (String f : new String[] {"model.pt", "scheduler_config.json", "diffusion4j.json"}) {
                GuidanceDistillationTest.copyResource(TEACHER + f, teacherDir.resolve(f));
            }
            Dataset unlabelled = TensorFileDataset.read(tmp.resolve("x.pt"), null);
            e = assertThrows(IllegalArgumentException.class,
                    () -> pd.run(ModelFolder.open(teacherDir), unlabelled, out, Device.CPU, null));
            assertTrue(e.getMessage().contains("a guidance range needs class labels with the data (--labels)"),
                    e.getMessage());
            assertFalse(Files.exists(out), "nothing written");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pd.config().withGuidanceScale(3));
        assertTrue(e.getMessage().contains("a fixed guidance scale (3.0) and a guidance range [1.0, 5.0] exclude "
                + "each other"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new GuidanceRange(5, 1));
        assertTrue(e.getMessage().contains("guidance range must satisfy 0 <= min <= max"), e.getMessage());
    }
}
