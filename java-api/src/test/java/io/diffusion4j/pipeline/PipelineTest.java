package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.DdpmScheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class PipelineTest {
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

    static DiffusionPipeline ddim(ModelFolder f, Denoiser d, double eta) {
        SchedulerConfig c = f.schedulerConfig().withClassName(DdimScheduler.CLASS_NAME);
        return new DiffusionPipeline(d, new DdimScheduler(c).withEta(eta), f.spec().sampleShape());
    }

    @Test
    void sameSeedGivesBitIdenticalSamples() {
        DiffusionPipeline p = ddim(digitsFolder, digits, 1.0);
        try (NativeScope scope = new NativeScope()) {
            GenerationRequest r = GenerationRequest.builder().steps(10).seed(42).batchSize(3).classLabels(1, 2, 3).build();
            float[] a = p.generate(r).toFloatArray();
            float[] b = p.generate(r).toFloatArray();
            assertArrayEquals(a, b);
            GenerationRequest other = GenerationRequest.builder().steps(10).seed(43).batchSize(3).classLabels(1, 2, 3).build();
            assertFalse(java.util.Arrays.equals(a, p.generate(other).toFloatArray()));
        }
    }

    @Test
    void aBatchReproducesEachSingleSeedSample() {
        DiffusionPipeline p = new DiffusionPipeline(digits, new DdpmScheduler(digitsFolder.schedulerConfig()),
                digitsFolder.spec().sampleShape());
        try (NativeScope scope = new NativeScope()) {
            Tensor batch = p.generate(GenerationRequest.builder().steps(20).seed(100).batchSize(3)
                    .classLabels(4, 5, 6).guidanceScale(2.0).build());
            for (int i = 0; i < 3; i++) {
                Tensor single = p.generate(GenerationRequest.builder().steps(20).seed(100 + i).batchSize(1)
                        .classLabels(4 + i).guidanceScale(2.0).build());
                float[] expected = batch.select(0, i).toFloatArray();
                float[] got = single.toFloatArray();
                double diff = 0;
                for (int k = 0; k < got.length; k++) {
                    diff = Math.max(diff, Math.abs(expected[k] - got[k]));
                }
                // the same noise; the model's batched kernels may round differently from batch 1
                assertTrue(diff < 1e-4, "sample " + i + " differs by " + diff);
            }
        }
    }

    @Test
    void aSharedGeneratorDrawsTheBatchAtOnce() {
        try (NativeScope scope = new NativeScope(); NoiseSource shared = NoiseSource.shared(9);
             io.diffusion4j.bindings.Generator g = io.diffusion4j.bindings.Generator.cpu(9)) {
            assertArrayEquals(Tensor.randn(g, DType.FLOAT32, Device.CPU, 3, 2).toFloatArray(),
                    shared.next(new long[] {3, 2}, Device.CPU).toFloatArray());
            DiffusionPipeline p = new DiffusionPipeline(toy, new DdpmScheduler(toyFolder.schedulerConfig()), new long[] {2});
            Tensor a = p.generate(GenerationRequest.builder().steps(10).batchSize(3).noiseSource(NoiseSource.shared(4)).build());
            Tensor b = p.generate(GenerationRequest.builder().steps(10).batchSize(3).noiseSource(NoiseSource.shared(4)).build());
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
        }
    }

    @Test
    void progressIsReportedForEveryStep() {
        DiffusionPipeline p = ddim(toyFolder, toy, 0.0);
        List<StepEvent> events = new ArrayList<>();
        try (NativeScope scope = new NativeScope()) {
            p.generate(GenerationRequest.builder().steps(25).seed(1).listener(e -> {
                assertFalse(e.sample().isClosed());
                events.add(e);
            }).build());
        }
        assertEquals(25, events.size());
        for (int i = 0; i < 25; i++) {
            assertEquals(i + 1, events.get(i).step());
            assertEquals(25, events.get(i).steps());
        }
        assertEquals(960.0, events.get(0).timestep());
        assertEquals(0.0, events.get(24).timestep());
        assertEquals(0, events.get(24).remaining().toNanos());
        assertTrue(events.get(24).elapsed().compareTo(events.get(0).elapsed()) >= 0);
    }

    @Test
    void cancellationStopsAtTheNextStepAndFreesMemory() {
        DiffusionPipeline p = ddim(toyFolder, toy, 0.0);
        CancellationToken token = new CancellationToken();
        AtomicInteger seen = new AtomicInteger();
        CancellationException e = assertThrows(CancellationException.class, () -> p.generate(
                GenerationRequest.builder().steps(50).cancellation(token).listener(ev -> {
                    if (seen.incrementAndGet() == 7) {
                        token.cancel();
                    }
                }).build()));
        assertEquals(7, seen.get());
        assertEquals("sampling cancelled after 7 of 50 steps", e.getMessage());
        // a thread interrupt cancels too, and leaves the flag set
        Thread.currentThread().interrupt();
        try {
            assertThrows(CancellationException.class, () -> p.generate(GenerationRequest.builder().steps(5).build()));
            assertTrue(Thread.interrupted());
        } finally {
            Thread.interrupted();
        }
    }

    @Test
    void img2imgWithStrengthZeroReturnsTheInputAndOneIgnoresIt() {
        DiffusionPipeline p = ddim(digitsFolder, digits, 0.0);
        try (NativeScope scope = new NativeScope()) {
            Tensor image = Tensor.full(-1.0, DType.FLOAT32, Device.CPU, 1, 1, 8, 8);
            Tensor same = p.generate(GenerationRequest.builder().steps(10).classLabels(3).image(image, 0.0).build());
            assertArrayEquals(image.toFloatArray(), same.toFloatArray());
            List<Integer> steps = new ArrayList<>();
            p.generate(GenerationRequest.builder().steps(10).classLabels(3).image(image, 0.5)
                    .listener(e -> steps.add(e.steps())).build());
            assertEquals(5, steps.get(0), "strength 0.5 runs half the steps");
        }
    }

    @Test
    void inpaintingKeepsTheUnmaskedRegionExactly() {
        DiffusionPipeline p = ddim(digitsFolder, digits, 0.0);
        try (NativeScope scope = new NativeScope()) {
            float[] img = new float[64];
            float[] mask = new float[64];
            for (int i = 0; i < 64; i++) {
                img[i] = (i % 8) / 7f * 2 - 1;
                mask[i] = i < 32 ? 1 : 0; // repaint the top half
            }
            Tensor image = Tensor.fromFloats(img, 1, 1, 8, 8);
            Tensor m = Tensor.fromFloats(mask, 1, 1, 8, 8);
            float[] out = p.generate(GenerationRequest.builder().steps(20).seed(3).batchSize(2).classLabels(0)
                    .inpaint(image, m).build()).toFloatArray();
            for (int b = 0; b < 2; b++) {
                for (int i = 32; i < 64; i++) {
                    assertEquals(img[i], out[b * 64 + i], 1e-6, "kept pixel " + i);
                }
            }
        }
    }

    @Test
    void badRequestsAreClearErrors() {
        DiffusionPipeline digitsP = ddim(digitsFolder, digits, 0.0);
        DiffusionPipeline toyP = ddim(toyFolder, toy, 0.0);
        assertMessage(IllegalArgumentException.class, "steps must be >= 1, got 0",
                () -> GenerationRequest.builder().steps(0).build());
        assertMessage(IllegalArgumentException.class, "steps must be between 1 and num_train_timesteps (1000), got 1001",
                () -> toyP.generate(GenerationRequest.builder().steps(1001).build()));
        assertMessage(IllegalArgumentException.class, "eta must be a finite number >= 0, got -1.0",
                () -> new DdimScheduler(toyFolder.schedulerConfig(), -1, io.diffusion4j.scheduler.Compatibility.DIFFUSERS));
        assertMessage(IllegalArgumentException.class, "strength must be in [0, 1], got 1.5",
                () -> GenerationRequest.builder().image(null, 1.5).build());
        assertMessage(IllegalArgumentException.class, "guidance scale 3.0 needs a class-conditional model",
                () -> toyP.generate(GenerationRequest.builder().guidanceScale(3).build()));
        assertMessage(IllegalArgumentException.class, "class 11 is out of range: this model has classes 0..9",
                () -> digitsP.generate(GenerationRequest.builder().classLabels(11).build()));
        try (NativeScope scope = new NativeScope()) {
            Tensor image = Tensor.zeros(DType.FLOAT32, Device.CPU, 1, 1, 8, 8);
            Tensor mask = Tensor.zeros(DType.FLOAT32, Device.CPU, 1, 1, 4, 4);
            assertMessage(IllegalArgumentException.class, "mask [1, 1, 4, 4] does not match the input image [1, 1, 8, 8]",
                    () -> digitsP.generate(GenerationRequest.builder().classLabels(1).inpaint(image, mask).build()));
            Tensor noise = Tensor.zeros(DType.FLOAT32, Device.CPU, 1, 3, 8, 8);
            assertMessage(IllegalArgumentException.class, "initial noise float32[1, 3, 8, 8] does not match the model's sample shape [1, 1, 8, 8]",
                    () -> digitsP.generate(GenerationRequest.builder().classLabels(1).initNoise(noise).build()));
        }
    }

    @Test
    void nonFiniteResultsNameTheStep() {
        Denoiser broken = new Denoiser() {
            @Override
            public Tensor predict(Tensor sample, Tensor timesteps, Tensor classLabels) {
                Tensor out = toy.predict(sample, timesteps, classLabels);
                return timesteps.toLongArray()[0] < 500 ? out.div(0.0) : out;
            }

            @Override public boolean isConditional() { return false; }
            @Override public int numClasses() { return 0; }
            @Override public int nullClassId() { return -1; }
            @Override public DType timestepDType() { return toy.timestepDType(); }
            @Override public DType dtype() { return DType.FLOAT32; }
            @Override public Device device() { return Device.CPU; }
            @Override public void close() { }
        };
        SchedulerConfig c = toyFolder.schedulerConfig().withClassName(DdimScheduler.CLASS_NAME);
        DiffusionPipeline p = new DiffusionPipeline(broken, new DdimScheduler(c), new long[] {2});
        NonFiniteResultException atEnd = assertThrows(NonFiniteResultException.class,
                () -> p.generate(GenerationRequest.builder().steps(10).build()));
        assertEquals("the result has NaN or Inf values (after 10 steps); run with checkNumerics to find the first bad step",
                atEnd.getMessage());
        NonFiniteResultException perStep = assertThrows(NonFiniteResultException.class,
                () -> p.generate(GenerationRequest.builder().steps(10).checkNumerics(true).build()));
        assertEquals("NaN or Inf in the sample after step 6 of 10 (timestep 400)", perStep.getMessage());
    }

    /**
     * 5,000 DDIM steps on toy2d (five 1,000-step runs after three warm-up runs): JavaCPP's count of native bytes does
     * not move and the process's resident memory outside the Java heap grows by less than 16 MB (measured: a few MB of noise).
     */
    @Test
    void nativeMemoryStaysFlatOverFiveThousandSteps() {
        DiffusionPipeline p = ddim(toyFolder, toy, 1.0);
        GenerationRequest r = GenerationRequest.builder().steps(1000).seed(5).batchSize(4).build();
        for (int warm = 0; warm < 3; warm++) { // JIT, allocator arenas, LibTorch's caches
            try (NativeScope s = new NativeScope()) {
                p.generate(r);
            }
        }
        System.gc();
        long baseTotal = Pointer.totalBytes();
        long basePhysical = nativeResident();
        long maxTotal = 0;
        long maxPhysical = 0;
        for (int run = 0; run < 5; run++) {
            try (NativeScope s = new NativeScope()) {
                p.generate(r);
            }
            maxTotal = Math.max(maxTotal, Pointer.totalBytes());
            maxPhysical = Math.max(maxPhysical, nativeResident());
        }
        long totalGrowth = maxTotal - baseTotal;
        long physicalGrowth = maxPhysical - basePhysical;
        System.out.printf("5000 DDIM steps: JavaCPP totalBytes growth %d B, resident memory outside the Java heap "
                + "growth %d B%n",
                totalGrowth, physicalGrowth);
        assertTrue(totalGrowth <= 64 * 1024, "JavaCPP-tracked native memory grew by " + totalGrowth + " B");
        assertTrue(physicalGrowth <= 16L * 1024 * 1024, "resident memory grew by " + physicalGrowth + " B");
    }

    /**
     * A model saved with requires_grad parameters (what Python's torch.jit.save of a trained module, or a training
     * run, writes) still samples under inference mode once TorchScript's optimizing executor kicks in.
     */
    @Test
    void modelsSavedWithGradientsSampleInInferenceMode(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        boolean before = io.diffusion4j.bindings.TorchScriptRuntime.graphOptimization();
        io.diffusion4j.bindings.TorchScriptRuntime.setGraphOptimization(true);
        try {
            try (io.diffusion4j.bindings.TorchScriptModule m = toyFolder.loadModule(Device.CPU);
                 NativeScope scope = new NativeScope()) {
                for (Tensor p : m.parameters()) {
                    p.requiresGrad(true);
                }
                m.save(dir.resolve("model.pt"));
            }
            toyFolder.schedulerConfig().write(dir.resolve("scheduler_config.json"));
            try (java.io.InputStream in = getClass().getClassLoader()
                    .getResourceAsStream("io/diffusion4j/models/toy2d/diffusion4j.json")) {
                java.nio.file.Files.write(dir.resolve("diffusion4j.json"), in.readAllBytes()); // its probe runs first
            }
            try (Denoiser d = ModelFolder.open(dir).loadDenoiser(Device.CPU, DType.FLOAT32);
                 NativeScope scope = new NativeScope()) {
                DiffusionPipeline p = ddim(toyFolder, d, 0.0);
                for (int i = 0; i < 3; i++) { // the profiling executor optimizes after its first runs
                    assertTrue(p.generate(GenerationRequest.builder().steps(5).seed(i).build()).allFinite());
                }
            }
        } finally {
            io.diffusion4j.bindings.TorchScriptRuntime.setGraphOptimization(before);
        }
    }

    /** Resident memory outside the committed Java heap (which grows with garbage, not with native leaks). */
    static long nativeResident() {
        return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
    }

    static void assertMessage(Class<? extends Throwable> type, String prefix, org.junit.jupiter.api.function.Executable e) {
        Throwable t = assertThrows(type, e);
        assertTrue(t.getMessage().startsWith(prefix), "expected message starting with '" + prefix + "', got '"
                + t.getMessage() + "'");
        assertEquals(1, t.getMessage().lines().count(), t.getMessage());
    }
}
