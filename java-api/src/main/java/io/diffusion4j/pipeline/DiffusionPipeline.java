package io.diffusion4j.pipeline;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.DoubledInputs;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.scheduler.AdaptiveScheduler;
import io.diffusion4j.scheduler.SamplerRun;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Generation with a denoiser and a scheduler: unconditional or class-conditional, classifier-free guidance,
 * img2img (SDEdit) and inpainting. Each step runs in its own native memory scope, so native memory stays flat over
 * any number of steps. Thread-safe: one pipeline serves concurrent requests (each call has its own noise and state;
 * the plan and timestep tensors for a step count and batch size are made once and shared). Close it to free those.
 */
public final class DiffusionPipeline implements AutoCloseable {
    private final Denoiser denoiser;
    private final Scheduler scheduler;
    private final long[] sampleShape;
    /** Plans and timestep tensors per step count / batch: made once, shared by every run (read-only). */
    private final ConcurrentHashMap<Integer, SamplingPlan> plans = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Long, Tensor[]> timestepTensors = new ConcurrentHashMap<>();
    /** Guided runs' doubled timesteps, made once from the tensors in {@link #timestepTensors}. */
    private final DoubledInputs guidedTimesteps = new DoubledInputs();
    private volatile boolean closed;

    /**
     * @param denoiser    the model (borrowed: the caller closes it)
     * @param scheduler   the reverse-process sampler
     * @param sampleShape shape of one sample without the batch dimension (from diffusion4j.json); may be null when
     *                    every request gives an initial noise or image
     */
    public DiffusionPipeline(Denoiser denoiser, Scheduler scheduler, long[] sampleShape) {
        this.denoiser = denoiser;
        this.scheduler = scheduler;
        this.sampleShape = sampleShape == null ? null : sampleShape.clone();
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    public Denoiser denoiser() {
        return denoiser;
    }

    /**
     * Runs a request. The result ([B, ...], float32, on the denoiser's device) belongs to the caller, or to the
     * enclosing {@link NativeScope} if one is open. The run uses LibTorch's inference mode (faster than no-grad), so
     * the result is an inference tensor: to train on it, {@code copy()} it outside inference mode first.
     *
     * @throws IllegalArgumentException  for a request this model cannot serve (guidance without classes, class id
     *                                   out of range, mismatched shapes)
     * @throws CancellationException     when cancelled (token or thread interrupt) at a step boundary
     * @throws NonFiniteResultException  when the result (or, with checkNumerics, a step) has NaN or Inf
     */
    public Tensor generate(GenerationRequest request) {
        validate(request);
        int batch = request.batchSize();
        if (closed) {
            throw new IllegalStateException("pipeline is closed");
        }
        if (scheduler instanceof AdaptiveScheduler adaptive) {
            return generateAdaptive(request, adaptive);
        }
        SamplingPlan plan = plans.computeIfAbsent(request.steps(), scheduler::plan);
        Tensor[] timesteps = timestepTensors.computeIfAbsent(((long) request.steps() << 32) | batch,
                k -> NativeScope.unscoped(() -> timestepTensors(plan, batch)));
        try (InferenceGuard inference = Torch.inferenceMode();
             NativeScope run = new NativeScope();
             NoiseSource noise = noiseSource(request);
             GuidedDenoiser guided = guided(request, guidedTimesteps)) {
            Denoiser model = guided != null ? guided : denoiser;
            int total = plan.steps();
            int start = 0;
            if (request.image() != null && request.mask() == null) {
                int initSteps = Math.min((int) (total * request.strength()), total);
                start = total - initSteps;
                while (start < total && !plan.isStepStart(start)) {
                    start++; // a Heun correction belongs to the step before it
                }
            }
            long[] shape = resolveShape(request);
            Tensor first = request.initNoise() != null ? request.initNoise().to(denoiser.device(), DType.FLOAT32)
                    : noise.next(shape, denoiser.device());
            // the loop steps x in place, so it must own it: noise the caller gave (or may hold) is copied
            boolean callerHoldsFirst = request.initNoise() != null || request.noiseSource() != null;
            Tensor x;
            Tensor known = null;
            Tensor keepMask = null;
            if (request.image() != null) {
                known = broadcastBatch(request.image().to(denoiser.device(), DType.FLOAT32), batch, "input image");
                if (start >= total) {
                    return run.keep(known.copy());
                }
                x = request.mask() == null ? plan.addNoise(known, first, start) : first.mul(plan.initNoiseSigma());
                if (request.mask() != null) {
                    // the mask is 1 where to repaint; keepMask is 1 where the input is kept
                    Tensor m = broadcastBatch(request.mask().to(denoiser.device(), DType.FLOAT32), batch, "mask");
                    keepMask = m.neg().add(1.0);
                }
            } else {
                x = plan.initNoiseSigma() != 1.0 ? first.mul(plan.initNoiseSigma())
                        : callerHoldsFirst ? first.copy() : first;
            }
            Tensor labels = labels(request, batch);
            SamplerRun state = plan.start();
            try {
                long t0 = System.nanoTime();
                int runSteps = total - start;
                for (int i = start; i < total; i++) {
                    checkCancelled(request, i - start, runSteps);
                    try (NativeScope step = new NativeScope()) {
                        Tensor out = predict(model, plan.scaleModelInput(x, i), timesteps[i], labels);
                        Tensor eps = plan.needsNoise(i) ? noise.next(x.shape(), denoiser.device()) : null;
                        Tensor next = state.stepInPlace(i, out, x, eps); // x itself when the step runs in place
                        if (keepMask != null) {
                            // inpainting: the known region, noised to the level this step ends at, replaces the sample
                            Tensor knownNoised = plan.addNoiseAfter(known, first, i);
                            next = next.add(knownNoised.sub(next).mul(keepMask));
                        }
                        if (request.checkNumerics() && !next.allFinite()) {
                            throw new NonFiniteResultException("NaN or Inf in the sample after step " + (i - start + 1)
                                    + " of " + runSteps + " (timestep " + plan.timesteps()[i] + ")");
                        }
                        if (request.listener() != null) {
                            long elapsed = System.nanoTime() - t0;
                            int done = i - start + 1;
                            long remaining = elapsed / done * (runSteps - done);
                            request.listener().onStep(new StepEvent(done, runSteps, plan.modelTimestep(i),
                                    Duration.ofNanos(elapsed), Duration.ofNanos(remaining), next));
                        }
                        if (next != x) {
                            x.close();
                            x = step.keep(next);
                        }
                    }
                }
                if (!x.allFinite()) {
                    throw new NonFiniteResultException("the result has NaN or Inf values (after " + runSteps + " steps); "
                            + "run with checkNumerics to find the first bad step");
                }
                return run.keep(x);
            } finally {
                state.close(); // a multistep solver's history
            }
        }
    }

    /**
     * The adaptive solver's run: it picks its own steps (the request's step count is ignored), so each evaluation
     * makes its timestep tensor; listeners see one event per model evaluation with {@code steps} 0 (unknown).
     */
    private Tensor generateAdaptive(GenerationRequest request, AdaptiveScheduler adaptive) {
        if (request.image() != null) {
            throw new IllegalArgumentException("the adaptive solver does not do img2img or inpainting; choose a "
                    + "fixed-step scheduler (ddim, euler, dpmsolver++, ...)");
        }
        int batch = request.batchSize();
        try (InferenceGuard inference = Torch.inferenceMode();
             NativeScope run = new NativeScope();
             NoiseSource noise = noiseSource(request);
             GuidedDenoiser guided = guided(request, null)) { // its timesteps are new per evaluation: kept per run
            Denoiser model = guided != null ? guided : denoiser;
            Tensor x = request.initNoise() != null ? request.initNoise().to(denoiser.device(), DType.FLOAT32)
                    : noise.next(resolveShape(request), denoiser.device());
            Tensor labels = labels(request, batch);
            DType td = timestepDType();
            long t0 = System.nanoTime();
            int[] evaluations = {0};
            AdaptiveScheduler.Solution solution = adaptive.solve(x, (sample, timestep) -> {
                checkCancelled(request, evaluations[0], 0);
                Tensor ts = Tensor.full(td.isFloatingPoint() ? timestep : Math.rint(timestep), td, denoiser.device(),
                        batch);
                Tensor out = predict(model, sample, ts, labels);
                if (request.checkNumerics() && !out.allFinite()) {
                    throw new NonFiniteResultException("NaN or Inf in the model output at evaluation "
                            + (evaluations[0] + 1) + " (timestep " + timestep + ")");
                }
                evaluations[0]++;
                if (request.listener() != null) {
                    request.listener().onStep(new StepEvent(evaluations[0], 0, timestep,
                            Duration.ofNanos(System.nanoTime() - t0), Duration.ZERO, sample));
                }
                return out;
            });
            Tensor result = solution.sample();
            if (!result.allFinite()) {
                throw new NonFiniteResultException("the result has NaN or Inf values (after " + solution.evaluations()
                        + " model evaluations); run with checkNumerics to find the first bad one");
            }
            return run.keep(result);
        }
    }

    private static NoiseSource noiseSource(GenerationRequest r) {
        return r.noiseSource() != null ? r.noiseSource() : NoiseSource.perSample(r.seeds());
    }

    /**
     * The run's classifier-free guidance wrapper, or null when the request is not guided; its doubled timesteps go to
     * {@code timesteps} (the pipeline's, made from its cached timestep tensors), or per run when null.
     */
    private GuidedDenoiser guided(GenerationRequest r, DoubledInputs timesteps) {
        return r.guided() ? new GuidedDenoiser(denoiser, r.guidanceScale(), timesteps) : null;
    }

    /** One model call in the model's dtype; the output in float32. */
    private Tensor predict(Denoiser model, Tensor in, Tensor timesteps, Tensor labels) {
        DType dtype = denoiser.dtype();
        if (dtype == DType.FLOAT32) {
            return model.predict(in, timesteps, labels);
        }
        return model.predict(in.to(dtype), timesteps, labels).to(DType.FLOAT32);
    }

    private Tensor[] timestepTensors(SamplingPlan plan, int batch) {
        Tensor[] ts = new Tensor[plan.steps()];
        try (InferenceGuard inference = Torch.inferenceMode()) {
            for (int i = 0; i < ts.length; i++) {
                double t = plan.modelTimestep(i); // fractional for sigma solvers; rounded for integer-timestep models
                DType td = timestepDType();
                ts[i] = Tensor.full(td.isFloatingPoint() ? t : Math.rint(t), td, denoiser.device(), batch);
            }
        }
        return ts;
    }

    /**
     * The dtype the model gets timesteps in: the model's own when it declares one, else the scheduler's (float32 for
     * the sigma solvers, int64 for DDPM/DDIM/DPM-Solver++), as a diffusers pipeline passes them.
     */
    public DType timestepDType() {
        return denoiser.declaresTimestepDType() ? denoiser.timestepDType() : scheduler.timestepDType();
    }

    /** Frees the cached plans and timestep tensors. The denoiser is the caller's and stays open. */
    @Override
    public void close() {
        closed = true;
        plans.values().forEach(SamplingPlan::close);
        plans.clear();
        guidedTimesteps.close(); // before the timestep tensors they are made from
        timestepTensors.values().forEach(ts -> java.util.Arrays.stream(ts).forEach(Tensor::close));
        timestepTensors.clear();
    }

    private void validate(GenerationRequest r) {
        if (r.guided()) {
            if (!denoiser.isConditional()) {
                throw new IllegalArgumentException("guidance scale " + r.guidanceScale() + " needs a class-conditional "
                        + "model; this model is unconditional (use guidance <= 1)");
            }
            if (r.classLabels() == null) {
                throw new IllegalArgumentException("guidance needs class labels (choose a class)");
            }
        }
        if (r.classLabels() != null) {
            if (!denoiser.isConditional()) {
                throw new IllegalArgumentException("this model is unconditional: it takes no class labels");
            }
            for (int c : r.classLabels()) {
                boolean isNull = c == denoiser.nullClassId();
                boolean knownRange = denoiser.numClasses() > 0; // without diffusion4j.json the count is unknown
                if (c < 0 || knownRange && c >= denoiser.numClasses() && !isNull) {
                    throw new IllegalArgumentException("class " + c + " is out of range: this model has classes 0.."
                            + (denoiser.numClasses() - 1)
                            + (denoiser.nullClassId() >= 0 ? " (and " + denoiser.nullClassId() + " = unconditional)" : ""));
                }
            }
        }
        if (r.initNoise() != null && r.initNoise().size(0) != r.batchSize()) {
            throw new IllegalArgumentException("initial noise " + r.initNoise().describe() + " has a batch of "
                    + r.initNoise().size(0) + ", the request asks for " + r.batchSize());
        }
        if (r.initNoise() != null && sampleShape != null) {
            long[] expected = batchShape(r.batchSize());
            if (!Arrays.equals(expected, r.initNoise().shape())) {
                throw new IllegalArgumentException("initial noise " + r.initNoise().describe() + " does not match the "
                        + "model's sample shape " + Arrays.toString(expected));
            }
        }
        if (r.mask() != null) {
            long[] img = r.image().shape();
            long[] m = r.mask().shape();
            if (m.length != img.length || m[m.length - 1] != img[img.length - 1] || m[m.length - 2] != img[img.length - 2]) {
                throw new IllegalArgumentException("mask " + Arrays.toString(m) + " does not match the input image "
                        + Arrays.toString(img) + " (height and width must be equal)");
            }
        }
        if (r.image() != null && sampleShape != null) {
            long[] img = r.image().shape();
            long[] expected = batchShape((int) img[0]);
            if (!Arrays.equals(img, expected)) {
                throw new IllegalArgumentException("input image " + r.image().describe() + " does not match the model's "
                        + "sample shape " + Arrays.toString(sampleShape));
            }
        }
    }

    private long[] resolveShape(GenerationRequest r) {
        if (r.initNoise() != null) {
            return r.initNoise().shape();
        }
        if (sampleShape != null) {
            return batchShape(r.batchSize());
        }
        if (r.image() != null) {
            long[] s = r.image().shape();
            s[0] = r.batchSize();
            return s;
        }
        throw new IllegalArgumentException("the sample shape is unknown (the model folder has no diffusion4j.json): "
                + "give the pipeline a sample shape (CLI: --sample-shape C,H,W) or an initial noise tensor");
    }

    private long[] batchShape(int batch) {
        long[] s = new long[sampleShape.length + 1];
        s[0] = batch;
        System.arraycopy(sampleShape, 0, s, 1, sampleShape.length);
        return s;
    }

    private Tensor labels(GenerationRequest r, int batch) {
        if (!denoiser.isConditional()) {
            return null;
        }
        long[] ids = new long[batch];
        int[] given = r.classLabels();
        for (int i = 0; i < batch; i++) {
            ids[i] = given != null ? given[i] : denoiser.nullClassId();
        }
        if (given == null && denoiser.nullClassId() < 0) {
            throw new IllegalArgumentException("this model is class-conditional and has no null class (diffusion4j.json "
                    + "null_class_id): choose a class");
        }
        Tensor t = Tensor.fromLongs(ids, batch);
        return denoiser.device().isCuda() ? t.to(denoiser.device()) : t;
    }

    private static Tensor broadcastBatch(Tensor t, int batch, String what) {
        if (t.size(0) == batch) {
            return t;
        }
        if (t.size(0) == 1) {
            long[] reps = new long[t.dim()];
            Arrays.fill(reps, 1);
            reps[0] = batch;
            return t.repeat(reps);
        }
        throw new IllegalArgumentException(what + " " + t.describe() + " has a batch of " + t.size(0)
                + "; give 1 or " + batch);
    }

    private static void checkCancelled(GenerationRequest r, int done, int total) {
        if ((r.cancellation() != null && r.cancellation().isCancelled()) || Thread.currentThread().isInterrupted()) {
            throw new CancellationException("sampling cancelled after " + done + " of " + total + " steps");
        }
    }
}
