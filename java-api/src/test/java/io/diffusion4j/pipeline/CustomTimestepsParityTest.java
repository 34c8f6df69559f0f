package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.Reference;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * An explicit {@code timesteps} list in {@code scheduler_config.json} against diffusers' own
 * {@code set_timesteps(timesteps=[...])} loops (test-models/make_custom_timestep_refs.py,
 * reference/custom_timesteps.json): DDPM (with its step noise), Euler, DPM-Solver++ orders 2 and 3 and LCM on uneven
 * lists, from the same per-sample generators.
 */
class CustomTimestepsParityTest {

    static Stream<JsonNode> cases() throws Exception {
        try (InputStream in = CustomTimestepsParityTest.class.getClassLoader()
                .getResourceAsStream(Reference.ROOT + "custom_timesteps.json")) {
            List<JsonNode> out = new ArrayList<>();
            new ObjectMapper().readTree(in).get("cases").forEach(out::add);
            return out.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void listedTimestepsRunAsInDiffusers(JsonNode c) throws Exception {
        SchedulerConfig config = SchedulerConfig.fromJson(c.get("scheduler_config").toString(), "case");
        Scheduler scheduler = Schedulers.fromConfig(config, 0);
        String name = c.get("name").asText();
        long[] expected = new long[c.get("timesteps").size()];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = c.get("timesteps").get(i).asLong();
        }
        assertArrayEquals(expected, config.timesteps(), name);
        ModelFolder folder = ModelFolder.builtin(c.get("model").asText());
        JsonNode p = c.get("params");
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, scheduler, folder.spec().sampleShape())) {
            try (SamplingPlan plan = scheduler.plan(expected.length)) {
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], plan.modelTimestep(i), 1e-9, name + ": timestep " + i);
                }
            }
            float[] got = pipeline.generate(GenerationRequest.builder().steps(expected.length)
                    .batchSize(p.get("batch_size").asInt()).seed(p.get("seed").asLong()).build()).toFloatArray();
            float[] want = TensorFiles.readResource(Reference.ROOT + c.get("files").get("result").asText())
                    .toFloatArray();
            double diff = Reference.maxAbsDiff(want, got);
            System.out.printf("%s: max |java - diffusers| = %.3g%n", name, diff);
            assertTrue(diff <= 1e-4, name + ": " + diff);
        }
    }
}
