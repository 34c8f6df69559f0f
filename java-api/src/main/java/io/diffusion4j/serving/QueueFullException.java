package io.diffusion4j.serving;

import java.util.concurrent.RejectedExecutionException;

/** The engine's queue is full: the request was not accepted (retry later). */
public final class QueueFullException extends RejectedExecutionException {
    public QueueFullException(String message) {
        super(message);
    }
}
