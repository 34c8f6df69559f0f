package io.diffusion4j.image;

import io.diffusion4j.bindings.Tensor;
import java.awt.AlphaComposite;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.Raster;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import javax.imageio.ImageIO;

/**
 * Converts between {@link BufferedImage}s and image tensors {@code [B, C, H, W]} (float32, C = 1 for grayscale or
 * 3 for RGB), and reads, writes, resizes and tiles images. JDK only ({@code java.awt.image}, {@code javax.imageio}).
 *
 * <p>Pixel levels 0..255 map linearly onto a {@link ValueRange}: {@code value = min + (max - min) * p / 255};
 * back, values are clamped to the range and rounded, so image -> tensor -> image is exact. Alpha is ignored.
 * Grayscale from colour uses the luminance {@code 0.299 R + 0.587 G + 0.114 B} (kept fractional; exact for gray
 * pixels). Gray images are read from their raster, never through {@code getRGB}, which would gamma-convert them.
 *
 * <p>All per-pixel work happens in Java arrays; each conversion makes or reads one tensor in one native call.
 * Tensors returned follow the usual ownership rules (they belong to the open {@code NativeScope}, if any).
 */
public final class Images {

    private Images() {
    }

    // ---- image -> tensor ---------------------------------------------------------------------------------

    /**
     * One image as a float32 CPU tensor {@code [1, C, H, W]}.
     *
     * @param channels 1 (grayscale, by luminance) or 3 (RGB)
     * @param range the values that pixel levels 0 and 255 map to
     */
    public static Tensor toTensor(BufferedImage image, int channels, ValueRange range) {
        Objects.requireNonNull(image, "image");
        return toTensor(List.of(image), channels, range);
    }

    /**
     * A batch of images, all of one size, as a float32 CPU tensor {@code [B, C, H, W]}.
     *
     * @throws IllegalArgumentException if the list is empty, the images differ in size, or channels is not 1 or 3
     */
    public static Tensor toTensor(List<BufferedImage> images, int channels, ValueRange range) {
        Objects.requireNonNull(images, "images");
        Objects.requireNonNull(range, "range");
        checkChannels(channels);
        if (images.isEmpty()) {
            throw new IllegalArgumentException("need at least one image");
        }
        BufferedImage first = Objects.requireNonNull(images.get(0), "image 0");
        int w = first.getWidth();
        int h = first.getHeight();
        for (int i = 1; i < images.size(); i++) {
            BufferedImage im = Objects.requireNonNull(images.get(i), "image " + i);
            if (im.getWidth() != w || im.getHeight() != h) {
                throw new IllegalArgumentException("all images must have the same size, but image 0 is " + w + "x"
                        + h + " and image " + i + " is " + size(im));
            }
        }
        int plane = w * h;
        long total = (long) images.size() * channels * plane;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(images.size() + " images of " + w + "x" + h + " with " + channels
                    + " channels are too many values (" + total + ") for one tensor");
        }
        float[] lut = levels(range);
        float[] data = new float[(int) total];
        int offset = 0;
        for (BufferedImage im : images) {
            if (channels == 1) {
                if (isGray(im)) {
                    int[] g = graySamples(im);
                    for (int i = 0; i < plane; i++) {
                        data[offset + i] = lut[g[i]];
                    }
                } else {
                    int[] rgb = rgbSamples(im);
                    for (int i = 0, j = 0; i < plane; i++, j += 3) {
                        data[offset + i] = (float) range.valueOf(luminance(rgb[j], rgb[j + 1], rgb[j + 2]));
                    }
                }
            } else {
                int[] rgb = rgbSamples(im);
                for (int i = 0, j = 0; i < plane; i++, j += 3) {
                    data[offset + i] = lut[rgb[j]];
                    data[offset + plane + i] = lut[rgb[j + 1]];
                    data[offset + 2 * plane + i] = lut[rgb[j + 2]];
                }
            }
            offset += channels * plane;
        }
        return Tensor.fromFloats(data, images.size(), channels, h, w);
    }

    /**
     * An inpainting mask as a float32 CPU tensor {@code [1, 1, H, W]}: 1.0 where the mask pixel is white-ish
     * (luminance >= 128), meaning <em>repaint here</em>; 0.0 (black) where the input image is kept. This is the
     * diffusers convention: white = area to repaint.
     *
     * @param height the height of the image being inpainted; the mask must have it
     * @param width the width of the image being inpainted; the mask must have it
     * @throws IllegalArgumentException if the mask is not {@code width x height}
     */
    public static Tensor toMask(BufferedImage mask, int height, int width) {
        Objects.requireNonNull(mask, "mask");
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        if (mask.getWidth() != width || mask.getHeight() != height) {
            throw new IllegalArgumentException("mask is " + size(mask) + ", the input image is " + width + "x" + height);
        }
        int plane = width * height;
        float[] data = new float[plane];
        if (isGray(mask)) {
            int[] g = graySamples(mask);
            for (int i = 0; i < plane; i++) {
                data[i] = g[i] >= 128 ? 1f : 0f;
            }
        } else {
            int[] rgb = rgbSamples(mask);
            for (int i = 0, j = 0; i < plane; i++, j += 3) {
                data[i] = luminance(rgb[j], rgb[j + 1], rgb[j + 2]) >= 128 ? 1f : 0f;
            }
        }
        return Tensor.fromFloats(data, 1, 1, height, width);
    }

    // ---- tensor -> image ---------------------------------------------------------------------------------

    /**
     * One image from a tensor {@code [C, H, W]} or {@code [1, C, H, W]}, C = 1 ({@code TYPE_BYTE_GRAY}) or 3
     * ({@code TYPE_INT_RGB}). Values are clamped to {@code range}, then mapped to 0..255 with rounding; NaN gives 0.
     * The tensor may have any dtype and device; it is read once.
     *
     * @throws IllegalArgumentException for any other shape
     */
    public static BufferedImage toImage(Tensor chw, ValueRange range) {
        Objects.requireNonNull(chw, "tensor");
        Objects.requireNonNull(range, "range");
        long[] s = chw.shape();
        boolean ok = (s.length == 3 || (s.length == 4 && s[0] == 1))
                && isImageShape(s[s.length - 3], s[s.length - 2], s[s.length - 1]);
        if (!ok) {
            throw new IllegalArgumentException("expected an image tensor [C, H, W] or [1, C, H, W] with C = 1 or 3, got "
                    + chw.describe());
        }
        int c = (int) s[s.length - 3];
        int h = (int) s[s.length - 2];
        int w = (int) s[s.length - 1];
        return image(chw.toFloatArray(), 0, c, h, w, range);
    }

    /**
     * The images of a batch tensor {@code [B, C, H, W]}, C = 1 or 3; see {@link #toImage}.
     *
     * @throws IllegalArgumentException for any other shape
     */
    public static List<BufferedImage> toImages(Tensor bchw, ValueRange range) {
        Objects.requireNonNull(bchw, "tensor");
        Objects.requireNonNull(range, "range");
        long[] s = bchw.shape();
        if (s.length != 4 || !isImageShape(s[1], s[2], s[3])) {
            throw new IllegalArgumentException("expected an image batch tensor [B, C, H, W] with C = 1 or 3, got "
                    + bchw.describe());
        }
        int b = (int) s[0];
        int c = (int) s[1];
        int h = (int) s[2];
        int w = (int) s[3];
        float[] data = bchw.toFloatArray();
        List<BufferedImage> out = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            out.add(image(data, i * c * h * w, c, h, w, range));
        }
        return out;
    }

    private static BufferedImage image(float[] data, int offset, int c, int h, int w, ValueRange range) {
        int plane = h * w;
        int[] px = new int[plane * c];
        if (c == 1) {
            for (int i = 0; i < plane; i++) {
                px[i] = range.pixelOf(data[offset + i]);
            }
        } else {
            for (int i = 0, j = 0; i < plane; i++, j += 3) {
                px[j] = range.pixelOf(data[offset + i]);
                px[j + 1] = range.pixelOf(data[offset + plane + i]);
                px[j + 2] = range.pixelOf(data[offset + 2 * plane + i]);
            }
        }
        BufferedImage im = new BufferedImage(w, h, c == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        im.getRaster().setPixels(0, 0, w, h, px);
        return im;
    }

    // ---- grids and resizing ------------------------------------------------------------------------------

    /**
     * Tiles images into a square-ish grid: {@code ceil(sqrt(n))} columns, 2 pixels of black between tiles, each
     * image upscaled {@code scale} times; see {@link #grid(List, int, int, int)}.
     */
    public static BufferedImage grid(List<BufferedImage> images, int scale) {
        Objects.requireNonNull(images, "images");
        int columns = Math.max(1, (int) Math.ceil(Math.sqrt(images.size())));
        return grid(images, columns, 2, scale);
    }

    /**
     * Tiles images, in order, into rows of {@code columns} (fewer when there are fewer images), each upscaled
     * {@code scale} times by nearest neighbour (so 8x8 digits become visible), with {@code padding} pixels of black
     * between tiles and none around the edge. Tiles are as large as the largest image; smaller images sit in the
     * top-left corner of theirs. The result is {@code TYPE_BYTE_GRAY} when every image is gray, else
     * {@code TYPE_INT_RGB}. Width: {@code cols * tileWidth * scale + (cols - 1) * padding}; likewise height.
     *
     * @throws IllegalArgumentException if the list is empty, {@code columns < 1}, {@code padding < 0} or
     *     {@code scale < 1}
     */
    public static BufferedImage grid(List<BufferedImage> images, int columns, int padding, int scale) {
        Objects.requireNonNull(images, "images");
        if (images.isEmpty()) {
            throw new IllegalArgumentException("a grid needs at least one image");
        }
        if (columns < 1) {
            throw new IllegalArgumentException("columns must be >= 1, got " + columns);
        }
        if (padding < 0) {
            throw new IllegalArgumentException("padding must be >= 0, got " + padding);
        }
        if (scale < 1) {
            throw new IllegalArgumentException("scale must be >= 1, got " + scale);
        }
        int n = images.size();
        int cols = Math.min(columns, n);
        int rows = (n + cols - 1) / cols;
        int tileW = 0;
        int tileH = 0;
        boolean gray = true;
        for (int i = 0; i < n; i++) {
            BufferedImage im = Objects.requireNonNull(images.get(i), "image " + i);
            tileW = Math.max(tileW, im.getWidth());
            tileH = Math.max(tileH, im.getHeight());
            gray &= isGray(im);
        }
        long width = (long) cols * tileW * scale + (long) (cols - 1) * padding;
        long height = (long) rows * tileH * scale + (long) (rows - 1) * padding;
        int bands = gray ? 1 : 3;
        if (width * height * bands > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("grid of " + width + "x" + height + " pixels is too large");
        }
        int gw = (int) width;
        int gh = (int) height;
        int[] out = new int[gw * gh * bands];
        for (int k = 0; k < n; k++) {
            BufferedImage im = images.get(k);
            int[] src = gray ? graySamples(im) : rgbSamples(im);
            int w = im.getWidth();
            int h = im.getHeight();
            int x0 = (k % cols) * (tileW * scale + padding);
            int y0 = (k / cols) * (tileH * scale + padding);
            for (int y = 0; y < h * scale; y++) {
                int srcRow = (y / scale) * w;
                int dstRow = (y0 + y) * gw + x0;
                for (int x = 0; x < w * scale; x++) {
                    int s = (srcRow + x / scale) * bands;
                    int d = (dstRow + x) * bands;
                    for (int b = 0; b < bands; b++) {
                        out[d + b] = src[s + b];
                    }
                }
            }
        }
        BufferedImage grid = new BufferedImage(gw, gh, gray ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        grid.getRaster().setPixels(0, 0, gw, gh, out);
        return grid;
    }

    /**
     * {@code image} scaled to {@code width x height} with bilinear interpolation (Graphics2D), for inputs of
     * another size than a model expects. Gray images stay {@code TYPE_BYTE_GRAY}; others become
     * {@code TYPE_INT_RGB} ({@code TYPE_INT_ARGB} if they have alpha). Returns a new image even for the same size.
     */
    public static BufferedImage resize(BufferedImage image, int width, int height) {
        Objects.requireNonNull(image, "image");
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("target size must be positive, got " + width + "x" + height);
        }
        int type = isGray(image) ? BufferedImage.TYPE_BYTE_GRAY
                : image.getColorModel().hasAlpha() ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB;
        BufferedImage out = new BufferedImage(width, height, type);
        Graphics2D g = out.createGraphics();
        try {
            g.setComposite(AlphaComposite.Src);
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.drawImage(image, 0, 0, width, height, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    // ---- files -------------------------------------------------------------------------------------------

    /**
     * Writes {@code image} as a PNG, atomically: to a temporary sibling first, then moved over {@code file}, so a
     * reader never sees half a file. Missing parent folders are created.
     *
     * @throws IOException naming the file, if it cannot be written
     */
    public static void writePng(BufferedImage image, Path file) throws IOException {
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(file, "file");
        Path target = file.toAbsolutePath();
        Path tmp = null;
        try {
            Path parent = target.getParent();
            Files.createDirectories(parent);
            tmp = Files.createTempFile(parent, "." + target.getFileName(), ".tmp");
            if (!ImageIO.write(image, "png", tmp.toFile())) {
                throw new IOException("no PNG writer for an image of type " + image.getType());
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new IOException("cannot write PNG " + file + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * Reads a PNG or JPEG (or any other format ImageIO knows).
     *
     * @throws FileNotFoundException "image not found: <path>" if there is no such file
     * @throws IOException "<path> is not a PNG or JPEG image" if ImageIO cannot decode it
     */
    public static BufferedImage readImage(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file)) {
            throw new FileNotFoundException("image not found: " + file);
        }
        BufferedImage image;
        try {
            image = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new IOException(file + " is not a PNG or JPEG image (" + e.getMessage() + ")", e);
        }
        if (image == null) {
            throw new IOException(file + " is not a PNG or JPEG image");
        }
        return image;
    }

    // ---- pixels ------------------------------------------------------------------------------------------

    private static void checkChannels(int channels) {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 (grayscale) or 3 (RGB), got " + channels);
        }
    }

    private static boolean isImageShape(long c, long h, long w) {
        return (c == 1 || c == 3) && h > 0 && w > 0 && h * w * c <= Integer.MAX_VALUE - 8;
    }

    private static String size(BufferedImage im) {
        return im.getWidth() + "x" + im.getHeight();
    }

    /** Tensor values of pixel levels 0..255. */
    private static float[] levels(ValueRange range) {
        float[] lut = new float[256];
        for (int p = 0; p < 256; p++) {
            lut[p] = (float) range.valueOf(p);
        }
        return lut;
    }

    /** 0.299 R + 0.587 G + 0.114 B; exactly the level for gray pixels. */
    private static double luminance(int r, int g, int b) {
        return r == g && g == b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
    }

    /** One gray band (8 or 16 bits, say), read straight from the raster. */
    private static boolean isGray(BufferedImage im) {
        ColorModel cm = im.getColorModel();
        return cm instanceof ComponentColorModel && cm.getNumComponents() == 1
                && cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
    }

    /** Gray levels 0..255, row-major, for an image with {@link #isGray}. */
    private static int[] graySamples(BufferedImage im) {
        Raster r = im.getRaster();
        int[] g = r.getSamples(0, 0, im.getWidth(), im.getHeight(), 0, (int[]) null);
        int bits = im.getColorModel().getComponentSize(0);
        if (bits != 8) {
            double max = (1L << bits) - 1;
            for (int i = 0; i < g.length; i++) {
                g[i] = (int) Math.round(g[i] * 255.0 / max);
            }
        }
        return g;
    }

    /** R, G, B levels 0..255, interleaved row-major; alpha dropped. */
    private static int[] rgbSamples(BufferedImage im) {
        int w = im.getWidth();
        int h = im.getHeight();
        if (isGray(im)) {
            int[] g = graySamples(im);
            int[] rgb = new int[g.length * 3];
            for (int i = 0, j = 0; i < g.length; i++, j += 3) {
                rgb[j] = g[i];
                rgb[j + 1] = g[i];
                rgb[j + 2] = g[i];
            }
            return rgb;
        }
        switch (im.getType()) {
            case BufferedImage.TYPE_INT_RGB:
            case BufferedImage.TYPE_INT_ARGB:
            case BufferedImage.TYPE_INT_BGR:
            case BufferedImage.TYPE_3BYTE_BGR:
            case BufferedImage.TYPE_4BYTE_ABGR: {
                // the bands of these types are R, G, B (, A) in that order, 8 bits each
                int[] px = im.getRaster().getPixels(0, 0, w, h, (int[]) null);
                int bands = im.getRaster().getNumBands();
                if (bands == 3) {
                    return px;
                }
                int[] rgb = new int[w * h * 3];
                for (int i = 0, j = 0, k = 0; i < w * h; i++, j += 3, k += bands) {
                    rgb[j] = px[k];
                    rgb[j + 1] = px[k + 1];
                    rgb[j + 2] = px[k + 2];
                }
                return rgb;
            }
            default: {
                // indexed, premultiplied, 16-bit and custom layouts: let Java2D convert to plain RGB
                BufferedImage plain = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
                Graphics2D g = plain.createGraphics();
                try {
                    g.drawImage(im, 0, 0, null);
                } finally {
                    g.dispose();
                }
                return plain.getRaster().getPixels(0, 0, w, h, (int[]) null);
            }
        }
    }
}
