package io.diffusion4j.cli;

import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.bindings.TorchScriptRuntime.GraphExecutor;
import io.diffusion4j.model.ScriptMode;

/**
 * How the CLI runs a TorchScript model for a run of few model evaluations: the plain module on TorchScript's simple
 * executor, instead of a frozen copy on the profiling executor. Freezing and the profiling executor's first runs
 * (profiling, then optimising the graph for the shapes seen) cost a one-step toy2d sample about 0.1 s of its start,
 * while neither made a forward measurably cheaper afterwards (BENCHMARKS.md, issue 20, "Executor, freezing and guard
 * variants" and the third pass); the outputs are the same (tested to 1e-6 in {@code ShortRunTest}). Longer runs keep
 * the library's inference default ({@link ScriptMode#DEFAULT}), and {@code --freeze} / {@code --no-freeze} choose
 * explicitly (on the profiling executor, as before).
 *
 * <p>The executor is LibTorch's process-wide setting, read when a method first runs: the CLI sets it for its own run
 * and restores it after ({@link #close}), which is why this lives in the CLI and not in the library.
 */
final class ShortRun implements AutoCloseable {
    /** Runs of at most this many model evaluations start the short way. */
    static final int MAX_EVALUATIONS = 100;

    private final ScriptMode scriptMode;
    private final GraphExecutor previous;

    private ShortRun(ScriptMode scriptMode, GraphExecutor previous) {
        this.scriptMode = scriptMode;
        this.previous = previous;
    }

    /**
     * Chooses how to run the model for a run of {@code evaluations} model evaluations (-1: not known in advance, as
     * for the adaptive solver) and, for a short run, switches to the simple executor until {@link #close}.
     *
     * @param freeze the user's {@code --freeze} (true) / {@code --no-freeze} (false), or null for the choice here
     */
    static ShortRun choose(Boolean freeze, long evaluations) {
        if (freeze != null) {
            return new ShortRun(freeze ? ScriptMode.FROZEN : ScriptMode.PLAIN, null);
        }
        if (evaluations < 0 || evaluations > MAX_EVALUATIONS) {
            return new ShortRun(ScriptMode.DEFAULT, null);
        }
        GraphExecutor before = TorchScriptRuntime.graphExecutor();
        TorchScriptRuntime.setGraphExecutor(GraphExecutor.SIMPLE);
        return new ShortRun(ScriptMode.PLAIN, before);
    }

    /** How the denoiser runs its TorchScript module in this run. */
    ScriptMode scriptMode() {
        return scriptMode;
    }

    /** Whether this run switched to the simple executor. */
    boolean simpleExecutor() {
        return previous != null;
    }

    /** Restores the executor that methods first run from now on get. */
    @Override
    public void close() {
        if (previous != null) {
            TorchScriptRuntime.setGraphExecutor(previous);
        }
    }
}
