package io.diffusion4j.lint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.image.ValueRange;
import io.diffusion4j.lint.Finding.Severity;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.scheduler.TimestepSpacing;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each known-bad combination is found (with its key, severity and fix), and its fixed form is not. */
class ConfigCheckTest {
    static final SchedulerConfig BASE = SchedulerConfig.builder().clipSample(false).build();
    static final ModelSpec PIXELS = new ModelSpec("m", "denoiser", new long[] {3, 8, 8}, ValueRange.MINUS_ONE_TO_ONE,
            List.of("sample", "timestep"), null, 0, -1);
    static final ModelSpec POINTS = new ModelSpec("m", "denoiser", new long[] {2}, null,
            List.of("sample", "timestep"), null, 0, -1);

    static List<Finding> check(SchedulerConfig c, String scheduler, double guidance, ModelSpec spec) {
        List<Finding> f = ConfigCheck.check(c, scheduler, guidance, spec);
        f.forEach(x -> System.out.println(scheduler + " guidance " + guidance + ": " + x));
        return f;
    }

    static Finding only(List<Finding> findings, String key) {
        List<Finding> matching = findings.stream().filter(f -> f.key().equals(key)).toList();
        assertEquals(1, matching.size(), () -> "expected one finding on " + key + ", got " + findings);
        return matching.get(0);
    }

    @Test
    void clipSampleWithGuidanceUnderDdimIsAnError() {
        SchedulerConfig clip = BASE.toBuilder().clipSample(true).build();
        Finding f = only(check(clip, "ddim", 3, PIXELS), "clip_sample");
        assertEquals(Severity.ERROR, f.severity());
        assertTrue(f.message().contains("\"clip_sample\": false"), f.message());
        assertTrue(ConfigCheck.hasErrors(check(clip, "ddim", 3, PIXELS)));
        // not without guidance, not for ddpm (its update does not reuse epsilon), not once clipping is off
        assertTrue(check(clip, "ddim", 1, PIXELS).isEmpty());
        assertTrue(check(clip, "ddpm", 3, PIXELS).isEmpty());
        assertTrue(check(BASE, "ddim", 3, PIXELS).isEmpty());
    }

    @Test
    void zeroSnrWithEpsilonIsAnErrorAndWithoutTrailingAWarning() {
        SchedulerConfig eps = BASE.toBuilder().rescaleBetasZeroSnr(true).timestepSpacing(TimestepSpacing.TRAILING)
                .build();
        assertEquals(Severity.ERROR, only(check(eps, "ddim", 1, PIXELS), "prediction_type").severity());
        SchedulerConfig leading = eps.toBuilder().predictionType(PredictionType.V_PREDICTION)
                .timestepSpacing(TimestepSpacing.LEADING).build();
        Finding spacing = only(check(leading, "ddim", 1, PIXELS), "timestep_spacing");
        assertEquals(Severity.WARNING, spacing.severity());
        assertTrue(spacing.message().contains("trailing"));
        SchedulerConfig good = leading.toBuilder().timestepSpacing(TimestepSpacing.TRAILING).build();
        assertTrue(check(good, "ddim", 3, PIXELS).isEmpty());
    }

    @Test
    void ddimWithoutSetAlphaToOneUnderZeroSnrWarns() {
        SchedulerConfig c = BASE.toBuilder().rescaleBetasZeroSnr(true).timestepSpacing(TimestepSpacing.TRAILING)
                .predictionType(PredictionType.V_PREDICTION).setAlphaToOne(false).build();
        assertEquals(Severity.WARNING, only(check(c, "ddim", 1, PIXELS), "set_alpha_to_one").severity());
        assertTrue(check(c, "ddpm", 1, PIXELS).isEmpty(), "only DDIM has a final alpha");
        assertTrue(check(c.toBuilder().setAlphaToOne(true).build(), "ddim", 1, PIXELS).isEmpty());
        assertTrue(check(c.toBuilder().rescaleBetasZeroSnr(false).build(), "ddim", 1, PIXELS).isEmpty(),
                "set_alpha_to_one false alone is Stable Diffusion's usual config");
    }

    @Test
    void thresholdingOnDataThatAreNotPixelsIsAnError() {
        SchedulerConfig t = BASE.toBuilder().thresholding(true).build();
        assertEquals(Severity.ERROR, only(check(t, "ddpm", 1, POINTS), "thresholding").severity());
        assertTrue(check(t, "ddpm", 1, PIXELS).isEmpty());
        assertTrue(check(t, "ddpm", 1, null).isEmpty(), "unknown data: nothing to say");
        ModelSpec wide = new ModelSpec("m", "denoiser", new long[] {3, 8, 8}, new ValueRange(-2, 2),
                List.of("sample", "timestep"), null, 0, -1);
        Finding f = only(check(t, "ddim", 1, wide), "sample_max_value");
        assertEquals(Severity.ERROR, f.severity());
        assertTrue(f.message().contains("to 2"), f.message());
        assertEquals(Severity.ERROR, only(check(t, "euler", 1, PIXELS), "thresholding").severity());
    }

    @ParameterizedTest
    @CsvSource({"trailing", "linspace"})
    void stepsOffsetWithoutLeadingSpacingWarns(String spacing) {
        SchedulerConfig c = BASE.toBuilder().stepsOffset(1).timestepSpacing(TimestepSpacing.fromConfigName(spacing))
                .build();
        assertEquals(Severity.WARNING, only(check(c, "ddim", 1, PIXELS), "steps_offset").severity());
        assertTrue(check(c.toBuilder().timestepSpacing(TimestepSpacing.LEADING).build(), "ddim", 1, PIXELS).isEmpty());
    }

    @Test
    void dpmSolverOrderThreeWithGuidanceAndNoLowerOrderFinalWarn() {
        SchedulerConfig third = BASE.toBuilder().putExtra("solver_order", 3).build();
        assertEquals(Severity.WARNING, only(check(third, "dpmsolver++", 3, PIXELS), "solver_order").severity());
        assertTrue(check(third, "dpmsolver++", 1, PIXELS).isEmpty(), "order 3 is recommended unguided");
        SchedulerConfig noLower = BASE.toBuilder().putExtra("lower_order_final", false).build();
        assertEquals(Severity.WARNING, only(check(noLower, "dpmsolver++", 1, PIXELS), "lower_order_final").severity());
    }

    @Test
    void karrasSigmasAreANoOpForDdpmAndDdim() {
        SchedulerConfig k = BASE.toBuilder().putExtra("use_karras_sigmas", true).build();
        assertEquals(Severity.WARNING, only(check(k, "ddim", 1, PIXELS), "use_karras_sigmas").severity());
        assertTrue(check(k, "euler", 1, PIXELS).isEmpty());
    }

    @Test
    void theSchedulerDefaultsToTheConfigsClassName() {
        SchedulerConfig clip = BASE.toBuilder().clipSample(true).className("DDIMScheduler").build();
        assertTrue(ConfigCheck.hasErrors(ConfigCheck.check(clip, null, 3, PIXELS)));
        assertTrue(ConfigCheck.hasErrors(ConfigCheck.check(Schedulers.fromConfig(clip, 0), 3, PIXELS)));
    }

    /** The built-in models' shipped configs pass every scheduler with guidance. */
    @ParameterizedTest
    @CsvSource({"digits", "digits-v", "toy2d"})
    void theBuiltInConfigsPass(String model) throws Exception {
        ModelFolder folder = ModelFolder.builtin(model);
        for (String s : Schedulers.NAMES) {
            List<Finding> f = ConfigCheck.check(folder.schedulerConfig(), s, folder.spec().isConditional() ? 3 : 1,
                    folder.spec());
            assertTrue(f.isEmpty(), model + " " + s + ": " + f);
        }
    }

    @Test
    void aFindingIsOneLine() {
        assertFalse(new Finding(Severity.WARNING, "k", "m").toString().contains("\n"));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new Finding(Severity.WARNING, "k", "two\nlines"));
    }
}
