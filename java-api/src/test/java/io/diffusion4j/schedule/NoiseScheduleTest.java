package io.diffusion4j.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Expected values come from {@code src/test/python/make_schedule_refs.py} (diffusers' formulas in torch
 * float64), stored in {@code reference/schedules.json}.
 */
class NoiseScheduleTest {

    private static final double REL_TOL = 1e-12;

    static Stream<Arguments> referenceSchedules() throws IOException {
        JsonNode root;
        try (InputStream in = NoiseScheduleTest.class.getResourceAsStream("/reference/schedules.json")) {
            root = new ObjectMapper().readTree(in);
        }
        List<Arguments> cases = new ArrayList<>();
        for (JsonNode c : root.get("schedules")) {
            String name = c.get("beta_schedule").asText() + " T=" + c.get("num_train_timesteps").asInt()
                    + (c.get("rescale_betas_zero_snr").asBoolean() ? " zero-SNR" : "");
            cases.add(Arguments.of(name, c));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("referenceSchedules")
    void matchesDiffusersReference(String name, JsonNode c) {
        NoiseSchedule schedule = NoiseSchedule.of(BetaSchedule.fromConfigName(c.get("beta_schedule").asText()),
                c.get("num_train_timesteps").asInt(), c.get("beta_start").asDouble(), c.get("beta_end").asDouble());
        if (c.get("rescale_betas_zero_snr").asBoolean()) {
            schedule = schedule.rescaleZeroTerminalSnr();
        }
        assertEquals(c.get("num_train_timesteps").asInt(), schedule.numTrainTimesteps());
        assertClose("alphas_cumprod", doubles(c.get("alphas_cumprod")), schedule.alphasCumprod());
        assertClose("betas", doubles(c.get("betas")), schedule.betas());
        double[] alphas = schedule.alphas();
        double[] alphasCumprod = schedule.alphasCumprod();
        for (int t = 0; t < alphas.length; t++) {
            assertEquals(1 - schedule.betas()[t], alphas[t], 0.0);
            assertEquals(alphasCumprod[t], schedule.alphaBar(t), 0.0);
        }
    }

    @ParameterizedTest
    @EnumSource(BetaSchedule.class)
    void rescaleReachesZeroTerminalSnr(BetaSchedule s) {
        NoiseSchedule rescaled = NoiseSchedule.of(s, 1000, 0.00085, 0.012).rescaleZeroTerminalSnr();
        assertEquals(0.0, rescaled.alphaBar(999), 1e-12);
        assertEquals(0.0, rescaled.snr(999), 1e-12);
        assertEquals(1.0, rescaled.betas()[999], 1e-12);
        assertTrue(rescaled.snr(998) > 0);
        // alphaBar(0) is unchanged by the rescale
        assertEquals(NoiseSchedule.of(s, 1000, 0.00085, 0.012).alphaBar(0), rescaled.alphaBar(0), 1e-15);
    }

    @Test
    void snrIsAlphaBarOverOneMinusAlphaBar() {
        NoiseSchedule s = NoiseSchedule.of(BetaSchedule.LINEAR, 1000, 1e-4, 0.02);
        // 1 - beta_0 = 0.9999, so snr(0) = 0.9999 / 0.0001
        assertEquals(9999.0, s.snr(0), 1e-6);
        assertTrue(s.snr(0) > s.snr(500) && s.snr(500) > s.snr(999));
    }

    @Test
    void fromBetasKeepsTheGivenBetas() {
        double[] betas = {0.1, 0.2, 0.5};
        NoiseSchedule s = NoiseSchedule.fromBetas(betas);
        betas[0] = 0.9; // the schedule made its own copy
        assertArrayEquals(new double[] {0.1, 0.2, 0.5}, s.betas(), 0.0);
        assertArrayEquals(new double[] {0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5}, s.alphasCumprod(), 1e-15);
        assertEquals(NoiseSchedule.fromBetas(new double[] {0.1, 0.2, 0.5}), s);
    }

    @Test
    void accessorsReturnCopies() {
        NoiseSchedule s = NoiseSchedule.of(BetaSchedule.LINEAR, 10, 1e-4, 0.02);
        s.betas()[0] = 0.5;
        s.alphas()[0] = 0.5;
        s.alphasCumprod()[0] = 0.5;
        assertEquals(1e-4, s.betas()[0], 0.0);
        assertEquals(0.9999, s.alphas()[0], 0.0);
        assertEquals(0.9999, s.alphasCumprod()[0], 0.0);
    }

    @Test
    void validatesArguments() {
        assertMessage("numTrainTimesteps must be >= 1, got 0",
                () -> NoiseSchedule.of(BetaSchedule.LINEAR, 0, 1e-4, 0.02));
        assertMessage("betaStart must be in (0, 1), got 0.0",
                () -> NoiseSchedule.of(BetaSchedule.LINEAR, 1000, 0.0, 0.02));
        assertMessage("betaEnd must be in (0, 1), got 1.5",
                () -> NoiseSchedule.of(BetaSchedule.LINEAR, 1000, 1e-4, 1.5));
        assertMessage("betaEnd must be in (0, 1), got NaN",
                () -> NoiseSchedule.of(BetaSchedule.LINEAR, 1000, 1e-4, Double.NaN));
        assertMessage("betas must not be empty", () -> NoiseSchedule.fromBetas(new double[0]));
        assertMessage("betas[1] must be in (0, 1), got 1.0", () -> NoiseSchedule.fromBetas(new double[] {0.1, 1.0}));
        assertMessage("betas[0] must be in (0, 1), got -0.1", () -> NoiseSchedule.fromBetas(new double[] {-0.1}));

        NoiseSchedule s = NoiseSchedule.of(BetaSchedule.LINEAR, 1000, 1e-4, 0.02);
        assertMessage("timestep must be in [0, 999] (num_train_timesteps 1000), got 1000", () -> s.alphaBar(1000));
        assertMessage("timestep must be in [0, 999] (num_train_timesteps 1000), got -1", () -> s.snr(-1));

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> NoiseSchedule.of(BetaSchedule.LINEAR, 1, 1e-4, 0.02).rescaleZeroTerminalSnr());
        assertEquals("cannot rescale to zero terminal SNR: alphaBar(0) = 0.9999 must exceed alphaBar(0) = 0.9999",
                e.getMessage());
    }

    @Test
    void betaScheduleConfigNames() {
        for (BetaSchedule s : BetaSchedule.values()) {
            assertEquals(s, BetaSchedule.fromConfigName(s.configName()));
        }
        assertEquals("squaredcos_cap_v2", BetaSchedule.SQUAREDCOS_CAP_V2.configName());
        assertMessage("unknown beta_schedule 'cosine'; expected one of linear, scaled_linear, squaredcos_cap_v2, sigmoid",
                () -> BetaSchedule.fromConfigName("cosine"));
        assertMessage("unknown beta_schedule 'Linear'; expected one of linear, scaled_linear, squaredcos_cap_v2, sigmoid",
                () -> BetaSchedule.fromConfigName("Linear"));
    }

    private static void assertMessage(String expected, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertEquals(expected, e.getMessage());
    }

    private static double[] doubles(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).doubleValue();
        }
        return out;
    }

    private static void assertClose(String what, double[] expected, double[] actual) {
        assertEquals(expected.length, actual.length, what + " length");
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            double err = expected[i] == 0 ? Math.abs(actual[i]) : Math.abs(actual[i] - expected[i]) / Math.abs(expected[i]);
            if (!(err <= worst)) {
                worst = err;
                worstAt = i;
            }
        }
        double at = worstAt < 0 ? Double.NaN : actual[worstAt];
        double want = worstAt < 0 ? Double.NaN : expected[worstAt];
        assertTrue(worst <= REL_TOL, what + ": max relative error " + worst + " at t=" + worstAt
                + " (expected " + want + ", got " + at + ")");
    }
}
