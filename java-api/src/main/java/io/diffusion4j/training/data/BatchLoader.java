package io.diffusion4j.training.data;

import java.io.IOException;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An endless sequence of shuffled batches of {@code batchSize} examples, assembled ahead on a background thread.
 *
 * <p><b>Order.</b> The examples of epoch {@code e} are visited in a permutation drawn from a
 * {@link SplittableRandom} seeded with {@code seed + e}; the epochs follow one another as one stream that is cut
 * into batches, so every batch is full (the last batch of an epoch takes its rest from the next epoch) and a dataset
 * smaller than a batch works. Batch {@code b} is a pure function of {@code (seed, b)} ({@link #indicesOf}), so a
 * loader started at {@code firstBatch} = the step of a resumed run continues the same sequence.
 *
 * <p><b>Threads and memory.</b> One daemon thread reads examples ({@link Dataset#read}, which decodes images into
 * Java float arrays) and keeps at most two finished {@link HostBatch}es in a queue; {@link #next()} turns the next
 * one into tensors on the calling thread, so native memory belongs to the caller's {@code NativeScope}. An error on
 * the background thread is rethrown by the {@link #next()} that reaches the failing batch. {@link #close()} stops
 * the thread. One consumer thread at a time.
 *
 * <p><b>Shards.</b> A loader for rank {@code r} of {@code W} data-parallel ranks (PyTorch's
 * {@code DistributedSampler}): every rank draws the same permutation of epoch {@code e}, pads it to a multiple of
 * {@code W} with its own first entries, and takes positions {@code r, r + W, r + 2W, ...}; its batches of
 * {@code batchSize} are cut from that shard's stream. When the dataset size is a multiple of {@code W}, batch
 * {@code s} of the {@code W} shards together holds exactly batch {@code s} of an unsharded loader with batch
 * {@code W * batchSize} (example {@code j} of it is example {@code j / W} of rank {@code j % W}), so the data order
 * does not depend on the number of ranks, and a run can resume with another.
 */
public final class BatchLoader implements AutoCloseable {
    private static final AtomicInteger THREADS = new AtomicInteger();
    private static final int QUEUE = 2;

    private final Dataset dataset;
    private final int batchSize;
    private final long seed;
    private final int rank;
    private final int worldSize;
    private final BlockingQueue<Item> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread worker;
    private long position;
    private volatile boolean closed;
    private boolean failed;

    /** What the background thread hands over: a batch or the error that stopped it. */
    private record Item(HostBatch batch, Throwable error) {
    }

    /** A loader from the first batch. */
    public BatchLoader(Dataset dataset, int batchSize, long seed) {
        this(dataset, batchSize, seed, 0);
    }

    /**
     * A loader whose first {@link #next()} returns batch {@code firstBatch} of the sequence (e.g. the step a run
     * resumes at).
     */
    public BatchLoader(Dataset dataset, int batchSize, long seed, long firstBatch) {
        this(dataset, batchSize, seed, firstBatch, 0, 1);
    }

    /**
     * A loader of rank {@code rank}'s shard among {@code worldSize} data-parallel ranks (see the class comment), whose
     * first {@link #next()} returns batch {@code firstBatch} of this shard.
     *
     * @param batchSize the examples per batch of this rank (the global batch is {@code worldSize * batchSize})
     */
    public BatchLoader(Dataset dataset, int batchSize, long seed, long firstBatch, int rank, int worldSize) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is out of range for world size " + worldSize);
        }
        this.rank = rank;
        this.worldSize = worldSize;
        if (dataset == null) {
            throw new IllegalArgumentException("a batch loader needs a dataset");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        if (firstBatch < 0) {
            throw new IllegalArgumentException("first batch must be >= 0, got " + firstBatch);
        }
        this.dataset = dataset;
        this.batchSize = batchSize;
        this.seed = seed;
        this.position = firstBatch;
        this.worker = new Thread(() -> produce(firstBatch), "diffusion4j-batches-" + THREADS.incrementAndGet());
        worker.setDaemon(true);
        worker.start();
    }

    /** The permutation of {@code 0..n-1} that epoch {@code epoch} of a loader seeded {@code seed} visits. */
    public static int[] permutation(int n, long seed, long epoch) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        SplittableRandom rng = new SplittableRandom(seed + epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** The dataset indices of batch {@code batch}. */
    public int[] indicesOf(long batch) {
        return locate(batch, new long[batchSize], new Permutations());
    }

    public int batchSize() {
        return batchSize;
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return worldSize;
    }

    public Dataset dataset() {
        return dataset;
    }

    /** The number of the batch the next {@link #next()} returns. */
    public long position() {
        return position;
    }

    /** The epoch each batch position belongs to, with a one-epoch cache of the permutation. */
    private final class Permutations {
        private long epoch = -1;
        private int[] perm;

        int[] of(long e) {
            if (e != epoch) {
                perm = permutation(dataset.size(), seed, e);
                epoch = e;
            }
            return perm;
        }
    }

    private int[] locate(long batch, long[] epochs, Permutations perms) {
        int n = dataset.size();
        long shard = (n + worldSize - 1) / worldSize;   // padded to a multiple of the world size, as DistributedSampler
        int[] indices = new int[batchSize];
        long start = Math.multiplyExact(batch, batchSize);
        for (int i = 0; i < batchSize; i++) {
            long p = start + i;
            long e = p / shard;
            long k = (p % shard) * worldSize + rank;     // position in the padded permutation; padding wraps around
            indices[i] = perms.of(e)[(int) (k % n)];
            epochs[i] = e;
        }
        return indices;
    }

    private void produce(long first) {
        Permutations perms = new Permutations();
        try {
            for (long b = first; !closed; b++) {
                Item item;
                try {
                    long[] epochs = new long[batchSize];
                    int[] indices = locate(b, epochs, perms);
                    item = new Item(dataset.load(indices, epochs), null);
                } catch (Throwable t) {
                    item = new Item(null, t);
                }
                queue.put(item);
                if (item.error() != null) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            // closing
        }
    }

    /**
     * The next batch in Java arrays (waits for the background thread when it is behind).
     *
     * @throws DatasetException      if reading the batch failed (the message names the file)
     * @throws IllegalStateException after {@link #close()} or a failure
     */
    public HostBatch nextHost() throws IOException {
        if (closed) {
            throw new IllegalStateException("batch loader is closed");
        }
        if (failed) {
            throw new IllegalStateException("batch loader stopped after an error");
        }
        Item item;
        try {
            item = queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for batch " + position, e);
        }
        if (item.error() != null) {
            failed = true;
            Throwable t = item.error();
            if (t instanceof IOException io) {
                throw new DatasetException(io.getMessage(), io);
            }
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error err) {
                throw err;
            }
            throw new DatasetException(String.valueOf(t.getMessage()), t);
        }
        position++;
        return item.batch();
    }

    /** The next batch as tensors made on this thread (they belong to its innermost open {@code NativeScope}). */
    public Batch next() throws IOException {
        return nextHost().toTensors();
    }

    /** Stops the background thread (waiting briefly for it) and drops batches not taken. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        worker.interrupt();
        queue.clear();
        try {
            worker.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the background thread is still running (for tests). */
    boolean workerAlive() {
        return worker.isAlive();
    }
}
