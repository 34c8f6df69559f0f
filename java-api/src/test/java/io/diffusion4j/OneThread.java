package io.diffusion4j;

import io.diffusion4j.bindings.Torch;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a test class at one LibTorch intra-op thread and restores the count it found afterwards. The distillation and
 * small-network tests use it: on a shared 2-core machine two intra-op threads made their convolution steps about ten
 * times slower (BENCHMARKS.md, issue 15), and one thread is also the fastest for these small models when idle.
 * Use with {@code @ExtendWith(OneThread.class)}.
 */
public final class OneThread implements BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(OneThread.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getStore(NS).put("threads", Torch.threads());
        Torch.setThreads(1);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        Integer before = context.getStore(NS).get("threads", Integer.class);
        Torch.setThreads(before != null ? before : 1);
    }
}
