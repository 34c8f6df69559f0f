package io.diffusion4j.bindings;

import java.util.ArrayList;
import org.bytedeco.javacpp.PointerScope;

/**
 * A native memory scope (try-with-resources). Every {@link Tensor} made on this thread while the scope is the
 * innermost one belongs to it and is freed when it closes, together with every native temporary (scalars,
 * options, op results that were never wrapped). A tensor that must outlive the scope is handed on with
 * {@link #keep}: it then belongs to the enclosing scope, or to the caller (who closes it) if there is none.
 *
 * <p>Scopes nest, are confined to the thread that opened them, and must be closed in reverse order of opening.
 */
public final class NativeScope implements AutoCloseable {
    static {
        Torch.load();
    }

    private static final ThreadLocal<NativeScope> CURRENT = new ThreadLocal<>();

    private final NativeScope parent;
    private final PointerScope pointers;
    private final Thread owner;
    private final ArrayList<Tensor> owned = new ArrayList<>();
    private boolean closed;

    public NativeScope() {
        Torch.load();
        this.owner = Thread.currentThread();
        this.parent = CURRENT.get();
        this.pointers = new PointerScope();
        CURRENT.set(this);
    }

    /**
     * Runs {@code maker} as if no scope were open on this thread: the tensors it makes belong to the caller, who
     * closes them (for long-lived caches that must outlive whatever scope is open now).
     */
    public static <T> T unscoped(java.util.function.Supplier<T> maker) {
        NativeScope saved = CURRENT.get();
        CURRENT.remove();
        try {
            return maker.get();
        } finally {
            if (saved != null) {
                CURRENT.set(saved);
            }
        }
    }

    /** The innermost open scope of this thread, or null. */
    static NativeScope current() {
        return CURRENT.get();
    }

    void register(Tensor t) {
        owned.add(t);
    }

    /**
     * Lets {@code tensor} outlive this scope: it moves to the enclosing scope, or, with none, to the caller, who
     * must close it. Returns the same tensor.
     *
     * @throws IllegalArgumentException if the tensor does not belong to this scope
     */
    public Tensor keep(Tensor tensor) {
        checkOpen();
        if (tensor.scope != this) {
            throw new IllegalArgumentException("tensor " + tensor.describe() + " does not belong to this scope");
        }
        tensor.scope = parent;
        if (parent != null) {
            parent.register(tensor);
        }
        return tensor;
    }

    /** Keeps several tensors; see {@link #keep(Tensor)}. */
    public void keepAll(Iterable<Tensor> tensors) {
        for (Tensor t : tensors) {
            keep(t);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("native scope is already closed");
        }
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("native scope belongs to thread " + owner.getName()
                    + ", used from " + Thread.currentThread().getName());
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        checkOpen();
        if (CURRENT.get() != this) {
            throw new IllegalStateException("native scopes must be closed in reverse order of opening");
        }
        closed = true;
        try {
            for (int i = 0, n = owned.size(); i < n; i++) {
                Tensor t = owned.get(i);
                if (t.scope == this) {
                    t.close();
                }
            }
            owned.clear();
            pointers.close();
        } finally {
            CURRENT.set(parent);
        }
    }
}
