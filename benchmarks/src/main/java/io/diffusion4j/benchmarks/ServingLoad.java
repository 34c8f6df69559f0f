package io.diffusion4j.benchmarks;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A closed-loop load generator for {@code diffusion4j serve}: for each concurrency level, that many clients send
 * {@code POST /v1/generate} back to back until the level has sent its requests or run out of time; reports
 * throughput and p50/p99 latency of the answers, per status. Talks only to 127.0.0.1 / localhost.
 *
 * <pre>
 * ServingLoad --url http://127.0.0.1:8080 --concurrency 1,4,16,64 --requests 64 --seconds 20 \
 *     --body '{"steps":20,"scheduler":"ddim","guidance":3,"class":3,"format":"pt"}' [--label on]
 * </pre>
 * Each client's requests get their own seeds (the body's seed is replaced by a fresh one per request).
 */
public final class ServingLoad {
    private ServingLoad() {
    }

    /** One level's figures. */
    public record Level(String label, int concurrency, int requests, double seconds, double throughput, double p50Ms,
                        double p99Ms, Map<Integer, Integer> statuses, double p50RejectMs, double p99RejectMs,
                        double p50RejectServerMs, double p99RejectServerMs) {
        String line() {
            return String.format(Locale.ROOT, "%-6s clients %3d: %4d requests in %6.2f s, %7.2f req/s, p50 %8.1f ms, "
                    + "p99 %8.1f ms, statuses %s%s", label, concurrency, requests, seconds, throughput, p50Ms, p99Ms,
                    statuses, p50RejectMs >= 0 ? String.format(Locale.ROOT, ", 429 round trip p50 %.2f ms p99 %.2f ms"
                            + " (in the server p50 %.2f ms p99 %.2f ms)", p50RejectMs, p99RejectMs, p50RejectServerMs,
                            p99RejectServerMs) : "");
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "http://127.0.0.1:8080";
        int[] levels = {1, 4, 16, 64};
        int requests = 64;
        double seconds = 20;
        String body = "{\"steps\":20,\"scheduler\":\"ddim\",\"guidance\":3,\"class\":3,\"format\":\"pt\"}";
        String label = "";
        int warmup = 8;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--url" -> url = args[++i];
                case "--concurrency" -> levels = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--body" -> body = args[++i];
                case "--label" -> label = args[++i];
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i] + "; see the class comment");
            }
        }
        URI target = URI.create(url + "/v1/generate");
        String host = target.getHost();
        if (!host.equals("127.0.0.1") && !host.equals("localhost") && !host.equals("[::1]")) {
            throw new IllegalArgumentException("the load generator only targets this machine (127.0.0.1), not " + host);
        }
        if (requests < 1 || requests > 100_000 || seconds <= 0 || seconds > 600) {
            throw new IllegalArgumentException("--requests must be in 1..100000 and --seconds in (0, 600]");
        }
        run(target, levels, requests, seconds, body, label, warmup);
    }

    /** Runs every level in turn and prints one line per level. */
    public static List<Level> run(URI target, int[] levels, int requests, double seconds, String body, String label,
                                  int warmup) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        AtomicInteger seeds = new AtomicInteger(1000);
        runLevel(http, target, Math.min(4, Math.max(1, warmup)), warmup, 60, body, label, seeds); // warm-up
        List<Level> out = new ArrayList<>();
        for (int c : levels) {
            Level l = runLevel(http, target, c, Math.max(requests, 2 * c), seconds, body, label, seeds);
            System.out.println(l.line());
            out.add(l);
        }
        return out;
    }

    private static Level runLevel(HttpClient http, URI target, int concurrency, int requests, double seconds,
                                  String body, String label, AtomicInteger seeds) throws Exception {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        AtomicInteger left = new AtomicInteger(requests);
        AtomicInteger errors = new AtomicInteger();
        List<long[]> samples = java.util.Collections.synchronizedList(new ArrayList<>()); // {status, nanos}
        ExecutorService clients = Executors.newFixedThreadPool(concurrency);
        long t0 = System.nanoTime();
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int c = 0; c < concurrency; c++) {
                running.add(clients.submit(() -> {
                    while (left.getAndDecrement() > 0 && System.nanoTime() < end) {
                        String withSeed = body.replaceFirst("\\{", "{\"seed\":" + seeds.incrementAndGet() + ",");
                        HttpRequest req = HttpRequest.newBuilder(target).timeout(Duration.ofSeconds(120))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(withSeed)).build();
                        long s = System.nanoTime();
                        int status;
                        long serverNanos = -1;
                        try {
                            HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
                            status = r.statusCode();
                            serverNanos = r.headers().firstValue("X-Server-Time-Ms")
                                    .map(v -> (long) (Double.parseDouble(v) * 1e6)).orElse(-1L);
                        } catch (Exception e) {
                            status = -1;
                            if (errors.getAndIncrement() < 3) {
                                System.err.println("request failed: " + e);
                            }
                        }
                        samples.add(new long[] {status, System.nanoTime() - s, serverNanos});
                    }
                    return null;
                }));
            }
            for (Future<?> f : running) {
                f.get(Math.max(1, (long) seconds + 180), TimeUnit.SECONDS);
            }
        } finally {
            clients.shutdownNow();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        Map<Integer, Integer> statuses = new TreeMap<>();
        List<Long> ok = new ArrayList<>();
        List<Long> rejected = new ArrayList<>();
        List<Long> rejectedServer = new ArrayList<>();
        for (long[] s : samples) {
            statuses.merge((int) s[0], 1, Integer::sum);
            if (s[0] == 200) {
                ok.add(s[1]);
            } else if (s[0] == 429) {
                rejected.add(s[1]);
                if (s[2] >= 0) {
                    rejectedServer.add(s[2]);
                }
            }
        }
        return new Level(label, concurrency, samples.size(), elapsed, ok.size() / elapsed, percentile(ok, 0.50),
                percentile(ok, 0.99), statuses, rejected.isEmpty() ? -1 : percentile(rejected, 0.5),
                rejected.isEmpty() ? -1 : percentile(rejected, 0.99),
                rejectedServer.isEmpty() ? -1 : percentile(rejectedServer, 0.5),
                rejectedServer.isEmpty() ? -1 : percentile(rejectedServer, 0.99));
    }

    /** The nearest-rank percentile, in milliseconds. */
    static double percentile(List<Long> nanos, double p) {
        if (nanos.isEmpty()) {
            return Double.NaN;
        }
        long[] sorted = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
        int rank = (int) Math.ceil(p * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))] / 1e6;
    }
}
