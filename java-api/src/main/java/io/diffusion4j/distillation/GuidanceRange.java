package io.diffusion4j.distillation;

import java.util.SplittableRandom;

/**
 * The classifier-free guidance scales a guidance-conditioned student is trained on: {@code w} drawn uniformly in
 * [{@code min}, {@code max}] per example and step (Meng et al. 2023).
 */
public record GuidanceRange(double min, double max) {
    public GuidanceRange {
        if (!(min >= 0 && min <= max) || Double.isInfinite(max)) {
            throw new IllegalArgumentException("guidance range must satisfy 0 <= min <= max < infinity, got [" + min
                    + ", " + max + "]");
        }
    }

    /** One scale, uniform in the range. */
    double draw(SplittableRandom rng) {
        return min + (max - min) * rng.nextDouble();
    }

    @Override
    public String toString() {
        return "[" + min + ", " + max + "]";
    }
}
