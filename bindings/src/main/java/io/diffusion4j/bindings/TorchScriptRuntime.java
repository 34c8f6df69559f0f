package io.diffusion4j.bindings;

import org.bytedeco.pytorch.global.torch;

/**
 * Settings of the TorchScript interpreter.
 *
 * <p>Graph-executor optimization (on by default): after the first call(s) of a method, TorchScript's profiling
 * executor replaces the plain interpreted graph by an optimized one (specialized shapes, symbolic autodiff of
 * differentiable subgraphs, fusion where enabled). Measured here with LibTorch 2.10 on the CPU: the optimized
 * plan's gradients differ in the last bit from the plain graph's, so a freshly loaded module and one that has run a
 * few steps train to slightly different weights. Turning the optimization off makes every call use the same plan,
 * which bit-identical resume of a training run needs.
 *
 * <p>The switch is LibTorch's {@code thread_local} flag ({@code torch::jit::setGraphExecutorOptimize}): it holds for
 * the calling thread only (checked here: off on one thread, still on in a new one), and the executor reads it on every
 * call, so one module can run its plain plan on a training thread and its optimized plan elsewhere. With it off, a
 * toy2d forward took about 2x as long (BENCHMARKS.md), so inference turns it back on around its own calls
 * ({@link #optimizedGraphsOn}).
 */
public final class TorchScriptRuntime {
    static {
        Torch.load();
    }

    private TorchScriptRuntime() {
    }

    /** Whether TorchScript's graph executor optimizes methods after profiling them, on the calling thread. */
    public static boolean graphOptimization() {
        Torch.load();
        return torch.getGraphExecutorOptimize();
    }

    /**
     * Turns graph-executor optimization on or off for the calling thread, from its next TorchScript call on (other
     * threads keep their own setting).
     */
    public static void setGraphOptimization(boolean on) {
        Torch.load();
        torch.setGraphExecutorOptimize(on);
    }

    /**
     * Turns graph-executor optimization on for the calling thread if it is off (as a trainer leaves it) and says
     * whether it did, for {@link #restoreGraphOptimization}: one native call when it is already on.
     */
    public static boolean optimizedGraphsOn() {
        if (torch.getGraphExecutorOptimize()) {
            return false;
        }
        torch.setGraphExecutorOptimize(true);
        return true;
    }

    /** Undoes {@link #optimizedGraphsOn}: turns optimization off again if {@code turnedOn} says that call did. */
    public static void restoreGraphOptimization(boolean turnedOn) {
        if (turnedOn) {
            torch.setGraphExecutorOptimize(false);
        }
    }

    /**
     * TorchScript's graph executors. Which one runs a method is fixed when the method first runs (its executor is
     * made then), so a switch applies to modules loaded (or first called) after it.
     */
    public enum GraphExecutor {
        /** LibTorch's default: profiles the first runs, then runs a graph specialised to the shapes seen. */
        PROFILING,
        /** Runs the graph as loaded, after a few cheap passes; no profiling runs, no specialisation. */
        SIMPLE,
        /** The executor before the profiling one: specialises on argument properties at each call. */
        LEGACY
    }

    /** The executor that methods run from now on get (process-wide, {@code getExecutorMode}/{@code getProfilingMode}). */
    public static GraphExecutor graphExecutor() {
        Torch.load();
        if (!torch.getExecutorMode().get()) {
            return GraphExecutor.LEGACY;
        }
        return torch.getProfilingMode().get() ? GraphExecutor.PROFILING : GraphExecutor.SIMPLE;
    }

    /**
     * Chooses the executor for methods first run from now on (process-wide: LibTorch's two global flags). Methods
     * that have run keep theirs.
     */
    public static void setGraphExecutor(GraphExecutor executor) {
        if (executor == null) {
            throw new IllegalArgumentException("executor must not be null");
        }
        Torch.load();
        torch.getExecutorMode().put(executor != GraphExecutor.LEGACY);
        torch.getProfilingMode().put(executor == GraphExecutor.PROFILING);
    }
}
