package io.diffusion4j.cli;

import io.diffusion4j.bindings.TensorFileException;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.training.data.DataFingerprint;
import io.diffusion4j.training.data.Dataset;
import io.diffusion4j.training.data.DatasetException;
import io.diffusion4j.training.data.ImageFolderDataset;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Option;

/** {@code train}: the data source (a tensor file with optional labels, or an image folder) and its options. */
final class TrainDataOptions {
    @Option(names = "--data", required = true, paramLabel = "DIR|FILE.pt",
            description = "A tensor file [N, ...sample shape] in the model's value range, or a folder of PNG/JPEG "
                    + "images (class sub-folders, sorted by name, give labels 0..K-1 for a class-conditional model). "
                    + "A resumed run checks that it holds the same content as the run's (SHA-256).")
    Path data;

    @Option(names = "--labels", paramLabel = "FILE.pt", description = "Class ids [N] (int64) for a tensor file.")
    Path labels;

    @Option(names = "--flip", description = "Flip images horizontally at random (image folders).")
    boolean flip;

    @Option(names = "--cache-latents", description = "Latent models: encode every image once with the frozen "
            + "autoencoder before training and train on the kept latents (instead of encoding each batch as it is "
            + "loaded).")
    boolean cacheLatents;

    void check() {
        if (!Files.exists(data)) {
            throw new UsageException("--data " + data + ": no such file or folder");
        }
        if (labels != null && Files.isDirectory(data)) {
            throw new UsageException("--labels is for tensor files; an image folder's labels come from its "
                    + "sub-folders");
        }
        if (labels != null && !Files.isRegularFile(labels)) {
            throw new UsageException("--labels " + labels + ": no such file");
        }
        if (flip && !Files.isDirectory(data)) {
            throw new UsageException("--flip is for image folders; " + data + " is a tensor file");
        }
    }

    /** The SHA-256 of a data file or folder ({@link DataFingerprint}). */
    static String sha256(Path p) throws IOException {
        return DataFingerprint.sha256(p);
    }

    /**
     * The data of a latent model: images ({@code --data}: an image folder, or a tensor file of images in [-1, 1]) at
     * the autoencoder's image size, encoded by the frozen autoencoder as they are loaded, or all at once up front
     * with {@code --cache-latents}.
     */
    Dataset latentDataset(ModelSpec latentSpec, io.diffusion4j.model.diffusers.autoencoder.Autoencoder autoencoder,
                          long dataSeed, int batch, java.io.PrintWriter stdout) throws IOException {
        if (cacheLatents && flip) {
            throw new UsageException("--flip does not combine with --cache-latents (the cache holds one encoding of "
                    + "each image); drop one of them");
        }
        var c = autoencoder.config();
        long[] s = latentSpec.sampleShape();
        long[] imageShape = {c.inChannels(), s[1] * c.downsamplingFactor(), s[2] * c.downsamplingFactor()};
        ModelSpec imageSpec = new ModelSpec(latentSpec.name(), "denoiser", imageShape,
                io.diffusion4j.image.ValueRange.MINUS_ONE_TO_ONE, latentSpec.forwardSignature(), null,
                latentSpec.numClasses(), latentSpec.nullClassId());
        Dataset images = dataset(imageSpec, dataSeed);
        try {
            if (!cacheLatents) {
                return io.diffusion4j.training.latent.EncodedDataset.onTheFly(images, autoencoder);
            }
            long t0 = System.nanoTime();
            Dataset cached = io.diffusion4j.training.latent.EncodedDataset.cached(images, autoencoder,
                    Math.max(1, batch));
            stdout.printf("encoded %d images to latents %s with the %s in %.1f s%n", images.size(),
                    Arrays.toString(cached.sampleShape()), c.kind().className(), (System.nanoTime() - t0) / 1e9);
            return cached;
        } catch (IllegalArgumentException e) {
            throw new UsageException("--data: " + e.getMessage());
        }
    }

    /** The data as the model takes it. */
    Dataset dataset(ModelSpec modelSpec, long dataSeed) throws IOException {
        try {
            if (Files.isDirectory(data)) {
                if (modelSpec == null || modelSpec.valueRange() == null || modelSpec.sampleShape().length != 3) {
                    throw new UsageException("--data " + data + " is an image folder, but the model "
                            + (modelSpec == null ? "has no " + ModelSpec.FILE_NAME
                            : "takes samples " + Arrays.toString(modelSpec.sampleShape())
                                    + (modelSpec.valueRange() == null ? " and no value_range" : ""))
                            + "; image folders need sample_shape [C, H, W] and value_range");
                }
                ImageFolderDataset images;
                try {
                    images = ImageFolderDataset.forModel(data, modelSpec);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--data " + data + ": " + e.getMessage());
                }
                return flip ? images.withFlip(dataSeed) : images;
            }
            TensorFileDataset tensors = TensorFileDataset.read(data, labels);
            if (modelSpec != null) {
                tensors.requireSampleShape(modelSpec.sampleShape(), modelSpec.name());
            }
            return tensors;
        } catch (DatasetException | TensorFileException e) {
            throw new UsageException("--data: " + e.getMessage());
        }
    }
}
