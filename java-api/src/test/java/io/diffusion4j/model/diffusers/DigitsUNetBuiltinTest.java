package io.diffusion4j.model.diffusers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in diffusers-format model {@code digits-unet} (trained with diffusers' own UNet2DModel and DDPMScheduler,
 * test-models/make_diffusers_digits.py): it opens as a diffusers pipeline folder with a null class, and a Java
 * fine-tune exports a diffusers folder that reloads with the same forward. Set
 * {@code -Ddiffusion4j.exportCheckDir=DIR} to leave the export and a forward pair there for
 * {@code test-models/check_diffusers_export.py} (diffusers' own from_pretrained).
 */
class DigitsUNetBuiltinTest {
    static final String NAME = "digits-unet";

    @TempDir
    Path tmp;

    @Test
    void opensAsAClassConditionalDiffusersPipelineWithANullClass() throws Exception {
        ModelFolder folder = ModelFolder.resolve(NAME);
        assertTrue(folder.diffusers() != null, "a diffusers folder");
        assertEquals("DDPMPipeline", folder.diffusers().pipelineClass());
        assertEquals(10, folder.spec().nullClassId());
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            assertTrue(d.isConditional());
            assertEquals(10, d.numClasses());
            assertEquals(10, d.nullClassId());
        }
    }

    @Test
    void fineTuneExportsADiffusersFolderWithTheSameForward() throws Exception {
        ModelFolder folder = ModelFolder.resolve(NAME);
        Path out = tmp.resolve("tuned");
        try (NativeScope scope = new NativeScope();
             UNet2DModel model = (UNet2DModel) folder.loadTrainable(Device.CPU);
             Trainer trainer = new Trainer(model, folder.schedulerConfig(), folder.spec(),
                     TrainingConfig.builder().learningRate(1e-3).emaDecay(0.9).labelDropout(0.15).seed(4).build())) {
            Tensor data = TensorFiles.readResource("io/diffusion4j/reference/training/digits_data.pt").narrow(0, 0, 16);
            Tensor labels = TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt")
                    .narrow(0, 0, 16);
            for (int i = 0; i < 3; i++) {
                try (NativeScope step = new NativeScope()) {
                    trainer.step(data, labels);
                }
            }
            trainer.export(out, null, folder.spec());
            Tensor x = Tensor.randn(Generator.cpu(21), DType.FLOAT32, Device.CPU, 4, 1, 8, 8);
            Tensor t = Tensor.fromFloats(new float[] {3, 250, 600, 999}, 4);
            Tensor y = Tensor.fromLongs(new long[] {0, 7, 10, 3}, 4);
            // the export holds the EMA weights: the in-memory model with the EMA swapped in is the reference
            model.train(false);
            trainer.ema().swap();
            Tensor inMemory = model.predict(x, t, y);
            trainer.ema().swap();
            try (Denoiser back = ModelFolder.open(out).loadDenoiser(Device.CPU, DType.FLOAT32)) {
                assertEquals(10, back.nullClassId(), "diffusion4j.json keeps the null class");
                Tensor reloaded = back.predict(x, t, y);
                double diff = UNet2DParityTest.maxAbs(reloaded.sub(inMemory));
                System.out.printf("digits-unet fine-tune: exported and reloaded forward within %.3g%n", diff);
                assertTrue(diff <= 1e-6, "max |reloaded - in memory| = " + diff);
                Map<String, Tensor> before = io.diffusion4j.bindings.Safetensors.read(
                        folder.diffusers().weights());
                Map<String, Tensor> after = io.diffusion4j.bindings.Safetensors.read(
                        out.resolve("unet/diffusion_pytorch_model.safetensors"));
                assertEquals(before.keySet(), after.keySet());
                assertTrue(UNet2DParityTest.maxAbs(after.get("class_embedding.weight")
                        .sub(before.get("class_embedding.weight"))) > 0, "the fine-tune changed the weights");
                String check = System.getProperty("diffusion4j.exportCheckDir");
                if (check != null) {
                    Path c = Path.of(check);
                    Files.createDirectories(c);
                    copyTree(out, c.resolve("export"));
                    TensorFiles.write(c.resolve("sample.pt"), x);
                    TensorFiles.write(c.resolve("timesteps.pt"), t);
                    TensorFiles.write(c.resolve("class_labels.pt"), y);
                    TensorFiles.write(c.resolve("java_output.pt"), reloaded);
                }
            }
        }
        assertEquals(UNet2DConfig.fromJson(Files.readString(folder.diffusers().unetDir().resolve("config.json")), "a"),
                UNet2DConfig.fromJson(Files.readString(out.resolve("unet/config.json")), "b"));
    }

    private static void copyTree(Path from, Path to) throws java.io.IOException {
        try (var files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
