package io.diffusion4j.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.serving.EngineConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP server behind {@code diffusion4j serve} (Jetty 12 core, no servlets): {@code POST /v1/generate},
 * {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics}. Listens as soon as it starts (health answers 503
 * while models load and warm up); each model gets its own batching engine.
 */
public final class DiffusionServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DiffusionServer.class);
    static final ObjectMapper JSON = new ObjectMapper();

    private final ServerConfig config;
    private final Server jetty;
    private final ServerConnector connector;
    private final ServingMetrics metrics = new ServingMetrics();
    private final Map<String, ServedModel> models = new LinkedHashMap<>();
    private volatile boolean ready;
    private boolean closed;

    /** Starts listening; {@link #addModel} and {@link #ready()} follow. */
    public DiffusionServer(ServerConfig config) throws Exception {
        this.config = config;
        QueuedThreadPool threads = new QueuedThreadPool(config.httpThreads(), 4);
        threads.setName("diffusion4j-http");
        threads.setDaemon(true);
        this.jetty = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(false);
        this.connector = new ServerConnector(jetty, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(config.host());
        connector.setPort(config.port());
        connector.setIdleTimeout(config.maxTimeout().toMillis() + 30_000);
        connector.setAcceptQueueSize(128);
        jetty.addConnector(connector);
        jetty.setHandler(new ServingHandler(this));
        jetty.setStopTimeout(5_000);
        jetty.start();
    }

    public ServerConfig config() {
        return config;
    }

    /** The port it listens on (the one picked when the config said 0). */
    public int port() {
        return connector.getLocalPort();
    }

    public String host() {
        return config.host();
    }

    /**
     * Loads a model folder (built-in name or directory), starts its engine and warms it up with a short request.
     *
     * @throws IOException              for a missing or unreadable model
     * @throws IllegalArgumentException for a model the server cannot serve (no sample shape)
     */
    public ServedModel loadModel(String nameOrPath, Device device, DType dtype) throws Exception {
        ModelFolder folder = ModelFolder.resolve(nameOrPath);
        ModelSpec spec = folder.spec();
        SchedulerConfig schedulerConfig = folder.schedulerConfig();
        if (spec == null || spec.sampleShape() == null || schedulerConfig == null) {
            throw new IllegalArgumentException(folder.location() + " has no diffusion4j.json with a sample_shape, or no "
                    + "scheduler_config.json: the server needs both");
        }
        String name = spec.name() != null ? spec.name() : folder.location().toString();
        Denoiser denoiser = folder.loadDenoiser(device, dtype);
        return addModel(name, spec, schedulerConfig, denoiser);
    }

    /** Serves {@code denoiser} (owned by the server from now on) under {@code name}, after a warm-up request. */
    public ServedModel addModel(String name, ModelSpec spec, SchedulerConfig schedulerConfig, Denoiser denoiser)
            throws Exception {
        synchronized (models) {
            if (models.containsKey(name)) {
                denoiser.close();
                throw new IllegalArgumentException("model '" + name + "' is served twice");
            }
        }
        Backend backend = config.batching()
                ? new EngineBackend(denoiser, spec.sampleShape(), new EngineConfig(config.maxBatch(), config.maxQueue()),
                        name)
                : new LoopBackend(denoiser, spec.sampleShape(), config.maxBatch(), config.maxQueue(), name);
        ServedModel m = new ServedModel(name, spec, schedulerConfig, denoiser, backend);
        try {
            GenerationRequest.Builder warm = GenerationRequest.builder().steps(2).seed(0);
            if (denoiser.isConditional() && denoiser.nullClassId() < 0) {
                warm.classLabels(0);
            }
            backend.submit(warm.build(), Schedulers.byName("ddim", schedulerConfig, 0), Duration.ofMinutes(2))
                    .result().get(2, TimeUnit.MINUTES).close();
        } catch (Exception e) {
            m.close();
            throw e;
        }
        synchronized (models) {
            models.put(name, m);
        }
        metrics.register(m);
        LOG.info("serving {} (sample shape {}, batch {}, queue {}, batching {})", name,
                java.util.Arrays.toString(spec.sampleShape()), config.maxBatch(), config.maxQueue(),
                config.batching() ? "on" : "off");
        return m;
    }

    /** Health answers 200 from now on. */
    public void ready() {
        ready = true;
    }

    boolean isReady() {
        return ready;
    }

    ServingMetrics metrics() {
        return metrics;
    }

    List<ServedModel> models() {
        synchronized (models) {
            return new ArrayList<>(models.values());
        }
    }

    /** The model a request names; the only one when it names none. */
    ServedModel model(String name) throws ModelLookupException {
        synchronized (models) {
            if (name == null) {
                if (models.size() == 1) {
                    return models.values().iterator().next();
                }
                throw new ModelLookupException(400, "this server serves " + models.size() + " models ("
                        + String.join(", ", models.keySet()) + "): name one in \"model\"");
            }
            ServedModel m = models.get(name);
            if (m == null) {
                throw new ModelLookupException(404, "unknown model '" + name + "'; served: "
                        + String.join(", ", models.keySet()));
            }
            return m;
        }
    }

    /** The body of {@code GET /v1/models}. */
    byte[] modelsJson() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode list = root.putArray("models");
        for (ServedModel m : models()) {
            ObjectNode o = list.addObject();
            o.put("name", m.name());
            ArrayNode shape = o.putArray("sample_shape");
            for (long s : m.spec().sampleShape()) {
                shape.add(s);
            }
            o.put("images", m.spec().valueRange() != null);
            o.put("conditional", m.denoiser().isConditional());
            o.put("num_classes", m.denoiser().numClasses());
            o.put("null_class_id", m.denoiser().nullClassId());
            o.put("default_scheduler", Schedulers.nameOf(m.schedulerConfig()));
            o.put("num_train_timesteps", m.schedulerConfig().numTrainTimesteps());
            ArrayNode names = o.putArray("schedulers");
            Schedulers.NAMES.stream().filter(n -> !n.equals("adaptive")).forEach(names::add);
            o.put("max_batch", config.maxBatch());
            o.put("max_queue", config.maxQueue());
            o.put("batching", config.batching());
        }
        return JSON.writeValueAsBytes(root);
    }

    /**
     * Stops taking requests, lets running ones finish for at most {@code grace} (then cancels them), stops HTTP and
     * frees the models.
     */
    public void shutdown(Duration grace) {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        ready = false;
        for (ServedModel m : models()) {
            try {
                m.backend().shutdown(grace);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            jetty.stop();
        } catch (Exception e) {
            LOG.warn("stopping HTTP: {}", e.toString());
        }
        for (ServedModel m : models()) {
            m.close();
        }
    }

    @Override
    public void close() {
        shutdown(Duration.ofSeconds(10));
    }

    static ByteBuffer utf8(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    /** A model name that does not resolve: 404 (unknown) or 400 (several served, none named). */
    static final class ModelLookupException extends Exception {
        final int status;

        ModelLookupException(int status, String message) {
            super(message);
            this.status = status;
        }
    }
}
