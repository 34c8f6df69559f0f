package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.image.Images;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.Scheduler;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The README's examples as a newcomer runs them, judged by the independent digits classifier (test-models'
 * digits-classifier, 98.9% on held-out real digits): the Java library example, the quick-start command, and
 * {@code sample --model digits --scheduler S --class K --guidance 3} with the shipped config for every scheduler.
 * The suite draws {@value #PER_CLASS_DEFAULT} samples per class; {@code -Dd4j.quality.perClass=20} gives the full
 * measurement (test-models/README.md, "Built-in configs").
 */
class ReadmeExamplesTest {
    static final int PER_CLASS_DEFAULT = 1;
    static TorchScriptModule classifier;

    @TempDir
    Path tmp;

    @BeforeAll
    static void loadClassifier() throws Exception {
        Torch.setThreads(1); // two spinning intra-op threads crawl on a shared, oversubscribed CPU
        classifier = ModelFolder.builtin("digits-classifier").loadModule(Device.CPU);
    }

    @AfterAll
    static void closeClassifier() {
        classifier.close();
    }

    /** The fraction of {@code samples} the classifier recognises as {@code labels}. */
    static double accuracy(Tensor samples, int[] labels) {
        long[] predicted;
        try (InferenceGuard inference = Torch.inferenceMode()) {
            predicted = classifier.forward(samples).argmax(1).toLongArray();
        }
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            correct += predicted[i] == labels[i] ? 1 : 0;
        }
        return correct / (double) labels.length;
    }

    static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    /** README, "Library": the code as printed there, writing into the test's folder. */
    @Test
    void theLibraryExampleDrawsSevens() throws Exception {
        Path sevens = tmp.resolve("sevens.png");
        Tensor kept;
        try (NativeScope outer = new NativeScope()) {
            // ---- README "Library" (Path.of("sevens.png") -> sevens) ----
            ModelFolder folder = ModelFolder.builtin("digits");          // or ModelFolder.open(Path.of("my-model"))
            try (Denoiser model = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
                 NativeScope scope = new NativeScope()) {
                Scheduler ddim = new DdimScheduler(folder.schedulerConfig().withClassName("DDIMScheduler"));
                try (DiffusionPipeline pipeline = new DiffusionPipeline(model, ddim, folder.spec().sampleShape())) {
                    Tensor images = pipeline.generate(GenerationRequest.builder()
                            .steps(50).seed(42).batchSize(8).classLabels(7).guidanceScale(3).build());
                    Images.writePng(Images.grid(Images.toImages(images, folder.spec().valueRange()), 8), sevens);
                    kept = scope.keep(images.copy()); // for the classifier, after the README code
                }
            }
            // ---- end of the README code ----
            double acc = accuracy(kept, new int[] {7, 7, 7, 7, 7, 7, 7, 7});
            System.out.printf("README library example: %.0f%% of 8 recognised as 7%n", acc * 100);
            assertTrue(acc >= 0.9, "README library example: " + acc + " of the sevens recognised");
            assertTrue(ImageIO.read(sevens.toFile()).getWidth() >= 8 * 8, "a grid of the 8 digits, scaled up");
        }
    }

    /** README, "Quick start": 16 guided threes with DDPM-1000, exactly as printed (plus a tensor to judge). */
    @Test
    void theQuickStartCommandDrawsThrees() throws Exception {
        Path png = tmp.resolve("digits.png");
        Path tensor = tmp.resolve("digits.pt");
        String[] r = run("sample", "--model", "digits", "--class", "3", "--guidance", "3", "--batch", "16", "--out",
                png.toString(), "--save-tensor", tensor.toString());
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[2].isEmpty(), "no warnings for the built-in config: " + r[2]);
        assertTrue(Files.size(png) > 0);
        try (NativeScope scope = new NativeScope()) {
            int[] labels = new int[16];
            java.util.Arrays.fill(labels, 3);
            double acc = accuracy(TensorFiles.read(tensor), labels);
            System.out.printf("README quick start: %.1f%% of 16 recognised as 3%n", acc * 100);
            assertTrue(acc >= 0.9, "quick start: " + acc);
        }
    }

    /**
     * {@code sample --model M --scheduler S --steps N --class K --guidance 3} with the shipped scheduler_config.json:
     * at least 90% of the requested digits for every scheduler (DDIM needs the shipped clip_sample false).
     */
    @ParameterizedTest(name = "{0} {1}-{2}")
    @CsvSource({"digits, ddim, 50", "digits, dpmsolver++, 50", "digits, euler, 50", "digits, heun, 50",
        "digits, ddpm, 1000", "digits-v, ddim, 50", "digits-v, dpmsolver++, 50", "digits-v, euler, 50",
        "digits-unet, ddim, 20"})
    void everySchedulerWithGuidanceGivesTheRequestedDigits(String model, String scheduler, int steps)
            throws Exception {
        int perClass = Integer.getInteger("d4j.quality.perClass", PER_CLASS_DEFAULT);
        int n = 10 * perClass;
        int[] labels = new int[n];
        List<String> classes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            labels[i] = i / perClass;
            classes.add(Integer.toString(labels[i]));
        }
        Path tensor = tmp.resolve(model + "-" + scheduler + ".pt");
        long t0 = System.nanoTime();
        String[] r = run("sample", "--model", model, "--scheduler", scheduler, "--steps", Integer.toString(steps),
                "--class", String.join(",", classes), "--guidance", "3", "--batch", Integer.toString(n), "--seed",
                "10000", "--save-tensor", tensor.toString(), "--out", tmp.resolve("grid.png").toString());
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[2].isEmpty(), "no warnings for the built-in config: " + r[2]);
        try (NativeScope scope = new NativeScope()) {
            double acc = accuracy(TensorFiles.read(tensor), labels);
            System.out.printf("built-in %s %s-%d guidance 3, %d per class: %.1f%% recognised (%.1f s)%n", model,
                    scheduler, steps, perClass, acc * 100, seconds);
            assertTrue(acc >= 0.9, model + " " + scheduler + ": " + acc);
        }
    }

    /**
     * The built-in few-step student of README "Few-step generation": {@code sample --model digits-4step --class 3
     * --batch 16} runs its own LCMScheduler (4 steps, guidance 3 distilled in) without warnings and gives threes;
     * {@code --guidance} on it is a usage error that names the distilled scale.
     */
    @Test
    void theBuiltinDigitsFourStepStudentSamplesGuidedDigitsWithoutGuidance() throws Exception {
        Path png = tmp.resolve("threes.png");
        Path tensor = tmp.resolve("threes.pt");
        String[] r = run("sample", "--model", "digits-4step", "--class", "3", "--batch", "16", "--out",
                png.toString(), "--save-tensor", tensor.toString());
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[2].isEmpty(), "no warnings for the built-in config: " + r[2]);
        assertTrue(Files.size(png) > 0);
        try (NativeScope scope = new NativeScope()) {
            int[] labels = new int[16];
            java.util.Arrays.fill(labels, 3);
            double acc = accuracy(TensorFiles.read(tensor), labels);
            System.out.printf("README digits-4step: %.1f%% of 16 recognised as 3%n", acc * 100);
            assertTrue(acc >= 0.9, "digits-4step: " + acc);
        }
        r = run("sample", "--model", "digits-4step", "--class", "3", "--guidance", "3", "--batch", "2", "--out",
                png.toString());
        assertEquals("2", r[0], r[1] + r[2]);
        assertTrue(r[2].contains("distilled_guidance_scale"), r[2]);
    }

    /**
     * README commands no other CLI test runs successfully, made cheap (few steps): the SDE solver and Euler ancestral
     * on Karras sigmas from "Other commands", and training with {@code --accumulate} from "Training".
     */
    @Test
    void theReadmesRemainingCommandsRun() throws Exception {
        for (String scheduler : new String[] {"sde-dpmsolver++", "euler-a"}) {
            Path x = tmp.resolve(scheduler + ".pt");
            String[] r = run("sample", "--model", "digits", "--scheduler", scheduler, "--steps", "4", "--karras",
                    "--class", "1", "--batch", "2", "--seed", "5", "--save-tensor", x.toString(), "--out",
                    tmp.resolve(scheduler + ".png").toString());
            assertEquals("0", r[0], r[1] + r[2]);
            try (NativeScope scope = new NativeScope()) {
                Tensor t = TensorFiles.read(x);
                assertEquals(2, t.size(0));
                assertTrue(t.allFinite(), scheduler);
            }
        }
        Path points = tmp.resolve("points.pt");
        try (var in = ReadmeExamplesTest.class.getClassLoader()
                .getResourceAsStream("io/diffusion4j/models/toy2d/data.pt")) {
            Files.copy(in, points);
        }
        Path out = tmp.resolve("toy2d-tuned");
        String[] r = run("train", "--model", "toy2d", "--data", points.toString(), "--steps", "2", "--batch", "8",
                "--accumulate", "2", "--lr", "1e-4", "--ema", "0.999", "--out", out.toString());
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(Files.isRegularFile(out.resolve("model.pt")));
    }
}
