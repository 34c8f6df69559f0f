package io.diffusion4j.training.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.image.ValueRange;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tensor-file and image-folder datasets and the batch loader: values, labels, order, threads and errors. */
class DatasetsTest {
    private static final long[] GRAY_8X8 = {1, 8, 8};

    @TempDir
    Path tmp;

    // ---- fixtures ----------------------------------------------------------------------------------------

    /** {@code n} samples of shape [2]: sample i is (i, -i). */
    private Path points(String name, int n) throws IOException {
        float[] v = new float[2 * n];
        for (int i = 0; i < n; i++) {
            v[2 * i] = i;
            v[2 * i + 1] = -i;
        }
        Path f = tmp.resolve(name);
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(f, Tensor.fromFloats(v, n, 2));
        }
        return f;
    }

    private Path longs(String name, long... values) throws IOException {
        Path f = tmp.resolve(name);
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(f, Tensor.fromLongs(values, values.length));
        }
        return f;
    }

    /** An 8x8 gray image: level {@code base} everywhere except a white left column. */
    private static BufferedImage gray(int base) {
        BufferedImage im = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        int[] px = new int[64];
        Arrays.fill(px, base);
        for (int y = 0; y < 8; y++) {
            px[y * 8] = 255;
        }
        im.getRaster().setPixels(0, 0, 8, 8, px);
        return im;
    }

    private Path png(String relative, BufferedImage im) throws IOException {
        Path p = tmp.resolve(relative);
        Files.createDirectories(p.getParent());
        assertTrue(ImageIO.write(im, "png", p.toFile()));
        return p;
    }

    // ---- tensor files ------------------------------------------------------------------------------------

    @Test
    void tensorFileSamplesAndLabels() throws IOException {
        TensorFileDataset ds = TensorFileDataset.read(points("x.pt", 5), longs("y.pt", 0, 1, 2, 1, 0));
        assertEquals(5, ds.size());
        assertArrayEquals(new long[] {2}, ds.sampleShape());
        assertEquals(3, ds.numClasses());
        HostBatch b = ds.load(3, 0);
        assertArrayEquals(new long[] {2, 2}, b.shape());
        assertArrayEquals(new float[] {3, -3, 0, 0}, b.values());
        assertArrayEquals(new long[] {1, 0}, b.labels());
        try (NativeScope scope = new NativeScope()) {
            Batch t = ds.batch(4, 1);
            assertEquals(DType.FLOAT32, t.x0().dtype());
            assertEquals(DType.INT64, t.labels().dtype());
            assertArrayEquals(new float[] {4, -4, 1, -1}, t.x0().toFloatArray());
            assertArrayEquals(new long[] {0, 1}, t.labels().toLongArray());
        }
        TensorFileDataset unlabeled = TensorFileDataset.read(tmp.resolve("x.pt"), null);
        assertFalse(unlabeled.labeled());
        assertNull(unlabeled.load(0).labels());
        unlabeled.requireSampleShape(new long[] {2}, "toy2d");
    }

    @Test
    void tensorFileErrors() throws IOException {
        Path x = points("x.pt", 4);
        DatasetException e = assertThrows(DatasetException.class,
                () -> TensorFileDataset.read(x, longs("three.pt", 0, 1, 2)));
        assertEquals(tmp.resolve("three.pt") + " holds 3 labels, but " + x + " holds 4 samples", e.getMessage());

        Path floats = tmp.resolve("floats.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(floats, Tensor.fromFloats(new float[4], 4));
        }
        e = assertThrows(DatasetException.class, () -> TensorFileDataset.read(x, floats));
        assertEquals(floats + " holds float32[4]; labels must be a 1-d tensor of integer class ids (int64)",
                e.getMessage());
        e = assertThrows(DatasetException.class, () -> TensorFileDataset.read(x, longs("neg.pt", 0, -1, 0, 0)));
        assertEquals(tmp.resolve("neg.pt") + ": label 1 is -1; class ids must be >= 0", e.getMessage());

        e = assertThrows(DatasetException.class, () -> TensorFileDataset.read(floats, null));
        assertEquals(floats + " holds float32[4]; training data must be [N, ...sample shape] with N >= 1",
                e.getMessage());

        TensorFileDataset ds = TensorFileDataset.read(x, null);
        e = assertThrows(DatasetException.class, () -> ds.requireSampleShape(new long[] {1, 8, 8}, "digits"));
        assertEquals(x + " holds samples of shape [2], but digits takes [1, 8, 8]", e.getMessage());
        assertThrows(IOException.class, () -> TensorFileDataset.read(tmp.resolve("missing.pt"), null));
    }

    // ---- image folders -----------------------------------------------------------------------------------

    @Test
    void imageFolderClassesFromSubFolders() throws IOException {
        png("data/zebra/a.png", gray(0));
        png("data/apple/b.png", gray(255));
        png("data/apple/nested/c.png", gray(51));
        Files.writeString(tmp.resolve("data/apple/notes.txt"), "not an image");
        png("data/.hidden/d.png", gray(0));
        ImageFolderDataset ds = ImageFolderDataset.open(tmp.resolve("data"), GRAY_8X8, ValueRange.MINUS_ONE_TO_ONE,
                true);
        assertEquals(List.of("apple", "zebra"), ds.classNames());
        assertEquals(Map.of("apple", 0, "zebra", 1), ds.classIds());
        assertEquals(3, ds.size());
        assertEquals(2, ds.numClasses());
        HostBatch b = ds.load(0, 1, 2);
        assertArrayEquals(new long[] {3, 1, 8, 8}, b.shape());
        assertArrayEquals(new long[] {0, 0, 1}, b.labels());
        assertEquals(1f, b.values()[1], 0f, "b.png: white -> 1");
        assertEquals(-1f + 2f * 51 / 255, b.values()[64 + 1], 1e-6f, "nested/c.png: level 51");
        assertEquals(-1f, b.values()[128 + 1], 0f, "a.png: black -> -1");
        assertEquals(1f, b.values()[128], 0f, "the white left column");

        ImageFolderDataset unlabeled = ImageFolderDataset.open(tmp.resolve("data"), GRAY_8X8,
                ValueRange.ZERO_TO_ONE, false);
        assertEquals(3, unlabeled.size());
        assertFalse(unlabeled.labeled());
        assertNull(unlabeled.load(0).labels());
    }

    @Test
    void imagesOfOtherSizesAreCenterCroppedAndResized() throws IOException {
        // 16 x 8 RGB: a red left quarter, white middle half, blue right quarter; the center crop keeps the white
        BufferedImage wide = new BufferedImage(16, 8, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                wide.setRGB(x, y, x < 4 ? 0xff0000 : x >= 12 ? 0x0000ff : 0xffffff);
            }
        }
        png("wide/w.png", wide);
        ImageFolderDataset ds = ImageFolderDataset.open(tmp.resolve("wide"), new long[] {3, 4, 4},
                ValueRange.ZERO_TO_ONE, false);
        float[] v = ds.load(0).values();
        assertEquals(48, v.length);
        for (float f : v) {
            assertEquals(1f, f, 1e-6f, "all white after the center crop: " + Arrays.toString(v));
        }
    }

    @Test
    void horizontalFlipIsSeededPerEpochAndIndex() throws IOException {
        png("one/a.png", gray(0));
        ImageFolderDataset ds = ImageFolderDataset.open(tmp.resolve("one"), GRAY_8X8, ValueRange.ZERO_TO_ONE, false)
                .withFlip(42);
        assertTrue(ds.flips());
        Set<Boolean> seen = new HashSet<>();
        for (long epoch = 0; epoch < 16; epoch++) {
            boolean flipped = ds.flipped(0, epoch);
            assertEquals(flipped, ds.withFlip(42).flipped(0, epoch), "a function of (seed, epoch, index)");
            seen.add(flipped);
            float[] v = new float[64];
            ds.read(0, epoch, v, 0);
            for (int y = 0; y < 8; y++) {
                assertEquals(1f, v[y * 8 + (flipped ? 7 : 0)], 0f, "the white column moves to the right when flipped");
                assertEquals(0f, v[y * 8 + (flipped ? 0 : 7)], 0f);
            }
        }
        assertEquals(Set.of(true, false), seen, "both outcomes over 16 epochs");
    }

    @Test
    void imageFolderErrors() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        DatasetException e = assertThrows(DatasetException.class,
                () -> ImageFolderDataset.open(empty, GRAY_8X8, ValueRange.ZERO_TO_ONE, false));
        assertEquals(empty + " has no PNG or JPEG images", e.getMessage());
        e = assertThrows(DatasetException.class,
                () -> ImageFolderDataset.open(empty, GRAY_8X8, ValueRange.ZERO_TO_ONE, true));
        assertEquals(empty + " has no class sub-folders; class labels come from sub-folder names (" + empty
                + "/<class>/*.png)", e.getMessage());
        Files.createDirectories(empty.resolve("cats"));
        e = assertThrows(DatasetException.class,
                () -> ImageFolderDataset.open(empty, GRAY_8X8, ValueRange.ZERO_TO_ONE, true));
        assertEquals("class folder " + empty.resolve("cats") + " has no PNG or JPEG images", e.getMessage());
        e = assertThrows(DatasetException.class,
                () -> ImageFolderDataset.open(tmp.resolve("nope"), GRAY_8X8, ValueRange.ZERO_TO_ONE, false));
        assertEquals("image folder not found: " + tmp.resolve("nope"), e.getMessage());

        png("loose/a/x.png", gray(0));
        Path stray = png("loose/y.png", gray(0));
        e = assertThrows(DatasetException.class,
                () -> ImageFolderDataset.open(tmp.resolve("loose"), GRAY_8X8, ValueRange.ZERO_TO_ONE, true));
        assertTrue(e.getMessage().startsWith(stray + " is not in a class sub-folder"), e.getMessage());

        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> ImageFolderDataset.open(tmp.resolve("loose"), new long[] {2}, ValueRange.ZERO_TO_ONE, false));
        assertEquals("an image folder makes samples [C, H, W] with C = 1 or 3, but the model takes [2]",
                shape.getMessage());

        png("bad/a.png", gray(0));
        Path broken = tmp.resolve("bad/b.png");
        Files.writeString(broken, "this is not a PNG");
        ImageFolderDataset ds = ImageFolderDataset.open(tmp.resolve("bad"), GRAY_8X8, ValueRange.ZERO_TO_ONE, false);
        assertEquals(2, ds.size());
        e = assertThrows(DatasetException.class, () -> ds.load(0, 1));
        assertEquals(broken + " is not a PNG or JPEG image", e.getMessage());
        try (BatchLoader loader = new BatchLoader(ds, 2, 0)) {
            e = assertThrows(DatasetException.class, loader::next);
            assertEquals(broken + " is not a PNG or JPEG image", e.getMessage(), "rethrown on the consuming thread");
            assertThrows(IllegalStateException.class, loader::next);
        }
    }

    // ---- batch loader ------------------------------------------------------------------------------------

    @Test
    void batchesFollowASeededPermutationPerEpoch() throws IOException {
        TensorFileDataset ds = TensorFileDataset.read(points("x.pt", 10), null);
        int[] seen = new int[10];
        int[] stream = new int[40];
        try (BatchLoader loader = new BatchLoader(ds, 4, 7)) {
            for (int b = 0; b < 10; b++) {
                assertEquals(b, loader.position());
                HostBatch batch = loader.nextHost();
                assertArrayEquals(new long[] {4, 2}, batch.shape(), "every batch is full");
                int[] indices = loader.indicesOf(b);
                for (int i = 0; i < 4; i++) {
                    int index = (int) batch.values()[2 * i];
                    assertEquals(indices[i], index);
                    stream[4 * b + i] = index;
                }
            }
        }
        for (int e = 0; e < 4; e++) {
            int[] epoch = Arrays.copyOfRange(stream, 10 * e, 10 * e + 10);
            assertArrayEquals(BatchLoader.permutation(10, 7, e), epoch, "epoch " + e + " uses seed 7 + " + e);
            Arrays.fill(seen, 0);
            for (int i : epoch) {
                seen[i]++;
            }
            assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, seen, "each example once per epoch");
        }
        assertArrayEquals(BatchLoader.permutation(10, 8, 0), BatchLoader.permutation(10, 7, 1));
        assertFalse(Arrays.equals(BatchLoader.permutation(10, 7, 0), BatchLoader.permutation(10, 7, 1)));
    }

    @Test
    void aLoaderStartedLaterContinuesTheSequence() throws IOException {
        TensorFileDataset ds = TensorFileDataset.read(points("x.pt", 7), null);
        float[][] straight = new float[6][];
        try (BatchLoader loader = new BatchLoader(ds, 3, 1)) {
            for (int b = 0; b < 6; b++) {
                straight[b] = loader.nextHost().values();
            }
        }
        try (BatchLoader resumed = new BatchLoader(ds, 3, 1, 4)) {
            assertArrayEquals(straight[4], resumed.nextHost().values());
            assertArrayEquals(straight[5], resumed.nextHost().values());
            assertEquals(6, resumed.position());
        }
    }

    @Test
    void batchesLargerThanTheDatasetAndTensorsOnTheCallingThread() throws IOException {
        TensorFileDataset ds = TensorFileDataset.read(points("x.pt", 3), longs("y.pt", 2, 0, 1));
        try (BatchLoader loader = new BatchLoader(ds, 8, 0); NativeScope scope = new NativeScope()) {
            Batch b = loader.next();
            assertEquals(8, b.size());
            assertArrayEquals(new long[] {8, 2}, b.x0().shape());
            float[] x = b.x0().toFloatArray();
            long[] l = b.labels().toLongArray();
            long[] expected = {2, 0, 1};
            for (int i = 0; i < 8; i++) {
                assertEquals(expected[(int) x[2 * i]], l[i], "labels travel with their samples");
            }
        }
    }

    @Test
    void closeStopsTheBackgroundThread() throws IOException {
        TensorFileDataset ds = TensorFileDataset.read(points("x.pt", 4), null);
        BatchLoader loader = new BatchLoader(ds, 2, 0);
        loader.nextHost();
        assertTrue(loader.workerAlive(), "blocked on the full queue of 2");
        loader.close();
        assertFalse(loader.workerAlive());
        assertEquals("batch loader is closed", assertThrows(IllegalStateException.class, loader::nextHost)
                .getMessage());
        loader.close();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchLoader(ds, 0, 0));
        assertEquals("batch size must be >= 1, got 0", e.getMessage());
    }
}
