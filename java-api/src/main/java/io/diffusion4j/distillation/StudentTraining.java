package io.diffusion4j.distillation;

import io.diffusion4j.bindings.Gradients;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Optimizer;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.training.NonFiniteLossException;
import io.diffusion4j.training.PlainGraphs;
import io.diffusion4j.training.data.Batch;
import io.diffusion4j.training.data.BatchLoader;
import java.io.IOException;
import java.util.List;

/**
 * The optimizer loop the distillation methods share: Adam over the student's parameters with the learning rate
 * decayed linearly to 0, one {@link NativeScope} per step, a finite-loss check, an optional global gradient-norm clip,
 * and the mean loss of the last 10% of steps as the result. Each method supplies the loss of one batch
 * ({@link Loss}: it calls {@code backward()} itself) and, optionally, what follows each optimizer step.
 */
final class StudentTraining {
    /** The loss of one batch, after {@code backward()}; {@code seed} is the step's own seed. */
    @FunctionalInterface
    interface Loss {
        double backward(Batch batch, int step, long seed) throws IOException;
    }

    /** Runs after each optimizer step (an EMA update, a checkpoint), with the step's loss. */
    @FunctionalInterface
    interface AfterStep {
        void after(int step, double loss) throws IOException;
    }

    private StudentTraining() {
    }

    /**
     * Trains {@code student} for {@code steps} steps.
     *
     * @param what        the method's name, for the non-finite-loss message
     * @param seedStream  the stream of per-step seeds ({@code mix(seed, seedStream, step)})
     * @return the mean loss of the last 10% of steps
     */
    static double run(String what, TrainableModel student, BatchLoader loader, int steps, double learningRate,
                      double gradientClipNorm, long seed, long seedStream, Loss loss, AfterStep after)
            throws IOException {
        boolean turnedOff = PlainGraphs.off(PlainGraphs.wanted(student));
        try {
            return train(what, student, loader, steps, learningRate, gradientClipNorm, seed, seedStream, loss, after);
        } finally {
            PlainGraphs.restore(turnedOff);
        }
    }

    private static double train(String what, TrainableModel student, BatchLoader loader, int steps,
                                double learningRate, double gradientClipNorm, long seed, long seedStream, Loss loss,
                                AfterStep after) throws IOException {
        student.train(true);
        int tail = Math.max(1, steps / 10);
        double tailSum = 0;
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> params = student.parameters();
            for (Tensor p : params) {
                p.requiresGrad(true);
            }
            try (Optimizer opt = Optimizer.adam(params, learningRate, 0.9, 0.999, 1e-8, 0)) {
                for (int s = 0; s < steps; s++) {
                    opt.setLearningRate(learningRate * (1.0 - (double) s / steps));
                    double value;
                    try (NativeScope step = new NativeScope()) {
                        Batch b = loader.next();
                        opt.zeroGrad();
                        value = loss.backward(b, s, ProgressiveDistillation.mix(seed, seedStream, s));
                        if (!Double.isFinite(value)) {
                            throw new NonFiniteLossException(what + " loss is " + value + " at step " + s
                                    + "; lower the learning rate or set a gradient clip norm", s);
                        }
                        if (gradientClipNorm > 0) {
                            Gradients.clipGlobalNorm(params, gradientClipNorm);
                        }
                        opt.step();
                    }
                    if (s >= steps - tail) {
                        tailSum += value;
                    }
                    if (after != null) {
                        after.after(s, value);
                    }
                }
            }
        }
        student.train(false);
        return tailSum / tail;
    }
}
