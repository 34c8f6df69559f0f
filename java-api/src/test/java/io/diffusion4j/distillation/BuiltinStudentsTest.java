package io.diffusion4j.distillation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.OneThread;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.evaluation.DigitsQuality;
import io.diffusion4j.model.CountingDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.LcmScheduler;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The distilled built-in students sample with their own scheduler config and step count and meet issue 15's bars
 * (their training: test-models/README.md and each folder's {@code diffusion4j.json}).
 */
@ExtendWith(OneThread.class)
class BuiltinStudentsTest {
    /**
     * toy2d's DDPM-1000 energy distance under ProgressiveDistillationTest's protocol (2000 samples, seeds 20000 + i,
     * vs data.pt[0:2000]); measured, and recomputed on every run by ProgressiveDistillationTest (0.00115).
     */
    static final double TOY2D_DDPM_1000 = 0.00115;

    /**
     * digits-v's guided (scale 3) DDPM-1000 digits FD: 1,000 samples, 100 per class, seed 31337, vs the 1,797 real
     * digits (BENCHMARKS.md "Student parameterisation and guided progressive distillation"; PyTorch-free but
     * measured on the teacher, 2,184 s, so not recomputed here).
     */
    static final double DIGITS_V_DDPM_1000_FD = 10.22;

    @Test
    void toy2dFourStepStudentIsWithinTwiceDdpm1000() throws IOException {
        ModelFolder f = ModelFolder.builtin("toy2d-4step");
        SchedulerConfig sc = f.schedulerConfig();
        assertEquals(4, sc.extraInt("num_inference_steps", -1));
        assertEquals(PredictionType.V_PREDICTION, sc.predictionType());
        double ed = ProgressiveDistillationTest.energyDistance(f, Schedulers.fromConfig(sc, 0), 4);
        System.out.printf("built-in toy2d-4step: energy distance %.5f at 4 steps (DDPM-1000 %.5f)%n", ed,
                TOY2D_DDPM_1000);
        // measured 0.00112
        assertTrue(ed <= 2 * TOY2D_DDPM_1000, "toy2d-4step energy distance " + ed);
    }

    @Test
    void digitsFourStepStudentIsWithinTwentyPercentOfDdpm1000InOneForwardPerStep() throws IOException {
        ModelFolder f = ModelFolder.builtin("digits-4step");
        SchedulerConfig sc = f.schedulerConfig();
        assertEquals(LcmScheduler.CLASS_NAME, sc.className());
        assertEquals(4, sc.extraInt("num_inference_steps", -1));
        assertEquals(3.0, f.spec().distilledGuidanceScale());
        int n = 1000;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i / 100;
        }
        double fd;
        double accuracy;
        long forwards;
        long rows;
        // seed 61337 is one of the held-out seed sets of BENCHMARKS.md (no choice was made on it)
        try (NativeScope scope = new NativeScope();
             DigitsQuality quality = DigitsQuality.load();
             CountingDenoiser d = new CountingDenoiser(f.loadDenoiser(Device.CPU, DType.FLOAT32));
             DiffusionPipeline p = new DiffusionPipeline(d, Schedulers.fromConfig(sc, 0), f.spec().sampleShape())) {
            Tensor samples = p.generate(GenerationRequest.builder().steps(4).seed(61337).batchSize(n)
                    .classLabels(labels).build());
            fd = quality.frechetDistance(samples);
            accuracy = quality.accuracy(samples, labels);
            forwards = d.forwards();
            rows = d.rows.get();
        }
        System.out.printf("built-in digits-4step: digits FD %.4f, accuracy %.4f at 4 LCM steps, %d forwards of %d "
                + "rows (guided DDPM-1000 of digits-v: FD %.2f)%n", fd, accuracy, forwards, rows / forwards,
                DIGITS_V_DDPM_1000_FD);
        // guided in one forward of N rows per step, not two halves of 2N
        assertEquals(4, forwards);
        assertEquals(4L * n, rows);
        // measured 7.23 / 99.8% on these seeds (7.2-8.9 over five seed sets); the bar is 1.2x DDPM-1000
        assertTrue(fd <= 1.2 * DIGITS_V_DDPM_1000_FD, "digits-4step FD " + fd);
        assertTrue(accuracy >= 0.95, "digits-4step accuracy " + accuracy);
    }
}
