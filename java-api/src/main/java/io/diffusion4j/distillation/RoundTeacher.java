package io.diffusion4j.distillation;

import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.PredictionType;
import java.util.SplittableRandom;

/**
 * The frozen teacher of a progressive-distillation round and the student's target it gives (Salimans &amp; Ho 2022,
 * Algorithm 2): from {@code z_t}, two deterministic DDIM steps {@code t -> t' -> t''} of the teacher, and the
 * {@code x~} that one DDIM step {@code t -> t''} would need to land on the teacher's {@code z_t''}:
 * {@code x~ = (z_t'' - (sigma_t''/sigma_t) z_t) / (alpha_t'' - (sigma_t''/sigma_t) alpha_t)}. The teacher's output
 * is read with its own prediction type, and is one of
 * <ul>
 *   <li>its plain forward (an unguided run; the later rounds of a fixed-scale run);</li>
 *   <li>the classifier-free guided {@code uncond + w (cond - uncond)} at one fixed scale (two forwards: the first
 *   round of a run with a guidance scale);</li>
 *   <li>its guidance-conditioned forward {@code (sample, timestep, class_labels, guidance_scale)} with each example's
 *   own {@code w} (every round of a run with a {@link GuidanceRange}, Meng et al. 2023 stage two: the student gets
 *   the same {@code w}).</li>
 * </ul>
 */
final class RoundTeacher {
    private final TrainableModel model;
    private final PredictionType type;
    private final double guidanceScale;
    private final int nullClassId;
    private final boolean perExampleScale;

    private RoundTeacher(TrainableModel model, PredictionType type, double guidanceScale, int nullClassId,
                         boolean perExampleScale) {
        if (model == null || type == null) {
            throw new IllegalArgumentException("a round's teacher needs a model and a prediction type");
        }
        this.model = model;
        this.type = type;
        this.guidanceScale = guidanceScale;
        this.nullClassId = nullClassId;
        this.perExampleScale = perExampleScale;
    }

    /** The teacher's own forward. */
    static RoundTeacher plain(TrainableModel model, PredictionType type) {
        return new RoundTeacher(model, type, 0, -1, false);
    }

    /** Classifier-free guidance at {@code scale} around a class-conditional model with null class {@code nullClassId}. */
    static RoundTeacher guided(TrainableModel model, PredictionType type, double scale, int nullClassId) {
        if (!(scale > 0)) {
            throw new IllegalArgumentException("a guided teacher needs a guidance scale > 0, got " + scale);
        }
        if (nullClassId < 0) {
            throw new IllegalArgumentException(model.source() + " has no null class (diffusion4j.json null_class_id): "
                    + "it cannot be guided");
        }
        return new RoundTeacher(model, type, scale, nullClassId, false);
    }

    /** A guidance-conditioned model run at each example's own guidance scale. */
    static RoundTeacher conditioned(TrainableModel model, PredictionType type) {
        if (!model.guidanceConditioned()) {
            throw new IllegalArgumentException(model.source() + " takes no guidance scale: a guidance range needs a "
                    + "guidance-conditioned teacher (forward (sample, timestep, class_labels, guidance_scale))");
        }
        return new RoundTeacher(model, type, 0, -1, true);
    }

    /**
     * The teacher of a round of {@code config}: guidance-conditioned in every round of a run with a guidance range,
     * guided at the fixed scale in the first round of a run with one, plain otherwise.
     */
    static RoundTeacher of(ProgressiveDistillation.Config config, boolean firstRound, TrainableModel model,
                           PredictionType type, int nullClassId) {
        if (config.guidanceRange() != null) {
            return conditioned(model, type);
        }
        return firstRound && config.guidanceScale() > 0 ? guided(model, type, config.guidanceScale(), nullClassId)
                : plain(model, type);
    }

    TrainableModel model() {
        return model;
    }

    /** Whether the round feeds each example's guidance scale to the teacher and the student. */
    boolean perExampleScale() {
        return perExampleScale;
    }

    /** Eval mode, no gradients into the teacher's parameters. */
    void freeze() {
        model.train(false);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : model.parameters()) {
                p.requiresGrad(false);
            }
        }
    }

    /** The teacher's output at {@code z}; {@code scales} [B] float32 when {@link #perExampleScale()}. */
    Tensor predict(Tensor z, Tensor ts, Tensor labels, Tensor scales) {
        if (perExampleScale) {
            return model.forward(z, ts, labels, scales);
        }
        return guidanceScale > 0 ? GuidedTeacher.predict(model, nullClassId, guidanceScale, z, ts, labels)
                : model.forward(z, ts, labels);
    }

    /**
     * Per-example positions on a round's grid: the student's step {@code t0 -> t''} and the teacher's midpoint
     * {@code t1}, with alpha-bar at all three.
     */
    record Steps(long[] t0, long[] t1, double[] alphaBar0, double[] alphaBar1, double[] alphaBar2) {
        /** One student step per example, uniform over the round's {@code studentSteps} steps. */
        static Steps draw(ProgressiveRound.Grid grid, SplittableRandom rng, int batch) {
            int n = grid.studentSteps();
            long[] t0 = new long[batch];
            long[] t1 = new long[batch];
            double[] ab0 = new double[batch];
            double[] ab1 = new double[batch];
            double[] ab2 = new double[batch];
            for (int k = 0; k < batch; k++) {
                int i = rng.nextInt(n);
                t0[k] = grid.teacher[2 * i];
                t1[k] = grid.teacher[2 * i + 1];
                ab0[k] = grid.alphaBar[2 * i];
                ab1[k] = grid.alphaBar[2 * i + 1];
                ab2[k] = grid.alphaBar[2 * i + 2];
            }
            return new Steps(t0, t1, ab0, ab1, ab2);
        }
    }

    /**
     * The student's x0 target for {@code z} (at {@code steps.t0}), under no-grad.
     *
     * @param scales [B] float32 guidance scales when {@link #perExampleScale()}, else null
     */
    Tensor target(Steps steps, Tensor z, Tensor labels, Tensor scales) {
        int batch = steps.t0().length;
        double[] a0 = new double[batch];
        double[] s0 = new double[batch];
        double[] a1 = new double[batch];
        double[] s1 = new double[batch];
        double[] a2 = new double[batch];
        double[] s2 = new double[batch];
        double[] cz2 = new double[batch];
        double[] cz = new double[batch];
        for (int k = 0; k < batch; k++) {
            a0[k] = Math.sqrt(steps.alphaBar0()[k]);
            s0[k] = Math.sqrt(1 - steps.alphaBar0()[k]);
            a1[k] = Math.sqrt(steps.alphaBar1()[k]);
            s1[k] = Math.sqrt(1 - steps.alphaBar1()[k]);
            a2[k] = Math.sqrt(steps.alphaBar2()[k]);
            s2[k] = Math.sqrt(1 - steps.alphaBar2()[k]);
            double r = s2[k] / s0[k];
            double denom = a2[k] - r * a0[k];
            cz2[k] = 1 / denom;
            cz[k] = -r / denom;
        }
        try (InferenceGuard noGrad = Torch.noGrad()) {
            Tensor alpha0 = Parameterization.perExample(a0, z);
            Tensor sigma0 = Parameterization.perExample(s0, z);
            Tensor alpha1 = Parameterization.perExample(a1, z);
            Tensor sigma1 = Parameterization.perExample(s1, z);
            Tensor[] p0 = Parameterization.x0AndEpsilon(type, predict(z,
                    ProgressiveDistillation.timesteps(steps.t0(), model), labels, scales), z, alpha0, sigma0);
            Tensor z1 = alpha1.mul(p0[0]).add(sigma1.mul(p0[1]));
            Tensor[] p1 = Parameterization.x0AndEpsilon(type, predict(z1,
                    ProgressiveDistillation.timesteps(steps.t1(), model), labels, scales), z1, alpha1, sigma1);
            Tensor z2 = Parameterization.perExample(a2, z).mul(p1[0]).add(Parameterization.perExample(s2, z)
                    .mul(p1[1]));
            return Parameterization.perExample(cz2, z).mul(z2).add(Parameterization.perExample(cz, z).mul(z));
        }
    }
}
