package io.diffusion4j.evaluation;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.ModelFolder;
import java.io.IOException;
import java.util.Arrays;

/**
 * Quality of generated 8x8 digits as the built-in {@code digits-classifier} sees them: the classifier's accuracy on
 * the requested labels, and the "digits FD", the {@link FrechetDistance} between the samples' and all 1,797 real
 * sklearn digits' penultimate features (the 128 activations after fc 128 + ReLU, the classifier's exported
 * {@code features} method).
 *
 * <p>Samples are judged as the images they become: clamped to the models' value range [-1, 1] (as writing a PNG
 * does, and as FID judges images, not raw network outputs), the range of the real digits (x/16*2-1, the models'
 * training data). Clamping matters for few-step samplers that overshoot: guided DDIM-2 puts about half its pixels
 * outside [-1, 1] (mostly background below -1, invisible in the image), and unclamped its FD was 1441 against 156
 * clamped on 200 digits.
 *
 * <p>Needs the diffusion4j-test-models jar (the classifier and the real digits) on the classpath. The real digits'
 * statistics are computed once, on {@link #load}. Calls may come from several threads.
 */
public final class DigitsQuality implements AutoCloseable {
    /** The built-in classifier whose features the digits FD uses. */
    public static final String CLASSIFIER = "digits-classifier";
    /** All 1,797 sklearn digits as [1797, 1, 8, 8] float32 in [-1, 1]. */
    public static final String REAL_DIGITS = "io/diffusion4j/reference/training/digits_data.pt";
    /** The classifier's method giving the penultimate features. */
    public static final String FEATURES_METHOD = "features";

    private static final long[] SAMPLE_SHAPE = {1, 8, 8};

    private final TorchScriptModule classifier;
    private final FrechetDistance.Statistics real;

    private DigitsQuality(TorchScriptModule classifier, FrechetDistance.Statistics real) {
        this.classifier = classifier;
        this.real = real;
    }

    /**
     * Loads the classifier on the CPU and computes the real digits' feature statistics.
     *
     * @throws IOException if the test-models jar is not on the classpath or its files cannot be read
     */
    public static DigitsQuality load() throws IOException {
        TorchScriptModule classifier = ModelFolder.builtin(CLASSIFIER).loadModule(Device.CPU);
        try {
            if (!classifier.hasMethod(FEATURES_METHOD)) {
                throw new IllegalStateException(classifier.source() + " has no '" + FEATURES_METHOD + "' method: "
                        + "re-export it with test-models/make_digits_fd.py");
            }
            FrechetDistance.Statistics real;
            try (NativeScope scope = new NativeScope()) {
                Tensor digits = TensorFiles.readResource(REAL_DIGITS);
                real = FrechetDistance.statistics(features(classifier, digits));
            }
            return new DigitsQuality(classifier, real);
        } catch (IOException | RuntimeException e) {
            classifier.close();
            throw e;
        }
    }

    /** The feature statistics of all 1,797 real digits. */
    public FrechetDistance.Statistics realStatistics() {
        return real;
    }

    /**
     * The penultimate features {@code [N, 128]} float32 of {@code samples} {@code [N, 1, 8, 8]} (on any device),
     * clamped to [-1, 1] first.
     *
     * @throws IllegalArgumentException if the samples are not {@code [N, 1, 8, 8]} or hold NaN or infinite values
     */
    public Tensor features(Tensor samples) {
        return features(classifier, samples);
    }

    /**
     * The digits FD of {@code samples} {@code [N, 1, 8, 8]}, N &ge; 2, to the real digits: lower is closer, 0 for
     * the real digits themselves.
     *
     * @throws IllegalArgumentException if the samples are not {@code [N, 1, 8, 8]} with N &ge; 2, or are not finite
     */
    public double frechetDistance(Tensor samples) {
        try (NativeScope scope = new NativeScope()) {
            return FrechetDistance.between(FrechetDistance.statistics(features(samples)), real);
        }
    }

    /**
     * The fraction of {@code samples} (clamped to [-1, 1]) that the classifier assigns to the requested
     * {@code labels}.
     *
     * @throws IllegalArgumentException if the samples are not {@code [N, 1, 8, 8]} or not finite, or N differs from
     *                                  the number of labels
     */
    public double accuracy(Tensor samples, int[] labels) {
        checkSamples(samples);
        if (samples.size(0) != labels.length) {
            throw new IllegalArgumentException("got " + samples.size(0) + " samples but " + labels.length
                    + " labels");
        }
        long[] predicted;
        try (NativeScope scope = new NativeScope(); InferenceGuard inference = Torch.inferenceMode()) {
            predicted = classifier.forward(asImages(samples)).argmax(1).toLongArray();
        }
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            correct += predicted[i] == labels[i] ? 1 : 0;
        }
        return correct / (double) labels.length;
    }

    @Override
    public void close() {
        classifier.close();
    }

    private static Tensor features(TorchScriptModule classifier, Tensor samples) {
        checkSamples(samples);
        try (InferenceGuard inference = Torch.inferenceMode()) {
            return classifier.call(FEATURES_METHOD, asImages(samples));
        }
    }

    /** The samples on the CPU, clamped to the value range [-1, 1]. */
    private static Tensor asImages(Tensor samples) {
        return samples.to(Device.CPU).clamp(-1, 1);
    }

    private static void checkSamples(Tensor samples) {
        long[] shape = samples.shape();
        if (shape.length != 4 || !Arrays.equals(Arrays.copyOfRange(shape, 1, 4), SAMPLE_SHAPE)) {
            throw new IllegalArgumentException("digits samples must be [N, 1, 8, 8], got " + samples.describe());
        }
        if (!samples.allFinite()) {
            throw new IllegalArgumentException("digits samples " + samples.describe() + " contain NaN or infinite "
                    + "values: the sampler diverged");
        }
    }
}
