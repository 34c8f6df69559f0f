package io.diffusion4j.distillation;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.model.TrainableModel;
import java.util.List;

/**
 * A frozen class-conditional teacher's forward over the doubled batch of classifier-free guidance (null class first,
 * then the examples' classes), for the distillation methods whose target is the guided prediction; the combination
 * itself is {@link GuidedDenoiser#combineHalves}. Call under no-grad.
 */
final class GuidedTeacher {
    private GuidedTeacher() {
    }

    /** The teacher's output on {@code [z; z]} with labels {@code [null; labels]} and timesteps {@code [ts; ts]}. */
    static Tensor doubledForward(TrainableModel teacher, int nullClass, Tensor z, Tensor ts, Tensor labels) {
        if (labels == null) {
            throw new IllegalArgumentException("a guided teacher needs class labels with the data (--labels)");
        }
        return teacher.forward(Tensor.cat(List.of(z, z), 0), Tensor.cat(List.of(ts, ts), 0),
                GuidedDenoiser.withNullLabels(labels, nullClass));
    }

    /** The guided prediction {@code uncond + scale (cond - uncond)} at one scale for the whole batch. */
    static Tensor predict(TrainableModel teacher, int nullClass, double scale, Tensor z, Tensor ts, Tensor labels) {
        return GuidedDenoiser.combineHalves(doubledForward(teacher, nullClass, z, ts, labels), scale);
    }
}
