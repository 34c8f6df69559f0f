package io.diffusion4j.bindings;

/**
 * A native (LibTorch) operation failed. The message's first line says what was attempted and with what
 * (shapes, dtypes, devices); the native error with its C++ backtrace is kept as the cause.
 */
public class NativeOperationException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NativeOperationException(String message) {
        super(message);
    }

    public NativeOperationException(String message, Throwable cause) {
        super(message, cause);
    }
}
