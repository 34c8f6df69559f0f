package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.TimestepSpacing;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.Dataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
 * (sigma_t''/sigma_t) alpha_t)}. The loss is the squared error of the student's x0 estimate weighted by
 * {@link LossWeighting} (truncated SNR by default).
 *
 * <p>Parameterisation: each round's teacher output is read with the teacher's own {@code prediction_type} (round 1:
 * the original teacher's scheduler config; later rounds: the previous student's), the student's output with
 * {@link Config#studentPrediction()} (v-prediction by default: an epsilon student's x0 estimate at {@code t = T - 1}
 * divides its error by {@code alpha_t}, 0.0064 for a linear schedule, so the paper trains v or x0 students). The
 * student starts as a copy of the teacher's network and learns its new output meaning in the first round; its folder's
 * {@code scheduler_config.json} records the student's {@code prediction_type}.
 *
 * <p>Guidance (Meng et al. 2023, stage two): with {@link Config#guidanceScale()} {@code w > 0} the first round's
 * teacher is the classifier-free guided teacher {@code uncond + w (cond - uncond)} (two forwards, the teacher's null
 * class), the student learns it in one conditional forward, and later rounds distil the previous student as usual.
 * The students' {@code diffusion4j.json} records {@code distilled_guidance_scale}, so {@code sample} does not guide
 * them again. With {@link Config#guidanceRange()} instead, the teacher is guidance-conditioned (a guidance-distilled
 * student: {@link TrainableModel#guidanceConditioned()}) and so are the students: every step draws each example's
 * {@code w} uniformly in the range and feeds it to both, so the students keep their guidance-scale input and sample
 * with any {@code w} in one forward per step ({@link RoundTeacher}).
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
     * @param studentPrediction how the students' outputs are read (and recorded in their scheduler configs)
     * @param guidanceScale     classifier-free guidance scale distilled into the students in the first round (a
     *                          class-conditional teacher with a null class); 0 = none
     * @param guidanceRange     the guidance scales a guidance-conditioned teacher and its students are run at, one
     *                          per example and step; null = none (exclusive with {@code guidanceScale})
     */
    public record Config(int teacherSteps, int targetSteps, int stepsPerRound, int batchSize, double learningRate,
                         LossWeighting weighting, double gradientClipNorm, long seed,
                         PredictionType studentPrediction, double guidanceScale, GuidanceRange guidanceRange) {
        /** The students' prediction type when none is given: see the class comment. */
        public static final PredictionType DEFAULT_STUDENT_PREDICTION = PredictionType.V_PREDICTION;

        /** Without guidance, with students of {@link #DEFAULT_STUDENT_PREDICTION}. */
        public Config(int teacherSteps, int targetSteps, int stepsPerRound, int batchSize, double learningRate,
                      LossWeighting weighting, double gradientClipNorm, long seed) {
            this(teacherSteps, targetSteps, stepsPerRound, batchSize, learningRate, weighting, gradientClipNorm, seed,
                    DEFAULT_STUDENT_PREDICTION, 0, null);
        }

        /** Without a guidance range. */
        public Config(int teacherSteps, int targetSteps, int stepsPerRound, int batchSize, double learningRate,
                      LossWeighting weighting, double gradientClipNorm, long seed, PredictionType studentPrediction,
                      double guidanceScale) {
            this(teacherSteps, targetSteps, stepsPerRound, batchSize, learningRate, weighting, gradientClipNorm, seed,
                    studentPrediction, guidanceScale, null);
        }

        public Config {
            if (studentPrediction == null) {
                throw new IllegalArgumentException("a student prediction type is required (epsilon, v_prediction or "
                        + "sample)");
            }
            if (!(guidanceScale >= 0) || Double.isInfinite(guidanceScale)) {
                throw new IllegalArgumentException("guidance scale must be a finite number >= 0 (0 = none), got "
                        + guidanceScale);
            }
            if (guidanceScale > 0 && guidanceRange != null) {
                throw new IllegalArgumentException("a fixed guidance scale (" + guidanceScale + ") and a guidance range "
                        + guidanceRange + " exclude each other: a fixed scale is distilled into the students, a range "
                        + "keeps their guidance-scale input");
            }
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

        public Config withStudentPrediction(PredictionType type) {
            return new Config(teacherSteps, targetSteps, stepsPerRound, batchSize, learningRate, weighting,
                    gradientClipNorm, seed, type, guidanceScale, guidanceRange);
        }

        public Config withGuidanceScale(double scale) {
            return new Config(teacherSteps, targetSteps, stepsPerRound, batchSize, learningRate, weighting,
                    gradientClipNorm, seed, studentPrediction, scale, guidanceRange);
        }

        /** With guidance-conditioned rounds at scales in {@code range} (null = none). */
        public Config withGuidanceRange(GuidanceRange range) {
            return new Config(teacherSteps, targetSteps, stepsPerRound, batchSize, learningRate, weighting,
                    gradientClipNorm, seed, studentPrediction, guidanceScale, range);
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
            n.put("student_prediction", studentPrediction.configName());
            n.put("guidance_scale", guidanceScale);
            if (guidanceRange != null) {
                n.put("guidance_scale_min", guidanceRange.min());
                n.put("guidance_scale_max", guidanceRange.max());
            }
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
        return studentScheduler(teacher, steps, teacher.predictionType());
    }

    /** As {@link #studentScheduler(SchedulerConfig, int)}, for a student whose output is a {@code type}. */
    public static SchedulerConfig studentScheduler(SchedulerConfig teacher, int steps, PredictionType type) {
        return teacher.toBuilder().className(DdimScheduler.CLASS_NAME).timestepSpacing(TimestepSpacing.TRAILING)
                .stepsOffset(0).setAlphaToOne(true).predictionType(type).putExtra("num_inference_steps", steps)
                .build();
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
        ModelSpec spec = teacher.spec();
        int nullClass = config.guidanceScale() > 0
                ? GuidedTeacher.checkDistillable(teacher, data, config.guidanceScale(), sourceSpec)
                : spec == null ? -1 : spec.nullClassId();
        if (config.guidanceRange() != null) {
            checkConditioned(teacher, data, device);
        }
        ProgressiveRecords records = new ProgressiveRecords(config);
        if (sourceSpec != null) {
            records.describe(sourceSpec, teacher.location());
        }
        Files.createDirectories(out);
        Path metrics = out.resolve(METRICS_FILE);
        List<Round> rounds = new ArrayList<>();
        Path teacherDir = null;
        int teacherSteps = config.teacherSteps();
        for (int n : config.rounds()) {
            Path dir = out.resolve("rounds").resolve(String.format("steps-%04d", n));
            Round done = records.finished(dir, teacherSteps, n);
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
                PredictionType teacherType = teacherDir == null ? sc.predictionType()
                        : SchedulerConfig.read(teacherDir.resolve(ModelFolder.SCHEDULER_FILE)).predictionType();
                loss = new ProgressiveRound(config, RoundTeacher.of(config, teacherDir == null, t, teacherType,
                        nullClass), s, config.studentPrediction(), sc, n).train(loader, l);
                double seconds = (System.nanoTime() - t0) / 1e9;
                Round r = new Round(teacherSteps, n, config.stepsPerRound(), loss, seconds, dir);
                ObjectNode record = config.toJson();
                record.put("teacher", teacherDir == null ? teacher.location() : teacherDir.toString());
                record.put("teacher_steps", teacherSteps);
                record.put("student_steps", n);
                record.put("final_loss", loss);
                record.put("seconds", Math.round(seconds * 10) / 10.0);
                record.put("trainer", StudentFolder.trainer());
                StudentFolder.write(dir, s, studentScheduler(sc, n, config.studentPrediction()), sourceSpec,
                        (sourceSpec != null ? sourceSpec.path("name").asText("model") : "model") + "-" + n + "step",
                        "distillation", record, StudentFolder.ROUND_FILE, StudentFolder.JSON.writeValueAsString(record));
                ProgressiveRecords.appendMetrics(metrics, r);
                rounds.add(r);
                l.onRound(r);
                LOG.info("progressive distillation: {} -> {} steps, final loss {}, {} s", teacherSteps, n, loss,
                        seconds);
            }
            teacherDir = dir;
            teacherSteps = n;
        }
        StudentFolder.copyModel(teacherDir, out);
        records.writeRunRecord(out, teacher.location(), rounds);
        return rounds;
    }

    /** A guidance range needs a guidance-conditioned, class-conditional teacher and labelled data. */
    private static void checkConditioned(ModelFolder teacher, Dataset data, Device device) throws IOException {
        if (teacher.spec() == null || !teacher.spec().isConditional()) {
            throw new IllegalArgumentException(teacher.location() + " is not class-conditional: a guidance range needs "
                    + "a guidance-conditioned teacher (forward (sample, timestep, class_labels, guidance_scale))");
        }
        if (data.numClasses() <= 0) {
            throw new IllegalArgumentException("a guidance range needs class labels with the data (--labels)");
        }
        try (TrainableModel t = teacher.loadTrainable(device)) {
            if (!t.guidanceConditioned()) {
                throw new IllegalArgumentException(teacher.location() + " takes no guidance scale: a guidance range "
                        + "needs a guidance-conditioned teacher (forward (sample, timestep, class_labels, "
                        + "guidance_scale)), e.g. a guidance-distilled student; for a plain teacher use --guidance W");
            }
        }
    }

    private void checkFits(TrainableModel teacher, Dataset data) {
        if (teacher.isConditional() && data.numClasses() <= 0) {
            throw new IllegalArgumentException(teacher.source() + " is class-conditional: the data needs labels");
        }
    }

    /**
     * One unguided round (as the first round of a run without a guidance scale): trains {@code student} (in place) to
     * match two DDIM steps of {@code teacher} (read with {@code sc}'s prediction type) in one, the student's output
     * read as {@link Config#studentPrediction()}, on the grid of {@code studentSteps} trailing timesteps.
     *
     * @return the mean loss of the round's last 10% of steps
     */
    public double distilRound(TrainableModel teacher, TrainableModel student, SchedulerConfig sc, int studentSteps,
                              BatchLoader loader, Listener listener) throws IOException {
        return new ProgressiveRound(config, RoundTeacher.plain(teacher, sc.predictionType()), student,
                config.studentPrediction(), sc, studentSteps).train(loader, listener != null ? listener
                : new Listener() { });
    }

    static Tensor timesteps(long[] ts, TrainableModel model) {
        Tensor t = Tensor.fromLongs(ts, ts.length);
        return model.timestepDType() != DType.INT64 || model.device().isCuda()
                ? t.to(model.device(), model.timestepDType()) : t;
    }

    /** A 64-bit hash of (seed, round, step) (SplitMix64's finaliser). */
    static long mix(long seed, long round, long step) {
        long z = seed * 0x9E3779B97F4A7C15L + round * 0xBF58476D1CE4E5B9L + step * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
