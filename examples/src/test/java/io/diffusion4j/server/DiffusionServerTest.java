package io.diffusion4j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.cli.Main;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP server on 127.0.0.1 with an ephemeral port, serving the built-in models. */
class DiffusionServerTest {
    static DiffusionServer server;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        server = new DiffusionServer(ServerConfig.defaults().withLimits(16, 64));
        server.loadModel("digits", Device.CPU, DType.FLOAT32);
        server.loadModel("toy2d", Device.CPU, DType.FLOAT32);
        server.ready();
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static HttpResponse<byte[]> post(DiffusionServer s, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/generate"))
                .timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static HttpResponse<String> get(DiffusionServer s, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static String text(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    static float[] tensorOf(byte[] ptFile) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            return TensorFiles.fromBytes(ptFile, "response").toFloatArray();
        }
    }

    /** The CLI's single run ({@code diffusion4j sample ... --save-tensor}). */
    static float[] cli(Path dir, String... args) throws Exception {
        Path file = dir.resolve("cli-" + String.join("_", args).replaceAll("[^A-Za-z0-9_.-]", "") + ".pt");
        List<String> all = new ArrayList<>(List.of("sample", "--model", "digits", "--save-tensor", file.toString()));
        all.addAll(List.of(args));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(all.toArray(String[]::new), new PrintWriter(out), new PrintWriter(err));
        assertEquals(0, code, err.toString());
        try (NativeScope scope = new NativeScope()) {
            return TensorFiles.read(file).toFloatArray();
        }
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    /**
     * 16 concurrent clients with mixed schedulers, step counts, classes and guidance: every answer equals the CLI's
     * single run of the same settings to 1e-5.
     */
    @Test
    void generateUnderConcurrentMixedLoadEqualsTheCliRun(@TempDir Path dir) throws Exception {
        String[][] settings = {
                {"ddim", "20", "5", "3", "3"},
                {"euler", "10", "6", "1", "1"},
                {"dpmsolver++", "12", "7", "4", "2"},
                {"ddpm", "15", "8", "9", "3"},
                {"heun", "6", "9", "0", "1.5"},
                {"euler-a", "8", "10", "6", "1"},
                {"sde-dpmsolver++", "10", "11", "2", "2.5"},
                {"ddim", "30", "12", "7", "1"}};
        Map<Integer, float[]> expected = new HashMap<>();
        for (int k = 0; k < settings.length; k++) {
            String[] s = settings[k];
            expected.put(k, cli(dir, "--scheduler", s[0], "--steps", s[1], "--seed", s[2], "--class", s[3],
                    "--guidance", s[4]));
        }
        ExecutorService clients = Executors.newFixedThreadPool(16);
        try {
            List<Future<HttpResponse<byte[]>>> answers = new ArrayList<>();
            for (int c = 0; c < 16; c++) {
                String[] s = settings[c % settings.length];
                String body = String.format("{\"scheduler\":\"%s\",\"steps\":%s,\"seed\":%s,\"class\":%s,"
                        + "\"guidance\":%s,\"format\":\"pt\",\"model\":\"digits\"}", (Object[]) s);
                answers.add(clients.submit(() -> post(server, body)));
            }
            for (int c = 0; c < 16; c++) {
                HttpResponse<byte[]> r = answers.get(c).get(120, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), text(r));
                assertEquals("application/octet-stream", r.headers().firstValue("Content-Type").orElse(""));
                String[] s = settings[c % settings.length];
                assertEquals(s[2], r.headers().firstValue("X-Seeds").orElse(""));
                assertEquals(s[1], r.headers().firstValue("X-Steps").orElse(""));
                assertTrue(r.headers().firstValue("X-Server-Time-Ms").isPresent());
                double d = maxDiff(expected.get(c % settings.length), tensorOf(r.body()));
                assertTrue(d <= 1e-5, s[0] + " " + s[1] + " steps: max difference " + d);
            }
        } finally {
            clients.shutdownNow();
        }
    }

    @Test
    void pngAndJsonFormats() throws Exception {
        HttpResponse<byte[]> png = post(server, "{\"model\":\"digits\",\"steps\":5,\"scheduler\":\"ddim\",\"batch\":2,"
                + "\"class\":[1,2],\"seed\":3}");
        assertEquals(200, png.statusCode(), text(png));
        assertEquals("image/png", png.headers().firstValue("Content-Type").orElse(""));
        assertEquals("3,4", png.headers().firstValue("X-Seeds").orElse(""));
        assertNotNull(javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(png.body())));
        HttpResponse<byte[]> json = post(server, "{\"model\":\"toy2d\",\"steps\":5,\"scheduler\":\"euler\",\"batch\":3,"
                + "\"format\":\"json\"}");
        assertEquals(200, json.statusCode(), text(json));
        JsonNode o = DiffusionServer.JSON.readTree(json.body());
        assertEquals(3, o.get("samples").size());
        assertEquals(2, o.get("samples").get(0).size());
        assertEquals(3, o.get("seeds").size());
        HttpResponse<byte[]> images = post(server, "{\"model\":\"digits\",\"steps\":3,\"format\":\"json\",\"seed\":1}");
        assertEquals(1, DiffusionServer.JSON.readTree(images.body()).get("images").size());
    }

    @Test
    void modelsHealthAndMetrics() throws Exception {
        HttpResponse<String> models = get(server, "/v1/models");
        assertEquals(200, models.statusCode());
        JsonNode list = DiffusionServer.JSON.readTree(models.body()).get("models");
        assertEquals("digits", list.get(0).get("name").asText());
        assertEquals("toy2d", list.get(1).get("name").asText());
        assertEquals(200, get(server, "/health").statusCode());
        post(server, "{\"model\":\"toy2d\",\"steps\":2,\"format\":\"pt\"}");
        HttpResponse<String> metrics = get(server, "/metrics");
        assertEquals(200, metrics.statusCode());
        for (String name : List.of("diffusion4j_queue_depth{model=\"digits\"}", "diffusion4j_batch_rows",
                "diffusion4j_engine_steps_total", "diffusion4j_engine_steps_per_second",
                "diffusion4j_request_latency_seconds_bucket", "diffusion4j_requests_rejected_total",
                "diffusion4j_requests_cancelled_total", "diffusion4j_requests_timed_out_total",
                "diffusion4j_native_resident_bytes")) {
            assertTrue(metrics.body().contains(name), name + " missing from\n" + metrics.body());
        }
    }

    @Test
    void badRequestsAreAnsweredWithOneLineErrors() throws Exception {
        String[][] cases = {
                {"{\"steps\": 20", "400", "invalid JSON"},
                {"[1,2]", "400", "the body must be a JSON object"},
                {"{\"model\":\"digits\",\"stepz\":20}", "400", "unknown field 'stepz'"},
                {"{\"model\":\"digits\",\"steps\":\"many\"}", "400", "steps must be an integer"},
                {"{\"model\":\"digits\",\"steps\":0}", "400", "steps must be >= 1"},
                {"{\"model\":\"digits\",\"steps\":5000}", "400", "steps must be between 1 and 1000"},
                {"{\"model\":\"digits\",\"class\":12}", "400", "class 12 is out of range"},
                {"{\"model\":\"digits\",\"scheduler\":\"fast\"}", "400", "unknown scheduler 'fast'"},
                {"{\"model\":\"digits\",\"scheduler\":\"adaptive\"}", "400", "the adaptive solver"},
                {"{\"model\":\"digits\",\"format\":\"gif\"}", "400", "format must be png, pt or json"},
                {"{\"model\":\"digits\",\"batch\":17}", "400", "batch 17 is larger than the engine's max batch 16"},
                {"{\"model\":\"toy2d\"}", "400", "model 'toy2d' does not make images"},
                {"{\"model\":\"toy2d\",\"guidance\":3,\"format\":\"pt\"}", "400", "guidance scale 3.0 needs"},
                {"{\"steps\":2}", "400", "this server serves 2 models"},
                {"{\"model\":\"cats\"}", "404", "unknown model 'cats'"},
                {"{\"model\":\"digits\",\"timeout_ms\":0}", "400", "timeout_ms must be >= 1"}};
        for (String[] c : cases) {
            HttpResponse<byte[]> r = post(server, c[0]);
            assertEquals(Integer.parseInt(c[1]), r.statusCode(), c[0] + " -> " + text(r));
            String error = DiffusionServer.JSON.readTree(r.body()).get("error").asText();
            assertTrue(error.startsWith(c[2]), c[0] + " -> " + error);
            assertEquals(1, error.lines().count());
        }
        assertEquals(405, get(server, "/v1/generate").statusCode());
        assertEquals(404, get(server, "/v2/everything").statusCode());
    }

    /** A full queue answers 429 at once; a deadline passed answers 504; a client that hangs up cancels its rows. */
    @Test
    void queueFullDeadlineAndDisconnect() throws Exception {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        Gated gated = new Gated(toy.loadDenoiser(Device.CPU, DType.FLOAT32), null);
        try (DiffusionServer s = new DiffusionServer(ServerConfig.defaults().withLimits(1, 1))) {
            s.addModel("toy2d", toy.spec(), toy.schedulerConfig(), gated);
            s.ready();
            Backend backend = s.models().get(0).backend();
            gated.close(); // the engine stalls in its next forward
            CompletableFuture<HttpResponse<byte[]>> running = CompletableFuture.supplyAsync(() -> call(s,
                    "{\"steps\":50,\"format\":\"pt\",\"timeout_ms\":300}"));
            waitFor(() -> backend.stats().activeRows() == 1 && gated.waiting());
            CompletableFuture<HttpResponse<byte[]>> queued = CompletableFuture.supplyAsync(() -> call(s,
                    "{\"steps\":5,\"format\":\"pt\"}"));
            waitFor(() -> backend.stats().queued() == 1);
            long t0 = System.nanoTime();
            HttpResponse<byte[]> full = post(s, "{\"steps\":5,\"format\":\"pt\"}");
            double ms = (System.nanoTime() - t0) / 1e6;
            assertEquals(429, full.statusCode(), text(full));
            assertEquals("1", full.headers().firstValue("Retry-After").orElse(""));
            System.out.printf("429 answered in %.1f ms (client round trip)%n", ms);
            assertTrue(ms < 1000, "429 took " + ms + " ms");
            Thread.sleep(400);
            gated.open();
            HttpResponse<byte[]> late = running.get(60, TimeUnit.SECONDS);
            assertEquals(504, late.statusCode(), text(late));
            assertTrue(text(late).contains("deadline passed"), text(late));
            assertEquals(200, queued.get(60, TimeUnit.SECONDS).statusCode());

            // a client that disconnects: its request leaves the batch
            gated.close();
            long cancelledBefore = backend.stats().cancelled();
            try (Socket socket = new Socket("127.0.0.1", s.port())) {
                byte[] body = "{\"steps\":1000,\"format\":\"pt\"}".getBytes(StandardCharsets.UTF_8);
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                waitFor(() -> backend.stats().activeRows() == 1 && gated.waiting());
            }
            gated.open();
            waitFor(() -> backend.stats().cancelled() == cancelledBefore + 1 && backend.stats().activeRows() == 0);
            assertTrue(backend.stats().rowSteps() < 1000 + 60, "the disconnected request ran on");
        }
    }

    /** A model that throws for one class fails that request with 500; the others are answered. */
    @Test
    void aThrowingModelFailsOnlyItsRequest() throws Exception {
        ModelFolder digits = ModelFolder.builtin("digits");
        Gated poisoned = new Gated(digits.loadDenoiser(Device.CPU, DType.FLOAT32), labels -> {
            for (long c : labels) {
                if (c == 7) {
                    return true;
                }
            }
            return false;
        });
        try (DiffusionServer s = new DiffusionServer(ServerConfig.defaults())) {
            s.addModel("digits", digits.spec(), digits.schedulerConfig(), poisoned);
            s.ready();
            CompletableFuture<HttpResponse<byte[]>> bad = CompletableFuture.supplyAsync(() -> call(s,
                    "{\"steps\":20,\"scheduler\":\"ddim\",\"class\":7,\"format\":\"pt\"}"));
            CompletableFuture<HttpResponse<byte[]>> good = CompletableFuture.supplyAsync(() -> call(s,
                    "{\"steps\":20,\"scheduler\":\"ddim\",\"class\":3,\"guidance\":2,\"format\":\"pt\"}"));
            HttpResponse<byte[]> b = bad.get(60, TimeUnit.SECONDS);
            assertEquals(500, b.statusCode());
            assertTrue(text(b).contains("cannot draw class 7"), text(b));
            assertEquals(200, good.get(60, TimeUnit.SECONDS).statusCode());
            assertEquals(200, post(s, "{\"steps\":5,\"class\":1,\"format\":\"pt\"}").statusCode());
        }
    }

    /** Shutdown lets a running request finish, then stops listening. */
    @Test
    void shutdownDrainsRunningRequests() throws Exception {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        Gated gated = new Gated(toy.loadDenoiser(Device.CPU, DType.FLOAT32), null);
        DiffusionServer s = new DiffusionServer(ServerConfig.defaults());
        s.addModel("toy2d", toy.spec(), toy.schedulerConfig(), gated);
        s.ready();
        Backend backend = s.models().get(0).backend();
        int port = s.port();
        gated.close();
        CompletableFuture<HttpResponse<byte[]>> running = CompletableFuture.supplyAsync(() -> call(s,
                "{\"steps\":20,\"format\":\"pt\"}"));
        waitFor(() -> backend.stats().activeRows() == 1);
        CompletableFuture<Void> stopping = CompletableFuture.runAsync(() -> s.shutdown(Duration.ofSeconds(30)));
        Thread.sleep(200);
        gated.open();
        assertEquals(200, running.get(60, TimeUnit.SECONDS).statusCode());
        stopping.get(60, TimeUnit.SECONDS);
        assertThrows(java.io.IOException.class, () -> http.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + port + "/health")).GET().build(), HttpResponse.BodyHandlers.ofString()));
    }

    /** Usage errors of {@code diffusion4j serve} exit with 2 and a one-line message, before serving anything. */
    @Test
    void serveCommandUsageErrors() {
        String[][] cases = {
                {"--max-batch 0", "max batch must be >= 1, got 0"},
                {"--max-queue 0", "max queue must be >= 1, got 0"},
                {"--timeout-ms 0", "--timeout-ms must be in 1..600000, got 0"},
                {"--threads 0", "--threads must be >= 1, got 0"}};
        for (String[] c : cases) {
            List<String> args = new ArrayList<>(List.of("serve", "--model", "digits", "--port", "0"));
            args.addAll(List.of(c[0].split(" ")));
            StringWriter err = new StringWriter();
            int code = Main.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err));
            assertEquals(2, code, err.toString());
            assertTrue(err.toString().contains(c[1]), err.toString());
        }
        StringWriter err = new StringWriter();
        int code = Main.run(new String[] {"serve", "--model", "no-such-model", "--port", "0"},
                new PrintWriter(new StringWriter()), new PrintWriter(err));
        assertEquals(2, code, err.toString());
        assertTrue(err.toString().startsWith("diffusion4j: --model"), err.toString());
    }

    static HttpResponse<byte[]> call(DiffusionServer s, String body) {
        try {
            return post(s, body);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, "condition not reached in 30 s");
            Thread.sleep(5);
        }
    }

    /**
     * The real model behind a gate: while closed, a forward waits; a forward whose labels match {@code poison}
     * throws.
     */
    static final class Gated implements Denoiser {
        private final Denoiser inner;
        private final Predicate<long[]> poison;
        private volatile CountDownLatch gate = new CountDownLatch(0);
        private volatile boolean waiting;

        Gated(Denoiser inner, Predicate<long[]> poison) {
            this.inner = inner;
            this.poison = poison;
        }

        void open() {
            gate.countDown();
        }

        /** Closes the gate (the next forwards wait). */
        @Override
        public void close() {
            gate = new CountDownLatch(1);
        }

        boolean waiting() {
            return waiting;
        }

        @Override
        public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
            waiting = true;
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                waiting = false;
            }
            if (poison != null && poison.test(classLabels.toLongArray())) {
                throw new IllegalStateException("this model cannot draw class 7");
            }
            return inner.predict(sample, timesteps, classLabels);
        }

        @Override
        public boolean isConditional() {
            return inner.isConditional();
        }

        @Override
        public int numClasses() {
            return inner.numClasses();
        }

        @Override
        public int nullClassId() {
            return inner.nullClassId();
        }

        @Override
        public DType timestepDType() {
            return inner.timestepDType();
        }

        @Override
        public DType dtype() {
            return inner.dtype();
        }

        @Override
        public Device device() {
            return inner.device();
        }
    }
}
