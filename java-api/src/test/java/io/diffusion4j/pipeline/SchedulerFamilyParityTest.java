package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
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
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * UniPC, PNDM, LMS, DEIS, KDPM2, single-step DPM-Solver and the DPM-Solver++ options (thresholding, Lu lambdas, Heun
 * form, lambda_min_clipped), and the sigma_min / sigma_max / final_sigmas_type keys that Heun, LMS and KDPM2 read or
 * ignore, against runs of diffusers' own scheduler classes over the built-in models and over a model
 * folder without diffusion4j.json (model.pt + scheduler_config.json, a float-timestep model that gets the scheduler's
 * timesteps unchanged) (test-models/make_scheduler_refs.py, reference/schedulers.json): same config, initial noise
 * (or, for the SDE variants, the same per-sample seeds) and step count; the final samples agree to 1e-4 relative to
 * max(1, |x|).
 */
class SchedulerFamilyParityTest {
    /** diffusers writes lambda_min_clipped's default as a bare -Infinity. */
    private static final JsonMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS).build();

    @TempDir
    static Path tmp;

    static Stream<Arguments> cases() throws Exception {
        try (InputStream in = SchedulerFamilyParityTest.class.getClassLoader()
                .getResourceAsStream(Reference.ROOT + "schedulers.json")) {
            List<Arguments> out = new ArrayList<>();
            JSON.readTree(in).get("cases").forEach(c -> out.add(Arguments.of(c.get("name").asText(), c)));
            return out.stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void schedulerLandsOnDiffusersResult(String name, JsonNode c) throws Exception {
        SchedulerConfig config = SchedulerConfig.fromJson(JSON.writeValueAsString(c.get("scheduler_config")), name);
        Scheduler scheduler = Schedulers.fromConfig(config, 0);
        JsonNode p = c.get("params");
        int steps = p.get("num_inference_steps").asInt();
        boolean foreign = c.hasNonNull("model_folder");
        ModelFolder folder = foreign ? foreignFolder(c.get("model").asText(), c.get("model_folder").asText())
                : ModelFolder.builtin(c.get("model").asText());
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, scheduler, foreign ? null
                     : folder.spec().sampleShape())) {
            try (SamplingPlan plan = scheduler.plan(steps)) {
                JsonNode ts = c.get("timesteps");
                assertEquals(ts.size(), plan.steps(), name + ": model evaluations");
                boolean kdpm2 = c.get("kind").asText().equals("KDPM2DiscreteScheduler");
                for (int i = 0; i < ts.size(); i++) {
                    // diffusers holds timesteps in float32 (fractional ones from float32 sigmas); KDPM2's midpoint
                    // timesteps come from its train sigmas, which diffusers derives from float32 alphas_cumprod, whose
                    // 1 - alpha-bar keeps about 4 digits near t = 0: there they agree to ~2e-4 relative only
                    double t = ts.get(i).asDouble();
                    double tol = (kdpm2 && i % 2 == 1 ? 2e-3 : 1e-4) * Math.max(1, t);
                    assertEquals(t, plan.modelTimestep(i), tol, name + ": timestep " + i);
                }
                double init = c.get("init_noise_sigma").asDouble();
                assertEquals(init, plan.initNoiseSigma(), 1e-5 * Math.max(1, init), name + ": init_noise_sigma");
            }
            GenerationRequest.Builder r = GenerationRequest.builder().steps(steps).batchSize(p.get("batch_size").asInt());
            if (c.path("noisy").asBoolean()) {
                r.seed(p.get("seed").asLong()); // per-sample generators seed + i: initial noise, then each step's
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
            float[] got = pipeline.generate(r.build()).toFloatArray();
            float[] expected = TensorFiles.readResource(Reference.ROOT + c.get("files").get("result").asText())
                    .toFloatArray();
            double scale = 1;
            for (float v : expected) {
                scale = Math.max(scale, Math.abs(v));
            }
            double diff = Reference.maxAbsDiff(expected, got) / scale;
            System.out.printf("%s: max |java - diffusers| / max(1, |x|) = %.3g%n", name, diff);
            assertTrue(diff <= 1e-4, name + ": " + diff);
        }
    }

    /** A copy of the model folder as a user has it: model.pt and scheduler_config.json, no diffusion4j.json. */
    private static synchronized ModelFolder foreignFolder(String name, String resourceDir) throws IOException {
        Path dir = tmp.resolve(name);
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            for (String f : new String[] {"model.pt", "scheduler_config.json"}) {
                try (InputStream in = SchedulerFamilyParityTest.class.getClassLoader()
                        .getResourceAsStream("io/diffusion4j/" + resourceDir + f)) {
                    Files.copy(in, dir.resolve(f));
                }
            }
        }
        assertTrue(!Files.exists(dir.resolve("diffusion4j.json")));
        return ModelFolder.open(dir);
    }
}
