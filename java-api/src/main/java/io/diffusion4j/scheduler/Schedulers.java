package io.diffusion4j.scheduler;

import java.util.List;
import java.util.Locale;

/**
 * Picks a scheduler by CLI name or by a config's {@code _class_name}. Solver options travel as diffusers config keys
 * ({@code solver_order}, {@code use_karras_sigmas}, {@code algorithm_type}, {@code rtol}/{@code atol}), so a
 * {@code scheduler_config.json} and the CLI select the same things.
 */
public final class Schedulers {
    /** The names {@link #byName} accepts. */
    public static final List<String> NAMES = List.of("ddpm", "ddim", "euler", "euler-a", "heun", "dpmsolver++",
            "sde-dpmsolver++", "adaptive", "unipc", "pndm", "lms", "deis", "lcm", "kdpm2", "dpmsolver-single");

    private Schedulers() {
    }

    /** The scheduler the config names in {@code _class_name} (DDPMScheduler, DDIMScheduler). */
    public static Scheduler fromConfig(SchedulerConfig config, double eta) {
        String cls = config.className() == null ? "" : config.className();
        switch (cls) {
            case DdpmScheduler.CLASS_NAME:
                return new DdpmScheduler(config);
            case DdimScheduler.CLASS_NAME:
                return new DdimScheduler(config, eta, Compatibility.DIFFUSERS);
            case EulerScheduler.CLASS_NAME:
                return new EulerScheduler(config);
            case EulerAncestralScheduler.CLASS_NAME:
                return new EulerAncestralScheduler(config);
            case HeunScheduler.CLASS_NAME:
                return new HeunScheduler(config);
            case DpmSolverScheduler.CLASS_NAME:
                return new DpmSolverScheduler(config);
            case AdaptiveScheduler.CLASS_NAME:
                return new AdaptiveScheduler(config);
            case UniPcScheduler.CLASS_NAME:
                return new UniPcScheduler(config);
            case PndmScheduler.CLASS_NAME:
                return new PndmScheduler(config);
            case LmsScheduler.CLASS_NAME:
                return new LmsScheduler(config);
            case DeisScheduler.CLASS_NAME:
                return new DeisScheduler(config);
            case LcmScheduler.CLASS_NAME:
                return new LcmScheduler(config);
            case Kdpm2Scheduler.CLASS_NAME:
                return new Kdpm2Scheduler(config);
            case DpmSolverSinglestepScheduler.CLASS_NAME:
                return new DpmSolverSinglestepScheduler(config);
            default:
                throw new IllegalArgumentException("scheduler_config.json _class_name '" + cls + "' is not supported; "
                        + "choose a scheduler with one of: " + String.join(", ", NAMES));
        }
    }

    /**
     * The name in {@link #NAMES} of the scheduler a config's {@code _class_name} selects (its
     * {@code algorithm_type} decides between dpmsolver++ and sde-dpmsolver++), or the class name itself when it
     * selects none.
     */
    public static String nameOf(SchedulerConfig config) {
        String cls = config.className() == null ? "" : config.className();
        return switch (cls) {
            case DdpmScheduler.CLASS_NAME -> "ddpm";
            case DdimScheduler.CLASS_NAME -> "ddim";
            case EulerScheduler.CLASS_NAME -> "euler";
            case EulerAncestralScheduler.CLASS_NAME -> "euler-a";
            case HeunScheduler.CLASS_NAME -> "heun";
            case DpmSolverScheduler.CLASS_NAME -> config.extraString("algorithm_type", "dpmsolver++")
                    .equals("sde-dpmsolver++") ? "sde-dpmsolver++" : "dpmsolver++";
            case AdaptiveScheduler.CLASS_NAME -> "adaptive";
            case UniPcScheduler.CLASS_NAME -> "unipc";
            case PndmScheduler.CLASS_NAME -> "pndm";
            case LmsScheduler.CLASS_NAME -> "lms";
            case DeisScheduler.CLASS_NAME -> "deis";
            case LcmScheduler.CLASS_NAME -> "lcm";
            case Kdpm2Scheduler.CLASS_NAME -> "kdpm2";
            case DpmSolverSinglestepScheduler.CLASS_NAME -> "dpmsolver-single";
            default -> cls;
        };
    }

    /** A scheduler by name (one of {@link #NAMES}) over the model's config. */
    public static Scheduler byName(String name, SchedulerConfig config, double eta) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        switch (n) {
            case "ddpm":
                return new DdpmScheduler(config.withClassName(DdpmScheduler.CLASS_NAME));
            case "ddim":
                return new DdimScheduler(config.withClassName(DdimScheduler.CLASS_NAME), eta, Compatibility.DIFFUSERS);
            case "euler":
                return new EulerScheduler(config.withClassName(EulerScheduler.CLASS_NAME));
            case "euler-a":
            case "euler_a":
            case "euler-ancestral":
                return new EulerAncestralScheduler(config.withClassName(EulerAncestralScheduler.CLASS_NAME));
            case "heun":
                return new HeunScheduler(config.withClassName(HeunScheduler.CLASS_NAME));
            case "dpmsolver++":
            case "dpm":
                return new DpmSolverScheduler(config.toBuilder().className(DpmSolverScheduler.CLASS_NAME)
                        .putExtra("algorithm_type", "dpmsolver++").build());
            case "sde-dpmsolver++":
                return new DpmSolverScheduler(config.toBuilder().className(DpmSolverScheduler.CLASS_NAME)
                        .putExtra("algorithm_type", "sde-dpmsolver++").build());
            case "adaptive":
                return new AdaptiveScheduler(config.withClassName(AdaptiveScheduler.CLASS_NAME));
            case "unipc":
                return new UniPcScheduler(config.withClassName(UniPcScheduler.CLASS_NAME));
            case "pndm":
                return new PndmScheduler(config.withClassName(PndmScheduler.CLASS_NAME));
            case "lms":
                return new LmsScheduler(config.withClassName(LmsScheduler.CLASS_NAME));
            case "deis":
                return new DeisScheduler(config.withClassName(DeisScheduler.CLASS_NAME));
            case "lcm":
                return new LcmScheduler(config.withClassName(LcmScheduler.CLASS_NAME));
            case "kdpm2":
                return new Kdpm2Scheduler(config.withClassName(Kdpm2Scheduler.CLASS_NAME));
            case "dpmsolver-single":
            case "dpmsolver-singlestep":
                return new DpmSolverSinglestepScheduler(config.withClassName(DpmSolverSinglestepScheduler.CLASS_NAME));
            default:
                throw new IllegalArgumentException("unknown scheduler '" + name + "'; valid: " + String.join(", ", NAMES));
        }
    }
}
