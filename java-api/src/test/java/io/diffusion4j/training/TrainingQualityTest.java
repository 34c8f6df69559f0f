package io.diffusion4j.training;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.evaluation.EnergyDistance;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TorchScriptDenoiser;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What training in Java achieves, measured against PyTorch's figures (test-models' reference/quality.json):
 * a toy2d denoiser trained from scratch reaches an energy distance to the true two-moons data within 25% of the
 * PyTorch-trained model's, and fine-tuning digits on one class's images raises that class's share among
 * unconditional samples, as the built-in digits classifier sees them.
 */
@Tag("quality")
class TrainingQualityTest {
    private static JsonNode quality;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() throws IOException {
        Torch.setThreads(1);   // small models: one thread is fastest, and steadier on a shared machine
        try (InputStream in = TrainingQualityTest.class.getClassLoader()
                .getResourceAsStream("io/diffusion4j/reference/quality.json")) {
            quality = new ObjectMapper().readTree(in);
        }
    }

    @AfterAll
    static void restore() {
        TorchScriptRuntime.setGraphOptimization(true);
        Torch.setThreads(2);
    }

    private static int prop(String name, int dflt) {
        return Integer.getInteger("d4j.quality." + name, dflt);
    }

    /**
     * The Java MLP (toy2d's layout, fresh seeded weights) trained on data.pt[2000:] and sampled with DDIM-50 from
     * the seeds of quality.json, against data.pt[0:2000] (the points PyTorch's figure is measured against).
     */
    @Test
    void toy2dFromScratchComesWithin25PercentOfPyTorch() throws IOException {
        JsonNode toy = quality.get("toy2d");
        int n = toy.get("num_samples").asInt();
        double python = toy.get("energy_distance").get("ddim50").asDouble();
        int steps = prop("toy.steps", 20000);
        int batch = prop("toy.batch", 512);
        ModelFolder folder = ModelFolder.builtin("toy2d");
        SchedulerConfig sc = folder.schedulerConfig();
        ModelSpec spec = folder.spec();
        Path train = tmp.resolve("train.pt");
        try (NativeScope scope = new NativeScope()) {
            Tensor all = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt");
            TensorFiles.write(train, all.narrow(0, n, all.size(0) - n));
        }
        TrainingConfig config = TrainingConfig.builder().learningRate(2e-3).lrWarmupSteps(200).cosine(steps)
                .weightDecay(0).emaDecay(0.999).seed(1).build();
        long t0 = System.nanoTime();
        try (NetDenoiser net = Networks.build(Architecture.mlp(new long[] {2}, 128, 3, 32), Device.CPU, 1);
             Trainer trainer = new Trainer(net, sc, spec, config);
             BatchLoader loader = new BatchLoader(TensorFileDataset.read(train, null), batch, 1)) {
            for (int s = 0; s < steps; s++) {
                try (NativeScope step = new NativeScope()) {
                    Batch b = loader.next();
                    trainer.step(b.x0(), null);
                }
            }
            double trainSeconds = (System.nanoTime() - t0) / 1e9;
            trainer.ema().swap();
            net.train(false);
            try (NativeScope scope = new NativeScope();
                 DiffusionPipeline p = new DiffusionPipeline(net, new DdimScheduler(sc.withClassName(
                         DdimScheduler.CLASS_NAME)), spec.sampleShape())) {
                Tensor samples = p.generate(GenerationRequest.builder().steps(50).seed(toy.get("seed").asLong())
                        .batchSize(n).build());
                Tensor data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt").narrow(0, 0, n);
                double ed = EnergyDistance.of(samples.toDoubleArray(), data.toDoubleArray(), 2);
                System.out.printf("quality toy2d from scratch (java mlp, %d steps x %d, %.1f s training): energy "
                        + "distance %.5f (DDIM-50), PyTorch-trained %.5f, bar %.5f, %.1f s in all%n", steps, batch,
                        trainSeconds, ed, python, 1.25 * python, (System.nanoTime() - t0) / 1e9);
                assertTrue(ed <= 1.25 * python, "energy distance " + ed + " more than 25% above PyTorch's " + python);
            }
        }
    }

    /** The share of {@code digit} among unconditional (null-class) DDIM-50 samples of the model, by the classifier. */
    private static double share(Denoiser d, SchedulerConfig sc, TorchScriptModule classifier, int digit, int n,
                                long seed) {
        try (NativeScope scope = new NativeScope();
             DiffusionPipeline p = new DiffusionPipeline(d, new DdimScheduler(sc.withClassName(
                     DdimScheduler.CLASS_NAME)), new long[] {1, 8, 8})) {
            int[] labels = new int[n];
            java.util.Arrays.fill(labels, d.nullClassId());
            Tensor samples = p.generate(GenerationRequest.builder().steps(50).seed(seed).batchSize(n)
                    .classLabels(labels).build());
            long[] predicted;
            try (InferenceGuard inference = Torch.inferenceMode()) {
                predicted = classifier.forward(samples).argmax(1).toLongArray();
            }
            int hits = 0;
            for (long c : predicted) {
                hits += c == digit ? 1 : 0;
            }
            return hits / (double) n;
        }
    }

    /**
     * Fine-tunes the built-in digits model on the 183 threes of its training data, all as the null class (what
     * {@code diffusion4j train} does with unlabelled data), and samples unconditionally before and after with the
     * same seeds: the classifier must see clearly more threes.
     */
    @Test
    void fineTuningDigitsOnOneClassShiftsUnconditionalSamplesTowardsIt() throws IOException {
        int digit = 3;
        int n = prop("digits.samples", 200);
        int steps = prop("digits.steps", 300);
        ModelFolder folder = ModelFolder.builtin("digits");
        SchedulerConfig sc = folder.schedulerConfig();
        Path threes = tmp.resolve("threes.pt");
        int count;
        try (NativeScope scope = new NativeScope()) {
            Tensor x = TensorFiles.readResource("io/diffusion4j/reference/training/digits_data.pt");
            long[] y = TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt").toLongArray();
            List<Tensor> rows = new java.util.ArrayList<>();
            for (int i = 0; i < y.length; i++) {
                if (y[i] == digit) {
                    rows.add(x.narrow(0, i, 1));
                }
            }
            count = rows.size();
            TensorFiles.write(threes, Tensor.cat(rows, 0));
        }
        long t0 = System.nanoTime();
        try (TorchScriptModule classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU);
             TorchScriptModule module = folder.loadModule(Device.CPU);
             Denoiser before = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            double shareBefore = share(before, sc, classifier, digit, n, 4242);
            TrainingConfig config = TrainingConfig.builder().learningRate(1e-4).seed(2).build();
            try (Trainer trainer = new Trainer(module, sc, folder.spec(), config);
                 BatchLoader loader = new BatchLoader(TensorFileDataset.read(threes, null), 32, 2)) {
                for (int s = 0; s < steps; s++) {
                    try (NativeScope step = new NativeScope()) {
                        Batch b = loader.next();
                        trainer.step(b.x0(), Tensor.full(10, DType.INT64, Device.CPU, b.size()));
                    }
                }
                trainer.export(tmp.resolve("tuned"), null, folder.spec());
            }
            double trainSeconds = (System.nanoTime() - t0) / 1e9;
            double shareAfter;
            try (Denoiser after = ModelFolder.open(tmp.resolve("tuned")).loadDenoiser(Device.CPU, DType.FLOAT32)) {
                shareAfter = share(after, sc, classifier, digit, n, 4242);
            }
            System.out.printf("quality digits fine-tuned on the %d threes (%d steps x 32): share of threes among %d "
                    + "unconditional DDIM-50 samples %.3f -> %.3f (%.1f s in all)%n", count, steps, n, shareBefore,
                    shareAfter, (System.nanoTime() - t0) / 1e9);
            assertTrue(shareBefore < 0.3, "before fine-tuning threes should be about a tenth, got " + shareBefore);
            assertTrue(shareAfter >= shareBefore + 0.4, "share of threes " + shareBefore + " -> " + shareAfter);
        }
    }
}
