package io.diffusion4j.bindings;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Who this process is in a data-parallel job and how the ranks meet (torch.distributed's {@code env://} convention).
 *
 * @param rank       this process's rank, in {@code [0, worldSize)}; rank 0 hosts the TCP rendezvous
 * @param worldSize  the number of processes, at least 1
 * @param localRank  the rank among the processes of this host (picks {@code cuda:localRank} for NCCL)
 * @param masterAddr host (name or address) of rank 0's rendezvous store
 * @param masterPort TCP port of rank 0's rendezvous store, in {@code 1..65535}
 * @param storeFile  when not null, rendezvous through this shared file ({@code FileStore}) instead of TCP; the file
 *                   must not be left over from an earlier job
 * @param timeout    how long any rendezvous step or collective may wait for a peer before it fails
 * @param backend    the collective library: Gloo (CPU tensors) or NCCL (CUDA tensors)
 */
public record ProcessGroupConfig(int rank, int worldSize, int localRank, String masterAddr, int masterPort,
                                 Path storeFile, Duration timeout, ProcessGroup.Backend backend) {

    /** torchrun's default rendezvous port. */
    public static final int DEFAULT_PORT = 29500;
    /** The default timeout of every collective and rendezvous step. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

    public ProcessGroupConfig {
        if (worldSize < 1) {
            throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is out of range for world size " + worldSize
                    + " (ranks 0.." + (worldSize - 1) + ")");
        }
        if (localRank < 0) {
            throw new IllegalArgumentException("local rank must be >= 0, got " + localRank);
        }
        if (storeFile == null) {
            if (masterAddr == null || masterAddr.isBlank()) {
                throw new IllegalArgumentException("a master address (MASTER_ADDR) is needed for a TCP rendezvous");
            }
            if (masterPort < 1 || masterPort > 65535) {
                throw new IllegalArgumentException("master port must be in 1..65535, got " + masterPort);
            }
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the collective timeout must be > 0, got " + timeout);
        }
        if (backend == null) {
            backend = ProcessGroup.Backend.GLOO;
        }
    }

    /** A TCP rendezvous at {@code masterAddr:masterPort} (rank 0 hosts it), Gloo, the default timeout. */
    public static ProcessGroupConfig tcp(int rank, int worldSize, String masterAddr, int masterPort) {
        return new ProcessGroupConfig(rank, worldSize, rank, masterAddr, masterPort, null, DEFAULT_TIMEOUT,
                ProcessGroup.Backend.GLOO);
    }

    /** A rendezvous through a shared file, Gloo, the default timeout. */
    public static ProcessGroupConfig file(int rank, int worldSize, Path storeFile) {
        if (storeFile == null) {
            throw new IllegalArgumentException("a file rendezvous needs a file path");
        }
        return new ProcessGroupConfig(rank, worldSize, rank, null, 0, storeFile, DEFAULT_TIMEOUT,
                ProcessGroup.Backend.GLOO);
    }

    /** A single process (world size 1): collectives are no-ops and nothing is opened. */
    public static ProcessGroupConfig single() {
        return new ProcessGroupConfig(0, 1, 0, "127.0.0.1", DEFAULT_PORT, null, DEFAULT_TIMEOUT,
                ProcessGroup.Backend.GLOO);
    }

    /**
     * Reads torchrun's variables: {@code RANK} and {@code WORLD_SIZE} (required), {@code LOCAL_RANK} (default: the
     * rank), {@code MASTER_ADDR} (default 127.0.0.1) and {@code MASTER_PORT} (default 29500).
     *
     * @throws IllegalArgumentException naming the variable that is missing or not a number
     */
    public static ProcessGroupConfig fromEnvironment(Map<String, String> env) {
        int world = intVar(env, "WORLD_SIZE", null);
        int rank = intVar(env, "RANK", null);
        int local = intVar(env, "LOCAL_RANK", rank);
        String addr = env.getOrDefault("MASTER_ADDR", "127.0.0.1");
        int port = intVar(env, "MASTER_PORT", DEFAULT_PORT);
        return new ProcessGroupConfig(rank, world, local, addr, port, null, DEFAULT_TIMEOUT,
                ProcessGroup.Backend.GLOO);
    }

    /** Whether {@code env} names a distributed job ({@code WORLD_SIZE} is set). */
    public static boolean inEnvironment(Map<String, String> env) {
        return env.get("WORLD_SIZE") != null;
    }

    private static int intVar(Map<String, String> env, String name, Integer fallback) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (fallback == null) {
                throw new IllegalArgumentException("environment variable " + name + " is not set (a distributed job "
                        + "needs RANK and WORLD_SIZE, and MASTER_ADDR/MASTER_PORT of rank 0)");
            }
            return fallback;
        }
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("environment variable " + name + "=" + v + " is not an integer");
        }
    }

    public ProcessGroupConfig withTimeout(Duration t) {
        return new ProcessGroupConfig(rank, worldSize, localRank, masterAddr, masterPort, storeFile, t, backend);
    }

    public ProcessGroupConfig withBackend(ProcessGroup.Backend b) {
        return new ProcessGroupConfig(rank, worldSize, localRank, masterAddr, masterPort, storeFile, timeout, b);
    }

    public ProcessGroupConfig withLocalRank(int l) {
        return new ProcessGroupConfig(rank, worldSize, l, masterAddr, masterPort, storeFile, timeout, backend);
    }

    /** Where the ranks meet, for messages: {@code host:port} or the store file. */
    public String rendezvous() {
        return storeFile != null ? "file " + storeFile : masterAddr + ":" + masterPort;
    }
}
