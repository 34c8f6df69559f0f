package io.diffusion4j.training.data;

import java.io.IOException;
import java.util.Arrays;

/**
 * Training examples for a denoiser: {@link #size()} samples of one {@link #sampleShape()}, in the model's value
 * range, each with an optional class id. Implementations hold their data in Java memory or on disk, never in native
 * memory, and {@link #read} is thread-safe, so a {@link BatchLoader} can assemble batches on a background thread.
 */
public interface Dataset {

    /** The number of examples, at least 1. */
    int size();

    /** The shape of one sample, without the batch dimension. */
    long[] sampleShape();

    /** The number of values in one sample (the product of {@link #sampleShape()}). */
    default int sampleNumel() {
        long n = 1;
        for (long d : sampleShape()) {
            n *= d;
        }
        return Math.toIntExact(n);
    }

    /** Whether the examples carry class labels. */
    default boolean labeled() {
        return numClasses() > 0;
    }

    /** The number of classes (labels are {@code 0..numClasses-1}), or 0 for unlabeled data. */
    int numClasses();

    /**
     * The class id of example {@code index}.
     *
     * @throws IllegalStateException if the data is unlabeled
     */
    long label(int index);

    /**
     * Writes example {@code index} as {@link #sampleNumel()} float values, row-major, into {@code into} from
     * {@code offset}. Thread-safe.
     *
     * @param epoch the pass over the data this read belongs to: random augmentations (a horizontal flip, say) are a
     *              function of the dataset's seed, {@code epoch} and {@code index} only, so they do not depend on the
     *              thread or order of reads and repeat after a resume
     * @throws DatasetException if the example cannot be read (the message names the file)
     */
    void read(int index, long epoch, float[] into, int offset) throws IOException;

    /** The examples {@code indices}, all read for epoch 0, as one batch in Java arrays. */
    default HostBatch load(int... indices) throws IOException {
        return load(indices, new long[indices.length]);
    }

    /** The examples {@code indices}, example {@code i} read for epoch {@code epochs[i]}, as one batch. */
    default HostBatch load(int[] indices, long[] epochs) throws IOException {
        if (indices.length == 0 || indices.length != epochs.length) {
            throw new IllegalArgumentException("a batch needs at least one index and one epoch per index, got "
                    + indices.length + " indices and " + epochs.length + " epochs");
        }
        int numel = sampleNumel();
        long total = (long) numel * indices.length;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a batch of " + indices.length + " samples of shape "
                    + Arrays.toString(sampleShape()) + " is too large for one array");
        }
        float[] values = new float[(int) total];
        long[] labels = labeled() ? new long[indices.length] : null;
        for (int i = 0; i < indices.length; i++) {
            int index = indices[i];
            if (index < 0 || index >= size()) {
                throw new IndexOutOfBoundsException("example " + index + " of a dataset of " + size());
            }
            read(index, epochs[i], values, i * numel);
            if (labels != null) {
                labels[i] = label(index);
            }
        }
        long[] shape = new long[sampleShape().length + 1];
        shape[0] = indices.length;
        System.arraycopy(sampleShape(), 0, shape, 1, shape.length - 1);
        return new HostBatch(values, shape, labels);
    }

    /**
     * The examples {@code indices} as tensors made on the calling thread (see {@link HostBatch#toTensors()}).
     */
    default Batch batch(int... indices) throws IOException {
        return load(indices).toTensors();
    }

    /**
     * Checks that the samples have the shape a model takes.
     *
     * @param model names the model in the message
     * @throws DatasetException "... holds samples of shape [3], but MODEL takes [2]"
     */
    default void requireSampleShape(long[] expected, String model) throws DatasetException {
        if (!Arrays.equals(sampleShape(), expected)) {
            throw new DatasetException(this + " holds samples of shape " + Arrays.toString(sampleShape()) + ", but "
                    + model + " takes " + Arrays.toString(expected));
        }
    }
}
