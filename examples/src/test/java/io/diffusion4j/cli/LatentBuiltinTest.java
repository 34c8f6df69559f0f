package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.diffusers.autoencoder.AutoencoderKL;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in latent model digits-latent (trained in PyTorch with diffusers' AutoencoderKL and UNet2DModel,
 * test-models/make_latent_digits.py): its VAE and a guided DPM-Solver++ 20 run through the CLI against diffusers'
 * references (reference/latent-builtin/), and the quality bar judged by the independent digits classifier
 * after downsampling the 32x32 images to 8x8.
 */
class LatentBuiltinTest {
    static final String REF = "io/diffusion4j/reference/latent-builtin/";

    @TempDir
    Path tmp;

    private static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.toFloatArray()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void vaeOfTheBuiltinMatchesDiffusers() throws Exception {
        ModelFolder folder = ModelFolder.builtin("digits-latent");
        try (NativeScope scope = new NativeScope();
             AutoencoderKL vae = (AutoencoderKL) folder.latent().load(Device.CPU, DType.FLOAT32)) {
            Tensor image = TensorFiles.readResource(REF + "vae/image.pt");
            Tensor mean = vae.encode(image);
            Tensor expectedMean = TensorFiles.readResource(REF + "vae/latent_mean.pt");
            double d1 = maxAbs(mean.sub(expectedMean));
            Tensor decoded = vae.decode(expectedMean);
            Tensor expectedDecoded = TensorFiles.readResource(REF + "vae/decoded_mean.pt");
            double d2 = maxAbs(decoded.sub(expectedDecoded));
            System.out.printf("digits-latent VAE: encode mean %.3g, decode %.3g from diffusers%n", d1, d2);
            assertTrue(d1 <= 1e-4 * Math.max(1, maxAbs(expectedMean)), "encode " + d1);
            assertTrue(d2 <= 1e-4 * Math.max(1, maxAbs(expectedDecoded)), "decode " + d2);
        }
    }

    @Test
    void guidedDpmSolverRunThroughTheCliMatchesDiffusers() throws Exception {
        Path x = tmp.resolve("x.pt");
        Path z = tmp.resolve("z.pt");
        long[] labels;
        try (NativeScope scope = new NativeScope()) {
            labels = TensorFiles.readResource(REF + "dpmsolverpp20_cfg3/class_labels.pt").toLongArray();
        }
        String classes = String.join(",", Arrays.stream(labels).mapToObj(Long::toString).toArray(String[]::new));
        CommandsTest.Result r = CommandsTest.run("sample", "--model", "digits-latent", "--class", classes,
                "--guidance", "3", "--steps", "20", "--scheduler", "dpmsolver++", "--batch", "4", "--seed", "1234",
                "--save-tensor", x.toString(), "--save-latent", z.toString());
        assertEquals(0, r.code(), r.err());
        try (NativeScope scope = new NativeScope()) {
            Tensor expectedLatent = TensorFiles.readResource(REF + "dpmsolverpp20_cfg3/final_latent.pt");
            Tensor expectedImages = TensorFiles.readResource(REF + "dpmsolverpp20_cfg3/decoded.pt");
            double dz = maxAbs(TensorFiles.read(z).sub(expectedLatent));
            double dx = maxAbs(TensorFiles.read(x).sub(expectedImages));
            System.out.printf("digits-latent DPM-Solver++ 20, guidance 3, through the CLI: latent %.3g, decoded %.3g "
                    + "from diffusers%n", dz, dx);
            assertTrue(dz <= 1e-4 * Math.max(1, maxAbs(expectedLatent)), "latent " + dz);
            assertTrue(dx <= 1e-4 * Math.max(1, maxAbs(expectedImages)), "decoded " + dx);
        }
    }

    @Test
    void guidedSamplesAreTheRequestedDigitByTheClassifier() throws Exception {
        int k = 3;
        int n = 10;
        Path x = tmp.resolve("x.pt");
        CommandsTest.Result r = CommandsTest.run("sample", "--model", "digits-latent", "--class", Integer.toString(k),
                "--guidance", "3", "--steps", "20", "--scheduler", "dpmsolver++", "--batch", Integer.toString(n),
                "--seed", "7", "--save-tensor", x.toString());
        assertEquals(0, r.code(), r.err());
        try (NativeScope scope = new NativeScope();
             TorchScriptModule classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU);
             InferenceGuard inference = Torch.inferenceMode()) {
            Tensor images = TensorFiles.read(x).clamp(-1, 1);          // [n, 1, 32, 32] in [-1, 1]
            Tensor small = images.avgPool2d(4);                         // 8x8, the classifier's digits
            long[] predicted = classifier.forward(small).argmax(1).toLongArray();
            long correct = Arrays.stream(predicted).filter(p -> p == k).count();
            System.out.printf("digits-latent, class %d, guidance 3, DPM-Solver++ 20: %d of %d recognised as %d%n", k,
                    correct, n, k);
            assertTrue(correct >= 0.9 * n, correct + " of " + n + " recognised as " + k + ": " + Arrays.toString(predicted));
        }
    }
}
