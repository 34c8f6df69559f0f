package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.evaluation.EnergyDistance;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.DdpmScheduler;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.InputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sample quality with Java sampling, judged the way test-models judged PyTorch's own samples (same seeds, same
 * classifier, same energy distance): reference/quality.json holds the Python-side figures.
 */
@Tag("quality")
class QualityTest {
    static JsonNode quality;
    static TorchScriptModule classifier;

    @BeforeAll
    static void load() throws Exception {
        Torch.setThreads(2);
        try (InputStream in = QualityTest.class.getClassLoader()
                .getResourceAsStream("io/diffusion4j/reference/quality.json")) {
            quality = new ObjectMapper().readTree(in);
        }
        classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU);
    }

    @AfterAll
    static void close() {
        classifier.close();
    }

    static double pythonAccuracy(String model, String sampler, boolean clip, Double guidance) {
        for (JsonNode r : quality.get("digits").get("results")) {
            boolean g = r.get("guidance_scale").isNull() ? guidance == null
                    : guidance != null && r.get("guidance_scale").asDouble() == guidance;
            boolean c = !r.has("clip_sample") || r.get("clip_sample").asBoolean() == clip;
            if (r.get("model").asText().equals(model) && r.get("sampler").asText().equals(sampler) && g && c) {
                return r.get("accuracy").asDouble();
            }
        }
        throw new IllegalStateException("no Python figure for " + model + " " + sampler + " " + guidance);
    }

    /**
     * DDIM with the models' {@code clip_sample: true} and guidance 3 is poor in PyTorch too (13%): diffusers clips
     * x0 but keeps the unclipped epsilon for the direction term ({@code use_clipped_model_output=False}), which
     * guidance pushes far out of range. The same sampler without clipping recognises 100%.
     */
    @ParameterizedTest(name = "{0} {1} clip_sample {2} guidance {3}")
    @CsvSource({"digits, ddpm, true, 3.0", "digits, ddpm, true, 1.0", "digits, ddim, false, 3.0",
        "digits, ddim, true, 3.0", "digits, ddim, true, 1.0", "digits-v, ddim, false, 3.0", "digits-v, ddim, true, 1.0"})
    void theClassifierRecognisesTheRequestedDigit(String model, String sampler, boolean clip, double guidance)
            throws Exception {
        ModelFolder folder = ModelFolder.builtin(model);
        SchedulerConfig config = folder.schedulerConfig().toBuilder().clipSample(clip).build();
        Scheduler scheduler = sampler.equals("ddpm") ? new DdpmScheduler(config)
                : new DdimScheduler(config.withClassName(DdimScheduler.CLASS_NAME));
        int steps = sampler.equals("ddpm") ? 1000 : 50;
        int n = 200;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i / 20;
        }
        long seed = quality.get("digits").get("seed").asLong();
        try (NativeScope scope = new NativeScope(); Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            long t0 = System.nanoTime();
            Tensor samples = new DiffusionPipeline(d, scheduler, folder.spec().sampleShape()).generate(
                    GenerationRequest.builder().steps(steps).seed(seed).batchSize(n).classLabels(labels)
                            .guidanceScale(guidance).build());
            double seconds = (System.nanoTime() - t0) / 1e9;
            long[] predicted;
            try (InferenceGuard inference = Torch.inferenceMode()) { // the samples are inference tensors
                predicted = classifier.forward(samples).argmax(1).toLongArray();
            }
            int correct = 0;
            for (int i = 0; i < n; i++) {
                correct += predicted[i] == labels[i] ? 1 : 0;
            }
            double accuracy = correct / (double) n;
            double python = pythonAccuracy(model, sampler, clip, guidance > 1 ? guidance : null);
            double bar = Math.min(0.90, python - 0.03);
            System.out.printf("quality %s %s-%d clip_sample %s guidance %.1f: Java accuracy %.3f, PyTorch %.3f, bar %.3f "
                    + "(%.1f s)%n", model, sampler, steps, clip, guidance, accuracy, python, bar, seconds);
            assertTrue(accuracy >= bar, "accuracy " + accuracy + " below " + bar + " (PyTorch: " + python + ")");
        }
    }

    /**
     * Euler, Heun, Euler ancestral, DPM-Solver++(2M) and its SDE variant in 10 or 20 steps, and the adaptive solver
     * at its default tolerances, reach PyTorch's guided DDPM-1000 accuracy minus 3 points.
     */
    @ParameterizedTest(name = "{0} {2}-{1} guidance 3")
    @CsvSource({"digits, 10, euler", "digits, 20, euler", "digits-v, 10, euler", "digits, 20, dpmsolver++",
        "digits, 10, dpmsolver++", "digits-v, 20, dpmsolver++", "digits, 10, heun", "digits, 20, euler-a",
        "digits, 20, sde-dpmsolver++", "digits, 0, adaptive"})
    void fastSolversInAFractionOfTheStepsMatchDdpm1000(String model, int steps, String solver) throws Exception {
        ModelFolder folder = ModelFolder.builtin(model);
        int n = 200;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i / 20;
        }
        try (NativeScope scope = new NativeScope(); Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline p = new DiffusionPipeline(d, io.diffusion4j.scheduler.Schedulers.byName(solver,
                     folder.schedulerConfig(), 0), folder.spec().sampleShape())) {
            Tensor samples = p.generate(GenerationRequest.builder().steps(Math.max(1, steps))
                    .seed(quality.get("digits").get("seed").asLong()).batchSize(n).classLabels(labels).guidanceScale(3.0)
                    .build());
            long[] predicted;
            try (InferenceGuard inference = Torch.inferenceMode()) {
                predicted = classifier.forward(samples).argmax(1).toLongArray();
            }
            int correct = 0;
            for (int i = 0; i < n; i++) {
                correct += predicted[i] == labels[i] ? 1 : 0;
            }
            double accuracy = correct / (double) n;
            double bar = pythonAccuracy("digits", "ddpm", true, 3.0) - 0.03;
            System.out.printf("quality %s %s-%d guidance 3.0: Java accuracy %.3f, bar (PyTorch DDPM-1000 - 3 points) "
                    + "%.3f%n", model, solver, steps, accuracy, bar);
            assertTrue(accuracy >= bar, "accuracy " + accuracy + " below " + bar);
        }
    }

    @ParameterizedTest(name = "toy2d {0}")
    @CsvSource({"ddpm", "ddim"})
    void toy2dSamplesAreAsCloseToTheDataAsPyTorchs(String sampler) throws Exception {
        ModelFolder folder = ModelFolder.builtin("toy2d");
        Scheduler scheduler = sampler.equals("ddpm") ? new DdpmScheduler(folder.schedulerConfig())
                : new DdimScheduler(folder.schedulerConfig().withClassName(DdimScheduler.CLASS_NAME));
        JsonNode toy = quality.get("toy2d");
        int n = toy.get("num_samples").asInt();
        try (NativeScope scope = new NativeScope(); Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            Tensor samples = new DiffusionPipeline(d, scheduler, folder.spec().sampleShape()).generate(
                    GenerationRequest.builder().steps(sampler.equals("ddpm") ? 1000 : 50)
                            .seed(toy.get("seed").asLong()).batchSize(n).build());
            Tensor data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt").narrow(0, 0, n);
            double ed = EnergyDistance.of(samples.toDoubleArray(), data.toDoubleArray(), 2);
            double python = toy.get("energy_distance").get(sampler.equals("ddpm") ? "ddpm1000" : "ddim50").asDouble();
            double floor = toy.get("energy_distance").get("noise_floor_true_vs_true").asDouble();
            System.out.printf("quality toy2d %s: Java energy distance %.5f, PyTorch %.5f, true-vs-true %.5f%n",
                    sampler, ed, python, floor);
            assertTrue(ed <= python * 1.10, "energy distance " + ed + " more than 10% above PyTorch's " + python);
        }
    }
}
