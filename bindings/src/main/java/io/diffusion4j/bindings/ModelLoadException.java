package io.diffusion4j.bindings;

import java.io.IOException;

/**
 * A model file could not be read: missing, not a TorchScript archive, truncated, or written by an
 * incompatible PyTorch. The message names the file; the native error is kept as the cause.
 */
public class ModelLoadException extends IOException {
    private static final long serialVersionUID = 1L;

    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
