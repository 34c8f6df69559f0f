package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.LcmScheduler;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.training.Ema;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.Dataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consistency distillation (Song et al. 2023, Algorithm 2) in the discrete form of latent consistency models (Luo et
 * al. 2023), sampled with {@link LcmScheduler}.
 *
 * <p>The student {@code f(x, t) = c_skip(t) x + c_out(t) x0(x, t)} (the boundary condition of {@link LcmScheduler},
 * {@code x0} from the network's own {@code prediction_type}) starts as a copy of the teacher. On the grid
 * {@code t_j = j k - 1}, {@code k = T / originalSteps}, an example is noised to a random {@code t_j}; the frozen
 * teacher takes one deterministic DDIM step to {@code t_{j-1}} (timestep 0 below the grid's first point); the target
 * is the EMA target network's {@code f} there, and the loss the squared error between the student's {@code f} at
 * {@code t_j} and that target. After each optimizer step the target network moves towards the student
 * ({@code decay}, as LCM's 0.95). The result is written as a model folder whose {@code scheduler_config.json} is an
 * {@code LCMScheduler} with the same {@code original_inference_steps} and {@code timestep_scaling}. No mid-run
 * checkpoints: an interrupted run starts again. Not thread-safe.
 *
 * <p>Guided consistency distillation (LCM, Luo et al. 2023, section 4.2): with {@link Config#guidanceScale()}
 * {@code w > 0} the teacher's DDIM step uses the classifier-free guided prediction {@code uncond + w (cond - uncond)}
 * (two forwards, the teacher's null class), so the student learns the guided ODE and samples guided in one conditional
 * forward per step; its {@code diffusion4j.json} records {@code distilled_guidance_scale}, so {@code sample} does not
 * guide it again.
 *
 * <p>Snapshots: with {@link Config#snapshotEvery()} {@code n > 0} the student is also written every {@code n} steps
 * to {@code out/snapshots/step-NNNNNN/} (ordinary model folders), so a run's training curve can be judged by sampling
 * quality (the loss of consistency training says little about it) and a snapshot chosen on calibration seeds.
 */
public final class ConsistencyDistillation {
    private static final Logger LOG = LoggerFactory.getLogger(ConsistencyDistillation.class);

    /**
     * The settings of a run.
     *
     * @param originalSteps    the teacher's DDIM grid ({@code original_inference_steps})
     * @param sampleSteps      the student's default sampling steps (1..originalSteps)
     * @param steps            optimizer steps
     * @param batchSize        examples per step
     * @param learningRate     Adam's learning rate, decayed linearly to 0
     * @param emaDecay         decay of the target network, in [0, 1)
     * @param gradientClipNorm global gradient-norm clip, 0 = off
     * @param seed             seed of every random draw
     * @param guidanceScale    classifier-free guidance scale of the teacher's ODE step, distilled into the student (a
     *                         class-conditional teacher with a null class); 0 = none
     * @param snapshotEvery    write the student every this many steps under {@code out/snapshots/}; 0 = never
     */
    public record Config(int originalSteps, int sampleSteps, int steps, int batchSize, double learningRate,
                         double emaDecay, double gradientClipNorm, long seed, double guidanceScale,
                         int snapshotEvery) {
        /** Without guidance or snapshots. */
        public Config(int originalSteps, int sampleSteps, int steps, int batchSize, double learningRate,
                      double emaDecay, double gradientClipNorm, long seed) {
            this(originalSteps, sampleSteps, steps, batchSize, learningRate, emaDecay, gradientClipNorm, seed, 0, 0);
        }

        public Config {
            if (originalSteps < 1) {
                throw new IllegalArgumentException("original steps must be >= 1, got " + originalSteps);
            }
            if (sampleSteps < 1 || sampleSteps > originalSteps) {
                throw new IllegalArgumentException("steps-to must be between 1 and the original steps ("
                        + originalSteps + "), got " + sampleSteps);
            }
            if (steps < 1 || batchSize < 1) {
                throw new IllegalArgumentException("steps and batch size must be >= 1, got " + steps + " and "
                        + batchSize);
            }
            if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
                throw new IllegalArgumentException("learning rate must be a finite number > 0, got " + learningRate);
            }
            if (!(emaDecay >= 0 && emaDecay < 1)) {
                throw new IllegalArgumentException("EMA decay must be in [0, 1), got " + emaDecay);
            }
            if (!(gradientClipNorm >= 0) || Double.isInfinite(gradientClipNorm)) {
                throw new IllegalArgumentException("gradient clip norm must be a finite number >= 0 (0 = off), got "
                        + gradientClipNorm);
            }
            if (!(guidanceScale >= 0) || Double.isInfinite(guidanceScale)) {
                throw new IllegalArgumentException("guidance scale must be a finite number >= 0 (0 = none), got "
                        + guidanceScale);
            }
            if (snapshotEvery < 0) {
                throw new IllegalArgumentException("snapshot interval must be >= 0 (0 = none), got " + snapshotEvery);
            }
        }

        public Config withGuidanceScale(double scale) {
            return new Config(originalSteps, sampleSteps, steps, batchSize, learningRate, emaDecay, gradientClipNorm,
                    seed, scale, snapshotEvery);
        }

        public Config withSnapshotEvery(int every) {
            return new Config(originalSteps, sampleSteps, steps, batchSize, learningRate, emaDecay, gradientClipNorm,
                    seed, guidanceScale, every);
        }

        ObjectNode toJson() {
            ObjectNode n = StudentFolder.JSON.createObjectNode();
            n.put("method", "consistency");
            n.put("original_inference_steps", originalSteps);
            n.put("timestep_scaling", TIMESTEP_SCALING);
            n.put("solver", "ddim");
            n.put("steps", steps);
            n.put("batch_size", batchSize);
            n.put("learning_rate", learningRate);
            n.put("ema_decay", emaDecay);
            n.put("gradient_clip_norm", gradientClipNorm);
            n.put("seed", seed);
            n.put("guidance_scale", guidanceScale);
            return n;
        }
    }

    /** Progress callback: after optimizer step {@code step} (1-based). */
    public interface Listener {
        void onStep(long step, double loss);
    }

    /** The folder under {@code out} that holds the snapshots. */
    public static final String SNAPSHOT_DIR = "snapshots";

    /** diffusers' default {@code timestep_scaling}. */
    public static final double TIMESTEP_SCALING = 10.0;

    private final Config config;

    public ConsistencyDistillation(Config config) {
        if (config == null) {
            throw new IllegalArgumentException("a distillation config is required");
        }
        this.config = config;
    }

    /** The student's scheduler config: the teacher's schedule and prediction type as an {@code LCMScheduler}. */
    public static SchedulerConfig studentScheduler(SchedulerConfig teacher, int originalSteps, int sampleSteps) {
        return teacher.toBuilder().className(LcmScheduler.CLASS_NAME).setAlphaToOne(true)
                .putExtra("original_inference_steps", originalSteps).putExtra("timestep_scaling", TIMESTEP_SCALING)
                .putExtra("num_inference_steps", sampleSteps).build();
    }

    /**
     * Distils {@code teacher} and writes the student to {@code out} (a model folder).
     *
     * @return the mean loss of the last 10% of steps
     */
    public double run(ModelFolder teacher, Dataset data, Path out, Device device, Listener listener)
            throws IOException {
        SchedulerConfig sc = teacher.schedulerConfig();
        if (sc == null) {
            throw new IllegalArgumentException(teacher.location() + " has no scheduler_config.json: not a denoiser");
        }
        if (config.originalSteps() > sc.numTrainTimesteps()) {
            throw new IllegalArgumentException("original steps (" + config.originalSteps() + ") exceed the teacher's "
                    + "num_train_timesteps (" + sc.numTrainTimesteps() + ")");
        }
        SchedulerConfig studentConfig = studentScheduler(sc, config.originalSteps(), config.sampleSteps());
        new LcmScheduler(studentConfig); // validates the options before any training
        ObjectNode spec = StudentFolder.specJson(teacher);
        ModelSpec modelSpec = teacher.spec();
        int nullClass = config.guidanceScale() > 0
                ? GuidedTeacher.checkDistillable(teacher, data, config.guidanceScale(), spec)
                : modelSpec == null ? -1 : modelSpec.nullClassId();
        if (spec != null) {
            spec.put("description", "Consistency-distillation (LCM) student of " + teacher.location()
                    + " (LCMScheduler, " + config.sampleSteps() + " steps by default, original_inference_steps "
                    + config.originalSteps() + (config.guidanceScale() > 0 ? "; classifier-free guidance scale "
                    + config.guidanceScale() + " distilled in, one forward per step" : "") + "). Teacher: "
                    + spec.path("description").asText(""));
        }
        String name = (spec != null ? spec.path("name").asText("model") : "model") + "-lcm";
        long t0 = System.nanoTime();
        double loss;
        try (TrainableModel t = teacher.loadTrainable(device);
             TrainableModel s = teacher.loadTrainable(device);
             TrainableModel target = teacher.loadTrainable(device);
             BatchLoader loader = new BatchLoader(data, config.batchSize(), config.seed())) {
            if (t.isConditional() && data.numClasses() <= 0) {
                throw new IllegalArgumentException(t.source() + " is class-conditional: the data needs labels");
            }
            Snapshots snapshots = config.snapshotEvery() == 0 ? null : (step, student) -> {
                ObjectNode record = config.toJson();
                record.put("teacher", teacher.location());
                record.put("snapshot_step", step);
                record.put("trainer", StudentFolder.trainer());
                StudentFolder.write(out.resolve(SNAPSHOT_DIR).resolve(String.format("step-%06d", step)), student,
                        studentConfig, spec, name, "distillation", record, null, null);
            };
            loss = train(t, s, target, sc, nullClass, loader, listener, snapshots);
            double seconds = (System.nanoTime() - t0) / 1e9;
            ObjectNode record = config.toJson();
            record.put("teacher", teacher.location());
            record.put("final_loss", loss);
            record.put("seconds", Math.round(seconds * 10) / 10.0);
            record.put("trainer", StudentFolder.trainer());
            // the final folder replaces out as a whole: keep the snapshots written into it during training
            Path snapshotDir = out.resolve(SNAPSHOT_DIR);
            Path kept = null;
            if (Files.isDirectory(snapshotDir)) {
                kept = Files.createTempDirectory(out.toAbsolutePath().getParent(), ".snapshots-");
                Files.move(snapshotDir, kept.resolve(SNAPSHOT_DIR), StandardCopyOption.ATOMIC_MOVE);
            }
            try {
                StudentFolder.write(out, s, studentConfig, spec, name, "distillation", record, null, null);
            } finally {
                if (kept != null) {  // back into out, whether the student was written or not
                    Files.createDirectories(out);
                    Files.move(kept.resolve(SNAPSHOT_DIR), snapshotDir, StandardCopyOption.ATOMIC_MOVE);
                    Files.delete(kept);
                }
            }
            LOG.info("consistency distillation: {} steps, final loss {}, {} s", config.steps(), loss, seconds);
        }
        return loss;
    }

    /** Writes a snapshot of the student after optimizer step {@code step} (1-based). */
    interface Snapshots {
        void write(long step, TrainableModel student) throws IOException;
    }

    /**
     * Trains {@code student} in place against {@code teacher} (guided with the config's scale and {@code nullClass}
     * when the scale is > 0) with {@code target} as the EMA target network.
     */
    double train(TrainableModel teacher, TrainableModel student, TrainableModel target, SchedulerConfig sc,
                 int nullClass, BatchLoader loader, Listener listener, Snapshots snapshots) throws IOException {
        teacher.train(false);
        target.train(false);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : teacher.parameters()) {
                p.requiresGrad(false);
            }
            for (Tensor p : target.parameters()) {
                p.requiresGrad(false);
            }
        }
        double[] ab = sc.noiseSchedule().alphasCumprod();
        try (NativeScope scope = new NativeScope();
             Ema ema = new Ema(student, config.emaDecay(), false)) {
            return StudentTraining.run("consistency distillation", student, loader, config.steps(),
                    config.learningRate(), config.gradientClipNorm(), config.seed(), 0,
                    (b, s, seed) -> step(teacher, student, target, sc, nullClass, ab, b, seed),
                    (s, loss) -> {
                        ema.update(s);
                        ema.copyTo(target);
                        if (listener != null) {
                            listener.onStep(s + 1, loss);
                        }
                        if (snapshots != null && (s + 1) % config.snapshotEvery() == 0 && s + 1 < config.steps()) {
                            snapshots.write(s + 1, student);
                        }
                    });
        }
    }

    private double step(TrainableModel teacher, TrainableModel student, TrainableModel target, SchedulerConfig sc,
                        int nullClass, double[] ab, Batch b, long seed) {
        PredictionType type = sc.predictionType();
        Device device = student.device();
        Tensor x = b.x0().to(device, DType.FLOAT32);
        Tensor labels = b.labels() == null || !student.isConditional() ? null : b.labels().to(device, DType.INT64);
        int batch = Math.toIntExact(x.size(0));
        long k = sc.numTrainTimesteps() / config.originalSteps();
        SplittableRandom rng = new SplittableRandom(seed);
        long[] t = new long[batch];
        long[] tPrev = new long[batch];
        double[] a = new double[batch];
        double[] sg = new double[batch];
        double[] ap = new double[batch];
        double[] sp = new double[batch];
        double[] skip = new double[batch];
        double[] out = new double[batch];
        double[] skipPrev = new double[batch];
        double[] outPrev = new double[batch];
        for (int i = 0; i < batch; i++) {
            int j = 1 + rng.nextInt(config.originalSteps());
            t[i] = j * k - 1;
            tPrev[i] = Math.max(0, t[i] - k);
            a[i] = Math.sqrt(ab[(int) t[i]]);
            sg[i] = Math.sqrt(1 - ab[(int) t[i]]);
            ap[i] = Math.sqrt(ab[(int) tPrev[i]]);
            sp[i] = Math.sqrt(1 - ab[(int) tPrev[i]]);
            skip[i] = LcmScheduler.cSkip(t[i], TIMESTEP_SCALING);
            out[i] = LcmScheduler.cOut(t[i], TIMESTEP_SCALING);
            skipPrev[i] = LcmScheduler.cSkip(tPrev[i], TIMESTEP_SCALING);
            outPrev[i] = LcmScheduler.cOut(tPrev[i], TIMESTEP_SCALING);
        }
        Tensor alpha = Parameterization.perExample(a, x);
        Tensor sigma = Parameterization.perExample(sg, x);
        Tensor ts = ProgressiveDistillation.timesteps(t, student);
        Tensor z;
        try (Generator g = Generator.cpu(seed)) {
            z = alpha.mul(x).add(sigma.mul(Tensor.randn(g, DType.FLOAT32, device, x.shape())));
        }
        Tensor targetF;
        try (InferenceGuard noGrad = Torch.noGrad()) {
            Tensor prediction = config.guidanceScale() > 0
                    ? GuidedTeacher.predict(teacher, nullClass, config.guidanceScale(), z, ts, labels)
                    : teacher.forward(z, ts, labels);
            Tensor[] p = Parameterization.x0AndEpsilon(type, prediction, z, alpha, sigma);
            Tensor alphaPrev = Parameterization.perExample(ap, x);
            Tensor sigmaPrev = Parameterization.perExample(sp, x);
            Tensor zPrev = alphaPrev.mul(p[0]).add(sigmaPrev.mul(p[1]));   // one DDIM step of the teacher
            Tensor x0Prev = Parameterization.x0(type, target.forward(zPrev, ProgressiveDistillation.timesteps(tPrev,
                    target), labels), zPrev, alphaPrev, sigmaPrev);
            targetF = Parameterization.perExample(skipPrev, x).mul(zPrev)
                    .add(Parameterization.perExample(outPrev, x).mul(x0Prev));
        }
        Tensor x0 = Parameterization.x0(type, student.forward(z, ts, labels), z, alpha, sigma);
        Tensor f = Parameterization.perExample(skip, x).mul(z).add(Parameterization.perExample(out, x).mul(x0));
        Tensor loss = Tensor.mseLoss(f, targetF);
        loss.backward();
        return loss.item();
    }
}
