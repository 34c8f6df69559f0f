package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.model.nn.Architecture;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Path;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Native memory stays flat over the distillation loops (each step in its own scope, nothing kept between steps). */
@ExtendWith(OneThread.class)
class DistillationMemoryTest {
    static final int WARMUP = 50;
    static final int STEPS = 400;

    @TempDir
    Path tmp;

    /** Watches JavaCPP's tracked bytes, live objects and resident memory after each step past the warm-up. */
    static final class Watch {
        final int warmup;
        final int steps;
        long baseTotal;
        long baseCount;
        long basePhysical;
        long maxTotal;
        long maxCount;
        long maxPhysical;

        Watch() {
            this(WARMUP, STEPS);
        }

        /** For a loop of {@code steps} steps whose first {@code warmup} are not watched. */
        Watch(int warmup, int steps) {
            this.warmup = warmup;
            this.steps = steps;
        }

        void after(long step) {
            if (step == warmup) {
                System.gc();
                baseTotal = Pointer.totalBytes();
                baseCount = Pointer.totalCount();
                basePhysical = resident();
            } else if (step > warmup) {
                maxTotal = Math.max(maxTotal, Pointer.totalBytes());
                maxCount = Math.max(maxCount, Pointer.totalCount());
                maxPhysical = Math.max(maxPhysical, resident());
            }
        }

        void assertFlat(String what) {
            long total = maxTotal - baseTotal;
            long count = maxCount - baseCount;
            long physical = maxPhysical - basePhysical;
            System.out.printf("%s, %d steps: JavaCPP totalBytes growth %d B, live native objects growth %d, resident "
                    + "memory growth %d B%n", what, steps - warmup, total, count, physical);
            assertTrue(total <= 64 * 1024, what + ": JavaCPP-tracked native memory grew by " + total + " B");
            assertTrue(count <= 100, what + ": live native objects grew by " + count);
            assertTrue(physical <= 16L * 1024 * 1024, what + ": resident memory grew by " + physical + " B");
        }

        private static long resident() {
            return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
        }
    }

    @Test
    void progressiveRoundStaysFlat() throws IOException {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        ProgressiveDistillation pd = new ProgressiveDistillation(new ProgressiveDistillation.Config(8, 4, STEPS, 32,
                1e-4, LossWeighting.TRUNCATED_SNR, 1.0, 1));
        Watch w = new Watch();
        TorchScriptRuntime.setGraphOptimization(true);
        try (NativeScope scope = new NativeScope();
             TrainableModel teacher = toy.loadTrainable(Device.CPU);
             TrainableModel student = toy.loadTrainable(Device.CPU);
             BatchLoader loader = new BatchLoader(TensorFileDataset.read(
                     ProgressiveDistillationTest.trainingData(tmp), null), 32, 1)) {
            pd.distilRound(teacher, student, toy.schedulerConfig(), 4, loader, new ProgressiveDistillation.Listener() {
                @Override
                public void onStep(int studentSteps, long step, double loss) {
                    w.after(step);
                }
            });
        }
        w.assertFlat("progressive distillation round");
        // the round turns graph optimisation off for its steps only (LibTorch's per-thread switch), then restores it
        assertTrue(TorchScriptRuntime.graphOptimization(), "the round left graph optimisation off on this thread");
    }

    @Test
    void guidanceConditionedRoundStaysFlat() throws IOException {
        // a small Java-built guidance UNet as teacher and student, w drawn per example (a guidance range)
        ModelFolder digits = ModelFolder.builtin("digits");
        ProgressiveDistillation.Config config = new ProgressiveDistillation.Config(8, 4, STEPS, 8, 1e-4,
                LossWeighting.TRUNCATED_SNR, 1.0, 1).withGuidanceRange(new GuidanceRange(1, 5));
        Watch w = new Watch();
        try (NativeScope scope = new NativeScope();
             NetDenoiser plain = Networks.build(Architecture.unet(new long[] {1, 8, 8}, 8, 1, 16, 10), Device.CPU, 3);
             NetDenoiser teacher = Networks.guidanceStudent(plain, 4);
             NetDenoiser student = Networks.guidanceStudent(plain, 4);
             BatchLoader loader = new BatchLoader(TensorFileDataset.read(
                     GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_data.pt",
                             tmp.resolve("x.pt")),
                     GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_labels.pt",
                             tmp.resolve("y.pt"))), 8, 1)) {
            new ProgressiveRound(config, RoundTeacher.conditioned(teacher, PredictionType.EPSILON), student,
                    PredictionType.V_PREDICTION, digits.schedulerConfig(), 4).train(loader,
                    new ProgressiveDistillation.Listener() {
                        @Override
                        public void onStep(int studentSteps, long step, double loss) {
                            w.after(step);
                        }
                    });
        }
        w.assertFlat("guidance-conditioned progressive round (Java-built unet, w per example)");
    }

    @Test
    void consistencyDistillationStaysFlat() throws IOException {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        ConsistencyDistillation cd = new ConsistencyDistillation(new ConsistencyDistillation.Config(50, 4, STEPS, 32,
                1e-4, 0.95, 1.0, 1));
        Watch w = new Watch();
        try (NativeScope scope = new NativeScope()) {
            cd.run(toy, TensorFileDataset.read(ProgressiveDistillationTest.trainingData(tmp), null),
                    tmp.resolve("out"), Device.CPU, (step, loss) -> w.after(step));
        }
        w.assertFlat("consistency distillation");
    }

    @Test
    void guidedConsistencyDistillationStaysFlat() throws IOException {
        Path data = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_data.pt",
                tmp.resolve("x.pt"));
        Path labels = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_labels.pt",
                tmp.resolve("y.pt"));
        // fewer steps than the toy2d loops: a guided step of digits-v costs three forwards of the UNet
        int steps = 120;
        ConsistencyDistillation cd = new ConsistencyDistillation(new ConsistencyDistillation.Config(50, 4, steps, 4,
                1e-4, 0.95, 1.0, 1).withGuidanceScale(3));
        Watch w = new Watch(20, steps);
        try (NativeScope scope = new NativeScope()) {
            cd.run(ModelFolder.builtin("digits-v"), TensorFileDataset.read(data, labels), tmp.resolve("guided"),
                    Device.CPU, (step, loss) -> w.after(step));
        }
        w.assertFlat("guided consistency distillation");
    }
}
