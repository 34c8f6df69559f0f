package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.LcmScheduler;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Consistency distillation of the built-in toy2d model, sampled with LCMScheduler: the student's energy distance to
 * the two-moons data at 1 and 2 steps must beat the teacher's DDIM (trailing spacing) at the same steps by a margin
 * set from measured figures; the teacher sampled with LCMScheduler is printed beside it.
 */
@ExtendWith(OneThread.class)
class ConsistencyDistillationTest {
    @TempDir
    Path tmp;

    @Test
    void consistencyStudentBeatsTheTeacherInFewSteps() throws IOException {
        int steps = Integer.getInteger("d4j.cd.steps", 400);
        int batch = Integer.getInteger("d4j.cd.batch", 256);
        double lr = Double.parseDouble(System.getProperty("d4j.cd.lr", "5e-4"));
        double ema = Double.parseDouble(System.getProperty("d4j.cd.ema", "0.95"));
        ModelFolder teacher = ModelFolder.builtin("toy2d");
        ConsistencyDistillation.Config config = new ConsistencyDistillation.Config(50, 4, steps, batch, lr, ema, 1.0, 3);
        Path out = tmp.resolve("lcm");
        long t0 = System.nanoTime();
        double loss;
        try (NativeScope scope = new NativeScope()) {
            loss = new ConsistencyDistillation(config).run(teacher, TensorFileDataset.read(
                    ProgressiveDistillationTest.trainingData(tmp), null), out, Device.CPU, null);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        ModelFolder student = ModelFolder.open(out);
        SchedulerConfig own = student.schedulerConfig();
        assertEquals(LcmScheduler.CLASS_NAME, own.className());
        Scheduler lcm = Schedulers.fromConfig(own, 0);
        SchedulerConfig sc = teacher.schedulerConfig();
        Scheduler teacherLcm = Schedulers.byName("lcm", own, 0);
        StringBuilder figures = new StringBuilder();
        double[] studentEd = new double[9];
        double[] teacherDdim = new double[9];
        for (int n : new int[] {1, 2, 4, 8}) {
            studentEd[n] = ProgressiveDistillationTest.energyDistance(student, lcm, n);
            double teacherAsLcm = ProgressiveDistillationTest.energyDistance(teacher, teacherLcm, n);
            teacherDdim[n] = ProgressiveDistillationTest.energyDistance(teacher,
                    ProgressiveDistillationTest.trailingDdim(sc), n);
            figures.append(String.format("  %d steps: student (LCM) %.5f, teacher with LCMScheduler %.5f, teacher "
                    + "DDIM trailing %.5f%n", n, studentEd[n], teacherAsLcm, teacherDdim[n]));
        }
        System.out.printf("consistency distillation toy2d, %d steps x %d, lr %g, ema %g, %.1f s, final loss %.4g:%n%s",
                steps, batch, lr, ema, seconds, loss, figures);
        // measured (400 steps x 256): 1 step 0.063 vs the teacher's DDIM 0.994; 2 steps 0.323 vs 0.406
        assertTrue(studentEd[1] < 0.2 * teacherDdim[1], "student at 1 step " + studentEd[1] + " vs teacher DDIM "
                + teacherDdim[1]);
        assertTrue(studentEd[2] < 0.9 * teacherDdim[2], "student at 2 steps " + studentEd[2] + " vs teacher DDIM "
                + teacherDdim[2]);
    }

    /**
     * A guided run (LCM's guided distillation, a few steps of digits-v) records the distilled scale and says what the
     * folder is; snapshots are ordinary model folders and survive the final student replacing the output folder.
     */
    @Test
    void guidedStudentRecordsItsScaleAndKeepsItsSnapshots() throws IOException {
        Path data = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_data.pt",
                tmp.resolve("x.pt"));
        Path labels = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_labels.pt",
                tmp.resolve("y.pt"));
        ConsistencyDistillation.Config config = new ConsistencyDistillation.Config(50, 4, 4, 4, 1e-4, 0.95, 1.0, 3)
                .withGuidanceScale(3).withSnapshotEvery(2);
        Path out = tmp.resolve("digits-lcm");
        try (NativeScope scope = new NativeScope()) {
            new ConsistencyDistillation(config).run(ModelFolder.builtin("digits-v"),
                    TensorFileDataset.read(data, labels), out, Device.CPU, null);
        }
        ModelFolder student = ModelFolder.open(out);
        assertEquals(3.0, student.spec().distilledGuidanceScale());
        assertEquals(LcmScheduler.CLASS_NAME, student.schedulerConfig().className());
        String description = StudentFolder.JSON.readTree(Files.readString(out.resolve("diffusion4j.json")))
                .path("description").asText();
        assertTrue(description.startsWith("Consistency-distillation (LCM) student of builtin:digits-v (LCMScheduler, "
                + "4 steps by default, original_inference_steps 50; classifier-free guidance scale 3.0 distilled in"),
                description);
        Path snapshot = out.resolve(ConsistencyDistillation.SNAPSHOT_DIR).resolve("step-000002");
        ModelFolder snap = ModelFolder.open(snapshot);
        assertEquals(3.0, snap.spec().distilledGuidanceScale());
        assertEquals(LcmScheduler.CLASS_NAME, snap.schedulerConfig().className());
        // the last step is the student itself, not a snapshot
        assertFalse(Files.exists(out.resolve(ConsistencyDistillation.SNAPSHOT_DIR).resolve("step-000004")));
    }

    @Test
    void aGuidanceScaleNeedsAGuidableTeacherAndLabels() throws IOException {
        Path data = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_data.pt",
                tmp.resolve("x.pt"));
        Path labels = GuidanceDistillationTest.copyResource("io/diffusion4j/reference/training/digits_labels.pt",
                tmp.resolve("y.pt"));
        ConsistencyDistillation guided = new ConsistencyDistillation(new ConsistencyDistillation.Config(50, 4, 1, 4,
                1e-4, 0.95, 1.0, 3, 3.0, 0));
        try (NativeScope scope = new NativeScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> guided.run(
                    ModelFolder.builtin("toy2d"), TensorFileDataset.read(
                            ProgressiveDistillationTest.trainingData(tmp), null), tmp.resolve("o"), Device.CPU, null));
            assertTrue(e.getMessage().contains("is not class-conditional with a null class"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> guided.run(ModelFolder.builtin("digits-v"),
                    TensorFileDataset.read(data, null), tmp.resolve("o"), Device.CPU, null));
            assertTrue(e.getMessage().contains("a guidance scale needs class labels with the data (--labels)"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> guided.run(ModelFolder.builtin("digits-4step"),
                    TensorFileDataset.read(data, labels), tmp.resolve("o"), Device.CPU, null));
            assertTrue(e.getMessage().contains("already has guidance scale 3.0 distilled into it"), e.getMessage());
        }
        assertFalse(Files.exists(tmp.resolve("o")), "nothing written for a refused run");
    }

    @Test
    void badSettingsSayWhatToFix() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ConsistencyDistillation.Config(50, 51, 10, 8, 1e-4, 0.95, 0, 1));
        assertTrue(e.getMessage().contains("steps-to must be between 1 and the original steps (50), got 51"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new ConsistencyDistillation.Config(50, 4, 10, 8, 1e-4, 1.0, 0, 1));
        assertTrue(e.getMessage().contains("EMA decay must be in [0, 1), got 1.0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new ConsistencyDistillation.Config(50, 4, 10, 8, 1e-4, 0.95, 0, 1, -1, 0));
        assertTrue(e.getMessage().contains("guidance scale must be a finite number >= 0 (0 = none), got -1.0"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new ConsistencyDistillation.Config(50, 4, 10, 8, 1e-4, 0.95, 0, 1, 0, -5));
        assertTrue(e.getMessage().contains("snapshot interval must be >= 0 (0 = none), got -5"), e.getMessage());
    }
}
