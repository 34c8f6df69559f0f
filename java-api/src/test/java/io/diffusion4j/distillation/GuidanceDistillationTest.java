package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.CountingDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guidance distillation of the built-in digits model (Meng et al. 2023) into test-models' guidance student (the
 * digits UNet with a guidance-scale input, teacher weights, zero w embedding): sampled with DDIM-8 at guidance 3 and
 * one forward per step, the digits classifier recognises the requested digit in 200 samples (20 per class).
 * {@code -Dd4j.guidance.steps=N} sets the budget (BENCHMARKS.md has the figures).
 */
@ExtendWith(OneThread.class)
class GuidanceDistillationTest {
    static final String FIXTURE = "io/diffusion4j/fixtures/digits-guidance-student/";

    @TempDir
    Path tmp;

    static Path copyResource(String resource, Path to) throws IOException {
        try (InputStream in = GuidanceDistillationTest.class.getClassLoader().getResourceAsStream(resource)) {
            Files.createDirectories(to.getParent());
            Files.copy(in, to);
        }
        return to;
    }

    static Path studentInit(Path dir) throws IOException {
        for (String f : new String[] {"model.pt", "scheduler_config.json", "diffusion4j.json"}) {
            copyResource(FIXTURE + f, dir.resolve(f));
        }
        return dir;
    }

    /**
     * Guided DDIM-8 samples (scale 3) of a folder's model, 200 of them, 20 per class: {forwards, rows, accuracy,
     * mean squared distance to {@code reference}'s samples (or 0)}; the samples go to {@code keep[0]} when given.
     */
    static double[] guidedAccuracy(ModelFolder folder, TorchScriptModule classifier, int steps, float[] reference,
                                   float[][] keep) throws IOException {
        int n = 200;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i / 20;
        }
        SchedulerConfig sc = folder.schedulerConfig().toBuilder().clipSample(false).build();
        try (NativeScope scope = new NativeScope();
             CountingDenoiser d = new CountingDenoiser(folder.loadDenoiser(Device.CPU, DType.FLOAT32));
             DiffusionPipeline p = new DiffusionPipeline(d, Schedulers.byName("ddim", sc, 0),
                     folder.spec().sampleShape())) {
            Tensor samples = p.generate(GenerationRequest.builder().steps(steps).seed(31337).batchSize(n)
                    .classLabels(labels).guidanceScale(3.0).build());
            long[] predicted;
            try (InferenceGuard inference = Torch.inferenceMode()) {
                predicted = classifier.forward(samples).argmax(1).toLongArray();
            }
            int correct = 0;
            for (int i = 0; i < n; i++) {
                correct += predicted[i] == labels[i] ? 1 : 0;
            }
            float[] x = samples.toFloatArray();
            double sq = 0;
            for (int i = 0; reference != null && i < x.length; i++) {
                sq += (x[i] - reference[i]) * (double) (x[i] - reference[i]);
            }
            if (keep != null) {
                keep[0] = x;
            }
            return new double[] {d.forwards(), d.rows.get(), correct / (double) n, sq / x.length};
        }
    }

    @Test
    void guidanceStudentReachesGuidedAccuracyInOneForwardPerStep() throws IOException {
        int steps = Integer.getInteger("d4j.guidance.steps", 120);
        int batch = Integer.getInteger("d4j.guidance.batch", 32);
        double lr = Double.parseDouble(System.getProperty("d4j.guidance.lr", "3e-4"));
        Path data = copyResource("io/diffusion4j/reference/training/digits_data.pt", tmp.resolve("x.pt"));
        Path labels = copyResource("io/diffusion4j/reference/training/digits_labels.pt", tmp.resolve("y.pt"));
        ModelFolder teacher = ModelFolder.builtin("digits");
        ModelFolder init = ModelFolder.open(studentInit(tmp.resolve("init")));
        Path out = tmp.resolve("student");
        GuidanceDistillation.Config config = new GuidanceDistillation.Config(8, steps, batch, lr, 1.0, 5.0, 1.0, 11);
        long t0 = System.nanoTime();
        double loss;
        try (NativeScope scope = new NativeScope()) {
            loss = new GuidanceDistillation(config).run(teacher, init, TensorFileDataset.read(data, labels), out,
                    Device.CPU, null);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        ModelFolder student = ModelFolder.open(out);
        assertEquals(8, student.schedulerConfig().extraInt("num_inference_steps", -1));
        try (TorchScriptModule classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU)) {
            float[][] guided = new float[1][];
            double[] t = guidedAccuracy(teacher, classifier, 8, null, guided);
            double[] s = guidedAccuracy(student, classifier, 8, guided[0], null);
            double[] before = guidedAccuracy(init, classifier, 8, guided[0], null);
            System.out.printf("guidance distillation digits, %d steps x %d, lr %g, %.1f s, final loss %.5f: DDIM-8 "
                            + "guidance 3: student %.3f (%d forwards, %d rows; mean squared distance to the teacher's guided "
                            + "samples %.5f), undistilled init %.3f (distance %.5f), teacher %.3f (%d forwards, %d "
                            + "rows)%n", steps, batch, lr, seconds, loss, s[2], (int) s[0], (int) s[1], s[3],
                    before[2], before[3], t[2], (int) t[0], (int) t[1]);
            for (int n : Boolean.getBoolean("d4j.guidance.report") ? new int[] {1, 2, 4, 8} : new int[0]) {
                float[][] g = new float[1][];
                double[] tn = guidedAccuracy(teacher, classifier, n, null, g);
                double[] sn = guidedAccuracy(student, classifier, n, g[0], null);
                System.out.printf("  DDIM-%d guidance 3: teacher %.3f (%d NFE), student %.3f (%d NFE, distance to the "
                        + "teacher's samples %.5f)%n", n, tn[2], 2 * n, sn[2], n, sn[3]);
            }
            assertEquals(8, (int) s[0], "one forward per step");
            assertEquals(8 * 200, (int) s[1], "no doubled batch");
            assertEquals(8 * 400, (int) t[1], "the teacher doubles its batch");
            assertTrue(s[2] >= 0.95, "guided accuracy " + s[2]);
            // the conditional init already recognises ~99% at DDIM-8, so accuracy alone cannot tell guidance from
            // none: the student's samples must also have moved towards the guided teacher's, from the same noise
            assertTrue(s[3] < 0.5 * before[3], "distance to the guided teacher " + s[3] + " vs init " + before[3]);
        }
    }

    @Test
    void aStudentWithoutAGuidanceInputIsRefused() throws IOException {
        Path data = copyResource("io/diffusion4j/reference/training/digits_data.pt", tmp.resolve("x.pt"));
        Path labels = copyResource("io/diffusion4j/reference/training/digits_labels.pt", tmp.resolve("y.pt"));
        ModelFolder digits = ModelFolder.builtin("digits");
        GuidanceDistillation gd = new GuidanceDistillation(new GuidanceDistillation.Config(8, 1, 4, 1e-4, 1, 5, 1, 1));
        try (NativeScope scope = new NativeScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gd.run(digits, digits,
                    TensorFileDataset.read(data, labels), tmp.resolve("o"), Device.CPU, null));
            assertTrue(e.getMessage().contains("takes no guidance scale"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> gd.run(ModelFolder.builtin("toy2d"), digits,
                    TensorFileDataset.read(data, labels), tmp.resolve("o"), Device.CPU, null));
            assertTrue(e.getMessage().contains("not class-conditional"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new GuidanceDistillation.Config(8, 10, 4, 1e-4, 5, 1, 1, 1));
        assertTrue(e.getMessage().contains("guidance range"), e.getMessage());
    }
}
