package io.diffusion4j.cli;

import io.diffusion4j.bindings.ProcessGroupConfig;
import io.diffusion4j.training.LocalLauncher;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** {@code train}: data-parallel ranks, started here (--nproc) or joining a job started elsewhere. */
final class TrainDistributedOptions {
    @Option(names = "--nproc", paramLabel = "N",
            description = "Start N local processes as ranks 0..N-1 of a data-parallel job and wait for them; their "
                    + "output is prefixed with [rank r].")
    Integer nproc;

    @Option(names = "--rank", paramLabel = "R", description = "This process's rank in a data-parallel job "
            + "(default: env RANK).")
    Integer rank;

    @Option(names = "--world-size", paramLabel = "W", description = "The number of ranks (default: env WORLD_SIZE; "
            + "none: one process).")
    Integer worldSize;

    @Option(names = "--master-addr", paramLabel = "HOST", description = "Host of rank 0's rendezvous (default: env "
            + "MASTER_ADDR, else 127.0.0.1).")
    String masterAddr;

    @Option(names = "--master-port", paramLabel = "PORT", description = "Port of rank 0's rendezvous (default: env "
            + "MASTER_PORT, else 29500).")
    Integer masterPort;

    @Option(names = "--dist-timeout", paramLabel = "SECONDS", defaultValue = "300",
            description = "How long a rank waits for the others (rendezvous and every gradient all-reduce) before it "
                    + "fails (default: ${DEFAULT-VALUE}).")
    int distTimeout;

    void check() {
        if (distTimeout < 1) {
            throw new UsageException("--dist-timeout must be >= 1 second, got " + distTimeout);
        }
        if (nproc != null) {
            if (nproc < 1) {
                throw new UsageException("--nproc must be >= 1, got " + nproc);
            }
            if (rank != null || worldSize != null) {
                throw new UsageException("--nproc starts its own ranks; drop --rank/--world-size (they join a job "
                        + "started elsewhere)");
            }
        }
    }

    /**
     * The data-parallel job this process joins, or null for a single process (world size 1, or no job given).
     * {@code batch} is checked to split evenly over the ranks unless it is null (a resumed run checks its own).
     */
    ProcessGroupConfig config(Integer batch) {
        if (nproc != null) {
            if (batch != null && batch % nproc != 0) {
                throw new UsageException("--batch " + batch + " must be a multiple of --nproc " + nproc + " (it is the "
                        + "global batch, split evenly over the ranks)");
            }
            return null;
        }
        Map<String, String> env = System.getenv();
        if (rank == null && worldSize == null && !ProcessGroupConfig.inEnvironment(env)) {
            return null;
        }
        ProcessGroupConfig c;
        try {
            if (rank != null || worldSize != null) {
                if (rank == null || worldSize == null) {
                    throw new UsageException("--rank and --world-size go together (or set RANK and WORLD_SIZE)");
                }
                String addr = masterAddr != null ? masterAddr : env.getOrDefault("MASTER_ADDR", "127.0.0.1");
                int port = masterPort != null ? masterPort : env.containsKey("MASTER_PORT")
                        ? Integer.parseInt(env.get("MASTER_PORT").strip()) : ProcessGroupConfig.DEFAULT_PORT;
                c = ProcessGroupConfig.tcp(rank, worldSize, addr, port);
            } else {
                c = ProcessGroupConfig.fromEnvironment(env);
                if (masterAddr != null || masterPort != null) {
                    c = new ProcessGroupConfig(c.rank(), c.worldSize(), c.localRank(),
                            masterAddr != null ? masterAddr : c.masterAddr(),
                            masterPort != null ? masterPort : c.masterPort(), null, c.timeout(), c.backend());
                }
            }
            c = c.withTimeout(Duration.ofSeconds(distTimeout));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        checkBatch(batch, c.worldSize());
        return c.worldSize() == 1 ? null : c;
    }

    static void checkBatch(Integer batch, int world) {
        if (batch != null && batch % world != 0) {
            throw new UsageException("--batch " + batch + " must be a multiple of the world size " + world
                    + " (it is the global batch, split evenly over the ranks)");
        }
    }

    /**
     * --nproc: this same command ({@code ownArgs}) as N local ranks. {@code threads} is the --threads given, or null:
     * then each rank gets the cores divided by N, unless {@code resuming} (a resumed rank takes its checkpoint's).
     */
    int launch(List<String> ownArgs, Integer threads, int batch, boolean resuming, PrintWriter stdout,
               PrintWriter stderr) throws IOException, InterruptedException {
        List<String> base = new ArrayList<>();
        for (int i = 0; i < ownArgs.size(); i++) {
            String a = ownArgs.get(i);
            if (a.equals("--nproc")) {
                i++;
            } else if (!a.startsWith("--nproc=")) {
                base.add(a);
            }
        }
        int port = masterPort != null ? masterPort : LocalLauncher.freePort();
        boolean defaultThreads = threads == null && !resuming;
        int perRank = threads != null ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / nproc);
        if (resuming) {
            stdout.printf("starting %d ranks on this machine (rendezvous 127.0.0.1:%d), resuming %s%n", nproc, port,
                    "with the checkpoint's settings");
        } else {
            stdout.printf("starting %d ranks on this machine (rendezvous 127.0.0.1:%d, %d thread(s) each, batch %d = "
                    + "%d x %d)%n", nproc, port, perRank, batch, nproc, batch / nproc);
        }
        stdout.flush();
        return LocalLauncher.run(nproc, r -> {
            List<String> args = new ArrayList<>(base);
            args.addAll(List.of("--rank", Integer.toString(r), "--world-size", Integer.toString(nproc),
                    "--master-addr", "127.0.0.1", "--master-port", Integer.toString(port)));
            if (defaultThreads) {
                args.addAll(List.of("--threads", Integer.toString(perRank)));
            }
            return LocalLauncher.javaCommand(Main.class.getName(), args);
        }, Map.of("TORCH_CPP_LOG_LEVEL", System.getenv().getOrDefault("TORCH_CPP_LOG_LEVEL", "ERROR")),
                Duration.ofSeconds(Math.min(distTimeout, 30) + 5L), stdout, stderr);
    }
}
