package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Safetensors;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.diffusers.DiffusersFolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CLI on diffusers-layout folders: DDPM-10 / DDIM-10 runs match diffusers' own DDPMPipeline / DDIMPipeline with
 * one generator per sample (test-models/make_diffusers_refs.py), and {@code train} on a diffusers folder exports a
 * diffusers folder that loads back.
 */
class DiffusersCommandsTest {
    static final String ROOT = "io/diffusion4j/reference/diffusers/";

    @TempDir
    Path tmp;

    private Path copy(String name) throws Exception {
        Path target = tmp.resolve(name);
        assertTrue(DiffusersFolder.copyResource(getClass().getClassLoader(), ROOT + name + "/", target));
        return target;
    }

    private static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.toFloatArray()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @ParameterizedTest
    @CsvSource({"attn,,ddpm10", "attn,ddim,ddim10", "ddim-pipeline,,ddim10"})
    void pipelineRunsMatchDiffusers(String name, String scheduler, String reference) throws Exception {
        Path dir = copy(name);
        Path x = tmp.resolve("x.pt");
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", "--model", dir.toString(),
                "--steps", "10", "--batch", "2", "--seed", "1234", "--save-tensor", x.toString()));
        if (scheduler != null) {
            args.addAll(java.util.List.of("--scheduler", scheduler, "--eta", "0"));
        }
        CommandsTest.Result r = CommandsTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        try (NativeScope scope = new NativeScope()) {
            Tensor images = TensorFiles.read(x).div(2).add(0.5).clamp(0, 1);
            Tensor expected = TensorFiles.readResource(ROOT + name + "-io/" + reference + "_images01.pt");
            double diff = maxAbs(images.sub(expected));
            System.out.printf("diffusers %s %s through the CLI: max |x - ref| = %.3g%n", name, reference, diff);
            assertTrue(diff <= 1e-4, name + " " + reference + ": " + diff);
        }
    }

    @Test
    void trainOnADiffusersFolderExportsADiffusersFolder() throws Exception {
        Path dir = copy("attn");
        Path data = tmp.resolve("data.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(data, Tensor.randn(Generator.cpu(5), DType.FLOAT32, Device.CPU, 8, 3, 8, 8).clamp(-1, 1));
        }
        Path out = tmp.resolve("tuned");
        CommandsTest.Result r = CommandsTest.run("train", "--model", dir.toString(), "--data", data.toString(),
                "--steps", "3", "--batch", "4", "--lr", "1e-3", "--ema", "0.9", "--out", out.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        for (String f : new String[] {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "scheduler/scheduler_config.json"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " in " + out);
        }
        assertTrue(Files.readString(out.resolve("model_index.json")).contains("\"DDPMPipeline\""));
        try (NativeScope scope = new NativeScope()) {
            Map<String, Tensor> before = Safetensors.read(dir.resolve("unet/diffusion_pytorch_model.safetensors"));
            Map<String, Tensor> after = Safetensors.read(out.resolve("unet/diffusion_pytorch_model.safetensors"));
            assertEquals(before.keySet(), after.keySet());
            assertTrue(maxAbs(after.get("conv_in.weight").sub(before.get("conv_in.weight"))) > 0, "weights changed");
        }
        CommandsTest.Result s = CommandsTest.run("sample", "--model", out.toString(), "--steps", "2", "--batch", "1",
                "--save-tensor", tmp.resolve("y.pt").toString());
        assertEquals(0, s.code(), s.err());
    }

    @Test
    void aBadConfigIsAOneLineFailureNamingTheKey() throws Exception {
        Path dir = copy("attn");
        Path config = dir.resolve("unet/config.json");
        Files.writeString(config, Files.readString(config).replace("\"act_fn\"", "\"cross_attention_dim\": 8, \"act_fn\""));
        CommandsTest.Result r = CommandsTest.run("sample", "--model", dir.toString(), "--steps", "2");
        assertEquals(Main.EXIT_FAILURE, r.code());
        assertTrue(r.errLines().get(0).contains("unknown UNet2DModel config key \"cross_attention_dim\""), r.err());
    }
}
