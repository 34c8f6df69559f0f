package io.diffusion4j.training.data;

import io.diffusion4j.bindings.Tensor;

/**
 * A training batch as tensors: {@code x0} float32 {@code [B, ...sample shape]} on the CPU, in the model's value
 * range, and {@code labels} int64 {@code [B]}, or null for unlabeled data. Both belong to the native scope that was
 * open when the batch was made (see {@link HostBatch#toTensors()}).
 */
public record Batch(Tensor x0, Tensor labels) {
    public Batch {
        if (x0 == null) {
            throw new IllegalArgumentException("a batch needs samples (x0)");
        }
    }

    /** The number of examples, {@code B}. */
    public int size() {
        return Math.toIntExact(x0.size(0));
    }
}
