package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;
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
 * Guidance distillation of a Java-built UNet (the built-in digits model's weights in {@link Networks}' UNet) without
 * a student folder: the student is the teacher plus a zero-initialised guidance embedding, so it starts at the
 * teacher's conditional prediction; a short run moves its one-forward prediction towards the guided teacher's
 * {@code uncond + w (cond - uncond)} on held-out noised digits, and the folder it writes samples guided in one forward
 * per step.
 */
@ExtendWith(OneThread.class)
class GuidanceUNetDistillationTest {
    @TempDir
    Path tmp;

    /** A model folder holding the built-in digits model as a Java-built UNet (weights.pt + its architecture). */
    static Path javaDigits(Path dir) throws IOException {
        ModelFolder digits = ModelFolder.builtin("digits");
        Files.createDirectories(dir);
        try (TorchScriptModule ts = digits.loadModule(Device.CPU);
             NetDenoiser net = Networks.build(Architecture.unet(new long[] {1, 8, 8}, 32, 2, 64, 10), Device.CPU);
             NativeScope scope = new NativeScope()) {
            net.network().loadTensors(ts.namedParameters(), "digits");
            net.saveWeights(dir);
            digits.schedulerConfig().write(dir.resolve(ModelFolder.SCHEDULER_FILE));
            ObjectNode spec = StudentFolder.specJson(digits);
            spec.remove("training");
            spec.put("name", "digits-java");
            spec.set("architecture", StudentFolder.JSON.readTree(net.architecture().toJson()));
            Files.writeString(dir.resolve(ModelSpec.FILE_NAME), StudentFolder.JSON.writeValueAsString(spec));
        }
        return dir;
    }

    /** Mean squared distance of a prediction to the guided teacher's at scale 3, on 64 held-out noised digits. */
    private static double guidedError(Denoiser teacher, Denoiser candidate, boolean takesScale) throws IOException {
        try (NativeScope scope = new NativeScope(); InferenceGuard inference = Torch.inferenceMode()) {
            Tensor x0 = TensorFiles.readResource("io/diffusion4j/reference/training/digits_data.pt").narrow(0, 1700, 64)
                    .to(Device.CPU, DType.FLOAT32);
            long[] labels = TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt")
                    .narrow(0, 1700, 64).toLongArray();
            Tensor y = Tensor.fromLongs(labels, 64);
            long[] t = new long[64];
            double[] a = new double[64];
            double[] s = new double[64];
            double[] ab = ModelFolder.builtin("digits").schedulerConfig().noiseSchedule().alphasCumprod();
            for (int i = 0; i < 64; i++) {
                t[i] = 50 + i * 14;
                a[i] = Math.sqrt(ab[(int) t[i]]);
                s[i] = Math.sqrt(1 - ab[(int) t[i]]);
            }
            Tensor z = Parameterization.perExample(a, x0).mul(x0).add(Parameterization.perExample(s, x0)
                    .mul(Tensor.randn(Generator.cpu(77), DType.FLOAT32, Device.CPU, x0.shape())));
            Tensor ts = Tensor.fromLongs(t, 64);
            Tensor target;
            try (GuidedDenoiser g = new GuidedDenoiser(teacher, 3.0)) {
                target = g.predict(z, ts, y);
            }
            Tensor p = takesScale ? candidate.predict(z, ts, y, Tensor.full(3.0, DType.FLOAT32, Device.CPU, 64))
                    : candidate.predict(z, ts, y);
            return Tensor.mseLoss(p, target).item();
        }
    }

    @Test
    void aJavaBuiltUNetDistilsIntoItsOwnGuidanceStudent() throws IOException {
        int steps = Integer.getInteger("d4j.guidance.unet.steps", 60);
        int batch = Integer.getInteger("d4j.guidance.unet.batch", 16);
        double lr = Double.parseDouble(System.getProperty("d4j.guidance.unet.lr", "1e-3"));
        Path data = tmp.resolve("x.pt");
        Path labels = tmp.resolve("y.pt");
        try (NativeScope scope = new NativeScope()) {   // train on the first 1,700 digits, measure on the rest
            TensorFiles.write(data, TensorFiles.readResource("io/diffusion4j/reference/training/digits_data.pt")
                    .narrow(0, 0, 1700));
            TensorFiles.write(labels, TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt")
                    .narrow(0, 0, 1700));
        }
        ModelFolder teacher = ModelFolder.open(javaDigits(tmp.resolve("teacher")));
        Path out = tmp.resolve("student");
        List<Double> losses = new ArrayList<>();
        double loss;
        long t0 = System.nanoTime();
        try (NativeScope scope = new NativeScope()) {
            loss = new GuidanceDistillation(new GuidanceDistillation.Config(8, steps, batch, lr, 1, 5, 1, 11))
                    .run(teacher, null, TensorFileDataset.read(data, labels), out, Device.CPU,
                            (s, l) -> losses.add(l));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        ModelFolder student = ModelFolder.open(out);
        assertTrue(student.architecture().guidanceEmbedding(), "the student's architecture takes w");
        assertEquals(List.of("sample", "timestep", "class_labels", "guidance_scale"),
                student.spec().forwardSignature());
        JsonNode record = StudentFolder.JSON.readTree(Files.readString(out.resolve(ModelSpec.FILE_NAME)))
                .path("distillation");
        assertTrue(record.path("student_init").asText().endsWith("plus a zero-initialised guidance embedding"),
                record.toString());
        try (Denoiser t = teacher.loadDenoiser(Device.CPU, DType.FLOAT32);
             Denoiser s = student.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            assertTrue(s.takesGuidanceScale());
            double before = guidedError(t, t, false);   // the untrained student = the teacher's conditional output
            double after = guidedError(t, s, true);
            System.out.printf("guidance distillation of the Java-built digits unet, %d x %d steps, lr %g, %.1f s: "
                    + "first loss %.5f, final %.5f; held-out MSE to the guided teacher (w 3): %.5f at init, %.5f "
                    + "after%n", steps, batch, lr, seconds, losses.get(0), loss, before, after);
            assertTrue(after < 0.7 * before, "held-out distance to the guided teacher " + after + " vs init "
                    + before);
        }
        if (Boolean.getBoolean("d4j.guidance.unet.report")) {   // GuidanceDistillationTest's protocol
            try (TorchScriptModule classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU)) {
                for (int n : new int[] {2, 4, 8}) {
                    float[][] guided = new float[1][];
                    double[] t = GuidanceDistillationTest.guidedAccuracy(teacher, classifier, n, null, guided);
                    double[] s = GuidanceDistillationTest.guidedAccuracy(student, classifier, n, guided[0], null);
                    System.out.printf("  DDIM-%d guidance 3, 200 samples: teacher %.3f (%d rows), student %.3f (%d "
                            + "rows; mean squared distance to the teacher's samples %.5f)%n", n, t[2], (int) t[1],
                            s[2], (int) s[1], s[3]);
                }
            }
        }
    }

    @Test
    void aTorchScriptTeacherNeedsAStudentFolder() throws IOException {
        Path data = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_data.pt",
                tmp.resolve("x.pt"));
        Path labels = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_labels.pt",
                tmp.resolve("y.pt"));
        GuidanceDistillation gd = new GuidanceDistillation(new GuidanceDistillation.Config(8, 1, 4, 1e-4, 1, 5, 1, 1));
        try (NativeScope scope = new NativeScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gd.run(
                    ModelFolder.builtin("digits"), null, TensorFileDataset.read(data, labels), tmp.resolve("o"),
                    Device.CPU, null));
            assertTrue(e.getMessage().contains("is not a Java-built unet: give the initial student"),
                    e.getMessage());
            assertTrue(!Files.exists(tmp.resolve("o")), "nothing written");
        }
    }
}
