package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.tuning.TunedFolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code diffusion4j tune-schedule}: the learned folder that {@code sample} runs by default, and its usage errors. */
class TuneScheduleCommandTest {
    @TempDir
    Path tmp;

    @Test
    void tunedFolderIsWhatSampleRunsByDefault() throws Exception {
        Path out = tmp.resolve("toy2d-ddim3");
        CommandsTest.Result r = CommandsTest.run("tune-schedule", "--model", "toy2d", "--scheduler", "ddim", "--nfe",
                "3", "--calibration", "64", "--reference-steps", "200", "--max-runs", "20", "--threads", "1",
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("learned ddim timesteps"), r.out());
        long[] learned = ModelFolder.open(out).schedulerConfig().timesteps();
        assertEquals(3, learned.length);
        assertTrue(Files.isRegularFile(out.resolve(TunedFolder.RECORD_FILE)));
        assertTrue(Files.isRegularFile(out.resolve("model.pt")));

        Path a = tmp.resolve("a.pt");
        Path b = tmp.resolve("b.pt");
        r = CommandsTest.run("sample", "--model", out.toString(), "--batch", "3", "--save-tensor", a.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("3 ddim steps"), r.out());
        String list = Arrays.stream(learned).mapToObj(Long::toString).collect(Collectors.joining(","));
        assertEquals(0, CommandsTest.run("sample", "--model", "toy2d", "--scheduler", "ddim", "--timesteps", list,
                "--batch", "3", "--save-tensor", b.toString()).code());
        try (NativeScope scope = new NativeScope()) {
            assertArrayEquals(TensorFiles.read(b).toFloatArray(), TensorFiles.read(a).toFloatArray());
        }
        TimestepsOptionTest.assertUsageError(CommandsTest.run("sample", "--model", out.toString(), "--steps", "5",
                "--save-tensor", a.toString()), "--steps 5", "3 timesteps");
    }

    @Test
    void badRequestsAreUsageErrors() {
        String out = tmp.resolve("x").toString();
        TimestepsOptionTest.assertUsageError(CommandsTest.run("tune-schedule", "--model", "toy2d", "--scheduler",
                "ddpm", "--nfe", "4", "--out", out), "draws noise");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("tune-schedule", "--model", "toy2d", "--scheduler",
                "heun", "--nfe", "4", "--out", out), "--nfe", "odd for heun");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("tune-schedule", "--model", "toy2d", "--scheduler",
                "adaptive", "--nfe", "4", "--out", out), "adaptive");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("tune-schedule", "--model", "no-such-model",
                "--scheduler", "ddim", "--nfe", "4", "--out", out), "--model");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("tune-schedule", "--model", "toy2d", "--scheduler",
                "ddim", "--nfe", "4", "--calibration", "0", "--out", out), "calibration size must be >= 1, got 0");
        assertFalse(Files.exists(Path.of(out)));
    }
}
