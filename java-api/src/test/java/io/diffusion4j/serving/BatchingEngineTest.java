package io.diffusion4j.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.Schedulers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class BatchingEngineTest {
    static ModelFolder digitsFolder;
    static ModelFolder toyFolder;
    static Denoiser digits;
    static Denoiser toy;

    @BeforeAll
    static void load() throws Exception {
        digitsFolder = ModelFolder.builtin("digits");
        toyFolder = ModelFolder.builtin("toy2d");
        digits = digitsFolder.loadDenoiser(Device.CPU, DType.FLOAT32);
        toy = toyFolder.loadDenoiser(Device.CPU, DType.FLOAT32);
    }

    @AfterAll
    static void close() {
        digits.close();
        toy.close();
    }

    static Scheduler scheduler(ModelFolder f, String name, double eta) {
        return Schedulers.byName(name, f.schedulerConfig(), eta);
    }

    /** The same request run alone through the pipeline. */
    static float[] alone(Denoiser d, ModelFolder f, Scheduler s, GenerationRequest r) {
        try (DiffusionPipeline p = new DiffusionPipeline(d, s, f.spec().sampleShape());
             NativeScope scope = new NativeScope()) {
            return p.generate(r).toFloatArray();
        }
    }

    static float[] take(Submission s) throws Exception {
        try (NativeScope scope = new NativeScope(); Tensor t = s.result().get(60, TimeUnit.SECONDS)) {
            return t.toFloatArray();
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

    record Case(String scheduler, double eta, GenerationRequest request) {
    }

    /**
     * Requests with different schedulers (single-step, multistep, stochastic, Heun), step counts, guidance scales,
     * classes and batch sizes, some admitted while others run, give the images each gives alone.
     */
    @Test
    void mixedRequestsAdmittedMidRunEqualTheirSingleRuns() throws Exception {
        List<Case> cases = List.of(
                new Case("ddim", 0.0, GenerationRequest.builder().steps(20).seed(5).classLabels(3).guidanceScale(3).build()),
                new Case("euler", 0, GenerationRequest.builder().steps(10).seed(7).classLabels(1).build()),
                new Case("dpmsolver++", 0, GenerationRequest.builder().steps(15).seed(9).batchSize(2)
                        .classLabels(4, 8).guidanceScale(2).build()),
                new Case("ddpm", 0, GenerationRequest.builder().steps(12).seed(11).build()),
                new Case("heun", 0, GenerationRequest.builder().steps(6).seed(13).classLabels(0).guidanceScale(1.5).build()),
                new Case("euler-a", 0, GenerationRequest.builder().steps(9).seed(15).classLabels(9).build()),
                new Case("ddim", 1.0, GenerationRequest.builder().steps(8).seed(17).classLabels(6).guidanceScale(4).build()));
        List<float[]> expected = new ArrayList<>();
        long t0 = System.nanoTime();
        for (Case c : cases) {
            expected.add(alone(digits, digitsFolder, scheduler(digitsFolder, c.scheduler, c.eta), c.request));
        }
        System.out.printf("single runs: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        t0 = System.nanoTime();
        try (BatchingEngine engine = new BatchingEngine(digits, digitsFolder.spec().sampleShape(),
                new EngineConfig(16, 16), "test")) {
            List<Submission> subs = new ArrayList<>();
            CountDownLatch midRun = new CountDownLatch(1);
            Case first = cases.get(0);
            GenerationRequest firstWithListener = GenerationRequest.builder().steps(20).seed(5).classLabels(3)
                    .guidanceScale(3).listener(e -> {
                        if (e.step() == 4) {
                            midRun.countDown();
                        }
                    }).build();
            subs.add(engine.submit(firstWithListener, scheduler(digitsFolder, first.scheduler, first.eta), null));
            assertTrue(midRun.await(60, TimeUnit.SECONDS));
            for (Case c : cases.subList(1, cases.size())) {
                subs.add(engine.submit(c.request, scheduler(digitsFolder, c.scheduler, c.eta), null));
            }
            for (int k = 0; k < cases.size(); k++) {
                double d = maxDiff(expected.get(k), take(subs.get(k)));
                assertTrue(d <= 1e-5, cases.get(k).scheduler + ": max difference " + d);
            }
            EngineStats stats = engine.stats();
            System.out.printf("engine: %.1f s, %s%n", (System.nanoTime() - t0) / 1e9, stats);
            assertEquals(cases.size(), stats.completed());
            // the later requests ran beside the first: fewer engine steps than the steps of all requests together
            int total = cases.stream().mapToInt(c -> c.request.steps() * (c.scheduler.equals("heun") ? 2 : 1)).sum();
            assertTrue(stats.steps() < total - 15, "engine steps " + stats.steps() + " of " + total);
            assertTrue(subs.get(0).stepsDone() == 20);
        }
    }

    @Test
    void cancelledAndExpiredRowsLeaveAndNativeMemoryStaysFlat() throws Exception {
        Scheduler ddim = scheduler(toyFolder, "ddim", 0);
        Scheduler dpm = scheduler(toyFolder, "dpmsolver++", 0);
        try (BatchingEngine engine = new BatchingEngine(toy, toyFolder.spec().sampleShape(), new EngineConfig(8, 64),
                "mem")) {
            long warm = 0;
            long max = 0;
            for (int round = 0; round < 60; round++) {
                List<Submission> subs = new ArrayList<>();
                for (int k = 0; k < 6; k++) {
                    GenerationRequest r = GenerationRequest.builder().steps(10 + k).seed(round * 10 + k).batchSize(1 + k % 3)
                            .build();
                    subs.add(engine.submit(r, k % 2 == 0 ? ddim : dpm, k == 5 ? Duration.ZERO : null));
                }
                subs.get(3).cancel();
                for (int k = 0; k < subs.size(); k++) {
                    Submission s = subs.get(k);
                    if (k == 3) {
                        assertThrows(CancellationException.class, () -> s.result().get());
                    } else if (k == 5) {
                        ExecutionException e = assertThrows(ExecutionException.class, () -> s.result().get());
                        assertInstanceOf(DeadlineExceededException.class, e.getCause());
                    } else {
                        s.result().get(60, TimeUnit.SECONDS).close();
                    }
                }
                if (round == 10) {
                    warm = nativeResident();
                } else if (round > 10) {
                    max = Math.max(max, nativeResident());
                }
            }
            EngineStats stats = engine.stats();
            assertEquals(60 * 4, stats.completed());
            assertEquals(60, stats.timedOut());
            assertEquals(0, stats.activeRows());
            long growth = max - warm;
            System.out.printf("engine: native resident growth over 50 rounds of 6 requests: %d KB%n", growth / 1024);
            assertTrue(growth < 32L * 1024 * 1024, "native memory grew by " + growth + " bytes");
        }
    }

    /** A running request cancelled from outside (token or future) leaves at the next step; the batch goes on. */
    @Test
    void cancellingARunningRequestFreesItsRowAtTheNextStep() throws Exception {
        Scheduler ddim = scheduler(digitsFolder, "ddim", 0);
        try (BatchingEngine engine = new BatchingEngine(digits, digitsFolder.spec().sampleShape(),
                new EngineConfig(4, 4), "cancel")) {
            io.diffusion4j.pipeline.CancellationToken token = new io.diffusion4j.pipeline.CancellationToken();
            AtomicInteger stepsAfterCancel = new AtomicInteger();
            GenerationRequest victim = GenerationRequest.builder().steps(200).seed(1).classLabels(2).cancellation(token)
                    .listener(e -> {
                        if (e.step() == 3) {
                            token.cancel();
                        } else if (e.step() > 3) {
                            stepsAfterCancel.incrementAndGet();
                        }
                    }).build();
            Submission v = engine.submit(victim, ddim, null);
            GenerationRequest other = GenerationRequest.builder().steps(10).seed(2).classLabels(5).build();
            Submission o = engine.submit(other, ddim, null);
            assertThrows(CancellationException.class, () -> {
                try {
                    v.result().get(60, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    throw e.getCause();
                }
            });
            assertEquals(0, stepsAfterCancel.get());
            assertTrue(maxDiff(alone(digits, digitsFolder, ddim, other), take(o)) <= 1e-5);
            assertEquals(1, engine.stats().cancelled());
            assertEquals(0, engine.stats().activeRows());
        }
    }

    @Test
    void aFullQueueRejectsAtOnceAndAdmissionIsOldestFirst() throws Exception {
        Scheduler ddim = scheduler(toyFolder, "ddim", 0);
        CountDownLatch hold = new CountDownLatch(1);
        CountDownLatch running = new CountDownLatch(1);
        try (BatchingEngine engine = new BatchingEngine(toy, toyFolder.spec().sampleShape(), new EngineConfig(2, 2),
                "queue")) {
            Submission blocker = engine.submit(GenerationRequest.builder().steps(3).batchSize(2).listener(e -> {
                running.countDown();
                try {
                    hold.await();
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
            }).build(), ddim, null);
            assertTrue(running.await(60, TimeUnit.SECONDS));
            Submission a = engine.submit(GenerationRequest.builder().steps(3).batchSize(2).build(), ddim, null);
            Submission b = engine.submit(GenerationRequest.builder().steps(3).batchSize(1).build(), ddim, null);
            assertTrue(a.isQueued() && b.isQueued());
            long t0 = System.nanoTime();
            assertThrows(QueueFullException.class,
                    () -> engine.submit(GenerationRequest.builder().steps(3).build(), ddim, null));
            System.out.printf("queue full answered in %.3f ms%n", (System.nanoTime() - t0) / 1e6);
            assertEquals(1, engine.stats().rejected());
            hold.countDown();
            blocker.result().get(60, TimeUnit.SECONDS).close();
            a.result().get(60, TimeUnit.SECONDS).close();
            b.result().get(60, TimeUnit.SECONDS).close();
            // b (1 row) fitted beside nothing while a (2 rows) waited, but must not overtake it
            assertTrue(a.id() < b.id());
        }
    }

    /** A model that throws for one class fails only the request with that class; the engine keeps serving. */
    @Test
    void aModelErrorFailsOnlyTheRequestThatCausedIt() throws Exception {
        Denoiser poisoned = new FailingFor(digits, 7);
        Scheduler ddim = scheduler(digitsFolder, "ddim", 0);
        try (BatchingEngine engine = new BatchingEngine(poisoned, digitsFolder.spec().sampleShape(),
                new EngineConfig(8, 8), "poison")) {
            GenerationRequest good = GenerationRequest.builder().steps(10).seed(3).classLabels(3).guidanceScale(2).build();
            GenerationRequest bad = GenerationRequest.builder().steps(10).seed(4).classLabels(7).build();
            Submission g = engine.submit(good, ddim, null);
            Submission b = engine.submit(bad, ddim, null);
            ExecutionException e = assertThrows(ExecutionException.class, () -> b.result().get(60, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("class 7"), e.getCause().getMessage());
            assertTrue(maxDiff(alone(digits, digitsFolder, ddim, good), take(g)) <= 1e-5);
            assertEquals(1, engine.stats().failed());
            Submission after = engine.submit(good, ddim, null);
            assertTrue(maxDiff(alone(digits, digitsFolder, ddim, good), take(after)) <= 1e-5);
        }
    }

    @Test
    void shutdownDrainsAndShutdownNowCancels() throws Exception {
        Scheduler ddim = scheduler(toyFolder, "ddim", 0);
        BatchingEngine engine = new BatchingEngine(toy, toyFolder.spec().sampleShape(), new EngineConfig(1, 8), "drain");
        List<Submission> subs = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            subs.add(engine.submit(GenerationRequest.builder().steps(20).seed(k).build(), ddim, null));
        }
        engine.shutdown();
        assertThrows(IllegalStateException.class,
                () -> engine.submit(GenerationRequest.builder().steps(2).build(), ddim, null));
        assertTrue(engine.awaitTermination(Duration.ofSeconds(60)));
        for (Submission s : subs) {
            s.result().get().close();
        }

        BatchingEngine now = new BatchingEngine(toy, toyFolder.spec().sampleShape(), new EngineConfig(1, 8), "now");
        List<Submission> pending = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            pending.add(now.submit(GenerationRequest.builder().steps(1000).seed(k).build(), ddim, null));
        }
        now.close();
        for (Submission s : pending) {
            assertTrue(s.result().isDone());
            assertTrue(s.result().isCompletedExceptionally());
        }
        assertEquals(4, now.stats().cancelled());
    }

    @Test
    void requestsTheEngineCannotServeAreRefusedWithAReason() {
        try (BatchingEngine engine = new BatchingEngine(toy, toyFolder.spec().sampleShape(), new EngineConfig(4, 4),
                "bad")) {
            Scheduler ddim = scheduler(toyFolder, "ddim", 0);
            assertMessage("batch 5 is larger than the engine's max batch 4",
                    () -> engine.submit(GenerationRequest.builder().batchSize(5).build(), ddim, null));
            assertMessage("the adaptive solver picks its own steps",
                    () -> engine.submit(GenerationRequest.builder().build(), scheduler(toyFolder, "adaptive", 0), null));
            assertMessage("guidance scale 3.0 needs a class-conditional model",
                    () -> engine.submit(GenerationRequest.builder().classLabels(1).guidanceScale(3).build(), ddim, null));
            assertMessage("steps must be between 1 and 1000",
                    () -> engine.submit(GenerationRequest.builder().steps(1001).build(), ddim, null));
        }
        assertThrows(IllegalArgumentException.class, () -> new EngineConfig(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new EngineConfig(1, 0));
    }

    static void assertMessage(String prefix, org.junit.jupiter.api.function.Executable e) {
        Throwable t = assertThrows(IllegalArgumentException.class, e);
        assertTrue(t.getMessage().startsWith(prefix), "got '" + t.getMessage() + "'");
    }

    static long nativeResident() {
        return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
    }

    /** The real model, throwing for any batch that holds {@code poison} among its class labels. */
    static final class FailingFor implements Denoiser {
        private final Denoiser inner;
        private final long poison;

        FailingFor(Denoiser inner, long poison) {
            this.inner = inner;
            this.poison = poison;
        }

        @Override
        public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
            for (long c : classLabels.toLongArray()) {
                if (c == poison) {
                    throw new IllegalStateException("this model cannot draw class " + poison);
                }
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

        @Override
        public void close() {
        }
    }
}
