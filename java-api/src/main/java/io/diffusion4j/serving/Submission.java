package io.diffusion4j.serving;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import java.util.concurrent.CompletableFuture;

/**
 * A request handed to a {@link BatchingEngine}: its result, progress and cancellation. The result tensor
 * ([B, ...], float32) belongs to whoever takes it from {@link #result()} and must be closed by them; if the future
 * was cancelled first, the engine frees it.
 */
public final class Submission {
    private final long id;
    private final GenerationRequest request;
    private final Scheduler scheduler;
    private final long submittedNanos;
    private final long deadlineNanos;
    private final CompletableFuture<Tensor> result = new CompletableFuture<>();
    private volatile int stepsDone;
    private volatile int steps;

    Submission(long id, GenerationRequest request, Scheduler scheduler, long submittedNanos, long deadlineNanos) {
        this.id = id;
        this.request = request;
        this.scheduler = scheduler;
        this.submittedNanos = submittedNanos;
        this.deadlineNanos = deadlineNanos;
    }

    /** The engine's sequence number for this request (admission order is ascending id). */
    public long id() {
        return id;
    }

    public GenerationRequest request() {
        return request;
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    /**
     * Completes with the samples, or exceptionally with {@link DeadlineExceededException},
     * {@link java.util.concurrent.CancellationException}, {@link IllegalArgumentException} (a request the model
     * cannot serve) or the model's error.
     */
    public CompletableFuture<Tensor> result() {
        return result;
    }

    /** Cancels the request: its rows leave the batch at the next step boundary and their memory is freed. */
    public boolean cancel() {
        return result.cancel(false);
    }

    /** Steps done so far (0 while queued). */
    public int stepsDone() {
        return stepsDone;
    }

    /** Steps the run takes once admitted (0 while queued). */
    public int steps() {
        return steps;
    }

    /** Whether the request is still waiting for admission. */
    public boolean isQueued() {
        return steps == 0 && !result.isDone();
    }

    long submittedNanos() {
        return submittedNanos;
    }

    long deadlineNanos() {
        return deadlineNanos;
    }

    void progress(int done, int total) {
        this.steps = total;
        this.stepsDone = done;
    }

    /** Hands the result over; frees it if the request was cancelled meanwhile. */
    void complete(Tensor samples) {
        if (!result.complete(samples)) {
            samples.close();
        }
    }

    void fail(Throwable error) {
        result.completeExceptionally(error);
    }

    boolean isCancelledByCaller() {
        return result.isDone() || request.cancellation() != null && request.cancellation().isCancelled();
    }
}
