package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.models.BuiltinModels;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The generation commands end to end, in-process: sample, img2img and inpaint on the built-in models, their output
 * files, and the exit codes and one-line messages for usage errors (2) and failures (1). Few steps, so the whole
 * class stays well under a minute on a CPU.
 */
class CommandsTest {

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
        List<String> errLines() {
            return err.lines().toList();
        }
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    private static Result runOk(String... args) {
        Result r = run(args);
        assertEquals(0, r.code(), () -> String.join(" ", args) + "\nstdout: " + r.out() + "\nstderr: " + r.err());
        return r;
    }

    private String file(String name) {
        return tmp.resolve(name).toString();
    }

    private static float[] readTensor(Path file, long... expectedShape) throws IOException {
        try (NativeScope scope = new NativeScope()) {
            Tensor t = TensorFiles.read(file);
            assertArrayEquals(expectedShape, t.shape(), file + " holds " + t.describe());
            return t.toFloatArray();
        }
    }

    private static void writeTensor(Path file, long seed, long... shape) throws IOException {
        Random random = new Random(seed);
        float[] data = new float[(int) Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) random.nextGaussian();
        }
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(file, Tensor.fromFloats(data, shape));
        }
    }

    /** An 8x8 gray "1": a bright vertical stroke with a foot, on black. */
    private static BufferedImage drawnOne() {
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        int[] px = new int[64];
        for (int y = 1; y < 7; y++) {
            px[y * 8 + 4] = 255;
            px[y * 8 + 3] = 96;
        }
        px[2 * 8 + 2] = 160;
        px[6 * 8 + 2] = 200;
        px[6 * 8 + 5] = 200;
        img.getRaster().setPixels(0, 0, 8, 8, px);
        return img;
    }

    private static int[] grayPixels(BufferedImage img) {
        return img.getRaster().getPixels(0, 0, img.getWidth(), img.getHeight(), (int[]) null);
    }

    private Path writePng(String name, BufferedImage img) throws IOException {
        Path p = tmp.resolve(name);
        assertTrue(ImageIO.write(img, "png", p.toFile()));
        return p;
    }

    private static BufferedImage readPng(Path p) throws IOException {
        assertTrue(Files.isRegularFile(p), p + " was not written");
        BufferedImage img = ImageIO.read(p.toFile());
        assertNotNull(img, p + " is not a readable PNG");
        return img;
    }

    /** A usage error: exit 2, exactly one line on stderr, no stack trace, nothing on stdout. */
    private static Result assertUsageError(Result r, String... mentions) {
        assertEquals(Main.EXIT_USAGE, r.code(), () -> "stdout: " + r.out() + "\nstderr: " + r.err());
        assertEquals(1, r.errLines().size(), () -> "expected one line on stderr:\n" + r.err());
        assertTrue(r.err().startsWith("diffusion4j: "), r.err());
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
        for (String m : mentions) {
            assertTrue(r.err().contains(m), () -> "stderr should mention '" + m + "': " + r.err());
        }
        return r;
    }

    // ---- sample ------------------------------------------------------------------------------------------

    @Test
    void sampleGuidedDdimWritesAGridAndATensor() throws IOException {
        Path png = tmp.resolve("X.png");
        Path pt = tmp.resolve("Y.pt");
        Result r = runOk("sample", "--model", "digits", "--class", "3", "--guidance", "3", "--batch", "4",
                "--scheduler", "ddim", "--steps", "10", "--out", png.toString(), "--save-tensor", pt.toString());
        assertTrue(r.out().contains("wrote " + png), r.out());
        assertTrue(r.out().contains("wrote " + pt), r.out());

        float[] samples = readTensor(pt, 4, 1, 8, 8);
        for (float v : samples) {
            // the shipped config no longer clips x0 (clip_sample false): a few guided DDIM steps overshoot [-1, 1]
            // (measured up to 1.17 here); the PNG clamps. This checks for a sane magnitude, not the clip.
            assertTrue(Float.isFinite(v) && v >= -1.5f && v <= 1.5f, "value out of [-1.5, 1.5]: " + v);
        }

        // a 2x2 grid of 8x8 tiles, each upscaled s times, with a small gutter between the tiles
        BufferedImage grid = readPng(png);
        assertEquals(grid.getWidth(), grid.getHeight(), "a 2x2 grid of square tiles is square");
        int scale = grid.getWidth() / 16;
        int gutter = grid.getWidth() % 16;
        assertTrue(scale >= 1 && gutter <= 4, "grid of " + grid.getWidth() + "px is not 2 tiles of 8*s plus a gutter");
        // each tile shows its sample: compare the top-left pixel of every upscaled sample pixel
        int[][] origin = {{0, 0}, {8 * scale + gutter, 0}, {0, 8 * scale + gutter}, {8 * scale + gutter, 8 * scale + gutter}};
        for (int k = 0; k < 4; k++) {
            for (int y = 0; y < 8; y++) {
                for (int x = 0; x < 8; x++) {
                    float v = samples[k * 64 + y * 8 + x];
                    int expected = Math.round((Math.max(-1f, Math.min(1f, v)) + 1f) / 2f * 255f); // PNG clamps
                    int actual = grid.getRaster().getSample(origin[k][0] + x * scale, origin[k][1] + y * scale, 0);
                    assertTrue(Math.abs(expected - actual) <= 1,
                            "tile " + k + " pixel (" + x + ", " + y + "): " + actual + " for value " + v);
                }
            }
        }
    }

    @Test
    void seedsMakeRunsReproducible() throws IOException {
        String[] common = {"sample", "--model", "digits", "--class", "7", "--batch", "2", "--scheduler", "ddim",
            "--steps", "5", "--eta", "1"};
        runOk(concat(common, "--seed", "42", "--save-tensor", file("a.pt")));
        runOk(concat(common, "--seed", "42", "--save-tensor", file("b.pt")));
        runOk(concat(common, "--seed", "43", "--save-tensor", file("c.pt")));
        float[] a = readTensor(tmp.resolve("a.pt"), 2, 1, 8, 8);
        float[] b = readTensor(tmp.resolve("b.pt"), 2, 1, 8, 8);
        float[] c = readTensor(tmp.resolve("c.pt"), 2, 1, 8, 8);
        assertArrayEquals(a, b, "same seed, same samples");
        assertFalse(Arrays.equals(a, c), "different seed, different samples");
        // sample i uses seed S+i: sample 1 of seed 42 is sample 0 of seed 43
        assertArrayEquals(Arrays.copyOfRange(a, 64, 128), Arrays.copyOfRange(c, 0, 64));
    }

    @Test
    void initNoiseFixesBatchAndReplacesTheSeededDraw() throws IOException {
        Path noise = tmp.resolve("noise.pt");
        writeTensor(noise, 1, 2, 1, 8, 8);
        runOk("sample", "--model", "digits", "--init-noise", noise.toString(), "--scheduler", "ddim", "--steps", "5",
                "--seed", "1", "--save-tensor", file("a.pt"));
        runOk("sample", "--model", "digits", "--init-noise", noise.toString(), "--scheduler", "ddim", "--steps", "5",
                "--seed", "2", "--save-tensor", file("b.pt"));
        float[] a = readTensor(tmp.resolve("a.pt"), 2, 1, 8, 8);
        float[] b = readTensor(tmp.resolve("b.pt"), 2, 1, 8, 8);
        assertArrayEquals(a, b, "deterministic DDIM from the same x_T does not depend on the seed");
    }

    @Test
    void initNoiseOfTheWrongShapeIsRejected() throws IOException {
        Path noise = tmp.resolve("noise.pt");
        writeTensor(noise, 1, 2, 3, 8, 8);
        Result r = run("sample", "--model", "digits", "--init-noise", noise.toString(), "--steps", "5",
                "--scheduler", "ddim", "--save-tensor", file("a.pt"));
        assertNotEquals(0, r.code());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("[2, 3, 8, 8]") && r.err().contains("[2, 1, 8, 8]"), r.err());
        assertFalse(Files.exists(tmp.resolve("a.pt")));
    }

    @Test
    void initNoiseWithAnotherBatchThanBatch() throws IOException {
        Path noise = tmp.resolve("noise.pt");
        writeTensor(noise, 1, 2, 1, 8, 8);
        assertUsageError(run("sample", "--model", "digits", "--init-noise", noise.toString(), "--batch", "3",
                "--steps", "5", "--save-tensor", file("a.pt")), "--batch 3", "2");
    }

    @Test
    void toy2dSavesTensorsButNoImages() throws IOException {
        Path z = tmp.resolve("Z.pt");
        Result r = runOk("sample", "--model", "toy2d", "--steps", "5", "--save-tensor", z.toString());
        assertTrue(r.out().contains("ddpm"), r.out()); // the config's _class_name: DDPMScheduler
        float[] xy = readTensor(z, 1, 2);
        assertTrue(Float.isFinite(xy[0]) && Float.isFinite(xy[1]));

        assertUsageError(run("sample", "--model", "toy2d", "--steps", "5", "--out", file("t.png")), "--save-tensor");
        assertFalse(Files.exists(tmp.resolve("t.png")));
    }

    @Test
    void fasterSolversRunFromTheCommandLine() throws IOException {
        Path h = tmp.resolve("h.pt");
        Result r = runOk("sample", "--model", "toy2d", "--scheduler", "heun", "--karras", "--steps", "4", "--batch", "2",
                "--save-tensor", h.toString());
        assertTrue(r.out().contains("4 heun steps (7 model evaluations)"), r.out());
        float[] xy = readTensor(h, 2, 2);
        assertTrue(Float.isFinite(xy[0]) && Float.isFinite(xy[3]));

        Path a = tmp.resolve("a.pt");
        r = runOk("sample", "--model", "toy2d", "--scheduler", "adaptive", "--rtol", "0.1", "--atol", "0.01",
                "--save-tensor", a.toString());
        assertTrue(r.out().matches("(?s).*adaptive solver, \\d+ model evaluations.*"), r.out());
        assertTrue(Float.isFinite(readTensor(a, 1, 2)[0]));

        Path d = tmp.resolve("d.pt");
        r = runOk("sample", "--model", "toy2d", "--scheduler", "dpmsolver++", "--order", "3", "--steps", "6",
                "--save-tensor", d.toString());
        assertTrue(r.out().contains("6 dpmsolver++ steps"), r.out());

        for (String[] args : new String[][] {{"unipc", "--order", "3", "--karras"}, {"pndm"}, {"lms", "--karras"}}) {
            Path u = tmp.resolve(args[0] + ".pt");
            String[] cmd = {"sample", "--model", "toy2d", "--steps", "6", "--save-tensor", u.toString(), "--scheduler"};
            String[] all = Arrays.copyOf(cmd, cmd.length + args.length);
            System.arraycopy(args, 0, all, cmd.length, args.length);
            r = runOk(all);
            assertTrue(r.out().contains("6 " + args[0] + " steps"), r.out());
            assertTrue(Float.isFinite(readTensor(u, 1, 2)[1]));
        }
        assertUsageError(run("sample", "--model", "toy2d", "--scheduler", "pndm", "--karras"), "--karras", "pndm");
        assertUsageError(run("sample", "--model", "toy2d", "--scheduler", "pndm", "--order", "2"), "--order", "pndm");
    }

    // ---- img2img and inpaint -----------------------------------------------------------------------------

    @Test
    void img2imgWritesAnImage() throws IOException {
        Path in = writePng("in.png", drawnOne());
        Path out = tmp.resolve("o.png");
        runOk("img2img", "--model", "digits", "--class", "1", "--input", in.toString(), "--strength", "0.5",
                "--steps", "20", "--scheduler", "ddim", "--out", out.toString());
        BufferedImage img = readPng(out);
        assertEquals(img.getWidth(), img.getHeight());
        assertEquals(0, img.getWidth() % 8, "one 8x8 image, upscaled: " + img.getWidth());
    }

    @Test
    void img2imgStrengthZeroReturnsTheInput() throws IOException {
        Path in = writePng("in.png", drawnOne());
        Path pt = tmp.resolve("o.pt");
        runOk("img2img", "--model", "digits", "--input", in.toString(), "--strength", "0", "--steps", "10",
                "--scheduler", "ddim", "--out", file("o.png"), "--save-tensor", pt.toString());
        float[] x = readTensor(pt, 1, 1, 8, 8);
        int[] px = grayPixels(drawnOne());
        for (int i = 0; i < 64; i++) {
            assertEquals(px[i] / 255f * 2f - 1f, x[i], 1e-5, "pixel " + i);
        }
    }

    @Test
    void img2imgStrengthOutOfRange() throws IOException {
        Path in = writePng("in.png", drawnOne());
        assertUsageError(run("img2img", "--model", "digits", "--input", in.toString(), "--strength", "1.5",
                "--steps", "5", "--out", file("o.png")), "strength", "1.5");
        assertFalse(Files.exists(tmp.resolve("o.png")));
    }

    @Test
    void inpaintKeepsTheBlackMaskPixels() throws IOException {
        BufferedImage input = drawnOne();
        Path in = writePng("in.png", input);
        BufferedImage mask = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        int[] m = new int[64];
        for (int y = 0; y < 8; y++) {
            for (int x = 4; x < 8; x++) {
                m[y * 8 + x] = 255; // right half: repaint
            }
        }
        mask.getRaster().setPixels(0, 0, 8, 8, m);
        Path maskFile = writePng("m.png", mask);
        Path out = tmp.resolve("o.png");
        Path pt = tmp.resolve("o.pt");
        runOk("inpaint", "--model", "digits", "--input", in.toString(), "--mask", maskFile.toString(), "--steps", "20",
                "--scheduler", "ddim", "--out", out.toString(), "--save-tensor", pt.toString());

        BufferedImage result = readPng(out);
        int scale = result.getWidth() / 8;
        assertEquals(8 * scale, result.getWidth());
        int[] kept = grayPixels(input);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 4; x++) {
                int actual = result.getRaster().getSample(x * scale, y * scale, 0);
                assertTrue(Math.abs(kept[y * 8 + x] - actual) <= 1,
                        "kept pixel (" + x + ", " + y + ") is " + actual + ", input " + kept[y * 8 + x]);
            }
        }
        float[] x = readTensor(pt, 1, 1, 8, 8);
        for (float v : x) {
            assertTrue(Float.isFinite(v) && v >= -1.1f && v <= 1.1f, "value " + v); // no clip_sample: small overshoot
        }
    }

    @Test
    void inpaintMaskOfAnotherSize() throws IOException {
        Path in = writePng("in.png", drawnOne());
        Path mask = writePng("m.png", new BufferedImage(16, 12, BufferedImage.TYPE_BYTE_GRAY));
        assertUsageError(run("inpaint", "--model", "digits", "--input", in.toString(), "--mask", mask.toString(),
                "--steps", "5", "--out", file("o.png")), "16x12", "8x8");
        assertFalse(Files.exists(tmp.resolve("o.png")));
    }

    // ---- usage errors and failures -----------------------------------------------------------------------

    static List<Arguments> usageErrors() {
        return List.of(
                Arguments.of(new String[] {"--model", "digits", "--steps", "0"}, new String[] {"--steps", "0"}),
                Arguments.of(new String[] {"--model", "digits", "--steps", "1001"}, new String[] {"--steps", "1001", "1000"}),
                Arguments.of(new String[] {"--model", "digits", "--eta", "-1"}, new String[] {"--eta", "-1"}),
                Arguments.of(new String[] {"--model", "digits", "--class", "12"}, new String[] {"class 12", "0..9"}),
                Arguments.of(new String[] {"--model", "toy2d", "--guidance", "3"}, new String[] {"guidance", "unconditional"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "ipndm"},
                        new String[] {"ipndm", "ddpm", "ddim", "euler", "heun", "dpmsolver++", "adaptive", "unipc",
                                "pndm", "lms", "deis"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "dpmsolver++", "--order", "4"},
                        new String[] {"--order", "1, 2 or 3", "4"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "ddim", "--order", "2"},
                        new String[] {"--order", "dpmsolver++", "ddim"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "sde-dpmsolver++", "--order", "3"},
                        new String[] {"sde-dpmsolver++", "1 or 2"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "ddpm", "--karras"},
                        new String[] {"--karras", "ddpm"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "adaptive", "--rtol", "0"},
                        new String[] {"--rtol", "> 0"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "adaptive", "--atol", "-0.1"},
                        new String[] {"--atol", "> 0"}),
                Arguments.of(new String[] {"--model", "digits", "--scheduler", "euler", "--rtol", "0.1"},
                        new String[] {"--rtol", "adaptive"}),
                Arguments.of(new String[] {"--model", "digits", "--dtype", "int8"}, new String[] {"--dtype", "int8"}),
                Arguments.of(new String[] {"--model", "digits", "--batch", "0"}, new String[] {"--batch", "0"}),
                Arguments.of(new String[] {"--steps", "5"}, new String[] {"--model"}));
    }

    @ParameterizedTest(name = "sample {0}")
    @MethodSource("usageErrors")
    void usageErrorsExitWithTwoAndOneLine(String[] args, String[] mentions) {
        Result r = run(concat(new String[] {"sample", "--save-tensor", file("u.pt")}, args));
        assertUsageError(r, mentions);
        assertFalse(Files.exists(tmp.resolve("u.pt")), "a usage error writes nothing");
    }

    @Test
    void unavailableCudaDeviceIsAUsageError() {
        assumeTrue(Torch.cudaDeviceCount() < 4, "this machine has a cuda:3");
        assertUsageError(run("sample", "--model", "digits", "--device", "cuda:3", "--steps", "5",
                "--save-tensor", file("u.pt")), "--device", "cuda:3");
    }

    /** An unknown model name: refused before anything runs, naming the built-in models. */
    @Test
    void unknownModelListsTheBuiltinModels() {
        Result r = run("sample", "--model", "no-such-model", "--steps", "5", "--save-tensor", file("u.pt"));
        assertNotEquals(0, r.code());
        String first = r.errLines().get(0);
        assertTrue(first.startsWith("diffusion4j: "), r.err());
        for (String name : BuiltinModels.names()) {
            assertTrue(first.contains(name), r.err());
        }
        assertFalse(r.err().contains("\tat "), r.err());
    }

    private Path corruptModelFolder() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("broken"));
        for (String f : new String[] {"scheduler_config.json", "diffusion4j.json"}) {
            try (InputStream in = getClass().getClassLoader().getResourceAsStream(BuiltinModels.ROOT + "digits/" + f)) {
                Files.copy(in, dir.resolve(f));
            }
        }
        Files.writeString(dir.resolve("model.pt"), "this is not a TorchScript archive");
        return dir;
    }

    @Test
    void corruptModelFileIsAFailure() throws IOException {
        Path dir = corruptModelFolder();
        Result r = run("sample", "--model", dir.toString(), "--steps", "5", "--save-tensor", file("f.pt"));
        assertEquals(Main.EXIT_FAILURE, r.code(), r.err());
        assertTrue(r.err().startsWith("diffusion4j: error: "), r.err());
        assertTrue(r.errLines().get(0).contains("model.pt"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --verbose: " + r.err());
        assertTrue(r.err().contains("--verbose"), "points at --verbose: " + r.err());
        assertFalse(Files.exists(tmp.resolve("f.pt")));
    }

    @Test
    void verbosePrintsTheStackTrace() throws IOException {
        Path dir = corruptModelFolder();
        Result r = run("sample", "--verbose", "--model", dir.toString(), "--steps", "5", "--save-tensor", file("f.pt"));
        assertEquals(Main.EXIT_FAILURE, r.code(), r.err());
        assertTrue(r.err().startsWith("diffusion4j: error: "), r.err());
        assertTrue(r.err().contains("ModelLoadException"), r.err());
        assertTrue(r.err().contains("\tat io.diffusion4j."), r.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
