package io.diffusion4j.model.diffusers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Forward parity with diffusers' own UNet2DModel (test-models/make_diffusers_refs.py): random-weight models saved by
 * diffusers' save_pretrained, loaded through {@link ModelFolder#open}, run on the saved inputs.
 */
class UNet2DParityTest {
    static final String ROOT = "io/diffusion4j/reference/diffusers/";

    static Path copy(String name, Path dir) throws Exception {
        Path target = dir.resolve(name);
        assertTrue(DiffusersFolder.copyResource(UNet2DParityTest.class.getClassLoader(), ROOT + name + "/", target),
                "reference folder " + name);
        return target;
    }

    @ParameterizedTest
    @ValueSource(strings = {"attn", "class-cond", "fourier-scale-shift", "timestep-class", "ddim-pipeline", "skip", "identity",
            "legacy-attention"})
    void forwardMatchesDiffusers(String name, @TempDir Path tmp) throws Exception {
        Path dir = copy(name, tmp);
        // pipeline folders through ModelFolder (as the CLI opens them), bare unet folders (no scheduler) directly
        boolean pipeline = java.nio.file.Files.isRegularFile(dir.resolve(DiffusersFolder.MODEL_INDEX));
        String io = ROOT + name + "-io/";
        try (NativeScope scope = new NativeScope();
             Denoiser model = pipeline ? ModelFolder.open(dir).loadDenoiser(Device.CPU, DType.FLOAT32)
                     : DiffusersFolder.open(dir).loadModel(Device.CPU, DType.FLOAT32)) {
            Tensor x = TensorFiles.readResource(io + "sample.pt");
            Tensor t = TensorFiles.readResource(io + "timesteps.pt");
            Tensor y = model.isConditional() ? TensorFiles.readResource(io + "class_labels.pt") : null;
            Tensor expected = TensorFiles.readResource(io + "output.pt");
            Tensor out = model.predict(x, t.to(model.timestepDType()), y);
            assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(out.shape()));
            double scale = Math.max(1, maxAbs(expected));
            double diff = maxAbs(out.sub(expected));
            System.out.printf("diffusers %s: max |out - ref| = %.3g (|ref| max %.3g)%n", name, diff, scale);
            assertTrue(diff <= 1e-4 * scale, name + ": max abs difference " + diff);
        }
    }

    @org.junit.jupiter.api.Test
    void identityClassEmbeddingRefusesLabels(@TempDir Path tmp) throws Exception {
        Path dir = copy("identity", tmp);
        try (NativeScope scope = new NativeScope();
             Denoiser model = DiffusersFolder.open(dir).loadModel(Device.CPU, DType.FLOAT32)) {
            assertTrue(model.isConditional());
            Tensor x = TensorFiles.readResource(ROOT + "identity-io/sample.pt");
            Tensor t = Tensor.full(10, DType.FLOAT32, Device.CPU, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(x, t, Tensor.full(3, DType.INT64, Device.CPU, 2)));
            assertTrue(e.getMessage().contains("class_embed_type \"identity\": pass class embeddings, a float tensor "
                    + "[B, 64]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> model.predict(x, t, null));
        }
    }

    static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.toFloatArray()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
