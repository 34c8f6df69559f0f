package io.diffusion4j.server;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.pipeline.CancellationToken;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.serving.DeadlineExceededException;
import io.diffusion4j.serving.EngineStats;
import io.diffusion4j.serving.QueueFullException;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Batching off, as before the engine: each request runs its own {@link DiffusionPipeline} loop on one of
 * {@code workers} threads, with at most {@code maxQueue} requests waiting. The baseline the engine is measured against.
 */
final class LoopBackend implements Backend {
    private final Denoiser denoiser;
    private final long[] sampleShape;
    private final ThreadPoolExecutor pool;
    private final int maxQueue;
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong cancelled = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();

    LoopBackend(Denoiser denoiser, long[] sampleShape, int workers, int maxQueue, String name) {
        this.denoiser = denoiser;
        this.sampleShape = sampleShape.clone();
        this.maxQueue = maxQueue;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(workers, workers, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(maxQueue),
                r -> {
                    Thread t = new Thread(r, "diffusion4j-loop-" + name + "-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
    }

    @Override
    public Job submit(GenerationRequest request, Scheduler scheduler, Duration timeout) {
        CancellationToken token = new CancellationToken();
        long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
        CompletableFuture<Tensor> result = new CompletableFuture<>();
        GenerationRequest withToken = GenerationRequest.builder().steps(request.steps()).seeds(request.seeds())
                .classLabels(request.classLabels()).guidanceScale(request.guidanceScale()).cancellation(token)
                .listener(e -> {
                    steps.incrementAndGet();
                    if (System.nanoTime() - deadline > 0) {
                        token.cancel();
                    }
                }).build();
        try {
            pool.execute(() -> run(withToken, scheduler, token, deadline, result));
        } catch (RejectedExecutionException e) {
            rejected.incrementAndGet();
            throw new QueueFullException("the queue is full (" + maxQueue + " requests waiting)");
        }
        return new Job(result, () -> {
            token.cancel();
            result.cancel(false);
        });
    }

    private void run(GenerationRequest request, Scheduler scheduler, CancellationToken token, long deadline,
                     CompletableFuture<Tensor> result) {
        if (token.isCancelled() || result.isDone()) {
            cancelled.incrementAndGet();
            return;
        }
        if (System.nanoTime() - deadline > 0) {
            timedOut.incrementAndGet();
            result.completeExceptionally(new DeadlineExceededException("deadline passed while queued"));
            return;
        }
        running.incrementAndGet();
        try (DiffusionPipeline pipeline = new DiffusionPipeline(denoiser, scheduler, sampleShape)) {
            Tensor t = pipeline.generate(request);
            completed.incrementAndGet();
            if (!result.complete(t)) {
                t.close();
            }
        } catch (CancellationException e) {
            if (System.nanoTime() - deadline > 0) {
                timedOut.incrementAndGet();
                result.completeExceptionally(new DeadlineExceededException("deadline passed: " + e.getMessage()));
            } else {
                cancelled.incrementAndGet();
                result.completeExceptionally(e);
            }
        } catch (RuntimeException e) {
            failed.incrementAndGet();
            result.completeExceptionally(e);
        } finally {
            running.decrementAndGet();
        }
    }

    @Override
    public EngineStats stats() {
        int r = running.get();
        return new EngineStats(pool.getQueue().size(), r, r, steps.get(), steps.get(), completed.get(), rejected.get(),
                cancelled.get(), timedOut.get(), failed.get());
    }

    @Override
    public void shutdown(Duration grace) throws InterruptedException {
        pool.shutdown();
        if (!pool.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            pool.shutdownNow();
            pool.awaitTermination(30, TimeUnit.SECONDS);
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
        try {
            pool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
