package io.diffusion4j.cli;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFileException;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.evaluation.DigitsQuality;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code diffusion4j evaluate}: the quality of saved digits samples ({@code sample --save-tensor}), judged by the
 * built-in digits classifier: the digits FD to all 1,797 real digits and, given the requested classes, accuracy.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Judge saved 8x8 digits samples [N, 1, 8, 8] (sample --save-tensor FILE) with the built-in "
                + "digits-classifier: the digits FD (Fréchet distance of its penultimate features to all 1,797 real "
                + "digits; lower is better, 0 for the real digits) and, with --class, the accuracy.")
final class EvaluateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--samples", required = true, paramLabel = "FILE",
            description = "A tensor file [N, 1, 8, 8] in [-1, 1] (torch.save format), N >= 2.")
    Path samples;

    @Option(names = "--class", paramLabel = "C", split = ",",
            description = "The requested class of the samples (one for all, or one per sample, comma-separated), for "
                    + "the accuracy; left out: the FD only.")
    List<Integer> classes;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(samples)) {
            throw new UsageException("--samples: file not found: " + samples.toAbsolutePath());
        }
        PrintWriter out = spec.commandLine().getOut();
        try (NativeScope scope = new NativeScope()) {
            Tensor x;
            try {
                x = TensorFiles.read(samples);
            } catch (TensorFileException e) {
                throw new UsageException("--samples: " + e.getMessage());
            }
            long[] shape = x.shape();
            if (shape.length != 4 || shape[1] != 1 || shape[2] != 8 || shape[3] != 8) {
                throw new UsageException("--samples: digits samples must be [N, 1, 8, 8], got "
                        + Arrays.toString(shape) + " in " + samples);
            }
            if (shape[0] < 2) {
                throw new UsageException("--samples: the digits FD needs at least 2 samples, got " + shape[0]);
            }
            int[] labels = labels((int) shape[0]);
            try (DigitsQuality quality = DigitsQuality.load()) {
                out.printf("digits FD %.4f (%d samples vs 1797 real digits)%n", quality.frechetDistance(x), shape[0]);
                if (labels != null) {
                    out.printf("accuracy %.4f (digits-classifier on the requested classes)%n",
                            quality.accuracy(x, labels));
                }
            }
        }
        out.flush();
        return 0;
    }

    private int[] labels(int n) {
        if (classes == null || classes.isEmpty()) {
            return null;
        }
        if (classes.size() != 1 && classes.size() != n) {
            throw new UsageException("--class: give one class for all samples or one per sample; got "
                    + classes.size() + " for " + n + " samples");
        }
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int c = classes.get(classes.size() == 1 ? 0 : i);
            if (c < 0 || c > 9) {
                throw new UsageException("--class: digits classes are 0-9, got " + c);
            }
            labels[i] = c;
        }
        return labels;
    }
}
