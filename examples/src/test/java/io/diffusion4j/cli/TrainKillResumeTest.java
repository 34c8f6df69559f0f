package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety of {@code train} with real processes: SIGKILLed at seeded random moments (inside steps and inside
 * checkpoint writes) and resumed with only {@code --resume --data --steps}, a run of toy2d at batch 256 with an EMA
 * and a cosine schedule ends bit-identical to the uninterrupted run, and the newest checkpoint always loads.
 */
class TrainKillResumeTest {
    @TempDir
    Path tmp;

    @Test
    void killedThreeTimesAndResumedEqualsTheStraightRun() throws Exception {
        Path data = tmp.resolve("toy2d.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(data, TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt"));
        }
        int every = 5;
        KillResumeHarness.Report r = new KillResumeHarness(tmp, data, 20261130L, 60, every).run(3, true);
        assertEquals(3, r.kills().size(), () -> "the run ended before 3 kills: " + r.kills());
        for (KillResumeHarness.Kill k : r.kills()) {
            assertTrue(k.stepsLost() >= 0 && k.stepsLost() <= every, () -> "lost more than a checkpoint interval: "
                    + k);
        }
        for (String line : r.resumeStderr()) {
            assertTrue(line.startsWith("diffusion4j: warning: skipping ") && line.contains(".tmp-checkpoint-")
                    && (line.endsWith("left by an interrupted checkpoint save, not a checkpoint")
                    || line.endsWith("left by an interrupted deletion of an old checkpoint, not a checkpoint")), line);
        }
        assertTrue(r.runJson().contains("\"batch\" : \"256\"") && r.runJson().contains("\"overrides\" : [ ]"),
                r.runJson());
        assertArrayEquals(r.straight(), r.resumed(), 0f, "3 kills + resumes = the straight run, bit for bit");
    }
}
