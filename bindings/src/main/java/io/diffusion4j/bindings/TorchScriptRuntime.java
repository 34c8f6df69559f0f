package io.diffusion4j.bindings;

import org.bytedeco.pytorch.global.torch;

/**
 * Process-wide settings of the TorchScript interpreter.
 *
 * <p>Graph-executor optimization (on by default): after the first call(s) of a method, TorchScript's profiling
 * executor replaces the plain interpreted graph by an optimized one (specialized shapes, symbolic autodiff of
 * differentiable subgraphs, fusion where enabled). Measured here with LibTorch 2.10 on the CPU: the optimized
 * plan's gradients differ in the last bit from the plain graph's, so a freshly loaded module and one that has run a
 * few steps train to slightly different weights. Turning the optimization off makes every call use the same plan,
 * which bit-identical resume of a training run needs.
 */
public final class TorchScriptRuntime {
    private TorchScriptRuntime() {
    }

    /** Whether TorchScript's graph executor optimizes methods after profiling them. */
    public static boolean graphOptimization() {
        Torch.load();
        return torch.getGraphExecutorOptimize();
    }

    /**
     * Turns graph-executor optimization on or off for the whole process. Takes effect for methods that have not
     * yet built an optimized plan (set it before a module's first forward).
     */
    public static void setGraphOptimization(boolean on) {
        Torch.load();
        torch.setGraphExecutorOptimize(on);
    }
}
