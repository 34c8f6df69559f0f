package io.diffusion4j.model.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.CountingDenoiser;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Schedulers;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java-built UNet's guidance embedding ({@code guidance_embedding}, Meng et al. 2023): the architecture JSON and
 * its validation; with test-models' PyTorch guidance student's weights (make_guidance_student.py, its zero last layer
 * replaced by the same random values on both sides) it computes what that TorchScript module computes at every w; a
 * student made from a teacher starts equal to the teacher's conditional prediction; guided sampling runs one forward
 * per step.
 */
@ExtendWith(OneThread.class)
class GuidanceEmbeddingTest {
    static final String STUDENT_FIXTURE = "io/diffusion4j/fixtures/digits-guidance-student/model.pt";

    @TempDir
    Path tmp;

    static Architecture digitsArch() {
        return Architecture.unet(new long[] {1, 8, 8}, 32, 2, 64, 10);
    }

    private static double maxAbsDiff(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        assertEquals(x.length, y.length, "sizes");
        double m = 0;
        for (int i = 0; i < x.length; i++) {
            m = Math.max(m, Math.abs(x[i] - y[i]));
        }
        return m;
    }

    @Test
    void theArchitectureRoundTripsAndRefusesAGuidanceEmbeddingWithoutClasses() throws IOException {
        ObjectMapper json = new ObjectMapper();
        Architecture g = digitsArch().withGuidanceEmbedding(true);
        assertTrue(g.guidanceEmbedding());
        assertTrue(g.toJson().contains("\"guidance_embedding\":true"), g.toJson());
        assertEquals(g, Architecture.fromJson(json.readTree(g.toJson())));
        assertFalse(digitsArch().toJson().contains("guidance_embedding"), "absent when off: older readers see the "
                + "same JSON");
        assertFalse(Architecture.fromJson(json.readTree(digitsArch().toJson())).guidanceEmbedding());
        assertEquals(digitsArch(), g.withGuidanceEmbedding(false));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Architecture.mlp(new long[] {2}, 64, 2, 32).withGuidanceEmbedding(true));
        assertTrue(e.getMessage().contains("guidance_embedding needs a class-conditional unet")
                && e.getMessage().contains("type mlp"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Architecture.unet(new long[] {1, 8, 8}, 32, 2, 64, 0).withGuidanceEmbedding(true));
        assertTrue(e.getMessage().contains("num_classes 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Architecture.fromJson(json.readTree(
                digitsArch().toJson().replace("}", ",\"guidance_embedding\":\"yes\"}"))));
        assertTrue(e.getMessage().contains("guidance_embedding must be true or false, got \"yes\""), e.getMessage());
    }

    @Test
    void withThePyTorchStudentsWeightsItComputesThePyTorchStudentAtEveryScale() throws IOException {
        Path file = tmp.resolve("student.pt");
        try (InputStream in = getClass().getClassLoader().getResourceAsStream(STUDENT_FIXTURE)) {
            Files.copy(in, file);
        }
        try (TorchScriptModule ts = TorchScriptModule.load(file, Device.CPU);
             NetDenoiser net = Networks.build(digitsArch().withGuidanceEmbedding(true), Device.CPU, 3);
             NativeScope scope = new NativeScope()) {
            assertTrue(net.takesGuidanceScale() && net.guidanceConditioned());
            LinkedHashMap<String, Tensor> pyParams = ts.namedParameters();
            // the fixture's w_mlp.2 is zero (an untrained student): give both the same non-zero values, so that the
            // comparison covers the w path
            for (String k : new String[] {"w_mlp.2.weight", "w_mlp.2.bias"}) {
                try (Generator g = Generator.cpu(k.length())) {
                    pyParams.get(k).uniformInPlace(g, -0.2, 0.2);
                }
            }
            net.network().loadTensors(pyParams, STUDENT_FIXTURE);
            Tensor x = Tensor.randn(Generator.cpu(2), DType.FLOAT32, Device.CPU, 6, 1, 8, 8);
            Tensor t = Tensor.fromLongs(new long[] {0, 10, 250, 500, 750, 999}, 6);
            Tensor y = Tensor.fromLongs(new long[] {0, 3, 7, 9, 10, 10}, 6);
            Tensor w = Tensor.fromDoubles(new double[] {0, 1, 2.5, 3, 5, 7.5}, 6).to(Device.CPU, DType.FLOAT32);
            Tensor py = ts.forward(x, t, y, w);
            double d = maxAbsDiff(py, net.forward(x, t, y, w));
            double moved = maxAbsDiff(py, ts.forward(x, t, y, Tensor.full(1.0, DType.FLOAT32, Device.CPU, 6)));
            System.out.printf("java guidance unet vs PyTorch guidance student: max |diff| %.2e (w moves the output by "
                    + "%.3f)%n", d, moved);
            assertTrue(moved > 1e-2, "the w path changes the output: " + moved);
            assertTrue(d < 1e-5, "max |diff| " + d);
            assertEquals(0, maxAbsDiff(net.forward(x, t, y, Tensor.full(1.0, DType.FLOAT32, Device.CPU, 6)),
                    net.forward(x, t, y)), 0.0, "the three-argument forward is w = 1");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> net.forward(x, t, y, Tensor.full(1.0, DType.FLOAT32, Device.CPU, 2)));
            assertTrue(e.getMessage().contains("one guidance scale per sample"), e.getMessage());
        }
    }

    @Test
    void aStudentStartsAsTheTeachersConditionalPredictionAndGuidesInOneForwardPerStep() throws IOException {
        ModelFolder digits = ModelFolder.builtin("digits");
        try (TorchScriptModule ts = digits.loadModule(Device.CPU);
             NetDenoiser teacher = Networks.build(digitsArch(), Device.CPU);
             NativeScope scope = new NativeScope()) {
            teacher.network().loadTensors(ts.namedParameters(), "digits");
            try (NetDenoiser student = Networks.guidanceStudent(teacher, 5)) {
                assertTrue(student.architecture().guidanceEmbedding());
                Tensor x = Tensor.randn(Generator.cpu(4), DType.FLOAT32, Device.CPU, 4, 1, 8, 8);
                Tensor t = Tensor.fromLongs(new long[] {999, 500, 20, 0}, 4);
                Tensor y = Tensor.fromLongs(new long[] {1, 3, 10, 7}, 4);
                Tensor w = Tensor.fromDoubles(new double[] {1, 2.5, 4, 7}, 4).to(Device.CPU, DType.FLOAT32);
                double d = maxAbsDiff(teacher.forward(x, t, y), student.forward(x, t, y, w));
                assertTrue(d < 1e-6, "student at init vs the teacher's conditional prediction: " + d);

                // guided DDIM: one forward of B rows per step for the student, 2B rows for the teacher
                int steps = 4;
                int n = 6;
                int[] labels = {0, 1, 2, 3, 4, 5};
                var sc = digits.schedulerConfig();
                try (CountingDenoiser cs = new CountingDenoiser(new Unowned(student));
                     CountingDenoiser ct = new CountingDenoiser(new Unowned(teacher));
                     DiffusionPipeline ps = new DiffusionPipeline(cs, Schedulers.byName("ddim", sc, 0),
                             new long[] {1, 8, 8});
                     DiffusionPipeline pt = new DiffusionPipeline(ct, Schedulers.byName("ddim", sc, 0),
                             new long[] {1, 8, 8})) {
                    GenerationRequest r = GenerationRequest.builder().steps(steps).seed(9).batchSize(n)
                            .classLabels(labels).guidanceScale(3.0).build();
                    ps.generate(r);
                    pt.generate(r);
                    assertEquals(steps, cs.guidedForwards.get(), "one guidance-scale forward per step");
                    assertEquals(0, cs.plainForwards.get());
                    assertEquals(steps * n, cs.rows.get(), "no doubled batch");
                    assertEquals(steps * 2 * n, ct.rows.get(), "the teacher doubles its batch");
                }
                // the guided wrapper hands w to the student as [B] float32
                try (GuidedDenoiser g = new GuidedDenoiser(student, 3.0)) {
                    double dg = maxAbsDiff(g.predict(x, t, y),
                            student.predict(x, t, y, Tensor.full(3.0, DType.FLOAT32, Device.CPU, 4)));
                    assertEquals(0, dg, 0.0);
                }
            }
            IllegalArgumentException e;
            try (NetDenoiser student = Networks.guidanceStudent(teacher, 1)) {
                e = assertThrows(IllegalArgumentException.class, () -> Networks.guidanceStudent(student, 1));
                assertTrue(e.getMessage().contains("already takes a guidance scale"), e.getMessage());
            }
            try (NetDenoiser mlp = Networks.build(Architecture.mlp(new long[] {2}, 16, 1, 8), Device.CPU, 1)) {
                e = assertThrows(IllegalArgumentException.class, () -> Networks.guidanceStudent(mlp, 1));
                assertTrue(e.getMessage().contains("needs a class-conditional unet teacher"), e.getMessage());
            }
        }
    }

    /** A denoiser view that leaves closing the network to the test. */
    private record Unowned(NetDenoiser net) implements io.diffusion4j.model.Denoiser {
        @Override
        public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
            return net.predict(sample, timesteps, classLabels);
        }

        @Override
        public boolean takesGuidanceScale() {
            return net.takesGuidanceScale();
        }

        @Override
        public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
            return net.predict(sample, timesteps, classLabels, guidanceScale);
        }

        @Override
        public boolean isConditional() {
            return net.isConditional();
        }

        @Override
        public int numClasses() {
            return net.numClasses();
        }

        @Override
        public int nullClassId() {
            return net.nullClassId();
        }

        @Override
        public DType timestepDType() {
            return net.timestepDType();
        }

        @Override
        public DType dtype() {
            return net.dtype();
        }

        @Override
        public Device device() {
            return net.device();
        }

        @Override
        public void close() {
        }
    }
}
