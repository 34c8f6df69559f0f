package io.diffusion4j.cli;

/** A bad value that only shows once the command runs (e.g. a class id out of range): exit code 2. */
final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
