package io.diffusion4j.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** {@code train}: where checkpoints go, how often, and resuming from them (with deliberate overrides). */
final class TrainCheckpointOptions {
    @Option(names = "--checkpoint-dir", paramLabel = "DIR",
            description = "Save checkpoints (weights, EMA, optimizer state, step, config, the run's settings in "
                    + "run.json) here, and at the end.")
    Path checkpointDir;

    @Option(names = "--checkpoint-every", paramLabel = "N", defaultValue = "0",
            description = "Save a checkpoint every N steps (needs --checkpoint-dir; default: only at the end).")
    int checkpointEvery;

    @Option(names = "--keep", paramLabel = "K", defaultValue = "3",
            description = "Keep the newest K checkpoints (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--resume", paramLabel = "DIR",
            description = "Continue from a checkpoint folder, or the newest intact checkpoint in a folder of "
                    + "checkpoints, with all of the run's settings (batch, data, optimizer, seed, threads, ...); a "
                    + "flag that contradicts them is refused, --steps may extend the run.")
    Path resume;

    @Option(names = "--override", paramLabel = "KEY=VALUE",
            description = "With --resume: deliberately change one of the run's settings (e.g. batch=128, "
                    + "data=other.pt, lr=5e-5, total-steps=4000); recorded in the checkpoints. Repeatable.")
    List<String> overrides = new ArrayList<>();

    void check() {
        if (checkpointEvery < 0) {
            throw new UsageException("--checkpoint-every must be >= 0, got " + checkpointEvery);
        }
        if (checkpointEvery > 0 && checkpointDir == null && resume == null) {   // a resume has its own
            throw new UsageException("--checkpoint-every needs --checkpoint-dir DIR");
        }
        if (keep < 1) {
            throw new UsageException("--keep must be >= 1, got " + keep);
        }
        if (!overrides.isEmpty() && resume == null) {
            throw new UsageException("--override changes a resumed run's settings; a new run takes the flags "
                    + "themselves (--" + overrides.get(0).split("=", 2)[0] + " ...)");
        }
    }

    /** The --override KEY=VALUE pairs, in order. */
    Map<String, String> overrides() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq < 1) {
                throw new UsageException("--override must be KEY=VALUE, e.g. --override batch=128, got " + o);
            }
            String key = o.substring(0, eq).strip();
            if (out.put(key, o.substring(eq + 1).strip()) != null) {
                throw new UsageException("--override " + key + " is given twice");
            }
        }
        return out;
    }
}
