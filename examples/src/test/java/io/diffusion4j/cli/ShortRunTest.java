package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.bindings.TorchScriptRuntime.GraphExecutor;
import io.diffusion4j.model.ScriptMode;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A short run (plain module, simple executor) samples what the frozen module on the profiling executor samples. */
class ShortRunTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"toy2d, 1, ''", "toy2d, 5, ''", "digits, 3, '--class=3,--guidance=2'"})
    void shortRunsSampleWhatTheFrozenModuleSamples(String model, int steps, String extra) throws Exception {
        float[] shortRun = sample(model, steps, extra, "short.pt");
        float[] frozen = sample(model, steps, extra + (extra.isEmpty() ? "" : ",") + "--freeze", "frozen.pt");
        float[] plain = sample(model, steps, extra + (extra.isEmpty() ? "" : ",") + "--no-freeze", "plain.pt");
        assertEquals(frozen.length, shortRun.length);
        double worst = 0;
        for (int i = 0; i < frozen.length; i++) {
            worst = Math.max(worst, Math.max(Math.abs(frozen[i] - shortRun[i]), Math.abs(plain[i] - shortRun[i])));
        }
        assertEquals(0.0, worst, 1e-6, model + " " + steps + " steps: largest difference from the frozen/plain runs");
    }

    @Test
    void onlyShortRunsWithoutAnExplicitChoiceSwitchTheExecutorAndTheyRestoreIt() {
        GraphExecutor before = TorchScriptRuntime.graphExecutor();
        try (ShortRun run = ShortRun.choose(null, ShortRun.MAX_EVALUATIONS)) {
            assertTrue(run.simpleExecutor());
            assertEquals(ScriptMode.PLAIN, run.scriptMode());
            assertEquals(GraphExecutor.SIMPLE, TorchScriptRuntime.graphExecutor());
        }
        assertEquals(before, TorchScriptRuntime.graphExecutor());
        for (ShortRun run : new ShortRun[] {ShortRun.choose(null, ShortRun.MAX_EVALUATIONS + 1),
            ShortRun.choose(null, -1), ShortRun.choose(true, 1), ShortRun.choose(false, 1)}) {
            assertFalse(run.simpleExecutor());
            assertEquals(before, TorchScriptRuntime.graphExecutor());
            run.close();
        }
        assertEquals(ScriptMode.DEFAULT, ShortRun.choose(null, ShortRun.MAX_EVALUATIONS + 1).scriptMode());
        assertEquals(ScriptMode.FROZEN, ShortRun.choose(true, 1).scriptMode());
        assertEquals(ScriptMode.PLAIN, ShortRun.choose(false, 1000).scriptMode());
    }

    private float[] sample(String model, int steps, String extra, String name) throws Exception {
        Path file = dir.resolve(name);
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", "--model", model,
                "--scheduler", "ddim", "--steps", String.valueOf(steps), "--batch", "4", "--seed", "11",
                "--threads", "1",
                "--save-tensor", file.toString(), "--out", dir.resolve(name + ".png").toString()));
        if (!extra.isEmpty()) {
            args.addAll(java.util.List.of(extra.split(",")));
        }
        if (model.equals("toy2d")) {
            args.removeAll(java.util.List.of("--out", dir.resolve(name + ".png").toString()));
        }
        MainTest.Result r = MainTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        try (NativeScope scope = new NativeScope()) {
            return TensorFiles.read(file).toFloatArray();
        }
    }
}
