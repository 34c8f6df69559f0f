package io.diffusion4j.bindings;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.FileStore;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;
import org.bytedeco.pytorch.global.torch;

/**
 * A group of processes that run collectives together (torch.distributed's c10d): Gloo for CPU tensors, NCCL for CUDA
 * tensors. The ranks meet through a TCP store hosted by rank 0 ({@code MASTER_ADDR:MASTER_PORT}) or a shared file.
 *
 * <p><b>Timeouts.</b> Every step of the rendezvous and every collective waits at most
 * {@link ProcessGroupConfig#timeout()} for its peers: a dead, hung or unreachable peer is a
 * {@link DistributedException}, never a hang. A peer that dies while connected is usually reported at once (its
 * sockets close); one that hangs, after the timeout. After a failed collective the group is broken: every later call
 * throws {@link IllegalStateException}; close it and end the job, as torch.distributed does.
 *
 * <p><b>Coalescing.</b> {@link #allReduce} and {@link #broadcast} copy their tensors into flat buffers of at most
 * {@link #bucketBytes()} each (per dtype and device, in list order) and run one collective per buffer, as PyTorch's
 * DistributedDataParallel buckets gradients, instead of one round trip per tensor.
 *
 * <p>A group of world size 1 opens nothing and its collectives return at once. NCCL is a code path for CUDA builds,
 * not tested here (this project's CI has no GPU). Not thread-safe: one thread drives a group, and every rank must call
 * the same collectives in the same order with tensors of the same shapes.
 */
public final class ProcessGroup implements AutoCloseable {
    static {
        Torch.load();
    }

    /** The collective library. */
    public enum Backend { GLOO, NCCL }

    /** How {@link #allReduce} combines the ranks' tensors. */
    public enum ReduceOp { SUM, AVG }

    /** The default bucket size of coalesced collectives: 25 MiB, as DistributedDataParallel's {@code bucket_cap_mb}. */
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    private final ProcessGroupConfig config;
    private final Store store;
    private final org.bytedeco.pytorch.Backend handle;
    private final long timeoutMs;
    private long bucketBytes = DEFAULT_BUCKET_BYTES;
    private String broken;
    private boolean closed;
    private long collectiveNanos;
    private long collectiveCount;

    private ProcessGroup(ProcessGroupConfig config, Store store, org.bytedeco.pytorch.Backend handle) {
        this.config = config;
        this.store = store;
        this.handle = handle;
        this.timeoutMs = Math.max(1, config.timeout().toMillis());
    }

    /**
     * Joins the group: rank 0 hosts the TCP store (or everybody opens the store file), then the backend connects
     * every pair of ranks. Returns when all {@code worldSize} ranks have joined.
     *
     * @throws DistributedException if the master cannot be reached, its port is taken, or not every rank joins
     *                              within the timeout
     */
    public static ProcessGroup join(ProcessGroupConfig config) {
        if (config == null) {
            throw new IllegalArgumentException("a process group needs a config");
        }
        Torch.load();
        if (config.worldSize() == 1) {
            return new ProcessGroup(config, null, null);
        }
        String who = "rank " + config.rank() + " of " + config.worldSize();
        long ms = Math.max(1, config.timeout().toMillis());
        Store store;
        try (PointerScope ignored = new PointerScope()) {
            if (config.storeFile() != null) {
                store = new FileStore(config.storeFile().toString(), config.worldSize());
            } else {
                TCPStoreOptions o = new TCPStoreOptions();
                o.port((short) config.masterPort());
                o.isServer(config.rank() == 0);
                o.numWorkers(new SizeTPointer(1).put(config.worldSize()));
                o.waitWorkers(false);
                o.timeout(new Milliseconds(ms));
                store = new TCPStore(config.masterAddr(), o);
            }
            store.retainReference();
            store.setTimeout(new Milliseconds(ms));
        } catch (RuntimeException e) {
            throw rendezvousFailure(config, who, e);
        }
        org.bytedeco.pytorch.Backend backend;
        try (PointerScope ignored = new PointerScope()) {
            backend = config.backend() == Backend.NCCL ? Nccl.create(store, config, ms) : gloo(store, config, ms);
            backend.retainReference();
        } catch (DistributedException e) {
            store.releaseReference();
            throw e;
        } catch (RuntimeException e) {
            store.releaseReference();
            String s = NativeErrors.summary(e);
            if (isTimeout(s)) {
                throw new DistributedException(who + ": not all " + config.worldSize() + " ranks joined at "
                        + config.rendezvous() + " within " + seconds(ms) + " (start every rank, with the same world "
                        + "size and a distinct rank each)", e);
            }
            throw new DistributedException(who + ": cannot connect the " + config.backend().name()
                    .toLowerCase(Locale.ROOT) + " group at " + config.rendezvous() + ": " + s, e);
        }
        return new ProcessGroup(config, store, backend);
    }

    private static org.bytedeco.pytorch.Backend gloo(Store store, ProcessGroupConfig config, long ms) {
        ProcessGroupGloo.Options o = ProcessGroupGloo.Options.create(new Milliseconds(ms));
        GlooDeviceVector devices = new GlooDeviceVector();
        String iface = System.getenv("GLOO_SOCKET_IFNAME");
        if (iface != null && !iface.isBlank()) {
            devices.push_back(ProcessGroupGloo.createDeviceForInterface(iface.strip()));
        } else if (config.storeFile() != null || isLoopback(config.masterAddr())) {
            devices.push_back(ProcessGroupGloo.createDeviceForHostname("127.0.0.1"));
        } else {
            devices.push_back(ProcessGroupGloo.createDefaultDevice());
        }
        o.devices(devices);
        return new ProcessGroupGloo(store, config.rank(), config.worldSize(), o);
    }

    /** The NCCL backend, in its own class so that CPU builds never load the NCCL bindings. */
    private static final class Nccl {
        static org.bytedeco.pytorch.Backend create(Store store, ProcessGroupConfig config, long ms) {
            if (!Torch.cudaAvailable()) {
                throw new DistributedException("the nccl backend needs CUDA, but LibTorch sees no CUDA device (this "
                        + "build uses the " + (Torch.isGpuBuild() ? "GPU" : "CPU-only") + " natives); use gloo");
            }
            try {
                org.bytedeco.pytorch.nccl.ProcessGroupNCCL.Options o =
                        org.bytedeco.pytorch.nccl.ProcessGroupNCCL.Options.create();
                o.timeout(new Milliseconds(ms));
                return new org.bytedeco.pytorch.nccl.ProcessGroupNCCL(store, config.rank(), config.worldSize(), o);
            } catch (LinkageError e) {
                throw new DistributedException("the nccl backend is not in these LibTorch natives: "
                        + e.getMessage() + "; use gloo", e);
            }
        }
    }

    private static boolean isLoopback(String host) {
        if (host.equals("localhost")) {
            return true;
        }
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static DistributedException rendezvousFailure(ProcessGroupConfig config, String who, RuntimeException e) {
        String s = NativeErrors.summary(e);
        String low = s.toLowerCase(Locale.ROOT);
        long ms = config.timeout().toMillis();
        if (config.storeFile() != null) {
            return new DistributedException(who + ": cannot open the rendezvous " + config.rendezvous() + ": " + s, e);
        }
        if (config.rank() == 0 && (low.contains("address already in use") || low.contains("eaddrinuse"))) {
            return new DistributedException(who + ": cannot host the rendezvous on port " + config.masterPort()
                    + ": address already in use (pick another MASTER_PORT)", e);
        }
        if (isTimeout(s) || low.contains("connect") || low.contains("refused")) {
            return new DistributedException(who + ": cannot reach the rendezvous master at " + config.rendezvous()
                    + " within " + seconds(ms) + " (is rank 0 running, and are MASTER_ADDR/MASTER_PORT right?)", e);
        }
        return new DistributedException(who + ": rendezvous at " + config.rendezvous() + " failed: " + s, e);
    }

    // ---- facts -------------------------------------------------------------------------------------------------

    public int rank() {
        return config.rank();
    }

    public int worldSize() {
        return config.worldSize();
    }

    /** Whether this is rank 0 (the rank that logs and writes files in a data-parallel job). */
    public boolean isMain() {
        return config.rank() == 0;
    }

    public ProcessGroupConfig config() {
        return config;
    }

    public long bucketBytes() {
        return bucketBytes;
    }

    /** Sets the size of the flat buffers of {@link #allReduce} and {@link #broadcast} (at least 1 KiB). */
    public void setBucketBytes(long bytes) {
        if (bytes < 1024) {
            throw new IllegalArgumentException("bucket size must be >= 1024 bytes, got " + bytes);
        }
        this.bucketBytes = bytes;
    }

    /** Wall time spent in {@link #allReduce} and {@link #broadcast} so far, in nanoseconds (copies included). */
    public long collectiveNanos() {
        return collectiveNanos;
    }

    /** The number of {@link #allReduce} and {@link #broadcast} calls so far. */
    public long collectiveCount() {
        return collectiveCount;
    }

    // ---- collectives -------------------------------------------------------------------------------------------

    /**
     * Reduces {@code tensors} across the ranks, in place: afterwards every rank holds the sum (or mean) of the ranks'
     * tensors. Each rank passes tensors of the same shapes and dtypes in the same order.
     *
     * @throws DistributedException if a peer died or did not take part within the timeout
     */
    public void allReduce(List<Tensor> tensors, ReduceOp op) {
        checkUsable();
        if (tensors == null || op == null) {
            throw new IllegalArgumentException("allReduce needs tensors and an op");
        }
        if (worldSize() == 1 || tensors.isEmpty()) {
            return;
        }
        long t0 = System.nanoTime();
        try (PointerScope ignored = new PointerScope(); InferenceGuard noGrad = new InferenceGuard(false)) {
            List<Bucket> buckets = buckets(tensors);
            List<Work> works = new ArrayList<>(buckets.size());
            AllreduceOptions o = new AllreduceOptions();
            o.timeout(new Milliseconds(timeoutMs));
            for (Bucket b : buckets) {
                works.add(handle.allreduce(new TensorVector(b.flat), o));
            }
            org.bytedeco.pytorch.Scalar inv = new org.bytedeco.pytorch.Scalar(1.0 / worldSize());
            for (int i = 0; i < buckets.size(); i++) {
                works.get(i)._wait();
                Bucket b = buckets.get(i);
                if (op == ReduceOp.AVG) {
                    b.flat.mul_(inv);
                }
                b.scatterBack();
            }
        } catch (RuntimeException e) {
            throw collectiveFailure("allReduce of " + tensors.size() + " tensors", e);
        } finally {
            collectiveNanos += System.nanoTime() - t0;
            collectiveCount++;
        }
    }

    /**
     * Overwrites {@code tensors} on every rank with rank {@code root}'s values (e.g. the parameters at the start of
     * data-parallel training). Safe on parameters that require gradients (runs without autograd).
     */
    public void broadcast(List<Tensor> tensors, int root) {
        checkUsable();
        if (root < 0 || root >= worldSize()) {
            throw new IllegalArgumentException("broadcast root " + root + " is out of range for world size "
                    + worldSize());
        }
        if (tensors == null) {
            throw new IllegalArgumentException("broadcast needs tensors");
        }
        if (worldSize() == 1 || tensors.isEmpty()) {
            return;
        }
        long t0 = System.nanoTime();
        try (PointerScope ignored = new PointerScope(); InferenceGuard noGrad = new InferenceGuard(false)) {
            List<Bucket> buckets = buckets(tensors);
            List<Work> works = new ArrayList<>(buckets.size());
            BroadcastOptions o = new BroadcastOptions();
            o.rootRank(root);
            o.rootTensor(0);
            o.timeout(new Milliseconds(timeoutMs));
            for (Bucket b : buckets) {
                works.add(handle.broadcast(new TensorVector(b.flat), o));
            }
            for (int i = 0; i < buckets.size(); i++) {
                works.get(i)._wait();
                if (rank() != root) {
                    buckets.get(i).scatterBack();
                }
            }
        } catch (RuntimeException e) {
            throw collectiveFailure("broadcast of " + tensors.size() + " tensors from rank " + root, e);
        } finally {
            collectiveNanos += System.nanoTime() - t0;
            collectiveCount++;
        }
    }

    /** Waits until every rank has called {@code barrier} (or fails after the timeout). */
    public void barrier() {
        checkUsable();
        if (worldSize() == 1) {
            return;
        }
        try (PointerScope ignored = new PointerScope()) {
            BarrierOptions o = new BarrierOptions();
            o.timeout(new Milliseconds(timeoutMs));
            handle.barrier(o)._wait();
        } catch (RuntimeException e) {
            throw collectiveFailure("barrier", e);
        }
    }

    /**
     * Every rank's {@code values}: row {@code r} of the result is rank {@code r}'s array (for checking that all ranks
     * agree, e.g. on a model hash and a step). Meant for small arrays.
     *
     * @throws DistributedException if the ranks pass arrays of different lengths, or a peer fails
     */
    public long[][] allGather(long[] values) {
        checkUsable();
        if (values == null) {
            throw new IllegalArgumentException("allGather needs values");
        }
        int w = worldSize();
        if (w == 1) {
            return new long[][] {values.clone()};
        }
        try (PointerScope ignored = new PointerScope()) {
            long[] lengths = new long[w];
            lengths[rank()] = values.length;
            lengths = sumAcrossRanks(lengths);
            for (long l : lengths) {
                if (l != values.length) {
                    throw new DistributedException("rank " + rank() + " of " + w + ": allGather got arrays of "
                            + "different lengths from the ranks: " + Arrays.toString(lengths));
                }
            }
            // each rank fills its own row of a zero [w, n] table; a sum puts every row in place on every rank
            long[] table = new long[w * values.length];
            System.arraycopy(values, 0, table, rank() * values.length, values.length);
            long[] all = sumAcrossRanks(table);
            long[][] out = new long[w][];
            for (int r = 0; r < w; r++) {
                out[r] = Arrays.copyOfRange(all, r * values.length, (r + 1) * values.length);
            }
            return out;
        }
    }

    /** Every rank's bytes (see {@link #allGather(long[])}). */
    public byte[][] allGather(byte[] values) {
        if (values == null) {
            throw new IllegalArgumentException("allGather needs values");
        }
        long[] widened = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            widened[i] = values[i];
        }
        long[][] all = allGather(widened);
        byte[][] out = new byte[all.length][values.length];
        for (int r = 0; r < all.length; r++) {
            for (int i = 0; i < values.length; i++) {
                out[r][i] = (byte) all[r][i];
            }
        }
        return out;
    }

    private long[] sumAcrossRanks(long[] values) {
        try {
            org.bytedeco.pytorch.Tensor t = torch.from_blob(new org.bytedeco.javacpp.LongPointer(values),
                    new long[] {values.length}, new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long)).clone();
            AllreduceOptions o = new AllreduceOptions();
            o.timeout(new Milliseconds(timeoutMs));
            handle.allreduce(new TensorVector(t), o)._wait();
            long[] out = new long[values.length];
            new org.bytedeco.javacpp.LongPointer(t.data_ptr_long()).capacity(values.length).get(out);
            return out;
        } catch (RuntimeException e) {
            throw collectiveFailure("allGather", e);
        }
    }

    // ---- buckets -----------------------------------------------------------------------------------------------

    /** A flat buffer holding several tensors' values back to back, and where each came from. */
    private static final class Bucket {
        final List<org.bytedeco.pytorch.Tensor> parts = new ArrayList<>();
        org.bytedeco.pytorch.Tensor flat;
        boolean inPlace;

        void seal() {
            if (parts.size() == 1 && parts.get(0).is_contiguous()) {
                flat = parts.get(0).view(-1);   // shares the tensor's storage: reduced in place
                inPlace = true;
                return;
            }
            TensorVector v = new TensorVector();
            for (org.bytedeco.pytorch.Tensor p : parts) {
                v.push_back(p.reshape(-1));
            }
            flat = torch.cat(v);
        }

        void scatterBack() {
            if (inPlace) {
                return;
            }
            long offset = 0;
            for (org.bytedeco.pytorch.Tensor p : parts) {
                long n = p.numel();
                p.copy_(flat.narrow(0, offset, n).view(p.sizes().vec().get()));
                offset += n;
            }
        }
    }

    private List<Bucket> buckets(List<Tensor> tensors) {
        List<Bucket> out = new ArrayList<>();
        Bucket current = null;
        long bytes = 0;
        torch.ScalarType type = null;
        org.bytedeco.pytorch.Device device = null;
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            if (t == null) {
                throw new IllegalArgumentException("tensor " + i + " of a collective is null");
            }
            org.bytedeco.pytorch.Tensor h = t.unwrap();
            long size = h.numel() * h.element_size();
            torch.ScalarType st = h.scalar_type();
            org.bytedeco.pytorch.Device d = h.device();
            boolean sameKind = current != null && st == type && d.type() == device.type() && d.index() == device.index();
            if (current == null || !sameKind || bytes + size > bucketBytes) {
                if (current != null) {
                    current.seal();
                    out.add(current);
                }
                current = new Bucket();
                bytes = 0;
                type = st;
                device = d;
            }
            current.parts.add(h);
            bytes += size;
        }
        current.seal();
        out.add(current);
        return out;
    }

    // ---- errors and lifecycle ----------------------------------------------------------------------------------

    private DistributedException collectiveFailure(String op, RuntimeException e) {
        if (e instanceof DistributedException de) {
            broken = de.getMessage();
            return de;
        }
        if (e instanceof IllegalArgumentException || e instanceof IllegalStateException) {
            throw e;
        }
        String s = NativeErrors.summary(e);
        String low = s.toLowerCase(Locale.ROOT);
        String who = "rank " + rank() + " of " + worldSize();
        String msg;
        if (isTimeout(s)) {
            msg = who + ": " + op + " timed out after " + seconds(timeoutMs) + ": a peer rank did not take part "
                    + "(it died, hung, or is far behind)";
        } else if (low.contains("closed by peer") || low.contains("connection reset") || low.contains("broken pipe")
                || low.contains("econnreset") || low.contains("epipe") || low.contains("connection refused")
                || low.contains("socket closed") || low.contains("read error") || low.contains("write error")) {
            msg = who + ": " + op + " failed: a peer rank died (connection closed)";
        } else {
            msg = who + ": " + op + " failed: " + s;
        }
        broken = msg;
        return new DistributedException(msg, e);
    }

    private static boolean isTimeout(String s) {
        String low = s.toLowerCase(Locale.ROOT);
        return low.contains("timed out") || low.contains("timeout");
    }

    private static String seconds(long ms) {
        return ms % 1000 == 0 ? (ms / 1000) + " s" : String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    private void checkUsable() {
        if (closed) {
            throw new IllegalStateException("process group (rank " + rank() + " of " + worldSize() + ") is closed");
        }
        if (broken != null) {
            throw new IllegalStateException("process group is broken after an earlier failure: " + broken);
        }
    }

    /** Leaves the group and frees its connections (rank 0 also stops hosting the store). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (handle != null) {
            handle.releaseReference();
        }
        if (store != null) {
            store.releaseReference();
        }
    }

    @Override
    public String toString() {
        return "ProcessGroup(rank " + rank() + " of " + worldSize() + ", " + config.backend().name()
                .toLowerCase(Locale.ROOT) + " at " + config.rendezvous() + ")";
    }
}
