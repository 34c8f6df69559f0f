package io.diffusion4j.training.data;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.image.Images;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.model.ModelSpec;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Images (PNG or JPEG) from a folder, as samples {@code [C, H, W]} for an image model: each is center-cropped to the
 * model's aspect ratio and resized to its {@code H x W} with {@link Images#resize} (so images of any size are used,
 * none is skipped), converted to C = 1 (luminance) or 3 (RGB) channels and scaled to the model's value range with
 * {@link Images#toTensor}, and optionally flipped horizontally at random (a seeded function of epoch and index).
 *
 * <p><b>Class labels</b> (optional) come from sub-folder names, as torchvision's {@code ImageFolder} does: the
 * sub-folders of the root, sorted by name, are classes {@code 0..K-1} ({@link #classNames()}); every image must be
 * inside one of them (in it or deeper). Without labels, all images under the root (at any depth) are used. Files
 * and folders whose names start with a dot are ignored.
 *
 * <p>Images are decoded when read (by {@link #read}, which is thread-safe), not when the dataset is opened; an
 * unreadable file fails that read with a {@link DatasetException} naming it.
 */
public final class ImageFolderDataset implements Dataset {
    private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg");

    private final Path root;
    private final int channels;
    private final int height;
    private final int width;
    private final ValueRange range;
    private final List<Path> files;
    private final int[] labels;
    private final List<String> classNames;
    private final boolean flip;
    private final long seed;

    private ImageFolderDataset(Path root, int channels, int height, int width, ValueRange range, List<Path> files,
                               int[] labels, List<String> classNames, boolean flip, long seed) {
        this.root = root;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.range = range;
        this.files = files;
        this.labels = labels;
        this.classNames = classNames;
        this.flip = flip;
        this.seed = seed;
    }

    /**
     * Lists the images under {@code root} for samples of {@code sampleShape} = {@code [C, H, W]}.
     *
     * @param classLabels whether sub-folder names give class labels
     * @throws IllegalArgumentException if the shape is not {@code [1 or 3, H, W]} or the range is null
     * @throws DatasetException         if the folder is missing or holds no images, or (with labels) has no class
     *                                  sub-folders, an empty one, or an image outside them
     */
    public static ImageFolderDataset open(Path root, long[] sampleShape, ValueRange range, boolean classLabels)
            throws IOException {
        if (sampleShape == null || sampleShape.length != 3 || (sampleShape[0] != 1 && sampleShape[0] != 3)
                || sampleShape[1] < 1 || sampleShape[2] < 1) {
            throw new IllegalArgumentException("an image folder makes samples [C, H, W] with C = 1 or 3, but the "
                    + "model takes " + Arrays.toString(sampleShape));
        }
        if (range == null) {
            throw new IllegalArgumentException("an image folder needs the model's value range (value_range in "
                    + ModelSpec.FILE_NAME + ")");
        }
        if (!Files.isDirectory(root)) {
            throw new DatasetException("image folder not found: " + root);
        }
        List<Path> files = new ArrayList<>();
        int[] labels = null;
        List<String> classNames = List.of();
        if (classLabels) {
            List<Path> classDirs = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
                for (Path p : ds) {
                    if (hidden(p)) {
                        continue;
                    }
                    if (Files.isDirectory(p)) {
                        classDirs.add(p);
                    } else if (isImage(p)) {
                        throw new DatasetException(p + " is not in a class sub-folder; with class labels every image "
                                + "must be under " + root + "/<class>/");
                    }
                }
            }
            if (classDirs.isEmpty()) {
                throw new DatasetException(root + " has no class sub-folders; class labels come from sub-folder names ("
                        + root + "/<class>/*.png)");
            }
            classDirs.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
            List<Integer> ids = new ArrayList<>();
            List<String> names = new ArrayList<>();
            for (int c = 0; c < classDirs.size(); c++) {
                List<Path> inClass = images(classDirs.get(c));
                if (inClass.isEmpty()) {
                    throw new DatasetException("class folder " + classDirs.get(c) + " has no PNG or JPEG images");
                }
                names.add(classDirs.get(c).getFileName().toString());
                files.addAll(inClass);
                for (int i = 0; i < inClass.size(); i++) {
                    ids.add(c);
                }
            }
            labels = ids.stream().mapToInt(Integer::intValue).toArray();
            classNames = List.copyOf(names);
        } else {
            files.addAll(images(root));
            if (files.isEmpty()) {
                throw new DatasetException(root + " has no PNG or JPEG images");
            }
        }
        return new ImageFolderDataset(root, (int) sampleShape[0], (int) sampleShape[1], (int) sampleShape[2], range,
                List.copyOf(files), labels, classNames, false, 0);
    }

    /**
     * The sample shape {@code [C, H, W]} the images under {@code root} suggest: the first image's (in sorted order,
     * class sub-folders included) height and width, C = 1 when it is grayscale, else 3. Other images are
     * center-cropped and resized to it.
     *
     * @throws DatasetException if the folder is missing, holds no PNG or JPEG images, or the first cannot be read
     */
    public static long[] sampleShapeOf(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new DatasetException("image folder not found: " + root);
        }
        List<Path> files;
        try (var walk = Files.walk(root)) {
            files = walk.filter(p -> Files.isRegularFile(p) && isImage(p) && !hidden(p)).sorted().toList();
        }
        if (files.isEmpty()) {
            throw new DatasetException(root + " has no PNG or JPEG images");
        }
        BufferedImage first;
        try {
            first = Images.readImage(files.get(0));
        } catch (RuntimeException e) {
            throw new DatasetException("cannot decode " + files.get(0) + ": " + e.getMessage(), e);
        }
        int channels = first.getColorModel().getNumColorComponents() == 1 ? 1 : 3;
        return new long[] {channels, first.getHeight(), first.getWidth()};
    }

    /**
     * Lists the images under {@code root} for a model: its {@code sample_shape} and {@code value_range}, with class
     * labels from sub-folders when the model is class-conditional.
     */
    public static ImageFolderDataset forModel(Path root, ModelSpec spec) throws IOException {
        return open(root, spec.sampleShape(), spec.valueRange(), spec.isConditional());
    }

    /**
     * This dataset with random horizontal flips: example {@code i} of epoch {@code e} is flipped with probability
     * 1/2, decided by {@code (seed, e, i)} alone.
     */
    public ImageFolderDataset withFlip(long flipSeed) {
        return new ImageFolderDataset(root, channels, height, width, range, files, labels, classNames, true, flipSeed);
    }

    private static boolean hidden(Path p) {
        return p.getFileName().toString().startsWith(".");
    }

    private static boolean isImage(Path p) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    /** The images under {@code dir} at any depth, skipping hidden names, sorted by path. */
    private static List<Path> images(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            List<Path> out = new ArrayList<>(walk.filter(p -> !dir.relativize(p).toString().isEmpty())
                    .filter(p -> {
                        for (Path part : dir.relativize(p)) {
                            if (part.toString().startsWith(".")) {
                                return false;
                            }
                        }
                        return true;
                    })
                    .filter(ImageFolderDataset::isImage).toList());
            Collections.sort(out);
            return out;
        }
    }

    /** The image files, in example order. */
    public List<Path> files() {
        return files;
    }

    /** The class names (sub-folder names), index = class id; empty without labels. */
    public List<String> classNames() {
        return classNames;
    }

    /** The class id of each class name; empty without labels. */
    public Map<String, Integer> classIds() {
        Map<String, Integer> m = new HashMap<>();
        for (int i = 0; i < classNames.size(); i++) {
            m.put(classNames.get(i), i);
        }
        return Collections.unmodifiableMap(m);
    }

    /** Whether images are flipped at random. */
    public boolean flips() {
        return flip;
    }

    /** Whether example {@code index} is flipped in {@code epoch}. */
    public boolean flipped(int index, long epoch) {
        if (!flip) {
            return false;
        }
        long z = seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + index * 0x94D049BB133111EBL;
        return new SplittableRandom(z).nextBoolean();
    }

    @Override
    public int size() {
        return files.size();
    }

    @Override
    public long[] sampleShape() {
        return new long[] {channels, height, width};
    }

    @Override
    public int sampleNumel() {
        return channels * height * width;
    }

    @Override
    public int numClasses() {
        return classNames.size();
    }

    @Override
    public long label(int index) {
        if (labels == null) {
            throw new IllegalStateException(root + " is read without class labels");
        }
        return labels[index];
    }

    @Override
    public void read(int index, long epoch, float[] into, int offset) throws IOException {
        Path file = files.get(index);
        BufferedImage image;
        try {
            image = Images.readImage(file);
        } catch (IOException e) {
            throw new DatasetException(e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new DatasetException("cannot decode " + file + ": " + e.getMessage(), e);
        }
        BufferedImage fitted = fit(image);
        float[] v;
        try (NativeScope scope = new NativeScope()) {
            v = Images.toTensor(fitted, channels, range).toFloatArray();
        }
        if (flipped(index, epoch)) {
            for (int row = 0; row < channels * height; row++) {
                for (int a = row * width, b = a + width - 1; a < b; a++, b--) {
                    float t = v[a];
                    v[a] = v[b];
                    v[b] = t;
                }
            }
        }
        System.arraycopy(v, 0, into, offset, v.length);
    }

    /** Center-crops {@code image} to the target aspect ratio, then resizes it to {@code width x height}. */
    private BufferedImage fit(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        if (w == width && h == height) {
            return image;
        }
        int cropW = w;
        int cropH = h;
        if ((long) w * height > (long) h * width) {
            cropW = Math.max(1, (int) Math.round((double) h * width / height));
        } else {
            cropH = Math.max(1, (int) Math.round((double) w * height / width));
        }
        BufferedImage cropped = cropW == w && cropH == h ? image
                : image.getSubimage((w - cropW) / 2, (h - cropH) / 2, cropW, cropH);
        return Images.resize(cropped, width, height);
    }

    @Override
    public String toString() {
        return root.toString();
    }
}
