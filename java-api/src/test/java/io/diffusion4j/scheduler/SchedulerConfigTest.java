package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.schedule.BetaSchedule;
import io.diffusion4j.schedule.NoiseSchedule;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class SchedulerConfigTest {

    @TempDir
    Path dir;

    private static Path resource(String name) throws URISyntaxException {
        return Path.of(SchedulerConfigTest.class.getResource("/scheduler/" + name).toURI());
    }

    @Test
    void readsStableDiffusionDdimConfig() throws Exception {
        SchedulerConfig c = SchedulerConfig.read(resource("sd15_ddim_scheduler_config.json"));
        assertEquals("DDIMScheduler", c.className());
        assertEquals("0.8.0", c.diffusersVersion());
        assertEquals(1000, c.numTrainTimesteps());
        assertEquals(0.00085, c.betaStart());
        assertEquals(0.012, c.betaEnd());
        assertEquals(BetaSchedule.SCALED_LINEAR, c.betaSchedule());
        assertNull(c.trainedBetas());
        assertFalse(c.clipSample());
        assertFalse(c.setAlphaToOne());
        assertEquals(1, c.stepsOffset());
        assertEquals(Map.of("skip_prk_steps", true), c.extra());
        assertTrue(c.extraBoolean("skip_prk_steps", false));
        // keys absent from the file take diffusers' defaults
        assertEquals(PredictionType.EPSILON, c.predictionType());
        assertEquals(VarianceType.FIXED_SMALL, c.varianceType());
        assertEquals(1.0, c.clipSampleRange());
        assertFalse(c.thresholding());
        assertEquals(0.995, c.dynamicThresholdingRatio());
        assertEquals(1.0, c.sampleMaxValue());
        assertEquals(TimestepSpacing.LEADING, c.timestepSpacing());
        assertFalse(c.rescaleBetasZeroSnr());
        assertEquals(NoiseSchedule.of(BetaSchedule.SCALED_LINEAR, 1000, 0.00085, 0.012), c.noiseSchedule());
    }

    @Test
    void readsSolverConfigWithExtraKeysAndZeroSnr() throws Exception {
        SchedulerConfig c = SchedulerConfig.read(resource("sd21_dpm_zero_snr_scheduler_config.json"));
        assertEquals("DPMSolverMultistepScheduler", c.className());
        assertEquals(PredictionType.V_PREDICTION, c.predictionType());
        assertEquals(TimestepSpacing.TRAILING, c.timestepSpacing());
        assertTrue(c.rescaleBetasZeroSnr());
        assertEquals(VarianceType.FIXED_SMALL, c.varianceType()); // "variance_type": null means the default
        assertEquals(List.of("algorithm_type", "euler_at_final", "final_sigmas_type", "lambda_min_clipped",
                "lower_order_final", "skip_prk_steps", "solver_order", "solver_type", "use_karras_sigmas",
                "use_lu_lambdas"), List.copyOf(c.extra().keySet()));
        assertEquals(2, c.extraInt("solver_order", 1));
        assertEquals("dpmsolver++", c.extraString("algorithm_type", "dpmsolver"));
        assertEquals(Double.NEGATIVE_INFINITY, c.extraDouble("lambda_min_clipped", 0));
        assertFalse(c.extraBoolean("use_karras_sigmas", true));
        assertEquals(3, c.extraInt("not_there", 3));
        assertEquals(0.0, c.noiseSchedule().alphaBar(999), 1e-12);
        assertEquals(NoiseSchedule.of(BetaSchedule.SCALED_LINEAR, 1000, 0.00085, 0.012).rescaleZeroTerminalSnr(),
                c.noiseSchedule());
    }

    @Test
    void emptyObjectAndNullsGiveDefaults() throws Exception {
        SchedulerConfig defaults = SchedulerConfig.builder().build();
        assertEquals(defaults, SchedulerConfig.fromJson("{}", "empty"));
        assertEquals(defaults, SchedulerConfig.fromJson(
                "{\"num_train_timesteps\": null, \"beta_schedule\": null, \"trained_betas\": null, \"clip_sample\": null}", "nulls"));
        assertNull(defaults.className());
        assertNull(defaults.diffusersVersion());
        assertEquals(1000, defaults.numTrainTimesteps());
        assertEquals(0.0001, defaults.betaStart());
        assertEquals(0.02, defaults.betaEnd());
        assertEquals(BetaSchedule.LINEAR, defaults.betaSchedule());
        assertTrue(defaults.clipSample());
        assertTrue(defaults.setAlphaToOne());
        assertEquals(0, defaults.stepsOffset());
        assertTrue(defaults.extra().isEmpty());
    }

    static Stream<Arguments> configs() throws Exception {
        double[] trained = NoiseSchedule.of(BetaSchedule.SQUAREDCOS_CAP_V2, 1000, 1e-4, 0.02).betas();
        return Stream.of(
                Arguments.of(SchedulerConfig.read(resource("sd15_ddim_scheduler_config.json"))),
                Arguments.of(SchedulerConfig.read(resource("sd21_dpm_zero_snr_scheduler_config.json"))),
                Arguments.of(SchedulerConfig.builder().build()),
                Arguments.of(SchedulerConfig.builder().className("DDPMScheduler").trainedBetas(trained)
                        .varianceType(VarianceType.LEARNED_RANGE).thresholding(true).sampleMaxValue(2.5)
                        .dynamicThresholdingRatio(0.9).clipSampleRange(3.0)
                        .putExtra("nested", Map.of("a", List.of(1, 2.5, "x", false)))
                        .putExtra("big", 1L << 40).putExtra("nothing", null).build()));
    }

    @ParameterizedTest
    @MethodSource("configs")
    void roundTripsThroughJson(SchedulerConfig c) throws Exception {
        String json = c.toJson();
        assertTrue(json.startsWith("{\n  \"_class_name\": "), json);
        SchedulerConfig back = SchedulerConfig.fromJson(json, "round trip");
        assertEquals(c, back);
        assertEquals(c.hashCode(), back.hashCode());
        assertEquals(json, back.toJson());

        Path file = dir.resolve("scheduler_config.json");
        c.write(file);
        c.write(file); // replaces
        assertEquals(c, SchedulerConfig.read(file));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary files left behind");
        }
    }

    @Test
    void copiesAndEquality() {
        SchedulerConfig base = SchedulerConfig.builder().className("DDIMScheduler").putExtra("solver_order", 2).build();
        SchedulerConfig v = base.withPredictionType(PredictionType.V_PREDICTION);
        assertEquals(PredictionType.V_PREDICTION, v.predictionType());
        assertEquals(PredictionType.EPSILON, base.predictionType());
        assertEquals(TimestepSpacing.TRAILING, base.withTimestepSpacing(TimestepSpacing.TRAILING).timestepSpacing());
        assertEquals(1, base.withStepsOffset(1).stepsOffset());
        assertEquals("EulerDiscreteScheduler", base.withClassName("EulerDiscreteScheduler").className());
        assertEquals(base, base.toBuilder().build());
        assertNotEquals(base, v);
        assertNotEquals(base, base.toBuilder().putExtra("solver_order", 3).build());
        assertEquals(base, base.toBuilder().putExtra("solver_order", 2L).build()); // numbers are normalized
        assertNotEquals(base, base.toBuilder().removeExtra("solver_order").build());

        double[] betas = {0.1, 0.2};
        SchedulerConfig t1 = SchedulerConfig.builder().numTrainTimesteps(2).trainedBetas(betas).build();
        betas[0] = 0.3;
        assertEquals(SchedulerConfig.builder().numTrainTimesteps(2).trainedBetas(new double[] {0.1, 0.2}).build(), t1);
        t1.trainedBetas()[0] = 0.5;
        assertArrayEquals(new double[] {0.1, 0.2}, t1.trainedBetas(), 0.0);
        assertEquals(NoiseSchedule.fromBetas(new double[] {0.1, 0.2}), t1.noiseSchedule());
        assertTrue(t1.toString().contains("trainedBetas=double[2]"), t1.toString());

        assertThrows(UnsupportedOperationException.class, () -> base.extra().put("x", 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.builder().putExtra("beta_start", 0.1));
        assertEquals("beta_start is a typed field of SchedulerConfig; use its builder setter", e.getMessage());
    }

    @Test
    void extraHelpersCheckTypes() throws Exception {
        SchedulerConfig c = SchedulerConfig.fromJson(
                "{\"solver_order\": \"2\", \"use_karras_sigmas\": 1, \"algorithm_type\": 3, \"sigma_min\": \"small\"}", "x");
        assertMessage("solver_order must be an integer, got \"2\"", () -> c.extraInt("solver_order", 2));
        assertMessage("use_karras_sigmas must be true or false, got 1", () -> c.extraBoolean("use_karras_sigmas", false));
        assertMessage("algorithm_type must be a string, got 3", () -> c.extraString("algorithm_type", "dpmsolver++"));
        assertMessage("sigma_min must be a number, got \"small\"", () -> c.extraDouble("sigma_min", 0.0));
    }

    @Test
    void builderValidatesWithDiffusersKeyNames() {
        assertMessage("num_train_timesteps must be >= 1, got 0",
                () -> SchedulerConfig.builder().numTrainTimesteps(0).build());
        assertMessage("beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1, got beta_start 0.5, beta_end 0.02",
                () -> SchedulerConfig.builder().betaStart(0.5).build());
        assertMessage("beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1, got beta_start 1.0E-4, beta_end 1.0",
                () -> SchedulerConfig.builder().betaEnd(1.0).build());
        assertMessage("clip_sample_range must be > 0, got 0.0", () -> SchedulerConfig.builder().clipSampleRange(0).build());
        assertMessage("dynamic_thresholding_ratio must be in (0, 1], got 1.5",
                () -> SchedulerConfig.builder().dynamicThresholdingRatio(1.5).build());
        assertMessage("sample_max_value must be > 0, got -1.0", () -> SchedulerConfig.builder().sampleMaxValue(-1).build());
        assertMessage("steps_offset must be >= 0, got -1", () -> SchedulerConfig.builder().stepsOffset(-1).build());
        assertMessage("trained_betas must have num_train_timesteps (1000) values, got 2",
                () -> SchedulerConfig.builder().trainedBetas(new double[] {0.1, 0.2}).build());
        assertMessage("trained_betas[1] must be in (0, 1), got 0.0",
                () -> SchedulerConfig.builder().numTrainTimesteps(2).trainedBetas(new double[] {0.1, 0.0}).build());
        // trained betas make beta_start/beta_end irrelevant, as in diffusers
        SchedulerConfig.builder().numTrainTimesteps(1).trainedBetas(new double[] {0.5}).betaStart(0.9).build();
    }

    static Stream<Arguments> badFiles() {
        return Stream.of(
                Arguments.of("{\n  \"beta_start\": 0.0001,\n  \"beta_end\" 0.02\n}", "not valid JSON (line 3, column 14)"),
                Arguments.of("{\"beta_start\": 0.0001,}", "not valid JSON (line 1, column 23)"),
                Arguments.of("{} {}", "not valid JSON (line 1, column 4)"),
                Arguments.of("", "empty, expected a JSON object"),
                Arguments.of("[1, 2]", "expected a JSON object, got an array"),
                Arguments.of("{\"beta_schedule\": \"cosine\"}",
                        "beta_schedule 'cosine' is not one of linear, scaled_linear, squaredcos_cap_v2, sigmoid"),
                Arguments.of("{\"prediction_type\": \"x0\"}", "prediction_type 'x0' is not one of epsilon, sample, v_prediction"),
                Arguments.of("{\"timestep_spacing\": \"Trailing\"}",
                        "timestep_spacing 'Trailing' is not one of leading, trailing, linspace"),
                Arguments.of("{\"variance_type\": \"fixed\"}", "variance_type 'fixed' is not one of fixed_small, "
                        + "fixed_small_log, fixed_large, fixed_large_log, learned, learned_range"),
                Arguments.of("{\"prediction_type\": 1}", "prediction_type must be a string, got 1"),
                Arguments.of("{\"num_train_timesteps\": \"abc\"}", "num_train_timesteps must be an integer, got \"abc\""),
                Arguments.of("{\"num_train_timesteps\": 1000.5}", "num_train_timesteps must be an integer, got 1000.5"),
                Arguments.of("{\"steps_offset\": 3000000000}", "steps_offset must be an integer, got 3000000000"),
                Arguments.of("{\"beta_start\": \"0.0001\"}", "beta_start must be a number, got \"0.0001\""),
                Arguments.of("{\"clip_sample\": \"false\"}", "clip_sample must be true or false, got \"false\""),
                Arguments.of("{\"trained_betas\": 0.1}", "trained_betas must be an array of numbers or null, got 0.1"),
                Arguments.of("{\"num_train_timesteps\": 2, \"trained_betas\": [0.1, \"x\"]}",
                        "trained_betas[1] must be a number, got \"x\""),
                Arguments.of("{\"_class_name\": [\"DDIMScheduler\"]}", "_class_name must be a string, got [\"DDIMScheduler\"]"),
                Arguments.of("{\"num_train_timesteps\": 0}", "num_train_timesteps must be >= 1, got 0"),
                Arguments.of("{\"beta_start\": 0.5, \"beta_end\": 0.02}",
                        "beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1, got beta_start 0.5, beta_end 0.02"),
                Arguments.of("{\"dynamic_thresholding_ratio\": 0}", "dynamic_thresholding_ratio must be in (0, 1], got 0.0"),
                Arguments.of("{\"steps_offset\": -1}", "steps_offset must be >= 0, got -1"),
                Arguments.of("{\"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2]}",
                        "trained_betas must have num_train_timesteps (3) values, got 2"));
    }

    @ParameterizedTest
    @MethodSource("badFiles")
    void rejectsBadFilesWithOneLineMessages(String content, String expected) throws IOException {
        Path file = dir.resolve("scheduler_config.json");
        Files.writeString(file, content, StandardCharsets.UTF_8);
        SchedulerConfigException e = assertThrows(SchedulerConfigException.class, () -> SchedulerConfig.read(file));
        assertEquals(file + ": " + expected, e.getMessage());
        SchedulerConfigException e2 = assertThrows(SchedulerConfigException.class,
                () -> SchedulerConfig.fromJson(content, "upload"));
        assertEquals("upload: " + expected, e2.getMessage());
    }

    @Test
    void missingFile() {
        Path file = dir.resolve("nope/scheduler_config.json");
        SchedulerConfigException e = assertThrows(SchedulerConfigException.class, () -> SchedulerConfig.read(file));
        assertEquals("scheduler config not found: " + file, e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.0", "1e3"})
    void integralNumbersAreIntegers(String value) throws Exception {
        assertEquals(value.equals("1.0") ? 1 : 1000,
                SchedulerConfig.fromJson("{\"steps_offset\": " + value + "}", "x").stepsOffset());
    }

    @Test
    void schedulerEnumConfigNames() {
        for (PredictionType p : PredictionType.values()) {
            assertEquals(p, PredictionType.fromConfigName(p.configName()));
        }
        for (TimestepSpacing s : TimestepSpacing.values()) {
            assertEquals(s, TimestepSpacing.fromConfigName(s.configName()));
        }
        for (VarianceType v : VarianceType.values()) {
            assertEquals(v, VarianceType.fromConfigName(v.configName()));
        }
        assertEquals("v_prediction", PredictionType.V_PREDICTION.configName());
        assertEquals("fixed_small_log", VarianceType.FIXED_SMALL_LOG.configName());
        assertEquals("learned_range", VarianceType.LEARNED_RANGE.configName());
        assertMessage("unknown prediction_type 'eps'; expected one of epsilon, sample, v_prediction",
                () -> PredictionType.fromConfigName("eps"));
        assertMessage("unknown timestep_spacing 'uniform'; expected one of leading, trailing, linspace",
                () -> TimestepSpacing.fromConfigName("uniform"));
        assertMessage("unknown variance_type 'null'; expected one of fixed_small, fixed_small_log, fixed_large, "
                + "fixed_large_log, learned, learned_range", () -> VarianceType.fromConfigName(null));
    }

    private static void assertMessage(String expected, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertEquals(expected, e.getMessage());
    }
}
