package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.diffusers.DiffusersFolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Latent pipelines through the CLI against diffusers (test-models/make_autoencoder_refs.py): a VQModel folder run by
 * diffusers' own LDMPipeline (DDIM-10, seeds 1234 + i) and an AutoencoderKL folder run by the same loop from saved
 * noise, decoded; plus the bad inputs of a latent folder, one line each.
 */
class LatentCommandsTest {
    static final String ROOT = "io/diffusion4j/reference/autoencoders/";

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

    private static void assertClose(String what, Tensor out, Tensor expected) {
        assertEquals(Arrays.toString(expected.shape()), Arrays.toString(out.shape()), what);
        double diff = maxAbs(out.sub(expected));
        double scale = Math.max(1, maxAbs(expected));
        System.out.printf("%s through the CLI: max |x - ref| = %.3g%n", what, diff);
        assertTrue(diff <= 1e-4 * scale, what + ": " + diff);
    }

    @Test
    void autoencoderKlDdim10FromSavedNoiseMatchesDiffusers() throws Exception {
        Path dir = copy("ldm-kl");
        Path noise = tmp.resolve("noise.pt");
        Files.copy(getClass().getClassLoader().getResourceAsStream(ROOT + "ldm-kl-io/noise.pt"), noise);
        Path x = tmp.resolve("x.pt");
        Path z = tmp.resolve("z.pt");
        Path png = tmp.resolve("x.png");
        CommandsTest.Result r = CommandsTest.run("sample", "--model", dir.toString(), "--init-noise", noise.toString(),
                "--steps", "10", "--eta", "0", "--save-tensor", x.toString(), "--save-latent", z.toString(),
                "--out", png.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.size(png) > 0);
        try (NativeScope scope = new NativeScope()) {
            assertClose("ldm-kl DDIM-10 latent", TensorFiles.read(z),
                    TensorFiles.readResource(ROOT + "ldm-kl-io/ddim10_latents.pt"));
            assertClose("ldm-kl DDIM-10 decoded", TensorFiles.read(x).div(2).add(0.5).clamp(0, 1),
                    TensorFiles.readResource(ROOT + "ldm-kl-io/ddim10_images01.pt"));
        }
    }

    @Test
    void vqModelLdmPipelineDdim10MatchesDiffusers() throws Exception {
        Path dir = copy("ldm-vq");
        Path x = tmp.resolve("x.pt");
        CommandsTest.Result r = CommandsTest.run("sample", "--model", dir.toString(), "--steps", "10", "--batch", "2",
                "--seed", "1234", "--eta", "0", "--save-tensor", x.toString());
        assertEquals(0, r.code(), r.err());
        try (NativeScope scope = new NativeScope()) {
            assertClose("ldm-vq LDMPipeline DDIM-10 decoded", TensorFiles.read(x).div(2).add(0.5).clamp(0, 1),
                    TensorFiles.readResource(ROOT + "ldm-vq-io/ddim10_images01.pt"));
        }
    }

    @Test
    void img2imgAndInpaintRunInLatentSpace() throws Exception {
        Path dir = copy("ldm-kl");
        Path in = tmp.resolve("in.png");
        Path mask = tmp.resolve("mask.png");
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(16, 16,
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.image.BufferedImage m = new java.awt.image.BufferedImage(16, 16,
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 16; j++) {
                img.setRGB(i, j, (i * 16) << 16 | (j * 16) << 8 | 128);
                m.setRGB(i, j, i < 8 ? 0xffffff : 0);
            }
        }
        javax.imageio.ImageIO.write(img, "png", in.toFile());
        javax.imageio.ImageIO.write(m, "png", mask.toFile());
        CommandsTest.Result a = CommandsTest.run("img2img", "--model", dir.toString(), "--input", in.toString(),
                "--strength", "0.5", "--steps", "4", "--out", tmp.resolve("a.png").toString(), "--save-latent",
                tmp.resolve("a.pt").toString());
        assertEquals(0, a.code(), a.err());
        CommandsTest.Result b = CommandsTest.run("inpaint", "--model", dir.toString(), "--input", in.toString(),
                "--mask", mask.toString(), "--steps", "4", "--out", tmp.resolve("b.png").toString(), "--save-latent",
                tmp.resolve("b.pt").toString());
        assertEquals(0, b.code(), b.err());
        try (NativeScope scope = new NativeScope()) {
            assertEquals("[1, 4, 8, 8]", Arrays.toString(TensorFiles.read(tmp.resolve("b.pt")).shape()));
        }
    }

    private Path imageFolder(int n) throws Exception {
        Path data = tmp.resolve("images");
        Files.createDirectories(data);
        java.util.Random r = new java.util.Random(11);
        for (int k = 0; k < n; k++) {
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(16, 16,
                    java.awt.image.BufferedImage.TYPE_INT_RGB);
            int cx = r.nextInt(16);
            int color = r.nextBoolean() ? 0xff2040 : 0x20ff80;
            for (int i = 0; i < 16; i++) {
                for (int j = 0; j < 16; j++) {
                    img.setRGB(i, j, Math.abs(i - cx) < 3 ? color : 0x101010);
                }
            }
            javax.imageio.ImageIO.write(img, "png", data.resolve("img" + k + ".png").toFile());
        }
        return data;
    }

    @Test
    void latentTrainingOnAnImageFolderLowersTheLossAndExportsTheLatentPipeline() throws Exception {
        Path dir = copy("ldm-kl");
        Path data = imageFolder(16);
        Path out = tmp.resolve("tuned");
        Path csv = tmp.resolve("metrics.csv");
        CommandsTest.Result r = CommandsTest.run("train", "--model", dir.toString(), "--data", data.toString(),
                "--steps", "40", "--batch", "8", "--lr", "2e-3", "--seed", "3", "--metrics-csv", csv.toString(),
                "--out", out.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        java.util.List<String> rows = Files.readAllLines(csv);
        double first = 0;
        double last = 0;
        for (int i = 1; i <= 10; i++) {
            first += Double.parseDouble(rows.get(i).split(",")[1]) / 10;
            last += Double.parseDouble(rows.get(rows.size() - i).split(",")[1]) / 10;
        }
        System.out.printf("latent training: mean loss of steps 1-10 %.4f, of steps 31-40 %.4f%n", first, last);
        assertTrue(last < 0.8 * first, "loss " + first + " -> " + last);
        for (String f : new String[] {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " in " + out);
        }
        assertTrue(Files.readString(out.resolve("model_index.json")).contains("\"AutoencoderKL\""));
        CommandsTest.Result s = CommandsTest.run("sample", "--model", out.toString(), "--steps", "2", "--out",
                tmp.resolve("s.png").toString(), "--save-latent", tmp.resolve("s.pt").toString(), "--save-tensor",
                tmp.resolve("x.pt").toString());
        assertEquals(0, s.code(), s.err());
        String check = System.getProperty("diffusion4j.latentExportCheckDir");
        if (check != null) {   // test-models/check_latent_export.py reads these with diffusers (by hand, not in CI)
            Path target = Path.of(check);
            try (var files = Files.walk(out)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Path t = target.resolve("export").resolve(out.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(t);
                    } else {
                        Files.copy(f, t, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            Files.copy(tmp.resolve("s.pt"), target.resolve("latent.pt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.copy(tmp.resolve("x.pt"), target.resolve("decoded.pt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Test
    void latentTrainingFromCachedLatents() throws Exception {
        Path dir = copy("ldm-vq");
        Path data = imageFolder(6);
        CommandsTest.Result r = CommandsTest.run("train", "--model", dir.toString(), "--data", data.toString(),
                "--cache-latents", "--steps", "2", "--batch", "3", "--out", tmp.resolve("vq-tuned").toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("encoded 6 images to latents [2, 8, 8] with the VQModel"), r.out());
        CommandsTest.Result bad = CommandsTest.run("train", "--model", dir.toString(), "--data", data.toString(),
                "--cache-latents", "--flip", "--steps", "2", "--batch", "3", "--out", tmp.resolve("x").toString());
        assertEquals(Main.EXIT_USAGE, bad.code());
        assertTrue(bad.errLines().get(0).contains("--flip does not combine with --cache-latents"), bad.err());
    }

    @Test
    void aVaeWhoseLatentDoesNotFitTheUnetIsOneLine() throws Exception {
        Path dir = copy("ldm-kl");
        Path config = dir.resolve("vae/config.json");
        Files.writeString(config, Files.readString(config).replace("\"latent_channels\": 4", "\"latent_channels\": 3"));
        CommandsTest.Result r = CommandsTest.run("sample", "--model", dir.toString(), "--steps", "2");
        assertEquals(Main.EXIT_FAILURE, r.code());
        assertTrue(r.errLines().get(0).contains("the AutoencoderKL's latent has 3 channels but the UNet's "
                + "in_channels/out_channels are 4/4"), r.err());
    }

    @Test
    void aMissingVaeFolderIsOneLine() throws Exception {
        Path dir = copy("ldm-kl");
        try (var files = Files.walk(dir.resolve("vae"))) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        CommandsTest.Result r = CommandsTest.run("sample", "--model", dir.toString(), "--steps", "2");
        assertEquals(Main.EXIT_FAILURE, r.code());
        assertTrue(r.errLines().get(0).contains("the vae/ folder that model_index.json names is missing"), r.err());
    }

    @Test
    void saveLatentOnAPixelModelIsAUsageError() throws Exception {
        CommandsTest.Result r = CommandsTest.run("sample", "--model", "digits", "--steps", "2", "--save-latent",
                tmp.resolve("z.pt").toString());
        assertEquals(Main.EXIT_USAGE, r.code());
        assertTrue(r.errLines().get(0).contains("--save-latent applies to latent models"), r.err());
    }
}
