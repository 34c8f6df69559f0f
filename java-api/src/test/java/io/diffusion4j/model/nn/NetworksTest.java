package io.diffusion4j.model.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.ShadowWeights;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelFolderException;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Java-built torch::nn denoisers: with the built-in models' layouts and their PyTorch-trained weights they compute
 * what the TorchScript models compute (so the Java layers, embeddings and wiring are PyTorch's); they train with the
 * Trainer, checkpoint, resume bit for bit, export a model folder that ModelFolder rebuilds and the pipeline samples.
 */
class NetworksTest {
    @TempDir
    Path tmp;

    @AfterAll
    static void restore() {
        TorchScriptRuntime.setGraphOptimization(true);
    }

    static Architecture toyArch() {
        return Architecture.mlp(new long[] {2}, 128, 3, 32);
    }

    static Architecture digitsArch() {
        return Architecture.unet(new long[] {1, 8, 8}, 32, 2, 64, 10);
    }

    /** Copies the TorchScript module's weights into the network by name (the layouts must agree). */
    private static void copyWeights(TorchScriptModule from, NetDenoiser to) {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> src = from.namedParameters();
            LinkedHashMap<String, Tensor> dst = to.namedParameters();
            assertEquals(src.keySet(), dst.keySet(), "parameter names");
            List<Tensor> ordered = new ArrayList<>();
            for (String k : dst.keySet()) {
                assertArrayEquals(src.get(k).shape(), dst.get(k).shape(), k);
                ordered.add(src.get(k));
            }
            try (ShadowWeights copy = ShadowWeights.copyOf(ordered)) {
                copy.copyTo(new ArrayList<>(dst.values()));
            }
        }
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

    @Test
    void theMlpWithToy2dsWeightsComputesToy2d() throws IOException {
        try (TorchScriptModule ts = ModelFolder.builtin("toy2d").loadModule(Device.CPU);
             NetDenoiser net = Networks.build(toyArch(), Device.CPU);
             NativeScope scope = new NativeScope()) {
            copyWeights(ts, net);
            Tensor x = Tensor.randn(io.diffusion4j.bindings.Generator.cpu(1), DType.FLOAT32, Device.CPU, 16, 2);
            Tensor t = Tensor.fromLongs(new long[] {0, 1, 5, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, 990,
                999}, 16);
            double d = maxAbsDiff(ts.forward(x, t), net.forward(x, t, null));
            System.out.printf("java mlp vs toy2d TorchScript: max |diff| %.2e%n", d);
            assertTrue(d < 1e-5, "max |diff| " + d);
        }
    }

    @Test
    void theUNetWithDigitsWeightsComputesDigits() throws IOException {
        try (TorchScriptModule ts = ModelFolder.builtin("digits").loadModule(Device.CPU);
             NetDenoiser net = Networks.build(digitsArch(), Device.CPU);
             NativeScope scope = new NativeScope()) {
            copyWeights(ts, net);
            Tensor x = Tensor.randn(io.diffusion4j.bindings.Generator.cpu(2), DType.FLOAT32, Device.CPU, 6, 1, 8, 8);
            Tensor t = Tensor.fromLongs(new long[] {0, 10, 250, 500, 750, 999}, 6);
            Tensor y = Tensor.fromLongs(new long[] {0, 3, 7, 9, 10, 10}, 6);
            double d = maxAbsDiff(ts.forward(x, t, y), net.forward(x, t, y));
            System.out.printf("java unet vs digits TorchScript: max |diff| %.2e%n", d);
            assertTrue(d < 1e-5, "max |diff| " + d);
        }
    }

    @Test
    void stateDictsRoundTripAndMismatchesAreExplained() throws IOException {
        Path f = tmp.resolve("w.pt");
        try (NetDenoiser a = Networks.build(toyArch(), Device.CPU, 1);
             NetDenoiser b = Networks.build(toyArch(), Device.CPU, 2);
             NetDenoiser other = Networks.build(Architecture.mlp(new long[] {2}, 64, 3, 32), Device.CPU, 1);
             NativeScope scope = new NativeScope()) {
            a.saveWeights(tmp);
            b.loadWeights(tmp.resolve(NetDenoiser.WEIGHTS_FILE));
            LinkedHashMap<String, Tensor> pa = a.namedParameters();
            LinkedHashMap<String, Tensor> pb = b.namedParameters();
            for (String k : pa.keySet()) {
                assertArrayEquals(pa.get(k).detach().toFloatArray(), pb.get(k).detach().toFloatArray(), k);
            }
            // a plain tensor file (Python's torch.save(tensor)) is not a state dict
            TensorFiles.write(f, Tensor.zeros(DType.FLOAT32, Device.CPU, 3));
            IOException e = assertThrows(IOException.class, () -> b.loadWeights(f));
            assertTrue(e.getMessage().contains("expected a state dict"), e.getMessage());
            e = assertThrows(IOException.class, () -> other.loadWeights(tmp.resolve(NetDenoiser.WEIGHTS_FILE)));
            assertTrue(e.getMessage().contains("net.0.weight has shape [128, 34], the parameter [64, 34]"),
                    e.getMessage());
        }
    }

    @Test
    void architecturesAreValidatedAndRoundTripThroughJson() throws Exception {
        Architecture a = digitsArch();
        assertEquals(a, Architecture.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(a.toJson())));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Architecture.unet(new long[] {1, 7, 8}, 32, 2, 64, 0));
        assertTrue(e.getMessage().contains("even H and W"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Architecture.fromJson(new com.fasterxml.jackson.databind.ObjectMapper()
                        .readTree("{\"type\": \"transformer\"}")));
        assertTrue(e.getMessage().contains("mlp or unet"), e.getMessage());
    }

    /** Trains a Java MLP from scratch on toy2d data: loss falls, resume is bit-exact, the export samples. */
    @Test
    void aJavaMlpTrainsCheckpointsResumesAndExports() throws IOException {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        ModelSpec spec = new ModelSpec("toy2d-mlp", "denoiser", new long[] {2}, null,
                List.of("sample", "timestep"), DType.INT64, 0, -1);
        TrainingConfig config = TrainingConfig.builder().learningRate(2e-3).emaDecay(0.99).seed(3).build();
        try (NativeScope scope = new NativeScope()) {
            Tensor data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt");
            double[] straight = new double[20];
            float[] straightWeights;
            try (NetDenoiser net = Networks.build(toyArch(), Device.CPU, 11);
                 Trainer t = new Trainer(net, toy.schedulerConfig(), spec, config)) {
                for (int s = 0; s < 20; s++) {
                    try (NativeScope step = new NativeScope()) {
                        straight[s] = t.step(data.narrow(0, s * 128, 128), null);
                    }
                    if (s == 9) {
                        t.saveTo(tmp.resolve("ck"));
                    }
                }
                straightWeights = flat(net);
                t.export(tmp.resolve("out"), null, spec);
            }
            double first = (straight[0] + straight[1] + straight[2]) / 3;
            double last = (straight[17] + straight[18] + straight[19]) / 3;
            assertTrue(last < first * 0.8, "loss " + first + " -> " + last);
            try (Trainer r = Trainer.resume(tmp.resolve("ck"), Device.CPU)) {
                assertEquals(10, r.step());
                for (int s = 10; s < 20; s++) {
                    try (NativeScope step = new NativeScope()) {
                        assertEquals(straight[s], r.step(data.narrow(0, s * 128, 128), null), 0.0, "step " + s);
                    }
                }
                assertArrayEquals(straightWeights, flat((NetDenoiser) r.model()), "resumed weights");
            }
            assertTrue(Files.isRegularFile(tmp.resolve("out").resolve(NetDenoiser.WEIGHTS_FILE)));
            assertTrue(Files.readString(tmp.resolve("out").resolve(ModelSpec.FILE_NAME)).contains("\"architecture\""));
            ModelFolder exported = ModelFolder.open(tmp.resolve("out"));
            assertEquals(toyArch(), exported.architecture());
            try (Denoiser d = exported.loadDenoiser(Device.CPU, DType.FLOAT32);
                 DiffusionPipeline p = new DiffusionPipeline(d, new DdimScheduler(
                         toy.schedulerConfig().withClassName(DdimScheduler.CLASS_NAME)), new long[] {2})) {
                Tensor x = p.generate(GenerationRequest.builder().steps(10).seed(1).batchSize(8).build());
                assertArrayEquals(new long[] {8, 2}, x.shape());
                assertTrue(x.allFinite());
            }
        }
    }

    @Test
    void aFolderWithAnArchitectureButNoWeightsIsRejected() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(dir.resolve(ModelSpec.FILE_NAME), "{\"name\": \"x\", \"sample_shape\": [2], "
                + "\"architecture\": " + toyArch().toJson() + "}");
        ModelFolderException e = assertThrows(ModelFolderException.class, () -> ModelFolder.open(dir));
        assertTrue(e.getMessage().contains("weights.pt is missing"), e.getMessage());
    }

    private static float[] flat(NetDenoiser n) {
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> parts = new ArrayList<>();
            for (Tensor p : n.parameters()) {
                parts.add(p.detach().reshape(-1));
            }
            return Tensor.cat(parts, 0).toFloatArray();
        }
    }
}
