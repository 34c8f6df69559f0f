package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diffusion4j.Reference;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * KDPM2DiscreteScheduler and DPMSolverSinglestepScheduler: every config key diffusers accepts that we do not run is
 * refused with a one-line message naming it; diffusers' own KDPM2 full-loop tests
 * (tests/schedulers/test_scheduler_kdpm2_discrete.py) replayed through our plan and run. Those tests hand the
 * <em>scaled</em> model input back to {@code step} (no pipeline does), so they run here on the library's plan and run,
 * not through the CLI.
 */
class NewSchedulerKeysTest {

    static Stream<Arguments> refusals() {
        String k = "\"_class_name\": \"KDPM2DiscreteScheduler\", ";
        String s = "\"_class_name\": \"DPMSolverSinglestepScheduler\", ";
        return Stream.of(
                Arguments.of(k + "\"prediction_type\": \"sample\"", "prediction_type sample is not supported by "
                        + "KDPM2DiscreteScheduler (diffusers raises NotImplementedError); use epsilon or v_prediction"),
                Arguments.of(k + "\"use_exponential_sigmas\": true",
                        "use_exponential_sigmas is not supported; use use_karras_sigmas or the default"),
                Arguments.of(k + "\"use_beta_sigmas\": true",
                        "use_beta_sigmas is not supported; use use_karras_sigmas or the default"),
                Arguments.of(k + "\"rescale_betas_zero_snr\": true", "rescale_betas_zero_snr is not a key of "
                        + "KDPM2DiscreteScheduler (diffusers ignores it); remove it or choose another scheduler"),
                Arguments.of(s + "\"solver_order\": 4",
                        "solver_order must be 1, 2 or 3 for DPMSolverSinglestepScheduler, got 4"),
                Arguments.of(s + "\"algorithm_type\": \"sde-dpmsolver\"", "algorithm_type 'sde-dpmsolver' is not "
                        + "supported by DPMSolverSinglestepScheduler; use one of dpmsolver++, dpmsolver, sde-dpmsolver++"),
                Arguments.of(s + "\"solver_type\": \"euler\"",
                        "solver_type 'euler' is not supported by DPMSolverSinglestepScheduler; use midpoint or heun"),
                Arguments.of(s + "\"final_sigmas_type\": \"one\"", "final_sigmas_type must be zero or sigma_min, got 'one'"),
                Arguments.of(s + "\"algorithm_type\": \"dpmsolver\"", "final_sigmas_type zero is not supported with "
                        + "algorithm_type dpmsolver; use final_sigmas_type sigma_min or algorithm_type dpmsolver++"),
                Arguments.of(s + "\"algorithm_type\": \"dpmsolver\", \"final_sigmas_type\": \"sigma_min\", "
                        + "\"thresholding\": true", "thresholding is not supported with algorithm_type dpmsolver "
                        + "(diffusers' DPMSolverSinglestepScheduler fails on it too); use algorithm_type dpmsolver++"),
                Arguments.of(s + "\"use_exponential_sigmas\": true",
                        "use_exponential_sigmas is not supported; use use_karras_sigmas or the default"),
                Arguments.of(s + "\"use_beta_sigmas\": true",
                        "use_beta_sigmas is not supported; use use_karras_sigmas or the default"),
                Arguments.of(s + "\"use_flow_sigmas\": true",
                        "use_flow_sigmas is not supported; use use_karras_sigmas or the default"),
                Arguments.of(s + "\"use_dynamic_shifting\": true",
                        "use_dynamic_shifting is not supported; use use_karras_sigmas or the default"),
                Arguments.of(s + "\"time_shift_type\": \"linear\"",
                        "time_shift_type 'linear' is not supported; use exponential"),
                Arguments.of(s + "\"use_lu_lambdas\": true", "use_lu_lambdas is not a key of "
                        + "DPMSolverSinglestepScheduler; use use_karras_sigmas or the default"),
                Arguments.of(s + "\"rescale_betas_zero_snr\": true", "rescale_betas_zero_snr is not a key of "
                        + "DPMSolverSinglestepScheduler (diffusers ignores it); remove it or choose another scheduler"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusals")
    void unsupportedKeysAreRefusedByName(String json, String message) throws Exception {
        SchedulerConfig c = SchedulerConfig.fromJson("{" + json + "}", "scheduler_config.json");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedulers.fromConfig(c, 0));
        assertEquals(message, e.getMessage());
    }

    /** The single-step order lists of diffusers' get_order_list (with its forced lower_order_final). */
    @Test
    void singlestepOrdersFollowDiffusers() throws Exception {
        assertArrayEquals(new int[] {1, 2, 1, 2, 1, 2, 1, 2, 1, 1}, orders(2, "zero", false, 10));
        assertArrayEquals(new int[] {1, 2, 1, 2, 1, 2, 1, 2, 1, 2}, orders(2, "sigma_min", false, 10));
        assertArrayEquals(new int[] {1, 2, 1, 2, 1, 2, 1, 2, 1, 1}, orders(2, "sigma_min", true, 10));
        assertArrayEquals(new int[] {1, 2, 3, 1, 2, 3, 1}, orders(3, "sigma_min", false, 7)); // forced: 7 % 3 != 0
        assertArrayEquals(new int[] {1, 2, 3, 1, 2, 1}, orders(3, "zero", false, 6));
        assertArrayEquals(new int[] {1, 2, 3, 1, 2, 3}, orders(3, "sigma_min", false, 6));
        assertArrayEquals(new int[] {1, 2, 3, 1, 2}, orders(3, "sigma_min", true, 5));
    }

    private static int[] orders(int order, String finalSigmas, boolean lowerOrderFinal, int n) {
        SchedulerConfig c = SchedulerConfig.builder().className(DpmSolverSinglestepScheduler.CLASS_NAME)
                .putExtra("solver_order", order).putExtra("final_sigmas_type", finalSigmas)
                .putExtra("lower_order_final", lowerOrderFinal).build();
        return new DpmSolverSinglestepScheduler(c).orders(n);
    }

    static Stream<Arguments> kdpm2FullLoops() {
        return Stream.of(Arguments.of("test_full_loop_no_noise", "epsilon", 20.4125, 0.0266),
                Arguments.of("test_full_loop_with_v_prediction", "v_prediction", 4.6934e-07, 6.1112e-10));
    }

    /**
     * diffusers' loop: {@code sample = scale_model_input(sample, t); out = model(sample, t); sample = step(out, t,
     * sample)} with the dummy model {@code sample * t / (t + 1)}, 10 steps, num_train_timesteps 1100, KDPM2's
     * default linspace spacing; their asserted sum (to 1e-2) and mean (to 1e-3) of |sample|.
     */
    @ParameterizedTest(name = "kdpm2 {0}")
    @MethodSource("kdpm2FullLoops")
    void diffusersKdpm2FullLoopTests(String test, String predictionType, double sum, double mean) throws Exception {
        SchedulerConfig c = SchedulerConfig.fromJson("{\"_class_name\": \"KDPM2DiscreteScheduler\", "
                + "\"num_train_timesteps\": 1100, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": "
                + "\"linear\", \"timestep_spacing\": \"linspace\", \"prediction_type\": \"" + predictionType + "\"}",
                test);
        Scheduler scheduler = Schedulers.fromConfig(c, 0);
        try (NativeScope scope = new NativeScope(); SamplingPlan plan = scheduler.plan(10);
             SamplerRun run = plan.start()) {
            Tensor x = TensorFiles.readResource(Reference.ROOT + "schedulers/full_loop/sample_deter.pt")
                    .mul(plan.initNoiseSigma());
            for (int i = 0; i < plan.steps(); i++) {
                x = plan.scaleModelInput(x, i);
                float t = (float) plan.modelTimestep(i);
                Tensor out = x.mul(t).div(t + 1f);
                x = run.step(i, out, x, null);
            }
            double gotSum = x.abs().sum().item();
            double gotMean = x.abs().mean().item();
            System.out.printf("kdpm2 %s: sum |x| %.6g (diffusers %.6g), mean %.6g (diffusers %.6g)%n", test, gotSum,
                    sum, gotMean, mean);
            assertEquals(sum, gotSum, 1e-2, test);
            assertEquals(mean, gotMean, 1e-3, test);
        }
    }
}
