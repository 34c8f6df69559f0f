package io.diffusion4j.server;

import io.diffusion4j.bindings.Torch;
import io.diffusion4j.serving.EngineStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.function.ToDoubleFunction;

/** The server's Prometheus metrics (Micrometer): per model queue, batch, steps and outcomes; latency; memory. */
final class ServingMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    ServingMetrics() {
        Gauge.builder("diffusion4j.native.resident", Torch::residentBytes).baseUnit("bytes")
                .description("resident memory of the process (native tensors, Java heap, code)").register(registry);
        new JvmMemoryMetrics().bindTo(registry);
    }

    void register(ServedModel m) {
        Backend b = m.backend();
        String model = m.name();
        gauge("diffusion4j.queue.depth", "requests waiting for admission", model, b, s -> s.queued());
        gauge("diffusion4j.batch.rows", "samples in the running batch", model, b, s -> s.activeRows());
        gauge("diffusion4j.batch.requests", "requests in the running batch", model, b, s -> s.activeRequests());
        counter("diffusion4j.engine.steps", "engine steps (one model forward each)", model, b, s -> s.steps());
        counter("diffusion4j.engine.row.steps", "sample-steps (sum of batch rows over engine steps)", model, b,
                s -> s.rowSteps());
        Rate rate = new Rate(b);
        Gauge.builder("diffusion4j.engine.steps.per.second", rate, Rate::perSecond).tag("model", model)
                .description("engine steps per second since the previous scrape").register(registry);
        counter("diffusion4j.requests.completed", "requests answered with samples", model, b, s -> s.completed());
        counter("diffusion4j.requests.rejected", "requests refused with 429 (queue full)", model, b, s -> s.rejected());
        counter("diffusion4j.requests.cancelled", "requests cancelled (client gone, shutdown)", model, b,
                s -> s.cancelled());
        counter("diffusion4j.requests.timed.out", "requests past their deadline (504)", model, b, s -> s.timedOut());
        counter("diffusion4j.requests.failed", "requests failed by the model", model, b, s -> s.failed());
    }

    /** Records a request's time to its answer. */
    void latency(String model, int status, long nanos) {
        Timer.builder("diffusion4j.request.latency").description("time from request to answer")
                .tag("model", model == null ? "" : model).tag("status", Integer.toString(status))
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofMinutes(2)).register(registry).record(Duration.ofNanos(nanos));
    }

    String scrape() {
        return registry.scrape();
    }

    private void gauge(String name, String help, String model, Backend b, ToDoubleFunction<EngineStats> f) {
        Gauge.builder(name, b, x -> f.applyAsDouble(x.stats())).tag("model", model).description(help).register(registry);
    }

    private void counter(String name, String help, String model, Backend b, ToDoubleFunction<EngineStats> f) {
        FunctionCounter.builder(name, b, x -> f.applyAsDouble(x.stats())).tag("model", model).description(help)
                .register(registry);
    }

    /** Steps per second between two reads. */
    private static final class Rate {
        private final Backend backend;
        private long lastSteps;
        private long lastNanos = System.nanoTime();

        Rate(Backend backend) {
            this.backend = backend;
        }

        synchronized double perSecond() {
            long steps = backend.stats().steps();
            long now = System.nanoTime();
            double rate = now > lastNanos ? (steps - lastSteps) * 1e9 / (now - lastNanos) : 0;
            lastSteps = steps;
            lastNanos = now;
            return rate;
        }
    }
}
