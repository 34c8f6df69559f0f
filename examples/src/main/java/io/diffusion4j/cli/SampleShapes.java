package io.diffusion4j.cli;

import java.util.Arrays;

/** The {@code --sample-shape D[,D...]} option's parser, shared by the commands that take it. */
final class SampleShapes {
    private SampleShapes() {
    }

    /** Sizes separated by commas, each >= 1; null for null. */
    static long[] parse(String option, String value) {
        if (value == null) {
            return null;
        }
        long[] shape;
        try {
            shape = Arrays.stream(value.split(",")).mapToLong(x -> Long.parseLong(x.trim())).toArray();
        } catch (NumberFormatException e) {
            throw new UsageException(option + " must be sizes separated by commas, e.g. 3,32,32, got " + value);
        }
        if (shape.length == 0 || Arrays.stream(shape).anyMatch(d -> d < 1)) {
            throw new UsageException(option + " sizes must be >= 1, got " + value);
        }
        return shape;
    }
}
