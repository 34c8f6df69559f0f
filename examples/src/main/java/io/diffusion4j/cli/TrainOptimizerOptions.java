package io.diffusion4j.cli;

import io.diffusion4j.training.TrainingConfig;
import java.util.Locale;
import picocli.CommandLine.Option;

/** {@code train}: the batch, the optimizer, its learning-rate schedule, the loss options and the seed. */
final class TrainOptimizerOptions {
    @Option(names = {"-b", "--batch"}, paramLabel = "B", defaultValue = "64",
            description = "Examples per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--accumulate", paramLabel = "K", defaultValue = "1",
            description = "Split each batch into K micro-batches (default: ${DEFAULT-VALUE}).")
    int accumulate;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "1e-4",
            description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--lr-schedule", paramLabel = "S", defaultValue = "constant",
            description = "constant or cosine (decay to 0 at --steps) after the warm-up (default: ${DEFAULT-VALUE}).")
    String lrSchedule;

    @Option(names = "--warmup-steps", paramLabel = "N", defaultValue = "0",
            description = "Linear learning-rate warm-up over the first N steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;

    @Option(names = "--optimizer", paramLabel = "O", defaultValue = "adamw",
            description = "adamw, adam or sgd (default: ${DEFAULT-VALUE}).")
    String optimizer;

    @Option(names = "--weight-decay", paramLabel = "W", defaultValue = "1e-2",
            description = "Weight decay: decoupled for adamw, L2 for adam and sgd (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--offset-noise", paramLabel = "S", defaultValue = "0",
            description = "Offset-noise strength: noise += S * randn[B, C, 1, 1] (default: off).")
    double offsetNoise;

    @Option(names = "--ema", paramLabel = "DECAY", defaultValue = "0",
            description = "Keep an EMA of the weights with this decay, exported instead of the raw weights (default: off).")
    double ema;

    @Option(names = "--min-snr", paramLabel = "GAMMA", defaultValue = "0",
            description = "Min-SNR-gamma loss weighting, e.g. 5 (default: off).")
    double minSnr;

    @Option(names = "--label-dropout", paramLabel = "P", defaultValue = "0",
            description = "Replace class labels by the null class with probability P (classifier-free guidance).")
    double labelDropout;

    @Option(names = "--grad-clip", paramLabel = "C", defaultValue = "0",
            description = "Clip the global gradient norm to C (default: off).")
    double gradClip;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Seed of the data order, flips, timesteps and noise (default: ${DEFAULT-VALUE}).")
    long seed;

    /** The cosine schedule's end; --steps for a new run, the checkpoint's (or an override's) for a resumed one. */
    int totalSteps;

    void check() {
        if (batch < 1) {
            throw new UsageException("--batch must be >= 1, got " + batch);
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new UsageException("--lr must be > 0, got " + lr);
        }
        if (accumulate < 1 || accumulate > batch) {
            throw new UsageException("--accumulate must be between 1 and --batch " + batch + ", got " + accumulate);
        }
        if (!lrSchedule.equals("constant") && !lrSchedule.equals("cosine")) {
            throw new UsageException("--lr-schedule must be constant or cosine, got " + lrSchedule);
        }
        if (warmupSteps < 0) {
            throw new UsageException("--warmup-steps must be >= 0, got " + warmupSteps);
        }
        if (lrSchedule.equals("cosine") && warmupSteps >= totalSteps) {
            throw new UsageException("--warmup-steps " + warmupSteps + " leaves no steps to decay: with --lr-schedule "
                    + "cosine it must be less than --steps " + totalSteps);
        }
        if (!optimizer.equals("adamw") && !optimizer.equals("adam") && !optimizer.equals("sgd")) {
            throw new UsageException("--optimizer must be adamw, adam or sgd, got " + optimizer);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new UsageException("--weight-decay must be >= 0, got " + weightDecay);
        }
        if (!(offsetNoise >= 0) || Double.isInfinite(offsetNoise)) {
            throw new UsageException("--offset-noise must be >= 0, got " + offsetNoise);
        }
        if (!(gradClip >= 0) || Double.isInfinite(gradClip)) {
            throw new UsageException("--grad-clip must be >= 0 (0 = off), got " + gradClip);
        }
    }

    /** These options over {@code base} (the defaults, or a resumed run's config for the settings no flag sets). */
    TrainingConfig config(TrainingConfig base, int keep) {
        try {
            return base.toBuilder().learningRate(lr).emaDecay(ema).minSnrGamma(minSnr)
                    .lrSchedule(TrainingConfig.LrSchedule.valueOf(lrSchedule.toUpperCase(Locale.ROOT)))
                    .lrWarmupSteps(warmupSteps).weightDecay(weightDecay).offsetNoise(offsetNoise)
                    .optimizer(TrainingConfig.OptimizerType.valueOf(optimizer.toUpperCase(Locale.ROOT)))
                    .labelDropout(labelDropout).gradientClipNorm(gradClip).gradientAccumulation(accumulate).seed(seed)
                    .keepCheckpoints(keep).totalSteps(totalSteps).build();
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
