package io.diffusion4j.training;

import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.TrainableModel;

/**
 * Training's side of TorchScript's graph-executor optimization: a step of a TorchScript model on the CPU runs with the
 * optimization off, so that every step runs the same plain plan and resume is bit-identical (the optimized plan,
 * built after a method's first calls, computes gradients that differ in the last bit from the plain plan that a
 * freshly loaded module runs). LibTorch's switch is {@code thread_local}, so it is set around each step on whichever
 * thread runs it and the caller's setting is restored afterwards ({@link #off} / {@link #restore}), the mirror image of
 * {@link TorchScriptRuntime#optimizedGraphsOn} for inference. The distillation loops use it the same way.
 */
public final class PlainGraphs {
    private PlainGraphs() {
    }

    /** Whether training {@code model} needs the plain plan: a TorchScript module on the CPU. */
    public static boolean wanted(TrainableModel model) {
        return TrainableModel.torchScriptModule(model) != null && !model.device().isCuda();
    }

    /**
     * Turns graph-executor optimization off on the calling thread if {@code wanted} and it is on, and says whether it
     * did, for {@link #restore}.
     */
    public static boolean off(boolean wanted) {
        if (!wanted || !TorchScriptRuntime.graphOptimization()) {
            return false;
        }
        TorchScriptRuntime.setGraphOptimization(false);
        return true;
    }

    /** Undoes {@link #off}: turns optimization on again if {@code turnedOff} says that call turned it off. */
    public static void restore(boolean turnedOff) {
        if (turnedOff) {
            TorchScriptRuntime.setGraphOptimization(true);
        }
    }
}
