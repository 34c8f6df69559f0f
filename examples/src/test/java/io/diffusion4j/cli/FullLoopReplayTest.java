package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * diffusers' own full-loop scheduler tests (tests/schedulers/test_scheduler_dpm_multi.py, test_scheduler_unipc.py,
 * test_scheduler_pndm.py, test_scheduler_dpm_single.py) replayed through the CLI: their dummy model ({@code sample * t / (t + 1)}, TorchScript) and
 * deterministic sample (test-models/make_scheduler_refs.py writes both and checks them against diffusers), their
 * scheduler configs as a {@code scheduler_config.json} in a model folder, 10 steps, and their asserted
 * {@code mean(|sample|)} to their tolerance of 1e-3.
 */
class FullLoopReplayTest {
    private static final String RES = "io/diffusion4j/reference/schedulers/full_loop/";
    private static final String DPM = "\"_class_name\": \"DPMSolverMultistepScheduler\", \"num_train_timesteps\": 1000, "
            + "\"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"solver_order\": 2, "
            + "\"thresholding\": false, \"sample_max_value\": 1.0, \"algorithm_type\": \"dpmsolver++\", "
            + "\"solver_type\": \"midpoint\", \"lower_order_final\": false, \"euler_at_final\": false, "
            + "\"lambda_min_clipped\": -Infinity, \"variance_type\": null, \"final_sigmas_type\": \"sigma_min\", "
            + "\"timestep_spacing\": \"linspace\"";
    private static final String UNIPC = "\"_class_name\": \"UniPCMultistepScheduler\", \"num_train_timesteps\": 1000, "
            + "\"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"solver_order\": 2, "
            + "\"solver_type\": \"bh2\", \"final_sigmas_type\": \"sigma_min\", \"timestep_spacing\": \"linspace\"";
    private static final String DPM_SINGLE = "\"_class_name\": \"DPMSolverSinglestepScheduler\", "
            + "\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\", "
            + "\"solver_order\": 2, \"thresholding\": false, \"sample_max_value\": 1.0, "
            + "\"algorithm_type\": \"dpmsolver++\", \"solver_type\": \"midpoint\", \"lambda_min_clipped\": -Infinity, "
            + "\"variance_type\": null, \"final_sigmas_type\": \"sigma_min\"";
    private static final String PNDM = "\"_class_name\": \"PNDMScheduler\", \"num_train_timesteps\": 1000, "
            + "\"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"skip_prk_steps\": false, "
            + "\"timestep_spacing\": \"leading\"";

    @TempDir
    static Path dir;
    private static Path noise;

    @BeforeAll
    static void folder() throws IOException {
        copy(RES + "model.pt", dir.resolve("model.pt"));
        noise = dir.resolve("sample_deter.pt");
        copy(RES + "sample_deter.pt", noise);
        Files.writeString(dir.resolve("diffusion4j.json"), "{\"format_version\": 1, \"name\": \"diffusers-dummy\", "
                + "\"kind\": \"denoiser\", \"sample_shape\": [3, 8, 8], \"value_range\": null, "
                + "\"forward_signature\": [\"sample\", \"timestep\"], \"timestep_dtype\": \"float32\"}");
    }

    private static void copy(String resource, Path to) throws IOException {
        try (InputStream in = FullLoopReplayTest.class.getClassLoader().getResourceAsStream(resource)) {
            Files.write(to, in.readAllBytes());
        }
    }

    static Stream<Arguments> tests() {
        return Stream.of(
                Arguments.of("dpm_multi test_full_loop_no_noise_thres", DPM + ", \"prediction_type\": \"epsilon\", "
                        + "\"thresholding\": true, \"dynamic_thresholding_ratio\": 0.87, \"sample_max_value\": 0.5",
                        1.1364),
                Arguments.of("dpm_multi test_full_loop_with_lu_and_v_prediction", DPM
                        + ", \"prediction_type\": \"v_prediction\", \"use_lu_lambdas\": true", 0.1554),
                Arguments.of("dpm_multi test_full_loop_with_v_prediction", DPM
                        + ", \"prediction_type\": \"v_prediction\"", 0.2251),
                Arguments.of("dpm_multi test_full_loop_with_karras_and_v_prediction", DPM
                        + ", \"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true", 0.2096),
                Arguments.of("dpm_multi test_switch (defaults)", DPM + ", \"prediction_type\": \"epsilon\"", 0.3301),
                Arguments.of("unipc test_full_loop_no_noise", UNIPC, 0.2464),
                Arguments.of("unipc test_full_loop_with_karras", UNIPC + ", \"use_karras_sigmas\": true", 0.2925),
                Arguments.of("unipc test_full_loop_with_v_prediction", UNIPC + ", \"prediction_type\": \"v_prediction\"",
                        0.1014),
                Arguments.of("unipc test_full_loop_with_karras_and_v_prediction", UNIPC
                        + ", \"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true", 0.1966),
                Arguments.of("pndm test_full_loop_no_noise", PNDM + ", \"beta_start\": 0.0001, "
                        + "\"set_alpha_to_one\": false", 0.2580),
                Arguments.of("pndm test_full_loop_with_v_prediction", PNDM + ", \"beta_start\": 0.0001, "
                        + "\"set_alpha_to_one\": false, \"prediction_type\": \"v_prediction\"", 0.0878),
                Arguments.of("pndm test_full_loop_with_set_alpha_to_one", PNDM + ", \"beta_start\": 0.01, "
                        + "\"set_alpha_to_one\": true", 0.2995),
                Arguments.of("pndm test_full_loop_with_no_set_alpha_to_one", PNDM + ", \"beta_start\": 0.01, "
                        + "\"set_alpha_to_one\": false", 0.2434),
                Arguments.of("dpm_single test_full_loop_no_noise", DPM_SINGLE + ", \"prediction_type\": \"epsilon\"",
                        0.2791),
                Arguments.of("dpm_single test_full_loop_with_karras", DPM_SINGLE
                        + ", \"prediction_type\": \"epsilon\", \"use_karras_sigmas\": true", 0.2248),
                Arguments.of("dpm_single test_full_loop_with_v_prediction", DPM_SINGLE
                        + ", \"prediction_type\": \"v_prediction\"", 0.1453),
                Arguments.of("dpm_single test_full_loop_with_karras_and_v_prediction", DPM_SINGLE
                        + ", \"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true", 0.0649));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tests")
    void diffusersFullLoopPassesThroughTheCli(String test, String config, double expectedMean) throws IOException {
        Files.writeString(dir.resolve("scheduler_config.json"), "{" + config + "}", StandardCharsets.UTF_8);
        Path out = dir.resolve("out.pt");
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        int code = Main.run(new String[] {"sample", "--model", dir.toString(), "--init-noise", noise.toString(),
                "--steps", "10", "--save-tensor", out.toString()}, new PrintWriter(o, true), new PrintWriter(e, true));
        assertEquals(0, code, test + "\nstdout: " + o + "\nstderr: " + e);
        try (NativeScope scope = new NativeScope()) {
            Tensor x = TensorFiles.read(out);
            double mean = x.abs().mean().item();
            System.out.printf("%s: mean |x| %.4f, diffusers asserts %.4f%n", test, mean, expectedMean);
            assertEquals(expectedMean, mean, 1e-3, test);
        }
    }
}
