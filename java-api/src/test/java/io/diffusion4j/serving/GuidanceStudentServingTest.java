package io.diffusion4j.serving;

import static io.diffusion4j.serving.BatchingEngineTest.alone;
import static io.diffusion4j.serving.BatchingEngineTest.maxDiff;
import static io.diffusion4j.serving.BatchingEngineTest.take;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.CountingDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.TorchScriptDenoiser;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.Schedulers;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Serving a guidance-distilled student (test-models' digits guidance student, forward {@code (sample, timestep,
 * class_labels, guidance_scale)}): the engine runs each guided row once with its scale as an input, as the
 * {@code sample} path does, instead of the conditional and unconditional halves of classifier-free guidance.
 */
class GuidanceStudentServingTest {
    private static final String FIXTURE = "io/diffusion4j/fixtures/digits-guidance-student/";

    private static Path dir;
    private static ModelFolder folder;
    private static CountingDenoiser student;

    /**
     * The fixture student with its guidance-scale embedding's last layer (zero in the fixture, so that the untrained
     * student ignores w) drawn from a seeded normal: its predictions then depend on w, and a wrong scale shows.
     */
    @BeforeAll
    static void load() throws IOException {
        dir = Files.createTempDirectory("guidance-student");
        for (String f : new String[] {"model.pt", "scheduler_config.json", "diffusion4j.json"}) {
            try (InputStream in = GuidanceStudentServingTest.class.getClassLoader().getResourceAsStream(FIXTURE + f)) {
                Files.copy(in, dir.resolve(f));
            }
        }
        folder = ModelFolder.open(dir);
        TorchScriptModule module = folder.loadModule(Device.CPU);
        try (NativeScope scope = new NativeScope(); Generator g = Generator.cpu(2023)) {
            for (String name : new String[] {"w_mlp.2.weight", "w_mlp.2.bias"}) {
                Tensor p = module.namedParameters().get(name);
                p.requiresGrad(false);
                p.normalInPlace(g, 0, 0.1);
            }
        }
        student = new CountingDenoiser(new TorchScriptDenoiser(module, folder.spec(), DType.FLOAT32));
        assertTrue(student.takesGuidanceScale());
    }

    @AfterAll
    static void close() throws IOException {
        student.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    private static Scheduler scheduler(String name, double eta) {
        return Schedulers.byName(name, folder.schedulerConfig(), eta);
    }

    @Test
    void guidedRowsRunOnceWithTheirScaleAndEqualTheSamplePath() throws Exception {
        List<BatchingEngineTest.Case> cases = List.of(
                new BatchingEngineTest.Case("ddim", 0.0, GenerationRequest.builder().steps(8).seed(5).classLabels(3)
                        .guidanceScale(3).build()),
                new BatchingEngineTest.Case("dpmsolver++", 0, GenerationRequest.builder().steps(6).seed(9)
                        .batchSize(2).classLabels(4, 8).guidanceScale(2).build()),
                new BatchingEngineTest.Case("euler", 0, GenerationRequest.builder().steps(5).seed(7).classLabels(1)
                        .build()),
                new BatchingEngineTest.Case("ddim", 1.0, GenerationRequest.builder().steps(5).seed(17).classLabels(6)
                        .guidanceScale(4).build()));
        List<float[]> expected = new ArrayList<>();
        for (BatchingEngineTest.Case c : cases) {
            expected.add(alone(student, folder, scheduler(c.scheduler(), c.eta()), c.request()));
        }
        // the scale matters to this student: the same request unguided gives other samples
        float[] unguided = alone(student, folder, scheduler("ddim", 0), GenerationRequest.builder().steps(8).seed(5)
                .classLabels(3).build());
        assertTrue(maxDiff(expected.get(0), unguided) > 1e-2, "w changes the student's samples");

        // each request alone in the engine: the batch the sample path runs, to 1e-6
        for (int k = 0; k < cases.size(); k++) {
            BatchingEngineTest.Case c = cases.get(k);
            student.reset();
            try (BatchingEngine engine = new BatchingEngine(student, folder.spec().sampleShape(),
                    new EngineConfig(8, 8), "student")) {
                double d = maxDiff(expected.get(k), take(engine.submit(c.request(), scheduler(c.scheduler(), c.eta()),
                        null)));
                System.out.printf("guidance student, %s alone in the engine: max difference %.2e%n", c.scheduler(), d);
                assertTrue(d <= 1e-6, c.scheduler() + " alone: max difference " + d);
            }
            int steps = c.request().steps();
            int batch = c.request().batchSize();
            assertEquals(steps, student.guidedForwards.get(), c.scheduler() + ": one forward per step, with scales");
            assertEquals(0, student.plainForwards.get(), c.scheduler() + ": no forward without scales");
            assertEquals(steps * batch, student.rows.get(), c.scheduler() + ": each sample once per step, not twice");
        }

        // all together in one batch: one forward per engine step, each its own scale (rounding by batch size: 1e-5)
        student.reset();
        try (BatchingEngine engine = new BatchingEngine(student, folder.spec().sampleShape(), new EngineConfig(8, 8),
                "student")) {
            List<Submission> subs = new ArrayList<>();
            for (BatchingEngineTest.Case c : cases) {
                subs.add(engine.submit(c.request(), scheduler(c.scheduler(), c.eta()), null));
            }
            for (int k = 0; k < cases.size(); k++) {
                double d = maxDiff(expected.get(k), take(subs.get(k)));
                System.out.printf("guidance student, %s batched: max difference %.2e%n", cases.get(k).scheduler(), d);
                assertTrue(d <= 1e-5, cases.get(k).scheduler() + " batched: max difference " + d);
            }
            int rows = cases.stream().mapToInt(c -> c.request().steps() * c.request().batchSize()).sum();
            assertEquals(rows, student.rows.get(), "each sample once per step");
            assertEquals(engine.stats().steps(), student.guidedForwards.get(), "one forward per engine step");
        }
    }

    /** The same guided request costs the doubled batch on the teacher and the batch itself on the student. */
    @Test
    void aGuidedStepOfTheStudentForwardsHalfTheRowsOfTheTeachers() throws Exception {
        GenerationRequest r = GenerationRequest.builder().steps(6).seed(3).batchSize(2).classLabels(2, 7)
                .guidanceScale(3).build();
        ModelFolder digits = ModelFolder.builtin("digits");
        try (CountingDenoiser teacher = new CountingDenoiser(digits.loadDenoiser(Device.CPU, DType.FLOAT32))) {
            for (CountingDenoiser d : List.of(teacher, student)) {
                d.reset();
                try (BatchingEngine engine = new BatchingEngine(d, folder.spec().sampleShape(), new EngineConfig(8, 8),
                        "count")) {
                    take(engine.submit(r, Schedulers.byName("ddim", digits.schedulerConfig(), 0), null));
                }
            }
            assertEquals(6, teacher.plainForwards.get() + teacher.guidedForwards.get());
            assertEquals(6, student.plainForwards.get() + student.guidedForwards.get());
            assertEquals(6 * 2 * 2, teacher.rows.get(), "teacher: conditional and unconditional halves");
            assertEquals(6 * 2, student.rows.get(), "student: the batch itself");
        }
    }
}
