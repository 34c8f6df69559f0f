package io.diffusion4j.bindings;

import org.bytedeco.pytorch.global.torch;

/**
 * A seeded random generator (LibTorch's CPU generator). For the same seed it draws the same numbers as Python's
 * {@code torch.Generator().manual_seed(seed)}, so a seed means the same noise in Java and in PyTorch. Noise for
 * another device is drawn on the CPU and moved, as diffusers' {@code randn_tensor} does, which keeps results
 * identical across devices.
 *
 * <p>Not thread-safe: one generator per sample stream.
 */
public final class Generator implements AutoCloseable {
    static {
        Torch.load();
    }

    private final long seed;
    private final org.bytedeco.pytorch.Generator handle;
    private final org.bytedeco.pytorch.GeneratorOptional optional;
    private boolean closed;

    private Generator(long seed) {
        Torch.load();
        this.seed = seed;
        this.handle = torch.make_generator_cpu(seed);
        this.handle.retainReference();
        this.optional = new org.bytedeco.pytorch.GeneratorOptional(handle);
        this.optional.retainReference();
    }

    /** A CPU generator seeded with {@code seed}. */
    public static Generator cpu(long seed) {
        return new Generator(seed);
    }

    public long seed() {
        return seed;
    }

    /** The generator's full state (for checkpoints); restore it with {@link #setState}. */
    public Tensor state() {
        return Tensor.own(handle().get_state());
    }

    public void setState(Tensor state) {
        try {
            handle().set_state(state.unwrap());
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot restore generator state from " + state.describe() + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    org.bytedeco.pytorch.GeneratorOptional optional() {
        handle();
        return optional;
    }

    org.bytedeco.pytorch.Generator handle() {
        if (closed) {
            throw new IllegalStateException("generator (seed " + seed + ") is closed");
        }
        return handle;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            optional.releaseReference();
            handle.releaseReference();
        }
    }
}
