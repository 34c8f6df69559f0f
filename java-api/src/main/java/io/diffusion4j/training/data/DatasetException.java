package io.diffusion4j.training.data;

import java.io.IOException;

/** Training data that cannot be used: an empty folder, an unreadable image, labels that do not fit the samples. */
public class DatasetException extends IOException {
    private static final long serialVersionUID = 1L;

    public DatasetException(String message) {
        super(message);
    }

    public DatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
