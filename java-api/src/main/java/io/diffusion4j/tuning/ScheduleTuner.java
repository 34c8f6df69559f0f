package io.diffusion4j.tuning;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.AdaptiveScheduler;
import io.diffusion4j.scheduler.Compatibility;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.HeunScheduler;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Learns a step schedule: the few timesteps at which a given deterministic solver loses least for a given model.
 *
 * <p>Objective: over a calibration batch of seeded noises, the mean squared distance between the solver's few-step
 * result and the end point of the many-step reference trajectory from the same noise (DDIM with
 * {@code referenceSteps} steps, i.e. the probability-flow ODE solved finely; every deterministic solver here
 * integrates that same ODE). Method: coordinate descent over integer timesteps, started from the best of the
 * solver's default spacing and that spacing shrunk by 0.75, 0.5 and 0.3 towards t = 0: for a step size {@code delta} (from about a quarter of the mean gap down to 1, halving), each timestep in
 * turn is moved by {@code +-delta} while the list stays strictly decreasing and in range, and a move is kept when it
 * lowers the objective; a step size is left when a sweep over all timesteps keeps no move. The calibration noises are
 * drawn from seeds {@code seed + i}, so sampling with other seeds measures the schedule on unseen noise. In the spirit
 * of Sabour et al. 2024 ("Align Your Steps"), which minimises a bound on the same discretisation error; this is the
 * direct, derivative-free version for budgets of a few hundred few-step runs.
 */
public final class ScheduleTuner {

    /**
     * @param steps            the solver's steps (timesteps to choose)
     * @param calibrationSize  noises in the calibration batch
     * @param seed             the first calibration seed (sample i uses seed + i)
     * @param referenceSteps   DDIM steps of the reference trajectory
     * @param maxEvaluations   few-step runs the search may spend (each costs {@code steps} model evaluations per
     *                         sample)
     * @param classLabels      class ids for a conditional model (one for all, or one per calibration sample), or null
     * @param guidanceScale    classifier-free guidance of both runs (1 = off)
     */
    public record Config(int steps, int calibrationSize, long seed, int referenceSteps, int maxEvaluations,
                         int[] classLabels, double guidanceScale) {
        public Config {
            if (steps < 1) {
                throw new IllegalArgumentException("steps must be >= 1, got " + steps);
            }
            if (calibrationSize < 1) {
                throw new IllegalArgumentException("calibration size must be >= 1, got " + calibrationSize);
            }
            if (referenceSteps < 2) {
                throw new IllegalArgumentException("reference steps must be >= 2, got " + referenceSteps);
            }
            if (maxEvaluations < 1) {
                throw new IllegalArgumentException("max evaluations must be >= 1, got " + maxEvaluations);
            }
            if (!(guidanceScale >= 1) || Double.isInfinite(guidanceScale)) {
                throw new IllegalArgumentException("guidance scale must be a finite number >= 1, got " + guidanceScale);
            }
            classLabels = classLabels == null ? null : classLabels.clone();
        }
    }

    /**
     * A learned schedule.
     *
     * @param initial         the solver's default timesteps (the start)
     * @param initialError    the objective there
     * @param timesteps       the learned timesteps, noisiest first
     * @param error           the objective there
     * @param evaluations     few-step runs spent
     * @param seconds         wall time, reference included
     */
    public record Result(long[] initial, double initialError, long[] timesteps, double error, int evaluations,
                         double seconds) {
    }

    /** Progress: called after each accepted move. */
    @FunctionalInterface
    public interface Listener {
        void onImproved(long[] timesteps, double error, int evaluations);
    }

    private final Config config;

    public ScheduleTuner(Config config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    /**
     * The solver's own timesteps for {@code steps} steps (those where a step starts), rounded to integers: where the
     * search starts.
     *
     * @throws IllegalArgumentException if the solver draws noise (its result is not a function of the start noise), or
     *                                  is the adaptive solver
     */
    public static long[] defaultTimesteps(Scheduler solver, int steps) {
        if (solver instanceof AdaptiveScheduler) {
            throw new IllegalArgumentException("the adaptive solver picks its own timesteps; tune a fixed-step solver "
                    + "(ddim, euler, heun, lms, dpmsolver++, unipc or deis)");
        }
        SchedulerConfig plain = solver.config().withTimesteps(null);
        try (NativeScope scope = new NativeScope();
             SamplingPlan plan = Schedulers.fromConfig(plain, 0).plan(steps)) {
            List<Long> starts = new ArrayList<>();
            for (int i = 0; i < plan.steps(); i++) {
                if (plan.needsNoise(i)) {
                    throw new IllegalArgumentException(solver.name() + " draws noise during sampling, so a schedule "
                            + "cannot be fitted to a deterministic trajectory; use ddim, euler, heun, lms, dpmsolver++, "
                            + "unipc or deis");
                }
                if (plan.isStepStart(i)) {
                    starts.add(Math.round(plan.modelTimestep(i)));
                }
            }
            long[] ts = new long[starts.size()];
            int last = solver.config().numTrainTimesteps() - 1;
            for (int i = 0; i < ts.length; i++) {
                // rounding (linspace's fractional timesteps) may collide: keep the list strictly decreasing
                long v = Math.min(last - i, Math.max(ts.length - 1 - i, starts.get(i)));
                ts[i] = i > 0 ? Math.min(v, ts[i - 1] - 1) : v;
            }
            return ts;
        }
    }

    /**
     * Learns {@code steps} timesteps for {@code solver} (its config's options, e.g. {@code solver_order}, apply;
     * a timesteps list in it is ignored) on {@code denoiser}.
     *
     * @param sampleShape the shape of one sample
     * @throws IllegalArgumentException for a solver that draws noise or the adaptive solver
     */
    public Result tune(Denoiser denoiser, Scheduler solver, long[] sampleShape, Listener listener) {
        long t0 = System.nanoTime();
        SchedulerConfig base = solver.config().withTimesteps(null);
        int numTrain = base.numTrainTimesteps();
        if (config.steps() > numTrain) {
            throw new IllegalArgumentException("steps must be at most num_train_timesteps (" + numTrain + "), got "
                    + config.steps());
        }
        long[] start = defaultTimesteps(solver, config.steps());
        try (NativeScope scope = new NativeScope()) {
            Tensor reference;
            SchedulerConfig refConfig = base.withClassName(DdimScheduler.CLASS_NAME);
            try (DiffusionPipeline p = new DiffusionPipeline(denoiser,
                    new DdimScheduler(refConfig, 0, Compatibility.CORRECTED), sampleShape)) {
                reference = p.generate(request(config.referenceSteps()));
            }
            int[] evaluations = {0};
            long[] best = start.clone();
            double bestError = error(denoiser, base, best, sampleShape, reference);
            evaluations[0]++;
            double initialError = bestError;
            // coordinate descent is local: start from the best of the default spacing and its copies shrunk towards
            // t = 0 (few-step schedules often start well below the noisiest timestep)
            for (double f : SHRINK) {
                long[] shrunk = shrink(start, f);
                if (shrunk == null || evaluations[0] >= config.maxEvaluations()) {
                    continue;
                }
                double e = error(denoiser, base, shrunk, sampleShape, reference);
                evaluations[0]++;
                if (e < bestError) {
                    best = shrunk;
                    bestError = e;
                    if (listener != null) {
                        listener.onImproved(best.clone(), bestError, evaluations[0]);
                    }
                }
            }
            long meanGap = Math.max(1, numTrain / (config.steps() + 1));
            for (long delta = Math.max(1, meanGap / 4); delta >= 1 && evaluations[0] < config.maxEvaluations();
                 delta /= 2) {
                boolean moved = true;
                while (moved && evaluations[0] < config.maxEvaluations()) {
                    moved = false;
                    for (int i = 0; i < best.length && evaluations[0] < config.maxEvaluations(); i++) {
                        for (int sign : new int[] {-1, 1}) {
                            long[] candidate = best.clone();
                            candidate[i] += sign * delta;
                            if (!valid(candidate, numTrain) || evaluations[0] >= config.maxEvaluations()) {
                                continue;
                            }
                            double e = error(denoiser, base, candidate, sampleShape, reference);
                            evaluations[0]++;
                            if (e < bestError) {
                                best = candidate;
                                bestError = e;
                                moved = true;
                                if (listener != null) {
                                    listener.onImproved(best.clone(), bestError, evaluations[0]);
                                }
                                break;
                            }
                        }
                    }
                }
            }
            return new Result(start, initialError, best, bestError, evaluations[0], (System.nanoTime() - t0) / 1e9);
        }
    }

    /** The factors by which the default timesteps are shrunk for the other starting points. */
    private static final double[] SHRINK = {0.75, 0.5, 0.3};

    /** {@code ts} times {@code f}, rounded and kept strictly decreasing, or null when that is impossible. */
    static long[] shrink(long[] ts, double f) {
        long[] out = new long[ts.length];
        for (int i = ts.length - 1; i >= 0; i--) {
            long v = Math.round(ts[i] * f);
            out[i] = i == ts.length - 1 ? Math.max(0, v) : Math.max(v, out[i + 1] + 1);
        }
        return out[0] <= ts[0] ? out : null;
    }

    /** Whether a list is strictly decreasing and within 0..numTrain-1. */
    static boolean valid(long[] ts, int numTrain) {
        for (int i = 0; i < ts.length; i++) {
            if (ts[i] < 0 || ts[i] >= numTrain || (i > 0 && ts[i] >= ts[i - 1])) {
                return false;
            }
        }
        return true;
    }

    /** The mean over the calibration batch of the squared distance to the reference end points. */
    private double error(Denoiser denoiser, SchedulerConfig base, long[] ts, long[] sampleShape, Tensor reference) {
        Scheduler s = Schedulers.fromConfig(base.withTimesteps(ts), 0);
        try (NativeScope step = new NativeScope();
             DiffusionPipeline p = new DiffusionPipeline(denoiser, s, sampleShape)) {
            Tensor x = p.generate(request(ts.length));
            double perElement = x.sub(reference).square().mean().item();
            return perElement * (x.numel() / (double) config.calibrationSize());
        }
    }

    private GenerationRequest request(int steps) {
        GenerationRequest.Builder b = GenerationRequest.builder().steps(steps).seed(config.seed())
                .batchSize(config.calibrationSize()).guidanceScale(config.guidanceScale());
        if (config.classLabels() != null) {
            b.classLabels(config.classLabels());
        }
        return b.build();
    }

    /** Model evaluations per sample of a run of {@code steps} steps of {@code solver} (Heun: two per step but the last). */
    public static int modelEvaluations(Scheduler solver, int steps) {
        return solver instanceof HeunScheduler ? 2 * steps - 1 : steps;
    }
}
