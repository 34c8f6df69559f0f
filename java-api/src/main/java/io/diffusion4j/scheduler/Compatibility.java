package io.diffusion4j.scheduler;

/**
 * How to treat the places where diffusers is known to be inconsistent.
 *
 * <ul>
 *   <li>DDIM's previous timestep is {@code t - T // N} in diffusers whatever the spacing, so with
 *       {@code trailing}/{@code linspace} spacing it is not the next timestep of the list (diffusers issues
 *       #11347, #12633).</li>
 *   <li>{@code leading} spacing with {@code steps_offset = 1} and N = T steps gives timestep T, one past the last
 *       train timestep; diffusers fails with an index error (#10003).</li>
 * </ul>
 */
public enum Compatibility {
    /** Same timesteps and results as diffusers; a run diffusers cannot do is a clear error. */
    DIFFUSERS,
    /** The previous timestep is the next one of the list; timesteps are capped at T - 1. */
    CORRECTED
}
