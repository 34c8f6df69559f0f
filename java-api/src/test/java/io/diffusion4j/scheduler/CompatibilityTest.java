package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** diffusers' known inconsistencies: reproduced by default, corrected on request. */
class CompatibilityTest {
    static SchedulerConfig config(TimestepSpacing spacing, int offset) {
        return SchedulerConfig.builder().className(DdimScheduler.CLASS_NAME).timestepSpacing(spacing)
                .stepsOffset(offset).build();
    }

    @Test
    void ddimPreviousTimestepIsTMinusRatioAsInDiffusers() {
        // trailing, 3 steps: timesteps 999, 666, 332; diffusers steps to t - 1000 // 3 = t - 333
        try (AlphaBarPlan plan = (AlphaBarPlan) new DdimScheduler(config(TimestepSpacing.TRAILING, 0)).plan(3)) {
            assertArrayEquals(new long[] {999, 666, 332}, plan.timesteps());
            assertArrayEquals(new long[] {666, 333, -1}, plan.previousTimesteps());
        }
        try (AlphaBarPlan plan = (AlphaBarPlan) new DdimScheduler(config(TimestepSpacing.TRAILING, 0), 0,
                Compatibility.CORRECTED).plan(3)) {
            assertArrayEquals(new long[] {666, 332, -1}, plan.previousTimesteps());
        }
    }

    @Test
    void ddpmStepsToTheNextTimestepOfTheList() {
        try (AlphaBarPlan plan = (AlphaBarPlan) new DdpmScheduler(config(TimestepSpacing.LINSPACE, 0)).plan(4)) {
            assertArrayEquals(new long[] {999, 666, 333, 0}, plan.timesteps());
            assertArrayEquals(new long[] {666, 333, 0, -1}, plan.previousTimesteps());
        }
    }

    @Test
    void stepsOffsetOneWithAllTrainStepsIsAnErrorOrCapped() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DdimScheduler(config(TimestepSpacing.LEADING, 1)).plan(1000));
        assertTrue(e.getMessage().contains("gives timestep 1000, outside 0..999 (diffusers fails here too, issue #10003)"),
                e.getMessage());
        try (SamplingPlan plan = new DdimScheduler(config(TimestepSpacing.LEADING, 1), 0, Compatibility.CORRECTED).plan(1000)) {
            assertTrue(plan.timesteps()[0] == 999 && plan.timesteps()[1] == 999 && plan.timesteps()[999] == 1);
        }
        try (SamplingPlan plan = new DdimScheduler(config(TimestepSpacing.LEADING, 1)).plan(50)) {
            assertTrue(plan.timesteps()[0] == 981 && plan.timesteps()[49] == 1);
        }
    }

    @Test
    void dpmSolverOrdersAreChecked() {
        SchedulerConfig c = SchedulerConfig.builder().className(DpmSolverScheduler.CLASS_NAME).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DpmSolverScheduler(c, 4));
        assertTrue(e.getMessage().equals("solver order must be 1, 2 or 3, got 4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DpmSolverScheduler(c, 0));
        assertTrue(e.getMessage().equals("solver order must be 1, 2 or 3, got 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DpmSolverScheduler(c, 3));
        assertTrue(e.getMessage().equals("solver order 3 is not implemented yet; use 1 or 2"), e.getMessage());
        // diffusers' leading spacing for DPM-Solver spreads N + 1 points and drops the last
        try (SamplingPlan plan = new DpmSolverScheduler(c, 2).plan(20)) {
            assertTrue(plan.timesteps()[0] == 940 && plan.timesteps()[19] == 47);
        }
    }

    @Test
    void unknownSchedulerNamesListTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.byName("heun", SchedulerConfig.builder().build(), 0));
        assertTrue(e.getMessage().equals("unknown scheduler 'heun'; valid: ddpm, ddim, euler, dpmsolver++"), e.getMessage());
    }
}
