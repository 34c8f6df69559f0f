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
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.serving.BatchingEngine;
import io.diffusion4j.serving.EngineConfig;
import io.diffusion4j.serving.Submission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What the batching engine's per-row bookkeeping costs: B requests of one sample each through the engine (one forward
 * per step, then a scheduler step per request on its rows) against the same B samples as one batched pipeline request
 * (one scheduler step on the whole batch) and against the forwards alone. Digits, DDIM, guidance 3. Medians of
 * interleaved repeats after a warm-up.
 *
 * <pre>EngineOverhead [batch=16] [steps=20] [repeats=7] [threads=1]</pre>
 */
public final class EngineOverhead {
    private EngineOverhead() {
    }

    public static void main(String[] args) throws Exception {
        int batch = args.length > 0 ? Integer.parseInt(args[0]) : 16;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 7;
        Torch.setThreads(args.length > 3 ? Integer.parseInt(args[3]) : 1);
        ModelFolder folder = ModelFolder.builtin("digits");
        Scheduler ddim = Schedulers.byName("ddim", folder.schedulerConfig(), 0);
        try (Denoiser model = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             DiffusionPipeline pipeline = new DiffusionPipeline(model, ddim, folder.spec().sampleShape());
             BatchingEngine engine = new BatchingEngine(model, folder.spec().sampleShape(), new EngineConfig(batch, batch),
                     "bench")) {
            double[] forward = new double[repeats];
            double[] grouped = new double[repeats];
            double[] rows = new double[repeats];
            for (int r = -2; r < repeats; r++) { // two warm-up rounds
                double f = forwardOnly(model, batch, steps);
                long t0 = System.nanoTime();
                try (NativeScope s = new NativeScope()) {
                    pipeline.generate(GenerationRequest.builder().steps(steps).seed(r).batchSize(batch).classLabels(3)
                            .guidanceScale(3).build());
                }
                double g = (System.nanoTime() - t0) / 1e6;
                t0 = System.nanoTime();
                List<Submission> subs = new ArrayList<>();
                // all queued before the engine's first step boundary is likely but not certain; count engine steps
                long stepsBefore = engine.stats().steps();
                for (int k = 0; k < batch; k++) {
                    subs.add(engine.submit(GenerationRequest.builder().steps(steps).seed(r * 100 + k).classLabels(3)
                            .guidanceScale(3).build(), ddim, null));
                }
                for (Submission s : subs) {
                    s.result().get().close();
                }
                double e = (System.nanoTime() - t0) / 1e6;
                long engineSteps = engine.stats().steps() - stepsBefore;
                if (r >= 0) {
                    forward[r] = f;
                    grouped[r] = g;
                    rows[r] = e * steps / engineSteps; // per `steps` engine steps, whatever the admission split
                }
            }
            double fm = median(forward);
            double gm = median(grouped);
            double em = median(rows);
            System.out.printf(Locale.ROOT, "digits DDIM-%d guided, %d samples, %d thread(s), median of %d:%n", steps,
                    batch, Torch.threads(), repeats);
            System.out.printf(Locale.ROOT, "  forwards only (batch %d): %.2f ms%n", 2 * batch, fm);
            System.out.printf(Locale.ROOT, "  pipeline, one request of %d (grouped step): %.2f ms (%.1f us/step over "
                    + "the forwards)%n", batch, gm, (gm - fm) * 1000 / steps);
            System.out.printf(Locale.ROOT, "  engine, %d requests of 1 (per-row step): %.2f ms (%.1f us/step over the "
                    + "forwards, %.1f us per row-step over the grouped step)%n", batch, em, (em - fm) * 1000 / steps,
                    (em - gm) * 1000 / steps / batch);
        }
    }

    private static double forwardOnly(Denoiser model, int batch, int steps) {
        try (InferenceGuard g = Torch.inferenceMode(); NativeScope s = new NativeScope()) {
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, 2L * batch, 1, 8, 8);
            long[] labels = new long[2 * batch];
            Arrays.fill(labels, 3);
            Tensor l = Tensor.fromLongs(labels, 2L * batch);
            long t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                try (NativeScope step = new NativeScope()) {
                    Tensor t = Tensor.full(999 - 50 * i, DType.INT64, Device.CPU, 2L * batch);
                    model.predict(x, t, l);
                }
            }
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
