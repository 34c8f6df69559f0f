package io.diffusion4j.serving;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.pipeline.NoiseSource;
import io.diffusion4j.pipeline.NonFiniteResultException;
import io.diffusion4j.pipeline.StepEvent;
import io.diffusion4j.scheduler.SamplerRun;
import io.diffusion4j.scheduler.SamplingPlan;
import java.time.Duration;

/**
 * One admitted request in the running batch: its samples, its own plan and sampler state (a multistep solver's
 * history), its step index and its per-sample seeded generators. Lives on the engine thread; everything native it
 * holds is freed by {@link #close()}.
 */
final class Row implements AutoCloseable {
    final Submission submission;
    final int batch;
    /** Class id per sample for the model (the null class when unconditional), or null for an unconditional model. */
    final long[] labels;
    final double guidance;
    final boolean guided;
    private final SamplingPlan plan;
    private final SamplerRun run;
    private final NoiseSource noise;
    private final Device device;
    private final long startNanos = System.nanoTime();
    private Tensor x;
    private int step;

    /** Admits {@code s}: plans its run and draws its initial noise (owned by the row, outside any scope). */
    Row(Submission s, long[] labels, long[] shape, Device device) {
        GenerationRequest r = s.request();
        this.submission = s;
        this.batch = r.batchSize();
        this.labels = labels;
        this.guidance = r.guidanceScale();
        this.guided = r.guided();
        this.device = device;
        SamplingPlan p = null;
        NoiseSource n = null;
        SamplerRun sr = null;
        try {
            p = s.scheduler().plan(r.steps());
            n = NoiseSource.perSample(r.seeds());
            sr = p.start();
            try (NativeScope scope = new NativeScope()) {
                Tensor first = n.next(shape, device);
                this.x = scope.keep(p.initNoiseSigma() != 1.0 ? first.mul(p.initNoiseSigma()) : first);
            }
        } catch (RuntimeException e) {
            closeQuietly(sr, n, p);
            throw e;
        }
        this.plan = p;
        this.noise = n;
        this.run = sr;
        s.progress(0, p.steps());
    }

    /** The model input at the current step (a view or a new tensor in the caller's scope). */
    Tensor modelInput() {
        return plan.scaleModelInput(x, step);
    }

    double modelTimestep() {
        return plan.modelTimestep(step);
    }

    boolean finished() {
        return step >= plan.steps();
    }

    /**
     * The scheduler step for this row from its model output (float32, [batch, ...]); runs inside the engine step's
     * scope {@code scope}, whose temporaries die with it; the new sample stays with the row.
     */
    void step(Tensor modelOutput, NativeScope scope) {
        int i = step;
        Tensor eps = plan.needsNoise(i) ? noise.next(x.shape(), device) : null;
        Tensor next = run.stepInPlace(i, modelOutput, x, eps);
        GenerationRequest r = submission.request();
        if (r.checkNumerics() && !next.allFinite()) {
            throw new NonFiniteResultException("NaN or Inf in the sample after step " + (i + 1) + " of " + plan.steps()
                    + " (timestep " + plan.timesteps()[i] + ")");
        }
        if (next != x) {
            x.close();
            x = scope.keep(next);
        }
        step = i + 1;
        submission.progress(step, plan.steps());
        if (r.listener() != null) {
            long elapsed = System.nanoTime() - startNanos;
            long remaining = elapsed / step * (plan.steps() - step);
            r.listener().onStep(new StepEvent(step, plan.steps(), plan.modelTimestep(i), Duration.ofNanos(elapsed),
                    Duration.ofNanos(remaining), x));
        }
    }

    /** Takes the samples (checked for NaN/Inf first) for the submission; the row no longer owns them. */
    Tensor takeResult() {
        if (!x.allFinite()) {
            throw new NonFiniteResultException("the result has NaN or Inf values (after " + plan.steps() + " steps); "
                    + "run with checkNumerics to find the first bad step");
        }
        Tensor result = x;
        x = null;
        return result;
    }

    @Override
    public void close() {
        if (x != null) {
            x.close();
            x = null;
        }
        closeQuietly(run, noise, plan);
    }

    private static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable c : resources) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // freeing must not hide the error being reported
                }
            }
        }
    }
}
