package io.diffusion4j.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.image.Images;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.serving.DeadlineExceededException;
import io.diffusion4j.serving.QueueFullException;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/** Routes and answers the server's requests; generation answers asynchronously when its engine is done. */
final class ServingHandler extends Handler.Abstract {
    private final DiffusionServer server;

    ServingHandler(DiffusionServer server) {
        this.server = server;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String path = request.getHttpURI().getPath();
        String method = request.getMethod();
        try {
            switch (path) {
                case "/health" -> {
                    if (checkMethod("GET", method, response, callback)) {
                        boolean ok = server.isReady();
                        send(response, callback, ok ? 200 : 503, "application/json",
                                ok ? "{\"status\":\"ok\"}" : "{\"status\":\"loading\"}");
                    }
                }
                case "/metrics" -> {
                    if (checkMethod("GET", method, response, callback)) {
                        send(response, callback, 200, "text/plain; version=0.0.4; charset=utf-8",
                                server.metrics().scrape());
                    }
                }
                case "/v1/models" -> {
                    if (checkMethod("GET", method, response, callback)) {
                        response.setStatus(200);
                        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                        response.write(true, ByteBuffer.wrap(server.modelsJson()), callback);
                    }
                }
                case "/v1/generate" -> {
                    if (checkMethod("POST", method, response, callback)) {
                        generate(request, response, callback);
                    }
                }
                default -> error(response, callback, 404, "no such endpoint " + path
                        + "; try POST /v1/generate, GET /v1/models, /health, /metrics");
            }
        } catch (Exception e) {
            error(response, callback, 500, oneLine(e));
        }
        return true;
    }

    private boolean checkMethod(String allowed, String method, Response response, Callback callback) {
        if (allowed.equals(method)) {
            return true;
        }
        response.getHeaders().put(HttpHeader.ALLOW, allowed);
        error(response, callback, 405, method + " is not allowed here; use " + allowed);
        return false;
    }

    private void generate(Request request, Response response, Callback callback) {
        long t0 = System.nanoTime();
        if (!server.isReady()) {
            error(response, callback, 503, "the server is loading its models (or shutting down); retry shortly");
            return;
        }
        GenerateParams params;
        ServedModel model;
        ServedModel.Prepared prepared;
        String body;
        try {
            body = readBody(request);
        } catch (IllegalArgumentException e) {
            finish(null, t0, response, callback, 400, e.getMessage());
            return;
        } catch (IOException e) {
            finish(null, t0, response, callback, 400, "cannot read the request body: " + oneLine(e));
            return;
        }
        try {
            params = GenerateParams.parse(body);
        } catch (IllegalArgumentException e) {
            finish(null, t0, response, callback, 400, e.getMessage());
            return;
        }
        try {
            model = server.model(params.model());
        } catch (DiffusionServer.ModelLookupException e) {
            finish(null, t0, response, callback, e.status, e.getMessage());
            return;
        }
        Duration timeout;
        try {
            prepared = model.prepare(params);
            if (params.format() == GenerateParams.Format.PNG && model.spec().valueRange() == null) {
                throw new IllegalArgumentException("model '" + model.name() + "' does not make images (no value_range)"
                        + "; ask for \"format\": \"pt\" or \"json\"");
            }
            timeout = params.timeoutMs() != null ? Duration.ofMillis(params.timeoutMs()) : server.config().defaultTimeout();
            if (timeout.compareTo(server.config().maxTimeout()) > 0) {
                throw new IllegalArgumentException("timeout_ms must be at most " + server.config().maxTimeout().toMillis()
                        + ", got " + params.timeoutMs());
            }
        } catch (IllegalArgumentException e) {
            finish(model.name(), t0, response, callback, 400, e.getMessage());
            return;
        }
        Backend.Job job;
        try {
            job = model.backend().submit(prepared.request(), prepared.scheduler(), timeout);
        } catch (QueueFullException e) {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            finish(model.name(), t0, response, callback, 429, e.getMessage());
            return;
        } catch (IllegalArgumentException e) {
            finish(model.name(), t0, response, callback, 400, e.getMessage());
            return;
        } catch (IllegalStateException e) {
            finish(model.name(), t0, response, callback, 503, e.getMessage());
            return;
        }
        request.addFailureListener(failure -> job.cancel().run()); // the client went away: free its rows
        watchForHangUp(request, job.cancel());
        response.getHeaders().put(HttpHeader.CONNECTION, "close"); // see watchForHangUp: tell the client up front
        Executor answers = request.getComponents().getExecutor();  // not the engine thread: encoding is ours
        job.result().whenCompleteAsync((samples, err) -> {
            if (err != null) {
                Throwable cause = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
                int status = cause instanceof DeadlineExceededException ? 504
                        : cause instanceof CancellationException ? 503
                        : cause instanceof IllegalArgumentException ? 400 : 500;
                finish(model.name(), t0, response, callback, status, oneLine(cause));
                return;
            }
            try (NativeScope scope = new NativeScope(); Tensor result = samples) {
                byte[] bytes = encode(params, model, prepared, result, t0);
                GenerationRequest r = prepared.request();
                response.setStatus(200);
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, switch (params.format()) {
                    case PNG -> "image/png";
                    case PT -> "application/octet-stream";
                    case JSON -> "application/json";
                });
                response.getHeaders().put("X-Model", model.name());
                response.getHeaders().put("X-Seeds", Arrays.stream(r.seeds()).mapToObj(Long::toString)
                        .collect(Collectors.joining(",")));
                response.getHeaders().put("X-Steps", Integer.toString(r.steps()));
                response.getHeaders().put("X-Scheduler", prepared.scheduler().name());
                response.getHeaders().put("X-Server-Time-Ms", String.format(java.util.Locale.ROOT, "%.1f",
                        (System.nanoTime() - t0) / 1e6));
                server.metrics().latency(model.name(), 200, System.nanoTime() - t0);
                response.write(true, ByteBuffer.wrap(bytes), callback);
            } catch (Exception e) {
                finish(model.name(), t0, response, callback, 500, oneLine(e));
            }
        }, answers);
    }

    /**
     * HTTP/1.1 connections are not read while a request is handled (Jetty 12 runs no failure listener when such a
     * client hangs up), so a client that went away would hold its rows until the answer is written. Asking the
     * connection to read again makes it see the end of the stream and close, which cancels the job. The price: the
     * connection is not kept alive after the answer (clients reconnect, about 0.1 ms on loopback).
     */
    private static void watchForHangUp(Request request, Runnable cancel) {
        if (request.getConnectionMetaData().getConnection() instanceof AbstractConnection c) {
            c.addEventListener(new Connection.Listener() {
                @Override
                public void onClosed(Connection connection) {
                    cancel.run(); // after the answer this does nothing: the job is done
                }
            });
            if (!c.isFillInterested()) {
                try {
                    c.fillInterested();
                } catch (RuntimeException e) {
                    // already reading: it sees the hang-up itself
                }
            }
        }
    }

    private byte[] encode(GenerateParams params, ServedModel model, ServedModel.Prepared prepared, Tensor result,
                          long t0) throws IOException {
        switch (params.format()) {
            case PT:
                return TensorFiles.toBytes(result);
            case PNG: {
                List<BufferedImage> images = Images.toImages(result, model.spec().valueRange());
                return png(Images.grid(images, scale(result)));
            }
            default: {
                GenerationRequest r = prepared.request();
                ObjectNode o = DiffusionServer.JSON.createObjectNode();
                o.put("model", model.name());
                o.put("scheduler", prepared.scheduler().name());
                o.put("steps", r.steps());
                ArrayNode seeds = o.putArray("seeds");
                Arrays.stream(r.seeds()).forEach(seeds::add);
                if (r.classLabels() != null) {
                    ArrayNode cs = o.putArray("classes");
                    Arrays.stream(r.classLabels()).forEach(cs::add);
                }
                o.put("guidance", r.guidanceScale());
                ArrayNode shape = o.putArray("shape");
                Arrays.stream(result.shape()).forEach(shape::add);
                o.put("server_ms", (System.nanoTime() - t0) / 1e6);
                if (model.spec().valueRange() != null) {
                    ArrayNode pngs = o.putArray("images");
                    int scale = scale(result);
                    for (BufferedImage im : Images.toImages(result, model.spec().valueRange())) {
                        pngs.add(Base64.getEncoder().encodeToString(png(Images.grid(List.of(im), scale))));
                    }
                } else {
                    ArrayNode samples = o.putArray("samples");
                    float[] data = result.toFloatArray();
                    int per = data.length / (int) result.size(0);
                    for (int i = 0; i < result.size(0); i++) {
                        ArrayNode s = samples.addArray();
                        for (int k = 0; k < per; k++) {
                            s.add(data[i * per + k]);
                        }
                    }
                }
                return DiffusionServer.JSON.writeValueAsBytes(o);
            }
        }
    }

    /** As the CLI scales small images up (at most 8x, to about 64 pixels). */
    private static int scale(Tensor result) {
        return (int) Math.max(1, Math.min(8, 64 / Math.max(1, result.size(result.dim() - 1))));
    }

    private static byte[] png(BufferedImage image) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }

    private static String readBody(Request request) throws IOException {
        long declared = request.getLength();
        if (declared > ServerConfig.MAX_BODY) {
            throw new IllegalArgumentException("the request body is " + declared + " bytes; at most "
                    + ServerConfig.MAX_BODY + " are accepted");
        }
        try (InputStream in = Request.asInputStream(request)) {
            byte[] bytes = in.readNBytes(ServerConfig.MAX_BODY + 1);
            if (bytes.length > ServerConfig.MAX_BODY) {
                throw new IllegalArgumentException("the request body is larger than " + ServerConfig.MAX_BODY
                        + " bytes");
            }
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    private void finish(String model, long t0, Response response, Callback callback, int status, String message) {
        long nanos = System.nanoTime() - t0;
        server.metrics().latency(model, status, nanos);
        response.getHeaders().put("X-Server-Time-Ms", String.format(java.util.Locale.ROOT, "%.2f", nanos / 1e6));
        error(response, callback, status, message);
    }

    private static void error(Response response, Callback callback, int status, String message) {
        ObjectNode o = DiffusionServer.JSON.createObjectNode();
        o.put("error", message == null ? "" : message.lines().findFirst().orElse(""));
        send(response, callback, status, "application/json", o.toString());
    }

    private static void send(Response response, Callback callback, int status, String type, String body) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
        response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            return e.getClass().getSimpleName();
        }
        return m.lines().findFirst().orElse(m);
    }
}
