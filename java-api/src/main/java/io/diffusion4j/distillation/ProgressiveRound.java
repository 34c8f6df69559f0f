package io.diffusion4j.distillation;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.TimestepSpacing;
import io.diffusion4j.scheduler.Timesteps;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import java.io.IOException;
import java.util.SplittableRandom;

/**
 * One round of progressive distillation: the student learns to take in one DDIM step what the round's teacher
 * ({@link RoundTeacher}: plain, guided at one scale, or guidance-conditioned) takes in two, on the grid of
 * {@code studentSteps} trailing timesteps (see {@link ProgressiveDistillation}). The student's output is read with the
 * student's type; with a {@link GuidanceRange} each example's {@code w} is drawn in it and fed to teacher and student
 * alike.
 */
final class ProgressiveRound {
    private final ProgressiveDistillation.Config config;
    private final RoundTeacher teacher;
    private final TrainableModel student;
    private final PredictionType studentType;
    private final Grid grid;

    ProgressiveRound(ProgressiveDistillation.Config config, RoundTeacher teacher, TrainableModel student,
                     PredictionType studentType, SchedulerConfig sc, int studentSteps) {
        if (teacher.perExampleScale() && (config.guidanceRange() == null || !student.guidanceConditioned())) {
            throw new IllegalArgumentException("a guidance-conditioned round needs a guidance range and a student "
                    + "that takes a guidance scale, got " + config.guidanceRange() + " and " + student.source());
        }
        this.config = config;
        this.teacher = teacher;
        this.student = student;
        this.studentType = studentType;
        this.grid = new Grid(sc, studentSteps);
    }

    /** Trains the student in place; returns the mean loss of the round's last 10% of steps. */
    double train(BatchLoader loader, ProgressiveDistillation.Listener listener) throws IOException {
        teacher.freeze();
        int n = grid.studentSteps();
        return StudentTraining.run("distillation (round to " + n + " steps)", student, loader,
                config.stepsPerRound(), config.learningRate(), config.gradientClipNorm(), config.seed(), n,
                (b, s, seed) -> step(b, seed), (s, loss) -> listener.onStep(n, s + 1, loss));
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

        int studentSteps() {
            return teacher.length / 2;
        }
    }

    /** One optimizer step's forward and backward (the caller steps the optimizer); returns the loss. */
    private double step(Batch b, long seed) {
        Device device = student.device();
        Tensor x = b.x0().to(device, DType.FLOAT32);
        Tensor labels = b.labels() == null || !student.isConditional() ? null : b.labels().to(device, DType.INT64);
        int batch = Math.toIntExact(x.size(0));
        SplittableRandom rng = new SplittableRandom(seed);
        RoundTeacher.Steps steps = RoundTeacher.Steps.draw(grid, rng, batch);
        float[] w = new float[batch];
        double[] a0 = new double[batch];
        double[] s0 = new double[batch];
        for (int k = 0; k < batch; k++) {
            double ab0 = steps.alphaBar0()[k];
            a0[k] = Math.sqrt(ab0);
            s0[k] = Math.sqrt(1 - ab0);
            w[k] = (float) config.weighting().weight(ab0 / (1 - ab0));
        }
        Tensor scales = null;
        if (teacher.perExampleScale()) {   // drawn after the steps, so unguided runs keep their random stream
            double[] g = new double[batch];
            for (int k = 0; k < batch; k++) {
                g[k] = config.guidanceRange().draw(rng);
            }
            scales = Tensor.fromDoubles(g, batch).to(device, DType.FLOAT32);
        }
        Tensor alpha0 = Parameterization.perExample(a0, x);
        Tensor sigma0 = Parameterization.perExample(s0, x);
        Tensor z;
        try (Generator g = Generator.cpu(seed)) {
            Tensor eps = Tensor.randn(g, DType.FLOAT32, device, x.shape());
            z = alpha0.mul(x).add(sigma0.mul(eps));
        }
        Tensor target = teacher.target(steps, z, labels, scales);
        Tensor ts0 = ProgressiveDistillation.timesteps(steps.t0(), student);
        Tensor out = scales != null ? student.forward(z, ts0, labels, scales) : student.forward(z, ts0, labels);
        Tensor predicted = Parameterization.x0(studentType, out, z, alpha0, sigma0);
        Tensor weights = Tensor.fromFloats(w, batch);
        Tensor loss = predicted.mseLossPerSample(target).mul(device.isCuda() ? weights.to(device) : weights).mean();
        loss.backward();
        return loss.item();
    }
}
