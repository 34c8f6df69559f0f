package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.Torch;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model folder with only model.pt + scheduler_config.json (the float-timestep denoiser of
 * test-models/make_float_timestep_refs.py) is first-class: {@code train} on an RGB image folder takes the sample shape
 * from the images and exports a complete diffusion4j.json; {@code inspect} reports and writes what the model takes.
 */
class ForeignModelTrainTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void oneThread() {
        Torch.setThreads(1);
    }

    /** {@code n} random 12x12 RGB PNGs of smooth colour gradients. */
    private Path rgbImages(int n) throws Exception {
        Path dir = tmp.resolve("rgb-images");
        Files.createDirectories(dir);
        Random r = new Random(3);
        for (int i = 0; i < n; i++) {
            BufferedImage img = new BufferedImage(12, 12, BufferedImage.TYPE_INT_RGB);
            int c0 = r.nextInt(0xffffff);
            int c1 = r.nextInt(0xffffff);
            for (int y = 0; y < 12; y++) {
                for (int x = 0; x < 12; x++) {
                    double w = (x + y) / 22.0;
                    int rgb = 0;
                    for (int shift = 0; shift <= 16; shift += 8) {
                        int a = (c0 >> shift) & 0xff;
                        int b = (c1 >> shift) & 0xff;
                        rgb |= ((int) Math.round(a * (1 - w) + b * w)) << shift;
                    }
                    img.setRGB(x, y, rgb);
                }
            }
            assertTrue(ImageIO.write(img, "png", dir.resolve(String.format("img%02d.png", i)).toFile()));
        }
        return dir;
    }

    @Test
    void trainOnAnImageFolderExportsACompleteSpec() throws Exception {
        Path model = ForeignModelSampleTest.modelFolder(tmp);
        Path data = rgbImages(8);
        Path out = tmp.resolve("tuned");
        String[] r = ForeignModelSampleTest.run("train", "--model", model.toString(), "--data", data.toString(),
                "--steps", "5", "--batch", "4", "--out", out.toString());
        assertEquals("0", r[0], () -> "stdout: " + r[1] + "\nstderr: " + r[2]);
        ModelSpec spec = ModelSpec.read(out.resolve("diffusion4j.json"));
        assertArrayEquals(new long[] {3, 12, 12}, spec.sampleShape(), "from the images");
        assertEquals(ValueRange.MINUS_ONE_TO_ONE, spec.valueRange(), "diffusers' convention by default");
        assertEquals(List.of("sample", "timestep"), spec.forwardSignature());
        assertNull(spec.timestepDType(), "takes both dtypes: left to the scheduler");
        assertTrue(Files.isRegularFile(out.resolve("model.pt")));
        // the export samples as an image model (a PNG without --sample-shape)
        String[] s = ForeignModelSampleTest.run("sample", "--model", out.toString(), "--scheduler", "euler", "--steps",
                "3", "--out", tmp.resolve("x.png").toString());
        assertEquals("0", s[0], () -> s[1] + s[2]);
        assertEquals(0, ImageIO.read(tmp.resolve("x.png").toFile()).getWidth() % 12, "12-pixel-wide samples, scaled");
    }

    @Test
    void sampleShapeAndValueRangeOptionsWin() throws Exception {
        Path model = ForeignModelSampleTest.modelFolder(tmp);
        Path out = tmp.resolve("tuned-8");
        String[] r = ForeignModelSampleTest.run("train", "--model", model.toString(), "--data",
                rgbImages(4).toString(), "--sample-shape", "3,8,8", "--value-range", "0,1", "--steps", "2", "--batch",
                "2", "--out", out.toString());
        assertEquals("0", r[0], () -> r[1] + r[2]);
        ModelSpec spec = ModelSpec.read(out.resolve("diffusion4j.json"));
        assertArrayEquals(new long[] {3, 8, 8}, spec.sampleShape());
        assertEquals(ValueRange.ZERO_TO_ONE, spec.valueRange());
    }

    @Test
    void badShapesAndRangesAreUsageErrors() throws Exception {
        Path model = ForeignModelSampleTest.modelFolder(tmp);
        String data = rgbImages(2).toString();
        String o = tmp.resolve("o").toString();
        String[] wrongChannels = ForeignModelSampleTest.run("train", "--model", model.toString(), "--data", data,
                "--sample-shape", "1,8,8", "--steps", "1", "--out", o);
        assertEquals("2", wrongChannels[0], wrongChannels[2]);
        assertTrue(wrongChannels[2].contains("does not take samples [1, 8, 8]"), wrongChannels[2]);
        String[] range = ForeignModelSampleTest.run("train", "--model", model.toString(), "--data", data,
                "--value-range", "1,0", "--steps", "1", "--out", o);
        assertEquals("2", range[0], range[2]);
        assertTrue(range[2].contains("--value-range must be MIN,MAX with MIN < MAX"), range[2]);
        assertFalse(Files.exists(Path.of(o)));
    }

    @Test
    void inspectReportsAndWritesWhatTheModelTakes() throws Exception {
        Path dir = tmp.resolve("inspect-me");
        Files.createDirectories(dir);
        Files.copy(ForeignModelSampleTest.modelFolder(tmp).resolve("model.pt"), dir.resolve("model.pt"));
        Files.copy(ForeignModelSampleTest.modelFolder(tmp).resolve("scheduler_config.json"),
                dir.resolve("scheduler_config.json"));
        String[] r = ForeignModelSampleTest.run("inspect", "--model", dir.toString(), "--sample-shape", "3,16,16");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("forward: (sample: Tensor, timestep: Tensor)"), r[1]);
        assertTrue(r[1].contains("class labels: no"), r[1]);
        assertTrue(r[1].contains("output shape for [2, 3, 16, 16]: [2, 3, 16, 16]"), r[1]);
        assertTrue(r[1].contains("timestep dtypes accepted: int64, float32 (fractional timesteps change the output"),
                r[1]);
        assertTrue(r[1].contains("diffusion4j.json: none"), r[1]);
        assertFalse(Files.exists(dir.resolve("diffusion4j.json")), "no --write, nothing written");

        String[] w = ForeignModelSampleTest.run("inspect", "--model", dir.toString(), "--sample-shape", "3,8,8",
                "--write");
        assertEquals("0", w[0], w[2]);
        ModelSpec spec = ModelFolder.open(dir).spec();
        assertArrayEquals(new long[] {3, 8, 8}, spec.sampleShape());
        assertEquals(ValueRange.MINUS_ONE_TO_ONE, spec.valueRange());
        assertEquals("inspect-me", spec.name());
        assertEquals(2, ForeignModelSampleTest.run("inspect", "--model", dir.toString(), "--write")[0].charAt(0) - '0',
                "refuses to replace the diffusion4j.json");
    }

    @Test
    void inspectFindsTheClassIdsOfAConditionalModel() {
        String[] r = ForeignModelSampleTest.run("inspect", "--model", "digits");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("class labels: yes, ids 0..10 accepted"), r[1]);
        assertTrue(r[1].contains("output shape for [2, 1, 8, 8]: [2, 1, 8, 8]"), r[1]);
        assertEquals("2", ForeignModelSampleTest.run("inspect", "--model", "digits", "--write")[0], "built-in");
        assertEquals("2", ForeignModelSampleTest.run("inspect", "--model", "toy2d", "--sample-shape", "2x")[0]);
    }

    /** img2img on the folder without diffusion4j.json: --sample-shape says the size, the range defaults to [-1, 1]. */
    @Test
    void img2imgTakesTheShapeFromTheOptions() throws Exception {
        Path model = ForeignModelSampleTest.modelFolder(tmp);
        Path input = rgbImages(1).resolve("img00.png");
        Path out = tmp.resolve("img2img.png");
        String[] r = ForeignModelSampleTest.run("img2img", "--model", model.toString(), "--input", input.toString(),
                "--sample-shape", "3,12,12", "--strength", "0.5", "--scheduler", "euler", "--steps", "4", "--out",
                out.toString());
        assertEquals("0", r[0], () -> r[1] + r[2]);
        assertEquals(0, ImageIO.read(out.toFile()).getWidth() % 12);
        String[] noShape = ForeignModelSampleTest.run("img2img", "--model", model.toString(), "--input",
                input.toString(), "--out", out.toString());
        assertEquals("2", noShape[0], noShape[2]);
        assertTrue(noShape[2].contains("--sample-shape C,H,W"), noShape[2]);
    }
}
