package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.GuidedDenoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.model.nn.NetDenoiser;
import io.diffusion4j.model.nn.Networks;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import io.diffusion4j.training.data.Dataset;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Guidance distillation (Meng et al. 2023, "On Distillation of Guided Diffusion Models", stage one): a student that
 * takes the guidance scale {@code w} as an input learns to predict the classifier-free guided output of the teacher,
 * {@code uncond + w (cond - uncond)} (in the teacher's {@code prediction_type}), in one forward, so a guided sampling
 * step costs one model evaluation instead of two.
 *
 * <p>The student is a guidance-conditioned model ({@link TrainableModel#guidanceConditioned()}: a TorchScript forward
 * {@code (sample, timestep, class_labels, guidance_scale)}, or a Java-built UNet with
 * {@link io.diffusion4j.model.nn.Architecture#guidanceEmbedding()}), best initialised from the teacher's weights with
 * the {@code w} embedding at zero (test-models/make_guidance_student.py makes such a student for the built-in digits
 * model). A Java-built class-conditional UNet teacher needs no student folder: without one, the student is the
 * teacher plus a zero-initialised guidance embedding ({@link Networks#guidanceStudent}). Each step noises a batch of examples to uniform random timesteps, draws {@code w} uniformly in
 * [{@code minScale}, {@code maxScale}] per example, runs the frozen teacher once on the doubled batch (null class and
 * the example's class) and regresses the student onto the guided prediction. The result is a model folder with the
 * teacher's schedule as a {@code DDIMScheduler} with {@code num_inference_steps} = {@code sampleSteps}, and a
 * {@code distillation} record in {@code diffusion4j.json}. No mid-run checkpoints. Not thread-safe.
 */
public final class GuidanceDistillation {
    private static final Logger LOG = LoggerFactory.getLogger(GuidanceDistillation.class);

    /**
     * @param sampleSteps      the student's default DDIM steps
     * @param steps            optimizer steps
     * @param batchSize        examples per step
     * @param learningRate     Adam's learning rate, decayed linearly to 0
     * @param minScale         smallest guidance scale trained
     * @param maxScale         largest guidance scale trained
     * @param gradientClipNorm global gradient-norm clip, 0 = off
     * @param seed             seed of every random draw
     */
    public record Config(int sampleSteps, int steps, int batchSize, double learningRate, double minScale,
                         double maxScale, double gradientClipNorm, long seed) {
        public Config {
            if (sampleSteps < 1) {
                throw new IllegalArgumentException("steps-to must be >= 1, got " + sampleSteps);
            }
            if (steps < 1 || batchSize < 1) {
                throw new IllegalArgumentException("steps and batch size must be >= 1, got " + steps + " and "
                        + batchSize);
            }
            if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
                throw new IllegalArgumentException("learning rate must be a finite number > 0, got " + learningRate);
            }
            new GuidanceRange(minScale, maxScale);   // validates the range
            if (!(gradientClipNorm >= 0) || Double.isInfinite(gradientClipNorm)) {
                throw new IllegalArgumentException("gradient clip norm must be a finite number >= 0 (0 = off), got "
                        + gradientClipNorm);
            }
        }

        /** The scales trained, as a range. */
        public GuidanceRange range() {
            return new GuidanceRange(minScale, maxScale);
        }

        ObjectNode toJson() {
            ObjectNode n = StudentFolder.JSON.createObjectNode();
            n.put("method", "guidance");
            n.put("guidance_scale_min", minScale);
            n.put("guidance_scale_max", maxScale);
            n.put("steps", steps);
            n.put("batch_size", batchSize);
            n.put("learning_rate", learningRate);
            n.put("gradient_clip_norm", gradientClipNorm);
            n.put("seed", seed);
            return n;
        }
    }

    /** Progress callback: after optimizer step {@code step} (1-based). */
    public interface Listener {
        void onStep(long step, double loss);
    }

    private final Config config;

    public GuidanceDistillation(Config config) {
        if (config == null) {
            throw new IllegalArgumentException("a distillation config is required");
        }
        this.config = config;
    }

    /** The student's scheduler config: the teacher's schedule as a DDIMScheduler with its default step count. */
    public static SchedulerConfig studentScheduler(SchedulerConfig teacher, int sampleSteps) {
        return teacher.toBuilder().className(DdimScheduler.CLASS_NAME).putExtra("num_inference_steps", sampleSteps)
                .build();
    }

    /**
     * Distils the guided {@code teacher} into {@code student} (a guidance-conditioned model folder, e.g. the
     * teacher's network with a guidance-scale input) and writes the result to {@code out}.
     *
     * @param student the initial student; null for a Java-built UNet teacher: the teacher plus a zero-initialised
     *                guidance embedding, its new first layer seeded by the config's seed
     * @return the mean loss of the last 10% of steps
     * @throws IllegalArgumentException if the teacher is not class-conditional with a null class, the student takes
     *                                  no guidance scale (or is missing for a TorchScript teacher), or the data have no
     *                                  labels
     */
    public double run(ModelFolder teacher, ModelFolder student, Dataset data, Path out, Device device,
                      Listener listener) throws IOException {
        SchedulerConfig sc = teacher.schedulerConfig();
        if (sc == null) {
            throw new IllegalArgumentException(teacher.location() + " has no scheduler_config.json: not a denoiser");
        }
        if (teacher.spec() == null || !teacher.spec().isConditional() || teacher.spec().nullClassId() < 0) {
            throw new IllegalArgumentException(teacher.location() + " is not class-conditional with a null class "
                    + "(diffusion4j.json null_class_id): guidance distillation needs classifier-free guidance");
        }
        if (data.numClasses() <= 0) {
            throw new IllegalArgumentException("guidance distillation needs class labels with the data (--labels)");
        }
        long t0 = System.nanoTime();
        double loss;
        try (TrainableModel t = teacher.loadTrainable(device);
             TrainableModel s = student != null ? student.loadTrainable(device) : studentOf(t, teacher);
             BatchLoader loader = new BatchLoader(data, config.batchSize(), config.seed())) {
            if (!s.guidanceConditioned()) {
                throw new IllegalArgumentException(student.location() + " takes no guidance scale: a guidance student's "
                        + "forward is (sample, timestep, class_labels, guidance_scale)");
            }
            loss = train(t, s, sc, teacher.spec().nullClassId(), loader, listener);
            double seconds = (System.nanoTime() - t0) / 1e9;
            ObjectNode record = config.toJson();
            record.put("teacher", teacher.location());
            record.put("student_init", student != null ? student.location()
                    : teacher.location() + " plus a zero-initialised guidance embedding");
            record.put("final_loss", loss);
            record.put("seconds", Math.round(seconds * 10) / 10.0);
            record.put("trainer", StudentFolder.trainer());
            ObjectNode spec = student != null ? StudentFolder.specJson(student) : null;
            if (spec == null) {
                spec = StudentFolder.specJson(teacher);
                spec.putArray("forward_signature").add("sample").add("timestep").add("class_labels")
                        .add("guidance_scale");
            }
            String prefix = "Guidance-distilled student of " + teacher.location();
            String d = spec.path("description").asText("");
            if (!d.startsWith(prefix)) {   // the init's own description says "not yet distilled"
                spec.put("description", prefix + " (one forward per guided step, trained for w in ["
                        + config.minScale() + ", " + config.maxScale() + "])." + (d.isEmpty() ? ""
                        : " Initial student: " + d));
            }
            String name = (StudentFolder.specJson(teacher).path("name").asText("model")) + "-guidance";
            StudentFolder.write(out, s, studentScheduler(sc, config.sampleSteps()), spec, name, "distillation", record,
                    null, null);
            LOG.info("guidance distillation: {} steps, final loss {}, {} s", config.steps(), loss, seconds);
        }
        return loss;
    }

    /** The automatic student of a Java-built UNet teacher (see {@link #run}). */
    private TrainableModel studentOf(TrainableModel teacher, ModelFolder folder) {
        if (!(teacher instanceof NetDenoiser net)) {
            throw new IllegalArgumentException(folder.location() + " is not a Java-built unet: give the initial "
                    + "student, a model whose forward takes (sample, timestep, class_labels, guidance_scale), e.g. "
                    + "test-models/make_guidance_student.py's");
        }
        return Networks.guidanceStudent(net, config.seed());
    }

    /** Trains {@code student} in place against the guided {@code teacher}. */
    double train(TrainableModel teacher, TrainableModel student, SchedulerConfig sc, int nullClass, BatchLoader loader,
                 Listener listener) throws IOException {
        teacher.train(false);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : teacher.parameters()) {
                p.requiresGrad(false);
            }
        }
        double[] ab = sc.noiseSchedule().alphasCumprod();
        return StudentTraining.run("guidance distillation", student, loader, config.steps(), config.learningRate(),
                config.gradientClipNorm(), config.seed(), 0,
                (b, s, seed) -> step(teacher, student, ab, nullClass, b, seed),
                listener == null ? null : (s, loss) -> listener.onStep(s + 1, loss));
    }

    private double step(TrainableModel teacher, TrainableModel student, double[] ab, int nullClass, Batch b,
                        long seed) {
        Device device = student.device();
        Tensor x = b.x0().to(device, DType.FLOAT32);
        if (b.labels() == null) {
            throw new IllegalArgumentException("guidance distillation needs class labels with the data");
        }
        Tensor labels = b.labels().to(device, DType.INT64);
        int batch = Math.toIntExact(x.size(0));
        SplittableRandom rng = new SplittableRandom(seed);
        long[] t = new long[batch];
        double[] a = new double[batch];
        double[] sg = new double[batch];
        double[] w = new double[batch];
        GuidanceRange range = config.range();
        for (int i = 0; i < batch; i++) {
            t[i] = rng.nextInt(ab.length);
            a[i] = Math.sqrt(ab[(int) t[i]]);
            sg[i] = Math.sqrt(1 - ab[(int) t[i]]);
            w[i] = range.draw(rng);
        }
        Tensor z;
        try (Generator g = Generator.cpu(seed)) {
            z = Parameterization.perExample(a, x).mul(x).add(Parameterization.perExample(sg, x)
                    .mul(Tensor.randn(g, DType.FLOAT32, device, x.shape())));
        }
        Tensor ts = ProgressiveDistillation.timesteps(t, student);
        Tensor scales = Tensor.fromDoubles(w, batch).to(device, DType.FLOAT32);
        Tensor target;
        try (InferenceGuard noGrad = Torch.noGrad()) {
            target = GuidedDenoiser.combineHalves(GuidedTeacher.doubledForward(teacher, nullClass, z,
                    ProgressiveDistillation.timesteps(t, teacher), labels), Parameterization.perExample(w, x));
        }
        Tensor loss = Tensor.mseLoss(student.forward(z, ts, labels, scales), target);
        loss.backward();
        return loss.item();
    }
}
