package io.diffusion4j.model.diffusers.autoencoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parity with diffusers' own AutoencoderKL and VQModel (test-models/make_autoencoder_refs.py): random-weight models
 * saved by save_pretrained, loaded through {@link Autoencoders#load}, run on the saved inputs; ≤ 1e-4 relative to
 * max(1, |ref|).
 */
class AutoencoderParityTest {
    static final String ROOT = "io/diffusion4j/reference/autoencoders/";

    static Path copy(String name, Path tmp) throws Exception {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", Autoencoders.SAFETENSORS_FILE, Autoencoders.BIN_FILE}) {
            try (InputStream in = AutoencoderParityTest.class.getClassLoader().getResourceAsStream(ROOT + name + "/" + f)) {
                if (in != null) {
                    Files.copy(in, dir.resolve(f));
                }
            }
        }
        return dir;
    }

    static Tensor ref(String name, String file) throws Exception {
        return TensorFiles.readResource(ROOT + name + "-io/" + file);
    }

    static double check(String what, Tensor out, Tensor expected) {
        assertEquals(Arrays.toString(expected.shape()), Arrays.toString(out.shape()), what + " shape");
        double scale = Math.max(1, maxAbs(expected));
        double diff = maxAbs(out.to(DType.FLOAT32).sub(expected));
        System.out.printf("%s: max |out - ref| = %.3g (|ref| max %.3g)%n", what, diff, scale);
        assertTrue(diff <= 1e-4 * scale, what + ": max abs difference " + diff);
        return diff;
    }

    static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.toFloatArray()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"kl", "kl-plain"})
    void autoencoderKlMatchesDiffusers(String name, @TempDir Path tmp) throws Exception {
        try (NativeScope scope = new NativeScope();
             Autoencoder ae = Autoencoders.load(copy(name, tmp), Device.CPU, DType.FLOAT32);
             Generator g = Generator.cpu(77)) {
            AutoencoderKL kl = (AutoencoderKL) ae;
            DiagonalGaussian posterior = kl.posterior(ref(name, "image.pt"));
            check(name + " encode mean", posterior.mean(), ref(name, "mean.pt"));
            check(name + " posterior sample (seed 77)", posterior.sample(g), ref(name, "sample.pt"));
            check(name + " decode", kl.decode(ref(name, "latent.pt")), ref(name, "decoded.pt"));
        }
    }

    @Test
    void vqModelMatchesDiffusers(@TempDir Path tmp) throws Exception {
        try (NativeScope scope = new NativeScope();
             Autoencoder ae = Autoencoders.load(copy("vq", tmp), Device.CPU, DType.FLOAT32)) {
            VQModel vq = (VQModel) ae;
            Tensor latents = vq.encode(ref("vq", "image.pt"));
            check("vq encode", latents, ref("vq", "latents.pt"));
            Tensor h = ref("vq", "latents.pt");
            check("vq decode of the codebook indices", vq.decodeIndices(vq.codebookIndices(h), 2, 8, 8),
                    ref("vq", "decoded.pt"));
            check("vq decode (quantized)", vq.decode(h), ref("vq", "decoded.pt"));
            check("vq decode (force_not_quantize)", vq.decode(h, true), ref("vq", "decoded_not_quantized.pt"));
        }
    }

    @Test
    void autoencoderTinyMatchesDiffusers(@TempDir Path tmp) throws Exception {
        try (NativeScope scope = new NativeScope();
             AutoencoderTiny tiny = AutoencoderTiny.load(copy("tiny", tmp), Device.CPU)) {
            check("tiny encode", tiny.encode(ref("tiny", "image.pt")), ref("tiny", "latents.pt"));
            check("tiny decode", tiny.decode(ref("tiny", "latent.pt")), ref("tiny", "decoded.pt"));
            check("tiny scale_latents", tiny.scaleLatents(ref("tiny", "latent.pt")), ref("tiny", "scaled.pt"));
            check("tiny unscale_latents", tiny.unscaleLatents(tiny.scaleLatents(ref("tiny", "latents.pt"))),
                    ref("tiny", "latents.pt").clamp(-3, 3));
        }
    }

    @Test
    void tiledDecodeMatchesDiffusersEnableTiling(@TempDir Path tmp) throws Exception {
        try (NativeScope scope = new NativeScope();
             AutoencoderKL kl = (AutoencoderKL) Autoencoders.load(copy("kl", tmp), Device.CPU, DType.FLOAT32)) {
            Tensor z = ref("kl", "tiled_latent.pt");
            check("kl tiled decode (enable_tiling)", kl.decodeTiled(z), ref("kl", "tiled_decoded.pt"));
            check("kl untiled decode of the same latent", kl.decode(z), ref("kl", "untiled_decoded.pt"));
            double seam = maxAbs(kl.decodeTiled(z).sub(kl.decode(z)));
            System.out.printf("kl tiled vs untiled decode: max |difference| = %.3g%n", seam);
        }
    }

    @Test
    void forceUpcastKeepsAFloat16RequestInFloat32(@TempDir Path tmp) throws Exception {
        // kl has force_upcast true (diffusers' default): its weights stay float32, as diffusers' pipelines upcast it
        try (NativeScope scope = new NativeScope();
             Autoencoder ae = Autoencoders.load(copy("kl", tmp), Device.CPU, DType.FLOAT16)) {
            assertEquals(DType.FLOAT32, ae.dtype());
            check("kl decode of a float16 latent under force_upcast", ae.decode(ref("kl", "latent.pt")
                    .to(DType.FLOAT16)), ((AutoencoderKL) ae).decode(ref("kl", "latent.pt").to(DType.FLOAT16)
                    .to(DType.FLOAT32)));
        }
    }

    @Test
    void imageSizeNotAMultipleOfTheDownsamplingFactorIsOneClearLine(@TempDir Path tmp) throws Exception {
        try (NativeScope scope = new NativeScope();
             Autoencoder ae = Autoencoders.load(copy("kl-plain", tmp), Device.CPU, DType.FLOAT32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ae.encode(Tensor.zeros(DType.FLOAT32, Device.CPU, 1, 1, 16, 18)));
            assertEquals("image size 16x18 is not a multiple of the AutoencoderKL's downsampling factor 4 (resize or "
                    + "crop it to a multiple of 4)", e.getMessage());
        }
    }
}
