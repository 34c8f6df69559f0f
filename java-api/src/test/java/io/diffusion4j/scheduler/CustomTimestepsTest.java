package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The {@code timesteps} key: strict parsing, one-line errors, and every fixed-step scheduler running the list. */
class CustomTimestepsTest {
    private static final String BASE = "{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 1000";

    private static SchedulerConfig json(String timesteps) throws SchedulerConfigException {
        return SchedulerConfig.fromJson(BASE + ", \"timesteps\": " + timesteps + "}", "test");
    }

    private static String error(String timesteps) {
        Exception e = assertThrows(Exception.class, () -> json(timesteps));
        String message = e.getMessage();
        assertTrue(!message.contains("\n"), message);
        return message;
    }

    @Test
    void listRoundTripsThroughJson() throws Exception {
        SchedulerConfig c = json("[999, 700, 300, 20]");
        assertArrayEquals(new long[] {999, 700, 300, 20}, c.timesteps());
        SchedulerConfig back = SchedulerConfig.fromJson(c.toJson(), "again");
        assertArrayEquals(c.timesteps(), back.timesteps());
        assertEquals(c, back);
        assertNull(c.withTimesteps(null).timesteps());
        assertArrayEquals(new long[] {5, 1}, c.withTimesteps(new long[] {5, 1}).timesteps());
        assertNull(json("null").timesteps());
    }

    @Test
    void badListsAreRefusedWithWhatToFix() throws Exception {
        assertTrue(error("[999, 999, 10]").contains("strictly decreasing"), error("[999, 999, 10]"));
        assertTrue(error("[10, 500]").contains("got 10 then 500 at index 1"), error("[10, 500]"));
        assertTrue(error("[1000, 10]").contains("timesteps[0] = 1000 is outside 0..999"), error("[1000, 10]"));
        assertTrue(error("[50, -1]").contains("timesteps[1] = -1 is outside 0..999"), error("[50, -1]"));
        assertTrue(error("[999, 500.5]").contains("timesteps[1] must be an integer, got 500.5"),
                error("[999, 500.5]"));
        assertTrue(error("[]").contains("at least one timestep"), error("[]"));
        assertTrue(error("\"999,500\"").contains("must be a list of integer timesteps"), error("\"999,500\""));
        SchedulerConfig c = json("[999, 10]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> c.withTimesteps(new long[] {3, 7}));
        assertTrue(e.getMessage().contains("strictly decreasing"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddpm", "ddim", "euler", "euler-a", "heun", "lms", "dpmsolver++", "sde-dpmsolver++",
            "unipc", "deis", "lcm"})
    void everyFixedStepSchedulerRunsTheList(String name) throws Exception {
        long[] list = {999, 905, 760, 541, 330, 161, 48};
        Scheduler s = Schedulers.byName(name, json("[999, 905, 760, 541, 330, 161, 48]"), 0);
        try (SamplingPlan plan = s.plan(list.length)) {
            List<Long> starts = new java.util.ArrayList<>();
            for (int i = 0; i < plan.steps(); i++) {
                if (plan.isStepStart(i)) {
                    starts.add(Math.round(plan.modelTimestep(i)));
                }
            }
            assertEquals(List.of(999L, 905L, 760L, 541L, 330L, 161L, 48L), starts, name);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.plan(5));
        assertTrue(e.getMessage().contains("lists 7 timesteps") && e.getMessage().contains("run 7 steps"),
                e.getMessage());
    }

    @Test
    void aListOfTheDefaultSpacingPlansTheSameCoefficients() throws Exception {
        // each scheduler's own 10 timesteps, given as a list: the same plan (DDIM: previous = next listed = t - T // N)
        SchedulerConfig plain = SchedulerConfig.fromJson(BASE + "}", "plain");
        for (String name : List.of("ddim", "ddpm", "dpmsolver++", "euler", "lcm")) {
            try (SamplingPlan a = Schedulers.byName(name, plain, 0).plan(10);
                 SamplingPlan b = Schedulers.byName(name, plain.withTimesteps(a.timesteps()), 0).plan(10)) {
                assertArrayEquals(a.timesteps(), b.timesteps(), name);
                assertEquals(a.initNoiseSigma(), b.initNoiseSigma(), 1e-12, name);
            }
        }
    }

    @Test
    void schedulersThatCannotRunAListSaySo() throws Exception {
        SchedulerConfig c = json("[999, 500, 10]");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Schedulers.byName("adaptive", c, 0))
                .getMessage().contains("picks its own timesteps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Schedulers.byName("pndm", c, 0))
                .getMessage().contains("evenly spaced"));
        SchedulerConfig karras = c.toBuilder().putExtra("use_karras_sigmas", true).build();
        for (String name : List.of("euler", "dpmsolver++")) {
            Scheduler s = Schedulers.byName(name, karras, 0);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> s.plan(3)).getMessage()
                    .contains("cannot be combined with use_karras_sigmas"), name);
        }
    }
}
