package io.diffusion4j.bindings;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.NoGradGuard;

/** A thread-local autograd guard (LibTorch's {@code InferenceMode} or {@code NoGradGuard}); close on the same thread. */
public final class InferenceGuard implements AutoCloseable {
    static {
        Torch.load();
    }

    private final Pointer guard;
    private final Thread owner = Thread.currentThread();
    private boolean closed;

    InferenceGuard(boolean inference) {
        Pointer g = inference ? new InferenceMode() : new NoGradGuard();
        g.retainReference();
        this.guard = g;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("an inference guard must be closed on the thread that opened it ("
                    + owner.getName() + "), not on " + Thread.currentThread().getName());
        }
        closed = true;
        // deallocate() ends the RAII guard now even when an enclosing PointerScope also holds it (its later release
        // is then a no-op); releaseReference() alone would leave the mode on until that scope closed.
        guard.deallocate();
    }
}
