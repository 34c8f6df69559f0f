package io.diffusion4j.pipeline.latent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.diffusers.DiffusersFolder;
import io.diffusion4j.model.diffusers.autoencoder.Autoencoder;
import io.diffusion4j.model.diffusers.autoencoder.AutoencoderTiny;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Schedulers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The latent pipeline from Java: diffusers' run from saved noise, per-step previews with a tiny autoencoder. */
class LatentPipelineTest {
    static final String ROOT = "io/diffusion4j/reference/autoencoders/";

    @Test
    void generatesDiffusersLatentAndPreviewsStepsWithTheTinyAutoencoder(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("ldm-kl");
        assertTrue(DiffusersFolder.copyResource(getClass().getClassLoader(), ROOT + "ldm-kl/", dir));
        Path tinyDir = tmp.resolve("tiny");
        Files.createDirectories(tinyDir);
        for (String f : new String[] {"config.json", "diffusion_pytorch_model.safetensors"}) {
            Files.copy(getClass().getClassLoader().getResourceAsStream(ROOT + "tiny/" + f), tinyDir.resolve(f));
        }
        ModelFolder folder = ModelFolder.open(dir);
        List<String> previews = new ArrayList<>();
        try (NativeScope scope = new NativeScope();
             Denoiser unet = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             Autoencoder vae = folder.latent().load(Device.CPU, DType.FLOAT32);
             AutoencoderTiny tiny = AutoencoderTiny.load(tinyDir, Device.CPU);
             LatentDiffusionPipeline pipeline = new LatentDiffusionPipeline(unet,
                     Schedulers.fromConfig(folder.schedulerConfig(), 0), folder.spec().sampleShape(), vae, false)) {
            Tensor noise = TensorFiles.readResource(ROOT + "ldm-kl-io/noise.pt");
            LatentDiffusionPipeline.Result r = pipeline.generate(GenerationRequest.builder().steps(10).batchSize(2)
                    .initNoise(noise).listener(LatentPreview.tiny(tiny, 4,
                            (step, images) -> previews.add(step + ":" + Arrays.toString(images.shape())
                                    + ":" + images.allFinite()))).build());
            Tensor expected = TensorFiles.readResource(ROOT + "ldm-kl-io/ddim10_latents.pt");
            double diff = 0;
            float[] a = r.latent().toFloatArray();
            float[] b = expected.toFloatArray();
            for (int i = 0; i < a.length; i++) {
                diff = Math.max(diff, Math.abs(a[i] - b[i]));
            }
            assertTrue(diff <= 1e-4, "latent differs from diffusers' by " + diff);
            assertEquals("[2, 3, 16, 16]", Arrays.toString(r.images().shape()));
        }
        // the toy TAESD upsamples 4x (three stages), the toy VAE 2x: previews are 32x32, the images 16x16
        assertEquals(List.of("4:[2, 3, 32, 32]:true", "8:[2, 3, 32, 32]:true", "10:[2, 3, 32, 32]:true"), previews);
    }
}
