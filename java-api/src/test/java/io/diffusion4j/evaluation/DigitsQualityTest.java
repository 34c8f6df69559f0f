package io.diffusion4j.evaluation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.DdimScheduler;
import java.io.InputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The digits FD against reference/digits_fd.json: Fréchet distances computed in Python the standard way (numpy
 * covariances, scipy.linalg.sqrtm, as pytorch-fid does) on features computed by PyTorch 1.13
 * (test-models/make_digits_fd.py).
 */
class DigitsQualityTest {
    private static final String REF = "io/diffusion4j/reference/";
    static JsonNode ref;
    static DigitsQuality quality;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream in = DigitsQualityTest.class.getClassLoader()
                .getResourceAsStream(REF + "digits_fd.json")) {
            ref = new ObjectMapper().readTree(in);
        }
        quality = DigitsQuality.load();
    }

    @AfterAll
    static void close() {
        quality.close();
    }

    static double pythonFd(String x, String y) {
        for (JsonNode c : ref.get("cases")) {
            if (c.get("x").asText().equals(x) && c.get("y").asText().equals(y)) {
                return c.get("fd").asDouble();
            }
        }
        throw new IllegalStateException("no reference case " + x + " vs " + y);
    }

    static Tensor file(String set, String kind) throws java.io.IOException {
        return TensorFiles.readResource(REF + ref.get("files").get(set).get(kind).asText());
    }

    @Test
    void matchesScipyOnTheSameFeatures() throws Exception {
        try (NativeScope scope = new NativeScope()) {
            for (String[] c : new String[][] {{"shifted", "noisy"}, {"few", "noisy"}}) {
                double java = FrechetDistance.of(file(c[0], "features"), file(c[1], "features"));
                double python = pythonFd(c[0], c[1]);
                System.out.printf("FD %s vs %s: Java %.12g, scipy %.12g, relative %.1e%n", c[0], c[1], java, python,
                        Math.abs(java - python) / python);
                assertEquals(python, java, 1e-6 * python, c[0] + " vs " + c[1]);
            }
        }
    }

    @Test
    void featuresAndTheFdOfSamplesMatchPyTorch() throws Exception {
        try (NativeScope scope = new NativeScope()) {
            for (String set : new String[] {"noisy", "shifted", "few", "overshoot"}) {
                Tensor samples = file(set, "samples");
                float[] expected = file(set, "features").toFloatArray();
                float[] got = quality.features(samples).toFloatArray();
                assertEquals(expected.length, got.length);
                for (int i = 0; i < got.length; i++) {
                    assertEquals(expected[i], got[i], 1e-5, set + " feature " + i);
                }
                // LibTorch 2.10's features differ from torch 1.13's in float32 rounding only; "overshoot" lies
                // partly outside [-1, 1], and its reference features are those of the samples clamped, as images
                double python = pythonFd(set, "real");
                double java = quality.frechetDistance(samples);
                System.out.printf("digits FD of %s samples: Java %.9g, PyTorch + scipy %.9g, relative %.1e%n", set,
                        java, python, Math.abs(java - python) / python);
                assertEquals(python, java, 1e-6 * python, set + " vs real");
            }
        }
    }

    @Test
    void isZeroForTheRealDigitsAndSymmetric() throws Exception {
        try (NativeScope scope = new NativeScope()) {
            Tensor real = TensorFiles.readResource(DigitsQuality.REAL_DIGITS);
            assertEquals(0, quality.frechetDistance(real), 1e-8);
            assertEquals(0, FrechetDistance.between(quality.realStatistics(), quality.realStatistics()), 1e-8);
            Tensor a = file("noisy", "features");
            Tensor b = file("shifted", "features");
            assertEquals(FrechetDistance.of(a, b), FrechetDistance.of(b, a), 1e-9 * FrechetDistance.of(a, b));
            assertTrue(quality.accuracy(real, labels()) > 0.99, "the classifier knows the real digits");
        }
    }

    private static int[] labels() throws java.io.IOException {
        long[] y = TensorFiles.readResource(REF + "training/digits_labels.pt").toLongArray();
        int[] out = new int[y.length];
        for (int i = 0; i < y.length; i++) {
            out[i] = (int) y[i];
        }
        return out;
    }

    @Test
    void badInputGetsAOneLineErrorThatSaysWhatToFix() throws Exception {
        try (NativeScope scope = new NativeScope()) {
            Tensor one = file("noisy", "samples").narrow(0, 0, 1);
            IllegalArgumentException few = assertThrows(IllegalArgumentException.class,
                    () -> quality.frechetDistance(one));
            assertTrue(few.getMessage().startsWith("need at least 2 feature vectors"), few.getMessage());

            IllegalArgumentException dims = assertThrows(IllegalArgumentException.class,
                    () -> FrechetDistance.of(file("noisy", "features"), file("few", "features").narrow(1, 0, 64)));
            assertTrue(dims.getMessage().startsWith("feature dimensions differ"), dims.getMessage());
            FrechetDistance.Statistics small = new FrechetDistance.Statistics(new double[2], new double[4], 5);
            IllegalArgumentException statsDims = assertThrows(IllegalArgumentException.class,
                    () -> FrechetDistance.between(small, quality.realStatistics()));
            assertEquals("feature dimensions differ: 2 and 128; compute both sets with the same feature extractor",
                    statsDims.getMessage());

            Tensor nan = file("noisy", "samples").copy();
            nan.narrow(0, 3, 1).fillInPlace(Double.NaN);
            IllegalArgumentException nanSamples = assertThrows(IllegalArgumentException.class,
                    () -> quality.frechetDistance(nan));
            assertTrue(nanSamples.getMessage().contains("contain NaN or infinite values"), nanSamples.getMessage());
            Tensor nanFeatures = file("noisy", "features").copy();
            nanFeatures.narrow(0, 0, 1).fillInPlace(Double.POSITIVE_INFINITY);
            IllegalArgumentException nanF = assertThrows(IllegalArgumentException.class,
                    () -> FrechetDistance.statistics(nanFeatures));
            assertTrue(nanF.getMessage().contains("contain NaN or infinite values"), nanF.getMessage());

            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> quality.frechetDistance(Tensor.zeros(DType.FLOAT32, Device.CPU, 4, 64)));
            assertEquals("digits samples must be [N, 1, 8, 8], got " + Tensor.zeros(DType.FLOAT32, Device.CPU, 4, 64)
                    .describe(), shape.getMessage());
            IllegalArgumentException labels = assertThrows(IllegalArgumentException.class,
                    () -> quality.accuracy(file("noisy", "samples"), new int[3]));
            assertEquals("got 200 samples but 3 labels", labels.getMessage());
        }
    }

    /** More DDIM steps give digits closer to the real ones: 100 guided digits (scale 3), DDIM-2 vs DDIM-10. */
    @Test
    void moreStepsGiveALowerDigitsFd() throws Exception {
        Torch.setThreads(2);
        ModelFolder folder = ModelFolder.builtin("digits");
        int[] labels = new int[100];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i / 10;
        }
        double[] fd = new double[2];
        double[] accuracy = new double[2];
        int[] steps = {2, 10};
        try (Denoiser model = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            for (int k = 0; k < steps.length; k++) {
                try (NativeScope scope = new NativeScope(); DiffusionPipeline p = new DiffusionPipeline(model,
                        new DdimScheduler(folder.schedulerConfig().withClassName("DDIMScheduler")),
                        folder.spec().sampleShape())) {
                    Tensor samples = p.generate(GenerationRequest.builder().steps(steps[k]).seed(10000)
                            .batchSize(labels.length).classLabels(labels).guidanceScale(3).build());
                    fd[k] = quality.frechetDistance(samples);
                    accuracy[k] = quality.accuracy(samples, labels);
                }
            }
        }
        System.out.printf("digits FD DDIM-2 %.2f (accuracy %.3f), DDIM-10 %.2f (accuracy %.3f)%n", fd[0], accuracy[0],
                fd[1], accuracy[1]);
        assertTrue(fd[1] < fd[0], "DDIM-10 " + fd[1] + " should be below DDIM-2 " + fd[0]);
    }
}
