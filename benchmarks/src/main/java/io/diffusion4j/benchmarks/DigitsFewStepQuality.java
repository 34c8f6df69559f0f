package io.diffusion4j.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.evaluation.DigitsQuality;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.scheduler.TimestepSpacing;
import io.diffusion4j.tuning.ScheduleTuner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Digits quality per model evaluation at few steps: the digits FD ({@link DigitsQuality}) and classifier accuracy of
 * guided digits (scale 3) from the built-in {@code digits} model, for DDIM (its config's leading spacing, and
 * trailing), DPM-Solver++(2M) and learned schedules ({@link ScheduleTuner}, as {@code tune-schedule} runs it) at 1, 2,
 * 4 and 8 steps, with DDIM-50 and DDPM-1000 as references; with {@code --student=DIR}, also a guidance-distilled
 * student ({@code distill --method guidance}) with DDIM, DPM-Solver++(2M) and learned schedules.
 *
 * <p>NFE counts model evaluations per sample: a guided step of the teacher evaluates the model twice (conditional
 * and unconditional; the pipeline batches both halves into one forward of 2N rows), so k guided steps are 2k NFE;
 * a guidance student evaluates once per guided step (k NFE).
 *
 * <p>Usage: {@code DigitsFewStepQuality OUT.json [--samples=1000] [--only=DDIM-,DPM] [--tune-runs=200]
 * [--calibration=256] [--reference-steps=1000] [--threads=1] [--student=DIR]} (the defaults of {@code tune-schedule}). Samples: sample i has label i * 10 / N (N / 10 per class) and seed
 * 10000 + i; calibration noises of the learned schedules use seeds 1000000 + i (unseen by the measurement).
 */
public final class DigitsFewStepQuality {
    private DigitsFewStepQuality() {
    }

    static final double GUIDANCE = 3.0;
    static final long SEED = 10000;
    static final long CALIBRATION_SEED = 1_000_000;
    static final int[] BUDGETS = {1, 2, 4, 8};

    /**
     * One row: a label, the CLI scheduler name, steps, spacing override (null: the config's), a learned flag, and
     * whether it samples the guidance student instead of the teacher.
     */
    record Row(String label, String scheduler, int steps, TimestepSpacing spacing, boolean learned, boolean student) {
        Row(String label, String scheduler, int steps, TimestepSpacing spacing, boolean learned) {
            this(label, scheduler, steps, spacing, learned, false);
        }
    }

    static List<Row> rows() {
        List<Row> rows = new ArrayList<>();
        rows.add(new Row("DDPM-1000", "ddpm", 1000, null, false));
        rows.add(new Row("DDIM-50", "ddim", 50, null, false));
        for (int k : BUDGETS) {
            rows.add(new Row("DDIM-" + k, "ddim", k, null, false));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("DDIM trailing-" + k, "ddim", k, TimestepSpacing.TRAILING, false));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("DPM-Solver++(2M)-" + k, "dpmsolver++", k, null, false));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("DDIM learned-" + k, "ddim", k, null, true));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("DPM-Solver++(2M) learned-" + k, "dpmsolver++", k, null, true));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("guidance student DDIM-" + k, "ddim", k, null, false, true));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("guidance student DPM-Solver++(2M)-" + k, "dpmsolver++", k, null, false, true));
        }
        for (int k : BUDGETS) {
            rows.add(new Row("guidance student DPM-Solver++(2M) learned-" + k, "dpmsolver++", k, null, true, true));
        }
        return rows;
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 && !args[0].startsWith("--") ? args[0]
                : "benchmarks/results/digits-few-step.json");
        int n = intArg(args, "--samples=", 1000);
        int tuneRuns = intArg(args, "--tune-runs=", 200);
        int calibration = intArg(args, "--calibration=", 256);
        int referenceSteps = intArg(args, "--reference-steps=", 1000);
        int threads = intArg(args, "--threads=", 1);
        List<String> only = List.of(args).stream().filter(a -> a.startsWith("--only="))
                .flatMap(a -> List.of(a.substring(7).split(",")).stream()).toList();
        String studentDir = List.of(args).stream().filter(a -> a.startsWith("--student="))
                .map(a -> a.substring("--student=".length())).findFirst().orElse(null);
        Torch.setThreads(threads);
        ModelFolder teacherFolder = ModelFolder.builtin("digits");
        ModelFolder studentFolder = studentDir == null ? null : ModelFolder.open(Path.of(studentDir));
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i * 10 / n;
        }
        int[] calibrationLabels = new int[calibration];
        for (int i = 0; i < calibration; i++) {
            calibrationLabels[i] = i % 10;
        }
        List<Map<String, Object>> results = new ArrayList<>();
        Map<String, Object> all = new LinkedHashMap<>();
        all.put("date", java.time.LocalDate.now().toString());
        all.put("threads", Torch.threads());
        all.put("model", "digits");
        all.put("samples", n);
        all.put("labels", "sample i has label i * 10 / N");
        all.put("seed", "sample i: " + SEED + " + i");
        all.put("guidance_scale", GUIDANCE);
        all.put("nfe", "model evaluations per sample; a guided step is 2 (conditional + unconditional halves of one "
                + "batched forward)");
        all.put("learned_schedules", Map.of("calibration", calibration, "calibration_seed", CALIBRATION_SEED,
                "calibration_labels", "i % 10", "reference", "DDIM-" + referenceSteps, "max_runs", tuneRuns));
        all.put("rows", results);
        all.put("student", studentDir);
        try (DigitsQuality quality = DigitsQuality.load();
             Denoiser teacher = teacherFolder.loadDenoiser(Device.CPU, DType.FLOAT32);
             Denoiser student = studentFolder == null ? null
                     : studentFolder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            all.put("real_vs_real_fd", realVsReal(quality));
            for (Row row : rows()) {
                if ((!only.isEmpty() && only.stream().noneMatch(row.label()::startsWith))
                        || (row.student() && student == null)) {
                    continue;
                }
                ModelFolder folder = row.student() ? studentFolder : teacherFolder;
                Denoiser model = row.student() ? student : teacher;
                // a guided step of the teacher evaluates the model twice; a guidance student takes w as an input
                int perStep = model.takesGuidanceScale() ? 1 : 2;
                SchedulerConfig config = folder.schedulerConfig();
                if (row.spacing() != null) {
                    config = config.toBuilder().timestepSpacing(row.spacing()).build();
                }
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("sampler", row.label());
                r.put("steps", row.steps());
                if (row.learned()) {
                    Scheduler solver = Schedulers.byName(row.scheduler(), config, 0);
                    ScheduleTuner tuner = new ScheduleTuner(new ScheduleTuner.Config(row.steps(), calibration,
                            CALIBRATION_SEED, referenceSteps, tuneRuns, calibrationLabels, GUIDANCE));
                    ScheduleTuner.Result tuned = tuner.tune(model, solver, folder.spec().sampleShape(), null);
                    config = Schedulers.byName(row.scheduler(), config, 0).config().withTimesteps(tuned.timesteps());
                    r.put("default_timesteps", tuned.initial());
                    r.put("learned_timesteps", tuned.timesteps());
                    r.put("tune_runs", tuned.evaluations());
                    r.put("tune_seconds", round(tuned.seconds(), 1));
                    r.put("tune_error", tuned.error());
                    r.put("tune_initial_error", tuned.initialError());
                }
                Scheduler scheduler = Schedulers.byName(row.scheduler(), config, 0);
                AtomicInteger steps = new AtomicInteger();
                long t0 = System.nanoTime();
                double fd;
                double accuracy;
                double outOfRange;
                try (NativeScope scope = new NativeScope();
                     DiffusionPipeline p = new DiffusionPipeline(model, scheduler, folder.spec().sampleShape())) {
                    Tensor samples = p.generate(GenerationRequest.builder().steps(row.steps()).seed(SEED)
                            .batchSize(n).classLabels(labels).guidanceScale(GUIDANCE)
                            .listener(e -> steps.incrementAndGet()).build());
                    fd = quality.frechetDistance(samples);
                    accuracy = quality.accuracy(samples, labels);
                    outOfRange = outOfRange(samples.toFloatArray());
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                r.put("nfe", perStep * steps.get());
                r.put("digits_fd", fd);
                r.put("accuracy", accuracy);
                r.put("pixels_outside_value_range", outOfRange);
                r.put("seconds", round(seconds, 1));
                results.add(r);
                System.out.printf("%-30s NFE %4d  digits FD %9.3f  accuracy %.3f  outside [-1, 1] %.3f  %.1f s%s%n",
                        row.label(), perStep * steps.get(), fd, accuracy, outOfRange, seconds, row.learned()
                                ? "  learned " + Arrays.toString((long[]) r.get("learned_timesteps")) + " in "
                                + r.get("tune_seconds") + " s" : "");
                write(out, all);
            }
        }
        write(out, all);
        System.out.println("wrote " + out);
    }

    /** The FD of the first half of the real digits to the second: the estimate's floor at this sample size. */
    private static Map<String, Object> realVsReal(DigitsQuality quality) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            Tensor real = io.diffusion4j.bindings.TensorFiles.readResource(DigitsQuality.REAL_DIGITS);
            double all = quality.frechetDistance(real);
            double half = io.diffusion4j.evaluation.FrechetDistance.of(quality.features(real.narrow(0, 0, 898)),
                    quality.features(real.narrow(0, 898, 899)));
            return Map.of("all_1797_vs_all", all, "first_898_vs_last_899", half);
        }
    }

    /** The fraction of values outside [-1, 1] (which the digits FD clamps, as an image would). */
    private static double outOfRange(float[] x) {
        int n = 0;
        for (float v : x) {
            n += v < -1 || v > 1 ? 1 : 0;
        }
        return n / (double) x.length;
    }

    private static void write(Path out, Map<String, Object> all) throws Exception {
        if (out.getParent() != null) {
            Files.createDirectories(out.getParent());
        }
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), all);
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    private static int intArg(String[] args, String prefix, int fallback) {
        return List.of(args).stream().filter(a -> a.startsWith(prefix)).map(a -> Integer.parseInt(
                a.substring(prefix.length()))).findFirst().orElse(fallback);
    }
}
