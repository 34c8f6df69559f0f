package io.diffusion4j.serving;

import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Continuous batching at step level for one model: concurrent requests share one model forward per step while each
 * keeps its own scheduler, step count, step index, seeds, class labels and guidance scale. Requests are admitted
 * into the running batch at step boundaries, oldest first, while the batch has room ({@link EngineConfig#maxBatch()}
 * samples); rows leave when done, cancelled or past their deadline, and their native memory is freed at once.
 * Guided rows are evaluated as their conditional and unconditional halves in the same forward (a guidance-distilled
 * model, {@link Denoiser#takesGuidanceScale()}, takes each row once with its guidance scale). A request gives the
 * same samples as {@link io.diffusion4j.pipeline.DiffusionPipeline} run alone with the same seeds, up to float
 * rounding (LibTorch's CPU kernels round by batch size).
 *
 * <p>One engine thread runs the model; every engine step runs in its own native scope. If the batched forward
 * throws, each request of the batch is retried alone for that step, so only the requests whose own forward fails are
 * failed, and the engine keeps serving. Thread-safe: {@link #submit} may be called from any thread.
 */
public final class BatchingEngine implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BatchingEngine.class);

    private final Denoiser denoiser;
    private final BatchedForward batchedForward;
    private final EngineRequests requests;
    private final long[] sampleShape;
    private final EngineConfig config;
    private final Thread thread;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Submission> queue = new ArrayDeque<>();
    private final List<Row> active = new ArrayList<>(); // engine thread only
    private boolean shutdown;      // guarded by lock: no new submissions
    private volatile boolean abort; // cancel everything at the next step boundary
    private final AtomicLong ids = new AtomicLong();
    private volatile int activeRows;
    private volatile int activeRequests;
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong rowSteps = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong cancelled = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();

    /**
     * Starts the engine thread.
     *
     * @param denoiser    the model (borrowed: the caller closes it after closing the engine)
     * @param sampleShape one sample's shape without the batch dimension
     * @param name        names the engine thread (e.g. the model's name)
     */
    public BatchingEngine(Denoiser denoiser, long[] sampleShape, EngineConfig config, String name) {
        if (sampleShape == null || sampleShape.length == 0) {
            throw new IllegalArgumentException("the engine needs the model's sample shape, got "
                    + Arrays.toString(sampleShape));
        }
        this.denoiser = denoiser;
        this.batchedForward = new BatchedForward(denoiser);
        this.requests = new EngineRequests(denoiser, config);
        this.sampleShape = sampleShape.clone();
        this.config = config;
        this.thread = new Thread(this::loop, "diffusion4j-engine-" + name);
        thread.setDaemon(true);
        thread.start();
    }

    public EngineConfig config() {
        return config;
    }

    public Denoiser denoiser() {
        return denoiser;
    }

    /**
     * Queues a request. Only steps, seeds, batch size, class labels, guidance scale, listener, cancellation token and
     * checkNumerics are used; the listener is called on the engine thread and must be quick.
     *
     * @param timeout the deadline from now, or null for none
     * @throws QueueFullException        when {@link EngineConfig#maxQueue()} requests are waiting (answer at once)
     * @throws IllegalArgumentException  for a request this engine cannot serve (says why)
     * @throws IllegalStateException     after {@link #shutdown()}
     */
    public Submission submit(GenerationRequest request, Scheduler scheduler, Duration timeout) {
        requests.validate(request, scheduler);
        long now = System.nanoTime();
        long deadline = timeout == null ? Long.MAX_VALUE : now + Math.max(0, timeout.toNanos());
        lock.lock();
        try {
            if (shutdown) {
                throw new IllegalStateException("the engine is shut down");
            }
            if (queue.size() >= config.maxQueue()) {
                rejected.incrementAndGet();
                throw new QueueFullException("the queue is full (" + config.maxQueue() + " requests waiting)");
            }
            Submission s = new Submission(ids.incrementAndGet(), request, scheduler, now, deadline);
            queue.addLast(s);
            changed.signalAll();
            return s;
        } finally {
            lock.unlock();
        }
    }

    /** Counters and gauges now. */
    public EngineStats stats() {
        int q;
        lock.lock();
        try {
            q = queue.size();
        } finally {
            lock.unlock();
        }
        return new EngineStats(q, activeRequests, activeRows, steps.get(), rowSteps.get(), completed.get(),
                rejected.get(), cancelled.get(), timedOut.get(), failed.get());
    }

    /** Accepts no more requests; queued and running ones finish. */
    public void shutdown() {
        lock.lock();
        try {
            shutdown = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Accepts no more requests and cancels the queued and running ones (running rows leave at the next step). */
    public void shutdownNow() {
        abort = true;
        shutdown();
    }

    /** Waits for the engine thread to end after a shutdown; true if it ended in time. */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        thread.join(Math.max(1, timeout.toMillis()));
        return !thread.isAlive();
    }

    /** Cancels everything and waits for the engine thread (at most a minute). */
    @Override
    public void close() {
        shutdownNow();
        try {
            if (!awaitTermination(Duration.ofMinutes(1))) {
                LOG.warn("engine thread {} did not stop within a minute", thread.getName());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- the engine thread --------------------------------------------------------------------------------------

    private void loop() {
        try (InferenceGuard inference = Torch.inferenceMode()) {
            while (true) {
                if (!admit()) {
                    break;
                }
                if (active.isEmpty()) {
                    continue;
                }
                try {
                    step();
                } catch (Throwable t) { // a bug or an out-of-memory: fail the batch, keep serving
                    LOG.error("engine step failed", t);
                    for (Row r : new ArrayList<>(active)) {
                        fail(r, t);
                    }
                }
            }
        } finally {
            for (Row r : new ArrayList<>(active)) {
                leave(r, new CancellationException("the engine stopped"), cancelled);
            }
            lock.lock();
            try {
                shutdown = true;
                for (Submission s : queue) {
                    cancelled.incrementAndGet();
                    s.fail(new CancellationException("the engine stopped"));
                }
                queue.clear();
            } finally {
                lock.unlock();
            }
        }
    }

    /**
     * Drops cancelled and expired rows, then admits queued requests oldest first while they fit; waits while there
     * is nothing to do. Returns false when the engine should stop.
     */
    private boolean admit() {
        long now = System.nanoTime();
        for (Row r : new ArrayList<>(active)) {
            Submission s = r.submission;
            if (abort) {
                leave(r, new CancellationException("the engine is shutting down"), cancelled);
            } else if (s.isCancelledByCaller()) {
                leave(r, new CancellationException("cancelled after " + s.stepsDone() + " of " + s.steps() + " steps"),
                        cancelled);
            } else if (now - s.deadlineNanos() > 0) {
                leave(r, deadline(s), timedOut);
            }
        }
        List<Submission> admitted = new ArrayList<>();
        lock.lock();
        try {
            while (true) {
                int rows = activeRows;
                for (java.util.Iterator<Submission> it = queue.iterator(); it.hasNext(); ) {
                    Submission s = it.next();
                    if (abort) {
                        it.remove();
                        cancelled.incrementAndGet();
                        s.fail(new CancellationException("the engine is shutting down"));
                    } else if (s.isCancelledByCaller()) {
                        it.remove();
                        cancelled.incrementAndGet();
                        s.fail(new CancellationException("cancelled while queued"));
                    } else if (now - s.deadlineNanos() > 0) {
                        it.remove();
                        timedOut.incrementAndGet();
                        s.fail(deadline(s));
                    } else if (rows + s.request().batchSize() <= config.maxBatch()) {
                        it.remove();
                        admitted.add(s);
                        rows += s.request().batchSize();
                    } else {
                        break; // oldest first: a younger request does not overtake one that does not fit yet
                    }
                }
                if (!active.isEmpty() || !admitted.isEmpty()) {
                    break;
                }
                if (shutdown && queue.isEmpty()) {
                    return false;
                }
                changed.await(1, TimeUnit.SECONDS); // also wakes to expire queued deadlines
                now = System.nanoTime();
            }
        } catch (InterruptedException e) {
            return false;
        } finally {
            lock.unlock();
        }
        for (Submission s : admitted) {
            try {
                active.add(new Row(s, requests.labels(s.request()), batchShape(s.request().batchSize()), denoiser.device()));
            } catch (RuntimeException e) {
                failed.incrementAndGet();
                s.fail(e);
            }
        }
        updateGauges();
        return true;
    }

    private static DeadlineExceededException deadline(Submission s) {
        return new DeadlineExceededException("deadline passed after " + s.stepsDone() + " of "
                + (s.steps() == 0 ? s.request().steps() : s.steps()) + " steps ("
                + TimeUnit.NANOSECONDS.toMillis(s.deadlineNanos() - s.submittedNanos()) + " ms)");
    }

    /** One engine step: one forward for every active row, then each row's scheduler step. */
    private void step() {
        List<Row> rows = new ArrayList<>(active);
        try (NativeScope scope = new NativeScope()) {
            Map<Row, Tensor> outputs;
            try {
                outputs = batchedForward.apply(rows);
            } catch (RuntimeException e) {
                if (rows.size() == 1) {
                    fail(rows.get(0), e);
                    return;
                }
                LOG.debug("batched forward over {} requests failed; retrying them one by one", rows.size(), e);
                outputs = new IdentityHashMap<>();
                for (Row r : rows) {
                    try {
                        outputs.putAll(batchedForward.apply(List.of(r)));
                    } catch (RuntimeException one) {
                        fail(r, one);
                    }
                }
            }
            steps.incrementAndGet();
            for (Map.Entry<Row, Tensor> e : outputs.entrySet()) {
                Row r = e.getKey();
                try {
                    r.step(e.getValue(), scope);
                    rowSteps.addAndGet(r.batch);
                    if (r.finished()) {
                        Tensor samples = r.takeResult();
                        active.remove(r);
                        r.close();
                        completed.incrementAndGet();
                        updateGauges();
                        r.submission.complete(samples);
                    }
                } catch (RuntimeException error) {
                    fail(r, error);
                }
            }
        }
        updateGauges();
    }

    private long[] batchShape(int batch) {
        long[] s = new long[sampleShape.length + 1];
        s[0] = batch;
        System.arraycopy(sampleShape, 0, s, 1, sampleShape.length);
        return s;
    }

    private void fail(Row r, Throwable error) {
        leave(r, error, failed);
    }

    /** Removes a row from the batch, frees it and completes its request with {@code error}. */
    private void leave(Row r, Throwable error, AtomicLong counter) {
        active.remove(r);
        r.close();
        counter.incrementAndGet();
        updateGauges();
        r.submission.fail(error);
    }

    private void updateGauges() {
        int rows = 0;
        for (Row r : active) {
            rows += r.batch;
        }
        activeRows = rows;
        activeRequests = active.size();
    }
}
