package io.diffusion4j.cli;

import io.diffusion4j.training.RunRecord;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Consumer;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * The settings of a {@code train} run that its {@link RunRecord} ({@code run.json}) keeps beside the training config:
 * taken from the flags for a new run; for a resumed run taken from the checkpoint, where a flag the user gave that
 * contradicts the checkpoint is a usage error, and {@code --override KEY=VALUE} changes a setting deliberately (and
 * is recorded). Keys are the flags' names without dashes.
 */
final class RunSettings {
    static final String BATCH = "batch";
    static final String DATA = "data";
    static final String DATA_SHA = "data-sha256";
    static final String LABELS = "labels";
    static final String LABELS_SHA = "labels-sha256";
    static final String FLIP = "flip";
    static final String THREADS = "threads";
    static final String DEVICE = "device";
    static final String WORLD = "world-size";
    static final String TOTAL_STEPS = "total-steps";
    static final String OUT = "out";
    static final String CHECKPOINT_DIR = "checkpoint-dir";
    static final String CHECKPOINT_EVERY = "checkpoint-every";
    static final String METRICS_CSV = "metrics-csv";

    private final ParseResult given;
    private final Map<String, String> overrides;
    private final long step;
    private final List<RunRecord.Change> changes = new ArrayList<>();
    private final TreeSet<String> known = new TreeSet<>();

    private RunSettings(ParseResult given, Map<String, String> overrides, long step) {
        this.given = given;
        this.overrides = new LinkedHashMap<>(overrides);
        this.step = step;
    }

    /** The run record of a new run: {@code model} (how the model was made) plus the run-level settings. */
    static RunRecord fresh(TrainCommand cmd, int threads, String device, int world, Map<String, String> model)
            throws IOException {
        TrainDataOptions data = cmd.data;
        TrainOptimizerOptions opt = cmd.optimizer;
        Map<String, String> s = new LinkedHashMap<>(model);
        s.put(BATCH, Integer.toString(opt.batch));
        putData(s, data);
        s.put(FLIP, Boolean.toString(data.flip));
        s.put(THREADS, Integer.toString(threads));
        s.put(DEVICE, device);
        s.put(WORLD, Integer.toString(world));
        putHousekeeping(s, cmd);
        return RunRecord.of(s);
    }

    /** Where the run writes: not settings of the run, but a resume without these flags keeps writing there. */
    private static void putHousekeeping(Map<String, String> s, TrainCommand cmd) {
        putPath(s, OUT, cmd.out);
        putPath(s, CHECKPOINT_DIR, cmd.checkpoints.checkpointDir);
        s.put(CHECKPOINT_EVERY, Integer.toString(cmd.checkpoints.checkpointEvery));
        putPath(s, METRICS_CSV, cmd.metricsCsv);
    }

    private static void putPath(Map<String, String> s, String key, Path p) {
        if (p == null) {
            s.remove(key);
        } else {
            s.put(key, p.toAbsolutePath().normalize().toString());
        }
    }

    /** A resumed run's housekeeping flags: the flag when given, else the run's. */
    private static void housekeeping(RunRecord rec, ParseResult given, TrainCommand cmd) {
        if (rec == null) {
            return;
        }
        if (!given.hasMatchedOption("--out") && rec.get(OUT) != null) {
            cmd.out = Path.of(rec.get(OUT));
        }
        if (!given.hasMatchedOption("--checkpoint-dir") && rec.get(CHECKPOINT_DIR) != null) {
            cmd.checkpoints.checkpointDir = Path.of(rec.get(CHECKPOINT_DIR));
        }
        if (!given.hasMatchedOption("--checkpoint-every") && rec.get(CHECKPOINT_EVERY) != null) {
            try {
                cmd.checkpoints.checkpointEvery = Integer.parseInt(rec.get(CHECKPOINT_EVERY));
            } catch (NumberFormatException e) {
                // a hand-edited record: keep the flag's default
            }
        }
        if (!given.hasMatchedOption("--metrics-csv") && rec.get(METRICS_CSV) != null) {
            cmd.metricsCsv = Path.of(rec.get(METRICS_CSV));
        }
    }

    private static void putData(Map<String, String> s, TrainDataOptions data) throws IOException {
        s.put(DATA, data.data.toAbsolutePath().normalize().toString());
        s.put(DATA_SHA, TrainDataOptions.sha256(data.data));
        s.remove(LABELS);
        s.remove(LABELS_SHA);
        if (data.labels != null) {
            s.put(LABELS, data.labels.toAbsolutePath().normalize().toString());
            s.put(LABELS_SHA, TrainDataOptions.sha256(data.labels));
        }
    }

    /**
     * The device a resume loads its checkpoint on: {@code --override device=D}, else {@code --device}, else the one
     * the newest checkpoint's run record names, else the CPU.
     */
    static String resumeDevice(Path resume, String deviceFlag, boolean deviceGiven, Map<String, String> overrides) {
        if (overrides.containsKey(DEVICE)) {
            return overrides.get(DEVICE);
        }
        if (deviceGiven) {
            return deviceFlag;
        }
        try {
            Path dir = Files.isRegularFile(resume.resolve(RunRecord.FILE_NAME)) ? resume
                    : io.diffusion4j.training.Checkpoints.latest(resume);
            if (dir != null && Files.isRegularFile(dir.resolve(RunRecord.FILE_NAME))) {
                String d = RunRecord.fromJson(Files.readString(dir.resolve(RunRecord.FILE_NAME))).get(DEVICE);
                if (d != null) {
                    return d;
                }
            }
        } catch (IOException | IllegalArgumentException e) {
            // an unreadable record: the resume itself reports the checkpoint
        }
        return deviceFlag;
    }

    /**
     * Resolves a resumed run's settings into the option objects (their fields then hold the run's effective values),
     * reconfigures the trainer where an override changed its training config, and records the run in it.
     *
     * @param world the number of ranks of this job
     * @param warn  one line per warning
     */
    static void resume(Trainer t, ParseResult given, TrainCommand cmd, int world, Consumer<String> warn)
            throws IOException {
        TrainDataOptions data = cmd.data;
        TrainOptimizerOptions opt = cmd.optimizer;
        TrainCheckpointOptions ck = cmd.checkpoints;
        RunSettings r = new RunSettings(given, ck.overrides(), t.step());
        RunRecord rec = t.runRecord();
        TrainingConfig c = t.config();
        if (rec == null) {
            warn.accept(t.resumedFrom() + " has no " + RunRecord.FILE_NAME + " (written before checkpoints recorded "
                    + "the run's settings): batch, data, flip, threads and device come from the flags");
        }
        Map<String, String> s = new LinkedHashMap<>(rec == null ? Map.of() : rec.settings());

        // training config (training_config.json)
        opt.lr = r.number("lr", "--lr", Double.toString(c.learningRate()), Double.toString(opt.lr));
        opt.lrSchedule = r.resolve("lr-schedule", "--lr-schedule", lower(c.lrSchedule()), opt.lrSchedule)
                .toLowerCase(Locale.ROOT);
        opt.warmupSteps = r.integer("warmup-steps", "--warmup-steps", c.lrWarmupSteps(), opt.warmupSteps);
        opt.optimizer = r.resolve("optimizer", "--optimizer", lower(c.optimizer()), opt.optimizer)
                .toLowerCase(Locale.ROOT);
        opt.weightDecay = r.number("weight-decay", "--weight-decay", Double.toString(c.weightDecay()),
                Double.toString(opt.weightDecay));
        opt.offsetNoise = r.number("offset-noise", "--offset-noise", Double.toString(c.offsetNoise()),
                Double.toString(opt.offsetNoise));
        opt.ema = r.number("ema", "--ema", Double.toString(c.emaDecay()), Double.toString(opt.ema));
        opt.minSnr = r.number("min-snr", "--min-snr", Double.toString(c.minSnrGamma()), Double.toString(opt.minSnr));
        opt.labelDropout = r.number("label-dropout", "--label-dropout", Double.toString(c.labelDropout()),
                Double.toString(opt.labelDropout));
        opt.gradClip = r.number("grad-clip", "--grad-clip", Double.toString(c.gradientClipNorm()),
                Double.toString(opt.gradClip));
        opt.accumulate = r.integer("accumulate", "--accumulate", c.gradientAccumulation(), opt.accumulate);
        opt.seed = r.longValue("seed", "--seed", c.seed(), opt.seed);
        opt.totalSteps = r.integer(TOTAL_STEPS, null, c.totalSteps(), c.totalSteps());
        if (!given.hasMatchedOption("--keep")) {   // housekeeping, not a setting of the run: a flag changes it freely
            ck.keep = c.keepCheckpoints();
        }

        // run-level settings (run.json)
        opt.batch = r.integer(BATCH, "--batch", rec == null ? null : rec.get(BATCH), opt.batch);
        s.put(BATCH, Integer.toString(opt.batch));
        data.flip = Boolean.parseBoolean(r.resolve(FLIP, "--flip", rec == null ? null : rec.get(FLIP),
                Boolean.toString(data.flip)));
        s.put(FLIP, Boolean.toString(data.flip));
        String threads = r.resolve(THREADS, "--threads", rec == null ? null : rec.get(THREADS),
                cmd.threads == null ? null : cmd.threads.toString());
        if (threads != null) {
            cmd.threads = r.parseInt(THREADS, threads);
            s.put(THREADS, threads);
        }
        String device = r.resolve(DEVICE, "--device", rec == null ? null : rec.get(DEVICE), cmd.device);
        s.put(DEVICE, device);
        r.world(rec == null ? null : rec.get(WORLD), world);
        s.put(WORLD, Integer.toString(world));
        r.data(rec, data);
        putData(s, data);
        housekeeping(rec, given, cmd);
        putHousekeeping(s, cmd);

        if (!r.overrides.isEmpty()) {
            String key = r.overrides.keySet().iterator().next();
            throw new UsageException("--override " + key + ": not a setting a resumed run can change; one of "
                    + String.join(", ", r.known));
        }
        TrainingConfig next = opt.config(c, ck.keep);
        if (!next.equals(c)) {
            try {
                t.reconfigure(next);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--override: " + e.getMessage() + "; start a new run to change it");
            }
        }
        t.recordRun(rec == null ? RunRecord.of(s).next(s, r.changes) : rec.next(s, r.changes));
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    // ---- resolution of one setting ----------------------------------------------------------------------------

    /**
     * The effective value of setting {@code key}: an override's, else the recorded one (a contradicting flag is an
     * error), else, when the checkpoint did not record it, the flag's {@code current} value (may be null).
     */
    private String resolve(String key, String flag, String recorded, String current) {
        known.add(key);
        String ov = overrides.remove(key);
        String flagValue = flag != null && given.hasMatchedOption(flag) ? raw(flag, current) : null;
        if (ov != null) {
            if (flagValue != null && !same(flagValue, ov)) {
                throw new UsageException(flag + " " + flagValue + " contradicts --override " + key + "=" + ov);
            }
            if (recorded == null || !same(ov, recorded)) {
                changes.add(new RunRecord.Change(step, key, recorded, ov));
            }
            return ov;
        }
        if (recorded == null) {
            return current;
        }
        if (flagValue != null && !same(flagValue, recorded)) {
            throw new UsageException(flag + " " + flagValue + " differs from the checkpoint's " + key + " " + recorded
                    + ": a resumed run keeps its settings; to change it, add --override " + key + "=" + flagValue);
        }
        return recorded;
    }

    private String raw(String flag, String current) {
        OptionSpec o = given.matchedOption(flag);
        List<String> values = o == null ? List.of() : o.stringValues();
        return values.isEmpty() || o.typeInfo().isBoolean() ? current : values.get(values.size() - 1);
    }

    private static boolean same(String a, String b) {
        try {
            return Double.parseDouble(a) == Double.parseDouble(b);
        } catch (NumberFormatException e) {
            return a.equalsIgnoreCase(b);
        }
    }

    private double number(String key, String flag, String recorded, String current) {
        String v = resolve(key, flag, recorded, current);
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--override " + key + "=" + v + ": " + key + " must be a number");
        }
    }

    private int integer(String key, String flag, Object recorded, int current) {
        return parseInt(key, resolve(key, flag, recorded == null ? null : recorded.toString(),
                Integer.toString(current)));
    }

    private long longValue(String key, String flag, long recorded, long current) {
        String v = resolve(key, flag, Long.toString(recorded), Long.toString(current));
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--override " + key + "=" + v + ": " + key + " must be an integer");
        }
    }

    private int parseInt(String key, String v) {
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--override " + key + "=" + v + ": " + key + " must be an integer");
        }
    }

    private void world(String recorded, int world) {
        known.add(WORLD);
        String ov = overrides.remove(WORLD);
        if (ov != null) {
            if (!same(ov, Integer.toString(world))) {
                throw new UsageException("--override " + WORLD + "=" + ov + ", but this job has " + world
                        + " rank(s); start it with --nproc " + ov + " (or --world-size)");
            }
            if (recorded == null || !same(ov, recorded)) {
                changes.add(new RunRecord.Change(step, WORLD, recorded, ov));
            }
        } else if (recorded != null && !same(recorded, Integer.toString(world))) {
            throw new UsageException("this job has " + world + " rank(s), but the checkpoint's run has " + WORLD + " "
                    + recorded + ": start it with --nproc " + recorded + " (or --world-size), or add --override "
                    + WORLD + "=" + world);
        }
    }

    /** --data and --labels: the same content as the run's (SHA-256), unless overridden; recorded labels by default. */
    private void data(RunRecord rec, TrainDataOptions data) throws IOException {
        known.add(DATA);
        known.add(LABELS);
        String ovData = overrides.remove(DATA);
        String sha = TrainDataOptions.sha256(data.data);
        String recPath = rec == null ? null : rec.get(DATA);
        String recSha = rec == null ? null : rec.get(DATA_SHA);
        if (ovData != null) {
            if (!samePath(Path.of(ovData), data.data)) {
                throw new UsageException("--override data=" + ovData + " names other data than --data " + data.data
                        + "; give the same path to both");
            }
            if (!sha.equals(recSha)) {
                changes.add(new RunRecord.Change(step, DATA, recPath == null ? null : recPath + " sha256:" + recSha,
                        data.data.toAbsolutePath().normalize() + " sha256:" + sha));
            }
        } else if (recSha != null && !recSha.equals(sha)) {
            throw new UsageException("--data " + data.data + " holds other content than the run's data " + recPath
                    + " (sha256 " + recSha.substring(0, 12) + "..., now " + sha.substring(0, 12) + "...): a resumed "
                    + "run keeps its data; to train on this, add --override data=" + data.data);
        }

        String ovLabels = overrides.remove(LABELS);
        String recLabels = rec == null ? null : rec.get(LABELS);
        String recLabelsSha = rec == null ? null : rec.get(LABELS_SHA);
        boolean labelsGiven = given.hasMatchedOption("--labels");
        if (ovLabels != null) {
            Path to = ovLabels.equalsIgnoreCase("none") ? null : Path.of(ovLabels);
            if (labelsGiven && (to == null || !samePath(to, data.labels))) {
                throw new UsageException("--labels " + data.labels + " contradicts --override labels=" + ovLabels);
            }
            data.labels = to;
            String toSha = to == null || !Files.isRegularFile(to) ? null : TrainDataOptions.sha256(to);
            if (!java.util.Objects.equals(toSha, recLabelsSha)) {
                changes.add(new RunRecord.Change(step, LABELS, recLabels == null ? "none"
                        : recLabels + " sha256:" + recLabelsSha, to == null ? "none"
                        : to.toAbsolutePath().normalize() + " sha256:" + toSha));
            }
        } else if (rec != null) {
            if (labelsGiven && recLabels == null) {
                throw new UsageException("--labels " + data.labels + ": the run trains without labels; to add them, "
                        + "add --override labels=" + data.labels);
            }
            Path l = labelsGiven ? data.labels : recLabels == null ? null : Path.of(recLabels);
            if (l != null) {
                if (!Files.isRegularFile(l)) {
                    throw new UsageException("the run's labels " + l + " are gone; give --labels FILE.pt (with "
                            + "--override labels=FILE.pt if its content differs)");
                }
                String lsha = TrainDataOptions.sha256(l);
                if (!lsha.equals(recLabelsSha)) {
                    throw new UsageException("--labels " + l + " holds other content than the run's labels "
                            + recLabels + " (sha256 " + recLabelsSha.substring(0, 12) + "..., now "
                            + lsha.substring(0, 12) + "...): to train on them, add --override labels=" + l);
                }
            }
            data.labels = l;
        }
    }

    private static boolean samePath(Path a, Path b) {
        return b != null && a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
    }
}
