package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Tensor;

/**
 * The state of one sampling run over a {@link SamplingPlan} (a multistep solver's history). Close it when the run
 * ends; stateless runs need nothing.
 */
public interface SamplerRun extends AutoCloseable {

    /** Frees the run's history. */
    @Override
    default void close() {
    }

    /**
     * One reverse step.
     *
     * @param i           step index, 0-based, in order
     * @param modelOutput the denoiser's prediction at step {@code i}
     * @param sample      the current sample x_t
     * @param noise       fresh standard normal noise shaped like {@code sample} when
     *                    {@link SamplingPlan#needsNoise(int)}, otherwise null
     * @return x at the next (lower) noise level, a new tensor
     */
    Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise);

    /**
     * The same step, allowed to overwrite {@code sample} and return it (saving the allocation of a new tensor per
     * op); returns a new tensor where the step cannot run in place. The caller must own {@code sample} and no other
     * tensor may view its storage; after the call only the returned tensor is meaningful.
     */
    default Tensor stepInPlace(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
        return step(i, modelOutput, sample, noise);
    }
}
