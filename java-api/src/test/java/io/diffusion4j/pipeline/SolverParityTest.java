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
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.DpmSolverScheduler;
import io.diffusion4j.scheduler.EulerScheduler;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Euler and DPM-Solver++(2M) against test-models' PyTorch references (reference/solvers.json). */
class SolverParityTest {

    static Stream<JsonNode> cases() throws Exception {
        try (InputStream in = SolverParityTest.class.getClassLoader()
                .getResourceAsStream(Reference.ROOT + "solvers.json")) {
            List<JsonNode> out = new ArrayList<>();
            new ObjectMapper().readTree(in).get("cases").forEach(out::add);
            return out.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void solverLandsOnThePyTorchResult(JsonNode c) throws Exception {
        SchedulerConfig config = SchedulerConfig.fromJson(c.get("scheduler_config").toString(), "case");
        boolean isEuler = c.get("kind").asText().equals("euler");
        Scheduler euler = isEuler ? new EulerScheduler(config) : new DpmSolverScheduler(config);
        JsonNode p = c.get("params");
        int steps = p.get("num_inference_steps").asInt();
        ModelFolder folder = ModelFolder.builtin(c.get("model").asText());
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             SamplingPlan plan = euler.plan(steps);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, euler, folder.spec().sampleShape())) {
            long[] ts = new long[c.get("timesteps").size()];
            for (int i = 0; i < ts.length; i++) {
                ts[i] = c.get("timesteps").get(i).asLong();
            }
            assertArrayEquals(ts, plan.timesteps());
            double maxSigma = c.get("sigmas").get(0).asDouble();
            assertEquals(isEuler ? Math.sqrt(maxSigma * maxSigma + 1) : 1.0, plan.initNoiseSigma(), 1e-9);
            Tensor init = TensorFiles.readResource(Reference.ROOT + c.get("files").get("init_noise").asText());
            GenerationRequest.Builder r = GenerationRequest.builder().steps(steps).batchSize(p.get("batch_size").asInt())
                    .initNoise(init);
            if (!p.get("class_labels").isNull()) {
                int[] labels = new int[p.get("class_labels").size()];
                for (int i = 0; i < labels.length; i++) {
                    labels[i] = p.get("class_labels").get(i).asInt();
                }
                r.classLabels(labels);
            }
            float[] got = pipeline.generate(r.build()).toFloatArray();
            float[] expected = TensorFiles.readResource(Reference.ROOT + c.get("files").get("result").asText()).toFloatArray();
            double diff = Reference.maxAbsDiff(expected, got);
            System.out.printf("%s: max |java - pytorch| = %.3g%n", c.get("name").asText(), diff);
            assertTrue(diff <= 1e-4, c.get("name").asText() + ": " + diff);
        }
    }
}
