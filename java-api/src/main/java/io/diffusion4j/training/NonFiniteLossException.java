package io.diffusion4j.training;

/**
 * The loss (or the gradient norm) of a training step was NaN or infinite. The step's update was not applied, so
 * the weights, optimizer state and EMA are those after the previous step (save or export them if they are good).
 */
public class NonFiniteLossException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final long step;

    public NonFiniteLossException(String message, long step) {
        super(message);
        this.step = step;
    }

    /** The 0-based index of the optimizer step that failed (= the number of steps completed before it). */
    public long step() {
        return step;
    }
}
