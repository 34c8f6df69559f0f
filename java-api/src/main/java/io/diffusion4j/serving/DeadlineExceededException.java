package io.diffusion4j.serving;

/** A request's deadline passed before it finished; its rows left the batch at the next step boundary. */
public final class DeadlineExceededException extends RuntimeException {
    public DeadlineExceededException(String message) {
        super(message);
    }
}
