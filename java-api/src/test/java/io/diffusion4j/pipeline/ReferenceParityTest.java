package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.diffusion4j.Reference;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.Compatibility;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.DdpmScheduler;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Java sampling against the PyTorch reference runs of test-models (same model, config, initial noise and per-step
 * noise): DDIM-50 with eta 0 and 1, DDPM-1000, guided DDIM, v-prediction.
 */
class ReferenceParityTest {
    static final double TOLERANCE = 1e-4;

    @BeforeAll
    static void threads() {
        Torch.setThreads(2);
    }

    static Stream<Arguments> samplingCases() {
        List<Arguments> out = new ArrayList<>();
        for (String kind : new String[] {"ddim", "ddpm"}) {
            for (JsonNode c : Reference.cases(kind)) {
                out.add(Arguments.of(c.get("name").asText(), c));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samplingCases")
    void javaSamplingLandsOnThePyTorchResult(String name, JsonNode c) throws Exception {
        JsonNode p = c.get("params");
        SchedulerConfig config = SchedulerConfig.fromJson(c.get("scheduler_config").toString(), name);
        int steps = p.get("num_inference_steps").asInt();
        double eta = p.has("eta") ? p.get("eta").asDouble() : 0.0;
        Scheduler scheduler = c.get("kind").asText().equals("ddim")
                ? new DdimScheduler(config, eta, Compatibility.DIFFUSERS) : new DdpmScheduler(config);
        ModelFolder folder = ModelFolder.builtin(c.get("model").asText());
        try (NativeScope scope = new NativeScope();
             Denoiser model = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             SamplingPlan plan = scheduler.plan(steps)) {
            long[] expectedTimesteps = new long[c.get("timesteps").size()];
            for (int i = 0; i < expectedTimesteps.length; i++) {
                expectedTimesteps[i] = c.get("timesteps").get(i).asLong();
            }
            assertArrayEquals(expectedTimesteps, plan.timesteps(), "timesteps");

            Tensor init = Reference.tensor(c, "init_noise");
            Tensor stepNoise = Reference.tensor(c, "step_noise");
            List<Tensor> replay = new ArrayList<>();
            for (int i = 0; i < steps; i++) {
                if (plan.needsNoise(i)) {
                    replay.add(stepNoise.select(0, i));
                }
            }
            int batch = p.get("batch_size").asInt();
            long seed = p.get("seed").asLong();
            GenerationRequest.Builder req = GenerationRequest.builder().steps(steps).seed(seed).batchSize(batch)
                    .initNoise(init).noiseSource(NoiseSource.replay(replay));
            JsonNode labels = p.get("class_labels");
            if (labels != null && !labels.isNull()) {
                int[] ids = new int[labels.size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = labels.get(i).asInt();
                }
                req.classLabels(ids);
            }
            if (p.has("guidance_scale") && !p.get("guidance_scale").isNull()) {
                req.guidanceScale(p.get("guidance_scale").asDouble());
            }
            Tensor result = new DiffusionPipeline(model, scheduler, folder.spec().sampleShape()).generate(req.build());
            float[] expected = Reference.tensor(c, "result").toFloatArray();
            double diff = Reference.maxAbsDiff(expected, result.toFloatArray());
            System.out.printf("%s: max |java - pytorch| = %.3g%n", name, diff);
            assertTrue(diff <= TOLERANCE, name + ": max abs difference " + diff + " > " + TOLERANCE);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samplingCases")
    void seededDrawsAreThePyTorchDraws(String name, JsonNode c) {
        JsonNode p = c.get("params");
        int batch = p.get("batch_size").asInt();
        long seed = p.get("seed").asLong();
        long[] seeds = new long[batch];
        for (int i = 0; i < batch; i++) {
            seeds[i] = seed + i;
        }
        try (NativeScope scope = new NativeScope(); NoiseSource noise = NoiseSource.perSample(seeds)) {
            Tensor init = Reference.tensor(c, "init_noise");
            assertArrayEquals(init.toFloatArray(), noise.next(init.shape(), Device.CPU).toFloatArray(), "initial noise");
            Tensor stepNoise = Reference.tensor(c, "step_noise");
            boolean eta0 = p.has("eta") && p.get("eta").asDouble() == 0.0;
            if (!eta0) {
                // the first step's noise comes next from the same generators
                Tensor first = stepNoise.select(0, 0);
                assertArrayEquals(first.toFloatArray(), noise.next(first.shape(), Device.CPU).toFloatArray(),
                        "first step noise");
            }
            assertEquals(batch, init.size(0));
        }
    }
}
