package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.training.data.Dataset;
import java.util.List;

/**
 * A frozen class-conditional teacher's forward over the doubled batch of classifier-free guidance (null class first,
 * then the examples' classes), for the distillation methods whose target is the guided prediction; the combination
 * itself is {@link GuidedDenoiser#combineHalves}. Call under no-grad.
 */
final class GuidedTeacher {
    private GuidedTeacher() {
    }

    /**
     * Checks that {@code teacher} can be distilled with classifier-free guidance {@code scale} baked in (a
     * class-conditional teacher with a null class, not guidance-distilled already, data with labels) and records the
     * scale in the student's {@code studentSpec} ({@code distilled_guidance_scale}; may be null).
     *
     * @return the teacher's null class id
     * @throws IllegalArgumentException naming what does not fit
     */
    static int checkDistillable(ModelFolder teacher, Dataset data, double scale, ObjectNode studentSpec) {
        ModelSpec spec = teacher.spec();
        int nullClass = spec == null ? -1 : spec.nullClassId();
        if (spec == null || !spec.isConditional() || nullClass < 0) {
            throw new IllegalArgumentException(teacher.location() + " is not class-conditional with a null class "
                    + "(diffusion4j.json null_class_id): a guidance scale needs classifier-free guidance");
        }
        if (spec.distilledGuidanceScale() > 0) {
            throw new IllegalArgumentException(teacher.location() + " already has guidance scale "
                    + spec.distilledGuidanceScale() + " distilled into it; distil it without a guidance scale");
        }
        if (data.numClasses() <= 0) {
            throw new IllegalArgumentException("a guidance scale needs class labels with the data (--labels)");
        }
        if (studentSpec != null) {
            studentSpec.put(ModelSpec.DISTILLED_GUIDANCE_KEY, scale);
        }
        return nullClass;
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
