package io.diffusion4j.training.data;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Samples from a PyTorch tensor file {@code [N, ...sample shape]} (what {@code torch.save(x, path)} writes), with
 * optional class labels from a second tensor file {@code [N]} of integers. The values are used as they are (they
 * should already be in the model's value range), copied once into Java memory as float32, so reads need no native
 * calls and are thread-safe.
 */
public final class TensorFileDataset implements Dataset {
    private final String source;
    private final long[] sampleShape;
    private final int numel;
    private final int size;
    private final float[] values;
    private final long[] labels;
    private final int numClasses;

    private TensorFileDataset(String source, long[] sampleShape, int size, float[] values, long[] labels) {
        this.source = source;
        this.sampleShape = sampleShape;
        this.size = size;
        this.numel = values.length / size;
        this.values = values;
        this.labels = labels;
        this.numClasses = labels == null ? 0 : (int) Arrays.stream(labels).max().orElse(-1) + 1;
    }

    /**
     * Reads the samples and, when {@code labelsFile} is not null, their labels.
     *
     * @throws DatasetException if a file is not a tensor file, the samples are not {@code [N, ...]} with N >= 1, the
     *                          labels are not {@code N} non-negative integers
     */
    public static TensorFileDataset read(Path dataFile, Path labelsFile) throws IOException {
        try (NativeScope scope = new NativeScope()) {
            Tensor data = TensorFiles.read(dataFile);
            long[] shape = data.shape();
            if (shape.length < 2 || shape[0] < 1) {
                throw new DatasetException(dataFile + " holds " + data.describe() + "; training data must be "
                        + "[N, ...sample shape] with N >= 1");
            }
            if (!data.dtype().isFloatingPoint()) {
                throw new DatasetException(dataFile + " holds " + data.describe() + "; training data must be floating "
                        + "point, already in the model's value range");
            }
            if (data.numel() > Integer.MAX_VALUE - 8) {
                throw new DatasetException(dataFile + " holds " + data.describe() + ", too many values to train from "
                        + "one tensor file (at most " + (Integer.MAX_VALUE - 8) + ")");
            }
            int n = Math.toIntExact(shape[0]);
            long[] labels = null;
            if (labelsFile != null) {
                Tensor l = TensorFiles.read(labelsFile);
                if (l.dim() != 1 || l.dtype().isFloatingPoint() || l.dtype() == io.diffusion4j.bindings.DType.BOOL) {
                    throw new DatasetException(labelsFile + " holds " + l.describe() + "; labels must be a 1-d tensor "
                            + "of integer class ids (int64)");
                }
                if (l.size(0) != n) {
                    throw new DatasetException(labelsFile + " holds " + l.size(0) + " labels, but " + dataFile
                            + " holds " + n + " samples");
                }
                labels = l.toLongArray();
                for (int i = 0; i < n; i++) {
                    if (labels[i] < 0) {
                        throw new DatasetException(labelsFile + ": label " + i + " is " + labels[i]
                                + "; class ids must be >= 0");
                    }
                }
            }
            return new TensorFileDataset(dataFile.toString(), Arrays.copyOfRange(shape, 1, shape.length), n,
                    data.toFloatArray(), labels);
        }
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public long[] sampleShape() {
        return sampleShape.clone();
    }

    @Override
    public int sampleNumel() {
        return numel;
    }

    @Override
    public int numClasses() {
        return numClasses;
    }

    @Override
    public long label(int index) {
        if (labels == null) {
            throw new IllegalStateException(source + " has no labels");
        }
        return labels[index];
    }

    @Override
    public void read(int index, long epoch, float[] into, int offset) {
        System.arraycopy(values, Math.multiplyExact(index, numel), into, offset, numel);
    }

    @Override
    public String toString() {
        return source;
    }
}
