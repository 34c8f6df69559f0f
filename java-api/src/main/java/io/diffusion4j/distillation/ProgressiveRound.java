package io.diffusion4j.distillation;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
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
 * One round of progressive distillation: the student learns to take in one DDIM step what the round's teacher takes
 * in two, on the grid of {@code studentSteps} trailing timesteps (see {@link ProgressiveDistillation}). The teacher's
 * output is read with its own prediction type (and, in a guided round, is the classifier-free guided prediction at
 * one scale); the student's output with the student's type.
 */
final class ProgressiveRound {
    /**
     * The teacher of a round.
     *
     * @param model         the frozen network
     * @param type          how its output is read
     * @param guidanceScale classifier-free guidance scale applied to it, 0 = none (its plain forward)
     * @param nullClassId   its null class (used when guided)
     */
    record Teacher(TrainableModel model, PredictionType type, double guidanceScale, int nullClassId) {
        Teacher {
            if (model == null || type == null) {
                throw new IllegalArgumentException("a round's teacher needs a model and a prediction type");
            }
            if (guidanceScale > 0 && nullClassId < 0) {
                throw new IllegalArgumentException(model.source() + " has no null class (diffusion4j.json "
                        + "null_class_id): it cannot be guided");
            }
        }

        Tensor predict(Tensor z, Tensor ts, Tensor labels) {
            return guidanceScale > 0 ? GuidedTeacher.predict(model, nullClassId, guidanceScale, z, ts, labels)
                    : model.forward(z, ts, labels);
        }
    }

    private final ProgressiveDistillation.Config config;
    private final Teacher teacher;
    private final TrainableModel student;
    private final PredictionType studentType;
    private final Grid grid;

    ProgressiveRound(ProgressiveDistillation.Config config, Teacher teacher, TrainableModel student,
                     PredictionType studentType, SchedulerConfig sc, int studentSteps) {
        this.config = config;
        this.teacher = teacher;
        this.student = student;
        this.studentType = studentType;
        this.grid = new Grid(sc, studentSteps);
    }

    /** Trains the student in place; returns the mean loss of the round's last 10% of steps. */
    double train(BatchLoader loader, ProgressiveDistillation.Listener listener) throws IOException {
        teacher.model().train(false);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : teacher.model().parameters()) {
                p.requiresGrad(false);
            }
        }
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
        int n = grid.studentSteps();
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
        Tensor ts0 = ProgressiveDistillation.timesteps(t0, student);
        Tensor z;
        Tensor target;
        try (Generator g = Generator.cpu(seed)) {
            Tensor eps = Tensor.randn(g, DType.FLOAT32, device, x.shape());
            z = alpha0.mul(x).add(sigma0.mul(eps));
        }
        PredictionType tt = teacher.type();
        try (InferenceGuard noGrad = Torch.noGrad()) {
            Tensor alpha1 = Parameterization.perExample(a1, x);
            Tensor sigma1 = Parameterization.perExample(s1, x);
            Tensor[] p0 = Parameterization.x0AndEpsilon(tt, teacher.predict(z,
                    ProgressiveDistillation.timesteps(t0, teacher.model()), labels), z, alpha0, sigma0);
            Tensor z1 = alpha1.mul(p0[0]).add(sigma1.mul(p0[1]));
            Tensor[] p1 = Parameterization.x0AndEpsilon(tt, teacher.predict(z1,
                    ProgressiveDistillation.timesteps(t1, teacher.model()), labels), z1, alpha1, sigma1);
            Tensor z2 = Parameterization.perExample(a2, x).mul(p1[0]).add(Parameterization.perExample(s2, x).mul(p1[1]));
            target = Parameterization.perExample(cz2, x).mul(z2).add(Parameterization.perExample(cz, x).mul(z));
        }
        Tensor predicted = Parameterization.x0(studentType, student.forward(z, ts0, labels), z, alpha0, sigma0);
        Tensor weights = Tensor.fromFloats(toFloats(w), batch);
        Tensor loss = predicted.mseLossPerSample(target).mul(device.isCuda() ? weights.to(device) : weights).mean();
        loss.backward();
        return loss.item();
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
