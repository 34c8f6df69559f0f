package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import io.diffusion4j.scheduler.LcmScheduler;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link LcmScheduler} against diffusers' own {@code LCMScheduler} loop (test-models/make_lcm_refs.py,
 * reference/lcm.json): same per-sample generators for the initial and the re-noising draws, 1-8 steps, the
 * {@code original_inference_steps} / {@code timestep_scaling} options, all three prediction types, clipping and
 * dynamic thresholding.
 */
class LcmParityTest {

    static Stream<JsonNode> cases() throws Exception {
        try (InputStream in = LcmParityTest.class.getClassLoader().getResourceAsStream(Reference.ROOT + "lcm.json")) {
            List<JsonNode> out = new ArrayList<>();
            new ObjectMapper().readTree(in).get("cases").forEach(out::add);
            return out.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void lcmLoopEqualsDiffusers(JsonNode c) throws Exception {
        SchedulerConfig config = SchedulerConfig.fromJson(c.get("scheduler_config").toString(), "case");
        Scheduler scheduler = Schedulers.fromConfig(config, 0);
        assertInstanceOf(LcmScheduler.class, scheduler);
        assertEquals("lcm", Schedulers.nameOf(config));
        JsonNode p = c.get("params");
        int steps = p.get("num_inference_steps").asInt();
        String name = c.get("name").asText();
        ModelFolder folder = ModelFolder.builtin(c.get("model").asText());
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, scheduler, folder.spec().sampleShape())) {
            try (SamplingPlan plan = scheduler.plan(steps)) {
                long[] expected = new long[c.get("timesteps").size()];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = c.get("timesteps").get(i).asLong();
                }
                assertArrayEquals(expected, plan.timesteps(), name + ": timesteps");
            }
            GenerationRequest.Builder r = GenerationRequest.builder().steps(steps)
                    .batchSize(p.get("batch_size").asInt()).seed(p.get("seed").asLong());
            if (!p.get("class_labels").isNull()) {
                int[] labels = new int[p.get("class_labels").size()];
                for (int i = 0; i < labels.length; i++) {
                    labels[i] = p.get("class_labels").get(i).asInt();
                }
                r.classLabels(labels);
            }
            AtomicInteger evaluations = new AtomicInteger();
            r.listener(e -> evaluations.incrementAndGet());
            float[] got = pipeline.generate(r.build()).toFloatArray();
            float[] want = TensorFiles.readResource(Reference.ROOT + c.get("files").get("result").asText())
                    .toFloatArray();
            double diff = Reference.maxAbsDiff(want, got);
            System.out.printf("%s: max |java - diffusers| = %.3g%n", name, diff);
            assertEquals(steps, evaluations.get(), name + ": one model evaluation per step");
            assertTrue(diff <= 1e-4, name + ": " + diff);
        }
    }

    @Test
    void boundaryConditionIsIdentityAtZero() {
        assertEquals(1.0, LcmScheduler.cSkip(0, 10), 0);
        assertEquals(0.0, LcmScheduler.cOut(0, 10), 0);
        assertEquals(1.0, LcmScheduler.cOut(999, 10), 1e-8);
    }

    @Test
    void badOptionsSayWhatToFix() {
        SchedulerConfig base = SchedulerConfig.builder().className(LcmScheduler.CLASS_NAME).build();
        IllegalArgumentException tooMany = assertThrows(IllegalArgumentException.class,
                () -> new LcmScheduler(base).plan(51));
        assertTrue(tooMany.getMessage().contains("original_inference_steps (50), got 51"), tooMany.getMessage());
        IllegalArgumentException orig = assertThrows(IllegalArgumentException.class, () -> new LcmScheduler(
                base.toBuilder().putExtra("original_inference_steps", 1001).build()));
        assertTrue(orig.getMessage().contains("original_inference_steps must be between 1 and num_train_timesteps "
                + "(1000), got 1001"), orig.getMessage());
        IllegalArgumentException scaling = assertThrows(IllegalArgumentException.class, () -> new LcmScheduler(
                base.toBuilder().putExtra("timestep_scaling", -1.0).build()));
        assertTrue(scaling.getMessage().contains("timestep_scaling must be a finite number > 0, got -1.0"),
                scaling.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LcmScheduler(base).plan(0));
        assertEquals("lcm", Schedulers.byName("lcm", base, 0).name());
    }
}
