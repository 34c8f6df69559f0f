package io.diffusion4j.benchmarks;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.pipeline.NoiseSource;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.Schedulers;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Sampling overhead: (a) the floor, N forward calls of the denoiser with the run's shapes and timesteps and nothing
 * else; (b) a full N-step run through the public pipeline. Both in one process, interleaved per repeat, after a
 * warm-up; reports medians, spreads, the ratio b/a and the overhead per step.
 */
public final class SamplingOverhead {

    /** One measurement. Times in milliseconds. */
    public record Result(String model, String scheduler, int steps, int batch, int repeats, int threads, String device,
                         String noise, double forwardOnlyMs, double forwardOnlyMinMs, double forwardOnlyMaxMs,
                         double samplingMs, double samplingMinMs, double samplingMaxMs,
                         double overheadRatio, double overheadUsPerStep) {

        /** The JSON fields the {@code bench} command writes (snake_case, as the issue names them). */
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", model);
            m.put("scheduler", scheduler);
            m.put("steps", steps);
            m.put("batch", batch);
            m.put("repeats", repeats);
            m.put("threads", threads);
            m.put("device", device);
            m.put("noise", noise);
            m.put("forward_only_ms", forwardOnlyMs);
            m.put("forward_only_min_ms", forwardOnlyMinMs);
            m.put("forward_only_max_ms", forwardOnlyMaxMs);
            m.put("sampling_ms", samplingMs);
            m.put("sampling_min_ms", samplingMinMs);
            m.put("sampling_max_ms", samplingMaxMs);
            m.put("overhead_ratio", overheadRatio);
            m.put("overhead_us_per_step", overheadUsPerStep);
            return m;
        }
    }

    private SamplingOverhead() {
    }

    /**
     * Measures one configuration with per-sample seeded noise (diffusers' convention with one generator per sample).
     *
     * @param model     a built-in model name or a model folder
     * @param scheduler a scheduler name ({@code ddpm}, {@code ddim}, ...)
     */
    public static Result measure(String model, String scheduler, int steps, int batch, int repeats, int warmup,
                                 Device device) throws IOException {
        return measure(model, scheduler, steps, batch, repeats, warmup, device, false);
    }

    /**
     * Measures one configuration; {@code sharedNoise} draws each step's noise for the whole batch from one generator
     * ({@link NoiseSource#shared}), as the Python baseline does, instead of one draw per sample.
     */
    public static Result measure(String model, String scheduler, int steps, int batch, int repeats, int warmup,
                                 Device device, boolean sharedNoise) throws IOException {
        if (repeats < 1 || steps < 1 || batch < 1 || warmup < 0) {
            throw new IllegalArgumentException("steps, batch and repeats must be >= 1 and warmup >= 0");
        }
        ModelFolder folder = ModelFolder.resolve(model);
        Scheduler s = Schedulers.byName(scheduler, folder.schedulerConfig(), 0.0); // DDIM eta 0
        try (Denoiser d = folder.loadDenoiser(device, DType.FLOAT32);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, s, folder.spec().sampleShape())) {
            GenerationRequest.Builder rb = GenerationRequest.builder().steps(steps).seed(0).batchSize(batch);
            if (d.isConditional()) {
                rb.classLabels(0);
            }
            GenerationRequest request = rb.build();
            double[] floor = new double[repeats];
            double[] full = new double[repeats];
            for (int r = -warmup; r < repeats; r++) {
                double f = forwardOnly(d, s, folder.spec().batchShape(batch), steps, batch);
                long t0 = System.nanoTime();
                try (NativeScope scope = new NativeScope()) {
                    pipeline.generate(sharedNoise ? rb.noiseSource(NoiseSource.shared(0)).build() : request);
                }
                double p = (System.nanoTime() - t0) / 1e6;
                if (r >= 0) {
                    floor[r] = f;
                    full[r] = p;
                }
            }
            int evaluations;
            try (SamplingPlan plan = s.plan(steps)) {
                evaluations = plan.steps();
            }
            double fm = median(floor);
            double pm = median(full);
            return new Result(model, scheduler, steps, batch, repeats, Torch.threads(), device.toString(),
                    sharedNoise ? "shared" : "per-sample", fm,
                    min(floor), max(floor), pm, min(full), max(full), pm / fm, (pm - fm) * 1000 / evaluations);
        }
    }

    /** N forward calls with the run's shapes and timesteps; inputs made once, each output freed in its own scope. */
    static double forwardOnly(Denoiser d, Scheduler s, long[] shape, int steps, int batch) {
        try (InferenceGuard g = Torch.inferenceMode(); NativeScope outer = new NativeScope();
             SamplingPlan plan = s.plan(steps)) {
            Tensor x = Tensor.zeros(DType.FLOAT32, d.device(), shape);
            Tensor labels = d.isConditional() ? Tensor.full(0, DType.INT64, d.device(), batch) : null;
            int evaluations = plan.steps(); // Heun and PNDM's warm-up evaluate the model more than once per step
            Tensor[] ts = new Tensor[evaluations];
            for (int i = 0; i < evaluations; i++) {
                ts[i] = Tensor.full(plan.modelTimestep(i), d.timestepDType(), d.device(), batch);
            }
            long t0 = System.nanoTime();
            for (int i = 0; i < evaluations; i++) {
                try (NativeScope step = new NativeScope()) {
                    d.predict(x, ts[i], labels);
                }
            }
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        int n = c.length;
        return n % 2 == 1 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    }

    static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }
}
