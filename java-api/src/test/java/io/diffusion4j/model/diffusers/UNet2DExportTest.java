package io.diffusion4j.model.diffusers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Safetensors;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelFolderException;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fine-tune + export in diffusers' layout and back; config and weight errors that name the key or tensor; reduced
 * precision weights. Set {@code -Ddiffusion4j.exportCheckDir=DIR} to also leave the export and a forward pair there
 * for {@code test-models/check_diffusers_export.py} (diffusers' own from_pretrained).
 */
class UNet2DExportTest {

    @TempDir
    Path tmp;

    private Path copy(String name) throws Exception {
        return UNet2DParityTest.copy(name, tmp);
    }

    @Test
    void fineTunedExportLoadsBackWithTheSameForward() throws Exception {
        Path src = copy("attn");
        ModelFolder folder = ModelFolder.open(src);
        Path out = tmp.resolve("tuned");
        try (NativeScope scope = new NativeScope();
             UNet2DModel model = (UNet2DModel) folder.loadTrainable(Device.CPU);
             Trainer trainer = new Trainer(model, folder.schedulerConfig(), folder.spec(),
                     TrainingConfig.builder().learningRate(1e-3).emaDecay(0.5).seed(3).build())) {
            Tensor data = Tensor.randn(Generator.cpu(11), DType.FLOAT32, Device.CPU, 4, 3, 8, 8).clamp(-1, 1);
            for (int i = 0; i < 3; i++) {
                try (NativeScope step = new NativeScope()) {
                    trainer.step(data, null);
                }
            }
            trainer.export(out, null, folder.spec());
            Tensor x = TensorFiles.readResource(UNet2DParityTest.ROOT + "attn-io/sample.pt");
            Tensor t = Tensor.fromFloats(new float[] {10, 637}, 2);
            // the export holds the EMA weights: compare against the trainer's EMA model
            trainer.export(tmp.resolve("again"), null, folder.spec());
            try (Denoiser back = ModelFolder.open(out).loadDenoiser(Device.CPU, DType.FLOAT32);
                 Denoiser again = ModelFolder.open(tmp.resolve("again")).loadDenoiser(Device.CPU, DType.FLOAT32)) {
                Tensor y = back.predict(x, t, null);
                assertEquals(0.0, UNet2DParityTest.maxAbs(y.sub(again.predict(x, t, null))));
                Map<String, Tensor> exported = Safetensors.read(out.resolve("unet/diffusion_pytorch_model.safetensors"));
                Map<String, Tensor> original = Safetensors.read(src.resolve("unet/diffusion_pytorch_model.safetensors"));
                assertEquals(original.keySet(), exported.keySet());
                assertTrue(UNet2DParityTest.maxAbs(exported.get("conv_in.weight").sub(original.get("conv_in.weight")))
                        > 0, "the fine-tune changed the weights");
                // the export is the EMA (decay 0.5 over 3 steps), not the raw weights
                Map<String, Tensor> raw = model.namedParameters();
                assertTrue(UNet2DParityTest.maxAbs(exported.get("conv_in.weight").sub(raw.get("conv_in.weight"))) > 0);
                String check = System.getProperty("diffusion4j.exportCheckDir");
                if (check != null) {
                    Path c = Path.of(check);
                    Files.createDirectories(c);
                    copyTree(out, c.resolve("export"));
                    TensorFiles.write(c.resolve("sample.pt"), x);
                    TensorFiles.write(c.resolve("timesteps.pt"), t);
                    TensorFiles.write(c.resolve("java_output.pt"), y);
                }
            }
        }
        assertTrue(Files.readString(out.resolve("model_index.json")).contains("UNet2DModel"));
        assertTrue(Files.isRegularFile(out.resolve("scheduler/scheduler_config.json")));
        assertEquals(UNet2DConfig.fromJson(Files.readString(src.resolve("unet/config.json")), "src"),
                UNet2DConfig.fromJson(Files.readString(out.resolve("unet/config.json")), "out"));
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

    private static String error(Path dir) {
        Exception e = assertThrows(Exception.class, () -> {
            try (Denoiser d = ModelFolder.open(dir).loadDenoiser(Device.CPU, DType.FLOAT32)) {
                d.dtype();
            }
        });
        assertTrue(e instanceof ModelFolderException, e.toString());
        return e.getMessage();
    }

    private static void editConfig(Path dir, String from, String to) throws Exception {
        Path c = dir.resolve("unet/config.json");
        String text = Files.readString(c);
        assertTrue(text.contains(from), from);
        Files.writeString(c, text.replace(from, to));
    }

    @Test
    void configErrorsNameTheKey() throws Exception {
        Path dir = copy("attn");
        editConfig(dir, "\"act_fn\": \"silu\"", "\"act_fn\": \"gelu\"");
        assertTrue(error(dir).contains("act_fn \"gelu\" is not supported"), error(dir));
        editConfig(dir, "\"act_fn\": \"gelu\"", "\"act_fn\": \"silu\", \"transformer_layers_per_block\": 1");
        assertTrue(error(dir).contains("unknown UNet2DModel config key \"transformer_layers_per_block\""), error(dir));
        editConfig(dir, ", \"transformer_layers_per_block\": 1", "");
        editConfig(dir, "\"resnet_time_scale_shift\": \"default\"", "\"resnet_time_scale_shift\": \"spatial\"");
        assertTrue(error(dir).contains("resnet_time_scale_shift \"spatial\" is not supported"), error(dir));
        editConfig(dir, "\"spatial\"", "\"default\"");
        editConfig(dir, "\"norm_num_groups\": 4", "\"norm_num_groups\": 5");
        assertTrue(error(dir).contains("norm_num_groups 5 does not divide"), error(dir));
        editConfig(dir, "\"norm_num_groups\": 5", "\"norm_num_groups\": 4");
        editConfig(dir, "\"_class_name\": \"UNet2DModel\"", "\"_class_name\": \"UNet2DConditionModel\"");
        assertTrue(error(dir).contains("UNet2DConditionModel"), error(dir));
    }

    @Test
    void unsupportedBlockTypesAreNamed() throws Exception {
        Path dir = copy("attn");
        editConfig(dir, "\"AttnDownBlock2D\"", "\"CrossAttnDownBlock2D\"");
        String m = error(dir);
        assertTrue(m.contains("down_block_types[1] \"CrossAttnDownBlock2D\" is not supported"), m);
    }

    @Test
    void missingAndExtraWeightsNameTheTensor() throws Exception {
        Path dir = copy("attn");
        Path w = dir.resolve("unet/diffusion_pytorch_model.safetensors");
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> all = Safetensors.read(w);
            Tensor removed = all.remove("mid_block.attentions.0.to_k.bias");
            Safetensors.write(w, all, Map.of());
            assertTrue(error(dir).contains("missing tensor mid_block.attentions.0.to_k.bias"), error(dir));
            all.put("mid_block.attentions.0.to_k.bias", removed);
            all.put("up_blocks.0.attentions.0.extra.weight", removed);
            Safetensors.write(w, all, Map.of());
            assertTrue(error(dir).contains("unexpected tensor up_blocks.0.attentions.0.extra.weight"), error(dir));
            all.remove("up_blocks.0.attentions.0.extra.weight");
            all.put("conv_in.bias", removed);
            Safetensors.write(w, all, Map.of());
            assertTrue(error(dir).contains("conv_in.bias has shape [32], the parameter [16]"), error(dir));
        }
    }

    @Test
    void halfPrecisionWeightsLoadAndRun() throws Exception {
        Path dir = copy("attn");
        Path w = dir.resolve("unet/diffusion_pytorch_model.safetensors");
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> half = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : Safetensors.read(w).entrySet()) {
                half.put(e.getKey(), e.getValue().to(DType.BFLOAT16));
            }
            Safetensors.write(w, half, Map.of("format", "pt"));
            Tensor x = TensorFiles.readResource(UNet2DParityTest.ROOT + "attn-io/sample.pt");
            Tensor t = Tensor.fromFloats(new float[] {10, 637}, 2);
            Tensor expected = TensorFiles.readResource(UNet2DParityTest.ROOT + "attn-io/output.pt");
            try (Denoiser f32 = ModelFolder.open(dir).loadDenoiser(Device.CPU, DType.FLOAT32);
                 Denoiser bf16 = ModelFolder.open(dir).loadDenoiser(Device.CPU, DType.BFLOAT16)) {
                assertEquals(DType.BFLOAT16, bf16.dtype());
                double d32 = UNet2DParityTest.maxAbs(f32.predict(x, t, null).sub(expected));
                double d16 = UNet2DParityTest.maxAbs(bf16.predict(x, t, null).to(DType.FLOAT32).sub(expected));
                System.out.printf("bfloat16 weights: float32 run %.3g, bfloat16 run %.3g from the float32 reference%n",
                        d32, d16);
                assertTrue(d32 < 0.1 && d16 < 0.2, d32 + " " + d16);
            }
        }
    }
}
