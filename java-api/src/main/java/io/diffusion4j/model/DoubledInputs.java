package io.diffusion4j.model;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The doubled model inputs of classifier-free guidance, made once per input tensor instead of once per step: keyed by
 * the identity of the tensor they are made from (a pipeline's cached timestep tensors, a run's labels), held outside
 * every step scope and freed by {@link #close()}. Thread-safe. Bounded: past {@link #CAPACITY} entries a new input
 * is made per call in the caller's scope, as without the cache.
 */
public final class DoubledInputs implements AutoCloseable {
    /** The most inputs kept (a 1000-step DDPM plan needs 1000 timestep tensors). */
    static final int CAPACITY = 4096;

    private final Map<Tensor, Tensor> made = new IdentityHashMap<>();
    private boolean closed;

    /** {@code cat(t, t)} along the batch dimension. */
    public Tensor doubled(Tensor t) {
        return get(t, x -> Tensor.cat(List.of(x, x), 0));
    }

    /** {@code maker(t)}, made once per {@code t} (same rules as {@link #doubled}). */
    synchronized Tensor get(Tensor t, UnaryOperator<Tensor> maker) {
        if (closed) {
            throw new IllegalStateException("doubled inputs are closed");
        }
        Tensor hit = made.get(t);
        if (hit != null) {
            return hit;
        }
        if (made.size() >= CAPACITY) {
            return maker.apply(t);
        }
        Tensor fresh = NativeScope.unscoped(() -> maker.apply(t));
        made.put(t, fresh);
        return fresh;
    }

    /** How many inputs are held (for tests). */
    synchronized int size() {
        return made.size();
    }

    /** Frees every input made; later calls fail. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            List<Tensor> all = new ArrayList<>(made.values());
            made.clear();
            all.forEach(Tensor::close);
        }
    }
}
