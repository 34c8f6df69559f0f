package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptRuntime;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code diffusion4j distill} end to end, in-process and tiny: progressive (8 -> 4 steps) and consistency runs on
 * toy2d whose output folders {@code sample} reads with their own scheduler and step count, resume, and the usage
 * errors.
 */
class DistillCommandTest {
    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

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
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
        for (String m : mentions) {
            assertTrue(r.err().contains(m), () -> "stderr should mention '" + m + "': " + r.err());
        }
    }

    private Path toyData() throws IOException {
        Path f = tmp.resolve("points.pt");
        try (NativeScope scope = new NativeScope()) {
            Tensor all = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt");
            TensorFiles.write(f, all.narrow(0, 0, 256));
        }
        return f;
    }

    @Test
    void progressiveStudentIsAModelFolderThatSampleRunsInItsOwnSteps() throws IOException {
        Path data = toyData();
        Path out = tmp.resolve("student");
        String[] args = {"distill", "--teacher", "toy2d", "--method", "progressive", "--teacher-steps", "8",
            "--steps-to", "4", "--steps", "5", "--batch", "32", "--data", data.toString(), "--out", out.toString()};
        Result r = runOk(args);
        assertTrue(r.out().contains("round 8 -> 4 steps done"), r.out());
        assertTrue(Files.isRegularFile(out.resolve("model.pt")));
        // the epsilon teacher's student predicts v (the default) and says so to the scheduler
        assertTrue(Files.readString(out.resolve("scheduler_config.json")).contains("\"v_prediction\""));
        assertTrue(Files.readString(out.resolve("diffusion4j.json")).contains("\"progressive\""));
        assertEquals(2, Files.readAllLines(out.resolve("metrics.csv")).size());
        Result again = runOk(args);
        assertTrue(again.out().contains("already done"), again.out());
        String[] changed = java.util.Arrays.copyOf(args, args.length + 2);
        changed[args.length] = "--student-prediction";
        changed[args.length + 1] = "x0";
        assertUsageError(run(changed), "was distilled with student_prediction \"v_prediction\", this run has "
                + "\"sample\"; use another --out");
        Result s = runOk("sample", "--model", out.toString(), "--batch", "3", "--save-tensor",
                tmp.resolve("s.pt").toString());
        assertTrue(s.out().contains("4 ddim steps"), s.out());
    }

    @Test
    void guidedProgressiveStudentSamplesInOneForwardPerStepAndRefusesGuidanceAgain() throws IOException {
        Path data = tmp.resolve("digits.pt");
        Path labels = tmp.resolve("labels.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(data, TensorFiles.readResource("io/diffusion4j/reference/training/digits_data.pt")
                    .narrow(0, 0, 64));
            TensorFiles.write(labels, TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt")
                    .narrow(0, 0, 64));
        }
        Path out = tmp.resolve("guided");
        runOk("distill", "--teacher", "digits-v", "--method", "progressive", "--teacher-steps", "4", "--steps-to",
                "2", "--guidance", "3", "--steps", "2", "--batch", "8", "--data", data.toString(), "--labels",
                labels.toString(), "--threads", "1", "--out", out.toString());
        assertTrue(Files.readString(out.resolve("diffusion4j.json")).contains("\"distilled_guidance_scale\" : 3.0"));
        Result s = runOk("sample", "--model", out.toString(), "--class", "3", "--batch", "2", "--save-tensor",
                tmp.resolve("g.pt").toString());
        assertTrue(s.out().contains("2 ddim steps"), s.out());
        assertUsageError(run("sample", "--model", out.toString(), "--class", "3", "--guidance", "3", "--save-tensor",
                tmp.resolve("g.pt").toString()), "--guidance: ", "has classifier-free guidance scale 3.0 distilled "
                + "into it (distilled_guidance_scale); sample it without --guidance");
        // a guidance-distilled student is not guided a second time
        assertUsageError(run("distill", "--teacher", out.toString(), "--method", "progressive", "--teacher-steps", "2",
                "--steps-to", "1", "--guidance", "3", "--steps", "1", "--batch", "8", "--data", data.toString(),
                "--labels", labels.toString(), "--out", tmp.resolve("twice").toString()),
                "already has guidance scale 3.0 distilled into it");
    }

    @Test
    void consistencyStudentSamplesWithLcm() throws IOException {
        Path out = tmp.resolve("lcm");
        runOk("distill", "--teacher", "toy2d", "--method", "consistency", "--steps-to", "2", "--steps", "5",
                "--batch", "32", "--data", toyData().toString(), "--out", out.toString());
        assertTrue(Files.readString(out.resolve("scheduler_config.json")).contains("LCMScheduler"));
        Result s = runOk("sample", "--model", out.toString(), "--batch", "3", "--save-tensor",
                tmp.resolve("s.pt").toString());
        assertTrue(s.out().contains("2 lcm steps"), s.out());
    }

    @Test
    void aJavaBuiltTeacherGivesAJavaBuiltStudent() throws IOException {
        Path data = toyData();
        Path teacher = tmp.resolve("mlp");
        runOk("train", "--arch", "mlp", "--width", "32", "--depth", "2", "--data", data.toString(), "--steps", "5",
                "--batch", "32", "--out", teacher.toString());
        Path out = tmp.resolve("mlp-student");
        runOk("distill", "--teacher", teacher.toString(), "--method", "progressive", "--teacher-steps", "4",
                "--steps-to", "2", "--steps", "3", "--batch", "16", "--data", data.toString(), "--out", out.toString());
        assertTrue(Files.isRegularFile(out.resolve("weights.pt")), "a Java-built student is saved as weights.pt");
        assertTrue(Files.readString(out.resolve("diffusion4j.json")).contains("\"architecture\""));
        Result s = runOk("sample", "--model", out.toString(), "--batch", "2", "--save-tensor",
                tmp.resolve("m.pt").toString());
        assertTrue(s.out().contains("2 ddim steps"), s.out());
    }

    @Test
    void usageErrors() throws IOException {
        String data = toyData().toString();
        String out = tmp.resolve("o").toString();
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "guidance", "--steps-to", "4", "--data",
                data, "--out", out), "--method guidance needs --student DIR");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "magic", "--steps-to", "4", "--data",
                data, "--out", out), "--method must be progressive, consistency or guidance, got 'magic'");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--teacher-steps", "48",
                "--steps-to", "4", "--data", data, "--out", out), "teacher steps (48) must be steps-to (4) times");
        assertUsageError(run("distill", "--teacher", "nope", "--method", "progressive", "--steps-to", "4", "--data",
                data, "--out", out), "--teacher");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "consistency", "--steps-to", "60",
                "--data", data, "--out", out), "steps-to must be between 1 and the original steps (50), got 60");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--steps-to", "4",
                "--data", tmp.resolve("missing.pt").toString(), "--out", out), "--data");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--steps-to", "4",
                "--weighting", "snr", "--data", data, "--out", out), "valid: truncated-snr, snr+1");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--steps-to", "4",
                "--student-prediction", "x1", "--data", data, "--out", out),
                "--student-prediction must be epsilon, v_prediction (v) or sample (x0), got 'x1'");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "consistency", "--steps-to", "4",
                "--guidance", "3", "--data", data, "--out", out), "is not class-conditional with a null class");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "guidance", "--steps-to", "4",
                "--guidance", "3", "--student", "toy2d", "--data", data, "--out", out),
                "--guidance applies to --method progressive or consistency");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--steps-to", "4",
                "--snapshot-every", "10", "--data", data, "--out", out),
                "--snapshot-every applies to --method consistency only");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "consistency", "--steps-to", "4",
                "--snapshot-every", "-1", "--data", data, "--out", out),
                "snapshot interval must be >= 0 (0 = none), got -1");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--steps-to", "4",
                "--guidance", "3", "--data", data, "--out", out), "is not class-conditional with a null class");
        assertUsageError(run("distill", "--teacher", "toy2d", "--method", "progressive", "--steps-to", "4",
                "--guidance", "-1", "--data", data, "--out", out), "guidance scale must be a finite number >= 0");
    }
}
