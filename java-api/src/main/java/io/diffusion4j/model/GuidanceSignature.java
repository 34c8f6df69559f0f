package io.diffusion4j.model;

import io.diffusion4j.bindings.TorchScriptModule;
import java.util.List;

/**
 * The forward signatures a TorchScript denoiser may have: {@code (sample, timestep)}, {@code (sample, timestep,
 * class_labels)}, or, for a guidance-distilled student (Meng et al. 2023), {@code (sample, timestep, class_labels,
 * guidance_scale)} with {@code guidance_scale} a [B] float32 tensor of classifier-free guidance scales w.
 */
final class GuidanceSignature {
    /** The name of the fourth forward argument of a guidance-conditioned denoiser. */
    static final String GUIDANCE_SCALE = "guidance_scale";

    private GuidanceSignature() {
    }

    /**
     * The number of forward arguments (2, 3 or 4).
     *
     * @throws IllegalArgumentException for any other signature
     */
    static int arity(TorchScriptModule module, ModelSpec spec) {
        List<TorchScriptModule.Argument> args = module.forwardArguments();
        boolean fromSpec = spec != null && !spec.forwardSignature().isEmpty();
        int arity = fromSpec ? spec.forwardSignature().size() : args.size();
        if (fromSpec && !args.isEmpty() && args.size() != arity) {
            throw new IllegalArgumentException("diffusion4j.json forward_signature " + spec.forwardSignature()
                    + " does not match the forward of " + module.source() + " " + args);
        }
        String fourth = arity != 4 ? null : fromSpec ? spec.forwardSignature().get(3) : args.get(3).name();
        if (arity < 2 || arity > 4 || (arity == 4 && !GUIDANCE_SCALE.equals(fourth))) {
            throw new IllegalArgumentException(module.source() + ": forward must take (sample, timestep), (sample, "
                    + "timestep, class_labels) or (sample, timestep, class_labels, guidance_scale), found "
                    + (fromSpec ? spec.forwardSignature() : args));
        }
        return arity;
    }
}
