package io.diffusion4j.benchmarks;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.DoubledInputs;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Schedulers;
import java.util.List;

/**
 * The cost of a classifier-free-guidance step over its model call: N bare forwards at batch 2B (the floor) against N
 * {@link GuidedDenoiser#predict} calls at batch B with the run's timestep tensors, and against the same guidance done
 * the old way (labels and timesteps concatenated every step), rounds interleaved. Prints medians (ms per N calls) and
 * the ratios to the floor.
 *
 * <p>Usage: {@code GuidedOverhead [model=digits] [steps=50] [batch=1] [rounds=30] [threads=1]}
 */
public final class GuidedOverhead {
    private GuidedOverhead() {
    }

    public static void main(String[] args) throws Exception {
        String model = args.length > 0 ? args[0] : "digits";
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 1;
        Torch.setThreads(threads);
        ModelFolder folder = ModelFolder.resolve(model);
        try (Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             SamplingPlan plan = Schedulers.byName("ddim", folder.schedulerConfig(), 0.0).plan(steps);
             InferenceGuard g = Torch.inferenceMode(); NativeScope outer = new NativeScope();
             DoubledInputs shared = new DoubledInputs()) {
            long[] shape = folder.spec().batchShape(batch);
            long[] shape2 = folder.spec().batchShape(2 * batch);
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, shape);
            Tensor x2 = Tensor.zeros(DType.FLOAT32, Device.CPU, shape2);
            Tensor labels = Tensor.full(3, DType.INT64, Device.CPU, batch);
            Tensor labels2 = Tensor.full(3, DType.INT64, Device.CPU, 2 * batch);
            Tensor[] ts = new Tensor[steps];
            Tensor[] ts2 = new Tensor[steps];
            for (int i = 0; i < steps; i++) {
                ts[i] = Tensor.full(plan.modelTimestep(i), d.timestepDType(), Device.CPU, batch);
                ts2[i] = Tensor.full(plan.modelTimestep(i), d.timestepDType(), Device.CPU, 2 * batch);
            }
            double[][] ms = new double[3][rounds];
            for (int r = -5; r < rounds; r++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) {
                    try (NativeScope s = new NativeScope()) {
                        d.predict(x2, ts2[i], labels2);
                    }
                }
                long t1 = System.nanoTime();
                try (GuidedDenoiser guided = new GuidedDenoiser(d, 3.0, shared)) { // one run, as the pipeline does
                    for (int i = 0; i < steps; i++) {
                        try (NativeScope s = new NativeScope()) {
                            guided.predict(x, ts[i], labels);
                        }
                    }
                }
                long t2 = System.nanoTime();
                for (int i = 0; i < steps; i++) {
                    try (NativeScope s = new NativeScope()) {
                        concatenatingEveryStep(d, 3.0, x, ts[i], labels);
                    }
                }
                long t3 = System.nanoTime();
                if (r >= 0) {
                    ms[0][r] = (t1 - t0) / 1e6;
                    ms[1][r] = (t2 - t1) / 1e6;
                    ms[2][r] = (t3 - t2) / 1e6;
                }
            }
            double floor = SamplingOverhead.median(ms[0]);
            double guided = SamplingOverhead.median(ms[1]);
            double old = SamplingOverhead.median(ms[2]);
            System.out.printf("%s guided ddim-%d batch %d, %d threads, %d rounds (medians, ms per %d calls):%n",
                    model, steps, batch, Torch.threads(), rounds, steps);
            System.out.printf("  bare forward at batch %d   %9.3f%n", 2 * batch, floor);
            System.out.printf("  GuidedDenoiser.predict     %9.3f  ratio %.4f  (%.1f us/step over the floor)%n",
                    guided, guided / floor, (guided - floor) * 1000 / steps);
            System.out.printf("  concatenating every step   %9.3f  ratio %.4f  (%.1f us/step over the floor)%n",
                    old, old / floor, (old - floor) * 1000 / steps);
        }
    }

    /** Guidance as it was done before the doubled inputs were cached: three concatenations and a fill per step. */
    private static Tensor concatenatingEveryStep(Denoiser inner, double scale, Tensor sample, Tensor timesteps,
                                                 Tensor classLabels) {
        long b = sample.size(0);
        Tensor nullLabels = Tensor.full(inner.nullClassId(), DType.INT64, classLabels.device(), b);
        Tensor out = inner.predict(Tensor.cat(List.of(sample, sample), 0), Tensor.cat(List.of(timesteps, timesteps), 0),
                Tensor.cat(List.of(nullLabels, classLabels), 0));
        List<Tensor> halves = out.chunk(2, 0);
        Tensor uncond = halves.get(0);
        return uncond.add(halves.get(1).sub(uncond), scale);
    }
}
