package io.diffusion4j.bindings;

/**
 * A number held as a native scalar, made once and reused by many ops (a per-run coefficient), so a hot loop
 * makes no scalar objects per step. Not tied to any {@link NativeScope}: its maker closes it (the garbage
 * collector frees it otherwise).
 */
public final class Scalar implements AutoCloseable {
    static {
        Torch.load();
    }

    private final double value;
    private final org.bytedeco.pytorch.Scalar handle;
    private final org.bytedeco.pytorch.ScalarOptional optional;
    private volatile boolean closed;

    private Scalar(double value) {
        Torch.load();
        this.value = value;
        this.handle = new org.bytedeco.pytorch.Scalar(value);
        this.handle.retainReference();
        this.optional = new org.bytedeco.pytorch.ScalarOptional(handle);
        this.optional.retainReference();
    }

    public static Scalar of(double value) {
        return new Scalar(value);
    }

    public double value() {
        return value;
    }

    org.bytedeco.pytorch.Scalar handle() {
        if (closed) {
            throw new IllegalStateException("scalar " + value + " is closed");
        }
        return handle;
    }

    /** The same value as an optional (clamp bounds), made once. */
    org.bytedeco.pytorch.ScalarOptional optional() {
        handle();
        return optional;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            optional.releaseReference();
            handle.releaseReference();
        }
    }

    @Override
    public String toString() {
        return Double.toString(value);
    }
}
