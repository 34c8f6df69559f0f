package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.training.RunRecord;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code diffusion4j train} end to end, in-process and small: fine-tuning toy2d on a tensor file and digits on an
 * image folder for a few steps, exporting folders that {@code sample} reads, resuming a run, and the usage errors.
 */
class TrainCommandTest {

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    /** The trainer turns graph optimization off process-wide; a fresh 'sample' process has it on. */
    @AfterEach
    void restoreGraphOptimization() {
        TorchScriptRuntime.setGraphOptimization(true);
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    private static Result runOk(String... args) {
        Result r = run(args);
        assertEquals(0, r.code(), () -> String.join(" ", args) + "\nstdout: " + r.out() + "\nstderr: " + r.err());
        return r;
    }

    private static void assertUsageError(Result r, String... mentions) {
        assertEquals(Main.EXIT_USAGE, r.code(), () -> "stdout: " + r.out() + "\nstderr: " + r.err());
        assertEquals(1, r.err().lines().count(), () -> "expected one line on stderr:\n" + r.err());
        assertTrue(r.err().startsWith("diffusion4j: "), r.err());
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
        for (String m : mentions) {
            assertTrue(r.err().contains(m), () -> "stderr should mention '" + m + "': " + r.err());
        }
    }

    /** 256 points of toy2d's data.pt as a tensor file. */
    private Path toyData() throws IOException {
        Path f = tmp.resolve("points.pt");
        try (NativeScope scope = new NativeScope()) {
            Tensor all = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt");
            TensorFiles.write(f, all.narrow(0, 0, 256));
        }
        return f;
    }

    private static float[] weights(Path modelFolder) throws IOException {
        try (TorchScriptModule m = TorchScriptModule.load(modelFolder.resolve("model.pt"), Device.CPU);
             NativeScope scope = new NativeScope()) {
            List<Tensor> flat = new ArrayList<>();
            for (Tensor p : m.parameters()) {
                flat.add(p.detach().reshape(-1));
            }
            return Tensor.cat(flat, 0).toFloatArray();
        }
    }

    /** A noisy 8x8 gray stroke: vertical for class "ones", horizontal for class "sevens". */
    private static BufferedImage stroke(boolean vertical, Random random) {
        BufferedImage im = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        int[] px = new int[64];
        for (int i = 0; i < 8; i++) {
            px[vertical ? i * 8 + 4 : 8 + i] = 200 + random.nextInt(56);
        }
        im.getRaster().setPixels(0, 0, 8, 8, px);
        return im;
    }

    @Test
    void fineTuneToy2dOnATensorFileAndSampleTheExport() throws IOException {
        Path data = toyData();
        Path out = tmp.resolve("toy-out");
        Path ck = tmp.resolve("ck");
        Result r = runOk("train", "--model", "toy2d", "--data", data.toString(), "--steps", "20", "--batch", "32",
                "--lr", "1e-3", "--ema", "0.9", "--min-snr", "5", "--grad-clip", "1", "--seed", "3",
                "--checkpoint-dir", ck.toString(), "--checkpoint-every", "10", "--keep", "1", "--out", out.toString());
        List<String> progress = r.out().lines().filter(l -> l.startsWith("step ")).toList();
        assertEquals(10, progress.size(), r.out());
        assertTrue(progress.get(9).matches("step 20/20  loss \\d+\\.\\d+  lr 0\\.00100  \\d+\\.\\d steps/s"),
                progress.get(9));
        assertTrue(r.out().contains("(256 examples)"), r.out());
        assertTrue(r.out().contains("exported " + out + " (EMA weights after 20 steps)"), r.out());
        assertEquals(List.of("checkpoint-00000020"), Files.list(ck).map(p -> p.getFileName().toString()).toList(),
                "--keep 1");

        ModelFolder folder = ModelFolder.open(out);
        assertEquals("toy2d", folder.spec().name());
        assertTrue(Files.readString(out.resolve("diffusion4j.json")).contains("\"training\""));
        Path x = tmp.resolve("x.pt");
        TorchScriptRuntime.setGraphOptimization(true);   // as in a new process
        runOk("sample", "--model", out.toString(), "--steps", "5", "--save-tensor", x.toString());
        try (NativeScope scope = new NativeScope()) {
            Tensor samples = TensorFiles.read(x);
            assertArrayEquals(new long[] {1, 2}, samples.shape());
            assertTrue(samples.allFinite());
        }
    }

    @Test
    void trainAJavaMlpWithoutAnyPythonModelAndSampleIt() throws IOException {
        Path data = toyData();
        Path out = tmp.resolve("mlp-out");
        Path csv = tmp.resolve("metrics.csv");
        Result r = runOk("train", "--arch", "mlp", "--data", data.toString(), "--steps", "12", "--batch", "32",
                "--lr", "2e-3", "--lr-schedule", "cosine", "--warmup-steps", "2", "--optimizer", "adam",
                "--weight-decay", "0", "--grad-clip", "1", "--metrics-csv", csv.toString(), "--out", out.toString());
        assertTrue(r.out().contains("training a new mlp network"), r.out());
        List<String> rows = Files.readAllLines(csv);
        assertEquals("step,loss,lr,grad_norm,seconds", rows.get(0));
        assertEquals(13, rows.size(), "a row per step");
        String[] first = rows.get(1).split(",");
        assertEquals("1", first[0]);
        assertEquals(1e-3, Double.parseDouble(first[2]), 1e-12, "warm-up: step 1 of 2 at half the lr");
        assertTrue(Double.parseDouble(first[3]) > 0, "grad norm is logged when clipping");
        String[] last = rows.get(12).split(",");
        double cosine = 2e-3 * 0.5 * (1 + Math.cos(Math.PI * 9 / 10.0));
        assertEquals(cosine, Double.parseDouble(last[2]), 1e-9, "cosine lr at step 12");
        String spec = Files.readString(out.resolve("diffusion4j.json"));
        assertTrue(spec.contains("\"architecture\"") && spec.contains("\"mlp\""), spec);
        assertTrue(spec.contains("\"optimizer\" : \"adam\""), spec);
        assertTrue(Files.isRegularFile(out.resolve("weights.pt")));
        assertFalse(Files.exists(out.resolve("model.pt")));
        Path x = tmp.resolve("x.pt");
        runOk("sample", "--model", out.toString(), "--scheduler", "ddim", "--steps", "5", "--batch", "4",
                "--save-tensor", x.toString());
        try (NativeScope scope = new NativeScope()) {
            Tensor samples = TensorFiles.read(x);
            assertArrayEquals(new long[] {4, 2}, samples.shape());
            assertTrue(samples.allFinite());
        }
    }

    @Test
    void trainAJavaUNetOnLabelledImagesWithTheNullClass() throws IOException {
        Path data = tmp.resolve("digits.pt");
        Path labels = tmp.resolve("labels.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(data, TensorFiles.readResource("io/diffusion4j/reference/training/digits_data.pt")
                    .narrow(0, 0, 64));
            TensorFiles.write(labels, TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt")
                    .narrow(0, 0, 64));
        }
        Path out = tmp.resolve("unet-out");
        runOk("train", "--arch", "unet", "--width", "16", "--depth", "1", "--data", data.toString(), "--labels",
                labels.toString(), "--label-dropout", "0.2", "--steps", "3", "--batch", "8", "--offset-noise", "0.1",
                "--optimizer", "sgd", "--lr", "1e-3", "--out", out.toString());
        String spec = Files.readString(out.resolve("diffusion4j.json"));
        assertTrue(spec.contains("\"null_class_id\" : 10") && spec.contains("\"unet\""), spec);
        Path png = tmp.resolve("g.png");
        runOk("sample", "--model", out.toString(), "--class", "3", "--guidance", "2", "--scheduler", "ddim", "--steps",
                "4", "--batch", "2", "--out", png.toString());
        assertTrue(Files.size(png) > 0);
    }

    @Test
    void reinitTrainsFromFreshSeededWeights() throws IOException {
        Path data = toyData();
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        runOk("train", "--model", "toy2d", "--reinit", "--seed", "4", "--data", data.toString(), "--steps", "2",
                "--batch", "16", "--lr", "1e-9", "--out", a.toString());
        runOk("train", "--model", "toy2d", "--reinit", "--seed", "4", "--data", data.toString(), "--steps", "2",
                "--batch", "16", "--lr", "1e-9", "--out", b.toString());
        float[] wa = weights(a);
        float[] wb = weights(b);
        assertArrayEquals(wa, wb, "same --seed, same initial weights");
        float[] trained;
        try (TorchScriptModule m = ModelFolder.builtin("toy2d").loadModule(Device.CPU);
             NativeScope scope = new NativeScope()) {
            List<Tensor> flat = new ArrayList<>();
            for (Tensor p : m.parameters()) {
                flat.add(p.detach().reshape(-1));
            }
            trained = Tensor.cat(flat, 0).toFloatArray();
            io.diffusion4j.model.nn.Initializers.reinit(m, 4);
            List<Tensor> fresh = new ArrayList<>();
            for (Tensor p : m.parameters()) {
                fresh.add(p.detach().reshape(-1));
            }
            float[] expected = Tensor.cat(fresh, 0).toFloatArray();
            double maxDiff = 0;
            for (int i = 0; i < wa.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(wa[i] - expected[i]));
            }
            assertTrue(maxDiff < 1e-6, "2 steps at lr 1e-9 from Initializers.reinit(seed 4): max diff " + maxDiff);
        }
        double maxFromTrained = 0;
        for (int i = 0; i < wa.length; i++) {
            maxFromTrained = Math.max(maxFromTrained, Math.abs(wa[i] - trained[i]));
        }
        assertTrue(maxFromTrained > 0.1, "the trained weights are gone: max diff " + maxFromTrained);
    }

    @Test
    void fineTuneDigitsFromAnImageFolderWithClassSubFolders() throws IOException {
        Random random = new Random(5);
        for (String cls : List.of("ones", "sevens")) {
            Path dir = Files.createDirectories(tmp.resolve("digits/" + cls));
            for (int i = 0; i < 3; i++) {
                assertTrue(ImageIO.write(stroke(cls.equals("ones"), random), "png", dir.resolve(i + ".png").toFile()));
            }
        }
        Path out = tmp.resolve("digits-out");
        Result r = runOk("train", "--model", "digits", "--data", tmp.resolve("digits").toString(), "--steps", "5",
                "--batch", "4", "--lr", "1e-4", "--label-dropout", "0.2", "--flip", "--out", out.toString());
        assertTrue(r.out().contains("(6 examples, 2 classes)"), r.out());
        assertEquals(5, r.out().lines().filter(l -> l.startsWith("step ")).count(), r.out());
        TorchScriptRuntime.setGraphOptimization(true);
        runOk("sample", "--model", out.toString(), "--class", "1", "--steps", "3", "--out",
                tmp.resolve("s.png").toString());
    }

    @Test
    void resumeContinuesTheStepCountAndTheRun() throws IOException {
        Path data = toyData();
        String[] common = {"--model", "toy2d", "--data", data.toString(), "--batch", "16", "--lr", "1e-3", "--ema",
            "0.9", "--seed", "9"};
        Path straight = tmp.resolve("straight");
        runOk(concat(common, "--steps", "6", "--out", straight.toString()));

        Path ck = tmp.resolve("ck");
        runOk(concat(common, "--steps", "4", "--checkpoint-dir", ck.toString(), "--checkpoint-every", "2", "--out",
                tmp.resolve("half").toString()));
        assertTrue(Files.isDirectory(ck.resolve("checkpoint-00000004")));
        Path resumed = tmp.resolve("resumed");
        Result r = runOk(concat(common, "--steps", "6", "--resume", ck.toString(), "--checkpoint-dir", ck.toString(),
                "--out", resumed.toString()));
        assertTrue(r.out().contains("steps 5..6"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("step 6/6")), r.out());
        assertFalse(r.out().lines().anyMatch(l -> l.startsWith("step 4/6")), r.out());
        assertTrue(r.out().contains("after 6 steps"), r.out());
        assertTrue(Files.isDirectory(ck.resolve("checkpoint-00000006")));
        assertArrayEquals(weights(straight), weights(resumed), 0f, "4 steps + resume + 2 = 6 steps straight");

        assertUsageError(run("train", "--data", data.toString(), "--steps", "8", "--lr", "5e-4", "--resume",
                ck.toString(), "--out", resumed.toString()),
                "--lr 5e-4 differs from the checkpoint's lr 0.001: a resumed run keeps its settings; to change it, add "
                + "--override lr=5e-4");
        assertUsageError(run("train", "--model", "digits", "--data", data.toString(), "--steps", "8", "--resume",
                ck.toString(), "--out", resumed.toString()), "is a checkpoint of model 'toy2d', not of --model digits");
        assertUsageError(run("train", "--data", data.toString(), "--steps", "6", "--resume", ck.toString(), "--out",
                resumed.toString()), "is at step 6, already --steps 6 or more");
    }

    @Test
    void aResumeKeepsTheRunsSettingsUnlessOverridden() throws IOException {
        Path data = toyData();
        String d = data.toString();
        Path ck = tmp.resolve("ck");
        runOk("train", "--model", "toy2d", "--data", d, "--steps", "2", "--batch", "256", "--lr", "1e-3",
                "--checkpoint-dir", ck.toString(), "--out", tmp.resolve("o").toString());
        Result r = runOk("train", "--resume", ck.toString(), "--data", d, "--steps", "3");
        assertTrue(r.out().contains("steps 3..3, batch 256,"), r.out());
        assertTrue(r.out().contains("exported " + tmp.resolve("o")), "the run's --out: " + r.out());

        assertUsageError(run("train", "--resume", ck.toString(), "--data", d, "--steps", "4", "--batch", "128"),
                "--batch 128 differs from the checkpoint's batch 256: a resumed run keeps its settings; to change it, "
                        + "add --override batch=128");
        assertUsageError(run("train", "--resume", ck.toString(), "--data", d, "--steps", "4", "--batch", "64",
                "--override", "batch=128"), "--batch 64 contradicts --override batch=128");
        r = runOk("train", "--resume", ck.toString(), "--data", d, "--steps", "4", "--override", "batch=128");
        assertTrue(r.out().contains("steps 4..4, batch 128,"), r.out());
        RunRecord rec = RunRecord.fromJson(Files.readString(ck.resolve("checkpoint-00000004/run.json")));
        assertEquals("128", rec.get("batch"));
        assertEquals(List.of(new RunRecord.Change(3, "batch", "256", "128")), rec.changes());
        r = runOk("train", "--resume", ck.toString(), "--data", d, "--steps", "5");
        assertTrue(r.out().contains("batch 128,"), "the override is the run's setting from then on: " + r.out());

        Path other = tmp.resolve("other.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(other, TensorFiles.read(data).mul(0.5));
        }
        assertUsageError(run("train", "--resume", ck.toString(), "--data", other.toString(), "--steps", "6"),
                "--data " + other + " holds other content than the run's data " + data.toAbsolutePath(),
                "to train on this, add --override data=" + other);
        runOk("train", "--resume", ck.toString(), "--data", other.toString(), "--steps", "6", "--override",
                "data=" + other);
        rec = RunRecord.fromJson(Files.readString(ck.resolve("checkpoint-00000006/run.json")));
        assertEquals(other.toAbsolutePath().toString(), rec.get("data"));
        assertEquals("data", rec.changes().get(1).key());
        Path moved = Files.copy(other, tmp.resolve("moved.pt"));
        runOk("train", "--resume", ck.toString(), "--data", moved.toString(), "--steps", "7");   // same content

        String[] resume = {"train", "--resume", ck.toString(), "--data", moved.toString(), "--steps", "8"};
        assertUsageError(run(plus(resume, "--override", "colour=red")),
                "--override colour: not a setting a resumed run can change; one of", "batch", "lr");
        assertUsageError(run(plus(resume, "--override", "optimizer=sgd")),
                "--override: the optimizer (adamw, weight_decay 0.01) is part of the optimizer state and cannot "
                        + "change in a run");
        assertUsageError(run(plus(resume, "--override", "batch")), "--override must be KEY=VALUE");
        assertUsageError(run(plus(resume, "--override", "batch=lots")), "--override batch=lots: batch must be an "
                + "integer");
        assertUsageError(run(plus(resume, "--seed", "3")), "--seed 3 differs from the checkpoint's seed 0");
        assertUsageError(run(plus(resume, "--threads", "7")), "--threads 7 differs from the checkpoint's threads");
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "2", "--out",
                tmp.resolve("o2").toString(), "--override", "batch=1"), "--override changes a resumed run's settings");

        Path cos = tmp.resolve("cos");
        runOk("train", "--model", "toy2d", "--data", d, "--steps", "2", "--batch", "16", "--lr-schedule", "cosine",
                "--checkpoint-dir", cos.toString(), "--out", tmp.resolve("o3").toString());
        assertUsageError(run("train", "--resume", cos.toString(), "--data", d, "--steps", "4"),
                "--steps 4 runs past the cosine schedule's end at step 2", "add --override total-steps=4");
        runOk("train", "--resume", cos.toString(), "--data", d, "--steps", "4", "--override", "total-steps=4");
        assertTrue(Files.readString(cos.resolve("checkpoint-00000004/training_config.json"))
                .contains("\"total_steps\" : 4"));
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = new String[a.length + b.length + 1];
        out[0] = "train";
        System.arraycopy(a, 0, out, 1, a.length);
        System.arraycopy(b, 0, out, 1 + a.length, b.length);
        return out;
    }

    @Test
    void usageErrors() throws IOException {
        Path data = toyData();
        String d = data.toString();
        String o = tmp.resolve("o").toString();
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "0", "--out", o),
                "--steps must be >= 1, got 0");
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "5", "--lr", "0", "--out", o),
                "--lr must be > 0, got 0.0");
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "5", "--lr", "-1", "--out", o),
                "--lr must be > 0, got -1.0");
        assertUsageError(run("train", "--model", "toy2d", "--steps", "5", "--out", o), "Missing required option",
                "--data");
        assertUsageError(run("train", "--model", "toy2d", "--data", tmp.resolve("nope.pt").toString(), "--steps", "5",
                "--out", o), "--data " + tmp.resolve("nope.pt") + ": no such file or folder");
        Path noCheckpoint = Files.createDirectories(tmp.resolve("no-ck"));
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "5", "--resume",
                noCheckpoint.toString(), "--out", o), "--resume " + noCheckpoint + ": no checkpoint there");
        assertUsageError(run("train", "--model", "digits", "--data", d, "--steps", "5", "--out", o),
                "holds samples of shape [2], but digits takes [1, 8, 8]");
        Path labels = tmp.resolve("labels.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(labels, Tensor.fromLongs(new long[10], 10));
        }
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--labels", labels.toString(), "--steps", "5",
                "--out", o), "holds 10 labels, but " + d + " holds 256 samples");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertUsageError(run("train", "--model", "digits", "--data", empty.toString(), "--steps", "5", "--out", o),
                "has no class sub-folders");
        assertUsageError(run("train", "--model", "toy2d", "--data", empty.toString(), "--steps", "5", "--out", o),
                "is an image folder, but the model takes samples [2]");
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "5", "--label-dropout", "0.1",
                "--out", o), "label_dropout 0.1 needs a class-conditional model");
        assertUsageError(run("train", "--model", "toy2d", "--data", d, "--steps", "5", "--checkpoint-every", "2",
                "--out", o), "--checkpoint-every needs --checkpoint-dir");
        assertUsageError(run("train", "--model", "toy2d", "--reinit", "--data", d, "--steps", "5", "--resume",
                noCheckpoint.toString(), "--out", o), "--reinit starts from new weights; it cannot be combined with "
                + "--resume");
        String[] base = {"train", "--model", "toy2d", "--data", d, "--steps", "5", "--out", o};
        assertUsageError(run(plus(base, "--lr-schedule", "linear")), "--lr-schedule must be constant or cosine, "
                + "got linear");
        assertUsageError(run(plus(base, "--warmup-steps", "-1")), "--warmup-steps must be >= 0, got -1");
        assertUsageError(run(plus(base, "--lr-schedule", "cosine", "--warmup-steps", "5")),
                "--warmup-steps 5 leaves no steps to decay");
        assertUsageError(run(plus(base, "--optimizer", "rmsprop")), "--optimizer must be adamw, adam or sgd, got "
                + "rmsprop");
        assertUsageError(run(plus(base, "--weight-decay", "-0.1")), "--weight-decay must be >= 0, got -0.1");
        assertUsageError(run(plus(base, "--offset-noise", "-1")), "--offset-noise must be >= 0, got -1.0");
        assertUsageError(run(plus(base, "--grad-clip", "-1")), "--grad-clip must be >= 0 (0 = off), got -1.0");
        assertUsageError(run(plus(base, "--metrics-csv", tmp.resolve("no/such/m.csv").toString())),
                "--metrics-csv", "does not exist");
        assertUsageError(run(plus(base, "--metrics-csv", tmp.toString())), "is a folder; give a file name");
        assertUsageError(run("train", "--arch", "cnn", "--data", d, "--steps", "5", "--out", o),
                "--arch must be mlp or unet, got cnn");
        assertUsageError(run("train", "--arch", "mlp", "--model", "toy2d", "--data", d, "--steps", "5", "--out", o),
                "--arch builds a new network; it cannot be combined with --model");
        assertUsageError(run("train", "--arch", "unet", "--data", d, "--steps", "5", "--out", o),
                "--arch unet: the unet architecture takes [C, H, W] samples");
        assertUsageError(run("train", "--arch", "mlp", "--sample-shape", "3", "--data", d, "--steps", "5", "--out", o),
                "holds samples of shape [2], but --sample-shape takes [3]");
        assertUsageError(run("train", "--arch", "mlp", "--sample-shape", "2x2", "--data", d, "--steps", "5", "--out",
                o), "--sample-shape must be sizes separated by commas");
        assertUsageError(run("train", "--arch", "mlp", "--prediction-type", "x0", "--data", d, "--steps", "5", "--out",
                o), "--prediction-type must be epsilon, v_prediction or sample, got x0");
        assertUsageError(run(plus(base, "--width", "64")), "--width, --depth and --prediction-type describe a new "
                + "--arch network");
        assertFalse(Files.exists(tmp.resolve("o")), "no usage error exported anything");
    }

    private static String[] plus(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
