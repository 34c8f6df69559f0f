package io.diffusion4j.training;

import java.io.IOException;

/** A checkpoint folder is missing, incomplete, or does not fit the model or run it is used with. */
public class CheckpointException extends IOException {
    private static final long serialVersionUID = 1L;

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
