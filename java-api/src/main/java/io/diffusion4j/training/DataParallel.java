package io.diffusion4j.training;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.DistributedException;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.ProcessGroup;
import io.diffusion4j.bindings.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * Data-parallel training over a {@link ProcessGroup} (PyTorch's DistributedDataParallel, synchronous): every rank holds
 * the whole model, reads its own shard of each global batch, and the gradients are averaged across the ranks after
 * backward, so every rank applies the same optimizer step and EMA update and the replicas stay identical.
 *
 * <p><b>The global batch.</b> With world size {@code W} and {@code b} examples per rank, step {@code s} trains on a
 * global batch of {@code B = W b} examples. Example {@code j} of it ({@code 0 <= j < B}) is local example {@code j / W}
 * of rank {@code j % W} (the interleaving of PyTorch's {@code DistributedSampler}, which {@code BatchLoader}'s sharded
 * constructor reproduces), and its random draws (timestep, noise, offset noise, input perturbation, label dropout) are
 * row {@code j} of the draws a single process would make for a batch of {@code B} at step {@code s}: every rank draws
 * the whole global batch's numbers from the step's generators (seeded from {@code (seed, s)}, as
 * {@link Trainer#step} describes) and keeps its rows. So a step depends on {@code (seed, s, B)} and the data, not on
 * how the batch is split: {@code W} processes with batch {@code B/W} compute what one process with batch {@code B}
 * computes, up to float rounding (per-rank forward passes and the gradient sum are rounded differently). The loss a
 * rank reports is the global batch's mean loss (the average of the ranks' means, which is the global mean because
 * the shards are equal).
 *
 * <p><b>Start.</b> {@link Trainer#distribute} checks that all ranks hold the same model (parameter shapes and weights,
 * by hash), the same training config and the same step, then broadcasts rank 0's parameters. Only rank 0 writes
 * checkpoints and exports ({@link Trainer#saveTo}, {@link Trainer#export} do nothing on the others).
 */
public final class DataParallel {
    private final ProcessGroup group;
    private long allReduceNanos;
    private long allReduceCount;

    private DataParallel(ProcessGroup group) {
        this.group = group;
    }

    /** Data parallelism over {@code group} (the caller keeps owning and closes it). */
    public static DataParallel over(ProcessGroup group) {
        if (group == null) {
            throw new IllegalArgumentException("data parallelism needs a process group");
        }
        return new DataParallel(group);
    }

    public ProcessGroup group() {
        return group;
    }

    public int rank() {
        return group.rank();
    }

    public int worldSize() {
        return group.worldSize();
    }

    /** Whether this rank logs and writes files (rank 0). */
    public boolean isMain() {
        return group.isMain();
    }

    /** Total wall time of the gradient all-reduces so far (flattening and copying back included), in nanoseconds. */
    public long allReduceNanos() {
        return allReduceNanos;
    }

    /** The number of gradient all-reduces so far (one per optimizer step). */
    public long allReduceCount() {
        return allReduceCount;
    }

    // ---- start -------------------------------------------------------------------------------------------------

    /**
     * Checks that every rank agrees with rank 0 on the model, config and step, then overwrites this rank's parameters
     * with rank 0's.
     *
     * @throws DistributedException naming the first rank that differs and how
     */
    void start(List<Tensor> params, String configJson, long step) {
        long[] mine = fingerprint(params, configJson, step);
        long[][] all = group.allGather(mine);
        for (int r = 1; r < all.length; r++) {
            long[] o = all[r];
            String differs = null;
            if (o[0] != all[0][0]) {
                differs = "is at step " + o[0] + ", rank 0 at step " + all[0][0]
                        + ": every rank must resume from the same checkpoint";
            } else if (o[1] != all[0][1]) {
                differs = "has a different model (" + o[4] + " parameter tensors, structure " + hex(o[1]) + ") than "
                        + "rank 0 (" + all[0][4] + ", " + hex(all[0][1]) + "): every rank must load the same model";
            } else if (o[2] != all[0][2]) {
                differs = "loaded different weights than rank 0 (weights hash " + hex(o[2]) + " vs " + hex(all[0][2])
                        + "): every rank must start from the same model file or checkpoint";
            } else if (o[3] != all[0][3]) {
                differs = "has a different training config than rank 0 (config hash " + hex(o[3]) + " vs "
                        + hex(all[0][3]) + "): start every rank with the same options";
            }
            if (differs != null) {
                throw new DistributedException("rank " + r + " of " + all.length + " " + differs);
            }
        }
        group.broadcast(params, 0);
    }

    /** {step, structure hash, weights hash, config hash, parameter count}. */
    static long[] fingerprint(List<Tensor> params, String configJson, long step) {
        MessageDigest structure = sha256();
        MessageDigest weights = sha256();
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : params) {
                structure.update((p.dtype().label() + Arrays.toString(p.shape()) + ";").getBytes(StandardCharsets.UTF_8));
                float[] v = p.detach().to(Device.CPU, DType.FLOAT32).toFloatArray();
                ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                bb.asFloatBuffer().put(v);
                weights.update(bb.array());
            }
        }
        long config = ByteBuffer.wrap(sha256().digest(configJson.getBytes(StandardCharsets.UTF_8))).getLong();
        return new long[] {step, ByteBuffer.wrap(structure.digest()).getLong(),
            ByteBuffer.wrap(weights.digest()).getLong(), config, params.size()};
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    private static String hex(long v) {
        return HexFormat.of().toHexDigits(v).substring(0, 12);
    }

    // ---- the step ----------------------------------------------------------------------------------------------

    /**
     * Averages the gradients of {@code params} and the loss across the ranks (one bucketed all-reduce; the loss rides
     * in the gradients' buffer). Called by the trainer after backward, before the loss check, clipping and the
     * optimizer step.
     *
     * @return the mean of the ranks' losses
     * @throws IllegalStateException if a parameter has no gradient (every parameter must take part in every step)
     */
    double averageGradients(List<Tensor> params, double localLoss) {
        long t0 = System.nanoTime();
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> grads = new ArrayList<>(params.size() + 1);
            for (int i = 0; i < params.size(); i++) {
                Tensor g = params.get(i).grad();
                if (g == null) {
                    throw new IllegalStateException("parameter " + i + " (" + params.get(i).describe() + ") has no "
                            + "gradient after backward; data-parallel training needs every parameter used in each step");
                }
                grads.add(g);
            }
            Tensor loss = Tensor.fromFloats(new float[] {(float) localLoss}, 1);
            if (!grads.isEmpty() && grads.get(0).device().isCuda()) {
                loss = loss.to(grads.get(0).device());
            }
            grads.add(loss);
            group.allReduce(grads, ProcessGroup.ReduceOp.AVG);
            return worldSize() == 1 ? localLoss : loss.item();   // float32 precision, for logging and the NaN check
        } finally {
            allReduceNanos += System.nanoTime() - t0;
            allReduceCount++;
        }
    }

    /** Rank {@code rank}'s entries of a global batch's array: {@code global[rank], global[rank + world], ...}. */
    static long[] shard(long[] global, int rank, int world) {
        if (world == 1) {
            return global;
        }
        long[] out = new long[global.length / world];
        for (int i = 0; i < out.length; i++) {
            out[i] = global[i * world + rank];
        }
        return out;
    }

    /** Rows {@code rank, rank + world, ...} of a global batch's tensor {@code [B, ...]}, contiguous. */
    static Tensor shardRows(Tensor global, int rank, int world) {
        if (world == 1) {
            return global;
        }
        long[] shape = global.shape();
        long[] split = new long[shape.length + 1];
        split[0] = shape[0] / world;
        split[1] = world;
        System.arraycopy(shape, 1, split, 2, shape.length - 1);
        return global.reshape(split).select(1, rank).contiguous();
    }
}
