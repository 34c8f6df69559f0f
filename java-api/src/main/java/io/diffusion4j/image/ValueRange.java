package io.diffusion4j.image;

/**
 * The closed interval of tensor values that pixel values 0..255 map onto, linearly: {@code 0 -> min},
 * {@code 255 -> max}. Diffusion models on images usually work in {@link #MINUS_ONE_TO_ONE}.
 *
 * @param min the value of a black pixel (finite, below {@code max})
 * @param max the value of a white pixel (finite)
 */
public record ValueRange(double min, double max) {

    /** Pixels 0..255 as -1..1, the range of DDPM and Stable Diffusion images. */
    public static final ValueRange MINUS_ONE_TO_ONE = new ValueRange(-1, 1);

    /** Pixels 0..255 as 0..1, the range of {@code torchvision.transforms.ToTensor}. */
    public static final ValueRange ZERO_TO_ONE = new ValueRange(0, 1);

    public ValueRange {
        if (!Double.isFinite(min) || !Double.isFinite(max)) {
            throw new IllegalArgumentException("value range bounds must be finite, got [" + min + ", " + max + "]");
        }
        if (!(min < max)) {
            throw new IllegalArgumentException("value range needs min < max, got [" + min + ", " + max + "]");
        }
    }

    /** {@code max - min}. */
    public double span() {
        return max - min;
    }

    /** The value of pixel level {@code p} (0..255, fractions allowed): {@code min + (max - min) * p / 255}. */
    public double valueOf(double p) {
        return min + (max - min) * p / 255.0;
    }

    /** The pixel level 0..255 of {@code v}: clamped to this range, then rounded; NaN gives 0. */
    public int pixelOf(double v) {
        if (Double.isNaN(v)) {
            return 0;
        }
        double c = v < min ? min : (v > max ? max : v);
        return (int) Math.round((c - min) / (max - min) * 255.0);
    }
}
