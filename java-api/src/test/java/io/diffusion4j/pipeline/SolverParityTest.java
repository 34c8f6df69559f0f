package io.diffusion4j.pipeline;

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
import io.diffusion4j.scheduler.AdaptiveScheduler;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The sigma-space and multistep solvers (Euler, Euler ancestral, Heun, DPM-Solver++ orders 2 and 3 and its SDE
 * variant, Karras sigmas, the adaptive solver) against test-models' PyTorch references (reference/solvers.json).
 */
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
        Scheduler scheduler = Schedulers.fromConfig(config, 0);
        JsonNode p = c.get("params");
        int steps = Math.max(1, p.path("num_inference_steps").asInt()); // unused by the adaptive solver
        int batch = p.get("batch_size").asInt();
        String name = c.get("name").asText();
        boolean adaptive = scheduler instanceof AdaptiveScheduler;
        boolean noisy = p.path("noisy").asBoolean(false);
        ModelFolder folder = ModelFolder.builtin(c.get("model").asText());
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, scheduler, folder.spec().sampleShape())) {
            if (!adaptive) {
                try (SamplingPlan plan = scheduler.plan(steps)) {
                    JsonNode ts = c.get("timesteps");
                    assertEquals(ts.size(), plan.steps(), name + ": model evaluations");
                    for (int i = 0; i < ts.size(); i++) {
                        assertEquals(ts.get(i).asDouble(), plan.modelTimestep(i), 1e-6, name + ": timestep " + i);
                    }
                    double maxSigma = c.get("sigmas").get(0).asDouble();
                    boolean sigmaSpace = scheduler.name().startsWith("euler") || scheduler.name().equals("heun");
                    assertEquals(sigmaSpace ? Math.sqrt(maxSigma * maxSigma + 1) : 1.0, plan.initNoiseSigma(), 1e-6);
                }
            }
            GenerationRequest.Builder r = GenerationRequest.builder().steps(steps).batchSize(batch);
            if (noisy) {
                r.seed(p.get("seed").asLong()); // the same per-sample generators as the reference, step noise included
            } else {
                r.initNoise(TensorFiles.readResource(Reference.ROOT + c.get("files").get("init_noise").asText()));
            }
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
            float[] expected = TensorFiles.readResource(Reference.ROOT + c.get("files").get("result").asText()).toFloatArray();
            double diff = Reference.maxAbsDiff(expected, got);
            System.out.printf("%s: max |java - pytorch| = %.3g, %d model evaluations%n", name, diff, evaluations.get());
            if (adaptive) {
                assertEquals(p.get("nfe").asInt(), evaluations.get(), name + ": model evaluations");
            }
            assertTrue(diff <= 1e-4, name + ": " + diff);
        }
    }
}
