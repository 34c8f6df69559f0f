package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;

/**
 * The last few tensors of a multistep run (newest first), held outside the per-step native scopes: each pushed tensor
 * is detached so that it survives the step's scope, and the oldest is freed when a new one pushes it out.
 */
final class TensorHistory implements AutoCloseable {
    private final Tensor[] items;

    TensorHistory(int capacity) {
        items = new Tensor[Math.max(capacity, 0)];
    }

    /** The {@code k}-th newest (0 = the last pushed); null if fewer were pushed. */
    Tensor get(int k) {
        return items[k];
    }

    /** Pushes {@code t} (it shares storage with {@code t}); a no-op for a history of capacity 0. */
    void push(Tensor t) {
        if (items.length == 0) {
            return;
        }
        Tensor oldest = items[items.length - 1];
        if (oldest != null) {
            oldest.close();
        }
        System.arraycopy(items, 0, items, 1, items.length - 1);
        items[0] = NativeScope.unscoped(t::detach);
    }

    @Override
    public void close() {
        for (int k = 0; k < items.length; k++) {
            if (items[k] != null) {
                items[k].close();
                items[k] = null;
            }
        }
    }
}
