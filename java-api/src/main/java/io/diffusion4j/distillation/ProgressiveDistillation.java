package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.Gradients;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Optimizer;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.TimestepSpacing;
import io.diffusion4j.scheduler.Timesteps;
import io.diffusion4j.training.NonFiniteLossException;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.Dataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Progressive distillation (Salimans &amp; Ho 2022, Algorithm 2): a student, initialised as a copy of the teacher,
 * learns to take in one deterministic DDIM step what the frozen teacher takes in two; then the student becomes the
 * teacher and the step count halves again, {@code teacherSteps -> teacherSteps/2 -> ... -> targetSteps}.
 *
 * <p>Grid: the {@code 2N} teacher timesteps are diffusers' {@code trailing} spacing of {@code 2N} steps (the first at
 * {@code T - 1}, the last step ending on clean data); the student's {@code N} timesteps are every other one of them,
 * which is exactly the trailing spacing of {@code N} steps. Per example a student step {@code i} is drawn,
 * {@code z_t = alpha_t x + sigma_t eps} is formed from a data batch, the teacher takes two DDIM steps
 * {@code t -> t' -> t''}, and the student's target is the {@code x} that one DDIM step {@code t -> t''} would need
 * to land on the teacher's {@code z_t''}: {@code x~ = (z_t'' - (sigma_t''/sigma_t) z_t) / (alpha_t'' -
 * (sigma_t''/sigma_t) alpha_t)}. The loss is the squared error of the student's x0 estimate (from its own
 * {@code prediction_type}) weighted by {@link LossWeighting} (truncated SNR by default).
 *
 * <p>Output: {@code out/rounds/steps-NNNN/} per finished round (a model folder whose {@code scheduler_config.json} is
 * a trailing-spacing DDIMScheduler with {@code num_inference_steps} N, and a {@code distillation_round.json} marker
 * written last), {@code out/metrics.csv}, and the last round's model copied to {@code out/}. {@link #run} resumes
 * after the last finished round (a round interrupted midway restarts from its beginning). Not thread-safe.
 */
public final class ProgressiveDistillation {
    private static final Logger LOG = LoggerFactory.getLogger(ProgressiveDistillation.class);
    static final String METRICS_FILE = "metrics.csv";
    static final String METRICS_HEADER = "teacher_steps,student_steps,training_steps,final_loss,seconds";

    /**
     * The settings of a run.
     *
     * @param teacherSteps      the teacher's DDIM steps in the first round (the student then takes half)
     * @param targetSteps       the students' steps in the last round; {@code teacherSteps / targetSteps} a power of two
     *                          &gt;= 2
     * @param stepsPerRound     optimizer steps per round
     * @param batchSize         examples per optimizer step
     * @param learningRate      Adam's learning rate, decayed linearly to 0 over each round (as in the paper)
     * @param weighting         the loss weighting
     * @param gradientClipNorm  global gradient-norm clip, 0 = off
     * @param seed              the seed of every random draw (data order, step indices, noise)
     */
    public record Config(int teacherSteps, int targetSteps, int stepsPerRound, int batchSize, double learningRate,
                         LossWeighting weighting, double gradientClipNorm, long seed) {
        public Config {
            if (targetSteps < 1) {
                throw new IllegalArgumentException("steps-to must be >= 1, got " + targetSteps);
            }
            if (teacherSteps <= targetSteps || teacherSteps % targetSteps != 0
                    || Integer.bitCount(teacherSteps / targetSteps) != 1) {
                throw new IllegalArgumentException("teacher steps (" + teacherSteps + ") must be steps-to ("
                        + targetSteps + ") times a power of two >= 2, e.g. 64 and 4");
            }
            if (stepsPerRound < 1) {
                throw new IllegalArgumentException("steps per round must be >= 1, got " + stepsPerRound);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            }
            if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
                throw new IllegalArgumentException("learning rate must be a finite number > 0, got " + learningRate);
            }
            if (weighting == null) {
                throw new IllegalArgumentException("a loss weighting is required");
            }
            if (!(gradientClipNorm >= 0) || Double.isInfinite(gradientClipNorm)) {
                throw new IllegalArgumentException("gradient clip norm must be a finite number >= 0 (0 = off), got "
                        + gradientClipNorm);
            }
        }

        /** The student step counts of the rounds, in order ({@code teacherSteps/2, ..., targetSteps}). */
        public List<Integer> rounds() {
            List<Integer> out = new ArrayList<>();
            for (int n = teacherSteps / 2; n >= targetSteps; n /= 2) {
                out.add(n);
            }
            return out;
        }

        ObjectNode toJson() {
            ObjectNode n = StudentFolder.JSON.createObjectNode();
            n.put("method", "progressive");
            n.put("teacher_steps", teacherSteps);
            n.put("target_steps", targetSteps);
            n.put("steps_per_round", stepsPerRound);
            n.put("batch_size", batchSize);
            n.put("learning_rate", learningRate);
            n.put("weighting", weighting.configName());
            n.put("gradient_clip_norm", gradientClipNorm);
            n.put("seed", seed);
            return n;
        }
    }

    /** One finished round. */
    public record Round(int teacherSteps, int studentSteps, long trainingSteps, double finalLoss, double seconds,
                        Path folder) {
    }

    /** Progress callbacks (on the calling thread). */
    public interface Listener {
        /** After optimizer step {@code step} (1-based) of the round that distils to {@code studentSteps}. */
        default void onStep(int studentSteps, long step, double loss) {
        }

        /** After a round's student folder is written. */
        default void onRound(Round round) {
        }

        /** When {@link #run} skips a round finished by an earlier run. */
        default void onResumed(Round round) {
        }
    }

    private final Config config;

    public ProgressiveDistillation(Config config) {
        if (config == null) {
            throw new IllegalArgumentException("a distillation config is required");
        }
        this.config = config;
    }

    public Config config() {
        return config;
    }

    /** The scheduler config of a student at {@code steps}: the teacher's, as a trailing-spacing DDIM sampler. */
    public static SchedulerConfig studentScheduler(SchedulerConfig teacher, int steps) {
        return teacher.toBuilder().className(DdimScheduler.CLASS_NAME).timestepSpacing(TimestepSpacing.TRAILING)
                .stepsOffset(0).setAlphaToOne(true).putExtra("num_inference_steps", steps).build();
    }

    /**
     * Runs (or resumes) every round.
     *
     * @param teacher the model to distil; its scheduler config gives the noise schedule and prediction type
     * @param data    training examples (with labels for a class-conditional teacher)
     * @param out     the output folder (rounds, metrics, the final student)
     * @return the rounds, finished earlier (resumed) or now
     * @throws IllegalArgumentException if the teacher or data do not fit
     */
    public List<Round> run(ModelFolder teacher, Dataset data, Path out, Device device, Listener listener)
            throws IOException {
        Listener l = listener != null ? listener : new Listener() { };
        SchedulerConfig sc = teacher.schedulerConfig();
        if (sc == null) {
            throw new IllegalArgumentException(teacher.location() + " has no scheduler_config.json: not a denoiser");
        }
        if (config.teacherSteps() > sc.numTrainTimesteps()) {
            throw new IllegalArgumentException("teacher steps (" + config.teacherSteps() + ") exceed the teacher's "
                    + "num_train_timesteps (" + sc.numTrainTimesteps() + ")");
        }
        ObjectNode sourceSpec = StudentFolder.specJson(teacher);
        Files.createDirectories(out);
        Path metrics = out.resolve(METRICS_FILE);
        List<Round> rounds = new ArrayList<>();
        Path teacherDir = null;
        int teacherSteps = config.teacherSteps();
        for (int n : config.rounds()) {
            Path dir = out.resolve("rounds").resolve(String.format("steps-%04d", n));
            Round done = finished(dir, teacherSteps, n);
            if (done != null) {
                rounds.add(done);
                l.onResumed(done);
                teacherDir = dir;
                teacherSteps = n;
                continue;
            }
            long t0 = System.nanoTime();
            double loss;
            try (TrainableModel t = teacherDir == null ? teacher.loadTrainable(device)
                        : ModelFolder.loadTrainable(teacherDir, teacher.spec(), device);
                 TrainableModel s = teacherDir == null ? teacher.loadTrainable(device)
                         : ModelFolder.loadTrainable(teacherDir, teacher.spec(), device);
                 BatchLoader loader = new BatchLoader(data, config.batchSize(), config.seed() + n)) {
                checkFits(t, data);
                loss = distilRound(t, s, sc, n, loader, l);
                double seconds = (System.nanoTime() - t0) / 1e9;
                Round r = new Round(teacherSteps, n, config.stepsPerRound(), loss, seconds, dir);
                ObjectNode record = config.toJson();
                record.put("teacher", teacherDir == null ? teacher.location() : teacherDir.toString());
                record.put("teacher_steps", teacherSteps);
                record.put("student_steps", n);
                record.put("final_loss", loss);
                record.put("seconds", Math.round(seconds * 10) / 10.0);
                record.put("trainer", "diffusion4j (LibTorch " + Torch.libtorchVersion() + ")");
                StudentFolder.write(dir, s, studentScheduler(sc, n), sourceSpec,
                        (sourceSpec != null ? sourceSpec.path("name").asText("model") : "model") + "-" + n + "step",
                        "distillation", record, StudentFolder.ROUND_FILE, StudentFolder.JSON.writeValueAsString(record));
                appendMetrics(metrics, r);
                rounds.add(r);
                l.onRound(r);
                LOG.info("progressive distillation: {} -> {} steps, final loss {}, {} s", teacherSteps, n, loss,
                        seconds);
            }
            teacherDir = dir;
            teacherSteps = n;
        }
        StudentFolder.copyModel(teacherDir, out);
        return rounds;
    }

    private void checkFits(TrainableModel teacher, Dataset data) {
        if (teacher.isConditional() && data.numClasses() <= 0) {
            throw new IllegalArgumentException(teacher.source() + " is class-conditional: the data needs labels");
        }
    }

    private Round finished(Path dir, int teacherSteps, int n) throws IOException {
        Path marker = dir.resolve(StudentFolder.ROUND_FILE);
        if (!Files.isRegularFile(marker)) {
            return null;
        }
        JsonNode r = StudentFolder.JSON.readTree(Files.readString(marker));
        ObjectNode now = config.toJson();
        for (String key : List.of("steps_per_round", "batch_size", "learning_rate", "weighting", "seed")) {
            if (!now.path(key).asText().equals(r.path(key).asText())) {
                throw new IllegalArgumentException(dir + " was distilled with " + key + " " + r.path(key)
                        + ", this run has " + now.path(key) + "; use another --out or the same settings to resume");
            }
        }
        return new Round(r.path("teacher_steps").asInt(teacherSteps), n, r.path("steps_per_round").asLong(),
                r.path("final_loss").asDouble(), r.path("seconds").asDouble(), dir);
    }

    private static void appendMetrics(Path metrics, Round r) throws IOException {
        if (!Files.exists(metrics)) {
            Files.writeString(metrics, METRICS_HEADER + "\n");
        }
        Files.writeString(metrics, String.format(java.util.Locale.ROOT, "%d,%d,%d,%.6g,%.1f%n", r.teacherSteps(),
                r.studentSteps(), r.trainingSteps(), r.finalLoss(), r.seconds()),
                java.nio.file.StandardOpenOption.APPEND);
    }

    /**
     * One round: trains {@code student} (in place) to match two DDIM steps of {@code teacher} in one, on the grid of
     * {@code studentSteps} trailing timesteps.
     *
     * @return the mean loss of the round's last 10% of steps
     */
    public double distilRound(TrainableModel teacher, TrainableModel student, SchedulerConfig sc, int studentSteps,
                              BatchLoader loader, Listener listener) throws IOException {
        Listener l = listener != null ? listener : new Listener() { };
        Students.preferPlainGraphs(student);
        teacher.train(false);
        student.train(true);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : teacher.parameters()) {
                p.requiresGrad(false);
            }
        }
        Grid grid = new Grid(sc, studentSteps);
        int total = config.stepsPerRound();
        int tail = Math.max(1, total / 10);
        double tailSum = 0;
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> params = student.parameters();
            for (Tensor p : params) {
                p.requiresGrad(true);
            }
            try (Optimizer opt = Optimizer.adam(params, config.learningRate(), 0.9, 0.999, 1e-8, 0)) {
                for (int s = 0; s < total; s++) {
                    opt.setLearningRate(config.learningRate() * (1.0 - (double) s / total));
                    double loss;
                    try (NativeScope step = new NativeScope()) {
                        Batch b = loader.next();
                        opt.zeroGrad();
                        loss = step(teacher, student, sc.predictionType(), grid, b, mix(config.seed(), studentSteps, s));
                        if (!Double.isFinite(loss)) {
                            throw new NonFiniteLossException("distillation loss is " + loss + " at step " + s
                                    + " of the round to " + studentSteps + " steps; lower the learning rate or set "
                                    + "a gradient clip norm", s);
                        }
                        if (config.gradientClipNorm() > 0) {
                            Gradients.clipGlobalNorm(params, config.gradientClipNorm());
                        }
                        opt.step();
                    }
                    if (s >= total - tail) {
                        tailSum += loss;
                    }
                    l.onStep(studentSteps, s + 1, loss);
                }
            }
        }
        student.train(false);
        return tailSum / tail;
    }

    /** The grid of a round: alpha-bar at the 2N teacher timesteps and after the last (clean data, alpha-bar 1). */
    static final class Grid {
        final long[] teacher;
        final double[] alphaBar;

        Grid(SchedulerConfig sc, int studentSteps) {
            this.teacher = Timesteps.of(TimestepSpacing.TRAILING, sc.numTrainTimesteps(), 2 * studentSteps, 0);
            double[] ab = sc.noiseSchedule().alphasCumprod();
            this.alphaBar = new double[teacher.length + 1];
            for (int j = 0; j < teacher.length; j++) {
                alphaBar[j] = ab[(int) teacher[j]];
            }
            alphaBar[teacher.length] = 1.0;
        }
    }

    /** One optimizer step's forward and backward (the caller steps the optimizer); returns the loss. */
    private double step(TrainableModel teacher, TrainableModel student, PredictionType type, Grid grid, Batch b,
                        long seed) {
        Device device = student.device();
        Tensor x = b.x0().to(device, DType.FLOAT32);
        Tensor labels = b.labels() == null || !student.isConditional() ? null : b.labels().to(device, DType.INT64);
        int batch = Math.toIntExact(x.size(0));
        int n = grid.teacher.length / 2;
        SplittableRandom rng = new SplittableRandom(seed);
        long[] t0 = new long[batch];
        long[] t1 = new long[batch];
        double[] a0 = new double[batch];
        double[] s0 = new double[batch];
        double[] a1 = new double[batch];
        double[] s1 = new double[batch];
        double[] a2 = new double[batch];
        double[] s2 = new double[batch];
        double[] cz2 = new double[batch];
        double[] cz = new double[batch];
        double[] w = new double[batch];
        for (int k = 0; k < batch; k++) {
            int i = rng.nextInt(n);
            t0[k] = grid.teacher[2 * i];
            t1[k] = grid.teacher[2 * i + 1];
            double ab0 = grid.alphaBar[2 * i];
            double ab1 = grid.alphaBar[2 * i + 1];
            double ab2 = grid.alphaBar[2 * i + 2];
            a0[k] = Math.sqrt(ab0);
            s0[k] = Math.sqrt(1 - ab0);
            a1[k] = Math.sqrt(ab1);
            s1[k] = Math.sqrt(1 - ab1);
            a2[k] = Math.sqrt(ab2);
            s2[k] = Math.sqrt(1 - ab2);
            double r = s2[k] / s0[k];
            double denom = a2[k] - r * a0[k];
            cz2[k] = 1 / denom;
            cz[k] = -r / denom;
            w[k] = config.weighting().weight(ab0 / (1 - ab0));
        }
        Tensor alpha0 = Parameterization.perExample(a0, x);
        Tensor sigma0 = Parameterization.perExample(s0, x);
        Tensor ts0 = timesteps(t0, student);
        Tensor z;
        Tensor target;
        try (Generator g = Generator.cpu(seed)) {
            Tensor eps = Tensor.randn(g, DType.FLOAT32, device, x.shape());
            z = alpha0.mul(x).add(sigma0.mul(eps));
        }
        try (InferenceGuard noGrad = Torch.noGrad()) {
            Tensor alpha1 = Parameterization.perExample(a1, x);
            Tensor sigma1 = Parameterization.perExample(s1, x);
            Tensor[] p0 = Parameterization.x0AndEpsilon(type, teacher.forward(z, ts0, labels), z, alpha0, sigma0);
            Tensor z1 = alpha1.mul(p0[0]).add(sigma1.mul(p0[1]));
            Tensor[] p1 = Parameterization.x0AndEpsilon(type, teacher.forward(z1, timesteps(t1, teacher), labels), z1,
                    alpha1, sigma1);
            Tensor z2 = Parameterization.perExample(a2, x).mul(p1[0]).add(Parameterization.perExample(s2, x).mul(p1[1]));
            target = Parameterization.perExample(cz2, x).mul(z2).add(Parameterization.perExample(cz, x).mul(z));
        }
        Tensor predicted = Parameterization.x0(type, student.forward(z, ts0, labels), z, alpha0, sigma0);
        Tensor weights = Tensor.fromFloats(toFloats(w), batch);
        Tensor loss = predicted.mseLossPerSample(target).mul(device.isCuda() ? weights.to(device) : weights).mean();
        loss.backward();
        return loss.item();
    }

    static Tensor timesteps(long[] ts, TrainableModel model) {
        Tensor t = Tensor.fromLongs(ts, ts.length);
        return model.timestepDType() != DType.INT64 || model.device().isCuda()
                ? t.to(model.device(), model.timestepDType()) : t;
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /** A 64-bit hash of (seed, round, step) (SplitMix64's finaliser). */
    static long mix(long seed, long round, long step) {
        long z = seed * 0x9E3779B97F4A7C15L + round * 0xBF58476D1CE4E5B9L + step * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
