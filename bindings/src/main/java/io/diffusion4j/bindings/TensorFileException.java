package io.diffusion4j.bindings;

import java.io.IOException;

/** A tensor file (PyTorch's {@code torch.save} format) could not be read or written. */
public class TensorFileException extends IOException {
    private static final long serialVersionUID = 1L;

    public TensorFileException(String message) {
        super(message);
    }

    public TensorFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
