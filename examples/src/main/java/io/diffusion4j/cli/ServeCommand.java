package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.server.DiffusionServer;
import io.diffusion4j.server.ServerConfig;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j serve}: an HTTP server with continuous batching. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve models over HTTP with step-level continuous batching: POST /v1/generate, GET /v1/models, "
                + "/health, /metrics (Prometheus).")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, split = ",", paramLabel = "NAME|DIR",
            description = "Models to serve (built-in names or model folders; repeat or comma-separate for several).")
    List<String> models;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDR",
            description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only).")
    String host;

    @Option(names = "--port", defaultValue = "8080", paramLabel = "P", description = "Port; 0 picks a free one "
            + "(default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--max-batch", defaultValue = "16", paramLabel = "N",
            description = "Samples in a model's running batch (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "64", paramLabel = "N",
            description = "Requests waiting per model; beyond it the server answers 429 (default: ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--timeout-ms", defaultValue = "60000", paramLabel = "MS",
            description = "Deadline of a request that sets no timeout_ms (default: ${DEFAULT-VALUE}); 504 after it.")
    long timeoutMs;

    @Option(names = "--threads", paramLabel = "N", description = "LibTorch intra-op threads (default: LibTorch's).")
    Integer threads;

    @Option(names = "--http-threads", defaultValue = "32", paramLabel = "N",
            description = "Most HTTP threads (default: ${DEFAULT-VALUE}); requests wait without holding one.")
    int httpThreads;

    @Option(names = "--no-batching", description = "One sampling loop per request, at most --max-batch at once (the "
            + "baseline for benchmarks).")
    boolean noBatching;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "D", description = "cpu, cuda or cuda:N "
            + "(default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--drain-seconds", defaultValue = "30", paramLabel = "S",
            description = "On shutdown (Ctrl-C, SIGTERM), let running requests finish for this long (default: "
                    + "${DEFAULT-VALUE}).")
    long drainSeconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (threads != null) {
            if (threads < 1) {
                throw new UsageException("--threads must be >= 1, got " + threads);
            }
            Torch.setThreads(threads);
        }
        if (timeoutMs < 1 || timeoutMs > Duration.ofMinutes(10).toMillis()) {
            throw new UsageException("--timeout-ms must be in 1..600000, got " + timeoutMs);
        }
        if (drainSeconds < 0) {
            throw new UsageException("--drain-seconds must be >= 0, got " + drainSeconds);
        }
        ServerConfig config;
        Device dev;
        try {
            config = new ServerConfig(host, port, maxBatch, maxQueue, !noBatching, Duration.ofMillis(timeoutMs),
                    Duration.ofMinutes(10), httpThreads);
            dev = Torch.checkAvailable(Torch.device(device));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        DiffusionServer server;
        try {
            server = new DiffusionServer(config);
        } catch (java.io.IOException e) {
            throw new UsageException("cannot listen on " + host + ":" + port + ": " + e.getMessage());
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            server.shutdown(Duration.ofSeconds(drainSeconds));
            stopped.countDown();
        }, "diffusion4j-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            for (String m : models) {
                try {
                    server.loadModel(m, dev, DType.FLOAT32);
                } catch (ModelNotFoundException e) {
                    throw new UsageException("--model: " + e.getMessage());
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--model " + m + ": " + e.getMessage());
                }
            }
        } catch (RuntimeException | java.io.IOException e) {
            Runtime.getRuntime().removeShutdownHook(hook);
            server.close();
            throw e;
        }
        server.ready();
        out.printf("serving %s on http://%s:%d (max batch %d, queue %d, batching %s); Ctrl-C stops%n",
                String.join(", ", models), host, server.port(), maxBatch, maxQueue, noBatching ? "off" : "on");
        out.flush();
        stopped.await();
        return 0;
    }
}
