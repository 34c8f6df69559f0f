package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelFolderException;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.scheduler.HeunScheduler;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.tuning.ScheduleTuner;
import io.diffusion4j.tuning.TunedFolder;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j tune-schedule}: learn the few timesteps a solver should run for a model. */
@Command(name = "tune-schedule", mixinStandardHelpOptions = true,
        description = {"Learn the timesteps of a few-step run: for --scheduler at --nfe model evaluations, coordinate "
                + "descent over integer timesteps (from the solver's default spacing) minimises the mean squared "
                + "distance between the few-step results and DDIM --reference-steps results from the same "
                + "--calibration seeded noises.",
            "The result in --out is a model folder whose scheduler_config.json lists the timesteps ('timesteps'), "
                + "so 'diffusion4j sample --model OUT' runs them by default; schedule_tuning.json records the search."})
final class TuneScheduleCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|DIR",
            description = "A built-in model or a TorchScript / Java-built model folder.")
    String model;

    @Option(names = "--scheduler", required = true, paramLabel = "NAME",
            description = "A deterministic fixed-step solver: ddim, euler, heun, lms, dpmsolver++, unipc or deis.")
    String scheduler;

    @Option(names = "--nfe", required = true, paramLabel = "N",
            description = "Model evaluations per sample (= steps; heun: 2 per step but the last, so odd).")
    int nfe;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output model folder.")
    Path out;

    @Option(names = "--order", paramLabel = "K", description = "DPM-Solver++ or UniPC order: 1, 2 or 3.")
    Integer order;

    @Option(names = "--calibration", paramLabel = "B", defaultValue = "256",
            description = "Noises in the calibration batch (default: ${DEFAULT-VALUE}).")
    int calibration;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1000000",
            description = "First calibration seed; noise i uses S+i (default: ${DEFAULT-VALUE}, away from sample's 0).")
    long seed;

    @Option(names = "--reference-steps", paramLabel = "N", defaultValue = "1000",
            description = "DDIM steps of the reference trajectories (default: ${DEFAULT-VALUE}).")
    int referenceSteps;

    @Option(names = "--max-runs", paramLabel = "R", defaultValue = "200",
            description = "Few-step runs of the calibration batch the search may spend (default: ${DEFAULT-VALUE}).")
    int maxRuns;

    @Option(names = "--class", paramLabel = "C", split = ",",
            description = "Class ids for a class-conditional model (one for all or one per calibration noise).")
    int[] classes;

    @Option(names = "--guidance", paramLabel = "G", defaultValue = "1",
            description = "Classifier-free guidance scale of the runs (default: ${DEFAULT-VALUE}).")
    double guidance;

    @Mixin
    ComputeOptions compute;

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        Device dev = compute.apply();
        ModelFolder folder;
        try {
            folder = ModelFolder.resolve(model);
        } catch (ModelNotFoundException e) {
            throw new UsageException("--model: " + e.getMessage());
        }
        SchedulerConfig sc = folder.schedulerConfig();
        if (sc == null) {
            throw new UsageException("--model " + model + " has no scheduler_config.json: it is not a denoiser");
        }
        if (folder.spec() == null) {
            throw new UsageException("--model " + model + " has no diffusion4j.json (its sample shape); run "
                    + "'diffusion4j inspect --model " + model + " --write' first");
        }
        Scheduler solver;
        try {
            SchedulerConfig.Builder b = sc.toBuilder().removeExtra("timesteps");
            if (order != null) {
                if (order < 1 || order > 3) {
                    throw new UsageException("--order must be 1, 2 or 3, got " + order);
                }
                b.putExtra("solver_order", order);
            }
            solver = Schedulers.byName(scheduler, b.build(), 0);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--scheduler: " + e.getMessage());
        }
        boolean heun = solver instanceof HeunScheduler;
        if (nfe < 1 || (heun && nfe % 2 == 0)) {
            throw new UsageException("--nfe must be >= 1" + (heun ? " and odd for heun (2 evaluations per step but "
                    + "the last)" : "") + ", got " + nfe);
        }
        int steps = heun ? (nfe + 1) / 2 : nfe;
        ScheduleTuner.Config config;
        try {
            config = new ScheduleTuner.Config(steps, calibration, seed, referenceSteps, maxRuns, classes, guidance);
            ScheduleTuner.defaultTimesteps(solver, steps);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        ScheduleTuner.Result r;
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(dev, DType.FLOAT32)) {
            stdout.printf(Locale.ROOT, "tuning %d %s timesteps for %s: %d calibration noises, DDIM-%d references, "
                    + "at most %d runs%n", steps, solver.name(), folder.location(), calibration, referenceSteps, maxRuns);
            stdout.flush();
            try {
                r = new ScheduleTuner(config).tune(d, solver, folder.spec().sampleShape(), (ts, error, runs) ->
                        stdout.printf(Locale.ROOT, "  run %d: error %.6g at %s%n", runs, error, Arrays.toString(ts)));
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        }
        try {
            TunedFolder.write(folder, out, solver.config(), solver.name(), config, r);
        } catch (ModelFolderException e) {
            throw new UsageException("--model: " + e.getMessage());
        }
        stdout.printf(Locale.ROOT, "learned %s timesteps %s (default %s): error %.6g -> %.6g (%.1f%%), %d runs, %.1f s;"
                        + " wrote %s; sample it with 'diffusion4j sample --model %s'%n", solver.name(),
                Arrays.toString(r.timesteps()), Arrays.toString(r.initial()), r.initialError(), r.error(),
                100 * (1 - r.error() / r.initialError()), r.evaluations(), r.seconds(), out, out);
        return 0;
    }
}
