package io.diffusion4j.evaluation;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.LinearAlgebra;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import java.util.Arrays;

/**
 * The Fréchet distance between two sets of feature vectors, each summarised by a Gaussian (Heusel et al. 2017, the
 * distance behind FID): {@code |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))}, with sample means and covariances
 * ({@code n - 1} normalisation, as numpy's {@code np.cov}), all in float64.
 *
 * <p>The trace of the matrix square root is computed without forming {@code (S1 S2)^(1/2)}: it is the sum of the
 * singular values of {@code sqrt(S1) sqrt(S2)}, where each symmetric square root comes from LibTorch's {@code eigh}
 * with negative rounding-noise eigenvalues clamped to zero. (The eigenvalues of {@code S1 S2} are those of
 * {@code (sqrt(S1) sqrt(S2)) (sqrt(S1) sqrt(S2))^T}.) Unlike {@code eigh} of {@code sqrt(S1) S2 sqrt(S1)} this
 * squares no small eigenvalue, which matters for singular covariances (dead ReLU features, fewer samples than
 * dimensions): on the digits features it agrees with scipy's {@code sqrtm} route to about 1e-11 relative where
 * that one lost 3e-7 (test-models/make_digits_fd.py).
 */
public final class FrechetDistance {
    private FrechetDistance() {
    }

    /**
     * The mean and covariance of {@code count} feature vectors of dimension {@code mean.length}; the covariance is
     * row-major {@code [d, d]}. The arrays are copied in and out.
     */
    public record Statistics(double[] mean, double[] covariance, int count) {
        public Statistics {
            if (mean == null || covariance == null) {
                throw new IllegalArgumentException("mean and covariance must not be null");
            }
            if (mean.length == 0 || covariance.length != mean.length * mean.length) {
                throw new IllegalArgumentException("covariance has " + covariance.length + " values, expected "
                        + mean.length + " x " + mean.length + " for a mean of dimension " + mean.length);
            }
            if (count < 2) {
                throw new IllegalArgumentException("statistics need at least 2 feature vectors, got " + count);
            }
            mean = mean.clone();
            covariance = covariance.clone();
        }

        public int dimension() {
            return mean.length;
        }

        @Override
        public double[] mean() {
            return mean.clone();
        }

        @Override
        public double[] covariance() {
            return covariance.clone();
        }

        @Override
        public String toString() {
            return "Statistics[dimension=" + mean.length + ", count=" + count + "]";
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Statistics s && s.count == count && Arrays.equals(s.mean, mean)
                    && Arrays.equals(s.covariance, covariance);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * Arrays.hashCode(mean) + Arrays.hashCode(covariance)) + count;
        }
    }

    /**
     * The mean and covariance of {@code features} {@code [N, D]} (any floating dtype and device; computed in
     * float64).
     *
     * @throws IllegalArgumentException if {@code features} is not {@code [N, D]}, has fewer than 2 rows, or holds
     *                                  NaN or infinite values
     */
    public static Statistics statistics(Tensor features) {
        long[] shape = features.shape();
        if (shape.length != 2 || shape[1] < 1) {
            throw new IllegalArgumentException("features must be a matrix [N, D] of N feature vectors, got "
                    + features.describe());
        }
        if (shape[0] < 2) {
            throw new IllegalArgumentException("need at least 2 feature vectors to estimate a covariance, got "
                    + shape[0] + " (" + features.describe() + ")");
        }
        try (NativeScope scope = new NativeScope()) {
            if (!features.allFinite()) {
                throw new IllegalArgumentException("features " + features.describe() + " contain NaN or infinite "
                        + "values: check the samples they were computed from");
            }
            Tensor f = features.to(DType.FLOAT64);
            Tensor mean = f.mean(true, 0);
            Tensor centered = f.sub(mean);
            Tensor covariance = centered.transpose(0, 1).matmul(centered).div(shape[0] - 1);
            return new Statistics(mean.toDoubleArray(), covariance.toDoubleArray(), (int) shape[0]);
        }
    }

    /**
     * The Fréchet distance between two feature sets summarised by {@link #statistics}.
     *
     * @throws IllegalArgumentException if their dimensions differ
     */
    public static double between(Statistics a, Statistics b) {
        int d = a.dimension();
        if (b.dimension() != d) {
            throw new IllegalArgumentException("feature dimensions differ: " + d + " and " + b.dimension()
                    + "; compute both sets with the same feature extractor");
        }
        double meanTerm = 0;
        double[] ma = a.mean;
        double[] mb = b.mean;
        for (int i = 0; i < d; i++) {
            double diff = ma[i] - mb[i];
            meanTerm += diff * diff;
        }
        double traces = 0;
        for (int i = 0; i < d; i++) {
            traces += a.covariance[i * d + i] + b.covariance[i * d + i];
        }
        double traceSqrt;
        try (NativeScope scope = new NativeScope()) {
            Tensor rootA = symmetricSqrt(Tensor.fromDoubles(a.covariance, d, d));
            Tensor rootB = symmetricSqrt(Tensor.fromDoubles(b.covariance, d, d));
            traceSqrt = LinearAlgebra.singularValues(rootA.matmul(rootB)).sum().item();
        }
        return meanTerm + traces - 2 * traceSqrt;
    }

    /**
     * The Fréchet distance between feature sets {@code x} {@code [N, D]} and {@code y} {@code [M, D]}.
     *
     * @throws IllegalArgumentException as {@link #statistics} and {@link #between} do
     */
    public static double of(Tensor x, Tensor y) {
        if (x.dim() == 2 && y.dim() == 2 && x.size(1) != y.size(1)) {
            throw new IllegalArgumentException("feature dimensions differ: x " + x.describe() + ", y "
                    + y.describe() + "; compute both sets with the same feature extractor");
        }
        return between(statistics(x), statistics(y));
    }

    /** {@code V diag(sqrt(max(w, 0))) V^T} of a symmetric positive semi-definite matrix. */
    private static Tensor symmetricSqrt(Tensor s) {
        LinearAlgebra.SymmetricEigen e = LinearAlgebra.eigh(s);
        Tensor vectors = e.vectors();
        return vectors.mul(e.values().clampMin(0).sqrt()).matmul(vectors.transpose(0, 1));
    }
}
