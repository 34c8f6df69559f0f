package io.diffusion4j.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import java.awt.image.BufferedImage;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {

    private static final ValueRange PM1 = ValueRange.MINUS_ONE_TO_ONE;

    @TempDir
    Path dir;

    // ---- fixtures ----------------------------------------------------------------------------------------

    private static BufferedImage gray(int w, int h, int... levels) {
        BufferedImage im = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        im.getRaster().setPixels(0, 0, w, h, levels);
        return im;
    }

    private static BufferedImage randomGray(int w, int h, long seed) {
        Random r = new Random(seed);
        int[] px = new int[w * h];
        for (int i = 0; i < px.length; i++) {
            px[i] = r.nextInt(256);
        }
        px[0] = 0;
        px[px.length - 1] = 255;
        return gray(w, h, px);
    }

    private static BufferedImage randomRgb(int w, int h, long seed) {
        Random r = new Random(seed);
        BufferedImage im = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                im.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        return im;
    }

    private static int[] pixels(BufferedImage im) {
        return im.getRaster().getPixels(0, 0, im.getWidth(), im.getHeight(), (int[]) null);
    }

    private static int[] rgb(BufferedImage im) {
        return im.getRGB(0, 0, im.getWidth(), im.getHeight(), null, 0, im.getWidth());
    }

    // ---- ValueRange --------------------------------------------------------------------------------------

    @Test
    void valueRangeIsValidated() {
        assertEquals(-1.0, PM1.min());
        assertEquals(1.0, ValueRange.ZERO_TO_ONE.max());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ValueRange(1, 1));
        assertTrue(e.getMessage().contains("min < max"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ValueRange(2, 1));
        assertThrows(IllegalArgumentException.class, () -> new ValueRange(Double.NaN, 1));
        assertThrows(IllegalArgumentException.class, () -> new ValueRange(0, Double.POSITIVE_INFINITY));
    }

    // ---- image -> tensor ---------------------------------------------------------------------------------

    @Test
    void knownLevelsMapToKnownValues() {
        try (NativeScope s = new NativeScope()) {
            Tensor t = Images.toTensor(gray(3, 1, 0, 128, 255), 1, PM1);
            assertArrayEquals(new long[] {1, 1, 1, 3}, t.shape());
            assertEquals("float32[1, 1, 1, 3]", t.describe());
            assertArrayEquals(new float[] {-1f, (float) (-1 + 2 * 128 / 255.0), 1f}, t.toFloatArray());

            float[] unit = Images.toTensor(gray(3, 1, 0, 51, 255), 1, ValueRange.ZERO_TO_ONE).toFloatArray();
            assertArrayEquals(new float[] {0f, 0.2f, 1f}, unit);
        }
    }

    @Test
    void rgbIsPlanarChannelsFirst() {
        BufferedImage im = new BufferedImage(2, 1, BufferedImage.TYPE_INT_RGB);
        im.setRGB(0, 0, 0xFF0080);
        im.setRGB(1, 0, 0x00FF00);
        try (NativeScope s = new NativeScope()) {
            Tensor t = Images.toTensor(im, 3, PM1);
            assertArrayEquals(new long[] {1, 3, 1, 2}, t.shape());
            float mid = (float) (-1 + 2 * 128 / 255.0);
            assertArrayEquals(new float[] {1, -1, /* G */ -1, 1, /* B */ mid, -1}, t.toFloatArray());
        }
    }

    @Test
    void grayscaleOfColourIsLuminanceAndAlphaIsIgnored() {
        BufferedImage im = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB);
        im.setRGB(0, 0, 0x00_64C8FA); // fully transparent, R=100 G=200 B=250
        im.setRGB(1, 0, 0x80_505050);
        try (NativeScope s = new NativeScope()) {
            float[] v = Images.toTensor(im, 1, ValueRange.ZERO_TO_ONE).toFloatArray();
            assertEquals((0.299 * 100 + 0.587 * 200 + 0.114 * 250) / 255, v[0], 1e-6);
            assertEquals(0x50 / 255f, v[1]);
        }
    }

    @Test
    void grayImagesGiveThreeEqualChannelsAndColourTypesAgree() {
        BufferedImage g = gray(2, 1, 7, 200);
        BufferedImage bgr = new BufferedImage(2, 1, BufferedImage.TYPE_3BYTE_BGR);
        bgr.setRGB(0, 0, 0x070707);
        bgr.setRGB(1, 0, 0xC8C8C8);
        try (NativeScope s = new NativeScope()) {
            float[] a = Images.toTensor(g, 3, PM1).toFloatArray();
            float[] b = Images.toTensor(bgr, 3, PM1).toFloatArray();
            assertArrayEquals(a, b);
            assertEquals(a[0], a[2]);
            assertEquals(a[0], a[4]);
            assertArrayEquals(Images.toTensor(g, 1, PM1).toFloatArray(), Images.toTensor(bgr, 1, PM1).toFloatArray());
        }
    }

    @Test
    void batchStacksImages() {
        try (NativeScope s = new NativeScope()) {
            Tensor t = Images.toTensor(List.of(gray(2, 1, 0, 0), gray(2, 1, 255, 255)), 1, PM1);
            assertArrayEquals(new long[] {2, 1, 1, 2}, t.shape());
            assertArrayEquals(new float[] {-1, -1, 1, 1}, t.toFloatArray());
        }
    }

    // ---- round trips -------------------------------------------------------------------------------------

    @Test
    void grayRoundTripIsExact() {
        BufferedImage im = randomGray(13, 7, 1);
        try (NativeScope s = new NativeScope()) {
            for (ValueRange r : List.of(PM1, ValueRange.ZERO_TO_ONE, new ValueRange(-3.5, 10))) {
                BufferedImage back = Images.toImage(Images.toTensor(im, 1, r), r);
                assertEquals(BufferedImage.TYPE_BYTE_GRAY, back.getType());
                assertEquals(13, back.getWidth());
                assertEquals(7, back.getHeight());
                assertArrayEquals(pixels(im), pixels(back));
            }
        }
    }

    @Test
    void rgbRoundTripIsExact() {
        BufferedImage im = randomRgb(9, 11, 2);
        try (NativeScope s = new NativeScope()) {
            BufferedImage back = Images.toImage(Images.toTensor(im, 3, PM1), PM1);
            assertEquals(BufferedImage.TYPE_INT_RGB, back.getType());
            assertArrayEquals(rgb(im), rgb(back));
        }
    }

    @Test
    void batchRoundTripIsExact() {
        List<BufferedImage> ims = List.of(randomRgb(5, 4, 3), randomRgb(5, 4, 4), randomRgb(5, 4, 5));
        try (NativeScope s = new NativeScope()) {
            Tensor t = Images.toTensor(ims, 3, PM1);
            assertArrayEquals(new long[] {3, 3, 4, 5}, t.shape());
            List<BufferedImage> back = Images.toImages(t, PM1);
            assertEquals(3, back.size());
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(rgb(ims.get(i)), rgb(back.get(i)));
            }
            // [C, H, W] is accepted too
            assertArrayEquals(rgb(ims.get(1)), rgb(Images.toImage(t.select(0, 1), PM1)));
        }
    }

    @Test
    void valuesAreClampedAndRounded() {
        try (NativeScope s = new NativeScope()) {
            Tensor t = Tensor.fromFloats(new float[] {-5f, 7f, 0f, Float.NaN, -1 + 2 * 100.4f / 255,
                    -1 + 2 * 100.6f / 255}, 1, 1, 6);
            assertArrayEquals(new int[] {0, 255, 128, 0, 100, 101}, pixels(Images.toImage(t, PM1)));
        }
    }

    // ---- masks -------------------------------------------------------------------------------------------

    @Test
    void maskIsOneWhereWhite() {
        BufferedImage rgbMask = new BufferedImage(4, 1, BufferedImage.TYPE_INT_RGB);
        rgbMask.setRGB(0, 0, 0xFFFFFF);
        rgbMask.setRGB(1, 0, 0x000000);
        rgbMask.setRGB(2, 0, 0x808080); // luminance 128: repaint
        rgbMask.setRGB(3, 0, 0x7F7F7F);
        try (NativeScope s = new NativeScope()) {
            Tensor m = Images.toMask(rgbMask, 1, 4);
            assertArrayEquals(new long[] {1, 1, 1, 4}, m.shape());
            assertArrayEquals(new float[] {1, 0, 1, 0}, m.toFloatArray());
            assertArrayEquals(new float[] {0, 1, 1, 0}, Images.toMask(gray(2, 2, 0, 255, 128, 127), 2, 2).toFloatArray());
        }
    }

    @Test
    void maskOfAnotherSizeIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Images.toMask(gray(8, 4, new int[32]), 8, 16));
        assertEquals("mask is 8x4, the input image is 16x8", e.getMessage());
    }

    // ---- grids and resizing ------------------------------------------------------------------------------

    @Test
    void gridSizeArithmetic() {
        List<BufferedImage> ims = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            ims.add(randomGray(8, 8, i));
        }
        BufferedImage g = Images.grid(ims, 4, 2, 4);
        assertEquals(4 * 32 + 3 * 2, g.getWidth());
        assertEquals(3 * 32 + 2 * 2, g.getHeight());
        assertEquals(BufferedImage.TYPE_BYTE_GRAY, g.getType());

        BufferedImage square = Images.grid(ims, 1); // ceil(sqrt(10)) = 4 columns, padding 2
        assertEquals(4 * 8 + 3 * 2, square.getWidth());
        assertEquals(3 * 8 + 2 * 2, square.getHeight());

        BufferedImage few = Images.grid(ims.subList(0, 2), 5, 1, 1); // fewer images than columns
        assertEquals(2 * 8 + 1, few.getWidth());
        assertEquals(8, few.getHeight());
    }

    @Test
    void gridUpscalesByNearestNeighbourAndPadsWithBlack() {
        BufferedImage a = gray(2, 1, 10, 20);
        BufferedImage b = gray(2, 1, 30, 40);
        BufferedImage g = Images.grid(List.of(a, b), 2, 1, 2);
        assertEquals(9, g.getWidth());
        assertEquals(2, g.getHeight());
        int[] row = {10, 10, 20, 20, 0, 30, 30, 40, 40};
        int[] expected = new int[18];
        System.arraycopy(row, 0, expected, 0, 9);
        System.arraycopy(row, 0, expected, 9, 9);
        assertArrayEquals(expected, pixels(g));

        BufferedImage c = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        c.setRGB(0, 0, 0x123456);
        BufferedImage mixed = Images.grid(List.of(a, c), 2, 1, 1);
        assertEquals(BufferedImage.TYPE_INT_RGB, mixed.getType());
        assertEquals(0x0A0A0A, mixed.getRGB(0, 0) & 0xFFFFFF);
        assertEquals(0x000000, mixed.getRGB(2, 0) & 0xFFFFFF);
        assertEquals(0x123456, mixed.getRGB(3, 0) & 0xFFFFFF);
    }

    @Test
    void gridArgumentsAreChecked() {
        List<BufferedImage> one = List.of(gray(1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> Images.grid(List.of(), 1));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Images.grid(one, 0))
                .getMessage().contains("scale must be >= 1, got 0"));
        assertThrows(IllegalArgumentException.class, () -> Images.grid(one, 0, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> Images.grid(one, 1, -1, 1));
    }

    @Test
    void resizeKeepsKindAndUniformColour() {
        int[] level = new int[16];
        Arrays.fill(level, 77);
        BufferedImage g = gray(4, 4, level);
        BufferedImage big = Images.resize(g, 10, 6);
        assertEquals(10, big.getWidth());
        assertEquals(6, big.getHeight());
        assertEquals(BufferedImage.TYPE_BYTE_GRAY, big.getType());
        for (int p : pixels(big)) {
            assertEquals(77, p);
        }
        BufferedImage c = new BufferedImage(3, 3, BufferedImage.TYPE_3BYTE_BGR);
        for (int i = 0; i < 9; i++) {
            c.setRGB(i % 3, i / 3, 0x336699);
        }
        BufferedImage small = Images.resize(c, 2, 2);
        assertEquals(BufferedImage.TYPE_INT_RGB, small.getType());
        assertEquals(0x336699, small.getRGB(1, 1) & 0xFFFFFF);
        assertThrows(IllegalArgumentException.class, () -> Images.resize(c, 0, 2));
    }

    // ---- files -------------------------------------------------------------------------------------------

    @Test
    void pngRoundTripsThroughFiles() throws IOException {
        BufferedImage g = randomGray(8, 8, 7);
        BufferedImage c = randomRgb(6, 5, 8);
        Path gf = dir.resolve("a/b/gray.png");
        Path cf = dir.resolve("colour.png");
        Images.writePng(g, gf);
        Images.writePng(c, cf);
        Images.writePng(c, cf); // overwrites
        assertArrayEquals(pixels(g), pixels(Images.readImage(gf)));
        assertArrayEquals(rgb(c), rgb(Images.readImage(cf)));
        try (Stream<Path> left = Files.list(dir)) {
            assertFalse(left.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temporary file left");
        }
        try (NativeScope s = new NativeScope()) {
            assertArrayEquals(Images.toTensor(g, 1, PM1).toFloatArray(),
                    Images.toTensor(Images.readImage(gf), 1, PM1).toFloatArray());
        }
    }

    @Test
    void jpegIsRead() throws IOException {
        BufferedImage c = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
        Path f = dir.resolve("x.jpg");
        assertTrue(javax.imageio.ImageIO.write(c, "jpeg", f.toFile()));
        BufferedImage back = Images.readImage(f);
        assertEquals(8, back.getWidth());
    }

    @Test
    void fileErrorsNameTheFile() throws IOException {
        Path missing = dir.resolve("nope.png");
        IOException e = assertThrows(FileNotFoundException.class, () -> Images.readImage(missing));
        assertEquals("image not found: " + missing, e.getMessage());

        Path junk = dir.resolve("junk.png");
        Files.writeString(junk, "not an image");
        e = assertThrows(IOException.class, () -> Images.readImage(junk));
        assertEquals(junk + " is not a PNG or JPEG image", e.getMessage());

        Path blocked = dir.resolve("file");
        Files.writeString(blocked, "a file, not a folder");
        Path target = blocked.resolve("out.png");
        e = assertThrows(IOException.class, () -> Images.writePng(gray(1, 1, 0), target));
        assertTrue(e.getMessage().startsWith("cannot write PNG " + target), e.getMessage());
    }

    // ---- argument errors ---------------------------------------------------------------------------------

    @Test
    void badShapesAreRejectedWithTheShape() {
        try (NativeScope s = new NativeScope()) {
            Tensor twoChannels = Tensor.zeros(io.diffusion4j.bindings.DType.FLOAT32,
                    io.diffusion4j.bindings.Device.CPU, 2, 4, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Images.toImage(twoChannels, PM1));
            assertEquals("expected an image tensor [C, H, W] or [1, C, H, W] with C = 1 or 3, got float32[2, 4, 4]",
                    e.getMessage());
            Tensor batch = Tensor.fromFloats(new float[2 * 16], 2, 1, 4, 4);
            e = assertThrows(IllegalArgumentException.class, () -> Images.toImage(batch, PM1));
            assertEquals("expected an image tensor [C, H, W] or [1, C, H, W] with C = 1 or 3, got float32[2, 1, 4, 4]",
                    e.getMessage());
            Tensor flat = Tensor.fromFloats(new float[16], 16);
            assertThrows(IllegalArgumentException.class, () -> Images.toImage(flat, PM1));
            e = assertThrows(IllegalArgumentException.class,
                    () -> Images.toImages(Tensor.fromFloats(new float[16], 1, 4, 4), PM1));
            assertTrue(e.getMessage().contains("float32[1, 4, 4]"), e.getMessage());
        }
    }

    @Test
    void toTensorArgumentsAreChecked() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Images.toTensor(gray(1, 1, 0), 4, PM1));
        assertEquals("channels must be 1 (grayscale) or 3 (RGB), got 4", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Images.toTensor(List.of(gray(8, 8, new int[64]), gray(8, 8, new int[64]), gray(4, 2, new int[8])),
                        1, PM1));
        assertEquals("all images must have the same size, but image 0 is 8x8 and image 2 is 4x2", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Images.toTensor(List.of(), 1, PM1));
    }
}
