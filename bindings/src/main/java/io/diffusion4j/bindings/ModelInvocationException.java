package io.diffusion4j.bindings;

/** A model's forward (or another method) rejected its inputs or failed while running. */
public class ModelInvocationException extends NativeOperationException {
    private static final long serialVersionUID = 1L;

    public ModelInvocationException(String message, Throwable cause) {
        super(message, cause);
    }
}
