package io.diffusion4j.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fine-tuning the built-in toy2d denoiser on its data (data.pt, 10000 points of the training distribution) with real
 * LibTorch: loss goes down, runs are reproducible and resumable bit for bit, exports load as model folders, memory
 * stays flat, and bad input gets clear errors.
 */
class TrainerTest {
    private static final int BATCH = 64;
    private static ModelFolder toy;
    private static Tensor data;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() throws IOException {
        Torch.setThreads(1);   // a 37k-parameter MLP: one thread is fastest, and steadier on a shared machine
        toy = ModelFolder.builtin("toy2d");
        data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt");   // owned here, closed after all
        assertArrayEquals(new long[] {10000, 2}, data.shape());
    }

    @AfterAll
    static void free() {
        data.close();
        TorchScriptRuntime.setGraphOptimization(true);   // tests that turn it off restore it; the default for the others
        Torch.setThreads(2);
    }

    /** The batch of step {@code s}: a deterministic window of data.pt (a real data loader would shuffle). */
    private static Tensor batch(long s) {
        return data.narrow(0, (s * 7919 * BATCH) % (data.size(0) - BATCH), BATCH);
    }

    private static Trainer trainer(TrainingConfig config) throws IOException {
        // the test closes t.module() itself (the trainer does not own a module it was given)
        return new Trainer(toy.loadModule(Device.CPU), toy.schedulerConfig(), toy.spec(), config);
    }

    /** Runs steps [from, to) and returns the losses. */
    private static double[] train(Trainer t, long from, long to) {
        double[] losses = new double[(int) (to - from)];
        for (long s = from; s < to; s++) {
            assertEquals(s, t.step());
            try (NativeScope scope = new NativeScope()) {
                losses[(int) (s - from)] = t.step(batch(s), null);
            }
        }
        return losses;
    }

    private static float[] weights(TorchScriptModule m) {
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> flat = new ArrayList<>();
            for (Tensor p : m.parameters()) {
                flat.add(p.detach().reshape(-1));
            }
            return Tensor.cat(flat, 0).toFloatArray();
        }
    }

    private static float[] emaWeights(Trainer t) {
        t.ema().swap();
        try {
            return weights(t.module());
        } finally {
            t.ema().swap();
        }
    }

    /** A config exercising every option that applies to an unconditional model. */
    private static TrainingConfig everything(long seed) {
        return TrainingConfig.builder().learningRate(1e-3).seed(seed).emaDecay(0.99).gradientClipNorm(1.0)
                .minSnrGamma(5).offsetNoise(0.05).inputPerturbation(0.1).lrWarmupSteps(3).cosine(20).build();
    }

    // ---- tests ---------------------------------------------------------------------------------------------

    @Test
    void theTrainerLeavesTheCallersGraphOptimizationSwitchAsItFoundIt() throws IOException {
        TorchScriptRuntime.setGraphOptimization(true);
        try (Trainer t = trainer(TrainingConfig.defaults())) {
            assertTrue(TorchScriptRuntime.graphOptimization(), "constructing a trainer changes no thread's switch");
            train(t, 0, 2);
            assertTrue(TorchScriptRuntime.graphOptimization(), "a step restores the caller's setting (on)");
            TorchScriptRuntime.setGraphOptimization(false);
            train(t, 2, 3);
            assertFalse(TorchScriptRuntime.graphOptimization(), "a step restores the caller's setting (off)");
            t.module().close();
        } finally {
            TorchScriptRuntime.setGraphOptimization(true);
        }
    }

    /**
     * LibTorch's graph-optimization switch is per thread: a trainer built on this thread and stepped from others
     * (each a fresh thread with optimization on) must still run the plain plan in every step, or a resumed run (whose
     * freshly loaded module runs its first calls unoptimized) no longer matches a straight one bit for bit.
     */
    @Test
    void resumeIsBitIdenticalWhenStepsRunOnOtherThreads() throws Exception {
        TorchScriptRuntime.setGraphOptimization(true);
        int n = 12;
        float[] straight;
        try (Trainer t = trainer(everything(5))) {
            onAnotherThread(() -> train(t, 0, n));
            straight = weights(t.module());
            t.module().close();
        }
        Path root = tmp.resolve("threads");
        try (Trainer t = trainer(everything(5))) {
            onAnotherThread(() -> train(t, 0, n / 2));
            t.saveTo(root);
            t.module().close();
        }
        try (Trainer t = Trainer.resume(root, Device.CPU)) {
            onAnotherThread(() -> train(t, n / 2, n));
            assertArrayEquals(straight, weights(t.module()), 0f, "weights after N/2 + resume + N/2, stepped on "
                    + "threads other than the trainers' own");
        }
        assertTrue(TorchScriptRuntime.graphOptimization(), "this thread's switch was never touched");
    }

    /** Runs {@code steps} on a new thread (LibTorch's thread-local settings at their defaults there). */
    private static void onAnotherThread(Runnable steps) throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            pool.submit(() -> {
                assertTrue(TorchScriptRuntime.graphOptimization(), "a new thread starts with optimization on");
                steps.run();
                assertTrue(TorchScriptRuntime.graphOptimization(), "the steps left the thread's switch on");
            }).get();
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void fineTuningLowersTheLoss() throws IOException {
        long t0 = System.nanoTime();
        TorchScriptModule module = toy.loadModule(Device.CPU);
        try (module; Trainer t = new Trainer(module, toy.schedulerConfig(), toy.spec(),
                TrainingConfig.builder().learningRate(1e-3).seed(1).build())) {
            double[] losses = train(t, 0, 100);
            for (double l : losses) {
                assertTrue(Double.isFinite(l) && l > 0, "loss " + l);
            }
            double first = Arrays.stream(losses, 0, 20).average().orElseThrow();
            double last = Arrays.stream(losses, 80, 100).average().orElseThrow();
            System.out.printf("toy2d fine-tuning, 100 steps of batch %d at lr 1e-3: mean loss of steps 0-19 %.4f, "
                    + "80-99 %.4f (%.0f ms)%n", BATCH, first, last, (System.nanoTime() - t0) / 1e6);
            assertTrue(last <= first, "mean loss rose from " + first + " to " + last);
            assertEquals(100, t.state());
            assertEquals(1e-3, t.lastLearningRate(), 0);
            assertTrue(Double.isNaN(t.lastGradNorm()), "no clipping: no norm");
            assertNull(t.ema());
        }
    }

    @Test
    void sameSeedSameWeightsOtherSeedOtherWeights() throws IOException {
        float[] a;
        float[] b;
        float[] c;
        float[] initial;
        try (Trainer t = trainer(everything(7))) {
            initial = weights(t.module());
            train(t, 0, 8);
            a = weights(t.module());
            assertTrue(t.lastGradNorm() > 0);
            t.module().close();
        }
        try (Trainer t = trainer(everything(7))) {
            train(t, 0, 8);
            b = weights(t.module());
            t.module().close();
        }
        try (Trainer t = trainer(everything(8))) {
            train(t, 0, 8);
            c = weights(t.module());
            t.module().close();
        }
        assertArrayEquals(a, b, 0f, "same seed, same weights");
        assertFalse(Arrays.equals(a, c), "another seed draws other timesteps and noise");
        assertFalse(Arrays.equals(a, initial), "training changed the weights");
    }

    @Test
    void resumeIsBitIdentical() throws IOException {
        int n = 20;
        float[] straight;
        float[] straightEma;
        try (Trainer t = trainer(everything(3))) {
            train(t, 0, n);
            straight = weights(t.module());
            straightEma = emaWeights(t);
            t.module().close();
        }
        Path root = tmp.resolve("checkpoints");
        Path saved;
        try (Trainer t = trainer(everything(3))) {
            train(t, 0, n / 2);
            saved = t.saveTo(root);
            t.module().close();
        }
        assertEquals(root.resolve("checkpoint-00000010"), saved);
        for (String f : List.of("model.pt", "ema.pt", "optimizer.pt", "training_config.json", "trainer_state.json",
                "scheduler_config.json", "diffusion4j.json")) {
            assertTrue(Files.isRegularFile(saved.resolve(f)), f);
        }
        try (Trainer t = Trainer.resume(root, Device.CPU)) {
            assertEquals(n / 2, t.step());
            assertEquals(everything(3), t.config());
            assertEquals(toy.spec(), t.spec());
            train(t, n / 2, n);
            assertArrayEquals(straight, weights(t.module()), 0f, "weights after N/2 + resume + N/2");
            assertArrayEquals(straightEma, emaWeights(t), 0f, "EMA weights after N/2 + resume + N/2");
        }
    }

    @Test
    void checkpointsKeepTheNewestK() throws IOException {
        Path root = tmp.resolve("ck");
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).keepCheckpoints(2).build())) {
            for (int i = 0; i < 4; i++) {
                train(t, i, i + 1);
                t.saveTo(root);
            }
            t.saveTo(root);   // the same step again replaces it
            t.module().close();
        }
        List<Path> kept = Checkpoints.list(root);
        assertEquals(List.of(root.resolve("checkpoint-00000003"), root.resolve("checkpoint-00000004")), kept);
        try (Stream<Path> all = Files.list(root)) {
            assertEquals(2, all.count(), "no temporary folders left");
        }
        assertEquals(root.resolve("checkpoint-00000004"), Checkpoints.latest(root));
    }

    @Test
    void anInterruptedSaveLeavesTheLastCheckpointIntact() throws IOException {
        Path root = tmp.resolve("ck");
        Path good;
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).build())) {
            train(t, 0, 1);
            good = t.saveTo(root);
            train(t, 1, 2);
            t.module().close();
        }
        byte[] before = Files.readAllBytes(good.resolve("model.pt"));
        IOException crash = assertThrows(IOException.class, () -> Checkpoints.writeAtomically(root,
                Checkpoints.name(1), 3, dir -> {
                    Files.writeString(dir.resolve("model.pt"), "half a file");
                    throw new IOException("disk full");
                }));
        assertEquals("disk full", crash.getMessage());
        assertArrayEquals(before, Files.readAllBytes(good.resolve("model.pt")), "the previous checkpoint is intact");
        assertEquals(List.of(good), Checkpoints.list(root));
        try (Stream<Path> all = Files.list(root)) {
            assertEquals(1, all.count(), "the temporary folder was removed");
        }
        try (Trainer t = Trainer.resume(good, Device.CPU)) {
            assertEquals(1, t.step());
        }
    }

    @Test
    void aResumeSkipsPartialAndUnloadableCheckpointsAndKeepsTheRunRecord() throws IOException {
        Path root = tmp.resolve("ck");
        RunRecord run = RunRecord.of(java.util.Map.of("batch", "256", "data-sha256", "ab12"));
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).emaDecay(0.9).build())) {
            t.recordRun(run);
            for (int i = 0; i < 3; i++) {
                train(t, i, i + 1);
                t.saveTo(root);
            }
            t.module().close();
        }
        Path newest = root.resolve("checkpoint-00000003");
        Files.write(newest.resolve("model.pt"), java.util.Arrays.copyOf(Files.readAllBytes(newest.resolve("model.pt")),
                100));   // damaged after the fact: the newest checkpoint no longer loads
        Path partial = Files.createDirectories(root.resolve(".tmp-checkpoint-00000004-123"));
        Files.writeString(partial.resolve("model.pt"), "half a file");
        Path halfDeleted = Files.createDirectories(root.resolve(".tmp-checkpoint-00000001-deleted-5"));
        List<String> warnings = new java.util.ArrayList<>();
        try (Trainer t = Trainer.resume(root, Device.CPU, warnings::add)) {
            assertEquals(2, t.step());
            assertEquals(root.resolve("checkpoint-00000002"), t.resumedFrom());
            assertEquals(run, t.runRecord());
        }
        assertEquals(4, warnings.size(), warnings::toString);
        assertEquals("skipping " + halfDeleted + ": left by an interrupted deletion of an old checkpoint, not a "
                + "checkpoint", warnings.get(0));
        assertEquals("skipping " + partial + ": left by an interrupted checkpoint save, not a checkpoint",
                warnings.get(1));
        assertTrue(warnings.get(2).startsWith("skipping " + newest + ": it does not load ("), warnings.get(2));
        assertEquals("resuming from " + root.resolve("checkpoint-00000002") + ", the newest checkpoint that loads",
                warnings.get(3));
        // a named checkpoint is not replaced by another
        assertThrows(CheckpointException.class, () -> Trainer.resume(newest, Device.CPU, warnings::add));

        Files.writeString(root.resolve("checkpoint-00000002").resolve(RunRecord.FILE_NAME),
                "{\"format_version\": 2, \"settings\": {}}");
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> Trainer.resume(root.resolve("checkpoint-00000002"), Device.CPU));
        assertTrue(e.getMessage().endsWith("run.json: format_version 2 is newer than this diffusion4j reads (1); "
                + "resume with a newer diffusion4j"), e.getMessage());
    }

    @Test
    void reconfigureChangesWhatTheStepReadsButNotTheOptimizerState() throws IOException {
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).emaDecay(0.9).build())) {
            train(t, 0, 1);
            TrainingConfig next = t.config().toBuilder().learningRate(5e-4).gradientClipNorm(1).build();
            t.reconfigure(next);
            assertEquals(next, t.config());
            train(t, 1, 2);
            assertEquals(5e-4, t.lastLearningRate());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.reconfigure(
                    t.config().toBuilder().optimizer(TrainingConfig.OptimizerType.SGD).build()));
            assertEquals("the optimizer (adamw, weight_decay 0.01) is part of the optimizer state and cannot change in "
                    + "a run, got sgd, weight_decay 0.01", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> t.reconfigure(
                    t.config().toBuilder().emaDecay(0.5).build()));
            assertEquals("ema_decay 0.9 is part of the EMA state and cannot change in a run, got 0.5", e.getMessage());
            t.module().close();
        }
    }

    @Test
    void runRecordsRoundTripAndRejectBadInput() {
        RunRecord r = new RunRecord(java.util.Map.of("batch", "128", "data", "/d.pt"),
                List.of(new RunRecord.Change(40, "batch", "256", "128"), new RunRecord.Change(50, "labels", null, "l")));
        assertEquals(r, RunRecord.fromJson(r.toJson()));
        assertEquals(List.of("batch", "data"), List.copyOf(r.settings().keySet()));
        assertThrows(IllegalArgumentException.class, () -> RunRecord.of(java.util.Map.of("Batch Size", "1")));
        assertEquals("settings must be an object, got null", assertThrows(IllegalArgumentException.class,
                () -> RunRecord.fromJson("{\"format_version\": 1}")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> RunRecord.fromJson("{"))
                .getMessage().startsWith("not JSON: "));
    }

    @Test
    void gradientAccumulationMatchesTheFullBatch() throws IOException {
        float[] full;
        float[] accumulated;
        double lossFull;
        double lossAccumulated;
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).minSnrGamma(5).build())) {
            lossFull = train(t, 0, 2)[1];
            full = weights(t.module());
            t.module().close();
        }
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).minSnrGamma(5).gradientAccumulation(3)
                .build())) {
            lossAccumulated = train(t, 0, 2)[1];
            accumulated = weights(t.module());
            t.module().close();
        }
        assertEquals(lossFull, lossAccumulated, 1e-6);
        assertArrayEquals(full, accumulated, 1e-5f);
    }

    @Test
    void exportWritesAModelFolderWithTheEmaWeights() throws IOException {
        Path out = tmp.resolve("export");
        float[] ema;
        float[] raw;
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).emaDecay(0.9).build())) {
            train(t, 0, 5);
            ema = emaWeights(t);
            raw = weights(t.module());
            t.export(out, toy.schedulerConfig(), toy.spec());
            assertArrayEquals(raw, weights(t.module()), 0f, "export swaps the EMA weights back");
            assertTrue(t.module().isTraining(), "still in training mode");
            t.module().close();
        }
        assertFalse(Arrays.equals(ema, raw));
        ModelFolder folder = ModelFolder.open(out);
        assertEquals(toy.schedulerConfig(), folder.schedulerConfig());
        assertEquals(toy.spec(), folder.spec());
        JsonNode spec = SpecJson.JSON.readTree(Files.readString(out.resolve(ModelSpec.FILE_NAME)));
        assertEquals(5, spec.get("training").get("steps").asInt());
        assertEquals("ema", spec.get("training").get("weights").asText());
        try (TorchScriptModule m = folder.loadModule(Device.CPU)) {
            assertArrayEquals(ema, weights(m), 0f, "model.pt holds the EMA weights");
            assertFalse(m.isTraining());
        }
        try (Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32); NativeScope scope = new NativeScope()) {
            Tensor x = batch(0);
            Tensor out2 = d.predict(x, Tensor.full(500, DType.INT64, Device.CPU, BATCH), null);
            assertArrayEquals(x.shape(), out2.shape());
            assertTrue(out2.allFinite());
        }
    }

    /**
     * 2,000 steps after a 50-step warm-up (JIT, allocator arenas, optimizer state) with every option on: the native
     * memory JavaCPP tracks grows by at most 64 KiB, live native objects by at most 100 and the resident native
     * memory (physical bytes minus the Java heap) by at most 16 MiB.
     */
    @Test
    void nativeMemoryStaysFlatOver2000Steps() throws IOException {
        try (Trainer t = trainer(everything(11))) {
            assertFlat(t, "toy2d TorchScript");
            t.module().close();
        }
    }

    @Test
    void nativeMemoryStaysFlatOver2000StepsOfAJavaBuiltNetwork() {
        try (io.diffusion4j.model.nn.NetDenoiser net = io.diffusion4j.model.nn.Networks.build(
                io.diffusion4j.model.nn.Architecture.mlp(new long[] {2}, 128, 3, 32), Device.CPU, 5);
             Trainer t = new Trainer(net, toy.schedulerConfig(), toy.spec(), everything(11))) {
            assertFlat(t, "java mlp");
        }
    }

    private static void assertFlat(Trainer t, String what) {
        int warmup = 50;
        int steps = 2000;
        train(t, 0, warmup);
        System.gc();
        long baseTotal = Pointer.totalBytes();
        long baseCount = Pointer.totalCount();
        long basePhysical = nativeResident();
        long maxTotal = 0;
        long maxCount = 0;
        long maxPhysical = 0;
        long t0 = System.nanoTime();
        for (long s = warmup; s < warmup + steps; s++) {
            train(t, s, s + 1);
            maxTotal = Math.max(maxTotal, Pointer.totalBytes());
            maxCount = Math.max(maxCount, Pointer.totalCount());
            maxPhysical = Math.max(maxPhysical, nativeResident());
        }
        double msPerStep = (System.nanoTime() - t0) / 1e6 / steps;
        long totalGrowth = maxTotal - baseTotal;
        long countGrowth = maxCount - baseCount;
        long physicalGrowth = maxPhysical - basePhysical;
        System.out.printf("%s, %d training steps (batch %d, EMA, clipping, min-SNR): %.2f ms/step, JavaCPP totalBytes "
                + "growth %d B, live native objects growth %d, resident memory growth %d B%n", what, steps, BATCH,
                msPerStep, totalGrowth, countGrowth, physicalGrowth);
        assertTrue(totalGrowth <= 64 * 1024, "JavaCPP-tracked native memory grew by " + totalGrowth + " B");
        assertTrue(countGrowth <= 100, "live native objects grew by " + countGrowth);
        assertTrue(physicalGrowth <= 16L * 1024 * 1024, "resident memory grew by " + physicalGrowth + " B");
    }

    private static long nativeResident() {
        return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
    }

    @Test
    void aNonFiniteLossStopsWithoutUpdating() throws IOException {
        try (Trainer t = trainer(TrainingConfig.builder().learningRate(1e-3).emaDecay(0.9).build())) {
            train(t, 0, 2);
            float[] before = weights(t.module());
            float[] emaBefore = emaWeights(t);
            NonFiniteLossException e;
            try (NativeScope scope = new NativeScope()) {
                Tensor bad = batch(2).mul(Double.NaN);
                e = assertThrows(NonFiniteLossException.class, () -> t.step(bad, null));
            }
            assertTrue(e.getMessage().startsWith("training loss is NaN at step 2"), e.getMessage());
            assertEquals(2, e.step());
            assertEquals(2, t.step());
            assertArrayEquals(before, weights(t.module()), 0f);
            assertArrayEquals(emaBefore, emaWeights(t), 0f);
            train(t, 2, 3);   // and the run can go on
            t.module().close();
        }
    }

    @Test
    void conditionalModelsTrainWithLabelDropout() throws IOException {
        ModelFolder digits = ModelFolder.builtin("digits");
        assertTrue(digits.spec().isConditional());
        TrainingConfig c = TrainingConfig.builder().learningRate(1e-4).labelDropout(0.5).seed(2).build();
        try (TorchScriptModule m = digits.loadModule(Device.CPU);
             Trainer t = new Trainer(m, digits.schedulerConfig(), digits.spec(), c)) {
            for (int s = 0; s < 3; s++) {
                try (NativeScope scope = new NativeScope()) {
                    Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, 4, 1, 8, 8).add(-1.0);
                    Tensor labels = Tensor.fromLongs(new long[] {0, 1, 2, 3}, 4);
                    assertTrue(Double.isFinite(t.step(x, labels)));
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.step(x, null));
                    assertTrue(e.getMessage().contains("is class-conditional: pass class labels [4] (the null class 10"),
                            e.getMessage());
                    e = assertThrows(IllegalArgumentException.class,
                            () -> t.step(x, Tensor.fromLongs(new long[] {1, 2}, 2)));
                    assertEquals("class labels must have shape [4], got int64[2]", e.getMessage());
                }
            }
            assertEquals(3, t.step());
        }
    }

    @Test
    void badInputGivesClearErrors() throws IOException {
        try (TorchScriptModule m = toy.loadModule(Device.CPU)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(m,
                    toy.schedulerConfig(), toy.spec(), TrainingConfig.builder().labelDropout(0.1).build()));
            assertTrue(e.getMessage().startsWith("label_dropout 0.1 needs a class-conditional model with a null class"),
                    e.getMessage());
            try (Trainer t = new Trainer(m, toy.schedulerConfig(), TrainingConfig.builder().gradientAccumulation(4)
                    .build()); NativeScope scope = new NativeScope()) {
                e = assertThrows(IllegalArgumentException.class, () -> t.step(batch(0).narrow(0, 0, 3), null));
                assertEquals("a batch of 3 cannot be split into gradient_accumulation 4 micro-batches", e.getMessage());
                e = assertThrows(IllegalArgumentException.class,
                        () -> t.step(batch(0), Tensor.fromLongs(new long[BATCH], BATCH)));
                assertTrue(e.getMessage().endsWith("is unconditional: it takes no class labels"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> t.step(null, null));
                assertEquals("a training batch needs shape [B, ...] with B >= 1, got null", e.getMessage());
                t.close();
                assertEquals("trainer is closed", assertThrows(IllegalStateException.class,
                        () -> t.step(batch(0), null)).getMessage());
            }
        }
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Trainer.resume(empty, Device.CPU));
        assertEquals(empty + " is neither a checkpoint folder (no trainer_state.json) nor a folder of checkpoints",
                e.getMessage());
        Path broken = Files.createDirectories(tmp.resolve("broken/checkpoint-00000001"));
        Files.writeString(broken.resolve("trainer_state.json"), "{\"step\": 1}");
        e = assertThrows(CheckpointException.class, () -> Trainer.resume(tmp.resolve("broken"), Device.CPU));
        assertEquals(broken + ": model.pt is missing; the checkpoint is incomplete", e.getMessage());
        assertNotNull(Checkpoints.latest(tmp.resolve("broken")));
    }
}
