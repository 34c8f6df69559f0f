package io.diffusion4j.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.evaluation.EnergyDistance;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Quality per model evaluation for every sampler: digits-classifier accuracy on 200 digits (20 per class, guided
 * with scale 3 and label-conditioned only) and the energy distance of toy2d samples to the true data, with the seeds
 * of test-models' quality.json. Usage: {@code QualityPerStep OUT.json [--quick]} ({@code --quick}: 20 samples, a
 * few samplers, for the smoke test; {@code --digits-model=NAME}: the built-in digits denoiser to judge, e.g.
 * {@code digits-unet}, without the toy2d runs).
 */
public final class QualityPerStep {
    private QualityPerStep() {
    }

    /** One sampler setting: a CLI scheduler name, steps (ignored by adaptive) and config keys. */
    record Sampler(String label, String scheduler, int steps, Map<String, Object> extra) {
    }

    static List<Sampler> samplers(boolean quick) {
        List<Sampler> all = new ArrayList<>();
        if (quick) {
            all.add(new Sampler("DDIM-10", "ddim", 10, Map.of("clip_sample", false)));
            all.add(new Sampler("Heun-5", "heun", 5, Map.of()));
            all.add(new Sampler("adaptive rtol 0.1", "adaptive", 1, Map.of("rtol", 0.1)));
            return all;
        }
        all.add(new Sampler("DDPM-1000", "ddpm", 1000, Map.of()));
        for (int n : new int[] {10, 20, 50}) {
            all.add(new Sampler("DDIM-" + n, "ddim", n, Map.of("clip_sample", false)));
        }
        for (int n : new int[] {10, 20}) {
            all.add(new Sampler("DPM-Solver++(2M)-" + n, "dpmsolver++", n, Map.of()));
        }
        all.add(new Sampler("DPM-Solver++(3M)-20", "dpmsolver++", 20, Map.of("solver_order", 3)));
        all.add(new Sampler("DPM-Solver++(2M) Karras-20", "dpmsolver++", 20, Map.of("use_karras_sigmas", true)));
        all.add(new Sampler("SDE-DPM-Solver++(2M)-20", "sde-dpmsolver++", 20, Map.of()));
        for (int n : new int[] {10, 20}) {
            all.add(new Sampler("Euler-" + n, "euler", n, Map.of()));
        }
        all.add(new Sampler("Euler Karras-20", "euler", 20, Map.of("use_karras_sigmas", true)));
        all.add(new Sampler("Euler ancestral-20", "euler-a", 20, Map.of()));
        for (int n : new int[] {10, 20}) {
            all.add(new Sampler("Heun-" + n, "heun", n, Map.of()));
        }
        for (int n : new int[] {10, 20}) {
            all.add(new Sampler("UniPC-" + n, "unipc", n, Map.of()));
        }
        all.add(new Sampler("PNDM-20", "pndm", 20, Map.of()));
        all.add(new Sampler("PNDM (PLMS only)-20", "pndm", 20, Map.of("skip_prk_steps", true)));
        all.add(new Sampler("LMS-20", "lms", 20, Map.of()));
        for (int n : new int[] {10, 20}) {
            all.add(new Sampler("DEIS-" + n, "deis", n, Map.of()));
        }
        all.add(new Sampler("KDPM2-10", "kdpm2", 10, Map.of()));
        all.add(new Sampler("KDPM2-20", "kdpm2", 20, Map.of()));
        for (int n : new int[] {10, 20}) {
            all.add(new Sampler("DPM-Solver++(2S)-" + n, "dpmsolver-single", n, Map.of()));
        }
        all.add(new Sampler("DPM-Solver++(3S)-20", "dpmsolver-single", 20, Map.of("solver_order", 3)));
        all.add(new Sampler("adaptive rtol 0.05", "adaptive", 1, Map.of("rtol", 0.05)));
        all.add(new Sampler("adaptive rtol 0.01", "adaptive", 1, Map.of("rtol", 0.01)));
        return all;
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "benchmarks/results/quality.json");
        boolean quick = List.of(args).contains("--quick");
        // --only=UniPC,PNDM: just the samplers whose label starts with one of these
        List<String> only = List.of(args).stream().filter(a -> a.startsWith("--only="))
                .flatMap(a -> List.of(a.substring(7).split(",")).stream()).toList();
        String digitsModel = List.of(args).stream().filter(a -> a.startsWith("--digits-model="))
                .map(a -> a.substring("--digits-model=".length())).findFirst().orElse("digits");
        Map<String, Object> result = run(quick, only, digitsModel);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), result);
        System.out.println("wrote " + out);
    }

    static Map<String, Object> run(boolean quick) throws Exception {
        return run(quick, List.of(), "digits");
    }

    static Map<String, Object> run(boolean quick, List<String> only, String digitsName) throws Exception {
        boolean withToy = digitsName.equals("digits");
        JsonNode quality;
        try (InputStream in = QualityPerStep.class.getClassLoader()
                .getResourceAsStream("io/diffusion4j/reference/quality.json")) {
            quality = new ObjectMapper().readTree(in);
        }
        int digitsN = quick ? 20 : quality.get("digits").get("num_samples").asInt();
        int toyN = quick ? 50 : quality.get("toy2d").get("num_samples").asInt();
        long digitsSeed = quality.get("digits").get("seed").asLong();
        long toySeed = quality.get("toy2d").get("seed").asLong();
        List<Map<String, Object>> rows = new ArrayList<>();
        ModelFolder digits = ModelFolder.builtin(digitsName);
        ModelFolder toy = ModelFolder.builtin("toy2d");
        try (NativeScope scope = new NativeScope();
             TorchScriptModule classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU);
             Denoiser digitsModel = digits.loadDenoiser(Device.CPU, DType.FLOAT32);
             Denoiser toyModel = toy.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            double[] data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt").narrow(0, 0, toyN)
                    .toDoubleArray();
            int[] labels = new int[digitsN];
            for (int i = 0; i < digitsN; i++) {
                labels[i] = i * 10 / digitsN;
            }
            for (Sampler s : samplers(quick)) {
                if (!only.isEmpty() && only.stream().noneMatch(s.label()::startsWith)) {
                    continue;
                }
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("sampler", s.label());
                row.put("scheduler", s.scheduler());
                row.put("config", s.extra());
                for (double guidance : new double[] {3.0, 1.0}) {
                    Run r = generate(digits, digitsModel, s, digitsN, digitsSeed, labels, guidance);
                    long[] predicted;
                    try (InferenceGuard inference = Torch.inferenceMode()) {
                        predicted = classifier.forward(r.samples).argmax(1).toLongArray();
                    }
                    int correct = 0;
                    for (int i = 0; i < digitsN; i++) {
                        correct += predicted[i] == labels[i] ? 1 : 0;
                    }
                    String key = guidance > 1 ? "digits_guided" : "digits_label_only";
                    row.put(key + "_accuracy", correct / (double) digitsN);
                    row.put(key + "_model_evaluations", r.evaluations);
                    row.put(key + "_seconds", r.seconds);
                }
                System.out.printf("%-28s %s guided %.3f (%d NFE), label only %.3f (%d NFE)", s.label(), digitsName,
                        row.get("digits_guided_accuracy"), row.get("digits_guided_model_evaluations"),
                        row.get("digits_label_only_accuracy"), row.get("digits_label_only_model_evaluations"));
                if (withToy) {
                    Run t = generate(toy, toyModel, s, toyN, toySeed, null, 1.0);
                    row.put("toy2d_energy_distance", EnergyDistance.of(t.samples.toDoubleArray(), data, 2));
                    row.put("toy2d_model_evaluations", t.evaluations);
                    System.out.printf(", toy2d energy distance %.5f (%d NFE)", row.get("toy2d_energy_distance"),
                            t.evaluations);
                }
                System.out.println();
                rows.add(row);
            }
        }
        Map<String, Object> all = new LinkedHashMap<>();
        all.put("date", java.time.LocalDate.now().toString());
        all.put("threads", Torch.threads());
        all.put("digits_model", digitsName);
        all.put("digits_samples", digitsN);
        all.put("digits_seed", digitsSeed);
        all.put("toy2d_samples", toyN);
        all.put("toy2d_seed", toySeed);
        all.put("toy2d_true_vs_true", quality.get("toy2d").get("energy_distance").get("noise_floor_true_vs_true")
                .asDouble());
        all.put("rows", rows);
        return all;
    }

    private record Run(Tensor samples, int evaluations, double seconds) {
    }

    private static Run generate(ModelFolder folder, Denoiser model, Sampler s, int n, long seed, int[] labels,
                                double guidance) {
        SchedulerConfig.Builder config = folder.schedulerConfig().toBuilder();
        s.extra().forEach((k, v) -> {
            if (k.equals("clip_sample")) {
                config.clipSample((Boolean) v);
            } else {
                config.putExtra(k, v);
            }
        });
        Scheduler scheduler = Schedulers.byName(s.scheduler(), config.build(), 0);
        AtomicInteger evaluations = new AtomicInteger();
        GenerationRequest.Builder r = GenerationRequest.builder().steps(s.steps()).seed(seed).batchSize(n)
                .listener(e -> evaluations.incrementAndGet());
        if (labels != null) {
            r.classLabels(labels).guidanceScale(guidance);
        }
        long t0 = System.nanoTime();
        try (DiffusionPipeline p = new DiffusionPipeline(model, scheduler, folder.spec().sampleShape())) {
            Tensor samples = p.generate(r.build());
            return new Run(samples, evaluations.get(), (System.nanoTime() - t0) / 1e9);
        }
    }
}
