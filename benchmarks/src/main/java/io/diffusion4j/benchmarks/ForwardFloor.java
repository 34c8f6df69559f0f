package io.diffusion4j.benchmarks;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.bindings.TorchScriptRuntime.GraphExecutor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.Networks;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The model's own forward under each way LibTorch can run it, in one JVM, rounds interleaved so that all variants see
 * the same machine: the plain module, the frozen one (the inference default), frozen under the simple and the legacy
 * graph executor, frozen with no-grad instead of inference mode, and (toy2d) the Java-built {@code torch::nn} MLP of
 * the same layer sizes (random weights: a speed figure only). Each variant is its own loaded module, made while its
 * executor is chosen (an executor is fixed when a method first runs). Prints µs per forward (median and min over
 * rounds) and each variant's largest difference from the plain module's output on the same input.
 *
 * <p>Usage: {@code ForwardFloor [model=toy2d] [batch=1] [threads=1] [rounds=25] [calls=auto]}; with
 * {@code loop VARIANT SECONDS} after them it only runs that variant's forward for that long (for {@code perf record}).
 */
public final class ForwardFloor {
    private ForwardFloor() {
    }

    /** One way of running the forward: a module (or network) and the guard it runs under. */
    private record Variant(String name, Denoiser denoiser, boolean inferenceMode) {
    }

    public static void main(String[] args) throws Exception {
        String model = args.length > 0 ? args[0] : "toy2d";
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 25;
        ModelFolder folder = ModelFolder.resolve(model);
        long elements = 1;
        for (long s : folder.spec().batchShape(batch)) {
            elements *= s;
        }
        int calls = args.length > 4 && !args[4].equals("auto") ? Integer.parseInt(args[4])
                : (int) Math.max(5, Math.min(500, 2_000_000 / Math.max(1, elements * 40)));
        Torch.setThreads(threads);
        try (NativeScope outer = new NativeScope()) {
            Map<String, Variant> variants = variants(folder);
            Tensor x = Tensor.randn(io.diffusion4j.bindings.Generator.cpu(0), DType.FLOAT32, Device.CPU,
                    folder.spec().batchShape(batch));
            Tensor t;
            Tensor labels = folder.spec().isConditional() ? Tensor.full(3, DType.INT64, Device.CPU, batch) : null;
            Denoiser plain = variants.get("plain").denoiser();
            t = Tensor.full(500, plain.timestepDType(), Device.CPU, batch);
            if (args.length > 6 && args[5].equals("loop")) {
                loop(variants.get(args[6]), x, t, labels, Double.parseDouble(args.length > 7 ? args[7] : "20"));
                return;
            }
            Tensor reference = run(variants.get("plain"), x, t, labels);
            List<String> names = new ArrayList<>(variants.keySet());
            double[][] us = new double[names.size()][rounds];
            for (int r = -5; r < rounds; r++) {
                for (int v = 0; v < names.size(); v++) {
                    Variant variant = variants.get(names.get(v));
                    long t0 = System.nanoTime();
                    try (InferenceGuard g = variant.inferenceMode() ? Torch.inferenceMode() : Torch.noGrad()) {
                        for (int i = 0; i < calls; i++) {
                            try (NativeScope s = new NativeScope()) {
                                predict(variant.denoiser(), x, t, labels);
                            }
                        }
                    }
                    if (r >= 0) {
                        us[v][r] = (System.nanoTime() - t0) / 1e3 / calls;
                    }
                }
            }
            System.out.printf(Locale.ROOT, "%s batch %d, %d thread(s), %d rounds of %d calls (us per forward)%n",
                    model, batch, Torch.threads(), rounds, calls);
            for (int v = 0; v < names.size(); v++) {
                Variant variant = variants.get(names.get(v));
                String diff = variant.name().startsWith("nn-twin") ? "n/a (other weights)"
                        : String.format(Locale.ROOT, "%.2g", maxAbsDiff(run(variant, x, t, labels), reference));
                System.out.printf(Locale.ROOT, "  %-22s median %10.1f  min %10.1f  max|diff| %s%n", variant.name(),
                        SamplingOverhead.median(us[v]), min(us[v]), diff);
            }
        }
    }

    private static Map<String, Variant> variants(ModelFolder folder) throws Exception {
        Map<String, Variant> out = new LinkedHashMap<>();
        try {
            out.put("plain", new Variant("plain", load(folder, false), true));
            out.put("frozen", new Variant("frozen", load(folder, true), true));
            out.put("frozen-nograd", new Variant("frozen-nograd", load(folder, true), false));
            TorchScriptRuntime.setGraphExecutor(GraphExecutor.SIMPLE);
            out.put("frozen-simple", new Variant("frozen-simple", warm(load(folder, true), folder), true));
            out.put("plain-simple", new Variant("plain-simple", warm(load(folder, false), folder), true));
            TorchScriptRuntime.setGraphExecutor(GraphExecutor.LEGACY);
            out.put("frozen-legacy", new Variant("frozen-legacy", warm(load(folder, true), folder), true));
        } finally {
            TorchScriptRuntime.setGraphExecutor(GraphExecutor.PROFILING);
        }
        long[] shape = folder.spec().sampleShape();
        if (!folder.spec().isConditional() && shape.length == 1 && shape[0] == 2) {
            // toy2d's TorchScript: Linear(34,128) SiLU Linear(128,128) SiLU Linear(128,128) SiLU Linear(128,2), 32-wide
            // sinusoidal time embedding: the same as Networks' MLP of width 128, depth 3
            Supplier<Denoiser> twin = () -> Networks.build(Architecture.mlp(shape, 128, 3, 32), Device.CPU, 0);
            out.put("nn-twin", new Variant("nn-twin", twin.get(), true));
        }
        return out;
    }

    private static Denoiser load(ModelFolder folder, boolean frozen) throws Exception {
        return folder.loadDenoiser(Device.CPU, DType.FLOAT32,
                frozen ? io.diffusion4j.model.ScriptMode.FROZEN : io.diffusion4j.model.ScriptMode.PLAIN);
    }

    /** Runs the denoiser once more so that its executor (chosen now) is made before the mode is switched back. */
    private static Denoiser warm(Denoiser d, ModelFolder folder) {
        try (NativeScope s = new NativeScope(); InferenceGuard g = Torch.inferenceMode()) {
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, folder.spec().batchShape(1));
            Tensor t = Tensor.full(1, d.timestepDType(), Device.CPU, 1);
            predict(d, x, t, folder.spec().isConditional() ? Tensor.full(0, DType.INT64, Device.CPU, 1) : null);
        }
        return d;
    }

    private static Tensor predict(Denoiser d, Tensor x, Tensor t, Tensor labels) {
        return d.predict(x, t, labels);
    }

    private static Tensor run(Variant v, Tensor x, Tensor t, Tensor labels) {
        try (InferenceGuard g = Torch.inferenceMode()) {
            return predict(v.denoiser(), x, t, labels);
        }
    }

    private static void loop(Variant v, Tensor x, Tensor t, Tensor labels, double seconds) {
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        long cpuStart = cpu.getCurrentThreadCpuTime();
        long processStart = processCpuNanos();
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        long n = 0;
        long now;
        try (InferenceGuard g = v.inferenceMode() ? Torch.inferenceMode() : Torch.noGrad()) {
            do {
                try (NativeScope s = new NativeScope()) {
                    predict(v.denoiser(), x, t, labels);
                }
                n++;
                now = System.nanoTime();
            } while (now < end);
        }
        double took = (now - start) / 1e9;
        double cpuTook = (cpu.getCurrentThreadCpuTime() - cpuStart) / 1e9;
        double processTook = (processCpuNanos() - processStart) / 1e9;
        // the calling thread's CPU time: at one intra-op thread the whole forward runs on it, and unlike the wall
        // time it does not count the time the thread waited for a core on a loaded machine; the process's CPU time
        // adds the intra-op workers (spinning or working) and the JVM's own threads
        System.out.printf(Locale.ROOT,
                "%s: %d forwards in %.1f s (%.1f us each) [thread cpu %.1f us each] [process cpu %.1f us each]%n",
                v.name(), n, took, took * 1e6 / n, cpuTook * 1e6 / n, processTook * 1e6 / n);
    }

    private static long processCpuNanos() {
        return java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.OperatingSystemMXBean.class)
                .getProcessCpuTime();
    }

    private static double maxAbsDiff(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double m = 0;
        for (int i = 0; i < x.length; i++) {
            m = Math.max(m, Math.abs(x[i] - y[i]));
        }
        return m;
    }

    private static double min(double[] v) {
        double m = Double.MAX_VALUE;
        for (double d : v) {
            m = Math.min(m, d);
        }
        return m;
    }
}
