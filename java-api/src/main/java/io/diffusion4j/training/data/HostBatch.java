package io.diffusion4j.training.data;

import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;

/**
 * A batch held in Java arrays: what a {@link BatchLoader}'s background thread assembles, so that no native memory is
 * made off the training thread. {@link #toTensors()} turns it into tensors on the calling thread.
 *
 * @param values the samples, row-major, {@code shape[0]} of them
 * @param shape  {@code [B, ...sample shape]}
 * @param labels {@code B} class ids, or null for unlabeled data
 */
public record HostBatch(float[] values, long[] shape, long[] labels) {
    public HostBatch {
        if (values == null || shape == null || shape.length < 1 || shape[0] < 1) {
            throw new IllegalArgumentException("a batch needs values and a shape [B, ...] with B >= 1, got shape "
                    + Arrays.toString(shape));
        }
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("a batch of shape " + Arrays.toString(shape) + " needs " + n
                    + " values, got " + values.length);
        }
        if (labels != null && labels.length != shape[0]) {
            throw new IllegalArgumentException("a batch of " + shape[0] + " needs as many labels, got "
                    + labels.length);
        }
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The number of examples, {@code B}. */
    public int size() {
        return (int) shape[0];
    }

    /**
     * The batch as CPU tensors (float32 samples, int64 labels), made on the calling thread; they belong to its
     * innermost open {@code NativeScope}, if any.
     */
    public Batch toTensors() {
        Tensor x0 = Tensor.fromFloats(values, shape);
        Tensor l = labels == null ? null : Tensor.fromLongs(labels, labels.length);
        return new Batch(x0, l);
    }
}
