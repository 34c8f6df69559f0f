package io.diffusion4j.model;

/**
 * How a TorchScript denoiser runs its module for inference.
 *
 * <ul>
 *   <li>{@link #FROZEN} (the default): a frozen copy ({@code torch::jit::freeze}), weights folded into the graph as
 *       constants; the same outputs as the plain module (tested to 1e-6) and a cheaper forward.
 *   <li>{@link #PLAIN}: the module as loaded, e.g. to rule the freezing pass out when a model misbehaves.
 * </ul>
 * Training never uses a frozen module: {@link TrainableModel}s load the plain one.
 */
public enum ScriptMode {
    FROZEN,
    PLAIN;

    /** The mode used when none is given. */
    public static final ScriptMode DEFAULT = FROZEN;
}
