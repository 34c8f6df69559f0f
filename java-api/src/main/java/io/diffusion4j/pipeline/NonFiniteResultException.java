package io.diffusion4j.pipeline;

/** A run produced NaN or infinite values; the message names the step (or the end of the run). */
public class NonFiniteResultException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NonFiniteResultException(String message) {
        super(message);
    }
}
