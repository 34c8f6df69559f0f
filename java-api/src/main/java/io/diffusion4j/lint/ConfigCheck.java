package io.diffusion4j.lint;

import io.diffusion4j.image.ValueRange;
import io.diffusion4j.lint.Finding.Severity;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.scheduler.TimestepSpacing;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Known-bad combinations of a scheduler config, the scheduler that samples with it, the guidance scale and the model's
 * data: each a {@link Finding} whose message says what to change. The checks follow what diffusers' documentation and
 * issues show users tripping over, and what test-models measured (guided DDIM with {@code clip_sample}: 13% of the
 * requested digits, 100% without). Stateless; the CLI runs it at the start of sample, img2img, inpaint and train, and
 * {@code diffusion4j lint} prints it.
 */
public final class ConfigCheck {
    private ConfigCheck() {
    }

    /** Checks the scheduler as built, with {@code guidanceScale} (1 = no guidance) and the model's spec (may be null). */
    public static List<Finding> check(Scheduler scheduler, double guidanceScale, ModelSpec spec) {
        return check(scheduler.config(), scheduler.name(), guidanceScale, spec);
    }

    /**
     * Checks a config for sampling with the scheduler called {@code schedulerName} (one of {@link Schedulers#NAMES};
     * null = the one the config's {@code _class_name} selects), guidance {@code guidanceScale} (1 = none), for a model
     * described by {@code spec} (null when the folder has no diffusion4j.json).
     */
    public static List<Finding> check(SchedulerConfig config, String schedulerName, double guidanceScale,
                                      ModelSpec spec) {
        String name = schedulerName != null ? schedulerName.trim().toLowerCase(Locale.ROOT) : Schedulers.nameOf(config);
        boolean guided = guidanceScale > 1;
        boolean alphaBar = name.equals("ddpm") || name.equals("ddim");
        boolean dpm = name.contains("dpmsolver");
        List<Finding> out = new ArrayList<>();

        if (name.equals("ddim") && config.clipSample() && guided) {
            out.add(new Finding(Severity.ERROR, "clip_sample", "clip_sample true with guidance " + fmt(guidanceScale)
                    + " under ddim: DDIM clips x0 but keeps the guided epsilon, which guidance pushes out of range "
                    + "(measured: 13% of digits recognised, 100% without); set \"clip_sample\": false in "
                    + "scheduler_config.json, or sample with ddpm, dpmsolver++ or euler"));
        }
        if (config.rescaleBetasZeroSnr()) {
            if (config.predictionType() == PredictionType.EPSILON) {
                out.add(new Finding(Severity.ERROR, "prediction_type", "rescale_betas_zero_snr with prediction_type "
                        + "epsilon: at zero terminal SNR x0 = (x - sigma eps) / alpha divides by alpha = 0 at the first "
                        + "step; train and sample with \"prediction_type\": \"v_prediction\" (Lin et al. 2024), or set "
                        + "\"rescale_betas_zero_snr\": false"));
            }
            if (config.timestepSpacing() != TimestepSpacing.TRAILING) {
                out.add(new Finding(Severity.WARNING, "timestep_spacing", "rescale_betas_zero_snr with timestep_spacing "
                        + config.timestepSpacing().configName() + ": sampling never starts at the last (zero-SNR) "
                        + "timestep, which the rescaling is for; set \"timestep_spacing\": \"trailing\""));
            }
            if (name.equals("ddim") && !config.setAlphaToOne()) {
                out.add(new Finding(Severity.WARNING, "set_alpha_to_one", "set_alpha_to_one false with "
                        + "rescale_betas_zero_snr under ddim: the last step stops at alphaBar[0] instead of 1 and leaves "
                        + "noise in the result; set \"set_alpha_to_one\": true"));
            }
        }
        if (config.thresholding()) {
            if (!alphaBar) {
                out.add(new Finding(Severity.ERROR, "thresholding", "thresholding is not supported by " + name
                        + " (diffusers' " + name + " has none either); set \"thresholding\": false or sample with "
                        + "ddpm or ddim"));
            }
            ValueRange range = spec != null ? spec.valueRange() : null;
            if (spec != null && range == null) {
                out.add(new Finding(Severity.ERROR, "thresholding", "thresholding with data that are not pixels "
                        + "(diffusion4j.json has no value_range: latents or other data): dynamic thresholding clamps "
                        + "x0 to +-" + fmt(config.sampleMaxValue()) + " and distorts such samples; set "
                        + "\"thresholding\": false"));
            } else if (range != null && Math.max(Math.abs(range.min()), Math.abs(range.max())) > config.sampleMaxValue()) {
                out.add(new Finding(Severity.ERROR, "sample_max_value", "thresholding with sample_max_value "
                        + fmt(config.sampleMaxValue()) + " below the data's value_range [" + fmt(range.min()) + ", "
                        + fmt(range.max()) + "]: it clamps "
                        + "valid samples; set \"sample_max_value\" to "
                        + fmt(Math.max(Math.abs(range.min()), Math.abs(range.max())))));
            }
        }
        if (config.stepsOffset() != 0 && config.timestepSpacing() != TimestepSpacing.LEADING) {
            out.add(new Finding(Severity.WARNING, "steps_offset", "steps_offset " + config.stepsOffset() + " with "
                    + "timestep_spacing " + config.timestepSpacing().configName() + ": only leading spacing applies "
                    + "the offset (diffusers ignores it otherwise); set \"steps_offset\": 0"));
        }
        if (dpm && guided && config.extraInt("solver_order", 2) == 3) {
            out.add(new Finding(Severity.WARNING, "solver_order", "solver_order 3 with guidance "
                    + fmt(guidanceScale) + ": third-order multistep is unstable on guided models (diffusers recommends "
                    + "2 for guided sampling); use --order 2 or \"solver_order\": 2"));
        }
        if (dpm && !config.extraBoolean("lower_order_final", true)) {
            out.add(new Finding(Severity.WARNING, "lower_order_final", "lower_order_final false: DPM-Solver++'s "
                    + "high-order final steps are unstable below 15 steps (diffusers' note); set "
                    + "\"lower_order_final\": true"));
        }
        if (alphaBar && config.extraBoolean("use_karras_sigmas", false)) {
            out.add(new Finding(Severity.WARNING, "use_karras_sigmas", "use_karras_sigmas has no effect on " + name
                    + "; sample with euler, heun or dpmsolver++ to use Karras sigmas"));
        }
        return List.copyOf(out);
    }

    /** Whether any finding is an {@link Severity#ERROR}. */
    public static boolean hasErrors(List<Finding> findings) {
        return findings.stream().anyMatch(f -> f.severity() == Severity.ERROR);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? Long.toString((long) v) : Double.toString(v);
    }
}
