package io.diffusion4j.pipeline.latent;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.diffusers.autoencoder.AutoencoderTiny;
import io.diffusion4j.pipeline.StepEvent;
import io.diffusion4j.pipeline.StepListener;
import java.util.function.UnaryOperator;

/**
 * Per-step previews of a latent run: every {@code every} steps (and at the last step) the current latent is decoded
 * and handed to a sink, within the listener call (the latent is valid only then). With an {@link AutoencoderTiny}
 * (TAESD) a preview costs a fraction of the pipeline's own decode; any decoder of scaled latents works.
 */
public final class LatentPreview implements StepListener {
    /** Receives the decoded images of step {@code step}, valid during the call only. */
    @FunctionalInterface
    public interface Sink {
        void accept(int step, Tensor images);
    }

    private final UnaryOperator<Tensor> decoder;
    private final int every;
    private final Sink sink;

    /**
     * @param decoder scaled latents to images in [-1, 1]
     * @param every   decode every this many steps (>= 1)
     */
    public LatentPreview(UnaryOperator<Tensor> decoder, int every, Sink sink) {
        if (every < 1) {
            throw new IllegalArgumentException("preview every must be >= 1, got " + every);
        }
        this.decoder = decoder;
        this.every = every;
        this.sink = sink;
    }

    /** Previews with a tiny autoencoder: {@code tiny.decode(latent / scaling_factor + shift_factor)}. */
    public static LatentPreview tiny(AutoencoderTiny tiny, int every, Sink sink) {
        double scale = tiny.config().scalingFactor();
        double shift = tiny.config().shiftFactor();
        return new LatentPreview(z -> tiny.decode(shift == 0 ? z.div(scale) : z.div(scale).add(shift)), every, sink);
    }

    /** Previews with the pipeline's own autoencoder. */
    public static LatentPreview of(LatentDiffusionPipeline pipeline, int every, Sink sink) {
        return new LatentPreview(pipeline::decode, every, sink);
    }

    @Override
    public void onStep(StepEvent e) {
        if (e.step() % every != 0 && e.step() != e.steps()) {
            return;
        }
        try (NativeScope scope = new NativeScope(); InferenceGuard inference = Torch.inferenceMode()) {
            sink.accept(e.step(), decoder.apply(e.sample()).to(DType.FLOAT32));
        }
    }
}
