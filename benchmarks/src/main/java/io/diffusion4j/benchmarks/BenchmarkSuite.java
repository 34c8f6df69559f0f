package io.diffusion4j.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.DdimScheduler;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The benchmark suite behind BENCHMARKS.md: sampling overhead (Java and, where Debian's python3-torch is installed,
 * the Python baseline), latency under concurrency, and native memory over long runs. Writes one JSON file with
 * every figure. Usage: {@code BenchmarkSuite OUT.json [--quick]}.
 */
public final class BenchmarkSuite {
    private BenchmarkSuite() {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "benchmarks/results.json");
        boolean quick = Arrays.asList(args).contains("--quick");
        int threads = 1;
        Torch.setThreads(threads);
        Map<String, Object> all = new LinkedHashMap<>();
        all.put("date", java.time.LocalDate.now().toString());
        all.put("machine", machine());
        all.put("threads", threads);

        if (Arrays.asList(args).contains("--training-only")) {
            all.put("training", training(quick));
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), all);
            return;
        }
        if (Arrays.asList(args).contains("--concurrency-only")) {
            all.put("concurrency", concurrency(quick));
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), all);
            return;
        }
        String interleaved = Arrays.stream(args).filter(a -> a.startsWith("--schedulers-interleaved="))
                .map(a -> a.substring("--schedulers-interleaved=".length())).findFirst().orElse(null);
        if (interleaved != null) {
            int rounds = Arrays.stream(args).filter(a -> a.startsWith("--rounds=")).map(a -> a.substring(9))
                    .mapToInt(Integer::parseInt).findFirst().orElse(5);
            all.put("scheduler_overhead_interleaved", schedulerOverheadInterleaved(List.of(interleaved.split(",")),
                    rounds, quick));
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), all);
            return;
        }
        if (Arrays.asList(args).contains("--schedulers-only")) {
            all.put("scheduler_overhead", schedulerOverhead(quick));
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), all);
            return;
        }
        List<Map<String, Object>> overhead = new ArrayList<>();
        Object[][] configs = {
            {"toy2d", "ddim", 50, 1}, {"toy2d", "ddim", 50, 256}, {"toy2d", "ddpm", 1000, 1}, {"toy2d", "ddpm", 1000, 256},
            {"digits", "ddim", 50, 1}, {"digits", "ddim", 50, 16}, {"digits", "ddim", 50, 64},
            {"digits", "ddpm", 1000, 1}, {"digits", "ddpm", 1000, 16}, {"digits", "ddpm", 1000, 64},
        };
        for (Object[] c : configs) {
            String model = (String) c[0];
            String sched = (String) c[1];
            int steps = quick ? Math.min(10, (int) c[2]) : (int) c[2];
            int batch = (int) c[3];
            int repeats = quick ? 2 : (steps >= 1000 ? 3 : 15);
            SamplingOverhead.Result r = SamplingOverhead.measure(model, sched, steps, batch, repeats,
                    quick || steps >= 1000 ? 1 : 3, Device.CPU);
            Map<String, Object> row = new LinkedHashMap<>(r.toMap());
            Map<String, Object> py = python(model, sched, steps, batch, repeats, quick || steps >= 1000 ? 1 : 3, threads);
            if (py != null) {
                row.put("python", py);
                row.put("java_over_python_sampling", r.samplingMs() / ((Number) py.get("sampling_ms")).doubleValue());
            }
            if (batch >= 64) {
                // like for like with the Python loop, which draws each step's noise for the batch at once
                SamplingOverhead.Result shared = SamplingOverhead.measure(model, sched, steps, batch, repeats,
                        quick || steps >= 1000 ? 1 : 3, Device.CPU, true);
                row.put("shared_noise", shared.toMap());
                System.out.printf("%-7s %-4s %4d steps batch %3d, shared noise: forward %9.2f ms, sampling %9.2f ms, "
                        + "ratio %.4f, %.1f us/step%n", model, sched, steps, batch, shared.forwardOnlyMs(),
                        shared.samplingMs(), shared.overheadRatio(), shared.overheadUsPerStep());
            }
            System.out.printf("%-7s %-4s %4d steps batch %3d: forward %9.2f ms, sampling %9.2f ms, ratio %.4f, "
                    + "%.1f us/step%s%n", model, sched, steps, batch, r.forwardOnlyMs(), r.samplingMs(), r.overheadRatio(),
                    r.overheadUsPerStep(), py == null ? "" : String.format("  | python: forward %.2f ms, sampling %.2f ms,"
                    + " %.1f us/step", py.get("forward_only_ms"), py.get("sampling_ms"), py.get("overhead_us_per_step")));
            overhead.add(row);
        }
        all.put("sampling_overhead", overhead);
        all.put("scheduler_overhead", schedulerOverhead(quick));
        all.put("concurrency", concurrency(quick));
        all.put("memory", memory(quick ? 2_000 : 20_000));
        all.put("training", training(quick));
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        json.writeValue(out.toFile(), all);
        System.out.println("wrote " + out);
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpus", Runtime.getRuntime().availableProcessors());
        m.put("java", System.getProperty("java.version"));
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("libtorch", Torch.libtorchVersion());
        return m;
    }

    /** The Python baseline for one configuration, or null when python3-torch is missing. */
    @SuppressWarnings("unchecked")
    /**
     * Step overhead of every fixed-step scheduler, 20 steps on toy2d batch 1 (where the scheduler's share is largest)
     * and digits batch 16: the multistep solvers' history and coefficient handling, row by row.
     */
    static List<Map<String, Object>> schedulerOverhead(boolean quick) throws Exception {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (String model : new String[] {"toy2d", "digits"}) {
            int batch = model.equals("toy2d") ? 1 : 16;
            for (String sched : io.diffusion4j.scheduler.Schedulers.NAMES) {
                if (sched.equals("adaptive")) {
                    continue; // picks its own steps: not a per-step figure
                }
                int steps = quick ? 5 : 20;
                int repeats = quick ? 2 : (model.equals("toy2d") ? 30 : 10);
                SamplingOverhead.Result r = SamplingOverhead.measure(model, sched, steps, batch, repeats, quick ? 1 : 5,
                        Device.CPU);
                rows.add(r.toMap());
                System.out.printf("%-7s %-16s %3d steps batch %3d: forward %8.2f ms, sampling %8.2f ms, ratio %.4f, "
                        + "%.1f us/step%n", model, sched, steps, batch, r.forwardOnlyMs(), r.samplingMs(),
                        r.overheadRatio(), r.overheadUsPerStep());
            }
        }
        return rows;
    }

    /**
     * The step overhead of a few schedulers measured in alternation ({@code rounds} rounds, each measuring every
     * scheduler once on toy2d batch 1 and digits batch 16, 20 steps), so that a loaded machine's drift hits every
     * scheduler alike: per scheduler the median over rounds, and per round the ratio to the first scheduler named
     * (the baseline), whose median is the figure to compare.
     */
    static Map<String, Object> schedulerOverheadInterleaved(List<String> names, int rounds, boolean quick)
            throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String model : new String[] {"toy2d", "digits"}) {
            int batch = model.equals("toy2d") ? 1 : 16;
            int steps = quick ? 5 : 20;
            int repeats = quick ? 1 : (model.equals("toy2d") ? 8 : 3);
            Map<String, double[]> usPerStep = new LinkedHashMap<>();
            Map<String, double[]> ratio = new LinkedHashMap<>();
            Map<String, double[]> samplingMs = new LinkedHashMap<>();
            for (String n : names) {
                usPerStep.put(n, new double[rounds]);
                ratio.put(n, new double[rounds]);
                samplingMs.put(n, new double[rounds]);
            }
            for (int round = 0; round < rounds; round++) {
                for (String n : names) {
                    SamplingOverhead.Result r = SamplingOverhead.measure(model, n, steps, batch, repeats, 1, Device.CPU);
                    usPerStep.get(n)[round] = r.overheadUsPerStep();
                    ratio.get(n)[round] = r.overheadRatio();
                    samplingMs.get(n)[round] = r.samplingMs();
                    System.out.printf("round %d %-7s %-16s: sampling %8.2f ms, ratio %.4f, %.1f us/step%n", round,
                            model, n, r.samplingMs(), r.overheadRatio(), r.overheadUsPerStep());
                }
            }
            List<Map<String, Object>> rows = new ArrayList<>();
            double[] base = usPerStep.get(names.get(0));
            for (String n : names) {
                double[] rel = new double[rounds];
                for (int round = 0; round < rounds; round++) {
                    rel[round] = usPerStep.get(n)[round] / base[round];
                }
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("scheduler", n);
                row.put("steps", steps);
                row.put("batch", batch);
                row.put("median_us_per_step", SamplingOverhead.median(usPerStep.get(n)));
                row.put("median_overhead_ratio", SamplingOverhead.median(ratio.get(n)));
                row.put("median_sampling_ms", SamplingOverhead.median(samplingMs.get(n)));
                row.put("median_us_per_step_vs_" + names.get(0), SamplingOverhead.median(rel));
                row.put("us_per_step_by_round", usPerStep.get(n));
                rows.add(row);
            }
            out.put(model, rows);
        }
        return out;
    }

    static Map<String, Object> python(String model, String sched, int steps, int batch, int repeats, int warmup,
                                      int threads) {
        File py = new File("/usr/bin/python3");
        Path script = Path.of("benchmarks/python/sampling_baseline.py");
        Path dir = Path.of("test-models/src/main/resources/io/diffusion4j/models/" + model);
        if (!py.canExecute() || !Files.exists(script) || !Files.isDirectory(dir)) {
            return null;
        }
        try {
            Process p = new ProcessBuilder(py.getPath(), script.toString(), dir.toString(), "--scheduler", sched,
                    "--steps", String.valueOf(steps), "--batch", String.valueOf(batch), "--repeats",
                    String.valueOf(repeats), "--warmup", String.valueOf(warmup), "--threads", String.valueOf(threads))
                    .redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) {
                System.out.println("python baseline skipped: " + text.lines().reduce((a, b) -> b).orElse(""));
                return null;
            }
            String last = text.lines().reduce((a, b) -> b).orElse("{}");
            return new ObjectMapper().readValue(last, Map.class);
        } catch (Exception e) {
            System.out.println("python baseline skipped: " + e.getMessage());
            return null;
        }
    }

    /** Training-step overhead and native memory over many training steps. */
    static Map<String, Object> training(boolean quick) throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        int steps = quick ? 10 : 100;
        // toy2d's step is under a millisecond: warm the JIT up well past both paths' compilation (as JMH would)
        m.put("overhead", List.of(TrainingOverhead.measure("toy2d", 256, quick ? 10 : 1_000, quick ? 10 : 300),
                TrainingOverhead.measure("digits", 64, steps, quick ? 10 : 20)));
        m.put("memory", TrainingMemory.measure("toy2d", 256, quick ? 500 : 5_000));
        return m;
    }

    /** T threads each sampling single images (DDIM-50, digits) from one shared pipeline. */
    static List<Map<String, Object>> concurrency(boolean quick) throws Exception {
        List<Map<String, Object>> rows = new ArrayList<>();
        ModelFolder folder = ModelFolder.builtin("digits");
        try (Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            DiffusionPipeline p = new DiffusionPipeline(d,
                    new DdimScheduler(folder.schedulerConfig().withClassName(DdimScheduler.CLASS_NAME)),
                    folder.spec().sampleShape());
            for (int t : new int[] {1, 2, 4}) {
                int perThread = quick ? 3 : 30;
                ExecutorService pool = Executors.newFixedThreadPool(t);
                List<Future<double[]>> fs = new ArrayList<>();
                long t0 = System.nanoTime();
                for (int k = 0; k < t; k++) {
                    int seedBase = k * 1000;
                    fs.add(pool.submit(() -> {
                        double[] lat = new double[perThread];
                        for (int i = 0; i < perThread; i++) {
                            long s = System.nanoTime();
                            try (NativeScope scope = new NativeScope()) {
                                p.generate(GenerationRequest.builder().steps(50).seed(seedBase + i).classLabels(i % 10)
                                        .build());
                            }
                            lat[i] = (System.nanoTime() - s) / 1e6;
                        }
                        return lat;
                    }));
                }
                List<Double> all = new ArrayList<>();
                for (Future<double[]> f : fs) {
                    for (double v : f.get()) {
                        all.add(v);
                    }
                }
                double wall = (System.nanoTime() - t0) / 1e9;
                pool.shutdown();
                double[] lat = all.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("threads", t);
                row.put("images", lat.length);
                row.put("throughput_images_per_s", lat.length / wall);
                row.put("p50_ms", percentile(lat, 0.50));
                row.put("p99_ms", percentile(lat, 0.99));
                System.out.printf("concurrency T=%d: %.1f images/s, p50 %.1f ms, p99 %.1f ms%n", t, lat.length / wall,
                        percentile(lat, 0.5), percentile(lat, 0.99));
                rows.add(row);
            }
        }
        return rows;
    }

    /** RSS and JavaCPP bytes every 1,000 DDIM steps (toy2d, batch 4, runs of 1,000 steps). */
    static Map<String, Object> memory(int totalSteps) throws Exception {
        ModelFolder folder = ModelFolder.builtin("toy2d");
        MemorySamples samples = new MemorySamples();
        try (Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            DiffusionPipeline p = new DiffusionPipeline(d,
                    new DdimScheduler(folder.schedulerConfig().withClassName(DdimScheduler.CLASS_NAME)).withEta(1.0),
                    folder.spec().sampleShape());
            GenerationRequest r = GenerationRequest.builder().steps(1000).seed(1).batchSize(4).build();
            for (int done = 0; done < totalSteps; done += 1000) {
                try (NativeScope s = new NativeScope()) {
                    p.generate(r);
                }
                samples.take(done + 1000);
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("steps", totalSteps);
        samples.putGrowth(m, 2, "memory over " + totalSteps + " DDIM steps");
        return m;
    }

    static double percentile(double[] sorted, double q) {
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }
}
