package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Expected timesteps come from {@code src/test/python/make_schedule_refs.py} (diffusers'
 * {@code DDIMScheduler.set_timesteps} expressions in numpy), stored in {@code reference/timesteps.json}.
 */
class TimestepsTest {

    static Stream<Arguments> referenceCases() throws IOException {
        JsonNode root;
        try (InputStream in = TimestepsTest.class.getResourceAsStream("/reference/timesteps.json")) {
            root = new ObjectMapper().readTree(in);
        }
        List<Arguments> cases = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            long[] expected = new long[c.get("timesteps").size()];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = c.get("timesteps").get(i).longValue();
            }
            cases.add(Arguments.of(TimestepSpacing.fromConfigName(c.get("timestep_spacing").asText()),
                    c.get("num_train_timesteps").asInt(), c.get("num_inference_steps").asInt(),
                    c.get("steps_offset").asInt(), expected));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} T={1} N={2} offset={3}")
    @MethodSource("referenceCases")
    void matchesDiffusers(TimestepSpacing spacing, int t, int n, int offset, long[] expected) {
        assertArrayEquals(expected, Timesteps.of(spacing, t, n, offset));
    }

    @Test
    void knownValues() {
        // Stable Diffusion's DDIM config: leading, steps_offset 1
        assertArrayEquals(new long[] {801, 601, 401, 201, 1}, Timesteps.of(TimestepSpacing.LEADING, 1000, 5, 1));
        assertArrayEquals(new long[] {999, 799, 599, 399, 199}, Timesteps.of(TimestepSpacing.TRAILING, 1000, 5, 0));
        assertArrayEquals(new long[] {999, 749, 500, 250, 0}, Timesteps.of(TimestepSpacing.LINSPACE, 1000, 5, 0));
        // diffusers issue #10003: leading + steps_offset 1 + N = T goes one past the last training timestep
        assertEquals(1000, Timesteps.of(TimestepSpacing.LEADING, 1000, 1000, 1)[0]);
    }

    @Test
    void validatesArguments() {
        assertMessage("num_inference_steps must be between 1 and 1000 (num_train_timesteps), got 0",
                () -> Timesteps.of(TimestepSpacing.LEADING, 1000, 0, 0));
        assertMessage("num_inference_steps must be between 1 and 1000 (num_train_timesteps), got 1001",
                () -> Timesteps.of(TimestepSpacing.TRAILING, 1000, 1001, 0));
        assertMessage("num_train_timesteps must be >= 1, got 0", () -> Timesteps.of(TimestepSpacing.LINSPACE, 0, 1, 0));
        assertMessage("steps_offset must be >= 0, got -1", () -> Timesteps.of(TimestepSpacing.LEADING, 1000, 10, -1));
    }

    private static void assertMessage(String expected, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertEquals(expected, e.getMessage());
    }
}
