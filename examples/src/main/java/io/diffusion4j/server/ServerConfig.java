package io.diffusion4j.server;

import java.time.Duration;

/**
 * The server's limits.
 *
 * @param host           address to listen on (127.0.0.1 by default: nothing outside the machine reaches it)
 * @param port           port; 0 picks a free one
 * @param maxBatch       samples in one model's running batch (with batching off: loops running at once)
 * @param maxQueue       requests waiting per model; beyond it, 429 at once
 * @param batching       continuous batching (true) or one loop per request (false, the baseline)
 * @param defaultTimeout the deadline of a request that gives no {@code timeout_ms}
 * @param maxTimeout     the longest {@code timeout_ms} accepted
 * @param httpThreads    the most HTTP threads (requests wait asynchronously, so few are needed)
 */
public record ServerConfig(String host, int port, int maxBatch, int maxQueue, boolean batching, Duration defaultTimeout,
                           Duration maxTimeout, int httpThreads) {
    /** Largest request body accepted, in bytes. */
    public static final int MAX_BODY = 64 * 1024;

    public ServerConfig {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("host must not be empty");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in 0..65535, got " + port);
        }
        if (maxBatch < 1) {
            throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
        }
        if (maxQueue < 1) {
            throw new IllegalArgumentException("max queue must be >= 1, got " + maxQueue);
        }
        if (defaultTimeout.isNegative() || defaultTimeout.isZero() || defaultTimeout.compareTo(maxTimeout) > 0) {
            throw new IllegalArgumentException("the default timeout must be in (0, max timeout " + maxTimeout.toMillis()
                    + " ms], got " + defaultTimeout.toMillis() + " ms");
        }
        if (httpThreads < 4) {
            throw new IllegalArgumentException("http threads must be >= 4, got " + httpThreads);
        }
    }

    /** Defaults: 127.0.0.1, a free port, batch 16, queue 64, batching on, 60 s deadline (10 min at most), 32 threads. */
    public static ServerConfig defaults() {
        return new ServerConfig("127.0.0.1", 0, 16, 64, true, Duration.ofSeconds(60), Duration.ofMinutes(10), 32);
    }

    public ServerConfig withPort(int p) {
        return new ServerConfig(host, p, maxBatch, maxQueue, batching, defaultTimeout, maxTimeout, httpThreads);
    }

    public ServerConfig withLimits(int batch, int queue) {
        return new ServerConfig(host, port, batch, queue, batching, defaultTimeout, maxTimeout, httpThreads);
    }

    public ServerConfig withBatching(boolean on) {
        return new ServerConfig(host, port, maxBatch, maxQueue, on, defaultTimeout, maxTimeout, httpThreads);
    }
}
