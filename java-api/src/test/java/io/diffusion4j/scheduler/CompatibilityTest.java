package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
        SchedulerConfig sde = c.toBuilder().putExtra("algorithm_type", "sde-dpmsolver++").build();
        e = assertThrows(IllegalArgumentException.class, () -> new DpmSolverScheduler(sde, 3));
        assertTrue(e.getMessage().equals("sde-dpmsolver++ supports solver_order 1 or 2, got 3"), e.getMessage());
        SchedulerConfig eps = c.toBuilder().putExtra("algorithm_type", "dpmsolver").build();
        e = assertThrows(IllegalArgumentException.class, () -> new DpmSolverScheduler(eps));
        assertTrue(e.getMessage().equals("algorithm_type 'dpmsolver' is not supported; use one of dpmsolver++, "
                + "sde-dpmsolver++"), e.getMessage());
        // diffusers' leading spacing for DPM-Solver spreads N + 1 points and drops the last
        try (SamplingPlan plan = new DpmSolverScheduler(c, 2).plan(20)) {
            assertTrue(plan.timesteps()[0] == 940 && plan.timesteps()[19] == 47);
        }
    }

    @Test
    void unknownSchedulerNamesListTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.byName("ipndm", SchedulerConfig.builder().build(), 0));
        assertTrue(e.getMessage().equals("unknown scheduler 'ipndm'; valid: ddpm, ddim, euler, euler-a, heun, "
                + "dpmsolver++, sde-dpmsolver++, adaptive, unipc, pndm, lms, deis, lcm, kdpm2, dpmsolver-single"), e.getMessage());
        for (String name : Schedulers.NAMES) {
            assertTrue(Schedulers.byName(name, SchedulerConfig.builder().build(), 0).name().equals(name), name);
        }
    }

    @Test
    void adaptiveTolerancesMustBePositive() {
        SchedulerConfig c = SchedulerConfig.builder().className(AdaptiveScheduler.CLASS_NAME).build();
        for (double bad : new double[] {0, -0.1, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new AdaptiveScheduler(c, bad, 0.01));
            assertTrue(e.getMessage().equals("rtol must be > 0, got " + bad), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new AdaptiveScheduler(c, 0.05, bad));
            assertTrue(e.getMessage().equals("atol must be > 0, got " + bad), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new AdaptiveScheduler(
                c.toBuilder().putExtra("rtol", -1.0).build()));
        assertTrue(e.getMessage().equals("rtol must be > 0, got -1.0"), e.getMessage());
        UnsupportedOperationException u = assertThrows(UnsupportedOperationException.class,
                () -> new AdaptiveScheduler(c).plan(10));
        assertTrue(u.getMessage().startsWith("the adaptive solver chooses its own steps"), u.getMessage());
    }

    @Test
    void karrasSigmasFallFromTheLargestToTheSmallestAsRhoSeven() {
        SchedulerConfig c = SchedulerConfig.builder().putExtra("use_karras_sigmas", true).build();
        try (SamplingPlan plan = new EulerScheduler(c).plan(10)) {
            double[] s = new double[10];
            for (int i = 0; i < 10; i++) {
                s[i] = ((SigmaScheduler.Plan) plan).sigma(i);
            }
            // uniform in sigma^(1/7)
            double d = Math.pow(s[1], 1 / 7.0) - Math.pow(s[0], 1 / 7.0);
            for (int i = 1; i < 10; i++) {
                assertEquals(d, Math.pow(s[i], 1 / 7.0) - Math.pow(s[i - 1], 1 / 7.0), 1e-12);
            }
            // the timesteps map back to the sigmas through log-sigma interpolation: monotone, fractional
            for (int i = 1; i < 10; i++) {
                assertTrue(plan.modelTimestep(i) < plan.modelTimestep(i - 1));
            }
            assertEquals(0.0, plan.modelTimestep(9), 1e-9); // the smallest sigma is timestep 0's
        }
    }

    @Test
    void heunStartsOnlyAtEvenEvaluationsAndUnsupportedKeysAreNamed() {
        SchedulerConfig c = SchedulerConfig.builder().build();
        try (SamplingPlan plan = new HeunScheduler(c).plan(5)) {
            assertEquals(9, plan.steps());
            assertTrue(plan.isStepStart(0) && !plan.isStepStart(1) && plan.isStepStart(2));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new EulerScheduler(
                c.toBuilder().putExtra("use_beta_sigmas", true).build()));
        assertTrue(e.getMessage().equals("use_beta_sigmas is not supported; use use_karras_sigmas or the default"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new EulerScheduler(
                c.toBuilder().putExtra("final_sigmas_type", "one").build()));
        assertTrue(e.getMessage().equals("final_sigmas_type must be zero or sigma_min, got 'one'"), e.getMessage());
        // not a key of Heun's (nor LMS's, KDPM2's): ignored, as diffusers does; those runs end at sigma 0
        new HeunScheduler(c.toBuilder().putExtra("final_sigmas_type", "one").build()).plan(5).close();
        new LmsScheduler(c.toBuilder().putExtra("final_sigmas_type", "one").build()).plan(5).close();
    }

    private static void refused(String message, org.junit.jupiter.api.function.Executable e) {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
        assertEquals(message, x.getMessage());
        assertEquals(1, x.getMessage().lines().count());
    }

    @Test
    void newSchedulersRefuseWhatTheyCannotDoByKey() {
        SchedulerConfig c = SchedulerConfig.builder().build();
        refused("solver_type 'bh3' is not supported by UniPC; use bh1 or bh2",
                () -> new UniPcScheduler(c.toBuilder().putExtra("solver_type", "bh3").build()));
        refused("solver_order must be 1, 2 or 3 for UniPC, got 4",
                () -> new UniPcScheduler(c.toBuilder().putExtra("solver_order", 4).build()));
        refused("solver_p is not supported; remove it (UniP is the predictor)",
                () -> new UniPcScheduler(c.toBuilder().putExtra("solver_p", "DPMSolverMultistepScheduler").build()));
        refused("disable_corrector must hold step indices >= 0, got -1",
                () -> new UniPcScheduler(c.toBuilder().putExtra("disable_corrector", java.util.List.of(-1)).build()));
        refused("use_exponential_sigmas is not supported; use use_karras_sigmas or the default",
                () -> new UniPcScheduler(c.toBuilder().putExtra("use_exponential_sigmas", true).build()));
        refused("use_lu_lambdas is not a key of UniPCMultistepScheduler; use use_karras_sigmas or the default",
                () -> new UniPcScheduler(c.toBuilder().putExtra("use_lu_lambdas", true).build()));
        UniPcScheduler noisePrediction = new UniPcScheduler(c.toBuilder().putExtra("predict_x0", false).build());
        refused("UniPC step 9 of 10 is not finite (a step of order > 1 or with predict_x0 false to sigma 0); set "
                + "final_sigmas_type sigma_min or lower_order_final true", () -> noisePrediction.plan(10));
        refused("use_karras_sigmas and use_lu_lambdas are both true; choose one", () -> new DpmSolverScheduler(c
                .toBuilder().putExtra("use_karras_sigmas", true).putExtra("use_lu_lambdas", true).build()));
        refused("use_flow_sigmas is not supported; use use_karras_sigmas or the default",
                () -> new DpmSolverScheduler(c.toBuilder().putExtra("use_flow_sigmas", true).build()));
        refused("solver_type 'bh2' is not supported; use midpoint or heun",
                () -> new DpmSolverScheduler(c.toBuilder().putExtra("solver_type", "bh2").build()));
        DpmSolverScheduler clipped = new DpmSolverScheduler(c.toBuilder().putExtra("lambda_min_clipped", 20.0).build());
        refused("lambda_min_clipped 20.0 clips every timestep", () -> clipped.plan(10));
        refused("prediction_type sample is not supported by PNDM; use epsilon or v_prediction",
                () -> new PndmScheduler(c.withPredictionType(PredictionType.SAMPLE)));
        refused("PNDM with Runge-Kutta warm-up needs at least 4 steps, got 3; use more steps or skip_prk_steps true",
                () -> new PndmScheduler(c).plan(3));
        refused("thresholding is not supported by lms; use ddpm or ddim",
                () -> new LmsScheduler(c.toBuilder().thresholding(true).build()));
    }

    @Test
    void lmsCoefficientsIntegrateTheLagrangeBasis() {
        // order 1: the integral of 1 over the step; order 2 on (3, 2, 1): the basis of s_i = 2 is (tau - 3) / (2 - 3)
        double[] s = {3, 2, 1};
        assertEquals(-1.0, LmsScheduler.coefficient(s, 1, 1, 0), 1e-15);
        assertEquals(-1.5, LmsScheduler.coefficient(s, 1, 2, 0), 1e-14); // -(integral_2^1 (tau - 3) dtau)
        assertEquals(0.5, LmsScheduler.coefficient(s, 1, 2, 1), 1e-14);
        // the weights of any order sum to the step length (they integrate 1 exactly)
        double[] k = {10, 6, 3.5, 1.2, 0.4, 0};
        double sum = 0;
        for (int j = 0; j < 4; j++) {
            sum += LmsScheduler.coefficient(k, 4, 4, j);
        }
        assertEquals(-0.4, sum, 1e-14);
    }
}
